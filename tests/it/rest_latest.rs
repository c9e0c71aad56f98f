//! Every 2022-06-01+ REST route under `/api` (any or no `api-version`) with its success and
//! failure status codes, checked against what raw WebSocket clients receive.

use serde_json::{Value, json};

use crate::common::{TestServer, WaitUntil};
use crate::rest_support::{
    SILENCE, expect_bad_request, expect_closed, expect_error, expect_message, send, status,
};

const VERSION: &str = "api-version=2024-12-01";

#[tokio::test]
async fn health_needs_no_token_in_any_version() {
    let server = TestServer::start().await;
    for path in [
        "/api/health",
        "/api/health?api-version=2022-06-01",
        "/api/health?api-version=2024-12-01",
    ] {
        for method in ["HEAD", "GET"] {
            let response = server.rest_with_token(method, path, None, None).await;
            assert_eq!(response.status(), 200, "{method} {path}");
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn sends_with_and_without_send_suffix() {
    let server = TestServer::start().await;
    let (mut alice, a) = server.connect("chat", Some("alice")).await;
    let (mut bob, b) = server.connect("chat", Some("bob")).await;

    for (i, path) in ["/api/hubs/chat/:send", "/api/hubs/Chat"]
        .iter()
        .enumerate()
    {
        assert_eq!(
            send(&server, &format!("{path}?{VERSION}"), json!([i])).await,
            202
        );
        expect_message(&mut alice, json!([i])).await;
        expect_message(&mut bob, json!([i])).await;
    }
    let excluded = format!("/api/hubs/chat/:send?excluded={a}&excluded=ghost&{VERSION}");
    assert_eq!(send(&server, &excluded, json!(["ex"])).await, 202);
    expect_message(&mut bob, json!(["ex"])).await;
    alice.expect_silence(SILENCE).await;

    for path in ["/api/hubs/chat/users/bob/:send", "/api/hubs/chat/users/bob"] {
        assert_eq!(send(&server, path, json!([path])).await, 202);
        expect_message(&mut bob, json!([path])).await;
    }
    alice.expect_silence(SILENCE).await;

    for path in [
        format!("/api/hubs/chat/connections/{a}/:send"),
        format!("/api/hubs/chat/connections/{a}"),
    ] {
        assert_eq!(send(&server, &path, json!([path])).await, 202);
        expect_message(&mut alice, json!([path])).await;
    }
    bob.expect_silence(SILENCE).await;

    for path in [
        format!("/api/hubs/chat/groups/g/connections/{a}"),
        format!("/api/hubs/chat/connections/{b}/groups/g"),
    ] {
        assert_eq!(status(&server, "PUT", &path).await, 200);
    }
    for path in ["/api/hubs/chat/groups/g/:send", "/api/hubs/chat/groups/g"] {
        assert_eq!(send(&server, path, json!([path])).await, 202);
        expect_message(&mut alice, json!([path])).await;
        expect_message(&mut bob, json!([path])).await;
    }
    let excluded = format!("/api/hubs/chat/groups/g/:send?excluded={b}");
    assert_eq!(send(&server, &excluded, json!(["g-ex"])).await, 202);
    expect_message(&mut alice, json!(["g-ex"])).await;
    bob.expect_silence(SILENCE).await;

    // Unknown targets are not errors; Management SDK casing works.
    for path in [
        "/api/hubs/chat/users/nobody/:send",
        "/api/hubs/chat/connections/ghost/:send",
        "/api/hubs/chat/groups/empty/:send",
        "/api/hubs/empty/:send",
    ] {
        assert_eq!(send(&server, path, json!([])).await, 202, "{path}");
    }
    let response = server
        .rest(
            "POST",
            "/api/hubs/chat/users/alice/:send?api-version=2022-06-01",
            Some(json!({"Target": "m", "Arguments": ["pascal"]})),
        )
        .await;
    assert_eq!(response.status(), 202);
    expect_message(&mut alice, json!(["pascal"])).await;
    server.stop().await;
}

#[tokio::test]
async fn application_prefixes_the_hub() {
    let server = TestServer::start().await;
    let (mut app, _) = server.connect("app1_chat", Some("u")).await;
    let (mut plain, _) = server.connect("chat", Some("u")).await;
    assert_eq!(
        send(
            &server,
            "/api/hubs/chat/users/u/:send?application=App1",
            json!([1])
        )
        .await,
        202
    );
    expect_message(&mut app, json!([1])).await;
    plain.expect_silence(SILENCE).await;
    server.stop().await;
}

#[tokio::test]
async fn close_connections_of_hub_group_and_user_honour_excluded_and_reason() {
    let server = TestServer::start().await;
    let (mut a1, a1_id) = server.connect("chat", Some("alice")).await;
    let (mut a2, a2_id) = server.connect("chat", Some("alice")).await;
    let (mut bob, b) = server.connect("chat", Some("bob")).await;
    let (mut carol, c) = server.connect("chat", Some("carol")).await;

    // User: alice's connections but the excluded one.
    let path = format!(
        "/api/hubs/chat/users/alice/:closeConnections?excluded={a2_id}&reason=bye%20alice&{VERSION}"
    );
    assert_eq!(status(&server, "POST", &path).await, 204);
    assert_eq!(
        expect_closed(&mut a1).await,
        json!({"type": 7, "error": "bye alice", "allowReconnect": true})
    );
    assert_eq!(
        status(
            &server,
            "HEAD",
            &format!("/api/hubs/chat/connections/{a2_id}")
        )
        .await,
        200
    );
    let _ = a1_id;

    // Group: bob and carol are in it, carol is excluded.
    for id in [&b, &c] {
        let path = format!("/api/hubs/chat/groups/team/connections/{id}");
        assert_eq!(status(&server, "PUT", &path).await, 200);
    }
    let path = format!("/api/hubs/chat/groups/team/:closeConnections?excluded={c}");
    assert_eq!(status(&server, "POST", &path).await, 204);
    let close = expect_closed(&mut bob).await;
    assert_eq!(close["type"], 7);
    assert!(close.get("error").is_none(), "no reason given: {close}");

    // Hub: everyone left but the excluded alice connection.
    let path = format!("/api/hubs/chat/:closeConnections?excluded={a2_id}&reason=maintenance");
    assert_eq!(status(&server, "POST", &path).await, 204);
    assert_eq!(expect_closed(&mut carol).await["error"], "maintenance");
    a2.expect_silence(SILENCE).await;

    // Closing nothing is fine.
    for path in [
        "/api/hubs/chat/users/nobody/:closeConnections",
        "/api/hubs/chat/groups/none/:closeConnections",
        "/api/hubs/empty/:closeConnections",
    ] {
        assert_eq!(status(&server, "POST", path).await, 204, "{path}");
    }
    server.stop().await;
}

#[tokio::test]
async fn connection_checks_close_and_group_membership() {
    let server = TestServer::start().await;
    let (mut alice, a) = server.connect("chat", Some("alice")).await;
    let (mut bob, b) = server.connect("chat", Some("bob")).await;
    let conn = |id: &str| format!("/api/hubs/chat/connections/{id}?{VERSION}");

    for method in ["HEAD", "GET"] {
        assert_eq!(status(&server, method, &conn(&a)).await, 200);
        expect_error(
            &server,
            method,
            &conn("ghost"),
            404,
            "Warning.Connection.NotExisted",
        )
        .await;
    }

    // Add/remove in both path orders; unknown connections are 404 Error.Connection.NotExisted.
    for path in [
        format!("/api/hubs/chat/groups/g1/connections/{a}"),
        format!("/api/hubs/chat/connections/{a}/groups/g2"),
    ] {
        assert_eq!(status(&server, "PUT", &path).await, 200);
    }
    for method in ["HEAD", "GET"] {
        assert_eq!(
            status(&server, method, "/api/hubs/chat/groups/g1").await,
            200
        );
        expect_error(
            &server,
            method,
            "/api/hubs/chat/groups/none",
            404,
            "Warning.Group.NotExisted",
        )
        .await;
    }
    for path in [
        "/api/hubs/chat/groups/g1/connections/ghost",
        "/api/hubs/chat/connections/ghost/groups/g1",
    ] {
        for method in ["PUT", "DELETE"] {
            expect_error(&server, method, path, 404, "Error.Connection.NotExisted").await;
        }
    }
    assert_eq!(
        status(
            &server,
            "DELETE",
            &format!("/api/hubs/chat/groups/g1/connections/{a}")
        )
        .await,
        200
    );
    assert_eq!(
        status(
            &server,
            "DELETE",
            &format!("/api/hubs/chat/connections/{b}/groups/g1")
        )
        .await,
        200,
        "removing from a group the connection is not in is not an error"
    );
    assert_eq!(
        status(&server, "HEAD", "/api/hubs/chat/groups/g1").await,
        404
    );

    // Remove from all groups: 200, also for an unknown connection.
    assert_eq!(
        status(
            &server,
            "PUT",
            &format!("/api/hubs/chat/groups/g3/connections/{a}")
        )
        .await,
        200
    );
    let all = format!("/api/hubs/chat/connections/{a}/groups?{VERSION}");
    assert_eq!(status(&server, "DELETE", &all).await, 200);
    for group in ["g2", "g3"] {
        let path = format!("/api/hubs/chat/groups/{group}");
        assert_eq!(status(&server, "HEAD", &path).await, 404, "{group}");
        assert_eq!(
            send(&server, &format!("{path}/:send"), json!([])).await,
            202
        );
    }
    alice.expect_silence(SILENCE).await;
    assert_eq!(
        status(&server, "DELETE", "/api/hubs/chat/connections/ghost/groups").await,
        200
    );

    // Close: 200 and the client gets the reason; an unknown connection is the 404 the
    // Management SDK treats as done.
    let close = format!("/api/hubs/chat/connections/{b}?reason=kicked&{VERSION}");
    assert_eq!(status(&server, "DELETE", &close).await, 200);
    assert_eq!(
        expect_closed(&mut bob).await,
        json!({"type": 7, "error": "kicked", "allowReconnect": true})
    );
    expect_error(
        &server,
        "DELETE",
        &conn("ghost"),
        404,
        "Warning.Connection.NotExisted",
    )
    .await;
    server.stop().await;
}

#[tokio::test]
async fn users_and_user_groups() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.connect("chat", Some("alice")).await;
    for method in ["HEAD", "GET"] {
        assert_eq!(
            status(&server, method, "/api/hubs/chat/users/alice").await,
            200
        );
        expect_error(
            &server,
            method,
            "/api/hubs/chat/users/nobody",
            404,
            "Warning.User.NotExisted",
        )
        .await;
    }

    // PUT 200 in both path orders; the user's live connection joins.
    assert_eq!(
        status(
            &server,
            "PUT",
            &format!("/api/hubs/chat/users/alice/groups/g1?{VERSION}")
        )
        .await,
        200
    );
    assert_eq!(
        status(
            &server,
            "PUT",
            "/api/hubs/chat/groups/g2/users/alice?ttl=3600"
        )
        .await,
        200
    );
    for group in ["g1", "g2"] {
        assert_eq!(
            send(
                &server,
                &format!("/api/hubs/chat/groups/{group}/:send"),
                json!([group])
            )
            .await,
            202
        );
        expect_message(&mut alice, json!([group])).await;
        for path in [
            format!("/api/hubs/chat/users/alice/groups/{group}"),
            format!("/api/hubs/chat/groups/{group}/users/alice"),
        ] {
            for method in ["HEAD", "GET"] {
                assert_eq!(status(&server, method, &path).await, 200, "{method} {path}");
            }
        }
    }
    for method in ["HEAD", "GET"] {
        expect_error(
            &server,
            method,
            "/api/hubs/chat/users/alice/groups/other",
            404,
            "Info.User.NotInGroup",
        )
        .await;
        expect_error(
            &server,
            method,
            "/api/hubs/chat/groups/g1/users/bob",
            404,
            "Info.User.NotInGroup",
        )
        .await;
    }

    // Memberships of offline users exist and apply when they connect.
    assert_eq!(
        status(&server, "PUT", "/api/hubs/chat/users/carol/groups/g1").await,
        200
    );
    assert_eq!(
        status(&server, "HEAD", "/api/hubs/chat/users/carol/groups/g1").await,
        200
    );
    let (mut carol, _) = server.connect("chat", Some("carol")).await;
    assert_eq!(
        send(&server, "/api/hubs/chat/groups/g1/:send", json!(["both"])).await,
        202
    );
    expect_message(&mut alice, json!(["both"])).await;
    expect_message(&mut carol, json!(["both"])).await;

    // DELETE is 204 in both path orders, also for a membership that does not exist.
    assert_eq!(
        status(&server, "DELETE", "/api/hubs/chat/users/alice/groups/g1").await,
        204
    );
    assert_eq!(
        status(&server, "DELETE", "/api/hubs/chat/groups/g2/users/alice").await,
        204
    );
    assert_eq!(
        status(&server, "DELETE", "/api/hubs/chat/groups/g9/users/nobody").await,
        204
    );
    assert_eq!(
        status(&server, "HEAD", "/api/hubs/chat/users/alice/groups/g1").await,
        404
    );
    assert_eq!(
        send(&server, "/api/hubs/chat/groups/g1/:send", json!(["carol"])).await,
        202
    );
    expect_message(&mut carol, json!(["carol"])).await;
    alice.expect_silence(SILENCE).await;

    // DELETE all: 204, memberships and live connections both gone.
    assert_eq!(
        status(&server, "PUT", "/api/hubs/chat/users/carol/groups/g5").await,
        200
    );
    assert_eq!(
        status(&server, "DELETE", "/api/hubs/chat/users/carol/groups").await,
        204
    );
    for group in ["g1", "g5"] {
        assert_eq!(
            status(
                &server,
                "HEAD",
                &format!("/api/hubs/chat/users/carol/groups/{group}")
            )
            .await,
            404
        );
        assert_eq!(
            status(&server, "HEAD", &format!("/api/hubs/chat/groups/{group}")).await,
            404
        );
    }
    assert_eq!(
        status(&server, "DELETE", "/api/hubs/chat/users/nobody/groups").await,
        204
    );
    server.stop().await;
}

#[tokio::test]
async fn ttl_zero_and_ttl_expiry_remove_live_connections() {
    let server = TestServer::start().await;
    let (mut bob, _) = server.connect("chat", Some("bob")).await;

    // ttl=0: the current connection joins, no membership is kept for later ones.
    assert_eq!(
        status(&server, "PUT", "/api/hubs/chat/users/bob/groups/now?ttl=0").await,
        200
    );
    let (mut later, _) = server.connect("chat", Some("bob")).await;
    assert_eq!(
        send(&server, "/api/hubs/chat/groups/now/:send", json!([0])).await,
        202
    );
    expect_message(&mut bob, json!([0])).await;
    later.expect_silence(SILENCE).await;

    // ttl=1: the live connections are in the group until the membership expires, then out.
    assert_eq!(
        status(
            &server,
            "PUT",
            "/api/hubs/chat/users/bob/groups/brief?ttl=1"
        )
        .await,
        200
    );
    assert_eq!(
        send(&server, "/api/hubs/chat/groups/brief/:send", json!([1])).await,
        202
    );
    expect_message(&mut bob, json!([1])).await;
    expect_message(&mut later, json!([1])).await;
    let wait = WaitUntil::new("the membership expires");
    while status(&server, "HEAD", "/api/hubs/chat/users/bob/groups/brief").await == 200 {
        wait.retry().await;
    }
    assert_eq!(
        status(&server, "HEAD", "/api/hubs/chat/groups/brief").await,
        404
    );
    assert_eq!(
        send(&server, "/api/hubs/chat/groups/brief/:send", json!([2])).await,
        202
    );
    bob.expect_silence(SILENCE).await;
    later.expect_silence(SILENCE).await;
    server.stop().await;
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_parameter() {
    let server = TestServer::start().await;
    let body = Some(json!({"target": "m", "arguments": []}));
    for (method, path, target, needle) in [
        ("POST", "/api/hubs/1bad/:send", "hub", "start with a letter"),
        (
            "POST",
            "/api/hubs/chat/:send?application=x-y",
            "application",
            "start with a letter",
        ),
        (
            "POST",
            "/api/hubs/chat/groups/%20/:send",
            "group",
            "white space",
        ),
        (
            "POST",
            "/api/hubs/chat/users/%20/:closeConnections",
            "user",
            "white space",
        ),
        (
            "PUT",
            "/api/hubs/chat/users/u/groups/g?ttl=-5",
            "ttl",
            "whole number",
        ),
        (
            "PUT",
            "/api/hubs/chat/groups/g/users/u?ttl=2147483648",
            "ttl",
            "whole number",
        ),
        ("HEAD", "/api/hubs/chat/groups/%20%20", "group", ""),
    ] {
        if method == "HEAD" {
            assert_eq!(status(&server, method, path).await, 400, "{path}");
        } else {
            expect_bad_request(&server, method, path, body.clone(), target, needle).await;
        }
    }
    for (payload, target) in [
        (json!({"arguments": []}), "target"),
        (json!({"Target": ""}), "target"),
        (json!({"target": "m", "Arguments": {}}), "arguments"),
        (json!([1]), "body"),
    ] {
        expect_bad_request(
            &server,
            "POST",
            "/api/hubs/chat/:send",
            Some(payload),
            target,
            "",
        )
        .await;
    }
    server.stop().await;
}

#[tokio::test]
async fn every_route_needs_a_token_for_its_path() {
    let server = TestServer::start().await;
    for (method, path) in [
        ("POST", "/api/hubs/chat/:send"),
        ("POST", "/api/hubs/chat/:closeConnections"),
        ("POST", "/api/hubs/chat/:execute"),
        ("POST", "/api/hubs/chat/:generateToken"),
        ("HEAD", "/api/hubs/chat/connections/c"),
        ("POST", "/api/hubs/chat/connections/c/:invoke"),
        ("GET", "/api/hubs/chat/groups/g/connections"),
        ("PUT", "/api/hubs/chat/users/u/groups/g"),
        ("GET", "/api/auth/accessKey"),
    ] {
        let response = server.rest_with_token(method, path, None, None).await;
        assert_eq!(response.status(), 401, "{method} {path}");
        // A token for another path is refused too.
        let other = crate::common::token(json!({
            "aud": "http://localhost/api/hubs/chat/users/x",
            "exp": crate::common::now() + 60,
        }));
        let response = server
            .rest_with_token(method, path, None, Some(&other))
            .await;
        assert_eq!(response.status(), 401, "{method} {path}");
        if method != "HEAD" {
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["code"], "Error.Auth.AudienceMismatch", "{body}");
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn unknown_paths_and_methods_get_error_details() {
    let server = TestServer::start().await;
    for path in [
        "/api/hubs/chat/:explode",
        "/api/v2/hubs/chat",
        "/api/hubs/chat/groups/g/x/y",
    ] {
        let response = server.rest("POST", path, None).await;
        assert_eq!(response.status(), 404, "{path}");
        assert!(
            response.headers().get("x-ms-error-code").is_none(),
            "{path}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "Error.Request.NotFound", "{body}");
    }
    let response = server.rest("PUT", "/api/hubs/chat/:send", None).await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "Error.Request.MethodNotAllowed", "{body}");
    server.stop().await;
}

#[tokio::test]
async fn only_the_latest_hundred_memberships_without_ttl_are_kept() {
    let server = TestServer::start().await;
    let (mut dora, _) = server.connect("chat", Some("dora")).await;
    assert_eq!(
        status(
            &server,
            "PUT",
            "/api/hubs/chat/users/dora/groups/timed?ttl=600"
        )
        .await,
        200
    );
    for i in 0..101 {
        let path = format!("/api/hubs/chat/users/dora/groups/g{i}");
        assert_eq!(status(&server, "PUT", &path).await, 200);
    }
    // The oldest one went, with dora's live connection; the timed one does not count.
    assert_eq!(
        status(&server, "HEAD", "/api/hubs/chat/users/dora/groups/g0").await,
        404
    );
    assert_eq!(
        status(&server, "HEAD", "/api/hubs/chat/groups/g0").await,
        404
    );
    assert_eq!(
        send(&server, "/api/hubs/chat/groups/g0/:send", json!([0])).await,
        202
    );
    dora.expect_silence(SILENCE).await;
    for group in ["g1", "g100", "timed"] {
        let path = format!("/api/hubs/chat/users/dora/groups/{group}");
        assert_eq!(status(&server, "HEAD", &path).await, 200, "{group}");
    }
    server.stop().await;
}
