//! What nodes publish to each other: an [`Envelope`] of one operation, with the frames of a
//! send already encoded once per protocol by the node that took the request, so receivers
//! deliver bytes and never re-encode. On the wire: a big-endian `u32` length, the JSON header,
//! then per frame a protocol byte (0 JSON, 1 MessagePack), a `u32` length and the bytes.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use crate::hub::{Audience, ExecuteCommand, InvokeAnswer, StreamPush};
use crate::protocol::Protocol;

/// A change to a user's group memberships, which every node keeps so that it applies to the
/// user's connections there, now and later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserGroupChange {
    /// Add the user to the group for `ttl_secs` (`None`: a year; 0: current connections only).
    Add {
        /// The group.
        group: String,
        /// The membership's lifetime in seconds.
        ttl_secs: Option<u64>,
    },
    /// Remove the user from the group.
    Remove {
        /// The group.
        group: String,
    },
    /// Remove the user from every group.
    RemoveAll,
}

/// A request one node makes of the node holding a connection; answered with a [`Reply`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Add the connection to the group.
    AddToGroup {
        /// The internal hub name.
        hub: String,
        /// The connection id.
        connection: String,
        /// The group.
        group: String,
    },
    /// Remove the connection from the group.
    RemoveFromGroup {
        /// The internal hub name.
        hub: String,
        /// The connection id.
        connection: String,
        /// The group.
        group: String,
    },
    /// Remove the connection from every group.
    RemoveFromAllGroups {
        /// The internal hub name.
        hub: String,
        /// The connection id.
        connection: String,
    },
    /// Invoke `target` on the connection and answer with the client's result (REST
    /// `:invoke`), waiting at most `timeout_ms`.
    Invoke {
        /// The internal hub name.
        hub: String,
        /// The connection id.
        connection: String,
        /// The client method.
        target: String,
        /// Its arguments.
        arguments: Vec<serde_json::Value>,
        /// How long the holder waits for the client.
        timeout_ms: u64,
    },
    /// Push to a stream the connection opened (REST stream `:send` / `:complete`).
    PushStream {
        /// The internal hub name.
        hub: String,
        /// The connection id.
        connection: String,
        /// The stream's id.
        stream: String,
        /// What to push.
        push: StreamPush,
    },
    /// Run `:execute` on this node's connections of the hub; each `SendMessage` names how many
    /// of the envelope's frames, in order, are its message.
    Execute {
        /// The internal hub name.
        hub: String,
        /// The OData filter's text, checked by the node that took the request.
        filter: Option<String>,
        /// The commands, in order.
        commands: Vec<ExecuteCommand<usize>>,
    },
    /// Route an app server's client invocation to the connection (the envelope's frames are
    /// its payloads); the client's answer goes back to `caller_node` for that app server.
    ClientInvocation {
        /// The internal hub name.
        hub: String,
        /// The connection id.
        connection: String,
        /// The invocation's id.
        invocation_id: String,
        /// The app server waiting for the answer.
        caller_server_id: String,
        /// The node that app server is connected to.
        caller_node: String,
    },
    /// Change a user's group memberships (kept even where the user has no connection yet, so
    /// it applies to later ones).
    UserGroup {
        /// The internal hub name.
        hub: String,
        /// The user.
        user: String,
        /// The change.
        change: UserGroupChange,
    },
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    /// Done; `false` when the node no longer holds the connection (or, for `Execute`, could
    /// not read the filter).
    Done(bool),
    /// Whether the stream was open (the node holds the connection).
    Pushed(bool),
    /// Applied, but the node could not finish it (Redis did not take it): why.
    Failed(String),
    /// The client invocation reached its client; `mapping` when another app server owns the
    /// client (the caller is told with a ServiceMapping).
    Routed {
        /// Whether another app server routes the answer.
        mapping: bool,
    },
    /// How the invocation the holder made ended.
    Invoked {
        /// The id the holder gave the invocation.
        invocation_id: String,
        /// The client's answer or why there is none.
        answer: InvokeAnswer,
    },
}

