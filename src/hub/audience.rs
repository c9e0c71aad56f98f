//! Who a send or close is for within one hub, and the local connections that are: the one
//! place REST operations and messages from other nodes pick their recipients.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::connection::ConnectionHandle;
use super::members::Hub;

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
}
