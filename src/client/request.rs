//! What every client-endpoint request carries: the `hub` query parameter (exactly once) and a
//! token in the `Authorization` header or the `access_token` query parameter.

use axum::http::{HeaderMap, StatusCode, header};

use crate::auth::{Audience, Claims, token_from_request, unix_now};
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

/// Verifies the request's token (if any) for the hub. Returns `Ok(None)` when there is no
/// token and the caller may fall back to the claims of an earlier negotiate.
pub(super) fn claims_of(
    state: &AppState,
    headers: &HeaderMap,
    raw_query: Option<&str>,
    hub: &str,
    token_required: bool,
) -> Result<Option<Claims>, ApiError> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let token = token_from_request(authorization, raw_query);
    if token.is_none() && !token_required {
        return Ok(None);
    }
    state
        .verifier
        .verify(token.as_deref(), &Audience::Client { hub }, unix_now())
        .map(Some)
        .map_err(ApiError::from)
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
