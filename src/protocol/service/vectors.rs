//! Microsoft's 125 ServiceProtocol golden vectors (`tests/fixtures/service-protocol`): every
//! vector parses to exactly its transcribed fields, and every round-trip vector is written back
//! byte for byte, framed and unframed.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde_json::{Value, json};

use super::*;

const VECTORS: &str = include_str!("../../../tests/fixtures/service-protocol/vectors.json");

struct Vector {
    name: String,
    kind: String,
    type_id: i64,
    fields: Value,
    binary: Bytes,
    framed: Bytes,
}

fn vectors() -> Vec<Vector> {
    let file: Value = serde_json::from_str(VECTORS).expect("vectors.json is JSON");
    let decode = |value: &Value| Bytes::from(STANDARD.decode(value.as_str().unwrap()).unwrap());
    file["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| Vector {
            name: format!(
                "{} ({})",
                v["name"].as_str().unwrap(),
                v["kind"].as_str().unwrap()
            ),
            kind: v["kind"].as_str().unwrap().to_owned(),
            type_id: v["messageTypeId"].as_i64().unwrap(),
            fields: v["fields"].clone(),
            binary: decode(&v["binary"]),
            framed: decode(&v["framedBinary_derived"]),
        })
        .collect()
}

fn b64(bytes: &Bytes) -> Value {
    json!(STANDARD.encode(bytes))
}

/// `null` for an empty list, as the SDK's readers return it.
fn list(items: &[String]) -> Value {
    if items.is_empty() {
        Value::Null
    } else {
        json!(items)
    }
}

fn payloads(payloads: &Payloads) -> Value {
    if payloads.is_empty() {
        return Value::Null;
    }
    Value::Object(
        payloads
            .0
            .iter()
            .map(|(name, frame)| (name.clone(), b64(frame)))
            .collect(),
    )
}

fn headers(headers: &Headers) -> Value {
    Value::Object(
        headers
            .iter()
            .map(|(name, values)| (name.clone(), json!(values)))
            .collect(),
    )
}

