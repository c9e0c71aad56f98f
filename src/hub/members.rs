//! One hub's membership state: its connections, users, groups and user-group memberships, kept
//! consistent under one lock. Every method takes the lock briefly, never across an `.await`, and
//! fan-out copies the recipients' handles out before anything is sent.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::connection::ConnectionHandle;
use super::user_groups::UserGroups;

type Members = HashMap<Arc<str>, ConnectionHandle>;

#[derive(Debug, Default)]
struct State {
    connections: Members,
    groups: HashMap<String, Members>,
    users: HashMap<Arc<str>, Members>,
    /// Each connection's groups, so removing a connection costs O(its groups).
    connection_groups: HashMap<Arc<str>, HashSet<String>>,
    user_groups: UserGroups,
}

impl State {
    fn join(&mut self, connection: &ConnectionHandle, group: &str) {
        self.groups
            .entry(group.to_owned())
            .or_default()
            .insert(connection.id().clone(), connection.clone());
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
        removed
    }

    fn user_connection_ids(&self, user: &str) -> Vec<Arc<str>> {
        self.users
            .get(user)
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default()
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
}

impl Hub {
    /// An empty hub with its internal (lowercased, prefixed) name.
    pub fn new(name: Arc<str>) -> Self {
        Hub {
            name,
            state: RwLock::new(State::default()),
        }
    }

    /// The internal hub name.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    // A panic while holding the lock cannot leave the maps half-updated in a way that matters
    // more than stopping the server would, so a poisoned lock is simply taken over.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a connection and joins it to its user's unexpired groups.
    pub fn add_connection(&self, connection: ConnectionHandle) {
        let now = Instant::now();
        let mut state = self.write();
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

    /// Removes a connection from the hub, its user and all its groups.
    pub fn remove_connection(&self, connection_id: &str) {
        let mut state = self.write();
        let Some(connection) = state.connections.remove(connection_id) else {
            return;
        };
        if let Some(user) = connection.user_id()
            && let Some(conns) = state.users.get_mut(user)
        {
            conns.remove(connection_id);
            if conns.is_empty() {
                state.users.remove(user);
            }
        }
        for group in state
            .connection_groups
            .remove(connection_id)
            .unwrap_or_default()
        {
            state.leave(connection_id, &group);
        }
    }

    /// Every connection except the excluded ones.
    pub fn all_except(&self, excluded: &[String]) -> Vec<ConnectionHandle> {
        let state = self.read();
        state
            .connections
            .values()
            .filter(|c| !excluded.iter().any(|e| **e == **c.id()))
            .cloned()
            .collect()
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
        let mut state = self.write();
        let Some(connection) = state.connections.get(connection_id).cloned() else {
            return false;
        };
        state.join(&connection, group);
        true
    }

    /// Removes a connection from a group. Returns false when the connection is not in this hub;
    /// removing a connection from a group it is not in is not an error.
    pub fn remove_from_group(&self, connection_id: &str, group: &str) -> bool {
        let mut state = self.write();
        if !state.connections.contains_key(connection_id) {
            return false;
        }
        state.leave(connection_id, group);
        true
    }

    /// Adds a user to a group: the membership is kept for `ttl` (a year when `None`) and every
    /// current connection of the user joins. `ttl` of zero joins the current connections only.
    pub fn add_user_to_group(&self, user: &str, group: &str, ttl: Option<Duration>) {
        let now = Instant::now();
        let mut state = self.write();
        if ttl != Some(Duration::ZERO) {
            for dropped in state.user_groups.add(user, group, ttl, now) {
                state.remove_user_from_group(user, &dropped);
            }
        }
        let connections: Vec<ConnectionHandle> = state
            .users
            .get(user)
            .map(|c| c.values().cloned().collect())
            .unwrap_or_default();
        for connection in &connections {
            state.join(connection, group);
        }
    }

    /// Removes a user's membership and the user's connections from the group.
    pub fn remove_user_from_group(&self, user: &str, group: &str) {
        self.write().remove_user_from_group(user, group);
    }

    /// Removes every membership of the user and the user's connections from every group.
    pub fn remove_user_from_all_groups(&self, user: &str) {
        let mut state = self.write();
        state.user_groups.remove_all(user);
        for id in state.user_connection_ids(user) {
            for group in state.connection_groups.remove(&id).unwrap_or_default() {
                state.leave(&id, &group);
            }
        }
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

    /// Drops expired memberships and takes the users' live connections out of those groups.
    pub fn expire_memberships(&self, now: Instant) {
        let mut state = self.write();
        for (user, group) in state.user_groups.expire(now) {
            for id in state.user_connection_ids(&user) {
                state.leave(&id, &group);
            }
        }
    }
}
