//! The JSON hub protocol: 0x1E framing, parsing of client messages with the validation rules of
//! ASP.NET Core's `JsonHubProtocol`, and the writer rules of the .NET server (ids omitted when
//! absent, `item` always written, never both `result` and `error`).

use bytes::{Bytes, BytesMut};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// Shared by both codecs; re-exported so `json::ProtocolError` keeps working.
pub use super::ProtocolError;
use super::invalid;
use super::message::{Close, Completion, CompletionResult, Headers, HubMessage, Invocation};
use crate::text::sentence_end;

/// The record separator that ends every JSON hub message and every handshake message.
pub const RECORD_SEPARATOR: u8 = 0x1e;

/// Takes the next complete message (without its 0x1E) off the front of `buf`, or returns `None`
/// when `buf` holds only part of a message. Frame boundaries of the transport play no role.
pub fn next_frame(buf: &mut BytesMut) -> Option<BytesMut> {
    let end = buf.iter().position(|&b| b == RECORD_SEPARATOR)?;
    let mut frame = buf.split_to(end + 1);
    frame.truncate(end);
    Some(frame)
}

/// Parses one unframed JSON hub message. `Ok(None)` means a message type this server does not
/// know, which the protocol says to ignore.
pub fn parse(bytes: &[u8]) -> Result<Option<HubMessage>, ProtocolError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        invalid(format!(
            "Error reading JSON hub message: {}",
            sentence_end(e)
        ))
    })?;
    let Value::Object(mut map) = value else {
        return Err(invalid("A JSON hub message must be an object."));
    };
    let kind = match map.get("type") {
        None => return Err(invalid("Missing required property 'type'.")),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| invalid("Expected 'type' to be of type Integer."))?,
    };
    let message = match kind {
        1 => HubMessage::Invocation(invocation(&mut map, false)?),
        2 => HubMessage::StreamItem {
            invocation_id: required_id(&map)?,
            item: map
                .remove("item")
                .ok_or_else(|| invalid("Missing required property 'item'."))?,
            headers: headers(&map)?,
        },
        3 => HubMessage::Completion(completion(&mut map)?),
        4 => HubMessage::StreamInvocation(invocation(&mut map, true)?),
        5 => HubMessage::CancelInvocation {
            invocation_id: required_id(&map)?,
            headers: headers(&map)?,
        },
        6 => HubMessage::Ping,
        7 => HubMessage::Close(Close {
            error: optional_string(&map, "error")?,
            allow_reconnect: match map.get("allowReconnect") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(invalid("Expected 'allowReconnect' to be of type Boolean.")),
            },
        }),
        8 => HubMessage::Ack {
            sequence_id: sequence_id(&map)?,
        },
        9 => HubMessage::Sequence {
            sequence_id: sequence_id(&map)?,
        },
        _ => return Ok(None),
    };
    Ok(Some(message))
}

fn invocation(map: &mut Map<String, Value>, streaming: bool) -> Result<Invocation, ProtocolError> {
    let invocation_id = if streaming {
        Some(required_id(map)?)
    } else {
        optional_string(map, "invocationId")?.filter(|id| !id.is_empty())
    };
    let target = match map.get("target") {
        Some(Value::String(t)) if !t.is_empty() => t.clone(),
        Some(Value::String(_)) => return Err(invalid("The 'target' property must not be empty.")),
        Some(_) => return Err(invalid("Expected 'target' to be of type String.")),
        None => return Err(invalid("Missing required property 'target'.")),
    };
    let arguments = match map.remove("arguments") {
        Some(Value::Array(args)) => args,
        Some(_) => return Err(invalid("Expected 'arguments' to be of type Array.")),
        None => return Err(invalid("Missing required property 'arguments'.")),
    };
    let stream_ids = match map.get("streamIds") {
        None | Some(Value::Null) => None,
        Some(Value::Array(ids)) => Some(
            ids.iter()
                .map(|id| {
                    id.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| invalid("Expected 'streamIds' to hold strings."))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err(invalid("Expected 'streamIds' to be of type Array.")),
    };
    Ok(Invocation {
        invocation_id,
        target,
        arguments,
        stream_ids,
        headers: headers(map)?,
    })
}

fn completion(map: &mut Map<String, Value>) -> Result<Completion, ProtocolError> {
    let invocation_id = required_id(map)?;
    let error = optional_string(map, "error")?;
    let result = match (error, map.remove("result")) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "The properties 'result' and 'error' cannot both be present.",
            ));
        }
        (Some(error), None) => CompletionResult::Error(error),
        (None, Some(value)) => CompletionResult::Value(value),
        (None, None) => CompletionResult::Void,
    };
    Ok(Completion {
        invocation_id,
        result,
        headers: headers(map)?,
    })
}

