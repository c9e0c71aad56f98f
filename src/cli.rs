//! The command line, compatible with Microsoft's `asrs-emulator` (`start -p -i -c`,
//! `upstream init -o`, `upstream list -c`). Every `start` flag also reads an environment
//! variable `SIGNALR_EMULATOR_*`, so a container is configured with env vars alone. Parsing
//! only: validation happens when the flags become a [`crate::Config`].

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
    /// Create or show the upstream settings (settings.json).
    Upstream {
        /// What to do with the settings.
        #[command(subcommand)]
        command: UpstreamCommand,
    },
    /// Print a token signed with the access key: a REST token for an `/api/...` URL, a client
    /// token for a `/client/?hub=...` URL (for curl, scripts and quick tests).
    Token(TokenArgs),
    /// Exit 0 when the emulator on this machine answers its health check, 1 otherwise (for
    /// container HEALTHCHECKs: the image has no curl).
    Healthcheck {
        /// Port of the emulator to check.
        #[arg(
            short = 'p',
            long,
            env = "SIGNALR_EMULATOR_PORT",
            default_value_t = 8888
        )]
        port: u16,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 3)]
        timeout: u64,
    },
}

/// Options of `token`.
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// The URL the token is for, e.g. http://localhost:8888/api/v1/hubs/chat or
    /// http://localhost:8888/client/?hub=chat; it becomes the token's audience.
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// User id to put in the token (`nameid`).
    #[arg(long, value_name = "ID")]
    pub user: Option<String>,
    /// Seconds the token stays valid.
    #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
    pub ttl: u64,
    /// Access key to sign with (the first of a comma-separated list is used).
    #[arg(
        long = "access-key",
        env = "SIGNALR_EMULATOR_ACCESS_KEY",
        hide_env_values = true,
        value_delimiter = ',',
        default_value = DEFAULT_ACCESS_KEY
    )]
    pub access_keys: Vec<String>,
}

/// `upstream` subcommands.
#[derive(Debug, Subcommand)]
pub enum UpstreamCommand {
    /// Write the default settings.json (every event to http://localhost:7071/runtime/webhooks/signalr).
    Init {
        /// Folder to write settings.json into (default: the current folder).
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
        /// Overwrite an existing settings.json without asking.
        #[arg(long)]
        force: bool,
    },
    /// Show the upstream templates of a settings file.
    List {
        /// settings.json, or a folder that holds one (default: ./settings.json).
        #[arg(short = 'c', long)]
        config: Option<PathBuf>,
    },
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
    /// IP address to bind (0.0.0.0 in containers) [default: 127.0.0.1 and ::1, both loopback
    /// addresses, as asrs-emulator listens].
    #[arg(short = 'i', long, env = "SIGNALR_EMULATOR_IP")]
    pub ip: Option<IpAddr>,
    /// settings.json with upstream templates, or a folder that holds one (default:
    /// ./settings.json when it exists). Changes to the file are hot-loaded.
    #[arg(short = 'c', long, env = "SIGNALR_EMULATOR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Upstream URL template for every hub and event, matched after the settings file's
    /// templates (repeatable), e.g. http://localhost:7071/runtime/webhooks/signalr.
    #[arg(
        long = "upstream",
        env = "SIGNALR_EMULATOR_UPSTREAM",
        value_name = "URL"
    )]
    pub upstream: Vec<String>,
    /// Seconds an upstream call may take before the client gets an error.
    #[arg(
        long,
        env = "SIGNALR_EMULATOR_UPSTREAM_TIMEOUT",
        default_value_t = 100,
        value_name = "SECONDS"
    )]
    pub upstream_timeout: u64,
    /// Upstream calls in flight at once, over all connections; a call beyond it is not sent
    /// (an invocation fails at once with an error saying why).
    #[arg(
        long,
        env = "SIGNALR_EMULATOR_UPSTREAM_MAX_CALLS",
        default_value_t = 128,
        value_name = "CALLS"
    )]
    pub upstream_max_calls: usize,
    /// Access key that signs tokens (repeat, or comma-separate in the env var, for several keys).
    #[arg(
        long = "access-key",
        env = "SIGNALR_EMULATOR_ACCESS_KEY",
        // `--help` must not print a secret set in the environment.
        hide_env_values = true,
        value_delimiter = ',',
        default_value = DEFAULT_ACCESS_KEY
    )]
    pub access_keys: Vec<String>,
    /// Endpoint printed in the connection string instead of localhost: http://localhost:8888 when
    /// a published container port is used from the host, http://signalr:8888 (the compose
    /// service name) when other containers use the printed string.
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
    /// Seconds a client has to send a request's headers; a half-sent request is then dropped.
    #[arg(
        long,
        env = "SIGNALR_EMULATOR_HEADER_READ_TIMEOUT",
        default_value_t = 30
    )]
    pub header_read_timeout: u64,
    /// Seconds a client has to send a request's body once its headers arrived.
    #[arg(long, env = "SIGNALR_EMULATOR_BODY_READ_TIMEOUT", default_value_t = 30)]
    pub body_read_timeout: u64,
    /// Seconds shutdown waits for clients to take their Close and requests to finish; then
    /// whatever is left is dropped and the process exits.
    #[arg(long, env = "SIGNALR_EMULATOR_SHUTDOWN_TIMEOUT", default_value_t = 5)]
    pub shutdown_timeout: u64,
    /// Transport security and identity (TLS, https upstreams, Entra ID tokens).
    #[command(flatten)]
    pub security: Box<SecurityArgs>,
    /// How hubs treat app servers (`/server` connections): classic (a hub with an app server
    /// routes its clients there, others are serverless), default (every hub needs an app
    /// server) or serverless (only the Management SDK's Weak connections are accepted).
    #[arg(long, env = "SIGNALR_EMULATOR_SERVICE_MODE", value_enum, default_value_t = ServiceModeArg::Classic)]
    pub service_mode: ServiceModeArg,
    /// Scale-out over Redis (`--redis` and what a cluster of nodes needs).
    #[command(flatten)]
    pub cluster: Box<ClusterArgs>,
}

