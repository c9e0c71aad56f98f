//! Properties both codecs must have, checked through the generic entry points: arbitrary bytes in
//! arbitrary chunks never panic or stall the reader, every message round-trips, chunking plays no
//! role, and JSON values survive the trip through MessagePack.

use bytes::BytesMut;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::{
    Close, Completion, CompletionResult, Headers, HubMessage, Invocation, Protocol, ProtocolError,
    encode, next_frame, parse,
};

const PROTOCOLS: [Protocol; 2] = [Protocol::Json, Protocol::MessagePack];

/// What a reader makes of a byte stream: the messages (or errors) in order.
type Outcome = Vec<Result<Option<HubMessage>, ProtocolError>>;

/// Feeds `chunks` one by one and takes every complete message off the buffer, as a transport
/// does. Stops at the first framing error, after which a connection is closed.
fn read_chunks<'a>(protocol: Protocol, chunks: impl IntoIterator<Item = &'a [u8]>) -> Outcome {
    let mut buf = BytesMut::new();
    let mut outcome = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            let before = buf.clone();
            match next_frame(protocol, &mut buf) {
                Ok(Some(frame)) => {
                    assert!(buf.len() < before.len(), "a frame must consume bytes");
                    outcome.push(parse(protocol, &frame));
                }
                Ok(None) => {
                    assert_eq!(buf, before, "an incomplete frame must consume nothing");
                    break;
                }
                Err(err) => {
                    outcome.push(Err(err));
                    return outcome;
                }
            }
        }
    }
    outcome
}

/// Cuts `bytes` at the given positions (taken modulo its length).
fn split_at<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for cut in cuts {
        chunks.push(&bytes[start..cut]);
        start = cut;
    }
    chunks.push(&bytes[start..]);
    chunks
}

fn text() -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..8).prop_map(String::from_iter)
}

fn id() -> impl Strategy<Value = String> {
    vec(any::<char>(), 1..8).prop_map(String::from_iter)
}

/// Floats whose shortest decimal form serde_json parses back exactly (it does not promise that
/// for every f64), so both codecs can be held to exact equality.
fn float() -> impl Strategy<Value = f64> {
    (-(1_i32 << 20)..(1 << 20), 0..10_i32).prop_map(|(m, e)| f64::from(m) / 2_f64.powi(e))
}

/// JSON values as they survive the MessagePack mapping: no binary, no ext, finite numbers.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        float().prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map(text(), inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn headers() -> impl Strategy<Value = Headers> {
    btree_map(text(), text(), 0..3)
}

fn invocation(streaming: bool) -> impl Strategy<Value = Invocation> {
    let invocation_id = if streaming {
        id().prop_map(Some).boxed()
    } else {
        proptest::option::of(id()).boxed()
    };
    (
        invocation_id,
        id(),
        vec(value(), 0..4),
        // MessagePack writes "no streams" as `[]`, so an empty list is the same as none.
        proptest::option::of(vec(id(), 1..3)),
        headers(),
    )
        .prop_map(
            |(invocation_id, target, arguments, stream_ids, headers)| Invocation {
                invocation_id,
                target,
                arguments,
                stream_ids,
                headers,
            },
        )
}

fn message() -> impl Strategy<Value = HubMessage> {
    let result = prop_oneof![
        Just(CompletionResult::Void),
        value().prop_map(CompletionResult::Value),
        text().prop_map(CompletionResult::Error),
    ];
    prop_oneof![
        invocation(false).prop_map(HubMessage::Invocation),
        (id(), value(), headers()).prop_map(|(invocation_id, item, headers)| {
            HubMessage::StreamItem {
                invocation_id,
                item,
                headers,
            }
        }),
        (id(), result, headers()).prop_map(|(invocation_id, result, headers)| {
            HubMessage::Completion(Completion {
                invocation_id,
                result,
                headers,
            })
        }),
        invocation(true).prop_map(HubMessage::StreamInvocation),
        (id(), headers()).prop_map(|(invocation_id, headers)| HubMessage::CancelInvocation {
            invocation_id,
            headers,
        }),
        Just(HubMessage::Ping),
        (proptest::option::of(text()), any::<bool>()).prop_map(|(error, allow_reconnect)| {
            HubMessage::Close(Close {
                error,
                allow_reconnect,
            })
        }),
        any::<u64>().prop_map(|sequence_id| HubMessage::Ack { sequence_id }),
        any::<u64>().prop_map(|sequence_id| HubMessage::Sequence { sequence_id }),
    ]
}

fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![Just(Protocol::Json), Just(Protocol::MessagePack)]
}

fn wire(protocol: Protocol, messages: &[HubMessage]) -> Vec<u8> {
    messages
        .iter()
        .flat_map(|m| encode(protocol, m).to_vec())
        .collect()
}

fn as_parsed(messages: &[HubMessage]) -> Outcome {
    messages.iter().cloned().map(Some).map(Ok).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_bytes_in_random_chunks_never_panic_or_stall(
        protocol in protocol(),
        bytes in vec(any::<u8>(), 0..256),
        cuts in vec(any::<usize>(), 0..6),
    ) {
        read_chunks(protocol, split_at(&bytes, &cuts));
    }

    #[test]
    fn random_message_bodies_never_panic(bytes in vec(any::<u8>(), 0..128)) {
        // Unframed: random framing rarely lets a body through, this feeds the parsers directly.
        let _ = parse(Protocol::MessagePack, &bytes);
        let _ = parse(Protocol::Json, &bytes);
    }

    #[test]
    fn corrupted_encodings_never_panic(
        protocol in protocol(),
        message in message(),
        flips in vec((any::<usize>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = encode(protocol, &message).to_vec();
        for (at, byte) in flips {
            let at = at % bytes.len();
            bytes[at] = byte;
        }
        read_chunks(protocol, [&bytes[..]]);
    }

    #[test]
    fn every_message_round_trips(protocol in protocol(), message in message()) {
        let bytes = encode(protocol, &message);
        prop_assert_eq!(read_chunks(protocol, [&bytes[..]]), as_parsed(&[message]));
    }

    #[test]
    fn chunking_plays_no_role(
        protocol in protocol(),
        messages in vec(message(), 1..4),
        cuts in vec(any::<usize>(), 0..8),
    ) {
        let bytes = wire(protocol, &messages);
        prop_assert_eq!(read_chunks(protocol, split_at(&bytes, &cuts)), as_parsed(&messages));
    }
}

#[test]
fn messages_split_at_every_byte_reassemble() {
    let messages = [
        HubMessage::Invocation(Invocation {
            invocation_id: Some("1".into()),
            target: "send".into(),
            arguments: vec![json!({"text": "x".repeat(200)}), json!([1, -2, 3.5])],
            stream_ids: Some(vec!["2".into()]),
            headers: Headers::from([("a".into(), "b".into())]),
        }),
        HubMessage::Ping,
        HubMessage::Completion(Completion::error("1", "boom")),
    ];
    for protocol in PROTOCOLS {
        let bytes = wire(protocol, &messages);
        for cut in 0..=bytes.len() {
            assert_eq!(
                read_chunks(protocol, [&bytes[..cut], &bytes[cut..]]),
                as_parsed(&messages),
                "{protocol:?} cut at {cut}"
            );
        }
    }
}

#[test]
fn rest_arguments_of_every_kind_cross_into_messagepack_unchanged() {
    let body = r#"{"target":"update","arguments":[
        0, 1, -1, 127, 128, -33, 255, 65536, -2147483649,
        9007199254740993, 18446744073709551615, -9223372036854775808,
        0.5, -1.25, 3.141592653589793, 1e300, -2.5e-308,
        "", "plain", "héllo wörld 🌍 日本語 \u0000 \"quoted\"",
        null, true, false,
        [], [1, "two", [3, null], {"four": 4}],
        {}, {"nested": {"deeper": {"list": [1.5, "x", false]}, "n": -7}, "emoji 😀": null}
    ]}"#;
    let payload: Value = serde_json::from_str(body).unwrap();
    let arguments = payload["arguments"].as_array().unwrap().clone();
    let message = HubMessage::Invocation(Invocation::send("update", arguments.clone()));
    for protocol in PROTOCOLS {
        let parsed = read_chunks(protocol, [&encode(protocol, &message)[..]]);
        let [Ok(Some(HubMessage::Invocation(inv)))] = &parsed[..] else {
            panic!("{protocol:?}: {parsed:?}")
        };
        assert_eq!(inv.arguments, arguments, "{protocol:?}");
        assert_eq!(inv.invocation_id, None);
    }
}
