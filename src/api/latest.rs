//! REST API 2022-06-01, 2023-07-01 and 2024-12-01 (`/api/...`, any or no `api-version`): the
//! routes the Management SDK and Azure Functions call, with the status codes of the 2022-06-01+
//! column of Azure's contract (200 close, 204 for `:closeConnections` and user-group removal,
//! 200 user-group add). Also served: the forms Microsoft's asrs-emulator accepts under `/api`
//! (sends without `:send`, GET as well as HEAD for checks, both path orders for
//! connection/group and user/group).

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};

use super::body::Body;
use super::extract::{AuthorizedForSecrets, HubRequest};
use super::operations::{
    add_connection_to_group, broadcast, connection_exists, group_exists, health,
    remove_connection_from_group, send_to_connection, send_to_group, send_to_user, user_exists,
    user_in_group,
};
use super::payload::Payload;
use super::{execute, group_members, invoke, operations as op, streams, tokens};
use crate::error::ApiError;
use crate::state::AppState;

type Status = Result<StatusCode, ApiError>;

/// The `/api/...` routes.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        // See `api::router` for why.
        .without_v07_checks()
        .route("/api/health", get(health))
        .route("/api/auth/accessKey", get(access_key))
        // Where the SDKs' Microsoft Entra access key fetches it, whatever their API version.
        .route("/api/v1/auth/accessKey", get(access_key))
        .route("/api/hubs/{hub}", post(broadcast))
        .route("/api/hubs/{hub}/:send", post(broadcast))
        .route("/api/hubs/{hub}/:closeConnections", post(close_hub))
        .route("/api/hubs/{hub}/:execute", post(execute))
        .route("/api/hubs/{hub}/:generateToken", post(generate_token))
        .route(
            "/api/hubs/{hub}/users/{user}",
            post(send_to_user).get(user_exists),
        )
        .route("/api/hubs/{hub}/users/{user}/:send", post(send_to_user))
        .route(
            "/api/hubs/{hub}/users/{user}/:closeConnections",
            post(close_user),
        )
        .route(
            "/api/hubs/{hub}/connections/{connectionId}",
            post(send_to_connection)
                .get(connection_exists)
                .delete(close_connection),
        )
        .route(
            "/api/hubs/{hub}/connections/{connectionId}/:send",
            post(send_to_connection),
        )
        .route(
            "/api/hubs/{hub}/connections/{connectionId}/:invoke",
            post(invoke),
        )
        .route(
            "/api/hubs/{hub}/connections/{connectionId}/groups",
            delete(remove_connection_from_all_groups),
        )
        .route(
            "/api/hubs/{hub}/groups/{group}",
            post(send_to_group).get(group_exists),
        )
        .route("/api/hubs/{hub}/groups/{group}/:send", post(send_to_group))
        .route(
            "/api/hubs/{hub}/groups/{group}/:closeConnections",
            post(close_group),
        )
        .route(
            "/api/hubs/{hub}/groups/{group}/connections",
            get(list_group_connections),
        )
        .route(
            "/api/hubs/{hub}/groups/{group}/connections/{connectionId}",
            put(add_connection_to_group).delete(remove_connection_from_group),
        )
        .route(
            "/api/hubs/{hub}/connections/{connectionId}/groups/{group}",
            put(add_connection_to_group).delete(remove_connection_from_group),
        )
        .route(
            "/api/hubs/{hub}/users/{user}/groups/{group}",
            get(user_in_group)
                .put(add_user_to_group)
                .delete(remove_user_from_group),
        )
        .route(
            "/api/hubs/{hub}/groups/{group}/users/{user}",
            get(user_in_group)
                .put(add_user_to_group)
                .delete(remove_user_from_group),
        )
        .route(
            "/api/hubs/{hub}/users/{user}/groups",
            delete(remove_user_from_all_groups),
        )
        .route(
            "/api/hubs/{hub}/connections/{connectionId}/streams/{streamId}/:send",
            post(send_stream_item),
        )
        .route(
            "/api/hubs/{hub}/connections/{connectionId}/streams/{streamId}/:complete",
            post(complete_stream),
        )
}

/// # `POST /api/hubs/{hub}/connections/{connectionId}/streams/{streamId}/:send[?completed=true]`
///
/// Sends the body (the item, as JSON) to the client's stream `streamId`; `completed=true` also
/// ends the stream. 202; 404 `Error.Connection.NotExisted` or `Error.Stream.NotExisted`.
async fn send_stream_item(req: HubRequest, body: Body) -> Status {
    streams::send_item(&req, body)
        .await
        .map(|()| StatusCode::ACCEPTED)
}

/// # `POST /api/hubs/{hub}/connections/{connectionId}/streams/{streamId}/:complete[?reason=]`
///
/// Ends the client's stream, with `reason` as its error when given. 202; 404 as for `:send`.
async fn complete_stream(req: HubRequest) -> Status {
    streams::complete(&req).await.map(|()| StatusCode::ACCEPTED)
}

