//! The Management SDK's binary send payload (`application/octet-stream`,
//! `application/x-msgpack`): a MessagePack map from hub-protocol name to that protocol's
//! pre-framed invocation, e.g. `{"json": bin(<json>\x1e), "messagepack": bin(<varint><msgpack>)}`.
//! The SDK serializes once per protocol so the service only forwards bytes.
//!
//! The `json` entry is required: it is parsed into the Invocation (so every protocol can be
//! served) and its framed bytes are kept to be delivered to JSON clients unchanged.

use bytes::{Bytes, BytesMut};
use rmpv::ValueRef;

use crate::error::ApiError;
use crate::protocol::{HubMessage, Invocation, json};

/// The map is flat: a map of binaries. Anything nested deeper is not this format, and the cap
/// keeps hostile input from recursing. (rmpv counts a few steps per level.)
const MAX_DEPTH: usize = 16;

/// Parses the binary payload into the invocation and the framed JSON bytes it carried.
pub(super) fn parse(body: &[u8]) -> Result<(Invocation, Bytes), ApiError> {
    let json_frame = json_entry(body)?;
    let mut buffer = BytesMut::from(json_frame);
    let invalid = |why: String| {
        ApiError::bad_request(
            "body",
            format!("The 'json' entry of the MessagePack payload {why}."),
        )
    };
    let frame = json::next_frame(&mut buffer).ok_or_else(|| {
        invalid(
            "is not a framed JSON hub message (it must end with the record separator 0x1E)"
                .to_owned(),
        )
    })?;
    if !buffer.is_empty() {
        return Err(invalid(format!(
            "holds more than one message ({} bytes follow the first record separator)",
            buffer.len()
        )));
    }
    match json::parse(&frame) {
        Ok(Some(HubMessage::Invocation(invocation))) => {
            Ok((invocation, Bytes::copy_from_slice(json_frame)))
        }
        Ok(Some(other)) => Err(invalid(format!(
            "is a {} message; only an Invocation (type 1) can be sent",
            kind(&other)
        ))),
        Ok(None) => Err(invalid("has an unknown message type".to_owned())),
        Err(e) => Err(invalid(format!("is not a valid invocation: {e}"))),
    }
}

/// The bytes of the map's `json` entry.
fn json_entry(body: &[u8]) -> Result<&[u8], ApiError> {
    let invalid = |why: String| {
        ApiError::bad_request(
            "body",
            format!(
                "The binary payload {why}; expected a MessagePack map like {{\"json\": bin, \"messagepack\": bin}} of pre-framed invocations."
            ),
        )
    };
    let mut reader = body;
    let value = rmpv::decode::read_value_ref_with_max_depth(&mut reader, MAX_DEPTH)
        .map_err(|e| invalid(format!("is not valid MessagePack ({e})")))?;
    if !reader.is_empty() {
        return Err(invalid(format!(
            "has {} bytes after the MessagePack map",
            reader.len()
        )));
    }
    let ValueRef::Map(entries) = value else {
        return Err(invalid("is not a MessagePack map".to_owned()));
    };
    let mut protocols = Vec::new();
    for (key, value) in entries {
        let ValueRef::String(name) = key else {
            return Err(invalid("has a key that is not a string".to_owned()));
        };
        let Some(name) = name.as_str() else {
            return Err(invalid("has a key that is not a string".to_owned()));
        };
        if name.eq_ignore_ascii_case("json") {
            return match value {
                ValueRef::Binary(bytes) => Ok(bytes),
                _ => Err(invalid("has a 'json' entry that is not binary".to_owned())),
            };
        }
        protocols.push(name.to_owned());
    }
    Err(invalid(format!(
        "has no 'json' entry (it has {}): this server needs the JSON form to serve every client",
        if protocols.is_empty() {
            "no entries".to_owned()
        } else {
            protocols.join(", ")
        }
    )))
}

fn kind(message: &HubMessage) -> &'static str {
    match message {
        HubMessage::Invocation(_) => "Invocation",
        HubMessage::StreamItem { .. } => "StreamItem",
        HubMessage::Completion(_) => "Completion",
        HubMessage::StreamInvocation(_) => "StreamInvocation",
        HubMessage::CancelInvocation { .. } => "CancelInvocation",
        HubMessage::Ping => "Ping",
        HubMessage::Close(_) => "Close",
        HubMessage::Ack { .. } => "Ack",
        HubMessage::Sequence { .. } => "Sequence",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmpv::Value;
    use serde_json::json;

    fn encode(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, value).unwrap();
        out
    }

    fn map(entries: Vec<(&str, Value)>) -> Vec<u8> {
        encode(&Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (Value::from(k), v))
                .collect(),
        ))
    }

    const FRAME: &[u8] = b"{\"type\":1,\"target\":\"m\",\"arguments\":[1,\"x\"]}\x1e";

    #[test]
    fn reads_the_json_entry_and_keeps_its_bytes() {
        let body = map(vec![
            ("messagepack", Value::Binary(vec![1, 2, 3])),
            ("json", Value::Binary(FRAME.to_vec())),
        ]);
        let (invocation, frame) = parse(&body).unwrap();
        assert_eq!(invocation.target, "m");
        assert_eq!(invocation.arguments, vec![json!(1), json!("x")]);
        assert_eq!(&frame[..], FRAME);
    }

    #[test]
    fn rejects_what_is_not_the_sdk_format() {
        let unframed = FRAME[..FRAME.len() - 1].to_vec();
        let two = [FRAME, FRAME].concat();
        let ping = b"{\"type\":6}\x1e".to_vec();
        let mut trailing = map(vec![("json", Value::Binary(FRAME.to_vec()))]);
        trailing.push(0);
        let deep = (0..100).fold(Value::Nil, |v, _| Value::Array(vec![v]));
        for (body, needle) in [
            (vec![0x81, 0xa4], "not valid MessagePack"),
            (encode(&Value::from(1)), "not a MessagePack map"),
            (trailing, "bytes after"),
            (encode(&deep), "not valid MessagePack"),
            (
                map(vec![("messagepack", Value::Binary(vec![]))]),
                "no 'json' entry (it has messagepack)",
            ),
            (map(vec![("json", Value::from(5))]), "not binary"),
            (
                map(vec![("json", Value::Binary(unframed))]),
                "record separator",
            ),
            (map(vec![("json", Value::Binary(two))]), "more than one"),
            (map(vec![("json", Value::Binary(ping))]), "Ping"),
            (
                map(vec![("json", Value::Binary(b"{\x1e".to_vec()))]),
                "not a valid invocation",
            ),
        ] {
            let err = parse(&body).unwrap_err();
            assert_eq!(err.status(), 400);
            assert!(err.detail().message.contains(needle), "{needle}: {err:?}");
        }
    }
}
