//! Hub-protocol framing over WebSockets: message boundaries come from 0x1E only, never from
//! WebSocket frames; handshake errors use ASP.NET Core's texts.

use std::time::Duration;

use serde_json::{Value, json};
use signalr_emulator::Config;

use crate::common::TestServer;

fn invoke(id: &str, target: &str) -> String {
    format!(
        "{{\"type\":1,\"invocationId\":\"{id}\",\"target\":\"{target}\",\"arguments\":[1]}}\x1e"
    )
}

fn assert_no_upstream_completion(message: &Value, id: &str, target: &str) {
    assert_eq!(message["type"], 3, "{message}");
    assert_eq!(message["invocationId"], id);
    let error = message["error"].as_str().unwrap();
    assert!(
        error.contains("No upstream") && error.contains(target),
        "{error}"
    );
}

#[tokio::test]
async fn two_messages_in_one_frame() {
    let server = TestServer::start().await;
    let (mut client, _) = server.connect("chat", None).await;
    client
        .send_text(&format!(
            "{}{}",
            invoke("1", "first"),
            invoke("2", "second")
        ))
        .await;
    assert_no_upstream_completion(&client.next_non_ping().await, "1", "first");
    assert_no_upstream_completion(&client.next_non_ping().await, "2", "second");
    server.stop().await;
}

#[tokio::test]
async fn one_message_across_two_frames() {
    let server = TestServer::start().await;
    let (mut client, _) = server.connect("chat", None).await;
    let message = invoke("9", "split");
    let (head, tail) = message.split_at(17);
    client.send_text(head).await;
    client.expect_silence(Duration::from_millis(200)).await;
    client.send_text(tail).await;
    assert_no_upstream_completion(&client.next_non_ping().await, "9", "split");
    server.stop().await;
}

#[tokio::test]
async fn message_in_the_same_frame_as_the_handshake() {
    let server = TestServer::start().await;
    let (_, token) = server.negotiate("chat", None).await;
    let mut client = server.open("chat", &token).await;
    client
        .send_text(&format!(
            "{{\"protocol\":\"json\",\"version\":1}}\x1e{}",
            invoke("7", "early")
        ))
        .await;
    assert_eq!(client.next_message().await, json!({}));
    assert_no_upstream_completion(&client.next_non_ping().await, "7", "early");
    server.stop().await;
}

#[tokio::test]
async fn handshake_split_across_frames_and_version_two() {
    let server = TestServer::start().await;
    let (_, token) = server.negotiate("chat", None).await;
    let mut client = server.open("chat", &token).await;
    client.send_text("{\"protocol\":\"js").await;
    client.send_text("on\",\"version\":2}\x1e").await;
    assert_eq!(client.next_message().await, json!({}));
    server.stop().await;
}

#[tokio::test]
async fn sends_without_invocation_id_are_dropped_silently() {
    let server = TestServer::start().await;
    let (mut client, _) = server.connect("chat", None).await;
    client
        .send_text("{\"type\":1,\"target\":\"fire\",\"arguments\":[]}\x1e{\"type\":6}\x1e")
        .await;
    client.expect_silence(Duration::from_millis(300)).await;
    server.stop().await;
}

#[tokio::test]
async fn handshake_errors_use_aspnet_texts_and_close() {
    let server = TestServer::start().await;
    for (request, error) in [
        (
            r#"{"protocol":"xml","version":1}"#,
            "The protocol 'xml' is not supported.",
        ),
        (
            r#"{"protocol":"json","version":3}"#,
            "The server does not support version 3 of the 'json' protocol.",
        ),
    ] {
        let (_, token) = server.negotiate("chat", None).await;
        let mut client = server.open("chat", &token).await;
        client.send_text(&format!("{request}\x1e")).await;
        assert_eq!(client.next_message().await, json!({ "error": error }));
        assert!(
            client.next_frame().await.is_none(),
            "the socket closes after a handshake error"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn handshake_times_out() {
    let server = TestServer::with_config(Config {
        handshake_timeout: Duration::from_millis(300),
        ..Config::default()
    })
    .await;
    let (_, token) = server.negotiate("chat", None).await;
    let mut client = server.open("chat", &token).await;
    assert_eq!(
        client.next_message().await,
        json!({"error": "Handshake was canceled."})
    );
    assert!(client.next_frame().await.is_none());
    server.stop().await;
}

#[tokio::test]
async fn malformed_messages_close_the_connection_with_a_reason() {
    let server = TestServer::start().await;
    let (mut client, _) = server.connect("chat", None).await;
    client.send_text("{\"type\":1,\"arguments\":[]}\x1e").await;
    let seen = client.until_closed().await;
    let close = seen
        .iter()
        .find(|m| m["type"] == 7)
        .expect("a Close message");
    assert!(
        close["error"].as_str().unwrap().contains("target"),
        "{close}"
    );
    server.stop().await;
}

/// A large message in many small WebSocket frames is put together and answered (each frame's
/// bytes are searched for the record separator once, not the whole buffer again).
#[tokio::test]
async fn a_large_message_in_many_small_frames() {
    let server = TestServer::start().await;
    let (mut client, _) = server.connect("chat", None).await;
    let message = format!(
        "{{\"type\":1,\"invocationId\":\"big\",\"target\":\"large\",\"arguments\":[\"{}\"]}}\x1e",
        "x".repeat(256 * 1024)
    );
    for chunk in message.as_bytes().chunks(32) {
        client.send_text(std::str::from_utf8(chunk).unwrap()).await;
    }
    assert_no_upstream_completion(&client.next_non_ping().await, "big", "large");
    server.stop().await;
}
