//! One server connection's task: the ServiceProtocol handshake (version 1, within the handshake
//! timeout), then one loop that reads the byte stream frame by frame and applies each message
//! in order, drains the connection's bounded queue to the socket, pings every few seconds and
//! drops an app server that went silent. When it ends, the hub forgets the connection and the
//! clients bound to it are closed with allowReconnect.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use bytes::{Bytes, BytesMut};
use futures_util::SinkExt;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tracing::Instrument;

use super::across::{self, Forwarder, Remote};
use super::dispatch::{self, Flow};
use crate::config::ServiceMode;
use crate::hub::{
    Hub, SEND_TIMEOUT, ServerConnection, ServerHandle, ServerIdentity, ServerKind, ServerOutbox,
    TraceEvent, TraceKind,
};
use crate::protocol::service::{
    HandshakeRequest, HandshakeResponse, Ping, ServiceError, ServiceMessage, encode_frame,
    next_frame,
};
use crate::state::AppState;

/// The only ServiceProtocol version.
const VERSION: i32 = 1;
/// The SDK drops a server connection after 30 s without a message; we do the same to an app
/// server that stopped talking (it pings whenever it has received something recently).
const SERVER_TIMEOUT: Duration = Duration::from_secs(30);
/// Frames written before one flush.
const MAX_BATCH: usize = 64;
/// App servers send fan-out payloads once per hub protocol, so their frames may be larger than
/// a client's messages.
const SERVER_MESSAGE_FACTOR: usize = 4;

/// Who connected, from the URL and headers.
#[derive(Debug)]
pub(super) struct Peer {
    /// The internal hub name.
    pub(super) hub: Arc<str>,
    /// The app server's id.
    pub(super) server_id: Arc<str>,
    /// The server connection's id (`cid`).
    pub(super) connection_id: Arc<str>,
}

/// The largest ServiceProtocol frame accepted from an app server.
fn max_frame(state: &AppState) -> usize {
    state
        .config
        .max_message_size
        .saturating_mul(SERVER_MESSAGE_FACTOR)
}

/// Runs one server connection until it ends.
pub(super) async fn run(mut socket: WebSocket, state: AppState, peer: Peer) {
    let span = tracing::info_span!(
        "server_connection",
        hub = %peer.hub,
        cid = %peer.connection_id,
        server_id = %peer.server_id
    );
    async {
        let mut input = BytesMut::new();
        let Some(request) = handshake(&mut socket, &state, &mut input).await else {
            return;
        };
        let Some(kind) = accepted_kind(&mut socket, &state, &request).await else {
            return;
        };
        let hub = state.hubs.get_or_create(&peer.hub);
        let identity = ServerIdentity {
            id: peer.connection_id.clone(),
            server_id: peer.server_id.clone(),
            hub: hub.name().clone(),
            kind,
            stateful_reconnects: request.allow_stateful_reconnects,
        };
        let (server, outbox) = ServerConnection::new(
            identity,
            state.config.server_send_queue,
            &state.shutdown,
            state.hubs.service_metrics().clone(),
        );
        // Registered before the app server learns it is connected, so that a client routed
        // here meanwhile has its OpenConnection queued behind the handshake response.
        hub.add_server(server.clone());
        announce_app_servers(&state, &hub);
        let welcome = ServiceMessage::HandshakeResponse(HandshakeResponse {
            error_message: None,
            ext: Default::default(),
            connection_id: Some(peer.connection_id.to_string()),
        });
        state.hubs.service_metrics().count_sent(welcome.type_id());
        if write_now(&mut socket, encode_frame(&welcome))
            .await
            .is_err()
        {
            hub.remove_server(server.id(), "The app server connection was lost.");
            announce_app_servers(&state, &hub);
            return;
        }
        tracing::info!(kind = kind.name(), "app server connected");
        hub.trace().emit(|| {
            let kind = TraceKind::ServerConnected {
                server_connection: server.id().clone(),
                server_id: server.server_id().clone(),
                server_kind: kind.name(),
            };
            TraceEvent::now(hub.name().clone(), None, kind)
        });
        let reason = serve(&mut socket, &state, &hub, &server, outbox, input).await;
        tracing::info!(reason, "app server disconnected");
        hub.remove_server(
            server.id(),
            &format!("The app server connection closed: {reason}."),
        );
        announce_app_servers(&state, &hub);
        hub.trace().emit(|| {
            let kind = TraceKind::ServerDisconnected {
                server_connection: server.id().clone(),
                reason: reason.to_owned(),
            };
            TraceEvent::now(hub.name().clone(), None, kind)
        });
    }
    .instrument(span)
    .await;
}

