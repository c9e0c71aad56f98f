//! Cluster-wide state: user-group memberships (with TTL) that apply to a user's connections
//! on every node, now and later; existence checks; removal from all groups; closing
//! connections held by another node.

use std::time::Duration;

use serde_json::json;

use super::eventually;
use super::sends::{invocation, only_message, send, two_nodes, until_visible};
use crate::common::TestServer;

async fn status(server: &TestServer, method: &str, path: &str) -> u16 {
    server.rest(method, path, None).await.status().as_u16()
}

#[tokio::test]
async fn user_groups_apply_on_every_node_now_and_later() {
    let (_redis, a, b) = two_nodes().await;
    let (mut first, id) = b.server.connect("chat", Some("bob")).await;
    until_visible(&a.server, &id).await;
    assert_eq!(
        status(&a.server, "HEAD", "/api/hubs/chat/users/bob").await,
        200
    );
    assert_eq!(
        status(&a.server, "HEAD", "/api/hubs/chat/users/nobody").await,
        404
    );

    assert_eq!(
        status(&a.server, "PUT", "/api/hubs/chat/users/bob/groups/g?ttl=60").await,
        200
    );
    assert_eq!(
        status(&b.server, "GET", "/api/hubs/chat/users/bob/groups/g").await,
        200
    );
    // Answered once bob's connection on B joined and B wrote that into Redis.
    assert_eq!(
        status(&a.server, "HEAD", "/api/hubs/chat/groups/g").await,
        200,
        "bob's connection on B joined the group"
    );
    send(
        &a.server,
        "/api/hubs/chat/groups/g/:send",
        "now",
        json!([1]),
    )
    .await;
    assert_eq!(
        only_message(&mut first).await,
        invocation("now", json!([1]))
    );

    // A later connection of bob, on either node, is in the group too.
    let (mut later, _) = a.server.connect("chat", Some("bob")).await;
    send(
        &b.server,
        "/api/hubs/chat/groups/g/:send",
        "later",
        json!([2]),
    )
    .await;
    assert_eq!(
        only_message(&mut later).await,
        invocation("later", json!([2]))
    );
    assert_eq!(
        only_message(&mut first).await,
        invocation("later", json!([2]))
    );

    assert_eq!(
        status(&b.server, "DELETE", "/api/hubs/chat/users/bob/groups").await,
        204
    );
    // Every node applied it, and wrote what it changed into Redis, before the 204.
    assert_eq!(
        status(&a.server, "HEAD", "/api/hubs/chat/groups/g").await,
        404,
        "bob's connections left the group on both nodes"
    );
    send(
        &a.server,
        "/api/hubs/chat/groups/g/:send",
        "gone",
        json!([3]),
    )
    .await;
    first.expect_silence(Duration::from_millis(300)).await;
    later.expect_silence(Duration::from_millis(100)).await;
    assert_eq!(
        status(&a.server, "GET", "/api/hubs/chat/users/bob/groups/g").await,
        404
    );
}

#[tokio::test]
async fn remove_from_all_groups_and_close_reach_the_holding_node() {
    let (_redis, a, b) = two_nodes().await;
    let (mut on_b, id) = b.server.connect("chat", Some("bob")).await;
    until_visible(&a.server, &id).await;
    for group in ["g1", "g2"] {
        let path = format!("/api/hubs/chat/groups/{group}/connections/{id}");
        assert_eq!(status(&a.server, "PUT", &path).await, 200);
    }
    let path = format!("/api/hubs/chat/connections/{id}/groups");
    assert_eq!(status(&a.server, "DELETE", &path).await, 200);
    send(
        &a.server,
        "/api/v1-preview/hub/chat/groups/g1,g2",
        "none",
        json!([]),
    )
    .await;
    on_b.expect_silence(Duration::from_millis(300)).await;

    let path = format!("/api/hubs/chat/connections/{id}?reason=moved");
    assert_eq!(status(&a.server, "DELETE", &path).await, 200);
    let seen = on_b.until_closed().await;
    let close = seen.iter().find(|m| m["type"] == 7).expect("a Close");
    assert_eq!(close["error"], "moved");
    let gone = eventually(Duration::from_secs(5), || async {
        status(
            &a.server,
            "HEAD",
            &format!("/api/hubs/chat/connections/{id}"),
        )
        .await
            == 404
    })
    .await;
    assert!(gone, "the closed connection is gone on A");
    let path = "/api/hubs/chat/connections/nobody";
    assert_eq!(status(&a.server, "DELETE", path).await, 404);
}

#[tokio::test]
async fn closing_a_users_and_a_hubs_connections_spans_nodes() {
    let (_redis, a, b) = two_nodes().await;
    let (mut bob, id) = b.server.connect("chat", Some("bob")).await;
    let (mut carol, _) = b.server.connect("chat", Some("carol")).await;
    until_visible(&a.server, &id).await;
    let path = "/api/hubs/chat/users/bob/:closeConnections";
    assert_eq!(status(&a.server, "POST", path).await, 204);
    assert!(bob.until_closed().await.iter().any(|m| m["type"] == 7));
    carol.expect_silence(Duration::from_millis(300)).await;
    assert_eq!(
        status(&a.server, "POST", "/api/hubs/chat/:closeConnections").await,
        204
    );
    assert!(carol.until_closed().await.iter().any(|m| m["type"] == 7));
}

#[tokio::test]
async fn a_user_group_change_holds_on_every_node_once_answered() {
    let (_redis, a, b) = two_nodes().await;
    let (mut bob, id) = b.server.connect("chat", Some("bob")).await;
    until_visible(&a.server, &id).await;
    // Each round adds bob to a new group on A, then sends to it at once on B, which holds
    // bob's connection: the 200 must come after B applied the change.
    for round in 0..20 {
        let path = format!("/api/hubs/chat/users/bob/groups/g{round}");
        assert_eq!(status(&a.server, "PUT", &path).await, 200);
        let path = format!("/api/hubs/chat/groups/g{round}/:send");
        send(&b.server, &path, "joined", json!([round])).await;
        assert_eq!(
            bob.next_non_ping().await,
            invocation("joined", json!([round])),
            "round {round}"
        );
        let path = format!("/api/hubs/chat/users/bob/groups/g{round}");
        assert_eq!(status(&a.server, "DELETE", &path).await, 204);
        let path = format!("/api/hubs/chat/groups/g{round}/:send");
        send(&b.server, &path, "left", json!([round])).await;
    }
    bob.expect_silence(Duration::from_millis(300)).await;
}
