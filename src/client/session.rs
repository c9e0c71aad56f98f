//! The hub-protocol side of one connection, independent of the transport: reading the
//! handshake, splitting client bytes into messages regardless of how the transport chunked them,
//! stateful-reconnect bookkeeping, and deciding what each client message causes.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::app_server_link::AppServerLink;
use super::reconnect::ReconnectState;
use super::upstream_link::UpstreamLink;
use crate::hub::{ConnectionHandle, Hub, Preview, Trace, TraceEvent, TraceKind};
use crate::protocol::handshake::{self, HandshakeRequest};
use crate::protocol::{
    self, Close, Completion, CompletionResult, Encoded, Frame, FrameReader, HubMessage, Protocol,
    json,
};

/// What the transport must do after client bytes were processed.
#[derive(Debug, PartialEq)]
pub(super) enum Next {
    /// Keep going.
    Continue,
    /// Send this Close to the client and end the connection.
    Close(Close),
    /// The client said goodbye; end the connection without a Close.
    ClientClosed,
}

/// Reads the handshake request from the start of `input`, returning it with its raw bytes
/// (separator included, for an app server). `Ok(None)` means more bytes are needed; the error
/// is the text for the handshake error response.
pub(super) fn read_handshake(
    input: &mut FrameReader,
    max_message_size: usize,
) -> Result<Option<(HandshakeRequest, Bytes)>, String> {
    // The handshake is JSON-framed whatever protocol it asks for.
    match input.next_frame(Protocol::Json).unwrap_or_default() {
        Some(mut frame) => {
            let request = handshake::parse_request(&frame)?;
            frame.extend_from_slice(&[json::RECORD_SEPARATOR]);
            Ok(Some((request, frame.freeze())))
        }
        None if input.len() > max_message_size => Err(handshake::CANCELED.to_owned()),
        None => Ok(None),
    }
}

/// A handshaken connection's protocol state.
#[derive(Debug)]
pub(super) struct Session {
    connection: ConnectionHandle,
    input: FrameReader,
    max_message_size: usize,
    /// Set by the client's first Ping; the client timeout only runs after it.
    pub(super) client_pinged: bool,
    /// Present when stateful reconnect is on for this connection.
    pub(super) reconnect: Option<ReconnectState>,
    /// Present when an upstream is configured: where client invocations go.
    pub(super) upstream: Option<UpstreamLink>,
    /// Present when the client is relayed to an app server (default mode): where every client
    /// message goes, verbatim.
    pub(super) relay: Option<AppServerLink>,
    /// Where client invocations are reported for the dashboard.
    trace: Trace,
    /// The hub whose app servers or Management SDK connections may invoke this client (client
    /// results), when the service serves the client itself.
    pub(super) client_results: Option<Arc<Hub>>,
}

fn is_trackable(message: &HubMessage) -> bool {
    matches!(
        message,
        HubMessage::Invocation(_)
            | HubMessage::StreamItem { .. }
            | HubMessage::Completion(_)
            | HubMessage::StreamInvocation(_)
            | HubMessage::CancelInvocation { .. }
    )
}

impl Session {
    /// Starts the session with whatever followed the handshake in the same chunk.
    pub(super) fn new(
        connection: ConnectionHandle,
        leftover: FrameReader,
        max_message_size: usize,
        stateful: bool,
        upstream: Option<UpstreamLink>,
        trace: Trace,
    ) -> Self {
        Session {
            connection,
            input: leftover,
            max_message_size,
            client_pinged: false,
            reconnect: stateful.then(ReconnectState::new),
            upstream,
            relay: None,
            trace,
            client_results: None,
        }
    }

    /// The connection this session serves.
    pub(super) fn connection(&self) -> &ConnectionHandle {
        &self.connection
    }

