//! The ServiceProtocol writer: exactly the current SDK layouts (SERVICE-PROTOCOL.md §2), with
//! `rmp` choosing the smallest encoding for every integer and string (str8 from 32 bytes), the
//! extension map always present, and ConnectionFlowControl's two forced int32s.

use std::convert::Infallible;

use bytes::Bytes;
use rmp::encode::{self as enc, ByteBuf, ValueWriteError};

use super::ext::{DATA_MESSAGE_TYPE, FILTER, IS_PARTIAL, PROTOCOL, TRACING_ID, TTL};
use super::model::*;
use super::{Extensions, ServerConnectionType};

/// Appends the unframed MessagePack array of `message` to `out`.
pub fn write_message(message: &ServiceMessage, out: &mut Vec<u8>) {
    let mut buf = ByteBuf::from_vec(std::mem::take(out));
    Writer(&mut buf).message(message);
    *out = buf.into_vec();
}

/// Appends MessagePack to a buffer; shared with the GroupMemberQuery payload writer.
pub(super) struct Writer<'a>(pub(super) &'a mut ByteBuf);

impl Writer<'_> {
    fn message(&mut self, message: &ServiceMessage) {
        use ServiceMessage as M;
        let type_id = message.type_id();
        match message {
            M::HandshakeRequest(m) => {
                self.header(7, type_id);
                self.int(m.version.into());
                self.int(m.connection_type.value().into());
                let target = match m.connection_type {
                    ServerConnectionType::Default => "",
                    _ => m.target.as_deref().unwrap_or(""),
                };
                self.str(target);
                self.int(m.migration_level.into());
                self.ext(&m.ext);
                self.bool(m.allow_stateful_reconnects);
            }
            M::HandshakeResponse(m) => {
                self.header(4, type_id);
                self.opt_str(m.error_message.as_deref());
                self.ext(&m.ext);
                self.opt_str(m.connection_id.as_deref());
            }
            M::Ping(m) => {
                self.header(1 + m.messages.len(), type_id);
                for item in &m.messages {
                    self.str(item);
                }
            }
            M::OpenConnection(m) => {
                self.header(6, type_id);
                self.str(&m.connection_id);
                self.claims(&m.claims);
                self.headers(&m.headers);
                self.str(&m.query_string);
                self.ext(&m.ext);
            }
            M::CloseConnection(m) => {
                self.header(5, type_id);
                self.str(&m.connection_id);
                self.str(&m.error_message);
                self.headers(&m.headers);
                self.ext(&m.ext);
            }
            M::ConnectionData(m) => {
                self.header(4, type_id);
                self.str(&m.connection_id);
                self.bin(&m.payload);
                self.ext(&m.ext);
            }
            M::MultiConnectionData(m) => {
                self.multicast(type_id, &m.connection_ids, &m.payloads, &m.ext)
            }
            M::UserData(m) => {
                self.header(4, type_id);
                self.str(&m.user_id);
                self.payloads(&m.payloads);
                self.ext(&m.ext);
            }
            M::MultiUserData(m) => self.multicast(type_id, &m.user_ids, &m.payloads, &m.ext),
            M::BroadcastData(m) => self.multicast(type_id, &m.excluded, &m.payloads, &m.ext),
            M::JoinGroup(m) => self.two_ids(type_id, &m.connection_id, Some(&m.group), &m.ext),
            M::LeaveGroup(m) => {
                self.two_ids(type_id, &m.connection_id, m.group.as_deref(), &m.ext);
            }
            M::GroupBroadcastData(m) => {
                self.header(7, type_id);
                self.str(&m.group);
                self.strings(&m.excluded);
                self.payloads(&m.payloads);
                self.ext(&m.ext);
                self.strings(&m.excluded_users);
                self.opt_str(m.caller_user_id.as_deref());
            }
            M::MultiGroupBroadcastData(m) => {
                self.multicast(type_id, &m.groups, &m.payloads, &m.ext)
            }
            M::ServiceError(m) => {
                self.header(2, type_id);
                self.str(&m.error_message);
            }
            M::UserJoinGroup(m) => self.two_ids(type_id, &m.user_id, Some(&m.group), &m.ext),
            M::UserLeaveGroup(m) => {
                self.two_ids(type_id, &m.user_id, m.group.as_deref(), &m.ext);
            }
            M::JoinGroupWithAck(m) => {
                self.two_ids_ack(type_id, &m.connection_id, Some(&m.group), m.ack_id, &m.ext);
            }
            M::LeaveGroupWithAck(m) => {
                self.two_ids_ack(
                    type_id,
                    &m.connection_id,
                    m.group.as_deref(),
                    m.ack_id,
                    &m.ext,
                );
            }
            M::Ack(m) => {
                self.header(6, type_id);
                self.int(m.ack_id.into());
                self.int(m.status.value().into());
                self.str(&m.message);
                self.ext(&m.ext);
                match &m.payload {
                    Some(payload) => self.bin(payload),
                    None => self.nil(),
                }
            }
            M::CheckUserInGroupWithAck(m) => {
                self.two_ids_ack(type_id, &m.user_id, Some(&m.group), m.ack_id, &m.ext);
            }
            M::ServiceEvent(m) => {
                self.header(6, type_id);
                self.int(m.object_type.value().into());
                self.opt_str(m.id.as_deref());
                self.int(m.kind.value().into());
                self.opt_str(m.message.as_deref());
                self.ext(&m.ext);
            }
            M::CheckGroupExistenceWithAck(m) => self.id_ack(type_id, &m.group, m.ack_id, &m.ext),
            M::CheckConnectionExistenceWithAck(m) => {
                self.id_ack(type_id, &m.connection_id, m.ack_id, &m.ext);
            }
            M::CheckUserExistenceWithAck(m) => self.id_ack(type_id, &m.user_id, m.ack_id, &m.ext),
            M::UserJoinGroupWithAck(m) => {
                self.two_ids_ack(type_id, &m.user_id, Some(&m.group), m.ack_id, &m.ext);
            }
            M::UserLeaveGroupWithAck(m) => {
                self.two_ids_ack(type_id, &m.user_id, m.group.as_deref(), m.ack_id, &m.ext);
            }
            M::AccessKeyRequest(m) => {
                self.header(4, type_id);
                self.opt_str(m.token.as_deref());
                self.opt_str(m.kid.as_deref());
                self.ext(&m.ext);
            }
            M::AccessKeyResponse(m) => {
                self.header(6, type_id);
                self.opt_str(m.kid.as_deref());
                self.opt_str(m.access_key.as_deref());
                self.opt_str(m.error_type.as_deref());
                self.opt_str(m.error_message.as_deref());
                self.ext(&m.ext);
            }
            M::CloseConnectionWithAck(m) => {
                self.two_ids_ack(
                    type_id,
                    &m.connection_id,
                    m.reason.as_deref(),
                    m.ack_id,
                    &m.ext,
                );
            }
            M::CloseConnectionsWithAck(m) => {
                self.header(5, type_id);
                self.opt_str(m.reason.as_deref());
                self.int(m.ack_id.into());
                self.strings(&m.excluded);
                self.ext(&m.ext);
            }
            M::CloseUserConnectionsWithAck(m) => {
                self.close_many(
                    type_id,
                    &m.user_id,
                    m.reason.as_deref(),
                    m.ack_id,
                    &m.excluded,
                    &m.ext,
                );
            }
            M::CloseGroupConnectionsWithAck(m) => {
                self.close_many(
                    type_id,
                    &m.group,
                    m.reason.as_deref(),
                    m.ack_id,
                    &m.excluded,
                    &m.ext,
                );
            }
            M::ClientInvocation(m) => {
                self.header(6, type_id);
                self.str(&m.invocation_id);
                self.str(&m.connection_id);
                self.str(&m.caller_server_id);
                self.payloads(&m.payloads);
                self.ext(&m.ext);
            }
            M::ClientCompletion(m) => {
                self.header(7, type_id);
                self.str(&m.invocation_id);
                self.str(&m.connection_id);
                self.str(&m.caller_server_id);
                self.opt_str(m.protocol.as_deref());
                self.bin(&m.payload);
                // The SDK writes the protocol again as extension key 3.
                self.ext_with_protocol(&m.ext, m.protocol.as_deref());
            }
            M::ErrorCompletion(m) => {
                self.header(6, type_id);
                self.str(&m.invocation_id);
                self.str(&m.connection_id);
                self.str(&m.caller_server_id);
                self.opt_str(m.error.as_deref());
                self.ext(&m.ext);
            }
            M::ServiceMapping(m) => {
                self.header(5, type_id);
                self.str(&m.invocation_id);
                self.str(&m.connection_id);
                self.str(&m.instance_id);
                self.ext(&m.ext);
            }
            M::ConnectionReconnect(m) => {
                self.header(3, type_id);
                self.str(&m.connection_id);
                self.ext(&m.ext);
            }
            M::ConnectionFlowControl(m) => {
                self.header(5, type_id);
                self.str(&m.connection_id);
                // The SDK forces int32 here (`WriteInt32`), unlike everywhere else.
                written(enc::write_i32(self.0, m.connection_type.value()));
                written(enc::write_i32(self.0, m.operation.value()));
                self.ext(&m.ext);
            }
            M::GroupMemberQuery(m) => {
                self.header(6, type_id);
                self.ext(&m.ext);
                self.str(&m.group);
                self.int(m.ack_id.into());
                self.int(m.max.into());
                self.opt_str(m.continuation_token.as_deref());
            }
            M::RefreshAuth(m) => self.0.as_mut_vec().extend_from_slice(&m.raw),
            M::Unknown { type_id } => self.header(1, *type_id),
        }
    }

    /// `[type, ...]` for an array of `len` elements, the type included.
    fn header(&mut self, len: usize, type_id: i64) {
        self.array_len(len);
        self.int(type_id);
    }

    /// MultiConnection/MultiUser/Broadcast/MultiGroupBroadcast: `[t, ids, payloads, ext]`.
    fn multicast(&mut self, type_id: i64, ids: &[String], payloads: &Payloads, ext: &Extensions) {
        self.header(4, type_id);
        self.strings(ids);
        self.payloads(payloads);
        self.ext(ext);
    }

    /// Join/Leave and UserJoin/UserLeave without ack: `[t, id, group, ext]`.
    fn two_ids(&mut self, type_id: i64, id: &str, group: Option<&str>, ext: &Extensions) {
        self.header(4, type_id);
        self.str(id);
        self.opt_str(group);
        self.ext(ext);
    }

    /// The ackable pairs (and CloseConnectionWithAck): `[t, id, second, ackId, ext]`.
    fn two_ids_ack(
        &mut self,
        type_id: i64,
        id: &str,
        second: Option<&str>,
        ack_id: i32,
        ext: &Extensions,
    ) {
        self.header(5, type_id);
        self.str(id);
        self.opt_str(second);
        self.int(ack_id.into());
        self.ext(ext);
    }

    /// The existence checks: `[t, id, ackId, ext]`.
    fn id_ack(&mut self, type_id: i64, id: &str, ack_id: i32, ext: &Extensions) {
        self.header(4, type_id);
        self.str(id);
        self.int(ack_id.into());
        self.ext(ext);
    }

    /// CloseUser/CloseGroupConnectionsWithAck: `[t, id, reason, ackId, excluded, ext]`.
    fn close_many(
        &mut self,
        type_id: i64,
        id: &str,
        reason: Option<&str>,
        ack_id: i32,
        excluded: &[String],
        ext: &Extensions,
    ) {
        self.header(6, type_id);
        self.str(id);
        self.opt_str(reason);
        self.int(ack_id.into());
        self.strings(excluded);
        self.ext(ext);
    }

    /// The extension map, keys in ascending order, `{}` when empty.
    fn ext(&mut self, ext: &Extensions) {
        self.ext_with_protocol(ext, ext.protocol.as_deref());
    }

    /// The extension map with `protocol` as key 3 instead of `ext.protocol`.
    fn ext_with_protocol(&mut self, ext: &Extensions, protocol: Option<&str>) {
        let len = ext.len() - usize::from(ext.protocol.is_some()) + usize::from(protocol.is_some());
        self.map_len(len);
        if let Some(id) = ext.tracing_id {
            self.int(TRACING_ID);
            written(enc::write_uint(self.0, id));
        }
        if let Some(ttl) = ext.ttl {
            self.int(TTL);
            self.int(ttl.into());
        }
        if let Some(protocol) = protocol {
            self.int(PROTOCOL);
            self.str(protocol);
        }
        if let Some(filter) = &ext.filter {
            self.int(FILTER);
            self.str(filter);
        }
        if let Some(kind) = ext.data_message_type {
            self.int(DATA_MESSAGE_TYPE);
            self.int(kind.value().into());
        }
        if let Some(partial) = ext.is_partial {
            self.int(IS_PARTIAL);
            self.bool(partial);
        }
    }

    fn claims(&mut self, claims: &Claims) {
        self.map_len(claims.len());
        for (kind, value) in claims {
            self.str(kind);
            self.str(value);
        }
    }

    fn headers(&mut self, headers: &Headers) {
        self.map_len(headers.len());
        for (name, values) in headers {
            self.str(name);
            self.strings(values);
        }
    }

    fn payloads(&mut self, payloads: &Payloads) {
        self.map_len(payloads.0.len());
        for (protocol, frame) in &payloads.0 {
            self.str(protocol);
            self.bin(frame);
        }
    }

    fn strings(&mut self, items: &[String]) {
        self.array_len(items.len());
        for item in items {
            self.str(item);
        }
    }

    pub(super) fn str(&mut self, s: &str) {
        written(enc::write_str(self.0, s));
    }

    pub(super) fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str(s),
            None => self.nil(),
        }
    }

    fn bin(&mut self, bytes: &Bytes) {
        written(enc::write_bin(self.0, bytes));
    }

    fn int(&mut self, n: i64) {
        written(enc::write_sint(self.0, n));
    }

    fn bool(&mut self, b: bool) {
        let Ok(()) = enc::write_bool(self.0, b);
    }

    fn nil(&mut self) {
        let Ok(()) = enc::write_nil(self.0);
    }

    pub(super) fn array_len(&mut self, len: usize) {
        written(enc::write_array_len(self.0, wire_len(len)));
    }

    fn map_len(&mut self, len: usize) {
        written(enc::write_map_len(self.0, wire_len(len)));
    }
}

/// MessagePack counts elements in 32 bits. A message with more would need tens of gigabytes in
/// memory first, so saturating only guards against the impossible.
fn wire_len(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Writing to a `ByteBuf` cannot fail (its error type is uninhabited), so the result is taken
/// apart by pattern rather than unwrapped.
fn written<T>(result: Result<T, ValueWriteError<Infallible>>) -> T {
    let Ok(value) = result;
    value
}
