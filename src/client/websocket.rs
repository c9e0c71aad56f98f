//! The WebSocket transport on `GET /client/?hub=&id=`: the upgrade (with or without a negotiated
//! `id`, or a stateful reconnect of a dropped connection) and the [`Transport`] the driver runs
//! over. One task per connection owns the socket.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::connections::{Binding, ClientConnection};
use super::driver::drive;
use super::negotiate::new_id;
use super::placement::{self, Placed};
use super::request::{ConnectRequest, claims_of, plain, same_user};
use super::state::ClientState;
use super::transport::{Received, Transport, TransportError, TransportKind};
use super::ws_upgrade::{Socket, SocketUpgrade};
use crate::error::ApiError;
use crate::protocol::Frame;

/// Read buffer per socket. Hub messages are small; a large default buffer per idle connection
/// would dominate memory at tens of thousands of connections.
const READ_BUFFER: usize = 1024;
/// Bytes buffered before tungstenite writes to the socket; the driver flushes every batch.
const WRITE_BUFFER: usize = 8 * 1024;
/// Room for a frame header beyond its payload.
const FRAME_HEADER: usize = 14;
/// Pings a client may send while its output cannot be written (it reads nothing) before it is
/// dropped. tungstenite answers every Ping with a Pong the client never takes.
const MAX_STALLED_PINGS: u32 = 1000;

/// Handles a WebSocket upgrade request on the connect URL.
pub(super) async fn upgrade(
    state: ClientState,
    upgrade: SocketUpgrade,
    headers: &HeaderMap,
    raw_query: Option<&str>,
    hub: &str,
    id: Option<&str>,
) -> Result<Response, ApiError> {
    let claims = claims_of(&state, headers, raw_query, hub)?;
    let config = socket_config(&state);
    let upgrade = upgrade.config(config);
    let Some(token) = id else {
        // No negotiate (Python clients' redirect path, skipNegotiation): a fresh connection.
        let id: Arc<str> = Arc::from(new_id().as_str());
        let client = state
            .connections
            .insert(id.clone(), id, Arc::from(hub), claims, false);
        *client.binding() = Binding::WebSockets { reattach: None };
        return Ok(start(
            state,
            upgrade,
            client,
            ConnectRequest::new(raw_query, headers),
            BytesMut::new(),
        ));
    };
    let client = match state.connections.get(token) {
        Some(client) => client,
        None => match placement::locate(&state, token, hub, &claims, headers).await? {
            Placed::Here(client) => client,
            Placed::Elsewhere(holder) => {
                let relay =
                    placement::relay_to(&state, &holder, upgrade, config, raw_query, headers);
                return Ok(relay.await);
            }
            Placed::Unknown => {
                return Ok(plain(StatusCode::NOT_FOUND, "No Connection with that ID"));
            }
        },
    };
    same_user(&state, &claims, &client)?;
    if !client.allows(TransportKind::WebSockets) {
        return Ok(plain(
            StatusCode::NOT_FOUND,
            "WebSockets transport not supported by this end point type",
        ));
    }
    let mut binding = client.binding();
    match &mut *binding {
        Binding::Negotiated { early } => {
            let early = std::mem::take(early);
            *binding = Binding::WebSockets { reattach: None };
            drop(binding);
            Ok(start(
                state,
                upgrade,
                client,
                ConnectRequest::new(raw_query, headers),
                early,
            ))
        }
        Binding::WebSockets {
            reattach: Some(reattach),
        } => {
            let reattach = reattach.clone();
            drop(binding);
            Ok(upgrade.on_upgrade(
                || {},
                move |socket| async move {
                    // The waiting driver takes the socket over; if it already gave up, the
                    // socket is dropped and the client sees the connection end.
                    let _ = reattach.send(socket).await;
                },
            ))
        }
        Binding::WebSockets { reattach: None } => Ok(plain(
            StatusCode::CONFLICT,
            "The connection already has an active WebSocket.",
        )),
        _ => Ok(plain(
            StatusCode::BAD_REQUEST,
            "Cannot change transports mid-connection",
        )),
    }
}

