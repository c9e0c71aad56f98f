//! The message body of send operations: JSON `{"target": ..., "arguments": [...]}` with keys in
//! any case (the Management SDK writes `Target`/`Arguments`), or the SDK's binary MessagePack
//! map of pre-framed invocations. Either way it becomes one Invocation, encoded at most once per
//! protocol however many connections receive it.

use axum::extract::{FromRequest, Request};
use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::binary_payload;
use super::body::{Body, BodyFormat};
use crate::error::ApiError;
use crate::hub::{Audience, Hub};
use crate::protocol::{Encoded, HubMessage, Invocation, Protocol, json};

/// A validated send payload.
#[derive(Debug)]
pub(super) struct Payload {
    /// The invocation to send.
    pub(super) invocation: Invocation,
    /// The pre-framed invocations a binary payload carried, delivered to clients of each
    /// protocol as they are.
    frames: Vec<(Protocol, Bytes)>,
    /// A JSON body, kept to frame its `arguments` verbatim, which is done only once there is a
    /// recipient.
    json_body: Option<Bytes>,
}

impl<S: Send + Sync> FromRequest<S> for Payload {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let body = Body::from_request(request, state).await?;
        match body.format {
            BodyFormat::Json => Ok(Payload {
                invocation: parse_json(&body.bytes)?,
                frames: Vec::new(),
                json_body: Some(body.bytes),
            }),
            BodyFormat::MessagePack => {
                let (invocation, frames) = binary_payload::parse(&body.bytes)?;
                Ok(Payload {
                    invocation,
                    frames,
                    json_body: None,
                })
            }
        }
    }
}

impl Payload {
    /// A payload for an invocation read from JSON.
    pub(super) fn new(invocation: Invocation) -> Self {
        Payload {
            invocation,
            frames: Vec::new(),
            json_body: None,
        }
    }

    /// Sends the payload to this node's connections that `to` names but the excluded ones
    /// (see [`Hub::deliver_to`]); with `for_other_nodes`, also returns its frame in every
    /// protocol, so the message is encoded once per protocol for the whole cluster.
    pub(super) fn deliver_to(
        self,
        hub: &Hub,
        to: &Audience,
        excluded: &[String],
        for_other_nodes: bool,
    ) -> (usize, Vec<(Protocol, Bytes)>) {
        let encoded = self.encoded();
        let delivered = hub.deliver_to(to, excluded, &encoded);
        let frames = if for_other_nodes {
            [Protocol::Json, Protocol::MessagePack]
                .into_iter()
                .map(|protocol| (protocol, encoded.frame(protocol)))
                .collect()
        } else {
            Vec::new()
        };
        (delivered, frames)
    }

    /// The invocation with the frames it came with, and a JSON body's arguments framed
    /// verbatim.
    pub(super) fn encoded(self) -> Encoded {
        let verbatim = self
            .json_body
            .and_then(|body| verbatim_json_frame(&body, &self.invocation.target))
            .map(|frame| (Protocol::Json, frame));
        self.frames.into_iter().chain(verbatim).fold(
            Encoded::new(HubMessage::Invocation(self.invocation)),
            |encoded, (protocol, frame)| encoded.seed(protocol, frame),
        )
    }
}

/// The member `name` of a JSON object, its key matched ignoring ASCII case as the .NET
/// serializers Azure uses do.
pub(super) fn member<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    member_key(object.keys(), name)
        .and_then(|key| object.get(key))
        .filter(|value| !value.is_null())
}

/// The key that stands for `name`: itself if present, else the first that matches ignoring
/// ASCII case. Shared by [`member`] and the verbatim frame so both pick the same member.
fn member_key<'a>(
    keys: impl Iterator<Item = &'a String> + Clone,
    name: &str,
) -> Option<&'a String> {
    keys.clone()
        .find(|key| *key == name)
        .or_else(|| keys.into_iter().find(|key| key.eq_ignore_ascii_case(name)))
}

/// The send's JSON frame with the body's `arguments` text as it came, so JSON clients get every
/// number byte for byte (MessagePack clients get the parsed values, which are exact). `None`
/// when the body has no `arguments` array; the parsed invocation is encoded then.
fn verbatim_json_frame(body: &[u8], target: &str) -> Option<Bytes> {
    // Sorted keys, as in `Map`, and the last of duplicate keys wins in both.
    let object: BTreeMap<String, &RawValue> = serde_json::from_slice(body).ok()?;
    let arguments = object.get(member_key(object.keys(), "arguments")?)?;
    arguments
        .get()
        .starts_with('[')
        .then(|| json::encode_send_verbatim(target, arguments))
}

/// Parses a JSON payload message body.
fn parse_json(body: &[u8]) -> Result<Invocation, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "body",
            "Message in request body is required: {\"target\":\"<method>\",\"arguments\":[...]}.",
        ));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "body",
            format!("The request body is not valid JSON ({e}); expected {{\"target\":\"<method>\",\"arguments\":[...]}}."),
        )
    })?;
    message(&value, "body")
}

/// Reads a PayloadMessage `{"target": ..., "arguments": [...]}` from a JSON value; `at` names
/// where it was found for error messages (`body`, `[0].message`).
pub(super) fn message(value: &Value, at: &str) -> Result<Invocation, ApiError> {
    let Value::Object(object) = value else {
        return Err(ApiError::bad_request(
            at,
            format!(
                "The {at} must be a message object {{\"target\":\"<method>\",\"arguments\":[...]}}."
            ),
        ));
    };
    let target = match member(object, "target") {
        Some(Value::String(target)) if !target.is_empty() => target.clone(),
        Some(Value::String(_)) | None => {
            return Err(ApiError::bad_request(
                "target",
                format!("The message 'target' in the {at} is required and must not be empty."),
            ));
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "target",
                format!("The message 'target' in the {at} must be a string."),
            ));
        }
    };
    let arguments = match member(object, "arguments") {
        None => Vec::new(),
        Some(Value::Array(arguments)) => arguments.clone(),
        Some(_) => {
            return Err(ApiError::bad_request(
                "arguments",
                format!("The message 'arguments' in the {at} must be an array."),
            ));
        }
    };
    Ok(Invocation::send(target, arguments))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use serde_json::json;

    #[test]
    fn accepts_keys_in_any_case() {
        let inv = parse_json(br#"{"Target":"m","Arguments":[1,"x"]}"#).unwrap();
        assert_eq!(inv.target, "m");
        assert_eq!(inv.arguments, vec![json!(1), json!("x")]);
        assert!(
            parse_json(br#"{"target":"m"}"#)
                .unwrap()
                .arguments
                .is_empty()
        );
        let inv = parse_json(br#"{"TARGET":"m","arguments":null}"#).unwrap();
        assert_eq!(inv.target, "m");
    }

    #[test]
    fn rejects_missing_target_and_bad_json() {
        for (body, target) in [
            (&b""[..], "body"),
            (b"  ", "body"),
            (b"{}", "target"),
            (br#"{"target":""}"#, "target"),
            (br#"{"target":5}"#, "target"),
            (b"nope", "body"),
            (b"[1]", "body"),
            (br#"{"target":"m","arguments":3}"#, "arguments"),
        ] {
            let err = parse_json(body).unwrap_err();
            assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{body:?}");
            assert_eq!(err.detail().target.as_deref(), Some(target), "{body:?}");
        }
    }
}
