//! Negotiate: versions 0 and 1, version errors, methods, CORS and the hub parameter.

use serde_json::{Value, json};

use crate::common::{TestServer, client_token};

async fn negotiate(server: &TestServer, query: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url(&format!("/client/negotiate?{query}")))
        .bearer_auth(client_token("chat", Some("u1")))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn version_one_has_a_separate_token_and_every_transport() {
    let server = TestServer::start().await;
    let response = negotiate(&server, "hub=chat&negotiateVersion=1").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(
        text.starts_with("{\"negotiateVersion\":1,\"connectionId\":"),
        "{text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    let id = body["connectionId"].as_str().unwrap();
    let token = body["connectionToken"].as_str().unwrap();
    assert_eq!(id.len(), 22);
    assert_eq!(token.len(), 22);
    assert_ne!(id, token);
    assert!(
        token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    );
    assert_eq!(
        body["availableTransports"],
        json!([
            {"transport":"WebSockets","transferFormats":["Text","Binary"]},
            {"transport":"ServerSentEvents","transferFormats":["Text"]},
            {"transport":"LongPolling","transferFormats":["Text","Binary"]}
        ])
    );
    assert!(body.get("useStatefulReconnect").is_none());
    server.stop().await;
}

#[tokio::test]
async fn no_version_means_version_zero_without_token() {
    let server = TestServer::start().await;
    let body: Value = negotiate(&server, "hub=chat").await.json().await.unwrap();
    assert_eq!(body["negotiateVersion"], 0);
    assert!(body.get("connectionToken").is_none());
    assert_eq!(body["connectionId"].as_str().unwrap().len(), 22);
    let body: Value = negotiate(&server, "hub=chat&negotiateVersion=7&negotiateVersion=x")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["negotiateVersion"], 1,
        "versions above 1 are clamped, the first value wins"
    );
    server.stop().await;
}

#[tokio::test]
async fn bad_versions_are_200_with_an_error() {
    let server = TestServer::start().await;
    let response = negotiate(&server, "hub=chat&negotiateVersion=abc").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"error": "The client requested a non-integer protocol version."})
    );
    let body: Value = negotiate(&server, "hub=chat&negotiateVersion=-1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["error"],
        "The client requested version '-1', but the server does not support this version."
    );
    server.stop().await;
}

#[tokio::test]
async fn hub_parameter_is_required_once_and_valid() {
    let server = TestServer::start().await;
    for (query, needle) in [
        ("negotiateVersion=1", "required"),
        ("hub=chat&hub=other", "appears 2 times"),
        ("hub=1bad", "start with a letter"),
    ] {
        let response = negotiate(&server, query).await;
        assert_eq!(response.status(), 400, "{query}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["message"].as_str().unwrap().contains(needle),
            "{query}: {body}"
        );
        assert_eq!(body["target"], "hub");
    }
    server.stop().await;
}

#[tokio::test]
async fn other_methods_get_405() {
    let server = TestServer::start().await;
    let response = reqwest::Client::new()
        .get(server.url("/client/negotiate?hub=chat"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    server.stop().await;
}

#[tokio::test]
async fn cors_preflight_echoes_the_origin_with_credentials() {
    let server = TestServer::start().await;
    let response = reqwest::Client::new()
        .request(
            reqwest::Method::OPTIONS,
            server.url("/client/negotiate?hub=chat"),
        )
        .header("Origin", "http://app.example:3000")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization,x-signalr-user-agent",
        )
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let headers = response.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "http://app.example:3000"
    );
    assert_eq!(headers["access-control-allow-credentials"], "true");
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("authorization") && allowed.contains("x-signalr-user-agent"));
    assert!(
        headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    server.stop().await;
}

#[tokio::test]
async fn unknown_connection_id_is_404_and_a_token_opens_one_socket() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    let response = http
        .get(server.url("/client/?hub=chat&id=nope"))
        .bearer_auth(client_token("chat", None))
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.text().await.unwrap(), "No Connection with that ID");
    let response = http
        .get(server.url("/client/?hub=chat"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.text().await.unwrap(), "Connection ID required");
    server.stop().await;
}

#[tokio::test]
async fn stateful_reconnect_is_granted_only_when_asked_and_written_first() {
    let server = TestServer::start().await;
    let text = negotiate(
        &server,
        "hub=chat&negotiateVersion=1&useStatefulReconnect=true&useStatefulReconnect=true",
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(
        text.starts_with("{\"useStatefulReconnect\":true,\"negotiateVersion\":1,"),
        "{text}"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_htt_claim_limits_the_transports() {
    let server = TestServer::start().await;
    let token = crate::common::token(json!({
        "aud": "http://localhost/client/?hub=chat",
        "exp": crate::common::now() + 60,
        "asrs.s.htt": "6"
    }));
    let body: Value = reqwest::Client::new()
        .post(server.url("/client/negotiate?hub=chat&negotiateVersion=1"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = body["availableTransports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["transport"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ServerSentEvents", "LongPolling"]);
    server.stop().await;
}
