//! Who a send or close is for within one hub, and the local connections that are: the one
//! place REST operations and messages from other nodes pick their recipients.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::connection::ConnectionHandle;
use super::members::Hub;
use super::{deliver, offer};
use crate::protocol::Frames;

/// The recipients of a send or close, by what the caller named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Audience {
    /// Every connection of the hub.
    All,
    /// The connections in any of these groups (once each).
    Groups(Vec<String>),
    /// The connections of any of these users (once each).
    Users(Vec<String>),
    /// One connection.
    Connection(String),
}

impl Hub {
    /// This node's connections that `to` names, but the excluded ones, each once.
    pub fn audience(&self, to: &Audience, excluded: &[String]) -> Vec<ConnectionHandle> {
        let mut targets: Vec<ConnectionHandle> = match to {
            Audience::All => return self.all_except(excluded),
            Audience::Groups(groups) if groups.len() == 1 => {
                return self.group_connections(&groups[0], excluded);
            }
            Audience::Groups(groups) => groups
                .iter()
                .flat_map(|group| self.group_connections(group, excluded))
                .collect(),
            Audience::Users(users) => users
                .iter()
                .flat_map(|user| self.user_connections(user))
                .collect(),
            Audience::Connection(id) => self.connection(id).into_iter().collect(),
        };
        let mut seen = HashSet::new();
        targets
            .retain(|c| !excluded.iter().any(|e| **e == **c.id()) && seen.insert(c.id().clone()));
        targets
    }

    /// [`Hub::deliver_to`], leaving out the connections of `excluded_users` too (an app server's
    /// group send may name users to skip).
    pub fn deliver_except_users(
        &self,
        to: &Audience,
        excluded: &[String],
        excluded_users: &[String],
        message: &impl Frames,
    ) -> usize {
        if excluded_users.is_empty() {
            return self.deliver_to(to, excluded, message);
        }
        let mut targets = self.audience(to, excluded);
        targets.retain(|c| {
            !c.user_id()
                .is_some_and(|u| excluded_users.iter().any(|e| **e == **u))
        });
        deliver(&targets, message)
    }

    /// Delivers `message` to this node's connections that `to` names, but the excluded ones,
    /// each once; returns how many took it. A broadcast is one append to the hub's log, which
    /// every writer reads (returning the connections it is for). A one-group or a one-user send
    /// (no repeats to weed out) hands out frames while walking the members under the hub's
    /// read lock, where copying every handle first cost two atomic operations per recipient on
    /// cache lines nothing else was touching. Delivering never waits (a full queue is refused
    /// at once), so the lock is held briefly.
    pub fn deliver_to(&self, to: &Audience, excluded: &[String], message: &impl Frames) -> usize {
        let wanted =
            |c: &&ConnectionHandle| !excluded.iter().any(|e| **e == **c.id()) && offer(c, message);
        match to {
            Audience::All => self.broadcast(excluded, message),
            Audience::Groups(groups) if groups.len() == 1 => self
                .read()
                .groups
                .get(&groups[0])
                .map_or(0, |members| members.values().filter(wanted).count()),
            Audience::Users(users) if users.len() == 1 => self
                .read()
                .users
                .get(users[0].as_str())
                .map_or(0, |members| members.values().filter(wanted).count()),
            _ => deliver(&self.audience(to, excluded), message),
        }
    }

    /// Appends a broadcast to the hub's log; every so often also closes the connections that
    /// lost one of its broadcasts (a writer blocked on its socket never finds out itself) and
    /// drops the broadcasts every connection has read.
    fn broadcast(&self, excluded: &[String], message: &impl Frames) -> usize {
        let state = self.read();
        let sweep = self.broadcasts.append(message, excluded);
        let present = excluded
            .iter()
            .enumerate()
            .filter(|(at, id)| {
                !excluded[..*at].contains(id) && state.connections.contains_key(id.as_str())
            })
            .count();
        if sweep {
            let oldest = self.broadcasts.oldest();
            let mut read_by_all = self.broadcasts.head();
            for connection in state.connections.values() {
                let Some(cursor) = connection.log_cursor() else {
                    continue;
                };
                if cursor < oldest {
                    connection.close_as_slow();
                }
                read_by_all = read_by_all.min(cursor);
            }
            self.broadcasts.forget_before(read_by_all);
        }
        state.connections.len() - present
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::hub::{Connection, Outbox};
    use crate::protocol::{Encoded, HubMessage, Invocation, Protocol};

    fn join(hub: &Hub, id: &str, capacity: usize) -> (ConnectionHandle, Outbox) {
        let (connection, outbox) = Connection::new(
            Arc::from(id),
            hub.name().clone(),
            None,
            Protocol::Json,
            "WebSockets",
            capacity,
            &CancellationToken::new(),
        );
        hub.add_connection(connection.clone());
        (connection, outbox)
    }

    fn message(n: usize) -> Encoded {
        Encoded::new(HubMessage::Invocation(Invocation::send(
            "n",
            vec![serde_json::json!(n)],
        )))
    }

    fn received(outbox: &mut Outbox) -> usize {
        std::iter::from_fn(|| outbox.frames.try_recv().ok()).count()
    }

    #[test]
    fn a_broadcast_reaches_every_member_but_the_excluded_and_counts_them_once() {
        let hub = Hub::new(Arc::from("hub"));
        let (_a, mut a) = join(&hub, "a", 8);
        let (_b, mut b) = join(&hub, "b", 8);
        let excluded = ["b".to_string(), "b".to_string(), "gone".to_string()];
        assert_eq!(hub.deliver_to(&Audience::All, &excluded, &message(1)), 1);
        assert_eq!(hub.deliver_to(&Audience::All, &[], &message(2)), 2);
        let (_late, mut late) = join(&hub, "late", 8);
        assert_eq!(
            (received(&mut a), received(&mut b), received(&mut late)),
            (2, 1, 0)
        );
    }

    #[test]
    fn a_member_that_falls_a_log_behind_is_closed_as_slow_at_the_next_sweep() {
        let hub = Hub::new(Arc::from("hub"));
        let (slow, _unread) = join(&hub, "slow", 4);
        let (keeping_up, mut reading) = join(&hub, "reading", 4);
        for n in 0..32 {
            hub.deliver_to(&Audience::All, &[], &message(n));
            assert_eq!(received(&mut reading), 1);
        }
        assert!(slow.was_slow());
        assert!(slow.close_reason().is_some_and(|close| {
            close
                .error
                .as_deref()
                .is_some_and(|e| e.contains("did not read its messages fast enough"))
        }));
        assert!(!keeping_up.was_slow());
    }
}
