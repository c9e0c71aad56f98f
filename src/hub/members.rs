//! One hub's membership state: its connections, users, groups and user-group memberships, kept
//! consistent under one lock. Every method takes the lock briefly, never across an `.await`, and
//! fan-out copies the recipients' handles out before anything is sent.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::app_servers::ClientInvocations;
use super::broadcast_log::BroadcastLog;
use super::connection::ConnectionHandle;
use super::expiries::Expiries;
use super::observer::{Membership, MembershipObserver};
use super::servers::ServerSet;
use super::snapshot::Retired;
use super::trace::{MembershipChange, Trace, TraceEvent, TraceKind};
use super::user_groups::{UserGroupEntry, UserGroups};

type Members = HashMap<Arc<str>, ConnectionHandle>;
/// A group's connections ordered by id, so listing a group can page with a stable cursor.
type GroupMembers = BTreeMap<Arc<str>, ConnectionHandle>;

/// A connection with the groups it was in when the snapshot was taken.
#[derive(Debug, Clone)]
pub struct ConnectionGroups {
    /// The connection.
    pub connection: ConnectionHandle,
    /// Its groups.
    pub groups: Vec<String>,
}

#[derive(Debug)]
pub(super) struct State {
    pub(super) connections: Members,
    pub(super) groups: HashMap<String, GroupMembers>,
    pub(super) users: HashMap<Arc<str>, Members>,
    /// Each connection's groups, so removing a connection costs O(its groups).
    pub(super) connection_groups: HashMap<Arc<str>, HashSet<String>>,
    user_groups: UserGroups,
    /// What connections that already left counted, so totals never go back.
    pub(super) retired: Retired,
    /// The hub's name, for the observer's reports.
    hub: Arc<str>,
    /// Told of every membership change (a cluster mirroring this node's state).
    observer: Option<Arc<dyn MembershipObserver>>,
}

impl State {
    fn new(
        hub: Arc<str>,
        expiries: Arc<Expiries>,
        observer: Option<Arc<dyn MembershipObserver>>,
    ) -> Self {
        State {
            connections: Members::default(),
            groups: HashMap::new(),
            users: HashMap::new(),
            connection_groups: HashMap::new(),
            user_groups: UserGroups::new(hub.clone(), expiries),
            retired: Retired::default(),
            hub,
            observer,
        }
    }

    fn report(&self, change: impl FnOnce(Arc<str>) -> Membership) {
        if let Some(observer) = &self.observer {
            observer.observe(change(self.hub.clone()));
        }
    }

    fn join(&mut self, connection: &ConnectionHandle, group: &str) {
        let added = self
            .groups
            .entry(group.to_owned())
            .or_default()
            .insert(connection.id().clone(), connection.clone())
            .is_none();
        if added {
            self.report(|hub| Membership::Joined {
                hub,
                connection: connection.id().clone(),
                group: group.to_owned(),
            });
        }
        self.connection_groups
            .entry(connection.id().clone())
            .or_default()
            .insert(group.to_owned());
    }

    fn leave(&mut self, connection_id: &str, group: &str) -> bool {
        let removed = match self.groups.get_mut(group) {
            Some(members) => {
                let removed = members.remove(connection_id).is_some();
                if members.is_empty() {
                    self.groups.remove(group);
                }
                removed
            }
            None => false,
        };
        if let Some(groups) = self.connection_groups.get_mut(connection_id) {
            groups.remove(group);
        }
        if removed {
            self.report(|hub| Membership::Left {
                hub,
                connection: Arc::from(connection_id),
                group: group.to_owned(),
            });
        }
        removed
    }

    /// Takes a connection out of every group it is in.
    fn leave_all(&mut self, connection_id: &str) {
        for group in self
            .connection_groups
            .remove(connection_id)
            .unwrap_or_default()
        {
            self.leave(connection_id, &group);
        }
    }

