//! The data-plane REST API of every generation: v1-preview (`/api/v1-preview/hub/...`), v1
//! (`/api/v1/...`) and 2022-06-01 to 2024-12-01 (`/api/...`). One thin module per generation
//! maps routes, and the status codes where generations differ, onto shared operations; extractors verify the token and validate
//! names before any handler runs, and one middleware ([`observe`]) enforces Azure's request-size
//! limits, counts each request and reports it to the live trace. The
//! OpenAPI documents describing them are served under `/swagger/`.

mod binary_payload;
mod body;
mod direct;
mod execute;
mod extract;
mod fallback;
mod group_members;
mod invoke;
mod latest;
mod limits;
mod metrics;
mod observe;
mod operations;
mod payload;
mod rest_trace;
mod streams;
mod swagger;
mod tokens;
mod v1;
mod v1_preview;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::any;

use crate::state::AppState;

pub use direct::{DirectRoute, direct_send};
pub use group_members::MAX_PAGE_SIZE;
pub use limits::MAX_HEADER_BYTES;
pub use metrics::{RestMetrics, RestRoute};
pub use observe::{RestObservers, observe};
pub use tokens::PRIMARY_KEY_ID;

/// Largest REST request body Azure accepts (1 MB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Routes of every REST generation.
///
/// Azure's operation paths (`/:send`, `/:execute`) start a segment with ':', which axum 0.8
/// refuses as a 0.7-style capture unless the check is off, and merging turns it back on if
/// either side has it. So every API router turns it off, and whoever merges this router must
/// merge it before routers that keep the check.
pub fn router() -> Router<AppState> {
    Router::new()
        .without_v07_checks()
        .merge(v1_preview::router())
        .merge(v1::router())
        .merge(latest::router())
        .merge(swagger::router())
        .route("/api/{*rest}", any(fallback::not_found))
        .method_not_allowed_fallback(fallback::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}
