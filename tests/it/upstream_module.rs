//! The upstream module against a real HTTP upstream on 127.0.0.1: signed events with their
//! headers and bodies, the mapping of failures to client texts, timeouts, unreachable hosts
//! and hot reload of settings.json.

use std::path::Path;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use signalr_emulator::Config;
use signalr_emulator::cli::DEFAULT_ACCESS_KEY;
use signalr_emulator::upstream::{EventKind, Upstream, UpstreamEvent, UpstreamOutcome};
use tokio_util::sync::CancellationToken;

use crate::common::{MockUpstream, Received, WAIT, WaitUntil};

/// A webhook receiver that checks signatures as the Azure Functions extension does, trusting
/// `key`.
async fn signed_upstream(key: &str) -> MockUpstream {
    let key = key.to_owned();
    MockUpstream::start(move |request| answer(key.clone(), request)).await
}

/// Any `sha256=` entry equal (hex case-insensitively) to HMAC-SHA256(key, connection id).
fn signature_valid(key: &str, headers: &HeaderMap) -> bool {
    let (Some(id), Some(signature)) = (
        headers.get("x-asrs-connection-id"),
        headers.get("x-asrs-signature"),
    ) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(id.as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    signature.to_str().unwrap().split(',').any(|entry| {
        entry
            .trim()
            .strip_prefix("sha256=")
            .is_some_and(|hex| hex.eq_ignore_ascii_case(&expected))
    })
}

/// What the receiver answers: 401 to a bad signature, 404 under `/missing`, late under
/// `/slow`, the Completion of an invocation (its first argument as the result), else 204.
async fn answer(key: String, request: Received) -> Response {
    let Received {
        path,
        headers,
        body,
    } = request;
    if !signature_valid(&key, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if path.starts_with("/missing") {
        return StatusCode::NOT_FOUND.into_response();
    }
    if path.starts_with("/slow") {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    let json = headers
        .get("content-type")
        .is_some_and(|v| v == "application/json");
    if headers
        .get("x-asrs-category")
        .is_some_and(|v| v == "messages")
        && json
    {
        let message: serde_json::Value = serde_json::from_slice(&body).unwrap();
        if let Some(id) = message["invocationId"].as_str() {
            let result = &message["arguments"][0];
            return format!("{{\"type\":3,\"invocationId\":\"{id}\",\"result\":{result}}}\x1e")
                .into_response();
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

fn event<'a>(kind: EventKind<'a>, claims: &'a [(String, String)]) -> UpstreamEvent<'a> {
    UpstreamEvent {
        hub: "chat",
        connection_id: "conn-1",
        user_id: Some("alice"),
        claims,
        client_query: "?hub=chat&id=tok",
        kind,
    }
}

fn upstream(config: Config) -> Upstream {
    Upstream::from_config(&config)
        .unwrap()
        .expect("an upstream is configured")
}

fn with_url(url: String) -> Config {
    Config {
        upstream_urls: vec![url],
        ..Config::default()
    }
}

#[tokio::test]
async fn events_reach_the_upstream_signed_with_their_headers_and_bodies() {
    // The upstream trusts only the secondary key: one matching entry is enough.
    let server = signed_upstream("secondary").await;
    let upstream = upstream(Config {
        access_keys: vec![DEFAULT_ACCESS_KEY.to_owned(), "secondary".to_owned()],
        ..with_url(server.url("/api/{hub}/{category}/{event}"))
    });
    let claims = [
        ("nameid".to_owned(), "alice".to_owned()),
        ("role".to_owned(), "admin".to_owned()),
    ];

    let outcome = upstream.call(event(EventKind::Connected, &claims)).await;
    assert_eq!(outcome, UpstreamOutcome::Empty);
    let got = server.last();
    assert_eq!(got.path, "/api/chat/connections/connected");
    assert_eq!(got.header("x-asrs-connection-id"), Some("conn-1"));
    assert_eq!(got.header("x-asrs-hub"), Some("chat"));
    assert_eq!(got.header("x-asrs-category"), Some("connections"));
    assert_eq!(got.header("x-asrs-event"), Some("connected"));
    assert_eq!(got.header("x-asrs-user-id"), Some("alice"));
    assert_eq!(
        got.header("x-asrs-user-claims"),
        Some("nameid: alice, role: admin")
    );
    assert_eq!(got.header("x-asrs-client-query"), Some("?hub=chat&id=tok"));
    assert_eq!(
        got.header("x-asrs-signature").unwrap().split(',').count(),
        2
    );
    assert_eq!(got.header("content-type"), Some("application/json"));
    assert_eq!(&got.body[..], br#"{"type":10}"#);

    let outcome = upstream
        .call(event(
            EventKind::Disconnected {
                error: Some("Connection closed with an error."),
            },
            &claims,
        ))
        .await;
    assert_eq!(outcome, UpstreamOutcome::Empty);
    let got = server.last();
    assert_eq!(got.path, "/api/chat/connections/disconnected");
    assert_eq!(
        &got.body[..],
        br#"{"type":11,"error":"Connection closed with an error."}"#
    );

    let invocation = br#"{"type":1,"invocationId":"7","target":"echo","arguments":["hi"]}"#;
    let outcome = upstream
        .call(event(
            EventKind::Message {
                target: "echo",
                body: Bytes::from_static(invocation),
                msgpack: false,
            },
            &[],
        ))
        .await;
    assert_eq!(
        outcome,
        UpstreamOutcome::Body(Bytes::from_static(
            b"{\"type\":3,\"invocationId\":\"7\",\"result\":\"hi\"}\x1e"
        ))
    );
    let got = server.last();
    assert_eq!(got.path, "/api/chat/messages/echo");
    assert_eq!(got.header("x-asrs-user-claims"), None);
    assert_eq!(&got.body[..], invocation);

    // [1, {}, nil, "Send It", ["x"]] without the VarInt length prefix.
    let packed: &[u8] = b"\x95\x01\x80\xc0\xa7Send It\x91\xa1x";
    let outcome = upstream
        .call(event(
            EventKind::Message {
                target: "Send It",
                body: Bytes::from_static(packed),
                msgpack: true,
            },
            &[],
        ))
        .await;
    assert_eq!(outcome, UpstreamOutcome::Empty);
    let got = server.last();
    assert_eq!(got.path, "/api/chat/messages/Send%20It");
    assert_eq!(got.header("x-asrs-event"), Some("Send It"));
    assert_eq!(got.header("content-type"), Some("application/x-msgpack"));
    assert_eq!(&got.body[..], packed);
}

#[tokio::test]
async fn refusals_become_completion_errors() {
    let server = signed_upstream(DEFAULT_ACCESS_KEY).await;
    let missing = upstream(with_url(server.url("/missing")));
    assert_eq!(
        missing.call(event(EventKind::Connected, &[])).await,
        UpstreamOutcome::Failed("Invocation failed, status code 404".into())
    );

    let wrong_key = upstream(Config {
        access_keys: vec!["not-the-key".to_owned()],
        ..with_url(server.url("/api"))
    });
    assert_eq!(
        wrong_key.call(event(EventKind::Connected, &[])).await,
        UpstreamOutcome::Failed("Invocation failed, status code 401".into())
    );
}

#[tokio::test]
async fn a_slow_upstream_times_out() {
    let server = signed_upstream(DEFAULT_ACCESS_KEY).await;
    let slow = upstream(Config {
        upstream_timeout: Duration::from_millis(300),
        ..with_url(server.url("/slow"))
    });
    let started = Instant::now();
    let outcome = slow.call(event(EventKind::Connected, &[])).await;
    assert!(started.elapsed() < WAIT);
    assert_eq!(
        outcome,
        UpstreamOutcome::Failed(
            "Invocation failed, the upstream did not answer within 0.3 s.".into()
        )
    );
}

#[tokio::test]
async fn an_unreachable_upstream_fails_fast() {
    let closed = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let unreachable = upstream(with_url(format!("http://{closed}/api")));
    let outcome = tokio::time::timeout(WAIT, unreachable.call(event(EventKind::Connected, &[])))
        .await
        .expect("a refused connection is reported at once");
    match outcome {
        UpstreamOutcome::Failed(text) => {
            assert!(text.starts_with("Invocation failed, error: "), "{text}");
            assert!(text.to_lowercase().contains("refused"), "{text}");
            assert!(text.ends_with('.'), "{text}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn write_settings(file: &Path, url: &str) {
    let text = format!(
        r#"{{"UpstreamSettings":{{"Templates":[{{"UrlTemplate":"{url}","HubPattern":"chat"}}]}}}}"#
    );
    // Replace the file as editors do: write a sibling, then rename over it.
    let temporary = file.with_extension("tmp");
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(&temporary, file).unwrap();
}

#[tokio::test]
async fn settings_changes_are_hot_reloaded() {
    let server = signed_upstream(DEFAULT_ACCESS_KEY).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("settings.json");
    write_settings(&file, &server.url("/first/{event}"));
    let upstream = upstream(Config {
        settings_file: Some(file.clone()),
        ..Config::default()
    });
    let shutdown = CancellationToken::new();
    upstream.watch(shutdown.clone());

    assert!(upstream.matches("chat", "connections", "connected"));
    assert!(!upstream.matches("news", "connections", "connected"));
    assert_eq!(
        upstream.call(event(EventKind::Connected, &[])).await,
        UpstreamOutcome::Empty
    );
    assert_eq!(server.last().path, "/first/connected");

    write_settings(&file, &server.url("/second/{event}"));
    let wait = WaitUntil::within(Duration::from_secs(10), "the new URL is picked up");
    loop {
        upstream.call(event(EventKind::Connected, &[])).await;
        if server.last().path == "/second/connected" {
            break;
        }
        wait.retry().await;
    }
    shutdown.cancel();
}
