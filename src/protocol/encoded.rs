//! Encode-once cache for fan-out: a message is serialized at most once per protocol no matter how
//! many connections receive it, and every recipient gets a reference-counted clone of the bytes.

use std::sync::OnceLock;

use bytes::Bytes;

use super::{HubMessage, Protocol};

/// A message with its lazily computed, shared wire encodings.
#[derive(Debug)]
pub struct Encoded {
    message: HubMessage,
    json: OnceLock<Bytes>,
    messagepack: OnceLock<Bytes>,
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
        self.cell(protocol).get_or_init(|| frame);
        self
    }

    /// The message itself.
    pub fn message(&self) -> &HubMessage {
        &self.message
    }

    /// The framed bytes for `protocol`, serialized on first use and shared afterwards.
    pub fn frame(&self, protocol: Protocol) -> Bytes {
        self.cell(protocol)
            .get_or_init(|| super::encode(protocol, &self.message))
            .clone()
    }

    fn cell(&self, protocol: Protocol) -> &OnceLock<Bytes> {
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
