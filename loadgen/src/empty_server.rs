//! The REST yardstick: an axum server, on the same runtime and HTTP stack as the emulator, whose
//! send-to-connection route answers 202 without doing anything. wrk measures it and the emulator
//! the same way, so the ratio shows what auth, validation and delivery cost per request.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use tokio::net::TcpListener;

use crate::Result;
use crate::cli::ServerArgs;

/// Serves on 127.0.0.1:`port` until the process is stopped.
pub(crate) async fn serve(args: ServerArgs) -> Result<()> {
    let app = Router::new().route(
        "/api/v1/hubs/{hub}/connections/{connection_id}",
        post(|| async { StatusCode::ACCEPTED }),
    );
    let listener = TcpListener::bind(("127.0.0.1", args.port)).await?;
    eprintln!("empty-server listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
