//! The connection driver: the same hub-protocol loop over every transport. It reads the
//! handshake, registers the connection in its hub, then multiplexes client input, the
//! connection's bounded outbound queue, keep-alive pings, the client timeout, stateful-reconnect
//! Acks and replays, and closing; finally it unregisters the connection.

use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::time::{Instant, sleep_until};
use tracing::Instrument;

use super::app_server_link::{self, AppServerLink};
use super::connections::ClientConnection;
use super::placement;
use super::request::ConnectRequest;
use super::session::{Next, Session, read_handshake};
use super::state::ClientState;
use super::transport::{Received, Transport, TransportError, TransportKind};
use super::upstream_link::{Caller, UpstreamLink};
use crate::auth::{iso8601, unix_now};
use crate::cluster::Cluster;
use crate::config::ServiceMode;
use crate::hub::{
    Connection, ConnectionHandle, FrameReceiver, Hub, Outbox, SEND_TIMEOUT, ServerHandle,
    TraceEvent, TraceKind,
};
use crate::protocol::handshake::{self, Agreed};
use crate::protocol::{Close, Encoded, Frame, FrameReader, HubMessage, Protocol};
use crate::state::AppState;

/// Frames written before one flush, so a burst costs few syscalls but latency stays bounded.
const MAX_BATCH: usize = 64;
/// How long a closing connection may take to hand its last frames to the transport.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a stateful connection tells the client what it has processed.
const ACK_INTERVAL: Duration = Duration::from_secs(1);

/// Runs one connection over `transport` until it ends, then forgets it.
pub(super) async fn drive<T: Transport>(
    mut transport: T,
    state: ClientState,
    client: Arc<ClientConnection>,
    request: ConnectRequest,
    early: BytesMut,
) {
    let span = tracing::info_span!(
        "connection",
        hub = %client.hub,
        id = %client.connection_id,
        transport = transport.kind().name()
    );
    let mut input = FrameReader::new();
    input.push(&early);
    // Not kept for the connection's life: the driver's future holds what it captures.
    drop(early);
    async {
        // Boxed: the handshake runs once, and keeping its state out of the connection's task
        // keeps every idle connection smaller.
        if let Some(handshake) = Box::pin(handshake(&mut transport, &state, &mut input)).await {
            run(&mut transport, &state, &client, handshake, input, request).await;
        }
        placement::forget(&state, &client);
    }
    .instrument(span)
    .await;
}

/// The client's handshake: what was agreed, and the request's raw bytes.
struct Handshake {
    agreed: Agreed,
    raw: Bytes,
}

/// Reads until the handshake request is complete, answers errors, and returns what was agreed.
async fn handshake<T: Transport>(
    transport: &mut T,
    state: &AppState,
    input: &mut FrameReader,
) -> Option<Handshake> {
    let deadline = Instant::now() + state.config.handshake_timeout;
    let (request, raw) = loop {
        match read_handshake(input, state.config.max_message_size) {
            Ok(Some(request)) => break request,
            Ok(None) => {}
            Err(error) => {
                reject(transport, &error).await;
                return None;
            }
        }
        tokio::select! {
            received = transport.recv() => match received {
                Received::Data(data) => input.push(&data),
                Received::Closed | Received::Lost => return None,
            },
            () = sleep_until(deadline) => {
                reject(transport, handshake::CANCELED).await;
                return None;
            }
            () = state.shutdown.cancelled() => return None,
        }
    };
    match handshake::agree(&request, transport.kind().supports_binary()) {
        Ok(agreed) => Some(Handshake { agreed, raw }),
        Err(error) => {
            reject(transport, &error).await;
            None
        }
    }
}

/// Sends a handshake error (a text frame: the format is not fixed yet) and closes.
async fn reject<T: Transport>(transport: &mut T, error: &str) {
    tracing::debug!(error, "handshake failed");
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        if transport
            .feed(false, handshake::error_response(error).into())
            .await
            .is_ok()
        {
            let _ = transport.flush().await;
        }
        transport.close().await;
    })
    .await;
}

/// Where a client goes: to an app server (default mode) or to the service itself.
fn route(
    state: &AppState,
    hub: &Hub,
    client: &ClientConnection,
) -> Result<Option<ServerHandle>, String> {
    if state.config.service_mode == ServiceMode::Serverless {
        return Ok(None);
    }
    let stickiness = app_server_link::stickiness(&client.claims);
    match hub.pick_server(stickiness) {
        Ok(server) => Ok(Some(server)),
        Err(_) if state.config.service_mode == ServiceMode::Classic && !hub.has_app_server() => {
            Ok(None)
        }
        Err(reason) => Err(app_server_link::no_server_error(
            reason,
            hub.name(),
            stickiness,
        )),
    }
}

