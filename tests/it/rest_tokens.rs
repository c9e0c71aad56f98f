//! `:generateToken` (the token it mints is accepted by the client endpoint and names the user)
//! and `GET /api/auth/accessKey`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use signalr_emulator::Config;
use signalr_emulator::cli::DEFAULT_ACCESS_KEY;
use signalr_emulator::config::PublicEndpoint;

use crate::common::{TestServer, WsClient, now};
use crate::rest_support::{expect_bad_request, expect_message, send};

/// Calls `:generateToken` with `query` and returns the token.
async fn generate(server: &TestServer, hub: &str, query: &str) -> String {
    let response = server
        .rest(
            "POST",
            &format!("/api/hubs/{hub}/:generateToken?{query}"),
            None,
        )
        .await;
    assert_eq!(response.status(), 200, "{query}");
    let body: Value = response.json().await.unwrap();
    body["token"].as_str().expect("a token string").to_owned()
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Negotiates with `token` and connects a raw JSON client.
async fn connect_with(server: &TestServer, hub: &str, token: &str) -> WsClient {
    let response = reqwest::Client::new()
        .post(server.url(&format!("/client/negotiate?hub={hub}&negotiateVersion=1")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "the client endpoint accepts the token"
    );
    let body: Value = response.json().await.unwrap();
    let mut client = server
        .open_with_token(hub, body["connectionToken"].as_str().unwrap(), token)
        .await;
    client
        .send_text("{\"protocol\":\"json\",\"version\":1}\x1e")
        .await;
    assert_eq!(client.next_message().await, json!({}));
    client
}

#[tokio::test]
async fn generated_tokens_connect_as_the_user() {
    let server = TestServer::start().await;
    let token = generate(
        &server,
        "Chat",
        "userId=alice&minutesToExpire=5&api-version=2023-07-01",
    )
    .await;
    let claims = claims_of(&token);
    assert_eq!(claims["asrs.s.uid"], "alice");
    assert_eq!(claims["nameid"], "alice");
    assert_eq!(
        claims["aud"],
        format!("http://{}/client/?hub=chat", server.addr),
        "the request's host and the internal hub name"
    );
    let exp = claims["exp"].as_u64().unwrap();
    assert!(
        (now() + 4 * 60..=now() + 5 * 60 + 5).contains(&exp),
        "{claims}"
    );

    let mut alice = connect_with(&server, "chat", &token).await;
    assert_eq!(
        send(&server, "/api/hubs/chat/users/alice/:send", json!(["hi"])).await,
        202
    );
    expect_message(&mut alice, json!(["hi"])).await;

    // Without a user: anonymous, one hour.
    let anonymous = claims_of(&generate(&server, "chat", "").await);
    assert!(anonymous.get("asrs.s.uid").is_none());
    let exp = anonymous["exp"].as_u64().unwrap();
    assert!(
        (now() + 59 * 60..=now() + 3605).contains(&exp),
        "{anonymous}"
    );

    // The application prefix is part of the hub the token is for.
    let token = generate(&server, "chat", "application=App1&userId=bob").await;
    assert!(
        claims_of(&token)["aud"]
            .as_str()
            .unwrap()
            .ends_with("/client/?hub=app1_chat")
    );
    connect_with(&server, "app1_chat", &token).await;
    server.stop().await;
}

#[tokio::test]
async fn generated_tokens_use_the_public_endpoint() {
    let server = TestServer::with_config(Config {
        public_endpoint: Some(PublicEndpoint::parse("https://signalr.example:9443").unwrap()),
        ..Config::default()
    })
    .await;
    let token = generate(&server, "chat", "userId=u").await;
    assert_eq!(
        claims_of(&token)["aud"],
        "https://signalr.example:9443/client/?hub=chat"
    );
    // Scheme and host are not compared, so the token still works here.
    connect_with(&server, "chat", &token).await;
    server.stop().await;
}

#[tokio::test]
async fn generate_token_rejects_bad_parameters() {
    let server = TestServer::start().await;
    for (query, target) in [
        ("minutesToExpire=0", "minutesToExpire"),
        ("minutesToExpire=-1", "minutesToExpire"),
        ("minutesToExpire=soon", "minutesToExpire"),
        ("userId=%20", "userId"),
    ] {
        let path = format!("/api/hubs/chat/:generateToken?{query}");
        expect_bad_request(&server, "POST", &path, None, target, "").await;
    }
    server.stop().await;
}

#[tokio::test]
async fn access_key_returns_the_primary_key() {
    let server = TestServer::with_config(Config {
        access_keys: vec!["first-key-0123456789".into(), DEFAULT_ACCESS_KEY.into()],
        ..Config::default()
    })
    .await;
    // Signed with the secondary key: still answered with the primary.
    let path = "/api/auth/accessKey";
    let token = signalr_emulator::auth::issue_token(
        DEFAULT_ACCESS_KEY,
        &json!({"aud": format!("http://localhost{path}"), "exp": now() + 60}),
    );
    let response = server
        .rest_with_token(
            "GET",
            &format!("{path}?api-version=2023-07-01"),
            None,
            Some(&token),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"KeyId": "primary", "AccessKey": "first-key-0123456789"})
    );
    server.stop().await;
}
