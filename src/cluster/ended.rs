//! Connections that ended on this node recently, remembered until their tokens could no
//! longer start them anyway, so that a resync after Redis lost everything writes their "ended"
//! markers back (else a still-valid token could start an ended connection again). Bounded: at
//! [`MAX_ENDED`] entries a newly ended connection is not remembered (its marker still stands
//! in Redis unless Redis restarts).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How many ended connections a node remembers at most.
pub(super) const MAX_ENDED: usize = 100_000;

/// Ended connections' claim keys and when their markers may go.
#[derive(Debug, Default)]
pub(super) struct EndedConnections {
    until: Mutex<HashMap<String, Instant>>,
}

impl EndedConnections {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.until.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remembers that the connection with claim key `key` ended, for `ended_for`.
    pub(super) fn record(&self, key: String, ended_for: Duration) {
        let now = Instant::now();
        let mut until = self.lock();
        if until.len() >= MAX_ENDED {
            until.retain(|_, at| *at > now);
        }
        if until.len() < MAX_ENDED {
            until.insert(key, now + ended_for);
        } else {
            tracing::debug!("cluster: too many ended connections to remember one more");
        }
    }

    /// The markers still needed, with how long each has left; forgets the others.
    pub(super) fn current(&self) -> Vec<(String, Duration)> {
        let now = Instant::now();
        let mut until = self.lock();
        until.retain(|_, at| *at > now);
        until
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
}
