//! `POST /api/hubs/{hub}/:execute?filter=`: the OData filter suite evaluated against real
//! connections (which clients receive a SendMessage), syntax errors as 400s with a position, and
//! the JoinGroup / LeaveGroup / CloseConnection commands.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::common::{TestServer, WsClient};
use crate::rest_support::{
    SILENCE, expect_bad_request, expect_closed, expect_message, send, status,
};

/// The connections every filter runs against: (label, user id, groups).
const PEOPLE: [(&str, Option<&str>, &[&str]); 6] = [
    ("anon", None, &["g1"]),
    ("bob", Some("bob"), &[]),
    ("BOB", Some("BOB"), &["g1", "g2"]),
    ("listener7", Some("listener-7"), &["g1", "g3"]),
    ("oneil", Some("o'neil"), &["g'q"]),
    ("listener1", Some("listener-1"), &["g3"]),
];

struct Crowd {
    clients: Vec<(&'static str, WsClient)>,
    ids: BTreeMap<&'static str, String>,
}

async fn crowd(server: &TestServer) -> Crowd {
    let mut clients = Vec::new();
    let mut ids = BTreeMap::new();
    for (label, user, groups) in PEOPLE {
        let (client, id) = server.connect("chat", user).await;
        for group in groups {
            let path = format!(
                "/api/hubs/chat/groups/{}/connections/{id}",
                percent_encode(group)
            );
            assert_eq!(status(server, "PUT", &path).await, 200);
        }
        clients.push((label, client));
        ids.insert(label, id);
    }
    Crowd { clients, ids }
}

pub(crate) fn percent_encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// `:execute` with `filter` and the given commands; returns the status and body.
async fn execute(server: &TestServer, filter: Option<&str>, commands: Value) -> (u16, Value) {
    let path = match filter {
        Some(filter) => format!(
            "/api/hubs/chat/:execute?api-version=2023-07-01&filter={}",
            percent_encode(filter)
        ),
        None => "/api/hubs/chat/:execute".to_owned(),
    };
    let response = server.rest("POST", &path, Some(commands)).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn send_command(args: Value) -> Value {
    json!([{"type": "SendMessage", "message": {"target": "m", "arguments": args}}])
}

fn labels(list: &[&'static str]) -> BTreeSet<&'static str> {
    list.iter().copied().collect()
}

#[tokio::test]
async fn filters_select_the_right_connections() {
    let server = TestServer::start().await;
    let mut crowd = crowd(&server).await;
    let id = |label: &str| crowd.ids[label].clone();
    let valid: Vec<(String, &[&str])> = vec![
        ("userId eq 'bob'".into(), &["bob"]),
        (
            "userId ne 'bob'".into(),
            &["anon", "BOB", "listener7", "oneil", "listener1"],
        ),
        ("userId eq null".into(), &["anon"]),
        (
            "userId ne null".into(),
            &["bob", "BOB", "listener7", "oneil", "listener1"],
        ),
        ("tolower(userId) eq 'bob'".into(), &["bob", "BOB"]),
        ("toupper(userId) eq 'BOB'".into(), &["bob", "BOB"]),
        (
            "startswith(userId, 'listener-')".into(),
            &["listener7", "listener1"],
        ),
        ("endswith(userId, '-7')".into(), &["listener7"]),
        (
            "contains(userId, 'ste')".into(),
            &["listener7", "listener1"],
        ),
        ("contains(userId, 'BOB')".into(), &["BOB"]),
        ("'g1' in groups".into(), &["anon", "BOB", "listener7"]),
        (
            "not ('g1' in groups)".into(),
            &["bob", "oneil", "listener1"],
        ),
        ("'g1' in groups and 'g2' in groups".into(), &["BOB"]),
        (
            "'g2' in groups or 'g3' in groups".into(),
            &["BOB", "listener7", "listener1"],
        ),
        ("userId in ('bob', 'BOB', 'nobody')".into(), &["bob", "BOB"]),
        ("userId eq 'o''neil'".into(), &["oneil"]),
        ("userId in ('o''neil')".into(), &["oneil"]),
        ("'g''q' in groups".into(), &["oneil"]),
        ("length(groups) eq 0".into(), &["bob"]),
        ("length(groups) ge 2".into(), &["BOB", "listener7"]),
        ("length(userId) eq 3".into(), &["bob", "BOB"]),
        (
            "length(userId) gt 5".into(),
            &["listener7", "oneil", "listener1"],
        ),
        ("length(userId) le 3".into(), &["bob", "BOB"]),
        (
            "substring(userId, 0, 8) eq 'listener'".into(),
            &["listener7", "listener1"],
        ),
        ("substring(userId, 9) eq '7'".into(), &["listener7"]),
        (
            "indexof(userId, '-') eq 8".into(),
            &["listener7", "listener1"],
        ),
        ("concat(userId, '!') eq 'bob!'".into(), &["bob"]),
        ("length(concat(userId, 'x')) eq 4".into(), &["bob", "BOB"]),
        ("trim('  bob ') eq userId".into(), &["bob"]),
        ("tolower(userId) eq tolower('BOB')".into(), &["bob", "BOB"]),
        (
            "userId gt 'a'".into(),
            &["bob", "listener7", "oneil", "listener1"],
        ),
        ("userId lt 'a'".into(), &["BOB"]),
        (format!("connectionId eq '{}'", id("bob")), &["bob"]),
        (
            format!("connectionId in ('{}', '{}')", id("bob"), id("oneil")),
            &["bob", "oneil"],
        ),
        (
            format!("connectionId ne '{}' and userId ne null", id("bob")),
            &["BOB", "listener7", "oneil", "listener1"],
        ),
        (
            "not (userId eq 'bob') and not (userId eq null)".into(),
            &["BOB", "listener7", "oneil", "listener1"],
        ),
        (
            "(userId eq 'bob' or userId eq 'BOB') and 'g1' in groups".into(),
            &["BOB"],
        ),
        (
            "userId eq 'bob' or userId eq 'BOB' and 'g1' in groups".into(),
            &["bob", "BOB"],
        ),
        ("USERID eq 'bob'".into(), &["bob"]),
        ("userId EQ 'bob' OR userId Eq 'BOB'".into(), &["bob", "BOB"]),
        (
            "STARTSWITH(userId, 'l')".into(),
            &["listener7", "listener1"],
        ),
        (
            "not startswith(userId, 'l')".into(),
            &["anon", "bob", "BOB", "oneil"],
        ),
        (
            "'g3' in groups and startswith(userId, 'listener')".into(),
            &["listener7", "listener1"],
        ),
        ("userId eq 'nobody'".into(), &[]),
        ("((userId eq 'bob'))".into(), &["bob"]),
    ];
    assert!(valid.len() >= 40);
    for (index, (filter, _)) in valid.iter().enumerate() {
        let (status, body) = execute(&server, Some(filter), send_command(json!([index]))).await;
        assert_eq!(status, 202, "{filter}: {body}");
    }
    // A sentinel to everyone: all earlier messages of a connection arrive before it.
    let (status, _) = execute(&server, None, send_command(json!(["end"]))).await;
    assert_eq!(status, 202);
    let mut received: BTreeMap<usize, BTreeSet<&str>> = BTreeMap::new();
    for (label, client) in &mut crowd.clients {
        loop {
            let message = client.next_non_ping().await;
            match &message["arguments"][0] {
                Value::String(end) if end == "end" => break,
                Value::Number(n) => {
                    let index = n.as_u64().unwrap() as usize;
                    received.entry(index).or_default().insert(*label);
                }
                other => panic!("unexpected {other}"),
            }
        }
    }
    for (index, (filter, expected)) in valid.iter().enumerate() {
        assert_eq!(
            received.remove(&index).unwrap_or_default(),
            labels(expected),
            "filter {filter}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn bad_filters_are_400s_with_a_position() {
    let server = TestServer::start().await;
    let (mut client, _) = server.connect("chat", Some("bob")).await;
    for (filter, needle) in [
        ("userId eq", "near the end"),
        ("userId eq 1", "position"),
        ("userId eq 'bob", "position 10"),
        ("(userId eq 'bob'", "near the end"),
        ("userId equals 'bob'", "'equals'"),
        ("foo eq 'bob'", "'foo'"),
        ("startswith(userId)", "position"),
        ("not length(userId)", "position"),
        ("userId eq 'a' eq 'b'", "position"),
        ("userId eq 'bob' and", "near the end"),
        (")", "position 0"),
        ("userId eq 'bob' $", "'$'"),
    ] {
        let path = format!("/api/hubs/chat/:execute?filter={}", percent_encode(filter));
        expect_bad_request(
            &server,
            "POST",
            &path,
            Some(send_command(json!([filter]))),
            "filter",
            needle,
        )
        .await;
    }
    client.expect_silence(SILENCE).await;
    server.stop().await;
}

#[tokio::test]
async fn group_and_close_commands_apply_to_the_selection() {
    let server = TestServer::start().await;
    let mut crowd = crowd(&server).await;
    let listeners = "startswith(userId, 'listener')";

    // JoinGroup then SendMessage, in order, to the listeners only.
    let commands = json!([
        {"type": "JoinGroup", "group": "joined"},
        {"type": "SendMessage", "message": {"target": "m", "arguments": ["joined"]}},
    ]);
    assert_eq!(execute(&server, Some(listeners), commands).await.0, 202);
    assert_eq!(
        send(
            &server,
            "/api/hubs/chat/groups/joined/:send",
            json!(["group"])
        )
        .await,
        202
    );
    for (label, client) in &mut crowd.clients {
        if label.starts_with("listener") {
            expect_message(client, json!(["joined"])).await;
            expect_message(client, json!(["group"])).await;
        } else {
            client.expect_silence(SILENCE).await;
        }
    }

    // The selection is made once, before the first command: leaving g3 does not stop the
    // SendMessage that follows from reaching the same connections.
    let commands = json!([
        {"Type": "LeaveGroup", "Group": "g3"},
        {"type": "sendmessage", "message": {"Target": "m", "Arguments": ["left"]}},
    ]);
    assert_eq!(
        execute(&server, Some("'g3' in groups"), commands).await.0,
        202
    );
    assert_eq!(
        status(&server, "HEAD", "/api/hubs/chat/groups/g3").await,
        404
    );
    let commands = json!([{"type": "LeaveGroup", "group": "joined"}]);
    assert_eq!(
        execute(&server, Some("userId eq 'listener-1'"), commands)
            .await
            .0,
        202
    );
    assert_eq!(
        send(
            &server,
            "/api/hubs/chat/groups/joined/:send",
            json!(["after"])
        )
        .await,
        202
    );
    for (label, client) in &mut crowd.clients {
        match *label {
            "listener7" => {
                expect_message(client, json!(["left"])).await;
                expect_message(client, json!(["after"])).await;
            }
            "listener1" => expect_message(client, json!(["left"])).await,
            _ => {}
        }
    }

    // CloseConnection with and without a reason.
    let commands = json!([{"type": "CloseConnection", "reason": "bye"}]);
    assert_eq!(
        execute(&server, Some("userId eq 'bob'"), commands).await.0,
        202
    );
    let commands = json!([{"type": "CloseConnection"}]);
    assert_eq!(
        execute(&server, Some("userId eq null"), commands).await.0,
        202
    );
    for (label, client) in &mut crowd.clients {
        match *label {
            "bob" => assert_eq!(
                expect_closed(client).await,
                json!({"type": 7, "error": "bye", "allowReconnect": true})
            ),
            "anon" => assert_eq!(
                expect_closed(client).await,
                json!({"type": 7, "allowReconnect": true})
            ),
            _ => client.expect_silence(SILENCE).await,
        }
    }

    // Without a filter: every connection of the hub.
    assert_eq!(
        execute(&server, None, send_command(json!(["all"]))).await.0,
        202
    );
    for (label, client) in &mut crowd.clients {
        if *label != "bob" && *label != "anon" {
            expect_message(client, json!(["all"])).await;
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn bad_commands_are_400s_and_nothing_happens() {
    let server = TestServer::start().await;
    let (mut client, _) = server.connect("chat", Some("bob")).await;
    for (commands, needle) in [
        (json!({"type": "SendMessage"}), "array"),
        (json!([]), "empty"),
        (json!([{"type": "Dance"}]), "unknown type 'Dance'"),
        (json!([{"type": "JoinGroup"}]), "'group'"),
        (
            json!([
                {"type": "SendMessage", "message": {"target": "m", "arguments": []}},
                {"type": "SendMessage", "message": {"arguments": []}},
            ]),
            "required",
        ),
    ] {
        let (status, body) = execute(&server, None, commands.clone()).await;
        assert_eq!(status, 400, "{commands}");
        assert!(body["message"].as_str().unwrap().contains(needle), "{body}");
    }
    client.expect_silence(SILENCE).await;
    let path = "/api/hubs/chat/:execute";
    let response = reqwest::Client::new()
        .post(server.url(path))
        .bearer_auth(crate::common::token(json!({
            "aud": format!("http://localhost{path}"),
            "exp": crate::common::now() + 60,
        })))
        .header("Content-Type", "application/x-msgpack")
        .body(vec![0x90])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    server.stop().await;
}
