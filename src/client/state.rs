//! The client endpoint's state: the shared [`AppState`] plus the connection table that only this
//! endpoint reads, so the shared state never has to know the client endpoint's types.

use std::ops::Deref;
use std::sync::Arc;

use super::connections::ClientConnections;
use crate::state::AppState;

/// What every client-endpoint handler gets: the shared state (reached through `Deref`, as the
/// shared fields are what most handlers use) and the table of client connections.
#[derive(Debug, Clone)]
pub struct ClientState {
    /// The state every endpoint shares.
    pub app: AppState,
    /// Client connections by token: negotiated ones and the transports bound to them.
    pub connections: Arc<ClientConnections>,
}

impl ClientState {
    /// The client endpoint's state over `app`, with `connections` (shared with whoever sweeps
    /// abandoned negotiations).
    pub fn new(app: AppState, connections: Arc<ClientConnections>) -> Self {
        ClientState { app, connections }
    }
}

impl Deref for ClientState {
    type Target = AppState;

    fn deref(&self) -> &AppState {
        &self.app
    }
}
