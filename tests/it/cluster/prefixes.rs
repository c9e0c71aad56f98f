//! Two services with different `--redis-prefix` on one Redis never see each other.

use std::time::Duration;

use serde_json::json;

use super::sends::until_visible;
use super::{Node, Redis};

#[tokio::test]
async fn two_prefixes_on_one_redis_never_meet() {
    let redis = Redis::start().await;
    let a = Node::start(&redis, &["--redis-prefix", "service-one"]).await;
    let a2 = Node::start(&redis, &["--redis-prefix", "service-one"]).await;
    let b = Node::start(&redis, &["--redis-prefix", "service-two"]).await;
    let (mut on_a2, _) = a2.server.connect("chat", Some("bob")).await;
    let (mut on_b, id_b) = b.server.connect("chat", Some("bob")).await;
    // Another node of service two sees b's connection once b wrote it to Redis: from then on,
    // service one not seeing it is the prefixes' doing.
    let b2 = Node::start(&redis, &["--redis-prefix", "service-two"]).await;
    until_visible(&b2.server, &id_b).await;
    b2.terminate().await;

    let path = format!("/api/hubs/chat/connections/{id_b}");
    assert_eq!(a.server.rest("HEAD", &path, None).await.status(), 404);
    let body = json!({"target": "hello", "arguments": []});
    let response = a
        .server
        .rest("POST", "/api/hubs/chat/users/bob/:send", Some(body))
        .await;
    assert_eq!(response.status(), 202);
    // The same service's other node gets it; the other service's node does not.
    assert_eq!(on_a2.next_non_ping().await["target"], "hello");
    on_b.expect_silence(Duration::from_millis(500)).await;
    a.wait_until(|m| m.contains("signalr_cluster_nodes 2"))
        .await;
    b.wait_until(|m| m.contains("signalr_cluster_nodes 1"))
        .await;
}