fn required_id(map: &Map<String, Value>) -> Result<String, ProtocolError> {
    match optional_string(map, "invocationId")? {
        Some(id) if !id.is_empty() => Ok(id),
        _ => Err(invalid("Missing required property 'invocationId'.")),
    }
}

fn optional_string(map: &Map<String, Value>, key: &str) -> Result<Option<String>, ProtocolError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(format!("Expected '{key}' to be of type String."))),
    }
}

fn sequence_id(map: &Map<String, Value>) -> Result<u64, ProtocolError> {
    map.get("sequenceId")
        .and_then(Value::as_u64)
        .ok_or_else(|| invalid("Missing required property 'sequenceId' (a non-negative integer)."))
}

fn headers(map: &Map<String, Value>) -> Result<Headers, ProtocolError> {
    match map.get("headers") {
        None | Some(Value::Null) => Ok(Headers::new()),
        Some(Value::Object(h)) => h
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(invalid(format!(
                    "Expected header '{k}' to be of type String."
                ))),
            })
            .collect(),
        Some(_) => Err(invalid("Expected 'headers' to be of type Object.")),
    }
}

/// The wire shape of every message; absent fields are skipped, matching the .NET writer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Wire<'a> {
    #[serde(rename = "type")]
    kind: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    headers: Option<&'a Headers>,
    #[serde(skip_serializing_if = "Option::is_none")]
    invocation_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a [Value]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_ids: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    item: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allow_reconnect: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sequence_id: Option<u64>,
}

impl<'a> Wire<'a> {
    fn new(kind: u8) -> Self {
        Wire {
            kind,
            headers: None,
            invocation_id: None,
            target: None,
            arguments: None,
            stream_ids: None,
            item: None,
            result: None,
            error: None,
            allow_reconnect: None,
            sequence_id: None,
        }
    }

    fn from_message(message: &'a HubMessage) -> Self {
        let non_empty = |h: &'a Headers| (!h.is_empty()).then_some(h);
        match message {
            HubMessage::Invocation(inv) | HubMessage::StreamInvocation(inv) => Wire {
                headers: non_empty(&inv.headers),
                invocation_id: inv.invocation_id.as_deref().filter(|id| !id.is_empty()),
                target: Some(&inv.target),
                arguments: Some(&inv.arguments),
                stream_ids: inv.stream_ids.as_deref(),
                ..Wire::new(if matches!(message, HubMessage::Invocation(_)) {
                    1
                } else {
                    4
                })
            },
            HubMessage::StreamItem {
                invocation_id,
                item,
                headers,
            } => Wire {
                headers: non_empty(headers),
                invocation_id: Some(invocation_id),
                item: Some(item),
                ..Wire::new(2)
            },
            HubMessage::Completion(c) => {
                let mut wire = Wire {
                    headers: non_empty(&c.headers),
                    invocation_id: Some(&c.invocation_id),
                    ..Wire::new(3)
                };
                match &c.result {
                    CompletionResult::Void => {}
                    CompletionResult::Value(v) => wire.result = Some(v),
                    CompletionResult::Error(e) => wire.error = Some(e),
                }
                wire
            }
            HubMessage::CancelInvocation {
                invocation_id,
                headers,
            } => Wire {
                headers: non_empty(headers),
                invocation_id: Some(invocation_id),
                ..Wire::new(5)
            },
            HubMessage::Ping => Wire::new(6),
            HubMessage::Close(close) => Wire {
                error: close.error.as_deref(),
                allow_reconnect: close.allow_reconnect.then_some(true),
                ..Wire::new(7)
            },
            HubMessage::Ack { sequence_id } => Wire {
                sequence_id: Some(*sequence_id),
                ..Wire::new(8)
            },
            HubMessage::Sequence { sequence_id } => Wire {
                sequence_id: Some(*sequence_id),
                ..Wire::new(9)
            },
        }
    }
}

