//! What a client's `invoke` gets when the upstream answers 200 with a body that is valid hub
//! protocol but not the Completion of that invocation: an error Completion saying so, never a
//! call that hangs.

use axum::extract::Path;
use serde_json::Value;
use signalr_emulator::Config;
use tokio::net::TcpListener;

use crate::common::TestServer;

/// An upstream that answers `messages/<event>` with the body the event names, and every
/// connection event with 204.
async fn scripted_upstream() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/{category}/{event}",
        axum::routing::post(
            |Path((category, event)): Path<(String, String)>| async move {
                let body: &'static str = match (category.as_str(), event.as_str()) {
                    ("messages", "ping") => "{\"type\":6}\x1e",
                    ("messages", "other") => {
                        "{\"type\":3,\"invocationId\":\"someone-else\",\"result\":1}\x1e"
                    }
                    ("messages", "right") => {
                        "{\"type\":3,\"invocationId\":\"3\",\"result\":42}\x1e"
                    }
                    _ => return (axum::http::StatusCode::NO_CONTENT, ""),
                };
                (axum::http::StatusCode::OK, body)
            },
        ),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/{{category}}/{{event}}")
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
        upstream_urls: vec![scripted_upstream().await],
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
