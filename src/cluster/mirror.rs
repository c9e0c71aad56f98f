//! Mirrors this node's local membership (its connections, their users and groups) into Redis,
//! where other nodes answer existence checks and locate connections with it; a resync also
//! rewrites the node's connection claims and app-server announcements. Hubs report each
//! change to a bounded queue; one task writes them in pipelined batches. When the queue
//! overflows or Redis fails, the node's entries are rewritten from the local registry instead
//! (a resync), so nothing a local hub knows is lost for long.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use super::connection::RedisConnection;
use super::keys::Keys;
use super::metrics::ClusterMetrics;
use crate::hub::{Hubs, Membership, MembershipObserver};

/// Changes queued for Redis before the node falls back to a resync.
const QUEUE: usize = 65_536;
/// Changes written per pipeline.
const BATCH: usize = 1024;
/// Wait between resync attempts while Redis is unavailable.
const RESYNC_RETRY: Duration = Duration::from_millis(500);

/// The hubs' observer: queues each change, or asks for a resync when the queue is full.
#[derive(Debug)]
pub(super) struct MirrorQueue {
    sender: mpsc::Sender<Membership>,
    resync: Arc<Resync>,
}

/// Whether the node's entries in Redis must be rewritten from the local registry.
#[derive(Debug, Default)]
pub(super) struct Resync {
    needed: AtomicBool,
    wake: Notify,
}

impl Resync {
    /// Asks the mirror to rewrite everything (after an overflow, a Redis failure or restart).
    pub(super) fn request(&self) {
        self.needed.store(true, Ordering::Release);
        self.wake.notify_one();
    }
}

impl MembershipObserver for MirrorQueue {
    fn observe(&self, change: Membership) {
        if self.sender.try_send(change).is_err() {
            self.resync.request();
        }
    }
}

/// Writes queued changes and resyncs into Redis.
pub(super) struct Mirror {
    /// Names of the keys.
    pub(super) keys: Keys,
    /// This node's id.
    pub(super) node: String,
    /// The Redis connection.
    pub(super) redis: RedisConnection,
    /// The hubs whose membership is mirrored.
    pub(super) hubs: Arc<Hubs>,
    /// Traffic counters.
    pub(super) metrics: Arc<ClusterMetrics>,
    /// Set when everything must be rewritten.
    pub(super) resync: Arc<Resync>,
}

impl Mirror {
    /// The observer that feeds [`Mirror::run`], and its receiving end.
    pub(super) fn queue(resync: Arc<Resync>) -> (MirrorQueue, mpsc::Receiver<Membership>) {
        let (sender, receiver) = mpsc::channel(QUEUE);
        (MirrorQueue { sender, resync }, receiver)
    }

