//! Pure SignalR hub-protocol codecs: the handshake, the JSON protocol (0x1E framing), the
//! MessagePack protocol (VarInt framing), the message model, the encode-once cache used by
//! fan-out and the shared [`Frame`] it hands to every recipient; and, in [`service`], the Azure
//! ServiceProtocol that app servers speak on `/server`.
//! No I/O and no web-framework types live here, so every codec can be tested with byte fixtures
//! and reused by every transport. Transports buffer client bytes in a [`FrameReader`] and go
//! through [`parse`], [`encode`] and [`unframed`] and never match on the protocol themselves.

use bytes::{Bytes, BytesMut};

pub mod encoded;
mod frame;
pub mod handshake;
pub mod json;
mod message;
pub mod messagepack;
mod reader;
pub mod service;
#[cfg(test)]
mod tests;
mod varint;

pub use encoded::{Encoded, Frames, PreFramed};
pub use frame::Frame;
pub use message::{Close, Completion, CompletionResult, Headers, HubMessage, Invocation};
pub use reader::FrameReader;

/// A hub protocol a client can pick in its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `json`: UTF-8 JSON objects each followed by the record separator 0x1E, sent as text frames.
    Json,
    /// `messagepack`: MessagePack arrays each preceded by a VarInt length, sent as binary frames.
    MessagePack,
}

impl Protocol {
    /// The name clients use in the handshake.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Json => "json",
            Protocol::MessagePack => "messagepack",
        }
    }

    /// Whether the protocol needs the transport's binary transfer format.
    pub fn is_binary(self) -> bool {
        match self {
            Protocol::Json => false,
            Protocol::MessagePack => true,
        }
    }

    /// Looks a protocol up by its handshake name, ignoring case as ASP.NET Core's protocol
    /// resolver does.
    pub fn from_name(name: &str) -> Option<Self> {
        [Protocol::Json, Protocol::MessagePack]
            .into_iter()
            .find(|protocol| protocol.name().eq_ignore_ascii_case(name))
    }
}

/// The highest hub-protocol version the server accepts (2 = stateful reconnect capable).
pub const MAX_PROTOCOL_VERSION: u64 = 2;

/// A client message that is not valid hub protocol. The text is sent to the client in a Close
/// message, so it says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProtocolError(pub String);

fn invalid(text: impl Into<String>) -> ProtocolError {
    ProtocolError(text.into())
}

/// Takes the next complete message (without its framing) off the front of `buf`. `Ok(None)`
/// means `buf` holds only part of a message and nothing was consumed; how the transport chunked
/// the bytes plays no role. After an error the connection must be closed.
pub fn next_frame(
    protocol: Protocol,
    buf: &mut BytesMut,
) -> Result<Option<BytesMut>, ProtocolError> {
    match protocol {
        Protocol::Json => Ok(json::next_frame(buf)),
        Protocol::MessagePack => messagepack::next_frame(buf),
    }
}

/// Parses one unframed message. `Ok(None)` means a message type this server does not know,
/// which the protocol says to ignore.
pub fn parse(protocol: Protocol, frame: &[u8]) -> Result<Option<HubMessage>, ProtocolError> {
    match protocol {
        Protocol::Json => json::parse(frame),
        Protocol::MessagePack => messagepack::parse(frame),
    }
}

/// Encodes one message with its framing, as the .NET server writes it.
pub fn encode(protocol: Protocol, message: &HubMessage) -> Bytes {
    match protocol {
        Protocol::Json => json::encode(message),
        Protocol::MessagePack => messagepack::encode(message),
    }
}

/// The message inside an encoded frame, without its transport framing (e.g. an upstream body).
pub fn unframed(protocol: Protocol, frame: &Bytes) -> Bytes {
    match protocol {
        Protocol::Json => json::unframed(frame),
        Protocol::MessagePack => messagepack::unframed(frame),
    }
}

/// One unframed message with its framing again (the separator for JSON, the VarInt length for
/// MessagePack), e.g. to relay a client message to an app server.
pub fn framed(protocol: Protocol, body: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(body.len() + varint::MAX_PREFIX_LEN);
    match protocol {
        Protocol::Json => {
            out.extend_from_slice(body);
            out.extend_from_slice(&[json::RECORD_SEPARATOR]);
        }
        Protocol::MessagePack => {
            let (prefix, prefix_len) = varint::length_prefix(body.len());
            out.extend_from_slice(&prefix[..prefix_len]);
            out.extend_from_slice(body);
        }
    }
    out.freeze()
}
