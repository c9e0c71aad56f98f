//! Pushing to a server-to-client stream a client opened (REST 2024-12-01 stream `:send` and
//! `:complete`), done by whichever node holds the connection: items reach the client as
//! StreamItem messages and the end as a Completion carrying the stream's id.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Connection;
use crate::protocol::{Completion, CompletionResult, Encoded, HubMessage};

/// What to push to a stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StreamPush {
    /// The next item; `last` completes the stream after it.
    Item {
        /// The item.
        item: Value,
        /// Whether the stream ends with it.
        last: bool,
    },
    /// The end of the stream, an error completion when `error` is set.
    End {
        /// The Completion's error.
        error: Option<String>,
    },
}

impl Connection {
    /// Pushes to stream `stream_id`; false (and nothing sent) when it is not open.
    pub fn push_stream(&self, stream_id: &str, push: StreamPush) -> bool {
        match push {
            StreamPush::Item { item, last } => {
                if !self.has_stream(stream_id) {
                    return false;
                }
                self.send_message(HubMessage::StreamItem {
                    invocation_id: stream_id.to_owned(),
                    item,
                    headers: Default::default(),
                });
                if last {
                    self.end_stream(stream_id, None);
                }
                true
            }
            StreamPush::End { error } => self.end_stream(stream_id, error),
        }
    }

    /// Closes the stream and sends its Completion; false when it was not open.
    fn end_stream(&self, stream_id: &str, error: Option<String>) -> bool {
        if self.close_stream(stream_id).is_none() {
            return false;
        }
        let result = match error {
            Some(error) => CompletionResult::Error(error),
            None => CompletionResult::Void,
        };
        self.send_message(HubMessage::Completion(Completion {
            invocation_id: stream_id.to_owned(),
            result,
            headers: Default::default(),
        }));
        true
    }

    fn send_message(&self, message: HubMessage) {
        self.deliver(Encoded::new(message).frame(self.protocol()));
    }
}
