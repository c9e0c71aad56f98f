//! Mirrors this node's local membership (its connections, their users and groups) into Redis,
//! where other nodes answer existence checks and locate connections with it; a resync also
//! rewrites the node's connection claims and app-server announcements. Hubs report each
//! change to a bounded queue; one task writes them in pipelined batches. When the queue
//! overflows or Redis fails, the node's entries are rewritten from the local registry instead
//! (a resync), so nothing a local hub knows is lost for long. A resync also brings the
//! node's user-group memberships in line with Redis (see `user_groups`).
//!
//! A REST change answers only once its membership is in Redis: [`MirrorQueue::flush`] queues
//! a marker behind the changes made so far and the writer answers it once it wrote them (and
//! finished a resync the queue asked for), so an existence check on another node made right
//! after the answer sees the change.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::connection::RedisConnection;
use super::ended::EndedConnections;
use super::forward::ENDED;
use super::keys::Keys;
use super::metrics::ClusterMetrics;
use super::user_groups::UserGroupStore;
use crate::hub::{Hubs, Membership, MembershipObserver};

/// Changes queued for Redis before the node falls back to a resync.
const QUEUE: usize = 65_536;
/// Changes written per pipeline.
const BATCH: usize = 1024;
/// Wait between resync attempts while Redis is unavailable.
const RESYNC_RETRY: Duration = Duration::from_millis(500);

/// What the writer is handed: a change, or a caller waiting for everything before it.
#[derive(Debug)]
pub(super) enum Queued {
    /// A membership change to write.
    Change(Membership),
    /// Answered once every change queued before it is in Redis.
    Flush(oneshot::Sender<()>),
}

/// The hubs' observer: queues each change, or asks for a resync when the queue is full.
#[derive(Debug)]
pub(super) struct MirrorQueue {
    sender: mpsc::Sender<Queued>,
    resync: Arc<Resync>,
}

impl MirrorQueue {
    /// Waits until every change queued so far is in Redis; false when the writer could not
    /// write them (Redis failed) or stopped. Callers bound the wait.
    pub(super) async fn flush(&self) -> bool {
        let (done, written) = oneshot::channel();
        if self.sender.send(Queued::Flush(done)).await.is_err() {
            return false;
        }
        written.await.is_ok()
    }
}

/// Whether the node's entries in Redis must be rewritten from the local registry, and whether
/// Redis holds them now.
#[derive(Debug)]
pub(super) struct Resync {
    needed: AtomicBool,
    wake: Notify,
    /// How many times Redis may have lost this node's entries, starting at one (when the node
    /// starts, Redis has none of them yet).
    losses: AtomicU64,
    /// The `losses` seen when the last successful resync began: the node is in sync when no
    /// loss came after that.
    synced_through: AtomicU64,
}

impl Default for Resync {
    fn default() -> Self {
        Resync {
            needed: AtomicBool::new(false),
            wake: Notify::new(),
            losses: AtomicU64::new(1),
            synced_through: AtomicU64::new(0),
        }
    }
}

