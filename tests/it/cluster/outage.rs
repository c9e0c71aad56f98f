//! Redis outage: local delivery keeps working, an operation that needs the cluster answers 503
//! naming Redis, and after Redis comes back (empty) the nodes reconnect and resynchronise.

use std::time::Duration;

use serde_json::{Value, json};

use super::sends::{invocation, only_message, until_visible};
use super::{Backend, Node, Redis, eventually, free_port};
use crate::common::client_token;

/// Broadcasts `target` on `node`, which answers 503 naming Redis.
async fn broadcast_refused(node: &Node, target: &str) {
    let body = json!({"target": target, "arguments": [1]});
    let response = node
        .server
        .rest("POST", "/api/hubs/chat/:send", Some(body))
        .await;
    assert_eq!(response.status(), 503);
    let detail: Value = response.json().await.unwrap();
    assert_eq!(detail["code"], "Error.Cluster.Unavailable", "{detail}");
    let message = detail["message"].as_str().unwrap_or_default();
    assert!(message.contains("Redis"), "{detail}");
}

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
    broadcast_refused(&a, "down").await;
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

#[tokio::test]
async fn a_node_starts_without_redis_and_joins_when_it_comes_up() {
    let port = free_port();
    let a = Node::launch(&["--redis".into(), Redis::url_on(port)], &[]).await;
    let health = a.server.rest("GET", "/api/health", None).await;
    assert_eq!(health.status(), 200);
    assert_eq!(health.headers()["x-signalr-cluster"], "redis-unavailable");
    // Negotiate is local; starting the connection needs its claim in Redis, refused at once.
    let (_, token) = a.server.negotiate("chat", Some("alice")).await;
    let path = format!("/client/?hub=chat&id={token}");
    let started = tokio::time::timeout(
        Duration::from_secs(5),
        a.server.rest_with_token(
            "GET",
            &path,
            None,
            Some(&client_token("chat", Some("alice"))),
        ),
    )
    .await
    .expect("refused without waiting for Redis");
    assert_eq!(started.status(), 503);
    broadcast_refused(&a, "alone").await;

    let redis = Redis::start_on(port).await;
    a.wait_healthy(true).await;
    let health = a.server.rest("GET", "/api/health", None).await;
    assert_eq!(health.headers()["x-signalr-cluster"], "healthy");
    let (mut on_a, id_a) = a.server.connect("chat", Some("alice")).await;
    let b = Node::start(&redis, &[]).await;
    until_visible(&b.server, &id_a).await;
    let body = json!({"target": "joined", "arguments": [2]});
    let response = b
        .server
        .rest("POST", "/api/hubs/chat/:send", Some(body))
        .await;
    assert_eq!(response.status(), 202);
    assert_eq!(
        only_message(&mut on_a).await,
        invocation("joined", json!([2]))
    );
}
