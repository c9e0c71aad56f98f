//! Handlers whose contract is the same in v1 (`/api/v1/...`) and 2022-06-01+ (`/api/...`):
//! sends, existence checks, connection-group changes and health. The generation modules route
//! to these; only operations whose status codes differ between generations live there.

use axum::http::StatusCode;
use axum::response::Response;

use super::extract::HubRequest;
use super::operations as op;
use super::payload::Payload;
use crate::error::ApiError;

type Status = Result<StatusCode, ApiError>;

/// # `GET|HEAD /api/v1/health`, `/api/health`
///
/// 200 while the server runs; needs no token.
pub(super) async fn health() -> StatusCode {
    StatusCode::OK
}

/// # `POST /api/v1/hubs/{hub}`, `/api/hubs/{hub}/:send` `[?excluded=id...]`
///
/// Broadcast to every connection of the hub but the excluded ones. 202.
pub(super) async fn broadcast(req: HubRequest, payload: Payload) -> Result<StatusCode, ApiError> {
    op::broadcast(&req, payload)
        .await
        .map(|_| StatusCode::ACCEPTED)
}

/// # `POST /api/v1/hubs/{hub}/users/{user}`, `/api/hubs/{hub}/users/{user}/:send`
///
/// Send to every connection of a user. 202, also when the user has no connection.
pub(super) async fn send_to_user(req: HubRequest, payload: Payload) -> Status {
    op::send_to_user(&req, payload)
        .await
        .map(|_| StatusCode::ACCEPTED)
}

/// # `POST /api/v1/hubs/{hub}/connections/{id}`, `/api/hubs/{hub}/connections/{id}/:send`
///
/// Send to one connection. 202, also when it is not connected.
pub(super) async fn send_to_connection(req: HubRequest, payload: Payload) -> Status {
    op::send_to_connection(&req, payload)
        .await
        .map(|_| StatusCode::ACCEPTED)
}

/// # `POST /api/v1/hubs/{hub}/groups/{group}`, `/api/hubs/{hub}/groups/{group}/:send` `[?excluded=id...]`
///
/// Send to the group's connections but the excluded ones. 202.
pub(super) async fn send_to_group(req: HubRequest, payload: Payload) -> Status {
    op::send_to_group(&req, payload)
        .await
        .map(|_| StatusCode::ACCEPTED)
}

/// # `GET|HEAD …/hubs/{hub}/connections/{connectionId}`
///
/// 200 when connected, else 404 `Warning.Connection.NotExisted`.
pub(super) async fn connection_exists(req: HubRequest) -> Result<Response, ApiError> {
    op::connection_exists(&req).await
}

/// # `GET|HEAD …/hubs/{hub}/groups/{group}`
///
/// 200 when the group has a connection, else 404 `Warning.Group.NotExisted`.
pub(super) async fn group_exists(req: HubRequest) -> Result<Response, ApiError> {
    op::group_exists(&req).await
}

/// # `GET|HEAD …/hubs/{hub}/users/{user}`
///
/// 200 when the user has a connection, else 404 `Warning.User.NotExisted`.
pub(super) async fn user_exists(req: HubRequest) -> Result<Response, ApiError> {
    op::user_exists(&req).await
}

/// # `GET|HEAD …/hubs/{hub}/groups/{group}/users/{user}` (either path order)
///
/// 200 when the user is in the group, else 404 `Info.User.NotInGroup`.
pub(super) async fn user_in_group(req: HubRequest) -> Result<Response, ApiError> {
    op::user_in_group(&req).await
}

/// # `PUT …/hubs/{hub}/groups/{group}/connections/{connectionId}` (either path order)
///
/// 200, or 404 `Error.Connection.NotExisted` when the connection is not connected.
pub(super) async fn add_connection_to_group(req: HubRequest) -> Status {
    op::add_connection_to_group(&req)
        .await
        .map(|()| StatusCode::OK)
}

/// # `DELETE …/hubs/{hub}/groups/{group}/connections/{connectionId}` (either path order)
///
/// 200 (also when the connection was not in the group), or 404 `Error.Connection.NotExisted`
/// when the connection is not connected.
pub(super) async fn remove_connection_from_group(req: HubRequest) -> Status {
    op::remove_connection_from_group(&req)
        .await
        .map(|()| StatusCode::OK)
}
