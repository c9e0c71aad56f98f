//! Serving HTTP on bound listeners: the accept loops, one task per connection, the timeouts
//! that drop half-sent requests, backing off when the process runs out of file descriptors,
//! and graceful shutdown with a deadline after which whatever is left is dropped.
//!
//! It replaces `axum::serve`, which has no header or body timeout and no shutdown deadline: a
//! client that sends half a request would hold its socket (and block shutdown) forever.
//!
//! Extending it: [`serve`] takes any number of listeners (one accept loop each, e.g. for
//! `127.0.0.1` and `::1`) and an [`Acceptor`] that turns each accepted [`TcpStream`] into the
//! stream HTTP is spoken on. [`PlainTcp`] serves the socket as it is; TLS implements
//! [`Acceptor`] with its handshake in `accept` (it runs in the connection's own task, under
//! the header-read timeout, so a slow handshake never stalls the accept loop).

mod deadline_body;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Service;

use deadline_body::DeadlineBody;

/// The first pause after an accept error that is not about one connection (out of file
/// descriptors, out of memory); it doubles on each further error up to [`MAX_ACCEPT_BACKOFF`].
const MIN_ACCEPT_BACKOFF: Duration = Duration::from_millis(10);
/// The longest pause between accept attempts while the process is out of descriptors.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Turns an accepted TCP stream into the stream HTTP is served on (the TLS hook).
pub trait Acceptor: Clone + Send + Sync + 'static {
    /// The stream HTTP is spoken on.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Prepares one accepted connection; an error drops it (and is logged at debug).
    fn accept(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
    ) -> impl Future<Output = io::Result<Self::Io>> + Send;
}

/// What [`serve`] serves: an axum `Router`, or the emulator's `App` around one.
pub trait HttpService:
    Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> HttpService for S where
    S: Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// Serves HTTP on the TCP stream as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainTcp;

impl Acceptor for PlainTcp {
    type Io = TcpStream;

    async fn accept(&self, stream: TcpStream, _peer: SocketAddr) -> io::Result<TcpStream> {
        Ok(stream)
    }
}

/// How connections are served and stopped.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// Time a client has to send a request's headers (and to finish the [`Acceptor`]'s work).
    pub header_read_timeout: Duration,
    /// Time a client has to send a request's body, counted from its headers.
    pub body_read_timeout: Duration,
    /// Time shutdown waits for connections and `tasks` to finish before dropping them.
    pub shutdown_timeout: Duration,
}

/// Serves `app` on every listener until `shutdown` is cancelled; then stops accepting, lets
/// each connection finish the request it is on, and waits for them and everything else in
/// `tasks` (WebSocket drivers, for instance) for at most `options.shutdown_timeout`. Whatever
/// is left then is dropped: connections are closed and `serve` returns.
pub async fn serve<A: Acceptor, S: HttpService>(
    listeners: Vec<TcpListener>,
    acceptor: A,
    app: S,
    options: ServeOptions,
    tasks: TaskTracker,
    shutdown: CancellationToken,
) {
    // Connections abandoned at the deadline are closed through this token.
    let abandon = CancellationToken::new();
    let mut loops = tokio::task::JoinSet::new();
    for listener in listeners {
        loops.spawn(accept_loop(
            listener,
            Connections {
                acceptor: acceptor.clone(),
                app: app.clone(),
                options,
                tasks: tasks.clone(),
                shutdown: shutdown.clone(),
                abandon: abandon.clone(),
            },
        ));
    }
    // Each loop returns (dropping its listener) once `shutdown` is cancelled.
    while loops.join_next().await.is_some() {}
    tasks.close();
    if tokio::time::timeout(options.shutdown_timeout, tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            shutdown_timeout_seconds = options.shutdown_timeout.as_secs_f64(),
            open = tasks.len(),
            "shutdown deadline passed: dropping the connections still open"
        );
        abandon.cancel();
    }
}

/// What every connection task needs.
struct Connections<A, S> {
    acceptor: A,
    app: S,
    options: ServeOptions,
    tasks: TaskTracker,
    shutdown: CancellationToken,
    abandon: CancellationToken,
}

/// Accepts until shutdown, backing off (never giving up) when accepting fails for lack of
/// resources: once descriptors are freed, the server serves again.
async fn accept_loop<A: Acceptor, S: HttpService>(
    listener: TcpListener,
    connections: Connections<A, S>,
) {
    let mut backoff = MIN_ACCEPT_BACKOFF;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = connections.shutdown.cancelled() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = MIN_ACCEPT_BACKOFF;
                connections
                    .tasks
                    .spawn(serve_connection(stream, peer, connections.share()));
            }
            // The peer gave up before we took it: nothing to do about it.
            Err(err) if is_connection_error(&err) => {}
            Err(err) => {
                tracing::warn!(
                    %err,
                    retry_ms = backoff.as_millis() as u64,
                    "cannot accept connections"
                );
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = connections.shutdown.cancelled() => return,
                }
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
            }
        }
    }
}

impl<A: Acceptor, S: HttpService> Connections<A, S> {
    fn share(&self) -> Connections<A, S> {
        Connections {
            acceptor: self.acceptor.clone(),
            app: self.app.clone(),
            options: self.options,
            tasks: self.tasks.clone(),
            shutdown: self.shutdown.clone(),
            abandon: self.abandon.clone(),
        }
    }
}

/// Errors about one connection that went away before it was accepted.
fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serves one connection: HTTP/1.1 with upgrades (WebSockets), until the client leaves, a
/// timeout drops it, or shutdown ends it.
async fn serve_connection<A: Acceptor, S: HttpService>(
    stream: TcpStream,
    peer: SocketAddr,
    connections: Connections<A, S>,
) {
    let options = connections.options;
    let prepared = tokio::select! {
        prepared = tokio::time::timeout(
            options.header_read_timeout,
            connections.acceptor.accept(stream, peer),
        ) => prepared,
        () = connections.shutdown.cancelled() => return,
    };
    let io = match prepared {
        Ok(Ok(io)) => io,
        Ok(Err(err)) => {
            tracing::debug!(%peer, %err, "connection refused by the acceptor");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "connection dropped: its setup timed out");
            return;
        }
    };
    let body_timeout = options.body_read_timeout;
    let service = TowerToHyperService::new(tower::ServiceExt::map_request(
        connections.app,
        move |request: axum::http::Request<Incoming>| {
            request.map(|body| Body::new(DeadlineBody::new(body, body_timeout)))
        },
    ));
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let finished = tokio::select! {
        finished = connection.as_mut() => finished,
        () = connections.shutdown.cancelled() => {
            // Finish the request in progress (if any), then close.
            connection.as_mut().graceful_shutdown();
            tokio::select! {
                finished = connection.as_mut() => finished,
                () = connections.abandon.cancelled() => return,
            }
        }
    };
    if let Err(err) = finished {
        tracing::debug!(%peer, %err, "connection ended with an error");
    }
}
