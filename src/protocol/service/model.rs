//! The ServiceProtocol message model: one [`ServiceMessage`] variant per message type 1–41, each
//! a struct with the fields of the current layout (SERVICE-PROTOCOL.md §2). Payloads are
//! [`Bytes`] slices of the received frame, so relaying them copies nothing.
//!
//! Lists the SDK writes as "null or empty" (excluded ids, claims, payloads) are plain `Vec`s
//! here: empty means null, and is written as an empty array or map, as the SDK does. Strings the
//! SDK may send as nil are `Option<String>`; ids it never sends as nil are `String` and a nil is
//! a read error.

use bytes::Bytes;

use super::{
    AckStatus, Extensions, FlowControlOperation, FlowControlTarget, ServerConnectionType,
    ServiceEventKind, ServiceEventObjectType,
};

/// A client's claims as `(type, value)` pairs, in order; the same type may occur several times
/// (several role claims).
pub type Claims = Vec<(String, String)>;

/// Request headers as `(name, values)`, in order. Names are case-insensitive in the SDK.
pub type Headers = Vec<(String, Vec<String>)>;

/// Pre-framed copies of one hub message, one per hub protocol: `(protocol name, frame)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Payloads(pub Vec<(String, Bytes)>);

impl Payloads {
    /// The frame for a hub protocol, matched case-insensitively as the SDK's parser does.
    pub fn get(&self, protocol: &str) -> Option<&Bytes> {
        self.0
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(protocol))
            .map(|(_, frame)| frame)
    }

    /// Whether there is no payload at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<S: Into<String>> FromIterator<(S, Bytes)> for Payloads {
    fn from_iter<I: IntoIterator<Item = (S, Bytes)>>(iter: I) -> Self {
        Payloads(
            iter.into_iter()
                .map(|(name, frame)| (name.into(), frame))
                .collect(),
        )
    }
}

