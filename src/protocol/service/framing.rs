//! ServiceProtocol frames on a byte stream: a VarInt length prefix, then one message array.
//! WebSocket message boundaries carry no meaning (the SDK writes whatever its pipe holds), so
//! the reader works on an accumulated buffer and says when it needs more bytes.

use bytes::{Bytes, BytesMut};

use super::read::parse_message;
use super::write::write_message;
use super::{ServiceMessage, ServiceProtocolError};
use crate::protocol::varint::{self, MAX_PREFIX_LEN, PrefixTooLong, length_prefix};

/// The length of the first frame in `buf`, prefix included, once its prefix is complete;
/// `Ok(None)` while it is not. Lets the caller refuse an over-long frame before buffering it.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, ServiceProtocolError> {
    match varint::read_length(buf) {
        Err(PrefixTooLong) => Err(ServiceProtocolError::LengthTooLong),
        Ok(found) => Ok(found.map(|(length, prefix_len)| length + prefix_len)),
    }
}

/// Reads the first frame of `buf`: the message and how many bytes it took, or `Ok(None)` when
/// `buf` does not hold a whole frame yet (nothing is consumed then). Payloads are zero-copy
/// slices of `buf`. A frame of an unknown type is consumed and returned as
/// [`ServiceMessage::Unknown`].
pub fn parse_frame(buf: &Bytes) -> Result<Option<(ServiceMessage, usize)>, ServiceProtocolError> {
    let Some((length, prefix_len)) =
        varint::read_length(buf).map_err(|PrefixTooLong| ServiceProtocolError::LengthTooLong)?
    else {
        return Ok(None);
    };
    let end = prefix_len + length;
    if buf.len() < end {
        return Ok(None);
    }
    let message = parse_message(&buf.slice(prefix_len..end))?;
    Ok(Some((message, end)))
}

/// Takes the first whole frame off the front of a receive buffer and parses it; `Ok(None)` when
/// the buffer does not hold one yet (nothing is consumed then). A frame whose body is longer
/// than `max_len` is refused as soon as its prefix is in, before it is buffered. Payloads are
/// zero-copy slices of the split-off frame.
pub fn next_frame(
    buf: &mut BytesMut,
    max_len: usize,
) -> Result<Option<ServiceMessage>, ServiceProtocolError> {
    let Some((length, prefix_len)) =
        varint::read_length(buf).map_err(|PrefixTooLong| ServiceProtocolError::LengthTooLong)?
    else {
        return Ok(None);
    };
    if length > max_len {
        return Err(ServiceProtocolError::TooLarge {
            length,
            limit: max_len,
        });
    }
    if buf.len() < prefix_len + length {
        return Ok(None);
    }
    let frame = buf.split_to(prefix_len + length).freeze();
    parse_message(&frame.slice(prefix_len..)).map(Some)
}

/// Appends `message` to `out` as one frame: its VarInt length, then its array.
pub fn write_frame(message: &ServiceMessage, out: &mut Vec<u8>) {
    // The body goes after room for the longest prefix; the real prefix is then written right in
    // front of it and the body moved up over the unused room.
    let start = out.len();
    out.extend_from_slice(&[0; MAX_PREFIX_LEN]);
    write_message(message, out);
    let body_start = start + MAX_PREFIX_LEN;
    let (prefix, prefix_len) = length_prefix(out.len() - body_start);
    out[start..start + prefix_len].copy_from_slice(&prefix[..prefix_len]);
    out.copy_within(body_start.., start + prefix_len);
    out.truncate(out.len() - (MAX_PREFIX_LEN - prefix_len));
}

/// `message` as one frame, ready for a binary WebSocket message; the body is never copied.
pub fn encode_frame(message: &ServiceMessage) -> Bytes {
    let mut out = vec![0; MAX_PREFIX_LEN];
    write_message(message, &mut out);
    let (prefix, prefix_len) = length_prefix(out.len() - MAX_PREFIX_LEN);
    let start = MAX_PREFIX_LEN - prefix_len;
    out[start..MAX_PREFIX_LEN].copy_from_slice(&prefix[..prefix_len]);
    Bytes::from(out).slice(start..)
}
