//! The span every HTTP request runs in (tower-http's `TraceLayer`): method and matched route
//! when it starts, status and latency when it is answered, so every log line a request causes
//! says which request it was, and `RUST_LOG=signalr_emulator::request_span=debug` logs one
//! line per answered request.

use std::time::Duration;

use axum::extract::MatchedPath;
use axum::http::{Request, Response};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{MakeSpan, OnResponse, TraceLayer};
use tracing::Span;

use crate::api::DirectRoute;

/// The layer: a `request` span per request, answered with a debug event.
pub fn layer() -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RequestSpan, (), Answered> {
    TraceLayer::new_for_http()
        .make_span_with(RequestSpan)
        .on_request(())
        .on_response(Answered)
}

/// Opens the span with the method and the route template (the router's, or the direct lane's
/// for a request that takes it; `unmatched` when neither matched), never the raw path, which
/// may carry user and group names.
#[derive(Debug, Clone, Copy)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        let extensions = request.extensions();
        let route = match extensions.get::<DirectRoute>() {
            Some(direct) => direct.template,
            None => extensions
                .get::<MatchedPath>()
                .map_or("unmatched", MatchedPath::as_str),
        };
        tracing::info_span!(
            "request",
            method = %request.method(),
            route,
            status = tracing::field::Empty,
            latency_us = tracing::field::Empty,
        )
    }
}

/// Records the status and latency in the span when the response head is ready.
#[derive(Debug, Clone, Copy)]
pub struct Answered;

impl<B> OnResponse<B> for Answered {
    fn on_response(self, response: &Response<B>, latency: Duration, span: &Span) {
        let status = response.status().as_u16();
        let latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        span.record("status", status);
        span.record("latency_us", latency_us);
        tracing::debug!(parent: span, status, latency_us, "answered");
    }
}
