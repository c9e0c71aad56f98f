//! The cluster on a Redis Cluster (three shards, `--redis-cluster` with every server as a
//! seed): the single-Redis tests' scenarios (sends, group changes, member pages, clients
//! across nodes, an app server's fan-out, a killed node, an outage) run unchanged, and the nodes' channels are sharded
//! ones only.

use super::app_server_fanout::fan_out_from_an_app_server_reaches_every_node_once_on;
use super::clients::{
    server_sent_events_take_posts_sent_to_the_other_node,
    websocket_negotiated_on_one_node_connects_on_the_other,
};
use super::late_nodes::{
    a_node_started_later_applies_the_memberships_made_before_on,
    memberships_survive_a_restart_that_lost_them_on,
};
use super::lifecycle::a_killed_node_is_cleaned_up_within_its_lease;
use super::outage::local_delivery_survives_an_outage_and_recovers_on;
use super::paging::pages_merge_both_nodes_members;
use super::sends::{
    group_changes_apply_to_connections_on_the_other_node,
    rest_sends_reach_clients_on_the_other_node,
};
use super::{Backend, Node, RedisCluster};

#[tokio::test]
async fn rest_sends_and_group_changes_cross_nodes_once_over_sharded_pub_sub() {
    let redis = RedisCluster::start().await;
    let a = Node::start(&redis, &[]).await;
    let b = Node::start(&redis, &[]).await;
    rest_sends_reach_clients_on_the_other_node(&a, &b).await;
    group_changes_apply_to_connections_on_the_other_node(&a, &b).await;

    // Both nodes subscribed to the shared channel and their own, sharded; no classic channel
    // or pattern anywhere (a cluster would carry those to every shard).
    let (mut sharded, mut classic, mut patterns) = (Vec::new(), Vec::new(), 0);
    for port in &redis.ports {
        let listed = redis.cli(*port, &["pubsub", "shardchannels"]).await;
        sharded.extend(listed.lines().filter(|l| !l.is_empty()).map(str::to_owned));
        let listed = redis.cli(*port, &["pubsub", "channels"]).await;
        classic.extend(listed.lines().filter(|l| !l.is_empty()).map(str::to_owned));
        let count = redis.cli(*port, &["pubsub", "numpat"]).await;
        patterns += count
            .trim()
            .parse::<u64>()
            .expect("PUBSUB NUMPAT answers a number");
    }
    sharded.sort();
    assert_eq!(sharded.len(), 3, "{sharded:?}");
    assert_eq!(sharded[0], "signalr:all");
    assert!(
        sharded[1..].iter().all(|c| c.starts_with("signalr:node:{")),
        "{sharded:?}"
    );
    assert!(classic.is_empty(), "{classic:?}");
    assert_eq!(patterns, 0);
}

#[tokio::test]
async fn app_server_fan_out_crosses_nodes_once_over_a_redis_cluster() {
    fan_out_from_an_app_server_reaches_every_node_once_on(&RedisCluster::start().await).await;
}

#[tokio::test]
async fn group_member_pages_merge_both_nodes_over_a_redis_cluster() {
    let redis = RedisCluster::start().await;
    let a = Node::start(&redis, &[]).await;
    let b = Node::start(&redis, &[]).await;
    pages_merge_both_nodes_members(&a, &b).await;
}

#[tokio::test]
async fn a_websocket_negotiated_on_one_node_connects_on_the_other_over_a_redis_cluster() {
    let redis = RedisCluster::start().await;
    websocket_negotiated_on_one_node_connects_on_the_other(&redis).await;
}

#[tokio::test]
async fn server_sent_events_are_forwarded_to_the_holder_over_a_redis_cluster() {
    let redis = RedisCluster::start().await;
    server_sent_events_take_posts_sent_to_the_other_node(&redis).await;
}

#[tokio::test]
async fn a_killed_node_is_cleaned_up_within_its_lease_over_a_redis_cluster() {
    let redis = RedisCluster::start().await;
    a_killed_node_is_cleaned_up_within_its_lease(&redis).await;
}

#[tokio::test]
async fn a_redis_cluster_outage_is_survived_and_recovered_from() {
    let mut redis = RedisCluster::start().await;
    local_delivery_survives_an_outage_and_recovers_on(&mut redis).await;
}

#[tokio::test]
async fn a_node_started_later_applies_earlier_memberships_over_a_redis_cluster() {
    let redis = RedisCluster::start().await;
    a_node_started_later_applies_the_memberships_made_before_on(&redis).await;
}

#[tokio::test]
async fn memberships_survive_a_redis_cluster_restart_that_lost_them() {
    memberships_survive_a_restart_that_lost_them_on(RedisCluster::start().await).await;
}

#[tokio::test]
async fn a_node_starts_while_no_seed_answers_and_joins_when_the_cluster_is_back() {
    let mut redis = RedisCluster::start().await;
    redis.outage().await;
    let a = Node::launch(&redis.node_flags(), &[]).await;
    let health = a.server.rest("GET", "/api/health", None).await;
    assert_eq!(health.status(), 200);
    assert_eq!(health.headers()["x-signalr-cluster"], "redis-unavailable");
    redis.recover().await;
    a.wait_healthy(true).await;
    let b = Node::start(&redis, &[]).await;
    rest_sends_reach_clients_on_the_other_node(&a, &b).await;
}
