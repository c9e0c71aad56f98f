//! Scale-out: many emulator nodes sharing one Redis behave as one service. This module owns
//! the Redis connections, the node's identity and lease, the key and channel names, the
//! envelope of published operations, the mirror of local membership into Redis, the
//! point-to-point calls between nodes, and the counters `/metrics` shows; for clients across
//! nodes, which node holds each client connection and the forwarding and relaying to it.
//!
//! Local first: a node's own registry stays the truth about its own connections and the local
//! fan-out path is unchanged; REST operations deliver locally, then publish once (frames
//! encoded once per protocol) on the channel of their target so other nodes deliver to theirs.

mod apply;
mod connection;
mod ended;
mod envelope;
mod error;
mod every_node;
pub mod forward;
mod holder;
mod keys;
mod lease;
mod metrics;
mod mirror;
pub mod relay;
mod remote_caller;
mod roster;
mod subscriber;
mod user_groups;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use apply::apply_user_group;
pub use envelope::{Envelope, Operation, Reply, Request, UserGroupChange};
pub use error::ClusterError;
pub use every_node::AppliedUserGroup;
pub use metrics::ClusterMetrics;
pub use roster::{HeldConnection, NodeConnections};

use crate::config::ClusterConfig;
use crate::hub::{Audience, Hubs};
use crate::protocol::Protocol;
use connection::{REDIS_TIMEOUT, RedisConnection};
use ended::EndedConnections;
use keys::Keys;
use mirror::{Mirror, MirrorQueue, Resync};
use user_groups::UserGroupStore;

/// How long a membership change waits for the holding node's answer.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a change waits for its membership to be in Redis; below [`CALL_TIMEOUT`], so a
/// node asked for a change answers before its caller gives up.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// A node of the cluster as its lease record describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// A uuid chosen at process start.
    pub id: String,
    /// The base URL other nodes reach it at (`--cluster-advertise`).
    pub url: String,
}

/// This node's membership in the cluster.
#[derive(Debug)]
pub struct Cluster {
    node: NodeInfo,
    keys: Keys,
    lease: Duration,
    redis: RedisConnection,
    hubs: Arc<Hubs>,
    metrics: Arc<ClusterMetrics>,
    resync: Arc<Resync>,
    /// The queue of membership changes into Redis, for flushing it.
    mirror: Arc<MirrorQueue>,
    /// The user-group memberships in Redis.
    user_groups: Arc<UserGroupStore>,
    /// Connections that ended here, whose markers a resync writes back.
    ended: Arc<EndedConnections>,
    /// Wakes the lease task for a renewal now, not at its next tick.
    renew_now: Notify,
    subscribed: AtomicBool,
    /// The nodes with a lease, as of the last renewal.
    live: RwLock<Vec<NodeInfo>>,
    calls: DashMap<u64, oneshot::Sender<Reply>>,
    next_call: AtomicU64,
    stop: CancellationToken,
}

impl Cluster {
    /// Redis answers again after the subscription was lost: the node writes its state back
    /// and renews its lease at once, since other nodes reach its connections only through a
    /// current lease (waiting for the next tick left it unreachable for up to a third of the
    /// lease after a Redis restart). Redis may have restarted empty, so until both are done
    /// the node is not healthy: it holds no lease it has seen and its entries may be gone.
    fn restored(&self) {
        self.metrics.lease_held.store(false, Ordering::Release);
        self.resync.lost();
        self.renew_now.notify_one();
    }

