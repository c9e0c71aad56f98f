//! The dashboard's view of the cluster (`--redis`): every node with its advertised URL, lease
//! state and connection count, and the client connections the other nodes hold, so the page can
//! say which node holds each connection. Without `--redis` there is no such view.

use std::sync::atomic::Ordering;

use serde::Serialize;

use crate::cluster::{Cluster, NodeConnections};

/// The cluster as this node sees it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ClusterView {
    /// This node's id.
    node: String,
    /// Whether this node holds its lease and its subscription is up.
    healthy: bool,
    /// How long a lease lasts without renewal, in seconds.
    lease_secs: u64,
    /// Why the other nodes' connections are unknown (Redis could not be read), if so.
    error: Option<String>,
    /// Every node, this one first, then by id.
    nodes: Vec<NodeView>,
}

/// One node.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct NodeView {
    id: String,
    /// The base URL the other nodes reach it at.
    url: String,
    /// Whether this is the node that answered.
    local: bool,
    /// `held` (this node, renewing), `lost` (this node, not renewing: Redis unavailable),
    /// `current` (another node whose lease has not run out) or `unknown` (Redis unreadable).
    lease: &'static str,
    /// How many client connections it holds; `None` when Redis could not be read.
    connection_count: Option<usize>,
    /// The client connections of another node (this node's are in the hubs).
    connections: Vec<RemoteConnection>,
}

/// A client connection held by another node, as its mirror in Redis lists it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RemoteConnection {
    hub: String,
    id: String,
    user_id: Option<String>,
}

/// The view for `cluster`, this node holding `held` client connections.
pub(super) async fn cluster_view(cluster: &Cluster, lease_secs: u64, held: usize) -> ClusterView {
    let healthy = cluster.is_healthy();
    let this = NodeView {
        id: cluster.node().id.clone(),
        url: cluster.node().url.clone(),
        local: true,
        lease: if cluster.metrics().lease_held.load(Ordering::Acquire) {
            "held"
        } else {
            "lost"
        },
        connection_count: Some(held),
        connections: Vec::new(),
    };
    let (others, error) = match cluster.other_nodes_connections().await {
        Ok(others) => (others.into_iter().map(remote_node).collect(), None),
        // The last renewal's list still names the nodes; what they hold is unknown.
        Err(err) => (
            cluster
                .nodes()
                .into_iter()
                .filter(|node| node.id != this.id)
                .map(|node| NodeView {
                    id: node.id,
                    url: node.url,
                    local: false,
                    lease: "unknown",
                    connection_count: None,
                    connections: Vec::new(),
                })
                .collect(),
            Some(err.to_string()),
        ),
    };
    let mut nodes = vec![this];
    nodes.extend::<Vec<NodeView>>(others);
    ClusterView {
        node: cluster.node().id.clone(),
        healthy,
        lease_secs,
        error,
        nodes,
    }
}

fn remote_node(other: NodeConnections) -> NodeView {
    let connections: Vec<RemoteConnection> = other
        .hubs
        .into_iter()
        .flat_map(|(hub, connections)| {
            connections
                .into_iter()
                .map(move |(id, user_id)| RemoteConnection {
                    hub: hub.clone(),
                    id,
                    user_id,
                })
        })
        .collect();
    NodeView {
        id: other.node.id,
        url: other.node.url,
        local: false,
        lease: "current",
        connection_count: Some(connections.len()),
        connections,
    }
}