/// One ServiceProtocol message. The numbers are the wire type ids.
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceMessage {
    /// 1, server → service: the first message of a server connection.
    HandshakeRequest(HandshakeRequest),
    /// 2, service → server: the answer to the handshake.
    HandshakeResponse(HandshakeResponse),
    /// 3, both ways: keep-alive, optionally with key/value pairs.
    Ping(Ping),
    /// 4, service → server: a client connected.
    OpenConnection(OpenConnection),
    /// 5, both ways: a client connection ended or is to be ended.
    CloseConnection(CloseConnection),
    /// 6, both ways: bytes for or from one client.
    ConnectionData(ConnectionData),
    /// 7, server → service: one payload for several connections.
    MultiConnectionData(MultiConnectionData),
    /// 8, server → service: one payload for a user's connections.
    UserData(UserData),
    /// 9, server → service: one payload for several users.
    MultiUserData(MultiUserData),
    /// 10, server → service: one payload for every connection of the hub.
    BroadcastData(BroadcastData),
    /// 11, server → service: add a connection to a group (not acked).
    JoinGroup(JoinGroup),
    /// 12, server → service: remove a connection from a group (not acked).
    LeaveGroup(LeaveGroup),
    /// 13, server → service: one payload for a group.
    GroupBroadcastData(GroupBroadcastData),
    /// 14, server → service: one payload for several groups.
    MultiGroupBroadcastData(MultiGroupBroadcastData),
    /// 15, service → server: the service gives up on this server connection.
    ServiceError(ServiceError),
    /// 16, server → service: add a user to a group (not acked).
    UserJoinGroup(UserJoinGroup),
    /// 17, server → service: remove a user from a group (not acked).
    UserLeaveGroup(UserLeaveGroup),
    /// 18, server → service: add a connection to a group, then Ack.
    JoinGroupWithAck(JoinGroupWithAck),
    /// 19, server → service: remove a connection from a group (or all groups), then Ack.
    LeaveGroupWithAck(LeaveGroupWithAck),
    /// 20, service → server: the result of an ackable message.
    Ack(Ack),
    /// 21, server → service: is the user in the group? Ack Ok / NotFound.
    CheckUserInGroupWithAck(CheckUserInGroupWithAck),
    /// 22, service → server: something the server may log.
    ServiceEvent(ServiceEvent),
    /// 23, server → service: does the group have connections? Ack Ok / NotFound.
    CheckGroupExistenceWithAck(CheckGroupExistenceWithAck),
    /// 24, server → service: does the connection exist? Ack Ok / NotFound.
    CheckConnectionExistenceWithAck(CheckConnectionExistenceWithAck),
    /// 25, server → service: does the user have connections? Ack Ok / NotFound.
    CheckUserExistenceWithAck(CheckUserExistenceWithAck),
    /// 26, server → service: add a user to a group (with an optional TTL), then Ack.
    UserJoinGroupWithAck(UserJoinGroupWithAck),
    /// 27, server → service: remove a user from a group (or all groups), then Ack.
    UserLeaveGroupWithAck(UserLeaveGroupWithAck),
    /// 28, server → service: an Entra ID token, asking for an access key.
    AccessKeyRequest(AccessKeyRequest),
    /// 29, service → server: the access key, or why there is none.
    AccessKeyResponse(AccessKeyResponse),
    /// 30, server → service (obsolete): close one connection, then Ack.
    CloseConnectionWithAck(CloseConnectionWithAck),
    /// 31, server → service (obsolete): close every connection of the hub, then Ack.
    CloseConnectionsWithAck(CloseConnectionsWithAck),
    /// 32, server → service: close a user's connections, then Ack.
    CloseUserConnectionsWithAck(CloseUserConnectionsWithAck),
    /// 33, server → service: close a group's connections, then Ack.
    CloseGroupConnectionsWithAck(CloseGroupConnectionsWithAck),
    /// 34, both ways: a client-result invocation.
    ClientInvocation(ClientInvocation),
    /// 35, both ways: a client-result completion.
    ClientCompletion(ClientCompletion),
    /// 36, service → server: a client-result invocation failed.
    ErrorCompletion(ErrorCompletion),
    /// 37, service → server: which service instance holds an invocation's client.
    ServiceMapping(ServiceMapping),
    /// 38, service → server: a client reconnected (stateful reconnect).
    ConnectionReconnect(ConnectionReconnect),
    /// 39, both ways: pause, resume or take offline a connection.
    ConnectionFlowControl(ConnectionFlowControl),
    /// 40, server → service: list a group's members; Ack with a
    /// [`GroupMemberQueryResponse`](super::GroupMemberQueryResponse) payload.
    GroupMemberQuery(GroupMemberQuery),
    /// 41: recognised, but no source or vector gives its layout, so it is kept raw.
    RefreshAuth(RefreshAuth),
    /// A type id this side does not know. The frame is consumed and the message ignored, as the
    /// SDK does; it is never an error.
    Unknown {
        /// The wire type id.
        type_id: i64,
    },
}

/// 1: `[1, version, connectionType, target, migrationLevel, ext, allowStatefulReconnects]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeRequest {
    /// The ServiceProtocol version; 1 is the only one.
    pub version: i32,
    /// What the connection carries.
    pub connection_type: ServerConnectionType,
    /// The service instance an OnDemand connection is for; written as `""` when `None` or for
    /// Default connections, and `""` reads as `None`.
    pub target: Option<String>,
    /// 1 when the server migrates its clients on graceful shutdown.
    pub migration_level: i32,
    /// The extension map.
    pub ext: Extensions,
    /// Whether clients of this server may reconnect statefully.
    pub allow_stateful_reconnects: bool,
}

/// 2: `[2, errorMessage, ext, connectionId]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeResponse {
    /// `None` or empty = success.
    pub error_message: Option<String>,
    /// The extension map.
    pub ext: Extensions,
    /// The id the service gives the server connection (the SDK ignores it).
    pub connection_id: Option<String>,
}

/// 3: `[3, k1, v1, k2, v2, ...]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ping {
    /// The elements after the type, usually key/value pairs (`"status"`, `"1"`). A nil element
    /// reads as an empty string.
    pub messages: Vec<String>,
}

