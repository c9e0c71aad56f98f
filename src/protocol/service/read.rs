//! The lenient ServiceProtocol reader: one unframed message body → [`ServiceMessage`].
//!
//! The rules are the SDK's (`ServiceProtocol.cs`): elements after the ones a layout defines are
//! ignored, as are bytes after the array; shorter legacy layouts leave the later fields at their
//! defaults; the extension map is optional everywhere (some SDK readers always expect it, the
//! current writers always send it); a type id this side does not know becomes
//! [`ServiceMessage::Unknown`]. Fields the SDK always reads are required here: a missing one is
//! an error naming the message and the field.

use bytes::Bytes;

use super::cursor::{Cursor, Problem};
use super::ext::{DATA_MESSAGE_TYPE, FILTER, IS_PARTIAL, PROTOCOL, TRACING_ID, TTL};
use super::messages::*;
use super::model::*;
use super::{
    AckStatus, DataMessageType, Extensions, FlowControlOperation, FlowControlTarget,
    ServerConnectionType, ServiceEventKind, ServiceEventObjectType, ServiceProtocolError,
    type_name,
};

type Result<T> = std::result::Result<T, ServiceProtocolError>;

/// Parses one unframed message body. Payloads in the result are slices of `body`.
pub fn parse_message(body: &Bytes) -> Result<ServiceMessage> {
    if body.is_empty() {
        return Err(malformed("the message is empty"));
    }
    let mut cursor = Cursor::new(body);
    let count = cursor
        .array_len()
        .map_err(|problem| malformed(format!("a message must be an array, but it {problem}")))?;
    if count == 0 {
        return Err(malformed("a message must not be an empty array"));
    }
    let type_id = cursor
        .i64()
        .map_err(|problem| malformed(format!("the message type {problem}")))?;
    let mut f = Fields {
        cursor,
        left: count - 1,
        message: type_name(type_id),
    };
    use ServiceMessage as M;
    Ok(match type_id {
        1 => M::HandshakeRequest(handshake_request(&mut f)?),
        2 => M::HandshakeResponse(HandshakeResponse {
            error_message: f.opt_str("errorMessage")?,
            ext: f.ext()?,
            connection_id: f.opt_str("connectionId")?,
        }),
        3 => M::Ping(ping(&mut f)?),
        4 => M::OpenConnection(OpenConnection {
            connection_id: f.str("connectionId")?,
            claims: f.claims()?,
            headers: f.headers()?,
            query_string: f.str_or_empty("queryString")?,
            ext: f.ext()?,
        }),
        5 => M::CloseConnection(CloseConnection {
            connection_id: f.str("connectionId")?,
            error_message: f.required_str_or_empty("errorMessage")?,
            headers: f.headers()?,
            ext: f.ext()?,
        }),
        6 => M::ConnectionData(ConnectionData {
            connection_id: f.str("connectionId")?,
            payload: f.bin("payload")?,
            ext: f.ext()?,
        }),
        7 => M::MultiConnectionData(MultiConnectionData {
            connection_ids: f.strings("connectionList")?,
            payloads: f.payloads()?,
            ext: f.ext()?,
        }),
        8 => M::UserData(UserData {
            user_id: f.str("userId")?,
            payloads: f.payloads()?,
            ext: f.ext()?,
        }),
        9 => M::MultiUserData(MultiUserData {
            user_ids: f.strings("userList")?,
            payloads: f.payloads()?,
            ext: f.ext()?,
        }),
        10 => M::BroadcastData(BroadcastData {
            excluded: f.strings("excludedList")?,
            payloads: f.payloads()?,
            ext: f.ext()?,
        }),
        11 => M::JoinGroup(JoinGroup {
            connection_id: f.str("connectionId")?,
            group: f.str("groupName")?,
            ext: f.ext()?,
        }),
        12 => M::LeaveGroup(LeaveGroup {
            connection_id: f.str("connectionId")?,
            group: f.required_opt_str("groupName")?,
            ext: f.ext()?,
        }),
        13 => M::GroupBroadcastData(GroupBroadcastData {
            group: f.str("groupName")?,
            excluded: f.strings("excludedList")?,
            payloads: f.payloads()?,
            ext: f.ext()?,
            excluded_users: f.opt_strings("excludedUserList")?,
            caller_user_id: f.opt_str("callerUserId")?,
        }),
        14 => M::MultiGroupBroadcastData(MultiGroupBroadcastData {
            groups: f.strings("groupList")?,
            payloads: f.payloads()?,
            ext: f.ext()?,
        }),
        15 => M::ServiceError(ServiceError {
            error_message: f.required_str_or_empty("errorMessage")?,
        }),
        16 => M::UserJoinGroup(UserJoinGroup {
            user_id: f.str("userId")?,
            group: f.str("groupName")?,
            ext: f.ext()?,
        }),
        17 => M::UserLeaveGroup(UserLeaveGroup {
            user_id: f.str("userId")?,
            group: f.required_opt_str("groupName")?,
            ext: f.ext()?,
        }),
        18 => M::JoinGroupWithAck(JoinGroupWithAck {
            connection_id: f.str("connectionId")?,
            group: f.str("groupName")?,
            ack_id: f.i32("ackId")?,
            ext: f.ext()?,
        }),
        19 => M::LeaveGroupWithAck(LeaveGroupWithAck {
            connection_id: f.str("connectionId")?,
            group: f.required_opt_str("groupName")?,
            ack_id: f.i32("ackId")?,
            ext: f.ext()?,
        }),
        20 => M::Ack(Ack {
            ack_id: f.i32("ackId")?,
            status: AckStatus::from_value(f.i32("status")?),
            message: f.required_str_or_empty("message")?,
            ext: f.ext()?,
            payload: f.opt_bin("payload")?,
        }),
        21 => M::CheckUserInGroupWithAck(CheckUserInGroupWithAck {
            user_id: f.str("userId")?,
            group: f.str("groupName")?,
            ack_id: f.i32("ackId")?,
            ext: f.ext()?,
        }),
        22 => M::ServiceEvent(ServiceEvent {
            object_type: ServiceEventObjectType::from_value(f.i32("type")?),
            id: f.required_opt_str("id")?,
            kind: ServiceEventKind::from_value(f.i32("kind")?),
            message: f.required_opt_str("message")?,
            ext: f.ext()?,
        }),
        23 => M::CheckGroupExistenceWithAck(CheckGroupExistenceWithAck {
            group: f.str("groupName")?,
            ack_id: f.i32("ackId")?,
            ext: f.ext()?,
        }),
        24 => M::CheckConnectionExistenceWithAck(CheckConnectionExistenceWithAck {
            connection_id: f.str("connectionId")?,
            ack_id: f.i32("ackId")?,
            ext: f.ext()?,
        }),
        25 => M::CheckUserExistenceWithAck(CheckUserExistenceWithAck {
            user_id: f.str("userId")?,
            ack_id: f.i32("ackId")?,
            ext: f.ext()?,
        }),
        26 => M::UserJoinGroupWithAck(UserJoinGroupWithAck {
            user_id: f.str("userId")?,
            group: f.str("groupName")?,
            ack_id: f.i32("ackId")?,
            ext: f.ext()?,
        }),
        27 => M::UserLeaveGroupWithAck(UserLeaveGroupWithAck {
            user_id: f.str("userId")?,
            group: f.required_opt_str("groupName")?,
            ack_id: f.i32("ackId")?,
            ext: f.ext()?,
        }),
        28 => M::AccessKeyRequest(AccessKeyRequest {
            token: f.required_opt_str("token")?,
            kid: f.required_opt_str("kid")?,
            ext: f.ext()?,
        }),
        29 => M::AccessKeyResponse(AccessKeyResponse {
            kid: f.required_opt_str("kid")?,
            access_key: f.required_opt_str("accessKey")?,
            error_type: f.required_opt_str("errorType")?,
            error_message: f.required_opt_str("errorMessage")?,
            ext: f.ext()?,
        }),
        30 => M::CloseConnectionWithAck(CloseConnectionWithAck {
            connection_id: f.str("connectionId")?,
            reason: f.required_opt_str("reason")?,
            ack_id: f.i32("ackId")?,
            ext: f.ext()?,
        }),
        31 => M::CloseConnectionsWithAck(CloseConnectionsWithAck {
            reason: f.required_opt_str("reason")?,
            ack_id: f.i32("ackId")?,
            excluded: f.strings("excluded")?,
            ext: f.ext()?,
        }),
        32 => M::CloseUserConnectionsWithAck(CloseUserConnectionsWithAck {
            user_id: f.str("userId")?,
            reason: f.required_opt_str("reason")?,
            ack_id: f.i32("ackId")?,
            excluded: f.strings("excluded")?,
            ext: f.ext()?,
        }),
        33 => M::CloseGroupConnectionsWithAck(CloseGroupConnectionsWithAck {
            group: f.str("group")?,
            reason: f.required_opt_str("reason")?,
            ack_id: f.i32("ackId")?,
            excluded: f.strings("excluded")?,
            ext: f.ext()?,
        }),
        34 => M::ClientInvocation(ClientInvocation {
            invocation_id: f.str("invocationId")?,
            connection_id: f.str("connectionId")?,
            caller_server_id: f.str("callerServerId")?,
            payloads: f.payloads()?,
            ext: f.ext()?,
        }),
        35 => M::ClientCompletion(client_completion(&mut f)?),
        36 => M::ErrorCompletion(ErrorCompletion {
            invocation_id: f.str("invocationId")?,
            connection_id: f.str("connectionId")?,
            caller_server_id: f.str("callerServerId")?,
            error: f.required_opt_str("error")?,
            ext: f.ext()?,
        }),
        37 => M::ServiceMapping(ServiceMapping {
            invocation_id: f.str("invocationId")?,
            connection_id: f.str("connectionId")?,
            instance_id: f.str("instanceId")?,
            ext: f.ext()?,
        }),
        38 => M::ConnectionReconnect(ConnectionReconnect {
            connection_id: f.str("connectionId")?,
            ext: f.ext()?,
        }),
        39 => M::ConnectionFlowControl(flow_control(&mut f)?),
        40 => M::GroupMemberQuery(GroupMemberQuery {
            ext: f.ext()?,
            group: f.str("groupName")?,
            ack_id: f.i32("ackId")?,
            max: f.i32("max")?,
            continuation_token: f.opt_str("continuationToken")?,
        }),
        41 => M::RefreshAuth(RefreshAuth { raw: body.clone() }),
        _ => M::Unknown { type_id },
    })
}

