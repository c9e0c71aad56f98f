//! One connection's link to the serverless upstream: a worker task that sends the
//! connection's events upstream one at a time, in order — `connected` first, then each client
//! invocation, then `disconnected` — and turns each answer into what the client gets. The
//! driver never waits on the upstream, so pings and broadcasts keep flowing during slow calls.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;

use crate::auth::Claims;
use crate::hub::ConnectionHandle;
use crate::protocol::{self, Completion, CompletionResult, Encoded, HubMessage};
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
        UpstreamOutcome::Body(body) => match validate(protocol, &body) {
            Ok(()) => {
                connection.deliver(body);
                return;
            }
            Err(why) => Completion::error(
                id,
                format!(
                    "Invocation failed, the upstream's answer is not a framed '{}' hub message: {why}",
                    protocol.name()
                ),
            ),
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

/// Checks that `body` is one or more complete hub messages in `protocol`, as the upstream must
/// answer (the Functions extension returns a framed Completion).
fn validate(protocol: protocol::Protocol, body: &Bytes) -> Result<(), String> {
    let mut rest = BytesMut::from(&body[..]);
    let mut count = 0;
    while !rest.is_empty() {
        match protocol::next_frame(protocol, &mut rest) {
            Ok(Some(frame)) => {
                protocol::parse(protocol, &frame).map_err(|e| e.to_string())?;
                count += 1;
            }
            Ok(None) => return Err("it ends in the middle of a message (is the record separator or length prefix missing?)".into()),
            Err(e) => return Err(e.to_string()),
        }
    }
    if count == 0 {
        return Err("it holds no message".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Protocol;

    #[test]
    fn answers_must_be_complete_framed_messages() {
        let ok = Bytes::from_static(b"{\"type\":3,\"invocationId\":\"0\",\"result\":1}\x1e");
        assert!(validate(Protocol::Json, &ok).is_ok());
        let unframed = Bytes::from_static(b"{\"type\":3,\"invocationId\":\"0\",\"result\":1}");
        assert!(
            validate(Protocol::Json, &unframed)
                .unwrap_err()
                .contains("record separator")
        );
        let garbage = Bytes::from_static(b"oops\x1e");
        assert!(validate(Protocol::Json, &garbage).is_err());
        let msgpack = protocol::encode(
            Protocol::MessagePack,
            &HubMessage::Completion(Completion::error("1", "e")),
        );
        assert!(validate(Protocol::MessagePack, &msgpack).is_ok());
        assert!(validate(Protocol::MessagePack, &ok).is_err());
    }
}
