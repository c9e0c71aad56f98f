//! After Redis restarts empty, each node writes all of its state back: the claims of its
//! client connections (so SSE and long-polling requests on another node still reach the
//! holder) and its app-server announcements (so default-mode clients elsewhere find them).

use std::time::Duration;

use signalr_emulator::protocol::service::ServiceMessage;

use super::clients::{broadcast, invocations};
use super::{Backend, Node, Redis, eventually};
use crate::app_server::AppServer;
use crate::common::{HANDSHAKE, WaitUntil, connect_url, http, poll, post};

/// The value of the counter `name` on a metrics page.
fn counter(page: &str, name: &str) -> u64 {
    page.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|n| n.parse().ok())
        .unwrap_or_default()
}

/// The node's counters of state rewrites and lease renewals.
async fn counters(node: &Node) -> (u64, u64) {
    let page = node.metrics().await;
    (
        counter(&page, "signalr_cluster_resyncs_total"),
        counter(&page, "signalr_cluster_lease_renewals_total"),
    )
}

/// Restarts Redis empty on its port and waits until each of `nodes` is healthy again, has
/// rewritten its state and renewed its lease (which other nodes read to reach it).
pub(super) async fn restart<B: Backend>(mut redis: B, nodes: &[&Node]) -> B {
    let mut before = Vec::new();
    for node in nodes {
        before.push(counters(node).await);
    }
    redis.outage().await;
    redis.recover().await;
    for (node, (resyncs, renewals)) in nodes.iter().zip(before) {
        node.wait_healthy(true).await;
        let back = eventually(Duration::from_secs(10), || async {
            let (now_resyncs, now_renewals) = counters(node).await;
            now_resyncs > resyncs && now_renewals > renewals
        })
        .await;
        assert!(back, "the node rewrote its state and renewed its lease");
    }
    redis
}

#[tokio::test]
async fn a_node_is_healthy_again_only_once_it_rewrote_its_state_and_renewed_its_lease() {
    let mut redis = Redis::start().await;
    let node = Node::start(&redis, &[]).await;
    node.wait_healthy(true).await;
    let (resyncs, renewals) = counters(&node).await;
    redis.outage().await;
    node.wait_healthy(false).await;
    redis.recover().await;
    let wait = WaitUntil::new("the node is healthy again");
    loop {
        let health = node.server.rest("GET", "/api/health", None).await;
        if health.headers()["x-signalr-cluster"] == "healthy" {
            break;
        }
        wait.retry().await;
    }
    // Read after the healthy answer: what had happened by then.
    let (now_resyncs, now_renewals) = counters(&node).await;
    assert!(
        now_resyncs > resyncs,
        "healthy before its state was back in Redis"
    );
    assert!(
        now_renewals > renewals,
        "healthy before its lease was back in Redis"
    );
}

#[tokio::test]
async fn a_long_polling_connection_is_reached_through_the_other_node_after_a_restart() {
    let redis = Redis::start().await;
    let [a, b] = Node::pair(&redis).await;
    let (_, token) = a.server.negotiate("chat", None).await;
    // The first poll lands on B, which takes the connection.
    assert_eq!(poll(&b.server, &token).await.status(), 200);
    assert_eq!(post(&a.server, &token, HANDSHAKE).await.status(), 200);
    assert_eq!(
        poll(&a.server, &token).await.text().await.unwrap(),
        "{}\x1e"
    );

    let _redis = restart(redis, &[&a, &b]).await;
    broadcast(&b.server, 7).await;
    let response = poll(&a.server, &token).await;
    assert_eq!(response.status(), 200);
    let seen = invocations(&response.text().await.unwrap());
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["arguments"][0], 7);
}

#[tokio::test]
async fn a_client_finds_the_app_server_on_another_node_after_a_restart() {
    let redis = Redis::start().await;
    let [a, b] = Node::default_mode_pair(&redis).await;
    let mut app = AppServer::connect(&b.server, "chat", "server-on-b").await;
    let _redis = restart(redis, &[&a, &b]).await;

    let (id, token) = a.server.negotiate("chat", None).await;
    let mut client = a.server.open("chat", &token).await;
    client
        .send_text(std::str::from_utf8(super::app_servers_across::HANDSHAKE).unwrap())
        .await;
    match app.recv().await {
        ServiceMessage::OpenConnection(open) => assert_eq!(open.connection_id, id),
        other => panic!("expected OpenConnection, got {other:?}"),
    }
}

#[tokio::test]
async fn an_ended_connection_cannot_start_again_after_a_restart() {
    let redis = Redis::start().await;
    let [a, b] = Node::pair(&redis).await;
    let (_, token) = a.server.negotiate("chat", None).await;
    assert_eq!(poll(&b.server, &token).await.status(), 200);
    assert_eq!(post(&a.server, &token, HANDSHAKE).await.status(), 200);
    let url = connect_url(&a.server, &token);
    assert_eq!(http().delete(url).send().await.unwrap().status(), 202);
    for node in [&a, &b] {
        let wait = WaitUntil::new("the connection is forgotten");
        while post(&node.server, &token, "{\"type\":6}\x1e")
            .await
            .status()
            != 404
        {
            wait.retry().await;
        }
    }

    let _redis = restart(redis, &[&a, &b]).await;
    // Its token is still fresh enough to start a connection, but this one ended.
    for node in [&a, &b] {
        assert_eq!(poll(&node.server, &token).await.status(), 404);
    }
}
