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
    /// each once; returns how many took it. A broadcast, a one-group or a one-user send (no
    /// repeats to weed out) hands out frames
    /// while walking the members under the hub's read lock, where copying every handle first
    /// cost two atomic operations per recipient on cache lines nothing else was touching.
    /// Delivering never waits (a full queue is refused at once), so the lock is held briefly.
    pub fn deliver_to(&self, to: &Audience, excluded: &[String], message: &impl Frames) -> usize {
        let wanted =
            |c: &&ConnectionHandle| !excluded.iter().any(|e| **e == **c.id()) && offer(c, message);
        match to {
            Audience::All => self.read().connections.values().filter(wanted).count(),
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
}
