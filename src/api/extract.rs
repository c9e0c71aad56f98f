//! The extractors every REST handler starts with: [`Authorized`] verifies the bearer token
//! against the request path; [`HubRequest`] also resolves the hub (with the `application`
//! prefix) and validates every path parameter the route has into its own type ([`Group`],
//! [`UserId`], [`ConnectionId`], [`StreamId`] and the v1-preview lists), so a handler only ever
//! sees checked names. Every failure becomes an `ErrorDetail` response.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Uri, header};
use serde::Deserialize;

use crate::auth::{Audience, AuthError, Verifier, token_from_request, unix_now};
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
    path: PathParams,
}

impl<S: Send + Sync> FromRequestParts<S> for HubRequest
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Authorized(state) = Authorized::from_request_parts(parts, state).await?;
        let Path(raw) = Path::<RawPathParams>::from_request_parts(parts, &state)
            .await
            .map_err(|e| {
                ApiError::bad_request(
                    "path",
                    format!("Invalid path parameter: {}", sentence_end(e)),
                )
            })?;
        HubRequest::checked(parts, state, raw)
    }
}

impl HubRequest {
    /// The request `parts` on the hub and connection of a send-to-connection path (the direct
    /// lane, `direct.rs`, which has no router to decode path parameters): the token verified,
    /// then the names validated, as [`HubRequest`]'s extractor does.
    pub(super) fn for_connection(
        parts: &Parts,
        state: AppState,
        hub: String,
        connection_id: String,
    ) -> Result<Self, ApiError> {
        authorize(parts, &state, Verifier::check)?;
        let raw = RawPathParams {
            hub,
            connection_id: Some(connection_id),
            ..RawPathParams::default()
        };
        HubRequest::checked(parts, state, raw)
    }

    /// A request whose token `state` verified, on the hub and the other names in `raw`.
    fn checked(parts: &Parts, state: AppState, raw: RawPathParams) -> Result<Self, ApiError> {
        let query = Query::parse(parts.uri.query());
        let hub_name = internal_hub_name(&raw.hub, query.first("application"))?;
        let path = PathParams::checked(raw)?;
        Ok(HubRequest {
            hub: state.hubs.get_or_create(&hub_name),
            query,
            uri: parts.uri.clone(),
            host: parts.headers.get(header::HOST).cloned(),
            config: state.config.clone(),
            cluster: state.cluster.clone(),
            path,
        })
    }
}

/// The path parameters of every hub route, as axum decoded them; a route has `hub` and some of
/// the others.
#[derive(Debug, Default, Deserialize)]
struct RawPathParams {
    #[serde(default)]
    hub: String,
    user: Option<String>,
    #[serde(rename = "connectionId")]
    connection_id: Option<String>,
    group: Option<String>,
    #[serde(rename = "streamId")]
    stream_id: Option<String>,
    users: Option<String>,
    groups: Option<String>,
}

/// The path parameters of a hub route, each validated.
#[derive(Debug, Default)]
struct PathParams {
    user: Option<UserId>,
    connection_id: Option<ConnectionId>,
    group: Option<Group>,
    stream_id: Option<StreamId>,
    users: Option<Vec<UserId>>,
    groups: Option<Vec<Group>>,
}

impl PathParams {
    /// Validates each parameter the route has, in the order the handlers always checked them
    /// (a user or connection before a group), so the first invalid one is the one reported.
    fn checked(raw: RawPathParams) -> Result<Self, ApiError> {
        Ok(PathParams {
            user: raw.user.map(UserId::new).transpose()?,
            connection_id: raw.connection_id.map(ConnectionId::new).transpose()?,
            group: raw.group.map(Group::new).transpose()?,
            stream_id: raw.stream_id.map(StreamId::new).transpose()?,
            users: raw
                .users
                .map(|list| checked_list("users", &list, UserId::new))
                .transpose()?,
            groups: raw
                .groups
                .map(|list| checked_list("groups", &list, Group::new))
                .transpose()?,
        })
    }
}

/// Defines a path-parameter type that can only be built from a value `check` accepts.
macro_rules! checked_name {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub(super) struct $name(String);

        impl $name {
            fn new(value: String) -> Result<Self, InvalidName> {
                $check(&value)?;
                Ok($name(value))
            }
        }

        impl Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

checked_name!(
    /// A `{user}` path parameter: 1 to 1024 characters, not only white space.
    UserId,
    check_user
);
checked_name!(
    /// A `{group}` path parameter: 1 to 1024 characters, not only white space.
    Group,
    check_group
);
checked_name!(
    /// A `{connectionId}` path parameter: not empty, at most 1024 characters.
    ConnectionId,
    check_connection_id
);
checked_name!(
    /// A `{streamId}` path parameter: 1 to 100 characters, not only white space.
    StreamId,
    check_stream_id
);

/// Checks a client stream id (the 400 names `streamId`).
fn check_stream_id(id: &str) -> Result<(), InvalidName> {
    if id.trim().is_empty() || id.chars().count() > 100 {
        return Err(InvalidName {
            parameter: "streamId",
            value: id.to_owned(),
            rule: "It must be 1 to 100 characters long and not only white space.",
        });
    }
    Ok(())
}

/// The items of the comma-separated list parameter `name` (v1-preview `{users}`, `{groups}`),
/// each built with `item`, repeats dropped.
fn checked_list<T: Eq + std::hash::Hash + Clone>(
    name: &'static str,
    list: &str,
    item: fn(String) -> Result<T, InvalidName>,
) -> Result<Vec<T>, ApiError> {
    let mut seen = HashSet::new();
    let mut items = Vec::new();
    for text in list.split(',') {
        let checked = item(text.to_owned()).map_err(|e| {
            ApiError::bad_request(
                name,
                format!("Invalid item in the comma-separated '{name}' list: {e}"),
            )
        })?;
        if seen.insert(checked.clone()) {
            items.push(checked);
        }
    }
    Ok(items)
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
        authorize(parts, &state, Verifier::check)?;
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
        authorize(parts, &state, Verifier::check_for_secrets)?;
        Ok(AuthorizedForSecrets(state))
    }
}

type Verify = fn(&Verifier, Option<&str>, &Audience<'_>, u64) -> Result<(), AuthError>;

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

    /// The `{user}` path parameter.
    pub(super) fn user(&self) -> Result<&UserId, ApiError> {
        present("user", self.path.user.as_ref())
    }

    /// The `{connectionId}` path parameter.
    pub(super) fn connection_id(&self) -> Result<&ConnectionId, ApiError> {
        present("connectionId", self.path.connection_id.as_ref())
    }

    /// The `{group}` path parameter.
    pub(super) fn group(&self) -> Result<&Group, ApiError> {
        present("group", self.path.group.as_ref())
    }

    /// The `{streamId}` path parameter.
    pub(super) fn stream_id(&self) -> Result<&StreamId, ApiError> {
        present("streamId", self.path.stream_id.as_ref())
    }

    /// The v1-preview `{users}` list, without repeats.
    pub(super) fn users(&self) -> Result<&[UserId], ApiError> {
        present("users", self.path.users.as_deref())
    }

    /// The v1-preview `{groups}` list, without repeats.
    pub(super) fn groups(&self) -> Result<&[Group], ApiError> {
        present("groups", self.path.groups.as_deref())
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

/// A path parameter the route has; only a handler routed from a path without it gets the 400.
fn present<'a, T: ?Sized>(name: &'static str, value: Option<&'a T>) -> Result<&'a T, ApiError> {
    value.ok_or_else(|| {
        ApiError::bad_request(name, format!("This route has no '{name}' path parameter."))
    })
}
