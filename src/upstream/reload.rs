//! Hot reload of the settings file. The file is polled once a second rather than watched with
//! OS notifications: that works the same on every platform, in containers and on mounted
//! volumes, and survives editors that replace the file instead of writing it. A change is
//! applied once two polls in a row saw the same content, so a half-written file is never
//! loaded; a file that does not parse leaves the current templates in place.

use std::path::PathBuf;
use std::time::Duration;

use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::Upstream;
use super::settings::{self, SettingsError};

/// How often the file is read.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// What one poll saw: the file's bytes, or why it could not be read.
type Observation = Result<Vec<u8>, String>;

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

/// Polls `file` until `shutdown`, swapping `upstream`'s templates on every settled change.
pub(super) async fn watch(
    upstream: Upstream,
    file: PathBuf,
    loaded: Vec<u8>,
    shutdown: CancellationToken,
) {
    let mut tracker = Tracker::new(loaded);
    let mut tick = tokio::time::interval(POLL_INTERVAL);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let path = file.clone();
        let seen = match tokio::task::spawn_blocking(move || settings::read(&path)).await {
            Ok(read) => read.map_err(|err| err.to_string()),
            Err(err) => Err(format!("cannot read '{}': {err}", file.display())),
        };
        match tracker.observe(seen) {
            Some(Ok(bytes)) => apply(&upstream, &file, &bytes),
            Some(Err(err)) => {
                tracing::warn!("{err}; keeping the current upstream templates");
            }
            None => {}
        }
    }
}

/// Parses changed content and swaps it in, or says why it was not.
fn apply(upstream: &Upstream, file: &std::path::Path, bytes: &[u8]) {
    match settings::parse(bytes, &upstream.inner.env) {
        Ok(templates) => {
            let all = upstream.replace(templates);
            tracing::info!(
                file = %file.display(),
                templates = all.len(),
                "upstream settings reloaded"
            );
            for (index, template) in all.iter().enumerate() {
                tracing::info!("upstream template [{index}] {template}");
            }
        }
        Err(reason) => {
            let err = SettingsError {
                file: file.to_owned(),
                reason,
            };
            tracing::warn!("{err}; keeping the current upstream templates");
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
