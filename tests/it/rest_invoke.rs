//! `POST /api/hubs/{hub}/connections/{connectionId}/:invoke`: the client's Completion becomes the
//! response; client errors, closes and timeouts become `ErrorDetail`s.

use std::time::Duration;

use serde_json::{Value, json};
use signalr_emulator::Config;
use tokio::task::JoinHandle;

use crate::common::{TestServer, WAIT, WsClient, now, token};
use crate::rest_support::{SILENCE, expect_bad_request, message};

/// Starts an `:invoke` of `m(args)` in the background; resolves to (status, body).
pub(crate) fn invoke(
    server: &TestServer,
    connection: &str,
    args: Value,
) -> JoinHandle<(u16, Value)> {
    let path = format!("/api/hubs/chat/connections/{connection}/:invoke?api-version=2024-12-01");
    let url = server.url(&path);
    let aud = format!("http://localhost{}", path.split('?').next().unwrap());
    tokio::spawn(async move {
        let response = reqwest::Client::new()
            .post(url)
            .bearer_auth(token(json!({"aud": aud, "exp": now() + 60})))
            .json(&json!({"target": "m", "arguments": args}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    })
}

pub(crate) async fn outcome(call: JoinHandle<(u16, Value)>) -> (u16, Value) {
    tokio::time::timeout(WAIT, call)
        .await
        .expect("the invoke answers in time")
        .unwrap()
}

/// Reads the server's invocation and returns its id after checking its arguments.
pub(crate) async fn invocation(client: &mut WsClient, args: Value) -> String {
    let message = client.next_non_ping().await;
    assert_eq!(message["type"], 1, "{message}");
    assert_eq!(message["target"], "m");
    assert_eq!(message["arguments"], args);
    message["invocationId"]
        .as_str()
        .expect("an invocation id")
        .to_owned()
}

pub(crate) async fn complete(client: &mut WsClient, completion: Value) {
    client.send_text(&format!("{completion}\x1e")).await;
}

/// An error text that already ends a sentence keeps its one full stop (it read `Boom..`).
#[tokio::test]
async fn a_client_error_ending_in_a_full_stop_gets_no_second_one() {
    let server = TestServer::start().await;
    let (mut client, id) = server.connect("chat", None).await;
    let call = invoke(&server, &id, json!([]));
    let invocation_id = invocation(&mut client, json!([])).await;
    complete(
        &mut client,
        json!({"type": 3, "invocationId": invocation_id, "error": "Boom."}),
    )
    .await;
    let (status, body) = outcome(call).await;
    assert_eq!(status, 502);
    let text = body["message"].as_str().unwrap();
    assert!(
        text.ends_with("the client answered with an error: Boom."),
        "{text}"
    );
    server.stop().await;
}

#[tokio::test]
async fn results_errors_and_void_completions() {
    let server = TestServer::start().await;
    let (mut client, id) = server.connect("chat", Some("alice")).await;

    let call = invoke(&server, &id, json!(["question"]));
    let invocation_id = invocation(&mut client, json!(["question"])).await;
    complete(
        &mut client,
        json!({"type": 3, "invocationId": invocation_id, "result": {"message": "Hello, World!"}}),
    )
    .await;
    assert_eq!(
        outcome(call).await,
        (200, json!({"result": {"message": "Hello, World!"}}))
    );

    let call = invoke(&server, &id, json!([]));
    let invocation_id = invocation(&mut client, json!([])).await;
    complete(
        &mut client,
        json!({"type": 3, "invocationId": invocation_id}),
    )
    .await;
    assert_eq!(outcome(call).await, (200, json!({"result": null})));

    let call = invoke(&server, &id, json!([1]));
    let invocation_id = invocation(&mut client, json!([1])).await;
    complete(
        &mut client,
        json!({"type": 3, "invocationId": invocation_id, "error": "handler threw"}),
    )
    .await;
    let (status, body) = outcome(call).await;
    assert_eq!(status, 502);
    assert_eq!(body["code"], "Error.Invocation.ClientError");
    assert!(
        body["message"].as_str().unwrap().contains("handler threw"),
        "{body}"
    );

    // Two calls at once each get their own answer, whatever the order of the answers.
    let first = invoke(&server, &id, json!(["a"]));
    let first_id = invocation(&mut client, json!(["a"])).await;
    let second = invoke(&server, &id, json!(["b"]));
    let second_id = invocation(&mut client, json!(["b"])).await;
    assert_ne!(first_id, second_id);
    complete(
        &mut client,
        json!({"type": 3, "invocationId": second_id, "result": "B"}),
    )
    .await;
    complete(
        &mut client,
        json!({"type": 3, "invocationId": first_id, "result": "A"}),
    )
    .await;
    assert_eq!(outcome(second).await, (200, json!({"result": "B"})));
    assert_eq!(outcome(first).await, (200, json!({"result": "A"})));
    server.stop().await;
}

#[tokio::test]
async fn unknown_connections_closes_and_bad_bodies() {
    let server = TestServer::start().await;
    // The body is checked before the connection is looked up.
    expect_bad_request(
        &server,
        "POST",
        "/api/hubs/chat/connections/ghost/:invoke",
        None,
        "body",
        "required",
    )
    .await;
    let response = server
        .rest(
            "POST",
            "/api/hubs/chat/connections/ghost/:invoke",
            message(json!([])),
        )
        .await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["x-ms-error-code"],
        "Error.Connection.NotExisted"
    );

    // The connection goes away before answering.
    let (mut client, id) = server.connect("chat", Some("alice")).await;
    let call = invoke(&server, &id, json!([]));
    invocation(&mut client, json!([])).await;
    drop(client);
    let (status, body) = outcome(call).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["code"], "Error.Invocation.NoAnswer");
    assert!(
        body["message"].as_str().unwrap().contains("closed"),
        "{body}"
    );
    server.stop().await;
}

#[tokio::test]
async fn no_answer_in_time_is_a_504() {
    let server = TestServer::with_config(Config {
        invoke_timeout: Duration::from_millis(300),
        ..Config::default()
    })
    .await;
    let (mut client, id) = server.connect("chat", Some("alice")).await;
    let call = invoke(&server, &id, json!([]));
    let invocation_id = invocation(&mut client, json!([])).await;
    let (status, body) = outcome(call).await;
    assert_eq!(status, 504);
    assert_eq!(body["code"], "Error.Invocation.Timeout");
    assert!(
        body["message"].as_str().unwrap().contains("0.3 s"),
        "{body}"
    );
    // A late answer is ignored and the connection stays healthy.
    complete(
        &mut client,
        json!({"type": 3, "invocationId": invocation_id, "result": 1}),
    )
    .await;
    client.expect_silence(SILENCE).await;
    let call = invoke(&server, &id, json!([2]));
    let invocation_id = invocation(&mut client, json!([2])).await;
    complete(
        &mut client,
        json!({"type": 3, "invocationId": invocation_id, "result": 2}),
    )
    .await;
    assert_eq!(outcome(call).await, (200, json!({"result": 2})));
    server.stop().await;
}
