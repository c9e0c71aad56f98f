//! Framing on a byte stream (every split offset, byte by byte, size limits) and malformed input
//! (truncated, over-long prefixes, wrong types): always an error or "need more", never a panic.

use bytes::{Bytes, BytesMut};

use super::*;

fn broadcast(payload_len: usize) -> ServiceMessage {
    ServiceMessage::BroadcastData(BroadcastData {
        excluded: vec!["c1".into()],
        payloads: [
            ("json", Bytes::from(vec![b'j'; payload_len])),
            ("messagepack", Bytes::from(vec![b'm'; payload_len])),
        ]
        .into_iter()
        .collect(),
        ext: Extensions {
            tracing_id: Some(7),
            ..Extensions::default()
        },
    })
}

fn ping(items: &[&str]) -> ServiceMessage {
    ServiceMessage::Ping(Ping {
        messages: items.iter().map(|s| (*s).to_owned()).collect(),
    })
}

/// A stream of small and larger messages (1- and 2-byte length prefixes) and an unknown type.
fn stream() -> (Vec<ServiceMessage>, Vec<u8>) {
    let messages = vec![
        ping(&[]),
        broadcast(10),
        ServiceMessage::Unknown { type_id: 99 },
        ping(&["status", "1"]),
        broadcast(200),
        ServiceMessage::ConnectionData(ConnectionData {
            connection_id: "conn".into(),
            payload: Bytes::from_static(b"{\"protocol\":\"json\",\"version\":1}\x1e"),
            ext: Extensions::default(),
        }),
    ];
    let mut wire = Vec::new();
    for message in &messages {
        write_frame(message, &mut wire);
    }
    (messages, wire)
}

/// Feeds `chunks` one after the other into a receive buffer and takes every whole frame off.
fn receive(chunks: &[&[u8]]) -> Vec<ServiceMessage> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(message) = next_frame(&mut buf, 1 << 20).unwrap() {
            out.push(message);
        }
    }
    assert!(buf.is_empty(), "bytes left over");
    out
}

#[test]
fn a_stream_split_at_every_byte_offset_yields_the_same_messages() {
    let (messages, wire) = stream();
    for split in 0..=wire.len() {
        let (a, b) = wire.split_at(split);
        assert_eq!(receive(&[a, b]), messages, "split at {split}");
    }
}

#[test]
fn a_stream_fed_byte_by_byte_yields_the_same_messages() {
    let (messages, wire) = stream();
    let chunks: Vec<&[u8]> = wire.chunks(1).collect();
    assert_eq!(receive(&chunks), messages);
}

#[test]
fn a_three_byte_prefix_frame_split_anywhere_is_read_whole() {
    let message = broadcast(10_000);
    let wire = encode_frame(&message);
    assert_eq!(wire[2] & 0x80, 0, "the prefix takes 3 bytes");
    assert!(wire[1] & 0x80 != 0);
    for split in (0..=wire.len())
        .step_by(97)
        .chain([1, 2, 3, wire.len() - 1])
    {
        let (a, b) = wire.split_at(split);
        assert_eq!(receive(&[a, b]), vec![message.clone()], "split at {split}");
    }
}

#[test]
fn parse_frame_reports_what_it_consumed_and_waits_for_the_rest() {
    let (messages, wire) = stream();
    let wire = Bytes::from(wire);
    for split in 0..wire.len() {
        // Only the bytes seen so far: whole frames come out, the partial one waits.
        let seen = wire.slice(..split);
        let mut at = 0;
        let mut got = Vec::new();
        while let Some((message, used)) = parse_frame(&seen.slice(at..)).unwrap() {
            got.push(message);
            at += used;
        }
        assert!(got.len() < messages.len() || at == wire.len());
        assert_eq!(got[..], messages[..got.len()], "split at {split}");
    }
}

#[test]
fn frame_len_is_known_once_the_prefix_is_in() {
    let wire = encode_frame(&broadcast(200));
    assert_eq!(frame_len(&wire[..1]).unwrap(), None);
    assert_eq!(frame_len(&wire[..2]).unwrap(), Some(wire.len()));
    assert_eq!(frame_len(&wire).unwrap(), Some(wire.len()));
}

#[test]
fn an_over_long_frame_is_refused_before_it_is_buffered() {
    let wire = encode_frame(&broadcast(200));
    let mut buf = BytesMut::from(&wire[..3]);
    assert_eq!(
        next_frame(&mut buf, 100).unwrap_err(),
        ServiceProtocolError::TooLarge {
            length: wire.len() - 2,
            limit: 100
        }
    );
}

