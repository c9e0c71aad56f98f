//! The error every HTTP endpoint returns: Azure's `ErrorDetail` JSON body with a status, and the
//! `x-ms-error-code` header the Management SDK reads on 404s. Messages say exactly what was
//! wrong; internal details never reach a body.

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::auth::AuthError;
use crate::hub::names::InvalidName;

/// Azure's `ErrorDetail` body.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ErrorDetail {
    /// A stable code, e.g. `Warning.Connection.NotExisted`.
    pub code: String,
    /// What was wrong, in words.
    pub message: String,
    /// The parameter or resource concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// An HTTP error response.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    detail: ErrorDetail,
    /// Sent as `x-ms-error-code` (Azure sends it on the 404s SDKs check).
    error_code_header: bool,
}

impl ApiError {
    /// A response with this status, code and message.
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            status,
            detail: ErrorDetail {
                code: code.into(),
                message: message.into(),
                target: None,
            },
            error_code_header: false,
        }
    }

    /// Names the parameter or resource the error is about.
    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.detail.target = Some(target.into());
        self
    }

    /// A 400 about one parameter.
    pub fn bad_request(parameter: &str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "Error.Request.Invalid", message)
            .with_target(parameter)
    }

    /// A 404 whose code is also sent as the `x-ms-error-code` header.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            error_code_header: true,
            ..ApiError::new(StatusCode::NOT_FOUND, code, message)
        }
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The body.
    pub fn detail(&self) -> &ErrorDetail {
        &self.detail
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, err.code(), err.to_string())
    }
}

impl From<InvalidName> for ApiError {
    fn from(err: InvalidName) -> Self {
        ApiError::bad_request(err.parameter, err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        tracing::debug!(status = %self.status, code = %self.detail.code, message = %self.detail.message, "request failed");
        let header = self
            .error_code_header
            .then(|| HeaderValue::from_str(&self.detail.code).ok())
            .flatten();
        let mut response = (self.status, Json(self.detail)).into_response();
        if let Some(value) = header {
            response.headers_mut().insert("x-ms-error-code", value);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        response
    }
}
