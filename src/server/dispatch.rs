//! What each ServiceProtocol message an app server (or the Management SDK) sends does to the
//! registry: relayed client data, fan-out of pre-framed payloads, group and user changes,
//! existence checks, closes, client results routed between app servers, pings. Everything here
//! is synchronous and acts on the one registry REST and clients use too, so an Ack queued after
//! an operation is sent only once the operation took effect, and a server connection's
//! messages are applied in the order they arrived. In a cluster, what the other nodes must do
//! goes on to the connection's forwarder (`across`), which also sends the Acks then.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;

use super::across::{Question, Remote};
use super::pings;
use crate::cluster::{Request, UserGroupChange, apply_user_group};
use crate::hub::{
    Audience, ConnectionHandle, Hub, RoutedInvocation, ServerHandle, TraceEvent, TraceKind, deliver,
};
use crate::protocol::Close;
use crate::protocol::service::{
    AccessKeyResponse, Ack, AckStatus, ClientCompletion, ClientInvocation, CloseConnection,
    ConnectionFlowControl, ErrorCompletion, Extensions, FlowControlOperation, FlowControlTarget,
    GroupMember, GroupMemberQuery, GroupMemberQueryResponse, Payloads, ServiceMapping,
    ServiceMessage,
};
use crate::state::AppState;

/// The most members one GroupMemberQuery page returns, as the REST listing allows.
const MAX_PAGE: usize = 200;
/// The service instance id ServiceMapping names: this process is the only instance.
pub(super) const INSTANCE_ID: &str = "signalr-emulator";

/// What a message is applied with.
pub(super) struct Context<'a> {
    /// The server state (configuration, keys).
    pub(super) state: &'a AppState,
    /// The server connection's hub.
    pub(super) hub: &'a Arc<Hub>,
    /// The server connection the message came on.
    pub(super) server: &'a ServerHandle,
}

/// Whether the connection goes on.
#[derive(Debug)]
pub(super) enum Flow {
    /// Keep reading.
    Continue,
    /// Keep reading once the forwarder took this part for the other nodes (cluster only).
    Across(Remote),
    /// End the connection, telling the app server this.
    Close(String),
}

