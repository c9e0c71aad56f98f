//! Redis outage: local delivery keeps working, an operation that needs the cluster answers 503
//! naming Redis, and after Redis comes back (empty) the nodes reconnect and resynchronise.

use std::time::Duration;

use serde_json::{Value, json};

use super::sends::{invocation, only_message, until_visible};
use super::{Backend, Node, Redis, eventually};

#[tokio::test]
async fn local_delivery_survives_an_outage_and_the_cluster_recovers() {
    let mut redis = Redis::start().await;
    local_delivery_survives_an_outage_and_recovers_on(&mut redis).await;
}

/// Two nodes on `redis`, which goes away: a node's local delivery goes on, a broadcast is a
/// 503 naming Redis; once `redis` is back empty, both nodes are healthy again, have written
/// their state back, and cross-node delivery works.
pub(super) async fn local_delivery_survives_an_outage_and_recovers_on(redis: &mut impl Backend) {
    let a = Node::start(redis, &[]).await;
    let b = Node::start(redis, &[]).await;
    let (mut on_a, id_a) = a.server.connect("chat", Some("alice")).await;
    until_visible(&b.server, &id_a).await;

    redis.outage().await;
    let body = json!({"target": "down", "arguments": [1]});
    let response = a
        .server
        .rest("POST", "/api/hubs/chat/:send", Some(body))
        .await;
    assert_eq!(response.status(), 503);
    let detail: Value = response.json().await.unwrap();
    let message = detail["message"].as_str().unwrap_or_default();
    assert!(message.contains("Redis"), "{detail}");
    // The local client got it all the same; only the other nodes could not be told.
    assert_eq!(
        only_message(&mut on_a).await,
        invocation("down", json!([1]))
    );
    a.wait_healthy(false).await;

    redis.recover().await;
    a.wait_healthy(true).await;
    b.wait_healthy(true).await;
    // A's connection was written back into the empty Redis: B sees it again.
    let path = format!("/api/hubs/chat/connections/{id_a}");
    let back = eventually(Duration::from_secs(10), || async {
        b.server.rest("HEAD", &path, None).await.status() == 200
    })
    .await;
    assert!(back, "A's connection is visible from B after the resync");
    let body = json!({"target": "up", "arguments": [2]});
    let response = b
        .server
        .rest("POST", "/api/hubs/chat/:send", Some(body))
        .await;
    assert_eq!(response.status(), 202);
    assert_eq!(only_message(&mut on_a).await, invocation("up", json!([2])));
}
