//! Counters of a node's cluster traffic, for `/metrics` and the health routes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// What this node exchanged with Redis and the other nodes.
#[derive(Debug, Default)]
pub struct ClusterMetrics {
    /// Operations published.
    pub published: AtomicU64,
    /// Operations received from other nodes.
    pub received: AtomicU64,
    /// Redis commands and pipelines sent.
    pub round_trips: AtomicU64,
    /// Redis commands that failed.
    pub redis_errors: AtomicU64,
    /// Lease renewals that succeeded.
    pub lease_renewals: AtomicU64,
    /// Times the local state was rewritten into Redis.
    pub resyncs: AtomicU64,
    /// App-server sends that reached this node's connections but not the other nodes'.
    pub app_server_sends_failed: AtomicU64,
    /// Whether the last lease renewal succeeded and the subscription is up.
    pub lease_held: AtomicBool,
}

impl ClusterMetrics {
    /// Adds one to `counter`.
    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The value of `counter`.
    pub fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
