//! The Management SDK's binary send payload (`application/octet-stream`,
//! `application/x-msgpack`): a MessagePack map from hub-protocol name to that protocol's
//! pre-framed invocation, e.g. `{"json": bin(<json>\x1e), "messagepack": bin(<varint><msgpack>)}`.
//! The SDK serializes once per protocol so the service only forwards bytes.
//!
//! The `json` entry is required: it is parsed into the Invocation (so every protocol can be
//! served). The framed bytes of `json` and, when present, `messagepack` are delivered to clients
//! of that protocol unchanged.

use bytes::{Bytes, BytesMut};
use rmpv::ValueRef;

use crate::error::ApiError;
use crate::protocol::{HubMessage, Invocation, Protocol};
use crate::text::sentence_end;

/// The map is flat: a map of binaries. Anything nested deeper is not this format, and the cap
/// keeps hostile input from recursing. (rmpv counts a few steps per level.)
const MAX_DEPTH: usize = 16;

/// Parses the binary payload into the invocation and the pre-framed bytes it carried for each
/// protocol (JSON always, MessagePack when present), validated so clients only get well-formed
/// frames.
pub(super) fn parse(body: &[u8]) -> Result<(Invocation, Vec<(Protocol, Bytes)>), ApiError> {
    let Entries { json, messagepack } = entries(body)?;
    let invocation = single_invocation(Protocol::Json, json)?;
    let mut frames = vec![(Protocol::Json, Bytes::copy_from_slice(json))];
    if let Some(messagepack) = messagepack {
        single_invocation(Protocol::MessagePack, messagepack)?;
        frames.push((Protocol::MessagePack, Bytes::copy_from_slice(messagepack)));
    }
    Ok((invocation, frames))
}

/// Checks that `framed` holds exactly one framed Invocation in `protocol` and returns it.
fn single_invocation(protocol: Protocol, framed: &[u8]) -> Result<Invocation, ApiError> {
    let invalid = |why: String| {
        ApiError::bad_request(
            "body",
            format!(
                "The '{}' entry of the MessagePack payload {}",
                protocol.name(),
                sentence_end(why)
            ),
        )
    };
    let mut buffer = BytesMut::from(framed);
    let frame = match crate::protocol::next_frame(protocol, &mut buffer) {
        Ok(Some(frame)) => frame,
        Ok(None) => {
            return Err(invalid(format!(
                "is not a complete framed {} hub message",
                protocol.name()
            )));
        }
        Err(e) => return Err(invalid(format!("is not framed correctly: {e}"))),
    };
    if !buffer.is_empty() {
        return Err(invalid(format!(
            "holds more than one message ({} bytes follow the first)",
            buffer.len()
        )));
    }
    match crate::protocol::parse(protocol, &frame) {
        Ok(Some(HubMessage::Invocation(invocation))) => Ok(invocation),
        Ok(Some(other)) => Err(invalid(format!(
            "is a {} message; only an Invocation (type 1) can be sent",
            other.kind_name()
        ))),
        Ok(None) => Err(invalid("has an unknown message type".to_owned())),
        Err(e) => Err(invalid(format!("is not a valid invocation: {e}"))),
    }
}

/// The entries of the payload map this server uses.
struct Entries<'a> {
    json: &'a [u8],
    messagepack: Option<&'a [u8]>,
}

/// Reads the map's `json` (required) and `messagepack` (optional) entries.
fn entries(body: &[u8]) -> Result<Entries<'_>, ApiError> {
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
    let ValueRef::Map(map) = value else {
        return Err(invalid("is not a MessagePack map".to_owned()));
    };
    let (mut json, mut messagepack, mut names) = (None, None, Vec::new());
    for (key, value) in map {
        let Some(name) = (match key {
            ValueRef::String(name) => name.into_str(),
            _ => None,
        }) else {
            return Err(invalid("has a key that is not a string".to_owned()));
        };
        let slot = if name.eq_ignore_ascii_case("json") {
            &mut json
        } else if name.eq_ignore_ascii_case("messagepack") {
            &mut messagepack
        } else {
            names.push(name.to_owned());
            continue;
        };
        match value {
            ValueRef::Binary(bytes) => *slot = Some(bytes),
            _ => return Err(invalid(format!("has a '{name}' entry that is not binary"))),
        }
    }
    match json {
        Some(json) => Ok(Entries { json, messagepack }),
        None => {
            if messagepack.is_some() {
                names.insert(0, "messagepack".to_owned());
            }
            Err(invalid(format!(
                "has no 'json' entry (it has {}): this server needs the JSON form to serve every client",
                if names.is_empty() {
                    "no entries".to_owned()
                } else {
                    names.join(", ")
                }
            )))
        }
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

    fn messagepack_frame() -> Vec<u8> {
        let invocation = crate::protocol::Invocation::send("m", vec![json!(1), json!("x")]);
        crate::protocol::encode(Protocol::MessagePack, &HubMessage::Invocation(invocation)).to_vec()
    }

    #[test]
    fn keeps_the_bytes_of_each_protocol() {
        let body = map(vec![
            ("messagepack", Value::Binary(messagepack_frame())),
            ("json", Value::Binary(FRAME.to_vec())),
        ]);
        let (invocation, frames) = parse(&body).unwrap();
        assert_eq!(invocation.target, "m");
        assert_eq!(invocation.arguments, vec![json!(1), json!("x")]);
        assert_eq!(
            frames,
            vec![
                (Protocol::Json, Bytes::from_static(FRAME)),
                (Protocol::MessagePack, Bytes::from(messagepack_frame())),
            ]
        );
        let only_json = map(vec![("json", Value::Binary(FRAME.to_vec()))]);
        assert_eq!(parse(&only_json).unwrap().1.len(), 1);
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
                "not a complete framed json hub message",
            ),
            (
                map(vec![
                    ("json", Value::Binary(FRAME.to_vec())),
                    ("messagepack", Value::Binary(vec![1, 2, 3])),
                ]),
                "'messagepack' entry",
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
