//! One live client connection as the registry sees it: who it is, which protocol it speaks, and
//! the bounded queue its transport writer drains (with its hub's broadcast log). Producers never
//! wait on a client: a full queue, or a broadcast lost from the log, means a slow consumer, and
//! that connection alone is closed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use tokio_util::sync::CancellationToken;

use serde_json::Value;

use super::broadcast_log::BroadcastLog;
use super::invocations::{InvocationFailed, InvocationOutcome, InvokeAnswer, PendingInvocations};
use super::queue::{FrameReceiver, FrameSender, PushError, frame_queue};
use super::servers::ServerHandle;
use crate::protocol::{Close, Completion, Encoded, Frame, HubMessage, Invocation, Protocol};

/// A shared handle to a connection; cloning it is a reference-count increment.
pub type ConnectionHandle = Arc<Connection>;

/// A connection registered in a hub.
#[derive(Debug)]
pub struct Connection {
    id: Arc<str>,
    hub: Arc<str>,
    user_id: Option<Arc<str>>,
    protocol: Protocol,
    transport: &'static str,
    outbox: FrameSender<Frame>,
    /// Counted by this connection's own driver only, so no other core touches the cache line
    /// on the hot path; metrics sum them at scrape time.
    counters: Counters,
    closing: CancellationToken,
    close: OnceLock<Close>,
    /// Set when the app server ended the connection: its own Close frame is already queued.
    ended_by_app_server: AtomicBool,
    /// The app-server connection this client is relayed to (default mode).
    app_server: OnceLock<ServerHandle>,
    pending: PendingInvocations,
    /// Streams the client asked for (StreamInvocation) that are still open: id → target.
    streams: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

/// A connection's message counts. Aligned to their own cache lines: the driver writes them
/// while fan-out on other cores reads the connection's other fields (queue, protocol), and
/// sharing a line would make every count invalidate it for them.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Counters {
    /// Hub messages the client sent (pings excluded).
    received: AtomicU64,
    /// Queued messages written to the client.
    sent: AtomicU64,
    /// Set when the connection was closed as a slow consumer.
    slow: AtomicBool,
    /// Set while a stateful connection's transport is gone and it waits for its client to
    /// reconnect.
    awaiting_reconnect: AtomicBool,
}

/// The end of a connection's queue that its transport writer owns.
#[derive(Debug)]
pub struct Outbox {
    /// Framed messages in the connection's protocol, in send order.
    pub frames: FrameReceiver<Frame>,
    /// Cancelled when the connection must close (REST close, slow consumer, shutdown).
    pub closing: CancellationToken,
}

impl Connection {
    /// Creates a connection whose queue holds at most `queue_capacity` frames. `transport` names
    /// the transport for introspection. `shutdown` is the server-wide token: cancelling it
    /// closes this connection too.
    pub fn new(
        id: Arc<str>,
        hub: Arc<str>,
        user_id: Option<Arc<str>>,
        protocol: Protocol,
        transport: &'static str,
        queue_capacity: usize,
        shutdown: &CancellationToken,
    ) -> (ConnectionHandle, Outbox) {
        let (tx, rx) = frame_queue(queue_capacity);
        let closing = shutdown.child_token();
        let connection = Arc::new(Connection {
            id,
            hub,
            user_id,
            protocol,
            transport,
            outbox: tx,
            counters: Counters::default(),
            closing: closing.clone(),
            close: OnceLock::new(),
            ended_by_app_server: AtomicBool::new(false),
            app_server: OnceLock::new(),
            pending: PendingInvocations::default(),
            streams: Default::default(),
        });
        (
            connection,
            Outbox {
                frames: rx,
                closing,
            },
        )
    }

    /// The public connection id.
    pub fn id(&self) -> &Arc<str> {
        &self.id
    }

    /// The internal hub name.
    pub fn hub(&self) -> &Arc<str> {
        &self.hub
    }

