//! The hub message model shared by every protocol codec.

use std::collections::BTreeMap;

use serde_json::Value;

/// Message headers: a string-to-string map, omitted on the wire when empty.
pub type Headers = BTreeMap<String, String>;

/// One SignalR hub message (HubProtocol.md message types 1 to 9).
#[derive(Debug, Clone, PartialEq)]
pub enum HubMessage {
    /// Type 1: call a method; with an `invocation_id` the callee must answer with a Completion.
    Invocation(Invocation),
    /// Type 2: one item of a stream.
    StreamItem {
        /// The stream's invocation id.
        invocation_id: String,
        /// The item (may be null, but always present on the wire).
        item: Value,
        /// Message headers.
        headers: Headers,
    },
    /// Type 3: the end of an invocation or stream.
    Completion(Completion),
    /// Type 4: a client asks the server for a stream.
    StreamInvocation(Invocation),
    /// Type 5: the client cancels a stream it asked for.
    CancelInvocation {
        /// The stream's invocation id.
        invocation_id: String,
        /// Message headers.
        headers: Headers,
    },
    /// Type 6: keep-alive.
    Ping,
    /// Type 7: the sender is closing the connection.
    Close(Close),
    /// Type 8: stateful reconnect acknowledgement.
    Ack {
        /// Highest sequence id processed.
        sequence_id: u64,
    },
    /// Type 9: stateful reconnect sequence reset.
    Sequence {
        /// Id of the next message the sender will replay.
        sequence_id: u64,
    },
}

impl HubMessage {
    /// The message type's name, as the hub protocol documents it (for error texts).
    pub fn kind_name(&self) -> &'static str {
        match self {
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
}

/// An Invocation or StreamInvocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// Present for blocking calls; absent for fire-and-forget sends.
    pub invocation_id: Option<String>,
    /// The method name; its case is preserved.
    pub target: String,
    /// The arguments, protocol-neutral.
    pub arguments: Vec<Value>,
    /// Ids of client-to-server streams attached to the call.
    pub stream_ids: Option<Vec<String>>,
    /// Message headers.
    pub headers: Headers,
}

impl Invocation {
    /// A fire-and-forget invocation, as broadcasts and sends carry (never an invocation id).
    pub fn send(target: impl Into<String>, arguments: Vec<Value>) -> Self {
        Invocation {
            invocation_id: None,
            target: target.into(),
            arguments,
            stream_ids: None,
            headers: Headers::new(),
        }
    }
}

/// A Completion message.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The invocation being completed.
    pub invocation_id: String,
    /// What the invocation produced.
    pub result: CompletionResult,
    /// Message headers.
    pub headers: Headers,
}

/// The three kinds of Completion.
#[derive(Debug, Clone, PartialEq)]
pub enum CompletionResult {
    /// No result (void method, end of stream).
    Void,
    /// A result value (may be null).
    Value(Value),
    /// The invocation failed with this text.
    Error(String),
}

impl Completion {
    /// A Completion carrying an error text.
    pub fn error(invocation_id: impl Into<String>, error: impl Into<String>) -> Self {
        Completion {
            invocation_id: invocation_id.into(),
            result: CompletionResult::Error(error.into()),
            headers: Headers::new(),
        }
    }
}

/// A Close message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Close {
    /// Why the connection is closed; absent for a normal close.
    pub error: Option<String>,
    /// Whether the client may reconnect automatically.
    pub allow_reconnect: bool,
}