/// The message's properties as vectors.json spells them (C# property names, camelCase).
fn fields(message: &ServiceMessage) -> Value {
    use ServiceMessage as M;
    match message {
        M::HandshakeRequest(m) => json!({
            "version": m.version,
            "connectionType": m.connection_type.value(),
            "target": m.target,
            "migrationLevel": m.migration_level,
            "allowStatefulReconnects": m.allow_stateful_reconnects,
        }),
        M::HandshakeResponse(m) => json!({
            "errorMessage": m.error_message,
            "connectionId": m.connection_id,
        }),
        M::Ping(m) => json!({ "messages": m.messages }),
        M::OpenConnection(m) => json!({
            "connectionId": m.connection_id,
            "claims": if m.claims.is_empty() { Value::Null } else {
                json!(m.claims.iter().map(|(k, v)| [k, v]).collect::<Vec<_>>())
            },
            "headers": headers(&m.headers),
            "queryString": m.query_string,
            "protocol": m.ext.protocol,
            "tracingId": m.ext.tracing_id,
        }),
        M::CloseConnection(m) => json!({
            "connectionId": m.connection_id,
            "errorMessage": m.error_message,
            "headers": headers(&m.headers),
            "tracingId": m.ext.tracing_id,
        }),
        M::ConnectionData(m) => json!({
            "connectionId": m.connection_id,
            "payload": b64(&m.payload),
            "tracingId": m.ext.tracing_id,
            "type": m.ext.data_message_type.map_or(0, DataMessageType::value),
            "isPartial": m.ext.is_partial.unwrap_or(false),
        }),
        M::MultiConnectionData(m) => json!({
            "connectionList": list(&m.connection_ids),
            "payloads": payloads(&m.payloads),
            "tracingId": m.ext.tracing_id,
            "filter": m.ext.filter,
        }),
        M::UserData(m) => json!({
            "userId": m.user_id,
            "payloads": payloads(&m.payloads),
            "tracingId": m.ext.tracing_id,
            "filter": m.ext.filter,
        }),
        M::MultiUserData(m) => json!({
            "userList": list(&m.user_ids),
            "payloads": payloads(&m.payloads),
            "tracingId": m.ext.tracing_id,
            "filter": m.ext.filter,
        }),
        M::BroadcastData(m) => json!({
            "excludedList": list(&m.excluded),
            "payloads": payloads(&m.payloads),
            "tracingId": m.ext.tracing_id,
            "filter": m.ext.filter,
        }),
        M::JoinGroup(m) => json!({
            "connectionId": m.connection_id,
            "groupName": m.group,
            "tracingId": m.ext.tracing_id,
        }),
        M::LeaveGroup(m) => json!({
            "connectionId": m.connection_id,
            "groupName": m.group,
            "tracingId": m.ext.tracing_id,
        }),
        M::GroupBroadcastData(m) => json!({
            "groupName": m.group,
            "excludedList": list(&m.excluded),
            "payloads": payloads(&m.payloads),
            "tracingId": m.ext.tracing_id,
            "filter": m.ext.filter,
            "excludedUserList": list(&m.excluded_users),
            "callerUserId": m.caller_user_id,
        }),
        M::MultiGroupBroadcastData(m) => json!({
            "groupList": list(&m.groups),
            "payloads": payloads(&m.payloads),
            "tracingId": m.ext.tracing_id,
            "filter": m.ext.filter,
        }),
        M::ServiceError(m) => json!({ "errorMessage": m.error_message }),
        M::UserJoinGroup(m) => json!({
            "userId": m.user_id,
            "groupName": m.group,
            "tracingId": m.ext.tracing_id,
            "ttl": m.ext.ttl,
        }),
        M::UserLeaveGroup(m) => json!({
            "userId": m.user_id,
            "groupName": m.group,
            "tracingId": m.ext.tracing_id,
        }),
        M::JoinGroupWithAck(m) => json!({
            "connectionId": m.connection_id,
            "groupName": m.group,
            "ackId": m.ack_id,
            "tracingId": m.ext.tracing_id,
        }),
        M::LeaveGroupWithAck(m) => json!({
            "connectionId": m.connection_id,
            "groupName": m.group,
            "ackId": m.ack_id,
            "tracingId": m.ext.tracing_id,
        }),
        M::Ack(m) => json!({
            "ackId": m.ack_id,
            "status": m.status.value(),
            "message": m.message,
            "payload": m.payload.as_ref().map(b64),
        }),
        M::CheckUserInGroupWithAck(m) => json!({
            "userId": m.user_id,
            "groupName": m.group,
            "ackId": m.ack_id,
            "tracingId": m.ext.tracing_id,
        }),
        M::ServiceEvent(m) => json!({
            "type": m.object_type.value(),
            "id": m.id,
            "kind": m.kind.value(),
            "message": m.message,
        }),
        M::CheckGroupExistenceWithAck(m) => json!({
            "groupName": m.group,
            "ackId": m.ack_id,
            "tracingId": m.ext.tracing_id,
        }),
        M::CheckConnectionExistenceWithAck(m) => json!({
            "connectionId": m.connection_id,
            "ackId": m.ack_id,
            "tracingId": m.ext.tracing_id,
        }),
        M::CheckUserExistenceWithAck(m) => json!({
            "userId": m.user_id,
            "ackId": m.ack_id,
            "tracingId": m.ext.tracing_id,
        }),
        M::UserJoinGroupWithAck(m) => json!({
            "userId": m.user_id,
            "groupName": m.group,
            "ackId": m.ack_id,
            "tracingId": m.ext.tracing_id,
            "ttl": m.ext.ttl,
        }),
        M::UserLeaveGroupWithAck(m) => json!({
            "userId": m.user_id,
            "groupName": m.group,
            "ackId": m.ack_id,
            "tracingId": m.ext.tracing_id,
        }),
        M::AccessKeyRequest(m) => json!({ "token": m.token, "kid": m.kid }),
        M::AccessKeyResponse(m) => json!({
            "kid": m.kid,
            "accessKey": m.access_key,
            "errorType": m.error_type,
            "errorMessage": m.error_message,
        }),
        M::CloseConnectionWithAck(m) => json!({
            "connectionId": m.connection_id,
            "reason": m.reason,
            "ackId": m.ack_id,
            "tracingId": m.ext.tracing_id,
        }),
        M::CloseConnectionsWithAck(m) => json!({
            "reason": m.reason,
            "ackId": m.ack_id,
            "excludedList": list(&m.excluded),
            "tracingId": m.ext.tracing_id,
        }),
        M::CloseUserConnectionsWithAck(m) => json!({
            "userId": m.user_id,
            "reason": m.reason,
            "ackId": m.ack_id,
            "excludedList": list(&m.excluded),
            "tracingId": m.ext.tracing_id,
        }),
        M::CloseGroupConnectionsWithAck(m) => json!({
            "groupName": m.group,
            "reason": m.reason,
            "ackId": m.ack_id,
            "excludedList": list(&m.excluded),
            "tracingId": m.ext.tracing_id,
        }),
        M::ClientInvocation(m) => json!({
            "invocationId": m.invocation_id,
            "connectionId": m.connection_id,
            "callerServerId": m.caller_server_id,
            "payloads": payloads(&m.payloads),
            "tracingId": m.ext.tracing_id,
        }),
        M::ClientCompletion(m) => json!({
            "invocationId": m.invocation_id,
            "connectionId": m.connection_id,
            "callerServerId": m.caller_server_id,
            "protocol": m.protocol,
            "payload": b64(&m.payload),
            "tracingId": m.ext.tracing_id,
        }),
        M::ErrorCompletion(m) => json!({
            "invocationId": m.invocation_id,
            "connectionId": m.connection_id,
            "callerServerId": m.caller_server_id,
            "error": m.error,
            "tracingId": m.ext.tracing_id,
        }),
        M::ServiceMapping(m) => json!({
            "invocationId": m.invocation_id,
            "connectionId": m.connection_id,
            "instanceId": m.instance_id,
        }),
        M::ConnectionReconnect(m) => json!({ "connectionId": m.connection_id }),
        M::ConnectionFlowControl(m) => json!({
            "connectionId": m.connection_id,
            "operation": m.operation.value(),
            "connectionType": m.connection_type.value(),
        }),
        M::GroupMemberQuery(m) => json!({
            "groupName": m.group,
            "ackId": m.ack_id,
            "max": m.max,
            "continuationToken": m.continuation_token,
            "tracingId": m.ext.tracing_id,
        }),
        M::RefreshAuth(_) | M::Unknown { .. } => panic!("no vector has type {}", message.type_id()),
    }
}