/// 4: `[4, connectionId, claims, headers, queryString, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenConnection {
    /// The client connection's id.
    pub connection_id: String,
    /// The client's claims; empty = none.
    pub claims: Claims,
    /// The client request's headers.
    pub headers: Headers,
    /// The client request's query string (nil reads as `""`).
    pub query_string: String,
    /// The extension map; key 3 (Protocol) names the client's hub protocol.
    pub ext: Extensions,
}

/// 5: `[5, connectionId, errorMessage, headers, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseConnection {
    /// The client connection's id.
    pub connection_id: String,
    /// Why it ended; nil reads as `""`.
    pub error_message: String,
    /// E.g. `Asrs-Migrate-To` when the client migrates.
    pub headers: Headers,
    /// The extension map.
    pub ext: Extensions,
}

/// 6: `[6, connectionId, payload, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionData {
    /// The client connection's id.
    pub connection_id: String,
    /// The bytes, verbatim (nil reads as empty).
    pub payload: Bytes,
    /// The extension map; keys 5 (DataMessageType) and 6 (IsPartial).
    pub ext: Extensions,
}

/// 7: `[7, connectionIds, payloads, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiConnectionData {
    /// The target connections.
    pub connection_ids: Vec<String>,
    /// One frame per hub protocol.
    pub payloads: Payloads,
    /// The extension map.
    pub ext: Extensions,
}

/// 8: `[8, userId, payloads, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserData {
    /// The target user.
    pub user_id: String,
    /// One frame per hub protocol.
    pub payloads: Payloads,
    /// The extension map.
    pub ext: Extensions,
}

/// 9: `[9, userIds, payloads, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiUserData {
    /// The target users.
    pub user_ids: Vec<String>,
    /// One frame per hub protocol.
    pub payloads: Payloads,
    /// The extension map.
    pub ext: Extensions,
}

/// 10: `[10, excludedIds, payloads, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastData {
    /// Connections that do not get it.
    pub excluded: Vec<String>,
    /// One frame per hub protocol.
    pub payloads: Payloads,
    /// The extension map.
    pub ext: Extensions,
}

/// 11: `[11, connectionId, group, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroup {
    /// The connection.
    pub connection_id: String,
    /// The group.
    pub group: String,
    /// The extension map.
    pub ext: Extensions,
}

/// 12: `[12, connectionId, group, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveGroup {
    /// The connection.
    pub connection_id: String,
    /// The group.
    pub group: Option<String>,
    /// The extension map.
    pub ext: Extensions,
}

/// 13: `[13, group, excludedIds, payloads, ext, excludedUserIds, callerUserId]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupBroadcastData {
    /// The group.
    pub group: String,
    /// Connections that do not get it.
    pub excluded: Vec<String>,
    /// One frame per hub protocol.
    pub payloads: Payloads,
    /// The extension map.
    pub ext: Extensions,
    /// Users whose connections do not get it.
    pub excluded_users: Vec<String>,
    /// The user on whose behalf it is sent.
    pub caller_user_id: Option<String>,
}

/// 14: `[14, groups, payloads, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiGroupBroadcastData {
    /// The groups; a connection in several of them gets one copy.
    pub groups: Vec<String>,
    /// One frame per hub protocol.
    pub payloads: Payloads,
    /// The extension map.
    pub ext: Extensions,
}

/// 15: `[15, errorMessage]` (no extension map).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    /// What went wrong; nil reads as `""`.
    pub error_message: String,
}

/// 16: `[16, userId, group, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserJoinGroup {
    /// The user.
    pub user_id: String,
    /// The group.
    pub group: String,
    /// The extension map; key 2 (Ttl).
    pub ext: Extensions,
}

/// 17: `[17, userId, group, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserLeaveGroup {
    /// The user.
    pub user_id: String,
    /// The group; `None` = every group.
    pub group: Option<String>,
    /// The extension map.
    pub ext: Extensions,
}

/// 18: `[18, connectionId, group, ackId, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupWithAck {
    /// The connection.
    pub connection_id: String,
    /// The group.
    pub group: String,
    /// Echoed in the Ack.
    pub ack_id: i32,
    /// The extension map.
    pub ext: Extensions,
}

