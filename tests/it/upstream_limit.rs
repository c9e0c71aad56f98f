//! `--upstream-max-calls`: a hung upstream holds at most that many calls; the invocations
//! beyond it fail at once with a Completion error that says why.

use std::time::Duration;

use signalr_emulator::Config;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::common::TestServer;

/// An upstream that answers connection events at once and holds every message until
/// `release` is sent.
async fn hung_upstream() -> (String, watch::Sender<bool>) {
    let (release, released) = watch::channel(false);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route(
            "/messages/{event}",
            axum::routing::post(move || {
                let mut released = released.clone();
                async move {
                    let _ = released.wait_for(|done| *done).await;
                    axum::http::StatusCode::NO_CONTENT
                }
            }),
        )
        .fallback(|| async { axum::http::StatusCode::NO_CONTENT });
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/{{category}}/{{event}}"), release)
}

fn invoke(id: &str) -> String {
    format!("{{\"type\":1,\"invocationId\":\"{id}\",\"target\":\"slow\",\"arguments\":[]}}\x1e")
}

#[tokio::test]
async fn invocations_beyond_the_limit_fail_at_once() {
    let (url, release) = hung_upstream().await;
    let server = TestServer::with_config(Config {
        upstream_urls: vec![url],
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
    // Let both calls reach the upstream (connection events are answered at once).
    tokio::time::sleep(Duration::from_millis(300)).await;
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
