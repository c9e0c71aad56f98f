//! The Server-Sent Events transport: `GET /client/?id=` with `Accept: text/event-stream` opens an
//! event stream that starts with `:\r\n` at once and carries every batch of output as one
//! `data:` event; the client sends by POST. Text (JSON) only.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::mpsc;

use super::connections::{Binding, ClientConnection};
use super::driver::drive;
use super::request::ConnectRequest;
use super::state::ClientState;
use super::transport::{Received, Transport, TransportError, TransportKind, long_running_headers};
use crate::hub::SEND_TIMEOUT;
use crate::protocol::Frame;

/// Events buffered towards the response body before the driver waits.
const EVENT_QUEUE: usize = 16;
/// POST bodies buffered towards the driver before a POST waits.
pub(super) const INBOUND_QUEUE: usize = 16;

/// Binds the connection to SSE, starts its driver and returns the streaming response.
pub(super) fn start(
    state: ClientState,
    client: Arc<ClientConnection>,
    request: ConnectRequest,
) -> Response {
    let (inbound_tx, inbound) = mpsc::channel(INBOUND_QUEUE);
    let (events, events_rx) = mpsc::channel::<Bytes>(EVENT_QUEUE);
    let early = client.bind(Binding::ServerSentEvents {
        inbound: inbound_tx,
    });
    let transport = SseTransport {
        inbound,
        events: Some(events),
        pending: BytesMut::new(),
    };
    state
        .tasks
        .spawn(drive(transport, state.clone(), client, request, early));

    // The comment line goes out at once: browsers fire `onopen` only after the first bytes.
    let first =
        futures_util::stream::once(async { Ok::<_, Infallible>(Bytes::from_static(b":\r\n")) });
    let rest = futures_util::stream::unfold(events_rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|event| (Ok::<_, Infallible>(event), rx))
    });
    let mut response = Response::new(Body::from_stream(futures_util::StreamExt::chain(
        first, rest,
    )));
    let headers = response.headers_mut();
    long_running_headers(headers, "text/event-stream", "no-cache,no-store");
    headers.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// Formats a payload as one SSE event: a `data:` line per line of the payload.
fn event(payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 16);
    for line in payload.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        out.put_slice(b"data: ");
        out.put_slice(line);
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"\r\n");
    out.freeze()
}

struct SseTransport {
    inbound: mpsc::Receiver<Received>,
    /// `None` once the stream was ended.
    events: Option<mpsc::Sender<Bytes>>,
    pending: BytesMut,
}

impl Transport for SseTransport {
    fn kind(&self) -> TransportKind {
        TransportKind::ServerSentEvents
    }

    async fn recv(&mut self) -> Received {
        let Some(events) = &self.events else {
            return self.inbound.recv().await.unwrap_or(Received::Lost);
        };
        tokio::select! {
            received = self.inbound.recv() => received.unwrap_or(Received::Lost),
            // The client closed the EventSource: the response body was dropped.
            () = events.closed() => Received::Lost,
        }
    }

    async fn feed(&mut self, _binary: bool, frame: Frame) -> Result<(), TransportError> {
        self.pending.extend_from_slice(&frame);
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), TransportError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let payload = self.pending.split();
        let events = self.events.as_ref().ok_or(TransportError)?;
        match tokio::time::timeout(SEND_TIMEOUT, events.send(event(&payload))).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(TransportError),
        }
    }

    async fn close(&mut self) {
        self.events = None;
    }
}

#[cfg(test)]
mod tests {
    use super::event;

    #[test]
    fn events_split_lines_and_strip_carriage_returns() {
        assert_eq!(
            &event(b"{\"type\":6}\x1e")[..],
            b"data: {\"type\":6}\x1e\r\n\r\n"
        );
        assert_eq!(
            &event(b"a\r\nb\nc")[..],
            b"data: a\r\ndata: b\r\ndata: c\r\n\r\n"
        );
    }
}
