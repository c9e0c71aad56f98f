//! The deadline of every user-group membership of every hub, in deadline order, so expiry runs
//! when the next membership is due instead of scanning every hub's memberships on a tick.
//! Holds exactly one entry per live membership: [`super::user_groups::UserGroups`] moves a
//! membership's entry whenever it changes the membership, under the hub's lock.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio::sync::futures::Notified;
use tokio::time::Instant;

/// When one user's membership of one group in one hub expires.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Deadline {
    /// The instant it expires at (first, so the set is in deadline order).
    pub(super) at: Instant,
    /// The hub's internal name.
    pub(super) hub: Arc<str>,
    /// The user id.
    pub(super) user: String,
    /// The group.
    pub(super) group: String,
}

/// Every membership deadline, earliest first, and a wake-up for whoever waits on the earliest.
#[derive(Debug, Default)]
pub struct Expiries {
    deadlines: Mutex<BTreeSet<Deadline>>,
    /// Notified when a deadline earlier than every other one is added.
    earlier: Notify,
}

impl Expiries {
    // Only whole-set inserts and removals happen under this lock, so a poisoned one is sound.
    fn deadlines(&self) -> MutexGuard<'_, BTreeSet<Deadline>> {
        self.deadlines.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces a membership's deadline: `old` (if it had one) goes, `new` (if it has one)
    /// comes, and a waiter is woken when `new` is now the earliest.
    pub(super) fn replace(&self, old: Option<Deadline>, new: Option<Deadline>) {
        let mut deadlines = self.deadlines();
        if let Some(old) = old {
            deadlines.remove(&old);
        }
        let Some(new) = new else { return };
        let earliest = deadlines.first().is_none_or(|first| new < *first);
        deadlines.insert(new);
        drop(deadlines);
        if earliest {
            self.earlier.notify_one();
        }
    }

    /// Takes out every deadline at or before `now`, earliest first.
    pub(super) fn take_due(&self, now: Instant) -> Vec<Deadline> {
        let mut deadlines = self.deadlines();
        let mut due = Vec::new();
        while deadlines.first().is_some_and(|first| first.at <= now) {
            due.extend(deadlines.pop_first());
        }
        due
    }

    /// The earliest deadline, if any membership has one.
    pub fn next(&self) -> Option<Instant> {
        self.deadlines().first().map(|first| first.at)
    }

    /// Completes once a deadline earlier than every other one has been added (at once, when
    /// that happened since the last wake-up), so a waiter sleeping until [`Self::next`] wakes
    /// to sleep less.
    pub fn earlier(&self) -> Notified<'_> {
        self.earlier.notified()
    }

    /// How many memberships have a deadline.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.deadlines().len()
    }
}
