//! JSON hub-protocol codec: encoding and parsing of every message type, and the handshake.
//! MessagePack benches belong here too once the server speaks MessagePack (`protocol::msgpack`
//! lands on its own branch): add a `messagepack` group mirroring `json_encode`/`json_parse`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use signalr_emulator::protocol::handshake;
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

criterion_group!(benches, json_encode, json_parse, handshake_parse);
criterion_main!(benches);