/// Options of `start` that join this node to a cluster of emulator nodes sharing one Redis.
#[derive(Debug, Clone, Default, Args)]
pub struct ClusterArgs {
    /// Redis to share state and messages with other nodes (`redis://[:password@]host:port[/db]`
    /// or `rediss://` for TLS). Without it this is a single in-memory node.
    #[arg(long, env = "SIGNALR_EMULATOR_REDIS", value_name = "URL")]
    pub redis: Option<String>,
    /// `--redis` names seed nodes of a Redis Cluster (one or more URLs, comma-separated); the
    /// nodes then use sharded pub/sub and keep each multi-key operation within one hash tag.
    #[arg(long, env = "SIGNALR_EMULATOR_REDIS_CLUSTER", requires = "redis")]
    pub redis_cluster: bool,
    /// Prefix of every Redis key and channel, so several services can share one Redis.
    #[arg(
        long,
        env = "SIGNALR_EMULATOR_REDIS_PREFIX",
        default_value = "signalr",
        requires = "redis"
    )]
    pub redis_prefix: String,
    /// Seconds a node's lease lasts without renewal; the other nodes clean up the entries of a
    /// node whose lease ran out.
    #[arg(
        long,
        env = "SIGNALR_EMULATOR_CLUSTER_LEASE_SECS",
        default_value_t = 10,
        requires = "redis"
    )]
    pub cluster_lease_secs: u64,
    /// Base URL other nodes use to reach this one [default: http(s):// + the first bound
    /// address].
    #[arg(
        long,
        env = "SIGNALR_EMULATOR_CLUSTER_ADVERTISE",
        value_name = "URL",
        requires = "redis"
    )]
    pub cluster_advertise: Option<String>,
}

/// Options of `start` about TLS and identity: the service port's certificate, the CAs upstream
/// calls trust, and Microsoft Entra ID tokens.
#[derive(Debug, Clone, Default, Args)]
pub struct SecurityArgs {
    /// PEM certificate chain for TLS on the service port (with --tls-key); the file is re-read
    /// when it changes.
    #[arg(
        long,
        env = "SIGNALR_EMULATOR_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key",
        conflicts_with = "tls_self_signed"
    )]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(
        long,
        env = "SIGNALR_EMULATOR_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Serve TLS with a localhost certificate from a local CA this emulator creates once (in
    /// --tls-self-signed-dir); trust its ca.pem once.
    #[arg(long, env = "SIGNALR_EMULATOR_TLS_SELF_SIGNED")]
    pub tls_self_signed: bool,
    /// Folder for --tls-self-signed's CA and certificate (default: the user's local data
    /// folder, e.g. ~/.local/share/signalr-emulator/tls).
    #[arg(long, env = "SIGNALR_EMULATOR_TLS_SELF_SIGNED_DIR", value_name = "DIR")]
    pub tls_self_signed_dir: Option<PathBuf>,
    /// PEM bundle of CA certificates trusted for https upstreams, besides the system's roots
    /// (repeatable).
    #[arg(
        long = "upstream-ca",
        env = "SIGNALR_EMULATOR_UPSTREAM_CA",
        value_delimiter = ',',
        value_name = "FILE"
    )]
    pub upstream_ca: Vec<PathBuf>,
    /// Accept Microsoft Entra ID bearer tokens (RS256/ES256, audience https://signalr.azure.com
    /// or this endpoint) WITHOUT checking their signature, as Microsoft's Web PubSub emulator
    /// does. Anyone can forge such a token: local use only.
    #[arg(
        long,
        env = "SIGNALR_EMULATOR_ALLOW_UNVALIDATED_ENTRA_TOKENS",
        conflicts_with = "entra_jwks"
    )]
    pub allow_unvalidated_entra_tokens: bool,
    /// Accept Microsoft Entra ID bearer tokens whose signature verifies against a key of this
    /// JWKS file (e.g. a test identity provider's).
    #[arg(long, env = "SIGNALR_EMULATOR_ENTRA_JWKS", value_name = "FILE")]
    pub entra_jwks: Option<PathBuf>,
}

