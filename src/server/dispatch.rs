//! What each ServiceProtocol message an app server (or the Management SDK) sends does to the
//! registry: relayed client data, fan-out of pre-framed payloads, group and user changes,
//! existence checks, closes, client results routed between app servers, pings. Everything here
//! is synchronous and acts on the one registry REST and clients use too, so an Ack queued after
//! an operation is sent only once the operation took effect, and a server connection's
//! messages are applied in the order they arrived.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::pings;
use crate::hub::{
    Audience, ConnectionHandle, Hub, RoutedInvocation, ServerHandle, TraceEvent, TraceKind, deliver,
};
use crate::protocol::service::{
    AccessKeyResponse, Ack, AckStatus, ClientCompletion, ClientInvocation, CloseConnection,
    ConnectionFlowControl, ErrorCompletion, Extensions, FlowControlOperation, FlowControlTarget,
    GroupMember, GroupMemberQuery, GroupMemberQueryResponse, Payloads, ServiceMapping,
    ServiceMessage,
};
use crate::protocol::{Close, PreFramed};
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
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Flow {
    /// Keep reading.
    Continue,
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
        M::CloseConnection(close) => close_from_app_server(cx, &close),
        M::MultiConnectionData(m) => {
            let targets = unique(
                m.connection_ids
                    .iter()
                    .filter_map(|id| cx.hub.connection(id)),
            );
            fan_out(&targets, &m.payloads);
        }
        M::UserData(m) => fan_out(&cx.hub.user_connections(&m.user_id), &m.payloads),
        M::MultiUserData(m) => {
            let targets = unique(m.user_ids.iter().flat_map(|u| cx.hub.user_connections(u)));
            fan_out(&targets, &m.payloads);
        }
        M::BroadcastData(m) => {
            cx.hub
                .deliver_to(&Audience::All, &m.excluded, &pre_framed(&m.payloads));
        }
        M::GroupBroadcastData(m) => {
            let mut targets = cx.hub.group_connections(&m.group, &m.excluded);
            if !m.excluded_users.is_empty() {
                targets.retain(|c| {
                    !c.user_id()
                        .is_some_and(|u| m.excluded_users.iter().any(|e| **e == **u))
                });
            }
            fan_out(&targets, &m.payloads);
        }
        M::MultiGroupBroadcastData(m) => {
            let targets = unique(
                m.groups
                    .iter()
                    .flat_map(|g| cx.hub.group_connections(g, &[])),
            );
            fan_out(&targets, &m.payloads);
        }
        M::JoinGroup(m) => {
            cx.hub.add_to_group(&m.connection_id, &m.group);
        }
        M::LeaveGroup(m) => {
            leave(cx.hub, &m.connection_id, m.group.as_deref());
        }
        M::JoinGroupWithAck(m) => {
            let done = cx.hub.add_to_group(&m.connection_id, &m.group);
            ack(cx, m.ack_id, found(done), None);
        }
        M::LeaveGroupWithAck(m) => {
            let done = leave(cx.hub, &m.connection_id, m.group.as_deref());
            ack(cx, m.ack_id, found(done), None);
        }
        M::UserJoinGroup(m) => user_join(cx.hub, &m.user_id, &m.group, &m.ext),
        M::UserLeaveGroup(m) => user_leave(cx.hub, &m.user_id, m.group.as_deref()),
        M::UserJoinGroupWithAck(m) => {
            user_join(cx.hub, &m.user_id, &m.group, &m.ext);
            ack(cx, m.ack_id, AckStatus::Ok, None);
        }
        M::UserLeaveGroupWithAck(m) => {
            user_leave(cx.hub, &m.user_id, m.group.as_deref());
            ack(cx, m.ack_id, AckStatus::Ok, None);
        }
        M::CheckUserInGroupWithAck(m) => {
            let exists = cx.hub.is_user_in_group(&m.user_id, &m.group);
            ack(cx, m.ack_id, found(exists), None);
        }
        M::CheckGroupExistenceWithAck(m) => {
            ack(cx, m.ack_id, found(cx.hub.has_group(&m.group)), None);
        }
        M::CheckConnectionExistenceWithAck(m) => {
            let exists = cx.hub.has_connection(&m.connection_id);
            ack(cx, m.ack_id, found(exists), None);
        }
        M::CheckUserExistenceWithAck(m) => {
            ack(cx, m.ack_id, found(cx.hub.has_user(&m.user_id)), None);
        }
        M::CloseConnectionWithAck(m) => {
            let connection = cx.hub.connection(&m.connection_id);
            let exists = connection.is_some();
            close_all(connection.as_slice(), m.reason);
            ack(cx, m.ack_id, found(exists), None);
        }
        M::CloseConnectionsWithAck(m) => {
            close_all(&cx.hub.all_except(&m.excluded), m.reason);
            ack(cx, m.ack_id, AckStatus::Ok, None);
        }
        M::CloseUserConnectionsWithAck(m) => {
            let mut targets = cx.hub.user_connections(&m.user_id);
            targets.retain(|c| !m.excluded.iter().any(|e| **e == **c.id()));
            close_all(&targets, m.reason);
            ack(cx, m.ack_id, AckStatus::Ok, None);
        }
        M::CloseGroupConnectionsWithAck(m) => {
            close_all(&cx.hub.group_connections(&m.group, &m.excluded), m.reason);
            ack(cx, m.ack_id, AckStatus::Ok, None);
        }
        M::GroupMemberQuery(query) => group_members(cx, &query),
        M::ClientInvocation(invocation) => client_invocation(cx, invocation),
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
    deliver(targets, &pre_framed(payloads));
}

