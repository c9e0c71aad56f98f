//! The extractors every REST handler starts with: [`Authorized`] verifies the bearer token
//! against the request path; [`HubRequest`] also resolves the hub (with the `application`
//! prefix) and validates the user, group and connection-id path parameters it is asked for.
//! Every failure becomes an `ErrorDetail` response.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Uri, header};

use crate::auth::{Audience, AuthError, Claims, Verifier, token_from_request, unix_now};
use crate::cluster::Cluster;
use crate::config::Config;
use crate::error::ApiError;
use crate::hub::Hub;
use crate::hub::names::{
    InvalidName, check_connection_id, check_group, check_user, internal_hub_name,
};
use crate::query::Query;
use crate::state::AppState;
use crate::text::sentence_end;

/// An authenticated REST request on one hub.
#[derive(Debug)]
pub(super) struct HubRequest {
    /// The hub, created on first use.
    pub(super) hub: Arc<Hub>,
    /// The decoded query string.
    pub(super) query: Query,
    /// The server's configuration.
    pub(super) config: Arc<Config>,
    /// The request target as received.
    pub(super) uri: Uri,
    /// The cluster this node is in, if any: operations reach the other nodes through it.
    pub(super) cluster: Option<Arc<Cluster>>,
    host: Option<HeaderValue>,
    params: HashMap<String, String>,
}

impl<S: Send + Sync> FromRequestParts<S> for HubRequest
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Authorized(state) = Authorized::from_request_parts(parts, state).await?;
        let query = Query::parse(parts.uri.query());
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, &state)
            .await
            .map_err(|e| {
                ApiError::bad_request(
                    "path",
                    format!("Invalid path parameter: {}", sentence_end(e)),
                )
            })?;
        let hub_name = internal_hub_name(
            params.get("hub").map(String::as_str).unwrap_or_default(),
            query.first("application"),
        )?;
        Ok(HubRequest {
            hub: state.hubs.get_or_create(&hub_name),
            query,
            uri: parts.uri.clone(),
            host: parts.headers.get(header::HOST).cloned(),
            config: state.config,
            cluster: state.cluster,
            params,
        })
    }
}

/// A REST request whose bearer token was verified against the request path; it carries the
/// application state for handlers that need no hub.
#[derive(Debug)]
pub(super) struct Authorized(pub(super) AppState);

impl<S: Send + Sync> FromRequestParts<S> for Authorized
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = AppState::from_ref(state);
        authorize(parts, &state, Verifier::verify)?;
        Ok(Authorized(state))
    }
}

/// Like [`Authorized`], for a route that hands out a secret: the token's `aud` must name the
/// request path in relaxed mode too, so a client token (whose audience is `/client/`) cannot
/// read the access key it was signed with.
#[derive(Debug)]
pub(super) struct AuthorizedForSecrets(pub(super) AppState);

impl<S: Send + Sync> FromRequestParts<S> for AuthorizedForSecrets
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = AppState::from_ref(state);
        authorize(parts, &state, Verifier::verify_for_secrets)?;
        Ok(AuthorizedForSecrets(state))
    }
}

type Verify = fn(&Verifier, Option<&str>, &Audience<'_>, u64) -> Result<Claims, AuthError>;

/// Verifies the request's token against its path with `verify`.
fn authorize(parts: &Parts, state: &AppState, verify: Verify) -> Result<(), ApiError> {
    let authorization = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let token = token_from_request(authorization, parts.uri.query());
    let expected = Audience::Rest {
        path: parts.uri.path(),
    };
    verify(&state.verifier, token.as_deref(), &expected, unix_now())?;
    Ok(())
}

impl HubRequest {
    /// `scheme://host[:port]` of this server as the caller should address it: the configured
    /// `--public-endpoint`, else `http://` and the request's `Host` header, else the bind
    /// address. Absolute links the API returns (`nextLink`, token audiences) start with it.
    pub(super) fn base_url(&self) -> String {
        if let Some(endpoint) = &self.config.public_endpoint {
            return match endpoint.port {
                Some(port) => format!("{}://{}:{port}", endpoint.scheme, endpoint.host),
                None => format!("{}://{}", endpoint.scheme, endpoint.host),
            };
        }
        let host = self
            .host
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
            .or_else(|| self.uri.authority().map(ToString::to_string))
            .unwrap_or_else(|| self.config.bind.to_string());
        format!("{}://{host}", self.config.scheme())
    }

    fn param(&self, name: &str) -> &str {
        self.params
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// The `{group}` path parameter, validated.
    pub(super) fn group(&self) -> Result<&str, ApiError> {
        let group = self.param("group");
        check_group(group)?;
        Ok(group)
    }

    /// The `{user}` path parameter, validated.
    pub(super) fn user(&self) -> Result<&str, ApiError> {
        let user = self.param("user");
        check_user(user)?;
        Ok(user)
    }

    /// The `{connectionId}` path parameter, validated.
    pub(super) fn connection_id(&self) -> Result<&str, ApiError> {
        let id = self.param("connectionId");
        check_connection_id(id)?;
        Ok(id)
    }

    /// The `{streamId}` path parameter: 1 to 100 characters, not only white space.
    pub(super) fn stream_id(&self) -> Result<&str, ApiError> {
        let id = self.param("streamId");
        if id.trim().is_empty() || id.chars().count() > 100 {
            return Err(ApiError::bad_request(
                "streamId",
                format!(
                    "Invalid streamId '{id}'. It must be 1 to 100 characters long and not only white space."
                ),
            ));
        }
        Ok(id)
    }

    /// The comma-separated list path parameter `name` (v1-preview `{users}`, `{groups}`), each
    /// item checked with `check`, repeats dropped.
    pub(super) fn list(
        &self,
        name: &'static str,
        check: fn(&str) -> Result<(), InvalidName>,
    ) -> Result<Vec<&str>, ApiError> {
        let mut seen = HashSet::new();
        let mut items = Vec::new();
        for item in self.param(name).split(',') {
            check(item).map_err(|e| {
                ApiError::bad_request(
                    name,
                    format!("Invalid item in the comma-separated '{name}' list: {e}"),
                )
            })?;
            if seen.insert(item) {
                items.push(item);
            }
        }
        Ok(items)
    }

    /// The `excluded` query values (repeatable).
    pub(super) fn excluded(&self) -> Vec<String> {
        self.query.all("excluded").map(str::to_owned).collect()
    }

    /// The `reason` query value, if not empty.
    pub(super) fn reason(&self) -> Option<String> {
        self.query
            .first("reason")
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
    }

    /// The `ttl` query value in seconds, if given.
    pub(super) fn ttl(&self) -> Result<Option<Duration>, ApiError> {
        match self.query.first("ttl") {
            None | Some("") => Ok(None),
            Some(text) => text
                .parse::<u32>()
                .map(|s| Some(Duration::from_secs(u64::from(s))))
                .map_err(|_| {
                    ApiError::bad_request(
                        "ttl",
                        format!("Invalid ttl '{text}': it must be a whole number of seconds from 0 to 2147483647."),
                    )
                })
                .and_then(|ttl| match ttl {
                    Some(d) if d.as_secs() > i32::MAX as u64 => Err(ApiError::bad_request(
                        "ttl",
                        format!("Invalid ttl '{text}': it must be a whole number of seconds from 0 to 2147483647."),
                    )),
                    other => Ok(other),
                }),
        }
    }
}
