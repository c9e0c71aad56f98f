//! The REST operations, independent of API generation: each one does its work on the hub. Where
//! every generation answers the same (sends, existence checks, connection-group changes,
//! health), the operation is the handler itself and the generation modules only route to it;
//! elsewhere it reports what happened and the generation modules choose the status codes. In a
//! cluster each one first does its local part, exactly as a single node would, then reaches the
//! other nodes (a send is published once with its frames); a cluster failure answers 503.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::extract::HubRequest;
use super::payload::Payload;
use crate::cluster::{Cluster, NodeInfo, Request, UserGroupChange};
use crate::error::ApiError;
use crate::hub::{Audience, ConnectionHandle, Preview, TraceEvent, TraceKind};
use crate::protocol::Close;
use crate::state::AppState;

type Status = Result<StatusCode, ApiError>;

/// # `GET|HEAD /api/v1/health`, `/api/health`
///
/// 200 while the server runs (local delivery works without Redis too); needs no token. A
/// cluster node adds `x-signalr-cluster: healthy` or `redis-unavailable`, its node id and the
/// number of nodes it sees.
pub(super) async fn health(State(state): State<AppState>) -> Response {
    let Some(cluster) = &state.cluster else {
        return StatusCode::OK.into_response();
    };
    let condition = if cluster.is_healthy() {
        "healthy"
    } else {
        "redis-unavailable"
    };
    let nodes = cluster.nodes().len().to_string();
    let headers = [
        ("x-signalr-cluster", condition.to_owned()),
        ("x-signalr-cluster-node", cluster.node_id().to_owned()),
        ("x-signalr-cluster-nodes", nodes),
    ];
    (StatusCode::OK, headers).into_response()
}

/// # `POST /api/v1/hubs/{hub}`, `/api/hubs/{hub}[/:send]` `[?excluded=id...]`, `/api/v1-preview/hub/{hub}`
///
/// Broadcast to every connection of the hub but the excluded ones. 202.
pub(super) async fn broadcast(req: HubRequest, payload: Payload) -> Status {
    sent(&req, || "everyone".into(), payload, Audience::All).await?;
    Ok(StatusCode::ACCEPTED)
}

/// # `POST /api/v1/hubs/{hub}/users/{user}`, `/api/hubs/{hub}/users/{user}[/:send]`, `/api/v1-preview/hub/{hub}/user/{user}`
///
/// Send to every connection of a user. 202, also when the user has no connection.
pub(super) async fn send_to_user(req: HubRequest, payload: Payload) -> Status {
    let user = req.user()?;
    let to = Audience::Users(vec![user.to_string()]);
    sent(&req, || format!("user {user}"), payload, to).await?;
    Ok(StatusCode::ACCEPTED)
}

/// # `POST /api/v1-preview/hub/{hub}/users/{user1,user2,...}`
///
/// Send to every connection of each listed user. 202; 400 when an item is empty or too long.
pub(super) async fn send_to_users(req: HubRequest, payload: Payload) -> Status {
    let users = req.users()?;
    let to = Audience::Users(users.iter().map(ToString::to_string).collect());
    sent(&req, || format!("users {}", users.join(",")), payload, to).await?;
    Ok(StatusCode::ACCEPTED)
}

/// # `POST /api/v1/hubs/{hub}/connections/{id}`, `/api/hubs/{hub}/connections/{id}[/:send]`
///
/// Send to one connection. 202, also when it is not connected.
pub(super) async fn send_to_connection(req: HubRequest, payload: Payload) -> Status {
    let id = req.connection_id()?;
    let to = Audience::Connection(id.to_string());
    sent(&req, || format!("connection {id}"), payload, to).await?;
    Ok(StatusCode::ACCEPTED)
}

/// # `POST /api/v1/hubs/{hub}/groups/{group}`, `/api/hubs/{hub}/groups/{group}[/:send]` `[?excluded=id...]`, `/api/v1-preview/hub/{hub}/group/{group}`
///
/// Send to the group's connections but the excluded ones. 202.
pub(super) async fn send_to_group(req: HubRequest, payload: Payload) -> Status {
    let group = req.group()?;
    let to = Audience::Groups(vec![group.to_string()]);
    sent(&req, || format!("group {group}"), payload, to).await?;
    Ok(StatusCode::ACCEPTED)
}

