//! What the connection driver needs from a transport (WebSockets, Server-Sent Events, long
//! polling): receive client bytes, write framed messages, close. The driver runs the same hub
//! protocol loop over all three.

use std::future::Future;

use axum::http::{HeaderMap, HeaderValue, header};
use bytes::Bytes;

use crate::protocol::Frame;

/// The three SignalR transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// Full duplex over one socket.
    WebSockets,
    /// Server-to-client event stream; client sends by POST.
    ServerSentEvents,
    /// Repeated GET polls; client sends by POST.
    LongPolling,
}

impl TransportKind {
    /// The name used in negotiate responses and error texts.
    pub fn name(self) -> &'static str {
        match self {
            TransportKind::WebSockets => "WebSockets",
            TransportKind::ServerSentEvents => "ServerSentEvents",
            TransportKind::LongPolling => "LongPolling",
        }
    }

    /// Bit of the transport in Azure's `asrs.s.htt` claim and ASP.NET's HttpTransportType.
    pub fn bit(self) -> u64 {
        match self {
            TransportKind::WebSockets => 1,
            TransportKind::ServerSentEvents => 2,
            TransportKind::LongPolling => 4,
        }
    }

    /// Whether binary hub protocols (MessagePack) can be carried.
    pub fn supports_binary(self) -> bool {
        self != TransportKind::ServerSentEvents
    }

    /// Long polling keeps itself alive: no server pings, no client timeout.
    pub fn has_keep_alive(self) -> bool {
        self != TransportKind::LongPolling
    }
}

/// The headers both HTTP transports' responses (an event stream, a poll) carry, as ASP.NET
/// sends them: the body's `content_type`, never cached, and `Long-Running: true`.
/// `cache_control` is a parameter because ASP.NET spells it differently on each transport
/// (`no-cache,no-store` on SSE, `no-cache, no-store` on long polling), and clients see the
/// exact spelling.
pub(super) fn long_running_headers(
    headers: &mut HeaderMap,
    content_type: &'static str,
    cache_control: &'static str,
) {
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert("long-running", HeaderValue::from_static("true"));
}

/// What a transport read produced.
#[derive(Debug)]
pub(super) enum Received {
    /// Client bytes, chunked however the transport chunked them.
    Data(Bytes),
    /// The client ended the transport gracefully (WebSocket close frame, long-polling DELETE).
    Closed,
    /// The transport broke (socket dropped, poll abandoned, event stream disconnected).
    Lost,
}

/// A transport failed to carry output; the connection is over.
#[derive(Debug)]
pub(super) struct TransportError;

/// One attached transport.
pub(super) trait Transport: Send {
    /// Which transport this is.
    fn kind(&self) -> TransportKind;

    /// The next client input. Must be cancel-safe: the driver calls it inside `select!`.
    fn recv(&mut self) -> impl Future<Output = Received> + Send;

    /// Buffers one framed message; `binary` chooses the frame type where it matters.
    fn feed(
        &mut self,
        binary: bool,
        frame: Frame,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Pushes buffered output to the client.
    fn flush(&mut self) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Ends the transport after the last message.
    fn close(&mut self) -> impl Future<Output = ()> + Send;

    /// Waits for the client to come back after the transport was lost (stateful reconnect).
    /// Returns false when it does not come back in time or the transport cannot reconnect.
    fn reconnect(&mut self) -> impl Future<Output = bool> + Send {
        std::future::ready(false)
    }
}
