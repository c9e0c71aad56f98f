//! Reports of how this node's connections enter and leave hubs, users and groups, so that a
//! cluster can mirror them where other nodes see them. A hub without an observer reports
//! nothing and pays nothing.

use std::fmt::Debug;
use std::sync::Arc;

/// One change to a hub's local membership, reported under the hub's lock so that reports of
/// one hub arrive in the order the changes happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Membership {
    /// A connection (of `user`, when it has one) joined the hub.
    Connected {
        /// The internal hub name.
        hub: Arc<str>,
        /// The connection id.
        connection: Arc<str>,
        /// The connection's user.
        user: Option<Arc<str>>,
    },
    /// A connection left the hub; its groups were reported as left before.
    Disconnected {
        /// The internal hub name.
        hub: Arc<str>,
        /// The connection id.
        connection: Arc<str>,
        /// The connection's user.
        user: Option<Arc<str>>,
    },
    /// A connection joined a group.
    Joined {
        /// The internal hub name.
        hub: Arc<str>,
        /// The connection id.
        connection: Arc<str>,
        /// The group.
        group: String,
    },
    /// A connection left a group.
    Left {
        /// The internal hub name.
        hub: Arc<str>,
        /// The connection id.
        connection: Arc<str>,
        /// The group.
        group: String,
    },
}

/// Receives every [`Membership`] change of every hub. Called with a hub's lock held: it must
/// not block or call back into the hub.
pub trait MembershipObserver: Send + Sync + Debug {
    /// Takes note of one change.
    fn observe(&self, change: Membership);
}
