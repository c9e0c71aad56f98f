//! Default mode across nodes, the app server's side: what an app server on node A sends
//! (fan-out, group and user-group changes, existence checks, member pages, closes) reaches the
//! clients and app servers of node B too, once each, and its Acks say what the whole cluster
//! did, and a client's result reaches an app server on another node; with Redis gone, its own node's clients still get its sends and the Acks say why the
//! rest failed.

use std::time::Duration;

use serde_json::Value;
use signalr_emulator::protocol::service::{
    AckStatus, BroadcastData, CheckConnectionExistenceWithAck, CheckGroupExistenceWithAck,
    CheckUserExistenceWithAck, CheckUserInGroupWithAck, CloseConnectionWithAck, Extensions,
    GroupBroadcastData, GroupMemberQuery, GroupMemberQueryResponse, JoinGroupWithAck,
    LeaveGroupWithAck, MultiConnectionData, MultiGroupBroadcastData, MultiUserData, ServiceMessage,
    UserData, UserJoinGroupWithAck,
};

use super::{Backend, Node, Redis, eventually};
use crate::app_server::{AppServer, payloads, relayed};
use crate::common::{TestServer, WsClient};
use crate::default_mode::client_invocations_are_routed_between;

const HUB: &str = "chat";
const SHORT: Duration = Duration::from_millis(300);

fn ext() -> Extensions {
    Extensions::default()
}

/// Two default-mode nodes on `redis`, each with an app server of the hub.
async fn two_nodes_with_app_servers(redis: &impl Backend) -> ([Node; 2], AppServer, AppServer) {
    let [a, b] = Node::default_mode_pair(redis).await;
    let app_a = AppServer::connect(&a.server, HUB, "server-on-a").await;
    let app_b = AppServer::connect(&b.server, HUB, "server-on-b").await;
    ([a, b], app_a, app_b)
}

/// The argument of the next invocation `client` gets, which must be of `target`.
async fn received(client: &mut WsClient, target: &str) -> Value {
    let message = client.next_non_ping().await;
    assert_eq!(message["type"], 1, "{message}");
    assert_eq!(message["target"], target, "{message}");
    message["arguments"][0].clone()
}

async fn join(app: &mut AppServer, connection: &str, group: &str, ack_id: i32) -> AckStatus {
    let join = JoinGroupWithAck {
        connection_id: connection.to_owned(),
        group: group.to_owned(),
        ack_id,
        ext: ext(),
    };
    app.acked(ServiceMessage::JoinGroupWithAck(join), ack_id)
        .await
}

/// One page of the group's members, as `(connection id, user id)`, and the continuation token.
async fn members(
    app: &mut AppServer,
    group: &str,
    max: i32,
    token: Option<String>,
    ack_id: i32,
) -> (Vec<(String, Option<String>)>, Option<String>) {
    let query = GroupMemberQuery {
        ext: ext(),
        group: group.to_owned(),
        ack_id,
        max,
        continuation_token: token,
    };
    app.send(&ServiceMessage::GroupMemberQuery(query)).await;
    let ack = app.ack(ack_id).await;
    assert_eq!(ack.status, AckStatus::Ok, "{ack:?}");
    let page = GroupMemberQueryResponse::parse(&ack.payload.expect("a page")).unwrap();
    let members = page
        .members
        .into_iter()
        .map(|m| (m.connection_id, m.user_id))
        .collect();
    (members, page.continuation_token)
}

#[tokio::test]
async fn fan_out_from_an_app_server_reaches_the_clients_of_every_node_once() {
    fan_out_from_an_app_server_reaches_every_node_once_on(&Redis::start().await).await;
}