/// Applies one message.
pub(super) fn apply(cx: &Context<'_>, message: ServiceMessage) -> Flow {
    use ServiceMessage as M;
    trace(cx, &message);
    match message {
        M::Ping(ping) => {
            if let Some(reply) = pings::answer(&ping, cx.hub, cx.server) {
                cx.server.send_message(&ServiceMessage::Ping(reply));
            }
        }
        M::ConnectionData(data) => match relayed_client(cx, &data.connection_id) {
            Some(connection) => {
                connection.deliver(data.payload);
            }
            None => {
                tracing::debug!(connection = %data.connection_id, "data for a connection that is gone")
            }
        },
        M::CloseConnection(close) => return close_from_app_server(cx, close),
        M::MultiConnectionData(m) => {
            // Each connection once, however often it is named.
            let mut seen = HashSet::new();
            let (mut targets, mut elsewhere) = (Vec::new(), Vec::new());
            for id in m
                .connection_ids
                .iter()
                .filter(|id| seen.insert(id.as_str()))
            {
                match cx.hub.connection(id) {
                    Some(connection) => targets.push(connection),
                    None => elsewhere.push(id.clone()),
                }
            }
            fan_out(&targets, &m.payloads);
            if cx.state.cluster.is_some() && !elsewhere.is_empty() {
                let frames = m.payloads.by_protocol();
                return Flow::Across(Remote::Connections {
                    ids: elsewhere,
                    frames,
                });
            }
        }
        M::UserData(m) => {
            let to = Audience::Users(vec![m.user_id]);
            return send(cx, to, Vec::new(), Vec::new(), &m.payloads);
        }
        M::MultiUserData(m) => {
            let to = Audience::Users(m.user_ids);
            return send(cx, to, Vec::new(), Vec::new(), &m.payloads);
        }
        M::BroadcastData(m) => return send(cx, Audience::All, m.excluded, Vec::new(), &m.payloads),
        M::GroupBroadcastData(m) => {
            let to = Audience::Groups(vec![m.group]);
            return send(cx, to, m.excluded, m.excluded_users, &m.payloads);
        }
        M::MultiGroupBroadcastData(m) => {
            let to = Audience::Groups(m.groups);
            return send(cx, to, Vec::new(), Vec::new(), &m.payloads);
        }
        M::JoinGroup(m) => {
            let here = cx.hub.add_to_group(&m.connection_id, &m.group);
            return changed(cx, here, None, m.connection_id, join_request(m.group));
        }
        M::LeaveGroup(m) => {
            let here = leave(cx.hub, &m.connection_id, m.group.as_deref());
            return changed(cx, here, None, m.connection_id, leave_request(m.group));
        }
        M::JoinGroupWithAck(m) => {
            let here = cx.hub.add_to_group(&m.connection_id, &m.group);
            return changed(
                cx,
                here,
                Some(m.ack_id),
                m.connection_id,
                |hub, connection| Request::AddToGroup {
                    hub,
                    connection,
                    group: m.group,
                },
            );
        }
        M::LeaveGroupWithAck(m) => {
            let here = leave(cx.hub, &m.connection_id, m.group.as_deref());
            let request = leave_request(m.group);
            return changed(cx, here, Some(m.ack_id), m.connection_id, request);
        }
        M::UserJoinGroup(m) => return user_group(cx, &m.user_id, joining(m.group, &m.ext), None),
        M::UserLeaveGroup(m) => return user_group(cx, &m.user_id, leaving(m.group), None),
        M::UserJoinGroupWithAck(m) => {
            let change = joining(m.group, &m.ext);
            return user_group(cx, &m.user_id, change, Some(m.ack_id));
        }
        M::UserLeaveGroupWithAck(m) => {
            return user_group(cx, &m.user_id, leaving(m.group), Some(m.ack_id));
        }
        M::CheckUserInGroupWithAck(m) => {
            let here = cx.hub.is_user_in_group(&m.user_id, &m.group);
            let question = || Question::UserInGroup {
                user: m.user_id,
                group: m.group,
            };
            return check(cx, m.ack_id, here, question);
        }
        M::CheckGroupExistenceWithAck(m) => {
            let here = cx.hub.has_group(&m.group);
            return check(cx, m.ack_id, here, || Question::Group(m.group));
        }
        M::CheckConnectionExistenceWithAck(m) => {
            let here = cx.hub.has_connection(&m.connection_id);
            return check(cx, m.ack_id, here, || Question::Connection(m.connection_id));
        }
        M::CheckUserExistenceWithAck(m) => {
            let here = cx.hub.has_user(&m.user_id);
            return check(cx, m.ack_id, here, || Question::User(m.user_id));
        }
        M::CloseConnectionWithAck(m) => {
            if let Some(connection) = cx.hub.connection(&m.connection_id) {
                close_all(&[connection], m.reason);
                return acked(cx, m.ack_id, AckStatus::Ok);
            }
            if cx.state.cluster.is_none() {
                return acked(cx, m.ack_id, AckStatus::NotFound);
            }
            return Flow::Across(Remote::CloseConnection {
                connection: m.connection_id,
                reason: m.reason.filter(|r| !r.is_empty()),
                ack: Some(m.ack_id),
            });
        }
        M::CloseConnectionsWithAck(m) => {
            close_all(&cx.hub.all_except(&m.excluded), m.reason.clone());
            return closed(cx, Audience::All, m.excluded, m.reason, m.ack_id);
        }
        M::CloseUserConnectionsWithAck(m) => {
            let mut targets = cx.hub.user_connections(&m.user_id);
            targets.retain(|c| !m.excluded.iter().any(|e| **e == **c.id()));
            close_all(&targets, m.reason.clone());
            let to = Audience::Users(vec![m.user_id]);
            return closed(cx, to, m.excluded, m.reason, m.ack_id);
        }
        M::CloseGroupConnectionsWithAck(m) => {
            close_all(
                &cx.hub.group_connections(&m.group, &m.excluded),
                m.reason.clone(),
            );
            let to = Audience::Groups(vec![m.group]);
            return closed(cx, to, m.excluded, m.reason, m.ack_id);
        }
        M::GroupMemberQuery(query) => return group_members(cx, query),
        M::ClientInvocation(invocation) => return client_invocation(cx, invocation),
        M::ClientCompletion(completion) => client_completion(cx, completion),
        M::ErrorCompletion(error) => error_completion(cx, error),
        M::AccessKeyRequest(request) => {
            let response = AccessKeyResponse {
                kid: Some(request.kid.unwrap_or_else(|| "primary".to_owned())),
                access_key: cx.state.config.access_keys.first().cloned(),
                error_type: None,
                error_message: None,
                ext: Extensions::default(),
            };
            cx.server
                .send_message(&ServiceMessage::AccessKeyResponse(response));
        }
        M::ConnectionFlowControl(control) => flow_control(cx, &control),
        M::HandshakeRequest(_) => {
            return Flow::Close(
                "The server connection already completed its handshake; a second HandshakeRequest is not allowed."
                    .to_owned(),
            );
        }
        M::ServiceMapping(_)
        | M::ConnectionReconnect(_)
        | M::RefreshAuth(_)
        | M::Ack(_)
        | M::ServiceEvent(_)
        | M::ServiceError(_)
        | M::AccessKeyResponse(_)
        | M::HandshakeResponse(_)
        | M::OpenConnection(_)
        | M::Unknown { .. } => {
            tracing::debug!(message = message.name(), "ServiceProtocol message ignored");
        }
    }
    Flow::Continue
}

