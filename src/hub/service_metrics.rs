//! ServiceProtocol message counts by type and direction, for `/metrics`: one relaxed atomic
//! per type, bumped wherever a message to or from an app server is queued or read.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::protocol::service::type_name;

/// Type ids 1–41 plus one slot for every unknown type.
const SLOTS: usize = 42;

/// Messages read from and written to app servers, by message type.
#[derive(Debug)]
pub struct ServiceMessageMetrics {
    received: [AtomicU64; SLOTS],
    sent: [AtomicU64; SLOTS],
}

impl Default for ServiceMessageMetrics {
    fn default() -> Self {
        ServiceMessageMetrics {
            received: std::array::from_fn(|_| AtomicU64::new(0)),
            sent: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

fn slot(type_id: i64) -> usize {
    usize::try_from(type_id)
        .ok()
        .filter(|id| (1..SLOTS).contains(id))
        .unwrap_or(0)
}

impl ServiceMessageMetrics {
    /// Counts a message an app server sent.
    pub fn count_received(&self, type_id: i64) {
        self.received[slot(type_id)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a message sent to an app server.
    pub fn count_sent(&self, type_id: i64) {
        self.sent[slot(type_id)].fetch_add(1, Ordering::Relaxed);
    }

    /// `(direction, type name, count)` for every type seen at least once.
    pub fn counts(&self) -> Vec<(&'static str, &'static str, u64)> {
        let mut counts = Vec::new();
        for (direction, slots) in [("in", &self.received), ("out", &self.sent)] {
            for (index, count) in slots.iter().enumerate() {
                let count = count.load(Ordering::Relaxed);
                if count > 0 {
                    let name = type_name(i64::try_from(index).unwrap_or(0));
                    counts.push((direction, name, count));
                }
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_direction_and_type_with_unknown_types_together() {
        let metrics = ServiceMessageMetrics::default();
        metrics.count_received(10);
        metrics.count_received(10);
        metrics.count_received(99);
        metrics.count_received(-1);
        metrics.count_sent(3);
        assert_eq!(
            metrics.counts(),
            [
                ("in", "Unknown", 2),
                ("in", "BroadcastData", 2),
                ("out", "Ping", 1)
            ]
        );
    }
}
