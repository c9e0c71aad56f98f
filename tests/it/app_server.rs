//! A small app-server peer for the `/server` endpoint, built on the crate's ServiceProtocol
//! codec: it connects as `AddAzureSignalR()` does (token with audience `/server/?hub=`,
//! `X-ASRS-Server-Id`), handshakes, and sends and receives ServiceProtocol messages. Every wait
//! is bounded.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use signalr_emulator::protocol::service::{
    Ack, AckStatus, ConnectionData, Extensions, HandshakeRequest, Payloads, ServerConnectionType,
    ServiceMessage, encode_frame, next_frame,
};
use signalr_emulator::protocol::{HubMessage, Invocation, Protocol, encode};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::common::{TestServer, WAIT, WsClient, client_token, now, token};

/// One server connection of an app server.
pub(crate) struct AppServer {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    input: BytesMut,
}

/// The token an app server signs for `hub`.
pub(crate) fn server_token(hub: &str, server_id: &str) -> String {
    token(json!({
        "aud": format!("http://localhost/server/?hub={hub}"),
        "exp": now() + 3600,
        "nameid": server_id,
    }))
}

/// Opens `/server/?hub=&cid=` with `token`; the HTTP error when the upgrade is refused.
pub(crate) async fn dial(
    server: &TestServer,
    hub: &str,
    server_id: &str,
    token: Option<&str>,
) -> Result<WebSocketStream<MaybeTlsStream<TcpStream>>, tokio_tungstenite::tungstenite::Error> {
    let cid = uuid::Uuid::new_v4();
    let url = format!("ws://{}/server/?hub={hub}&cid={cid}", server.addr);
    let mut request = url.into_client_request().unwrap();
    if let Some(token) = token {
        request
            .headers_mut()
            .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    }
    request
        .headers_mut()
        .insert("X-ASRS-Server-Id", server_id.parse().unwrap());
    tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
        .await
        .expect("the upgrade is answered in time")
        .map(|(ws, _)| ws)
}

/// A handshake request of `connection_type` (protocol version 1).
pub(crate) fn handshake(connection_type: ServerConnectionType) -> ServiceMessage {
    ServiceMessage::HandshakeRequest(HandshakeRequest {
        version: 1,
        connection_type,
        target: None,
        migration_level: 0,
        ext: Extensions::default(),
        allow_stateful_reconnects: true,
    })
}

impl AppServer {
    /// Connects a Default connection of app server `server_id` and completes the handshake.
    pub(crate) async fn connect(server: &TestServer, hub: &str, server_id: &str) -> Self {
        Self::connect_as(server, hub, server_id, ServerConnectionType::Default).await
    }

    /// Connects a connection of `connection_type` and completes the handshake.
    pub(crate) async fn connect_as(
        server: &TestServer,
        hub: &str,
        server_id: &str,
        connection_type: ServerConnectionType,
    ) -> Self {
        let mut peer = Self::open(server, hub, server_id).await;
        peer.send(&handshake(connection_type)).await;
        match peer.recv().await {
            ServiceMessage::HandshakeResponse(response) => {
                assert_eq!(response.error_message, None, "handshake accepted");
            }
            other => panic!("expected a HandshakeResponse, got {other:?}"),
        }
        peer
    }

    /// Opens the WebSocket without a handshake.
    pub(crate) async fn open(server: &TestServer, hub: &str, server_id: &str) -> Self {
        Self::open_with_token(server, hub, server_id, &server_token(hub, server_id)).await
    }

    /// Opens the WebSocket with `token` (an access-key or an Entra ID token), without a
    /// handshake.
    pub(crate) async fn open_with_token(
        server: &TestServer,
        hub: &str,
        server_id: &str,
        token: &str,
    ) -> Self {
        let ws = dial(server, hub, server_id, Some(token))
            .await
            .expect("the upgrade succeeds");
        AppServer {
            ws,
            input: BytesMut::new(),
        }
    }

    /// Sends one message in its own binary frame.
    pub(crate) async fn send(&mut self, message: &ServiceMessage) {
        self.send_bytes(encode_frame(message)).await;
    }

    /// Sends raw bytes in one binary frame.
    pub(crate) async fn send_bytes(&mut self, bytes: Bytes) {
        self.ws.send(Message::Binary(bytes)).await.unwrap();
    }

    /// The next message but Pings; panics when the socket closes first.
    pub(crate) async fn recv(&mut self) -> ServiceMessage {
        self.try_recv()
            .await
            .expect("the server connection stays open")
    }