/// The frames an app server sent, per protocol.
fn pre_framed(payloads: &Payloads) -> PreFramed {
    PreFramed::from_entries(
        payloads
            .0
            .iter()
            .map(|(name, frame)| (name.as_str(), frame)),
    )
}

/// The connections without repeats (a connection may be in several of the groups named).
fn unique(connections: impl Iterator<Item = ConnectionHandle>) -> Vec<ConnectionHandle> {
    let mut seen = HashSet::new();
    connections
        .filter(|c| seen.insert(c.id().clone()))
        .collect()
}

fn found(exists: bool) -> AckStatus {
    if exists {
        AckStatus::Ok
    } else {
        AckStatus::NotFound
    }
}

fn ack(cx: &Context<'_>, ack_id: i32, status: AckStatus, payload: Option<bytes::Bytes>) {
    let ack = Ack {
        ack_id,
        status,
        message: String::new(),
        ext: Extensions::default(),
        payload,
    };
    cx.server.send_message(&ServiceMessage::Ack(ack));
}

/// A connection leaves one group, or every group for `None`. False when it is not connected.
fn leave(hub: &Hub, connection_id: &str, group: Option<&str>) -> bool {
    match group {
        Some(group) => hub.remove_from_group(connection_id, group),
        None => hub.remove_from_all_groups(connection_id),
    }
}

/// A user joins a group for the TTL in ext 2 (seconds; default a year, 0 = current connections
/// only, as REST's `ttl`).
fn user_join(hub: &Hub, user: &str, group: &str, ext: &Extensions) {
    let ttl = ext
        .ttl
        .map(|seconds| Duration::from_secs(u64::try_from(seconds).unwrap_or(0)));
    hub.add_user_to_group(user, group, ttl);
}

fn user_leave(hub: &Hub, user: &str, group: Option<&str>) {
    match group {
        Some(group) => hub.remove_user_from_group(user, group),
        None => hub.remove_user_from_all_groups(user),
    }
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

/// The app server ends a client: its own connection's clients had their hub's Close frame
/// relayed already, so they just end; any other client (the Management SDK closing one) gets a
/// Close with the reason.
fn close_from_app_server(cx: &Context<'_>, close: &CloseConnection) {
    let Some(connection) = relayed_client(cx, &close.connection_id) else {
        return;
    };
    let bound_here = connection
        .app_server()
        .is_some_and(|s| s.server_id() == cx.server.server_id());
    if bound_here {
        connection.end_from_app_server();
    } else {
        close_all(
            std::slice::from_ref(&connection),
            Some(close.error_message.clone()),
        );
    }
}

/// One page of a group's members; the continuation token is the last connection id returned.
fn group_members(cx: &Context<'_>, query: &GroupMemberQuery) {
    let limit = usize::try_from(query.max)
        .ok()
        .filter(|max| *max > 0)
        .map_or(MAX_PAGE, |max| max.min(MAX_PAGE));
    let after = query
        .continuation_token
        .as_deref()
        .filter(|t| !t.is_empty());
    // One more than asked tells whether another page follows.
    let mut page = cx.hub.group_page(&query.group, after, limit + 1);
    let more = page.len() > limit;
    page.truncate(limit);
    let response = GroupMemberQueryResponse {
        continuation_token: more
            .then(|| page.last().map(|c| c.id().to_string()))
            .flatten(),
        members: page
            .iter()
            .map(|c| GroupMember {
                connection_id: c.id().to_string(),
                user_id: c.user_id().map(|u| u.to_string()),
            })
            .collect(),
    };
    ack(cx, query.ack_id, AckStatus::Ok, Some(response.encode()));
}

/// Delivers a client invocation to its client and remembers the caller. When another app
/// server owns the client, that server's router is told too, and the caller learns the mapping.
fn client_invocation(cx: &Context<'_>, invocation: ClientInvocation) {
    let Some(connection) = cx.hub.connection(&invocation.connection_id) else {
        let error = ErrorCompletion {
            invocation_id: invocation.invocation_id,
            connection_id: invocation.connection_id,
            caller_server_id: invocation.caller_server_id,
            error: Some("The client connection is not connected.".to_owned()),
            ext: Extensions::default(),
        };
        cx.server
            .send_message(&ServiceMessage::ErrorCompletion(error));
        return;
    };
    cx.hub.track_client_invocation(
        invocation.invocation_id.clone(),
        RoutedInvocation {
            connection_id: connection.id().clone(),
            caller_server_id: Arc::from(invocation.caller_server_id.as_str()),
            caller: cx.server.clone(),
        },
    );
    fan_out(std::slice::from_ref(&connection), &invocation.payloads);
    let owner = connection
        .app_server()
        .filter(|owner| **owner.server_id() != *invocation.caller_server_id)
        .cloned();
    if let Some(owner) = owner {
        let mapping = ServiceMapping {
            invocation_id: invocation.invocation_id.clone(),
            connection_id: invocation.connection_id.clone(),
            instance_id: INSTANCE_ID.to_owned(),
            ext: Extensions::default(),
        };
        owner.send_message(&ServiceMessage::ClientInvocation(invocation));
        cx.server
            .send_message(&ServiceMessage::ServiceMapping(mapping));
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
