//! The REST stream routes: a client's StreamInvocation goes to the upstream, and the app's
//! `:send`/`:complete` calls reach the client as StreamItem and Completion messages.

use serde_json::{Value, json};
use signalr_emulator::Config;

use crate::common::{MockUpstream, TestServer, WaitUntil, WsClient};

/// An upstream that accepts every event with 204: items come later through REST.
pub(crate) async fn accepting_upstream() -> String {
    MockUpstream::accepting()
        .await
        .url("/{hub}/{category}/{event}")
}

pub(crate) async fn streaming_client(server: &TestServer, stream_id: &str) -> (WsClient, String) {
    let (mut client, id) = server.connect("chat", None).await;
    client
        .send_text(&format!(
            "{{\"type\":4,\"invocationId\":\"{stream_id}\",\"target\":\"counter\",\"arguments\":[3]}}\x1e"
        ))
        .await;
    (client, id)
}

/// Sends `item` to the stream at `base` as soon as it is open: the server registers it once it
/// read the StreamInvocation.
pub(crate) async fn send_once_open(server: &TestServer, base: &str, item: Value) {
    let wait = WaitUntil::new("the stream opens");
    while post(server, &format!("{base}/:send"), Some(item.clone()))
        .await
        .0
        != 202
    {
        wait.retry().await;
    }
}

pub(crate) async fn post(server: &TestServer, path: &str, body: Option<Value>) -> (u16, Value) {
    let response = server.rest("POST", path, body).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn items_then_completion_reach_the_client() {
    let server = TestServer::with_config(Config {
        upstream_urls: vec![accepting_upstream().await],
        ..Config::default()
    })
    .await;
    let (mut client, id) = streaming_client(&server, "7").await;
    let base = format!("/api/hubs/chat/connections/{id}/streams/7");
    send_once_open(&server, &base, json!({"n": 1})).await;
    assert_eq!(
        client.next_non_ping().await,
        json!({"type": 2, "invocationId": "7", "item": {"n": 1}})
    );
    assert_eq!(
        post(&server, &format!("{base}/:send?completed=true"), None)
            .await
            .0,
        202
    );
    assert_eq!(
        client.next_non_ping().await,
        json!({"type": 2, "invocationId": "7", "item": null})
    );
    assert_eq!(
        client.next_non_ping().await,
        json!({"type": 3, "invocationId": "7"})
    );
    let (status, body) = post(&server, &format!("{base}/:send"), Some(json!(1))).await;
    assert_eq!(status, 404, "a completed stream takes no more items");
    assert_eq!(body["code"], "Error.Stream.NotExisted");
    server.stop().await;
}

#[tokio::test]
async fn complete_with_a_reason_is_an_error_completion() {
    let server = TestServer::with_config(Config {
        upstream_urls: vec![accepting_upstream().await],
        ..Config::default()
    })
    .await;
    let (mut client, id) = streaming_client(&server, "s").await;
    let base = format!("/api/hubs/chat/connections/{id}/streams/s");
    let wait = WaitUntil::new("the stream opens");
    while post(&server, &format!("{base}/:complete?reason=no%20more"), None)
        .await
        .0
        != 202
    {
        wait.retry().await;
    }
    assert_eq!(
        client.next_non_ping().await,
        json!({"type": 3, "invocationId": "s", "error": "no more"})
    );
    server.stop().await;
}

#[tokio::test]
async fn bad_stream_requests_are_explained() {
    let server = TestServer::start().await;
    let (_client, id) = server.connect("chat", None).await;
    for (path, body, status, code_or_target) in [
        (
            format!("/api/hubs/chat/connections/{id}/streams/9/:send"),
            Some(json!(1)),
            404,
            "Error.Stream.NotExisted",
        ),
        (
            "/api/hubs/chat/connections/ghost/streams/9/:complete".to_owned(),
            None,
            404,
            "Error.Connection.NotExisted",
        ),
        (
            format!("/api/hubs/chat/connections/{id}/streams/9/:send?completed=maybe"),
            Some(json!(1)),
            400,
            "completed",
        ),
        (
            format!("/api/hubs/chat/connections/{id}/streams/%20/:send"),
            Some(json!(1)),
            400,
            "streamId",
        ),
    ] {
        let (got, detail) = post(&server, &path, body).await;
        assert_eq!(got, status, "{path}: {detail}");
        assert!(
            detail["code"] == code_or_target || detail["target"] == code_or_target,
            "{path}: {detail}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn without_an_upstream_a_stream_invocation_fails_at_once() {
    let server = TestServer::start().await;
    let (mut client, _) = streaming_client(&server, "1").await;
    let completion = client.next_non_ping().await;
    assert_eq!(completion["invocationId"], "1");
    assert!(
        completion["error"]
            .as_str()
            .unwrap()
            .contains("No upstream is configured")
    );
    server.stop().await;
}
