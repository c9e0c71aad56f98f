//! Connection lifecycle: keep-alive pings, the client timeout, REST close, connecting without a
//! negotiated id, and graceful shutdown.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use signalr_emulator::Config;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::{TestServer, WAIT, client_token};

#[tokio::test]
async fn idle_connections_get_pings() {
    let server = TestServer::with_config(Config {
        keep_alive_interval: Duration::from_millis(200),
        ..Config::default()
    })
    .await;
    let (mut client, _) = server.connect("chat", None).await;
    assert_eq!(client.next_message().await, json!({"type": 6}));
    assert_eq!(client.next_message().await, json!({"type": 6}));
    server.stop().await;
}

#[tokio::test]
async fn client_timeout_starts_with_the_first_ping() {
    let server = TestServer::with_config(Config {
        client_timeout: Duration::from_millis(300),
        ..Config::default()
    })
    .await;
    let (mut client, _) = server.connect("chat", None).await;
    // Before any client Ping there is no timeout.
    client.expect_silence(Duration::from_millis(700)).await;
    client.send_text("{\"type\":6}\x1e").await;
    let seen = client.until_closed().await;
    let close = seen
        .iter()
        .find(|m| m["type"] == 7)
        .expect("a Close message");
    assert_eq!(close["allowReconnect"], true);
    assert!(
        close["error"].as_str().unwrap().contains("timeout"),
        "{close}"
    );
    server.stop().await;
}

#[tokio::test]
async fn rest_close_sends_the_reason() {
    let server = TestServer::start().await;
    let (mut client, id) = server.connect("chat", None).await;
    let response = server
        .rest(
            "DELETE",
            &format!("/api/v1/hubs/chat/connections/{id}?reason=bye%20now"),
            None,
        )
        .await;
    assert_eq!(response.status(), 202);
    let seen = client.until_closed().await;
    assert_eq!(
        seen.iter().filter(|m| m["type"] != 6).collect::<Vec<_>>(),
        vec![&json!({"type": 7, "error": "bye now", "allowReconnect": true})]
    );
    let response = server
        .rest("GET", &format!("/api/v1/hubs/chat/connections/{id}"), None)
        .await;
    assert_eq!(response.status(), 404);
    server.stop().await;
}

#[tokio::test]
async fn websocket_without_id_creates_a_connection() {
    let server = TestServer::start().await;
    let url = format!("ws://{}/client/?hub=chat", server.addr);
    let mut request = url.as_str().into_client_request().unwrap();
    request.headers_mut().insert(
        "Authorization",
        format!("Bearer {}", client_token("chat", Some("py")))
            .parse()
            .unwrap(),
    );
    let (mut ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
        .await
        .unwrap()
        .unwrap();
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        "{\"protocol\":\"json\",\"version\":1}\x1e",
    ))
    .await
    .unwrap();
    let reply = tokio::time::timeout(WAIT, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(reply.into_text().unwrap().as_str(), "{}\x1e");
    let response = server.rest("GET", "/api/v1/hubs/chat/users/py", None).await;
    assert_eq!(response.status(), 200, "the user id came from the token");

    // Without a token there is nothing to trust.
    let err = tokio_tungstenite::connect_async(url).await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    server.stop().await;
}

#[tokio::test]
async fn shutdown_tells_every_client_it_may_reconnect() {
    let server = TestServer::start().await;
    let (mut first, _) = server.connect("chat", None).await;
    let (mut second, _) = server.connect("other", None).await;
    let stopping = tokio::spawn(server.stop());
    for client in [&mut first, &mut second] {
        let seen = client.until_closed().await;
        let close = seen
            .iter()
            .find(|m| m["type"] == 7)
            .expect("a Close message");
        assert_eq!(close["allowReconnect"], true);
    }
    stopping.await.unwrap();
}
