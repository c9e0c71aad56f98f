//! The message body of send operations: `{"target": ..., "arguments": [...]}` in either key case
//! (the Management SDK writes `Target`/`Arguments`). Oversized and malformed bodies become
//! `ErrorDetail` responses instead of axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::protocol::Invocation;

use super::MAX_BODY_BYTES;

/// A validated send payload, ready to become an Invocation.
#[derive(Debug)]
pub(super) struct Payload(pub(super) Invocation);

#[derive(Deserialize)]
struct PayloadMessage {
    #[serde(alias = "Target")]
    target: Option<String>,
    #[serde(alias = "Arguments")]
    arguments: Option<Vec<Value>>,
}

impl<S: Send + Sync> FromRequest<S> for Payload {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
            .to_ascii_lowercase();
        if content_type.starts_with("application/octet-stream")
            || content_type.starts_with("application/x-msgpack")
        {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Error.Request.UnsupportedMediaType",
                format!(
                    "Content-Type '{content_type}' (the Management SDK's binary payload) is not supported yet; send application/json."
                ),
            ));
        }
        let body = Bytes::from_request(request, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Error.Request.TooLarge",
                    format!("The request body is larger than {MAX_BODY_BYTES} bytes."),
                )
            } else {
                ApiError::bad_request("body", format!("The request body could not be read: {e}."))
            }
        })?;
        parse(&body).map(Payload)
    }
}

/// Parses a JSON payload message.
fn parse(body: &[u8]) -> Result<Invocation, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "body",
            "Message in request body is required: {\"target\":\"<method>\",\"arguments\":[...]}.",
        ));
    }
    let message: PayloadMessage = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "body",
            format!("The request body is not a valid message ({e}); expected {{\"target\":\"<method>\",\"arguments\":[...]}}."),
        )
    })?;
    let target = message.target.filter(|t| !t.is_empty()).ok_or_else(|| {
        ApiError::bad_request(
            "target",
            "The message 'target' is required and must not be empty.",
        )
    })?;
    Ok(Invocation::send(
        target,
        message.arguments.unwrap_or_default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_either_key_case() {
        let inv = parse(br#"{"Target":"m","Arguments":[1,"x"]}"#).unwrap();
        assert_eq!(inv.target, "m");
        assert_eq!(inv.arguments, vec![json!(1), json!("x")]);
        assert!(parse(br#"{"target":"m"}"#).unwrap().arguments.is_empty());
    }

    #[test]
    fn rejects_missing_target_and_bad_json() {
        for body in [
            &b""[..],
            b"  ",
            b"{}",
            br#"{"target":""}"#,
            b"nope",
            br#"{"target":"m","arguments":3}"#,
        ] {
            assert_eq!(
                parse(body).unwrap_err().status(),
                StatusCode::BAD_REQUEST,
                "{body:?}"
            );
        }
    }
}
