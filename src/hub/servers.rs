//! App-server connections as the registry sees them: the ServiceProtocol peers of the
//! `/server` endpoint (ASP.NET Core app servers and the Management SDK), each with its kind,
//! the clients bound to it and the bounded queue of framed ServiceProtocol messages its writer
//! drains. A hub keeps its server connections here and picks one for every new client.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};

use bytes::Bytes;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::connection::ConnectionHandle;
use super::members::Hub;
use super::queue::{FrameReceiver, FrameSender, PushError, frame_queue};
use super::service_metrics::ServiceMessageMetrics;
use crate::protocol::service::{ServerConnectionType, ServiceMessage, encode_frame};

/// A shared handle to a server connection.
pub type ServerHandle = Arc<ServerConnection>;

/// The handshake's connection type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ServerKind {
    /// A fixed connection that carries clients.
    Default,
    /// An extra connection opened on a rebalance request; carries clients.
    OnDemand,
    /// Sends only (the Management SDK); never carries clients.
    Weak,
}

impl ServerKind {
    /// The kind of a handshake's connection type; `None` for a type this service does not know.
    pub fn from_type(connection_type: ServerConnectionType) -> Option<Self> {
        match connection_type {
            ServerConnectionType::Default => Some(ServerKind::Default),
            ServerConnectionType::OnDemand => Some(ServerKind::OnDemand),
            ServerConnectionType::Weak => Some(ServerKind::Weak),
            ServerConnectionType::Unrecognized(_) => None,
        }
    }

    /// Whether clients may be routed to connections of this kind.
    pub fn carries_clients(self) -> bool {
        self != ServerKind::Weak
    }

    /// The name the dashboard and logs use.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Default => "Default",
            ServerKind::OnDemand => "OnDemand",
            ServerKind::Weak => "Weak",
        }
    }
}

