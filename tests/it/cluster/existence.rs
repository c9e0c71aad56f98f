//! Existence checks on one node right after an acknowledged change on another: the change is
//! in Redis before the 200, so the other node's check never lags behind it, even while Redis
//! is slow to take writes.

use super::Redis;
use super::sends::two_nodes;
use crate::common::TestServer;

/// A connection of the test's own to Redis, to slow it down.
struct Controller(redis::aio::MultiplexedConnection);

impl Controller {
    async fn new(redis: &Redis) -> Self {
        let client = redis::Client::open(redis.url()).unwrap();
        Controller(client.get_multiplexed_async_connection().await.unwrap())
    }

    /// Holds back every write Redis receives for `ms` while reads go on, as a busy Redis
    /// would hold back the mirror's write while another node's existence check reads.
    async fn pause_writes(&mut self, ms: u64) {
        let mut pause = redis::cmd("CLIENT");
        pause.arg("PAUSE").arg(ms).arg("WRITE");
        let () = pause.query_async(&mut self.0).await.unwrap();
    }
}

async fn status(server: &TestServer, method: &str, path: &str) -> u16 {
    server.rest(method, path, None).await.status().as_u16()
}

#[tokio::test]
async fn a_group_change_is_seen_on_another_node_as_soon_as_it_is_answered() {
    let (redis, a, b) = two_nodes().await;
    let mut controller = Controller::new(&redis).await;
    let (_client, id) = a.server.connect("chat", Some("bob")).await;
    let member = format!("/api/hubs/chat/groups/g/connections/{id}");
    // No pause anywhere: each check comes right after the answer to the change.
    for round in 0..50 {
        // Made on the holder (A), then asked of A by B, in turns.
        let changer = if round % 2 == 0 { &a } else { &b };
        controller.pause_writes(50).await;
        assert_eq!(status(&changer.server, "PUT", &member).await, 200);
        assert_eq!(
            status(&b.server, "HEAD", "/api/hubs/chat/groups/g").await,
            200,
            "round {round}: the group exists on B once A's connection joined"
        );
        controller.pause_writes(50).await;
        assert_eq!(status(&changer.server, "DELETE", &member).await, 200);
        assert_eq!(
            status(&b.server, "HEAD", "/api/hubs/chat/groups/g").await,
            404,
            "round {round}: the group is gone on B once A's connection left"
        );
    }
}

#[tokio::test]
async fn a_user_group_change_is_seen_on_another_node_as_soon_as_it_is_answered() {
    let (_redis, a, b) = two_nodes().await;
    let (_client, _) = a.server.connect("chat", Some("bob")).await;
    for round in 0..20 {
        let path = "/api/hubs/chat/users/bob/groups/g";
        assert_eq!(status(&a.server, "PUT", path).await, 200);
        assert_eq!(
            status(&b.server, "HEAD", "/api/hubs/chat/groups/g").await,
            200,
            "round {round}: bob's connection on A is in the group, as B sees"
        );
        assert_eq!(status(&a.server, "DELETE", path).await, 204);
        assert_eq!(
            status(&b.server, "HEAD", "/api/hubs/chat/groups/g").await,
            404,
            "round {round}: bob's connection on A left the group, as B sees"
        );
    }
}

#[tokio::test]
async fn a_new_connection_is_seen_on_another_node_as_soon_as_it_is_connected() {
    let (_redis, a, b) = two_nodes().await;
    let mut clients = Vec::new();
    for round in 0..20 {
        let user = format!("user{round}");
        let (client, id) = a.server.connect("chat", Some(&user)).await;
        clients.push(client);
        let path = format!("/api/hubs/chat/connections/{id}");
        assert_eq!(status(&b.server, "HEAD", &path).await, 200, "round {round}");
        let path = format!("/api/hubs/chat/users/{user}");
        assert_eq!(status(&b.server, "HEAD", &path).await, 200, "round {round}");
    }
}
