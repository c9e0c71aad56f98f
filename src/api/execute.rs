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
use super::filter::{Filter, Subject};
use super::payload::{self, Payload, member};
use crate::error::ApiError;
use crate::hub::ConnectionHandle;
use crate::hub::names::check_group;
use crate::protocol::Close;
use crate::text::sentence_end;

/// One validated command.
#[derive(Debug)]
enum Command {
    SendMessage(Payload),
    JoinGroup(String),
    LeaveGroup(String),
    CloseConnection(Option<String>),
}

/// Validates the filter and the commands, selects the connections and applies the commands.
/// Returns how many connections were selected.
pub(super) fn execute(req: &HubRequest, body: Body) -> Result<usize, ApiError> {
    let filter = match req.query.first("filter").filter(|f| !f.trim().is_empty()) {
        Some(text) => {
            Some(Filter::parse(text).map_err(|e| ApiError::bad_request("filter", e.to_string()))?)
        }
        None => None,
    };
    let commands = commands(&body)?;
    let selected = select(req, filter.as_ref());
    for command in commands {
        match command {
            Command::SendMessage(payload) => {
                payload.deliver(&selected);
            }
            Command::JoinGroup(group) => req.hub.add_connections_to_group(&selected, &group),
            Command::LeaveGroup(group) => req.hub.remove_connections_from_group(&selected, &group),
            Command::CloseConnection(reason) => {
                for connection in &selected {
                    connection.close(Close {
                        error: reason.clone(),
                        allow_reconnect: true,
                    });
                }
            }
        }
    }
    Ok(selected.len())
}

/// The hub's connections the filter selects, evaluated outside the hub's lock.
fn select(req: &HubRequest, filter: Option<&Filter>) -> Vec<ConnectionHandle> {
    let snapshot = req.hub.connections_with_groups();
    let Some(filter) = filter else {
        return snapshot.into_iter().map(|c| c.connection).collect();
    };
    snapshot
        .into_iter()
        .filter(|c| {
            let groups: Vec<&str> = c.groups.iter().map(String::as_str).collect();
            filter.matches(&Subject {
                user_id: c.connection.user_id().map(|u| &**u),
                connection_id: c.connection.id(),
                groups: &groups,
            })
        })
        .map(|c| c.connection)
        .collect()
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
            Ok(Command::SendMessage(Payload::new(payload::message(
                message,
                &format!("command {at} message"),
            )?)))
        }
        "joingroup" => Ok(Command::JoinGroup(group()?)),
        "leavegroup" => Ok(Command::LeaveGroup(group()?)),
        "closeconnection" => match member(object, "reason") {
            None => Ok(Command::CloseConnection(None)),
            Some(Value::String(reason)) => Ok(Command::CloseConnection(
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
        assert!(matches!(&parsed[0], Command::SendMessage(p) if p.invocation.target == "m"));
        assert!(matches!(&parsed[1], Command::JoinGroup(g) if g == "g"));
        assert!(matches!(&parsed[2], Command::LeaveGroup(g) if g == "g"));
        assert!(matches!(&parsed[3], Command::CloseConnection(Some(r)) if r == "bye"));
        assert!(matches!(&parsed[4], Command::CloseConnection(None)));
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
