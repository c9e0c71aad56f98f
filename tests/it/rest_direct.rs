//! The direct lane (`api/direct.rs`) answers a send to a connection as the router does: the same
//! status, headers and error body, the same delivery, the same counts in `/metrics`. A
//! connection id with a percent-escape in its path takes the router, so every case is sent both
//! ways and the answers compared.

use serde_json::{Value, json};

use crate::common::{TestServer, now, token};

/// The three send-to-connection templates, as paths to `id` in hub `chat`.
fn paths(id: &str) -> [String; 3] {
    [
        format!("/api/v1/hubs/chat/connections/{id}"),
        format!("/api/hubs/chat/connections/{id}"),
        format!("/api/hubs/chat/connections/{id}/:send"),
    ]
}

/// `id` with its first (ASCII) character percent-escaped: the same name in a path the lane
/// leaves to the router.
fn escaped(id: &str) -> String {
    format!("%{:02X}{}", id.as_bytes()[0], &id[1..])
}

/// What a client can see of an answer: status, headers (but the date) and body.
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

/// A request the way it varies between cases.
struct Call<'a> {
    path: &'a str,
    token: bool,
    content_type: &'a str,
    body: &'a str,
}

async fn answer(server: &TestServer, call: Call<'_>) -> Answer {
    let mut request = reqwest::Client::new()
        .post(server.url(call.path))
        .header("Origin", "http://page.example")
        .header("Content-Type", call.content_type)
        .body(call.body.to_owned());
    if call.token {
        let aud = format!("http://localhost{}", call.path);
        request = request.bearer_auth(token(json!({"aud": aud, "exp": now() + 60})));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let mut headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(name, _)| *name != "date")
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
        .collect();
    headers.sort();
    let body = response.text().await.unwrap();
    Answer {
        status,
        headers,
        body,
    }
}

#[tokio::test]
async fn the_direct_lane_answers_every_case_as_the_router_does() {
    let server = TestServer::start().await;
    let (mut client, id) = server.connect("chat", None).await;
    let message = r#"{"target":"m","arguments":[1]}"#;
    let too_long = "c".repeat(1025);
    let cases = [
        ("delivered", id.as_str(), true, "application/json", message),
        ("no token", id.as_str(), false, "application/json", message),
        ("not JSON", id.as_str(), true, "application/json", "{"),
        ("no target", id.as_str(), true, "application/json", "{}"),
        ("media type", id.as_str(), true, "text/plain", message),
        ("not connected", "nobody", true, "application/json", message),
        (
            "id too long",
            too_long.as_str(),
            true,
            "application/json",
            message,
        ),
    ];
    let mut delivered = 0;
    for (case, to, token, content_type, body) in cases {
        for (direct, routed) in paths(to).iter().zip(paths(&escaped(to))) {
            let direct_answer = answer(
                &server,
                Call {
                    path: direct,
                    token,
                    content_type,
                    body,
                },
            )
            .await;
            let routed_answer = answer(
                &server,
                Call {
                    path: &routed,
                    token,
                    content_type,
                    body,
                },
            )
            .await;
            assert_eq!(
                direct_answer, routed_answer,
                "{case}: {direct} and {routed}"
            );
            assert!(
                direct_answer
                    .headers
                    .iter()
                    .any(|(name, value)| name == "access-control-allow-origin" && value == "*"),
                "{case}: {direct_answer:?}"
            );
            if direct_answer.status == 202 && to == id {
                delivered += 2;
            }
        }
    }
    assert_eq!(delivered, 6, "both lanes of the three paths deliver");
    for _ in 0..delivered {
        let got: Value = client.next_non_ping().await;
        assert_eq!(
            (&got["target"], &got["arguments"]),
            (&json!("m"), &json!([1]))
        );
    }
    for template in paths("{connectionId}") {
        let route = template.replace("/chat/", "/{hub}/");
        // 202: delivered and not connected, each by both lanes.
        server
            .wait_for_sample(&format!(
                "signalr_rest_requests_total{{method=\"POST\",route=\"{route}\",status=\"202\"}} 4"
            ))
            .await;
        server
            .wait_for_sample(&format!(
                "signalr_rest_requests_total{{method=\"POST\",route=\"{route}\",status=\"401\"}} 2"
            ))
            .await;
    }
    server.stop().await;
}
