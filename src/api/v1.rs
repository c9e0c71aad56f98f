//! REST API v1 (`/api/v1/...`): routes and the status codes of the v1 column of Azure's
//! contract (202 for sends and user-group changes, 200/404 for existence checks and
//! connection-group changes, GET and HEAD for every check, both path orders).

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};

use super::common::{
    add_connection_to_group, broadcast, connection_exists, group_exists, health,
    remove_connection_from_group, send_to_connection, send_to_group, send_to_user, user_exists,
    user_in_group,
};
use super::extract::HubRequest;
use super::operations as op;
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

/// # `DELETE /api/v1/hubs/{hub}/connections/{connectionId}[?reason=]`
///
/// Sends the client a Close message carrying `reason` and closes it. 202, also when the
/// connection does not exist (closing nothing is not an error).
async fn close_connection(req: HubRequest) -> Status {
    op::close_connection(&req)
        .await
        .map(|_| StatusCode::ACCEPTED)
}

/// # `PUT /api/v1/hubs/{hub}/groups/{group}/users/{user}[?ttl=seconds]` (either path order)
///
/// Adds the user (now and for future connections) for `ttl` seconds, a year by default;
/// `ttl=0` adds the current connections only. 202.
async fn add_user_to_group(req: HubRequest) -> Status {
    op::add_user_to_group(&req)
        .await
        .map(|()| StatusCode::ACCEPTED)
}

/// # `DELETE /api/v1/hubs/{hub}/groups/{group}/users/{user}` (either path order)
///
/// Removes the membership and the user's connections from the group. 202.
async fn remove_user_from_group(req: HubRequest) -> Status {
    op::remove_user_from_group(&req)
        .await
        .map(|()| StatusCode::ACCEPTED)
}

/// # `DELETE /api/v1/hubs/{hub}/users/{user}/groups`
///
/// Removes the user from every group. 200.
async fn remove_user_from_all_groups(req: HubRequest) -> Status {
    op::remove_user_from_all_groups(&req)
        .await
        .map(|()| StatusCode::OK)
}
