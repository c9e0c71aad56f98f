//! `POST /client/negotiate?hub=`: creates a connection and tells the client how to reach it.
//! Versions 0 (the Python clients, no `connectionToken`) and 1 (token separate from the id),
//! exactly as ASP.NET Core's `HttpConnectionDispatcher` answers, stateful reconnect when asked,
//! and the transports the token's `asrs.s.htt` claim allows.

use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Serialize;

use super::connections::allowed_transports;
use super::placement;
use super::portable_token::PortableToken;
use super::request::{claims_of, hub_of, plain};
use super::state::ClientState;
use super::transport::TransportKind;
use crate::auth::{Claims, unix_now};
use crate::error::ApiError;
use crate::query::Query;

/// The newest negotiate version the server speaks.
const MAX_NEGOTIATE_VERSION: i64 = 1;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NegotiateResponse {
    /// Written first and only when true, as the newest ASP.NET Core does; clients that did not
    /// ask for it reject it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    use_stateful_reconnect: bool,
    negotiate_version: i64,
    connection_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    connection_token: Option<String>,
    available_transports: Vec<TransportInfo>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TransportInfo {
    transport: &'static str,
    transfer_formats: &'static [&'static str],
}

/// The transports, in preference order, with their transfer formats.
const TRANSPORTS: &[(TransportKind, &[&str])] = &[
    (TransportKind::WebSockets, &["Text", "Binary"]),
    (TransportKind::ServerSentEvents, &["Text"]),
    (TransportKind::LongPolling, &["Text", "Binary"]),
];

/// A 22-character URL-safe random id (16 random bytes), as ASP.NET Core generates.
pub(super) fn new_id() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}

/// # `POST /client/negotiate?hub={hub}[&negotiateVersion=1]`
///
/// Verifies the token, creates the connection and answers with its id (and token for version
/// 1) and the transports. Version errors are 200 with an `error` body, as clients expect.
pub(super) async fn negotiate(
    State(state): State<ClientState>,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = Query::parse(raw_query.as_deref());
    let hub = hub_of(&query)?;
    let version = match query.first("negotiateVersion") {
        None => 0,
        Some(text) => match text.parse::<i64>() {
            Err(_) => {
                return Ok(negotiate_error(
                    "The client requested a non-integer protocol version.",
                ));
            }
            Ok(v) if v < 0 => {
                return Ok(negotiate_error(&format!(
                    "The client requested version '{v}', but the server does not support this version."
                )));
            }
            Ok(v) => v.min(MAX_NEGOTIATE_VERSION),
        },
    };
    let claims = claims_of(&state, &headers, raw_query.as_deref(), &hub)?;
    let stateful = query
        .first("useStatefulReconnect")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let allowed = allowed_transports(&claims);
    let available_transports: Vec<TransportInfo> = TRANSPORTS
        .iter()
        .filter(|(kind, _)| allowed & kind.bit() != 0)
        .map(|(kind, transfer_formats)| TransportInfo {
            transport: kind.name(),
            transfer_formats,
        })
        .collect();
    if available_transports.is_empty() {
        return Ok(negotiate_error(&format!(
            "The token's 'asrs.s.htt' claim ({allowed}) allows none of the transports (WebSockets = 1, ServerSentEvents = 2, LongPolling = 4)."
        )));
    }

    let (connection_id, token) = if state.cluster.is_some() {
        // Any node may serve the connection: the node its first transport request reaches
        // takes it (see placement); nothing is stored until then.
        portable_ids(&state, &hub, &claims, version, stateful)
    } else {
        let connection_id = new_id();
        let token = if version >= 1 {
            new_id()
        } else {
            connection_id.clone()
        };
        state.connections.insert(
            Arc::from(token.as_str()),
            Arc::from(connection_id.as_str()),
            Arc::from(hub.as_str()),
            claims,
            stateful,
        );
        (connection_id, token)
    };
    tracing::debug!(%hub, connection = %connection_id, version, stateful, "negotiated");
    Ok(Json(NegotiateResponse {
        use_stateful_reconnect: stateful,
        negotiate_version: version,
        connection_id,
        connection_token: (version >= 1).then_some(token),
        available_transports,
    })
    .into_response())
}

/// The connection id and token of a connection any node of the cluster accepts: a signed
/// [`PortableToken`]; for version 0, which has no separate token, the token is the id too.
fn portable_ids(
    state: &ClientState,
    hub: &str,
    claims: &Claims,
    version: i64,
    stateful: bool,
) -> (String, String) {
    let portable = PortableToken {
        connection_id: new_id(),
        stateful,
        legacy: version < 1,
        issued: unix_now(),
    };
    let token = portable.sign(
        &state.config.access_keys[0],
        placement::binding(state, hub, claims),
    );
    (portable.public_id(&token).to_owned(), token)
}

fn negotiate_error(error: &str) -> Response {
    Json(serde_json::json!({ "error": error })).into_response()
}

/// Negotiate accepts POST only.
pub(super) async fn method_not_allowed() -> Response {
    plain(
        StatusCode::METHOD_NOT_ALLOWED,
        "Negotiate requires POST: POST /client/negotiate?hub=<hub>.",
    )
}