/// Registers the connection, serves it, and unregisters it. A client of a hub in default mode
/// is relayed to an app server, which answers its handshake; any other is answered here.
async fn run<T: Transport>(
    transport: &mut T,
    state: &AppState,
    client: &ClientConnection,
    handshake: Handshake,
    leftover: FrameReader,
    request: ConnectRequest,
) {
    let Handshake { agreed, raw } = handshake;
    let kind = transport.kind();
    let hub = state.hubs.get_or_create(&client.hub);
    let app_server = match route(state, &hub, client) {
        Ok(app_server) => app_server,
        Err(error) => {
            reject(transport, &error).await;
            return;
        }
    };
    // An app server that does not allow stateful reconnects (its handshake says so) gets
    // clients that end with their transport, as its own negotiate would have told them.
    let stateful = client.stateful
        && agreed.version >= 2
        && kind == TransportKind::WebSockets
        && app_server
            .as_ref()
            .is_none_or(|server| server.allows_stateful_reconnects());
    let (connection, outbox) = Connection::new(
        client.connection_id.clone(),
        hub.name().clone(),
        client.claims.user_id.as_deref().map(Arc::from),
        agreed.protocol,
        kind.name(),
        state.config.send_queue,
        &state.shutdown,
    );
    let relay = match app_server {
        // The app server's hub answers the handshake; the client joins the hub with it.
        Some(server) => Some(AppServerLink::open(
            server,
            connection.clone(),
            &client.claims,
            &request,
            raw,
        )),
        None => {
            drop(raw);
            let cluster = state.cluster.as_deref();
            let binary = agreed.protocol.is_binary();
            if !greet(transport, &hub, cluster, &connection, binary).await {
                return;
            }
            None
        }
    };
    tracing::info!(user = ?connection.user_id(), protocol = agreed.protocol.name(), stateful, relayed = relay.is_some(), "connected");
    hub.trace().emit(|| {
        let kind = TraceKind::Connected {
            transport: kind.name(),
            protocol: agreed.protocol.name(),
            user_id: connection.user_id().cloned(),
        };
        TraceEvent::now(hub.name().clone(), Some(connection.id().clone()), kind)
    });
    let upstream = upstream_link(state, &relay, &connection, client, request);
    let mut session = Session::new(
        connection.clone(),
        leftover,
        state.config.max_message_size,
        stateful,
        upstream,
        hub.trace().clone(),
    );
    session.relay = relay;
    session.client_results = Some(hub.clone());
    let auth_expiry = client.claims.close_on_auth_expiry();
    let end = serve(transport, state, &mut session, outbox, auth_expiry).await;
    let relay = session.relay.take();
    if let Some(link) = &relay {
        link.forget_opening();
    }
    hub.remove_connection(connection.id());
    connection.fail_pending();
    tracing::info!(reason = end.reason(), "disconnected");
    hub.trace().emit(|| {
        let reason = match connection.close_reason().and_then(|c| c.error.as_deref()) {
            Some(error) => format!("{}: {error}", end.reason()),
            None => end.reason().to_owned(),
        };
        let kind = TraceKind::Disconnected { reason };
        TraceEvent::now(hub.name().clone(), Some(connection.id().clone()), kind)
    });
    match relay {
        Some(link) => link.closed(&hub, end.error()),
        None => hub.fail_client_invocations(connection.id()),
    }
    if let Some(link) = session.upstream.take() {
        link.disconnected(end.error()).await;
    }
}

/// Starts the connection's upstream link when an upstream is configured and the service serves
/// the client itself. `connected` is queued before any client message can be, so the upstream
/// sees it first. A relayed client's hub lives in its app server, which gets its events instead.
/// Takes the connect request so that its headers are not held for the connection's life.
fn upstream_link(
    state: &AppState,
    relay: &Option<AppServerLink>,
    connection: &ConnectionHandle,
    client: &ClientConnection,
    request: ConnectRequest,
) -> Option<UpstreamLink> {
    let upstream = state.upstream.clone().filter(|_| relay.is_none())?;
    let caller = Caller {
        connection: connection.clone(),
        claims: client.claims.clone(),
        client_query: request.query,
    };
    Some(UpstreamLink::start(upstream, caller, &state.tasks))
}

