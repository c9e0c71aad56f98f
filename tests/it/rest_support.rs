//! Helpers shared by the REST test modules: payloads, status and error-code probes, and
//! assertions on what raw WebSocket clients receive.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{TestServer, WsClient};

/// How long a client must stay quiet to count as having received nothing.
pub(crate) const SILENCE: Duration = Duration::from_millis(200);

/// A `{"target": "m", "arguments": args}` body.
pub(crate) fn message(args: Value) -> Option<Value> {
    Some(json!({"target": "m", "arguments": args}))
}

/// Asserts the client's next non-ping message is an invocation of `m` with `args`.
pub(crate) async fn expect_message(client: &mut WsClient, args: Value) {
    assert_eq!(
        client.next_non_ping().await,
        json!({"type": 1, "target": "m", "arguments": args})
    );
}

/// The status of a body-less call.
pub(crate) async fn status(server: &TestServer, method: &str, path: &str) -> u16 {
    server.rest(method, path, None).await.status().as_u16()
}

/// The status of a send of `m(args)`.
pub(crate) async fn send(server: &TestServer, path: &str, args: Value) -> u16 {
    server
        .rest("POST", path, message(args))
        .await
        .status()
        .as_u16()
}

/// Status, `x-ms-error-code` header (empty if absent) and JSON body (null if none).
pub(crate) async fn error_code(
    server: &TestServer,
    method: &str,
    path: &str,
) -> (u16, String, Value) {
    let response = server.rest(method, path, None).await;
    let status = response.status().as_u16();
    let header = response
        .headers()
        .get("x-ms-error-code")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, header, response.json().await.unwrap_or(Value::Null))
}

/// Asserts the call fails with `status` and `x-ms-error-code: code` (also the body's code).
pub(crate) async fn expect_error(
    server: &TestServer,
    method: &str,
    path: &str,
    status: u16,
    code: &str,
) {
    let (got, header, body) = error_code(server, method, path).await;
    assert_eq!(got, status, "{method} {path}: {body}");
    if method != "HEAD" {
        assert_eq!(body["code"], code, "{method} {path}: {body}");
    }
    assert_eq!(header, code, "{method} {path}");
}

/// Asserts the call is a 400 naming `target` with `needle` in its message.
pub(crate) async fn expect_bad_request(
    server: &TestServer,
    method: &str,
    path: &str,
    body: Option<Value>,
    target: &str,
    needle: &str,
) {
    let response = server.rest(method, path, body).await;
    assert_eq!(response.status(), 400, "{method} {path}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "Error.Request.Invalid", "{body}");
    assert_eq!(body["target"], target, "{method} {path}: {body}");
    assert!(
        body["message"].as_str().unwrap().contains(needle),
        "{method} {path}: {body}"
    );
}

/// Waits for the server to close the client and returns the Close message it sent.
pub(crate) async fn expect_closed(client: &mut WsClient) -> Value {
    let seen = client.until_closed().await;
    seen.into_iter()
        .find(|m| m["type"] == 7)
        .expect("a Close message before the socket closed")
}