/// `[1, version, connectionType, target, migrationLevel, ext, allowStatefulReconnects]`; the
/// oldest form is `[1, version]`, and type and target come as a pair.
fn handshake_request(f: &mut Fields) -> Result<HandshakeRequest> {
    let version = f.i32("version")?;
    let (connection_type, target) = if f.left >= 2 {
        (f.i32("connectionType")?, f.opt_str("target")?)
    } else {
        (0, None)
    };
    Ok(HandshakeRequest {
        version,
        connection_type: ServerConnectionType::from_value(connection_type),
        target: target.filter(|target| !target.is_empty()),
        migration_level: f.opt_i32("migrationLevel")?.unwrap_or(0),
        ext: f.ext()?,
        allow_stateful_reconnects: f.opt_bool("allowStatefulReconnects")?.unwrap_or(false),
    })
}

/// `[35, invocationId, connectionId, callerServerId, protocol, payload, ext]`. The SDK writes
/// the protocol twice, positionally and as extension key 3, and reads the key last, so the key
/// wins; it is moved into `protocol` so that the message has one protocol.
fn client_completion(f: &mut Fields) -> Result<ClientCompletion> {
    let invocation_id = f.str("invocationId")?;
    let connection_id = f.str("connectionId")?;
    let caller_server_id = f.str("callerServerId")?;
    let protocol = f.required_opt_str("protocol")?;
    let payload = f.bin("payload")?;
    let mut ext = f.ext()?;
    Ok(ClientCompletion {
        invocation_id,
        connection_id,
        caller_server_id,
        protocol: ext.protocol.take().or(protocol),
        payload,
        ext,
    })
}

