//! Encode-once cache for fan-out: a message is serialized (and a JSON frame checked as UTF-8) at
//! most once per protocol no matter how many connections receive it, and every recipient gets a
//! reference-counted clone of the frame.

use std::sync::OnceLock;

use bytes::Bytes;

use super::{Frame, HubMessage, Protocol};

/// One message's framed bytes per hub protocol, whatever produced them: fan-out asks each
/// recipient's protocol for its frame and delivers nothing to a protocol without one.
pub trait Frames {
    /// The frame for `protocol`, shared between recipients.
    fn frame_for(&self, protocol: Protocol) -> Option<Frame>;
}

/// Frames that arrived already encoded per protocol (an app server's payload map): delivered
/// byte for byte, never decoded; a protocol without an entry gets nothing.
#[derive(Debug, Clone, Default)]
pub struct PreFramed {
    json: Option<Frame>,
    messagepack: Option<Frame>,
}

impl PreFramed {
    /// The frames of `(protocol name, frame)` entries; names match case-insensitively, and
    /// entries for protocols this server does not speak are ignored.
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = (&'a str, &'a Bytes)>) -> Self {
        let mut frames = PreFramed::default();
        for (name, frame) in entries {
            if let Some(protocol) = Protocol::from_name(name) {
                *frames.slot(protocol) = Some(framed(protocol, frame.clone()));
            }
        }
        frames
    }

    fn slot(&mut self, protocol: Protocol) -> &mut Option<Frame> {
        match protocol {
            Protocol::Json => &mut self.json,
            Protocol::MessagePack => &mut self.messagepack,
        }
    }
}

/// A frame of `protocol`: JSON is text, checked here once for every recipient.
fn framed(protocol: Protocol, bytes: Bytes) -> Frame {
    match protocol {
        Protocol::Json => Frame::text(bytes),
        Protocol::MessagePack => Frame::Bytes(bytes),
    }
}

impl Frames for PreFramed {
    fn frame_for(&self, protocol: Protocol) -> Option<Frame> {
        match protocol {
            Protocol::Json => self.json.clone(),
            Protocol::MessagePack => self.messagepack.clone(),
        }
    }
}

impl Frames for Encoded {
    fn frame_for(&self, protocol: Protocol) -> Option<Frame> {
        Some(self.shared(protocol))
    }
}

/// A message with its lazily computed, shared wire encodings.
#[derive(Debug)]
pub struct Encoded {
    message: HubMessage,
    json: OnceLock<Frame>,
    messagepack: OnceLock<Frame>,
}

impl Encoded {
    /// Wraps a message; nothing is serialized until a recipient needs it.
    pub fn new(message: HubMessage) -> Self {
        Encoded {
            message,
            json: OnceLock::new(),
            messagepack: OnceLock::new(),
        }
    }

    /// Wraps a message whose framed bytes for `protocol` already exist (e.g. a REST payload the
    /// SDK sent pre-framed). Those bytes are sent as they are; other protocols are still encoded
    /// from `message` on first use.
    pub fn with_frame(message: HubMessage, protocol: Protocol, frame: Bytes) -> Self {
        Encoded::new(message).seed(protocol, frame)
    }

    /// Adds pre-framed bytes for one more protocol (see [`Encoded::with_frame`]).
    pub fn seed(self, protocol: Protocol, frame: Bytes) -> Self {
        self.cell(protocol).get_or_init(|| framed(protocol, frame));
        self
    }

    /// The message itself.
    pub fn message(&self) -> &HubMessage {
        &self.message
    }

    /// The framed bytes for `protocol`, serialized on first use and shared afterwards.
    pub fn frame(&self, protocol: Protocol) -> Bytes {
        self.shared(protocol).into_bytes()
    }

    /// The frame for `protocol`, serialized (and checked, for JSON) on first use and shared
    /// afterwards.
    pub fn shared(&self, protocol: Protocol) -> Frame {
        self.cell(protocol)
            .get_or_init(|| framed(protocol, super::encode(protocol, &self.message)))
            .clone()
    }

    fn cell(&self, protocol: Protocol) -> &OnceLock<Frame> {
        match protocol {
            Protocol::Json => &self.json,
            Protocol::MessagePack => &self.messagepack,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Invocation;
    use serde_json::json;

    fn message() -> HubMessage {
        HubMessage::Invocation(Invocation::send("m", vec![json!(1)]))
    }

    #[test]
    fn encodes_each_protocol_once_and_shares_the_bytes() {
        let encoded = Encoded::new(message());
        for protocol in [Protocol::Json, Protocol::MessagePack] {
            let first = encoded.frame(protocol);
            assert_eq!(first, crate::protocol::encode(protocol, &message()));
            assert_eq!(encoded.frame(protocol).as_ptr(), first.as_ptr());
        }
        assert!(matches!(encoded.shared(Protocol::Json), Frame::Text(_)));
    }

    #[test]
    fn pre_framed_entries_match_protocol_names_case_insensitively() {
        let json = Bytes::from_static(b"{}\x1e");
        let frames = PreFramed::from_entries([("JSON", &json), ("xml", &json)]);
        assert_eq!(frames.frame_for(Protocol::Json), Some(Frame::text(json)));
        assert_eq!(frames.frame_for(Protocol::MessagePack), None);
    }

    #[test]
    fn a_seeded_frame_is_sent_as_is_and_other_protocols_are_encoded() {
        let seeded = Bytes::from_static(b"\x07pre-framed");
        let encoded = Encoded::with_frame(message(), Protocol::MessagePack, seeded.clone());
        assert_eq!(encoded.frame(Protocol::MessagePack), seeded);
        assert_eq!(
            encoded.frame(Protocol::Json),
            crate::protocol::encode(Protocol::Json, &message())
        );
    }
}
