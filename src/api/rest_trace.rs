//! REST calls in the live trace: each call to a hub route is reported (method,
//! path and the status it was answered with) under that hub, so the dashboard shows failed
//! calls beside the sends they made. Calls whose hub name is not valid are not traced: they
//! belong to no hub, and bogus names must not claim trace backlogs.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;

use crate::hub::names::internal_hub_name;
use crate::hub::{TraceEvent, TraceKind};
use crate::query::Query;
use crate::state::AppState;

/// A call about to be traced: its hub, method and path, taken before it runs.
pub(super) struct Traced {
    hub: String,
    method: String,
    path: String,
}

impl Traced {
    /// What `parts` will be traced as; `None` for a call that names no valid hub.
    pub(super) async fn of(parts: &mut Parts, state: &AppState) -> Option<Self> {
        let params = RawPathParams::from_request_parts(parts, state).await.ok()?;
        let (_, hub) = params.iter().find(|(name, _)| *name == "hub")?;
        Self::for_hub(hub, parts)
    }

    /// What `parts`, whose `{hub}` path parameter is `hub`, will be traced as; `None` for a
    /// hub name that is not valid.
    pub(super) fn for_hub(hub: &str, parts: &Parts) -> Option<Self> {
        let query = Query::parse(parts.uri.query());
        let hub = internal_hub_name(hub, query.first("application")).ok()?;
        Some(Traced {
            hub,
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
        })
    }

    /// Reports the call, answered with `status`, to the live trace of its hub.
    pub(super) fn answered(self, state: &AppState, status: u16) {
        let Traced { hub, method, path } = self;
        state.hubs.trace().emit(|| {
            let kind = TraceKind::Rest {
                method,
                path,
                status,
            };
            TraceEvent::now(hub.into(), None, kind)
        });
    }
}
