//! One connection's link to the serverless upstream: a worker task that sends the
//! connection's events upstream one at a time, in order — `connected` first, then each client
//! invocation, then `disconnected` — and turns each answer into what the client gets. The
//! driver never waits on the upstream, so pings and broadcasts keep flowing during slow calls.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;

use crate::auth::Claims;
use crate::hub::ConnectionHandle;
use crate::protocol::{self, Completion, CompletionResult, Encoded, HubMessage, Protocol};
use crate::upstream::{EventKind, Upstream, UpstreamEvent, UpstreamOutcome};

/// Events queued per connection before further invocations are refused.
const QUEUE: usize = 64;

/// What the worker sends upstream.
#[derive(Debug)]
enum Job {
    Connected,
    Message {
        target: String,
        body: Bytes,
        /// Set for blocking invocations and stream invocations: the client waits for an answer.
        answer_to: Option<String>,
        /// A StreamInvocation: an empty answer means "items will come through the REST API".
        stream: bool,
    },
    Disconnected {
        error: Option<String>,
    },
}

/// The sending side, owned by the connection's session.
#[derive(Debug)]
pub(super) struct UpstreamLink {
    jobs: mpsc::Sender<Job>,
}

/// Who the connection is, as the upstream headers describe it.
#[derive(Debug)]
pub(super) struct Caller {
    pub(super) connection: ConnectionHandle,
    pub(super) claims: Claims,
    pub(super) client_query: String,
}

impl UpstreamLink {
    /// Starts the worker and queues the `connected` event.
    pub(super) fn start(
        upstream: Upstream,
        caller: Caller,
        tasks: &tokio_util::task::TaskTracker,
    ) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let _ = jobs.try_send(Job::Connected);
        tasks.spawn(work(upstream, Arc::new(caller), queue));
        UpstreamLink { jobs }
    }

    /// Queues a client Invocation, StreamInvocation or CancelInvocation. Returns the
    /// Completion to send right away when it cannot be queued.
    pub(super) fn forward(
        &self,
        target: &str,
        body: Bytes,
        answer_to: Option<String>,
        stream: bool,
    ) -> Option<Completion> {
        let job = Job::Message {
            target: target.to_owned(),
            body,
            answer_to: answer_to.clone(),
            stream,
        };
        match self.jobs.try_send(job) {
            Ok(()) => None,
            Err(_) => answer_to.map(|id| {
                Completion::error(
                    id,
                    format!("Invocation failed, {QUEUE} messages of this connection are already waiting for the upstream."),
                )
            }),
        }
    }

    /// Queues `disconnected` and lets the worker finish.
    pub(super) async fn disconnected(self, error: Option<String>) {
        let _ = self.jobs.send(Job::Disconnected { error }).await;
    }
}

async fn work(upstream: Upstream, caller: Arc<Caller>, mut queue: mpsc::Receiver<Job>) {
    while let Some(job) = queue.recv().await {
        let connection = &caller.connection;
        let event = |kind| UpstreamEvent {
            hub: connection.hub(),
            connection_id: connection.id(),
            user_id: connection.user_id().map(|u| &**u),
            claims: &caller.claims.claims,
            client_query: &caller.client_query,
            kind,
        };
        match job {
            Job::Connected => {
                upstream.call(event(EventKind::Connected)).await;
            }
            Job::Disconnected { error } => {
                upstream
                    .call(event(EventKind::Disconnected {
                        error: error.as_deref(),
                    }))
                    .await;
                return;
            }
            Job::Message {
                target,
                body,
                answer_to,
                stream,
            } => {
                let msgpack = connection.protocol().is_binary();
                let outcome = upstream
                    .call(event(EventKind::Message {
                        target: &target,
                        body,
                        msgpack,
                    }))
                    .await;
                if let Some(id) = answer_to {
                    answer(connection, &id, &target, stream, outcome);
                }
            }
        }
    }
}

/// Turns the upstream's answer to a blocking invocation into what the client receives.
fn answer(
    connection: &ConnectionHandle,
    id: &str,
    target: &str,
    stream: bool,
    outcome: UpstreamOutcome,
) {
    let protocol = connection.protocol();
    let completion = match outcome {
        UpstreamOutcome::Body(body) => match check_answer(protocol, &body, id, stream) {
            Ok(()) => {
                connection.deliver(body);
                return;
            }
            Err(why) => {
                tracing::warn!(invocation = id, target, "upstream answer refused: {why}");
                Completion::error(
                    id,
                    format!("Invocation failed, the upstream's answer {why}"),
                )
            }
        },
        // A stream's items come later, through the REST stream routes.
        UpstreamOutcome::Empty if stream => return,
        UpstreamOutcome::Empty => Completion {
            invocation_id: id.to_owned(),
            result: CompletionResult::Void,
            headers: Default::default(),
        },
        UpstreamOutcome::Failed(text) => Completion::error(id, text),
        UpstreamOutcome::NoMatch => Completion::error(
            id,
            format!(
                "No upstream template matches hub '{}', category 'messages', event '{target}'; check the patterns in settings.json (see 'signalr-emulator upstream list').",
                connection.hub()
            ),
        ),
    };
    connection.deliver(Encoded::new(HubMessage::Completion(completion)).frame(protocol));
}