/// Encodes one message as JSON followed by 0x1E.
pub fn encode(message: &HubMessage) -> Bytes {
    let mut out = Vec::with_capacity(64);
    // Serializing a tree of plain strings and `Value`s into a Vec cannot fail.
    serde_json::to_writer(&mut out, &Wire::from_message(message))
        .expect("hub messages always serialize");
    out.push(RECORD_SEPARATOR);
    Bytes::from(out)
}

/// Encodes a fire-and-forget Invocation (what REST sends deliver) whose arguments are JSON text
/// kept as it came: numbers and strings reach JSON clients byte for byte, however the text
/// wrote them. The bytes are those [`encode`] writes for the same invocation, but for the
/// arguments' spelling.
pub fn encode_send_verbatim(target: &str, arguments: &RawValue) -> Bytes {
    #[derive(Serialize)]
    struct Send<'a> {
        #[serde(rename = "type")]
        kind: u8,
        target: &'a str,
        arguments: &'a RawValue,
    }
    let mut out = Vec::with_capacity(arguments.get().len() + target.len() + 32);
    serde_json::to_writer(
        &mut out,
        &Send {
            kind: 1,
            target,
            arguments,
        },
    )
    .expect("a string and raw JSON always serialize");
    out.push(RECORD_SEPARATOR);
    Bytes::from(out)
}

