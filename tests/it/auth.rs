//! Token failures: every 401 says what was wrong, on the client endpoint and the REST API.

use serde_json::{Value, json};
use signalr_emulator::Config;
use signalr_emulator::auth::{AuthMode, issue_token};

use crate::common::{TestServer, now, token};

async fn negotiate_with(server: &TestServer, token: Option<&str>) -> (u16, Value) {
    let mut request =
        reqwest::Client::new().post(server.url("/client/negotiate?hub=chat&negotiateVersion=1"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn client_tokens_are_rejected_with_the_reason() {
    let server = TestServer::start().await;
    let aud = "http://localhost/client/?hub=chat";
    let cases = [
        (None, "Error.Auth.MissingToken", "Authorization"),
        (
            Some(token(json!({"aud": aud, "exp": now() - 3600}))),
            "Error.Auth.TokenExpired",
            "expired",
        ),
        (
            Some(issue_token(
                "another-key-that-is-not-configured",
                &json!({"aud": aud, "exp": now() + 60}),
            )),
            "Error.Auth.InvalidSignature",
            "key",
        ),
        (
            Some(token(
                json!({"aud": "http://localhost/client/?hub=other", "exp": now() + 60}),
            )),
            "Error.Auth.AudienceMismatch",
            "other",
        ),
        (
            Some(token(
                json!({"aud": "http://localhost/api/v1/hubs/chat", "exp": now() + 60}),
            )),
            "Error.Auth.AudienceMismatch",
            "/api/v1/hubs/chat",
        ),
        (
            Some("not-a-jwt".to_owned()),
            "Error.Auth.MalformedToken",
            "",
        ),
    ];
    for (token, code, needle) in cases {
        let (status, body) = negotiate_with(&server, token.as_deref()).await;
        assert_eq!(status, 401, "{code}");
        assert_eq!(body["code"], code, "{body}");
        assert!(body["message"].as_str().unwrap().contains(needle), "{body}");
    }
    let (status, _) = negotiate_with(
        &server,
        Some(&token(
            json!({"aud": "https://other-host:443/client/?hub=CHAT", "exp": now() + 60}),
        )),
    )
    .await;
    assert_eq!(status, 200, "scheme, host, port and hub case are ignored");
    server.stop().await;
}

#[tokio::test]
async fn rest_tokens_are_checked_against_the_request_path() {
    let server = TestServer::start().await;
    let body = Some(json!({"target": "m", "arguments": []}));
    let path = "/api/v1/hubs/chat";
    let response = server
        .rest_with_token("POST", path, body.clone(), None)
        .await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.json::<Value>().await.unwrap()["code"],
        "Error.Auth.MissingToken"
    );

    let expired = token(json!({"aud": format!("http://x{path}"), "exp": now() - 10}));
    let response = server
        .rest_with_token("POST", path, body.clone(), Some(&expired))
        .await;
    assert_eq!(response.status(), 401);
    let detail: Value = response.json().await.unwrap();
    assert_eq!(detail["code"], "Error.Auth.TokenExpired");

    let other_path = token(json!({"aud": "http://x/api/v1/hubs/chat/users/u1", "exp": now() + 60}));
    let response = server
        .rest_with_token("POST", path, body.clone(), Some(&other_path))
        .await;
    assert_eq!(response.status(), 401);
    let detail: Value = response.json().await.unwrap();
    assert!(
        detail["message"]
            .as_str()
            .unwrap()
            .contains("/api/v1/hubs/chat/users/u1"),
        "{detail}"
    );

    let with_query = token(
        json!({"aud": format!("http://x:8080{path}?api-version=2022-06-01"), "exp": now() + 60}),
    );
    let response = server
        .rest_with_token("POST", path, body, Some(&with_query))
        .await;
    assert_eq!(
        response.status(),
        202,
        "the query of the audience is ignored"
    );
    server.stop().await;
}

#[tokio::test]
async fn relaxed_mode_checks_the_signature_only() {
    let server = TestServer::with_config(Config {
        auth: AuthMode::Relaxed,
        ..Config::default()
    })
    .await;
    let expired_elsewhere =
        token(json!({"aud": "http://x/client/?hub=other", "exp": now() - 3600}));
    assert_eq!(
        negotiate_with(&server, Some(&expired_elsewhere)).await.0,
        200
    );
    let wrong_key = issue_token("wrong", &json!({"exp": now() + 60}));
    assert_eq!(negotiate_with(&server, Some(&wrong_key)).await.0, 401);
    server.stop().await;
}

#[tokio::test]
async fn auth_off_needs_no_token() {
    let server = TestServer::with_config(Config {
        auth: AuthMode::Off,
        ..Config::default()
    })
    .await;
    assert_eq!(negotiate_with(&server, None).await.0, 200);
    server.stop().await;
}

#[tokio::test]
async fn any_configured_key_is_accepted() {
    let server = TestServer::with_config(Config {
        access_keys: vec!["primary".into(), "secondary".into()],
        ..Config::default()
    })
    .await;
    let signed = issue_token(
        "secondary",
        &json!({"aud": "http://localhost/client/?hub=chat", "exp": now() + 60}),
    );
    assert_eq!(negotiate_with(&server, Some(&signed)).await.0, 200);
    server.stop().await;
}

#[tokio::test]
async fn strict_mode_refuses_tokens_without_an_expiry_and_relaxed_mode_takes_them() {
    let client = token(json!({"aud": "http://localhost/client/?hub=chat"}));
    let rest = token(json!({"aud": "http://localhost/api/v1/hubs/chat"}));
    let strict = TestServer::start().await;
    let (status, body) = negotiate_with(&strict, Some(&client)).await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "Error.Auth.MissingExpiry", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("no 'exp' claim") && message.contains("--auth relaxed"),
        "{message}"
    );
    let response = strict
        .rest_with_token("POST", "/api/v1/hubs/chat", Some(send()), Some(&rest))
        .await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "Error.Auth.MissingExpiry", "{body}");
    strict.stop().await;

    let relaxed = TestServer::with_config(Config {
        auth: AuthMode::Relaxed,
        ..Config::default()
    })
    .await;
    assert_eq!(negotiate_with(&relaxed, Some(&client)).await.0, 200);
    let response = relaxed
        .rest_with_token("POST", "/api/v1/hubs/chat", Some(send()), Some(&rest))
        .await;
    assert_eq!(response.status(), 202);
    relaxed.stop().await;
}

#[tokio::test]
async fn in_relaxed_mode_a_client_token_cannot_read_the_access_key() {
    let server = TestServer::with_config(Config {
        auth: AuthMode::Relaxed,
        ..Config::default()
    })
    .await;
    let path = "/api/auth/accessKey?api-version=2023-07-01";
    let client = token(json!({"aud": "http://localhost/client/?hub=chat", "exp": now() + 60}));
    let response = server
        .rest_with_token("GET", path, None, Some(&client))
        .await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "Error.Auth.AudienceMismatch", "{body}");
    assert!(!body.to_string().contains("ABCDEFGH"), "{body}");
    // Other REST routes keep relaxed mode's signature-only check.
    let response = server
        .rest_with_token("POST", "/api/v1/hubs/chat", Some(send()), Some(&client))
        .await;
    assert_eq!(response.status(), 202);
    // A token for the route itself (expired: relaxed mode ignores that) gets the key.
    let rest = token(json!({"aud": "http://localhost/api/auth/accessKey", "exp": now() - 3600}));
    let response = server.rest_with_token("GET", path, None, Some(&rest)).await;
    assert_eq!(response.status(), 200);
    server.stop().await;
}

fn send() -> Value {
    json!({"target": "m", "arguments": []})
}
