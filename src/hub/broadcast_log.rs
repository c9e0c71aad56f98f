//! A hub's log of recent broadcasts, which every connection's writer reads at a cursor of its
//! own: a broadcast is one append, where pushing its frame into every connection's queue cost
//! two cold cache lines per recipient (41 % of the server's CPU at 10,000 clients). The frames
//! in the log are read by all writers, so they stay in cache.
//!
//! Bounded like a connection's queue: a writer more than `capacity` broadcasts behind has lost
//! one, and is closed as a slow consumer ([`Read::Lagged`]). Entries every reader has passed are
//! dropped at the hub's next periodic sweep ([`BroadcastLog::sweep_due`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::task::Waker;

use crate::protocol::{Frame, Frames, Protocol};

/// Broadcasts between two sweeps of the hub's connections (slow ones closed, read entries
/// dropped): often enough to bound what an idle hub keeps, rarely enough to cost nothing.
const SWEEP_EVERY: u64 = 16;

/// One broadcast: its frame per protocol and the connections it leaves out.
#[derive(Debug)]
struct Entry {
    json: Option<Frame>,
    messagepack: Option<Frame>,
    excluded: Box<[String]>,
}

impl Entry {
    fn frame_for(&self, protocol: Protocol, connection: &str) -> Option<Frame> {
        if self.excluded.iter().any(|e| e == connection) {
            return None;
        }
        match protocol {
            Protocol::Json => self.json.clone(),
            Protocol::MessagePack => self.messagepack.clone(),
        }
    }
}

#[derive(Debug, Default)]
struct Ring {
    /// The position of `entries[0]`.
    base: u64,
    entries: VecDeque<Entry>,
}

/// The registered wakers. A writer that goes away empties its slot, which the next
/// registration takes: a hub that never broadcasts neither keeps finished tasks alive nor grows
/// a slot per connection it ever had.
#[derive(Debug, Default)]
struct Waiters {
    slots: Vec<Option<Waker>>,
    /// Emptied slots, for the next registrations.
    free: Vec<usize>,
}

/// Where a writer's waker is registered: the wake-up it waits for, and its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Registration {
    wakeups: u64,
    slot: usize,
}

impl Registration {
    /// Not registered.
    pub(super) const NONE: Registration = Registration {
        wakeups: u64::MAX,
        slot: 0,
    };
}

/// What a reader finds at its cursor.
#[derive(Debug)]
pub(super) enum Read {
    /// The broadcast at the cursor, if it is for this reader.
    Entry(Option<Frame>),
    /// The reader has read everything.
    Caught,
    /// The broadcast at the cursor was dropped before it was read.
    Lagged,
}

/// A hub's broadcast log; see the module.
#[derive(Debug, Default)]
pub(super) struct BroadcastLog {
    ring: RwLock<Ring>,
    /// One past the last position appended, for readers to look at without the lock.
    head: AtomicU64,
    /// The wakers of the writers that have read everything.
    waiters: Mutex<Waiters>,
    /// Bumped under the waiters' lock at every wake-up, so a writer knows whether it is still
    /// registered.
    wakeups: AtomicU64,
    /// The largest queue capacity among the connections reading the log.
    capacity: AtomicUsize,
    /// How many readers speak JSON and MessagePack: a broadcast is only encoded for those.
    speakers: [AtomicUsize; 2],
}

