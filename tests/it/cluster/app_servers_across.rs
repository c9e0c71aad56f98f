//! Default mode across nodes: a client that reaches a node with no app server for its hub is
//! relayed to a node that has one (its WebSocket relayed, its SSE/long-polling requests
//! forwarded), and the client and the app server talk as on one node.

use bytes::Bytes;
use serde_json::json;
use signalr_emulator::protocol::service::ServiceMessage;

use super::{Node, Redis};
use crate::app_server::AppServer;
use crate::common::WsClient;

pub(super) const HANDSHAKE: &[u8] = b"{\"protocol\":\"json\",\"version\":1}\x1e";

/// A client on A relayed to the app server on B, with its handshake answered: the Redis and
/// the nodes to keep, the app server, the client and its connection id.
async fn relayed_client() -> (Redis, [Node; 2], AppServer, WsClient, String) {
    let redis = Redis::start().await;
    let [a, b] = Node::default_mode_pair(&redis).await;
    let mut app = AppServer::connect(&b.server, "chat", "server-on-b").await;
    // B announces its app server to Redis right after the handshake; give it a moment. No
    // node shows another's announcement short of a client placed by it, and a probe client
    // would reach this app server and disturb the messages the test reads.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (id, token) = a.server.negotiate("chat", None).await;
    let mut client = a.server.open("chat", &token).await;
    client
        .send_text(std::str::from_utf8(HANDSHAKE).unwrap())
        .await;
    match app.recv().await {
        ServiceMessage::OpenConnection(open) => {
            assert_eq!(
                open.connection_id, id,
                "the client on A was opened on B's app server"
            );
        }
        other => panic!("expected OpenConnection, got {other:?}"),
    }
    match app.recv().await {
        ServiceMessage::ConnectionData(data) => assert_eq!(&data.payload[..], HANDSHAKE),
        other => panic!("expected the handshake, got {other:?}"),
    }
    app.send_to_client(&id, b"{}\x1e").await;
    assert_eq!(client.next_message().await, json!({}));
    (redis, [a, b], app, client, id)
}

/// What the app server receives next from connection `id`.
async fn next_data_of(app: &mut AppServer, id: &str) -> Bytes {
    loop {
        match app.recv().await {
            ServiceMessage::ConnectionData(data) if data.connection_id == id => {
                break data.payload;
            }
            _ => continue,
        }
    }
}

#[tokio::test]
async fn a_client_on_a_node_without_an_app_server_talks_to_the_app_server_on_another() {
    let (_redis, _nodes, mut app, mut client, id) = relayed_client().await;
    app.send_to_client(
        &id,
        b"{\"type\":1,\"target\":\"hello\",\"arguments\":[\"from B\"]}\x1e",
    )
    .await;
    assert_eq!(client.next_non_ping().await["arguments"], json!(["from B"]));
    client
        .send_text("{\"type\":1,\"target\":\"echo\",\"arguments\":[\"from A\"]}\x1e")
        .await;
    let data = next_data_of(&mut app, &id).await;
    assert!(
        String::from_utf8_lossy(&data).contains("from A"),
        "the client's invocation reached the app server on B"
    );
}

#[tokio::test]
async fn a_relayed_client_gets_a_burst_in_order_and_large_messages_both_ways() {
    let (_redis, _nodes, mut app, mut client, id) = relayed_client().await;
    // Far larger than a relayed socket's read and write buffers (1 and 8 KiB), within the
    // 1 MB a client message may have.
    let large = "x".repeat(300 * 1024);
    let invocation = |n: usize, text: &str| {
        Bytes::from(format!(
            "{{\"type\":1,\"target\":\"m\",\"arguments\":[{n},\"{text}\"]}}\x1e"
        ))
    };
    for n in 0..200 {
        let text = if n == 100 { large.as_str() } else { "small" };
        app.send_bytes_to_client(&id, invocation(n, text)).await;
    }
    for n in 0..200 {
        let message = client.next_non_ping().await;
        assert_eq!(
            message["arguments"][0], n,
            "in the order the app server sent them"
        );
        let expected = if n == 100 { large.len() } else { "small".len() };
        assert_eq!(
            message["arguments"][1].as_str().map(str::len),
            Some(expected)
        );
    }
    let sent = invocation(7, &large);
    client.send_text(std::str::from_utf8(&sent).unwrap()).await;
    assert_eq!(next_data_of(&mut app, &id).await, sent);
}