/// `[3, k1, v1, ...]`: every element is a string (nil reads as empty).
fn ping(f: &mut Fields) -> Result<Ping> {
    let mut messages = Vec::with_capacity(f.cursor.capacity(f.left));
    while f.left > 0 {
        let field = format!("messages[{}]", messages.len());
        messages.push(f.opt_str(&field)?.unwrap_or_default());
    }
    Ok(Ping { messages })
}

/// `[39, connectionId, connectionType, operation, ext]`; unknown values are errors, as in the
/// SDK.
fn flow_control(f: &mut Fields) -> Result<ConnectionFlowControl> {
    let connection_id = f.str("connectionId")?;
    let connection_type = f.i32("connectionType")?;
    let connection_type = FlowControlTarget::from_value(connection_type).ok_or_else(|| {
        f.error(
            "connectionType",
            format!("is {connection_type}, but only 1 (client) and 2 (server) exist"),
        )
    })?;
    let operation = f.i32("operation")?;
    let operation = FlowControlOperation::from_value(operation).ok_or_else(|| {
        f.error(
            "operation",
            format!("is {operation}, but only 1 to 4 (Pause, PauseAck, Resume, Offline) exist"),
        )
    })?;
    Ok(ConnectionFlowControl {
        connection_id,
        connection_type,
        operation,
        ext: f.ext()?,
    })
}

