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
use super::operations::{connection_not_found, holding_node};
use super::payload::Payload;
use crate::cluster::{Reply, Request};
use crate::error::ApiError;
use crate::hub::InvokeAnswer;
use crate::text::sentence_end;

/// How much longer than `--invoke-timeout` a caller waits for another node's answer, so the
/// holder's own timeout answers first.
const NODE_MARGIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Azure's `ClientInvocationResponse`.
#[derive(Debug, Serialize)]
pub(super) struct InvokeResult {
    result: Value,
}

/// Invokes the payload's target on the connection and waits for the client's answer. In a
/// cluster, a connection held by another node is invoked there and its answer comes back.
pub(super) async fn invoke(req: &HubRequest, payload: Payload) -> Result<InvokeResult, ApiError> {
    let id = req.connection_id()?;
    let target = payload.invocation.target;
    let arguments = payload.invocation.arguments;
    let timeout = req.config.invoke_timeout;
    let not_found = || connection_not_found(req, id, "Error.Connection.NotExisted");
    let (invocation_id, answer) = match req.hub.connection(id) {
        Some(connection) => connection.invoke_within(&target, arguments, timeout).await,
        None => {
            let (cluster, node) = holding_node(req, id, not_found).await?;
            let request = Request::Invoke {
                hub: req.hub.name().to_string(),
                connection: id.to_string(),
                target: target.clone(),
                arguments,
                timeout_ms: timeout.as_millis() as u64,
            };
            match cluster.call(&node, request, timeout + NODE_MARGIN).await? {
                Reply::Invoked {
                    invocation_id,
                    answer,
                } => (invocation_id, answer),
                _ => return Err(not_found()),
            }
        }
    };
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
    match answer {
        InvokeAnswer::Value(result) => Ok(InvokeResult { result }),
        InvokeAnswer::ClientError(error) => Err(failed(
            StatusCode::BAD_GATEWAY,
            "Error.Invocation.ClientError",
            format!("the client answered with an error: {error}"),
        )),
        InvokeAnswer::Failed(reason) => Err(failed(
            StatusCode::BAD_GATEWAY,
            "Error.Invocation.NoAnswer",
            reason,
        )),
        InvokeAnswer::TimedOut => Err(failed(
            StatusCode::GATEWAY_TIMEOUT,
            "Error.Invocation.Timeout",
            format!(
                "the client did not answer within {} s (--invoke-timeout)",
                timeout.as_secs_f64()
            ),
        )),
    }
}
