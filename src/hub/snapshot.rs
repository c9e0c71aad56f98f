//! Introspection of the registry for the dashboard and `/metrics`: copies of a hub's state and
//! totals taken under its read lock (never across an await), with per-connection counters
//! summed at that moment plus what connections that already left counted.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use super::connection::Connection;
use super::members::Hub;

/// Counts of connections that have left a hub.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Retired {
    received: u64,
    sent: u64,
    slow_consumers: u64,
}

impl Retired {
    /// Adds the counts of a connection that is leaving.
    pub(super) fn add(&mut self, connection: &Connection) {
        self.received += connection.received();
        self.sent += connection.sent();
        self.slow_consumers += u64::from(connection.was_slow());
    }
}

/// A hub's totals for metrics.
#[derive(Debug, Clone)]
pub struct HubStats {
    /// The internal hub name.
    pub name: Arc<str>,
    /// Live connections by (transport, protocol).
    pub connections: BTreeMap<(&'static str, &'static str), u64>,
    /// Stateful connections whose transport is gone, waiting for their client to reconnect.
    pub awaiting_reconnect: u64,
    /// Hub messages clients sent, ever.
    pub received: u64,
    /// Messages written to clients, ever.
    pub sent: u64,
    /// Connections closed because they did not read fast enough, once they were gone.
    pub slow_consumer_disconnects: u64,
}

/// A copy of one hub's membership for the dashboard.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HubSnapshot {
    /// The internal hub name.
    pub name: Arc<str>,
    /// Its connections, by id.
    pub connections: Vec<ConnectionSnapshot>,
    /// Users with at least one connection, by name.
    pub users: Vec<NameCount>,
    /// Groups with at least one connection, by name.
    pub groups: Vec<NameCount>,
    /// App-server connections (default mode), by id.
    pub servers: Vec<super::ServerSnapshot>,
}

/// One connection as the dashboard shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionSnapshot {
    /// The connection id.
    pub id: Arc<str>,
    /// The user id, if any.
    pub user_id: Option<Arc<str>>,
    /// Transport name.
    pub transport: &'static str,
    /// Hub protocol name.
    pub protocol: &'static str,
    /// Its groups, sorted.
    pub groups: Vec<String>,
    /// Hub messages the client sent.
    pub received: u64,
    /// Messages written to the client.
    pub sent: u64,
}

/// A user or group and how many connections it has.
#[derive(Debug, Clone, Serialize)]
pub struct NameCount {
    /// The user id or group name.
    pub name: String,
    /// Its connections.
    pub connections: usize,
}

impl Hub {
    /// The hub's totals right now.
    pub fn stats(&self) -> HubStats {
        let state = self.read();
        let mut stats = HubStats {
            name: self.name().clone(),
            connections: BTreeMap::new(),
            awaiting_reconnect: 0,
            received: state.retired.received,
            sent: state.retired.sent,
            slow_consumer_disconnects: state.retired.slow_consumers,
        };
        for connection in state.connections.values() {
            *stats
                .connections
                .entry((connection.transport(), connection.protocol().name()))
                .or_default() += 1;
            stats.awaiting_reconnect += u64::from(connection.is_awaiting_reconnect());
            stats.received += connection.received();
            stats.sent += connection.sent();
        }
        stats
    }

    /// A copy of the hub's connections, users and groups, each sorted by name.
    pub fn snapshot(&self) -> HubSnapshot {
        let state = self.read();
        let mut connections: Vec<ConnectionSnapshot> = state
            .connections
            .values()
            .map(|c| {
                let mut groups: Vec<String> = state
                    .connection_groups
                    .get(c.id())
                    .map(|groups| groups.iter().cloned().collect())
                    .unwrap_or_default();
                groups.sort();
                ConnectionSnapshot {
                    id: c.id().clone(),
                    user_id: c.user_id().cloned(),
                    transport: c.transport(),
                    protocol: c.protocol().name(),
                    groups,
                    received: c.received(),
                    sent: c.sent(),
                }
            })
            .collect();
        connections.sort_by(|a, b| a.id.cmp(&b.id));
        let mut users: Vec<NameCount> = state
            .users
            .iter()
            .map(|(name, members)| NameCount {
                name: name.to_string(),
                connections: members.len(),
            })
            .collect();
        users.sort_by(|a, b| a.name.cmp(&b.name));
        // `groups` is keyed by name already; only ordering is missing.
        let mut groups: Vec<NameCount> = state
            .groups
            .iter()
            .map(|(name, members)| NameCount {
                name: name.clone(),
                connections: members.len(),
            })
            .collect();
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        HubSnapshot {
            name: self.name().clone(),
            connections,
            users,
            groups,
            servers: self.server_snapshots(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::Connection;
    use crate::protocol::Protocol;
    use tokio_util::sync::CancellationToken;

    #[test]
    fn totals_survive_connections_leaving() {
        let hub = Hub::new(Arc::from("hub"));
        let shutdown = CancellationToken::new();
        let mut outboxes = Vec::new();
        for (id, transport, protocol) in [
            ("a", "WebSockets", Protocol::Json),
            ("b", "WebSockets", Protocol::Json),
            ("c", "LongPolling", Protocol::MessagePack),
        ] {
            let (connection, outbox) = Connection::new(
                Arc::from(id),
                hub.name().clone(),
                Some(Arc::from("u")),
                protocol,
                transport,
                1,
                &shutdown,
            );
            outboxes.push(outbox);
            connection.count_received(2);
            connection.count_sent(3);
            hub.add_connection(connection);
        }
        assert!(hub.add_to_group("a", "g"));
        let stats = hub.stats();
        assert_eq!(stats.connections[&("WebSockets", "json")], 2);
        assert_eq!(stats.connections[&("LongPolling", "messagepack")], 1);
        assert_eq!((stats.received, stats.sent), (6, 9));

        hub.remove_connection("a");
        let stats = hub.stats();
        assert_eq!(stats.connections[&("WebSockets", "json")], 1);
        assert_eq!((stats.received, stats.sent), (6, 9));

        let snapshot = hub.snapshot();
        let ids: Vec<&str> = snapshot.connections.iter().map(|c| &*c.id).collect();
        assert_eq!(ids, ["b", "c"]);
        assert_eq!(snapshot.users[0].connections, 2);
        assert!(snapshot.groups.is_empty());
    }
}
