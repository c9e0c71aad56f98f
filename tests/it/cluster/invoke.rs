//! `:invoke` on a connection another node holds: the invocation reaches the client there and
//! its answer (result or error) comes back to the caller.

use serde_json::json;

use super::sends::{two_nodes, until_visible};
use crate::rest_invoke::{complete, invocation, invoke, outcome};

#[tokio::test]
async fn invoke_reaches_a_connection_on_another_node_and_answers() {
    let (_redis, a, b) = two_nodes().await;
    let (mut on_b, id) = b.server.connect("chat", None).await;
    until_visible(&a.server, &id).await;

    let call = invoke(&a.server, &id, json!([1, "x"]));
    let invocation_id = invocation(&mut on_b, json!([1, "x"])).await;
    let answer = json!({"type": 3, "invocationId": invocation_id, "result": {"ok": true}});
    complete(&mut on_b, answer).await;
    assert_eq!(outcome(call).await, (200, json!({"result": {"ok": true}})));

    let call = invoke(&a.server, &id, json!([]));
    let invocation_id = invocation(&mut on_b, json!([])).await;
    let answer = json!({"type": 3, "invocationId": invocation_id, "error": "Boom"});
    complete(&mut on_b, answer).await;
    let (status, body) = outcome(call).await;
    assert_eq!(status, 502, "{body}");
    assert!(body["message"].as_str().unwrap().contains("Boom"), "{body}");

    assert_eq!(outcome(invoke(&a.server, "nobody", json!([]))).await.0, 404);
}
