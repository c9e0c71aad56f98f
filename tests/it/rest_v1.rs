//! Every v1 REST route, with its success and failure status codes, checked against what raw
//! WebSocket clients receive.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{TestServer, WaitUntil, WsClient};

const SILENCE: Duration = Duration::from_millis(200);

fn message(args: Value) -> Option<Value> {
    Some(json!({"target": "m", "arguments": args}))
}

async fn expect_message(client: &mut WsClient, args: Value) {
    assert_eq!(
        client.next_non_ping().await,
        json!({"type": 1, "target": "m", "arguments": args})
    );
}

async fn status(server: &TestServer, method: &str, path: &str) -> u16 {
    server.rest(method, path, None).await.status().as_u16()
}

/// Checks each (method, path, status) in order.
async fn expect_statuses(server: &TestServer, cases: &[(&str, &str, u16)]) {
    for (method, path, expected) in cases {
        assert_eq!(
            status(server, method, path).await,
            *expected,
            "{method} {path}"
        );
    }
}

async fn error_code(server: &TestServer, method: &str, path: &str) -> (u16, String, Value) {
    let response = server.rest(method, path, None).await;
    let status = response.status().as_u16();
    let header = response
        .headers()
        .get("x-ms-error-code")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, header, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn health_needs_no_token() {
    let server = TestServer::start().await;
    for method in ["GET", "HEAD"] {
        let response = server
            .rest_with_token(method, "/api/v1/health", None, None)
            .await;
        assert_eq!(response.status(), 200);
    }
    server.stop().await;
}

#[tokio::test]
async fn sends_reach_the_right_connections() {
    let server = TestServer::start().await;
    let (mut alice, alice_id) = server.connect("chat", Some("alice")).await;
    let (mut bob, bob_id) = server.connect("chat", Some("bob")).await;

    let args = json!(["text", 42, {"nested": [1, null]}, null, true]);
    let response = server
        .rest("POST", "/api/v1/hubs/chat", message(args.clone()))
        .await;
    assert_eq!(response.status(), 202);
    expect_message(&mut alice, args.clone()).await;
    expect_message(&mut bob, args).await;

    let response = server
        .rest(
            "POST",
            &format!("/api/v1/hubs/CHAT?excluded={alice_id}"),
            message(json!([1])),
        )
        .await;
    assert_eq!(response.status(), 202, "hub names are case-insensitive");
    expect_message(&mut bob, json!([1])).await;
    alice.expect_silence(SILENCE).await;

    assert_eq!(
        server
            .rest("POST", "/api/v1/hubs/chat/users/bob", message(json!([2])))
            .await
            .status(),
        202
    );
    expect_message(&mut bob, json!([2])).await;
    alice.expect_silence(SILENCE).await;

    let path = format!("/api/v1/hubs/chat/connections/{alice_id}");
    assert_eq!(
        server
            .rest("POST", &path, message(json!([3])))
            .await
            .status(),
        202
    );
    expect_message(&mut alice, json!([3])).await;
    bob.expect_silence(SILENCE).await;

    let unknown = server
        .rest(
            "POST",
            "/api/v1/hubs/chat/connections/nobody",
            message(json!([])),
        )
        .await;
    assert_eq!(unknown.status(), 202);
    let nobody = server
        .rest("POST", "/api/v1/hubs/chat/users/nobody", message(json!([])))
        .await;
    assert_eq!(nobody.status(), 202);

    // Management SDK casing.
    let response = server
        .rest(
            "POST",
            "/api/v1/hubs/chat/users/bob",
            Some(json!({"Target": "m", "Arguments": ["pascal"]})),
        )
        .await;
    assert_eq!(response.status(), 202);
    expect_message(&mut bob, json!(["pascal"])).await;
    let _ = bob_id;
    server.stop().await;
}

#[tokio::test]
async fn connection_groups_in_both_path_orders() {
    let server = TestServer::start().await;
    let (mut alice, a) = server.connect("chat", Some("alice")).await;
    let (mut bob, b) = server.connect("chat", Some("bob")).await;

    assert_eq!(
        status(
            &server,
            "PUT",
            &format!("/api/v1/hubs/chat/groups/g1/connections/{a}")
        )
        .await,
        200
    );
    assert_eq!(
        status(
            &server,
            "PUT",
            &format!("/api/v1/hubs/chat/connections/{b}/groups/g1")
        )
        .await,
        200
    );
    for method in ["GET", "HEAD"] {
        assert_eq!(
            status(&server, method, "/api/v1/hubs/chat/groups/g1").await,
            200
        );
    }
    let (code, header, body) = error_code(&server, "GET", "/api/v1/hubs/chat/groups/none").await;
    assert_eq!((code, header.as_str()), (404, "Warning.Group.NotExisted"));
    assert_eq!(body["code"], "Warning.Group.NotExisted");

    let response = server
        .rest(
            "POST",
            &format!("/api/v1/hubs/chat/groups/g1?excluded={a}"),
            message(json!(["g"])),
        )
        .await;
    assert_eq!(response.status(), 202);
    expect_message(&mut bob, json!(["g"])).await;
    alice.expect_silence(SILENCE).await;
    assert_eq!(
        server
            .rest("POST", "/api/v1/hubs/chat/groups/g1", message(json!([])))
            .await
            .status(),
        202
    );
    expect_message(&mut alice, json!([])).await;
    expect_message(&mut bob, json!([])).await;

    assert_eq!(
        status(
            &server,
            "DELETE",
            &format!("/api/v1/hubs/chat/groups/g1/connections/{a}")
        )
        .await,
        200
    );
    assert_eq!(
        status(
            &server,
            "DELETE",
            &format!("/api/v1/hubs/chat/connections/{b}/groups/g1")
        )
        .await,
        200
    );
    assert_eq!(
        status(
            &server,
            "DELETE",
            &format!("/api/v1/hubs/chat/connections/{b}/groups/g1")
        )
        .await,
        200,
        "removing from a group the connection is not in is not an error"
    );
    assert_eq!(
        status(&server, "HEAD", "/api/v1/hubs/chat/groups/g1").await,
        404
    );

    for path in [
        "/api/v1/hubs/chat/groups/g1/connections/ghost",
        "/api/v1/hubs/chat/connections/ghost/groups/g1",
    ] {
        for method in ["PUT", "DELETE"] {
            let (code, header, _) = error_code(&server, method, path).await;
            assert_eq!(
                (code, header.as_str()),
                (404, "Error.Connection.NotExisted"),
                "{method} {path}"
            );
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn existence_checks() {
    let server = TestServer::start().await;
    let (_alice, a) = server.connect("chat", Some("alice")).await;
    for method in ["GET", "HEAD"] {
        assert_eq!(
            status(
                &server,
                method,
                &format!("/api/v1/hubs/chat/connections/{a}")
            )
            .await,
            200
        );
        assert_eq!(
            status(&server, method, "/api/v1/hubs/chat/users/alice").await,
            200
        );
    }
    let (code, header, _) = error_code(&server, "GET", "/api/v1/hubs/chat/connections/ghost").await;
    assert_eq!(
        (code, header.as_str()),
        (404, "Warning.Connection.NotExisted")
    );
    let (code, header, _) = error_code(&server, "HEAD", "/api/v1/hubs/chat/users/nobody").await;
    assert_eq!((code, header.as_str()), (404, "Warning.User.NotExisted"));
    assert_eq!(
        status(&server, "DELETE", "/api/v1/hubs/chat/connections/ghost").await,
        202
    );
    server.stop().await;
}

#[tokio::test]
async fn user_groups_exist_before_and_without_connections() {
    let server = TestServer::start().await;
    // Membership added while carol is offline applies when she connects.
    assert_eq!(
        status(&server, "PUT", "/api/v1/hubs/chat/users/carol/groups/g3").await,
        202
    );
    for method in ["GET", "HEAD"] {
        assert_eq!(
            status(&server, method, "/api/v1/hubs/chat/groups/g3/users/carol").await,
            200
        );
        assert_eq!(
            status(&server, method, "/api/v1/hubs/chat/users/carol/groups/g3").await,
            200
        );
    }
    let (mut carol, _) = server.connect("chat", Some("carol")).await;
    assert_eq!(
        server
            .rest(
                "POST",
                "/api/v1/hubs/chat/groups/g3",
                message(json!(["hi"]))
            )
            .await
            .status(),
        202
    );
    expect_message(&mut carol, json!(["hi"])).await;

    // Adding a connected user joins the current connection too.
    let (mut alice, _) = server.connect("chat", Some("alice")).await;
    assert_eq!(
        status(&server, "PUT", "/api/v1/hubs/chat/groups/g2/users/alice").await,
        202
    );
    server
        .rest("POST", "/api/v1/hubs/chat/groups/g2", message(json!([2])))
        .await;
    expect_message(&mut alice, json!([2])).await;
    let (code, header, _) =
        error_code(&server, "GET", "/api/v1/hubs/chat/groups/g2/users/carol").await;
    assert_eq!((code, header.as_str()), (404, "Info.User.NotInGroup"));

    expect_statuses(
        &server,
        &[
            ("DELETE", "/api/v1/hubs/chat/groups/g2/users/alice", 202),
            ("GET", "/api/v1/hubs/chat/users/alice/groups/g2", 404),
            ("HEAD", "/api/v1/hubs/chat/groups/g2", 404),
            ("DELETE", "/api/v1/hubs/chat/users/alice/groups/g2", 202),
        ],
    )
    .await;

    expect_statuses(
        &server,
        &[
            ("PUT", "/api/v1/hubs/chat/users/carol/groups/g4", 202),
            ("DELETE", "/api/v1/hubs/chat/users/carol/groups", 200),
            ("GET", "/api/v1/hubs/chat/users/carol/groups/g3", 404),
            ("HEAD", "/api/v1/hubs/chat/groups/g4", 404),
            ("DELETE", "/api/v1/hubs/chat/users/nobody/groups", 200),
        ],
    )
    .await;
    server.stop().await;
}

#[tokio::test]
async fn ttl_zero_adds_current_connections_only_and_ttl_expires() {
    let server = TestServer::start().await;
    let (mut bob, _) = server.connect("chat", Some("bob")).await;
    assert_eq!(
        status(
            &server,
            "PUT",
            "/api/v1/hubs/chat/groups/now/users/bob?ttl=0"
        )
        .await,
        202
    );
    server
        .rest("POST", "/api/v1/hubs/chat/groups/now", message(json!([0])))
        .await;
    expect_message(&mut bob, json!([0])).await;
    let (mut bob2, _) = server.connect("chat", Some("bob")).await;
    server
        .rest("POST", "/api/v1/hubs/chat/groups/now", message(json!([1])))
        .await;
    expect_message(&mut bob, json!([1])).await;
    bob2.expect_silence(SILENCE).await;

    assert_eq!(
        status(
            &server,
            "PUT",
            "/api/v1/hubs/chat/groups/brief/users/bob?ttl=1"
        )
        .await,
        202
    );
    assert_eq!(
        status(&server, "HEAD", "/api/v1/hubs/chat/groups/brief").await,
        200
    );
    // Expiry removes the membership and the live connections from the group.
    let wait = WaitUntil::new("the membership expires");
    while status(&server, "HEAD", "/api/v1/hubs/chat/groups/brief").await == 200 {
        wait.retry().await;
    }
    assert_eq!(
        status(&server, "GET", "/api/v1/hubs/chat/groups/brief/users/bob").await,
        404
    );
    server.stop().await;
}

#[tokio::test]
async fn application_prefixes_the_hub() {
    let server = TestServer::start().await;
    let (mut client, _) = server.connect("app1_chat", None).await;
    let (mut plain, _) = server.connect("chat", None).await;
    let response = server
        .rest(
            "POST",
            "/api/v1/hubs/chat?application=App1",
            message(json!(["app"])),
        )
        .await;
    assert_eq!(response.status(), 202);
    expect_message(&mut client, json!(["app"])).await;
    plain.expect_silence(SILENCE).await;
    server.stop().await;
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_rule() {
    let server = TestServer::start().await;
    for (method, path, target, needle) in [
        ("POST", "/api/v1/hubs/1bad", "hub", "start with a letter"),
        (
            "POST",
            "/api/v1/hubs/chat?application=-x",
            "application",
            "start with a letter",
        ),
        (
            "POST",
            "/api/v1/hubs/chat/groups/%20%20",
            "group",
            "white space",
        ),
        (
            "PUT",
            "/api/v1/hubs/chat/groups/g/users/u?ttl=-1",
            "ttl",
            "whole number",
        ),
        (
            "PUT",
            "/api/v1/hubs/chat/groups/g/users/u?ttl=soon",
            "ttl",
            "whole number",
        ),
    ] {
        let response = server.rest(method, path, message(json!([]))).await;
        assert_eq!(response.status(), 400, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["target"], target, "{body}");
        assert!(body["message"].as_str().unwrap().contains(needle), "{body}");
    }
    for (body, target) in [
        (json!({"arguments": []}), "target"),
        (json!({"target": "", "arguments": []}), "target"),
        (json!({"target": "m", "arguments": 5}), "arguments"),
    ] {
        let response = server.rest("POST", "/api/v1/hubs/chat", Some(body)).await;
        assert_eq!(response.status(), 400);
        assert_eq!(response.json::<Value>().await.unwrap()["target"], target);
    }
    let response = server.rest("POST", "/api/v1/hubs/chat", None).await;
    assert_eq!(response.status(), 400, "an empty body is not a message");
    server.stop().await;
}

#[tokio::test]
async fn oversized_and_binary_bodies_get_error_details() {
    let server = TestServer::start().await;
    let big = "x".repeat(1024 * 1024 + 1);
    let response = server
        .rest("POST", "/api/v1/hubs/chat", message(json!([big])))
        .await;
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.json::<Value>().await.unwrap()["code"],
        "Error.Request.TooLarge"
    );

    let token_path = "/api/v1/hubs/chat";
    let token = crate::common::token(
        json!({"aud": format!("http://x{token_path}"), "exp": crate::common::now() + 60}),
    );
    for (content_type, body, status, needle) in [
        (
            "application/octet-stream",
            vec![0x80],
            400,
            "no 'json' entry",
        ),
        ("text/plain", b"hi".to_vec(), 415, "application/json"),
    ] {
        let response = reqwest::Client::new()
            .post(server.url(token_path))
            .bearer_auth(&token)
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{content_type}");
        let message = response.json::<Value>().await.unwrap()["message"].clone();
        assert!(message.as_str().unwrap().contains(needle), "{message}");
    }
    server.stop().await;
}
