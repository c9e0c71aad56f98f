//! The connect URL `/client/?hub=&id=`: dispatches each request to its transport with ASP.NET
//! Core's status table — WebSocket upgrades, `Accept: text/event-stream` GETs (SSE), other GETs
//! (long polling), POST sends, DELETE for long polling — and its exact error texts.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;

use super::connections::{Binding, ClientConnection};
use super::placement::{self, Placed};
use super::request::{ConnectRequest, claims_of, hub_of, plain, same_user};
use super::state::ClientState;
use super::transport::{Received, TransportKind};
use super::ws_upgrade::{NotAnUpgrade, SocketUpgrade};
use super::{long_polling, sse, websocket};
use crate::error::ApiError;
use crate::query::Query;

/// # `GET|POST|DELETE /client/?hub={hub}&id={connectionToken}`
pub(super) async fn connect(
    State(state): State<ClientState>,
    method: Method,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
    upgrade: Result<SocketUpgrade, NotAnUpgrade>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let query = Query::parse(raw_query.as_deref());
    let hub = hub_of(&query)?;
    let id = query.first("id").filter(|id| !id.is_empty());
    if let (Ok(upgrade), &Method::GET) = (upgrade, &method) {
        return websocket::upgrade(state, upgrade, &headers, raw_query.as_deref(), &hub, id).await;
    }
    let Some(token) = id else {
        return Ok(plain(StatusCode::BAD_REQUEST, "Connection ID required"));
    };
    let claims = claims_of(&state, &headers, raw_query.as_deref(), &hub)?;
    let client = match state.connections.get(token) {
        Some(client) => client,
        None => match placement::locate(&state, token, &hub, &claims, &headers).await? {
            Placed::Here(client) => client,
            Placed::Elsewhere(holder) => {
                let wait = match method {
                    Method::GET if !accepts_event_stream(&headers) => state.config.poll_timeout,
                    _ => Duration::ZERO,
                };
                return Ok(placement::forward_to(
                    &state,
                    &holder,
                    method,
                    raw_query.as_deref(),
                    &headers,
                    body,
                    wait,
                )
                .await);
            }
            Placed::Unknown => {
                return Ok(plain(StatusCode::NOT_FOUND, "No Connection with that ID"));
            }
        },
    };
    same_user(&state, &claims, &client)?;
    match method {
        Method::GET if accepts_event_stream(&headers) => Ok(start_or_refuse(
            state,
            client,
            TransportKind::ServerSentEvents,
            ConnectRequest::new(raw_query.as_deref(), &headers),
        )),
        Method::GET => Ok(long_poll(
            state,
            client,
            ConnectRequest::new(raw_query.as_deref(), &headers),
        )
        .await),
        Method::POST => Ok(send(&client, body, state.config.max_message_size).await),
        Method::DELETE => Ok(delete(&client).await),
        _ => Ok(plain(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.")),
    }
}

fn accepts_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

/// Starts SSE or long polling on a negotiated connection, or answers why it cannot.
fn start_or_refuse(
    state: ClientState,
    client: Arc<ClientConnection>,
    kind: TransportKind,
    request: ConnectRequest,
) -> Response {
    if !client.allows(kind) {
        return plain(
            StatusCode::NOT_FOUND,
            match kind {
                TransportKind::ServerSentEvents => {
                    "ServerSentEvents transport not supported by this end point type"
                }
                _ => "LongPolling transport not supported by this end point type",
            },
        );
    }
    let bound = client.binding().kind();
    match bound {
        None => match kind {
            TransportKind::ServerSentEvents => sse::start(state, client, request),
            _ => long_polling::start(state, client, request),
        },
        Some(current) if current == kind => plain(
            StatusCode::CONFLICT,
            "The connection already has an active transport of this type.",
        ),
        Some(_) => plain(
            StatusCode::BAD_REQUEST,
            "Cannot change transports mid-connection",
        ),
    }
}

/// A long-polling GET: the first one starts the transport, later ones poll.
async fn long_poll(
    state: ClientState,
    client: Arc<ClientConnection>,
    request: ConnectRequest,
) -> Response {
    let polls = match &*client.binding() {
        Binding::LongPolling { polls, .. } => Some(polls.clone()),
        _ => None,
    };
    match polls {
        Some(polls) => long_polling::poll(polls, state.config.poll_timeout).await,
        None => start_or_refuse(state, client, TransportKind::LongPolling, request),
    }
}

/// # `POST /client/?id=`: client bytes for SSE and long-polling connections, and (buffered
/// until the transport starts, as ASP.NET Core does) for connections without one yet.
async fn send(client: &ClientConnection, body: Bytes, early_limit: usize) -> Response {
    let inbound = match &mut *client.binding() {
        Binding::WebSockets { .. } => {
            return plain(
                StatusCode::METHOD_NOT_ALLOWED,
                "POST requests are not allowed for WebSocket connections.",
            );
        }
        Binding::Negotiated { early } => {
            if early.len() + body.len() > early_limit {
                return plain(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Too much was sent before the transport started: start polling (or the event stream) to send more.",
                );
            }
            early.extend_from_slice(&body);
            return plain(StatusCode::OK, "");
        }
        Binding::ServerSentEvents { inbound } | Binding::LongPolling { inbound, .. } => {
            inbound.clone()
        }
    };
    match inbound.send(Received::Data(body)).await {
        Ok(()) => plain(StatusCode::OK, ""),
        Err(_) => plain(StatusCode::NOT_FOUND, "No Connection with that ID"),
    }
}

/// # `DELETE /client/?id=`: ends a long-polling connection.
async fn delete(client: &ClientConnection) -> Response {
    let inbound = match &*client.binding() {
        Binding::LongPolling { inbound, .. } => Some(inbound.clone()),
        _ => None,
    };
    let Some(inbound) = inbound else {
        return plain(
            StatusCode::BAD_REQUEST,
            "Cannot terminate this connection using the DELETE endpoint.",
        );
    };
    // The driver may already be gone; either way the connection is over.
    let _ = inbound.send(Received::Closed).await;
    plain(StatusCode::ACCEPTED, "")
}
