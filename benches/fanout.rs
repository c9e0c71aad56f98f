//! The encode-once fan-out path: `hub::deliver` of one message to N connections (one encoding,
//! one `try_send` of shared bytes per connection). Only the delivery is timed; the queues are
//! drained between iterations, untimed, as the connections' writers would.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use signalr_emulator::hub::{self, Connection, ConnectionHandle, Outbox};
use signalr_emulator::protocol::{Encoded, HubMessage, Invocation, Protocol};
use tokio_util::sync::CancellationToken;

/// The emulator's default `--send-queue`.
const QUEUE: usize = 1024;
const ARGUMENT: &str = "@123:4567890123:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

fn connections(n: usize, shutdown: &CancellationToken) -> (Vec<ConnectionHandle>, Vec<Outbox>) {
    (0..n)
        .map(|i| {
            Connection::new(
                Arc::from(format!("conn{i}")),
                Arc::from("bench"),
                Some(Arc::from(format!("user{i}"))),
                Protocol::Json,
                "WebSockets",
                QUEUE,
                shutdown,
            )
        })
        .unzip()
}

fn deliver(c: &mut Criterion) {
    let shutdown = CancellationToken::new();
    let mut group = c.benchmark_group("fanout_deliver");
    for n in [100, 2_000, 10_000] {
        let (targets, mut outboxes) = connections(n, &shutdown);
        let message = HubMessage::Invocation(Invocation::send("m", vec![json!(ARGUMENT)]));
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter_custom(|iterations| {
                let mut timed = Duration::ZERO;
                for _ in 0..iterations {
                    let encoded = Encoded::new(message.clone());
                    let start = Instant::now();
                    black_box(hub::deliver(&targets, &encoded));
                    timed += start.elapsed();
                    for outbox in &mut outboxes {
                        while outbox.frames.try_recv().is_ok() {}
                    }
                }
                timed
            });
        });
    }
    group.finish();
}

criterion_group!(benches, deliver);
criterion_main!(benches);
