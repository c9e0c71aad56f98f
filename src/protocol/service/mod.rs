//! The Azure SignalR ServiceProtocol, which app servers (`AddAzureSignalR()`) and the
//! Management SDK's persistent transport speak on `/server` (SERVICE-PROTOCOL.md). Pure: bytes
//! in, [`ServiceMessage`] out and back, no I/O.
//!
//! * [`next_frame`] takes one varint-framed message off the front of a receive buffer
//!   (`Ok(None)` = need more bytes) and refuses an over-long one before buffering it;
//!   [`parse_frame`] does the same on an immutable [`Bytes`](bytes::Bytes) and reports how much
//!   it consumed; [`frame_len`] tells a frame's size as soon as its prefix is in;
//!   [`parse_message`] reads an unframed body.
//! * [`write_frame`] / [`encode_frame`] write a framed message, [`write_message`] the bare array,
//!   in exactly the layouts the current SDK writes, so Microsoft's golden vectors come out byte
//!   for byte.
//! * The reader is lenient the way the SDK's is: legacy shorter layouts, trailing elements and
//!   bytes after the array are accepted, claims keep duplicate types, unknown extension keys are
//!   skipped, and unknown message types parse to [`ServiceMessage::Unknown`] and are never fatal.
//! * Payloads are [`bytes::Bytes`] slices of the received buffer: fan-out frames are relayed
//!   without a copy and never decoded.

mod cursor;
mod enums;
mod error;
mod ext;
mod framing;
mod group_members;
mod messages;
mod model;
mod read;
mod write;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod vectors;

pub use enums::{
    AckStatus, DataMessageType, FlowControlOperation, FlowControlTarget, ServerConnectionType,
    ServiceEventKind, ServiceEventObjectType,
};
pub use error::ServiceProtocolError;
pub use ext::Extensions;
pub use framing::{encode_frame, frame_len, next_frame, parse_frame, write_frame};
pub use group_members::{GroupMember, GroupMemberQueryResponse};
pub use messages::*;
pub use model::*;
pub use read::parse_message;
pub use write::write_message;
