//! The `signalr-emulator` binary: parses the command line; `start` binds, prints the
//! connection string and serves until SIGINT or SIGTERM; `upstream init|list` manage the
//! upstream settings file; `healthcheck` probes a running emulator.

use std::io::ErrorKind;
use std::net::{Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use signalr_emulator::auth::{EntraTokens, token_for_url};
use signalr_emulator::cli::{Cli, Command, StartArgs, TokenArgs, UpstreamCommand};
use signalr_emulator::config::TlsSource;
use signalr_emulator::tls::{self, TlsFiles};
use signalr_emulator::upstream::{Upstream, commands, settings};
use signalr_emulator::{AppState, Config, healthcheck, run_state, shutdown, telemetry};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    let result = match Cli::parse().into_command() {
        Command::Start(args) => return start(args).await,
        Command::Upstream {
            command: UpstreamCommand::Init { output, force },
        } => commands::init(output.as_deref(), force),
        Command::Upstream {
            command: UpstreamCommand::List { config },
        } => commands::list(config.as_deref()),
        Command::Token(args) => token(&args),
        Command::Healthcheck { port, timeout } => {
            return match healthcheck::check(port, Duration::from_secs(timeout)).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("unhealthy: {err}");
                    ExitCode::FAILURE
                }
            };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `token`: print a token for a URL, signed with the first access key.
fn token(args: &TokenArgs) -> Result<(), String> {
    let key = args
        .access_keys
        .iter()
        .map(|key| key.trim())
        .find(|key| !key.is_empty())
        .ok_or("--access-key / SIGNALR_EMULATOR_ACCESS_KEY is empty: give a key")?;
    let token = token_for_url(key, &args.url, args.user.as_deref(), args.ttl)?;
    print_best_effort(&format!("{token}\n"));
    Ok(())
}

/// `start`: validate, bind, announce, serve.
async fn start(args: StartArgs) -> ExitCode {
    telemetry::init(args.log_format);
    let config = match Config::try_from(args) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let (config, tls) = match prepare_tls(config) {
        Ok(prepared) => prepared,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let upstream = match Upstream::from_config(&config) {
        Ok(upstream) => upstream,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    print_upstream(upstream.as_ref());
    let (listeners, bound) = match listeners(&config) {
        Ok(bound) => bound,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    print_banner(&config, &bound);
    print_security_notes(&config, tls.as_ref());
    tracing::info!(
        address = %bound[0],
        auth = ?config.auth,
        access_keys = config.access_keys.len(),
        "signalr-emulator started"
    );
    let state = AppState::new(config, upstream);
    match run_state(state, listeners, shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Connections waiting to be accepted. `TcpListener::bind` uses 128, which a burst of clients
/// (a CI job or a load test connecting thousands at once) overflows: the kernel then drops
/// SYNs and each of those clients waits a second for its retransmit.
const LISTEN_BACKLOG: u32 = 4096;

/// How often `-p 0` without `-i` looks for a port free on both loopback addresses.
const PORT_ATTEMPTS: usize = 20;

/// The listeners `config` asks for and their addresses: its address, and `[::1]` at the same
/// port when no `-i` was given. Where the machine has no IPv6 loopback, a warning and IPv4
/// alone; with `-p 0` the pair is retried until one port is free on both.
fn listeners(config: &Config) -> Result<(Vec<TcpListener>, Vec<SocketAddr>), String> {
    let bind = |addr: SocketAddr| {
        let listener = listen(addr).map_err(|err| format!("cannot listen on {addr}: {err}"))?;
        let bound = listener.local_addr().map_err(|err| err.to_string())?;
        Ok::<_, String>((listener, bound))
    };
    let (v4, v4_addr) = bind(config.bind)?;
    if !config.also_ipv6_loopback {
        return Ok((vec![v4], vec![v4_addr]));
    }
    let mut v4 = (v4, v4_addr);
    for _ in 0..PORT_ATTEMPTS {
        let v6_addr = SocketAddr::from((Ipv6Addr::LOCALHOST, v4.1.port()));
        match listen(v6_addr) {
            Ok(v6) => return Ok((vec![v4.0, v6], vec![v4.1, v6_addr])),
            Err(err) if err.kind() == ErrorKind::AddrInUse && config.bind.port() == 0 => {
                v4 = bind(config.bind)?;
            }
            Err(err) if err.kind() == ErrorKind::AddrInUse => {
                return Err(format!(
                    "cannot listen on {v6_addr}: {err}; pass -i 127.0.0.1 to listen on IPv4 only"
                ));
            }
            Err(err) => {
                tracing::warn!(
                    "not listening on {v6_addr} ({err}): this machine seems to have no IPv6 loopback; serving {} only",
                    v4.1
                );
                return Ok((vec![v4.0], vec![v4.1]));
            }
        }
    }
    Err(format!(
        "no port was free on both 127.0.0.1 and ::1 in {PORT_ATTEMPTS} tries: pass -p PORT, or -i 127.0.0.1"
    ))
}

/// Binds `addr` with a listen backlog fit for connection bursts.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The upstream settings in effect, as asrs-emulator prints them at start.
fn print_upstream(upstream: Option<&Upstream>) {
    let Some(upstream) = upstream else { return };
    let mut text = String::new();
    if let Some(file) = upstream.settings_file() {
        let file = std::path::absolute(file).unwrap_or_else(|_| file.to_owned());
        text += &format!(
            "Loaded settings from '{}'. Changes to the settings file will be hot-loaded into the emulator.\n",
            file.display()
        );
    }
    text += &format!("{}\n", settings::describe(&upstream.templates()));
    print_best_effort(&text);
}

/// The start banner on stdout, in the shape asrs-emulator prints, so scripts can parse it (and
/// those written for asrs-emulator find the line they wait for).
fn print_banner(config: &Config, bound: &[SocketAddr]) {
    let rule = "===================================================";
    let addresses = bound
        .iter()
        .map(|addr| format!("{}://{addr}", config.scheme()))
        .collect::<Vec<_>>()
        .join(" and ");
    print_best_effort(&format!(
        "{rule}\nThe Azure SignalR Emulator was successfully started.\nsignalr-emulator {} is listening on {addresses}\n\nPress Ctrl+C to stop it.\n\nUse this ConnectionString:\n***********\n\n{}\n\n***********\n{rule}\n",
        env!("CARGO_PKG_VERSION"),
        config.connection_string(bound[0]),
    ));
}

/// Resolves `--tls-*` to certificate files (creating `--tls-self-signed`'s once) and checks
/// that they load, before anything binds; the configuration then names the files.
fn prepare_tls(mut config: Config) -> Result<(Config, Option<TlsFiles>), tls::TlsError> {
    let Some(source) = &config.tls else {
        return Ok((config, None));
    };
    let files = tls::prepare(source)?;
    config.tls = Some(TlsSource::Files {
        cert: files.cert.clone(),
        key: files.key.clone(),
    });
    Ok((config, Some(files)))
}

/// What the operator must know about TLS and identity, after the banner.
fn print_security_notes(config: &Config, tls: Option<&TlsFiles>) {
    let mut text = String::new();
    if let Some(TlsFiles { ca: Some(ca), .. }) = tls {
        let ca = std::path::absolute(ca).unwrap_or_else(|_| ca.clone());
        text += &format!(
            "TLS: the certificate is signed by this emulator's local CA, {}. Trust that file once (README: \"Trusting the certificate\"); it can vouch for localhost, 127.0.0.1 and ::1 only.\n",
            ca.display()
        );
    }
    match &config.entra {
        EntraTokens::Refused => {}
        EntraTokens::Unvalidated => {
            text += "WARNING: Microsoft Entra ID tokens are accepted WITHOUT checking their signature (--allow-unvalidated-entra-tokens): anyone who can reach this port can forge one. Use it on a developer machine only.\n";
            tracing::warn!(
                "Microsoft Entra ID tokens are accepted without checking their signature"
            );
        }
        EntraTokens::Jwks(set) => {
            text += &format!(
                "Microsoft Entra ID tokens are accepted when signed by one of the {} key(s) of --entra-jwks.\n",
                set.keys.len()
            );
        }
    }
    print_best_effort(&text);
}

/// Writes to stdout, ignoring a closed stdout: the server must keep running when whoever
/// read the banner went away (`println!` would panic).
fn print_best_effort(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}
