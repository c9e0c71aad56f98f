//! The long-polling transport: the first `GET` starts the connection and returns at once; later
//! `GET`s wait up to the poll timeout for output; a new poll completes the previous one with 204;
//! `DELETE` ends the connection; a connection with no poll for the disconnect timeout is
//! dropped. The client sends by POST. No pings and no client timeout: polling keeps it alive.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::connections::{Binding, ClientConnection};
use super::driver::drive;
use super::request::ConnectRequest;
use super::sse::INBOUND_QUEUE;
use super::state::ClientState;
use super::transport::{Received, Transport, TransportError, TransportKind, long_running_headers};
use crate::protocol::Frame;

/// Output bytes buffered for the next poll before the driver waits for a poll to take them.
const POLL_BUFFER: usize = 1024 * 1024;
/// How long the driver waits for a poll to make room.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Output waiting for polls, shared by the driver and the poll requests.
#[derive(Debug)]
pub struct PollQueue {
    state: Mutex<PollState>,
    /// Signals a waiting poll that output arrived or the connection ended.
    ready: Notify,
    /// Signals the driver that a poll took the output.
    drained: Notify,
}

#[derive(Debug)]
struct PollState {
    output: BytesMut,
    ended: bool,
    /// The poll in progress (its number and what cancels it when a newer one arrives).
    current: Option<(u64, CancellationToken)>,
    polls_started: u64,
    last_poll_end: Instant,
}

impl PollQueue {
    fn new() -> Self {
        PollQueue {
            state: Mutex::new(PollState {
                output: BytesMut::new(),
                ended: false,
                current: None,
                polls_started: 0,
                last_poll_end: Instant::now(),
            }),
            ready: Notify::new(),
            drained: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PollState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Completes when no poll has been outstanding for `timeout`: the client is gone.
    async fn abandoned(&self, timeout: Duration) {
        loop {
            let wake_at = {
                let state = self.lock();
                match state.current {
                    Some(_) => None,
                    None if state.last_poll_end.elapsed() >= timeout => return,
                    None => Some(state.last_poll_end + timeout),
                }
            };
            match wake_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
    }
}

/// Marks the end of a poll, also when the request future is dropped mid-wait.
struct PollGuard<'a> {
    queue: &'a PollQueue,
    number: u64,
}

impl Drop for PollGuard<'_> {
    fn drop(&mut self) {
        let mut state = self.queue.lock();
        if state
            .current
            .as_ref()
            .is_some_and(|(n, _)| *n == self.number)
        {
            state.current = None;
        }
        state.last_poll_end = Instant::now();
    }
}

/// Binds the connection to long polling and starts its driver: the first poll returns at once.
pub(super) fn start(
    state: ClientState,
    client: Arc<ClientConnection>,
    request: ConnectRequest,
) -> Response {
    let (inbound_tx, inbound) = mpsc::channel(INBOUND_QUEUE);
    let polls = Arc::new(PollQueue::new());
    let early = client.bind(Binding::LongPolling {
        inbound: inbound_tx,
        polls: polls.clone(),
    });
    let transport = LongPollingTransport {
        inbound,
        polls,
        disconnect_timeout: state.config.disconnect_timeout,
        deleted: false,
    };
    state
        .tasks
        .spawn(drive(transport, state.clone(), client, request, early));
    poll_response(StatusCode::OK, "application/octet-stream", Bytes::new())
}

/// # `GET /client/?id=` (a later poll)
///
/// Waits up to the poll timeout for output: 200 with the bytes, 200 empty on timeout, 204 when
/// the connection ended or a newer poll replaced this one.
pub(super) async fn poll(queue: Arc<PollQueue>, timeout: Duration) -> Response {
    let token = CancellationToken::new();
    let number = {
        let mut state = queue.lock();
        state.polls_started += 1;
        let number = state.polls_started;
        if let Some((_, previous)) = state.current.replace((number, token.clone())) {
            previous.cancel();
        }
        number
    };
    let _guard = PollGuard {
        queue: &queue,
        number,
    };
    let deadline = Instant::now() + timeout;
    loop {
        let ready = queue.ready.notified();
        tokio::pin!(ready);
        ready.as_mut().enable();
        {
            let mut state = queue.lock();
            if !state.output.is_empty() {
                let output = state.output.split().freeze();
                drop(state);
                queue.drained.notify_one();
                return poll_response(StatusCode::OK, "application/octet-stream", output);
            }
            if state.ended {
                return poll_response(StatusCode::NO_CONTENT, "text/plain", Bytes::new());
            }
        }
        tokio::select! {
            () = &mut ready => {}
            () = token.cancelled() => {
                return poll_response(StatusCode::NO_CONTENT, "text/plain", Bytes::new());
            }
            () = tokio::time::sleep_until(deadline) => {
                return poll_response(StatusCode::OK, "text/plain", Bytes::new());
            }
        }
    }
}

fn poll_response(status: StatusCode, content_type: &'static str, body: Bytes) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    long_running_headers(headers, content_type, "no-cache, no-store");
    headers.insert(
        header::EXPIRES,
        HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"),
    );
    response
}

struct LongPollingTransport {
    inbound: mpsc::Receiver<Received>,
    polls: Arc<PollQueue>,
    disconnect_timeout: Duration,
    /// The client ended the connection with DELETE: it polls no more.
    deleted: bool,
}

impl Transport for LongPollingTransport {
    fn kind(&self) -> TransportKind {
        TransportKind::LongPolling
    }

    async fn recv(&mut self) -> Received {
        tokio::select! {
            received = self.inbound.recv() => {
                let received = received.unwrap_or(Received::Lost);
                self.deleted = matches!(received, Received::Closed);
                received
            }
            () = self.polls.abandoned(self.disconnect_timeout) => Received::Lost,
        }
    }

    async fn feed(&mut self, _binary: bool, frame: Frame) -> Result<(), TransportError> {
        let deadline = Instant::now() + SEND_TIMEOUT;
        loop {
            let drained = self.polls.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            {
                let mut state = self.polls.lock();
                if state.output.len() < POLL_BUFFER {
                    state.output.extend_from_slice(&frame);
                    return Ok(());
                }
            }
            if tokio::time::timeout_at(deadline, drained).await.is_err() {
                return Err(TransportError);
            }
        }
    }

    async fn flush(&mut self) -> Result<(), TransportError> {
        self.polls.ready.notify_one();
        Ok(())
    }

    /// Ends the connection once a poll has taken what is buffered (the Close with its reason,
    /// typically), as ASP.NET Core does: a client between two polls would otherwise find the
    /// connection gone (404) and never learn why it ended. It does not wait when the client
    /// polls no more (it sent DELETE, or no poll came for the disconnect timeout).
    async fn close(&mut self) {
        self.polls.lock().ended = true;
        self.polls.ready.notify_one();
        if self.deleted {
            return;
        }
        let taken = async {
            loop {
                let drained = self.polls.drained.notified();
                tokio::pin!(drained);
                drained.as_mut().enable();
                if self.polls.lock().output.is_empty() {
                    return;
                }
                drained.await;
            }
        };
        tokio::select! {
            () = taken => {}
            () = self.polls.abandoned(self.disconnect_timeout) => {}
        }
    }
}
