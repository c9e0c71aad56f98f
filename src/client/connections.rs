//! The client endpoint's connection table, keyed by connection token: what negotiate decided
//! (id, hub, claims, stateful reconnect) and which transport the connection is bound to, so the
//! `/client/` requests of SSE and long polling (several per connection) and WebSocket
//! reconnects find their connection. Entries that never bind a transport are swept.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::BytesMut;
use dashmap::DashMap;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::long_polling::PollQueue;
use super::transport::{Received, TransportKind};
use super::ws_upgrade::Socket;
use crate::auth::Claims;

/// A connection created by negotiate (or by a WebSocket without `id`).
#[derive(Debug)]
pub struct ClientConnection {
    /// The connection token clients put in `id=`.
    pub token: Arc<str>,
    /// The public connection id.
    pub connection_id: Arc<str>,
    /// The internal hub name.
    pub hub: Arc<str>,
    /// The verified claims of the negotiate request.
    pub claims: Claims,
    /// Whether negotiate granted stateful reconnect.
    pub stateful: bool,
    created: Instant,
    binding: Mutex<Binding>,
}

/// Which transport a connection uses, and how requests reach its driver.
#[derive(Debug)]
pub(super) enum Binding {
    /// Negotiated; no transport yet.
    Negotiated {
        /// Bytes POSTed before the transport started (ASP.NET Core accepts them, and some
        /// long-polling clients send their handshake before the first poll); the driver reads
        /// them first.
        early: BytesMut,
    },
    /// A WebSocket driver owns the connection. `reattach` is set while a stateful connection
    /// waits for its client to come back after the socket dropped.
    WebSockets {
        /// Hands a new socket to the waiting driver.
        reattach: Option<mpsc::Sender<Socket>>,
    },
    /// Server-Sent Events; POSTs feed `inbound`.
    ServerSentEvents {
        /// Client bytes from POST requests.
        inbound: mpsc::Sender<Received>,
    },
    /// Long polling; POSTs and DELETE feed `inbound`, GETs drain `polls`.
    LongPolling {
        /// Client bytes from POST requests, and DELETE as `Closed`.
        inbound: mpsc::Sender<Received>,
        /// Output waiting for polls.
        polls: Arc<PollQueue>,
    },
}

impl Binding {
    /// The bound transport, if any.
    pub(super) fn kind(&self) -> Option<TransportKind> {
        match self {
            Binding::Negotiated { .. } => None,
            Binding::WebSockets { .. } => Some(TransportKind::WebSockets),
            Binding::ServerSentEvents { .. } => Some(TransportKind::ServerSentEvents),
            Binding::LongPolling { .. } => Some(TransportKind::LongPolling),
        }
    }
}

impl ClientConnection {
    /// The binding, locked briefly (never across an await).
    pub(super) fn binding(&self) -> MutexGuard<'_, Binding> {
        self.binding.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the token's `asrs.s.htt` claim (a bit mask of allowed transports) allows `kind`.
    pub fn allows(&self, kind: TransportKind) -> bool {
        allowed_transports(&self.claims) & kind.bit() != 0
    }

    /// Binds a transport; returns the bytes POSTed before it, for its driver to read first.
    pub(super) fn bind(&self, binding: Binding) -> BytesMut {
        match std::mem::replace(&mut *self.binding(), binding) {
            Binding::Negotiated { early } => early,
            _ => BytesMut::new(),
        }
    }
}

/// The `asrs.s.htt` mask of the claims; all transports when absent or unreadable.
pub fn allowed_transports(claims: &Claims) -> u64 {
    claims
        .claims
        .iter()
        .find(|(k, _)| k == "asrs.s.htt")
        .and_then(|(_, v)| v.trim().parse::<u64>().ok())
        .unwrap_or(u64::MAX)
}

/// The table of client connections.
#[derive(Debug, Default)]
pub struct ClientConnections {
    by_token: DashMap<Arc<str>, Arc<ClientConnection>>,
}

impl ClientConnections {
    /// Records a new connection under its token and returns it.
    pub fn insert(
        &self,
        token: Arc<str>,
        connection_id: Arc<str>,
        hub: Arc<str>,
        claims: Claims,
        stateful: bool,
    ) -> Arc<ClientConnection> {
        let connection = Arc::new(ClientConnection {
            token: token.clone(),
            connection_id,
            hub,
            claims,
            stateful,
            created: Instant::now(),
            binding: Mutex::new(Binding::Negotiated {
                early: BytesMut::new(),
            }),
        });
        self.by_token.insert(token, connection.clone());
        connection
    }

    /// The connection for a token.
    pub fn get(&self, token: &str) -> Option<Arc<ClientConnection>> {
        self.by_token.get(token).map(|entry| entry.value().clone())
    }

    /// Forgets a connection whose transport ended.
    pub fn remove(&self, token: &str) {
        self.by_token.remove(token);
    }

    /// Forgets connections that waited longer than `timeout` for their first transport, and
    /// returns them.
    pub fn sweep(&self, now: Instant, timeout: Duration) -> Vec<Arc<ClientConnection>> {
        let mut swept = Vec::new();
        self.by_token.retain(|_, connection| {
            let keep = now.duration_since(connection.created) < timeout
                || !matches!(*connection.binding(), Binding::Negotiated { .. });
            if !keep {
                swept.push(connection.clone());
            }
            keep
        });
        swept
    }
}
