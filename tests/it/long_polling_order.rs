//! Long polling in the orders real clients use: a send before the first poll is kept until
//! polling starts, and a connection closed by the server between two polls keeps its Close
//! (with the reason) for the next poll, as in ASP.NET Core.

use std::time::Duration;

use crate::common::{TestServer, WAIT, client_token};

const HANDSHAKE: &str = "{\"protocol\":\"json\",\"version\":1}\x1e";

/// `method` on the connection with an anonymous token; returns the status and body.
async fn call(server: &TestServer, method: &str, token: &str, body: &str) -> (u16, String) {
    let response = tokio::time::timeout(
        WAIT,
        reqwest::Client::new()
            .request(
                method.parse().unwrap(),
                server.url(&format!("/client/?hub=chat&id={token}")),
            )
            .bearer_auth(client_token("chat", None))
            .body(body.to_owned())
            .send(),
    )
    .await
    .expect("answers in time")
    .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn a_send_before_the_first_poll_is_kept_until_polling_starts() {
    let server = TestServer::start().await;
    let (_, token) = server.negotiate("chat", None).await;
    assert_eq!(
        call(&server, "POST", &token, HANDSHAKE).await,
        (200, String::new())
    );
    assert_eq!(
        call(&server, "GET", &token, "").await.0,
        200,
        "the first poll"
    );
    assert_eq!(
        call(&server, "GET", &token, "").await,
        (200, "{}\x1e".to_owned()),
        "the handshake sent first was answered"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_server_side_close_between_polls_reaches_the_next_poll() {
    let server = TestServer::start().await;
    let (id, token) = server.negotiate("chat", None).await;
    assert_eq!(call(&server, "GET", &token, "").await.0, 200);
    assert_eq!(call(&server, "POST", &token, HANDSHAKE).await.0, 200);
    assert_eq!(call(&server, "GET", &token, "").await.1, "{}\x1e");
    // No poll is waiting when the server closes the connection.
    let response = server
        .rest(
            "DELETE",
            &format!("/api/v1/hubs/chat/connections/{id}?reason=maintenance"),
            None,
        )
        .await;
    assert_eq!(response.status(), 202);
    // Gives the driver time to queue the Close before the next poll arrives. Nothing a test
    // can see tells "queued" apart: the connection stays listed until a poll takes the Close.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = call(&server, "GET", &token, "").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("\"type\":7") && body.contains("maintenance"),
        "the Close with its reason: {body}"
    );
    server.stop().await;
}
