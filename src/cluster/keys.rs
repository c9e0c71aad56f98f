//! The names of every Redis key and channel a cluster uses, all under its prefix so that two
//! services sharing one Redis never meet. Hub names are the internal, lowercased ones.
//!
//! Every key and channel of one node carries the node's id as its hash tag (`{n}` below is
//! literally in braces), so on a Redis Cluster they all live in one slot: the node's
//! transactions, scripts and multi-key reads (`SINTER`, `SUNION`) never cross slots, and
//! different nodes' entries spread over the shards.
//!
//! Per node `n` (deleted with the node): `{p}:n:{n}:c:{hub}` (hash connection → user),
//! `{p}:n:{n}:u:{hub}:{user}` and `{p}:n:{n}:g:{hub}:{group}` (sets of connection ids) and
//! `{p}:n:{n}:keys` (the set of those key names), `{p}:n:{n}:s:{hub}` (an app server is here)
//! and `{p}:n:{n}:held` (the names of those and of the node's `{p}:holder:{hub}:{connection}`
//! claims, each in the slot of its connection). Shared: `{p}:nodes` (set of node ids) and
//! `{p}:node:{n}` (the lease, expiring). Channels: `{p}:all`, `{p}:g:{hub}:{group}`,
//! `{p}:u:{hub}:{user}` (single Redis only) and `{p}:node:{n}` (point to point).
//!
//! User-group memberships belong to no node (see `user_groups`): per hub, with the hub's name
//! as hash tag, `{p}:ug:{hub}:users` and `{p}:ug:{hub}:u:{user}`; shared, `{p}:ug:hubs` and
//! `{p}:ug:kept`.

use crate::hub::Audience;

/// Key and channel names for one prefix.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    prefix: String,
    /// Sharded pub/sub (Redis Cluster): there are no pattern subscriptions.
    sharded: bool,
}

impl Keys {
    /// Names under `prefix`; `sharded` for a Redis Cluster.
    pub(super) fn new(prefix: &str, sharded: bool) -> Self {
        Keys {
            prefix: prefix.to_owned(),
            sharded,
        }
    }

    /// The set of every node id that registered.
    pub(super) fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }

    /// A node's lease, which expires unless renewed; also its point-to-point channel.
    pub(super) fn node(&self, node: &str) -> String {
        format!("{}:node:{{{node}}}", self.prefix)
    }

    /// The set of the names of every key a node owns.
    pub(super) fn owned(&self, node: &str) -> String {
        format!("{}:n:{{{node}}}:keys", self.prefix)
    }

    /// A node's connections of a hub (hash connection id → user id, empty without one).
    pub(super) fn connections(&self, node: &str, hub: &str) -> String {
        format!("{}:n:{{{node}}}:c:{hub}", self.prefix)
    }

    /// A node's connections of a user.
    pub(super) fn user(&self, node: &str, hub: &str, user: &str) -> String {
        format!("{}:n:{{{node}}}:u:{hub}:{user}", self.prefix)
    }

    /// A node's connections in a group.
    pub(super) fn group(&self, node: &str, hub: &str, group: &str) -> String {
        format!("{}:n:{{{node}}}:g:{hub}:{group}", self.prefix)
    }

    /// The set of the names of a node's client-connection claims and app-server presence
    /// keys: deleted with the node like its owned keys, but kept when a resync rewrites those.
    pub(super) fn held(&self, node: &str) -> String {
        format!("{}:n:{{{node}}}:held", self.prefix)
    }

    /// Which node holds a client connection (its id), from the connection's first transport
    /// request until it ends; listed in the holder's held keys.
    pub(super) fn holder(&self, hub: &str, connection: &str) -> String {
        format!("{}:holder:{hub}:{connection}", self.prefix)
    }

    /// Present while a node has an app server for a hub (default mode).
    pub(super) fn app_servers(&self, node: &str, hub: &str) -> String {
        format!("{}:n:{{{node}}}:s:{hub}", self.prefix)
    }

    /// A user's memberships in a hub (hash group → expiry), in the hub's slot.
    pub(super) fn user_groups(&self, hub: &str, user: &str) -> String {
        format!("{}:ug:{{{hub}}}:u:{user}", self.prefix)
    }

    /// The users of a hub with memberships, in the hub's slot.
    pub(super) fn user_group_users(&self, hub: &str) -> String {
        format!("{}:ug:{{{hub}}}:users", self.prefix)
    }

    /// The hubs with memberships.
    pub(super) fn user_group_hubs(&self) -> String {
        format!("{}:ug:hubs", self.prefix)
    }

    /// Present while Redis holds the memberships (absent after it restarted empty).
    pub(super) fn user_groups_kept(&self) -> String {
        format!("{}:ug:kept", self.prefix)
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
    /// channel, which the caller finds first.) Sharded pub/sub has no pattern subscriptions,
    /// so there every group and user operation goes on the channel every node hears, which
    /// each node hears once: still exactly once per connection.
    pub(super) fn channel_for(&self, hub: &str, to: &Audience) -> String {
        match to {
            _ if self.sharded => self.all_channel(),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash tag Redis Cluster computes a key's slot from: the text inside the first `{…}`,
    /// when not empty; else the whole key.
    fn hash_tag(key: &str) -> &str {
        key.find('{')
            .and_then(|open| {
                let rest = &key[open + 1..];
                rest.find('}')
                    .filter(|&close| close > 0)
                    .map(|close| &rest[..close])
            })
            .unwrap_or(key)
    }

    #[test]
    fn a_nodes_keys_and_channel_share_one_hash_tag() {
        let keys = Keys::new("svc", true);
        let node = "5f0c";
        let names = [
            keys.node(node),
            keys.owned(node),
            keys.connections(node, "chat"),
            keys.user(node, "chat", "u{x}"),
            keys.group(node, "chat", "{g}"),
            keys.held(node),
            keys.app_servers(node, "chat"),
        ];
        for name in &names {
            assert_eq!(hash_tag(name), node, "{name}");
        }
        assert_ne!(hash_tag(&keys.owned("other")), node);
    }

    #[test]
    fn a_hubs_user_group_keys_share_its_hash_tag() {
        let keys = Keys::new("svc", true);
        assert_eq!(hash_tag(&keys.user_groups("chat", "u{x}")), "chat");
        assert_eq!(hash_tag(&keys.user_group_users("chat")), "chat");
    }

    #[test]
    fn sharded_channels_are_concrete() {
        let group = Audience::Groups(vec!["g".into()]);
        let user = Audience::Users(vec!["u".into()]);
        let single = Keys::new("svc", false);
        assert_eq!(single.channel_for("chat", &group), "svc:g:chat:g");
        assert_eq!(single.channel_for("chat", &user), "svc:u:chat:u");
        let sharded = Keys::new("svc", true);
        assert_eq!(sharded.channel_for("chat", &group), "svc:all");
        assert_eq!(sharded.channel_for("chat", &user), "svc:all");
    }
}
