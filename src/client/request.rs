//! What every client-endpoint request carries: the `hub` query parameter (exactly once) and a
//! token in the `Authorization` header or the `access_token` query parameter.

use axum::http::{HeaderMap, StatusCode, header};

use super::connections::ClientConnection;
use crate::auth::{Audience, AuthMode, Claims, token_from_request, unix_now};
use crate::error::ApiError;
use crate::hub::names::internal_hub_name;
use crate::query::Query;
use crate::state::AppState;

/// The target hub of a client request, validated and lowercased.
pub(super) fn hub_of(query: &Query) -> Result<String, ApiError> {
    match query.count("hub") {
        0 => Err(ApiError::bad_request(
            "hub",
            "The 'hub' query parameter is required, e.g. /client/?hub=chat.",
        )),
        1 => Ok(internal_hub_name(
            query.first("hub").unwrap_or_default(),
            None,
        )?),
        n => Err(ApiError::bad_request(
            "hub",
            format!("The 'hub' query parameter must appear once; it appears {n} times."),
        )),
    }
}

/// Verifies the request's token for the hub: every client request needs one (unless auth is
/// off), the ones to an existing connection (`id=`) included.
pub(super) fn claims_of(
    state: &AppState,
    headers: &HeaderMap,
    raw_query: Option<&str>,
    hub: &str,
) -> Result<Claims, ApiError> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let token = token_from_request(authorization, raw_query);
    state
        .verifier
        .verify(token.as_deref(), &Audience::Client { hub }, unix_now())
        .map_err(ApiError::from)
}

/// Refuses a request to `client` whose token names another user than the one the connection
/// was opened for: holding a connection id (public with negotiate version 0) is not enough to
/// read, send as or close someone else's connection, as on Azure.
pub(super) fn same_user(
    state: &AppState,
    claims: &Claims,
    client: &ClientConnection,
) -> Result<(), ApiError> {
    if state.verifier.mode() == AuthMode::Off || claims.user_id == client.claims.user_id {
        return Ok(());
    }
    let named = |user: &Option<String>| match user {
        Some(user) => format!("user '{user}'"),
        None => "no user (anonymous)".to_owned(),
    };
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "Error.Auth.UserMismatch",
        format!(
            "The token is for {}, but this connection was opened by another user: requests to a connection need a token of the user who opened it.",
            named(&claims.user_id)
        ),
    ))
}

/// A plain-text response, as ASP.NET Core's connection dispatcher answers transport errors.
pub(super) fn plain(status: StatusCode, text: &'static str) -> axum::response::Response {
    use axum::response::IntoResponse;
    (status, [(header::CONTENT_TYPE, "text/plain")], text).into_response()
}

/// The connect request's query string as the upstream's `X-ASRS-Client-Query` carries it
/// (with the leading `?`, as asrs-emulator sends it).
pub(super) fn client_query(raw_query: Option<&str>) -> String {
    format!("?{}", raw_query.unwrap_or_default())
}
