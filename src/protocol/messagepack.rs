//! The MessagePack hub protocol: VarInt length framing, parsing of client messages in every array
//! layout the official clients send, and the writer rules of the .NET server (Invocation always
//! with 6 elements, headers always a map, Close always with 3 elements).
//!
//! Frames are `[Length][Body]`: the body size as an unsigned VarInt of 1 to 5 bytes (7 bits per
//! byte, least-significant group first, high bit = more bytes follow, at most 2 GB − 1), then one
//! MessagePack array.
//!
//! [`HubMessage`] keeps arguments, items and results as JSON values, so messages cross between
//! JSON and MessagePack clients. The value mapping:
//!
//! | MessagePack | JSON |
//! |---|---|
//! | nil, bool | null, bool |
//! | int (any width) | integer (u64 when non-negative, else i64) |
//! | float 32 / float 64 | number (f64); NaN and infinities are rejected, JSON has none |
//! | str | string (must be UTF-8) |
//! | bin | string, standard base64 with padding (how .NET's JSON protocol shows `byte[]`) |
//! | array | array |
//! | map | object; string keys as they are, other keys as their JSON text (`1`, `true`, …) |
//! | ext (incl. timestamps) | rejected with a protocol error |
//!
//! Back to MessagePack, integers are written in the smallest encoding that holds them (rmp
//! picks it), other numbers as float 64, objects as maps with string keys.

use std::convert::Infallible;
use std::io;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::{Buf, Bytes, BytesMut};
use rmp::encode::{self as enc, ByteBuf, ValueWriteError};
use rmpv::Value as Msgpack;
use serde_json::{Number, Value};

use super::message::{Close, Completion, CompletionResult, Headers, HubMessage, Invocation};
use super::varint::{self, MAX_PREFIX_LEN, PrefixTooLong, length_prefix};
use super::{ProtocolError, invalid};

/// rmpv spends about two depth units per nested array or map, so this allows roughly the 128
/// levels serde_json accepts in the JSON protocol, and keeps recursion far from the stack limit.
const MAX_DEPTH: usize = 256;

/// Completion result kinds (element [3] of a Completion).
const RESULT_ERROR: u64 = 1;
const RESULT_VOID: u64 = 2;
const RESULT_VALUE: u64 = 3;

/// Takes the next complete message body (without its length prefix) off the front of `buf`.
/// `Ok(None)` means the prefix or the body is still incomplete; nothing is consumed then.
pub fn next_frame(buf: &mut BytesMut) -> Result<Option<BytesMut>, ProtocolError> {
    let Some((length, prefix_len)) = read_length(buf)? else {
        return Ok(None);
    };
    if buf.len() - prefix_len < length {
        return Ok(None);
    }
    buf.advance(prefix_len);
    Ok(Some(buf.split_to(length)))
}

/// Reads the VarInt at the start of `bytes`: `(body length, prefix length)`, or `None` if the
/// prefix is incomplete.
fn read_length(bytes: &[u8]) -> Result<Option<(usize, usize)>, ProtocolError> {
    match varint::read_length(bytes) {
        Err(PrefixTooLong) => Err(invalid(
            "Invalid MessagePack frame: the length prefix is longer than 5 bytes or exceeds 2 GB.",
        )),
        Ok(Some((0, _))) => Err(invalid(
            "Invalid MessagePack frame: a message cannot have length 0.",
        )),
        Ok(found) => Ok(found),
    }
}

