//! The dashboard's JSON across nodes: every node with its URL, lease state and connection
//! count, and which node holds each connection; a single node has no cluster view.

use std::time::Duration;

use serde_json::Value;
use signalr_emulator::cli::DEFAULT_ACCESS_KEY;

use super::sends::two_nodes;
use crate::common::TestServer;

/// `GET /dashboard/api/state` after logging in with the access key.
async fn dashboard_state(server: &TestServer) -> Value {
    let http = reqwest::Client::new();
    let login: Value = http
        .post(server.url("/dashboard/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("key={DEFAULT_ACCESS_KEY}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().expect("login answers a token");
    let response = http
        .get(server.url("/dashboard/api/state"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_single_node_shows_no_cluster() {
    let server = TestServer::start().await;
    let (_client, _) = server.connect("chat", Some("alice")).await;
    let state = dashboard_state(&server).await;
    assert_eq!(state["cluster"], Value::Null, "{state}");
    assert_eq!(state["hubs"][0]["connections"].as_array().unwrap().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn every_node_and_the_holder_of_each_connection_show() {
    let (_redis, a, b) = two_nodes().await;
    let (_on_a, id_a) = a.server.connect("chat", None).await;
    let (_on_b, id_b) = b.server.connect("chat", Some("bob")).await;
    let (_other_hub, id_b2) = b.server.connect("news", None).await;

    // B's mirror reaches Redis a moment after its handshakes.
    let mut state = dashboard_state(&a.server).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while state["cluster"]["nodes"][1]["connectionCount"] != 2
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
        state = dashboard_state(&a.server).await;
    }
    let listed = state["cluster"]["nodes"][1]["connectionCount"] == 2;
    assert!(listed, "A never listed B's two connections: {state}");

    let cluster = &state["cluster"];
    assert_eq!(cluster["healthy"], true);
    assert_eq!(cluster["leaseSecs"], 10);
    assert_eq!(cluster["error"], Value::Null);
    let nodes = cluster["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2, "{cluster}");
    let (this, other) = (&nodes[0], &nodes[1]);
    assert_eq!(this["local"], true);
    assert_eq!(this["id"], cluster["node"]);
    assert_eq!(this["lease"], "held");
    assert_eq!(this["connectionCount"], 1);
    assert_eq!(this["connections"], Value::Array(Vec::new()));
    assert_eq!(this["url"], format!("http://{}", a.server.addr));
    assert_eq!(other["local"], false);
    assert_eq!(other["lease"], "current");
    assert_eq!(other["url"], format!("http://{}", b.server.addr));
    assert_ne!(other["id"], this["id"]);
    let mut held: Vec<(String, String, Option<String>)> = other["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let text = |field: &str| c[field].as_str().unwrap().to_owned();
            (
                text("hub"),
                text("id"),
                c["userId"].as_str().map(str::to_owned),
            )
        })
        .collect();
    held.sort();
    assert_eq!(
        held,
        vec![
            ("chat".into(), id_b, Some("bob".into())),
            ("news".into(), id_b2, None),
        ]
    );
    // A's own connection is in its hubs, not among the other node's.
    let hubs = state["hubs"].as_array().unwrap();
    assert_eq!(hubs.len(), 1, "A holds only a chat connection: {state}");
    assert_eq!(hubs[0]["connections"][0]["id"], id_a.as_str());
}