#[test]
fn the_fixture_holds_every_vector() {
    let vectors = vectors();
    assert_eq!(vectors.len(), 125);
    let count = |kind: &str| vectors.iter().filter(|v| v.kind == kind).count();
    assert_eq!(count("roundtrip"), 79);
    assert_eq!(count("parse_only"), 43);
    assert_eq!(count("parse_only_trailing_data"), 2);
    assert_eq!(count("historical_parse_only"), 1);
}

#[test]
fn every_vector_parses_to_its_fields() {
    for vector in vectors() {
        let message =
            parse_message(&vector.binary).unwrap_or_else(|err| panic!("{}: {err}", vector.name));
        assert_eq!(message.type_id(), vector.type_id, "{}", vector.name);
        assert_eq!(fields(&message), vector.fields, "{}", vector.name);
    }
}

#[test]
fn every_framed_vector_parses_as_one_whole_frame() {
    for vector in vectors() {
        let (message, consumed) = parse_frame(&vector.framed)
            .unwrap_or_else(|err| panic!("{}: {err}", vector.name))
            .unwrap_or_else(|| panic!("{}: incomplete", vector.name));
        assert_eq!(consumed, vector.framed.len(), "{}", vector.name);
        assert_eq!(
            message,
            parse_message(&vector.binary).unwrap(),
            "{}",
            vector.name
        );
    }
}

#[test]
fn every_round_trip_vector_is_written_byte_for_byte() {
    let mut written = 0;
    for vector in vectors().iter().filter(|v| v.kind == "roundtrip") {
        let message = parse_message(&vector.binary).unwrap();
        let mut unframed = Vec::new();
        write_message(&message, &mut unframed);
        assert_eq!(hex(&unframed), hex(&vector.binary), "{}", vector.name);
        let mut framed = vec![0xaa];
        write_frame(&message, &mut framed);
        assert_eq!(hex(&framed[1..]), hex(&vector.framed), "{}", vector.name);
        assert_eq!(
            hex(&encode_frame(&message)),
            hex(&vector.framed),
            "{}",
            vector.name
        );
        written += 1;
    }
    assert_eq!(written, 79);
}

#[test]
fn payloads_are_slices_of_the_received_frame() {
    let vector = vectors()
        .into_iter()
        .find(|v| v.name.starts_with("Broadcast ("))
        .unwrap();
    let ServiceMessage::BroadcastData(broadcast) = parse_frame(&vector.framed).unwrap().unwrap().0
    else {
        panic!("not a BroadcastData");
    };
    let frame = broadcast.payloads.get("JSON").unwrap();
    let start = vector.framed.as_ptr() as usize;
    let at = frame.as_ptr() as usize;
    assert!(at > start && at + frame.len() <= start + vector.framed.len());
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
