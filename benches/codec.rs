//! JSON hub-protocol codec: encoding and parsing of every message type, and the handshake; and
//! the ServiceProtocol codec on the fan-out message app servers send most (BroadcastData).
//! MessagePack benches belong here too once the server speaks MessagePack (`protocol::msgpack`
//! lands on its own branch): add a `messagepack` group mirroring `json_encode`/`json_parse`.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use signalr_emulator::protocol::handshake;
use signalr_emulator::protocol::service::{self, BroadcastData, Extensions, ServiceMessage};
use signalr_emulator::protocol::{
    Close, Completion, CompletionResult, Headers, HubMessage, Invocation, json,
};

/// A 64-byte argument, the size the fan-out benchmarks use.
const ARGUMENT: &str = "@123:4567890123:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

/// One message of each type, named.
fn messages() -> Vec<(&'static str, HubMessage)> {
    let headers: Headers = [("traceparent".to_owned(), "00-abc-def-01".to_owned())].into();
    vec![
        (
            "invocation_send",
            HubMessage::Invocation(Invocation::send("newMessage", vec![json!(ARGUMENT)])),
        ),
        (
            "invocation_blocking",
            HubMessage::Invocation(Invocation {
                invocation_id: Some("42".into()),
                headers: headers.clone(),
                ..Invocation::send(
                    "echo",
                    vec![json!(ARGUMENT), json!(7), json!({"a": [1, 2]})],
                )
            }),
        ),
        (
            "stream_item",
            HubMessage::StreamItem {
                invocation_id: "42".into(),
                item: json!(ARGUMENT),
                headers: Headers::new(),
            },
        ),
        (
            "completion_result",
            HubMessage::Completion(Completion {
                invocation_id: "42".into(),
                result: CompletionResult::Value(json!({"ok": true, "text": ARGUMENT})),
                headers: Headers::new(),
            }),
        ),
        (
            "completion_error",
            HubMessage::Completion(Completion::error("42", "boom")),
        ),
        (
            "stream_invocation",
            HubMessage::StreamInvocation(Invocation {
                invocation_id: Some("43".into()),
                stream_ids: Some(vec!["1".into()]),
                ..Invocation::send("counter", vec![json!(10)])
            }),
        ),
        (
            "cancel_invocation",
            HubMessage::CancelInvocation {
                invocation_id: "43".into(),
                headers: Headers::new(),
            },
        ),
        ("ping", HubMessage::Ping),
        (
            "close",
            HubMessage::Close(Close {
                error: Some("bye".into()),
                allow_reconnect: true,
            }),
        ),
        ("ack", HubMessage::Ack { sequence_id: 1234 }),
        ("sequence", HubMessage::Sequence { sequence_id: 1234 }),
    ]
}

fn json_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("json_encode");
    group.throughput(Throughput::Elements(1));
    for (name, message) in messages() {
        group.bench_function(name, |b| b.iter(|| json::encode(black_box(&message))));
    }
    group.finish();
}

fn json_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("json_parse");
    group.throughput(Throughput::Elements(1));
    for (name, message) in messages() {
        let framed = json::encode(&message);
        let bytes = json::unframed(&framed);
        group.bench_function(name, |b| b.iter(|| json::parse(black_box(&bytes))));
    }
    group.finish();
}

fn handshake_parse(c: &mut Criterion) {
    let request = br#"{"protocol":"json","version":1}"#;
    c.bench_function("handshake_parse", |b| {
        b.iter(|| handshake::parse_request(black_box(request)))
    });
}

/// A BroadcastData as the SDK sends it: a 100-byte frame for each of the two hub protocols.
fn service_broadcast() -> ServiceMessage {
    ServiceMessage::BroadcastData(BroadcastData {
        excluded: Vec::new(),
        payloads: [
            ("json", Bytes::from(vec![b'j'; 100])),
            ("messagepack", Bytes::from(vec![b'm'; 100])),
        ]
        .into_iter()
        .collect(),
        ext: Extensions::default(),
    })
}

fn service_protocol(c: &mut Criterion) {
    let mut group = c.benchmark_group("service_protocol");
    group.throughput(Throughput::Elements(1));
    let message = service_broadcast();
    group.bench_function("broadcast_100b_write", |b| {
        b.iter(|| service::encode_frame(black_box(&message)))
    });
    let frame = service::encode_frame(&message);
    group.bench_function("broadcast_100b_parse", |b| {
        b.iter(|| service::parse_frame(black_box(&frame)))
    });
    group.finish();
}

criterion_group!(
    benches,
    json_encode,
    json_parse,
    handshake_parse,
    service_protocol
);
criterion_main!(benches);
