//! The data-plane REST API. One thin module per API generation maps routes and status codes onto
//! shared operations; extractors verify the token and validate names before any handler runs.

mod extract;
pub mod filter;
mod operations;
mod payload;
mod v1;

use axum::Router;
use axum::extract::DefaultBodyLimit;

use crate::state::AppState;

/// Largest REST request body Azure accepts (1 MB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Routes of every REST generation.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(v1::router())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}