    /// The next message but Pings, or `None` when the socket closed.
    pub(crate) async fn try_recv(&mut self) -> Option<ServiceMessage> {
        loop {
            match next_frame(&mut self.input, 16 << 20).expect("valid ServiceProtocol") {
                Some(ServiceMessage::Ping(ping)) if ping.messages.is_empty() => continue,
                Some(message) => return Some(message),
                None => {}
            }
            let frame = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a message arrives in time");
            match frame {
                Some(Ok(Message::Binary(data))) => self.input.extend_from_slice(&data),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    /// Asserts that nothing but Pings arrives within `window`.
    pub(crate) async fn expect_silence(&mut self, window: Duration) {
        let deadline = tokio::time::Instant::now() + window;
        loop {
            if let Some(message) = next_frame(&mut self.input, 16 << 20).unwrap() {
                assert!(
                    matches!(message, ServiceMessage::Ping(_)),
                    "expected silence, got {message:?}"
                );
                continue;
            }
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Ok(Some(Ok(Message::Binary(data)))) => self.input.extend_from_slice(&data),
                Ok(Some(Ok(_))) => {}
                Ok(_) => panic!("the server connection closed while expecting silence"),
                Err(_) => return,
            }
        }
    }

    /// How many bare Pings (`[3]`) arrive within `window`.
    pub(crate) async fn bare_pings(&mut self, window: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + window;
        let mut pings = 0;
        loop {
            while let Some(message) = next_frame(&mut self.input, 16 << 20).unwrap() {
                if matches!(&message, ServiceMessage::Ping(ping) if ping.messages.is_empty()) {
                    pings += 1;
                }
            }
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Ok(Some(Ok(Message::Binary(data)))) => self.input.extend_from_slice(&data),
                Ok(Some(Ok(_))) => {}
                Ok(_) | Err(_) => return pings,
            }
        }
    }

    /// The Ack for `ack_id`; panics on any other message.
    pub(crate) async fn ack(&mut self, ack_id: i32) -> Ack {
        match self.recv().await {
            ServiceMessage::Ack(ack) if ack.ack_id == ack_id => ack,
            other => panic!("expected the Ack {ack_id}, got {other:?}"),
        }
    }

    /// Sends `message` and returns the status of its Ack.
    pub(crate) async fn acked(&mut self, message: ServiceMessage, ack_id: i32) -> AckStatus {
        self.send(&message).await;
        self.ack(ack_id).await.status
    }

    /// Sends the client `connection_id` bytes as its hub would (ConnectionData).
    pub(crate) async fn send_to_client(&mut self, connection_id: &str, payload: &'static [u8]) {
        self.send_bytes_to_client(connection_id, Bytes::from_static(payload))
            .await;
    }

    /// [`AppServer::send_to_client`] with bytes made at run time.
    pub(crate) async fn send_bytes_to_client(&mut self, connection_id: &str, payload: Bytes) {
        let data = ConnectionData {
            connection_id: connection_id.to_owned(),
            payload,
            ext: Extensions::default(),
        };
        self.send(&ServiceMessage::ConnectionData(data)).await;
    }

    /// Ends the WebSocket abruptly (the app server crashed).
    pub(crate) async fn drop_connection(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// Connects a JSON client of `user` to `hub` on `server` through `app`: checks what the app server is told, answers
/// the handshake as the hub would, and returns the client and its id.
pub(crate) async fn relayed(
    server: &TestServer,
    app: &mut AppServer,
    hub: &str,
    user: Option<&str>,
) -> (WsClient, String) {
    let (id, token) = server.negotiate(hub, user).await;
    let mut client = server
        .open_with_token(hub, &token, &client_token(hub, user))
        .await;
    client
        .send_text("{\"protocol\":\"json\",\"version\":1}\x1e")
        .await;
    match app.recv().await {
        ServiceMessage::OpenConnection(open) => assert_eq!(open.connection_id, id),
        other => panic!("expected OpenConnection, got {other:?}"),
    }
    match app.recv().await {
        ServiceMessage::ConnectionData(data) => {
            assert_eq!(
                &data.payload[..],
                b"{\"protocol\":\"json\",\"version\":1}\x1e"
            );
        }
        other => panic!("expected the handshake in ConnectionData, got {other:?}"),
    }
    app.send_to_client(&id, b"{}\x1e").await;
    assert_eq!(client.next_message().await, json!({}));
    (client, id)
}

/// An invocation of `target` with one string argument, framed for each hub protocol as the
/// SDK sends fan-out payloads.
pub(crate) fn payloads(target: &str, argument: &str) -> Payloads {
    let message = HubMessage::Invocation(Invocation::send(target, vec![json!(argument)]));
    Payloads(
        [Protocol::Json, Protocol::MessagePack]
            .into_iter()
            .map(|protocol| (protocol.name().to_owned(), encode(protocol, &message)))
            .collect(),
    )
}