    /// Prepares the Redis connection (made, and remade, when it is first used), mirrors `hubs`
    /// (before any hub exists) and starts the subscription, lease and mirror tasks on `tasks`; they end with `shutdown`, so the
    /// server's wait for its tasks is not held up (entries go with [`Cluster::leave`]).
    /// `advertise` is this node's URL when the configuration names none.
    pub async fn start(
        config: &ClusterConfig,
        advertise: String,
        hubs: Arc<Hubs>,
        tasks: &TaskTracker,
        shutdown: &CancellationToken,
    ) -> Result<Arc<Self>, ClusterError> {
        let redis = RedisConnection::open(config).await?;
        let resync = Arc::new(Resync::default());
        let keys = Keys::new(&config.prefix, config.redis_cluster);
        let user_groups = Arc::new(UserGroupStore::new(keys.clone()));
        let ended = Arc::new(EndedConnections::default());
        let (queue, changes) = Mirror::queue(resync.clone());
        let queue = Arc::new(queue);
        let node = NodeInfo {
            id: uuid::Uuid::new_v4().to_string(),
            url: config.advertise.clone().unwrap_or(advertise),
        };
        let cluster = Arc::new(Cluster {
            keys,
            lease: config.lease,
            redis: redis.clone(),
            hubs: hubs.clone(),
            metrics: Arc::default(),
            resync: resync.clone(),
            mirror: queue.clone(),
            user_groups: user_groups.clone(),
            ended: ended.clone(),
            renew_now: Notify::new(),
            subscribed: AtomicBool::new(false),
            live: RwLock::new(vec![node.clone()]),
            calls: DashMap::new(),
            next_call: AtomicU64::new(1),
            stop: shutdown.child_token(),
            node,
        });
        if hubs.observe_with(queue).is_err() {
            tracing::warn!("cluster: the hubs already had an observer");
        }
        let mirror = Mirror {
            keys: cluster.keys.clone(),
            node: cluster.node.id.clone(),
            redis,
            hubs,
            metrics: cluster.metrics.clone(),
            resync,
            user_groups,
            ended,
        };
        tasks.spawn(mirror.run(changes, cluster.stop.clone()));
        tasks.spawn(subscriber::run(
            cluster.clone(),
            config.clone(),
            cluster.stop.clone(),
        ));
        tasks.spawn(lease::run(cluster.clone(), cluster.stop.clone()));
        tracing::info!(node = %cluster.node.id, url = %cluster.node.url, "cluster: started; the node joins once Redis answers");
        Ok(cluster)
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.node.id
    }

    /// This node's record.
    pub fn node(&self) -> &NodeInfo {
        &self.node
    }

    /// Whether the lease is held, the subscription is up and the node synced with Redis once
    /// (so it applies the user-group memberships made before it started).
    pub fn is_healthy(&self) -> bool {
        self.metrics.lease_held.load(Ordering::Acquire)
            && self.subscribed.load(Ordering::Acquire)
            && self.resync.synced()
    }

    /// Waits until this node's membership changes made so far are in Redis, where the other
    /// nodes' existence checks read them; a 503 naming Redis when that takes too long.
    pub async fn flush_mirror(&self) -> Result<(), ClusterError> {
        match tokio::time::timeout(FLUSH_TIMEOUT, self.mirror.flush()).await {
            Ok(true) => Ok(()),
            _ => Err(ClusterError::NotMirrored(FLUSH_TIMEOUT.as_secs())),
        }
    }

    /// The nodes holding a lease as of the last renewal, sorted by id.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        self.live.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The traffic counters.
    pub fn metrics(&self) -> &ClusterMetrics {
        &self.metrics
    }

    /// The channel an operation on `to` is published on: the holding node's own channel for a
    /// single connection (`None` when no node holds it), else the target's channel.
    async fn channel_of(&self, hub: &str, to: &Audience) -> Result<Option<String>, ClusterError> {
        Ok(match to {
            Audience::Connection(id) => self
                .locate_connection(hub, id)
                .await?
                .map(|node| self.keys.node(&node.id)),
            to => Some(self.keys.channel_for(hub, to)),
        })
    }

    /// Publishes a send for the other nodes' connections of `to` but the excluded connections
    /// and those of the excluded users (this node delivered to its own already). A single
    /// connection's send goes only to the node that holds it.
    pub async fn send(
        &self,
        hub: &str,
        to: Audience,
        excluded: Vec<String>,
        excluded_users: Vec<String>,
        frames: Vec<(Protocol, Bytes)>,
    ) -> Result<(), ClusterError> {
        let Some(channel) = self.channel_of(hub, &to).await? else {
            return Ok(());
        };
        let operation = Operation::Send {
            hub: hub.to_owned(),
            to,
            excluded,
            excluded_users,
        };
        self.publish(&channel, operation, frames).await.map(drop)
    }

    /// Publishes a close of the other nodes' connections of `to` but the excluded ones.
    pub async fn close(
        &self,
        hub: &str,
        to: Audience,
        excluded: Vec<String>,
        reason: Option<String>,
    ) -> Result<(), ClusterError> {
        let Some(channel) = self.channel_of(hub, &to).await? else {
            return Ok(());
        };
        let operation = Operation::Close {
            hub: hub.to_owned(),
            to,
            excluded,
            reason,
        };
        self.publish(&channel, operation, Vec::new())
            .await
            .map(drop)
    }

    /// Asks `node` to do `request` and waits at most `timeout` for its answer.
    pub async fn call(
        &self,
        node: &NodeInfo,
        request: Request,
        timeout: Duration,
    ) -> Result<Reply, ClusterError> {
        self.call_with(node, request, Vec::new(), timeout).await
    }

