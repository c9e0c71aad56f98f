//! The state every handler shares: configuration, token verifier, hub registry, the client
//! connection table, and the shutdown token and task tracker that let
//! shutdown reach WebSocket tasks axum does not track.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::RestMetrics;
use crate::auth::Verifier;
use crate::client::ClientConnections;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::hub::Hubs;
use crate::upstream::Upstream;

/// Shared application state; every field is cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The configuration.
    pub config: Arc<Config>,
    /// Verifies tokens with the configured keys and mode.
    pub verifier: Arc<Verifier>,
    /// Every hub.
    pub hubs: Arc<Hubs>,
    /// Client connections by token: negotiated ones and the transports bound to them.
    pub connections: Arc<ClientConnections>,
    /// Cancelled when the server shuts down.
    pub shutdown: CancellationToken,
    /// Tracks connection tasks so shutdown can wait for them.
    pub tasks: TaskTracker,
    /// The serverless upstream, when `-c` or `--upstream` configured one.
    pub upstream: Option<Upstream>,
    /// REST request counts for `/metrics`.
    pub rest_metrics: Arc<RestMetrics>,
    /// This node's membership in a cluster (`--redis`); `None` for a single node.
    pub cluster: Option<Arc<Cluster>>,
}

impl AppState {
    /// Fresh state for a configuration and its upstream (see [`Upstream::from_config`]).
    pub fn new(config: Config, upstream: Option<Upstream>) -> Self {
        AppState {
            verifier: Arc::new(
                Verifier::new(config.access_keys.clone(), config.auth)
                    .with_entra(config.entra.clone(), config.service_hosts()),
            ),
            config: Arc::new(config),
            hubs: Arc::new(Hubs::default()),
            connections: Arc::new(ClientConnections::default()),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            upstream,
            rest_metrics: Arc::default(),
            cluster: None,
        }
    }
}
