//! The extractor every REST handler starts with: it verifies the bearer token against the
//! request path, resolves the hub (with the `application` prefix) and validates the user, group
//! and connection-id path parameters it is asked for, turning every failure into an
//! `ErrorDetail` response.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts, Path};
use axum::http::header;
use axum::http::request::Parts;

use crate::auth::{Audience, token_from_request, unix_now};
use crate::error::ApiError;
use crate::hub::Hub;
use crate::hub::names::{check_connection_id, check_group, check_user, internal_hub_name};
use crate::query::Query;
use crate::state::AppState;

/// An authenticated REST request on one hub.
#[derive(Debug)]
pub(super) struct HubRequest {
    /// The hub, created on first use.
    pub(super) hub: Arc<Hub>,
    /// The decoded query string.
    pub(super) query: Query,
    params: HashMap<String, String>,
}

impl<S: Send + Sync> FromRequestParts<S> for HubRequest
where
    AppState: axum::extract::FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = AppState::from_ref(state);
        let raw_query = parts.uri.query();
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let token = token_from_request(authorization, raw_query);
        state.verifier.verify(
            token.as_deref(),
            &Audience::Rest {
                path: parts.uri.path(),
            },
            unix_now(),
        )?;
        let query = Query::parse(raw_query);
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, &state)
            .await
            .map_err(|e| ApiError::bad_request("path", format!("Invalid path parameter: {e}.")))?;
        let hub_name = internal_hub_name(
            params.get("hub").map(String::as_str).unwrap_or_default(),
            query.first("application"),
        )?;
        Ok(HubRequest {
            hub: state.hubs.get_or_create(&hub_name),
            query,
            params,
        })
    }
}

impl HubRequest {
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
