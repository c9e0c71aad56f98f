//! Which node holds each client connection (claims in Redis, [`Directory`] for the client
//! endpoint), and forwarding a client-endpoint request (an SSE stream, a long poll, a POST
//! send, a DELETE) that landed on a node which does not hold its connection to the node that
//! does, over HTTP to the
//! holder's advertised base URL, and streams the answer back unchanged: no sticky sessions
//! needed. A forwarded request carries [`FORWARDED_HEADER`], and is never forwarded again, so
//! two nodes that disagree about a holder answer an error instead of looping.

use std::sync::OnceLock;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{Cluster, ClusterError, NodeInfo};
use crate::error::ApiError;

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

/// The claim of a connection that ended (the scripts here spell it `'~'`).
pub(super) const ENDED: &str = "~";

/// Reads a connection's holder and, when asked and there is none, makes this node the holder,
/// in one atomic step on the claim key alone (on a Redis Cluster it is in its connection's
/// slot, not in this node's). Answers the holder's id, `""` when this call claimed it, or nil
/// (also for a connection that ended: its token may not start it again).
const HOLDER_SCRIPT: &str = r"
local ENDED = '~'
local holder = redis.call('GET', KEYS[1])
if holder == ENDED then return false end
if holder then return holder end
if ARGV[2] ~= '1' then return false end
redis.call('SET', KEYS[1], ARGV[1])
return ''
";

/// Where the cluster says a connection lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// Nobody held it; this node does now.
    Claimed,
    /// This node already holds it.
    ThisNode,
    /// Another node holds it; requests go to its advertised base URL.
    Node {
        /// The holder's advertised base URL.
        url: String,
    },
    /// Nobody holds it and it may not be claimed (the caller said so).
    Nobody,
}

/// The cluster-wide record of which node holds which client connection.
pub trait Directory: Send + Sync {
    /// The connection's holder; with `claim`, makes this node the holder when there is none,
    /// atomically (two nodes racing for one connection get one winner).
    fn holder(
        &self,
        hub: &str,
        connection_id: &str,
        claim: bool,
    ) -> impl Future<Output = Result<Holder, ApiError>> + Send;

    /// This node no longer holds the connection, which ended: for `ended_for` no node may
    /// start it again from its token.
    fn release(
        &self,
        hub: &str,
        connection_id: &str,
        ended_for: Duration,
    ) -> impl Future<Output = ()> + Send;

    /// The base URL of another node with an app server for `hub` (default mode), if any.
    fn app_server_node(
        &self,
        hub: &str,
    ) -> impl Future<Output = Result<Option<String>, ApiError>> + Send;
}

/// Replaces this node's claim with a marker that the connection ended, expiring when its
/// token could no longer start a connection anyway.
const RELEASE_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], '~', 'PX', ARGV[2])
end
return 0
";

impl Directory for Cluster {
    async fn holder(
        &self,
        hub: &str,
        connection_id: &str,
        claim: bool,
    ) -> Result<Holder, ApiError> {
        let claim_key = self.keys.holder(hub, connection_id);
        let mut script = redis::cmd("EVAL");
        script
            .arg(HOLDER_SCRIPT)
            .arg(1)
            .arg(&claim_key)
            .arg(&self.node.id)
            .arg(if claim { "1" } else { "0" });
        let holder: Option<String> = self.query(&script).await?;
        Ok(match holder.as_deref() {
            None => Holder::Nobody,
            Some("") => {
                // Listed after the claim: a node that dies in between leaves a claim naming
                // it, which answers like any claim of a node that left.
                let mut list = redis::cmd("SADD");
                list.arg(self.keys.held(&self.node.id)).arg(&claim_key);
                self.query::<()>(&list).await?;
                Holder::Claimed
            }
            Some(id) if id == self.node.id => Holder::ThisNode,
            // Read now rather than from the live-node list, which lags behind a node that
            // just started.
            Some(id) => {
                let lease: Option<String> = self
                    .query(redis::cmd("GET").arg(self.keys.node(id)))
                    .await?;
                match lease.and_then(|record| serde_json::from_str::<NodeInfo>(&record).ok()) {
                    Some(node) => Holder::Node { url: node.url },
                    None => return Err(holder_left(id)),
                }
            }
        })
    }

    async fn app_server_node(&self, hub: &str) -> Result<Option<String>, ApiError> {
        Ok(self.node_with_app_server(hub).await?.map(|node| node.url))
    }

    async fn release(&self, hub: &str, connection_id: &str, ended_for: Duration) {
        let claim_key = self.keys.holder(hub, connection_id);
        let mut release = redis::pipe();
        release
            .cmd("EVAL")
            .arg(RELEASE_SCRIPT)
            .arg(1)
            .arg(&claim_key)
            .arg(&self.node.id)
            .arg(ended_for.as_millis().max(1) as u64);
        // Another node's claim is never in this node's list, so unlisting needs no check.
        let mut unlist = redis::pipe();
        unlist.srem(self.keys.held(&self.node.id), &claim_key);
        if let Err(err) = self.query_each(vec![release, unlist]).await {
            // The claim stays until this node's entries are cleaned up with its lease.
            tracing::warn!(%err, connection = connection_id, "cluster: connection claim not released");
        }
        self.ended.record(claim_key, ended_for);
    }
}

/// The holder's lease ran out: the connection is lost with it.
fn holder_left(node: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "Error.Cluster.HolderGone",
        format!(
            "The node that held this connection ({node}) has left the cluster; the connection is lost with it: negotiate again."
        ),
    )
}

impl Cluster {
    /// Tells the other nodes whether this node has an app server for `hub` now, so a client
    /// of that hub on a node without one is relayed here (default mode).
    pub async fn announce_app_servers(&self, hub: &str, present: bool) {
        let key = self.keys.app_servers(&self.node.id, hub);
        let held = self.keys.held(&self.node.id);
        let mut pipe = redis::pipe();
        pipe.atomic();
        if present {
            pipe.set(&key, 1).ignore().sadd(&held, &key).ignore();
        } else {
            pipe.del(&key).ignore().srem(&held, &key).ignore();
        }
        if let Err(err) = self.query_pipe::<()>(&pipe).await {
            tracing::warn!(%err, hub, present, "cluster: app-server presence not announced");
        }
    }

    /// Another node with an app server for `hub`, if any.
    pub async fn node_with_app_server(&self, hub: &str) -> Result<Option<NodeInfo>, ClusterError> {
        let found: Vec<(NodeInfo, bool)> = self
            .ask_other_nodes(|node| {
                let mut cmd = redis::cmd("EXISTS");
                cmd.arg(self.keys.app_servers(node, hub));
                cmd
            })
            .await?;
        Ok(found
            .into_iter()
            .find(|(_, has)| *has)
            .map(|(node, _)| node))
    }
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
            any(
                |method: Method, headers: HeaderMap, body: Bytes| async move {
                    let seen = format!(
                        "{method} forwarded-by={:?} auth={:?} host-kept={} body={}",
                        headers.get(FORWARDED_HEADER),
                        headers.get(header::AUTHORIZATION),
                        headers
                            .get(header::HOST)
                            .is_some_and(|h| h == "client.example"),
                        String::from_utf8_lossy(&body)
                    );
                    (
                        StatusCode::ACCEPTED,
                        [("x-holder", "yes"), ("access-control-allow-origin", "*")],
                        seen,
                    )
                },
            ),
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
        assert!(
            !response
                .headers()
                .contains_key("access-control-allow-origin")
        );
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
