//! The live trace: connection events, client invocations and REST sends/closes, broadcast to
//! whoever watches (the dashboard). Emitting costs one relaxed atomic load while nobody watches;
//! a watcher that falls behind loses the oldest events instead of slowing anyone down.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::broadcast;

/// Events kept for a slow watcher before it starts losing the oldest ones.
pub const TRACE_CAPACITY: usize = 1024;

/// One line of the trace.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceEvent {
    /// Unix time in milliseconds.
    pub at_ms: u64,
    /// The internal hub name.
    pub hub: Arc<str>,
    /// The connection concerned, if one is.
    pub connection_id: Option<Arc<str>>,
    /// What happened.
    #[serde(flatten)]
    pub kind: TraceKind,
}

/// What a trace event reports.
#[derive(Debug, Clone, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum TraceKind {
    /// A client completed its handshake.
    Connected {
        /// Transport name, e.g. `WebSockets`.
        transport: &'static str,
        /// Hub protocol name, e.g. `json`.
        protocol: &'static str,
        /// The user id, if any.
        user_id: Option<Arc<str>>,
    },
    /// A connection ended.
    Disconnected {
        /// Why, in words.
        reason: String,
    },
    /// A client invoked a hub method (sent to the upstream, if any).
    Invocation {
        /// The method name.
        target: String,
    },
    /// A REST call sent a message.
    Sent {
        /// Who it was addressed to, e.g. `group g1`.
        to: String,
        /// The client method invoked.
        target: String,
        /// How many connections accepted it.
        recipients: usize,
    },
    /// An app server (or the Management SDK) connected to the hub over the ServiceProtocol.
    ServerConnected {
        /// The server connection's id (`cid`).
        server_connection: Arc<str>,
        /// The app server's id.
        server_id: Arc<str>,
        /// Default, OnDemand or Weak.
        server_kind: &'static str,
    },
    /// A server connection ended.
    ServerDisconnected {
        /// The server connection's id.
        server_connection: Arc<str>,
        /// Why, in words.
        reason: String,
    },
    /// A ServiceProtocol message an app server sent (pings and relayed client data excluded).
    ServerMessage {
        /// The server connection's id.
        server_connection: Arc<str>,
        /// The message type, e.g. `BroadcastData`.
        message: &'static str,
    },
    /// A REST call closed connections.
    Closed {
        /// Who was closed, e.g. `user u1`.
        to: String,
        /// How many connections were asked to close.
        count: usize,
        /// The reason given, if any.
        reason: Option<String>,
    },
}

impl TraceEvent {
    /// An event happening now.
    pub fn now(hub: Arc<str>, connection_id: Option<Arc<str>>, kind: TraceKind) -> Self {
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        TraceEvent {
            at_ms,
            hub,
            connection_id,
            kind,
        }
    }
}

/// The sending side of the trace, shared by every hub. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Trace {
    sender: broadcast::Sender<Arc<TraceEvent>>,
    /// Live watchers; checked before building an event so an unwatched trace costs nothing.
    watchers: Arc<AtomicUsize>,
}

impl Default for Trace {
    fn default() -> Self {
        Trace {
            sender: broadcast::Sender::new(TRACE_CAPACITY),
            watchers: Arc::default(),
        }
    }
}

impl Trace {
    /// Publishes the event `make` builds, if anyone watches. Never waits.
    pub fn emit(&self, make: impl FnOnce() -> TraceEvent) {
        if self.watchers.load(Ordering::Relaxed) > 0 {
            // An error only means the last watcher left meanwhile.
            let _ = self.sender.send(Arc::new(make()));
        }
    }

    /// Starts watching: events emitted from now on.
    pub fn watch(&self) -> TraceWatcher {
        self.watchers.fetch_add(1, Ordering::Relaxed);
        TraceWatcher {
            receiver: self.sender.subscribe(),
            watchers: self.watchers.clone(),
        }
    }
}

/// One watcher of the trace; dropping it stops the events for it.
#[derive(Debug)]
pub struct TraceWatcher {
    receiver: broadcast::Receiver<Arc<TraceEvent>>,
    watchers: Arc<AtomicUsize>,
}

/// What a watcher gets next.
#[derive(Debug)]
pub enum Watched {
    /// The next event.
    Event(Arc<TraceEvent>),
    /// The watcher fell behind and this many events were dropped for it.
    Dropped(u64),
}

impl TraceWatcher {
    /// The next event, or how many were lost; `None` if the trace is gone.
    pub async fn next(&mut self) -> Option<Watched> {
        match self.receiver.recv().await {
            Ok(event) => Some(Watched::Event(event)),
            Err(broadcast::error::RecvError::Lagged(n)) => Some(Watched::Dropped(n)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

impl Drop for TraceWatcher {
    fn drop(&mut self) {
        self.watchers.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: usize) -> TraceEvent {
        TraceEvent::now(
            Arc::from("hub"),
            None,
            TraceKind::Invocation {
                target: format!("m{n}"),
            },
        )
    }

    #[tokio::test]
    async fn unwatched_events_are_never_built_and_laggards_lose_the_oldest() {
        let trace = Trace::default();
        trace.emit(|| unreachable!("nobody watches"));
        let mut watcher = trace.watch();
        for n in 0..TRACE_CAPACITY + 3 {
            trace.emit(|| event(n));
        }
        assert!(matches!(watcher.next().await, Some(Watched::Dropped(3))));
        let Some(Watched::Event(first)) = watcher.next().await else {
            panic!("an event follows the gap");
        };
        assert!(matches!(&first.kind, TraceKind::Invocation { target } if target == "m3"));
        drop(watcher);
        trace.emit(|| unreachable!("the watcher left"));
    }

    #[test]
    fn events_serialize_flat_with_a_type() {
        let json = serde_json::to_value(TraceEvent {
            at_ms: 1,
            hub: Arc::from("chat"),
            connection_id: Some(Arc::from("c1")),
            kind: TraceKind::Sent {
                to: "user u".into(),
                target: "hello".into(),
                recipients: 2,
            },
        })
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"atMs": 1, "hub": "chat", "connectionId": "c1", "type": "sent",
                "to": "user u", "target": "hello", "recipients": 2})
        );
    }
}
