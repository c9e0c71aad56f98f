//! The node's lease: renewed every third of its length with the node's record (id and
//! advertised URL), while the live-node list is refreshed and the entries of nodes whose lease
//! ran out (crashed, killed, cut off) are removed. A renewal that finds its own lease gone
//! (Redis restarted, or this node was cut off long enough to be cleaned up) asks for a resync.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio_util::sync::CancellationToken;

use super::metrics::ClusterMetrics;
use super::mirror::remove_node;
use super::{Cluster, NodeInfo};

/// Renews the lease and refreshes the live nodes until `stop`.
pub(super) async fn run(cluster: Arc<Cluster>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(cluster.lease / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = cluster.renew_now.notified() => {}
            () = stop.cancelled() => return,
        }
        match renew(&cluster).await {
            Ok(()) => {
                // Counted first: whoever sees the lease held sees the renewal counted.
                ClusterMetrics::count(&cluster.metrics.lease_renewals);
                if !cluster.metrics.lease_held.swap(true, Ordering::AcqRel) {
                    tracing::info!("cluster: Redis reachable, lease held");
                }
            }
            Err(err) => {
                ClusterMetrics::count(&cluster.metrics.redis_errors);
                if cluster.metrics.lease_held.swap(false, Ordering::AcqRel) {
                    tracing::warn!(%err, "cluster: lease not renewed; Redis unavailable");
                }
            }
        }
    }
}

/// One renewal: the lease, then the live nodes and the cleanup of dead ones.
async fn renew(cluster: &Cluster) -> redis::RedisResult<()> {
    let mut redis = cluster.redis.clone();
    let keys = &cluster.keys;
    let record = serde_json::to_string(&cluster.node).expect("a node record serializes");
    ClusterMetrics::count(&cluster.metrics.round_trips);
    // The lease is in this node's slot and the node set in its own: two pipelines.
    let mut lease = redis::pipe();
    lease
        .cmd("SET")
        .arg(keys.node(&cluster.node.id))
        .arg(&record)
        .arg("PX")
        .arg(cluster.lease.as_millis() as u64)
        .arg("GET");
    let mut listed = redis::pipe();
    listed.sadd(keys.nodes(), &cluster.node.id);
    let answers = redis.query_each(vec![lease, listed]).await?;
    let previous: Option<String> = match answers.first() {
        Some(value) => redis::from_redis_value_ref(value)?,
        None => None,
    };
    if previous.is_none() {
        cluster.resync.lost();
    }
    let ids: Vec<String> = redis::cmd("SMEMBERS")
        .arg(keys.nodes())
        .query_async(&mut redis)
        .await?;
    let reads = ids
        .iter()
        .map(|id| {
            let mut read = redis::pipe();
            read.get(keys.node(id));
            read
        })
        .collect();
    let leases = redis.query_each(reads).await?;
    ClusterMetrics::count(&cluster.metrics.round_trips);
    let mut live = Vec::new();
    for (id, lease) in ids.into_iter().zip(leases) {
        let lease: Option<String> = redis::from_redis_value_ref(&lease)?;
        match lease.and_then(|record| serde_json::from_str::<NodeInfo>(&record).ok()) {
            Some(node) => live.push(node),
            None => {
                tracing::info!(node = %id, "cluster: a node's lease ran out; removing its entries");
                remove_node(&mut redis, keys, &id).await?;
            }
        }
    }
    live.sort_by(|a, b| a.id.cmp(&b.id));
    *cluster.live.write().unwrap_or_else(|e| e.into_inner()) = live;
    Ok(())
}
