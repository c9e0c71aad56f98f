//! Stream `:send` and `:complete` on a node that does not hold the streaming connection: the
//! node that does pushes the item or the Completion, and its 202/404 comes back.

use serde_json::json;

use super::sends::until_visible;
use super::{Node, Redis};
use crate::streams::{accepting_upstream, post, send_once_open, streaming_client};

#[tokio::test]
async fn items_and_completion_reach_a_stream_held_by_another_node() {
    let redis = Redis::start().await;
    let upstream = accepting_upstream().await;
    let a = Node::start(&redis, &[]).await;
    let b = Node::start(&redis, &["--upstream", &upstream]).await;
    let (mut client, id) = streaming_client(&b.server, "7").await;
    until_visible(&a.server, &id).await;

    let base = format!("/api/hubs/chat/connections/{id}/streams/7");
    send_once_open(&a.server, &base, json!({"n": 1})).await;
    assert_eq!(
        client.next_non_ping().await,
        json!({"type": 2, "invocationId": "7", "item": {"n": 1}})
    );
    let (status, _) = post(&a.server, &format!("{base}/:complete?reason=late"), None).await;
    assert_eq!(status, 202);
    assert_eq!(
        client.next_non_ping().await,
        json!({"type": 3, "invocationId": "7", "error": "late"})
    );

    let (status, body) = post(&a.server, &format!("{base}/:send"), Some(json!(2))).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "Error.Stream.NotExisted");
    let path = "/api/hubs/chat/connections/nobody/streams/7/:complete";
    let (status, body) = post(&a.server, path, None).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "Error.Connection.NotExisted");
}
