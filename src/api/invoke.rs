//! `POST /api/hubs/{hub}/connections/{connectionId}/:invoke` (2024-12-01): sends the client an
//! Invocation with a server id, waits for its Completion and answers with the result.
//!
//! Statuses (Azure does not document its failures, so these are this server's choice): 200
//! `{"result": ...}` (`null` for a void Completion); 404 `Error.Connection.NotExisted` when the
//! connection is not connected; 502 when the client answered with an error or the connection
//! closed before answering (the client is the failing upstream of this call); 504 when no answer
//! came within `--invoke-timeout` seconds (30 by default).

use axum::http::StatusCode;
use serde::Serialize;
use serde_json::Value;

use super::extract::HubRequest;
use super::operations::connection_not_found;
use super::payload::Payload;
use crate::error::ApiError;
use crate::hub::{Connection, InvocationFailed};
use crate::protocol::CompletionResult;
use crate::text::sentence_end;

/// Azure's `ClientInvocationResponse`.
#[derive(Debug, Serialize)]
pub(super) struct InvokeResult {
    result: Value,
}

/// Invokes the payload's target on the connection and waits for the client's answer.
pub(super) async fn invoke(req: &HubRequest, payload: Payload) -> Result<InvokeResult, ApiError> {
    let id = req.connection_id()?;
    let connection = req
        .hub
        .connection(id)
        .ok_or_else(|| connection_not_found(req, id, "Error.Connection.NotExisted"))?;
    let target = payload.invocation.target;
    let (invocation_id, answer) = connection.invoke(&target, payload.invocation.arguments);
    // Whatever ends this wait (answer, timeout, the caller hanging up), the connection stops
    // tracking the invocation.
    let _forget = Forget {
        connection: &connection,
        invocation_id: &invocation_id,
    };
    let timeout = req.config.invoke_timeout;
    let failed = |status: StatusCode, code: &str, why: String| {
        ApiError::new(
            status,
            code,
            format!(
                "Invocation '{invocation_id}' of '{target}' on connection '{id}' failed: {}",
                sentence_end(why)
            ),
        )
        .with_target("connectionId")
    };
    match tokio::time::timeout(timeout, answer).await {
        Ok(Ok(Ok(CompletionResult::Value(result)))) => Ok(InvokeResult { result }),
        Ok(Ok(Ok(CompletionResult::Void))) => Ok(InvokeResult {
            result: Value::Null,
        }),
        Ok(Ok(Ok(CompletionResult::Error(error)))) => Err(failed(
            StatusCode::BAD_GATEWAY,
            "Error.Invocation.ClientError",
            format!("the client answered with an error: {error}"),
        )),
        Ok(Ok(Err(reason))) => Err(failed(
            StatusCode::BAD_GATEWAY,
            "Error.Invocation.NoAnswer",
            reason.to_string(),
        )),
        Ok(Err(_)) => Err(failed(
            StatusCode::BAD_GATEWAY,
            "Error.Invocation.NoAnswer",
            InvocationFailed::ConnectionClosed.to_string(),
        )),
        Err(_) => Err(failed(
            StatusCode::GATEWAY_TIMEOUT,
            "Error.Invocation.Timeout",
            format!(
                "the client did not answer within {} s (--invoke-timeout)",
                timeout.as_secs_f64()
            ),
        )),
    }
}

/// Drops the pending invocation when the wait ends, however it ends.
struct Forget<'a> {
    connection: &'a Connection,
    invocation_id: &'a str,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.connection.forget(self.invocation_id);
    }
}