/// The client a relayed message is for: a connected one, or one of this connection's clients
/// whose handshake this message answers, which joins the hub now.
fn relayed_client(cx: &Context<'_>, connection_id: &str) -> Option<ConnectionHandle> {
    cx.hub
        .connection(connection_id)
        .or_else(|| cx.server.opening_client(connection_id, cx.hub))
}

/// Reports what the app server did to the live trace; relayed data and pings would drown it.
fn trace(cx: &Context<'_>, message: &ServiceMessage) {
    if matches!(
        message,
        ServiceMessage::Ping(_) | ServiceMessage::ConnectionData(_)
    ) {
        return;
    }
    cx.hub.trace().emit(|| {
        let kind = TraceKind::ServerMessage {
            server_connection: cx.server.id().clone(),
            message: message.name(),
        };
        TraceEvent::now(cx.hub.name().clone(), None, kind)
    });
}

fn fan_out(targets: &[ConnectionHandle], payloads: &Payloads) {
    deliver(targets, &payloads.pre_framed());
}

/// Delivers the app server's frames to this node's connections of `to` (but the excluded
/// connections and users) and, in a cluster, has the other nodes deliver to theirs.
fn send(
    cx: &Context<'_>,
    to: Audience,
    excluded: Vec<String>,
    excluded_users: Vec<String>,
    payloads: &Payloads,
) -> Flow {
    cx.hub
        .deliver_except_users(&to, &excluded, &excluded_users, &payloads.pre_framed());
    if cx.state.cluster.is_none() {
        return Flow::Continue;
    }
    Flow::Across(Remote::Send {
        to,
        excluded,
        excluded_users,
        frames: payloads.by_protocol(),
    })
}

/// Ok when `exists`, else NotFound.
pub(super) fn found(exists: bool) -> AckStatus {
    if exists {
        AckStatus::Ok
    } else {
        AckStatus::NotFound
    }
}

