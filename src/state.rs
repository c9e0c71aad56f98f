//! The state every handler shares: configuration, token verifier, hub registry, upstream, and
//! the shutdown token and task tracker that let shutdown reach WebSocket tasks axum does not
//! track. It knows no endpoint: what one endpoint alone uses (the client connection table, the
//! REST counts) is that endpoint's, joined to this state where the router is built.

use std::ops::Deref;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Verifier;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::hub::Hubs;
use crate::upstream::Upstream;

/// Shared application state. A clone is one reference count: axum clones the state for every
/// handler, middleware and extractor a request passes, and a field-wise clone (seven counts and
/// the shutdown token's lock) showed in the REST profile.
#[derive(Debug, Clone)]
pub struct AppState {
    shared: Arc<Shared>,
}

/// What [`AppState`] shares, reached through `Deref`.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The configuration.
    pub config: Arc<Config>,
    /// Verifies tokens with the configured keys and mode.
    pub verifier: Arc<Verifier>,
    /// Every hub.
    pub hubs: Arc<Hubs>,
    /// Cancelled when the server shuts down.
    pub shutdown: CancellationToken,
    /// Tracks connection tasks so shutdown can wait for them.
    pub tasks: TaskTracker,
    /// The serverless upstream, when `-c` or `--upstream` configured one.
    pub upstream: Option<Upstream>,
    /// This node's membership in a cluster (`--redis`); `None` for a single node.
    pub cluster: Option<Arc<Cluster>>,
}

impl AppState {
    /// Fresh state for a configuration and its upstream (see [`Upstream::from_config`]).
    pub fn new(config: Config, upstream: Option<Upstream>) -> Self {
        let shared = Shared {
            verifier: Arc::new(
                Verifier::new(config.access_keys.clone(), config.auth)
                    .with_entra(config.entra.clone(), config.service_hosts()),
            ),
            config: Arc::new(config),
            hubs: Arc::new(Hubs::default()),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            upstream,
            cluster: None,
        };
        AppState {
            shared: Arc::new(shared),
        }
    }

    /// The state with this node's cluster membership, set once at start before the state is
    /// shared (a clone taken earlier keeps seeing none).
    pub fn with_cluster(self, cluster: Arc<Cluster>) -> Self {
        let mut shared = Arc::unwrap_or_clone(self.shared);
        shared.cluster = Some(cluster);
        AppState {
            shared: Arc::new(shared),
        }
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.shared
    }
}
