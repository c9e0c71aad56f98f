//! `GET /swagger/<name>.json`: this server's own OpenAPI documents (from `swagger/` at the
//! repository root, embedded in the binary), one per REST generation. No token needed: they
//! describe the API, they do not use it.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::ApiError;
use crate::state::AppState;

/// Every served document: its file name and text.
const DOCUMENTS: [(&str, &str); 3] = [
    (
        "v1-preview.json",
        include_str!("../../swagger/v1-preview.json"),
    ),
    ("v1.json", include_str!("../../swagger/v1.json")),
    ("latest.json", include_str!("../../swagger/latest.json")),
];

/// The `/swagger/...` route.
pub(super) fn router() -> Router<AppState> {
    // See `api::router` for why.
    Router::new()
        .without_v07_checks()
        .route("/swagger/{name}", get(document))
}

/// 200 with the document, or 404 naming the ones there are.
async fn document(Path(name): Path<String>) -> Response {
    match DOCUMENTS.iter().find(|(file, _)| *file == name) {
        Some((_, text)) => ([(header::CONTENT_TYPE, "application/json")], *text).into_response(),
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "Error.Request.NotFound",
            format!(
                "No OpenAPI document '{name}': there are /swagger/v1-preview.json, /swagger/v1.json and /swagger/latest.json."
            ),
        )
        .into_response(),
    }
}
