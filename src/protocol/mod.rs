//! Pure SignalR hub-protocol codecs: the handshake, the JSON protocol (0x1E framing), the message
//! model and the encode-once cache used by fan-out. No I/O and no web-framework types live here,
//! so every codec can be tested with byte fixtures and reused by every transport.

pub mod encoded;
pub mod handshake;
pub mod json;
mod message;

pub use encoded::Encoded;
pub use message::{Close, Completion, CompletionResult, Headers, HubMessage, Invocation};

/// A hub protocol a client can pick in its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `json`: UTF-8 JSON objects each followed by the record separator 0x1E, sent as text frames.
    Json,
}

impl Protocol {
    /// The name clients use in the handshake.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Json => "json",
        }
    }

    /// Whether the protocol needs the transport's binary transfer format.
    pub fn is_binary(self) -> bool {
        match self {
            Protocol::Json => false,
        }
    }

    /// Looks a protocol up by its handshake name (case-sensitive, as ASP.NET Core does).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "json" => Some(Protocol::Json),
            _ => None,
        }
    }
}

/// The highest hub-protocol version the server accepts (2 = stateful reconnect capable).
pub const MAX_PROTOCOL_VERSION: u64 = 2;
