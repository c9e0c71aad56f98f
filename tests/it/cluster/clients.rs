//! Clients across cluster nodes, no sticky sessions: negotiate on node A, then a WebSocket, an
//! SSE stream or long polling on node B; the SSE/long-polling requests that land on the node
//! which does not hold the connection are forwarded to the one that does, a WebSocket that does
//! is relayed, and every message reaches its client exactly once. Real processes of the binary
//! sharing a real redis-server.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::{Backend, Node, Redis};
use crate::common::{
    CHAT_AWAITS_RECONNECT, HANDSHAKE, TestServer, WAIT, WaitUntil, client_token, connect_url, http,
    next_chunk, poll, post,
};

const BROADCASTS: usize = 30;

/// The invocations in a run of records, without pings.
pub(super) fn invocations(text: &str) -> Vec<Value> {
    text.split('\x1e')
        .filter(|m| !m.is_empty())
        .map(|m| serde_json::from_str::<Value>(m).unwrap())
        .filter(|m| m["type"] == 1)
        .collect()
}

pub(super) async fn broadcast(node: &TestServer, n: usize) {
    let response = node
        .rest(
            "POST",
            "/api/v1/hubs/chat",
            Some(json!({"target": "seq", "arguments": [n]})),
        )
        .await;
    assert_eq!(response.status(), 202);
}

/// Fails unless `seen` holds 0..BROADCASTS each once, and the broadcasts sent through one node
/// (even numbers through A, odd through B) in the order they were sent. Two nodes' sends are
/// not ordered with each other: each is delivered locally at once and published to the other.
fn assert_exactly_once(seen: &[Value], who: &str) {
    let numbers: Vec<u64> = seen
        .iter()
        .map(|m| m["arguments"][0].as_u64().unwrap())
        .collect();
    let mut sorted = numbers.clone();
    sorted.sort_unstable();
    let expected: Vec<u64> = (0..BROADCASTS as u64).collect();
    assert_eq!(
        sorted, expected,
        "{who}: no duplicate, no gap in {numbers:?}"
    );
    for parity in [0, 1] {
        let through_one: Vec<u64> = numbers
            .iter()
            .copied()
            .filter(|n| n % 2 == parity)
            .collect();
        assert!(
            through_one.windows(2).all(|w| w[0] < w[1]),
            "{who}: one node's broadcasts in order: {numbers:?}"
        );
    }
}

#[tokio::test]
async fn a_websocket_negotiated_on_one_node_connects_on_the_other() {
    let redis = Redis::start().await;
    websocket_negotiated_on_one_node_connects_on_the_other(&redis).await;
}

