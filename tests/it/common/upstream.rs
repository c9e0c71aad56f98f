//! The tests' one mock upstream: an HTTP server on 127.0.0.1 that records every request it gets
//! and answers it as the test says (accept, refuse, script a Completion, hold it).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// One request the mock upstream received.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    /// The request path.
    pub(crate) path: String,
    /// Its headers.
    pub(crate) headers: HeaderMap,
    /// Its body.
    pub(crate) body: Bytes,
}

impl Received {
    /// A header's value as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

/// A running mock upstream.
pub(crate) struct MockUpstream {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl MockUpstream {
    /// Answers every request with 204 No Content.
    pub(crate) async fn accepting() -> Self {
        Self::start(|_| async { StatusCode::NO_CONTENT.into_response() }).await
    }

    /// Records every request, then answers it with what `answer` makes of it.
    pub(crate) async fn start<F, Fut>(answer: F) -> Self
    where
        F: Fn(Received) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Response> + Send + 'static,
    {
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let log = received.clone();
        let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let request = Received {
                path: uri.path().to_owned(),
                headers,
                body,
            };
            log.lock().unwrap().push(request.clone());
            answer(request)
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        MockUpstream { addr, received }
    }

    /// `http://127.0.0.1:port{path}` (a URL template when `path` holds placeholders).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request so far, in arrival order.
    pub(crate) fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The latest request.
    pub(crate) fn last(&self) -> Received {
        self.received()
            .pop()
            .expect("the upstream received a request")
    }
}