/// Reads the first message, which must be a HandshakeRequest of version 1.
async fn handshake(
    socket: &mut WebSocket,
    state: &AppState,
    input: &mut BytesMut,
) -> Option<HandshakeRequest> {
    let deadline = Instant::now() + state.config.handshake_timeout;
    loop {
        match next_message(input, max_frame(state)) {
            Ok(Some(ServiceMessage::HandshakeRequest(request))) => {
                state.hubs.service_metrics().count_received(1);
                if request.version != VERSION {
                    let error = format!(
                        "The ServiceProtocol version {} is not supported; this service speaks version {VERSION}.",
                        request.version
                    );
                    refuse(socket, state, error).await;
                    return None;
                }
                return Some(request);
            }
            Ok(Some(other)) => {
                let error = format!(
                    "The first message of a server connection must be a HandshakeRequest, not {}.",
                    other.name()
                );
                refuse(socket, state, error).await;
                return None;
            }
            Ok(None) => {}
            Err(error) => {
                refuse(socket, state, error).await;
                return None;
            }
        }
        tokio::select! {
            received = socket.recv() => match received {
                Some(Ok(Message::Binary(data))) => input.extend_from_slice(&data),
                Some(Ok(Message::Text(text))) => input.extend_from_slice(text.as_bytes()),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
                Some(Ok(_)) => {}
            },
            () = sleep_until(deadline) => {
                let error = format!(
                    "No HandshakeRequest arrived within the handshake timeout of {} s.",
                    state.config.handshake_timeout.as_secs()
                );
                refuse(socket, state, error).await;
                return None;
            }
            () = state.shutdown.cancelled() => return None,
        }
    }
}

/// The connection's kind, if the service mode accepts it; otherwise the app server is told why.
async fn accepted_kind(
    socket: &mut WebSocket,
    state: &AppState,
    request: &HandshakeRequest,
) -> Option<ServerKind> {
    let Some(kind) = ServerKind::from_type(request.connection_type) else {
        let error = format!(
            "The server connection type {} is unknown; use 0 (Default), 1 (OnDemand) or 2 (Weak).",
            request.connection_type.value()
        );
        refuse(socket, state, error).await;
        return None;
    };
    if kind.carries_clients() && state.config.service_mode == ServiceMode::Serverless {
        let error = format!(
            "The service runs in Serverless mode (--service-mode serverless), so app servers cannot connect; only the Management SDK's Weak connections are accepted. A {} connection was refused.",
            kind.name()
        );
        refuse(socket, state, error).await;
        return None;
    }
    Some(kind)
}

/// Takes the next complete message off `input`. `Ok(None)` means more bytes are needed; the
/// error is the text to tell the app server before closing.
fn next_message(input: &mut BytesMut, max_frame: usize) -> Result<Option<ServiceMessage>, String> {
    next_frame(input, max_frame).map_err(|error| error.to_string())
}

/// Answers a handshake with an error and closes.
async fn refuse(socket: &mut WebSocket, state: &AppState, error: String) {
    tracing::info!(error, "server handshake refused");
    let response = ServiceMessage::HandshakeResponse(HandshakeResponse {
        error_message: Some(error),
        ext: Default::default(),
        connection_id: None,
    });
    state.hubs.service_metrics().count_sent(response.type_id());
    let _ = tokio::time::timeout(SEND_TIMEOUT, async {
        let _ = write_now(socket, encode_frame(&response)).await;
        close_socket(socket).await;
    })
    .await;
}

