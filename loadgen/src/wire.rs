//! What travels: every message argument starts with a stamp `@<seq>:<nanos>:` (the send's number
//! and its send time in nanoseconds since the run began), padded with `x` to the payload size.
//! Receivers find the stamp by scanning for `@`, which no framing uses, so one scanner serves
//! SignalR JSON, SignalR MessagePack (strings are stored raw), Engine.IO and raw frames.

use std::time::Duration;

use serde_json::Value;
use signalr_emulator::protocol::{Headers, HubMessage, Invocation, Protocol, encode};
use tokio_tungstenite::tungstenite::Message;

/// The framing of one kind of client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// SignalR JSON: records end with 0x1E.
    SignalrJson,
    /// SignalR MessagePack: records start with their length as a VarInt.
    SignalrMessagepack,
    /// Engine.IO v4 packets, one per frame (`2` ping, `42[...]` event).
    EngineIo,
    /// The frame is the payload.
    Raw,
}

/// What one record of a frame is, as far as the load generator cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Record {
    /// A stamped message: its send number and send time.
    Delivery { seq: u64, sent: Duration },
    /// The server closes the connection (SignalR Close, Engine.IO close or disconnect).
    Close,
    /// An Engine.IO ping that must be answered with `3`.
    Ping,
    /// Anything else (SignalR pings, unknown records).
    Other,
}

/// The hub method every load-generator send invokes.
pub(crate) const SEND_TARGET: &str = "m";

/// The SignalR JSON record a client gets for a REST send of `argument` to [`SEND_TARGET`]: an
/// Invocation without id, ended by 0x1E.
pub(crate) fn send_record(argument: &str) -> String {
    let invocation = HubMessage::Invocation(Invocation {
        invocation_id: None,
        target: SEND_TARGET.to_owned(),
        arguments: vec![Value::from(argument)],
        stream_ids: None,
        headers: Headers::new(),
    });
    String::from_utf8_lossy(&encode(Protocol::Json, &invocation)).into_owned()
}

/// The argument of send `seq` sent at `sent`, `size` bytes long (longer if the stamp is).
pub(crate) fn payload(seq: u64, sent: Duration, size: usize) -> String {
    let mut text = format!("@{seq}:{}:", sent.as_nanos());
    if text.len() < size {
        text.extend(std::iter::repeat_n('x', size - text.len()));
    }
    text
}

/// Echo request `seq` carrying `argument`: a hub invocation of `echo` awaiting its Completion
/// (SignalR), or the bare text (raw). `None` for framings that cannot echo.
pub(crate) fn echo_request(framing: Framing, seq: u64, argument: String) -> Option<Message> {
    let invocation = |argument: String| {
        HubMessage::Invocation(Invocation {
            invocation_id: Some(seq.to_string()),
            target: "echo".to_owned(),
            arguments: vec![Value::from(argument)],
            stream_ids: None,
            headers: Headers::new(),
        })
    };
    match framing {
        Framing::SignalrJson => {
            let frame = encode(Protocol::Json, &invocation(argument));
            Some(Message::text(String::from_utf8_lossy(&frame).into_owned()))
        }
        Framing::SignalrMessagepack => Some(Message::binary(encode(
            Protocol::MessagePack,
            &invocation(argument),
        ))),
        Framing::Raw => Some(Message::text(argument)),
        Framing::EngineIo => None,
    }
}

/// Reads the stamp in `record`, if it has one. Every `@` is tried, because a binary framing can
/// hold the byte 0x40 elsewhere (a MessagePack str8 of 64 bytes has it as its length).
pub(crate) fn stamp(record: &[u8]) -> Option<(u64, Duration)> {
    record
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == b'@')
        .find_map(|(at, _)| stamp_at(&record[at + 1..]))
}

fn stamp_at(after: &[u8]) -> Option<(u64, Duration)> {
    let mut fields = after.splitn(3, |&b| b == b':');
    let seq = number(fields.next()?)?;
    let nanos = number(fields.next()?)?;
    fields.next()?;
    Some((seq, Duration::from_nanos(nanos)))
}

fn number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
    })
}

/// Calls `each` for every record of a received frame.
pub(crate) fn records(framing: Framing, frame: &[u8], mut each: impl FnMut(Record)) {
    match framing {
        Framing::SignalrJson => {
            for record in frame.split(|&b| b == 0x1e).filter(|r| !r.is_empty()) {
                each(signalr_json(record));
            }
        }
        Framing::SignalrMessagepack => {
            let mut rest = frame;
            while let Some((len, header)) = varint(rest) {
                let Some(record) = rest.get(header..header + len) else {
                    return;
                };
                each(signalr_messagepack(record));
                rest = &rest[header + len..];
            }
        }
        Framing::EngineIo => each(engine_io(frame)),
        Framing::Raw => each(delivery(frame).unwrap_or(Record::Other)),
    }
}

fn delivery(record: &[u8]) -> Option<Record> {
    stamp(record).map(|(seq, sent)| Record::Delivery { seq, sent })
}

