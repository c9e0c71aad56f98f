//! Scale-out over Redis (issue #11): the pieces that let many nodes serve as one service.

pub mod forward;
pub mod relay;

// TEMP STUB (not committed): stands in for cluster-core's Cluster until its foundation merges.
/// stub
#[derive(Debug)]
pub struct Cluster {
    node_id: String,
}
impl Cluster {
    /// stub
    pub fn node_id(&self) -> &str {
        &self.node_id
    }
    /// stub
    pub async fn announce_app_servers(&self, _hub: &str, _present: bool) {}
}
impl crate::client::Directory for Cluster {
    async fn holder(
        &self,
        _hub: &str,
        _id: &str,
        _claim: bool,
    ) -> Result<crate::client::Holder, crate::error::ApiError> {
        Ok(crate::client::Holder::Claimed)
    }
    async fn release(&self, _hub: &str, _id: &str) {}
    async fn app_server_node(&self, _hub: &str) -> Result<Option<String>, crate::error::ApiError> {
        Ok(None)
    }
}