/// Registers a connection the service answers itself and sends the handshake response.
/// Registered before the client learns it is connected: a send made the moment its `start()`
/// resolves must reach it, and in a cluster an existence check on another node must see it.
/// Anything queued meanwhile is written after `{}`.
async fn greet<T: Transport>(
    transport: &mut T,
    hub: &Hub,
    cluster: Option<&Cluster>,
    connection: &ConnectionHandle,
    binary: bool,
) -> bool {
    hub.add_connection(connection.clone());
    if let Some(cluster) = cluster
        && let Err(err) = cluster.flush_mirror().await
    {
        // It works here; other nodes see it once Redis takes the mirror's write or a resync.
        tracing::warn!(%err, "cluster: connection not yet visible to other nodes");
    }
    let greeted = async {
        transport
            .feed(binary, Bytes::from_static(handshake::SUCCESS).into())
            .await?;
        transport.flush().await
    };
    if greeted.await.is_err() {
        hub.remove_connection(connection.id());
        return false;
    }
    true
}

/// Why a connection ended.
enum End {
    /// The client said goodbye.
    Graceful(&'static str),
    /// Anything else; the text goes to the upstream's `disconnected` event.
    Abnormal(&'static str),
}

impl End {
    fn reason(&self) -> &'static str {
        match self {
            End::Graceful(reason) | End::Abnormal(reason) => reason,
        }
    }

    fn error(&self) -> Option<String> {
        match self {
            End::Graceful(_) => None,
            End::Abnormal(reason) => Some(format!("The connection ended: {reason}.")),
        }
    }
}

/// What woke the message loop.
enum Wake {
    Closing,
    Frame(Frame),
    Received(Received),
    Ping,
    ClientTimeout,
    AckDue,
    AuthExpired,
}

/// The message loop. Returns why the connection ended, for the log. `auth_expiry` (unix
/// seconds) is when the token's `asrs.s.coae` asks for the connection to be closed.
async fn serve<T: Transport>(
    transport: &mut T,
    state: &AppState,
    session: &mut Session,
    mut outbox: Outbox,
    auth_expiry: Option<i64>,
) -> End {
    let connection = session.connection().clone();
    let protocol = connection.protocol();
    let binary = protocol.is_binary();
    // A relayed client's keep-alive and timeout belong to the app server's hub.
    let keep_alive = transport.kind().has_keep_alive() && session.relay.is_none();
    let ping_interval = state.config.keep_alive_interval;
    let client_timeout = state.config.client_timeout;
    // The deadlines move with every write and read; the timers only chase them when they fire,
    // so a busy connection does not re-register timers on every turn of the loop.
    let mut ping_at = Instant::now() + ping_interval;
    let mut client_deadline = Instant::now() + client_timeout;
    let ping_timer = tokio::time::sleep_until(ping_at);
    let timeout_timer = tokio::time::sleep_until(client_deadline);
    let expiry_timer = tokio::time::sleep_until(auth_expiry.map_or(ping_at, instant_of_unix));
    tokio::pin!(ping_timer, timeout_timer, expiry_timer);
    // Only a stateful connection acks: the others do not carry an interval's timer.
    let mut ack_tick = session
        .reconnect
        .is_some()
        .then(|| tokio::time::interval(ACK_INTERVAL));
    let mut replies = Vec::new();
    // One waiter for the whole loop: a fresh one per wake-up took the token's lock three
    // times (check, register, unregister) for every batch written.
    let closing = outbox.closing.clone();
    let closing = closing.cancelled();
    tokio::pin!(closing);

    // Messages the client sent in the same chunk as its handshake come first.
    let mut next = session.drain(&mut replies);
    loop {
        let mut written: Result<(), TransportError> = Ok(());
        if !replies.is_empty() {
            written = guarded(
                &outbox.closing,
                write_replies(transport, session, binary, &mut replies),
            )
            .await;
            ping_at = Instant::now() + ping_interval;
        }
        match std::mem::replace(&mut next, Next::Continue) {
            Next::Continue => {}
            Next::ClientClosed => {
                transport.close().await;
                return End::Graceful("client sent Close");
            }
            Next::Close(close) => {
                return End::Abnormal(close_with(transport, protocol, &mut outbox, close).await);
            }
        }
        if written.is_ok() {
            let buffer_full = session.reconnect.as_ref().is_some_and(|s| s.is_full());
            let wake = tokio::select! {
                biased;
                () = &mut closing => Wake::Closing,
                frame = outbox.frames.recv(), if !buffer_full => Wake::Frame(frame),
                received = transport.recv() => Wake::Received(received),
                () = &mut ping_timer, if keep_alive => Wake::Ping,
                () = &mut timeout_timer, if keep_alive && session.client_pinged => Wake::ClientTimeout,
                () = tick(&mut ack_tick) => Wake::AckDue,
                () = &mut expiry_timer, if auth_expiry.is_some() => Wake::AuthExpired,
            };
            written = match wake {
                Wake::Closing => {
                    let close = closing_message(&connection);
                    return End::Abnormal(
                        close_with(transport, protocol, &mut outbox, close).await,
                    );
                }
                Wake::Frame(frame) => {
                    ping_at = Instant::now() + ping_interval;
                    write_batch(transport, session, binary, frame, &mut outbox).await
                }
                Wake::Received(Received::Data(data)) => {
                    client_deadline = Instant::now() + client_timeout;
                    next = session.on_bytes(&data, &mut replies);
                    Ok(())
                }
                Wake::Received(Received::Closed) => {
                    transport.close().await;
                    return End::Graceful("client closed the transport");
                }
                Wake::Received(Received::Lost) => Err(TransportError),
                Wake::Ping if Instant::now() < ping_at => {
                    // Output went out since the timer was set: no ping needed yet.
                    ping_timer.as_mut().reset(ping_at);
                    Ok(())
                }
                Wake::Ping => {
                    ping_at = Instant::now() + ping_interval;
                    ping_timer.as_mut().reset(ping_at);
                    send(
                        transport,
                        &outbox.closing,
                        binary,
                        Encoded::new(HubMessage::Ping).shared(protocol),
                    )
                    .await
                }
                Wake::ClientTimeout if Instant::now() < client_deadline => {
                    timeout_timer.as_mut().reset(client_deadline);
                    Ok(())
                }
                Wake::ClientTimeout => {
                    let close = Close {
                        error: Some(format!(
                            "Connection closed with an error. Client hasn't sent a message/ping within the configured client timeout of {} s.",
                            client_timeout.as_secs()
                        )),
                        allow_reconnect: true,
                    };
                    close_with(transport, protocol, &mut outbox, close).await;
                    return End::Abnormal("client timeout");
                }
                Wake::AuthExpired => {
                    let at = iso8601(auth_expiry.unwrap_or_default());
                    let close = Close {
                        error: Some(format!(
                            "Connection closed because its authentication expired at {at} (the token asked for asrs.s.coae); reconnect with a new token."
                        )),
                        allow_reconnect: true,
                    };
                    close_with(transport, protocol, &mut outbox, Some(close)).await;
                    return End::Abnormal("authentication expired");
                }
                Wake::AckDue => match session.reconnect.as_mut().and_then(|s| s.ack_due()) {
                    Some(sequence_id) => {
                        let ack = Encoded::new(HubMessage::Ack { sequence_id }).shared(protocol);
                        send(transport, &outbox.closing, binary, ack).await
                    }
                    None => Ok(()),
                },
            };
        }
        if written.is_err() {
            if outbox.closing.is_cancelled() {
                // A write was cut short because the connection must close (typically a slow
                // consumer whose socket stopped taking bytes): there is no point in a Close.
                return End::Abnormal("closed while its writes were blocked (slow consumer)");
            }
            // The transport broke. A stateful connection waits for its client to come back;
            // everything it may have missed is still in the replay buffer.
            if session.reconnect.is_none() {
                return End::Abnormal("transport lost");
            }
            connection.set_awaiting_reconnect(true);
            let back = tokio::select! {
                back = transport.reconnect() => back,
                () = outbox.closing.cancelled() => false,
            };
            connection.set_awaiting_reconnect(false);
            if !back || replay(transport, session, binary, protocol).await.is_err() {
                return End::Abnormal("transport lost; the client did not reconnect in time");
            }
            tracing::info!("client reconnected (stateful reconnect)");
            if let Some(link) = &session.relay {
                link.reconnected();
            }
            client_deadline = Instant::now() + client_timeout;
            ping_at = Instant::now() + ping_interval;
            timeout_timer.as_mut().reset(client_deadline);
            ping_timer.as_mut().reset(ping_at);
        }
    }
}

/// The next tick of `interval`; never, without one.
async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// The monotonic instant of a unix time: now plus however far away it is (at once if past).
fn instant_of_unix(unix: i64) -> Instant {
    let ahead = u64::try_from(unix.saturating_sub(i64::try_from(unix_now()).unwrap_or(i64::MAX)))
        .unwrap_or(0);
    // Capped at a year so that the addition cannot overflow the clock.
    Instant::now() + Duration::from_secs(ahead.min(365 * 24 * 3600))
}

/// Writes the session's replies (Completions) and flushes them.
async fn write_replies<T: Transport>(
    transport: &mut T,
    session: &mut Session,
    binary: bool,
    replies: &mut Vec<Bytes>,
) -> Result<(), TransportError> {
    for reply in replies.drain(..) {
        let reply = Frame::from(reply);
        session.record_sent(&reply);
        transport.feed(binary, reply).await?;
    }
    transport.flush().await
}

/// The Close a connection gets when asked to close: the recorded reason, or a shutdown; none
/// when its app server ended it (the hub's own Close frame is already queued).
fn closing_message(connection: &ConnectionHandle) -> Option<Close> {
    if connection.ended_by_app_server() {
        return None;
    }
    Some(connection.close_reason().cloned().unwrap_or(Close {
        error: Some("The server is shutting down.".into()),
        allow_reconnect: true,
    }))
}

/// Writes `first` and whatever else is queued once the tasks already runnable had their turn
/// (up to a batch), then flushes once, and counts what it handed to the transport.
///
/// The turn given first is write coalescing, as Kestrel gets from its output pipe: a fan-out
/// wakes thousands of writers one frame at a time, and the sends still running add to their
/// queues meanwhile, so a writer that waits one turn writes several frames with one system call
/// instead of one each (measured: a tenth fewer deliveries' worth of server CPU on the
/// 2,000-client broadcast row). It costs one more poll of this task and no timer.
async fn write_batch<T: Transport>(
    transport: &mut T,
    session: &mut Session,
    binary: bool,
    first: Frame,
    outbox: &mut Outbox,
) -> Result<(), TransportError> {
    tokio::task::yield_now().await;
    let Outbox { frames, closing } = outbox;
    let mut written = 0;
    let result = guarded(closing, async {
        feed_batch(transport, session, binary, first, frames, &mut written).await?;
        transport.flush().await
    })
    .await;
    session.connection().count_sent(written);
    result
}

/// Runs a write, giving up when it takes longer than [`SEND_TIMEOUT`] or the connection is
/// told to close meanwhile: a client that stopped reading must not hold its connection (and its
/// queue) open, and a slow-consumer close must take effect at once.
///
/// A write the socket takes at once (the usual case: its buffer has room) is done on the first
/// poll, before any timer or cancellation waiter exists: arming both for every batch cost more
/// than the write itself on the fan-out path, where a batch is often one frame.
async fn guarded(
    closing: &tokio_util::sync::CancellationToken,
    write: impl std::future::Future<Output = Result<(), TransportError>>,
) -> Result<(), TransportError> {
    let mut write = std::pin::pin!(write);
    if let Poll::Ready(result) = futures_util::poll!(write.as_mut()) {
        return result;
    }
    tokio::select! {
        result = tokio::time::timeout(SEND_TIMEOUT, write) => result.unwrap_or(Err(TransportError)),
        () = closing.cancelled() => Err(TransportError),
    }
}

async fn feed_batch<T: Transport>(
    transport: &mut T,
    session: &mut Session,
    binary: bool,
    first: Frame,
    frames: &mut FrameReceiver<Frame>,
    written: &mut u64,
) -> Result<(), TransportError> {
    let mut next = Some(first);
    while let Some(frame) = next.take() {
        session.record_sent(&frame);
        transport.feed(binary, frame).await?;
        *written += 1;
        let full = session.reconnect.as_ref().is_some_and(|s| s.is_full());
        // Take another frame only when it will be fed: one taken and then dropped is lost.
        if !full && *written < MAX_BATCH as u64 {
            next = frames.try_recv().ok();
        }
    }
    Ok(())
}

/// After a stateful reconnect: Sequence, then every unacknowledged message again.
async fn replay<T: Transport>(
    transport: &mut T,
    session: &mut Session,
    binary: bool,
    protocol: Protocol,
) -> Result<(), TransportError> {
    let Some(state) = &mut session.reconnect else {
        return Ok(());
    };
    let (sequence_id, frames) = state.replay();
    let sequence = Encoded::new(HubMessage::Sequence { sequence_id }).shared(protocol);
    transport.feed(binary, sequence).await?;
    for frame in frames {
        transport.feed(binary, frame.into()).await?;
    }
    transport.flush().await
}

/// Sends what is still queued, then the Close message (if any), and ends the transport, within
/// the close timeout. Boxed like the handshake: it runs once, at the end.
async fn close_with<T: Transport>(
    transport: &mut T,
    protocol: Protocol,
    outbox: &mut Outbox,
    close: impl Into<Option<Close>>,
) -> &'static str {
    let close = close.into();
    Box::pin(close_with_unboxed(transport, protocol, outbox, close)).await
}

