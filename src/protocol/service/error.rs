//! Why a ServiceProtocol frame could not be read. The texts name the message and the field, so
//! the endpoint can send them in a ServiceError or a close reason as they are.

/// A frame that is not valid ServiceProtocol. After one, the byte stream cannot be trusted, so
/// the connection should be ended (with a ServiceError carrying this text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceProtocolError {
    /// The VarInt length prefix is longer than 5 bytes or announces 2 GB or more.
    #[error(
        "Invalid ServiceProtocol frame: the length prefix is longer than 5 bytes or exceeds 2 GB."
    )]
    LengthTooLong,
    /// The frame announces more bytes than the reader accepts.
    #[error(
        "Invalid ServiceProtocol frame: a message of {length} bytes exceeds the limit of {limit} bytes."
    )]
    TooLarge {
        /// The announced body length.
        length: usize,
        /// The reader's limit.
        limit: usize,
    },
    /// The frame's body is not one MessagePack array starting with an integer type id.
    #[error("Invalid ServiceProtocol message: {reason}.")]
    Malformed {
        /// What is wrong, e.g. "the frame is empty".
        reason: String,
    },
    /// A field is missing, has the wrong MessagePack type, or an unusable value.
    #[error("Invalid {message} message: '{field}' {problem}.")]
    Field {
        /// The message type, e.g. `"OpenConnection"`.
        message: &'static str,
        /// The field, e.g. `"connectionId"` or `"payloads[1].value"`.
        field: String,
        /// What is wrong, e.g. "must be a string, not nil".
        problem: String,
    },
}