/// The settings of a client's socket, also used by a relay's socket to the node holding the
/// connection: small buffers, as an idle connection keeps them. Our own writes wait for the
/// socket once WRITE_BUFFER is passed, so only Pongs (queued while reading) can grow the buffer
/// to the bound; a write past it fails and ends the connection. One largest message always
/// fits.
fn socket_config(state: &ClientState) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(WRITE_BUFFER + state.config.max_message_size + FRAME_HEADER)
        .max_message_size(Some(state.config.max_message_size))
}

/// Upgrades and runs the driver in the upgraded task, tracked for shutdown.
fn start(
    state: ClientState,
    upgrade: SocketUpgrade,
    client: Arc<ClientConnection>,
    request: ConnectRequest,
    early: BytesMut,
) -> Response {
    let tasks = state.tasks.clone();
    let window = state.config.disconnect_timeout;
    let failed_state = state.clone();
    let failed_client = client.clone();
    upgrade.on_upgrade(
        move || placement::forget(&failed_state, &failed_client),
        move |socket| {
            let transport = WebSocketTransport {
                socket,
                client: client.clone(),
                reconnect_window: window,
                stalled_pings: 0,
            };
            tasks.track_future(drive(transport, state, client, request, early))
        },
    )
}

/// A WebSocket carrying one connection.
struct WebSocketTransport {
    socket: Socket,
    client: Arc<ClientConnection>,
    reconnect_window: Duration,
    /// Pings received in a row while the output could not be written.
    stalled_pings: u32,
}

impl WebSocketTransport {
    /// Counts a Ping; false once the client has sent too many without reading our output.
    fn ping_allowed(&mut self) -> bool {
        // A Pong is queued for the Ping just read: see whether the output drains at once.
        let drained = matches!(self.socket.flush().now_or_never(), Some(Ok(())));
        self.stalled_pings = if drained { 0 } else { self.stalled_pings + 1 };
        self.stalled_pings <= MAX_STALLED_PINGS
    }
}

impl Transport for WebSocketTransport {
    fn kind(&self) -> TransportKind {
        TransportKind::WebSockets
    }

    async fn recv(&mut self) -> Received {
        loop {
            match self.socket.next().await {
                Some(Ok(Message::Text(text))) => return Received::Data(Bytes::from(text)),
                Some(Ok(Message::Binary(data))) => return Received::Data(data),
                Some(Ok(Message::Close(_))) => return Received::Closed,
                Some(Ok(Message::Ping(_))) if !self.ping_allowed() => {
                    tracing::warn!(
                        connection = %self.client.connection_id,
                        pings = MAX_STALLED_PINGS,
                        "dropping a client that sends Pings but reads none of its output"
                    );
                    return Received::Lost;
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Received::Lost,
            }
        }
    }

    async fn feed(&mut self, binary: bool, frame: Frame) -> Result<(), TransportError> {
        let message = match (binary, frame) {
            (true, frame) => Message::Binary(frame.into_bytes()),
            // Checked once when the message was encoded, for all its recipients.
            (false, Frame::Text(text)) => Message::Text(text),
            (false, Frame::Bytes(bytes)) => {
                Message::Text(Utf8Bytes::try_from(bytes).map_err(|_| TransportError)?)
            }
        };
        self.socket.feed(message).await.map_err(|_| TransportError)
    }

    async fn flush(&mut self) -> Result<(), TransportError> {
        self.socket.flush().await.map_err(|_| TransportError)
    }

    async fn close(&mut self) {
        let _ = self
            .socket
            .send(Message::Close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: Utf8Bytes::from_static(""),
            })))
            .await;
    }

    /// Waits up to the disconnect timeout for the client to open a new WebSocket with the same
    /// connection token, then continues on it.
    async fn reconnect(&mut self) -> bool {
        let (tx, mut rx) = mpsc::channel(1);
        *self.client.binding() = Binding::WebSockets { reattach: Some(tx) };
        let socket = tokio::time::timeout(self.reconnect_window, rx.recv()).await;
        *self.client.binding() = Binding::WebSockets { reattach: None };
        match socket {
            Ok(Some(socket)) => {
                self.socket = socket;
                true
            }
            _ => false,
        }
    }
}
