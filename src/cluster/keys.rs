//! The names of every Redis key and channel a cluster uses, all under its prefix so that two
//! services sharing one Redis never meet. Hub names are the internal, lowercased ones.
//!
//! Per node `n` (deleted with the node): `{p}:n:{n}:c:{hub}` (hash connection → user),
//! `{p}:n:{n}:u:{hub}:{user}` and `{p}:n:{n}:g:{hub}:{group}` (sets of connection ids) and
//! `{p}:n:{n}:keys` (the set of those key names). Shared: `{p}:nodes` (set of node ids) and
//! `{p}:node:{n}` (the lease, expiring). Channels: `{p}:all`, `{p}:g:{hub}:{group}`,
//! `{p}:u:{hub}:{user}` and `{p}:node:{n}` (point to point).

use crate::hub::Audience;

/// Key and channel names for one prefix.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    prefix: String,
}

impl Keys {
    /// Names under `prefix`.
    pub(super) fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.to_owned(),
        }
    }

    /// The set of every node id that registered.
    pub(super) fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }

    /// A node's lease, which expires unless renewed; also its point-to-point channel.
    pub(super) fn node(&self, node: &str) -> String {
        format!("{}:node:{node}", self.prefix)
    }

    /// The set of the names of every key a node owns.
    pub(super) fn owned(&self, node: &str) -> String {
        format!("{}:n:{node}:keys", self.prefix)
    }

    /// A node's connections of a hub (hash connection id → user id, empty without one).
    pub(super) fn connections(&self, node: &str, hub: &str) -> String {
        format!("{}:n:{node}:c:{hub}", self.prefix)
    }

    /// A node's connections of a user.
    pub(super) fn user(&self, node: &str, hub: &str, user: &str) -> String {
        format!("{}:n:{node}:u:{hub}:{user}", self.prefix)
    }

    /// A node's connections in a group.
    pub(super) fn group(&self, node: &str, hub: &str, group: &str) -> String {
        format!("{}:n:{node}:g:{hub}:{group}", self.prefix)
    }

    /// The channel every node subscribes to.
    pub(super) fn all_channel(&self) -> String {
        format!("{}:all", self.prefix)
    }

    /// The pattern of every group channel.
    pub(super) fn group_channels(&self) -> String {
        format!("{}:g:*", self.prefix)
    }

    /// The pattern of every user channel.
    pub(super) fn user_channels(&self) -> String {
        format!("{}:u:*", self.prefix)
    }

    /// The channel an operation for `to` in `hub` is published on: a single group's or user's
    /// own channel, else the one every node hears. (A connection's operations go to its node's
    /// channel, which the caller finds first.)
    pub(super) fn channel_for(&self, hub: &str, to: &Audience) -> String {
        match to {
            Audience::Groups(groups) if groups.len() == 1 => {
                format!("{}:g:{hub}:{}", self.prefix, groups[0])
            }
            Audience::Users(users) if users.len() == 1 => {
                format!("{}:u:{hub}:{}", self.prefix, users[0])
            }
            _ => self.all_channel(),
        }
    }
}
