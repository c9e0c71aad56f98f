//! Deciding when a polled file changed for good: a new observation is acted on once two polls
//! in a row saw it, so a half-written file (or a certificate replaced before its key) is never
//! loaded, and a file that is briefly absent while an editor replaces it is not reported.
//! Used by the upstream settings' and the TLS certificate's hot reload, which share [`watch`].

use std::time::Duration;

use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// How often a watched file is read.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// What one poll saw: the file's bytes, or why it could not be read.
pub(crate) type Observation = Result<Vec<u8>, String>;

/// Decides which observations to act on: new ones that held for two polls.
#[derive(Debug)]
struct Tracker {
    previous: Observation,
    acted_on: Observation,
}

impl Tracker {
    /// Starts from the content loaded at startup.
    fn new(loaded: Vec<u8>) -> Self {
        Tracker {
            previous: Ok(loaded.clone()),
            acted_on: Ok(loaded),
        }
    }

    /// Records a poll; returns the observation when it is time to act on it.
    fn observe(&mut self, seen: Observation) -> Option<Observation> {
        let settled = seen == self.previous && seen != self.acted_on;
        self.previous = seen;
        if !settled {
            return None;
        }
        self.acted_on = self.previous.clone();
        Some(self.previous.clone())
    }
}

/// Polls `read` once a second until `shutdown`, handing `on_settled` every change that held
/// for two polls. `loaded` is the content loaded at startup; `read` runs on the blocking pool
/// because it does file I/O.
pub(crate) async fn watch<R>(
    loaded: Vec<u8>,
    read: R,
    shutdown: CancellationToken,
    mut on_settled: impl FnMut(Observation),
) where
    R: Fn() -> Observation + Clone + Send + 'static,
{
    let mut tracker = Tracker::new(loaded);
    let mut tick = tokio::time::interval(POLL_INTERVAL);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let seen = tokio::task::spawn_blocking(read.clone())
            .await
            .unwrap_or_else(|err| Err(format!("the read was interrupted: {err}")));
        if let Some(settled) = tracker.observe(seen) {
            on_settled(settled);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_applied_once_it_held_for_two_polls() {
        let mut tracker = Tracker::new(b"a".to_vec());
        assert_eq!(tracker.observe(Ok(b"a".to_vec())), None);
        assert_eq!(tracker.observe(Ok(b"half".to_vec())), None);
        assert_eq!(tracker.observe(Ok(b"b".to_vec())), None);
        assert_eq!(tracker.observe(Ok(b"b".to_vec())), Some(Ok(b"b".to_vec())));
        assert_eq!(tracker.observe(Ok(b"b".to_vec())), None);
    }

    #[test]
    fn a_brief_absence_is_ignored_and_a_lasting_one_reported_once() {
        let mut tracker = Tracker::new(b"a".to_vec());
        // An editor replaced the file: gone for one poll, then back unchanged.
        assert_eq!(tracker.observe(Err("gone".into())), None);
        assert_eq!(tracker.observe(Ok(b"a".to_vec())), None);
        assert_eq!(tracker.observe(Ok(b"a".to_vec())), None);
        // Deleted for good: reported once.
        assert_eq!(tracker.observe(Err("gone".into())), None);
        assert_eq!(
            tracker.observe(Err("gone".into())),
            Some(Err("gone".into()))
        );
        assert_eq!(tracker.observe(Err("gone".into())), None);
        // Restored with the old content: applied again (templates are re-logged).
        assert_eq!(tracker.observe(Ok(b"a".to_vec())), None);
        assert_eq!(tracker.observe(Ok(b"a".to_vec())), Some(Ok(b"a".to_vec())));
    }
}
