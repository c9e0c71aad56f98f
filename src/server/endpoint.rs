//! `GET /server/?hub=&cid=`: checks the app server's token (audience `/server/?hub=`, with the
//! same keys and precise 401 reasons as REST and clients), learns its server id and upgrades to
//! the WebSocket its ServiceProtocol session runs on.

use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::session::{self, Peer};
use crate::auth::{Audience, Claims, token_from_request, unix_now};
use crate::error::ApiError;
use crate::query::Query;
use crate::state::AppState;

/// The header app servers name themselves in; every connection of one process shares it.
const SERVER_ID_HEADER: &str = "x-asrs-server-id";

/// # `GET /server/?hub={hub}&cid={serverConnectionId}`
pub(super) async fn connect(
    State(state): State<AppState>,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let query = Query::parse(raw_query.as_deref());
    let hub = query.hub("/server/")?;
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let token = token_from_request(authorization, raw_query.as_deref());
    let claims = state.verifier.verify(
        token.as_deref(),
        &Audience::Server { hub: &hub },
        unix_now(),
    )?;
    let Ok(upgrade) = upgrade else {
        return Ok((
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/plain")],
            "The /server endpoint speaks the ServiceProtocol over a WebSocket: send a WebSocket upgrade request.",
        )
            .into_response());
    };
    let connection_id: Arc<str> = match query.first("cid").filter(|cid| !cid.is_empty()) {
        Some(cid) => Arc::from(cid),
        None => Arc::from(uuid::Uuid::new_v4().to_string().as_str()),
    };
    let peer = Peer {
        hub: Arc::from(hub.as_str()),
        server_id: server_id(&headers, &claims, &connection_id),
        connection_id,
    };
    let tasks = state.tasks.clone();
    let upgrade = upgrade.max_message_size(state.config.max_message_size);
    Ok(upgrade
        .on_upgrade(move |socket| tasks.track_future(session::run(socket, state, peer)))
        .into_response())
}

/// `X-ASRS-Server-Id`, else the token's `nameid` (the SDK puts the server id there too), else
/// the connection id: a server connection always belongs to some server.
fn server_id(headers: &HeaderMap, claims: &Claims, connection_id: &Arc<str>) -> Arc<str> {
    let from_header = headers
        .get(SERVER_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|id| !id.is_empty());
    let from_token = || {
        claims
            .claims
            .iter()
            .find(|(name, value)| name == "nameid" && !value.is_empty())
            .map(|(_, value)| value.as_str())
    };
    match from_header.or_else(from_token) {
        Some(id) => Arc::from(id),
        None => connection_id.clone(),
    }
}
