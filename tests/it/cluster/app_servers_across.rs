//! Default mode across nodes: a client that reaches a node with no app server for its hub is
//! relayed to a node that has one (its WebSocket relayed, its SSE/long-polling requests
//! forwarded), and the client and the app server talk as on one node.

use serde_json::json;
use signalr_emulator::protocol::service::ServiceMessage;

use super::{Node, Redis};
use crate::app_server::AppServer;

pub(super) const HANDSHAKE: &[u8] = b"{\"protocol\":\"json\",\"version\":1}\x1e";

#[tokio::test]
async fn a_client_on_a_node_without_an_app_server_talks_to_the_app_server_on_another() {
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
    app.send_to_client(
        &id,
        b"{\"type\":1,\"target\":\"hello\",\"arguments\":[\"from B\"]}\x1e",
    )
    .await;
    assert_eq!(client.next_non_ping().await["arguments"], json!(["from B"]));
    client
        .send_text("{\"type\":1,\"target\":\"echo\",\"arguments\":[\"from A\"]}\x1e")
        .await;
    let data = loop {
        match app.recv().await {
            ServiceMessage::ConnectionData(data) if data.connection_id == id => break data,
            _ => continue,
        }
    };
    assert!(
        String::from_utf8_lossy(&data.payload).contains("from A"),
        "the client's invocation reached the app server on B"
    );
}