/// # `GET /api/auth/accessKey`, `GET /api/v1/auth/accessKey`
///
/// 200 `{"KeyId": "primary", "AccessKey": "<the first configured key>"}`, for a token whose
/// `aud` names this path (in relaxed mode too).
async fn access_key(AuthorizedForSecrets(state): AuthorizedForSecrets) -> Json<tokens::AccessKey> {
    Json(tokens::access_key(&state.config))
}

/// # `POST /api/hubs/{hub}/:closeConnections[?excluded=id...][&reason=]`
///
/// Closes every connection of the hub but the excluded ones; each gets `reason` in its Close
/// message. 204.
async fn close_hub(req: HubRequest) -> Status {
    op::close_hub_connections(&req)
        .await
        .map(|()| StatusCode::NO_CONTENT)
}

/// # `POST /api/hubs/{hub}/:execute[?filter=<OData>]`
///
/// Applies the body's commands to the connections the filter selects. 202; 400 for a filter or
/// command that does not parse.
async fn execute(req: HubRequest, body: Body) -> Status {
    execute::execute(&req, body)
        .await
        .map(|_| StatusCode::ACCEPTED)
}

/// # `POST /api/hubs/{hub}/:generateToken[?userId=][&minutesToExpire=60]`
///
/// 200 `{"token": "<client access token for this hub>"}`.
async fn generate_token(req: HubRequest) -> Result<Json<tokens::GeneratedToken>, ApiError> {
    tokens::generate(&req).map(Json)
}

/// # `POST /api/hubs/{hub}/users/{user}/:closeConnections[?excluded=id...][&reason=]`
///
/// Closes the user's connections but the excluded ones. 204.
async fn close_user(req: HubRequest) -> Status {
    op::close_user_connections(&req)
        .await
        .map(|()| StatusCode::NO_CONTENT)
}

/// # `DELETE /api/hubs/{hub}/connections/{connectionId}[?reason=]`
///
/// Sends the client a Close carrying `reason` and ends it. 200, or 404
/// `Warning.Connection.NotExisted` (which the Management SDK treats as done).
async fn close_connection(req: HubRequest) -> Status {
    let id = req.connection_id()?;
    if op::close_connection(&req).await? {
        Ok(StatusCode::OK)
    } else {
        Err(op::connection_not_found(
            &req,
            id,
            "Warning.Connection.NotExisted",
        ))
    }
}

/// # `POST /api/hubs/{hub}/connections/{connectionId}/:invoke`
///
/// 200 `{"result": ...}` with the client's answer; 404 `Error.Connection.NotExisted`; 502 when
/// the client answered with an error or went away; 504 after `--invoke-timeout`.
async fn invoke(req: HubRequest, payload: Payload) -> Result<Json<invoke::InvokeResult>, ApiError> {
    invoke::invoke(&req, payload).await.map(Json)
}

/// # `DELETE /api/hubs/{hub}/connections/{connectionId}/groups`
///
/// Removes the connection from every group. 200.
async fn remove_connection_from_all_groups(req: HubRequest) -> Status {
    op::remove_connection_from_all_groups(&req)
        .await
        .map(|()| StatusCode::OK)
}

/// # `POST /api/hubs/{hub}/groups/{group}/:closeConnections[?excluded=id...][&reason=]`
///
/// Closes the group's connections but the excluded ones. 204.
async fn close_group(req: HubRequest) -> Status {
    op::close_group_connections(&req)
        .await
        .map(|()| StatusCode::NO_CONTENT)
}

/// # `GET /api/hubs/{hub}/groups/{group}/connections[?maxpagesize=1..200][&top=][&continuationToken=]`
///
/// 200 `{"value": [{"connectionId", "userId"}], "nextLink"}`; `nextLink` is absent on the last
/// page.
async fn list_group_connections(req: HubRequest) -> Result<Json<group_members::Page>, ApiError> {
    group_members::list(&req).await.map(Json)
}

/// # `PUT /api/hubs/{hub}/users/{user}/groups/{group}[?ttl=seconds]` (either path order)
///
/// Adds the user (now and for future connections) for `ttl` seconds, a year by default;
/// `ttl=0` adds the current connections only. 200.
async fn add_user_to_group(req: HubRequest) -> Status {
    op::add_user_to_group(&req).await.map(|()| StatusCode::OK)
}

/// # `DELETE /api/hubs/{hub}/users/{user}/groups/{group}` (either path order)
///
/// Removes the membership and the user's connections from the group. 204.
async fn remove_user_from_group(req: HubRequest) -> Status {
    op::remove_user_from_group(&req)
        .await
        .map(|()| StatusCode::NO_CONTENT)
}

/// # `DELETE /api/hubs/{hub}/users/{user}/groups`
///
/// Removes the user from every group. 204.
async fn remove_user_from_all_groups(req: HubRequest) -> Status {
    op::remove_user_from_all_groups(&req)
        .await
        .map(|()| StatusCode::NO_CONTENT)
}
