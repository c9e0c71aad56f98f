//! The `signalr-emulator` binary: parses the command line, binds, prints the connection string
//! and serves until SIGINT or SIGTERM.

use std::process::ExitCode;

use clap::Parser;
use signalr_emulator::cli::Cli;
use signalr_emulator::{Config, run, shutdown, telemetry};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Cli::parse().start_args();
    telemetry::init(args.log_format);
    let config = match Config::try_from(args) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind(config.bind).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("error: cannot listen on {}: {err}", config.bind);
            return ExitCode::FAILURE;
        }
    };
    let bound = match listener.local_addr() {
        Ok(addr) => addr,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(file) = &config.settings_file {
        tracing::warn!(file = %file.display(), "upstream settings are not supported yet: the file is ignored and client invocations get an error Completion");
    }
    print_banner(&config, bound);
    match run(config, listener, shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The start banner on stdout, in the shape asrs-emulator prints, so scripts can parse it.
fn print_banner(config: &Config, bound: std::net::SocketAddr) {
    println!("===================================================");
    println!(
        "signalr-emulator {} is listening on http://{bound}",
        env!("CARGO_PKG_VERSION")
    );
    println!();
    println!("Press Ctrl+C to stop it.");
    println!();
    println!("Use this ConnectionString:");
    println!("***********");
    println!();
    println!("{}", config.connection_string(bound));
    println!();
    println!("***********");
    println!("===================================================");
}