/// `--service-mode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ServiceModeArg {
    /// A hub with a connected app server is in default mode, others are serverless.
    Classic,
    /// Clients of a hub without an app server fail their handshake.
    Default,
    /// App servers are refused; Weak connections (Management SDK) are accepted.
    Serverless,
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
    /// The command to run: `start` with the top-level options when no subcommand was written.
    pub fn into_command(self) -> Command {
        self.command.unwrap_or(Command::Start(self.start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Command {
        Cli::try_parse_from(std::iter::once("signalr-emulator").chain(args.iter().copied()))
            .unwrap()
            .into_command()
    }

    fn start(args: &[&str]) -> StartArgs {
        match parse(args) {
            Command::Start(args) => args,
            other => panic!("expected start, got {other:?}"),
        }
    }

    #[test]
    fn no_subcommand_means_start() {
        let args = start(&["-p", "9000"]);
        assert_eq!(args.port, 9000);
        let args = start(&[
            "start",
            "-i",
            "0.0.0.0",
            "--access-key",
            "a",
            "--access-key",
            "b",
        ]);
        assert_eq!(args.ip.map(|ip| ip.to_string()).as_deref(), Some("0.0.0.0"));
        assert_eq!(args.access_keys, vec!["a", "b"]);
        assert_eq!(args.auth, AuthArg::Strict);
    }

    #[test]
    fn defaults_match_asrs_emulator() {
        let args = start(&[]);
        assert_eq!(args.port, 8888);
        assert_eq!(args.ip, None, "no -i: both loopback addresses");
        assert_eq!(args.access_keys, vec![DEFAULT_ACCESS_KEY]);
    }

    #[test]
    fn upstream_flags() {
        let args = start(&[
            "--upstream",
            "http://a/x",
            "--upstream",
            "http://b/{hub}",
            "--upstream-timeout",
            "5",
        ]);
        assert_eq!(args.upstream, vec!["http://a/x", "http://b/{hub}"]);
        assert_eq!(args.upstream_timeout, 5);
        let args = start(&["start"]);
        assert!(args.upstream.is_empty());
        assert_eq!(args.upstream_timeout, 100);
    }

    #[test]
    fn security_flags() {
        let args = start(&[
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
            "--upstream-ca",
            "a.pem",
            "--upstream-ca",
            "b.pem",
            "--entra-jwks",
            "jwks.json",
        ]);
        let security = args.security;
        assert_eq!(security.tls_cert, Some(PathBuf::from("c.pem")));
        assert_eq!(security.tls_key, Some(PathBuf::from("k.pem")));
        assert_eq!(security.upstream_ca.len(), 2);
        assert_eq!(security.entra_jwks, Some(PathBuf::from("jwks.json")));
        assert!(!security.tls_self_signed && !security.allow_unvalidated_entra_tokens);
        let parse = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("signalr-emulator").chain(args.iter().copied()))
        };
        assert!(
            parse(&["--tls-cert", "c.pem"]).is_err(),
            "a key is required"
        );
        assert!(parse(&["--tls-self-signed", "--tls-cert", "c", "--tls-key", "k"]).is_err());
        assert!(parse(&["--allow-unvalidated-entra-tokens", "--entra-jwks", "j"]).is_err());
        assert!(start(&["--tls-self-signed"]).security.tls_self_signed);
    }

    #[test]
    fn upstream_subcommands() {
        match parse(&["upstream", "init", "-o", "dir"]) {
            Command::Upstream {
                command: UpstreamCommand::Init { output, force },
            } => {
                assert_eq!(output, Some(PathBuf::from("dir")));
                assert!(!force);
            }
            other => panic!("{other:?}"),
        }
        match parse(&["upstream", "init", "--force"]) {
            Command::Upstream {
                command: UpstreamCommand::Init { output, force },
            } => {
                assert_eq!(output, None);
                assert!(force);
            }
            other => panic!("{other:?}"),
        }
        match parse(&["upstream", "list", "--config", "x.json"]) {
            Command::Upstream {
                command: UpstreamCommand::List { config },
            } => assert_eq!(config, Some(PathBuf::from("x.json"))),
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from(["signalr-emulator", "-p", "1", "upstream", "list"]).is_err());
    }
}
