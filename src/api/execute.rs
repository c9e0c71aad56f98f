//! `POST /api/hubs/{hub}/:execute?filter=<OData>` (2023-07-01+): a list of commands applied, in
//! order, to the connections the filter selects (every connection of the hub without a filter).
//!
//! The body is a JSON array of `SignalRCommand`s, keys and `type` values in any case:
//! `{"type":"SendMessage","message":{"target":"m","arguments":[]}}`,
//! `{"type":"JoinGroup","group":"g"}`, `{"type":"LeaveGroup","group":"g"}`,
//! `{"type":"CloseConnection","reason":"..."}` (`reason` optional). The whole request is
//! validated before anything happens, and the selection is made once, before the first command,
//! from a snapshot of the hub: a `JoinGroup` does not change who a later command reaches.

use serde_json::Value;

use super::body::{Body, BodyFormat};
use super::extract::HubRequest;
use super::payload::{self, Payload, member};
use crate::error::ApiError;
use crate::hub::ExecuteCommand;
use crate::hub::filter::Filter;
use crate::hub::names::check_group;
use crate::text::sentence_end;

/// A validated command, its message not encoded yet.
type Command = ExecuteCommand<Payload>;

/// Validates the filter and the commands, then applies the commands to the connections the
/// filter selects here and, in a cluster, on every other node (each selects among its own);
/// returns once every node did. Returns how many connections were selected here.
pub(super) async fn execute(req: &HubRequest, body: Body) -> Result<usize, ApiError> {
    let text = req.query.first("filter").filter(|f| !f.trim().is_empty());
    let filter = text
        .map(Filter::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request("filter", e.to_string()))?;
    let commands: Vec<_> = commands(&body)?
        .into_iter()
        .map(|command| command.map_message(Payload::encoded))
        .collect();
    let selected = req.hub.execute(filter.as_ref(), &commands);
    if let Some(cluster) = &req.cluster {
        cluster.execute(req.hub.name(), text, &commands).await?;
    }
    Ok(selected)
}

/// Parses the body: a non-empty JSON array of commands.
fn commands(body: &Body) -> Result<Vec<Command>, ApiError> {
    if body.format != BodyFormat::Json {
        return Err(ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Error.Request.UnsupportedMediaType",
            "The :execute body is a JSON array of commands: send it as application/json.",
        ));
    }
    let value: Value = serde_json::from_slice(&body.bytes).map_err(|e| {
        ApiError::bad_request(
            "body",
            format!("The request body is not valid JSON ({e}); expected an array of commands such as [{{\"type\":\"JoinGroup\",\"group\":\"g\"}}]."),
        )
    })?;
    let Value::Array(items) = value else {
        return Err(ApiError::bad_request(
            "body",
            "The request body must be a JSON array of commands such as [{\"type\":\"JoinGroup\",\"group\":\"g\"}].",
        ));
    };
    if items.is_empty() {
        return Err(ApiError::bad_request(
            "body",
            "The command array is empty: give at least one of SendMessage, JoinGroup, LeaveGroup, CloseConnection.",
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(index, item)| command(index, item))
        .collect()
}

fn command(index: usize, item: &Value) -> Result<Command, ApiError> {
    let at = format!("[{index}]");
    let invalid =
        |why: String| ApiError::bad_request("body", format!("Command {at} {}", sentence_end(why)));
    let Value::Object(object) = item else {
        return Err(invalid("is not an object".to_owned()));
    };
    let kind = match member(object, "type") {
        Some(Value::String(kind)) => kind.as_str(),
        _ => return Err(invalid("has no 'type' string".to_owned())),
    };
    let group = || match member(object, "group") {
        Some(Value::String(group)) => {
            check_group(group).map_err(|e| invalid(format!("has an invalid group: {e}")))?;
            Ok(group.clone())
        }
        _ => Err(invalid(format!("({kind}) needs a 'group' string"))),
    };
    match kind.to_ascii_lowercase().as_str() {
        "sendmessage" => {
            let message = member(object, "message")
                .ok_or_else(|| invalid("(SendMessage) needs a 'message'".to_owned()))?;
            Ok(ExecuteCommand::SendMessage(Payload::new(payload::message(
                message,
                &format!("command {at} message"),
            )?)))
        }
        "joingroup" => Ok(ExecuteCommand::JoinGroup(group()?)),
        "leavegroup" => Ok(ExecuteCommand::LeaveGroup(group()?)),
        "closeconnection" => match member(object, "reason") {
            None => Ok(ExecuteCommand::CloseConnection(None)),
            Some(Value::String(reason)) => Ok(ExecuteCommand::CloseConnection(
                Some(reason.clone()).filter(|r| !r.is_empty()),
            )),
            Some(_) => Err(invalid(
                "(CloseConnection) has a 'reason' that is not a string".to_owned(),
            )),
        },
        _ => Err(invalid(format!(
            "has the unknown type '{kind}'; expected SendMessage, JoinGroup, LeaveGroup or CloseConnection"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use serde_json::json;

    fn body(value: Value) -> Body {
        Body {
            format: BodyFormat::Json,
            bytes: serde_json::to_vec(&value).unwrap().into(),
        }
    }

    #[test]
    fn parses_every_command_in_any_case() {
        let parsed = commands(&body(json!([
            {"type": "SendMessage", "message": {"target": "m", "arguments": [1]}},
            {"Type": "joingroup", "Group": "g"},
            {"type": "LEAVEGROUP", "group": "g"},
            {"type": "CloseConnection", "reason": "bye"},
            {"type": "CloseConnection"},
        ])))
        .unwrap();
        assert!(matches!(&parsed[0], ExecuteCommand::SendMessage(p) if p.invocation.target == "m"));
        assert!(matches!(&parsed[1], ExecuteCommand::JoinGroup(g) if g == "g"));
        assert!(matches!(&parsed[2], ExecuteCommand::LeaveGroup(g) if g == "g"));
        assert!(matches!(&parsed[3], ExecuteCommand::CloseConnection(Some(r)) if r == "bye"));
        assert!(matches!(&parsed[4], ExecuteCommand::CloseConnection(None)));
    }

    #[test]
    fn rejects_bad_bodies_naming_the_command() {
        for (value, needle) in [
            (json!({}), "must be a JSON array"),
            (json!([]), "empty"),
            (json!([1]), "[0] is not an object"),
            (json!([{"group": "g"}]), "no 'type'"),
            (json!([{"type": "Explode"}]), "unknown type 'Explode'"),
            (json!([{"type": "JoinGroup"}]), "needs a 'group'"),
            (json!([{"type": "JoinGroup", "group": "  "}]), "white space"),
            (json!([{"type": "SendMessage"}]), "needs a 'message'"),
            (
                json!([{"type": "LeaveGroup", "group": "g"}, {"type": "SendMessage", "message": {}}]),
                "command [1] message",
            ),
            (
                json!([{"type": "CloseConnection", "reason": 1}]),
                "not a string",
            ),
        ] {
            let err = commands(&body(value.clone())).unwrap_err();
            assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{value}");
            assert!(err.detail().message.contains(needle), "{value}: {err:?}");
        }
        let binary = Body {
            format: BodyFormat::MessagePack,
            bytes: vec![0x90].into(),
        };
        assert_eq!(
            commands(&binary).unwrap_err().status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
    }
}
