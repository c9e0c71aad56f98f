//! Sends across nodes: a REST call on node A reaches clients on node B (broadcast with
//! exclusions, user, connection, group), each message once; and membership changes made on A
//! for a connection held by B.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Node, Redis, eventually};
use crate::common::{TestServer, WsClient};

pub(super) fn invocation(target: &str, arguments: Value) -> Value {
    json!({"type": 1, "target": target, "arguments": arguments})
}

/// Waits until `server` sees connection `id` (which another node may hold).
pub(super) async fn until_visible(server: &TestServer, id: &str) {
    let path = format!("/api/hubs/chat/connections/{id}");
    let seen = eventually(Duration::from_secs(5), || async {
        server.rest("HEAD", &path, None).await.status() == 200
    })
    .await;
    assert!(seen, "connection {id} never became visible");
}

pub(super) async fn two_nodes() -> (Redis, Node, Node) {
    let redis = Redis::start().await;
    let a = Node::start(&redis, &[]).await;
    let b = Node::start(&redis, &[]).await;
    (redis, a, b)
}

pub(super) async fn send(server: &TestServer, path: &str, target: &str, arguments: Value) {
    let body = json!({"target": target, "arguments": arguments});
    let response = server.rest("POST", path, Some(body)).await;
    assert_eq!(response.status(), 202, "POST {path}");
}

/// The next message that is not a Ping, and then nothing else for a moment.
pub(super) async fn only_message(client: &mut WsClient) -> Value {
    let message = client.next_non_ping().await;
    client.expect_silence(Duration::from_millis(300)).await;
    message
}

#[tokio::test]
async fn rest_sends_on_one_node_reach_clients_on_the_other() {
    let (_redis, a, b) = two_nodes().await;
    rest_sends_reach_clients_on_the_other_node(&a, &b).await;
}

/// Broadcast (with exclusions), user, connection and multi-user sends of every generation,
/// made on either node, reach each client once.
pub(super) async fn rest_sends_reach_clients_on_the_other_node(a: &Node, b: &Node) {
    let (mut on_a, id_a) = a.server.connect("chat", Some("alice")).await;
    let (mut on_b, id_b) = b.server.connect("chat", Some("bob")).await;
    until_visible(&a.server, &id_b).await;
    until_visible(&b.server, &id_a).await;

    send(&a.server, "/api/hubs/chat/:send", "all", json!([1])).await;
    assert_eq!(only_message(&mut on_a).await, invocation("all", json!([1])));
    assert_eq!(only_message(&mut on_b).await, invocation("all", json!([1])));

    let path = format!("/api/hubs/chat/:send?excluded={id_a}");
    send(&b.server, &path, "some", json!([2])).await;
    assert_eq!(
        only_message(&mut on_b).await,
        invocation("some", json!([2]))
    );
    on_a.expect_silence(Duration::from_millis(300)).await;

    send(
        &a.server,
        "/api/hubs/chat/users/bob/:send",
        "user",
        json!([3]),
    )
    .await;
    assert_eq!(
        only_message(&mut on_b).await,
        invocation("user", json!([3]))
    );
    on_a.expect_silence(Duration::from_millis(100)).await;

    let path = format!("/api/hubs/chat/connections/{id_b}/:send");
    send(&a.server, &path, "one", json!([4])).await;
    assert_eq!(only_message(&mut on_b).await, invocation("one", json!([4])));

    // v1 and v1-preview generations take the same cluster path.
    send(&b.server, "/api/v1/hubs/chat/users/alice", "v1", json!([5])).await;
    assert_eq!(only_message(&mut on_a).await, invocation("v1", json!([5])));
    send(
        &b.server,
        "/api/v1-preview/hub/chat/users/alice,bob",
        "many",
        json!([6]),
    )
    .await;
    assert_eq!(
        only_message(&mut on_a).await,
        invocation("many", json!([6]))
    );
    assert_eq!(
        only_message(&mut on_b).await,
        invocation("many", json!([6]))
    );
}

#[tokio::test]
async fn group_changes_on_one_node_apply_to_connections_on_the_other() {
    let (_redis, a, b) = two_nodes().await;
    group_changes_apply_to_connections_on_the_other_node(&a, &b).await;
}

/// A connection held by B joins and leaves a group through A; group sends on A follow.
pub(super) async fn group_changes_apply_to_connections_on_the_other_node(a: &Node, b: &Node) {
    let (mut on_a, id_a) = a.server.connect("chat", Some("alice")).await;
    let (mut on_b, id_b) = b.server.connect("chat", Some("bob")).await;
    until_visible(&a.server, &id_b).await;

    assert_eq!(
        a.server
            .rest("HEAD", "/api/hubs/chat/groups/g", None)
            .await
            .status(),
        404
    );
    let path = format!("/api/hubs/chat/groups/g/connections/{id_b}");
    assert_eq!(a.server.rest("PUT", &path, None).await.status(), 200);
    let exists = eventually(Duration::from_secs(5), || async {
        a.server
            .rest("HEAD", "/api/hubs/chat/groups/g", None)
            .await
            .status()
            == 200
    })
    .await;
    assert!(exists, "the group of a connection on B exists on A");

    send(
        &a.server,
        "/api/hubs/chat/groups/g/:send",
        "group",
        json!([1]),
    )
    .await;
    assert_eq!(
        only_message(&mut on_b).await,
        invocation("group", json!([1]))
    );
    on_a.expect_silence(Duration::from_millis(100)).await;

    assert_eq!(a.server.rest("DELETE", &path, None).await.status(), 200);
    send(
        &a.server,
        "/api/hubs/chat/groups/g/:send",
        "gone",
        json!([2]),
    )
    .await;
    on_b.expect_silence(Duration::from_millis(300)).await;

    let missing = "/api/hubs/chat/groups/g/connections/nobody";
    assert_eq!(a.server.rest("PUT", missing, None).await.status(), 404);
    drop(id_a);
}