/// Two nodes on `redis`: WebSockets negotiated on one node connect on the other, both ways,
/// and take a send by id and sequence-numbered broadcasts from both nodes exactly once.
pub(super) async fn websocket_negotiated_on_one_node_connects_on_the_other(redis: &impl Backend) {
    let nodes = Node::pair(redis).await;
    let (a, b) = (&nodes[0].server, &nodes[1].server);
    // One client each way: negotiated on A and connected on B, and the reverse.
    let (id_ab, token_ab) = a.negotiate("chat", None).await;
    let mut on_b = b.open("chat", &token_ab).await;
    on_b.send_text(HANDSHAKE).await;
    assert_eq!(on_b.next_message().await, json!({}));
    let (_, token_ba) = b.negotiate("chat", None).await;
    let mut on_a = a.open("chat", &token_ba).await;
    on_a.send_text(HANDSHAKE).await;
    assert_eq!(on_a.next_message().await, json!({}));

    // The connection lives on B: a send to it by id from A reaches it.
    let response = a
        .rest(
            "POST",
            &format!("/api/v1/hubs/chat/connections/{id_ab}"),
            Some(json!({"target": "direct", "arguments": ["from A"]})),
        )
        .await;
    assert_eq!(response.status(), 202);
    let direct = on_b.next_non_ping().await;
    assert_eq!(direct["arguments"], json!(["from A"]));

    for n in 0..BROADCASTS {
        broadcast(&nodes[n % 2].server, n).await;
    }
    for (client, who) in [(&mut on_b, "client on B"), (&mut on_a, "client on A")] {
        let mut seen = Vec::new();
        while seen.len() < BROADCASTS {
            seen.push(client.next_non_ping().await);
        }
        assert_exactly_once(&seen, who);
        client.expect_silence(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn server_sent_events_on_one_node_take_posts_sent_to_the_other() {
    let redis = Redis::start().await;
    server_sent_events_take_posts_sent_to_the_other_node(&redis).await;
}

/// Two nodes on `redis`: an event stream on B, negotiated on A, takes the posts and REST
/// sends made on A, and a second stream through A is refused by the holder.
pub(super) async fn server_sent_events_take_posts_sent_to_the_other_node(redis: &impl Backend) {
    let nodes = Node::pair(redis).await;
    let (a, b) = (&nodes[0].server, &nodes[1].server);
    let (id, token) = a.negotiate("chat", None).await;
    let mut events = http()
        .get(connect_url(b, &token))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    assert_eq!(next_chunk(&mut events).await, ":\r\n");
    // The handshake goes to A, which forwards it to B.
    assert_eq!(post(a, &token, HANDSHAKE).await.status(), 200);
    assert_eq!(next_chunk(&mut events).await, "data: {}\x1e\r\n\r\n");

    // A second event stream through A reaches the holder, which refuses it.
    let again = http()
        .get(connect_url(a, &token))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);

    let response = a
        .rest(
            "POST",
            &format!("/api/v1/hubs/chat/connections/{id}"),
            Some(json!({"target": "m", "arguments": ["sse"]})),
        )
        .await;
    assert_eq!(response.status(), 202);
    assert_eq!(
        next_chunk(&mut events).await,
        "data: {\"type\":1,\"target\":\"m\",\"arguments\":[\"sse\"]}\x1e\r\n\r\n"
    );
}

#[tokio::test]
async fn long_polls_sends_and_delete_on_either_node_reach_the_holder_once() {
    let redis = Redis::start().await;
    let nodes = Node::pair(&redis).await;
    let (a, b) = (&nodes[0].server, &nodes[1].server);
    let (_, token) = a.negotiate("chat", None).await;
    // The first poll lands on B, which takes the connection.
    let first = poll(b, &token).await;
    assert_eq!(first.status(), 200);
    assert!(first.bytes().await.unwrap().is_empty());
    assert_eq!(post(a, &token, HANDSHAKE).await.status(), 200);
    assert_eq!(poll(a, &token).await.text().await.unwrap(), "{}\x1e");

    for n in 0..BROADCASTS {
        broadcast(&nodes[n % 2].server, n).await;
    }
    // Polls alternate between the nodes; together they carry each broadcast once.
    let mut seen = Vec::new();
    for round in 0..BROADCASTS * 2 {
        if seen.len() == BROADCASTS {
            break;
        }
        let response = poll(&nodes[round % 2].server, &token).await;
        assert_eq!(response.status(), 200);
        seen.extend(invocations(&response.text().await.unwrap()));
    }
    assert_exactly_once(&seen, "long-polling client");

    let delete = http().delete(connect_url(a, &token)).send().await.unwrap();
    assert_eq!(delete.status(), 202);
    // Then it is forgotten on both nodes, and its token cannot start it again.
    for node in [a, b] {
        let wait = WaitUntil::new("the connection is forgotten");
        while post(node, &token, "{\"type\":6}\x1e").await.status() != 404 {
            wait.retry().await;
        }
    }
    assert_eq!(poll(a, &token).await.status(), 404);
}

#[tokio::test]
async fn a_stateful_reconnect_on_the_other_node_is_relayed_to_the_holder() {
    let redis = Redis::start().await;
    let nodes = Node::pair(&redis).await;
    let (a, b) = (&nodes[0].server, &nodes[1].server);
    let (id, token) = a.negotiate_stateful("chat").await;
    let socket_to = |node: &TestServer| {
        format!(
            "ws://{}/client/?hub=chat&id={token}&access_token={}",
            node.addr,
            client_token("chat", None)
        )
    };
    let (mut ws, _) = tokio_tungstenite::connect_async(socket_to(b))
        .await
        .unwrap();
    ws.send(Message::text("{\"protocol\":\"json\",\"version\":2}\x1e"))
        .await
        .unwrap();
    let handshake = tokio::time::timeout(WAIT, ws.next()).await.unwrap();
    assert_eq!(handshake.unwrap().unwrap().into_text().unwrap(), "{}\x1e");
    drop(ws);
    b.wait_for_sample(CHAT_AWAITS_RECONNECT).await;
    let response = a
        .rest(
            "POST",
            &format!("/api/v1/hubs/chat/connections/{id}"),
            Some(json!({"target": "m", "arguments": ["missed"]})),
        )
        .await;
    assert_eq!(response.status(), 202);

    // The client comes back on A; A relays the socket to B, which replays what it missed.
    let (mut ws, _) = tokio_tungstenite::connect_async(socket_to(a))
        .await
        .unwrap();
    let mut replayed = Vec::new();
    while !replayed.iter().any(|m: &Value| m["type"] == 1) {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("the replay arrives through the relay")
            .unwrap()
            .unwrap();
        replayed.extend(
            frame
                .into_text()
                .unwrap()
                .split('\x1e')
                .filter(|m| !m.is_empty())
                .map(|m| serde_json::from_str::<Value>(m).unwrap())
                .filter(|m| m["type"] != 6),
        );
    }
    assert_eq!(replayed[0]["type"], 9, "a Sequence message first");
    assert_eq!(replayed[1]["arguments"], json!(["missed"]));
}

#[tokio::test]
async fn a_request_for_a_connection_whose_node_is_gone_is_a_clear_error() {
    let redis = Redis::start().await;
    let a = Node::start(&redis, &[]).await;
    let b = Node::start(&redis, &[]).await;
    let (_, token) = a.server.negotiate("chat", None).await;
    assert_eq!(poll(&b.server, &token).await.status(), 200);
    b.kill().await;
    let response = poll(&a.server, &token).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(
        status == 503 || status == 404,
        "a gone holder is a 503 (or 404 once cleaned up), got {status}: {text}"
    );
    assert!(
        text.contains("negotiate again") || text.contains("No Connection"),
        "{text}"
    );
}

#[tokio::test]
async fn a_forged_or_foreign_token_reaches_no_connection() {
    let redis = Redis::start().await;
    let nodes = Node::pair(&redis).await;
    let (a, b) = (&nodes[0].server, &nodes[1].server);
    let (_, token) = a.negotiate("chat", None).await;
    let last = if token.ends_with('A') { "B" } else { "A" };
    let forged = format!("{}{last}", &token[..token.len() - 1]);
    assert_eq!(poll(b, &forged).await.status(), 404);
    // Another user's token cannot take the connection over, and is refused with the 403 the
    // negotiating node (like a single node) answers.
    for node in [a, b] {
        let response = http()
            .get(connect_url(node, &token))
            .bearer_auth(client_token("chat", Some("mallory")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
    }
    assert_eq!(
        poll(b, &token).await.status(),
        200,
        "it still starts for its user"
    );
}
