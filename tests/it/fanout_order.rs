//! Broadcasts and the other sends reach a client in the order the REST calls were made, though
//! broadcasts travel through the hub's broadcast log and the others through the connection's
//! queue; and a client that stops reading broadcasts is closed as a slow consumer.

use serde_json::{Value, json};

use crate::common::{TestServer, WsClient};

/// A send of `number` as the argument of target `n`.
fn numbered(number: u64) -> Option<Value> {
    Some(json!({"target": "n", "arguments": [number]}))
}

/// The numbers `client` receives, up to and including `last`.
async fn numbers_until(client: &mut WsClient, last: u64) -> Vec<u64> {
    let mut got = Vec::new();
    while got.last() != Some(&last) {
        got.push(
            client.next_non_ping().await["arguments"][0]
                .as_u64()
                .unwrap(),
        );
    }
    got
}

#[tokio::test]
async fn broadcasts_and_other_sends_arrive_in_the_order_they_were_made() {
    let server = TestServer::start().await;
    let (mut client, id) = server.connect("chat", Some("ann")).await;
    let (mut other, other_id) = server.connect("chat", None).await;
    let join = format!("/api/v1/hubs/chat/groups/g/connections/{id}");
    assert_eq!(server.rest("PUT", &join, None).await.status(), 200);
    let to_me = format!("/api/v1/hubs/chat/connections/{id}");
    let sends = [
        ("/api/v1/hubs/chat".to_owned(), 1),
        (to_me.clone(), 2),
        ("/api/v1/hubs/chat".to_owned(), 3),
        ("/api/v1/hubs/chat/groups/g".to_owned(), 4),
        (format!("/api/v1/hubs/chat?excluded={other_id}"), 5),
        ("/api/v1/hubs/chat/users/ann".to_owned(), 6),
        (format!("/api/v1/hubs/chat?excluded={id}"), 0),
        (to_me, 7),
        ("/api/v1/hubs/chat".to_owned(), 8),
    ];
    for (path, number) in sends {
        let response = server.rest("POST", &path, numbered(number)).await;
        assert_eq!(response.status(), 202, "{path}");
    }
    assert_eq!(
        numbers_until(&mut client, 8).await,
        [1, 2, 3, 4, 5, 6, 7, 8],
        "0 excluded it"
    );
    let seen_by_other = numbers_until(&mut other, 8).await;
    assert_eq!(seen_by_other, [1, 3, 0, 8]);
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_broadcasts_is_closed_as_a_slow_consumer() {
    let server = TestServer::with_send_queue(2).await;
    let (client, id) = server.connect("sluggish", None).await;
    // Large broadcasts fill the socket buffers; then the client falls out of the log.
    server.flood("/api/v1/hubs/sluggish").await;
    server
        .wait_for_sample("signalr_slow_consumer_disconnects_total{hub=\"sluggish\"} 1")
        .await;
    // The server closes it though the client still holds its socket open without reading.
    assert!(!server.connection_exists("sluggish", &id).await);
    drop(client);
    server.stop().await;
}
