//! Node lifecycle: a node killed with SIGKILL has its connections and memberships cleaned up
//! by the others within its lease; a node stopped gracefully removes its own entries at once.

use std::time::{Duration, Instant};

use super::sends::until_visible;
use super::{Backend, Node, Redis, eventually};

const LEASE_SECS: u64 = 3;

async fn cluster_with_member_on_b(redis: &impl Backend) -> (Node, Node, crate::common::WsClient) {
    let lease = LEASE_SECS.to_string();
    let flags = ["--cluster-lease-secs", lease.as_str()];
    let a = Node::start(redis, &flags).await;
    let b = Node::start(redis, &flags).await;
    let (client, id) = b.server.connect("chat", Some("bob")).await;
    until_visible(&a.server, &id).await;
    let path = format!("/api/hubs/chat/groups/g/connections/{id}");
    assert_eq!(a.server.rest("PUT", &path, None).await.status(), 200);
    (a, b, client)
}

async fn gone_from(a: &Node, within: Duration) -> bool {
    eventually(within, || async {
        let user = a
            .server
            .rest("HEAD", "/api/hubs/chat/users/bob", None)
            .await;
        let group = a.server.rest("HEAD", "/api/hubs/chat/groups/g", None).await;
        user.status() == 404 && group.status() == 404
    })
    .await
}

#[tokio::test]
async fn a_killed_nodes_entries_are_cleaned_up_within_its_lease() {
    let redis = Redis::start().await;
    a_killed_node_is_cleaned_up_within_its_lease(&redis).await;
}

/// Of two nodes on `redis`, the one holding a user's connection in a group is killed with
/// SIGKILL: within its lease the other no longer sees the user, the group or the node.
pub(super) async fn a_killed_node_is_cleaned_up_within_its_lease(redis: &impl Backend) {
    let (a, b, _client) = cluster_with_member_on_b(redis).await;
    a.wait_until(|m| m.contains("signalr_cluster_nodes 2"))
        .await;
    let killed = Instant::now();
    b.kill().await;
    let lease = Duration::from_secs(LEASE_SECS);
    assert!(
        gone_from(&a, lease + Duration::from_secs(1)).await,
        "the killed node's user and group still exist after its lease"
    );
    assert!(killed.elapsed() <= lease + Duration::from_secs(1));
    a.wait_until(|m| m.contains("signalr_cluster_nodes 1"))
        .await;
}

#[tokio::test]
async fn a_node_stopped_gracefully_removes_its_entries_at_once() {
    let redis = Redis::start().await;
    let (a, b, _client) = cluster_with_member_on_b(&redis).await;
    let stopping = Instant::now();
    b.terminate().await;
    // Its client took the Close at once, so the cluster's own tasks did not hold it up.
    assert!(
        stopping.elapsed() < Duration::from_secs(3),
        "{:?}",
        stopping.elapsed()
    );
    assert!(
        gone_from(&a, Duration::from_millis(500)).await,
        "the stopped node's user and group still exist"
    );
}
