//! The app-server endpoint of Azure SignalR, `/server/?hub=&cid=`: ASP.NET Core app servers
//! (`AddAzureSignalR()`) and the Management SDK's persistent transport connect here over a
//! WebSocket and speak the ServiceProtocol (`protocol::service`). This module owns the endpoint
//! (auth, upgrade), each server connection's task (handshake, pings, reading and writing) and
//! applying what app servers send to the registry and, in a cluster, to the other nodes. Clients
//! are bound and relayed by `client`.

mod across;
mod dispatch;
mod endpoint;
mod pings;
mod session;

use axum::Router;
use axum::routing::any;

use crate::state::AppState;

/// Routes of the app-server endpoint.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/server", any(endpoint::connect))
        .route("/server/", any(endpoint::connect))
}