/// How a client's token asks to be routed (`asrs.s.ssticky` with `asrs.s.sn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stickiness<'a> {
    /// Any server connection.
    None,
    /// A connection of this server id if there is one, else any.
    Preferred(&'a str),
    /// Only a connection of this server id.
    Required(&'a str),
}

/// A server connection registered in its hub.
#[derive(Debug)]
pub struct ServerConnection {
    id: Arc<str>,
    server_id: Arc<str>,
    hub: Arc<str>,
    kind: ServerKind,
    stateful_reconnects: bool,
    outbox: FrameSender,
    closing: CancellationToken,
    close_reason: OnceLock<String>,
    /// Clients currently bound to this connection, for balancing and the dashboard.
    clients: AtomicUsize,
    /// Cleared when the app server announced its shutdown: no new clients go there.
    accepting: AtomicBool,
    received: AtomicU64,
    sent: AtomicU64,
    metrics: Arc<ServiceMessageMetrics>,
    /// Clients whose OpenConnection went out and whose handshake the app server has not
    /// answered yet. They join the hub with that answer, so nothing reaches them before it.
    opening: Mutex<HashMap<Arc<str>, ConnectionHandle>>,
}

/// The writer's end of a server connection's queue.
#[derive(Debug)]
pub struct ServerOutbox {
    /// Framed ServiceProtocol messages in send order.
    pub frames: FrameReceiver,
    /// Cancelled when the connection must close.
    pub closing: CancellationToken,
}

/// What a server connection is, as given by its URL, headers and handshake.
#[derive(Debug, Clone)]
pub struct ServerIdentity {
    /// The connection id (`cid=`).
    pub id: Arc<str>,
    /// The app server's id (`X-ASRS-Server-Id`, else the token's `nameid`).
    pub server_id: Arc<str>,
    /// The internal hub name.
    pub hub: Arc<str>,
    /// The handshake's connection type.
    pub kind: ServerKind,
    /// Whether the app server allows stateful reconnects of its clients.
    pub stateful_reconnects: bool,
}

impl ServerConnection {
    /// A connection whose queue holds at most `queue_capacity` frames; cancelling `shutdown`
    /// closes it too. Its messages are counted by type in `metrics`.
    pub fn new(
        identity: ServerIdentity,
        queue_capacity: usize,
        shutdown: &CancellationToken,
        metrics: Arc<ServiceMessageMetrics>,
    ) -> (ServerHandle, ServerOutbox) {
        let (tx, rx) = frame_queue(queue_capacity);
        let closing = shutdown.child_token();
        let connection = Arc::new(ServerConnection {
            id: identity.id,
            server_id: identity.server_id,
            hub: identity.hub,
            kind: identity.kind,
            stateful_reconnects: identity.stateful_reconnects,
            outbox: tx,
            closing: closing.clone(),
            close_reason: OnceLock::new(),
            clients: AtomicUsize::new(0),
            accepting: AtomicBool::new(true),
            received: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            metrics,
            opening: Mutex::default(),
        });
        let outbox = ServerOutbox {
            frames: rx,
            closing,
        };
        (connection, outbox)
    }

    /// The connection id (`cid`).
    pub fn id(&self) -> &Arc<str> {
        &self.id
    }

    /// The app server's id; every connection of one app-server process shares it.
    pub fn server_id(&self) -> &Arc<str> {
        &self.server_id
    }

    /// The internal hub name.
    pub fn hub(&self) -> &Arc<str> {
        &self.hub
    }

    /// The connection type.
    pub fn kind(&self) -> ServerKind {
        self.kind
    }

    /// Whether the app server allows stateful reconnects of its clients.
    pub fn allows_stateful_reconnects(&self) -> bool {
        self.stateful_reconnects
    }

    /// Whether new clients may be routed here.
    pub fn takes_clients(&self) -> bool {
        self.kind.carries_clients()
            && self.accepting.load(Ordering::Relaxed)
            && !self.closing.is_cancelled()
    }

    /// Stops routing new clients here (the app server is shutting down).
    pub fn stop_accepting(&self) {
        self.accepting.store(false, Ordering::Relaxed);
    }

    /// How many clients are bound to this connection.
    pub fn clients(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    /// Counts a client bound to this connection.
    pub fn bind_client(&self) {
        self.clients.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a bound client that went away.
    pub fn unbind_client(&self) {
        self.clients.fetch_sub(1, Ordering::Relaxed);
    }

    fn opening(&self) -> MutexGuard<'_, HashMap<Arc<str>, ConnectionHandle>> {
        self.opening.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a client whose handshake was sent to the app server.
    pub fn open_client(&self, connection: ConnectionHandle) {
        self.opening().insert(connection.id().clone(), connection);
    }

    /// The client of this id, if it was still waiting for its handshake answer: it joins `hub`
    /// now, under the same lock its driver's [`Self::forget_opening`] takes, so
    /// a client that left meanwhile never ends up registered.
    pub fn opening_client(&self, connection_id: &str, hub: &Hub) -> Option<ConnectionHandle> {
        let mut opening = self.opening();
        let connection = opening.remove(connection_id)?;
        hub.add_connection(connection.clone());
        Some(connection)
    }

    /// Forgets a client that left before the app server answered its handshake. Its driver
    /// calls this before it removes the client from the hub.
    pub fn forget_opening(&self, connection_id: &str) {
        self.opening().remove(connection_id);
    }

    /// Takes every client still waiting for its handshake answer (the connection is ending).
    pub fn abandon_opening(&self) -> Vec<ConnectionHandle> {
        self.opening().drain().map(|(_, c)| c).collect()
    }

    /// Counts a message of type `type_id` read from the app server. Only the connection's
    /// reader calls it.
    pub fn count_received(&self, type_id: i64) {
        self.received.fetch_add(1, Ordering::Relaxed);
        self.metrics.count_received(type_id);
    }

    /// Counts `n` messages written to the app server. Only the connection's writer calls it.
    pub fn count_sent(&self, n: u64) {
        self.sent.fetch_add(n, Ordering::Relaxed);
    }

    /// Messages read from the app server so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Messages written to the app server so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Encodes and queues one message without waiting, counting it by type. A full queue
    /// closes the connection (see `send`).
    pub fn send_message(&self, message: &ServiceMessage) -> bool {
        let queued = self.send(encode_frame(message));
        if queued {
            self.metrics.count_sent(message.type_id());
        }
        queued
    }

    /// Queues one framed ServiceProtocol message without waiting. A full queue means the app
    /// server does not read fast enough: the connection is closed (its clients with it) rather
    /// than letting it hold up the clients and app servers that feed it.
    fn send(&self, frame: Bytes) -> bool {
        match self.outbox.try_send(frame) {
            Ok(()) => true,
            Err(PushError::Full) if !self.closing.is_cancelled() => {
                tracing::warn!(
                    hub = %self.hub,
                    server_connection = %self.id,
                    capacity = self.outbox.capacity(),
                    "app server too slow: send queue full, closing its connection"
                );
                self.close(format!(
                    "The app server did not read its messages fast enough (send queue of {} messages full).",
                    self.outbox.capacity()
                ));
                false
            }
            Err(_) => false,
        }
    }

    /// Asks the connection's task to end it; the first reason wins.
    pub fn close(&self, reason: String) {
        let _ = self.close_reason.set(reason);
        self.closing.cancel();
    }

    /// Why the connection was asked to close; `None` means a server shutdown.
    pub fn close_reason(&self) -> Option<&str> {
        self.close_reason.get().map(String::as_str)
    }

    /// Whether the connection is closing.
    pub fn is_closing(&self) -> bool {
        self.closing.is_cancelled()
    }
}

/// One server connection as the dashboard shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerSnapshot {
    /// The connection id.
    pub id: Arc<str>,
    /// The app server's id.
    pub server_id: Arc<str>,
    /// Default, OnDemand or Weak.
    pub kind: &'static str,
    /// Clients bound to it.
    pub clients: usize,
    /// ServiceProtocol messages received from it.
    pub received: u64,
    /// ServiceProtocol messages sent to it.
    pub sent: u64,
}

/// A hub's server connections, under their own lock so that routing a new client never
/// contends with group and user changes.
#[derive(Debug, Default)]
pub(super) struct ServerSet {
    connections: RwLock<Vec<ServerHandle>>,
}

/// No server connection can take a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoServer {
    /// The hub has no connection that carries clients.
    NoneConnected,
    /// The token requires a server id none of the connections has.
    RequiredServerMissing,
}

impl ServerSet {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<ServerHandle>> {
        self.connections.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<ServerHandle>> {
        self.connections.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn add(&self, connection: ServerHandle) {
        self.write().push(connection);
    }

    pub(super) fn remove(&self, id: &str) -> Option<ServerHandle> {
        let mut connections = self.write();
        let index = connections.iter().position(|c| &**c.id() == id)?;
        Some(connections.swap_remove(index))
    }

    pub(super) fn all(&self) -> Vec<ServerHandle> {
        self.read().clone()
    }

    pub(super) fn has_client_carrier(&self) -> bool {
        self.read().iter().any(|c| c.kind().carries_clients())
    }

    /// The connection with the fewest bound clients among those that take clients and match
    /// the stickiness.
    pub(super) fn pick(&self, stickiness: Stickiness<'_>) -> Result<ServerHandle, NoServer> {
        let connections = self.read();
        let open = || connections.iter().filter(|c| c.takes_clients());
        let least = |candidates: &mut dyn Iterator<Item = &ServerHandle>| {
            candidates.min_by_key(|c| c.clients()).cloned()
        };
        match stickiness {
            Stickiness::None => least(&mut open()).ok_or(NoServer::NoneConnected),
            Stickiness::Preferred(server) => {
                least(&mut open().filter(|c| &**c.server_id() == server))
                    .or_else(|| least(&mut open()))
                    .ok_or(NoServer::NoneConnected)
            }
            Stickiness::Required(server) => least(
                &mut open().filter(|c| &**c.server_id() == server),
            )
            .ok_or(if open().next().is_some() {
                NoServer::RequiredServerMissing
            } else {
                NoServer::NoneConnected
            }),
        }
    }

    /// A connection of app server `server_id`, preferring `preferred` when it is one of them.
    pub(super) fn of_server(
        &self,
        server_id: &str,
        preferred: Option<&ServerHandle>,
    ) -> Option<ServerHandle> {
        if let Some(preferred) = preferred
            && &**preferred.server_id() == server_id
            && !preferred.is_closing()
        {
            return Some(preferred.clone());
        }
        self.read()
            .iter()
            .find(|c| &**c.server_id() == server_id && !c.is_closing())
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(set: &ServerSet, id: &str, server_id: &str, kind: ServerKind) -> ServerHandle {
        let identity = ServerIdentity {
            id: Arc::from(id),
            server_id: Arc::from(server_id),
            hub: Arc::from("hub"),
            kind,
            stateful_reconnects: false,
        };
        let (connection, outbox) =
            ServerConnection::new(identity, 4, &CancellationToken::new(), Arc::default());
        drop(outbox);
        set.add(connection.clone());
        connection
    }

    #[test]
    fn picks_the_least_loaded_connection_that_takes_clients() {
        let set = ServerSet::default();
        assert_eq!(
            set.pick(Stickiness::None).unwrap_err(),
            NoServer::NoneConnected
        );
        server(&set, "weak", "s", ServerKind::Weak);
        assert!(!set.has_client_carrier());
        assert!(set.pick(Stickiness::None).is_err());
        let a = server(&set, "a", "s1", ServerKind::Default);
        let b = server(&set, "b", "s2", ServerKind::OnDemand);
        for _ in 0..4 {
            set.pick(Stickiness::None).unwrap().bind_client();
        }
        assert_eq!((a.clients(), b.clients()), (2, 2));
        b.stop_accepting();
        assert_eq!(&**set.pick(Stickiness::None).unwrap().id(), "a");
    }

    #[test]
    fn stickiness_prefers_or_requires_the_server_id() {
        let set = ServerSet::default();
        server(&set, "a", "s1", ServerKind::Default);
        let b = server(&set, "b", "s2", ServerKind::Default);
        b.bind_client();
        assert_eq!(&**set.pick(Stickiness::Preferred("s2")).unwrap().id(), "b");
        assert_eq!(&**set.pick(Stickiness::Preferred("s9")).unwrap().id(), "a");
        assert_eq!(&**set.pick(Stickiness::Required("s2")).unwrap().id(), "b");
        assert_eq!(
            set.pick(Stickiness::Required("s9")).unwrap_err(),
            NoServer::RequiredServerMissing
        );
        assert!(set.remove("b").is_some());
        assert!(set.of_server("s2", None).is_none());
        assert_eq!(&**set.of_server("s1", None).unwrap().id(), "a");
    }

    #[test]
    fn a_full_queue_closes_the_server_connection() {
        let identity = ServerIdentity {
            id: Arc::from("c"),
            server_id: Arc::from("s"),
            hub: Arc::from("hub"),
            kind: ServerKind::Default,
            stateful_reconnects: false,
        };
        let (connection, _outbox) =
            ServerConnection::new(identity, 1, &CancellationToken::new(), Arc::default());
        assert!(connection.send(Bytes::from_static(b"a")));
        assert!(!connection.send(Bytes::from_static(b"b")));
        assert!(connection.is_closing());
        assert!(
            connection
                .close_reason()
                .unwrap()
                .contains("send queue of 1")
        );
    }
}