    fn user_connection_ids(&self, user: &str) -> Vec<Arc<str>> {
        self.users
            .get(user)
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Joins the user's current connections to `group`, after the cap `dropped` groups.
    fn join_user(&mut self, user: &str, group: &str, dropped: &[String]) {
        for dropped in dropped {
            self.remove_user_from_group(user, dropped);
        }
        let connections: Vec<ConnectionHandle> = self
            .users
            .get(user)
            .map(|c| c.values().cloned().collect())
            .unwrap_or_default();
        for connection in &connections {
            self.join(connection, group);
        }
    }

    fn remove_user_from_group(&mut self, user: &str, group: &str) {
        self.user_groups.remove(user, group);
        for id in self.user_connection_ids(user) {
            self.leave(&id, group);
        }
    }
}

/// A hub: the unit every send, group and user operation is scoped to.
#[derive(Debug)]
pub struct Hub {
    name: Arc<str>,
    state: RwLock<State>,
    trace: Trace,
    /// App-server connections (default mode).
    pub(super) servers: ServerSet,
    /// Client invocations in flight between app servers and clients.
    pub(super) invocations: ClientInvocations,
    /// Broadcasts to every connection, which their writers read (see [`BroadcastLog`]).
    pub(super) broadcasts: Arc<BroadcastLog>,
}

impl Hub {
    /// An empty hub with its internal (lowercased, prefixed) name, and a trace and membership
    /// deadlines of its own.
    pub fn new(name: Arc<str>) -> Self {
        Self::registered(name, Trace::default(), Arc::default(), None)
    }

    /// An empty hub of a registry: it reports to `trace`, keeps its memberships' deadlines in
    /// `expiries` and tells `observer` (a cluster mirroring this node) of every membership change.
    pub(super) fn registered(
        name: Arc<str>,
        trace: Trace,
        expiries: Arc<Expiries>,
        observer: Option<Arc<dyn MembershipObserver>>,
    ) -> Self {
        Hub {
            state: RwLock::new(State::new(name.clone(), expiries, observer)),
            name,
            trace,
            servers: ServerSet::default(),
            invocations: ClientInvocations::default(),
            broadcasts: Arc::default(),
        }
    }

    /// The internal hub name.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// The trace this hub's events go to.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    // A panic while holding the lock cannot leave the maps half-updated in a way that matters
    // more than stopping the server would, so a poisoned lock is simply taken over.
    pub(super) fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a connection and joins it to its user's unexpired groups.
    pub fn add_connection(&self, connection: ConnectionHandle) {
        let now = Instant::now();
        let mut state = self.write();
        // Under the write lock: broadcasts go into the log under the read lock, so the
        // connection reads exactly those sent once it is in the hub.
        connection.tap(self.broadcasts.clone());
        state.report(|hub| Membership::Connected {
            hub,
            connection: connection.id().clone(),
            user: connection.user_id().cloned(),
        });
        if let Some(user) = connection.user_id() {
            state
                .users
                .entry(user.clone())
                .or_default()
                .insert(connection.id().clone(), connection.clone());
            for group in state.user_groups.groups_of(user, now) {
                state.join(&connection, &group);
            }
        }
        state
            .connections
            .insert(connection.id().clone(), connection);
    }

    /// Removes a connection from the hub, its user and all its groups; its counts move to the
    /// hub's totals under the same lock, so a scrape never sees them twice or not at all.
    pub fn remove_connection(&self, connection_id: &str) {
        let mut state = self.write();
        let Some(connection) = state.connections.remove(connection_id) else {
            return;
        };
        state.retired.add(&connection);
        self.broadcasts.leave(connection.protocol());
        if let Some(user) = connection.user_id()
            && let Some(conns) = state.users.get_mut(user)
        {
            conns.remove(connection_id);
            if conns.is_empty() {
                state.users.remove(user);
            }
        }
        state.leave_all(connection_id);
        state.report(|hub| Membership::Disconnected {
            hub,
            connection: connection.id().clone(),
            user: connection.user_id().cloned(),
        });
    }

    /// Every connection except the excluded ones.
    pub fn all_except(&self, excluded: &[String]) -> Vec<ConnectionHandle> {
        let state = self.read();
        // Sized up front: a broadcast copies every handle, and growing by doubling would
        // reallocate a dozen times at 10,000 connections.
        let mut targets = Vec::with_capacity(state.connections.len());
        targets.extend(
            state
                .connections
                .values()
                .filter(|c| !excluded.iter().any(|e| **e == **c.id()))
                .cloned(),
        );
        targets
    }