async fn write_now(socket: &mut WebSocket, frame: Bytes) -> Result<(), axum::Error> {
    tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Binary(frame)))
        .await
        .unwrap_or_else(|_| Err(axum::Error::new("the app server did not read in time")))
}

async fn close_socket(socket: &mut WebSocket) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: close_code::NORMAL,
            reason: Utf8Bytes::from_static(""),
        })))
        .await;
}

/// What woke the loop.
enum Wake<'a> {
    Closing,
    Frame(Bytes),
    Received(Option<Result<Message, axum::Error>>),
    Room(Option<mpsc::Permit<'a, Remote>>),
    Ping,
}

/// The message loop; returns why the connection ended.
async fn serve(
    socket: &mut WebSocket,
    state: &AppState,
    hub: &Arc<Hub>,
    server: &ServerHandle,
    mut outbox: ServerOutbox,
    mut input: BytesMut,
) -> String {
    let ping = encode_frame(&ServiceMessage::Ping(Ping::default()));
    let mut ping_tick = tokio::time::interval(state.config.server_ping_interval);
    ping_tick.reset();
    let mut heard_at = Instant::now();
    let context = dispatch::Context { state, hub, server };
    let forwarder = state
        .cluster
        .clone()
        .map(|cluster| across::start(&state.tasks, cluster, hub.clone(), server.clone()));
    // A message's part for the other nodes that waits for room in the forwarder; nothing more
    // is read from the app server meanwhile.
    let mut waiting = None;
    // Messages that came in the same frame as the handshake come first.
    match drain(&context, forwarder.as_ref(), &mut input) {
        Flow::Close(reason) => return goodbye(socket, state, &mut outbox, Some(reason)).await,
        Flow::Across(part) => waiting = Some(part),
        Flow::Continue => {}
    }
    loop {
        let wake = tokio::select! {
            biased;
            () = outbox.closing.cancelled() => Wake::Closing,
            frame = outbox.frames.recv() => Wake::Frame(frame),
            room = room(forwarder.as_ref()), if waiting.is_some() => Wake::Room(room),
            received = socket.recv(), if waiting.is_none() => Wake::Received(received),
            _ = ping_tick.tick() => Wake::Ping,
        };
        let drained = match wake {
            Wake::Closing => {
                let reason = server.close_reason().map(str::to_owned);
                return goodbye(socket, state, &mut outbox, reason).await;
            }
            Wake::Frame(first) => {
                if write_batch(socket, server, first, &mut outbox)
                    .await
                    .is_err()
                {
                    return "the app server stopped reading".to_owned();
                }
                continue;
            }
            Wake::Room(room) => {
                if let (Some(room), Some(part)) = (room, waiting.take()) {
                    room.send(part);
                }
                drain(&context, forwarder.as_ref(), &mut input)
            }
            Wake::Received(Some(Ok(message))) => {
                let data = match message {
                    Message::Binary(data) => data,
                    Message::Text(text) => Bytes::from(text),
                    Message::Close(_) => return "the app server closed the connection".to_owned(),
                    Message::Ping(_) | Message::Pong(_) => continue,
                };
                heard_at = Instant::now();
                input.extend_from_slice(&data);
                drain(&context, forwarder.as_ref(), &mut input)
            }
            Wake::Received(Some(Err(_)) | None) => return "the connection was lost".to_owned(),
            Wake::Ping if heard_at.elapsed() >= SERVER_TIMEOUT => {
                let reason = format!(
                    "The app server sent nothing for {} s.",
                    SERVER_TIMEOUT.as_secs()
                );
                return goodbye(socket, state, &mut outbox, Some(reason)).await;
            }
            Wake::Ping => {
                state.hubs.service_metrics().count_sent(3);
                if write_now(socket, ping.clone()).await.is_err() {
                    return "the app server stopped reading".to_owned();
                }
                server.count_sent(1);
                continue;
            }
        };
        match drained {
            Flow::Close(reason) => return goodbye(socket, state, &mut outbox, Some(reason)).await,
            Flow::Across(part) => waiting = Some(part),
            Flow::Continue => {}
        }
    }
}

