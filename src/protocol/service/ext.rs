//! The extension map that ends most ServiceProtocol messages: `{int key: value}`, keys 1–6.
//! The writer always writes it (`{}` = 0x80 when empty) and the keys in ascending order, as the
//! SDK does; the reader skips keys it does not know.

/// The optional members of a message's extension map. `None` = the key is absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions {
    /// Key 1: a tracing id the SDK attaches to follow a message through the service.
    pub tracing_id: Option<u64>,
    /// Key 2: seconds a user-group membership lasts (UserJoinGroup / UserJoinGroupWithAck).
    pub ttl: Option<i32>,
    /// Key 3: the client's hub protocol name (OpenConnection, ClientCompletion).
    pub protocol: Option<String>,
    /// Key 4: an OData-style subscriber filter on fan-out messages.
    pub filter: Option<String>,
    /// Key 5: what a ConnectionData payload holds. The SDK writes no key for `Unknown`.
    pub data_message_type: Option<super::DataMessageType>,
    /// Key 6: a ConnectionData fragment that more fragments complete. The SDK writes no key for
    /// `false`.
    pub is_partial: Option<bool>,
}

/// Extension map keys.
pub(super) const TRACING_ID: i64 = 1;
pub(super) const TTL: i64 = 2;
pub(super) const PROTOCOL: i64 = 3;
pub(super) const FILTER: i64 = 4;
pub(super) const DATA_MESSAGE_TYPE: i64 = 5;
pub(super) const IS_PARTIAL: i64 = 6;

impl Extensions {
    /// Whether no key is set (written as `{}`).
    pub fn is_empty(&self) -> bool {
        *self == Extensions::default()
    }

    /// How many keys the writer writes.
    pub(super) fn len(&self) -> usize {
        [
            self.tracing_id.is_some(),
            self.ttl.is_some(),
            self.protocol.is_some(),
            self.filter.is_some(),
            self.data_message_type.is_some(),
            self.is_partial.is_some(),
        ]
        .into_iter()
        .filter(|set| *set)
        .count()
    }
}
