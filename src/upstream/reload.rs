//! Hot reload of the settings file. The file is polled once a second rather than watched with
//! OS notifications: that works the same on every platform, in containers and on mounted
//! volumes, and survives editors that replace the file instead of writing it. A change is
//! applied once two polls in a row saw the same content, so a half-written file is never
//! loaded; a file that does not parse leaves the current templates in place.

use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

use super::Upstream;
use super::settings::{self, SettingsError};
use crate::settle;

/// Polls `file` until `shutdown`, swapping `upstream`'s templates on every settled change.
pub(super) async fn watch(
    upstream: Upstream,
    file: PathBuf,
    loaded: Vec<u8>,
    shutdown: CancellationToken,
) {
    let path = file.clone();
    let read = move || settings::read(&path).map_err(|err| err.to_string());
    settle::watch(loaded, read, shutdown, |settled| match settled {
        Ok(bytes) => apply(&upstream, &file, &bytes),
        Err(err) => tracing::warn!("{err}; keeping the current upstream templates"),
    })
    .await;
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
