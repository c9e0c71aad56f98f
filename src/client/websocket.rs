//! The WebSocket transport on `GET /client/?hub=&id=`: the upgrade (with or without a negotiated
//! `id`), then one task per connection that owns the socket, reads client frames into the
//! session, drains the connection's bounded queue, pings after idle output and enforces the
//! handshake and client timeouts.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures_util::SinkExt;
use tokio::time::{Instant, sleep_until};

use super::negotiate::new_id;
use super::request::{claims_of, hub_of, plain};
use super::session::{Next, Session, read_handshake};
use crate::auth::Claims;
use crate::error::ApiError;
use crate::hub::{Connection, ConnectionHandle, Outbox};
use crate::protocol::handshake::{self, Agreed};
use crate::protocol::{Close, Encoded, HubMessage, Protocol};
use crate::query::Query;
use crate::state::AppState;

/// Read buffer per socket. Hub messages are small; a large default buffer per idle connection
/// would dominate memory at tens of thousands of connections.
const READ_BUFFER: usize = 4 * 1024;
/// Bytes buffered before tungstenite writes to the socket; we flush after every batch anyway.
const WRITE_BUFFER: usize = 8 * 1024;
/// Frames written before one flush, so a burst costs few syscalls but latency stays bounded.
const MAX_BATCH: usize = 64;
/// How long a closing connection may take to hand its last frames to the socket.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Who the connection is, decided before the upgrade.
struct Identity {
    connection_id: Arc<str>,
    hub: Arc<str>,
    claims: Claims,
}

/// # `GET /client/?hub={hub}[&id={connectionToken}]`
///
/// Upgrades to a WebSocket. With `id`, the connection negotiate created is used (404 when
/// unknown); without it a connection is created on the spot, as the Python clients and
/// `skipNegotiation` expect. Other methods and non-upgrade requests get ASP.NET Core's answers.
pub(super) async fn connect(
    State(state): State<AppState>,
    method: Method,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let query = Query::parse(raw_query.as_deref());
    let hub = hub_of(&query)?;
    let id = query.first("id").filter(|id| !id.is_empty());
    let upgrade = match upgrade {
        Ok(upgrade) if method == Method::GET => upgrade,
        _ => return Ok(not_a_websocket(&method, &headers, id)),
    };
    let claims = claims_of(&state, &headers, raw_query.as_deref(), &hub, id.is_none())?;
    let identity = match id {
        Some(token) => {
            let Some(pending) = state.negotiated.take(token) else {
                return Ok(plain(StatusCode::NOT_FOUND, "No Connection with that ID"));
            };
            Identity {
                connection_id: pending.connection_id,
                claims: claims.unwrap_or(pending.claims),
                hub: pending.hub,
            }
        }
        None => Identity {
            connection_id: Arc::from(new_id().as_str()),
            hub: Arc::from(hub.as_str()),
            claims: claims.unwrap_or_default(),
        },
    };
    let tasks = state.tasks.clone();
    Ok(upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(state.config.max_message_size)
        .on_upgrade(move |socket| tasks.track_future(run(socket, state, identity)))
        .into_response())
}

/// Answers requests to the connect URL that are not WebSocket upgrades. Server-Sent Events and
/// long polling are not implemented yet, so they get ASP.NET Core's "not supported" answers.
fn not_a_websocket(method: &Method, headers: &HeaderMap, id: Option<&str>) -> Response {
    if id.is_none() {
        return plain(StatusCode::BAD_REQUEST, "Connection ID required");
    }
    let wants_sse = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    match *method {
        Method::GET if wants_sse => plain(
            StatusCode::NOT_FOUND,
            "ServerSentEvents transport not supported by this end point type",
        ),
        Method::GET => plain(
            StatusCode::NOT_FOUND,
            "LongPolling transport not supported by this end point type",
        ),
        Method::POST => plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "POST requests are not allowed for WebSocket connections.",
        ),
        Method::DELETE => plain(
            StatusCode::BAD_REQUEST,
            "Cannot terminate this connection using the DELETE endpoint.",
        ),
        _ => plain(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed."),
    }
}