#[test]
fn length_prefixes_longer_than_five_bytes_or_2_gb_are_errors() {
    for prefix in [
        &[0x80, 0x80, 0x80, 0x80, 0x08][..],
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
    ] {
        let bytes = Bytes::copy_from_slice(prefix);
        assert_eq!(
            parse_frame(&bytes).unwrap_err(),
            ServiceProtocolError::LengthTooLong
        );
        assert_eq!(
            frame_len(prefix).unwrap_err(),
            ServiceProtocolError::LengthTooLong
        );
        let mut buf = BytesMut::from(prefix);
        assert_eq!(
            next_frame(&mut buf, usize::MAX).unwrap_err(),
            ServiceProtocolError::LengthTooLong
        );
    }
    // 2 GB − 1 is a valid prefix: the reader just waits for the body.
    let largest = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x07]);
    assert_eq!(parse_frame(&largest).unwrap(), None);
}

#[test]
fn unknown_types_are_consumed_and_never_fatal() {
    // [99, "future", {1: 2}] then a Ping: the unknown one is skipped, the Ping still arrives.
    let wire = [
        &[0x0c, 0x93, 0x63, 0xa6][..],
        b"future",
        &[0x81, 0x01, 0x02],
        &[0x02, 0x91, 0x03],
    ]
    .concat();
    let got = receive(&[&wire]);
    assert_eq!(
        got,
        vec![ServiceMessage::Unknown { type_id: 99 }, ping(&[])]
    );
    assert_eq!(got[0].name(), "Unknown");
}

#[test]
fn unknown_extension_keys_are_skipped() {
    // [38, "c", {9: [1, {"a": nil}], 1: 5}]
    let body = Bytes::from_static(&[
        0x93, 0x26, 0xa1, b'c', 0x82, 0x09, 0x92, 0x01, 0x81, 0xa1, b'a', 0xc0, 0x01, 0x05,
    ]);
    let ServiceMessage::ConnectionReconnect(reconnect) = parse_message(&body).unwrap() else {
        panic!("not a ConnectionReconnect");
    };
    assert_eq!(reconnect.ext.tracing_id, Some(5));
}

#[test]
fn duplicate_claim_types_are_all_kept_in_order() {
    let message = ServiceMessage::OpenConnection(OpenConnection {
        connection_id: "c".into(),
        claims: vec![
            ("role".into(), "admin".into()),
            ("role".into(), "user".into()),
            ("sub".into(), "u1".into()),
        ],
        headers: Headers::new(),
        query_string: "?a=b".into(),
        ext: Extensions::default(),
    });
    let (parsed, _) = parse_frame(&encode_frame(&message)).unwrap().unwrap();
    assert_eq!(parsed, message);
}

#[test]
fn refresh_auth_is_recognised_and_kept_raw() {
    let raw = Bytes::from_static(&[0x93, 0x29, 0xa3, b't', b'o', b'k', 0x80]);
    let message = parse_message(&raw).unwrap();
    assert_eq!(
        message,
        ServiceMessage::RefreshAuth(RefreshAuth { raw: raw.clone() })
    );
    assert_eq!(message.name(), "RefreshAuth");
    let mut out = Vec::new();
    write_message(&message, &mut out);
    assert_eq!(out, raw);
}

/// `[type, fields...]` as MessagePack, for malformed-input cases.
fn body(bytes: &[u8]) -> Bytes {
    Bytes::copy_from_slice(bytes)
}