/// An Ack of `ack_id`.
pub(super) fn acknowledgement(
    ack_id: i32,
    status: AckStatus,
    message: String,
    payload: Option<Bytes>,
) -> Ack {
    Ack {
        ack_id,
        status,
        message,
        ext: Extensions::default(),
        payload,
    }
}

fn ack(cx: &Context<'_>, ack_id: i32, status: AckStatus, payload: Option<Bytes>) {
    let ack = acknowledgement(ack_id, status, String::new(), payload);
    cx.server.send_message(&ServiceMessage::Ack(ack));
}

/// Acks at once on a single node; in a cluster, after the cluster parts of the messages
/// before it, so the app server never hears of a change before one it made earlier.
fn acked(cx: &Context<'_>, ack_id: i32, status: AckStatus) -> Flow {
    if cx.state.cluster.is_some() {
        return Flow::Across(Remote::Ack {
            ack: ack_id,
            status,
        });
    }
    ack(cx, ack_id, status, None);
    Flow::Continue
}

/// A connection leaves one group, or every group for `None`. False when it is not connected.
fn leave(hub: &Hub, connection_id: &str, group: Option<&str>) -> bool {
    match group {
        Some(group) => hub.remove_from_group(connection_id, group),
        None => hub.remove_from_all_groups(connection_id),
    }
}

/// What the node holding a connection is asked for a join of `group`.
fn join_request(group: String) -> impl FnOnce(String, String) -> Request {
    move |hub, connection| Request::AddToGroup {
        hub,
        connection,
        group,
    }
}

/// What the node holding a connection is asked for a leave of `group` (every group for
/// `None`).
fn leave_request(group: Option<String>) -> impl FnOnce(String, String) -> Request {
    move |hub, connection| match group {
        Some(group) => Request::RemoveFromGroup {
            hub,
            connection,
            group,
        },
        None => Request::RemoveFromAllGroups { hub, connection },
    }
}

/// Finishes a group change of `connection`, made here when `here`: on a single node, acks
/// whether it was found; in a cluster, has the forwarder ask the holding node (or wait for
/// Redis to have the change) first. `request` makes what the holder is asked from the hub
/// name and the connection id.
fn changed(
    cx: &Context<'_>,
    here: bool,
    ack_id: Option<i32>,
    connection: String,
    request: impl FnOnce(String, String) -> Request,
) -> Flow {
    if cx.state.cluster.is_none() || (here && ack_id.is_none()) {
        if let Some(ack_id) = ack_id {
            ack(cx, ack_id, found(here), None);
        }
        return Flow::Continue;
    }
    let request = request(cx.hub.name().to_string(), connection.clone());
    Flow::Across(Remote::ConnectionGroup {
        connection,
        here,
        request,
        ack: ack_id,
    })
}

/// A user joining `group` for the TTL in ext 2 (seconds; default a year, 0 = current
/// connections only, as REST's `ttl`).
fn joining(group: String, ext: &Extensions) -> UserGroupChange {
    UserGroupChange::Add {
        group,
        ttl_secs: ext.ttl.map(|seconds| u64::try_from(seconds).unwrap_or(0)),
    }
}

/// A user leaving `group`, or every group for `None`.
fn leaving(group: Option<String>) -> UserGroupChange {
    match group {
        Some(group) => UserGroupChange::Remove { group },
        None => UserGroupChange::RemoveAll,
    }
}

/// Applies a user-group change here; in a cluster the forwarder then writes it into Redis
/// and has every other node apply it, and acks after that.
fn user_group(cx: &Context<'_>, user: &str, change: UserGroupChange, ack_id: Option<i32>) -> Flow {
    let Some(cluster) = &cx.state.cluster else {
        apply_user_group(cx.hub, user, change);
        if let Some(ack_id) = ack_id {
            ack(cx, ack_id, AckStatus::Ok, None);
        }
        return Flow::Continue;
    };
    let applied = cluster.apply_user_group_here(cx.hub, user, change);
    Flow::Across(Remote::UserGroup {
        applied,
        ack: ack_id,
    })
}

