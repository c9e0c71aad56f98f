//! CORS per surface: only the client endpoint answers another origin with credentials allowed;
//! the REST API allows any origin without credentials; `/metrics` answers no origin at all.
//! (The client endpoint's policy is tested in `negotiate`.)

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::json;

use crate::common::{TestServer, now, token};

const ORIGIN: &str = "http://evil.example";

async fn request(server: &TestServer, method: Method, path: &str, preflight: bool) -> HeaderMap {
    let mut request = reqwest::Client::new()
        .request(method, server.url(path))
        .header("Origin", ORIGIN);
    if preflight {
        request = request
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization,content-type",
            );
    } else {
        let aud = format!("http://localhost{path}");
        request = request
            .bearer_auth(token(json!({"aud": aud, "exp": now() + 60})))
            .json(&json!({"target": "m", "arguments": []}));
    }
    let response = request.send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.headers().clone()
}

#[tokio::test]
async fn rest_allows_any_origin_without_credentials() {
    let server = TestServer::start().await;
    for preflight in [true, false] {
        let method = if preflight {
            Method::OPTIONS
        } else {
            Method::POST
        };
        let headers = request(&server, method, "/api/v1/hubs/chat", preflight).await;
        assert_eq!(headers["access-control-allow-origin"], "*", "{headers:?}");
        assert!(
            headers.get("access-control-allow-credentials").is_none(),
            "{headers:?}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn metrics_answer_no_other_origin() {
    let server = TestServer::start().await;
    for (method, preflight) in [(Method::GET, false), (Method::OPTIONS, true)] {
        let response = reqwest::Client::new()
            .request(method.clone(), server.url("/metrics"))
            .header("Origin", ORIGIN)
            .header("Access-Control-Request-Method", "GET")
            .send()
            .await
            .unwrap();
        let headers = response.headers();
        assert!(
            headers.get("access-control-allow-origin").is_none()
                && headers.get("access-control-allow-credentials").is_none(),
            "{method} (preflight: {preflight}): {headers:?}"
        );
    }
    server.stop().await;
}
