//! Changes to one connection wherever it is held: done on this node when it holds the
//! connection, else asked of (or published to) the node that does. REST and app servers both
//! change and close a connection this way.

use super::envelope::{Reply, Request};
use super::{CALL_TIMEOUT, Cluster, ClusterError};
use crate::hub::Audience;

impl Cluster {
    /// Finishes a group change for connection `id` of `hub`: when `here` (this node held it
    /// and applied the change), waits until the change is in Redis; else asks the node that
    /// holds it to do `request`. Whether the connection was found anywhere. Once this returns,
    /// an existence check on any node sees the change.
    pub async fn change_connection(
        &self,
        hub: &str,
        id: &str,
        here: bool,
        request: impl FnOnce() -> Request,
    ) -> Result<bool, ClusterError> {
        if here {
            self.flush_mirror().await?;
            return Ok(true);
        }
        let Some(node) = self.locate_connection(hub, id).await? else {
            return Ok(false);
        };
        let reply = self.call(&node, request(), CALL_TIMEOUT).await?;
        Ok(matches!(reply, Reply::Done(true)))
    }

    /// Closes connection `id` of `hub`, which this node does not hold, on the node that does,
    /// with `reason`. Whether any node held it.
    pub async fn close_connection(
        &self,
        hub: &str,
        id: &str,
        reason: Option<String>,
    ) -> Result<bool, ClusterError> {
        if self.locate_connection(hub, id).await?.is_none() {
            return Ok(false);
        }
        let to = Audience::Connection(id.to_owned());
        self.close(hub, to, Vec::new(), reason).await?;
        Ok(true)
    }
}