/// Removes the 0x1E terminator of an encoded message, e.g. for upstream bodies.
pub fn unframed(encoded: &Bytes) -> Bytes {
    encoded.slice(..encoded.len().saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verbatim_send_is_encoded_as_encode_writes_it_but_for_the_arguments_text() {
        let text = r#"[1.8446744173772038e25, 1e3,"\u00e9", 123456789012345678901234567890]"#;
        let raw: Box<RawValue> = serde_json::from_str(text).unwrap();
        let frame = encode_send_verbatim("new\"Message", &raw);
        assert_eq!(
            &frame[..],
            format!("{{\"type\":1,\"target\":\"new\\\"Message\",\"arguments\":{text}}}\x1e")
                .as_bytes()
        );
        let plain: Box<RawValue> = serde_json::from_str(r#"[1,"x"]"#).unwrap();
        let same = HubMessage::Invocation(Invocation::send(
            "m",
            vec![Value::from(1), Value::from("x")],
        ));
        assert_eq!(encode_send_verbatim("m", &plain), encode(&same));
    }
    use serde_json::json;

    fn text(bytes: Bytes) -> String {
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn frames_are_split_by_record_separator_not_by_chunks() {
        let mut buf = BytesMut::from(&b"{\"type\":6}\x1e{\"type\":"[..]);
        assert_eq!(&next_frame(&mut buf).unwrap()[..], b"{\"type\":6}");
        assert!(next_frame(&mut buf).is_none());
        buf.extend_from_slice(b"7}\x1e");
        assert_eq!(&next_frame(&mut buf).unwrap()[..], b"{\"type\":7}");
        assert!(buf.is_empty());
    }

    #[test]
    fn writes_sends_without_invocation_id() {
        let msg =
            HubMessage::Invocation(Invocation::send("newMessage", vec![json!("hi"), json!(42)]));
        assert_eq!(
            text(encode(&msg)),
            "{\"type\":1,\"target\":\"newMessage\",\"arguments\":[\"hi\",42]}\x1e"
        );
    }

    #[test]
    fn writes_completions_close_and_ping_like_the_dotnet_server() {
        let void = HubMessage::Completion(Completion {
            invocation_id: "3".into(),
            result: CompletionResult::Void,
            headers: Headers::new(),
        });
        assert_eq!(
            text(encode(&void)),
            "{\"type\":3,\"invocationId\":\"3\"}\x1e"
        );
        let err = HubMessage::Completion(Completion::error("3", "boom"));
        assert_eq!(
            text(encode(&err)),
            "{\"type\":3,\"invocationId\":\"3\",\"error\":\"boom\"}\x1e"
        );
        let null_result = HubMessage::Completion(Completion {
            invocation_id: "3".into(),
            result: CompletionResult::Value(Value::Null),
            headers: Headers::new(),
        });
        assert_eq!(
            text(encode(&null_result)),
            "{\"type\":3,\"invocationId\":\"3\",\"result\":null}\x1e"
        );
        let close = HubMessage::Close(Close {
            error: Some("bye".into()),
            allow_reconnect: true,
        });
        assert_eq!(
            text(encode(&close)),
            "{\"type\":7,\"error\":\"bye\",\"allowReconnect\":true}\x1e"
        );
        assert_eq!(
            text(encode(&HubMessage::Close(Close::default()))),
            "{\"type\":7}\x1e"
        );
        assert_eq!(text(encode(&HubMessage::Ping)), "{\"type\":6}\x1e");
        let item = HubMessage::StreamItem {
            invocation_id: "1".into(),
            item: Value::Null,
            headers: Headers::new(),
        };
        assert_eq!(
            text(encode(&item)),
            "{\"type\":2,\"invocationId\":\"1\",\"item\":null}\x1e"
        );
    }

    #[test]
    fn parses_client_messages_in_any_property_order() {
        let msg = parse(
            br#"{"arguments":[1],"target":"Send","type":1,"invocationId":"7","headers":{"a":"b"}}"#,
        )
        .unwrap()
        .unwrap();
        let HubMessage::Invocation(inv) = msg else {
            panic!("not an invocation")
        };
        assert_eq!(inv.invocation_id.as_deref(), Some("7"));
        assert_eq!(inv.target, "Send");
        assert_eq!(inv.arguments, vec![json!(1)]);
        assert_eq!(inv.headers.get("a").map(String::as_str), Some("b"));
        assert_eq!(parse(br#"{"type":6}"#).unwrap(), Some(HubMessage::Ping));
        assert_eq!(parse(br#"{"type":99,"x":1}"#).unwrap(), None);
    }

    #[test]
    fn rejects_malformed_messages_with_a_reason() {
        for (input, needle) in [
            (&br#"{"target":"x"}"#[..], "type"),
            (br#"{"type":"1"}"#, "type"),
            (br#"{"type":1,"arguments":[]}"#, "target"),
            (br#"{"type":1,"target":"x"}"#, "arguments"),
            (br#"{"type":1,"target":"","arguments":[]}"#, "target"),
            (
                br#"{"type":1,"target":"x","arguments":[],"invocationId":5}"#,
                "invocationId",
            ),
            (
                br#"{"type":3,"invocationId":"1","result":1,"error":"e"}"#,
                "both",
            ),
            (br#"{"type":2,"invocationId":"1"}"#, "item"),
            (br#"{"type":4,"target":"x","arguments":[]}"#, "invocationId"),
            (br#"{"type":8}"#, "sequenceId"),
            (br#"[1,2]"#, "object"),
            (b"{not json", "JSON"),
        ] {
            let err = parse(input).unwrap_err();
            assert!(err.0.contains(needle), "{input:?} gave {err}");
        }
    }
}
