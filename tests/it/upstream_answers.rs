//! What a client's `invoke` gets when the upstream answers 200 with a body that is valid hub
//! protocol but not the Completion of that invocation: an error Completion saying so, never a
//! call that hangs.

use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::Value;
use signalr_emulator::Config;

use crate::common::{MockUpstream, TestServer};

/// An upstream that answers `messages/<event>` with the body the event names, and every
/// connection event with 204.
async fn scripted_upstream() -> MockUpstream {
    MockUpstream::start(|request| async move {
        let body: &'static str = match request.path.as_str() {
            "/messages/ping" => "{\"type\":6}\x1e",
            "/messages/other" => "{\"type\":3,\"invocationId\":\"someone-else\",\"result\":1}\x1e",
            "/messages/right" => "{\"type\":3,\"invocationId\":\"3\",\"result\":42}\x1e",
            _ => return StatusCode::NO_CONTENT.into_response(),
        };
        (StatusCode::OK, body).into_response()
    })
    .await
}

fn invoke(id: &str, target: &str) -> String {
    format!("{{\"type\":1,\"invocationId\":\"{id}\",\"target\":\"{target}\",\"arguments\":[]}}\x1e")
}

fn error_of(message: &Value, id: &str) -> String {
    assert_eq!(message["type"], 3, "{message}");
    assert_eq!(message["invocationId"], id, "{message}");
    message["error"]
        .as_str()
        .expect("an error Completion")
        .to_owned()
}

#[tokio::test]
async fn an_answer_that_is_not_this_invocations_completion_settles_it_with_an_error() {
    let server = TestServer::with_config(Config {
        upstream_urls: vec![scripted_upstream().await.url("/{category}/{event}")],
        ..Config::default()
    })
    .await;
    let (mut client, _) = server.connect("chat", None).await;

    client.send_text(&invoke("1", "ping")).await;
    assert_eq!(
        error_of(&client.next_non_ping().await, "1"),
        "Invocation failed, the upstream's answer is a Ping message, not the Completion of invocation '1'."
    );

    client.send_text(&invoke("2", "other")).await;
    assert_eq!(
        error_of(&client.next_non_ping().await, "2"),
        "Invocation failed, the upstream's answer is the Completion of invocation 'someone-else', not of '2'."
    );

    // A right answer still goes through as it is.
    client.send_text(&invoke("3", "right")).await;
    let answer = client.next_non_ping().await;
    assert_eq!(answer["invocationId"], "3");
    assert_eq!(answer["result"], 42);
    server.stop().await;
}
