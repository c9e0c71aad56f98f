//! The live trace: connection events, client invocations (with their arguments), REST calls
//! with their status, sends, closes and group membership changes, broadcast to whoever watches
//! (the dashboard) and kept in a bounded backlog per hub, so a page opened later still shows
//! what happened. Emitting never waits: a watcher that falls behind loses the oldest events
//! instead of slowing anyone down, and payloads are cut to a preview when the event is built.

use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast;

/// Events kept for a slow watcher before it starts losing the oldest ones.
pub const TRACE_CAPACITY: usize = 1024;

/// Events kept per hub for viewers who open the dashboard later.
pub const BACKLOG_PER_HUB: usize = 300;

/// Hubs that get a backlog; events of further hubs are only shown live. Bounds the memory an
/// unauthenticated caller could tie up by naming hubs in failing REST calls.
pub const BACKLOG_HUBS: usize = 256;

/// Bytes of a payload kept in an event; the rest is cut (and the preview says so).
pub const PREVIEW_BYTES: usize = 2048;

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
        /// The arguments as JSON, cut to a preview.
        #[serde(skip_serializing_if = "Option::is_none")]
        arguments: Option<Preview>,
    },
    /// A REST call sent a message.
    Sent {
        /// Who it was addressed to, e.g. `group g1`.
        to: String,
        /// The client method invoked.
        target: String,
        /// How many connections accepted it.
        recipients: usize,
        /// The arguments as JSON, cut to a preview.
        #[serde(skip_serializing_if = "Option::is_none")]
        arguments: Option<Preview>,
    },
    /// A connection or user joined or left a group (or every group).
    Membership {
        /// `joined` or `left`.
        change: MembershipChange,
        /// The group; `None` means every group.
        group: Option<String>,
        /// The user, when a user's membership changed.
        user_id: Option<Arc<str>>,
    },
    /// A REST API call and the status it was answered with.
    Rest {
        /// The HTTP method.
        method: String,
        /// The request path (without the query).
        path: String,
        /// The status code answered.
        status: u16,
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

/// Which way a membership changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum MembershipChange {
    /// Added to the group.
    Joined,
    /// Removed from the group.
    Left,
}

/// A payload as JSON text, at most [`PREVIEW_BYTES`] long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Preview {
    /// The JSON text, cut at a character boundary when too long.
    pub text: String,
    /// Whether the text was cut.
    pub truncated: bool,
}

impl Preview {
    /// The JSON of `arguments`, serialized only as far as the preview needs: a megabyte
    /// payload costs the preview's bytes, not a megabyte.
    pub fn of(arguments: &[Value]) -> Self {
        let mut out = Bounded(Vec::with_capacity(128));
        // An error only means the bound was reached.
        let complete = serde_json::to_writer(&mut out, arguments).is_ok();
        let mut bytes = out.0;
        let truncated = !complete || bytes.len() > PREVIEW_BYTES;
        bytes.truncate(PREVIEW_BYTES);
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(err) => {
                let valid = err.utf8_error().valid_up_to();
                let mut bytes = err.into_bytes();
                bytes.truncate(valid);
                String::from_utf8(bytes).unwrap_or_default()
            }
        };
        Preview { text, truncated }
    }
}

/// A writer that refuses to grow past one byte more than a preview.
struct Bounded(Vec<u8>);

impl Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = (PREVIEW_BYTES + 1).saturating_sub(self.0.len());
        if room == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        let n = buf.len().min(room);
        self.0.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
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
    /// Live watchers; the broadcast is skipped while there are none.
    watchers: Arc<AtomicUsize>,
    /// The last [`BACKLOG_PER_HUB`] events of each hub (of at most [`BACKLOG_HUBS`] hubs).
    /// Each hub has its own entry, so hubs do not contend; guards never outlive `emit`.
    backlog: Arc<DashMap<Arc<str>, VecDeque<Arc<TraceEvent>>>>,
}

impl Default for Trace {
    fn default() -> Self {
        Trace {
            sender: broadcast::Sender::new(TRACE_CAPACITY),
            watchers: Arc::default(),
            backlog: Arc::default(),
        }
    }
}

impl Trace {
    /// Records the event `make` builds in its hub's backlog and publishes it to the watchers.
    /// Never waits.
    pub fn emit(&self, make: impl FnOnce() -> TraceEvent) {
        let event = Arc::new(make());
        self.remember(&event);
        if self.watchers.load(Ordering::Relaxed) > 0 {
            // An error only means the last watcher left meanwhile.
            let _ = self.sender.send(event);
        }
    }

    fn remember(&self, event: &Arc<TraceEvent>) {
        if let Some(mut kept) = self.backlog.get_mut(&event.hub) {
            if kept.len() == BACKLOG_PER_HUB {
                kept.pop_front();
            }
            kept.push_back(event.clone());
        } else if self.backlog.len() < BACKLOG_HUBS {
            self.backlog
                .entry(event.hub.clone())
                .or_default()
                .push_back(event.clone());
        }
    }