/// Answers an existence check: yes when this node's own connections say so, else (in a
/// cluster) after asking the others.
fn check(cx: &Context<'_>, ack_id: i32, here: bool, question: impl FnOnce() -> Question) -> Flow {
    if here || cx.state.cluster.is_none() {
        return acked(cx, ack_id, found(here));
    }
    Flow::Across(Remote::Check {
        question: question(),
        ack: ack_id,
    })
}

/// Closes each connection with `reason`; like a REST close, the client may reconnect.
fn close_all(targets: &[ConnectionHandle], reason: Option<String>) {
    for connection in targets {
        connection.close(Close {
            error: reason.clone().filter(|r| !r.is_empty()),
            allow_reconnect: true,
        });
    }
}

/// Acks a close of `to`'s connections (but the excluded ones) that this node did on its own;
/// in a cluster, after the other nodes were told to close theirs.
fn closed(
    cx: &Context<'_>,
    to: Audience,
    excluded: Vec<String>,
    reason: Option<String>,
    ack_id: i32,
) -> Flow {
    if cx.state.cluster.is_none() {
        return acked(cx, ack_id, AckStatus::Ok);
    }
    Flow::Across(Remote::Close {
        to,
        excluded,
        reason: reason.filter(|r| !r.is_empty()),
        ack: ack_id,
    })
}

/// The app server ends a client: its own connection's clients had their hub's Close frame
/// relayed already, so they just end; any other client (the Management SDK closing one) gets a
/// Close with the reason, on whichever node holds it.
fn close_from_app_server(cx: &Context<'_>, close: CloseConnection) -> Flow {
    let Some(connection) = relayed_client(cx, &close.connection_id) else {
        if cx.state.cluster.is_none() {
            return Flow::Continue;
        }
        return Flow::Across(Remote::CloseConnection {
            connection: close.connection_id,
            reason: Some(close.error_message).filter(|r| !r.is_empty()),
            ack: None,
        });
    };
    let bound_here = connection
        .app_server()
        .is_some_and(|s| s.server_id() == cx.server.server_id());
    if bound_here {
        connection.end_from_app_server();
    } else {
        close_all(std::slice::from_ref(&connection), Some(close.error_message));
    }
    Flow::Continue
}

/// One page of a group's members; the continuation token is the last connection id returned.
/// In a cluster the forwarder adds the other nodes' members first.
fn group_members(cx: &Context<'_>, query: GroupMemberQuery) -> Flow {
    let after = query
        .continuation_token
        .as_deref()
        .filter(|t| !t.is_empty());
    // One more than asked tells whether another page follows.
    let here: Vec<GroupMember> = cx
        .hub
        .group_page(&query.group, after, page_limit(&query) + 1)
        .iter()
        .map(|c| GroupMember {
            connection_id: c.id().to_string(),
            user_id: c.user_id().map(|u| u.to_string()),
        })
        .collect();
    if cx.state.cluster.is_some() {
        return Flow::Across(Remote::Members { query, here });
    }
    let page = member_page(&query, here);
    ack(cx, query.ack_id, AckStatus::Ok, Some(page.encode()));
    Flow::Continue
}

/// How many members one page of `query` holds.
fn page_limit(query: &GroupMemberQuery) -> usize {
    usize::try_from(query.max)
        .ok()
        .filter(|max| *max > 0)
        .map_or(MAX_PAGE, |max| max.min(MAX_PAGE))
}

/// The page `query` asked for, from members after its token sorted by id.
pub(super) fn member_page(
    query: &GroupMemberQuery,
    mut members: Vec<GroupMember>,
) -> GroupMemberQueryResponse {
    let limit = page_limit(query);
    let more = members.len() > limit;
    members.truncate(limit);
    GroupMemberQueryResponse {
        continuation_token: more
            .then(|| members.last().map(|c| c.connection_id.clone()))
            .flatten(),
        members,
    }
}

