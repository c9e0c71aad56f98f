//! Every request to an existing connection (`id=`) needs a valid token of the user who opened
//! it: with negotiate version 0 the id is the public connection id, which REST listings and
//! upstream headers show, so the id alone must not let anyone read, send or close.

use serde_json::Value;

use crate::common::{TestServer, client_token};

/// Negotiates version 0 as `user`; returns the id (the public connection id).
async fn negotiate_v0(server: &TestServer, user: &str) -> String {
    let body: Value = reqwest::Client::new()
        .post(server.url("/client/negotiate?hub=chat"))
        .bearer_auth(client_token("chat", Some(user)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body.get("connectionToken").is_none(), "{body}");
    body["connectionId"].as_str().unwrap().to_owned()
}

/// `method` on `/client/?hub=chat&id={id}` with `token`; returns the status and body.
async fn request(
    server: &TestServer,
    method: &str,
    id: &str,
    token: Option<&str>,
    event_stream: bool,
) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .request(
            method.parse().unwrap(),
            server.url(&format!("/client/?hub=chat&id={id}")),
        )
        .body("");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if event_stream {
        request = request.header("Accept", "text/event-stream");
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn long_polling_requests_need_a_token_of_the_connections_user() {
    let server = TestServer::start().await;
    let id = negotiate_v0(&server, "alice").await;
    let alice = client_token("chat", Some("alice"));
    let bob = client_token("chat", Some("bob"));
    let anonymous = client_token("chat", None);
    let (status, _) = request(&server, "GET", &id, Some(&alice), false).await;
    assert_eq!(status, 200, "the owner starts polling");

    for method in ["GET", "POST", "DELETE"] {
        let (status, body) = request(&server, method, &id, None, false).await;
        assert_eq!(status, 401, "{method} without a token: {body}");
        assert!(body.contains("Error.Auth"), "{body}");
        for other in [&bob, &anonymous] {
            let (status, body) = request(&server, method, &id, Some(other), false).await;
            assert_eq!(status, 403, "{method} with another user's token: {body}");
            assert!(body.contains("Error.Auth.UserMismatch"), "{body}");
        }
    }
    // The owner still has the connection: a send goes through and DELETE ends it.
    let (status, _) = request(&server, "DELETE", &id, Some(&alice), false).await;
    assert_eq!(status, 202);
    server.stop().await;
}

#[tokio::test]
async fn websocket_and_event_stream_requests_need_a_token_of_the_connections_user() {
    let server = TestServer::start().await;
    let bob = client_token("chat", Some("bob"));
    // An event stream on someone else's negotiated connection.
    let id = negotiate_v0(&server, "alice").await;
    let (status, _) = request(&server, "GET", &id, None, true).await;
    assert_eq!(status, 401);
    let (status, body) = request(&server, "GET", &id, Some(&bob), true).await;
    assert_eq!(status, 403, "{body}");
    // A WebSocket on it.
    let url = |token: Option<&str>| {
        let query = token
            .map(|t| format!("&access_token={t}"))
            .unwrap_or_default();
        format!("ws://{}/client/?hub=chat&id={id}{query}", server.addr)
    };
    let refused = tokio_tungstenite::connect_async(url(None))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("401"), "{refused}");
    let refused = tokio_tungstenite::connect_async(url(Some(&bob)))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("403"), "{refused}");
    let alice = client_token("chat", Some("alice"));
    assert!(
        tokio_tungstenite::connect_async(url(Some(&alice)))
            .await
            .is_ok(),
        "the owner's token opens it"
    );
    server.stop().await;
}