async fn close_with_unboxed<T: Transport>(
    transport: &mut T,
    protocol: Protocol,
    outbox: &mut Outbox,
    close: Option<Close>,
) -> &'static str {
    let closing = async {
        while let Ok(frame) = outbox.frames.try_recv() {
            transport.feed(protocol.is_binary(), frame).await?;
        }
        if let Some(close) = close {
            let frame = Encoded::new(HubMessage::Close(close)).shared(protocol);
            transport.feed(protocol.is_binary(), frame).await?;
        }
        transport.flush().await
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, closing).await;
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, transport.close()).await;
    "closed by the server"
}

async fn send<T: Transport>(
    transport: &mut T,
    closing: &tokio_util::sync::CancellationToken,
    binary: bool,
    frame: Frame,
) -> Result<(), TransportError> {
    guarded(closing, async {
        transport.feed(binary, frame).await?;
        transport.flush().await
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::hub::Trace;

    /// A transport that records what it is given, and how many flushes.
    #[derive(Default)]
    struct Recorder {
        fed: Vec<Bytes>,
        flushes: usize,
    }

    impl Transport for Recorder {
        fn kind(&self) -> TransportKind {
            TransportKind::WebSockets
        }

        async fn recv(&mut self) -> Received {
            std::future::pending().await
        }

        async fn feed(&mut self, _binary: bool, frame: Frame) -> Result<(), TransportError> {
            self.fed.push(frame.into_bytes());
            Ok(())
        }

        async fn flush(&mut self) -> Result<(), TransportError> {
            self.flushes += 1;
            Ok(())
        }

        async fn close(&mut self) {}
    }

    fn connection_and_session() -> (ConnectionHandle, Outbox, Session) {
        let (connection, outbox) = Connection::new(
            Arc::from("c"),
            Arc::from("hub"),
            None,
            Protocol::Json,
            "WebSockets",
            1024,
            &CancellationToken::new(),
        );
        let session = Session::new(
            connection.clone(),
            FrameReader::new(),
            1024,
            false,
            None,
            Trace::default(),
        );
        (connection, outbox, session)
    }

    #[tokio::test]
    async fn batches_write_every_queued_frame_once_in_order() {
        let (connection, mut outbox, mut session) = connection_and_session();
        // More than one batch's worth, as a burst of broadcasts leaves behind.
        let frames: Vec<Bytes> = (0..3 * MAX_BATCH + 5)
            .map(|n| Bytes::from(n.to_string()))
            .collect();
        for frame in &frames {
            assert!(connection.deliver(frame.clone()));
        }
        let mut transport = Recorder::default();
        while let Ok(first) = outbox.frames.try_recv() {
            write_batch(&mut transport, &mut session, false, first, &mut outbox)
                .await
                .unwrap();
        }
        assert_eq!(transport.fed, frames);
    }

    #[tokio::test]
    async fn frames_queued_while_the_writer_gives_way_go_out_in_its_flush() {
        let (connection, mut outbox, mut session) = connection_and_session();
        assert!(connection.deliver(Bytes::from("first")));
        let first = outbox.frames.try_recv().unwrap();
        let mut transport = Recorder::default();
        // The writer is polled first and gives way; the second send comes in meanwhile.
        let (written, ()) = tokio::join!(
            write_batch(&mut transport, &mut session, false, first, &mut outbox),
            async {
                assert!(connection.deliver(Bytes::from("second")));
            },
        );
        written.unwrap();
        assert_eq!(transport.fed, [Bytes::from("first"), Bytes::from("second")]);
        assert_eq!(transport.flushes, 1);
    }
}
