//! The one middleware every REST request passes: Azure's size limits (`limits.rs`), the count
//! for `/metrics` (`metrics.rs`) and the live-trace entry (`rest_trace.rs`). One layer rather
//! than three: each axum middleware layer clones its inner service and boxes a future per
//! request, which on the send-to-connection route was a measurable part of its cost.

use std::future::Future;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::limits;
use super::metrics::{Counted, RestMetrics};
use super::rest_trace::Traced;
use crate::state::AppState;

/// What the middleware reports to.
#[derive(Debug, Clone)]
pub struct RestObservers {
    /// The state whose hubs' live traces get the calls.
    pub state: AppState,
    /// The request counts `/metrics` shows.
    pub metrics: Arc<RestMetrics>,
}

/// The middleware: an oversized request is answered here; every request, answered here or by
/// its handler, is counted and traced.
pub async fn observe(
    State(observers): State<RestObservers>,
    request: Request,
    next: Next,
) -> Response {
    let counted = Counted::of(&request);
    let (mut parts, body) = request.into_parts();
    let traced = Traced::of(&mut parts, &observers.state).await;
    observed(
        &observers,
        counted,
        traced,
        Request::from_parts(parts, body),
        |request| next.run(request),
    )
    .await
}

/// What [`observe`] does around a handler, for the routed requests and the direct lane
/// (`direct.rs`) alike: answers an oversized `request` itself and any other with `handle`,
/// then counts the answer as `counted` and reports it to the live trace as `traced`.
pub(super) async fn observed<F: Future<Output = Response>>(
    observers: &RestObservers,
    counted: Counted,
    traced: Option<Traced>,
    request: Request,
    handle: impl FnOnce(Request) -> F,
) -> Response {
    let response = match limits::rejection(request.headers()) {
        Some(rejected) => rejected,
        None => handle(request).await,
    };
    let status = response.status().as_u16();
    counted.answered(&observers.metrics, status);
    if let Some(traced) = traced {
        traced.answered(&observers.state, status);
    }
    response
}
