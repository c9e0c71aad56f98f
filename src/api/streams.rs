//! Server-to-client streams in serverless mode (REST 2024-12-01): a client's
//! `connection.stream(...)` goes to the upstream as a StreamInvocation, and the app answers by
//! pushing items and the end of the stream through these operations, which reach the client as
//! StreamItem and Completion messages carrying the stream's id.

use axum::http::StatusCode;
use serde_json::Value;

use super::body::{Body, BodyFormat};
use super::extract::HubRequest;
use super::operations::{connection_not_found, holding_node};
use crate::cluster::{CALL_TIMEOUT, Reply, Request};
use crate::error::ApiError;
use crate::hub::StreamPush;
use crate::text::sentence_end;

/// Pushes to the stream the request names: here when this node holds the connection, else on
/// the node that does (in a cluster), so the 202/404 is the holder's.
async fn push(req: &HubRequest, push: StreamPush) -> Result<(), ApiError> {
    let (id, stream_id) = (req.connection_id()?, req.stream_id()?);
    let not_found = || connection_not_found(req, id, "Error.Connection.NotExisted");
    let pushed = match req.hub.connection(id) {
        Some(connection) => connection.push_stream(stream_id, push),
        None => {
            let (cluster, node) = holding_node(req, id, not_found).await?;
            let request = Request::PushStream {
                hub: req.hub.name().to_string(),
                connection: id.to_string(),
                stream: stream_id.to_string(),
                push,
            };
            match cluster.call(&node, request, CALL_TIMEOUT).await? {
                Reply::Pushed(pushed) => pushed,
                _ => return Err(not_found()),
            }
        }
    };
    if pushed {
        return Ok(());
    }
    Err(ApiError::not_found(
        "Error.Stream.NotExisted",
        format!(
            "Connection '{id}' has no open stream '{stream_id}': the client never asked for it, cancelled it, or it already completed."
        ),
    )
    .with_target("streamId"))
}

/// Sends the body (a JSON value; empty means null) as the stream's next item, then completes the
/// stream when `completed=true`.
pub(super) async fn send_item(req: &HubRequest, body: Body) -> Result<(), ApiError> {
    if body.format != BodyFormat::Json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Error.Request.UnsupportedMediaType",
            "A stream item is a JSON value: send it as application/json.",
        ));
    }
    let item: Value = if body.bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&body.bytes).map_err(|e| {
            ApiError::bad_request(
                "body",
                format!("The stream item is not valid JSON: {}", sentence_end(e)),
            )
        })?
    };
    let completed = match req.query.first("completed") {
        None | Some("") => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            return Err(ApiError::bad_request(
                "completed",
                format!("Invalid completed '{v}': use true or false."),
            ));
        }
    };
    push(
        req,
        StreamPush::Item {
            item,
            last: completed,
        },
    )
    .await
}

/// Completes the stream; a `reason` makes it an error completion.
pub(super) async fn complete(req: &HubRequest) -> Result<(), ApiError> {
    push(
        req,
        StreamPush::End {
            error: req.reason(),
        },
    )
    .await
}
