//! The certificate in effect, and its hot reload: the files are polled once a second (as the
//! upstream settings are, for the same reasons) and a change that settled and loads is served
//! to new connections; connections already open keep the certificate they started with. A
//! change that does not load is logged and the previous certificate stays.

use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_util::sync::CancellationToken;

use super::certificate;
use crate::settle;

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
    let (c, k) = (cert.clone(), key.clone());
    let read = move || certificate::read_pair(&c, &k);
    settle::watch(loaded, read, shutdown, |settled| match settled {
        Ok(_) => match certificate::load(&cert, &key) {
            Ok(next) => {
                resolver.replace(next);
                tracing::info!(cert = %cert.display(), "TLS certificate reloaded: new connections get it");
            }
            Err(err) => tracing::warn!("{err}; keeping the current TLS certificate"),
        },
        Err(err) => tracing::warn!("{err}; keeping the current TLS certificate"),
    })
    .await;
}