/// One published operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Operation {
    /// Deliver the envelope's frames to the audience but the excluded connections and the
    /// connections of the excluded users.
    Send {
        /// The internal hub name.
        hub: String,
        /// Who receives it.
        to: Audience,
        /// Connection ids left out.
        excluded: Vec<String>,
        /// User ids whose connections are left out (an app server's group send).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        excluded_users: Vec<String>,
    },
    /// Close the audience's connections but the excluded ones, with `reason`.
    Close {
        /// The internal hub name.
        hub: String,
        /// Whose connections close.
        to: Audience,
        /// Connection ids left open.
        excluded: Vec<String>,
        /// The Close message's error.
        reason: Option<String>,
    },
    /// Hand the envelope's one frame, a framed ServiceProtocol message, to a connection of
    /// app server `server_id` on the node this was published to (a client's answer to an
    /// invocation that app server made).
    ToServer {
        /// The internal hub name.
        hub: String,
        /// The app server.
        server_id: String,
    },
    /// A request to the node this was published to; the answer goes to `origin`'s channel.
    Call {
        /// Matches the reply to the waiting caller.
        id: u64,
        /// What to do.
        request: Request,
    },
    /// The answer to the call `id` the receiving node made.
    Reply {
        /// The call's id.
        id: u64,
        /// The answer.
        reply: Reply,
    },
}

/// An operation, the node that published it, and the frames it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The publishing node's id; a node ignores what it published itself.
    pub origin: String,
    /// What to do.
    pub operation: Operation,
    /// The encoded message per protocol (sends only).
    pub frames: Vec<(Protocol, Bytes)>,
}

#[derive(Serialize, Deserialize)]
struct Header<'a> {
    origin: std::borrow::Cow<'a, str>,
    operation: std::borrow::Cow<'a, Operation>,
}

/// Why a published message could not be read (another version's, or not ours).
#[derive(Debug, thiserror::Error)]
#[error("unreadable cluster message: {0}")]
pub struct MalformedEnvelope(String);

impl Envelope {
    /// The bytes to publish.
    pub fn encode(&self) -> Bytes {
        let header = serde_json::to_vec(&Header {
            origin: self.origin.as_str().into(),
            operation: std::borrow::Cow::Borrowed(&self.operation),
        })
        .expect("an operation always serializes");
        let frames: usize = self.frames.iter().map(|(_, f)| 5 + f.len()).sum();
        let mut out = BytesMut::with_capacity(4 + header.len() + frames);
        out.put_u32(header.len() as u32);
        out.put_slice(&header);
        for (protocol, frame) in &self.frames {
            out.put_u8(match protocol {
                Protocol::Json => 0,
                Protocol::MessagePack => 1,
            });
            out.put_u32(frame.len() as u32);
            out.put_slice(frame);
        }
        out.freeze()
    }

    /// Reads what [`Envelope::encode`] wrote.
    pub fn decode(mut bytes: Bytes) -> Result<Self, MalformedEnvelope> {
        let malformed = |what: &str| MalformedEnvelope(what.to_owned());
        if bytes.remaining() < 4 {
            return Err(malformed("shorter than its header length"));
        }
        let length = bytes.get_u32() as usize;
        if bytes.remaining() < length {
            return Err(malformed("header cut short"));
        }
        let header: Header<'_> = serde_json::from_slice(&bytes.split_to(length))
            .map_err(|e| MalformedEnvelope(format!("header: {e}")))?;
        let mut frames = Vec::new();
        while bytes.has_remaining() {
            if bytes.remaining() < 5 {
                return Err(malformed("frame header cut short"));
            }
            let protocol = match bytes.get_u8() {
                0 => Protocol::Json,
                1 => Protocol::MessagePack,
                other => return Err(MalformedEnvelope(format!("unknown protocol {other}"))),
            };
            let length = bytes.get_u32() as usize;
            if bytes.remaining() < length {
                return Err(malformed("frame cut short"));
            }
            frames.push((protocol, bytes.split_to(length)));
        }
        Ok(Envelope {
            origin: header.origin.into_owned(),
            operation: header.operation.into_owned(),
            frames,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_frames() {
        let envelope = Envelope {
            origin: "node-a".into(),
            operation: Operation::Send {
                hub: "chat".into(),
                to: Audience::Groups(vec!["g1".into(), "g:2".into()]),
                excluded: vec!["c1".into()],
                excluded_users: vec!["u1".into()],
            },
            frames: vec![
                (Protocol::Json, Bytes::from_static(b"{\"type\":1}\x1e")),
                (Protocol::MessagePack, Bytes::from_static(&[3, 0x91, 1, 2])),
            ],
        };
        assert_eq!(Envelope::decode(envelope.encode()).unwrap(), envelope);
    }

    #[test]
    fn rejects_truncated_input() {
        let envelope = Envelope {
            origin: "n".into(),
            operation: Operation::Reply {
                id: 7,
                reply: Reply::Done(true),
            },
            frames: vec![(Protocol::Json, Bytes::from_static(b"abc"))],
        };
        let bytes = envelope.encode();
        for cut in [0, 3, 10, bytes.len() - 1] {
            assert!(
                Envelope::decode(bytes.slice(..cut)).is_err(),
                "cut at {cut}"
            );
        }
    }
}