/// Every fan-out message of an app server on A reaches the clients of A and B it names,
/// once, after group and user-group changes made from A for connections on both nodes.
pub(super) async fn fan_out_from_an_app_server_reaches_every_node_once_on(redis: &impl Backend) {
    let ([a, b], mut app_a, mut app_b) = two_nodes_with_app_servers(redis).await;
    let (mut x, x_id) = relayed(&a.server, &mut app_a, HUB, Some("ux")).await;
    let (mut y, y_id) = relayed(&b.server, &mut app_b, HUB, Some("uy")).await;
    let (mut z, z_id) = relayed(&b.server, &mut app_b, HUB, Some("uz")).await;

    // A's app server puts B's connection y into g1, and its own x; an unknown one is not found.
    assert_eq!(join(&mut app_a, &y_id, "g1", 1).await, AckStatus::Ok);
    assert_eq!(join(&mut app_a, &x_id, "g1", 2).await, AckStatus::Ok);
    assert_eq!(
        join(&mut app_a, "nobody", "g1", 3).await,
        AckStatus::NotFound
    );

    app_a
        .send(&ServiceMessage::BroadcastData(BroadcastData {
            excluded: vec![z_id.clone()],
            payloads: payloads("all", "1"),
            ext: ext(),
        }))
        .await;
    assert_eq!(received(&mut x, "all").await, "1");
    assert_eq!(received(&mut y, "all").await, "1");
    app_a
        .send(&ServiceMessage::GroupBroadcastData(GroupBroadcastData {
            group: "g1".into(),
            excluded: vec![],
            payloads: payloads("group", "2"),
            ext: ext(),
            excluded_users: vec!["ux".into()],
            caller_user_id: None,
        }))
        .await;
    assert_eq!(received(&mut y, "group").await, "2");
    app_a
        .send(&ServiceMessage::UserData(UserData {
            user_id: "uz".into(),
            payloads: payloads("user", "3"),
            ext: ext(),
        }))
        .await;
    assert_eq!(received(&mut z, "user").await, "3");
    app_a
        .send(&ServiceMessage::MultiUserData(MultiUserData {
            user_ids: vec!["uy".into(), "uz".into(), "uy".into()],
            payloads: payloads("users", "4"),
            ext: ext(),
        }))
        .await;
    assert_eq!(received(&mut y, "users").await, "4");
    assert_eq!(received(&mut z, "users").await, "4");
    app_a
        .send(&ServiceMessage::MultiConnectionData(MultiConnectionData {
            connection_ids: vec![y_id.clone(), x_id.clone(), y_id.clone()],
            payloads: payloads("some", "5"),
            ext: ext(),
        }))
        .await;
    assert_eq!(received(&mut x, "some").await, "5");
    assert_eq!(received(&mut y, "some").await, "5");

    // A user-group change on A holds for the user's connection on B at once.
    let user_join = UserJoinGroupWithAck {
        user_id: "uz".into(),
        group: "g2".into(),
        ack_id: 4,
        ext: ext(),
    };
    let status = app_a
        .acked(ServiceMessage::UserJoinGroupWithAck(user_join), 4)
        .await;
    assert_eq!(status, AckStatus::Ok);
    app_a
        .send(&ServiceMessage::MultiGroupBroadcastData(
            MultiGroupBroadcastData {
                groups: vec!["g1".into(), "g2".into()],
                payloads: payloads("groups", "6"),
                ext: ext(),
            },
        ))
        .await;
    // One copy each, however many of its groups were named.
    for client in [&mut x, &mut y, &mut z] {
        assert_eq!(received(client, "groups").await, "6");
    }

    // B's app server reaches A's client the same way.
    app_b
        .send(&ServiceMessage::BroadcastData(BroadcastData {
            excluded: vec![],
            payloads: payloads("from-b", "7"),
            ext: ext(),
        }))
        .await;
    for client in [&mut x, &mut y, &mut z] {
        assert_eq!(received(client, "from-b").await, "7");
        client.expect_silence(SHORT).await;
    }
    a.terminate().await;
    b.terminate().await;
}

