//! `:execute` with an OData filter across nodes: every node applies the commands to its own
//! connections that the filter selects, and the 202 comes once every node did.

use std::time::Duration;

use serde_json::{Value, json};

use super::sends::{invocation, only_message, send, two_nodes, until_visible};
use crate::common::TestServer;
use crate::rest_execute::percent_encode;

async fn execute(server: &TestServer, filter: &str, commands: Value) -> u16 {
    let path = format!("/api/hubs/chat/:execute?filter={}", percent_encode(filter));
    let response = server.rest("POST", &path, Some(commands)).await;
    response.status().as_u16()
}

#[tokio::test]
async fn a_filter_selects_connections_on_every_node() {
    let (_redis, a, b) = two_nodes().await;
    let (mut alice_a, id_a) = a.server.connect("chat", Some("alice")).await;
    let (mut alice_b, id_b) = b.server.connect("chat", Some("alice")).await;
    let (mut bob_b, bob) = b.server.connect("chat", Some("bob")).await;
    until_visible(&a.server, &id_b).await;
    until_visible(&a.server, &bob).await;
    until_visible(&b.server, &id_a).await;

    let commands = json!([
        {"type": "SendMessage", "message": {"target": "hi", "arguments": [1]}},
        {"type": "JoinGroup", "group": "g"},
    ]);
    assert_eq!(execute(&a.server, "userId eq 'alice'", commands).await, 202);
    assert_eq!(
        only_message(&mut alice_a).await,
        invocation("hi", json!([1]))
    );
    assert_eq!(
        only_message(&mut alice_b).await,
        invocation("hi", json!([1]))
    );
    bob_b.expect_silence(Duration::from_millis(100)).await;

    // Both alices joined g on their own node before the 202: a group send made at once on
    // the other node reaches both, and bob is still left out.
    send(&b.server, "/api/hubs/chat/groups/g/:send", "g", json!([2])).await;
    assert_eq!(
        only_message(&mut alice_a).await,
        invocation("g", json!([2]))
    );
    assert_eq!(
        only_message(&mut alice_b).await,
        invocation("g", json!([2]))
    );
    bob_b.expect_silence(Duration::from_millis(100)).await;

    // The filter sees the groups each node holds: B's alice is selected from A by group.
    let commands = json!([{"type": "CloseConnection", "reason": "bye"}]);
    let filter = format!("'g' in groups and connectionId eq '{id_b}'");
    assert_eq!(execute(&a.server, &filter, commands).await, 202);
    let closed = alice_b.until_closed().await;
    assert_eq!(closed.last().unwrap()["error"], "bye", "{closed:?}");
    alice_a.expect_silence(Duration::from_millis(100)).await;
    bob_b.expect_silence(Duration::from_millis(100)).await;
}
