//! What every client-endpoint request carries: the `hub` query parameter (exactly once) and a
//! token in the `Authorization` header or the `access_token` query parameter.

use axum::http::{HeaderMap, StatusCode, header};

use super::connections::ClientConnection;
use crate::auth::{Audience, AuthMode, Claims, token_from_request, unix_now};
use crate::cluster::forward::FORWARDED_HEADER;
use crate::error::ApiError;
use crate::query::Query;
use crate::state::AppState;

/// The target hub of a client request, validated and lowercased.
pub(super) fn hub_of(query: &Query) -> Result<String, ApiError> {
    query.hub("/client/")
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
    Err(user_mismatch(claims))
}

/// The 403 for a request whose token (`claims`) names another user than the one who opened
/// the connection.
pub(super) fn user_mismatch(claims: &Claims) -> ApiError {
    let named = |user: &Option<String>| match user {
        Some(user) => format!("user '{user}'"),
        None => "no user (anonymous)".to_owned(),
    };
    ApiError::new(
        StatusCode::FORBIDDEN,
        "Error.Auth.UserMismatch",
        format!(
            "The token is for {}, but this connection was opened by another user: requests to a connection need a token of the user who opened it.",
            named(&claims.user_id)
        ),
    )
}

/// A plain-text response, as ASP.NET Core's connection dispatcher answers transport errors.
pub(super) fn plain(status: StatusCode, text: &'static str) -> axum::response::Response {
    use axum::response::IntoResponse;
    (status, [(header::CONTENT_TYPE, "text/plain")], text).into_response()
}

/// What the request that started a transport said about the client, for the upstream and the
/// app server (OpenConnection).
#[derive(Debug, Clone, Default)]
pub(super) struct ConnectRequest {
    /// The query string with its leading `?`, as the upstream's `X-ASRS-Client-Query` and
    /// ASP.NET's `QueryString` carry it.
    pub(super) query: String,
    /// The request headers but the token (and the cluster's own forwarding mark), names lowercased, values of repeated names together.
    pub(super) headers: Vec<(String, Vec<String>)>,
}

impl ConnectRequest {
    /// The parts of a connect request the app server and upstream need.
    pub(super) fn new(raw_query: Option<&str>, headers: &HeaderMap) -> Self {
        let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
        for name in headers.keys() {
            if name == header::AUTHORIZATION || name == FORWARDED_HEADER {
                continue;
            }
            let values = headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            grouped.push((name.as_str().to_owned(), values));
        }
        ConnectRequest {
            query: format!("?{}", raw_query.unwrap_or_default()),
            headers: grouped,
        }
    }
}
