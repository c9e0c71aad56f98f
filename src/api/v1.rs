//! REST API v1 (`/api/v1/...`): routes and the status codes of the v1 column of Azure's
//! contract (202 for sends and user-group changes, 200/404 for existence checks and
//! connection-group changes, GET and HEAD for every check, both path orders).

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get, post, put};

use super::extract::HubRequest;
use super::operations as op;
use super::payload::Payload;
use crate::error::ApiError;
use crate::state::AppState;

type Status = Result<StatusCode, ApiError>;

/// The v1 routes.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .without_v07_checks()
        .route("/api/v1/health", get(health))
        .route("/api/v1/hubs/{hub}", post(broadcast))
        .route(
            "/api/v1/hubs/{hub}/users/{user}",
            post(send_to_user).get(user_exists),
        )
        .route(
            "/api/v1/hubs/{hub}/connections/{connectionId}",
            post(send_to_connection)
                .get(connection_exists)
                .delete(close_connection),
        )
        .route(
            "/api/v1/hubs/{hub}/groups/{group}",
            post(send_to_group).get(group_exists),
        )
        .route(
            "/api/v1/hubs/{hub}/groups/{group}/connections/{connectionId}",
            put(add_connection_to_group).delete(remove_connection_from_group),
        )
        .route(
            "/api/v1/hubs/{hub}/connections/{connectionId}/groups/{group}",
            put(add_connection_to_group).delete(remove_connection_from_group),
        )
        .route(
            "/api/v1/hubs/{hub}/groups/{group}/users/{user}",
            get(user_in_group)
                .put(add_user_to_group)
                .delete(remove_user_from_group),
        )
        .route(
            "/api/v1/hubs/{hub}/users/{user}/groups/{group}",
            get(user_in_group)
                .put(add_user_to_group)
                .delete(remove_user_from_group),
        )
        .route(
            "/api/v1/hubs/{hub}/users/{user}/groups",
            delete(remove_user_from_all_groups),
        )
}

/// # `GET|HEAD /api/v1/health`
///
/// 200 while the server runs; needs no token.
async fn health() -> StatusCode {
    StatusCode::OK
}

/// # `POST /api/v1/hubs/{hub}[?excluded=id...]`
///
/// Broadcast to every connection of the hub but the excluded ones. 202.
async fn broadcast(req: HubRequest, payload: Payload) -> StatusCode {
    op::broadcast(&req, payload);
    StatusCode::ACCEPTED
}

/// # `POST /api/v1/hubs/{hub}/users/{user}`
///
/// Send to every connection of a user. 202, also when the user has no connection.
async fn send_to_user(req: HubRequest, payload: Payload) -> Status {
    op::send_to_user(&req, payload).map(|_| StatusCode::ACCEPTED)
}

/// # `POST /api/v1/hubs/{hub}/connections/{connectionId}`
///
/// Send to one connection. 202, also when it is not connected.
async fn send_to_connection(req: HubRequest, payload: Payload) -> Status {
    op::send_to_connection(&req, payload).map(|_| StatusCode::ACCEPTED)
}

/// # `POST /api/v1/hubs/{hub}/groups/{group}[?excluded=id...]`
///
/// Send to the group's connections but the excluded ones. 202.
async fn send_to_group(req: HubRequest, payload: Payload) -> Status {
    op::send_to_group(&req, payload).map(|_| StatusCode::ACCEPTED)
}

/// # `GET|HEAD /api/v1/hubs/{hub}/connections/{connectionId}`
///
/// 200 when connected, else 404 `Warning.Connection.NotExisted`.
async fn connection_exists(req: HubRequest) -> Result<Response, ApiError> {
    op::connection_exists(&req)
}

/// # `DELETE /api/v1/hubs/{hub}/connections/{connectionId}[?reason=]`
///
/// Sends the client a Close message carrying `reason` and closes it. 202, also when the
/// connection does not exist (closing nothing is not an error).
async fn close_connection(req: HubRequest) -> Status {
    op::close_connection(&req).map(|_| StatusCode::ACCEPTED)
}

/// # `GET|HEAD /api/v1/hubs/{hub}/groups/{group}`
///
/// 200 when the group has a connection, else 404 `Warning.Group.NotExisted`.
async fn group_exists(req: HubRequest) -> Result<Response, ApiError> {
    op::group_exists(&req)
}

/// # `GET|HEAD /api/v1/hubs/{hub}/users/{user}`
///
/// 200 when the user has a connection, else 404 `Warning.User.NotExisted`.
async fn user_exists(req: HubRequest) -> Result<Response, ApiError> {
    op::user_exists(&req)
}

/// # `PUT /api/v1/hubs/{hub}/groups/{group}/connections/{connectionId}` (either path order)
///
/// 200, or 404 `Error.Connection.NotExisted` when the connection is not connected.
async fn add_connection_to_group(req: HubRequest) -> Status {
    op::add_connection_to_group(&req).map(|()| StatusCode::OK)
}

/// # `DELETE /api/v1/hubs/{hub}/groups/{group}/connections/{connectionId}` (either path order)
///
/// 200 (also when the connection was not in the group), or 404 `Error.Connection.NotExisted`
/// when the connection is not connected.
async fn remove_connection_from_group(req: HubRequest) -> Status {
    op::remove_connection_from_group(&req).map(|()| StatusCode::OK)
}

/// # `GET|HEAD /api/v1/hubs/{hub}/groups/{group}/users/{user}` (either path order)
///
/// 200 when the user is in the group, else 404 `Info.User.NotInGroup`.
async fn user_in_group(req: HubRequest) -> Result<Response, ApiError> {
    op::user_in_group(&req)
}

/// # `PUT /api/v1/hubs/{hub}/groups/{group}/users/{user}[?ttl=seconds]` (either path order)
///
/// Adds the user (now and for future connections) for `ttl` seconds, a year by default;
/// `ttl=0` adds the current connections only. 202.
async fn add_user_to_group(req: HubRequest) -> Status {
    op::add_user_to_group(&req).map(|()| StatusCode::ACCEPTED)
}

/// # `DELETE /api/v1/hubs/{hub}/groups/{group}/users/{user}` (either path order)
///
/// Removes the membership and the user's connections from the group. 202.
async fn remove_user_from_group(req: HubRequest) -> Status {
    op::remove_user_from_group(&req).map(|()| StatusCode::ACCEPTED)
}

/// # `DELETE /api/v1/hubs/{hub}/users/{user}/groups`
///
/// Removes the user from every group. 200.
async fn remove_user_from_all_groups(req: HubRequest) -> Status {
    op::remove_user_from_all_groups(&req).map(|()| StatusCode::OK)
}
