//! One struct per ServiceProtocol message type, with the fields of the current layout
//! (SERVICE-PROTOCOL.md §2); each doc line gives the wire array.

use bytes::Bytes;

use super::{
    AckStatus, Claims, Extensions, FlowControlOperation, FlowControlTarget, Headers, Payloads,
    ServerConnectionType, ServiceEventKind, ServiceEventObjectType,
};

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

impl Ping {
    /// A ping carrying key/value pairs, e.g. `[("status", "1")]`.
    pub fn pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Ping {
            messages: pairs
                .into_iter()
                .flat_map(|(key, value)| [key.to_owned(), value.to_owned()])
                .collect(),
        }
    }

    /// The value after `key` among the key/value pairs, e.g. `value("status")`.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.messages
            .chunks_exact(2)
            .find(|pair| pair[0] == key)
            .map(|pair| pair[1].as_str())
    }
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
