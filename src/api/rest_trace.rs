//! REST calls in the live trace: a middleware that reports each call to a hub route (method,
//! path and the status it was answered with) under that hub, so the dashboard shows failed
//! calls beside the sends they made. Calls whose hub name is not valid are not traced: they
//! belong to no hub, and bogus names must not claim trace backlogs.

use axum::extract::{FromRequestParts, RawPathParams, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::hub::names::internal_hub_name;
use crate::hub::{TraceEvent, TraceKind};
use crate::query::Query;
use crate::state::AppState;

/// The middleware: runs the request, then traces it under its hub.
pub async fn trace_requests(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let hub = RawPathParams::from_request_parts(&mut parts, &state)
        .await
        .ok()
        .and_then(|params| {
            let (_, hub) = params.iter().find(|(name, _)| *name == "hub")?;
            let query = Query::parse(parts.uri.query());
            internal_hub_name(hub, query.first("application")).ok()
        });
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let response = next.run(Request::from_parts(parts, body)).await;
    if let Some(hub) = hub {
        let status = response.status().as_u16();
        state.hubs.trace().emit(|| {
            let kind = TraceKind::Rest {
                method,
                path,
                status,
            };
            TraceEvent::now(hub.into(), None, kind)
        });
    }
    response
}