    /// Appends client bytes and handles every complete message. Frames the client must get in
    /// reply (Completions) are pushed to `replies`.
    pub(super) fn on_bytes(&mut self, data: &Bytes, replies: &mut Vec<Bytes>) -> Next {
        if let (Some(link), None) = (&self.relay, &self.reconnect) {
            // The app server's hub reads the messages: the bytes go as they came.
            self.connection.count_received(1);
            link.forward(data.clone());
            return Next::Continue;
        }
        self.input.push(data);
        self.drain(replies)
    }

    /// Records a frame written to the client for stateful reconnect. A relayed client's output
    /// also carries what the app server's hub sends (handshake, pings), which the client does
    /// not number, so only its trackable messages count.
    pub(super) fn record_sent(&mut self, frame: &Frame) {
        let Some(state) = &mut self.reconnect else {
            return;
        };
        if self.relay.is_some() && !is_trackable_frame(self.connection.protocol(), frame) {
            return;
        }
        state.sent(frame.clone().into_bytes());
    }

    /// Handles the complete messages already buffered.
    pub(super) fn drain(&mut self, replies: &mut Vec<Bytes>) -> Next {
        if let (Some(link), None) = (&self.relay, &self.reconnect) {
            if !self.input.is_empty() {
                link.forward(self.input.take_all().freeze());
            }
            self.input.release_if_empty();
            return Next::Continue;
        }
        let format = self.connection.protocol();
        loop {
            let frame = match self.input.next_frame(format) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(err) => return closed_with_error(err.to_string()),
            };
            if frame.len() > self.max_message_size {
                return self.too_large();
            }
            let message = match protocol::parse(format, &frame) {
                Ok(Some(message)) => message,
                Ok(None) => continue,
                Err(err) => return closed_with_error(err.to_string()),
            };
            if let Some(state) = &mut self.reconnect
                && is_trackable(&message)
                && !state.accept_inbound()
            {
                continue;
            }
            self.observe(&message);
            if let Some(link) = &self.relay
                && !matches!(
                    message,
                    HubMessage::Ack { .. } | HubMessage::Sequence { .. }
                )
            {
                // Stateful reconnect is the service's business; everything else is the hub's.
                link.forward(protocol::framed(format, &frame));
                if matches!(message, HubMessage::Close(_)) {
                    return Next::ClientClosed;
                }
                continue;
            }
            match self.on_message(message, frame.freeze()) {
                Reply::None => {}
                Reply::Frame(frame) => replies.push(frame),
                Reply::End => return Next::ClientClosed,
                Reply::Close(close) => return Next::Close(close),
            }
        }
        if self.input.len() > self.max_message_size {
            return self.too_large();
        }
        self.input.release_if_empty();
        Next::Continue
    }

    /// Counts a client message (pings are keep-alive, not messages) and traces invocations.
    fn observe(&self, message: &HubMessage) {
        if matches!(message, HubMessage::Ping) {
            return;
        }
        self.connection.count_received(1);
        if let HubMessage::Invocation(inv) | HubMessage::StreamInvocation(inv) = message {
            self.trace.emit(|| {
                let kind = TraceKind::Invocation {
                    target: inv.target.clone(),
                    arguments: Some(Preview::of(&inv.arguments)),
                };
                let connection = &self.connection;
                TraceEvent::now(
                    connection.hub().clone(),
                    Some(connection.id().clone()),
                    kind,
                )
            });
        }
    }

    fn too_large(&self) -> Next {
        closed_with_error(format!(
            "The maximum message size of {}B was exceeded.",
            self.max_message_size
        ))
    }

    fn on_message(&mut self, message: HubMessage, frame: Bytes) -> Reply {
        let connection = &self.connection;
        match message {
            HubMessage::Ping => {
                self.client_pinged = true;
                Reply::None
            }
            HubMessage::Close(close) => {
                tracing::debug!(error = ?close.error, "client sent Close");
                Reply::End
            }
            HubMessage::Invocation(inv) => match &self.upstream {
                Some(link) => reply_with(
                    link.forward(&inv.target, frame, inv.invocation_id, false),
                    connection,
                ),
                None => match inv.invocation_id {
                    Some(id) => {
                        reply_with(Some(no_upstream(connection, id, &inv.target)), connection)
                    }
                    None => {
                        tracing::debug!(target = %inv.target, "client send dropped: no upstream configured");
                        Reply::None
                    }
                },
            },
            HubMessage::StreamInvocation(inv) => {
                // Parsing guarantees a StreamInvocation has an id.
                let id = inv.invocation_id.unwrap_or_default();
                match &self.upstream {
                    Some(link) => {
                        connection.open_stream(&id, &inv.target);
                        reply_with(link.forward(&inv.target, frame, Some(id), true), connection)
                    }
                    None => reply_with(Some(no_upstream(connection, id, &inv.target)), connection),
                }
            }
            HubMessage::CancelInvocation { invocation_id, .. } => {
                let Some(target) = connection.close_stream(&invocation_id) else {
                    return Reply::None;
                };
                if let Some(link) = &self.upstream {
                    link.forward(&target, frame, None, false);
                }
                let done = Completion {
                    invocation_id,
                    result: CompletionResult::Void,
                    headers: Default::default(),
                };
                reply_with(Some(done), connection)
            }
            HubMessage::Completion(completion) => {
                let id = completion.invocation_id.clone();
                let for_app_server = || {
                    self.client_results.as_ref().is_some_and(|hub| {
                        let framed = protocol::framed(connection.protocol(), &frame);
                        hub.answer_client_invocation(connection, &id, framed)
                    })
                };
                if !connection.complete(completion) && !for_app_server() {
                    tracing::debug!(invocation = %id, "completion for no pending server invocation ignored");
                }
                Reply::None
            }
            HubMessage::Ack { sequence_id } => {
                if let Some(state) = &mut self.reconnect {
                    state.ack(sequence_id);
                }
                Reply::None
            }
            HubMessage::Sequence { sequence_id } => match &mut self.reconnect {
                Some(state) => match state.client_sequence(sequence_id) {
                    Ok(()) => Reply::None,
                    Err(err) => Reply::Close(Close {
                        error: Some(format!("Connection closed with an error. {err}")),
                        allow_reconnect: false,
                    }),
                },
                None => Reply::None,
            },
            other => {
                tracing::debug!(message = ?other, "client message ignored");
                Reply::None
            }
        }
    }
}

