//! The REST operations, independent of API generation: each one does its work on the hub and
//! reports what happened; the generation modules choose the status codes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::extract::HubRequest;
use super::payload::Payload;
use crate::error::ApiError;
use crate::hub::{self, ConnectionHandle};
use crate::protocol::{Close, Encoded, HubMessage};

/// Sends the payload to every connection of the hub but the excluded ones.
pub(super) fn broadcast(req: &HubRequest, Payload(invocation): Payload) -> usize {
    deliver(&req.hub.all_except(&req.excluded()), invocation)
}

/// Sends the payload to every connection of the user.
pub(super) fn send_to_user(
    req: &HubRequest,
    Payload(invocation): Payload,
) -> Result<usize, ApiError> {
    Ok(deliver(&req.hub.user_connections(req.user()?), invocation))
}

/// Sends the payload to one connection (nothing happens if it is not connected).
pub(super) fn send_to_connection(
    req: &HubRequest,
    Payload(invocation): Payload,
) -> Result<usize, ApiError> {
    let targets: Vec<ConnectionHandle> = req
        .hub
        .connection(req.connection_id()?)
        .into_iter()
        .collect();
    Ok(deliver(&targets, invocation))
}

/// Sends the payload to the group's connections but the excluded ones.
pub(super) fn send_to_group(
    req: &HubRequest,
    Payload(invocation): Payload,
) -> Result<usize, ApiError> {
    Ok(deliver(
        &req.hub.group_connections(req.group()?, &req.excluded()),
        invocation,
    ))
}

fn deliver(targets: &[ConnectionHandle], invocation: crate::protocol::Invocation) -> usize {
    if targets.is_empty() {
        return 0;
    }
    hub::deliver(targets, &Encoded::new(HubMessage::Invocation(invocation)))
}

/// Closes a connection, sending it `reason` in the Close message. Returns whether it existed.
pub(super) fn close_connection(req: &HubRequest) -> Result<bool, ApiError> {
    let Some(connection) = req.hub.connection(req.connection_id()?) else {
        return Ok(false);
    };
    connection.close(Close {
        error: req.reason(),
        allow_reconnect: true,
    });
    Ok(true)
}

/// 200 when `exists`, else a 404 with `code` in the body and the `x-ms-error-code` header.
pub(super) fn existence(
    exists: bool,
    code: &'static str,
    what: String,
) -> Result<Response, ApiError> {
    if exists {
        Ok(StatusCode::OK.into_response())
    } else {
        Err(ApiError::not_found(code, what))
    }
}

/// Whether the connection exists.
pub(super) fn connection_exists(req: &HubRequest) -> Result<Response, ApiError> {
    let id = req.connection_id()?;
    existence(
        req.hub.has_connection(id),
        "Warning.Connection.NotExisted",
        format!(
            "Connection '{id}' does not exist in hub '{}'.",
            req.hub.name()
        ),
    )
}

/// Whether the group has connections.
pub(super) fn group_exists(req: &HubRequest) -> Result<Response, ApiError> {
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

/// Whether the user has connections.
pub(super) fn user_exists(req: &HubRequest) -> Result<Response, ApiError> {
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

/// Whether the user is in the group.
pub(super) fn user_in_group(req: &HubRequest) -> Result<Response, ApiError> {
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

fn connection_not_found(req: &HubRequest, id: &str) -> ApiError {
    ApiError::not_found(
        "Error.Connection.NotExisted",
        format!(
            "Connection '{id}' does not exist in hub '{}'.",
            req.hub.name()
        ),
    )
}

/// Adds a connection to a group; 404 when the connection is not connected.
pub(super) fn add_connection_to_group(req: &HubRequest) -> Result<(), ApiError> {
    let (id, group) = (req.connection_id()?, req.group()?);
    if req.hub.add_to_group(id, group) {
        Ok(())
    } else {
        Err(connection_not_found(req, id))
    }
}

/// Removes a connection from a group; 404 when the connection is not connected.
pub(super) fn remove_connection_from_group(req: &HubRequest) -> Result<(), ApiError> {
    let (id, group) = (req.connection_id()?, req.group()?);
    if req.hub.remove_from_group(id, group) {
        Ok(())
    } else {
        Err(connection_not_found(req, id))
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

/// Removes a user from every group.
pub(super) fn remove_user_from_all_groups(req: &HubRequest) -> Result<(), ApiError> {
    req.hub.remove_user_from_all_groups(req.user()?);
    Ok(())
}
