//! Encode-once cache for fan-out: a message is serialized at most once per protocol no matter how
//! many connections receive it, and every recipient gets a reference-counted clone of the bytes.

use std::sync::OnceLock;

use bytes::Bytes;

use super::{HubMessage, Protocol, json};

/// A message with its lazily computed, shared wire encodings.
#[derive(Debug)]
pub struct Encoded {
    message: HubMessage,
    json: OnceLock<Bytes>,
}

impl Encoded {
    /// Wraps a message; nothing is serialized until a recipient needs it.
    pub fn new(message: HubMessage) -> Self {
        Encoded {
            message,
            json: OnceLock::new(),
        }
    }

    /// The message itself.
    pub fn message(&self) -> &HubMessage {
        &self.message
    }

    /// The framed bytes for `protocol`, serialized on first use and shared afterwards.
    pub fn frame(&self, protocol: Protocol) -> Bytes {
        match protocol {
            Protocol::Json => self
                .json
                .get_or_init(|| json::encode(&self.message))
                .clone(),
        }
    }
}