fn malformed(reason: impl Into<String>) -> ServiceProtocolError {
    ServiceProtocolError::Malformed {
        reason: reason.into(),
    }
}

/// The elements of one message array after the type id, read front to back.
struct Fields<'a> {
    cursor: Cursor<'a>,
    /// Elements not read yet.
    left: u32,
    message: &'static str,
}

impl<'a> Fields<'a> {
    fn error(&self, field: &str, problem: Problem) -> ServiceProtocolError {
        ServiceProtocolError::Field {
            message: self.message,
            field: field.to_owned(),
            problem,
        }
    }

    /// Moves to the next element; `false` when the array has no more.
    fn next(&mut self) -> bool {
        let present = self.left > 0;
        if present {
            self.left -= 1;
        }
        present
    }

    /// Moves to the next element, which the layout requires.
    fn require(&mut self, field: &str) -> Result<()> {
        if self.next() {
            Ok(())
        } else {
            Err(self.error(field, "is missing: the array ends before it".to_owned()))
        }
    }

    /// Reads an optional element with `read`; `None` when the array ended.
    fn optional<T>(
        &mut self,
        field: &str,
        read: impl FnOnce(&mut Cursor<'a>) -> std::result::Result<T, Problem>,
    ) -> Result<Option<T>> {
        if !self.next() {
            return Ok(None);
        }
        read(&mut self.cursor)
            .map(Some)
            .map_err(|problem| self.error(field, problem))
    }

    /// Reads a required element with `read`.
    fn required<T>(
        &mut self,
        field: &str,
        read: impl FnOnce(&mut Cursor<'a>) -> std::result::Result<T, Problem>,
    ) -> Result<T> {
        self.require(field)?;
        read(&mut self.cursor).map_err(|problem| self.error(field, problem))
    }

    /// A required, non-nil string.
    fn str(&mut self, field: &str) -> Result<String> {
        self.required(field, Cursor::str)
    }

    /// A required string that may be nil.
    fn required_opt_str(&mut self, field: &str) -> Result<Option<String>> {
        self.required(field, Cursor::opt_str)
    }

    /// A required string; nil reads as empty.
    fn required_str_or_empty(&mut self, field: &str) -> Result<String> {
        Ok(self.required_opt_str(field)?.unwrap_or_default())
    }

    /// An optional string that may be nil.
    fn opt_str(&mut self, field: &str) -> Result<Option<String>> {
        Ok(self.optional(field, Cursor::opt_str)?.flatten())
    }

    /// An optional string; nil or absent reads as empty.
    fn str_or_empty(&mut self, field: &str) -> Result<String> {
        Ok(self.opt_str(field)?.unwrap_or_default())
    }

    fn i32(&mut self, field: &str) -> Result<i32> {
        self.required(field, Cursor::i32)
    }

    fn opt_i32(&mut self, field: &str) -> Result<Option<i32>> {
        self.optional(field, Cursor::i32)
    }

    fn opt_bool(&mut self, field: &str) -> Result<Option<bool>> {
        self.optional(field, Cursor::bool)
    }

    /// A required binary; nil reads as empty.
    fn bin(&mut self, field: &str) -> Result<Bytes> {
        Ok(self.required(field, Cursor::opt_bin)?.unwrap_or_default())
    }

    /// An optional binary that may be nil.
    fn opt_bin(&mut self, field: &str) -> Result<Option<Bytes>> {
        Ok(self.optional(field, Cursor::opt_bin)?.flatten())
    }

    /// A required array of strings; nil reads as empty.
    fn strings(&mut self, field: &str) -> Result<Vec<String>> {
        self.require(field)?;
        self.string_list(field)
    }

    /// An optional array of strings; nil or absent reads as empty.
    fn opt_strings(&mut self, field: &str) -> Result<Vec<String>> {
        if !self.next() {
            return Ok(Vec::new());
        }
        self.string_list(field)
    }

    fn string_list(&mut self, field: &str) -> Result<Vec<String>> {
        let count = self
            .cursor
            .array_len()
            .map_err(|problem| self.error(field, problem))?;
        let mut items = Vec::with_capacity(self.cursor.capacity(count));
        for index in 0..count {
            let item = self
                .cursor
                .str()
                .map_err(|problem| self.error(&format!("{field}[{index}]"), problem))?;
            items.push(item);
        }
        Ok(items)
    }

    /// A required `{protocol: bin}` map; nil reads as empty.
    fn payloads(&mut self) -> Result<Payloads> {
        self.require("payloads")?;
        let pairs = self.map("payloads", Cursor::str, |cursor| {
            Ok(cursor.opt_bin()?.unwrap_or_default())
        })?;
        Ok(Payloads(pairs))
    }

    /// A required `{type: value}` map, duplicates kept in order.
    fn claims(&mut self) -> Result<Claims> {
        self.require("claims")?;
        self.map("claims", Cursor::str, |cursor| {
            Ok(cursor.opt_str()?.unwrap_or_default())
        })
    }

    /// An optional `{name: [values]}` map; nil or absent reads as empty.
    fn headers(&mut self) -> Result<Headers> {
        if !self.next() {
            return Ok(Headers::new());
        }
        self.map("headers", Cursor::str, |cursor| {
            let count = cursor.array_len()?;
            let mut values = Vec::with_capacity(cursor.capacity(count));
            for _ in 0..count {
                values.push(cursor.opt_str()?.unwrap_or_default());
            }
            Ok(values)
        })
    }

    /// The map at the current element as `(key, value)` pairs; errors name the entry.
    fn map<K, V>(
        &mut self,
        field: &str,
        key: impl Fn(&mut Cursor<'a>) -> std::result::Result<K, Problem>,
        value: impl Fn(&mut Cursor<'a>) -> std::result::Result<V, Problem>,
    ) -> Result<Vec<(K, V)>> {
        let count = self
            .cursor
            .map_len()
            .map_err(|problem| self.error(field, problem))?;
        let mut pairs = Vec::with_capacity(self.cursor.capacity(count));
        for index in 0..count {
            let k = key(&mut self.cursor)
                .map_err(|problem| self.error(&format!("{field}[{index}].key"), problem))?;
            let v = value(&mut self.cursor)
                .map_err(|problem| self.error(&format!("{field}[{index}].value"), problem))?;
            pairs.push((k, v));
        }
        Ok(pairs)
    }

    /// The optional extension map; unknown keys are skipped.
    fn ext(&mut self) -> Result<Extensions> {
        let mut ext = Extensions::default();
        if !self.next() {
            return Ok(ext);
        }
        let count = self
            .cursor
            .map_len()
            .map_err(|problem| self.error("ext", problem))?;
        for _ in 0..count {
            let key = self
                .cursor
                .i64()
                .map_err(|problem| self.error("ext key", problem))?;
            let cursor = &mut self.cursor;
            let read = match key {
                TRACING_ID => cursor.u64().map(|id| ext.tracing_id = Some(id)),
                TTL => cursor.i32().map(|ttl| ext.ttl = Some(ttl)),
                PROTOCOL => cursor.opt_str().map(|protocol| ext.protocol = protocol),
                FILTER => cursor.opt_str().map(|filter| ext.filter = filter),
                DATA_MESSAGE_TYPE => cursor.i32().map(|value| {
                    ext.data_message_type = Some(DataMessageType::from_value(value));
                }),
                IS_PARTIAL => cursor.bool().map(|partial| ext.is_partial = Some(partial)),
                _ => cursor.skip(),
            };
            read.map_err(|problem| self.error(&format!("ext[{key}]"), problem))?;
        }
        Ok(ext)
    }
}
