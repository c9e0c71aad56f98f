//! User-group memberships live in Redis too: a node started after they were made applies
//! them (with their TTL, and not those removed before it started), and they survive a Redis
//! restart that lost everything.

use std::time::Duration;

use serde_json::json;

use super::restart::restart;
use super::sends::{invocation, only_message, send, until_visible};
use super::{Backend, Node, Redis, eventually};
use crate::common::TestServer;

async fn status(server: &TestServer, method: &str, path: &str) -> u16 {
    server.rest(method, path, None).await.status().as_u16()
}

async fn put(server: &TestServer, path: &str) {
    assert_eq!(status(server, "PUT", path).await, 200, "PUT {path}");
}

async fn delete(server: &TestServer, path: &str) {
    assert_eq!(status(server, "DELETE", path).await, 204, "DELETE {path}");
}

#[tokio::test]
async fn a_node_started_later_applies_the_memberships_made_before() {
    a_node_started_later_applies_the_memberships_made_before_on(&Redis::start().await).await;
}

/// Memberships made on A (one with a TTL, one removed, one user's removed all) before C
/// starts hold on C as they do on A, and end there when they end on A.
pub(super) async fn a_node_started_later_applies_the_memberships_made_before_on(
    redis: &impl Backend,
) {
    let a = Node::start(redis, &[]).await;
    put(&a.server, "/api/hubs/chat/users/bob/groups/g").await;
    put(&a.server, "/api/hubs/chat/users/bob/groups/short?ttl=10").await;
    put(&a.server, "/api/hubs/chat/users/bob/groups/removed").await;
    delete(&a.server, "/api/hubs/chat/users/bob/groups/removed").await;
    put(&a.server, "/api/hubs/chat/users/carol/groups/x").await;
    delete(&a.server, "/api/hubs/chat/users/carol/groups").await;

    let c = Node::start(redis, &[]).await;
    let (mut bob, id) = c.server.connect("chat", Some("bob")).await;
    until_visible(&a.server, &id).await;
    for (node, round) in [(&a, 1), (&c, 2)] {
        send(
            &node.server,
            "/api/hubs/chat/groups/g/:send",
            "g",
            json!([round]),
        )
        .await;
        assert_eq!(
            only_message(&mut bob).await,
            invocation("g", json!([round]))
        );
    }
    send(
        &a.server,
        "/api/hubs/chat/groups/short/:send",
        "short",
        json!([]),
    )
    .await;
    assert_eq!(only_message(&mut bob).await, invocation("short", json!([])));
    for path in ["users/bob/groups/removed", "users/carol/groups/x"] {
        let path = format!("/api/hubs/chat/{path}");
        assert_eq!(
            status(&c.server, "GET", &path).await,
            404,
            "{path} stays removed"
        );
    }
    send(
        &a.server,
        "/api/hubs/chat/groups/removed/:send",
        "removed",
        json!([]),
    )
    .await;
    bob.expect_silence(Duration::from_millis(300)).await;

    // The TTL holds on C as on A: both end the membership at the same moment.
    let ended = eventually(Duration::from_secs(15), || async {
        status(&c.server, "GET", "/api/hubs/chat/users/bob/groups/short").await == 404
    })
    .await;
    assert!(ended, "the 10 s membership ended on C");
    assert_eq!(
        status(&a.server, "GET", "/api/hubs/chat/users/bob/groups/short").await,
        404
    );
    send(
        &a.server,
        "/api/hubs/chat/groups/short/:send",
        "late",
        json!([]),
    )
    .await;
    bob.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn memberships_survive_a_redis_restart_that_lost_them() {
    memberships_survive_a_restart_that_lost_them_on(Redis::start().await).await;
}

/// Memberships made before Redis restarted empty (and not one removed before) hold on a
/// node started after the restart.
pub(super) async fn memberships_survive_a_restart_that_lost_them_on(redis: impl Backend) {
    let a = Node::start(&redis, &[]).await;
    let b = Node::start(&redis, &[]).await;
    put(&a.server, "/api/hubs/chat/users/bob/groups/g").await;
    put(&b.server, "/api/hubs/chat/users/bob/groups/removed").await;
    delete(&a.server, "/api/hubs/chat/users/bob/groups/removed").await;
    let redis = restart(redis, &[&a, &b]).await;

    let c = Node::start(&redis, &[]).await;
    let (mut bob, id) = c.server.connect("chat", Some("bob")).await;
    until_visible(&b.server, &id).await;
    send(&b.server, "/api/hubs/chat/groups/g/:send", "g", json!([1])).await;
    assert_eq!(only_message(&mut bob).await, invocation("g", json!([1])));
    send(
        &b.server,
        "/api/hubs/chat/groups/removed/:send",
        "removed",
        json!([]),
    )
    .await;
    bob.expect_silence(Duration::from_millis(300)).await;
    assert_eq!(
        status(&c.server, "GET", "/api/hubs/chat/users/bob/groups/removed").await,
        404
    );
}
