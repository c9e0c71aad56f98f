//! Property tests: any message of any type writes and parses back to itself, alone and as part
//! of a stream cut into arbitrary chunks; arbitrary bytes never make the reader panic.

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;

use super::*;

/// Strings around the fixstr/str8 boundary (32 bytes), any Unicode.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![".{0,3}", ".{28,36}", "[a-z]{250,260}"]
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

fn texts() -> impl Strategy<Value = Vec<String>> {
    vec(text(), 0..4)
}

fn bytes() -> impl Strategy<Value = Bytes> {
    prop_oneof![vec(any::<u8>(), 0..8), vec(any::<u8>(), 250..300)].prop_map(Bytes::from)
}

fn payloads() -> impl Strategy<Value = Payloads> {
    vec((text(), bytes()), 0..3).prop_map(Payloads)
}

fn ext() -> impl Strategy<Value = Extensions> {
    (
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<i32>()),
        opt_text(),
        opt_text(),
        proptest::option::of(any::<i32>().prop_map(DataMessageType::from_value)),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(
            |(tracing_id, ttl, protocol, filter, data_message_type, is_partial)| Extensions {
                tracing_id,
                ttl,
                protocol,
                filter,
                data_message_type,
                is_partial,
            },
        )
}

fn headers() -> impl Strategy<Value = Headers> {
    vec((text(), texts()), 0..3)
}

fn claims() -> impl Strategy<Value = Claims> {
    vec((text(), text()), 0..4)
}

fn flow_target() -> impl Strategy<Value = FlowControlTarget> {
    prop_oneof![
        Just(FlowControlTarget::Client),
        Just(FlowControlTarget::Server)
    ]
}

fn flow_operation() -> impl Strategy<Value = FlowControlOperation> {
    prop_oneof![
        Just(FlowControlOperation::Pause),
        Just(FlowControlOperation::PauseAck),
        Just(FlowControlOperation::Resume),
        Just(FlowControlOperation::Offline),
    ]
}

