//! Forwards a client-endpoint request (an SSE stream, a long poll, a POST send, a DELETE) that
//! landed on a node which does not hold its connection to the node that does, over HTTP to the
//! holder's advertised base URL, and streams the answer back unchanged: no sticky sessions
//! needed. A forwarded request carries [`FORWARDED_HEADER`], and is never forwarded again, so
//! two nodes that disagree about a holder answer an error instead of looping.

use std::sync::OnceLock;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Marks a request one node forwarded to another; its value is the forwarding node's id.
pub const FORWARDED_HEADER: &str = "x-signalr-emulator-forwarded-by";
/// How long reaching the holder may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the holder may take to start answering, beyond the request's own wait (a long
/// poll's timeout): past it, the holder is treated as gone.
const ANSWER_GRACE: Duration = Duration::from_secs(10);
/// Headers that describe one hop, never forwarded (RFC 9110 section 7.6.1), and the length,
/// which the HTTP client sets from the body itself.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    header::HOST,
    header::CONTENT_LENGTH,
];

/// One request to forward, as the client endpoint received it.
#[derive(Debug)]
pub struct Forward<'a> {
    /// The holder's advertised base URL, e.g. `http://10.0.0.2:8888`.
    pub holder: &'a str,
    /// The request's method.
    pub method: Method,
    /// Path and query, e.g. `/client/?hub=chat&id=...`.
    pub path_and_query: &'a str,
    /// The request's headers (the token included: the holder checks it again).
    pub headers: &'a HeaderMap,
    /// The request's body.
    pub body: Bytes,
    /// How long the holder may wait before it answers (a long poll's timeout; zero otherwise).
    pub wait: Duration,
    /// This node's id, for [`FORWARDED_HEADER`].
    pub from_node: &'a str,
}

/// Whether another node already forwarded this request.
pub fn was_forwarded(headers: &HeaderMap) -> bool {
    headers.contains_key(FORWARDED_HEADER)
}

/// The HTTP client for forwarding: one pool for the process, no redirects, no proxy from the
/// environment (nodes talk to each other directly).
fn http() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .expect("a client with no TLS configuration of its own always builds")
    })
}

/// Sends the request to its holder and answers with the holder's answer, the body streamed as
/// it arrives (an SSE stream lasts as long as both ends keep it). A holder that cannot be
/// reached or does not answer in time is a 503 naming it.
pub async fn forward(request: Forward<'_>) -> Response {
    let url = format!(
        "{}{}",
        request.holder.trim_end_matches('/'),
        request.path_and_query
    );
    let mut headers = request.headers.clone();
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    match HeaderValue::from_str(request.from_node) {
        Ok(value) => headers.insert(FORWARDED_HEADER, value),
        Err(_) => headers.insert(FORWARDED_HEADER, HeaderValue::from_static("node")),
    };
    let sent = http()
        .request(request.method, &url)
        .headers(headers)
        .body(request.body)
        .send();
    let answer = match tokio::time::timeout(request.wait + ANSWER_GRACE, sent).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(err)) => return holder_gone(request.holder, &err.without_url().to_string()),
        Err(_) => return holder_gone(request.holder, "it did not answer in time"),
    };
    let status = answer.status();
    let mut response_headers = answer.headers().clone();
    for name in &HOP_BY_HOP {
        response_headers.remove(name);
    }
    // This node's own CORS layer answers the browser; the holder's copies would be duplicates.
    let cors: Vec<HeaderName> = response_headers
        .keys()
        .filter(|name| name.as_str().starts_with("access-control-") || *name == header::VARY)
        .cloned()
        .collect();
    for name in cors {
        response_headers.remove(name);
    }
    let body = futures_util::stream::unfold(Some(answer), |answer| async move {
        let mut answer = answer?;
        match answer.chunk().await {
            Ok(Some(chunk)) => Some((Ok::<_, reqwest::Error>(chunk), Some(answer))),
            Ok(None) => None,
            // The client sees the body end early, as when the holder itself drops it.
            Err(err) => Some((Err(err), None)),
        }
    });
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = status;
    *response.headers_mut() = response_headers;
    response
}

/// The answer when the holder cannot be reached: the client learns which node is gone, and
/// that reconnecting (a new negotiate) is the way on.
pub(super) fn holder_gone(holder: &str, why: &str) -> Response {
    let text = format!(
        "The node that holds this connection ({holder}) cannot be reached: {why}. The connection is lost; negotiate again."
    );
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "text/plain")],
        text,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::any;
    use futures_util::StreamExt;

    /// A holder that echoes what it received, to see exactly what crossed.
    async fn echo_holder() -> String {
        let app = Router::new().route(
            "/client/",
            any(|method: Method, headers: HeaderMap, body: Bytes| async move {
                let seen = format!(
                    "{method} forwarded-by={:?} auth={:?} host-kept={} body={}",
                    headers.get(FORWARDED_HEADER),
                    headers.get(header::AUTHORIZATION),
                    headers.get(header::HOST).is_some_and(|h| h == "client.example"),
                    String::from_utf8_lossy(&body)
                );
                (
                    StatusCode::ACCEPTED,
                    [("x-holder", "yes"), ("access-control-allow-origin", "*")],
                    seen,
                )
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    async fn body_text(response: Response) -> String {
        let mut stream = response.into_body().into_data_stream();
        let mut text = Vec::new();
        while let Some(chunk) = stream.next().await {
            text.extend_from_slice(&chunk.unwrap());
        }
        String::from_utf8(text).unwrap()
    }

    #[tokio::test]
    async fn the_request_reaches_the_holder_and_its_answer_comes_back() {
        let holder = echo_holder().await;
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        headers.insert(header::HOST, HeaderValue::from_static("client.example"));
        let response = forward(Forward {
            holder: &holder,
            method: Method::POST,
            path_and_query: "/client/?hub=chat&id=x",
            headers: &headers,
            body: Bytes::from_static(b"{\"type\":6}\x1e"),
            wait: Duration::ZERO,
            from_node: "node-a",
        })
        .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        assert_eq!(response.headers()["x-holder"], "yes");
        assert!(!response.headers().contains_key("access-control-allow-origin"));
        assert_eq!(
            body_text(response).await,
            "POST forwarded-by=Some(\"node-a\") auth=Some(\"Bearer t\") host-kept=false body={\"type\":6}\x1e"
        );
    }

    #[tokio::test]
    async fn a_holder_that_is_gone_is_a_503_naming_it() {
        // Bind and drop: nothing listens on that port any more.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let holder = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let response = forward(Forward {
            holder: &holder,
            method: Method::DELETE,
            path_and_query: "/client/?hub=chat&id=x",
            headers: &HeaderMap::new(),
            body: Bytes::new(),
            wait: Duration::ZERO,
            from_node: "node-a",
        })
        .await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let text = body_text(response).await;
        assert!(text.contains(&holder), "{text}");
        assert!(text.contains("negotiate again"), "{text}");
    }

    #[test]
    fn forwarded_requests_are_recognised() {
        let mut headers = HeaderMap::new();
        assert!(!was_forwarded(&headers));
        headers.insert(FORWARDED_HEADER, HeaderValue::from_static("n"));
        assert!(was_forwarded(&headers));
    }
}