/// Checks that `body` answers invocation `id`: complete hub messages in `protocol`, as the
/// upstream must send them (the Functions extension returns one framed Completion), each for
/// this invocation. An invoke needs its Completion; a stream may send items first. Anything
/// else is refused, or the client's call would never settle. The error completes the sentence
/// "the upstream's answer ...".
fn check_answer(protocol: Protocol, body: &Bytes, id: &str, stream: bool) -> Result<(), String> {
    let name = protocol.name();
    let mut rest = BytesMut::from(&body[..]);
    let mut completed = false;
    while !rest.is_empty() {
        let frame = match protocol::next_frame(protocol, &mut rest) {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                return Err(format!(
                    "is not a framed '{name}' hub message: it ends in the middle of a message (is the record separator or length prefix missing?)."
                ));
            }
            Err(e) => return Err(format!("is not a framed '{name}' hub message: {e}")),
        };
        let message = match protocol::parse(protocol, &frame) {
            Ok(Some(message)) => message,
            Ok(None) => {
                return Err(format!(
                    "holds a '{name}' hub message of unknown type instead of the Completion of invocation '{id}'."
                ));
            }
            Err(e) => return Err(format!("is not a framed '{name}' hub message: {e}")),
        };
        if completed {
            return Err(format!(
                "holds more after the Completion of invocation '{id}'."
            ));
        }
        match message {
            HubMessage::Completion(done) if done.invocation_id == id => completed = true,
            HubMessage::StreamItem { invocation_id, .. } if stream && invocation_id == id => {}
            HubMessage::Completion(done) => {
                return Err(format!(
                    "is the Completion of invocation '{}', not of '{id}'.",
                    printable(&done.invocation_id)
                ));
            }
            other => {
                return Err(format!(
                    "is a {} message, not the Completion of invocation '{id}'.",
                    other.kind_name()
                ));
            }
        }
    }
    if completed || stream {
        Ok(())
    } else {
        Err(format!("holds no Completion of invocation '{id}'."))
    }
}

/// An id from the upstream as an error text shows it: bounded, so a huge id cannot inflate it.
fn printable(id: &str) -> String {
    const SHOWN: usize = 64;
    match id.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{}…", &id[..cut]),
        None => id.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(protocol: Protocol, body: &[u8], stream: bool) -> Result<(), String> {
        check_answer(protocol, &Bytes::copy_from_slice(body), "1", stream)
    }

    #[test]
    fn answers_must_be_complete_framed_messages() {
        let ok = b"{\"type\":3,\"invocationId\":\"1\",\"result\":1}\x1e";
        assert!(check(Protocol::Json, ok, false).is_ok());
        let unframed = b"{\"type\":3,\"invocationId\":\"1\",\"result\":1}";
        assert!(
            check(Protocol::Json, unframed, false)
                .unwrap_err()
                .contains("record separator")
        );
        assert!(check(Protocol::Json, b"oops\x1e", false).is_err());
        let msgpack = protocol::encode(
            Protocol::MessagePack,
            &HubMessage::Completion(Completion::error("1", "e")),
        );
        assert!(check(Protocol::MessagePack, &msgpack, false).is_ok());
        assert!(check(Protocol::MessagePack, ok, false).is_err());
    }

    #[test]
    fn answers_must_be_the_completion_of_this_invocation() {
        let ping = check(Protocol::Json, b"{\"type\":6}\x1e", false).unwrap_err();
        assert_eq!(
            ping,
            "is a Ping message, not the Completion of invocation '1'."
        );
        let other = check(
            Protocol::Json,
            b"{\"type\":3,\"invocationId\":\"2\",\"result\":1}\x1e",
            false,
        )
        .unwrap_err();
        assert_eq!(other, "is the Completion of invocation '2', not of '1'.");
        let unknown = check(Protocol::Json, b"{\"type\":99}\x1e", false).unwrap_err();
        assert!(unknown.contains("unknown type"), "{unknown}");
        let twice =
            b"{\"type\":3,\"invocationId\":\"1\"}\x1e{\"type\":3,\"invocationId\":\"1\"}\x1e";
        assert!(
            check(Protocol::Json, twice, false)
                .unwrap_err()
                .contains("more after the Completion")
        );
        let item = b"{\"type\":2,\"invocationId\":\"1\",\"item\":5}\x1e";
        assert!(
            check(Protocol::Json, item, true).is_ok(),
            "a stream may start with items"
        );
        assert!(
            check(Protocol::Json, item, false).is_err(),
            "an invoke needs its Completion"
        );
    }
}
