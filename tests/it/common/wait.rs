//! The tests' one way to wait for what the server does in the background: check a condition,
//! and while it does not hold yet, retry a moment later until a deadline, then fail with a
//! message naming what did not happen. No test sleeps a fixed time hoping it was enough.

use std::time::Duration;

use tokio::time::Instant;

use super::WAIT;

/// How long to wait between two checks.
const POLL: Duration = Duration::from_millis(20);

/// A deadline for one condition: `while !condition { wait.retry().await }`.
pub(crate) struct WaitUntil {
    what: &'static str,
    limit: Duration,
    deadline: Instant,
}

impl WaitUntil {
    /// Waits at most [`WAIT`] for `what` (e.g. "the membership expires").
    pub(crate) fn new(what: &'static str) -> Self {
        Self::within(WAIT, what)
    }

    /// Waits at most `limit` for `what`.
    pub(crate) fn within(limit: Duration, what: &'static str) -> Self {
        WaitUntil {
            what,
            limit,
            deadline: Instant::now() + limit,
        }
    }

    /// The condition does not hold yet: fails once the deadline has passed, else pauses a
    /// moment before the next check.
    pub(crate) async fn retry(&self) {
        assert!(
            Instant::now() < self.deadline,
            "{}: not within {:?}",
            self.what,
            self.limit
        );
        tokio::time::sleep(POLL).await;
    }
}
