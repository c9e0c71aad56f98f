//! The client bytes that do not make a whole message yet, and the search for the next message in
//! them. The JSON search for the record separator resumes where the previous one stopped, so a
//! message that arrives in many small chunks costs time linear in its size, not quadratic.

use bytes::BytesMut;

use super::json::RECORD_SEPARATOR;
use super::{Protocol, ProtocolError, messagepack};

/// Buffered client input of one connection (handshake first, then hub messages).
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: BytesMut,
    /// How many bytes at the front of `buf` are known to hold no record separator.
    scanned: usize,
}

impl FrameReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes the client sent.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// How many bytes are buffered and not yet taken as a message.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Takes every buffered byte, whole messages or not (a relayed client's bytes go to its app
    /// server as they came).
    pub fn take_all(&mut self) -> BytesMut {
        self.scanned = 0;
        self.buf.split()
    }

    /// Takes the next complete message (without its framing) off the front, as
    /// [`super::next_frame`] does; only bytes not searched before are searched.
    pub fn next_frame(&mut self, protocol: Protocol) -> Result<Option<BytesMut>, ProtocolError> {
        match protocol {
            Protocol::Json => Ok(self.next_json_frame()),
            // The VarInt prefix says where the message ends: nothing is searched.
            Protocol::MessagePack => messagepack::next_frame(&mut self.buf),
        }
    }

    /// Gives back the buffer's memory once every byte was taken: an idle connection holds no
    /// input buffer, however large a message it received before.
    pub fn release_if_empty(&mut self) {
        if self.buf.is_empty() {
            self.buf = BytesMut::new();
            self.scanned = 0;
        }
    }

    fn next_json_frame(&mut self) -> Option<BytesMut> {
        let Some(offset) = self.buf[self.scanned..]
            .iter()
            .position(|&b| b == RECORD_SEPARATOR)
        else {
            self.scanned = self.buf.len();
            return None;
        };
        let end = self.scanned + offset;
        self.scanned = 0;
        let mut frame = self.buf.split_to(end + 1);
        frame.truncate(end);
        Some(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_resumes_after_the_bytes_already_searched() {
        let mut reader = FrameReader::new();
        let message = format!(
            "{{\"type\":1,\"target\":\"m\",\"arguments\":[\"{}\"]}}",
            "x".repeat(1000)
        );
        for (i, chunk) in message.as_bytes().chunks(32).enumerate() {
            reader.push(chunk);
            assert_eq!(reader.next_frame(Protocol::Json), Ok(None));
            // Everything buffered was searched once; the next search starts after it.
            assert_eq!(reader.scanned, reader.len(), "after chunk {i}");
        }
        reader.push(b"\x1e{\"type\":6}");
        assert_eq!(
            reader.next_frame(Protocol::Json).unwrap().unwrap(),
            message.as_bytes()
        );
        assert_eq!(
            reader.scanned, 0,
            "a new message is searched from its start"
        );
        assert_eq!(reader.next_frame(Protocol::Json), Ok(None));
        reader.push(b"\x1e");
        assert_eq!(
            &reader.next_frame(Protocol::Json).unwrap().unwrap()[..],
            b"{\"type\":6}"
        );
        assert!(reader.is_empty());
    }

    #[test]
    fn frames_come_out_the_same_however_the_bytes_were_chunked() {
        let input = b"{\"type\":6}\x1e\x1e{\"type\":7}\x1e{\"ty";
        for size in 1..input.len() {
            let mut reader = FrameReader::new();
            let mut frames = Vec::new();
            for chunk in input.chunks(size) {
                reader.push(chunk);
                while let Some(frame) = reader.next_frame(Protocol::Json).unwrap() {
                    frames.push(frame);
                }
            }
            assert_eq!(
                frames,
                [&b"{\"type\":6}"[..], b"", b"{\"type\":7}"],
                "chunks of {size}"
            );
            assert_eq!(reader.len(), 4);
        }
    }

    #[test]
    fn messagepack_after_a_json_handshake() {
        let mut reader = FrameReader::new();
        reader.push(b"{\"protocol\":\"messagepack\",\"version\":1}\x1e\x02\x91\x06");
        assert!(reader.next_frame(Protocol::Json).unwrap().is_some());
        assert_eq!(
            &reader.next_frame(Protocol::MessagePack).unwrap().unwrap()[..],
            b"\x91\x06"
        );
        assert!(reader.is_empty());
    }

    #[test]
    fn an_emptied_reader_releases_its_buffer_and_a_partial_one_keeps_it() {
        let mut reader = FrameReader::new();
        reader.push(&[b'x'; 4096]);
        reader.push(b"\x1e{\"ty");
        assert!(reader.next_frame(Protocol::Json).unwrap().is_some());
        reader.release_if_empty();
        assert_eq!(reader.len(), 4, "a partial message is kept");
        reader.push(b"pe\":6}\x1e");
        assert!(reader.next_frame(Protocol::Json).unwrap().is_some());
        reader.release_if_empty();
        assert_eq!(reader.buf.capacity(), 0);
        reader.push(b"{\"type\":6}\x1e");
        assert_eq!(
            &reader.next_frame(Protocol::Json).unwrap().unwrap()[..],
            b"{\"type\":6}"
        );
    }
}
