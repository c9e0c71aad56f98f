//! Azure's request limits for the REST API, checked before any handler runs: request headers
//! over 16 KB get 431 and a declared body over 1 MB gets 413, both as `ErrorDetail`. (Bodies
//! sent without a length are cut at 1 MB while they are read; see `body.rs`.)

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::MAX_BODY_BYTES;
use super::body::too_large;
use crate::error::ApiError;

/// Largest total size of the request headers Azure accepts (16 KB).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The answer to an oversized request (headers over 16 KB, a declared body over 1 MB); `None`
/// for a request within the limits.
pub(super) fn rejection(headers: &HeaderMap) -> Option<Response> {
    let header_bytes = header_size(headers);
    if header_bytes > MAX_HEADER_BYTES {
        return Some(
            ApiError::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "Error.Request.HeadersTooLarge",
                format!(
                    "The request headers are {header_bytes} bytes long; at most {MAX_HEADER_BYTES} bytes (16 KB) are accepted."
                ),
            )
            .into_response(),
        );
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    declared
        .is_some_and(|length| length > MAX_BODY_BYTES as u64)
        .then(|| too_large().into_response())
}

/// The size of the headers as sent: each `name: value` line with its CRLF.
fn header_size(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn header_size_counts_names_values_and_separators() {
        let mut headers = HeaderMap::new();
        headers.insert("a", HeaderValue::from_static("bc"));
        headers.append("a", HeaderValue::from_static("d"));
        assert_eq!(header_size(&headers), (1 + 2 + 4) + (1 + 1 + 4));
    }
}
