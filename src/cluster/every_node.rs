//! Operations every other live node must apply before the caller answers: each node is asked
//! on its own channel and answers once done, so a 2xx means the whole cluster applied it, and a
//! node that does not answer in time fails the operation with a 503 naming it.

use bytes::Bytes;
use futures_util::future::join_all;

use super::apply_user_group;
use super::envelope::{Reply, Request, UserGroupChange};
use super::{CALL_TIMEOUT, Cluster, ClusterError, NodeInfo};
use crate::hub::{ExecuteCommand, Hub};
use crate::protocol::{Encoded, Protocol};

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
        hub: &Hub,
        user: &str,
        change: UserGroupChange,
    ) -> Result<(), ClusterError> {
        let writing = self.user_groups.begin();
        let dropped = apply_user_group(hub, user, change.clone());
        let mut redis = self.redis.clone();
        self.user_groups
            .persist(&mut redis, &self.metrics, hub, user, &change, &dropped)
            .await?;
        drop(writing);
        self.flush_mirror().await?;
        let request = Request::UserGroup {
            hub: hub.name().to_string(),
            user: user.to_owned(),
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
