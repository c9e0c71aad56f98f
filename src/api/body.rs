//! Reading REST request bodies: the content types the API accepts and the 1 MB limit, with every
//! failure as an `ErrorDetail` instead of axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};

use super::MAX_BODY_BYTES;
use crate::error::ApiError;
use crate::text::sentence_end;

/// How a request body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyFormat {
    /// `application/json` (also assumed when no `Content-Type` is given, as Azure does).
    Json,
    /// `application/octet-stream` or `application/x-msgpack`: the Management SDK's MessagePack
    /// map of pre-framed payloads.
    MessagePack,
}

/// A body read in full, with its format.
#[derive(Debug)]
pub(super) struct Body {
    pub(super) format: BodyFormat,
    pub(super) bytes: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let format = format(
            request
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
        )?;
        let bytes = Bytes::from_request(request, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                ApiError::bad_request(
                    "body",
                    format!("The request body could not be read: {}", sentence_end(e)),
                )
            }
        })?;
        Ok(Body { format, bytes })
    }
}

/// The 413 for a body over [`MAX_BODY_BYTES`].
pub(super) fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "Error.Request.TooLarge",
        format!(
            "The request body is larger than {MAX_BODY_BYTES} bytes (1 MB), the most Azure SignalR accepts."
        ),
    )
}

fn format(content_type: Option<&str>) -> Result<BodyFormat, ApiError> {
    let Some(content_type) = content_type else {
        return Ok(BodyFormat::Json);
    };
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match media_type.as_str() {
        "" | "application/json" | "text/json" => Ok(BodyFormat::Json),
        "application/octet-stream" | "application/x-msgpack" => Ok(BodyFormat::MessagePack),
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Error.Request.UnsupportedMediaType",
            format!(
                "Content-Type '{other}' is not supported: send application/json, or the Management SDK's application/octet-stream / application/x-msgpack payload."
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        for json in [
            None,
            Some("application/json"),
            Some("Application/JSON; charset=utf-8"),
        ] {
            assert_eq!(format(json).unwrap(), BodyFormat::Json, "{json:?}");
        }
        for binary in ["application/octet-stream", "application/x-msgpack"] {
            assert_eq!(format(Some(binary)).unwrap(), BodyFormat::MessagePack);
        }
        let err = format(Some("text/plain")).unwrap_err();
        assert_eq!(err.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(err.detail().message.contains("text/plain"));
    }
}