fn signalr_json(record: &[u8]) -> Record {
    if let Some(delivery) = delivery(record) {
        return delivery;
    }
    // The server writes `type` first, as the .NET writer does.
    if record.starts_with(br#"{"type":7"#) {
        Record::Close
    } else {
        Record::Other
    }
}

fn signalr_messagepack(record: &[u8]) -> Record {
    if let Some(delivery) = delivery(record) {
        return delivery;
    }
    // A message is an array whose first element is the type as a positive fixint.
    match record {
        [array, 7, ..] if array & 0xf0 == 0x90 => Record::Close,
        _ => Record::Other,
    }
}

fn engine_io(packet: &[u8]) -> Record {
    match packet {
        b"2" => Record::Ping,
        [b'1', ..] | [b'4', b'1', ..] => Record::Close,
        [b'4', b'2', ..] => delivery(packet).unwrap_or(Record::Other),
        _ => Record::Other,
    }
}

/// A MessagePack-protocol length prefix: 7 bits per byte, low groups first, at most 5 bytes.
/// Returns the length and the prefix size, or `None` when `bytes` holds no complete prefix.
pub(crate) fn varint(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut len = 0usize;
    for (i, &b) in bytes.iter().take(5).enumerate() {
        len |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((len, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(framing: Framing, frame: &[u8]) -> Vec<Record> {
        let mut out = Vec::new();
        records(framing, frame, |r| out.push(r));
        out
    }

    #[test]
    fn a_send_record_is_the_frame_the_emulator_sends_for_the_rest_send() {
        let argument = payload(3, Duration::from_nanos(99), 64);
        let body = serde_json::json!({ "arguments": [argument] });
        let arguments = serde_json::value::to_raw_value(&body["arguments"]).unwrap();
        let emulator =
            signalr_emulator::protocol::json::encode_send_verbatim(SEND_TARGET, &arguments);
        assert_eq!(send_record(&argument).as_bytes(), &emulator[..]);
        let raw = collect(Framing::Raw, send_record(&argument).as_bytes());
        assert!(
            matches!(raw[..], [Record::Delivery { seq: 3, .. }]),
            "{raw:?}"
        );
    }

    #[test]
    fn payload_has_the_size_and_the_stamp() {
        let p = payload(7, Duration::from_nanos(123_456), 64);
        assert_eq!(p.len(), 64);
        assert_eq!(
            stamp(p.as_bytes()),
            Some((7, Duration::from_nanos(123_456)))
        );
        assert!(payload(1, Duration::from_secs(10), 4).len() > 4);
    }

    #[test]
    fn every_framing_finds_the_stamp() {
        let sent = Duration::from_nanos(99);
        let json = format!(
            "{{\"type\":1,\"target\":\"m\",\"arguments\":[\"{}\"]}}\x1e{{\"type\":6}}\x1e",
            payload(3, sent, 32)
        );
        assert_eq!(
            collect(Framing::SignalrJson, json.as_bytes()),
            [Record::Delivery { seq: 3, sent }, Record::Other]
        );
        assert_eq!(
            collect(Framing::SignalrJson, b"{\"type\":7,\"error\":\"x\"}\x1e"),
            [Record::Close]
        );
        // 64 bytes: the str8 length byte is 0x40, an '@' before the stamp's own.
        let arg = payload(4, sent, 64);
        let mut body = vec![0x95, 1, 0x80, 0xc0, 0xa1, b'm', 0x91, 0xd9, arg.len() as u8];
        body.extend_from_slice(arg.as_bytes());
        let mut frame = vec![body.len() as u8];
        frame.extend_from_slice(&body);
        frame.extend_from_slice(&[2, 0x91, 6, 4, 0x93, 7, 0xc0, 0xc2]);
        assert_eq!(
            collect(Framing::SignalrMessagepack, &frame),
            [
                Record::Delivery { seq: 4, sent },
                Record::Other,
                Record::Close
            ]
        );
        let event = format!("42[\"m\",\"{}\"]", payload(5, sent, 32));
        assert_eq!(
            collect(Framing::EngineIo, event.as_bytes()),
            [Record::Delivery { seq: 5, sent }]
        );
        assert_eq!(collect(Framing::EngineIo, b"2"), [Record::Ping]);
        assert_eq!(collect(Framing::EngineIo, b"41"), [Record::Close]);
        assert_eq!(
            collect(Framing::Raw, payload(6, sent, 8).as_bytes()),
            [Record::Delivery { seq: 6, sent }]
        );
    }

    #[test]
    fn varints_span_bytes_and_truncation_is_not_a_record() {
        assert_eq!(varint(&[0x7f]), Some((127, 1)));
        assert_eq!(varint(&[0x80, 0x01]), Some((128, 2)));
        assert_eq!(varint(&[0x80]), None);
        assert!(collect(Framing::SignalrMessagepack, &[5, 0x91]).is_empty());
    }
}