/// The life of one WebSocket connection: handshake, registration, message loop, cleanup.
async fn run(mut socket: WebSocket, state: AppState, identity: Identity) {
    let mut input = BytesMut::new();
    let Some(agreed) = handshake(&mut socket, &state, &mut input).await else {
        return;
    };
    let hub = state.hubs.get_or_create(&identity.hub);
    let (connection, outbox) = Connection::new(
        identity.connection_id.clone(),
        hub.name().clone(),
        identity.claims.user_id.as_deref().map(Arc::from),
        agreed.protocol,
        state.config.send_queue,
        &state.shutdown,
    );
    let span = tracing::info_span!("connection", hub = %hub.name(), id = %connection.id());
    let _enter = span.enter();
    if send(
        &mut socket,
        agreed.protocol,
        Bytes::from_static(handshake::SUCCESS),
    )
    .await
    .is_err()
    {
        return;
    }
    hub.add_connection(connection.clone());
    tracing::info!(user = ?connection.user_id(), protocol = agreed.protocol.name(), "connected");
    let session = Session::new(connection.clone(), input, state.config.max_message_size);
    let reason = serve(&mut socket, &state, &connection, outbox, session).await;
    hub.remove_connection(connection.id());
    connection.fail_pending();
    tracing::info!(reason, "disconnected");
}

/// Reads until the handshake request is complete, answers errors, and returns what was agreed.
async fn handshake(
    socket: &mut WebSocket,
    state: &AppState,
    input: &mut BytesMut,
) -> Option<Agreed> {
    let deadline = Instant::now() + state.config.handshake_timeout;
    let request = loop {
        match read_handshake(input, state.config.max_message_size) {
            Ok(Some(request)) => break request,
            Ok(None) => {}
            Err(error) => {
                reject(socket, &error).await;
                return None;
            }
        }
        tokio::select! {
            frame = socket.recv() => match frame {
                Some(Ok(Message::Text(text))) => input.extend_from_slice(text.as_bytes()),
                Some(Ok(Message::Binary(data))) => input.extend_from_slice(&data),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            },
            () = sleep_until(deadline) => {
                reject(socket, handshake::CANCELED).await;
                return None;
            }
            () = state.shutdown.cancelled() => return None,
        }
    };
    match handshake::agree(&request, true) {
        Ok(agreed) => Some(agreed),
        Err(error) => {
            reject(socket, &error).await;
            None
        }
    }
}

/// Sends a handshake error (always a text frame: the format is not fixed yet) and closes.
async fn reject(socket: &mut WebSocket, error: &str) {
    tracing::debug!(error, "handshake failed");
    let _ = send(socket, Protocol::Json, handshake::error_response(error)).await;
    let _ = close_socket(socket).await;
}

