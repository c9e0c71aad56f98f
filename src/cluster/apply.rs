//! Applying what another node published to this node's own connections: deliveries, closes,
//! and the requests addressed to this node (group and user-group changes, `:invoke`, stream
//! pushes, `:execute`, client invocations of app servers on other nodes), answered on the
//! caller's channel, and the answers to this node's app servers' client invocations.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::Cluster;
use super::envelope::{Envelope, Operation, Reply, Request, UserGroupChange};
use crate::hub::filter::Filter;
use crate::hub::{ConnectionHandle, ExecuteCommand, Hub};
use crate::protocol::service::{ClientInvocation, Extensions, Payloads, parse_frame};
use crate::protocol::{Close, PreFramed, Protocol};

impl Cluster {
    /// Applies one envelope from another node.
    pub(super) fn apply(self: &Arc<Self>, envelope: Envelope) {
        match envelope.operation {
            Operation::Send {
                hub,
                to,
                excluded,
                excluded_users,
            } => {
                let Some(hub) = self.hubs.get(&hub) else {
                    return;
                };
                let frames = PreFramed::from_entries(
                    envelope.frames.iter().map(|(p, frame)| (p.name(), frame)),
                );
                hub.deliver_except_users(&to, &excluded, &excluded_users, &frames);
            }
            Operation::Close {
                hub,
                to,
                excluded,
                reason,
            } => {
                let Some(hub) = self.hubs.get(&hub) else {
                    return;
                };
                for connection in hub.audience(&to, &excluded) {
                    connection.close(Close {
                        error: reason.clone(),
                        allow_reconnect: true,
                    });
                }
            }
            Operation::Call { id, request } => {
                let cluster = self.clone();
                tokio::spawn(async move {
                    let reply = cluster.answer(request, envelope.frames).await;
                    if let Err(err) = cluster.reply(&envelope.origin, id, reply).await {
                        tracing::warn!(%err, "cluster: cannot answer a call");
                    }
                });
            }
            Operation::Reply { id, reply } => {
                if let Some((_, waiting)) = self.calls.remove(&id) {
                    let _ = waiting.send(reply);
                }
            }
            Operation::ToServer { hub, server_id } => {
                let server = self
                    .hubs
                    .get(&hub)
                    .and_then(|hub| hub.server_of(&server_id, None));
                let message = envelope.frames.first().and_then(|(_, frame)| {
                    parse_frame(frame)
                        .ok()
                        .flatten()
                        .map(|(message, _)| message)
                });
                match (server, message) {
                    (Some(server), Some(message)) => {
                        server.send_message(&message);
                    }
                    (None, _) => {
                        tracing::debug!(%server_id, "cluster: the app server an answer is for is gone")
                    }
                    (_, None) => {
                        tracing::warn!("cluster: an answer for an app server does not parse")
                    }
                }
            }
        }
    }

