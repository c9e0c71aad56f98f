//! The node's command connection to Redis: one server behind redis-rs's connection manager, or
//! a Redis Cluster behind redis-rs's cluster client (which routes each command to the shard of
//! its slot and follows resharding). It hides the difference from the rest of the cluster
//! module except where Redis Cluster forbids something a single server allows: a pipeline or
//! a transaction must stay within one slot, and messages go on sharded channels.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};
use tokio::sync::OnceCell;

use crate::config::ClusterConfig;

/// How long a Redis command may take before it counts as failed.
pub(super) const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// A cloneable handle on the node's Redis, single server or cluster.
#[derive(Clone)]
pub(super) enum RedisConnection {
    /// One Redis server (`--redis URL`).
    Single(ConnectionManager),
    /// A Redis Cluster (`--redis-cluster`, `--redis` naming one or more seed nodes).
    Cluster(Arc<LazyCluster>),
}

/// A Redis Cluster connection made when first needed, and again by the next command while no
/// seed answers, so a node starts (and serves locally) before the cluster is reachable.
pub(super) struct LazyCluster {
    client: ClusterClient,
    connection: OnceCell<ClusterConnection>,
}

impl LazyCluster {
    /// The connection, made now if it is not yet (a failure is this command's error).
    async fn get(&self) -> RedisResult<ClusterConnection> {
        self.connection
            .get_or_try_init(|| self.client.get_async_connection())
            .await
            .cloned()
    }
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RedisConnection::Single(_) => "RedisConnection::Single",
            RedisConnection::Cluster(_) => "RedisConnection::Cluster",
        })
    }
}

/// The seed URLs of a cluster configuration (`--redis` is a comma-separated list there).
pub(super) fn seeds(config: &ClusterConfig) -> Vec<&str> {
    config
        .redis_url
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .collect()
}

impl RedisConnection {
    /// Prepares the connection the configuration names, connected lazily: a node may start
    /// while Redis (or every seed of a Redis Cluster) is down.
    pub(super) async fn open(config: &ClusterConfig) -> RedisResult<Self> {
        if config.redis_cluster {
            let client = ClusterClientBuilder::new(seeds(config))
                .connection_timeout(REDIS_TIMEOUT)
                .response_timeout(REDIS_TIMEOUT)
                .max_retry_wait(2_000)
                .build()?;
            return Ok(RedisConnection::Cluster(Arc::new(LazyCluster {
                client,
                connection: OnceCell::new(),
            })));
        }
        let client = redis::Client::open(config.redis_url.as_str())?;
        let manager_config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_max_delay(Duration::from_secs(2))
            // One attempt per reconnect: while Redis is down every command fails at once (a
            // 503) instead of waiting out a series of retries; the lease, subscriber and mirror
            // tasks keep trying on their own schedules.
            .set_number_of_retries(1);
        // Connected lazily: a node starts (and serves locally) while Redis is down, reports
        // itself unhealthy, and joins once its lease renewal first reaches Redis.
        Ok(RedisConnection::Single(
            ConnectionManager::new_lazy_with_config(client, manager_config)?,
        ))
    }

    /// Whether this is a Redis Cluster.
    pub(super) fn is_cluster(&self) -> bool {
        matches!(self, RedisConnection::Cluster(_))
    }

    /// The command that publishes `payload` on `channel`: `SPUBLISH` on a cluster, where a
    /// sharded channel is only carried by the shard that owns its slot, `PUBLISH` otherwise.
    /// Either answers how many subscribers received it.
    pub(super) fn publish_command(&self, channel: &str, payload: &[u8]) -> Cmd {
        let name = if self.is_cluster() {
            "SPUBLISH"
        } else {
            "PUBLISH"
        };
        let mut cmd = redis::cmd(name);
        cmd.arg(channel).arg(payload);
        cmd
    }

    /// Runs pipelines whose commands each stay within one slot (none of them ignored), and
    /// answers their values one after the other: in one pipeline on a single server,
    /// concurrently on a cluster (a cluster pipeline may not cross slots).
    /// Empty pipelines add nothing (and no round trip when all are).
    pub(super) async fn query_each(&mut self, pipelines: Vec<Pipeline>) -> RedisResult<Vec<Value>> {
        let pipelines: Vec<Pipeline> = pipelines
            .into_iter()
            .filter(|pipeline| pipeline.cmd_iter().next().is_some())
            .collect();
        if pipelines.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            RedisConnection::Single(manager) => {
                let mut all = redis::pipe();
                for pipeline in &pipelines {
                    for cmd in pipeline.cmd_iter() {
                        all.add_command(cmd.clone());
                    }
                }
                all.query_async(manager).await
            }
            RedisConnection::Cluster(lazy) => {
                let cluster = lazy.get().await?;
                let answers = pipelines.iter().map(|pipeline| {
                    let mut cluster = cluster.clone();
                    async move { pipeline.query_async::<Vec<Value>>(&mut cluster).await }
                });
                let answers = future::try_join_all(answers).await?;
                Ok(answers.into_iter().flatten().collect())
            }
        }
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConnection::Single(manager) => manager.req_packed_command(cmd),
            RedisConnection::Cluster(lazy) => {
                Box::pin(async move { lazy.get().await?.req_packed_command(cmd).await })
            }
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConnection::Single(manager) => manager.req_packed_commands(cmd, offset, count),
            RedisConnection::Cluster(lazy) => Box::pin(async move {
                let mut cluster = lazy.get().await?;
                cluster.req_packed_commands(cmd, offset, count).await
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConnection::Single(manager) => manager.get_db(),
            // Redis Cluster has database 0 only.
            RedisConnection::Cluster(_) => 0,
        }
    }
}