/// Every message type, with the normalisations the format implies left out: a Default
/// connection's target and an empty target read back as `None`, and ClientCompletion keeps its
/// protocol in `protocol`, not in the extension map.
fn message() -> impl Strategy<Value = ServiceMessage> {
    use ServiceMessage as M;
    let non_empty = proptest::option::of("[a-z]{1,40}");
    prop_oneof![
        (
            any::<i32>(),
            any::<i32>(),
            non_empty,
            any::<i32>(),
            ext(),
            any::<bool>()
        )
            .prop_map(
                |(version, kind, target, migration_level, ext, allow_stateful_reconnects)| {
                    let connection_type = ServerConnectionType::from_value(kind);
                    let target =
                        target.filter(|_| connection_type != ServerConnectionType::Default);
                    M::HandshakeRequest(HandshakeRequest {
                        version,
                        connection_type,
                        target,
                        migration_level,
                        ext,
                        allow_stateful_reconnects,
                    })
                }
            ),
        (opt_text(), ext(), opt_text()).prop_map(|(error_message, ext, connection_id)| {
            M::HandshakeResponse(HandshakeResponse {
                error_message,
                ext,
                connection_id,
            })
        }),
        vec(text(), 0..6).prop_map(|messages| M::Ping(Ping { messages })),
        (text(), claims(), headers(), text(), ext()).prop_map(
            |(connection_id, claims, headers, query_string, ext)| {
                M::OpenConnection(OpenConnection {
                    connection_id,
                    claims,
                    headers,
                    query_string,
                    ext,
                })
            }
        ),
        (text(), text(), headers(), ext()).prop_map(
            |(connection_id, error_message, headers, ext)| {
                M::CloseConnection(CloseConnection {
                    connection_id,
                    error_message,
                    headers,
                    ext,
                })
            }
        ),
        (text(), bytes(), ext()).prop_map(|(connection_id, payload, ext)| {
            M::ConnectionData(ConnectionData {
                connection_id,
                payload,
                ext,
            })
        }),
        (texts(), payloads(), ext()).prop_map(|(connection_ids, payloads, ext)| {
            M::MultiConnectionData(MultiConnectionData {
                connection_ids,
                payloads,
                ext,
            })
        }),
        (text(), payloads(), ext()).prop_map(|(user_id, payloads, ext)| M::UserData(UserData {
            user_id,
            payloads,
            ext
        })),
        (texts(), payloads(), ext()).prop_map(|(user_ids, payloads, ext)| {
            M::MultiUserData(MultiUserData {
                user_ids,
                payloads,
                ext,
            })
        }),
        (texts(), payloads(), ext()).prop_map(|(excluded, payloads, ext)| {
            M::BroadcastData(BroadcastData {
                excluded,
                payloads,
                ext,
            })
        }),
        (text(), text(), ext()).prop_map(|(connection_id, group, ext)| {
            M::JoinGroup(JoinGroup {
                connection_id,
                group,
                ext,
            })
        }),
        (text(), opt_text(), ext()).prop_map(|(connection_id, group, ext)| {
            M::LeaveGroup(LeaveGroup {
                connection_id,
                group,
                ext,
            })
        }),
        (text(), texts(), payloads(), ext(), texts(), opt_text()).prop_map(
            |(group, excluded, payloads, ext, excluded_users, caller_user_id)| {
                M::GroupBroadcastData(GroupBroadcastData {
                    group,
                    excluded,
                    payloads,
                    ext,
                    excluded_users,
                    caller_user_id,
                })
            }
        ),
        (texts(), payloads(), ext()).prop_map(|(groups, payloads, ext)| {
            M::MultiGroupBroadcastData(MultiGroupBroadcastData {
                groups,
                payloads,
                ext,
            })
        }),
        text().prop_map(|error_message| M::ServiceError(ServiceError { error_message })),
        (text(), text(), ext()).prop_map(|(user_id, group, ext)| {
            M::UserJoinGroup(UserJoinGroup {
                user_id,
                group,
                ext,
            })
        }),
        (text(), opt_text(), ext()).prop_map(|(user_id, group, ext)| {
            M::UserLeaveGroup(UserLeaveGroup {
                user_id,
                group,
                ext,
            })
        }),
        (text(), text(), any::<i32>(), ext()).prop_map(|(connection_id, group, ack_id, ext)| {
            M::JoinGroupWithAck(JoinGroupWithAck {
                connection_id,
                group,
                ack_id,
                ext,
            })
        }),
        (text(), opt_text(), any::<i32>(), ext()).prop_map(
            |(connection_id, group, ack_id, ext)| {
                M::LeaveGroupWithAck(LeaveGroupWithAck {
                    connection_id,
                    group,
                    ack_id,
                    ext,
                })
            }
        ),
        (
            any::<i32>(),
            any::<i32>(),
            text(),
            ext(),
            proptest::option::of(bytes())
        )
            .prop_map(|(ack_id, status, message, ext, payload)| M::Ack(Ack {
                ack_id,
                status: AckStatus::from_value(status),
                message,
                ext,
                payload,
            })),
        (text(), text(), any::<i32>(), ext()).prop_map(|(user_id, group, ack_id, ext)| {
            M::CheckUserInGroupWithAck(CheckUserInGroupWithAck {
                user_id,
                group,
                ack_id,
                ext,
            })
        }),
        (any::<i32>(), opt_text(), any::<i32>(), opt_text(), ext()).prop_map(
            |(object_type, id, kind, message, ext)| M::ServiceEvent(ServiceEvent {
                object_type: ServiceEventObjectType::from_value(object_type),
                id,
                kind: ServiceEventKind::from_value(kind),
                message,
                ext,
            })
        ),
        (text(), any::<i32>(), ext()).prop_map(|(group, ack_id, ext)| {
            M::CheckGroupExistenceWithAck(CheckGroupExistenceWithAck { group, ack_id, ext })
        }),
        (text(), any::<i32>(), ext()).prop_map(|(connection_id, ack_id, ext)| {
            M::CheckConnectionExistenceWithAck(CheckConnectionExistenceWithAck {
                connection_id,
                ack_id,
                ext,
            })
        }),
        (text(), any::<i32>(), ext()).prop_map(|(user_id, ack_id, ext)| {
            M::CheckUserExistenceWithAck(CheckUserExistenceWithAck {
                user_id,
                ack_id,
                ext,
            })
        }),
        (text(), text(), any::<i32>(), ext()).prop_map(|(user_id, group, ack_id, ext)| {
            M::UserJoinGroupWithAck(UserJoinGroupWithAck {
                user_id,
                group,
                ack_id,
                ext,
            })
        }),
        (text(), opt_text(), any::<i32>(), ext()).prop_map(|(user_id, group, ack_id, ext)| {
            M::UserLeaveGroupWithAck(UserLeaveGroupWithAck {
                user_id,
                group,
                ack_id,
                ext,
            })
        }),
        (opt_text(), opt_text(), ext()).prop_map(|(token, kid, ext)| {
            M::AccessKeyRequest(AccessKeyRequest { token, kid, ext })
        }),
        (opt_text(), opt_text(), opt_text(), opt_text(), ext()).prop_map(
            |(kid, access_key, error_type, error_message, ext)| {
                M::AccessKeyResponse(AccessKeyResponse {
                    kid,
                    access_key,
                    error_type,
                    error_message,
                    ext,
                })
            }
        ),
        (text(), opt_text(), any::<i32>(), ext()).prop_map(
            |(connection_id, reason, ack_id, ext)| {
                M::CloseConnectionWithAck(CloseConnectionWithAck {
                    connection_id,
                    reason,
                    ack_id,
                    ext,
                })
            }
        ),
        (opt_text(), any::<i32>(), texts(), ext()).prop_map(|(reason, ack_id, excluded, ext)| {
            M::CloseConnectionsWithAck(CloseConnectionsWithAck {
                reason,
                ack_id,
                excluded,
                ext,
            })
        }),
        (text(), opt_text(), any::<i32>(), texts(), ext()).prop_map(
            |(user_id, reason, ack_id, excluded, ext)| {
                M::CloseUserConnectionsWithAck(CloseUserConnectionsWithAck {
                    user_id,
                    reason,
                    ack_id,
                    excluded,
                    ext,
                })
            }
        ),
        (text(), opt_text(), any::<i32>(), texts(), ext()).prop_map(
            |(group, reason, ack_id, excluded, ext)| {
                M::CloseGroupConnectionsWithAck(CloseGroupConnectionsWithAck {
                    group,
                    reason,
                    ack_id,
                    excluded,
                    ext,
                })
            }
        ),
        (text(), text(), text(), payloads(), ext()).prop_map(
            |(invocation_id, connection_id, caller_server_id, payloads, ext)| {
                M::ClientInvocation(ClientInvocation {
                    invocation_id,
                    connection_id,
                    caller_server_id,
                    payloads,
                    ext,
                })
            }
        ),
        (text(), text(), text(), opt_text(), bytes(), ext()).prop_map(
            |(invocation_id, connection_id, caller_server_id, protocol, payload, ext)| {
                M::ClientCompletion(ClientCompletion {
                    invocation_id,
                    connection_id,
                    caller_server_id,
                    protocol,
                    payload,
                    ext: Extensions {
                        protocol: None,
                        ..ext
                    },
                })
            }
        ),
        (text(), text(), text(), opt_text(), ext()).prop_map(
            |(invocation_id, connection_id, caller_server_id, error, ext)| {
                M::ErrorCompletion(ErrorCompletion {
                    invocation_id,
                    connection_id,
                    caller_server_id,
                    error,
                    ext,
                })
            }
        ),
        (text(), text(), text(), ext()).prop_map(
            |(invocation_id, connection_id, instance_id, ext)| {
                M::ServiceMapping(ServiceMapping {
                    invocation_id,
                    connection_id,
                    instance_id,
                    ext,
                })
            }
        ),
        (text(), ext()).prop_map(|(connection_id, ext)| {
            M::ConnectionReconnect(ConnectionReconnect { connection_id, ext })
        }),
        (text(), flow_target(), flow_operation(), ext()).prop_map(
            |(connection_id, connection_type, operation, ext)| {
                M::ConnectionFlowControl(ConnectionFlowControl {
                    connection_id,
                    connection_type,
                    operation,
                    ext,
                })
            }
        ),
        (ext(), text(), any::<i32>(), any::<i32>(), opt_text()).prop_map(
            |(ext, group, ack_id, max, continuation_token)| {
                M::GroupMemberQuery(GroupMemberQuery {
                    ext,
                    group,
                    ack_id,
                    max,
                    continuation_token,
                })
            }
        ),
        any::<i64>()
            .prop_filter("a type id this side does not define", |id| !(1..=41)
                .contains(id))
            .prop_map(|type_id| M::Unknown { type_id }),
    ]
}

