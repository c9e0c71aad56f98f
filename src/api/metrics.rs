//! REST request counts for `/metrics`: a middleware that records each request under the route
//! template it matched (`/api/hubs/{hub}/:send`, never the raw path, so label sets stay bounded),
//! its method and the response status.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use dashmap::DashMap;

/// What requests are counted by: method, route template, status code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RestRoute {
    /// The HTTP method.
    pub method: String,
    /// The matched route template; `unmatched` when no route matched.
    pub route: Arc<str>,
    /// The response status code.
    pub status: u16,
}

/// REST request counts by route and status.
#[derive(Debug, Default)]
pub struct RestMetrics {
    requests: DashMap<RestRoute, u64>,
}

impl RestMetrics {
    /// Counts one request.
    pub fn record(&self, route: RestRoute) {
        *self.requests.entry(route).or_default() += 1;
    }

    /// Every count, sorted by route, method and status.
    pub fn requests(&self) -> Vec<(RestRoute, u64)> {
        let mut all: Vec<(RestRoute, u64)> = self
            .requests
            .iter()
            .map(|entry| (entry.key().clone(), *entry.value()))
            .collect();
        all.sort_by(|(a, _), (b, _)| {
            (&a.route, &a.method, a.status).cmp(&(&b.route, &b.method, b.status))
        });
        all
    }
}

/// The middleware: runs the request, then counts it under its matched route in `metrics`.
pub async fn count_requests(
    State(metrics): State<Arc<RestMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().as_str().to_owned();
    let route: Arc<str> = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| Arc::from("unmatched"), |path| Arc::from(path.as_str()));
    let response = next.run(request).await;
    metrics.record(RestRoute {
        method,
        route,
        status: response.status().as_u16(),
    });
    response
}
