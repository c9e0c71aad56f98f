//! Server-Sent Events, long polling, the connect URL's status table, and stateful reconnect,
//! driven by hand-rolled clients (the official clients are exercised in tests/clients).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use signalr_emulator::Config;
use tokio_tungstenite::tungstenite::Message;

use crate::common::{
    CHAT_AWAITS_RECONNECT, HANDSHAKE, TestServer, WAIT, WaitUntil, client_token, http, next_chunk,
    poll, post,
};

#[tokio::test]
async fn server_sent_events_carry_the_handshake_and_messages() {
    let server = TestServer::start().await;
    let (id, token) = server.negotiate("chat", None).await;
    let mut events = http()
        .get(server.url(&format!(
            "/client/?hub=chat&id={token}&access_token={}",
            client_token("chat", None)
        )))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    let headers = events.headers();
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["cache-control"], "no-cache,no-store");
    assert_eq!(
        next_chunk(&mut events).await,
        ":\r\n",
        "the comment is flushed at once"
    );

    assert_eq!(post(&server, &token, HANDSHAKE).await.status(), 200);
    assert_eq!(next_chunk(&mut events).await, "data: {}\x1e\r\n\r\n");
    let response = server
        .rest(
            "POST",
            &format!("/api/v1/hubs/chat/connections/{id}"),
            Some(json!({"target":"m","arguments":["sse"]})),
        )
        .await;
    assert_eq!(response.status(), 202);
    assert_eq!(
        next_chunk(&mut events).await,
        "data: {\"type\":1,\"target\":\"m\",\"arguments\":[\"sse\"]}\x1e\r\n\r\n"
    );

    // A second event stream, a poll, or a DELETE on an SSE connection are refused.
    let again = http()
        .get(server.url(&format!("/client/?hub=chat&id={token}")))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
    let poll = poll(&server, &token).await;
    assert_eq!(poll.status(), 400);
    assert_eq!(
        poll.text().await.unwrap(),
        "Cannot change transports mid-connection"
    );
    let delete = http()
        .delete(server.url(&format!("/client/?hub=chat&id={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 400);

    // Closing by REST ends the stream after the Close message.
    server
        .rest(
            "DELETE",
            &format!("/api/v1/hubs/chat/connections/{id}?reason=done"),
            None,
        )
        .await;
    assert_eq!(
        next_chunk(&mut events).await,
        "data: {\"type\":7,\"error\":\"done\",\"allowReconnect\":true}\x1e\r\n\r\n"
    );
    let end = tokio::time::timeout(WAIT, events.chunk())
        .await
        .unwrap()
        .unwrap();
    assert!(end.is_none(), "the event stream ends");
    server.stop().await;
}

#[tokio::test]
async fn long_polling_round_trip() {
    let server = TestServer::start().await;
    let (id, token) = server.negotiate("chat", None).await;
    let first = poll(&server, &token).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["content-type"], "application/octet-stream");
    assert_eq!(first.headers()["cache-control"], "no-cache, no-store");
    assert!(
        first.bytes().await.unwrap().is_empty(),
        "the first poll returns at once, empty"
    );

    assert_eq!(post(&server, &token, HANDSHAKE).await.status(), 200);
    assert_eq!(poll(&server, &token).await.text().await.unwrap(), "{}\x1e");

    // Output queued between polls comes in the next poll, in order.
    for n in [1, 2] {
        server
            .rest(
                "POST",
                &format!("/api/v1/hubs/chat/connections/{id}"),
                Some(json!({"target":"m","arguments":[n]})),
            )
            .await;
    }
    assert_eq!(
        poll(&server, &token).await.text().await.unwrap(),
        "{\"type\":1,\"target\":\"m\",\"arguments\":[1]}\x1e{\"type\":1,\"target\":\"m\",\"arguments\":[2]}\x1e"
    );

    // A client invocation is answered through the poll.
    post(
        &server,
        &token,
        "{\"type\":1,\"invocationId\":\"1\",\"target\":\"x\",\"arguments\":[]}\x1e",
    )
    .await;
    let reply: Value = serde_json::from_str(
        poll(&server, &token)
            .await
            .text()
            .await
            .unwrap()
            .trim_end_matches('\x1e'),
    )
    .unwrap();
    assert_eq!(reply["type"], 3);
    assert_eq!(reply["invocationId"], "1");

    // A new poll completes the outstanding one with 204.
    let url = server.url(&format!("/client/?hub=chat&id={token}"));
    let waiting =
        tokio::spawn(async move { http().get(url).send().await.unwrap().status().as_u16() });
    // Lets the first poll reach the server before the second. Nothing outside the connection
    // shows that a poll is waiting, so this stays a pause.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let url = server.url(&format!("/client/?hub=chat&id={token}"));
    let newer =
        tokio::spawn(async move { http().get(url).send().await.unwrap().status().as_u16() });
    assert_eq!(
        tokio::time::timeout(WAIT, waiting).await.unwrap().unwrap(),
        204
    );

    // DELETE ends the connection: 202, and the outstanding poll gets 204. The pause lets that
    // poll reach the server first (nothing shows a waiting poll).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let delete = http()
        .delete(server.url(&format!("/client/?hub=chat&id={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 202);
    assert_eq!(
        tokio::time::timeout(WAIT, newer).await.unwrap().unwrap(),
        204
    );
    let wait = WaitUntil::new("the connection is forgotten");
    while post(&server, &token, "{\"type\":6}\x1e").await.status() != 404 {
        wait.retry().await;
    }
    assert_eq!(
        server
            .rest("GET", &format!("/api/v1/hubs/chat/connections/{id}"), None)
            .await
            .status(),
        404
    );
    server.stop().await;
}

#[tokio::test]
async fn a_long_polling_connection_closed_between_polls_gets_its_close_in_the_next_poll() {
    let server = TestServer::start().await;
    let (id, token) = server.negotiate("chat", None).await;
    assert_eq!(poll(&server, &token).await.status(), 200);
    assert_eq!(post(&server, &token, HANDSHAKE).await.status(), 200);
    assert_eq!(poll(&server, &token).await.text().await.unwrap(), "{}\x1e");
    // No poll is outstanding when the connection is closed.
    let closed = server
        .rest(
            "DELETE",
            &format!("/api/v1/hubs/chat/connections/{id}?reason=bye"),
            None,
        )
        .await;
    assert_eq!(closed.status(), 202);
    // Gives the driver time to queue the Close before the next poll arrives. Nothing a test
    // can see tells "queued" apart: the connection stays listed until a poll takes the Close.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let poll = poll(&server, &token).await;
    assert_eq!(poll.status(), 200);
    let close: Value =
        serde_json::from_str(poll.text().await.unwrap().trim_end_matches('\x1e')).unwrap();
    assert_eq!(close["type"], 7);
    assert_eq!(close["error"], "bye");
    server.stop().await;
}

#[tokio::test]
async fn long_polls_time_out_empty_and_idle_connections_are_dropped() {
    let server = TestServer::with_config(Config {
        poll_timeout: Duration::from_millis(300),
        disconnect_timeout: Duration::from_millis(500),
        ..Config::default()
    })
    .await;
    let (id, token) = server.negotiate("chat", None).await;
    poll(&server, &token).await;
    post(&server, &token, HANDSHAKE).await;
    // With a 300 ms poll timeout a loaded machine may answer a poll empty before the handshake
    // response is ready; the response must still come, in a later poll.
    let answered = WaitUntil::new("the handshake response is polled");
    let response = loop {
        let body = poll(&server, &token).await.text().await.unwrap();
        if !body.is_empty() {
            break body;
        }
        answered.retry().await;
    };
    assert_eq!(response, "{}\x1e");
    let timed_out = poll(&server, &token).await;
    assert_eq!(timed_out.status(), 200);
    assert_eq!(timed_out.headers()["content-type"], "text/plain");
    assert!(timed_out.bytes().await.unwrap().is_empty());
    // No pings on long polling, and no poll for the disconnect timeout drops the connection.
    let wait = WaitUntil::new("the idle connection is dropped");
    while server.connection_exists("chat", &id).await {
        wait.retry().await;
    }
    server.stop().await;
}

#[tokio::test]
async fn connect_url_status_table() {
    let server = TestServer::start().await;
    let response = http()
        .post(server.url("/client/?hub=chat"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.text().await.unwrap(), "Connection ID required");
    let response = post(&server, "unknown", "x").await;
    assert_eq!(response.status(), 404);
    assert_eq!(response.text().await.unwrap(), "No Connection with that ID");

    let (_, token) = server.negotiate("chat", None).await;
    let mut client = server.open("chat", &token).await;
    client.send_text(HANDSHAKE).await;
    assert_eq!(client.next_message().await, json!({}));
    let response = post(&server, &token, "{\"type\":6}\x1e").await;
    assert_eq!(response.status(), 405);
    assert_eq!(
        response.text().await.unwrap(),
        "POST requests are not allowed for WebSocket connections."
    );
    let second = tokio_tungstenite::connect_async(format!(
        "ws://{}/client/?hub=chat&id={token}&access_token={}",
        server.addr,
        client_token("chat", None)
    ))
    .await;
    assert!(second.unwrap_err().to_string().contains("409"));
    let response = http()
        .delete(server.url(&format!("/client/?hub=chat&id={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.text().await.unwrap(),
        "Cannot terminate this connection using the DELETE endpoint."
    );
    server.stop().await;
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A raw stateful client: negotiates with useStatefulReconnect, handshakes version 2.
async fn stateful_socket(server: &TestServer, token: &str) -> Socket {
    let (ws, _) = tokio_tungstenite::connect_async(format!(
        "ws://{}/client/?hub=chat&id={token}&access_token={}",
        server.addr,
        client_token("chat", None)
    ))
    .await
    .unwrap();
    ws
}

async fn read_messages(ws: &mut Socket, count: usize) -> Vec<Value> {
    let mut seen = Vec::new();
    while seen.len() < count {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("frames arrive")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = frame {
            seen.extend(
                text.split('\x1e')
                    .filter(|m| !m.is_empty())
                    .map(|m| serde_json::from_str::<Value>(m).unwrap())
                    .filter(|m| m["type"] != 6 && m["type"] != 8),
            );
        }
    }
    seen
}

#[tokio::test]
async fn stateful_reconnect_replays_what_the_client_missed() {
    let server = TestServer::start().await;
    let (id, token) = server.negotiate_stateful("chat").await;
    let send = |n: i64| {
        let path = format!("/api/v1/hubs/chat/connections/{id}");
        let server = &server;
        async move {
            server
                .rest("POST", &path, Some(json!({"target":"m","arguments":[n]})))
                .await
                .status()
        }
    };

    let mut ws = stateful_socket(&server, &token).await;
    ws.send(Message::text("{\"protocol\":\"json\",\"version\":2}\x1e"))
        .await
        .unwrap();
    assert_eq!(read_messages(&mut ws, 1).await, vec![json!({})]);
    assert_eq!(send(1).await, 202);
    assert_eq!(read_messages(&mut ws, 1).await[0]["arguments"], json!([1]));
    // The client acknowledges message 1, then its socket drops without a close frame.
    ws.send(Message::text("{\"type\":8,\"sequenceId\":1}\x1e"))
        .await
        .unwrap();
    drop(ws);
    // The driver reads the Ack before it sees the socket end, so once it waits for the
    // client, message 1 is acknowledged.
    server.wait_for_sample(CHAT_AWAITS_RECONNECT).await;
    assert_eq!(
        send(2).await,
        202,
        "the connection survives the dropped socket"
    );
    assert_eq!(send(3).await, 202);

    let mut ws = stateful_socket(&server, &token).await;
    let replayed = read_messages(&mut ws, 3).await;
    assert_eq!(replayed[0], json!({"type": 9, "sequenceId": 2}));
    assert_eq!(replayed[1]["arguments"], json!([2]));
    assert_eq!(replayed[2]["arguments"], json!([3]));
    ws.send(Message::text("{\"type\":9,\"sequenceId\":1}\x1e"))
        .await
        .unwrap();
    assert_eq!(send(4).await, 202);
    assert_eq!(read_messages(&mut ws, 1).await[0]["arguments"], json!([4]));
    server
        .wait_for_sample("signalr_connections_awaiting_reconnect{hub=\"chat\"} 0")
        .await;
    server.stop().await;
}

#[tokio::test]
async fn without_stateful_reconnect_a_dropped_socket_ends_the_connection() {
    let server = TestServer::start().await;
    let (mut client, id) = server.connect("chat", None).await;
    client.send_text("{\"type\":6}\x1e").await;
    drop(client);
    let wait = WaitUntil::new("the connection ends with its socket");
    while server.connection_exists("chat", &id).await {
        wait.retry().await;
    }
    server.stop().await;
}

#[tokio::test]
async fn messagepack_over_server_sent_events_is_refused_with_the_aspnet_text() {
    let server = TestServer::start().await;
    let (_, token) = server.negotiate("chat", None).await;
    let mut events = http()
        .get(server.url(&format!("/client/?hub=chat&id={token}")))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(next_chunk(&mut events).await, ":\r\n");
    post(
        &server,
        &token,
        "{\"protocol\":\"messagepack\",\"version\":1}\x1e",
    )
    .await;
    assert_eq!(
        next_chunk(&mut events).await,
        "data: {\"error\":\"Cannot use the 'messagepack' protocol on the current transport. The transport does not support 'Binary' transfer format.\"}\x1e\r\n\r\n"
    );
    let end = tokio::time::timeout(WAIT, events.chunk())
        .await
        .unwrap()
        .unwrap();
    assert!(
        end.is_none(),
        "the event stream ends after a handshake error"
    );
    server.stop().await;
}

#[tokio::test]
async fn messagepack_over_websockets_uses_binary_frames() {
    let server = TestServer::start().await;
    let (id, token) = server.negotiate("chat", None).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!(
        "ws://{}/client/?hub=chat&id={token}&access_token={}",
        server.addr,
        client_token("chat", None)
    ))
    .await
    .unwrap();
    ws.send(Message::text(
        "{\"protocol\":\"messagepack\",\"version\":1}\x1e",
    ))
    .await
    .unwrap();
    assert_eq!(
        next_binary(&mut ws).await,
        b"{}\x1e",
        "even the handshake response is binary"
    );
    server
        .rest(
            "POST",
            &format!("/api/v1/hubs/chat/connections/{id}"),
            Some(json!({"target":"newMessage","arguments":["hi"]})),
        )
        .await;
    // PROTOCOL.md §3.4: Invocation (no id) newMessage("hi"), byte for byte.
    assert_eq!(
        next_binary(&mut ws).await,
        [
            0x14, 0x96, 0x01, 0x80, 0xC0, 0xAA, b'n', b'e', b'w', b'M', b'e', b's', b's', b'a',
            b'g', b'e', 0x91, 0xA2, b'h', b'i', 0x90
        ]
    );
    server.stop().await;
}

async fn next_binary(ws: &mut Socket) -> Vec<u8> {
    match tokio::time::timeout(WAIT, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
    {
        Message::Binary(data) => data.to_vec(),
        other => panic!("expected a binary frame, got {other:?}"),
    }
}
