//! REST API v1-preview (`/api/v1-preview/hub/...`, obsolete but still called by old samples):
//! sends only, to the hub, a user, a comma-separated list of users, a group or a
//! comma-separated list of groups. Every route answers 202.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;

use super::extract::HubRequest;
use super::operations as op;
use super::payload::Payload;
use crate::error::ApiError;
use crate::state::AppState;

type Status = Result<StatusCode, ApiError>;

/// The v1-preview routes.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .without_v07_checks()
        .route("/api/v1-preview/hub/{hub}", post(broadcast))
        .route("/api/v1-preview/hub/{hub}/user/{user}", post(send_to_user))
        .route(
            "/api/v1-preview/hub/{hub}/users/{users}",
            post(send_to_users),
        )
        .route(
            "/api/v1-preview/hub/{hub}/group/{group}",
            post(send_to_group),
        )
        .route(
            "/api/v1-preview/hub/{hub}/groups/{groups}",
            post(send_to_groups),
        )
}

/// # `POST /api/v1-preview/hub/{hub}`
///
/// Broadcast to every connection of the hub. 202.
async fn broadcast(req: HubRequest, payload: Payload) -> Result<StatusCode, ApiError> {
    op::broadcast(&req, payload)
        .await
        .map(|_| StatusCode::ACCEPTED)
}

/// # `POST /api/v1-preview/hub/{hub}/user/{id}`
///
/// Send to every connection of the user. 202.
async fn send_to_user(req: HubRequest, payload: Payload) -> Status {
    op::send_to_user(&req, payload)
        .await
        .map(|_| StatusCode::ACCEPTED)
}

/// # `POST /api/v1-preview/hub/{hub}/users/{user1,user2,...}`
///
/// Send to every connection of each listed user. 202; 400 when an item is empty or too long.
async fn send_to_users(req: HubRequest, payload: Payload) -> Status {
    op::send_to_users(&req, payload)
        .await
        .map(|_| StatusCode::ACCEPTED)
}

/// # `POST /api/v1-preview/hub/{hub}/group/{group}`
///
/// Send to the group's connections. 202.
async fn send_to_group(req: HubRequest, payload: Payload) -> Status {
    op::send_to_group(&req, payload)
        .await
        .map(|_| StatusCode::ACCEPTED)
}

/// # `POST /api/v1-preview/hub/{hub}/groups/{group1,group2,...}`
///
/// Send once to every connection in any listed group. 202.
async fn send_to_groups(req: HubRequest, payload: Payload) -> Status {
    op::send_to_groups(&req, payload)
        .await
        .map(|_| StatusCode::ACCEPTED)
}