    /// The connection with this id.
    pub fn connection(&self, connection_id: &str) -> Option<ConnectionHandle> {
        self.read().connections.get(connection_id).cloned()
    }

    /// The user's connections.
    pub fn user_connections(&self, user: &str) -> Vec<ConnectionHandle> {
        self.read()
            .users
            .get(user)
            .map(|c| c.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The group's connections except the excluded ones.
    pub fn group_connections(&self, group: &str, excluded: &[String]) -> Vec<ConnectionHandle> {
        self.read()
            .groups
            .get(group)
            .map(|members| {
                members
                    .values()
                    .filter(|c| !excluded.iter().any(|e| **e == **c.id()))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether the connection is connected.
    pub fn has_connection(&self, connection_id: &str) -> bool {
        self.read().connections.contains_key(connection_id)
    }

    /// Whether the group has at least one connection.
    pub fn has_group(&self, group: &str) -> bool {
        self.read().groups.contains_key(group)
    }

    /// Whether the user has at least one connection.
    pub fn has_user(&self, user: &str) -> bool {
        self.read().users.contains_key(user)
    }

    /// Adds a connection to a group. Returns false when the connection is not in this hub.
    pub fn add_to_group(&self, connection_id: &str, group: &str) -> bool {
        {
            let mut state = self.write();
            let Some(connection) = state.connections.get(connection_id).cloned() else {
                return false;
            };
            state.join(&connection, group);
        }
        self.trace_membership(
            Some(connection_id),
            None,
            MembershipChange::Joined,
            Some(group),
        );
        true
    }

    /// Removes a connection from a group. Returns false when the connection is not in this hub;
    /// removing a connection from a group it is not in is not an error.
    pub fn remove_from_group(&self, connection_id: &str, group: &str) -> bool {
        {
            let mut state = self.write();
            if !state.connections.contains_key(connection_id) {
                return false;
            }
            state.leave(connection_id, group);
        }
        self.trace_membership(
            Some(connection_id),
            None,
            MembershipChange::Left,
            Some(group),
        );
        true
    }

    /// Adds a user to a group: the membership is kept for `ttl` (a year when `None`) and every
    /// current connection of the user joins. `ttl` of zero joins the current connections only.
    /// Returns the groups the 100-group cap dropped.
    pub fn add_user_to_group(&self, user: &str, group: &str, ttl: Option<Duration>) -> Vec<String> {
        let now = Instant::now();
        let mut state = self.write();
        let dropped = if ttl == Some(Duration::ZERO) {
            Vec::new()
        } else {
            state.user_groups.add(user, group, ttl, now)
        };
        state.join_user(user, group, &dropped);
        drop(state);
        self.trace_membership(None, Some(user), MembershipChange::Joined, Some(group));
        dropped
    }

    /// Sets a membership as another node made it (its deadline and its place in the cap
    /// kept) and joins the user's current connections. Returns the groups the cap dropped.
    pub fn restore_user_group(&self, entry: &UserGroupEntry) -> Vec<String> {
        let mut state = self.write();
        let dropped = state.user_groups.restore(entry);
        state.join_user(&entry.user, &entry.group, &dropped);
        drop(state);
        let (user, group) = (Some(entry.user.as_str()), Some(entry.group.as_str()));
        self.trace_membership(None, user, MembershipChange::Joined, group);
        dropped
    }

    /// The user's unexpired membership of the group, if any.
    pub fn user_group(&self, user: &str, group: &str) -> Option<UserGroupEntry> {
        self.read().user_groups.get(user, group, Instant::now())
    }

    /// Every unexpired user-group membership of the hub.
    pub fn user_group_entries(&self) -> Vec<UserGroupEntry> {
        self.read().user_groups.all(Instant::now())
    }

    /// Removes a user's membership and the user's connections from the group.
    pub fn remove_user_from_group(&self, user: &str, group: &str) {
        self.write().remove_user_from_group(user, group);
        self.trace_membership(None, Some(user), MembershipChange::Left, Some(group));
    }

    /// Removes every membership of the user and the user's connections from every group.
    pub fn remove_user_from_all_groups(&self, user: &str) {
        let mut state = self.write();
        state.user_groups.remove_all(user);
        for id in state.user_connection_ids(user) {
            state.leave_all(&id);
        }
        drop(state);
        self.trace_membership(None, Some(user), MembershipChange::Left, None);
    }

    /// Removes a connection from every group. Returns false when the connection is not in this
    /// hub. The user's memberships stay: they apply to the user's later connections.
    pub fn remove_from_all_groups(&self, connection_id: &str) -> bool {
        {
            let mut state = self.write();
            if !state.connections.contains_key(connection_id) {
                return false;
            }
            state.leave_all(connection_id);
        }
        self.trace_membership(Some(connection_id), None, MembershipChange::Left, None);
        true
    }

    /// Joins every connection of `connections` that is still in this hub to the group, under
    /// one lock.
    pub fn add_connections_to_group(&self, connections: &[ConnectionHandle], group: &str) {
        let mut joined = Vec::with_capacity(connections.len());
        {
            let mut state = self.write();
            for connection in connections {
                if state.connections.contains_key(connection.id().as_ref()) {
                    state.join(connection, group);
                    joined.push(connection.id());
                }
            }
        }
        for id in joined {
            self.trace_membership(Some(id), None, MembershipChange::Joined, Some(group));
        }
    }

    /// Takes every connection of `connections` out of the group, under one lock.
    pub fn remove_connections_from_group(&self, connections: &[ConnectionHandle], group: &str) {
        {
            let mut state = self.write();
            for connection in connections {
                state.leave(connection.id(), group);
            }
        }
        for connection in connections {
            let id = connection.id();
            self.trace_membership(Some(id), None, MembershipChange::Left, Some(group));
        }
    }

    /// Reports a membership change of a connection or a user to the live trace.
    fn trace_membership(
        &self,
        connection_id: Option<&str>,
        user: Option<&str>,
        change: MembershipChange,
        group: Option<&str>,
    ) {
        self.trace.emit(|| {
            let kind = TraceKind::Membership {
                change,
                group: group.map(str::to_owned),
                user_id: user.map(Arc::from),
            };
            TraceEvent::now(self.name.clone(), connection_id.map(Arc::from), kind)
        });
    }

    /// Up to `limit` of the group's connections in connection-id order, starting after the id
    /// `after` (exclusive) when given: a cursor that stays valid while members come and go.
    pub fn group_page(
        &self,
        group: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Vec<ConnectionHandle> {
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.read()
            .groups
            .get(group)
            .map(|members| {
                members
                    .range::<str, _>((start, Bound::Unbounded))
                    .take(limit)
                    .map(|(_, c)| c.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every connection with its current groups, copied out so a caller can examine them (e.g.
    /// evaluate a filter) without holding the lock.
    pub fn connections_with_groups(&self) -> Vec<ConnectionGroups> {
        let state = self.read();
        state
            .connections
            .values()
            .map(|connection| ConnectionGroups {
                connection: connection.clone(),
                groups: state
                    .connection_groups
                    .get(connection.id())
                    .map(|groups| groups.iter().cloned().collect())
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// Whether the user is in the group: by an unexpired membership or through a connection.
    pub fn is_user_in_group(&self, user: &str, group: &str) -> bool {
        let state = self.read();
        state.user_groups.contains(user, group, Instant::now())
            || state.groups.get(group).is_some_and(|members| {
                members
                    .values()
                    .any(|c| c.user_id().is_some_and(|u| **u == *user))
            })
    }

    /// Drops the user's membership of the group if it has expired by `now`, and takes the
    /// user's live connections out of the group with it.
    pub(super) fn expire_membership(&self, user: &str, group: &str, now: Instant) {
        let mut state = self.write();
        if state.user_groups.expire(user, group, now) {
            for id in state.user_connection_ids(user) {
                state.leave(&id, group);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::Connection;
    use crate::protocol::Protocol;
    use tokio_util::sync::CancellationToken;

    fn connect(hub: &Hub, id: &str, user: Option<&str>) -> ConnectionHandle {
        let (connection, outbox) = Connection::new(
            Arc::from(id),
            hub.name().clone(),
            user.map(Arc::from),
            Protocol::Json,
            "WebSockets",
            4,
            &CancellationToken::new(),
        );
        // The tests only look at membership; the queue end is not needed.
        drop(outbox);
        hub.add_connection(connection.clone());
        connection
    }

    fn ids(connections: &[ConnectionHandle]) -> Vec<&str> {
        connections.iter().map(|c| &**c.id()).collect()
    }

    #[test]
    fn group_pages_follow_connection_id_order() {
        let hub = Hub::new(Arc::from("hub"));
        for id in ["c", "a", "e", "b", "d"] {
            connect(&hub, id, None);
            assert!(hub.add_to_group(id, "g"));
        }
        assert_eq!(ids(&hub.group_page("g", None, 2)), ["a", "b"]);
        assert_eq!(ids(&hub.group_page("g", Some("b"), 2)), ["c", "d"]);
        // The cursor survives the member it names leaving.
        hub.remove_connection("d");
        assert_eq!(ids(&hub.group_page("g", Some("d"), 2)), ["e"]);
        assert!(hub.group_page("g", Some("e"), 2).is_empty());
        assert!(hub.group_page("none", None, 2).is_empty());
    }

    #[test]
    fn removing_a_connection_from_all_groups_keeps_user_memberships() {
        let hub = Hub::new(Arc::from("hub"));
        connect(&hub, "c1", Some("u"));
        hub.add_user_to_group("u", "by-user", None);
        assert!(hub.add_to_group("c1", "direct"));
        assert!(hub.remove_from_all_groups("c1"));
        assert!(!hub.has_group("direct"));
        assert!(!hub.has_group("by-user"));
        assert!(hub.is_user_in_group("u", "by-user"));
        assert!(!hub.remove_from_all_groups("ghost"));
        // The membership still applies to the user's next connection.
        connect(&hub, "c2", Some("u"));
        assert_eq!(ids(&hub.group_connections("by-user", &[])), ["c2"]);
    }

    #[test]
    fn due_memberships_take_live_connections_out_and_renewed_ones_stay() {
        let hubs = crate::hub::Hubs::default();
        let hub = hubs.get_or_create("hub");
        connect(&hub, "c1", Some("u"));
        hub.add_user_to_group("u", "short", Some(Duration::from_secs(1)));
        hub.add_user_to_group("u", "renewed", Some(Duration::from_secs(1)));
        hub.add_user_to_group("u", "renewed", Some(Duration::from_secs(60)));
        let later = Instant::now() + Duration::from_secs(2);
        hubs.expire_due(later);
        assert!(!hub.has_group("short"));
        assert!(!hub.is_user_in_group("u", "short"));
        assert_eq!(ids(&hub.group_connections("renewed", &[])), ["c1"]);
        assert!(hub.is_user_in_group("u", "renewed"));
        assert!(hubs.expiries().next().is_some_and(|next| next > later));
    }

    #[test]
    fn bulk_group_changes_and_snapshots() {
        let hub = Hub::new(Arc::from("hub"));
        let a = connect(&hub, "a", Some("u"));
        let b = connect(&hub, "b", None);
        hub.add_connections_to_group(&[a.clone(), b.clone()], "g");
        let mut snapshot = hub.connections_with_groups();
        snapshot.sort_by(|x, y| x.connection.id().cmp(y.connection.id()));
        assert_eq!(snapshot.len(), 2);
        assert_eq!(snapshot[0].groups, ["g"]);
        hub.remove_connections_from_group(&[a], "g");
        assert_eq!(ids(&hub.group_connections("g", &[])), ["b"]);
        // A connection that left the hub is not joined again.
        hub.remove_connection("b");
        hub.add_connections_to_group(&[b], "h");
        assert!(!hub.has_group("h"));
    }
}