    /// The user id from the client's token, if any.
    pub fn user_id(&self) -> Option<&Arc<str>> {
        self.user_id.as_ref()
    }

    /// The hub protocol the client chose.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The transport's name, e.g. `WebSockets`.
    pub fn transport(&self) -> &'static str {
        self.transport
    }

    /// Counts `n` hub messages received from the client. Only the connection's driver calls it.
    pub fn count_received(&self, n: u64) {
        self.counters.received.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts `n` queued messages written to the client. Only the connection's driver calls it.
    pub fn count_sent(&self, n: u64) {
        self.counters.sent.fetch_add(n, Ordering::Relaxed);
    }

    /// Records whether the connection's transport is gone and it waits for its client to
    /// reconnect (stateful reconnect). Only the connection's driver calls it.
    pub fn set_awaiting_reconnect(&self, waiting: bool) {
        self.counters
            .awaiting_reconnect
            .store(waiting, Ordering::Relaxed);
    }

    /// Whether the connection waits for its client to reconnect.
    pub fn is_awaiting_reconnect(&self) -> bool {
        self.counters.awaiting_reconnect.load(Ordering::Relaxed)
    }

    /// Hub messages received from the client so far.
    pub fn received(&self) -> u64 {
        self.counters.received.load(Ordering::Relaxed)
    }

    /// Queued messages written to the client so far.
    pub fn sent(&self) -> u64 {
        self.counters.sent.load(Ordering::Relaxed)
    }

    /// Whether the connection was closed because it did not read its messages fast enough.
    pub fn was_slow(&self) -> bool {
        self.counters.slow.load(Ordering::Relaxed)
    }

    /// Queues a framed message without waiting. Returns whether it was queued; a full queue
    /// closes the connection as a slow consumer.
    pub fn deliver(&self, frame: impl Into<Frame>) -> bool {
        match self.outbox.try_send(frame.into()) {
            Ok(()) => true,
            // Already closing (e.g. an earlier overflow): nothing more to say or do.
            Err(PushError::Full) if self.closing.is_cancelled() => false,
            Err(PushError::Full) => {
                self.close_as_slow();
                false
            }
            Err(PushError::Closed) => false,
        }
    }

    /// Closes the connection because it did not read its messages fast enough: its queue is
    /// full, or a broadcast it had not read left the hub's log.
    pub(super) fn close_as_slow(&self) {
        if self.closing.is_cancelled() {
            return;
        }
        tracing::warn!(
            hub = %self.hub,
            connection = %self.id,
            capacity = self.outbox.capacity(),
            "slow consumer: send queue full, closing the connection"
        );
        self.counters.slow.store(true, Ordering::Relaxed);
        self.close(Close {
            error: Some(format!(
                "The connection was closed because it did not read its messages fast enough (send queue of {} messages full).",
                self.outbox.capacity()
            )),
            allow_reconnect: true,
        });
    }

    /// Makes the connection's writer read the hub's broadcast `log` too, from its head on (see
    /// [`FrameSender::tap`]). Called under the hub's write lock as the connection joins.
    pub(super) fn tap(self: &Arc<Self>, log: Arc<BroadcastLog>) {
        let connection = Arc::downgrade(self);
        self.outbox.tap(
            log,
            self.protocol,
            self.id.clone(),
            Box::new(move || {
                if let Some(connection) = connection.upgrade() {
                    connection.close_as_slow();
                }
            }),
        );
    }

    /// Where the writer is in the hub's broadcast log, once tapped.
    pub(super) fn log_cursor(&self) -> Option<u64> {
        self.outbox.log_cursor()
    }

    /// Asks the transport to send `close` and end the connection. The first reason wins.
    pub fn close(&self, close: Close) {
        let _ = self.close.set(close);
        self.closing.cancel();
    }

    /// Ends the connection after what is queued, without a Close of the service's own: the app
    /// server that ends a relayed connection sends its hub's Close frame itself.
    pub fn end_from_app_server(&self) {
        self.ended_by_app_server.store(true, Ordering::Relaxed);
        self.closing.cancel();
    }

    /// Whether [`Self::end_from_app_server`] ended the connection (and no Close was recorded
    /// before it).
    pub fn ended_by_app_server(&self) -> bool {
        self.close.get().is_none() && self.ended_by_app_server.load(Ordering::Relaxed)
    }

    /// Binds the connection to the app-server connection it is relayed to; the first binding
    /// stays.
    pub fn bind_app_server(&self, server: ServerHandle) {
        let _ = self.app_server.set(server);
    }

    /// The app-server connection the client is relayed to, in default mode.
    pub fn app_server(&self) -> Option<&ServerHandle> {
        self.app_server.get()
    }

    /// The Close message to send, if `close` was called; `None` means a server shutdown.
    pub fn close_reason(&self) -> Option<&Close> {
        self.close.get()
    }

    /// Sends the client an Invocation that expects a result and returns its id and the
    /// receiver of the client's answer. Callers that stop waiting call [`Self::forget`].
    pub fn invoke(
        &self,
        target: &str,
        arguments: Vec<Value>,
    ) -> (String, tokio::sync::oneshot::Receiver<InvocationOutcome>) {
        let (id, answer) = self.pending.register();
        let invocation = Invocation {
            invocation_id: Some(id.clone()),
            ..Invocation::send(target, arguments)
        };
        let frame = Encoded::new(HubMessage::Invocation(invocation)).shared(self.protocol);
        if !self.deliver(frame) {
            self.pending
                .resolve(&id, Err(InvocationFailed::NotDelivered));
        }
        (id, answer)
    }

    /// Invokes `target` on the client and waits at most `timeout` for its answer; returns the
    /// invocation's id and how it ended. However the wait ends (answer, timeout, the caller
    /// going away), the connection stops tracking the invocation.
    pub async fn invoke_within(
        &self,
        target: &str,
        arguments: Vec<Value>,
        timeout: std::time::Duration,
    ) -> (String, InvokeAnswer) {
        let (invocation_id, answer) = self.invoke(target, arguments);
        let _forget = Forget {
            connection: self,
            invocation_id: &invocation_id,
        };
        let waited = tokio::time::timeout(timeout, answer).await.ok();
        let answer = InvokeAnswer::from_wait(waited);
        drop(_forget);
        (invocation_id, answer)
    }

    /// Hands a client Completion to the invocation waiting for it. Returns false when no
    /// server invocation had that id (the Completion is then not ours to handle).
    pub fn complete(&self, completion: Completion) -> bool {
        let outcome: InvocationOutcome = Ok(completion.result);
        self.pending.resolve(&completion.invocation_id, outcome)
    }

    /// Stops waiting for an invocation (the caller timed out or went away).
    pub fn forget(&self, invocation_id: &str) {
        self.pending.forget(invocation_id);
    }

    /// Records a stream the client asked for, so REST stream routes can find it.
    pub fn open_stream(&self, stream_id: &str, target: &str) {
        self.lock_streams()
            .insert(stream_id.to_owned(), target.to_owned());
    }

    /// Ends a stream; returns its target if it was open.
    pub fn close_stream(&self, stream_id: &str) -> Option<String> {
        self.lock_streams().remove(stream_id)
    }

    /// Whether the stream is open.
    pub fn has_stream(&self, stream_id: &str) -> bool {
        self.lock_streams().contains_key(stream_id)
    }

    fn lock_streams(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, String>> {
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fails every pending invocation; called when the connection ends.
    pub fn fail_pending(&self) {
        self.pending.close();
    }
}

/// Drops a pending invocation when its wait ends, however it ends.
struct Forget<'a> {
    connection: &'a Connection,
    invocation_id: &'a str,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.connection.forget(self.invocation_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::deliver;
    use crate::protocol::{Encoded, HubMessage, Invocation};

    fn connection(
        id: &str,
        capacity: usize,
        shutdown: &CancellationToken,
    ) -> (ConnectionHandle, Outbox) {
        Connection::new(
            Arc::from(id),
            Arc::from("hub"),
            None,
            Protocol::Json,
            "WebSockets",
            capacity,
            shutdown,
        )
    }

    #[test]
    fn a_full_queue_closes_only_the_slow_connection() {
        let shutdown = CancellationToken::new();
        let (slow, slow_outbox) = connection("slow", 2, &shutdown);
        let (fast, mut fast_outbox) = connection("fast", 2, &shutdown);
        let message = Encoded::new(HubMessage::Invocation(Invocation::send("m", vec![])));
        let targets = vec![slow.clone(), fast.clone()];
        for _ in 0..2 {
            assert_eq!(deliver(&targets, &message), 2);
            assert!(fast_outbox.frames.try_recv().is_ok());
        }
        // The slow one never drained: its third frame does not fit.
        assert_eq!(deliver(&targets, &message), 1);
        assert!(slow_outbox.closing.is_cancelled());
        assert!(slow.was_slow() && !fast.was_slow());
        assert!(!fast_outbox.closing.is_cancelled());
        let reason = slow.close_reason().unwrap();
        assert!(reason.allow_reconnect);
        assert!(
            reason
                .error
                .as_deref()
                .unwrap()
                .contains("send queue of 2 messages full")
        );
        assert!(fast_outbox.frames.try_recv().is_ok());
    }

    #[test]
    fn shutdown_closes_every_connection_without_a_reason() {
        let shutdown = CancellationToken::new();
        let (conn, outbox) = connection("a", 1, &shutdown);
        shutdown.cancel();
        assert!(outbox.closing.is_cancelled());
        assert!(conn.close_reason().is_none());
    }

    #[tokio::test]
    async fn invocations_get_server_ids_and_the_client_answer() {
        let shutdown = CancellationToken::new();
        let (conn, mut outbox) = connection("a", 4, &shutdown);
        let (first, _) = conn.invoke("ask", vec![]);
        let (second, answer) = conn.invoke("ask", vec![serde_json::json!(1)]);
        assert_eq!((first.as_str(), second.as_str()), ("s1", "s2"));
        let _ = outbox.frames.try_recv();
        let sent = outbox.frames.try_recv().unwrap();
        assert_eq!(
            &sent[..],
            b"{\"type\":1,\"invocationId\":\"s2\",\"target\":\"ask\",\"arguments\":[1]}\x1e"
        );
        let result = crate::protocol::CompletionResult::Value(serde_json::json!("ok"));
        assert!(conn.complete(Completion {
            invocation_id: second,
            result: result.clone(),
            headers: Default::default(),
        }));
        assert_eq!(answer.await.unwrap(), Ok(result));
        assert!(!conn.complete(Completion::error("s9", "nobody waits")));
    }

    #[tokio::test]
    async fn closing_fails_pending_invocations() {
        let shutdown = CancellationToken::new();
        let (conn, _outbox) = connection("a", 4, &shutdown);
        let (_, answer) = conn.invoke("ask", vec![]);
        conn.fail_pending();
        assert_eq!(
            answer.await.unwrap(),
            Err(InvocationFailed::ConnectionClosed)
        );
        let (_, late) = conn.invoke("ask", vec![]);
        assert_eq!(late.await.unwrap(), Err(InvocationFailed::ConnectionClosed));
    }

    #[test]
    fn the_first_close_reason_wins() {
        let shutdown = CancellationToken::new();
        let (conn, _outbox) = connection("a", 1, &shutdown);
        conn.close(Close {
            error: Some("first".into()),
            allow_reconnect: false,
        });
        conn.close(Close {
            error: Some("second".into()),
            allow_reconnect: true,
        });
        assert_eq!(conn.close_reason().unwrap().error.as_deref(), Some("first"));
    }
}