/// Delivers a client invocation to its client and remembers the caller. When another app
/// server owns the client, that server's router is told too, and the caller learns the mapping.
fn client_invocation(cx: &Context<'_>, invocation: ClientInvocation) -> Flow {
    let (invocation_id, connection_id) = (
        invocation.invocation_id.clone(),
        invocation.connection_id.clone(),
    );
    match cx
        .hub
        .route_client_invocation(invocation, || cx.server.clone())
    {
        Ok(true) => {
            let mapping = service_mapping(invocation_id, connection_id);
            cx.server
                .send_message(&ServiceMessage::ServiceMapping(mapping));
        }
        Ok(false) => {}
        Err(invocation) if cx.state.cluster.is_some() => {
            return Flow::Across(Remote::ClientInvocation(invocation));
        }
        Err(invocation) => {
            let error = not_connected(*invocation);
            cx.server
                .send_message(&ServiceMessage::ErrorCompletion(error));
        }
    }
    Flow::Continue
}

/// Tells the caller of a client invocation that another app server routes its answer.
pub(super) fn service_mapping(invocation_id: String, connection_id: String) -> ServiceMapping {
    ServiceMapping {
        invocation_id,
        connection_id,
        instance_id: INSTANCE_ID.to_owned(),
        ext: Extensions::default(),
    }
}

/// The failure of a client invocation whose client is not connected.
pub(super) fn not_connected(invocation: ClientInvocation) -> ErrorCompletion {
    ErrorCompletion {
        invocation_id: invocation.invocation_id,
        connection_id: invocation.connection_id,
        caller_server_id: invocation.caller_server_id,
        error: Some("The client connection is not connected.".to_owned()),
        ext: Extensions::default(),
    }
}

/// The owning app server read the client's Completion. From the caller itself it only ends the
/// invocation; from a router it carries the result, which goes on to the caller.
fn client_completion(cx: &Context<'_>, completion: ClientCompletion) {
    let invocation_id = completion.invocation_id.clone();
    to_caller(cx, &invocation_id, |route| {
        ServiceMessage::ClientCompletion(ClientCompletion {
            caller_server_id: route.caller_server_id.to_string(),
            ..completion
        })
    });
}

/// An app server failed an invocation it routed: the caller is told.
fn error_completion(cx: &Context<'_>, error: ErrorCompletion) {
    let invocation_id = error.invocation_id.clone();
    to_caller(cx, &invocation_id, |_| {
        ServiceMessage::ErrorCompletion(error)
    });
}

/// Ends a routed invocation and sends the caller what `message` makes of its route; nothing
/// when the invocation is unknown or the caller is this very app server (the owner's own
/// cleanup signal).
fn to_caller(
    cx: &Context<'_>,
    invocation_id: &str,
    message: impl FnOnce(&RoutedInvocation) -> ServiceMessage,
) {
    let Some(route) = cx.hub.finish_client_invocation(invocation_id) else {
        return;
    };
    if *route.caller_server_id == **cx.server.server_id() {
        return;
    }
    if let Some(caller) = cx
        .hub
        .server_of(&route.caller_server_id, Some(&route.caller))
    {
        caller.send_message(&message(&route));
    }
}

/// Flow control: this service never pauses a client, so a Pause is acknowledged at once; an
/// app server going offline gets no new clients.
fn flow_control(cx: &Context<'_>, control: &ConnectionFlowControl) {
    match (control.connection_type, control.operation) {
        (FlowControlTarget::Client, FlowControlOperation::Pause) => {
            let reply = ConnectionFlowControl {
                operation: FlowControlOperation::PauseAck,
                ext: Extensions::default(),
                ..control.clone()
            };
            cx.server
                .send_message(&ServiceMessage::ConnectionFlowControl(reply));
        }
        (FlowControlTarget::Server, FlowControlOperation::Offline) => cx.server.stop_accepting(),
        _ => tracing::debug!(?control, "flow control message ignored"),
    }
}