#[tokio::test]
async fn checks_pages_leaves_and_closes_from_an_app_server_see_every_node() {
    let redis = Redis::start().await;
    let ([a, b], mut app_a, mut app_b) = two_nodes_with_app_servers(&redis).await;
    let (mut x, x_id) = relayed(&a.server, &mut app_a, HUB, Some("ux")).await;
    let (mut y, y_id) = relayed(&b.server, &mut app_b, HUB, Some("uy")).await;
    assert_eq!(join(&mut app_a, &y_id, "only-b", 1).await, AckStatus::Ok);
    assert_eq!(join(&mut app_a, &x_id, "both", 2).await, AckStatus::Ok);
    assert_eq!(join(&mut app_a, &y_id, "both", 3).await, AckStatus::Ok);

    let checks = [
        (
            ServiceMessage::CheckConnectionExistenceWithAck(CheckConnectionExistenceWithAck {
                connection_id: y_id.clone(),
                ack_id: 10,
                ext: ext(),
            }),
            AckStatus::Ok,
        ),
        (
            ServiceMessage::CheckConnectionExistenceWithAck(CheckConnectionExistenceWithAck {
                connection_id: "nobody".into(),
                ack_id: 10,
                ext: ext(),
            }),
            AckStatus::NotFound,
        ),
        (
            ServiceMessage::CheckGroupExistenceWithAck(CheckGroupExistenceWithAck {
                group: "only-b".into(),
                ack_id: 10,
                ext: ext(),
            }),
            AckStatus::Ok,
        ),
        (
            ServiceMessage::CheckGroupExistenceWithAck(CheckGroupExistenceWithAck {
                group: "empty".into(),
                ack_id: 10,
                ext: ext(),
            }),
            AckStatus::NotFound,
        ),
        (
            ServiceMessage::CheckUserExistenceWithAck(CheckUserExistenceWithAck {
                user_id: "uy".into(),
                ack_id: 10,
                ext: ext(),
            }),
            AckStatus::Ok,
        ),
        (
            ServiceMessage::CheckUserInGroupWithAck(CheckUserInGroupWithAck {
                user_id: "uy".into(),
                group: "only-b".into(),
                ack_id: 10,
                ext: ext(),
            }),
            AckStatus::Ok,
        ),
        (
            ServiceMessage::CheckUserInGroupWithAck(CheckUserInGroupWithAck {
                user_id: "ux".into(),
                group: "only-b".into(),
                ack_id: 10,
                ext: ext(),
            }),
            AckStatus::NotFound,
        ),
    ];
    for (check, expected) in checks {
        let asked = format!("{check:?}");
        assert_eq!(app_a.acked(check, 10).await, expected, "{asked}");
    }

    // Pages of one member hold the members of both nodes in id order, and the token of one
    // page leads to the next.
    let (first, token) = members(&mut app_a, "both", 1, None, 20).await;
    let (second, end) = members(&mut app_a, "both", 1, token, 21).await;
    assert_eq!(end, None, "two members fill two pages");
    let mut expected = vec![
        (x_id.clone(), Some("ux".to_owned())),
        (y_id.clone(), Some("uy".to_owned())),
    ];
    expected.sort();
    assert_eq!([first, second].concat(), expected);

    // Leaving on A takes B's connection out of the group everywhere.
    let leave = LeaveGroupWithAck {
        connection_id: y_id.clone(),
        group: Some("both".into()),
        ack_id: 30,
        ext: ext(),
    };
    let status = app_a
        .acked(ServiceMessage::LeaveGroupWithAck(leave), 30)
        .await;
    assert_eq!(status, AckStatus::Ok);
    app_a
        .send(&ServiceMessage::GroupBroadcastData(GroupBroadcastData {
            group: "both".into(),
            excluded: vec![],
            payloads: payloads("group", "after-leave"),
            ext: ext(),
            excluded_users: vec![],
            caller_user_id: None,
        }))
        .await;
    assert_eq!(received(&mut x, "group").await, "after-leave");
    y.expect_silence(SHORT).await;

    // A closes B's client.
    let close = CloseConnectionWithAck {
        connection_id: y_id.clone(),
        reason: Some("closed from A".into()),
        ack_id: 40,
        ext: ext(),
    };
    let status = app_a
        .acked(ServiceMessage::CloseConnectionWithAck(close), 40)
        .await;
    assert_eq!(status, AckStatus::Ok);
    let seen = y.until_closed().await;
    let closing = seen.last().expect("a Close");
    assert_eq!(closing["type"], 7, "{seen:?}");
    assert_eq!(closing["error"], "closed from A", "{seen:?}");
    a.terminate().await;
    b.terminate().await;
}