    /// [`Cluster::call`] with the messages (`frames`) the request carries.
    async fn call_with(
        &self,
        node: &NodeInfo,
        request: Request,
        frames: Vec<(Protocol, Bytes)>,
        timeout: Duration,
    ) -> Result<Reply, ClusterError> {
        let id = self.next_call.fetch_add(1, Ordering::Relaxed);
        let (sender, answer) = oneshot::channel();
        self.calls.insert(id, sender);
        let channel = self.keys.node(&node.id);
        let published = self
            .publish(&channel, Operation::Call { id, request }, frames)
            .await;
        let outcome = match published {
            Ok(0) => Err(ClusterError::NodeTimeout(node.id.clone())),
            Ok(_) => match tokio::time::timeout(timeout, answer).await {
                Ok(Ok(Reply::Failed(reason))) => Err(ClusterError::Remote {
                    node: node.id.clone(),
                    reason,
                }),
                Ok(Ok(reply)) => Ok(reply),
                _ => Err(ClusterError::NodeTimeout(node.id.clone())),
            },
            Err(err) => Err(err),
        };
        self.calls.remove(&id);
        outcome
    }

    /// Answers call `id` of node `origin`.
    async fn reply(&self, origin: &str, id: u64, reply: Reply) -> Result<(), ClusterError> {
        let channel = self.keys.node(origin);
        self.publish(&channel, Operation::Reply { id, reply }, Vec::new())
            .await
            .map(drop)
    }

    /// Publishes one envelope; returns how many nodes received it.
    async fn publish(
        &self,
        channel: &str,
        operation: Operation,
        frames: Vec<(Protocol, Bytes)>,
    ) -> Result<usize, ClusterError> {
        let envelope = Envelope {
            origin: self.node.id.clone(),
            operation,
            frames,
        };
        let publish = self
            .redis
            .publish_command(channel, envelope.encode().as_ref());
        let receivers: usize = self.query(&publish).await?;
        ClusterMetrics::count(&self.metrics.published);
        Ok(receivers)
    }

    /// The other node holding the connection, if any node does.
    pub async fn locate_connection(
        &self,
        hub: &str,
        id: &str,
    ) -> Result<Option<NodeInfo>, ClusterError> {
        let found: Vec<(NodeInfo, bool)> = self
            .ask_other_nodes(|node| {
                let mut cmd = redis::cmd("HEXISTS");
                cmd.arg(self.keys.connections(node, hub)).arg(id);
                cmd
            })
            .await?;
        Ok(found.into_iter().find(|(_, held)| *held).map(|(n, _)| n))
    }

    /// Whether a connection on another node is in the group.
    pub async fn group_exists(&self, hub: &str, group: &str) -> Result<bool, ClusterError> {
        let found: Vec<(NodeInfo, bool)> = self
            .ask_other_nodes(|node| {
                let mut cmd = redis::cmd("EXISTS");
                cmd.arg(self.keys.group(node, hub, group));
                cmd
            })
            .await?;
        Ok(found.iter().any(|(_, exists)| *exists))
    }

    /// Whether the user has a connection on another node.
    pub async fn user_exists(&self, hub: &str, user: &str) -> Result<bool, ClusterError> {
        let found: Vec<(NodeInfo, bool)> = self
            .ask_other_nodes(|node| {
                let mut cmd = redis::cmd("EXISTS");
                cmd.arg(self.keys.user(node, hub, user));
                cmd
            })
            .await?;
        Ok(found.iter().any(|(_, exists)| *exists))
    }

    /// Whether a connection of the user on another node is in the group.
    pub async fn user_connection_in_group(
        &self,
        hub: &str,
        user: &str,
        group: &str,
    ) -> Result<bool, ClusterError> {
        let found: Vec<(NodeInfo, Vec<String>)> = self
            .ask_other_nodes(|node| {
                let mut cmd = redis::cmd("SINTER");
                cmd.arg(self.keys.user(node, hub, user))
                    .arg(self.keys.group(node, hub, group));
                cmd
            })
            .await?;
        Ok(found.iter().any(|(_, common)| !common.is_empty()))
    }

