//! `--upstream-max-calls`: a hung upstream holds at most that many calls; the invocations
//! beyond it fail at once with a Completion error that says why.

use axum::http::StatusCode;
use axum::response::IntoResponse;
use signalr_emulator::Config;
use tokio::sync::watch;

use crate::common::{MockUpstream, TestServer, WaitUntil};

/// An upstream that answers connection events at once and holds every message until
/// `release` is sent.
async fn hung_upstream() -> (MockUpstream, watch::Sender<bool>) {
    let (release, released) = watch::channel(false);
    let upstream = MockUpstream::start(move |request| {
        let mut released = released.clone();
        async move {
            if request.path.starts_with("/messages/") {
                let _ = released.wait_for(|done| *done).await;
            }
            StatusCode::NO_CONTENT.into_response()
        }
    })
    .await;
    (upstream, release)
}

fn invoke(id: &str) -> String {
    format!("{{\"type\":1,\"invocationId\":\"{id}\",\"target\":\"slow\",\"arguments\":[]}}\x1e")
}

#[tokio::test]
async fn invocations_beyond_the_limit_fail_at_once() {
    let (upstream, release) = hung_upstream().await;
    let server = TestServer::with_config(Config {
        upstream_urls: vec![upstream.url("/{category}/{event}")],
        upstream_max_calls: 2,
        ..Config::default()
    })
    .await;
    let mut holders = Vec::new();
    for n in 0..2 {
        let (mut client, _) = server.connect("chat", None).await;
        client.send_text(&invoke(&n.to_string())).await;
        holders.push(client);
    }
    // Both calls reach the upstream (connection events are answered at once).
    let wait = WaitUntil::new("both invocations reach the upstream");
    let held = || {
        upstream
            .received()
            .iter()
            .filter(|r| r.path.starts_with("/messages/"))
            .count()
    };
    while held() < 2 {
        wait.retry().await;
    }
    let (mut third, _) = server.connect("chat", None).await;
    third.send_text(&invoke("late")).await;
    let answer = third.next_non_ping().await;
    assert_eq!(answer["type"], 3, "{answer}");
    assert_eq!(answer["invocationId"], "late");
    assert_eq!(
        answer["error"],
        "Invocation failed, 2 upstream calls are already in flight (--upstream-max-calls); try again when the upstream answers."
    );
    // The held calls end normally once the upstream answers.
    release.send(true).unwrap();
    for client in &mut holders {
        let done = client.next_non_ping().await;
        assert_eq!(done["type"], 3, "{done}");
        assert!(done.get("error").is_none(), "{done}");
    }
    server.stop().await;
}