impl BroadcastLog {
    fn ring(&self) -> RwLockReadGuard<'_, Ring> {
        self.ring.read().unwrap_or_else(|e| e.into_inner())
    }

    fn ring_mut(&self) -> RwLockWriteGuard<'_, Ring> {
        self.ring.write().unwrap_or_else(|e| e.into_inner())
    }

    fn waiters(&self) -> MutexGuard<'_, Waiters> {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The position the next broadcast will take: where a new reader starts.
    pub(super) fn head(&self) -> u64 {
        self.head.load(Ordering::Acquire)
    }

    /// Counts a new reader speaking `protocol` and makes room for `capacity` unread broadcasts
    /// (its queue capacity).
    pub(super) fn join(&self, protocol: Protocol, capacity: usize) {
        self.capacity.fetch_max(capacity.max(1), Ordering::Relaxed);
        self.speakers[protocol as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a reader speaking `protocol` gone.
    pub(super) fn leave(&self, protocol: Protocol) {
        self.speakers[protocol as usize].fetch_sub(1, Ordering::Relaxed);
    }

    fn frame_if_spoken(&self, protocol: Protocol, message: &impl Frames) -> Option<Frame> {
        let spoken = self.speakers[protocol as usize].load(Ordering::Relaxed) > 0;
        spoken.then(|| message.frame_for(protocol)).flatten()
    }

    /// Appends a broadcast (its frame encoded once for each protocol readers speak; call it
    /// under the lock that orders it with [`Self::join`]) for every reader but the `excluded`
    /// connections, and wakes the writers waiting for one. Returns whether the hub's
    /// connections are due a sweep.
    pub(super) fn append(&self, message: &impl Frames, excluded: &[String]) -> bool {
        let entry = Entry {
            json: self.frame_if_spoken(Protocol::Json, message),
            messagepack: self.frame_if_spoken(Protocol::MessagePack, message),
            excluded: excluded.into(),
        };
        let capacity = self.capacity.load(Ordering::Relaxed).max(1);
        let head = {
            let mut ring = self.ring_mut();
            ring.entries.push_back(entry);
            if ring.entries.len() > capacity {
                ring.entries.pop_front();
                ring.base += 1;
            }
            let head = ring.base + ring.entries.len() as u64;
            self.head.store(head, Ordering::Release);
            head
        };
        let mut woken = {
            let mut waiters = self.waiters();
            self.wakeups.fetch_add(1, Ordering::AcqRel);
            waiters.free.clear();
            std::mem::take(&mut waiters.slots)
        };
        for waker in woken.drain(..).flatten() {
            waker.wake();
        }
        // The emptied list goes back for the next registrations, so they do not grow a new one.
        let mut waiters = self.waiters();
        if waiters.slots.is_empty() && waiters.slots.capacity() < woken.capacity() {
            waiters.slots = woken;
        }
        drop(waiters);
        head % SWEEP_EVERY == 0
    }

    /// The broadcast at `cursor` for `connection` (speaking `protocol`).
    pub(super) fn read(&self, cursor: u64, protocol: Protocol, connection: &str) -> Read {
        if cursor >= self.head() {
            return Read::Caught;
        }
        let ring = self.ring();
        if cursor < ring.base {
            return Read::Lagged;
        }
        match ring.entries.get((cursor - ring.base) as usize) {
            Some(entry) => Read::Entry(entry.frame_for(protocol, connection)),
            None => Read::Caught,
        }
    }

    /// The position of the oldest broadcast kept: a reader before it has lost one.
    pub(super) fn oldest(&self) -> u64 {
        self.ring().base
    }

    /// Drops the entries before `cursor`, which every reader has passed.
    pub(super) fn forget_before(&self, cursor: u64) {
        let mut ring = self.ring_mut();
        while ring.base < cursor && ring.entries.pop_front().is_some() {
            ring.base += 1;
        }
    }

    /// Registers `waker` for the next broadcast unless it still is since the registration that
    /// returned `registered`; returns what to pass next time (and to [`Self::unregister`]).
    pub(super) fn register(&self, waker: &Waker, registered: Registration) -> Registration {
        if self.wakeups.load(Ordering::Acquire) == registered.wakeups {
            return registered;
        }
        let mut waiters = self.waiters();
        let slot = match waiters.free.pop() {
            Some(slot) => {
                waiters.slots[slot] = Some(waker.clone());
                slot
            }
            None => {
                waiters.slots.push(Some(waker.clone()));
                waiters.slots.len() - 1
            }
        };
        Registration {
            wakeups: self.wakeups.load(Ordering::Relaxed),
            slot,
        }
    }

    /// Takes back a registration whose writer goes away, if no broadcast has woken it yet.
    pub(super) fn unregister(&self, registered: Registration) {
        let mut waiters = self.waiters();
        if self.wakeups.load(Ordering::Relaxed) == registered.wakeups
            && let Some(slot) = waiters.slots.get_mut(registered.slot)
            && slot.take().is_some()
        {
            waiters.free.push(registered.slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_that_come_and_go_without_broadcasts_reuse_one_slot() {
        let log = BroadcastLog::default();
        let waker = Waker::noop();
        let staying = log.register(waker, Registration::NONE);
        for _ in 0..100 {
            let gone = log.register(waker, Registration::NONE);
            log.unregister(gone);
        }
        assert_eq!(log.waiters().slots.len(), 2);
        assert_eq!(log.register(waker, staying), staying, "still registered");
    }
}