/// Room for one part in the forwarder; `None` when there is no forwarder (never waited for).
async fn room(forwarder: Option<&Forwarder>) -> Option<mpsc::Permit<'_, Remote>> {
    forwarder?.reserve().await.ok()
}

/// Applies every complete message in `input`, in order, handing each part for the other
/// nodes to the forwarder. Stops at a part the forwarder has no room for, which it returns
/// ([`Flow::Across`]); the messages after it stay in `input`.
fn drain(
    context: &dispatch::Context<'_>,
    forwarder: Option<&Forwarder>,
    input: &mut BytesMut,
) -> Flow {
    loop {
        match next_message(input, max_frame(context.state)) {
            Ok(Some(message)) => {
                context.server.count_received(message.type_id());
                match dispatch::apply(context, message) {
                    Flow::Continue => {}
                    Flow::Across(part) => {
                        let Some(forwarder) = forwarder else {
                            continue;
                        };
                        match forwarder.try_send(part) {
                            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
                            Err(mpsc::error::TrySendError::Full(part)) => {
                                return Flow::Across(part);
                            }
                        }
                    }
                    Flow::Close(reason) => return Flow::Close(reason),
                }
            }
            Ok(None) => return Flow::Continue,
            Err(error) => return Flow::Close(error),
        }
    }
}

/// Writes `first` and whatever else is queued (up to a batch), then flushes once.
async fn write_batch(
    socket: &mut WebSocket,
    server: &ServerConnection,
    first: Bytes,
    outbox: &mut ServerOutbox,
) -> Result<(), axum::Error> {
    let mut written = 0;
    let result = tokio::time::timeout(SEND_TIMEOUT, async {
        let mut next = Some(first);
        while let Some(frame) = next.take() {
            socket.feed(Message::Binary(frame)).await?;
            written += 1;
            if written < MAX_BATCH {
                next = outbox.frames.try_recv().ok();
            }
        }
        socket.flush().await
    })
    .await
    .unwrap_or_else(|_| Err(axum::Error::new("the app server did not read in time")));
    server.count_sent(written as u64);
    result
}

/// Ends the connection: what is queued, then a ServiceError saying why (a server shutdown when
/// `reason` is `None`), then the WebSocket close. Returns the reason for the log.
async fn goodbye(
    socket: &mut WebSocket,
    state: &AppState,
    outbox: &mut ServerOutbox,
    reason: Option<String>,
) -> String {
    let reason = reason.unwrap_or_else(|| "The service is shutting down.".to_owned());
    let error = ServiceMessage::ServiceError(ServiceError {
        error_message: reason.clone(),
    });
    state.hubs.service_metrics().count_sent(error.type_id());
    let _ = tokio::time::timeout(SEND_TIMEOUT, async {
        while let Ok(frame) = outbox.frames.try_recv() {
            socket.feed(Message::Binary(frame)).await?;
        }
        socket.feed(Message::Binary(encode_frame(&error))).await?;
        socket.flush().await
    })
    .await;
    let _ = tokio::time::timeout(SEND_TIMEOUT, close_socket(socket)).await;
    reason
}

/// Tells the cluster whether this node has an app server for `hub` now (call after one
/// connected or left), so that other nodes relay that hub's clients here when they have none.
fn announce_app_servers(state: &AppState, hub: &Arc<Hub>) {
    if let Some(cluster) = state.cluster.clone() {
        let hub = hub.clone();
        // Read when the task runs, so the last announcement says how things are now.
        state.tasks.spawn(async move {
            cluster
                .announce_app_servers(hub.name(), hub.has_app_server())
                .await;
        });
    }
}