/// Parses one unframed MessagePack hub message. `Ok(None)` means a message type this server does
/// not know, which the protocol says to ignore. Elements after the ones a layout defines are
/// ignored, as the .NET and JS readers do; bytes after the array are an error.
pub fn parse(bytes: &[u8]) -> Result<Option<HubMessage>, ProtocolError> {
    let mut rest = bytes;
    let value =
        rmpv::decode::read_value_with_max_depth(&mut rest, MAX_DEPTH).map_err(read_error)?;
    if !rest.is_empty() {
        return Err(invalid(format!(
            "A MessagePack hub message must be one array, but {} more bytes follow it.",
            rest.len()
        )));
    }
    let Msgpack::Array(items) = value else {
        return Err(invalid("A MessagePack hub message must be an array."));
    };
    if items.is_empty() {
        return Err(invalid(
            "A MessagePack hub message must not be an empty array.",
        ));
    }
    let mut fields = Fields::new(items);
    let kind = match fields.next() {
        Msgpack::Integer(kind) => kind.as_u64(),
        _ => return Err(invalid("Expected the message type to be of type Integer.")),
    };
    let message = match kind {
        Some(1) => HubMessage::Invocation(fields.invocation("Invocation", false)?),
        Some(2) => {
            fields.require("StreamItem", 4)?;
            HubMessage::StreamItem {
                headers: fields.headers()?,
                invocation_id: fields.required_id()?,
                item: to_json(fields.next())?,
            }
        }
        Some(3) => HubMessage::Completion(fields.completion()?),
        Some(4) => HubMessage::StreamInvocation(fields.invocation("StreamInvocation", true)?),
        Some(5) => {
            fields.require("CancelInvocation", 3)?;
            HubMessage::CancelInvocation {
                headers: fields.headers()?,
                invocation_id: fields.required_id()?,
            }
        }
        Some(6) => HubMessage::Ping,
        Some(7) => {
            fields.require("Close", 2)?;
            HubMessage::Close(Close {
                error: optional_string(fields.next(), "error")?,
                // Absent when the client wrote only 2 elements, as the JS client does.
                allow_reconnect: match fields.next() {
                    Msgpack::Nil => false,
                    Msgpack::Boolean(allow) => allow,
                    _ => return Err(invalid("Expected 'allowReconnect' to be of type Boolean.")),
                },
            })
        }
        Some(8) => {
            fields.require("Ack", 2)?;
            HubMessage::Ack {
                sequence_id: fields.sequence_id()?,
            }
        }
        Some(9) => {
            fields.require("Sequence", 2)?;
            HubMessage::Sequence {
                sequence_id: fields.sequence_id()?,
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(message))
}

fn read_error(error: rmpv::decode::Error) -> ProtocolError {
    let reason = match &error {
        rmpv::decode::Error::DepthLimitExceeded => "values are nested too deeply".to_owned(),
        e if e.kind() == io::ErrorKind::UnexpectedEof => {
            "the data ends in the middle of a value".to_owned()
        }
        e => e.to_string(),
    };
    invalid(format!("Error reading MessagePack hub message: {reason}."))
}

/// The elements of a message array, taken front to back.
struct Fields {
    items: std::vec::IntoIter<Msgpack>,
    count: usize,
}

impl Fields {
    fn new(items: Vec<Msgpack>) -> Self {
        Fields {
            count: items.len(),
            items: items.into_iter(),
        }
    }

    /// Fails unless the message has at least `min` elements, the type included.
    fn require(&self, name: &str, min: usize) -> Result<(), ProtocolError> {
        if self.count < min {
            return Err(invalid(format!(
                "A MessagePack {name} message needs at least {min} elements, but has {}.",
                self.count
            )));
        }
        Ok(())
    }

    /// The next element; nil past the end, which optional trailing elements rely on.
    fn next(&mut self) -> Msgpack {
        self.items.next().unwrap_or(Msgpack::Nil)
    }

    fn headers(&mut self) -> Result<Headers, ProtocolError> {
        let Msgpack::Map(entries) = self.next() else {
            return Err(invalid("Expected 'headers' to be of type Map."));
        };
        entries
            .into_iter()
            .map(|(name, value)| {
                let name = string(name, "header name")?;
                let value = match value {
                    Msgpack::String(s) => s.into_str(),
                    _ => None,
                }
                .ok_or_else(|| {
                    invalid(format!("Expected header '{name}' to be of type String."))
                })?;
                Ok((name, value))
            })
            .collect()
    }

    fn required_id(&mut self) -> Result<String, ProtocolError> {
        match optional_string(self.next(), "invocationId")? {
            Some(id) if !id.is_empty() => Ok(id),
            _ => Err(invalid("Missing required property 'invocationId'.")),
        }
    }

    fn sequence_id(&mut self) -> Result<u64, ProtocolError> {
        match self.next() {
            Msgpack::Integer(id) => id.as_u64(),
            _ => None,
        }
        .ok_or_else(|| invalid("Expected 'sequenceId' to be a non-negative integer."))
    }

    /// `[type, Headers, InvocationId, Target, [Arguments], [StreamIds]?]`.
    fn invocation(&mut self, name: &str, streaming: bool) -> Result<Invocation, ProtocolError> {
        self.require(name, 5)?;
        let headers = self.headers()?;
        let invocation_id = if streaming {
            Some(self.required_id()?)
        } else {
            optional_string(self.next(), "invocationId")?.filter(|id| !id.is_empty())
        };
        let target = string(self.next(), "target")?;
        if target.is_empty() {
            return Err(invalid("The 'target' property must not be empty."));
        }
        let Msgpack::Array(arguments) = self.next() else {
            return Err(invalid("Expected 'arguments' to be of type Array."));
        };
        let arguments = arguments
            .into_iter()
            .map(to_json)
            .collect::<Result<_, _>>()?;
        // The .NET server writes `[]` for "no streams", so an empty list means none.
        let stream_ids = match self.next() {
            Msgpack::Nil => None,
            Msgpack::Array(ids) if ids.is_empty() => None,
            Msgpack::Array(ids) => Some(
                ids.into_iter()
                    .map(|id| string(id, "streamIds"))
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err(invalid("Expected 'streamIds' to be of type Array.")),
        };
        Ok(Invocation {
            invocation_id,
            target,
            arguments,
            stream_ids,
            headers,
        })
    }

    /// `[3, Headers, InvocationId, ResultKind, Result?]`.
    fn completion(&mut self) -> Result<Completion, ProtocolError> {
        self.require("Completion", 4)?;
        let headers = self.headers()?;
        let invocation_id = self.required_id()?;
        let kind = match self.next() {
            Msgpack::Integer(kind) => kind.as_u64(),
            _ => None,
        };
        let result = match kind {
            Some(RESULT_VOID) => CompletionResult::Void,
            Some(RESULT_ERROR) => {
                self.require("Completion with an error", 5)?;
                CompletionResult::Error(string(self.next(), "error")?)
            }
            Some(RESULT_VALUE) => {
                self.require("Completion with a result", 5)?;
                CompletionResult::Value(to_json(self.next())?)
            }
            _ => {
                return Err(invalid(
                    "Expected the Completion result kind to be 1 (error), 2 (void) or 3 (result).",
                ));
            }
        };
        Ok(Completion {
            invocation_id,
            result,
            headers,
        })
    }
}

fn string(value: Msgpack, field: &str) -> Result<String, ProtocolError> {
    match value {
        Msgpack::String(s) => s
            .into_str()
            .ok_or_else(|| invalid(format!("Expected '{field}' to be valid UTF-8."))),
        _ => Err(invalid(format!("Expected '{field}' to be of type String."))),
    }
}

fn optional_string(value: Msgpack, field: &str) -> Result<Option<String>, ProtocolError> {
    match value {
        Msgpack::Nil => Ok(None),
        value => string(value, field).map(Some),
    }
}

/// Converts an argument, item or result to JSON (see the module docs for the mapping).
fn to_json(value: Msgpack) -> Result<Value, ProtocolError> {
    Ok(match value {
        Msgpack::Nil => Value::Null,
        Msgpack::Boolean(b) => Value::Bool(b),
        Msgpack::Integer(i) => match i.as_u64() {
            Some(n) => Value::from(n),
            // An rmpv integer that does not fit a u64 is a negative i64.
            None => Value::from(i.as_i64().unwrap_or(i64::MIN)),
        },
        Msgpack::F32(f) => float(f64::from(f))?,
        Msgpack::F64(f) => float(f)?,
        Msgpack::String(s) => Value::String(
            s.into_str()
                .ok_or_else(|| invalid("A string in the message is not valid UTF-8."))?,
        ),
        Msgpack::Binary(bytes) => Value::String(STANDARD.encode(bytes)),
        Msgpack::Array(items) => {
            Value::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?)
        }
        Msgpack::Map(entries) => Value::Object(
            entries
                .into_iter()
                .map(|(key, value)| Ok((key_text(key)?, to_json(value)?)))
                .collect::<Result<_, ProtocolError>>()?,
        ),
        Msgpack::Ext(kind, _) => {
            return Err(invalid(format!(
                "MessagePack extension type {kind} is not supported; send plain values."
            )));
        }
    })
}

/// JSON object keys are strings; any other msgpack key becomes its JSON text.
fn key_text(key: Msgpack) -> Result<String, ProtocolError> {
    Ok(match to_json(key)? {
        Value::String(s) => s,
        other => other.to_string(),
    })
}

fn float(f: f64) -> Result<Value, ProtocolError> {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| invalid(format!("The number {f} cannot be represented in JSON.")))
}

/// Encodes one message with its VarInt length prefix, exactly as the .NET server writes it.
pub fn encode(message: &HubMessage) -> Bytes {
    // The body goes after room for the longest prefix; the real prefix is then written right in
    // front of it, so the body is never copied.
    let mut out = ByteBuf::from_vec(vec![0; MAX_PREFIX_LEN]);
    write_message(&mut out, message);
    let mut out = out.into_vec();
    let (prefix, prefix_len) = length_prefix(out.len() - MAX_PREFIX_LEN);
    let start = MAX_PREFIX_LEN - prefix_len;
    out[start..MAX_PREFIX_LEN].copy_from_slice(&prefix[..prefix_len]);
    Bytes::from(out).slice(start..)
}

/// Removes the VarInt length prefix of a frame this module encoded, e.g. for upstream bodies.
pub fn unframed(frame: &Bytes) -> Bytes {
    let prefix_len = frame
        .iter()
        .take(MAX_PREFIX_LEN)
        .position(|byte| byte & 0x80 == 0)
        .map_or(0, |last| last + 1);
    frame.slice(prefix_len..)
}

fn write_message(out: &mut ByteBuf, message: &HubMessage) {
    match message {
        HubMessage::Invocation(inv) => write_invocation(out, 1, inv),
        HubMessage::StreamInvocation(inv) => write_invocation(out, 4, inv),
        HubMessage::StreamItem {
            invocation_id,
            item,
            headers,
        } => {
            write_array_len(out, 4);
            write_uint(out, 2);
            write_headers(out, headers);
            write_str(out, invocation_id);
            write_value(out, item);
        }
        HubMessage::Completion(completion) => {
            let (kind, len) = match completion.result {
                CompletionResult::Error(_) => (RESULT_ERROR, 5),
                CompletionResult::Void => (RESULT_VOID, 4),
                CompletionResult::Value(_) => (RESULT_VALUE, 5),
            };
            write_array_len(out, len);
            write_uint(out, 3);
            write_headers(out, &completion.headers);
            write_str(out, &completion.invocation_id);
            write_uint(out, kind);
            match &completion.result {
                CompletionResult::Error(error) => write_str(out, error),
                CompletionResult::Void => {}
                CompletionResult::Value(value) => write_value(out, value),
            }
        }
        HubMessage::CancelInvocation {
            invocation_id,
            headers,
        } => {
            write_array_len(out, 3);
            write_uint(out, 5);
            write_headers(out, headers);
            write_str(out, invocation_id);
        }
        HubMessage::Ping => {
            write_array_len(out, 1);
            write_uint(out, 6);
        }
        HubMessage::Close(close) => {
            write_array_len(out, 3);
            write_uint(out, 7);
            write_optional_str(out, close.error.as_deref());
            let Ok(()) = enc::write_bool(out, close.allow_reconnect);
        }
        HubMessage::Ack { sequence_id } => {
            write_array_len(out, 2);
            write_uint(out, 8);
            write_uint(out, *sequence_id);
        }
        HubMessage::Sequence { sequence_id } => {
            write_array_len(out, 2);
            write_uint(out, 9);
            write_uint(out, *sequence_id);
        }
    }
}

/// `[type, Headers, InvocationId/nil, Target, [Arguments], [StreamIds]]`, always 6 elements.
fn write_invocation(out: &mut ByteBuf, kind: u64, invocation: &Invocation) {
    write_array_len(out, 6);
    write_uint(out, kind);
    write_headers(out, &invocation.headers);
    write_optional_str(
        out,
        invocation
            .invocation_id
            .as_deref()
            .filter(|id| !id.is_empty()),
    );
    write_str(out, &invocation.target);
    write_array_len(out, invocation.arguments.len());
    for argument in &invocation.arguments {
        write_value(out, argument);
    }
    let stream_ids = invocation.stream_ids.as_deref().unwrap_or_default();
    write_array_len(out, stream_ids.len());
    for id in stream_ids {
        write_str(out, id);
    }
}

/// Headers are always a map, `0x80` when empty: the JS reader rejects anything else.
fn write_headers(out: &mut ByteBuf, headers: &Headers) {
    write_map_len(out, headers.len());
    for (name, value) in headers {
        write_str(out, name);
        write_str(out, value);
    }
}

fn write_value(out: &mut ByteBuf, value: &Value) {
    match value {
        Value::Null => {
            let Ok(()) = enc::write_nil(out);
        }
        Value::Bool(b) => {
            let Ok(()) = enc::write_bool(out, *b);
        }
        Value::Number(n) => {
            if let Some(n) = n.as_u64() {
                write_uint(out, n);
            } else if let Some(n) = n.as_i64() {
                written(enc::write_sint(out, n));
            } else {
                // Without serde_json's arbitrary_precision, a number that is no integer is an f64.
                written(enc::write_f64(out, n.as_f64().unwrap_or(f64::NAN)));
            }
        }
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            write_array_len(out, items.len());
            for item in items {
                write_value(out, item);
            }
        }
        Value::Object(map) => {
            write_map_len(out, map.len());
            for (key, value) in map {
                write_str(out, key);
                write_value(out, value);
            }
        }
    }
}