    /// Does what another node asked of a connection or a hub here; `frames` are the messages
    /// the request carries.
    async fn answer(self: &Arc<Self>, request: Request, frames: Vec<(Protocol, Bytes)>) -> Reply {
        let done = match request {
            Request::ClientInvocation {
                hub,
                connection,
                invocation_id,
                caller_server_id,
                caller_node,
            } => {
                let Some(hub) = self.hubs.get(&hub) else {
                    return Reply::Done(false);
                };
                let caller = || self.remote_caller(&hub, caller_node, &caller_server_id);
                let invocation = ClientInvocation {
                    invocation_id,
                    connection_id: connection,
                    caller_server_id: caller_server_id.clone(),
                    payloads: Payloads::from_protocols(&frames),
                    ext: Extensions::default(),
                };
                return match hub.route_client_invocation(invocation, caller) {
                    Ok(mapping) => Reply::Routed { mapping },
                    Err(_) => Reply::Done(false),
                };
            }
            Request::AddToGroup {
                hub,
                connection,
                group,
            } => self
                .hubs
                .get(&hub)
                .is_some_and(|hub| hub.add_to_group(&connection, &group)),
            Request::RemoveFromGroup {
                hub,
                connection,
                group,
            } => self
                .hubs
                .get(&hub)
                .is_some_and(|hub| hub.remove_from_group(&connection, &group)),
            Request::RemoveFromAllGroups { hub, connection } => self
                .hubs
                .get(&hub)
                .is_some_and(|hub| hub.remove_from_all_groups(&connection)),
            Request::Invoke {
                hub,
                connection,
                target,
                arguments,
                timeout_ms,
            } => {
                let Some(connection) = self.connection(&hub, &connection) else {
                    return Reply::Done(false);
                };
                let timeout = Duration::from_millis(timeout_ms);
                let (invocation_id, answer) =
                    connection.invoke_within(&target, arguments, timeout).await;
                return Reply::Invoked {
                    invocation_id,
                    answer,
                };
            }
            Request::PushStream {
                hub,
                connection,
                stream,
                push,
            } => {
                return self
                    .connection(&hub, &connection)
                    .map_or(Reply::Done(false), |c| {
                        Reply::Pushed(c.push_stream(&stream, push))
                    });
            }
            Request::Execute {
                hub,
                filter,
                commands,
            } => self.execute_here(&hub, filter.as_deref(), commands, frames),
            Request::UserGroup { hub, user, change } => {
                // The caller wrote it into Redis already; a sync running meanwhile must not
                // adopt a read of Redis older than it.
                let writing = self.user_groups.begin();
                // Kept even where the user has no connection yet: it applies to later ones.
                apply_user_group(&self.hubs.get_or_create(&hub), &user, change);
                drop(writing);
                true
            }
        };
        // What changed here is in Redis before the caller answers, for existence checks.
        if done && let Err(err) = self.flush_mirror().await {
            return Reply::Failed(err.to_string());
        }
        Reply::Done(done)
    }
}

impl Cluster {
    /// This node's connection `id` of `hub`, if it holds it.
    fn connection(&self, hub: &str, id: &str) -> Option<ConnectionHandle> {
        self.hubs.get(hub).and_then(|hub| hub.connection(id))
    }

    /// Runs another node's `:execute` on this node's connections of `hub`; false when the
    /// filter does not parse here (a node of another version).
    fn execute_here(
        &self,
        hub: &str,
        filter: Option<&str>,
        commands: Vec<ExecuteCommand<usize>>,
        frames: Vec<(Protocol, Bytes)>,
    ) -> bool {
        let filter = match filter.map(Filter::parse).transpose() {
            Ok(filter) => filter,
            Err(err) => {
                tracing::warn!(%err, "cluster: another node's :execute filter does not parse here");
                return false;
            }
        };
        let Some(hub) = self.hubs.get(hub) else {
            return true;
        };
        let mut frames = frames.iter();
        let commands: Vec<_> = commands
            .into_iter()
            .map(|command| {
                command.map_message(|count| {
                    PreFramed::from_entries(frames.by_ref().take(count).map(|(p, f)| (p.name(), f)))
                })
            })
            .collect();
        hub.execute(filter.as_ref(), &commands);
        true
    }
}

/// Applies a user-group change to one hub, as the REST operation does locally; returns the
/// groups the per-user cap dropped.
pub fn apply_user_group(hub: &Hub, user: &str, change: UserGroupChange) -> Vec<String> {
    match change {
        UserGroupChange::Add { group, ttl_secs } => {
            hub.add_user_to_group(user, &group, ttl_secs.map(Duration::from_secs))
        }
        UserGroupChange::Remove { group } => {
            hub.remove_user_from_group(user, &group);
            Vec::new()
        }
        UserGroupChange::RemoveAll => {
            hub.remove_user_from_all_groups(user);
            Vec::new()
        }
    }
}