    /// The group's connections on the other nodes, as `(connection id, user id)` sorted by
    /// id, those after `after` only (a page's cursor).
    pub async fn group_members(
        &self,
        hub: &str,
        group: &str,
        after: Option<&str>,
    ) -> Result<Vec<(String, Option<String>)>, ClusterError> {
        let found: Vec<(NodeInfo, Vec<String>)> = self
            .ask_other_nodes(|node| {
                let mut cmd = redis::cmd("SMEMBERS");
                cmd.arg(self.keys.group(node, hub, group));
                cmd
            })
            .await?;
        let mut pipes = Vec::new();
        let mut ids = Vec::new();
        for (node, mut members) in found {
            members.retain(|id| after.is_none_or(|after| id.as_str() > after));
            if !members.is_empty() {
                let mut pipe = redis::pipe();
                pipe.cmd("HMGET")
                    .arg(self.keys.connections(&node.id, hub))
                    .arg(&members);
                pipes.push(pipe);
                ids.push(members);
            }
        }
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let users: Vec<Vec<Option<String>>> = self
            .query_each(pipes)
            .await?
            .iter()
            .map(redis::from_redis_value_ref)
            .collect::<Result<_, _>>()
            .map_err(redis::RedisError::from)?;
        let mut members: Vec<(String, Option<String>)> = ids
            .into_iter()
            .zip(users)
            .flat_map(|(ids, users)| ids.into_iter().zip(users))
            .map(|(id, user)| (id, user.filter(|u| !u.is_empty())))
            .collect();
        members.sort();
        Ok(members)
    }

    /// Runs `command` for every other node whose lease is current, each beside a read of the
    /// node's lease (in its slot) after reading the node list, so a node whose lease ran out
    /// never answers.
    async fn ask_other_nodes<T: redis::FromRedisValue>(
        &self,
        command: impl Fn(&str) -> redis::Cmd,
    ) -> Result<Vec<(NodeInfo, T)>, ClusterError> {
        let ids: Vec<String> = self
            .query(redis::cmd("SMEMBERS").arg(self.keys.nodes()))
            .await?;
        let ids: Vec<String> = ids.into_iter().filter(|id| *id != self.node.id).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let pipes = ids
            .iter()
            .map(|id| {
                let mut pipe = redis::pipe();
                pipe.get(self.keys.node(id)).add_command(command(id));
                pipe
            })
            .collect();
        let values = self.query_each(pipes).await?;
        let mut answers = Vec::new();
        for pair in values.chunks(2) {
            let [lease, answer] = pair else { continue };
            let lease: Option<String> =
                redis::from_redis_value_ref(lease).map_err(redis::RedisError::from)?;
            if let Some(node) = lease.and_then(|r| serde_json::from_str::<NodeInfo>(&r).ok()) {
                let answer =
                    redis::from_redis_value_ref(answer).map_err(redis::RedisError::from)?;
                answers.push((node, answer));
            }
        }
        Ok(answers)
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, ClusterError> {
        ClusterMetrics::count(&self.metrics.round_trips);
        cmd.query_async(&mut self.redis.clone()).await.map_err(|e| {
            ClusterMetrics::count(&self.metrics.redis_errors);
            ClusterError::Redis(e)
        })
    }

    /// Runs single-slot pipelines as one (see [`RedisConnection::query_each`]).
    async fn query_each(
        &self,
        pipes: Vec<redis::Pipeline>,
    ) -> Result<Vec<redis::Value>, ClusterError> {
        ClusterMetrics::count(&self.metrics.round_trips);
        self.redis.clone().query_each(pipes).await.map_err(|e| {
            ClusterMetrics::count(&self.metrics.redis_errors);
            ClusterError::Redis(e)
        })
    }

    async fn query_pipe<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, ClusterError> {
        ClusterMetrics::count(&self.metrics.round_trips);
        pipe.query_async(&mut self.redis.clone())
            .await
            .map_err(|e| {
                ClusterMetrics::count(&self.metrics.redis_errors);
                ClusterError::Redis(e)
            })
    }

    /// Leaves the cluster at shutdown: stops the tasks and removes this node's entries at once
    /// (other nodes need not wait for the lease to run out).
    pub async fn leave(&self) {
        self.stop.cancel();
        let mut redis = self.redis.clone();
        let removed = tokio::time::timeout(
            REDIS_TIMEOUT,
            mirror::remove_node(&mut redis, &self.keys, &self.node.id),
        )
        .await;
        match removed {
            Ok(Ok(())) => tracing::info!("cluster: left, entries removed"),
            Ok(Err(err)) => {
                tracing::warn!(%err, "cluster: entries not removed; the lease will expire")
            }
            Err(_) => tracing::warn!("cluster: Redis too slow at shutdown; the lease will expire"),
        }
    }
}