fn field_error(bytes: &[u8]) -> (String, String, String) {
    match parse_message(&body(bytes)).unwrap_err() {
        ServiceProtocolError::Field {
            message,
            field,
            problem,
        } => (message.to_owned(), field, problem),
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[test]
fn wrong_field_types_name_the_message_and_the_field() {
    // OpenConnection with an integer connection id.
    let (message, field, problem) = field_error(&[0x96, 0x04, 0x01, 0x80, 0x80, 0xa0, 0x80]);
    assert_eq!(
        (message.as_str(), field.as_str()),
        ("OpenConnection", "connectionId")
    );
    assert_eq!(problem, "must be a string, not an integer");
    // JoinGroupWithAck with a string ack id.
    let (message, field, problem) =
        field_error(&[0x95, 0x12, 0xa1, b'c', 0xa1, b'g', 0xa1, b'1', 0x80]);
    assert_eq!(
        (message.as_str(), field.as_str()),
        ("JoinGroupWithAck", "ackId")
    );
    assert_eq!(problem, "must be an integer, not a string");
    // BroadcastData with a payload value that is a string, not binary.
    let (_, field, problem) = field_error(&[0x94, 0x0a, 0x90, 0x81, 0xa1, b'j', 0xa1, b'x', 0x80]);
    assert_eq!(field, "payloads[0].value");
    assert_eq!(problem, "must be binary, not a string");
    // ConnectionData with a nil connection id.
    let (_, field, problem) = field_error(&[0x94, 0x06, 0xc0, 0xc4, 0x00, 0x80]);
    assert_eq!(
        (field.as_str(), problem.as_str()),
        ("connectionId", "must be a string, not nil")
    );
    // An ack id beyond Int32.
    let (_, field, problem) =
        field_error(&[0x94, 0x18, 0xa1, b'c', 0xcf, 1, 0, 0, 0, 0, 0, 0, 0, 0x80]);
    assert_eq!(
        (field.as_str(), problem.as_str()),
        ("ackId", "is out of range for Int32")
    );
    // A flow-control operation the SDK does not define.
    let (_, field, _) = field_error(&[
        0x95, 0x27, 0xa1, b'c', 0xd2, 0, 0, 0, 1, 0xd2, 0, 0, 0, 9, 0x80,
    ]);
    assert_eq!(field, "operation");
}

#[test]
fn missing_required_fields_are_errors() {
    let (message, field, problem) = field_error(&[0x92, 0x12, 0xa1, b'c']);
    assert_eq!(
        (message.as_str(), field.as_str()),
        ("JoinGroupWithAck", "groupName")
    );
    assert_eq!(problem, "is missing: the array ends before it");
}

#[test]
fn malformed_bodies_are_errors_with_readable_texts() {
    for (bytes, text) in [
        (
            &[][..],
            "Invalid ServiceProtocol message: the message is empty.",
        ),
        (
            &[0x90],
            "Invalid ServiceProtocol message: a message must not be an empty array.",
        ),
        (
            &[0xa1, b'x'],
            "Invalid ServiceProtocol message: a message must be an array, but it must be an array, not a string.",
        ),
        (
            &[0x91, 0xa1, b'x'],
            "Invalid ServiceProtocol message: the message type must be an integer, not a string.",
        ),
    ] {
        assert_eq!(parse_message(&body(bytes)).unwrap_err().to_string(), text);
    }
}

#[test]
fn every_truncation_of_every_message_is_an_error_not_a_panic() {
    let (_, wire) = stream();
    let mut bodies = Vec::new();
    let mut buf = BytesMut::from(&wire[..]);
    while let Some(len) = frame_len(&buf).unwrap() {
        let frame = buf.split_to(len);
        let prefix_len = frame.iter().position(|b| b & 0x80 == 0).unwrap() + 1;
        bodies.push(Bytes::copy_from_slice(&frame[prefix_len..]));
    }
    for whole in bodies {
        if matches!(parse_message(&whole), Ok(ServiceMessage::Unknown { .. })) {
            continue;
        }
        for cut in 0..whole.len() {
            // A cut inside the array either loses required fields or cuts a value in two.
            let result = parse_message(&whole.slice(..cut));
            assert!(
                result.is_err(),
                "cut at {cut} of {whole:02x?} parsed: {result:?}"
            );
        }
    }
}

#[test]
fn group_member_query_responses_round_trip() {
    let response = GroupMemberQueryResponse {
        members: vec![
            GroupMember {
                connection_id: "conn1".into(),
                user_id: Some("user1".into()),
            },
            GroupMember {
                connection_id: "conn2".into(),
                user_id: None,
            },
        ],
        continuation_token: Some("token".into()),
    };
    let bytes = response.encode();
    assert_eq!(
        bytes[..],
        [
            &[0x92, 0x92, 0x92, 0xa5][..],
            b"conn1",
            &[0xa5],
            b"user1",
            &[0x92, 0xa5],
            b"conn2",
            &[0xc0, 0xa5],
            b"token",
        ]
        .concat()[..]
    );
    assert_eq!(GroupMemberQueryResponse::parse(&bytes).unwrap(), response);
    let empty = GroupMemberQueryResponse::default();
    assert_eq!(empty.encode()[..], [0x92, 0x90, 0xc0]);
    assert!(GroupMemberQueryResponse::parse(&Bytes::from_static(&[0x92, 0x91])).is_err());
}

#[test]
fn ping_pairs_are_built_and_looked_up_by_key() {
    let ping = Ping::pairs([("#clientInHub", "3"), ("status", "1")]);
    assert_eq!(ping.messages, ["#clientInHub", "3", "status", "1"]);
    assert_eq!(ping.value("status"), Some("1"));
    assert_eq!(ping.value("3"), None);
    assert_eq!(Ping::default().value("status"), None);
    let message: ServiceMessage = ping.into();
    assert_eq!(message.name(), "Ping");
}