/// 19: `[19, connectionId, group, ackId, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveGroupWithAck {
    /// The connection.
    pub connection_id: String,
    /// The group; `None` = every group.
    pub group: Option<String>,
    /// Echoed in the Ack.
    pub ack_id: i32,
    /// The extension map.
    pub ext: Extensions,
}

/// 20: `[20, ackId, status, message, ext, payload]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The ackable message's id.
    pub ack_id: i32,
    /// The result.
    pub status: AckStatus,
    /// A human-readable detail; nil reads as `""`.
    pub message: String,
    /// The extension map.
    pub ext: Extensions,
    /// A MessagePack result (GroupMemberQuery); `None` is written as nil.
    pub payload: Option<Bytes>,
}

/// 21: `[21, userId, group, ackId, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckUserInGroupWithAck {
    /// The user.
    pub user_id: String,
    /// The group.
    pub group: String,
    /// Echoed in the Ack.
    pub ack_id: i32,
    /// The extension map.
    pub ext: Extensions,
}

/// 22: `[22, objectType, id, kind, message, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEvent {
    /// What the event is about.
    pub object_type: ServiceEventObjectType,
    /// The object's id.
    pub id: Option<String>,
    /// What happened.
    pub kind: ServiceEventKind,
    /// A human-readable text.
    pub message: Option<String>,
    /// The extension map.
    pub ext: Extensions,
}

/// 23: `[23, group, ackId, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckGroupExistenceWithAck {
    /// The group.
    pub group: String,
    /// Echoed in the Ack.
    pub ack_id: i32,
    /// The extension map.
    pub ext: Extensions,
}

/// 24: `[24, connectionId, ackId, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckConnectionExistenceWithAck {
    /// The connection.
    pub connection_id: String,
    /// Echoed in the Ack.
    pub ack_id: i32,
    /// The extension map.
    pub ext: Extensions,
}

/// 25: `[25, userId, ackId, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckUserExistenceWithAck {
    /// The user.
    pub user_id: String,
    /// Echoed in the Ack.
    pub ack_id: i32,
    /// The extension map.
    pub ext: Extensions,
}

/// 26: `[26, userId, group, ackId, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserJoinGroupWithAck {
    /// The user.
    pub user_id: String,
    /// The group.
    pub group: String,
    /// Echoed in the Ack.
    pub ack_id: i32,
    /// The extension map; key 2 (Ttl, seconds).
    pub ext: Extensions,
}

/// 27: `[27, userId, group, ackId, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserLeaveGroupWithAck {
    /// The user.
    pub user_id: String,
    /// The group; `None` = every group.
    pub group: Option<String>,
    /// Echoed in the Ack.
    pub ack_id: i32,
    /// The extension map.
    pub ext: Extensions,
}

/// 28: `[28, token, kid, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyRequest {
    /// The Entra ID token.
    pub token: Option<String>,
    /// The key id asked for.
    pub kid: Option<String>,
    /// The extension map.
    pub ext: Extensions,
}

/// 29: `[29, kid, accessKey, errorType, errorMessage, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyResponse {
    /// The key id.
    pub kid: Option<String>,
    /// The key.
    pub access_key: Option<String>,
    /// The .NET exception type name when it failed.
    pub error_type: Option<String>,
    /// Why it failed.
    pub error_message: Option<String>,
    /// The extension map.
    pub ext: Extensions,
}

/// 30: `[30, connectionId, reason, ackId, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseConnectionWithAck {
    /// The connection.
    pub connection_id: String,
    /// Sent to the client in its Close message.
    pub reason: Option<String>,
    /// Echoed in the Ack.
    pub ack_id: i32,
    /// The extension map.
    pub ext: Extensions,
}

/// 31: `[31, reason, ackId, excludedIds, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseConnectionsWithAck {
    /// Sent to the clients in their Close message.
    pub reason: Option<String>,
    /// Echoed in the Ack.
    pub ack_id: i32,
    /// Connections that stay.
    pub excluded: Vec<String>,
    /// The extension map.
    pub ext: Extensions,
}

