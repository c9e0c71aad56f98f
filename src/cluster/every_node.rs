//! Operations every other live node must apply before the caller answers: each node is asked
//! on its own channel and answers once done, so a 2xx means the whole cluster applied it, and a
//! node that does not answer in time fails the operation with a 503 naming it.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::join_all;

use super::apply_user_group;
use super::envelope::{Reply, Request, UserGroupChange};
use super::user_groups::Writing;
use super::{CALL_TIMEOUT, Cluster, ClusterError, NodeInfo};
use crate::hub::{ExecuteCommand, Hub};
use crate::protocol::{Encoded, Protocol};

/// A user-group change applied on this node and not yet shared with the cluster (see
/// [`Cluster::apply_user_group_here`]); a sync keeps it until it is in Redis.
#[derive(Debug)]
pub struct AppliedUserGroup {
    hub: Arc<Hub>,
    user: String,
    change: UserGroupChange,
    dropped: Vec<String>,
    _writing: Writing,
}

impl Cluster {
    /// Has every other node run `:execute` on its connections of `hub` (this node ran it on
    /// its own already); each `SendMessage` travels encoded once per protocol.
    pub async fn execute(
        &self,
        hub: &str,
        filter: Option<&str>,
        commands: &[ExecuteCommand<Encoded>],
    ) -> Result<(), ClusterError> {
        let mut frames = Vec::new();
        let commands = commands
            .iter()
            .map(|command| {
                command.as_ref().map_message(|encoded| {
                    let before = frames.len();
                    frames.extend(
                        [Protocol::Json, Protocol::MessagePack]
                            .map(|protocol| (protocol, encoded.frame(protocol))),
                    );
                    frames.len() - before
                })
            })
            .collect();
        let request = Request::Execute {
            hub: hub.to_owned(),
            filter: filter.map(str::to_owned),
            commands,
        };
        self.on_every_node(request, frames).await
    }

    /// Applies a user-group change to `hub` here, writes it into Redis (where nodes that
    /// start later find it) and has every other node apply it, so it holds for the user's
    /// connections everywhere, now and later, once this returns.
    pub async fn user_group(
        &self,
        hub: &Arc<Hub>,
        user: &str,
        change: UserGroupChange,
    ) -> Result<(), ClusterError> {
        self.share_user_group(self.apply_user_group_here(hub, user, change))
            .await
    }

    /// The first half of [`Cluster::user_group`]: applies the change here at once, so what
    /// the caller does next on this node already sees it; [`Cluster::share_user_group`] does
    /// the rest.
    pub fn apply_user_group_here(
        &self,
        hub: &Arc<Hub>,
        user: &str,
        change: UserGroupChange,
    ) -> AppliedUserGroup {
        // Taken before applying: a sync must not adopt a read of Redis without this change.
        let writing = self.user_groups.begin();
        let dropped = apply_user_group(hub, user, change.clone());
        AppliedUserGroup {
            hub: hub.clone(),
            user: user.to_owned(),
            change,
            dropped,
            _writing: writing,
        }
    }

    /// Writes a change applied here into Redis and has every other node apply it.
    pub async fn share_user_group(&self, applied: AppliedUserGroup) -> Result<(), ClusterError> {
        let AppliedUserGroup {
            hub,
            user,
            change,
            dropped,
            _writing: writing,
        } = applied;
        let mut redis = self.redis.clone();
        self.user_groups
            .persist(&mut redis, &self.metrics, &hub, &user, &change, &dropped)
            .await?;
        drop(writing);
        self.flush_mirror().await?;
        let request = Request::UserGroup {
            hub: hub.name().to_string(),
            user,
            change,
        };
        self.on_every_node(request, Vec::new()).await
    }

    /// Sends `request` (with `frames`) to every other node whose lease is current, at once,
    /// and waits for all of their answers.
    async fn on_every_node(
        &self,
        request: Request,
        frames: Vec<(Protocol, Bytes)>,
    ) -> Result<(), ClusterError> {
        // The PING only pairs with each lease read: what matters is which leases are current.
        let nodes: Vec<(NodeInfo, redis::Value)> =
            self.ask_other_nodes(|_| redis::cmd("PING")).await?;
        let (request, frames) = (&request, &frames);
        let calls = nodes.iter().map(|(node, _)| async move {
            let (request, frames) = (request.clone(), frames.clone());
            let reply = self.call_with(node, request, frames, CALL_TIMEOUT).await;
            (node, reply)
        });
        for (node, reply) in join_all(calls).await {
            match reply? {
                Reply::Done(true) => {}
                _ => return Err(ClusterError::NodeRefused(node.id.clone())),
            }
        }
        Ok(())
    }
}
