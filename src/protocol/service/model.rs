//! The ServiceProtocol message model: one [`ServiceMessage`] variant per message type 1–41, each
//! wrapping the struct of that type (in `messages.rs`), and the shared field types. Payloads are
//! [`Bytes`] slices of the received frame, so relaying them copies nothing.
//!
//! Lists the SDK writes as "null or empty" (excluded ids, claims, payloads) are plain `Vec`s
//! here: empty means null, and is written as an empty array or map, as the SDK does. Strings the
//! SDK may send as nil are `Option<String>`; ids it never sends as nil are `String` and a nil is
//! a read error.

use bytes::Bytes;

use super::messages::*;
use crate::protocol::{PreFramed, Protocol};

/// A client's claims as `(type, value)` pairs, in order; the same type may occur several times
/// (several role claims).
pub type Claims = Vec<(String, String)>;

/// Request headers as `(name, values)`, in order. Names are case-insensitive in the SDK.
pub type Headers = Vec<(String, Vec<String>)>;

/// Pre-framed copies of one hub message, one per hub protocol: `(protocol name, frame)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Payloads(pub Vec<(String, Bytes)>);

impl Payloads {
    /// The frames for the protocols this server speaks (others are left out), ready to deliver.
    pub fn pre_framed(&self) -> PreFramed {
        PreFramed::from_entries(self.0.iter().map(|(name, frame)| (name.as_str(), frame)))
    }

    /// The frames for the protocols this server speaks, by protocol (others are left out).
    pub fn by_protocol(&self) -> Vec<(Protocol, Bytes)> {
        self.0
            .iter()
            .filter_map(|(name, frame)| Protocol::from_name(name).map(|p| (p, frame.clone())))
            .collect()
    }

    /// Payloads from frames by protocol (the inverse of [`Payloads::by_protocol`]).
    pub fn from_protocols(frames: &[(Protocol, Bytes)]) -> Self {
        Payloads(
            frames
                .iter()
                .map(|(protocol, frame)| (protocol.name().to_owned(), frame.clone()))
                .collect(),
        )
    }

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

/// `From<Struct> for ServiceMessage` for every variant, so `Ack { .. }.into()` builds a message.
macro_rules! into_message {
    ($($variant:ident),+ $(,)?) => {
        $(impl From<$variant> for ServiceMessage {
            fn from(message: $variant) -> Self {
                ServiceMessage::$variant(message)
            }
        })+
    };
}

into_message!(
    HandshakeRequest,
    HandshakeResponse,
    Ping,
    OpenConnection,
    CloseConnection,
    ConnectionData,
    MultiConnectionData,
    UserData,
    MultiUserData,
    BroadcastData,
    JoinGroup,
    LeaveGroup,
    GroupBroadcastData,
    MultiGroupBroadcastData,
    ServiceError,
    UserJoinGroup,
    UserLeaveGroup,
    JoinGroupWithAck,
    LeaveGroupWithAck,
    Ack,
    CheckUserInGroupWithAck,
    ServiceEvent,
    CheckGroupExistenceWithAck,
    CheckConnectionExistenceWithAck,
    CheckUserExistenceWithAck,
    UserJoinGroupWithAck,
    UserLeaveGroupWithAck,
    AccessKeyRequest,
    AccessKeyResponse,
    CloseConnectionWithAck,
    CloseConnectionsWithAck,
    CloseUserConnectionsWithAck,
    CloseGroupConnectionsWithAck,
    ClientInvocation,
    ClientCompletion,
    ErrorCompletion,
    ServiceMapping,
    ConnectionReconnect,
    ConnectionFlowControl,
    GroupMemberQuery,
    RefreshAuth,
);

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
