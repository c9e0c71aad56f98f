//! Connections that ended on this node recently, remembered until their tokens could no
//! longer start them anyway, so that a resync after Redis lost everything writes their "ended"
//! markers back (else a still-valid token could start an ended connection again). Bounded: at
//! [`MAX_ENDED`] entries a newly ended connection is not remembered (its marker still stands
//! in Redis unless Redis restarts), and the expired entries are swept at most once per
//! [`SWEEP_EVERY`], so a full table does not cost a scan of every entry per ended connection.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How many ended connections a node remembers at most.
pub(super) const MAX_ENDED: usize = 100_000;

/// How often a full table is swept of expired entries at most.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Ended connections' claim keys and when their markers may go.
#[derive(Debug, Default)]
pub(super) struct EndedConnections {
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    until: HashMap<String, Instant>,
    /// When a full table was last swept.
    swept: Option<Instant>,
}

impl EndedConnections {
    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remembers that the connection with claim key `key` ended, for `ended_for`.
    pub(super) fn record(&self, key: String, ended_for: Duration) {
        let now = Instant::now();
        let mut table = self.lock();
        let due = table.swept.is_none_or(|at| now - at >= SWEEP_EVERY);
        if table.until.len() >= MAX_ENDED && due {
            table.until.retain(|_, at| *at > now);
            table.swept = Some(now);
        }
        if table.until.len() < MAX_ENDED {
            table.until.insert(key, now + ended_for);
        } else {
            tracing::debug!("cluster: too many ended connections to remember one more");
        }
    }

    /// The markers still needed, with how long each has left; forgets the others.
    pub(super) fn current(&self) -> Vec<(String, Duration)> {
        let now = Instant::now();
        let mut table = self.lock();
        table.until.retain(|_, at| *at > now);
        table
            .until
            .iter()
            .map(|(key, at)| (key.clone(), *at - now))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_kept_while_needed_and_bounded() {
        let ended = EndedConnections::default();
        ended.record("a".into(), Duration::from_secs(60));
        ended.record("gone".into(), Duration::ZERO);
        let current = ended.current();
        assert_eq!(current.len(), 1);
        assert_eq!(current[0].0, "a");
        assert!(current[0].1 <= Duration::from_secs(60));
        for i in 0..MAX_ENDED + 5 {
            ended.record(format!("k{i}"), Duration::from_secs(60));
        }
        assert_eq!(ended.current().len(), MAX_ENDED);
    }

    // Paused: the clock does not move while the table fills, however slow the machine.
    #[tokio::test(start_paused = true)]
    async fn a_full_table_is_swept_at_most_once_per_interval() {
        let ended = EndedConnections::default();
        for i in 0..MAX_ENDED {
            ended.record(format!("old{i}"), Duration::ZERO);
        }
        // Full of expired entries: the first sweep makes room.
        ended.record("new".into(), Duration::from_secs(60));
        assert_eq!(ended.lock().until.len(), 1);
        for i in 1..MAX_ENDED {
            ended.record(format!("again{i}"), Duration::ZERO);
        }
        // Full again within the interval: no second scan, so no room.
        ended.record("refused".into(), Duration::from_secs(60));
        let table = ended.lock();
        assert_eq!(table.until.len(), MAX_ENDED);
        assert!(!table.until.contains_key("refused"));
    }
}