/// 32: `[32, userId, reason, ackId, excludedIds, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseUserConnectionsWithAck {
    /// The user.
    pub user_id: String,
    /// Sent to the clients in their Close message.
    pub reason: Option<String>,
    /// Echoed in the Ack.
    pub ack_id: i32,
    /// Connections that stay.
    pub excluded: Vec<String>,
    /// The extension map.
    pub ext: Extensions,
}

/// 33: `[33, group, reason, ackId, excludedIds, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseGroupConnectionsWithAck {
    /// The group.
    pub group: String,
    /// Sent to the clients in their Close message.
    pub reason: Option<String>,
    /// Echoed in the Ack.
    pub ack_id: i32,
    /// Connections that stay.
    pub excluded: Vec<String>,
    /// The extension map.
    pub ext: Extensions,
}

/// 34: `[34, invocationId, connectionId, callerServerId, payloads, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInvocation {
    /// The invocation's id.
    pub invocation_id: String,
    /// The client that answers.
    pub connection_id: String,
    /// The server that waits for the result.
    pub caller_server_id: String,
    /// One frame per hub protocol.
    pub payloads: Payloads,
    /// The extension map.
    pub ext: Extensions,
}

/// 35: `[35, invocationId, connectionId, callerServerId, protocol, payload, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCompletion {
    /// The invocation's id.
    pub invocation_id: String,
    /// The client that answered.
    pub connection_id: String,
    /// The caller (or, from a router, the router's own id).
    pub caller_server_id: String,
    /// The hub protocol of `payload`. Written both here and as extension key 3, as the SDK
    /// does; read from key 3 when present, so `ext.protocol` stays `None` after a read.
    pub protocol: Option<String>,
    /// The completion framed in that protocol; empty from the owning caller.
    pub payload: Bytes,
    /// The extension map.
    pub ext: Extensions,
}

/// 36: `[36, invocationId, connectionId, callerServerId, error, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorCompletion {
    /// The invocation's id.
    pub invocation_id: String,
    /// The client that did not answer.
    pub connection_id: String,
    /// The caller.
    pub caller_server_id: String,
    /// Why it failed.
    pub error: Option<String>,
    /// The extension map.
    pub ext: Extensions,
}

/// 37: `[37, invocationId, connectionId, instanceId, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceMapping {
    /// The invocation's id.
    pub invocation_id: String,
    /// The client.
    pub connection_id: String,
    /// The service instance that holds the client.
    pub instance_id: String,
    /// The extension map.
    pub ext: Extensions,
}

/// 38: `[38, connectionId, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionReconnect {
    /// The client that reconnected.
    pub connection_id: String,
    /// The extension map.
    pub ext: Extensions,
}

/// 39: `[39, connectionId, int32 connectionType, int32 operation, ext]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionFlowControl {
    /// The client connection, or the server connection's cid.
    pub connection_id: String,
    /// Whether `connection_id` names a client or a server connection.
    pub connection_type: FlowControlTarget,
    /// What to do.
    pub operation: FlowControlOperation,
    /// The extension map.
    pub ext: Extensions,
}

/// 40: `[40, ext, group, ackId, max, continuationToken]` (the extension map comes first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMemberQuery {
    /// The extension map.
    pub ext: Extensions,
    /// The group.
    pub group: String,
    /// Echoed in the Ack.
    pub ack_id: i32,
    /// The most members to return in this page.
    pub max: i32,
    /// Where the previous page ended; `None` = from the start.
    pub continuation_token: Option<String>,
}

/// 41: RefreshAuth. A newer SDK's public API lists `RefreshAuthMessage(connectionToken, claims,
/// expireTime, ackId)`, but no source or vector gives its wire layout, so the message is kept as
/// its raw MessagePack array and written back verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshAuth {
    /// The whole unframed message, `[41, ...]`.
    pub raw: Bytes,
}

