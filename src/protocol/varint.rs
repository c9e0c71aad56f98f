//! The VarInt length prefix of SignalR's `BinaryMessageFormatter`, shared by the MessagePack hub
//! protocol and the Azure ServiceProtocol: the body size in 1 to 5 bytes, 7 bits per byte, least
//! significant group first, high bit = more bytes follow, at most 2 GB − 1.

/// The longest length prefix: 5 VarInt bytes, the last holding only the top 3 bits of 2 GB − 1.
pub(crate) const MAX_PREFIX_LEN: usize = 5;

/// A length prefix that is longer than 5 bytes or announces 2 GB or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PrefixTooLong;

/// Reads the VarInt at the start of `bytes`: `(body length, prefix length)`, or `None` if the
/// prefix is incomplete.
pub(crate) fn read_length(bytes: &[u8]) -> Result<Option<(usize, usize)>, PrefixTooLong> {
    let mut length = 0;
    for (index, &byte) in bytes.iter().take(MAX_PREFIX_LEN).enumerate() {
        if index == MAX_PREFIX_LEN - 1 && byte > 0x07 {
            return Err(PrefixTooLong);
        }
        length |= usize::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return Ok(Some((length, index + 1)));
        }
    }
    Ok(None)
}

/// The VarInt for `length` and how many of its bytes are used. Messages stay far below 2 GB
/// (the receive limits see to that), which always fits 5 bytes.
pub(crate) fn length_prefix(mut length: usize) -> ([u8; MAX_PREFIX_LEN], usize) {
    let mut prefix = [0; MAX_PREFIX_LEN];
    for (used, byte) in prefix.iter_mut().enumerate() {
        *byte = (length & 0x7f) as u8;
        length >>= 7;
        if length == 0 {
            return (prefix, used + 1);
        }
        *byte |= 0x80;
    }
    (prefix, MAX_PREFIX_LEN)
}
