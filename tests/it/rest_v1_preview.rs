//! Every v1-preview route (`/api/v1-preview/hub/...`): 202 and the right recipients, 400s.

use serde_json::json;

use crate::common::TestServer;
use crate::rest_support::{SILENCE, expect_bad_request, expect_message, message, send, status};

#[tokio::test]
async fn sends_reach_the_right_connections() {
    let server = TestServer::start().await;
    let (mut alice, a) = server.connect("chat", Some("alice")).await;
    let (mut bob, b) = server.connect("chat", Some("bob")).await;
    let (mut carol, c) = server.connect("chat", Some("carol")).await;

    assert_eq!(
        send(&server, "/api/v1-preview/hub/Chat", json!(["all"])).await,
        202
    );
    for client in [&mut alice, &mut bob, &mut carol] {
        expect_message(client, json!(["all"])).await;
    }

    assert_eq!(
        send(&server, "/api/v1-preview/hub/chat/user/bob", json!(["bob"])).await,
        202
    );
    expect_message(&mut bob, json!(["bob"])).await;

    // A list, with a repeat and an unknown user: each connection gets the message once.
    let path = "/api/v1-preview/hub/chat/users/alice,carol,alice,nobody";
    assert_eq!(send(&server, path, json!(["ac"])).await, 202);
    expect_message(&mut alice, json!(["ac"])).await;
    expect_message(&mut carol, json!(["ac"])).await;
    bob.expect_silence(SILENCE).await;

    for (id, group) in [(&a, "g1"), (&b, "g1"), (&b, "g2"), (&c, "g3")] {
        let path = format!("/api/v1/hubs/chat/groups/{group}/connections/{id}");
        assert_eq!(status(&server, "PUT", &path).await, 200);
    }
    assert_eq!(
        send(&server, "/api/v1-preview/hub/chat/group/g1", json!(["g1"])).await,
        202
    );
    expect_message(&mut alice, json!(["g1"])).await;
    expect_message(&mut bob, json!(["g1"])).await;
    carol.expect_silence(SILENCE).await;

    // bob is in both groups and still gets one copy.
    let path = "/api/v1-preview/hub/chat/groups/g1,g2,empty";
    assert_eq!(send(&server, path, json!(["gs"])).await, 202);
    expect_message(&mut alice, json!(["gs"])).await;
    expect_message(&mut bob, json!(["gs"])).await;
    bob.expect_silence(SILENCE).await;
    carol.expect_silence(SILENCE).await;

    // The application prefix works here too.
    let (mut app, _) = server.connect("app_chat", None).await;
    assert_eq!(
        send(
            &server,
            "/api/v1-preview/hub/chat?application=app",
            json!([1])
        )
        .await,
        202
    );
    expect_message(&mut app, json!([1])).await;
    server.stop().await;
}

#[tokio::test]
async fn bad_input_is_a_400() {
    let server = TestServer::start().await;
    for (path, target, needle) in [
        ("/api/v1-preview/hub/9chat", "hub", "start with a letter"),
        (
            "/api/v1-preview/hub/chat/users/a,,b",
            "users",
            "comma-separated 'users'",
        ),
        (
            "/api/v1-preview/hub/chat/groups/g,%20",
            "groups",
            "white space",
        ),
        ("/api/v1-preview/hub/chat/group/%20", "group", "white space"),
        ("/api/v1-preview/hub/chat/user/%20", "user", "white space"),
    ] {
        expect_bad_request(&server, "POST", path, message(json!([])), target, needle).await;
    }
    expect_bad_request(
        &server,
        "POST",
        "/api/v1-preview/hub/chat",
        Some(json!({"arguments": []})),
        "target",
        "required",
    )
    .await;
    let response = server
        .rest_with_token("POST", "/api/v1-preview/hub/chat", message(json!([])), None)
        .await;
    assert_eq!(response.status(), 401);
    // v1-preview only sends.
    assert_eq!(
        status(&server, "GET", "/api/v1-preview/hub/chat").await,
        405
    );
    server.stop().await;
}
