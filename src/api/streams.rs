//! Server-to-client streams in serverless mode (REST 2024-12-01): a client's
//! `connection.stream(...)` goes to the upstream as a StreamInvocation, and the app answers by
//! pushing items and the end of the stream through these operations, which reach the client as
//! StreamItem and Completion messages carrying the stream's id.

use axum::http::StatusCode;
use serde_json::Value;

use super::body::{Body, BodyFormat};
use super::extract::HubRequest;
use super::operations::connection_not_found;
use crate::error::ApiError;
use crate::hub::ConnectionHandle;
use crate::protocol::{Completion, CompletionResult, Encoded, HubMessage};
use crate::text::sentence_end;

/// The connection and the open stream a request names.
fn open_stream(req: &HubRequest) -> Result<(ConnectionHandle, String), ApiError> {
    let (id, stream_id) = (req.connection_id()?, req.stream_id()?);
    let connection = req
        .hub
        .connection(id)
        .ok_or_else(|| connection_not_found(req, id, "Error.Connection.NotExisted"))?;
    if !connection.has_stream(stream_id) {
        return Err(ApiError::not_found(
            "Error.Stream.NotExisted",
            format!(
                "Connection '{id}' has no open stream '{stream_id}': the client never asked for it, cancelled it, or it already completed."
            ),
        )
        .with_target("streamId"));
    }
    Ok((connection, stream_id.to_string()))
}

fn send(connection: &ConnectionHandle, message: HubMessage) {
    connection.deliver(Encoded::new(message).frame(connection.protocol()));
}

/// Sends the body (a JSON value; empty means null) as the stream's next item, then completes the
/// stream when `completed=true`.
pub(super) fn send_item(req: &HubRequest, body: Body) -> Result<(), ApiError> {
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
    let (connection, stream_id) = open_stream(req)?;
    send(
        &connection,
        HubMessage::StreamItem {
            invocation_id: stream_id.clone(),
            item,
            headers: Default::default(),
        },
    );
    if completed {
        finish(&connection, stream_id, None);
    }
    Ok(())
}

/// Completes the stream; a `reason` makes it an error completion.
pub(super) fn complete(req: &HubRequest) -> Result<(), ApiError> {
    let (connection, stream_id) = open_stream(req)?;
    finish(&connection, stream_id, req.reason());
    Ok(())
}

fn finish(connection: &ConnectionHandle, stream_id: String, error: Option<String>) {
    connection.close_stream(&stream_id);
    let result = match error {
        Some(error) => CompletionResult::Error(error),
        None => CompletionResult::Void,
    };
    send(
        connection,
        HubMessage::Completion(Completion {
            invocation_id: stream_id,
            result,
            headers: Default::default(),
        }),
    );
}
