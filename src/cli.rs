//! The command line, compatible with Microsoft's `asrs-emulator` (`start -p -i -c`). Every flag
//! also reads an environment variable `SIGNALR_EMULATOR_*`, so a container is configured with
//! env vars alone. Parsing only: validation happens when the flags become a [`crate::Config`].

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The well-known key of Microsoft's emulator, the default so existing connection strings work.
pub const DEFAULT_ACCESS_KEY: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH";

/// A local, self-hosted Azure SignalR Service.
#[derive(Debug, Parser)]
#[command(
    name = "signalr-emulator",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to do; no subcommand means `start`.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of `start`, accepted without the subcommand too.
    #[command(flatten)]
    pub start: StartArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the emulator (the default).
    Start(StartArgs),
}

/// Options of `start`.
#[derive(Debug, Clone, Args)]
pub struct StartArgs {
    /// Port to listen on (0 picks a free port and prints it).
    #[arg(
        short = 'p',
        long,
        env = "SIGNALR_EMULATOR_PORT",
        default_value_t = 8888
    )]
    pub port: u16,
    /// IP address to bind (0.0.0.0 in containers).
    #[arg(
        short = 'i',
        long,
        env = "SIGNALR_EMULATOR_IP",
        default_value = "127.0.0.1"
    )]
    pub ip: IpAddr,
    /// settings.json with upstream templates, or a folder that holds one.
    #[arg(short = 'c', long, env = "SIGNALR_EMULATOR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Access key that signs tokens (repeat, or comma-separate in the env var, for several keys).
    #[arg(
        long = "access-key",
        env = "SIGNALR_EMULATOR_ACCESS_KEY",
        value_delimiter = ',',
        default_value = DEFAULT_ACCESS_KEY
    )]
    pub access_keys: Vec<String>,
    /// Endpoint clients use to reach the emulator (e.g. http://signalr:8888 in docker-compose);
    /// printed in the connection string.
    #[arg(long, env = "SIGNALR_EMULATOR_PUBLIC_ENDPOINT")]
    pub public_endpoint: Option<String>,
    /// Token checks: strict (signature, exp, nbf, aud), relaxed (signature only, like
    /// asrs-emulator) or off.
    #[arg(long, env = "SIGNALR_EMULATOR_AUTH", value_enum, default_value_t = AuthArg::Strict)]
    pub auth: AuthArg,
    /// Log output format.
    #[arg(long, env = "SIGNALR_EMULATOR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Seconds of idle output after which the server pings a client.
    #[arg(
        long,
        env = "SIGNALR_EMULATOR_KEEP_ALIVE_INTERVAL",
        default_value_t = 15
    )]
    pub keep_alive_interval: u64,
    /// Seconds without any message from a client (after its first ping) before it is dropped.
    #[arg(long, env = "SIGNALR_EMULATOR_CLIENT_TIMEOUT", default_value_t = 30)]
    pub client_timeout: u64,
    /// Seconds a client has to complete its handshake.
    #[arg(long, env = "SIGNALR_EMULATOR_HANDSHAKE_TIMEOUT", default_value_t = 15)]
    pub handshake_timeout: u64,
    /// Seconds a REST `:invoke` waits for the client's answer.
    #[arg(long, env = "SIGNALR_EMULATOR_INVOKE_TIMEOUT", default_value_t = 30)]
    pub invoke_timeout: u64,
    /// Messages queued per connection before it counts as a slow consumer and is closed.
    #[arg(long, env = "SIGNALR_EMULATOR_SEND_QUEUE", default_value_t = 1024)]
    pub send_queue: usize,
}

/// `--auth` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthArg {
    /// Signature, expiry, not-before and audience are checked.
    Strict,
    /// Signature only, as Microsoft's emulator does.
    Relaxed,
    /// No checks (throwaway local use).
    Off,
}

/// `--log-format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for CI log collectors.
    Json,
}

impl Cli {
    /// The `start` options, whether or not the subcommand was written.
    pub fn start_args(self) -> StartArgs {
        match self.command {
            Some(Command::Start(args)) => args,
            None => self.start,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_subcommand_means_start() {
        let args = Cli::try_parse_from(["signalr-emulator", "-p", "9000"])
            .unwrap()
            .start_args();
        assert_eq!(args.port, 9000);
        let args = Cli::try_parse_from([
            "signalr-emulator",
            "start",
            "-i",
            "0.0.0.0",
            "--access-key",
            "a",
            "--access-key",
            "b",
        ])
        .unwrap()
        .start_args();
        assert_eq!(args.ip.to_string(), "0.0.0.0");
        assert_eq!(args.access_keys, vec!["a", "b"]);
        assert_eq!(args.auth, AuthArg::Strict);
    }

    #[test]
    fn defaults_match_asrs_emulator() {
        let args = Cli::try_parse_from(["signalr-emulator"])
            .unwrap()
            .start_args();
        assert_eq!(args.port, 8888);
        assert_eq!(args.access_keys, vec![DEFAULT_ACCESS_KEY]);
    }
}
