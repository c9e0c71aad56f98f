//! `ErrorDetail` answers for requests no REST route takes: an unknown path under `/api` (404)
//! and a known path with a method it does not serve (405, with axum's `Allow` header).

use axum::http::{Method, StatusCode, Uri};

use crate::error::ApiError;

/// 404 for a path under `/api` that names no operation.
pub(super) async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "Error.Request.NotFound",
        format!(
            "No REST operation is {method} {}: see the route table in the README (v1-preview /api/v1-preview/hub/..., v1 /api/v1/hubs/..., 2022-06-01+ /api/hubs/...).",
            uri.path()
        ),
    )
}

/// 405 for a method the route does not serve.
pub(super) async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "Error.Request.MethodNotAllowed",
        format!(
            "{} does not take {method}; the Allow header lists the methods it does take.",
            uri.path()
        ),
    )
}
