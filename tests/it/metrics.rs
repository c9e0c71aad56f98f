//! `/metrics` against real traffic: scrape, connect, send, call REST and the upstream, scrape
//! again, and check each number moved by exactly what happened. A client that stops reading
//! shows up as a slow-consumer disconnect.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;
use signalr_emulator::Config;

use crate::common::{MockUpstream, TestServer, WaitUntil};

/// Every sample of a scrape, keyed by `name{labels}` exactly as exposed.
async fn scrape(server: &TestServer) -> HashMap<String, f64> {
    let response = reqwest::get(server.url("/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (key, value) = line.rsplit_once(' ').expect("`name value` lines");
            (key.to_owned(), value.parse().expect("numeric sample"))
        })
        .collect()
}

fn value(samples: &HashMap<String, f64>, key: &str) -> f64 {
    samples.get(key).copied().unwrap_or(0.0)
}

/// Scrapes until `key` reaches `want` (upstream calls finish in the background).
async fn scrape_until(server: &TestServer, key: &str, want: f64) -> HashMap<String, f64> {
    let wait = WaitUntil::new("a scraped sample reaches its value");
    loop {
        let samples = scrape(server).await;
        if value(&samples, key) == want {
            return samples;
        }
        wait.retry().await;
    }
}

/// An upstream that accepts every event but answers 500 to the `fail` method.
async fn upstream() -> String {
    let upstream = MockUpstream::start(|request| async move {
        if request.path.ends_with("/fail") {
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        } else {
            StatusCode::OK.into_response()
        }
    })
    .await;
    upstream.url("/{event}")
}

#[tokio::test]
async fn metrics_move_with_connections_messages_rest_and_upstream_calls() {
    let server = TestServer::with_config(Config {
        upstream_urls: vec![upstream().await],
        ..Config::default()
    })
    .await;
    let before = scrape(&server).await;
    let connections =
        "signalr_connections{hub=\"metered\",transport=\"WebSockets\",protocol=\"json\"}";
    let messages_in = "signalr_messages_in_total{hub=\"metered\"}";
    let messages_out = "signalr_messages_out_total{hub=\"metered\"}";
    let sends = "signalr_rest_requests_total{method=\"POST\",route=\"/api/hubs/{hub}/:send\",status=\"202\"}";
    let missing = "signalr_rest_requests_total{method=\"HEAD\",route=\"/api/hubs/{hub}/connections/{connectionId}\",status=\"404\"}";
    let ok = "signalr_upstream_calls_total{outcome=\"ok\"}";
    let http_error = "signalr_upstream_calls_total{outcome=\"http_error\"}";
    let timed = "signalr_upstream_call_duration_seconds_count";
    assert_eq!(value(&before, connections), 0.0);
    assert_eq!(value(&before, ok), 0.0);

    let (mut client, _id) = server.connect("metered", Some("u1")).await;
    // Its `connected` event goes upstream and succeeds.
    let connected = scrape_until(&server, ok, 1.0).await;
    assert_eq!(value(&connected, connections), 1.0);
    assert_eq!(value(&connected, ok), 1.0);

    client
        .send_text("{\"type\":1,\"target\":\"fail\",\"arguments\":[1]}\x1e")
        .await;
    let response = server
        .rest(
            "POST",
            "/api/hubs/metered/:send?api-version=2024-12-01",
            Some(json!({"target": "news", "arguments": ["hi"]})),
        )
        .await;
    assert_eq!(response.status(), 202);
    assert_eq!(client.next_non_ping().await["target"], "news");
    let response = server
        .rest("HEAD", "/api/hubs/metered/connections/nobody", None)
        .await;
    assert_eq!(response.status(), 404);

    let after = scrape_until(&server, http_error, 1.0).await;
    assert_eq!(value(&after, connections), 1.0);
    assert_eq!(
        value(&after, messages_in) - value(&before, messages_in),
        1.0
    );
    assert_eq!(
        value(&after, messages_out) - value(&before, messages_out),
        1.0
    );
    assert_eq!(value(&after, sends) - value(&before, sends), 1.0);
    assert_eq!(value(&after, missing) - value(&before, missing), 1.0);
    assert_eq!(value(&after, ok), 1.0);
    assert_eq!(value(&after, http_error), 1.0);
    assert_eq!(value(&after, timed), 2.0);
    assert_eq!(
        value(
            &after,
            "signalr_upstream_call_duration_seconds_bucket{le=\"+Inf\"}"
        ),
        2.0
    );

    // The gauge drops when the client leaves; the counters keep what it did.
    drop(client);
    let gone = scrape_until(&server, connections, 0.0).await;
    assert_eq!(value(&gone, connections), 0.0);
    assert_eq!(value(&gone, messages_in), value(&after, messages_in));
    assert_eq!(value(&gone, messages_out), value(&after, messages_out));
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_counts_as_a_slow_consumer_disconnect() {
    let server = TestServer::with_send_queue(2).await;
    let slow = "signalr_slow_consumer_disconnects_total{hub=\"sluggish\"}";
    let (client, id) = server.connect("sluggish", None).await;
    // Large messages fill the socket buffers quickly; then the queue of 2 overflows.
    server
        .flood(&format!("/api/hubs/sluggish/connections/{id}/:send"))
        .await;
    // The server closes it as slow even though the client still holds its socket open without
    // reading: the blocked write is abandoned and the connection leaves the hub.
    let samples = scrape_until(&server, slow, 1.0).await;
    assert_eq!(value(&samples, slow), 1.0);
    let gone = server
        .rest(
            "HEAD",
            &format!("/api/hubs/sluggish/connections/{id}"),
            None,
        )
        .await;
    assert_eq!(gone.status(), 404);
    drop(client);
    server.stop().await;
}