proptest! {
    #[test]
    fn any_message_round_trips(message in message()) {
        let frame = encode_frame(&message);
        let (parsed, used) = parse_frame(&frame).unwrap().unwrap();
        prop_assert_eq!(used, frame.len());
        prop_assert_eq!(&parsed, &message);
        let mut written = Vec::new();
        write_frame(&parsed, &mut written);
        prop_assert_eq!(&written[..], &frame[..]);
    }

    #[test]
    fn a_stream_cut_into_any_chunks_yields_every_message(
        messages in vec(message(), 1..6),
        cuts in vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut wire = Vec::new();
        for message in &messages {
            write_frame(message, &mut wire);
        }
        let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut.index(wire.len() + 1)).collect();
        cuts.sort_unstable();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut from = 0;
        for to in cuts.into_iter().chain([wire.len()]) {
            buf.extend_from_slice(&wire[from..to]);
            from = to;
            while let Some(message) = next_frame(&mut buf, usize::MAX).unwrap() {
                got.push(message);
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got, messages);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..64)) {
        let bytes = Bytes::from(bytes);
        let _ = parse_message(&bytes);
        let _ = parse_frame(&bytes);
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = next_frame(&mut buf, 1 << 16) {}
    }

    #[test]
    fn mutated_messages_never_panic(message in message(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut body = Vec::new();
        write_message(&message, &mut body);
        let at = at.index(body.len());
        body[at] = byte;
        let _ = parse_message(&Bytes::from(body));
    }
}
