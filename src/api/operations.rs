//! The REST operations, independent of API generation: each one does its work on the hub. Where
//! every generation answers the same (sends, existence checks, connection-group changes,
//! health), the operation is the handler itself and the generation modules only route to it;
//! elsewhere it reports what happened and the generation modules choose the status codes.

use std::collections::HashSet;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::extract::HubRequest;
use super::payload::Payload;
use crate::error::ApiError;
use crate::hub::{ConnectionHandle, Preview, TraceEvent, TraceKind};
use crate::protocol::Close;

type Status = Result<StatusCode, ApiError>;

/// # `GET|HEAD /api/v1/health`, `/api/health`
///
/// 200 while the server runs; needs no token.
pub(super) async fn health() -> StatusCode {
    StatusCode::OK
}

/// # `POST /api/v1/hubs/{hub}`, `/api/hubs/{hub}[/:send]` `[?excluded=id...]`, `/api/v1-preview/hub/{hub}`
///
/// Broadcast to every connection of the hub but the excluded ones. 202.
pub(super) async fn broadcast(req: HubRequest, payload: Payload) -> StatusCode {
    let targets = req.hub.all_except(&req.excluded());
    sent(&req, || "everyone".into(), payload, &targets);
    StatusCode::ACCEPTED
}

/// # `POST /api/v1/hubs/{hub}/users/{user}`, `/api/hubs/{hub}/users/{user}[/:send]`, `/api/v1-preview/hub/{hub}/user/{user}`
///
/// Send to every connection of a user. 202, also when the user has no connection.
pub(super) async fn send_to_user(req: HubRequest, payload: Payload) -> Status {
    let user = req.user()?;
    let targets = req.hub.user_connections(user);
    sent(&req, || format!("user {user}"), payload, &targets);
    Ok(StatusCode::ACCEPTED)
}

/// # `POST /api/v1-preview/hub/{hub}/users/{user1,user2,...}`
///
/// Send to every connection of each listed user. 202; 400 when an item is empty or too long.
pub(super) async fn send_to_users(req: HubRequest, payload: Payload) -> Status {
    let mut targets = Vec::new();
    let users = req.users()?;
    for user in users {
        targets.extend(req.hub.user_connections(user));
    }
    let to = || format!("users {}", users.join(","));
    sent(&req, to, payload, &unique(targets));
    Ok(StatusCode::ACCEPTED)
}

/// # `POST /api/v1/hubs/{hub}/connections/{id}`, `/api/hubs/{hub}/connections/{id}[/:send]`
///
/// Send to one connection. 202, also when it is not connected.
pub(super) async fn send_to_connection(req: HubRequest, payload: Payload) -> Status {
    let id = req.connection_id()?;
    let targets: Vec<ConnectionHandle> = req.hub.connection(id).into_iter().collect();
    sent(&req, || format!("connection {id}"), payload, &targets);
    Ok(StatusCode::ACCEPTED)
}

/// # `POST /api/v1/hubs/{hub}/groups/{group}`, `/api/hubs/{hub}/groups/{group}[/:send]` `[?excluded=id...]`, `/api/v1-preview/hub/{hub}/group/{group}`
///
/// Send to the group's connections but the excluded ones. 202.
pub(super) async fn send_to_group(req: HubRequest, payload: Payload) -> Status {
    let group = req.group()?;
    let targets = req.hub.group_connections(group, &req.excluded());
    sent(&req, || format!("group {group}"), payload, &targets);
    Ok(StatusCode::ACCEPTED)
}

/// # `POST /api/v1-preview/hub/{hub}/groups/{group1,group2,...}`
///
/// Send once to every connection in any listed group. 202.
pub(super) async fn send_to_groups(req: HubRequest, payload: Payload) -> Status {
    let mut targets = Vec::new();
    let groups = req.groups()?;
    for group in groups {
        targets.extend(req.hub.group_connections(group, &[]));
    }
    let to = || format!("groups {}", groups.join(","));
    sent(&req, to, payload, &unique(targets));
    Ok(StatusCode::ACCEPTED)
}

