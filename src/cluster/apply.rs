//! Applying what another node published to this node's own connections: deliveries, closes,
//! user-group changes, and the requests addressed to this node (answered on the caller's
//! channel).

use std::sync::Arc;
use std::time::Duration;

use super::Cluster;
use super::envelope::{Envelope, Operation, Reply, Request, UserGroupChange};
use crate::hub::Hub;
use crate::protocol::{Close, PreFramed};

impl Cluster {
    /// Applies one envelope from another node.
    pub(super) fn apply(self: &Arc<Self>, envelope: Envelope) {
        match envelope.operation {
            Operation::Send { hub, to, excluded } => {
                let Some(hub) = self.hubs.get(&hub) else {
                    return;
                };
                let frames = PreFramed::from_entries(
                    envelope.frames.iter().map(|(p, frame)| (p.name(), frame)),
                );
                hub.deliver_to(&to, &excluded, &frames);
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
            Operation::UserGroup { hub, user, change } => {
                // Kept even where the user has no connection yet: it applies to later ones.
                apply_user_group(&self.hubs.get_or_create(&hub), &user, change);
            }
            Operation::Call { id, request } => {
                let cluster = self.clone();
                tokio::spawn(async move {
                    let reply = cluster.answer(request).await;
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
        }
    }

    /// Does what another node asked of a connection here.
    async fn answer(&self, request: Request) -> Reply {
        let done = match request {
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
                let Some(connection) = self.hubs.get(&hub).and_then(|h| h.connection(&connection))
                else {
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
        };
        Reply::Done(done)
    }
}

/// Applies a user-group change to one hub, as the REST operation does locally.
pub fn apply_user_group(hub: &Hub, user: &str, change: UserGroupChange) {
    match change {
        UserGroupChange::Add { group, ttl_secs } => {
            hub.add_user_to_group(user, &group, ttl_secs.map(Duration::from_secs));
        }
        UserGroupChange::Remove { group } => hub.remove_user_from_group(user, &group),
        UserGroupChange::RemoveAll => hub.remove_user_from_all_groups(user),
    }
}
