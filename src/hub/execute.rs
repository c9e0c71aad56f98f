//! `:execute`'s work on one hub: the connections an OData [`Filter`] selects, and a list of
//! commands applied to them in order. The REST node runs it on its own connections and every
//! other cluster node runs the same on theirs, so the selection and the commands are the ones a
//! single node would apply.

use serde::{Deserialize, Serialize};

use super::filter::{Filter, Subject};
use super::{ConnectionHandle, Hub, deliver};
use crate::protocol::{Close, Frames};

/// One validated command; `M` is the message a `SendMessage` delivers (its frames here, or how
/// many of an envelope's frames are its own when it travels to another node).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecuteCommand<M> {
    /// Send the message to every selected connection.
    SendMessage(M),
    /// Add the selected connections to the group.
    JoinGroup(String),
    /// Remove the selected connections from the group.
    LeaveGroup(String),
    /// Close the selected connections with this reason.
    CloseConnection(Option<String>),
}

impl<M> ExecuteCommand<M> {
    /// The same command, borrowing its message.
    pub fn as_ref(&self) -> ExecuteCommand<&M> {
        match self {
            ExecuteCommand::SendMessage(message) => ExecuteCommand::SendMessage(message),
            ExecuteCommand::JoinGroup(group) => ExecuteCommand::JoinGroup(group.clone()),
            ExecuteCommand::LeaveGroup(group) => ExecuteCommand::LeaveGroup(group.clone()),
            ExecuteCommand::CloseConnection(reason) => {
                ExecuteCommand::CloseConnection(reason.clone())
            }
        }
    }

    /// The same command with its message turned into another form.
    pub fn map_message<N>(self, map: impl FnOnce(M) -> N) -> ExecuteCommand<N> {
        match self {
            ExecuteCommand::SendMessage(message) => ExecuteCommand::SendMessage(map(message)),
            ExecuteCommand::JoinGroup(group) => ExecuteCommand::JoinGroup(group),
            ExecuteCommand::LeaveGroup(group) => ExecuteCommand::LeaveGroup(group),
            ExecuteCommand::CloseConnection(reason) => ExecuteCommand::CloseConnection(reason),
        }
    }
}

impl Hub {
    /// Selects this hub's connections (all of them without a filter) once, from a snapshot,
    /// then applies the commands in order: a `JoinGroup` does not change who a later command
    /// reaches. Returns how many connections were selected.
    pub fn execute<M: Frames>(
        &self,
        filter: Option<&Filter>,
        commands: &[ExecuteCommand<M>],
    ) -> usize {
        let selected = self.select(filter);
        for command in commands {
            match command {
                ExecuteCommand::SendMessage(message) => {
                    deliver(&selected, message);
                }
                ExecuteCommand::JoinGroup(group) => self.add_connections_to_group(&selected, group),
                ExecuteCommand::LeaveGroup(group) => {
                    self.remove_connections_from_group(&selected, group)
                }
                ExecuteCommand::CloseConnection(reason) => {
                    for connection in &selected {
                        connection.close(Close {
                            error: reason.clone(),
                            allow_reconnect: true,
                        });
                    }
                }
            }
        }
        selected.len()
    }

    /// The connections the filter selects, evaluated outside the hub's lock.
    fn select(&self, filter: Option<&Filter>) -> Vec<ConnectionHandle> {
        let snapshot = self.connections_with_groups();
        let Some(filter) = filter else {
            return snapshot.into_iter().map(|c| c.connection).collect();
        };
        snapshot
            .into_iter()
            .filter(|c| {
                let groups: Vec<&str> = c.groups.iter().map(String::as_str).collect();
                filter.matches(&Subject {
                    user_id: c.connection.user_id().map(|u| &**u),
                    connection_id: c.connection.id(),
                    groups: &groups,
                })
            })
            .map(|c| c.connection)
            .collect()
    }
}
