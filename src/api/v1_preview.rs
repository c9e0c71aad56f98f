//! REST API v1-preview (`/api/v1-preview/hub/...`, obsolete but still called by old samples):
//! sends only, to the hub, a user, a comma-separated list of users, a group or a
//! comma-separated list of groups. Every route answers 202.

use axum::Router;
use axum::routing::post;

use super::operations::{broadcast, send_to_group, send_to_groups, send_to_user, send_to_users};
use crate::state::AppState;

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