    /// Starts watching: the backlog of every hub (oldest first), then events emitted from
    /// now on, each once.
    pub fn watch(&self) -> TraceWatcher {
        self.watchers.fetch_add(1, Ordering::Relaxed);
        // Subscribe before copying the backlog so nothing falls between the two; what is in
        // both is skipped when it arrives live.
        let receiver = self.sender.subscribe();
        let mut backlog: Vec<Arc<TraceEvent>> = self
            .backlog
            .iter()
            .flat_map(|kept| kept.value().iter().cloned().collect::<Vec<_>>())
            .collect();
        backlog.sort_by_key(|event| event.at_ms);
        let replayed = backlog
            .iter()
            .map(|event| Arc::as_ptr(event) as usize)
            .collect();
        TraceWatcher {
            receiver,
            watchers: self.watchers.clone(),
            backlog: backlog.into(),
            replayed,
        }
    }
}

/// One watcher of the trace; dropping it stops the events for it.
#[derive(Debug)]
pub struct TraceWatcher {
    receiver: broadcast::Receiver<Arc<TraceEvent>>,
    watchers: Arc<AtomicUsize>,
    /// Backlog events not yet handed out.
    backlog: VecDeque<Arc<TraceEvent>>,
    /// The backlog's events (by address, which the backlog keeps alive), to skip when they
    /// also arrive live; emptied at the first live event that was not replayed.
    replayed: HashSet<usize>,
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
        if let Some(event) = self.backlog.pop_front() {
            return Some(Watched::Event(event));
        }
        loop {
            let event = match self.receiver.recv().await {
                Ok(event) => event,
                Err(broadcast::error::RecvError::Lagged(n)) => return Some(Watched::Dropped(n)),
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            if self.replayed.is_empty() {
                return Some(Watched::Event(event));
            }
            if !self.replayed.contains(&(Arc::as_ptr(&event) as usize)) {
                self.replayed = HashSet::new();
                return Some(Watched::Event(event));
            }
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

    fn event_in(hub: &str, n: usize) -> TraceEvent {
        TraceEvent::now(
            Arc::from(hub),
            None,
            TraceKind::Invocation {
                target: format!("{hub}{n}"),
                arguments: None,
            },
        )
    }

    fn event(n: usize) -> TraceEvent {
        event_in("m", n)
    }

    fn target(watched: Option<Watched>) -> String {
        match watched {
            Some(Watched::Event(event)) => match &event.kind {
                TraceKind::Invocation { target, .. } => target.clone(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn laggards_lose_the_oldest() {
        let trace = Trace::default();
        let mut watcher = trace.watch();
        for n in 0..TRACE_CAPACITY + 3 {
            trace.emit(|| event(n));
        }
        assert!(matches!(watcher.next().await, Some(Watched::Dropped(3))));
        assert_eq!(target(watcher.next().await), "m3");
    }

    #[tokio::test]
    async fn a_new_watcher_gets_each_hubs_backlog_then_live_events_once() {
        let trace = Trace::default();
        for n in 0..BACKLOG_PER_HUB + 2 {
            trace.emit(|| event_in("a", n));
        }
        trace.emit(|| event_in("b", 0));
        let mut watcher = trace.watch();
        // An event emitted after subscribing is in the backlog copy and arrives live: once.
        trace.emit(|| event_in("b", 1));
        let mut seen = Vec::new();
        for _ in 0..BACKLOG_PER_HUB + 1 {
            seen.push(target(watcher.next().await));
        }
        // The oldest first within each hub.
        assert!(seen.iter().position(|t| t == "a2") < seen.iter().position(|t| t == "a3"));
        let mut expected: Vec<String> = (2..BACKLOG_PER_HUB + 2).map(|n| format!("a{n}")).collect();
        expected.extend(["b0".to_owned(), "b1".to_owned()]);
        seen.push(target(watcher.next().await));
        seen.sort();
        expected.sort();
        assert_eq!(seen, expected, "a's two oldest were dropped; b1 came once");
        trace.emit(|| event_in("b", 2));
        assert_eq!(target(watcher.next().await), "b2");
        assert!(watcher.backlog.is_empty() && watcher.replayed.is_empty());
    }

    #[test]
    fn only_a_bounded_number_of_hubs_keep_a_backlog() {
        let trace = Trace::default();
        for n in 0..BACKLOG_HUBS + 10 {
            trace.emit(|| event_in(&format!("h{n}"), 0));
        }
        assert_eq!(trace.backlog.len(), BACKLOG_HUBS);
    }

    #[test]
    fn previews_are_cut_at_a_character_boundary() {
        let small = Preview::of(&[serde_json::json!("hi"), serde_json::json!(1)]);
        assert_eq!(
            small,
            Preview {
                text: r#"["hi",1]"#.into(),
                truncated: false
            }
        );
        let big = Preview::of(&[Value::String("é".repeat(PREVIEW_BYTES))]);
        assert!(big.truncated);
        assert!(big.text.len() <= PREVIEW_BYTES && big.text.starts_with("[\"é"));
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
                arguments: None,
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
