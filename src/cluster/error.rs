//! Why a cluster operation failed, and the 503 `ErrorDetail` naming Redis that a REST caller
//! gets for it.

use axum::http::StatusCode;

use crate::error::ApiError;

/// A cluster operation that could not be done.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Redis did not answer or refused the command.
    #[error("Redis is unavailable ({0})")]
    Redis(#[from] redis::RedisError),
    /// The node holding the connection did not answer in time.
    #[error("node {0} did not answer in time")]
    NodeTimeout(String),
    /// The node could not apply the operation (a node of another version).
    #[error("node {0} could not apply it")]
    NodeRefused(String),
    /// The change was applied on its node but Redis did not take it in time, so other nodes
    /// may not see it yet.
    #[error("Redis did not take the change within {0} s; other nodes may not see it yet")]
    NotMirrored(u64),
    /// This node lost Redis (or has not synced with it yet), so it is not part of the
    /// cluster for now.
    #[error("this node is not in the cluster now: Redis is unavailable")]
    Detached,
    /// The node that applied the operation failed for the reason given.
    #[error("node {node}: {reason}")]
    Remote {
        /// The node's id.
        node: String,
        /// Why, as it said.
        reason: String,
    },
}

impl ClusterError {
    /// What the caller of a failed operation is told: what failed and what to do.
    pub fn explained(&self) -> String {
        format!(
            "This operation needs the cluster, and it failed: {self}. Retry when the cluster's Redis is reachable again."
        )
    }
}

impl From<ClusterError> for ApiError {
    fn from(err: ClusterError) -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Error.Cluster.Unavailable",
            err.explained(),
        )
    }
}
