//! A read-only look at the other nodes for the dashboard: every node whose lease is current
//! and the client connections its mirror in Redis lists, hub by hub. Two round trips (the
//! nodes with their key names, then every connection hash), whatever the number of nodes.

use std::collections::BTreeMap;

use super::{Cluster, ClusterError, NodeInfo};

/// A client connection's id and its user id, if any.
pub type HeldConnection = (String, Option<String>);

/// Another node and the client connections it holds, as its mirror in Redis lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConnections {
    /// The node's lease record.
    pub node: NodeInfo,
    /// Its connections by hub (sorted by hub): `(connection id, user id)`, sorted by id.
    pub hubs: Vec<(String, Vec<HeldConnection>)>,
}

impl Cluster {
    /// Every other node with a current lease (sorted by id) and its client connections.
    pub async fn other_nodes_connections(&self) -> Result<Vec<NodeConnections>, ClusterError> {
        let owned: Vec<(NodeInfo, Vec<String>)> = self
            .ask_other_nodes(|node| {
                let mut cmd = redis::cmd("SMEMBERS");
                cmd.arg(self.keys.owned(node));
                cmd
            })
            .await?;
        let mut pipe = redis::pipe();
        let mut listed = Vec::new();
        for (node, keys) in owned {
            // `connections(node, "")` is the common start of the node's per-hub hashes.
            let start = self.keys.connections(&node.id, "");
            let mut hubs: Vec<(String, String)> = keys
                .into_iter()
                .filter_map(|key| Some((key.strip_prefix(&start)?.to_owned(), key)))
                .collect();
            hubs.sort();
            for (_, key) in &hubs {
                pipe.cmd("HGETALL").arg(key);
            }
            listed.push((node, hubs));
        }
        let mut hashes: Vec<BTreeMap<String, String>> = if pipe.is_empty() {
            Vec::new()
        } else {
            self.query_pipe(&pipe).await?
        }
        .into_iter()
        .rev()
        .collect();
        let mut nodes: Vec<NodeConnections> = listed
            .into_iter()
            .map(|(node, hubs)| NodeConnections {
                node,
                hubs: hubs
                    .into_iter()
                    .filter_map(|(hub, _)| {
                        let connections: Vec<HeldConnection> = hashes
                            .pop()
                            .unwrap_or_default()
                            .into_iter()
                            .map(|(id, user)| (id, Some(user).filter(|u| !u.is_empty())))
                            .collect();
                        (!connections.is_empty()).then_some((hub, connections))
                    })
                    .collect(),
            })
            .collect();
        nodes.sort_by(|a, b| a.node.id.cmp(&b.node.id));
        Ok(nodes)
    }
}