/// Delivers the payload and reports the send, addressed `to`, to the live trace.
fn sent(
    req: &HubRequest,
    to: impl FnOnce() -> String,
    payload: Payload,
    targets: &[ConnectionHandle],
) {
    let target = payload.invocation.target.clone();
    let arguments = Preview::of(&payload.invocation.arguments);
    let recipients = payload.deliver(targets);
    req.hub.trace().emit(|| {
        let kind = TraceKind::Sent {
            to: to(),
            target,
            recipients,
            arguments: Some(arguments),
        };
        TraceEvent::now(req.hub.name().clone(), None, kind)
    });
}

/// The connections without repeats (a connection may be in several of the groups sent to).
fn unique(mut connections: Vec<ConnectionHandle>) -> Vec<ConnectionHandle> {
    let mut seen = HashSet::new();
    connections.retain(|c| seen.insert(c.id().clone()));
    connections
}

/// Closes a connection, sending it `reason` in the Close message. Returns whether it existed.
pub(super) fn close_connection(req: &HubRequest) -> Result<bool, ApiError> {
    let Some(connection) = req.hub.connection(req.connection_id()?) else {
        return Ok(false);
    };
    let to = || format!("connection {}", connection.id());
    close(req, to, std::slice::from_ref(&connection));
    Ok(true)
}

/// Closes every connection of the hub but the excluded ones.
pub(super) fn close_hub_connections(req: &HubRequest) {
    close(
        req,
        || "everyone".into(),
        &req.hub.all_except(&req.excluded()),
    );
}

/// Closes the group's connections but the excluded ones.
pub(super) fn close_group_connections(req: &HubRequest) -> Result<(), ApiError> {
    let group = req.group()?;
    let targets = req.hub.group_connections(group, &req.excluded());
    close(req, || format!("group {group}"), &targets);
    Ok(())
}

/// Closes the user's connections but the excluded ones.
pub(super) fn close_user_connections(req: &HubRequest) -> Result<(), ApiError> {
    let excluded = req.excluded();
    let user = req.user()?;
    let mut targets = req.hub.user_connections(user);
    targets.retain(|c| !excluded.iter().any(|e| **e == **c.id()));
    close(req, || format!("user {user}"), &targets);
    Ok(())
}

/// Sends each connection a Close carrying the request's `reason` and ends it. The client may
/// reconnect, as with Azure's REST close. The live trace shows who was closed (`to`).
fn close(req: &HubRequest, to: impl FnOnce() -> String, targets: &[ConnectionHandle]) {
    let reason = req.reason();
    for connection in targets {
        connection.close(Close {
            error: reason.clone(),
            allow_reconnect: true,
        });
    }
    req.hub.trace().emit(|| {
        let kind = TraceKind::Closed {
            to: to(),
            count: targets.len(),
            reason,
        };
        TraceEvent::now(req.hub.name().clone(), None, kind)
    });
}

/// 200 when `exists`, else a 404 with `code` in the body and the `x-ms-error-code` header.
fn existence(exists: bool, code: &'static str, what: String) -> Result<Response, ApiError> {
    if exists {
        Ok(StatusCode::OK.into_response())
    } else {
        Err(ApiError::not_found(code, what))
    }
}

/// # `GET|HEAD …/hubs/{hub}/connections/{connectionId}`
///
/// 200 when connected, else 404 `Warning.Connection.NotExisted`.
pub(super) async fn connection_exists(req: HubRequest) -> Result<Response, ApiError> {
    let id = req.connection_id()?;
    if req.hub.has_connection(id) {
        Ok(StatusCode::OK.into_response())
    } else {
        Err(connection_not_found(
            &req,
            id,
            "Warning.Connection.NotExisted",
        ))
    }
}

/// # `GET|HEAD …/hubs/{hub}/groups/{group}`
///
/// 200 when the group has a connection, else 404 `Warning.Group.NotExisted`.
pub(super) async fn group_exists(req: HubRequest) -> Result<Response, ApiError> {
    let group = req.group()?;
    existence(
        req.hub.has_group(group),
        "Warning.Group.NotExisted",
        format!(
            "Group '{group}' has no connection in hub '{}'.",
            req.hub.name()
        ),
    )
}