impl Resync {
    /// Asks the mirror to rewrite everything (after an overflow or a failed write): Redis still
    /// has most of the node's entries, so the node stays in sync meanwhile.
    pub(super) fn request(&self) {
        self.needed.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// Redis may have lost every entry of this node (it restarted, or the node was cut off
    /// from it): the node is out of sync until a resync begun from now on has finished.
    pub(super) fn lost(&self) {
        self.losses.fetch_add(1, Ordering::AcqRel);
        self.request();
    }

    /// Whether a resync finished that began after Redis last lost the node's entries (so the
    /// node also holds the user-group memberships Redis had).
    pub(super) fn synced(&self) -> bool {
        self.synced_through.load(Ordering::Acquire) == self.losses.load(Ordering::Acquire)
    }

    /// A resync begins: what it covers (for [`Resync::finished`]). A request or loss from now
    /// on asks for another.
    fn begin(&self) -> u64 {
        self.needed.store(false, Ordering::Release);
        self.losses.load(Ordering::Acquire)
    }

    /// The resync that `began` finished: the node is in sync unless Redis lost its entries
    /// again meanwhile.
    fn finished(&self, began: u64) {
        self.synced_through.fetch_max(began, Ordering::AcqRel);
    }

    /// The resync failed: it is still needed.
    fn failed(&self) {
        self.needed.store(true, Ordering::Release);
    }
}

impl MembershipObserver for MirrorQueue {
    fn observe(&self, change: Membership) {
        if self.sender.try_send(Queued::Change(change)).is_err() {
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
    /// The user-group memberships in Redis.
    pub(super) user_groups: Arc<UserGroupStore>,
    /// Connections that ended here, whose markers a resync writes back.
    pub(super) ended: Arc<EndedConnections>,
}

impl Mirror {
    /// The observer that feeds [`Mirror::run`], and its receiving end.
    pub(super) fn queue(resync: Arc<Resync>) -> (MirrorQueue, mpsc::Receiver<Queued>) {
        let (sender, receiver) = mpsc::channel(QUEUE);
        (MirrorQueue { sender, resync }, receiver)
    }

    /// Writes changes until `stop`; resyncs whenever one was asked for.
    pub(super) async fn run(
        mut self,
        mut changes: mpsc::Receiver<Queued>,
        stop: CancellationToken,
    ) {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            if self.resync.needed.load(Ordering::Acquire) && !self.resync_now().await {
                tokio::select! {
                    () = tokio::time::sleep(RESYNC_RETRY) => {}
                    () = stop.cancelled() => return,
                }
                continue;
            }
            tokio::select! {
                received = changes.recv_many(&mut batch, BATCH) => {
                    if received == 0 {
                        return;
                    }
                    let mut flushes = Vec::new();
                    let mut written = Vec::with_capacity(batch.len());
                    for queued in batch.drain(..) {
                        match queued {
                            Queued::Change(change) => written.push(change),
                            Queued::Flush(done) => flushes.push(done),
                        }
                    }
                    if let Err(err) = self.write(&written).await {
                        tracing::warn!(%err, "cluster: membership changes not written; resyncing");
                        self.resync.request();
                    }
                    // A change the full queue dropped is written only by the resync.
                    let pending = self.resync.needed.load(Ordering::Acquire);
                    if flushes.is_empty() || !pending || self.resync_now().await {
                        for done in flushes {
                            let _ = done.send(());
                        }
                    }
                }
                () = self.resync.wake.notified() => {}
                () = stop.cancelled() => return,
            }
        }
    }

    /// Runs the resync that was asked for; false (and still asked for) when it failed.
    async fn resync_now(&mut self) -> bool {
        let began = self.resync.begin();
        match self.rewrite().await {
            Ok(()) => {
                self.resync.finished(began);
                true
            }
            Err(err) => {
                tracing::warn!(%err, "cluster: cannot resync this node's state into Redis yet");
                self.resync.failed();
                false
            }
        }
    }

    async fn write(&mut self, changes: &[Membership]) -> redis::RedisResult<()> {
        if changes.is_empty() {
            return Ok(());
        }
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
    /// hash tag), then the claims of its client connections and the markers of those that
    /// ended here lately, each keyed by its connection and so, on a Redis Cluster, in a slot
    /// of its own; last, its user-group memberships are brought in line with Redis.
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
        // Markers of connections that ended here, unless a node claimed one since (it cannot
        // have: the marker stops that, unless Redis lost it).
        for (key, left) in self.ended.current() {
            let mut marker = redis::pipe();
            let left = u64::try_from(left.as_millis()).unwrap_or(u64::MAX).max(1);
            marker
                .cmd("SET")
                .arg(key)
                .arg(ENDED)
                .arg("PX")
                .arg(left)
                .arg("NX");
            claims.push(marker);
        }
        if !claims.is_empty() {
            ClusterMetrics::count(&self.metrics.round_trips);
            let metrics = &self.metrics;
            self.redis
                .query_each(claims)
                .await
                .inspect_err(|_| ClusterMetrics::count(&metrics.redis_errors))?;
        }
        let store = self.user_groups.clone();
        store
            .sync(&mut self.redis, &self.metrics, &self.hubs)
            .await
            .inspect_err(|_| ClusterMetrics::count(&self.metrics.redis_errors))?;
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::Resync;

    /// A node whose first resync finished.
    fn synced_node() -> Resync {
        let resync = Resync::default();
        resync.finished(resync.begin());
        resync
    }

    fn needed(resync: &Resync) -> bool {
        resync.needed.load(Ordering::Acquire)
    }

    #[test]
    fn a_node_is_in_sync_once_its_first_resync_finished() {
        let resync = Resync::default();
        assert!(
            !resync.synced(),
            "Redis has nothing of a node that just started"
        );
        let began = resync.begin();
        assert!(!resync.synced(), "a resync that has not finished");
        resync.finished(began);
        assert!(resync.synced());
    }

    #[test]
    fn a_loss_puts_the_node_out_of_sync_until_a_later_resync_finished() {
        let resync = synced_node();
        resync.lost();
        assert!(!resync.synced(), "Redis restarted empty");
        assert!(needed(&resync));
        let began = resync.begin();
        // Redis lost the entries again while the resync was writing them.
        resync.lost();
        resync.finished(began);
        assert!(!resync.synced(), "the resync began before the last loss");
        resync.finished(resync.begin());
        assert!(resync.synced());
    }

    #[test]
    fn an_overflow_or_a_failed_write_keeps_the_node_in_sync() {
        let resync = synced_node();
        resync.request();
        assert!(resync.synced(), "Redis still has the node's entries");
        let began = resync.begin();
        resync.failed();
        assert!(needed(&resync));
        resync.finished(began);
        assert!(resync.synced());
    }
}
