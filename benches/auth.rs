//! Token verification, which every negotiate, WebSocket connect and REST call pays once:
//! `Verifier::verify` for a client token and a REST token in strict mode, and in relaxed mode.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use signalr_emulator::auth::{Audience, AuthMode, Verifier, issue_token, unix_now};
use signalr_emulator::cli::DEFAULT_ACCESS_KEY;

fn verify(c: &mut Criterion) {
    let now = unix_now();
    let keys = vec![DEFAULT_ACCESS_KEY.to_owned()];
    let strict = Verifier::new(keys.clone(), AuthMode::Strict);
    let relaxed = Verifier::new(keys, AuthMode::Relaxed);
    let client = issue_token(
        DEFAULT_ACCESS_KEY,
        &json!({"aud": "http://localhost:8888/client/?hub=bench", "nameid": "user1",
                "iat": now, "nbf": now, "exp": now + 3600}),
    );
    let path = "/api/v1/hubs/bench/connections/abc";
    let rest = issue_token(
        DEFAULT_ACCESS_KEY,
        &json!({"aud": format!("http://localhost:8888{path}"), "iat": now, "exp": now + 3600}),
    );
    let hub = Audience::Client { hub: "bench" };
    let rest_audience = Audience::Rest { path };

    let mut group = c.benchmark_group("verify");
    group.bench_function("client_strict", |b| {
        b.iter(|| strict.verify(black_box(Some(&client)), &hub, now))
    });
    group.bench_function("rest_strict", |b| {
        b.iter(|| strict.verify(black_box(Some(&rest)), &rest_audience, now))
    });
    group.bench_function("client_relaxed", |b| {
        b.iter(|| relaxed.verify(black_box(Some(&client)), &hub, now))
    });
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
