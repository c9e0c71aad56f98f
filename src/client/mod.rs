//! The client endpoint of Azure SignalR: `POST /client/negotiate` and the `/client/` connect URL
//! (WebSocket), with the hub taken from `?hub=`. Owns negotiation, the connections waiting for
//! their transport, and the per-connection session that runs the hub protocol.

mod negotiate;
mod negotiated;
mod request;
mod session;
mod websocket;

use axum::Router;
use axum::routing::{any, post};

pub use negotiated::{Negotiated, PendingConnection};

use crate::state::AppState;

/// Routes of the client endpoint.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/client/negotiate",
            post(negotiate::negotiate).fallback(negotiate::method_not_allowed),
        )
        .route(
            "/client/negotiate/",
            post(negotiate::negotiate).fallback(negotiate::method_not_allowed),
        )
        .route("/client", any(websocket::connect))
        .route("/client/", any(websocket::connect))
}
