//! One framed hub message as the fan-out hands it to every recipient (through its queue or its
//! hub's broadcast log). A JSON frame is checked as UTF-8 once, when it is built, and shared as
//! a WebSocket text payload (tungstenite's `Utf8Bytes`, reference-counted bytes known to be
//! UTF-8): no recipient's socket checks it again.

use std::ops::Deref;

use bytes::Bytes;
use tungstenite::Utf8Bytes;

/// A framed message, cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Bytes known to be UTF-8: a JSON frame, sent as a WebSocket text frame as it is.
    Text(Utf8Bytes),
    /// Bytes not checked: MessagePack, or JSON a transport still has to check.
    Bytes(Bytes),
}

impl Frame {
    /// A JSON frame, checked once here; bytes that are not UTF-8 stay unchecked, and a text
    /// transport refuses them as it always did.
    pub fn text(bytes: Bytes) -> Self {
        match Utf8Bytes::try_from(bytes.clone()) {
            Ok(text) => Frame::Text(text),
            Err(_) => Frame::Bytes(bytes),
        }
    }

    /// The frame's bytes.
    pub fn into_bytes(self) -> Bytes {
        match self {
            Frame::Text(text) => text.into(),
            Frame::Bytes(bytes) => bytes,
        }
    }
}

impl From<Bytes> for Frame {
    fn from(bytes: Bytes) -> Self {
        Frame::Bytes(bytes)
    }
}

/// A frame taken as plain bytes (an app server's queue holds bytes, a broadcast log frames).
impl From<Frame> for Bytes {
    fn from(frame: Frame) -> Bytes {
        frame.into_bytes()
    }
}

impl Deref for Frame {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Frame::Text(text) => text.as_bytes(),
            Frame::Bytes(bytes) => bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_checked_once_and_shares_its_bytes() {
        let bytes = Bytes::from_static(b"{\"type\":6}\x1e");
        let frame = Frame::text(bytes.clone());
        assert!(matches!(frame, Frame::Text(_)));
        assert_eq!(frame.clone().into_bytes().as_ptr(), bytes.as_ptr());
        assert_eq!(&frame[..], &bytes[..]);
        let invalid = Bytes::from_static(b"\xff\x1e");
        assert_eq!(Frame::text(invalid.clone()), Frame::Bytes(invalid));
    }
}