/// # `POST /api/v1-preview/hub/{hub}/groups/{group1,group2,...}`
///
/// Send once to every connection in any listed group. 202.
pub(super) async fn send_to_groups(req: HubRequest, payload: Payload) -> Status {
    let groups = req.groups()?;
    let to = Audience::Groups(groups.iter().map(ToString::to_string).collect());
    sent(&req, || format!("groups {}", groups.join(",")), payload, to).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Delivers the payload to this node's connections of `to` (but the excluded ones), reports
/// the send, addressed `label`, to the live trace, and in a cluster publishes it for the other
/// nodes' connections. A connection held here is not looked for elsewhere.
async fn sent(
    req: &HubRequest,
    label: impl FnOnce() -> String,
    payload: Payload,
    to: Audience,
) -> Result<usize, ApiError> {
    let excluded = req.excluded();
    let target = payload.invocation.target.clone();
    let arguments = Preview::of(&payload.invocation.arguments);
    let connection_here = match &to {
        Audience::Connection(id) => Some(req.hub.has_connection(id)),
        _ => None,
    };
    // A connection held here is not looked for elsewhere.
    let for_other_nodes = req.cluster.is_some() && connection_here != Some(true);
    // A connection that is nowhere to be reached needs nothing encoded.
    let (recipients, frames) = if connection_here == Some(false) && !for_other_nodes {
        (0, Vec::new())
    } else {
        payload.deliver_to(&req.hub, &to, &excluded, for_other_nodes)
    };
    req.hub.trace().emit(|| {
        let kind = TraceKind::Sent {
            to: label(),
            target,
            recipients,
            arguments: Some(arguments),
        };
        TraceEvent::now(req.hub.name().clone(), None, kind)
    });
    if let Some(cluster) = req.cluster.as_ref().filter(|_| for_other_nodes) {
        // Boxed: the publish future is large, and every send's future would carry it inline.
        Box::pin(cluster.send(req.hub.name(), to, excluded, Vec::new(), frames)).await?;
    }
    Ok(recipients)
}

/// Closes a connection, sending it `reason` in the Close message. Returns whether it existed
/// (here or, in a cluster, on the node that holds it).
pub(super) async fn close_connection(req: &HubRequest) -> Result<bool, ApiError> {
    let id = req.connection_id()?;
    if let Some(connection) = req.hub.connection(id) {
        close(req, || format!("connection {id}"), &[connection]);
        return Ok(true);
    }
    match &req.cluster {
        Some(cluster) => Ok(cluster
            .close_connection(req.hub.name(), id, req.reason())
            .await?),
        None => Ok(false),
    }
}

/// Closes every connection of the hub but the excluded ones.
pub(super) async fn close_hub_connections(req: &HubRequest) -> Result<(), ApiError> {
    closed(req, || "everyone".into(), Audience::All).await
}

/// Closes the group's connections but the excluded ones.
pub(super) async fn close_group_connections(req: &HubRequest) -> Result<(), ApiError> {
    let group = req.group()?;
    let to = Audience::Groups(vec![group.to_string()]);
    closed(req, || format!("group {group}"), to).await
}

/// Closes the user's connections but the excluded ones.
pub(super) async fn close_user_connections(req: &HubRequest) -> Result<(), ApiError> {
    let user = req.user()?;
    let to = Audience::Users(vec![user.to_string()]);
    closed(req, || format!("user {user}"), to).await
}

/// Closes this node's connections of `to` but the excluded ones and, in a cluster, has the
/// other nodes close theirs.
async fn closed(
    req: &HubRequest,
    label: impl FnOnce() -> String,
    to: Audience,
) -> Result<(), ApiError> {
    let excluded = req.excluded();
    close(req, label, &req.hub.audience(&to, &excluded));
    if let Some(cluster) = &req.cluster {
        cluster
            .close(req.hub.name(), to, excluded, req.reason())
            .await?;
    }
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
    let req = &req;
    let id = req.connection_id()?;
    let exists = req.hub.has_connection(id)
        || match &req.cluster {
            Some(cluster) => cluster
                .locate_connection(req.hub.name(), id)
                .await?
                .is_some(),
            None => false,
        };
    if exists {
        Ok(StatusCode::OK.into_response())
    } else {
        Err(connection_not_found(
            req,
            id,
            "Warning.Connection.NotExisted",
        ))
    }
}

/// # `GET|HEAD …/hubs/{hub}/groups/{group}`
///
/// 200 when the group has a connection, else 404 `Warning.Group.NotExisted`.
pub(super) async fn group_exists(req: HubRequest) -> Result<Response, ApiError> {
    let req = &req;
    let group = req.group()?;
    let exists = req.hub.has_group(group)
        || match &req.cluster {
            Some(cluster) => cluster.group_exists(req.hub.name(), group).await?,
            None => false,
        };
    existence(
        exists,
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
    let req = &req;
    let user = req.user()?;
    let exists = req.hub.has_user(user)
        || match &req.cluster {
            Some(cluster) => cluster.user_exists(req.hub.name(), user).await?,
            None => false,
        };
    existence(
        exists,
        "Warning.User.NotExisted",
        format!(
            "User '{user}' has no connection in hub '{}'.",
            req.hub.name()
        ),
    )
}

/// # `GET|HEAD …/hubs/{hub}/groups/{group}/users/{user}` (either path order)
///
/// 200 when the user is in the group, else 404 `Info.User.NotInGroup`. Every node keeps the
/// user-group memberships, so only a connection of the user on another node is looked for there.
pub(super) async fn user_in_group(req: HubRequest) -> Result<Response, ApiError> {
    let req = &req;
    let (user, group) = (req.user()?, req.group()?);
    let exists = req.hub.is_user_in_group(user, group)
        || match &req.cluster {
            Some(cluster) => {
                cluster
                    .user_connection_in_group(req.hub.name(), user, group)
                    .await?
            }
            None => false,
        };
    existence(
        exists,
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

/// The cluster and the other node that holds connection `id`; `not_found` when there is no
/// cluster or no node holds it.
pub(super) async fn holding_node<'r>(
    req: &'r HubRequest,
    id: &str,
    not_found: impl Fn() -> ApiError,
) -> Result<(&'r Cluster, NodeInfo), ApiError> {
    let cluster = req.cluster.as_deref().ok_or_else(&not_found)?;
    let node = cluster
        .locate_connection(req.hub.name(), id)
        .await?
        .ok_or_else(not_found)?;
    Ok((cluster, node))
}

/// Does a group change for connection `id`: here when this node holds it, else by asking the
/// node that does. Whether the connection was found anywhere.
async fn change_connection(
    req: &HubRequest,
    id: &str,
    local: impl FnOnce() -> bool,
    remote: impl FnOnce() -> Request,
) -> Result<bool, ApiError> {
    let here = local();
    match &req.cluster {
        Some(cluster) => Ok(cluster
            .change_connection(req.hub.name(), id, here, remote)
            .await?),
        None => Ok(here),
    }
}

/// # `PUT …/hubs/{hub}/groups/{group}/connections/{connectionId}` (either path order)
///
/// 200, or 404 `Error.Connection.NotExisted` when the connection is not connected.
pub(super) async fn add_connection_to_group(req: HubRequest) -> Status {
    let req = &req;
    let (id, group) = (req.connection_id()?, req.group()?);
    let hub = req.hub.name().to_string();
    let request = || Request::AddToGroup {
        hub,
        connection: id.to_string(),
        group: group.to_string(),
    };
    if change_connection(req, id, || req.hub.add_to_group(id, group), request).await? {
        Ok(StatusCode::OK)
    } else {
        Err(connection_not_found(req, id, "Error.Connection.NotExisted"))
    }
}

/// # `DELETE …/hubs/{hub}/groups/{group}/connections/{connectionId}` (either path order)
///
/// 200 (also when the connection was not in the group), or 404 `Error.Connection.NotExisted`
/// when the connection is not connected.
pub(super) async fn remove_connection_from_group(req: HubRequest) -> Status {
    let req = &req;
    let (id, group) = (req.connection_id()?, req.group()?);
    let hub = req.hub.name().to_string();
    let request = || Request::RemoveFromGroup {
        hub,
        connection: id.to_string(),
        group: group.to_string(),
    };
    if change_connection(req, id, || req.hub.remove_from_group(id, group), request).await? {
        Ok(StatusCode::OK)
    } else {
        Err(connection_not_found(req, id, "Error.Connection.NotExisted"))
    }
}

/// Removes a connection from every group. An unknown connection is in no group, so that is
/// not an error (Azure documents only 200 here).
pub(super) async fn remove_connection_from_all_groups(req: &HubRequest) -> Result<(), ApiError> {
    let id = req.connection_id()?;
    let hub = req.hub.name().to_string();
    let request = || Request::RemoveFromAllGroups {
        hub,
        connection: id.to_string(),
    };
    change_connection(req, id, || req.hub.remove_from_all_groups(id), request).await?;
    Ok(())
}

/// Applies a user-group change here and, in a cluster, on every other node: each keeps the
/// membership so it applies to the user's connections there, now and later.
async fn user_group_change(
    req: &HubRequest,
    user: &str,
    change: UserGroupChange,
) -> Result<(), ApiError> {
    match &req.cluster {
        Some(cluster) => cluster.user_group(&req.hub, user, change).await?,
        None => drop(crate::cluster::apply_user_group(&req.hub, user, change)),
    }
    Ok(())
}

/// Adds a user to a group for `ttl` seconds (a year by default; 0 = current connections only).
pub(super) async fn add_user_to_group(req: &HubRequest) -> Result<(), ApiError> {
    let (user, group, ttl) = (req.user()?, req.group()?, req.ttl()?);
    let change = UserGroupChange::Add {
        group: group.to_string(),
        ttl_secs: ttl.map(|ttl| ttl.as_secs()),
    };
    user_group_change(req, user, change).await
}

/// Removes a user from a group, with all the user's connections.
pub(super) async fn remove_user_from_group(req: &HubRequest) -> Result<(), ApiError> {
    let (user, group) = (req.user()?, req.group()?);
    let change = UserGroupChange::Remove {
        group: group.to_string(),
    };
    user_group_change(req, user, change).await
}

/// Removes a user from every group.
pub(super) async fn remove_user_from_all_groups(req: &HubRequest) -> Result<(), ApiError> {
    user_group_change(req, req.user()?, UserGroupChange::RemoveAll).await
}