fn write_optional_str(out: &mut ByteBuf, s: Option<&str>) {
    match s {
        Some(s) => write_str(out, s),
        None => {
            let Ok(()) = enc::write_nil(out);
        }
    }
}

fn write_str(out: &mut ByteBuf, s: &str) {
    written(enc::write_str(out, s));
}

fn write_uint(out: &mut ByteBuf, n: u64) {
    written(enc::write_uint(out, n));
}

fn write_array_len(out: &mut ByteBuf, len: usize) {
    written(enc::write_array_len(out, wire_len(len)));
}

fn write_map_len(out: &mut ByteBuf, len: usize) {
    written(enc::write_map_len(out, wire_len(len)));
}

/// MessagePack counts elements in 32 bits; no message within the server's size limits has more.
fn wire_len(len: usize) -> u32 {
    u32::try_from(len).expect("a hub message never holds 4 billion elements")
}

/// Writing to a `ByteBuf` cannot fail (its error type is uninhabited), so the result is taken
/// apart by pattern rather than unwrapped.
fn written<T>(result: Result<T, ValueWriteError<Infallible>>) -> T {
    let Ok(value) = result;
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hex(bytes: &[u8]) -> String {
        bytes
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn completion(result: CompletionResult) -> HubMessage {
        HubMessage::Completion(Completion {
            invocation_id: "1".into(),
            result,
            headers: Headers::new(),
        })
    }

    /// The byte examples of PROTOCOL.md §3.4, prefix included.
    fn examples() -> Vec<(HubMessage, &'static str)> {
        vec![
            (HubMessage::Ping, "02 91 06"),
            (HubMessage::Close(Close::default()), "04 93 07 C0 C2"),
            (
                HubMessage::Close(Close {
                    error: Some("x".into()),
                    allow_reconnect: true,
                }),
                "05 93 07 A1 78 C3",
            ),
            (completion(CompletionResult::Void), "06 94 03 80 A1 31 02"),
            (
                completion(CompletionResult::Value(json!(42))),
                "07 95 03 80 A1 31 03 2A",
            ),
            (
                completion(CompletionResult::Error("boom".into())),
                "0B 95 03 80 A1 31 01 A4 62 6F 6F 6D",
            ),
            (
                HubMessage::StreamItem {
                    invocation_id: "1".into(),
                    item: json!(42),
                    headers: Headers::new(),
                },
                "06 94 02 80 A1 31 2A",
            ),
            (
                HubMessage::Invocation(Invocation::send("newMessage", vec![json!("hi")])),
                "14 96 01 80 C0 AA 6E 65 77 4D 65 73 73 61 67 65 91 A2 68 69 90",
            ),
            (HubMessage::Ack { sequence_id: 5 }, "03 92 08 05"),
            (HubMessage::Sequence { sequence_id: 1 }, "03 92 09 01"),
        ]
    }

    #[test]
    fn encodes_the_documented_byte_examples() {
        for (message, expected) in examples() {
            assert_eq!(hex(&encode(&message)), expected, "{message:?}");
        }
    }

    #[test]
    fn parses_the_documented_byte_examples_back() {
        for (message, bytes) in examples() {
            let mut buf = BytesMut::from(&encode(&message)[..]);
            let frame = next_frame(&mut buf).unwrap().unwrap();
            assert!(buf.is_empty(), "{bytes}");
            assert_eq!(parse(&frame).unwrap(), Some(message), "{bytes}");
        }
    }

    #[test]
    fn parses_the_spec_invocation_with_headers() {
        // 0x96 0x01 [headers {x:y, z:z}] "xyz" "method" [42] []
        let mut bytes = vec![
            0x96, 0x01, 0x82, 0xa1, b'x', 0xa1, b'y', 0xa1, b'z', 0xa1, b'z',
        ];
        bytes.extend_from_slice(b"\xa3xyz\xa6method\x91\x2a\x90");
        let Some(HubMessage::Invocation(inv)) = parse(&bytes).unwrap() else {
            panic!("not an invocation")
        };
        assert_eq!(inv.invocation_id.as_deref(), Some("xyz"));
        assert_eq!(inv.target, "method");
        assert_eq!(inv.arguments, vec![json!(42)]);
        assert_eq!(inv.stream_ids, None);
        assert_eq!(
            inv.headers,
            Headers::from([("x".into(), "y".into()), ("z".into(), "z".into())])
        );
    }

    #[test]
    fn length_prefixes_follow_the_documented_examples() {
        for (length, prefix) in [
            (2, &[0x02][..]),
            (53, &[0x35]),
            (300, &[0xac, 0x02]),
            (5248, &[0x80, 0x29]),
            (0x7fff_ffff, &[0xff, 0xff, 0xff, 0xff, 0x07]),
        ] {
            let (bytes, used) = length_prefix(length);
            assert_eq!(&bytes[..used], prefix, "{length}");
            assert_eq!(read_length(prefix).unwrap(), Some((length, prefix.len())));
        }
    }

    #[test]
    fn frames_wait_for_the_whole_prefix_and_body() {
        let mut buf = BytesMut::new();
        let body = vec![0x91; 300]; // Content does not matter to framing.
        let mut wire = vec![0xac, 0x02];
        wire.extend_from_slice(&body);
        for (i, byte) in wire.iter().enumerate() {
            assert_eq!(next_frame(&mut buf).unwrap(), None, "after {i} bytes");
            assert_eq!(buf.len(), i, "nothing consumed while incomplete");
            buf.extend_from_slice(&[*byte]);
        }
        assert_eq!(&next_frame(&mut buf).unwrap().unwrap()[..], &body[..]);
        assert!(buf.is_empty());
    }

    #[test]
    fn rejects_bad_length_prefixes() {
        for (bytes, needle) in [
            (&[0x00][..], "length 0"),
            (&[0x80, 0x00], "length 0"),
            (&[0xff, 0xff, 0xff, 0xff, 0x08], "5 bytes"),
            (&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01], "5 bytes"),
        ] {
            let err = next_frame(&mut BytesMut::from(bytes)).unwrap_err();
            assert!(err.0.contains(needle), "{bytes:02X?} gave {err}");
        }
        // A 4-byte prefix with the continuation bit set is still only incomplete.
        let mut buf = BytesMut::from(&[0x80, 0x80, 0x80, 0x80][..]);
        assert_eq!(next_frame(&mut buf).unwrap(), None);
    }

    #[test]
    fn accepts_client_layouts_and_any_int_width() {
        // Invocation with 5 elements and an empty-string id (= none), type as uint16.
        let msg = parse(b"\x95\xcd\x00\x01\x80\xa0\xa1m\x90").unwrap();
        assert_eq!(
            msg,
            Some(HubMessage::Invocation(Invocation::send("m", vec![])))
        );
        // StreamInvocation with stream ids.
        let Some(HubMessage::StreamInvocation(inv)) =
            parse(b"\x96\x04\x80\xa1\x37\xa1m\x91\x01\x91\xa1\x38").unwrap()
        else {
            panic!("not a stream invocation")
        };
        assert_eq!(inv.invocation_id.as_deref(), Some("7"));
        assert_eq!(inv.stream_ids, Some(vec!["8".to_owned()]));
        // The JS client's 2-element Close; Ack with a uint64 and Sequence with an int32.
        assert_eq!(
            parse(b"\x92\x07\xc0").unwrap(),
            Some(HubMessage::Close(Close::default()))
        );
        assert_eq!(
            parse(b"\x92\x08\xcf\x00\x00\x00\x01\x00\x00\x00\x00").unwrap(),
            Some(HubMessage::Ack {
                sequence_id: 1 << 32
            })
        );
        assert_eq!(
            parse(b"\x92\x09\xd2\x00\x00\x00\x05").unwrap(),
            Some(HubMessage::Sequence { sequence_id: 5 })
        );
        assert_eq!(
            parse(b"\x93\x05\x81\xa1a\xa1b\xa1\x34").unwrap(),
            Some(HubMessage::CancelInvocation {
                invocation_id: "4".into(),
                headers: Headers::from([("a".into(), "b".into())]),
            })
        );
        // Unknown types are ignored, negative ones too.
        assert_eq!(parse(b"\x92\x63\x01").unwrap(), None);
        assert_eq!(parse(b"\x91\xff").unwrap(), None);
    }

    #[test]
    fn rejects_malformed_messages_with_a_reason() {
        for (input, needle) in [
            (&b"\x06"[..], "array"),
            (b"\x90", "empty"),
            (b"\x91\xa1x", "type"),
            (b"\x91\x06\x06", "more bytes"),
            (b"\x94\x01\x80\xc0\xa1m", "at least 5"),
            (b"\x95\x01\xc0\xc0\xa1m\x90", "headers"),
            (b"\x95\x01\x81\xa1a\x01\xc0\xa1m\x90", "header 'a'"),
            (b"\x95\x01\x80\xc0\xa0\x90", "target"),
            (b"\x95\x01\x80\xc0\xa1m\xc0", "arguments"),
            (b"\x96\x01\x80\xc0\xa1m\x90\x91\x01", "streamIds"),
            (b"\x95\x04\x80\xc0\xa1m\x90", "invocationId"),
            (b"\x94\x03\x80\xa1\x31\x03", "at least 5"),
            (b"\x94\x03\x80\xa1\x31\x07", "result kind"),
            (b"\x93\x02\x80\xa1\x31", "at least 4"),
            (b"\x93\x07\xc0\x01", "allowReconnect"),
            (b"\x92\x08\xff", "sequenceId"),
            (b"\x95\x01\x80\xc0\xa1m", "ends in the middle"),
            (b"\x95\x01\x80\xc0\xa1m\x91\xd4\x01\x00", "extension"),
            (
                b"\x95\x01\x80\xc0\xa1m\x91\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00",
                "JSON",
            ),
            (b"\x95\x01\x80\xc0\xa1m\x91\xa1\xff", "UTF-8"),
        ] {
            let err = parse(input).unwrap_err();
            assert!(err.0.contains(needle), "{input:02X?} gave {err}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let mut bytes = b"\x95\x01\x80\xc0\xa1m\x91".to_vec();
        bytes.extend(std::iter::repeat_n(0x91, 100_000));
        bytes.push(0xc0);
        let err = parse(&bytes).unwrap_err();
        assert!(err.0.contains("nested too deeply"), "{err}");
    }

    #[test]
    fn maps_msgpack_values_to_json() {
        // [nil, true, -1, u64::MAX, 1.5f32, "é", bin [1,2,3], {1: "a", "k": [false]}]
        let mut args = vec![0x98, 0xc0, 0xc3, 0xff, 0xcf];
        args.extend_from_slice(&[0xff; 8]);
        args.extend_from_slice(&[0xca, 0x3f, 0xc0, 0x00, 0x00]);
        args.push(0xa2);
        args.extend_from_slice("é".as_bytes());
        args.extend_from_slice(&[0xc4, 0x03, 1, 2, 3]);
        args.extend_from_slice(b"\x82\x01\xa1a\xa1k\x91\xc2");
        let mut bytes = b"\x95\x01\x80\xc0\xa1m".to_vec();
        bytes.extend_from_slice(&args);
        let Some(HubMessage::Invocation(inv)) = parse(&bytes).unwrap() else {
            panic!("not an invocation")
        };
        assert_eq!(
            inv.arguments,
            vec![
                Value::Null,
                json!(true),
                json!(-1),
                json!(u64::MAX),
                json!(1.5),
                json!("é"),
                json!("AQID"),
                json!({"1": "a", "k": [false]}),
            ]
        );
    }

    #[test]
    fn writes_json_numbers_in_the_smallest_encoding() {
        let message = HubMessage::Invocation(Invocation::send(
            "m",
            vec![json!(1), json!(-1), json!(300), json!(-200), json!(0.5)],
        ));
        let encoded = encode(&message);
        assert!(
            hex(&encoded).ends_with("95 01 FF CD 01 2C D1 FF 38 CB 3F E0 00 00 00 00 00 00 90"),
            "{}",
            hex(&encoded)
        );
    }

    #[test]
    fn unframed_strips_only_the_prefix() {
        let long = HubMessage::Invocation(Invocation::send("m", vec![json!("x".repeat(300))]));
        for message in [HubMessage::Ping, long] {
            let frame = encode(&message);
            let body = unframed(&frame);
            assert_eq!(parse(&body).unwrap(), Some(message));
        }
    }
}
