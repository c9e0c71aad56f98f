//! The registry: hubs (created on first use, names case-insensitive and stored lowercased),
//! their connections, users, groups and user-group memberships, and fan-out to them. No web
//! types and no awaits here; handles are copied out of the maps before anything is delivered.

mod app_servers;
mod audience;
mod broadcast_log;
mod connection;
mod execute;
mod expiries;
pub mod filter;
mod invocations;
mod members;
pub mod names;
mod observer;
mod queue;
mod servers;
mod service_metrics;
mod snapshot;
mod stream_push;
mod trace;
mod user_groups;

use std::sync::{Arc, OnceLock};

use dashmap::DashMap;
use tokio::time::Instant;

pub use app_servers::RoutedInvocation;
pub use audience::Audience;
pub use connection::{Connection, ConnectionHandle, Outbox};
pub use execute::ExecuteCommand;
pub use expiries::Expiries;
pub use invocations::{InvocationFailed, InvocationOutcome, InvokeAnswer};
pub use members::{ConnectionGroups, Hub};
pub use observer::{Membership, MembershipObserver};
pub use queue::{FrameReceiver, QueueEmpty, SEND_TIMEOUT};
pub use servers::{
    NoServer, ServerConnection, ServerHandle, ServerIdentity, ServerKind, ServerOutbox,
    ServerSnapshot, Stickiness,
};
pub use service_metrics::ServiceMessageMetrics;
pub use snapshot::{ConnectionSnapshot, HubSnapshot, HubStats, NameCount};
pub use stream_push::StreamPush;
pub use trace::{
    BACKLOG_HUBS, BACKLOG_PER_HUB, MembershipChange, PREVIEW_BYTES, Preview, TRACE_CAPACITY, Trace,
    TraceEvent, TraceKind, TraceWatcher, Watched,
};
pub use user_groups::{DEFAULT_TTL, MAX_UNLIMITED_GROUPS, UserGroupEntry};

use crate::protocol::Frames;

/// Every hub of the server.
#[derive(Debug, Default)]
pub struct Hubs {
    hubs: DashMap<Arc<str>, Arc<Hub>>,
    /// The live trace every hub reports to.
    trace: Trace,
    /// ServiceProtocol messages to and from app servers, by type.
    service_metrics: Arc<ServiceMessageMetrics>,
    /// Every hub's user-group membership deadlines, earliest first.
    expiries: Arc<Expiries>,
    /// Told of every hub's membership changes, when a cluster mirrors them.
    observer: OnceLock<Arc<dyn MembershipObserver>>,
}

impl Hubs {
    /// The hub with this internal name, created if it does not exist yet.
    pub fn get_or_create(&self, name: &str) -> Arc<Hub> {
        if let Some(hub) = self.hubs.get(name) {
            return hub.clone();
        }
        let name: Arc<str> = Arc::from(name);
        self.hubs
            .entry(name.clone())
            .or_insert_with(|| {
                Arc::new(Hub::registered(
                    name,
                    self.trace.clone(),
                    self.expiries.clone(),
                    self.observer.get().cloned(),
                ))
            })
            .clone()
    }

    /// The hub with this internal name, if it exists (messages from other nodes do not create
    /// hubs nobody here uses).
    pub fn get(&self, name: &str) -> Option<Arc<Hub>> {
        self.hubs.get(name).map(|hub| hub.clone())
    }

    /// Makes every hub created from now on report its membership changes to `observer`. Set
    /// once, before the first hub exists; a second observer is refused and returned.
    pub fn observe_with(
        &self,
        observer: Arc<dyn MembershipObserver>,
    ) -> Result<(), Arc<dyn MembershipObserver>> {
        self.observer.set(observer)
    }

    /// Every hub, copied out of the map.
    pub fn all(&self) -> Vec<Arc<Hub>> {
        self.hubs
            .iter()
            .map(|entry| entry.value().clone())
            .collect()
    }

    /// Every hub, sorted by name.
    pub fn sorted(&self) -> Vec<Arc<Hub>> {
        let mut hubs = self.all();
        hubs.sort_by(|a, b| a.name().cmp(b.name()));
        hubs
    }

    /// ServiceProtocol message counts of every server connection.
    pub fn service_metrics(&self) -> &Arc<ServiceMessageMetrics> {
        &self.service_metrics
    }

    /// The live trace of every hub.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// Every hub's user-group membership deadlines: wait on them to know when to call
    /// [`Self::expire_due`].
    pub fn expiries(&self) -> &Expiries {
        &self.expiries
    }

    /// Drops the user-group memberships due by `now`, each under its own hub's lock (no other
    /// hub is touched), and takes their users' live connections out of those groups.
    pub fn expire_due(&self, now: Instant) {
        for due in self.expiries.take_due(now) {
            let hub = self.hubs.get(&due.hub).map(|hub| hub.value().clone());
            if let Some(hub) = hub {
                hub.expire_membership(&due.user, &due.group, now);
            }
        }
    }
}

/// Delivers one message to every target, encoding it at most once per protocol (or using the
/// frames it came with). Returns how many connections accepted it.
pub fn deliver(targets: &[ConnectionHandle], message: &impl Frames) -> usize {
    targets.iter().filter(|c| offer(c, message)).count()
}

/// Hands `connection` the message's frame for its protocol; whether it took it.
fn offer(connection: &ConnectionHandle, message: &impl Frames) -> bool {
    message
        .frame_for(connection.protocol())
        .is_some_and(|frame| connection.deliver(frame))
}
