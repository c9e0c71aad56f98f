//! Client results across nodes. An app server on one node may invoke a client held on another
//! (owned by an app server there). The holder routes the invocation as it would for a local
//! caller, with a stand-in for the caller: a server connection of its own, never registered
//! in the hub (so no client is ever bound to it), whose one message, the client's answer or
//! why there is none, is published to the caller's node and handed to that app server there.

use std::sync::Arc;
use std::time::Duration;

use super::envelope::{Operation, Reply, Request};
use super::{CALL_TIMEOUT, Cluster, ClusterError};
use crate::hub::{Hub, ServerConnection, ServerHandle, ServerIdentity, ServerKind};
use crate::protocol::Protocol;
use crate::protocol::service::ClientInvocation;

/// How long a stand-in waits for the client's answer. The invocation itself stays routed
/// until the client answers or leaves; past this, an answer no longer reaches the caller.
const ANSWER_WAIT: Duration = Duration::from_secs(300);
/// Messages a stand-in takes: the one answer, with room to spare.
const STAND_IN_QUEUE: usize = 4;

impl Cluster {
    /// Has the node holding the invocation's client route it; this node's app server is the
    /// caller. `None` when no node holds the client; else whether another app server owns it
    /// (the caller is then told with a ServiceMapping).
    pub async fn route_client_invocation(
        &self,
        hub: &str,
        invocation: &ClientInvocation,
    ) -> Result<Option<bool>, ClusterError> {
        let Some(node) = self
            .locate_connection(hub, &invocation.connection_id)
            .await?
        else {
            return Ok(None);
        };
        let request = Request::ClientInvocation {
            hub: hub.to_owned(),
            connection: invocation.connection_id.clone(),
            invocation_id: invocation.invocation_id.clone(),
            caller_server_id: invocation.caller_server_id.clone(),
            caller_node: self.node.id.clone(),
        };
        let frames = invocation.payloads.by_protocol();
        match self.call_with(&node, request, frames, CALL_TIMEOUT).await? {
            Reply::Routed { mapping } => Ok(Some(mapping)),
            _ => Ok(None),
        }
    }

    /// A stand-in on this node for app server `server_id` of `hub` on node `node`: what it is
    /// sent first goes to that node.
    pub(super) fn remote_caller(
        self: &Arc<Self>,
        hub: &Hub,
        node: String,
        server_id: &str,
    ) -> ServerHandle {
        let identity = ServerIdentity {
            id: Arc::from(format!("{node}/{server_id}")),
            server_id: Arc::from(server_id),
            hub: hub.name().clone(),
            kind: ServerKind::Weak,
            stateful_reconnects: false,
        };
        let (caller, mut outbox) = ServerConnection::new(
            identity,
            STAND_IN_QUEUE,
            &self.stop,
            self.hubs.service_metrics().clone(),
        );
        let cluster = self.clone();
        let operation = Operation::ToServer {
            hub: hub.name().to_string(),
            server_id: server_id.to_owned(),
        };
        tokio::spawn(async move {
            let answer = tokio::select! {
                frame = tokio::time::timeout(ANSWER_WAIT, outbox.frames.recv()) => frame.ok(),
                () = outbox.closing.cancelled() => None,
            };
            let Some(frame) = answer else {
                return;
            };
            // The ServiceProtocol is MessagePack: the frame travels as such.
            let frames = vec![(Protocol::MessagePack, frame)];
            let channel = cluster.keys.node(&node);
            if let Err(err) = cluster.publish(&channel, operation, frames).await {
                tracing::warn!(%err, "cluster: a client's answer cannot reach its caller's node");
            }
        });
        caller
    }
}