impl ServiceMessage {
    /// The wire type id.
    pub fn type_id(&self) -> i64 {
        use ServiceMessage as M;
        match self {
            M::HandshakeRequest(_) => 1,
            M::HandshakeResponse(_) => 2,
            M::Ping(_) => 3,
            M::OpenConnection(_) => 4,
            M::CloseConnection(_) => 5,
            M::ConnectionData(_) => 6,
            M::MultiConnectionData(_) => 7,
            M::UserData(_) => 8,
            M::MultiUserData(_) => 9,
            M::BroadcastData(_) => 10,
            M::JoinGroup(_) => 11,
            M::LeaveGroup(_) => 12,
            M::GroupBroadcastData(_) => 13,
            M::MultiGroupBroadcastData(_) => 14,
            M::ServiceError(_) => 15,
            M::UserJoinGroup(_) => 16,
            M::UserLeaveGroup(_) => 17,
            M::JoinGroupWithAck(_) => 18,
            M::LeaveGroupWithAck(_) => 19,
            M::Ack(_) => 20,
            M::CheckUserInGroupWithAck(_) => 21,
            M::ServiceEvent(_) => 22,
            M::CheckGroupExistenceWithAck(_) => 23,
            M::CheckConnectionExistenceWithAck(_) => 24,
            M::CheckUserExistenceWithAck(_) => 25,
            M::UserJoinGroupWithAck(_) => 26,
            M::UserLeaveGroupWithAck(_) => 27,
            M::AccessKeyRequest(_) => 28,
            M::AccessKeyResponse(_) => 29,
            M::CloseConnectionWithAck(_) => 30,
            M::CloseConnectionsWithAck(_) => 31,
            M::CloseUserConnectionsWithAck(_) => 32,
            M::CloseGroupConnectionsWithAck(_) => 33,
            M::ClientInvocation(_) => 34,
            M::ClientCompletion(_) => 35,
            M::ErrorCompletion(_) => 36,
            M::ServiceMapping(_) => 37,
            M::ConnectionReconnect(_) => 38,
            M::ConnectionFlowControl(_) => 39,
            M::GroupMemberQuery(_) => 40,
            M::RefreshAuth(_) => 41,
            M::Unknown { type_id } => *type_id,
        }
    }

    /// The message type's name as the SDK spells it (without `Message`), for logs and metrics.
    pub fn name(&self) -> &'static str {
        type_name(self.type_id())
    }
}

/// The SDK's name for a type id, `"Unknown"` for ids it does not define.
pub fn type_name(type_id: i64) -> &'static str {
    const NAMES: [&str; 41] = [
        "HandshakeRequest",
        "HandshakeResponse",
        "Ping",
        "OpenConnection",
        "CloseConnection",
        "ConnectionData",
        "MultiConnectionData",
        "UserData",
        "MultiUserData",
        "BroadcastData",
        "JoinGroup",
        "LeaveGroup",
        "GroupBroadcastData",
        "MultiGroupBroadcastData",
        "ServiceError",
        "UserJoinGroup",
        "UserLeaveGroup",
        "JoinGroupWithAck",
        "LeaveGroupWithAck",
        "Ack",
        "CheckUserInGroupWithAck",
        "ServiceEvent",
        "CheckGroupExistenceWithAck",
        "CheckConnectionExistenceWithAck",
        "CheckUserExistenceWithAck",
        "UserJoinGroupWithAck",
        "UserLeaveGroupWithAck",
        "AccessKeyRequest",
        "AccessKeyResponse",
        "CloseConnectionWithAck",
        "CloseConnectionsWithAck",
        "CloseUserConnectionsWithAck",
        "CloseGroupConnectionsWithAck",
        "ClientInvocation",
        "ClientCompletion",
        "ErrorCompletion",
        "ServiceMapping",
        "ConnectionReconnect",
        "ConnectionFlowControl",
        "GroupMemberQuery",
        "RefreshAuth",
    ];
    type_id
        .checked_sub(1)
        .and_then(|index| usize::try_from(index).ok())
        .and_then(|index| NAMES.get(index))
        .copied()
        .unwrap_or("Unknown")
}