/// Whether a framed message is one stateful reconnect numbers (types 1 to 5).
fn is_trackable_frame(format: protocol::Protocol, frame: &[u8]) -> bool {
    let mut buffer = BytesMut::from(frame);
    match protocol::next_frame(format, &mut buffer) {
        Ok(Some(body)) => matches!(protocol::parse(format, &body), Ok(Some(m)) if is_trackable(&m)),
        _ => false,
    }
}

/// The Completion for an invocation when the server has no upstream at all.
fn no_upstream(connection: &ConnectionHandle, id: String, target: &str) -> Completion {
    Completion::error(
        id,
        format!(
            "No upstream is configured for hub '{}', so the invocation of '{target}' has nowhere to go. Client invocations in serverless mode are answered by an upstream (e.g. an Azure Function): start the emulator with --upstream <url> or -c settings.json.",
            connection.hub()
        ),
    )
}

fn reply_with(completion: Option<Completion>, connection: &ConnectionHandle) -> Reply {
    match completion {
        Some(completion) => Reply::Frame(
            Encoded::new(HubMessage::Completion(completion)).frame(connection.protocol()),
        ),
        None => Reply::None,
    }
}

fn closed_with_error(detail: String) -> Next {
    Next::Close(Close {
        error: Some(format!("Connection closed with an error. {detail}")),
        allow_reconnect: false,
    })
}

enum Reply {
    None,
    Frame(Bytes),
    End,
    Close(Close),
}
