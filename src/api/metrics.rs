//! REST request counts for `/metrics`: each request is recorded under the route
//! template it matched (`/api/hubs/{hub}/:send`, never the raw path, so label sets stay bounded),
//! its method and the response status.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
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

/// A request about to be counted: its method and matched route, taken before it runs.
pub(super) struct Counted {
    method: String,
    route: Arc<str>,
}

impl Counted {
    /// What a routed `request` will be counted under: its method and the route it matched.
    pub(super) fn of(request: &Request) -> Self {
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", MatchedPath::as_str);
        Counted::new(request.method(), route)
    }

    /// What a request with `method` for the route template `route` will be counted under.
    pub(super) fn new(method: &Method, route: &str) -> Self {
        Counted {
            method: method.as_str().to_owned(),
            route: Arc::from(route),
        }
    }

    /// Counts the request in `metrics` with the status it was answered with.
    pub(super) fn answered(self, metrics: &RestMetrics, status: u16) {
        metrics.record(RestRoute {
            method: self.method,
            route: self.route,
            status,
        });
    }
}