/// The message loop. Returns why the connection ended, for the log.
async fn serve(
    socket: &mut WebSocket,
    state: &AppState,
    connection: &ConnectionHandle,
    mut outbox: Outbox,
    mut session: Session,
) -> &'static str {
    let protocol = connection.protocol();
    let keep_alive = state.config.keep_alive_interval;
    let client_timeout = state.config.client_timeout;
    let mut ping_at = Instant::now() + keep_alive;
    let mut client_deadline = Instant::now() + client_timeout;
    let mut replies = Vec::new();

    // Messages the client sent in the same chunk as its handshake come first.
    let mut next = session.drain(&mut replies);
    loop {
        for reply in replies.drain(..) {
            if send(socket, protocol, reply).await.is_err() {
                return "socket error";
            }
            ping_at = Instant::now() + keep_alive;
        }
        match std::mem::replace(&mut next, Next::Continue) {
            Next::Continue => {}
            Next::ClientClosed => {
                let _ = close_socket(socket).await;
                return "client sent Close";
            }
            Next::Close(close) => return close_with(socket, protocol, &mut outbox, close).await,
        }
        tokio::select! {
            biased;
            () = outbox.closing.cancelled() => {
                let close = connection.close_reason().cloned().unwrap_or(Close {
                    error: Some("The server is shutting down.".into()),
                    allow_reconnect: true,
                });
                return close_with(socket, protocol, &mut outbox, close).await;
            }
            frame = outbox.frames.recv() => {
                let Some(frame) = frame else { return "queue closed" };
                if write_batch(socket, protocol, frame, &mut outbox).await.is_err() {
                    return "socket error";
                }
                ping_at = Instant::now() + keep_alive;
            }
            frame = socket.recv() => {
                let data = match frame {
                    Some(Ok(Message::Text(text))) => Bytes::from(text),
                    Some(Ok(Message::Binary(data))) => data,
                    Some(Ok(Message::Close(_))) | None => return "client closed the socket",
                    Some(Ok(_)) => continue,
                    Some(Err(_)) => return "socket error",
                };
                client_deadline = Instant::now() + client_timeout;
                next = session.on_bytes(&data, &mut replies);
            }
            () = sleep_until(ping_at) => {
                let ping = Encoded::new(HubMessage::Ping).frame(protocol);
                if send(socket, protocol, ping).await.is_err() {
                    return "socket error";
                }
                ping_at = Instant::now() + keep_alive;
            }
            () = sleep_until(client_deadline), if session.client_pinged => {
                let close = Close {
                    error: Some(format!(
                        "Connection closed with an error. Client hasn't sent a message/ping within the configured client timeout of {} s.",
                        client_timeout.as_secs()
                    )),
                    allow_reconnect: true,
                };
                close_with(socket, protocol, &mut outbox, close).await;
                return "client timeout";
            }
        }
    }
}

/// Writes `first` and whatever else is already queued (up to a batch), then flushes once.
async fn write_batch(
    socket: &mut WebSocket,
    protocol: Protocol,
    first: Bytes,
    outbox: &mut Outbox,
) -> Result<(), axum::Error> {
    socket.feed(message(protocol, first)?).await?;
    for _ in 1..MAX_BATCH {
        match outbox.frames.try_recv() {
            Ok(frame) => socket.feed(message(protocol, frame)?).await?,
            Err(_) => break,
        }
    }
    socket.flush().await
}

/// Sends what is still queued, then the Close message and a close frame, within the close
/// timeout.
async fn close_with(
    socket: &mut WebSocket,
    protocol: Protocol,
    outbox: &mut Outbox,
    close: Close,
) -> &'static str {
    let closing = async {
        while let Ok(frame) = outbox.frames.try_recv() {
            socket.feed(message(protocol, frame)?).await?;
        }
        let frame = Encoded::new(HubMessage::Close(close)).frame(protocol);
        socket.feed(message(protocol, frame)?).await?;
        close_socket(socket).await
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, closing).await;
    "closed by the server"
}

async fn close_socket(socket: &mut WebSocket) -> Result<(), axum::Error> {
    socket
        .send(Message::Close(Some(CloseFrame {
            code: close_code::NORMAL,
            reason: Utf8Bytes::from_static(""),
        })))
        .await
}

async fn send(socket: &mut WebSocket, protocol: Protocol, frame: Bytes) -> Result<(), axum::Error> {
    socket.send(message(protocol, frame)?).await
}

/// JSON goes in text frames, binary protocols in binary frames.
fn message(protocol: Protocol, frame: Bytes) -> Result<Message, axum::Error> {
    if protocol.is_binary() {
        Ok(Message::Binary(frame))
    } else {
        Utf8Bytes::try_from(frame)
            .map(Message::Text)
            .map_err(axum::Error::new)
    }
}
