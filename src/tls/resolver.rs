//! The certificate in effect, and its hot reload: the files are polled once a second (as the
//! upstream settings are, for the same reasons) and a change that settled and loads is served
//! to new connections; connections already open keep the certificate they started with. A
//! change that does not load is logged and the previous certificate stays.

use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::certificate;
use crate::settle::Tracker;

/// How often the files are read.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Hands every handshake the current certificate.
#[derive(Debug)]
pub(super) struct ReloadingCert {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadingCert {
    pub(super) fn new(first: Arc<CertifiedKey>) -> Self {
        ReloadingCert {
            current: RwLock::new(first),
        }
    }

    fn replace(&self, next: Arc<CertifiedKey>) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = next;
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}

/// Polls `cert` and `key` until `shutdown`, swapping `resolver`'s certificate on every settled
/// change. `loaded` is both files' content as first loaded.
pub(super) async fn watch(
    resolver: Arc<ReloadingCert>,
    cert: PathBuf,
    key: PathBuf,
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
        let (c, k) = (cert.clone(), key.clone());
        let seen = tokio::task::spawn_blocking(move || certificate::read_pair(&c, &k))
            .await
            .unwrap_or_else(|err| Err(err.to_string()));
        match tracker.observe(seen) {
            Some(Ok(_)) => match certificate::load(&cert, &key) {
                Ok(next) => {
                    resolver.replace(next);
                    tracing::info!(cert = %cert.display(), "TLS certificate reloaded: new connections get it");
                }
                Err(err) => tracing::warn!("{err}; keeping the current TLS certificate"),
            },
            Some(Err(err)) => tracing::warn!("{err}; keeping the current TLS certificate"),
            None => {}
        }
    }
}