    /// Writes changes until `stop`; resyncs whenever one was asked for.
    pub(super) async fn run(
        mut self,
        mut changes: mpsc::Receiver<Membership>,
        stop: CancellationToken,
    ) {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            if self.resync.needed.swap(false, Ordering::AcqRel) {
                if let Err(err) = self.rewrite().await {
                    tracing::warn!(%err, "cluster: cannot resync this node's state into Redis yet");
                    self.resync.needed.store(true, Ordering::Release);
                    tokio::select! {
                        () = tokio::time::sleep(RESYNC_RETRY) => {}
                        () = stop.cancelled() => return,
                    }
                }
                continue;
            }
            tokio::select! {
                received = changes.recv_many(&mut batch, BATCH) => {
                    if received == 0 {
                        return;
                    }
                    if let Err(err) = self.write(&batch).await {
                        tracing::warn!(%err, "cluster: membership changes not written; resyncing");
                        self.resync.request();
                    }
                    batch.clear();
                }
                () = self.resync.wake.notified() => {}
                () = stop.cancelled() => return,
            }
        }
    }

    async fn write(&mut self, changes: &[Membership]) -> redis::RedisResult<()> {
        let mut pipe = redis::pipe();
        for change in changes {
            self.add_change(&mut pipe, change);
        }
        self.execute(pipe).await
    }

    fn add_change(&self, pipe: &mut redis::Pipeline, change: &Membership) {
        let (keys, node) = (&self.keys, self.node.as_str());
        let owned = keys.owned(node);
        match change {
            Membership::Connected {
                hub,
                connection,
                user,
            } => {
                let key = keys.connections(node, hub);
                let user_id = user.as_deref().unwrap_or_default();
                pipe.hset(&key, &**connection, user_id).ignore();
                pipe.sadd(&owned, key).ignore();
                if let Some(user) = user {
                    let key = keys.user(node, hub, user);
                    pipe.sadd(&key, &**connection).ignore();
                    pipe.sadd(&owned, key).ignore();
                }
            }
            Membership::Disconnected {
                hub,
                connection,
                user,
            } => {
                pipe.hdel(keys.connections(node, hub), &**connection)
                    .ignore();
                if let Some(user) = user {
                    pipe.srem(keys.user(node, hub, user), &**connection)
                        .ignore();
                }
            }
            Membership::Joined {
                hub,
                connection,
                group,
            } => {
                let key = keys.group(node, hub, group);
                pipe.sadd(&key, &**connection).ignore();
                pipe.sadd(&owned, key).ignore();
            }
            Membership::Left {
                hub,
                connection,
                group,
            } => {
                pipe.srem(keys.group(node, hub, group), &**connection)
                    .ignore();
            }
        }
    }

    /// Replaces this node's entries with what the local hubs hold now: membership, the list of
    /// its claims and its app-server announcements in one transaction (they share the node's
    /// hash tag), then the claims of its client connections, each keyed by its connection and
    /// so, on a Redis Cluster, in a slot of its own.
    async fn rewrite(&mut self) -> redis::RedisResult<()> {
        let owned_key = self.keys.owned(&self.node);
        ClusterMetrics::count(&self.metrics.round_trips);
        let owned: Vec<String> = redis::cmd("SMEMBERS")
            .arg(&owned_key)
            .query_async(&mut self.redis)
            .await?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        for key in owned {
            pipe.del(key).ignore();
        }
        pipe.del(&owned_key).ignore();
        let held = self.keys.held(&self.node);
        let mut claims = Vec::new();
        for hub in self.hubs.all() {
            let key = self.keys.app_servers(&self.node, hub.name());
            if hub.has_app_server() {
                pipe.set(&key, 1).ignore().sadd(&held, key).ignore();
            } else {
                pipe.del(&key).ignore().srem(&held, key).ignore();
            }
            for member in hub.connections_with_groups() {
                let connection = &member.connection;
                // Its claim too, which SSE and long-polling requests on other nodes follow.
                let claim = self.keys.holder(hub.name(), connection.id());
                let mut set_claim = redis::pipe();
                set_claim.set(&claim, &self.node);
                claims.push(set_claim);
                pipe.sadd(&held, claim).ignore();
                let change = Membership::Connected {
                    hub: hub.name().clone(),
                    connection: connection.id().clone(),
                    user: connection.user_id().cloned(),
                };
                self.add_change(&mut pipe, &change);
                for group in member.groups {
                    let change = Membership::Joined {
                        hub: hub.name().clone(),
                        connection: connection.id().clone(),
                        group,
                    };
                    self.add_change(&mut pipe, &change);
                }
            }
        }
        self.execute(pipe).await?;
        if !claims.is_empty() {
            ClusterMetrics::count(&self.metrics.round_trips);
            let metrics = &self.metrics;
            self.redis
                .query_each(claims)
                .await
                .inspect_err(|_| ClusterMetrics::count(&metrics.redis_errors))?;
        }
        ClusterMetrics::count(&self.metrics.resyncs);
        Ok(())
    }

    async fn execute(&mut self, pipe: redis::Pipeline) -> redis::RedisResult<()> {
        ClusterMetrics::count(&self.metrics.round_trips);
        let result = pipe.query_async::<()>(&mut self.redis).await;
        if result.is_err() {
            ClusterMetrics::count(&self.metrics.redis_errors);
        }
        result
    }
}

/// Deletes every entry `node` owns (its own on graceful shutdown, a dead node's otherwise):
/// the entries first and the node's listing last, so a removal cut short is done again at the
/// next renewal (the node is still listed, its lease still gone). Its claims are in their
/// connections' slots: one `DEL`, which a cluster client splits by slot.
pub(super) async fn remove_node(
    redis: &mut RedisConnection,
    keys: &Keys,
    node: &str,
) -> redis::RedisResult<()> {
    let owned_key = keys.owned(node);
    let held_key = keys.held(node);
    let mut names: Vec<String> = redis::cmd("SUNION")
        .arg(&owned_key)
        .arg(&held_key)
        .query_async(redis)
        .await?;
    names.extend([owned_key, held_key, keys.node(node)]);
    redis::cmd("DEL")
        .arg(&names)
        .query_async::<()>(redis)
        .await?;
    redis::cmd("SREM")
        .arg(keys.nodes())
        .arg(node)
        .query_async(redis)
        .await
}