/// # `GET|HEAD …/hubs/{hub}/users/{user}`
///
/// 200 when the user has a connection, else 404 `Warning.User.NotExisted`.
pub(super) async fn user_exists(req: HubRequest) -> Result<Response, ApiError> {
    let user = req.user()?;
    existence(
        req.hub.has_user(user),
        "Warning.User.NotExisted",
        format!(
            "User '{user}' has no connection in hub '{}'.",
            req.hub.name()
        ),
    )
}

/// # `GET|HEAD …/hubs/{hub}/groups/{group}/users/{user}` (either path order)
///
/// 200 when the user is in the group, else 404 `Info.User.NotInGroup`.
pub(super) async fn user_in_group(req: HubRequest) -> Result<Response, ApiError> {
    let (user, group) = (req.user()?, req.group()?);
    existence(
        req.hub.is_user_in_group(user, group),
        "Info.User.NotInGroup",
        format!(
            "User '{user}' is not in group '{group}' of hub '{}'.",
            req.hub.name()
        ),
    )
}

/// The 404 for a connection that is not connected, with the `x-ms-error-code` the caller's
/// SDK expects (`Warning.Connection.NotExisted` for checks and closes,
/// `Error.Connection.NotExisted` for group changes and `:invoke`).
pub(super) fn connection_not_found(req: &HubRequest, id: &str, code: &'static str) -> ApiError {
    ApiError::not_found(
        code,
        format!(
            "Connection '{id}' does not exist in hub '{}'.",
            req.hub.name()
        ),
    )
}

/// # `PUT …/hubs/{hub}/groups/{group}/connections/{connectionId}` (either path order)
///
/// 200, or 404 `Error.Connection.NotExisted` when the connection is not connected.
pub(super) async fn add_connection_to_group(req: HubRequest) -> Status {
    let (id, group) = (req.connection_id()?, req.group()?);
    if req.hub.add_to_group(id, group) {
        Ok(StatusCode::OK)
    } else {
        Err(connection_not_found(
            &req,
            id,
            "Error.Connection.NotExisted",
        ))
    }
}

/// # `DELETE …/hubs/{hub}/groups/{group}/connections/{connectionId}` (either path order)
///
/// 200 (also when the connection was not in the group), or 404 `Error.Connection.NotExisted`
/// when the connection is not connected.
pub(super) async fn remove_connection_from_group(req: HubRequest) -> Status {
    let (id, group) = (req.connection_id()?, req.group()?);
    if req.hub.remove_from_group(id, group) {
        Ok(StatusCode::OK)
    } else {
        Err(connection_not_found(
            &req,
            id,
            "Error.Connection.NotExisted",
        ))
    }
}

/// Adds a user to a group for `ttl` seconds (a year by default; 0 = current connections only).
pub(super) fn add_user_to_group(req: &HubRequest) -> Result<(), ApiError> {
    let (user, group, ttl) = (req.user()?, req.group()?, req.ttl()?);
    req.hub.add_user_to_group(user, group, ttl);
    Ok(())
}

/// Removes a user from a group, with all the user's connections.
pub(super) fn remove_user_from_group(req: &HubRequest) -> Result<(), ApiError> {
    let (user, group) = (req.user()?, req.group()?);
    req.hub.remove_user_from_group(user, group);
    Ok(())
}

/// Removes a connection from every group. An unknown connection is in no group, so that is
/// not an error (Azure documents only 200 here).
pub(super) fn remove_connection_from_all_groups(req: &HubRequest) -> Result<(), ApiError> {
    req.hub.remove_from_all_groups(req.connection_id()?);
    Ok(())
}

/// Removes a user from every group.
pub(super) fn remove_user_from_all_groups(req: &HubRequest) -> Result<(), ApiError> {
    req.hub.remove_user_from_all_groups(req.user()?);
    Ok(())
}