#[tokio::test]
async fn numbered_broadcasts_of_two_app_servers_reach_each_client_once_in_order() {
    const COUNT: usize = 200;
    let redis = Redis::start().await;
    let ([a, b], mut app_a, mut app_b) = two_nodes_with_app_servers(&redis).await;
    let (mut x, _) = relayed(&a.server, &mut app_a, HUB, None).await;
    let (mut y, _) = relayed(&b.server, &mut app_b, HUB, None).await;
    for n in 0..COUNT {
        let (app, target) = if n % 2 == 0 {
            (&mut app_a, "from-a")
        } else {
            (&mut app_b, "from-b")
        };
        app.send(&ServiceMessage::BroadcastData(BroadcastData {
            excluded: vec![],
            payloads: payloads(target, &n.to_string()),
            ext: ext(),
        }))
        .await;
    }
    for client in [&mut x, &mut y] {
        let mut next = [0usize, 1usize];
        for _ in 0..COUNT {
            let message = client.next_non_ping().await;
            let sender = usize::from(message["target"] == "from-b");
            let n: usize = message["arguments"][0].as_str().unwrap().parse().unwrap();
            assert_eq!(n, next[sender], "each sender's broadcasts, in order, once");
            next[sender] += 2;
        }
        client.expect_silence(SHORT).await;
    }
    a.terminate().await;
    b.terminate().await;
}

#[tokio::test]
async fn a_client_result_crosses_nodes_through_the_owner_app_server() {
    let redis = Redis::start().await;
    let [a, b] = Node::default_mode_pair(&redis).await;
    // The client and its owner on B, the caller on A.
    client_invocations_are_routed_between(&b.server, &a.server).await;
    a.terminate().await;
    b.terminate().await;
}

/// `node`'s counter of app-server sends that did not reach the other nodes.
async fn failed_sends(node: &TestServer) -> u64 {
    let metrics = node.metrics().await;
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("signalr_cluster_app_server_sends_failed_total "))
        .and_then(|value| value.trim().parse().ok())
        .expect("the counter is on /metrics")
}

#[tokio::test]
async fn without_redis_an_app_server_still_reaches_its_node_and_acks_say_why_the_rest_failed() {
    let mut redis = Redis::start().await;
    let ([a, b], mut app_a, mut app_b) = two_nodes_with_app_servers(&redis).await;
    let (mut x, _) = relayed(&a.server, &mut app_a, HUB, None).await;
    let (_y, y_id) = relayed(&b.server, &mut app_b, HUB, None).await;
    redis.outage().await;
    a.wait_healthy(false).await;

    app_a
        .send(&ServiceMessage::BroadcastData(BroadcastData {
            excluded: vec![],
            payloads: payloads("down", "1"),
            ext: ext(),
        }))
        .await;
    assert_eq!(received(&mut x, "down").await, "1");
    assert_eq!(failed_sends(&a.server).await, 1);
    let ack = {
        let join = JoinGroupWithAck {
            connection_id: y_id.clone(),
            group: "g".into(),
            ack_id: 7,
            ext: ext(),
        };
        app_a.send(&ServiceMessage::JoinGroupWithAck(join)).await;
        app_a.ack(7).await
    };
    assert_eq!(ack.status, AckStatus::InternalServerError, "{ack:?}");
    assert!(ack.message.contains("Redis"), "{ack:?}");

    redis.recover().await;
    a.wait_healthy(true).await;
    b.wait_healthy(true).await;
    // Healthy means its lease and subscription are back; B's resync writes y back after.
    let back = eventually(Duration::from_secs(10), || async {
        a.server.connection_exists(HUB, &y_id).await
    })
    .await;
    assert!(back, "B's connection is visible from A after the resync");
    assert_eq!(join(&mut app_a, &y_id, "g", 8).await, AckStatus::Ok);
    a.terminate().await;
    b.terminate().await;
}
