//! The client endpoint of Azure SignalR: `POST /client/negotiate` and the `/client/` connect URL
//! (WebSockets, Server-Sent Events, long polling), with the hub taken from `?hub=`. Owns
//! negotiation, the table of client connections, the transports, and the driver that runs the
//! hub protocol over any of them. Its state is the shared state plus that table
//! ([`ClientState`]).

mod app_server_link;
mod connections;
mod driver;
mod endpoint;
mod long_polling;
mod negotiate;
mod placement;
mod portable_token;
mod reconnect;
mod request;
mod session;
mod sse;
mod state;
mod transport;
mod upstream_link;
mod websocket;
mod ws_upgrade;

use axum::Router;
use axum::routing::{any, post};

pub use connections::{ClientConnection, ClientConnections, allowed_transports};
pub use long_polling::PollQueue;
pub use placement::sweep;
pub use state::ClientState;
pub use transport::TransportKind;

/// Routes of the client endpoint.
pub fn router() -> Router<ClientState> {
    Router::new()
        .route(
            "/client/negotiate",
            post(negotiate::negotiate).fallback(negotiate::method_not_allowed),
        )
        .route(
            "/client/negotiate/",
            post(negotiate::negotiate).fallback(negotiate::method_not_allowed),
        )
        .route("/client", any(endpoint::connect))
        .route("/client/", any(endpoint::connect))
}
