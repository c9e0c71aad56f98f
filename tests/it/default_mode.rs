//! Default mode against the real server: app servers on `/server` (the peer in
//! `app_server.rs`), clients relayed to them, and everything an app server or the Management
//! SDK sends reaching exactly the right clients.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use signalr_emulator::Config;
use signalr_emulator::config::ServiceMode;
use signalr_emulator::protocol::service::*;

use crate::app_server::{AppServer, dial, handshake, payloads, relayed};
use crate::common::{TestServer, WaitUntil, WsClient, client_token, now, token};

const HUB: &str = "chat";
const SHORT: Duration = Duration::from_millis(300);

async fn server_in(mode: ServiceMode) -> TestServer {
    TestServer::with_config(Config {
        service_mode: mode,
        ..Config::default()
    })
    .await
}

/// The argument of the next invocation the client gets.
async fn received(client: &mut WsClient, target: &str) -> Value {
    let message = client.next_non_ping().await;
    assert_eq!(message["type"], 1, "{message}");
    assert_eq!(message["target"], target, "{message}");
    message["arguments"][0].clone()
}

fn ext() -> Extensions {
    Extensions::default()
}

#[tokio::test]
async fn server_tokens_are_checked_with_precise_reasons() {
    let server = TestServer::start().await;
    let missing = dial(&server, HUB, "s1", None).await.unwrap_err();
    let wrong_audience =
        token(json!({"aud": "http://localhost/client/?hub=chat", "exp": now() + 60}));
    let wrong = dial(&server, HUB, "s1", Some(&wrong_audience))
        .await
        .unwrap_err();
    for (error, text) in [
        (missing, "No access token was sent"),
        (
            wrong,
            "The token audience path '/client/?hub=chat' does not match the requested '/server/?hub=chat'",
        ),
    ] {
        let tokio_tungstenite::tungstenite::Error::Http(response) = error else {
            panic!("expected an HTTP refusal, got {error:?}");
        };
        assert_eq!(response.status(), 401);
        let body = String::from_utf8(response.body().clone().unwrap_or_default()).unwrap();
        assert!(body.contains(text), "{body}");
    }
    // The port and scheme of the audience do not matter.
    let with_port =
        token(json!({"aud": "https://localhost:8888/server/?hub=Chat", "exp": now() + 60}));
    assert!(dial(&server, HUB, "s1", Some(&with_port)).await.is_ok());
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_protocol_version_gets_a_handshake_error_then_a_close() {
    let server = TestServer::start().await;
    let mut app = AppServer::open(&server, HUB, "s1").await;
    let ServiceMessage::HandshakeRequest(mut request) = handshake(ServerConnectionType::Default)
    else {
        unreachable!()
    };
    request.version = 2;
    app.send(&ServiceMessage::HandshakeRequest(request)).await;
    match app.recv().await {
        ServiceMessage::HandshakeResponse(response) => {
            let error = response.error_message.unwrap();
            assert!(error.contains("version 2 is not supported"), "{error}");
        }
        other => panic!("expected a HandshakeResponse, got {other:?}"),
    }
    assert!(app.try_recv().await.is_none(), "then the connection closes");
    server.stop().await;
}

#[tokio::test]
async fn a_silent_peer_is_dropped_after_the_handshake_timeout() {
    let server = TestServer::with_config(Config {
        handshake_timeout: Duration::from_secs(1),
        ..Config::default()
    })
    .await;
    let mut app = AppServer::open(&server, HUB, "s1").await;
    match app.recv().await {
        ServiceMessage::HandshakeResponse(response) => {
            assert!(
                response
                    .error_message
                    .unwrap()
                    .contains("handshake timeout")
            );
        }
        other => panic!("expected a HandshakeResponse, got {other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_service_error_naming_it() {
    let server = TestServer::start().await;
    let mut app = AppServer::connect(&server, HUB, "s1").await;
    // A frame whose body is not a MessagePack array.
    app.send_bytes(Bytes::from_static(b"\x01\xc0")).await;
    match app.recv().await {
        ServiceMessage::ServiceError(error) => {
            assert!(error.error_message.contains("Invalid"), "{error:?}");
        }
        other => panic!("expected a ServiceError, got {other:?}"),
    }
    assert!(app.try_recv().await.is_none());
    // Other app servers are not affected.
    let mut other = AppServer::connect(&server, HUB, "s2").await;
    let ping = ServiceMessage::Ping(Ping {
        messages: vec!["echo".into(), "still here".into()],
    });
    other.send(&ping).await;
    assert_eq!(other.recv().await, ping);
    server.stop().await;
}

#[tokio::test]
async fn pings_are_answered_as_the_sdk_expects() {
    let server = TestServer::start().await;
    let mut app = AppServer::connect(&server, HUB, "s1").await;
    let ping = |messages: &[&str]| {
        ServiceMessage::Ping(Ping {
            messages: messages.iter().map(|m| (*m).to_owned()).collect(),
        })
    };
    app.send(&ping(&["status", "1"])).await;
    assert_eq!(app.recv().await, ping(&["status", "0"]));
    app.send(&ping(&["#clientInHub", "0", "#client", "0"]))
        .await;
    app.send(&ping(&["servers", ""])).await;
    let ServiceMessage::Ping(servers) = app.recv().await else {
        panic!("expected a servers ping");
    };
    assert_eq!(servers.messages[0], "servers");
    assert!(servers.messages[1].ends_with(":s1"), "{servers:?}");
    app.send(&ping(&["shutdown", "fin:0"])).await;
    assert_eq!(app.recv().await, ping(&["shutdown", "finack"]));
    server.stop().await;
}

#[tokio::test]
async fn the_service_pings_app_servers_every_few_seconds() {
    let server = TestServer::with_config(Config {
        server_ping_interval: Duration::from_millis(200),
        ..Config::default()
    })
    .await;
    let mut app = AppServer::connect(&server, HUB, "s1").await;
    assert!(app.bare_pings(Duration::from_millis(1100)).await >= 3);
    server.stop().await;
}

#[tokio::test]
async fn a_relayed_client_is_opened_with_its_claims_headers_query_and_protocol() {
    let server = TestServer::start().await;
    let mut app = AppServer::connect(&server, HUB, "s1").await;
    let (id, token) = server.negotiate(HUB, Some("alice")).await;
    let mut client = server
        .open_with_token(HUB, &token, &client_token(HUB, Some("alice")))
        .await;
    client
        .send_text("{\"protocol\":\"json\",\"version\":1}\x1e")
        .await;
    let ServiceMessage::OpenConnection(open) = app.recv().await else {
        panic!("expected OpenConnection");
    };
    assert_eq!(open.connection_id, id);
    assert_eq!(open.ext.protocol.as_deref(), Some("json"));
    assert!(open.query_string.starts_with('?'), "{}", open.query_string);
    assert!(
        open.query_string.contains("hub=chat"),
        "{}",
        open.query_string
    );
    assert!(
        open.claims.contains(&("asrs.s.uid".into(), "alice".into())),
        "{:?}",
        open.claims
    );
    assert!(open.claims.contains(&("nameid".into(), "alice".into())));
    assert!(!open.claims.iter().any(|(k, _)| k == "aud" || k == "exp"));
    assert!(
        open.headers.iter().any(|(name, _)| name == "host"),
        "{:?}",
        open.headers
    );
    assert!(!open.headers.iter().any(|(name, _)| name == "authorization"));
    let ServiceMessage::ConnectionData(data) = app.recv().await else {
        panic!("expected the handshake");
    };
    assert_eq!(
        &data.payload[..],
        b"{\"protocol\":\"json\",\"version\":1}\x1e"
    );
    // The service does not answer the handshake itself: the hub does.
    client.expect_silence(SHORT).await;
    app.send_to_client(&id, b"{}\x1e").await;
    assert_eq!(client.next_message().await, json!({}));
    server.stop().await;
}

#[tokio::test]
async fn bytes_are_relayed_both_ways_and_closes_go_both_ways() {
    let server = TestServer::start().await;
    let mut app = AppServer::connect(&server, HUB, "s1").await;
    let (mut client, id) = relayed(&server, &mut app, HUB, None).await;
    let invocation =
        "{\"type\":1,\"invocationId\":\"1\",\"target\":\"echo\",\"arguments\":[\"hi\"]}\x1e";
    client.send_text(invocation).await;
    match app.recv().await {
        ServiceMessage::ConnectionData(data) => {
            assert_eq!(data.connection_id, id);
            assert_eq!(&data.payload[..], invocation.as_bytes());
        }
        other => panic!("expected ConnectionData, got {other:?}"),
    }
    app.send_to_client(
        &id,
        b"{\"type\":3,\"invocationId\":\"1\",\"result\":\"hi\"}\x1e",
    )
    .await;
    assert_eq!(
        client.next_message().await,
        json!({"type": 3, "invocationId": "1", "result": "hi"})
    );
    // The hub ends the connection: its Close frame, then CloseConnection.
    app.send_to_client(&id, b"{\"type\":7,\"error\":\"bye\"}\x1e")
        .await;
    app.send(&ServiceMessage::CloseConnection(CloseConnection {
        connection_id: id.clone(),
        error_message: String::new(),
        headers: Vec::new(),
        ext: ext(),
    }))
    .await;
    assert_eq!(
        client.until_closed().await,
        [json!({"type": 7, "error": "bye"})]
    );

    // A client that leaves is reported with CloseConnection.
    let (client, id) = relayed(&server, &mut app, HUB, None).await;
    drop(client);
    match app.recv().await {
        ServiceMessage::CloseConnection(close) => assert_eq!(close.connection_id, id),
        other => panic!("expected CloseConnection, got {other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn fan_out_reaches_exactly_the_addressed_clients() {
    let server = TestServer::start().await;
    let mut app = AppServer::connect(&server, HUB, "s1").await;
    let (mut a, a_id) = relayed(&server, &mut app, HUB, Some("ua")).await;
    let (mut b, b_id) = relayed(&server, &mut app, HUB, Some("ub")).await;
    let (mut c, c_id) = relayed(&server, &mut app, HUB, Some("uc")).await;
    for (id, group) in [(&a_id, "g1"), (&b_id, "g1"), (&b_id, "g2"), (&c_id, "g2")] {
        let join = JoinGroupWithAck {
            connection_id: id.clone(),
            group: group.into(),
            ack_id: 1,
            ext: ext(),
        };
        assert_eq!(
            app.acked(ServiceMessage::JoinGroupWithAck(join), 1).await,
            AckStatus::Ok
        );
    }
    app.send(&ServiceMessage::BroadcastData(BroadcastData {
        excluded: vec![b_id.clone()],
        payloads: payloads("all", "1"),
        ext: ext(),
    }))
    .await;
    assert_eq!(received(&mut a, "all").await, "1");
    assert_eq!(received(&mut c, "all").await, "1");
    app.send(&ServiceMessage::MultiConnectionData(MultiConnectionData {
        connection_ids: vec![b_id.clone(), c_id.clone(), b_id.clone()],
        payloads: payloads("some", "2"),
        ext: ext(),
    }))
    .await;
    app.send(&ServiceMessage::UserData(UserData {
        user_id: "ua".into(),
        payloads: payloads("user", "3"),
        ext: ext(),
    }))
    .await;
    app.send(&ServiceMessage::MultiUserData(MultiUserData {
        user_ids: vec!["ub".into(), "uc".into()],
        payloads: payloads("users", "4"),
        ext: ext(),
    }))
    .await;
    app.send(&ServiceMessage::GroupBroadcastData(GroupBroadcastData {
        group: "g2".into(),
        excluded: vec![],
        payloads: payloads("group", "5"),
        ext: ext(),
        excluded_users: vec!["uc".into()],
        caller_user_id: None,
    }))
    .await;
    app.send(&ServiceMessage::MultiGroupBroadcastData(
        MultiGroupBroadcastData {
            groups: vec!["g1".into(), "g2".into()],
            payloads: payloads("groups", "6"),
            ext: ext(),
        },
    ))
    .await;
    assert_eq!(received(&mut b, "some").await, "2");
    assert_eq!(received(&mut c, "some").await, "2");
    assert_eq!(received(&mut a, "user").await, "3");
    assert_eq!(received(&mut b, "users").await, "4");
    assert_eq!(received(&mut c, "users").await, "4");
    assert_eq!(received(&mut b, "group").await, "5");
    // One copy each, however many of its groups were named.
    for client in [&mut a, &mut b, &mut c] {
        assert_eq!(received(client, "groups").await, "6");
        client.expect_silence(SHORT).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn group_and_user_changes_are_acked_after_they_took_effect() {
    let server = TestServer::start().await;
    let mut app = AppServer::connect(&server, HUB, "s1").await;
    let (_a, a_id) = relayed(&server, &mut app, HUB, Some("ua")).await;
    let check_group = |group: &str, ack_id| {
        ServiceMessage::CheckGroupExistenceWithAck(CheckGroupExistenceWithAck {
            group: group.into(),
            ack_id,
            ext: ext(),
        })
    };
    let join = ServiceMessage::JoinGroupWithAck(JoinGroupWithAck {
        connection_id: a_id.clone(),
        group: "g".into(),
        ack_id: 1,
        ext: ext(),
    });
    assert_eq!(app.acked(join, 1).await, AckStatus::Ok);
    assert_eq!(app.acked(check_group("g", 2), 2).await, AckStatus::Ok);
    // REST sees what the app server did, and the app server what REST did.
    let rest = server.rest("GET", "/api/v1/hubs/chat/groups/g", None).await;
    assert_eq!(rest.status(), 200);
    let rest = server
        .rest(
            "PUT",
            &format!("/api/v1/hubs/chat/groups/rest/connections/{a_id}"),
            None,
        )
        .await;
    assert_eq!(rest.status(), 200);
    assert_eq!(app.acked(check_group("rest", 3), 3).await, AckStatus::Ok);
    let ghost = ServiceMessage::JoinGroupWithAck(JoinGroupWithAck {
        connection_id: "ghost".into(),
        group: "g".into(),
        ack_id: 4,
        ext: ext(),
    });
    assert_eq!(app.acked(ghost, 4).await, AckStatus::NotFound);
    let leave_all = ServiceMessage::LeaveGroupWithAck(LeaveGroupWithAck {
        connection_id: a_id.clone(),
        group: None,
        ack_id: 5,
        ext: ext(),
    });
    assert_eq!(app.acked(leave_all, 5).await, AckStatus::Ok);
    assert_eq!(app.acked(check_group("g", 6), 6).await, AckStatus::NotFound);
    assert_eq!(
        app.acked(check_group("rest", 7), 7).await,
        AckStatus::NotFound
    );

    let connection =
        ServiceMessage::CheckConnectionExistenceWithAck(CheckConnectionExistenceWithAck {
            connection_id: a_id.clone(),
            ack_id: 8,
            ext: ext(),
        });
    assert_eq!(app.acked(connection, 8).await, AckStatus::Ok);
    let user = ServiceMessage::CheckUserExistenceWithAck(CheckUserExistenceWithAck {
        user_id: "ua".into(),
        ack_id: 9,
        ext: ext(),
    });
    assert_eq!(app.acked(user, 9).await, AckStatus::Ok);
    let nobody = ServiceMessage::CheckUserExistenceWithAck(CheckUserExistenceWithAck {
        user_id: "nobody".into(),
        ack_id: 10,
        ext: ext(),
    });
    assert_eq!(app.acked(nobody, 10).await, AckStatus::NotFound);
    server.stop().await;
}

#[tokio::test]
async fn user_groups_honour_ttl_and_nil_means_every_group() {
    let server = TestServer::start().await;
    let mut app = AppServer::connect(&server, HUB, "s1").await;
    let (_a, _) = relayed(&server, &mut app, HUB, Some("ua")).await;
    let user_join = |group: &str, ttl: Option<i32>, ack_id| {
        ServiceMessage::UserJoinGroupWithAck(UserJoinGroupWithAck {
            user_id: "ua".into(),
            group: group.into(),
            ack_id,
            ext: Extensions { ttl, ..ext() },
        })
    };
    let in_group = |group: &str, ack_id| {
        ServiceMessage::CheckUserInGroupWithAck(CheckUserInGroupWithAck {
            user_id: "ua".into(),
            group: group.into(),
            ack_id,
            ext: ext(),
        })
    };
    assert_eq!(
        app.acked(user_join("short", Some(1), 1), 1).await,
        AckStatus::Ok
    );
    assert_eq!(
        app.acked(user_join("long", None, 2), 2).await,
        AckStatus::Ok
    );
    assert_eq!(app.acked(in_group("short", 3), 3).await, AckStatus::Ok);
    // The one-second membership expires; each check takes an ack id of its own.
    let wait = WaitUntil::new("the short membership expires");
    for ack_id in 100.. {
        if app.acked(in_group("short", ack_id), ack_id).await == AckStatus::NotFound {
            break;
        }
        wait.retry().await;
    }
    assert_eq!(app.acked(in_group("long", 5), 5).await, AckStatus::Ok);
    let leave_all = ServiceMessage::UserLeaveGroupWithAck(UserLeaveGroupWithAck {
        user_id: "ua".into(),
        group: None,
        ack_id: 6,
        ext: ext(),
    });
    assert_eq!(app.acked(leave_all, 6).await, AckStatus::Ok);
    assert_eq!(app.acked(in_group("long", 7), 7).await, AckStatus::NotFound);
    server.stop().await;
}

#[tokio::test]
async fn group_members_are_listed_in_pages() {
    let server = TestServer::start().await;
    let mut app = AppServer::connect(&server, HUB, "s1").await;
    let mut ids = Vec::new();
    let mut clients = Vec::new();
    for user in ["u1", "u2", "u3"] {
        let (client, id) = relayed(&server, &mut app, HUB, Some(user)).await;
        let join = ServiceMessage::JoinGroupWithAck(JoinGroupWithAck {
            connection_id: id.clone(),
            group: "g".into(),
            ack_id: 1,
            ext: ext(),
        });
        assert_eq!(app.acked(join, 1).await, AckStatus::Ok);
        ids.push(id);
        clients.push(client);
    }
    ids.sort();
    let mut listed = Vec::new();
    let mut continuation_token = None;
    for ack_id in 10.. {
        let query = ServiceMessage::GroupMemberQuery(GroupMemberQuery {
            ext: ext(),
            group: "g".into(),
            ack_id,
            max: 2,
            continuation_token: continuation_token.take(),
        });
        app.send(&query).await;
        let ack = app.ack(ack_id).await;
        assert_eq!(ack.status, AckStatus::Ok);
        let page = GroupMemberQueryResponse::parse(&ack.payload.unwrap()).unwrap();
        assert!(page.members.len() <= 2);
        listed.extend(page.members.into_iter().map(|m| m.connection_id));
        match page.continuation_token {
            Some(token) => continuation_token = Some(token),
            None => break,
        }
    }
    assert_eq!(listed, ids);
    server.stop().await;
}

#[tokio::test]
async fn closes_with_ack_close_the_right_clients() {
    let server = TestServer::start().await;
    let mut app = AppServer::connect(&server, HUB, "s1").await;
    let (mut a, a_id) = relayed(&server, &mut app, HUB, Some("ua")).await;
    let (mut b, _) = relayed(&server, &mut app, HUB, Some("ub")).await;
    let close_user = ServiceMessage::CloseUserConnectionsWithAck(CloseUserConnectionsWithAck {
        user_id: "ua".into(),
        reason: Some("bye ua".into()),
        ack_id: 1,
        excluded: vec![],
        ext: ext(),
    });
    assert_eq!(app.acked(close_user, 1).await, AckStatus::Ok);
    let seen = a.until_closed().await;
    assert_eq!(seen.last().unwrap()["error"], "bye ua");
    b.expect_silence(SHORT).await;
    let close_ghost = ServiceMessage::CloseConnectionWithAck(CloseConnectionWithAck {
        connection_id: a_id,
        reason: None,
        ack_id: 2,
        ext: ext(),
    });
    // The relayed client leaving is reported first.
    assert!(matches!(
        app.recv().await,
        ServiceMessage::CloseConnection(_)
    ));
    assert_eq!(app.acked(close_ghost, 2).await, AckStatus::NotFound);
    server.stop().await;
}

#[tokio::test]
async fn a_dropped_server_connection_closes_its_clients_and_new_ones_go_elsewhere() {
    let server = TestServer::start().await;
    let mut first = AppServer::connect(&server, HUB, "s1").await;
    let (mut client, _) = relayed(&server, &mut first, HUB, None).await;
    let mut second = AppServer::connect(&server, HUB, "s2").await;
    first.drop_connection().await;
    let seen = client.until_closed().await;
    let close = seen.last().expect("a Close");
    assert_eq!(close["type"], 7);
    assert_eq!(close["allowReconnect"], true);
    // The next client is routed to the remaining connection.
    let (_client, _) = relayed(&server, &mut second, HUB, None).await;
    server.stop().await;
}

#[tokio::test]
async fn sticky_clients_go_to_their_server_and_required_fails_without_it() {
    let server = TestServer::start().await;
    let mut s1 = AppServer::connect(&server, HUB, "s1").await;
    let mut s2 = AppServer::connect(&server, HUB, "s2").await;
    let sticky = |mode: &str, sn: &str| {
        token(json!({
            "aud": "http://localhost/client/?hub=chat",
            "exp": now() + 60,
            "asrs.s.sn": sn,
            "asrs.s.ssticky": mode,
        }))
    };
    let mut clients = Vec::new();
    for _ in 0..3 {
        let url = format!(
            "ws://{}/client/?hub=chat&access_token={}",
            server.addr,
            sticky("Required", "s2")
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        futures_util::SinkExt::send(
            &mut ws,
            tokio_tungstenite::tungstenite::Message::text(
                "{\"protocol\":\"json\",\"version\":1}\x1e",
            ),
        )
        .await
        .unwrap();
        let open = s2.recv().await;
        assert!(
            matches!(open, ServiceMessage::OpenConnection(_)),
            "{open:?}"
        );
        assert!(matches!(s2.recv().await, ServiceMessage::ConnectionData(_)));
        clients.push(ws);
    }
    s1.expect_silence(SHORT).await;
    let url = format!(
        "ws://{}/client/?hub=chat&access_token={}",
        server.addr,
        sticky("Required", "s9")
    );
    let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut client = WsClient::from_socket(ws);
    client
        .send_text("{\"protocol\":\"json\",\"version\":1}\x1e")
        .await;
    let error = client.next_message().await;
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("requires app server 's9'"),
        "{error}"
    );
    server.stop().await;
}

#[tokio::test]
async fn service_modes_decide_who_answers_clients_and_who_may_connect() {
    // default: no app server, no client.
    let server = server_in(ServiceMode::Default).await;
    let (_, token) = server.negotiate(HUB, None).await;
    let mut client = server.open(HUB, &token).await;
    client
        .send_text("{\"protocol\":\"json\",\"version\":1}\x1e")
        .await;
    let error = client.next_message().await;
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("no app server is connected"),
        "{error}"
    );
    server.stop().await;

    // serverless: app servers are refused, the Management SDK's Weak connections are not.
    let server = server_in(ServiceMode::Serverless).await;
    let mut app = AppServer::open(&server, HUB, "s1").await;
    app.send(&handshake(ServerConnectionType::Default)).await;
    let ServiceMessage::HandshakeResponse(response) = app.recv().await else {
        panic!("expected a HandshakeResponse");
    };
    assert!(response.error_message.unwrap().contains("Serverless mode"));
    let _weak = AppServer::connect_as(&server, HUB, "sdk", ServerConnectionType::Weak).await;
    server.stop().await;
}

#[tokio::test]
async fn weak_connections_act_on_serverless_hubs_and_never_get_clients() {
    let server = TestServer::start().await;
    let mut sdk = AppServer::connect_as(&server, HUB, "sdk", ServerConnectionType::Weak).await;
    // The hub has no app server, so the service answers the handshake itself.
    let (mut client, id) = server.connect(HUB, Some("ua")).await;
    sdk.expect_silence(SHORT).await;
    sdk.send(&ServiceMessage::BroadcastData(BroadcastData {
        excluded: vec![],
        payloads: payloads("news", "1"),
        ext: ext(),
    }))
    .await;
    assert_eq!(received(&mut client, "news").await, "1");
    let join = ServiceMessage::UserJoinGroupWithAck(UserJoinGroupWithAck {
        user_id: "ua".into(),
        group: "g".into(),
        ack_id: 1,
        ext: ext(),
    });
    assert_eq!(sdk.acked(join, 1).await, AckStatus::Ok);
    let rest = server.rest("GET", "/api/v1/hubs/chat/groups/g", None).await;
    assert_eq!(rest.status(), 200);
    sdk.send(&ServiceMessage::CloseConnection(CloseConnection {
        connection_id: id,
        error_message: "closed by the SDK".into(),
        headers: vec![],
        ext: ext(),
    }))
    .await;
    let seen = client.until_closed().await;
    assert_eq!(seen.last().unwrap()["error"], "closed by the SDK");
    server.stop().await;
}

#[tokio::test]
async fn a_rest_broadcast_reaches_relayed_clients() {
    let server = TestServer::start().await;
    let mut app = AppServer::connect(&server, HUB, "s1").await;
    let (mut client, _) = relayed(&server, &mut app, HUB, None).await;
    let response = server
        .rest(
            "POST",
            "/api/v1/hubs/chat",
            Some(json!({"target": "rest", "arguments": ["r"]})),
        )
        .await;
    assert_eq!(response.status(), 202);
    assert_eq!(received(&mut client, "rest").await, "r");
    server.stop().await;
}

#[tokio::test]
async fn client_invocations_are_routed_between_app_servers() {
    let server = TestServer::start().await;
    client_invocations_are_routed_between(&server, &server).await;
    server.stop().await;
}

/// App server "caller"'s ClientInvocation `invocation_id` of `ask(argument)` on `connection_id`.
fn ask(invocation_id: &str, connection_id: impl Into<String>, argument: &str) -> ClientInvocation {
    ClientInvocation {
        invocation_id: invocation_id.into(),
        connection_id: connection_id.into(),
        caller_server_id: "caller".into(),
        payloads: payloads("ask", argument),
        ext: ext(),
    }
}

/// An app server connected to `caller_at` invokes a client connected to `owner_at` through
/// another app server there: the client gets the invocation, the owner's router learns it,
/// the caller gets a ServiceMapping, then the owner's ClientCompletion; an invocation the
/// client never answers fails with an ErrorCompletion when the client leaves.
pub(crate) async fn client_invocations_are_routed_between(
    owner_at: &TestServer,
    caller_at: &TestServer,
) {
    let mut owner = AppServer::connect(owner_at, HUB, "owner").await;
    let (mut client, id) = relayed(owner_at, &mut owner, HUB, None).await;
    let mut caller = AppServer::connect(caller_at, HUB, "caller").await;
    let invocation = ask("inv-1", &*id, "q");
    caller
        .send(&ServiceMessage::ClientInvocation(invocation.clone()))
        .await;
    assert_eq!(received(&mut client, "ask").await, "q");
    // The owner's router learns the invocation; the caller where it went.
    assert_eq!(
        owner.recv().await,
        ServiceMessage::ClientInvocation(invocation)
    );
    match caller.recv().await {
        ServiceMessage::ServiceMapping(mapping) => {
            assert_eq!(
                (
                    mapping.invocation_id.as_str(),
                    mapping.connection_id.as_str()
                ),
                ("inv-1", id.as_str())
            );
        }
        other => panic!("expected ServiceMapping, got {other:?}"),
    }
    // The router forwards the client's completion, which goes on to the caller.
    let completion = ClientCompletion {
        invocation_id: "inv-1".into(),
        connection_id: id.clone(),
        caller_server_id: "owner".into(),
        protocol: Some("json".into()),
        payload: Bytes::from_static(b"{\"type\":3,\"invocationId\":\"inv-1\",\"result\":1}\x1e"),
        ext: ext(),
    };
    owner
        .send(&ServiceMessage::ClientCompletion(completion.clone()))
        .await;
    match caller.recv().await {
        ServiceMessage::ClientCompletion(forwarded) => {
            assert_eq!(forwarded.payload, completion.payload);
            assert_eq!(forwarded.caller_server_id, "caller");
        }
        other => panic!("expected ClientCompletion, got {other:?}"),
    }
    // An invocation the client never answers fails when it leaves.
    let pending = ask("inv-2", &*id, "q2");
    caller
        .send(&ServiceMessage::ClientInvocation(pending))
        .await;
    assert_eq!(received(&mut client, "ask").await, "q2");
    assert!(matches!(
        caller.recv().await,
        ServiceMessage::ServiceMapping(_)
    ));
    drop(client);
    match caller.recv().await {
        ServiceMessage::ErrorCompletion(error) => {
            assert_eq!(error.invocation_id, "inv-2");
            assert!(error.error.unwrap().contains("closed"));
        }
        other => panic!("expected ErrorCompletion, got {other:?}"),
    }
    // A client that is connected nowhere.
    let nowhere = ask("inv-3", "nobody", "q3");
    caller
        .send(&ServiceMessage::ClientInvocation(nowhere))
        .await;
    match caller.recv().await {
        ServiceMessage::ErrorCompletion(error) => {
            assert_eq!(error.invocation_id, "inv-3");
            assert!(error.error.unwrap().contains("not connected"));
        }
        other => panic!("expected ErrorCompletion, got {other:?}"),
    }
}

#[tokio::test]
async fn shutdown_tells_app_servers_and_clients() {
    let server = TestServer::start().await;
    let mut app = AppServer::connect(&server, HUB, "s1").await;
    let (mut client, _) = relayed(&server, &mut app, HUB, None).await;
    let stopping = tokio::spawn(server.stop());
    // The client may be reported gone first.
    loop {
        match app.recv().await {
            ServiceMessage::ServiceError(error) => {
                assert!(error.error_message.contains("shutting down"), "{error:?}");
                break;
            }
            ServiceMessage::CloseConnection(_) => {}
            other => panic!("expected a ServiceError, got {other:?}"),
        }
    }
    let seen = client.until_closed().await;
    assert_eq!(seen.last().unwrap()["allowReconnect"], true);
    stopping.await.unwrap();
}

#[tokio::test]
async fn metrics_count_server_connections_and_messages_by_type() {
    let server = TestServer::start().await;
    let mut app = AppServer::connect(&server, HUB, "s1").await;
    let (_client, _) = relayed(&server, &mut app, HUB, None).await;
    let page = server.metrics().await;
    assert!(
        page.contains("signalr_server_connections{hub=\"chat\",type=\"Default\"} 1"),
        "{page}"
    );
    for sample in [
        "signalr_service_messages_total{direction=\"in\",type=\"HandshakeRequest\"} 1",
        "signalr_service_messages_total{direction=\"out\",type=\"OpenConnection\"} 1",
    ] {
        assert!(page.contains(sample), "{sample} in {page}");
    }
    server.stop().await;
}

#[tokio::test]
async fn stateful_reconnect_of_a_relayed_client_is_done_by_the_service() {
    let server = TestServer::start().await;
    let mut app = AppServer::connect(&server, HUB, "s1").await;
    let (id, token) = server.negotiate_stateful(HUB).await;
    let handshake = "{\"protocol\":\"json\",\"version\":2}\x1e";
    let mut client = server.open(HUB, &token).await;
    client.send_text(handshake).await;
    assert!(matches!(
        app.recv().await,
        ServiceMessage::OpenConnection(_)
    ));
    assert!(
        matches!(app.recv().await, ServiceMessage::ConnectionData(d) if &d.payload[..] == handshake.as_bytes())
    );
    app.send_to_client(&id, b"{}\x1e").await;
    assert_eq!(client.next_message().await, json!({}));
    // The hub's ping is not numbered; its invocations are.
    app.send_to_client(&id, b"{\"type\":6}\x1e").await;
    app.send_to_client(&id, b"{\"type\":1,\"target\":\"m\",\"arguments\":[1]}\x1e")
        .await;
    assert_eq!(received(&mut client, "m").await, 1);
    let invocation = "{\"type\":1,\"target\":\"up\",\"arguments\":[]}\x1e";
    client.send_text(invocation).await;
    assert!(
        matches!(app.recv().await, ServiceMessage::ConnectionData(d) if &d.payload[..] == invocation.as_bytes())
    );
    // Acks are the service's business: the hub never sees them.
    client.send_text("{\"type\":8,\"sequenceId\":1}\x1e").await;
    app.expect_silence(SHORT).await;
    drop(client);
    app.send_to_client(&id, b"{\"type\":1,\"target\":\"m\",\"arguments\":[2]}\x1e")
        .await;
    let mut client = server.open(HUB, &token).await;
    assert_eq!(
        client.next_non_ping().await,
        json!({"type": 9, "sequenceId": 2})
    );
    assert_eq!(received(&mut client, "m").await, 2);
    match app.recv().await {
        ServiceMessage::ConnectionReconnect(reconnect) => assert_eq!(reconnect.connection_id, id),
        other => panic!("expected ConnectionReconnect, got {other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn an_app_server_without_stateful_reconnects_gets_clients_that_end_with_their_socket() {
    let server = TestServer::start().await;
    let mut app = AppServer::open(&server, HUB, "s1").await;
    let ServiceMessage::HandshakeRequest(mut request) = handshake(ServerConnectionType::Default)
    else {
        unreachable!()
    };
    request.allow_stateful_reconnects = false;
    app.send(&ServiceMessage::HandshakeRequest(request)).await;
    assert!(matches!(
        app.recv().await,
        ServiceMessage::HandshakeResponse(_)
    ));
    let (id, token) = server.negotiate_stateful(HUB).await;
    let mut client = server.open(HUB, &token).await;
    client
        .send_text("{\"protocol\":\"json\",\"version\":2}\x1e")
        .await;
    assert!(matches!(
        app.recv().await,
        ServiceMessage::OpenConnection(_)
    ));
    assert!(matches!(
        app.recv().await,
        ServiceMessage::ConnectionData(_)
    ));
    app.send_to_client(&id, b"{}\x1e").await;
    assert_eq!(client.next_message().await, json!({}));
    drop(client);
    match app.recv().await {
        ServiceMessage::CloseConnection(close) => assert_eq!(close.connection_id, id),
        other => panic!("expected CloseConnection, got {other:?}"),
    }
    server.stop().await;
}
