//! `signalr-loadgen`: a load generator for signalr-emulator, in the spirit of ASP.NET Core's
//! Crankier. It opens many real clients (negotiate + WebSocket + handshake), fires REST sends at
//! them, counts every delivery and reports throughput, loss, latency and the server's memory.
//!
//! The same generator drives two baselines so a benchmark compares like with like: a minimal raw
//! WebSocket broadcast server (`raw-server`, the ceiling) and Socket.IO 4 (Engine.IO over
//! WebSocket, server in `benches/socketio/`). `empty-server` is an axum server whose REST handler
//! does nothing, the yardstick for the emulator's REST request rate. For default mode it plays
//! the app server itself (`--send app-server|echo`): its BroadcastData fan-out and the client →
//! app server → client echo are measured against the REST broadcast and the raw echo.
//!
//! # Layout
//!
//! * [`cli`]: the command line.
//! * [`run`]: one load run, phase by phase (connect, send, drain, report).
//! * [`app_server`]: the simulated app server on `/server` of the default-mode rows.
//! * [`connect`]: opening one client of each kind from a chosen 127.0.0.x source address.
//! * [`reader`]: the per-client task that counts deliveries and answers Engine.IO pings.
//! * [`wire`]: the payload stamp and how each framing carries it.
//! * [`sender`]: the REST / HTTP-trigger sends, optionally paced.
//! * [`soak`]: clients connecting and leaving in a loop under broadcasts, for a duration.
//! * [`report`]: the summary (one JSON line and one human line).
//! * [`rss`]: the server's resident memory from `/proc`.
//! * [`cpu`]: the server's CPU time from `/proc`, per delivery.
//! * [`raw_server`], [`empty_server`]: the baseline servers.
//!
//! Everything targets loopback addresses only, and every phase is bounded by the `--deadline`.

mod app_server;
mod cli;
mod connect;
mod cpu;
mod empty_server;
mod raw_server;
mod reader;
mod report;
mod rss;
mod run;
mod sender;
mod soak;
mod wire;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

/// Every failure ends the command with a readable message; no caller needs to match on it.
type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Results of the load generator.
type Result<T, E = BoxError> = std::result::Result<T, E>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("signalr-loadgen: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Run(args) => run::run(args).await,
            Command::RawServer(args) => raw_server::serve(args).await,
            Command::EmptyServer(args) => empty_server::serve(args).await,
            Command::Soak(args) => soak::soak(args).await,
            Command::Token(args) => {
                println!("{}", args.mint());
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("signalr-loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}
