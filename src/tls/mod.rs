//! TLS on the service port: the certificate (from `--tls-cert`/`--tls-key`, or a local CA's
//! localhost certificate with `--tls-self-signed`), re-read when its files change, and the
//! acceptor that turns an accepted TCP stream into a TLS stream HTTP is served on. A client
//! that speaks plain http to the TLS port gets a short plain-text 400 naming `https://`, and
//! costs no handshake.
//!
//! * `certificate`: reading PEM files into a rustls certificate with precise errors.
//! * `resolver`: the certificate in effect, swapped when the files change.
//! * [`self_signed`]: the local CA and localhost certificate.
//! * `acceptor`: [`TlsAcceptor`].

mod acceptor;
mod certificate;
mod resolver;
pub mod self_signed;

use std::path::PathBuf;

pub use acceptor::TlsAcceptor;
pub use self_signed::SelfSigned;

use crate::config::TlsSource;

/// A TLS setting that cannot be used; the text names the file or flag and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(pub(crate) String);

/// The certificate and key files TLS serves, once a [`TlsSource`] is prepared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// The CA to trust, for a self-signed setup.
    pub ca: Option<PathBuf>,
}

/// Resolves `source` to files: for `--tls-self-signed`, creates (or reuses) the local CA and
/// writes a fresh localhost certificate. Checks that the files load, so that a bad certificate
/// is reported before the server announces itself.
pub fn prepare(source: &TlsSource) -> Result<TlsFiles, TlsError> {
    let files = match source {
        TlsSource::Files { cert, key } => TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
            ca: None,
        },
        TlsSource::SelfSigned { dir } => {
            let made = self_signed::ensure(dir)?;
            TlsFiles {
                cert: made.cert,
                key: made.key,
                ca: Some(made.ca),
            }
        }
    };
    certificate::load(&files.cert, &files.key)?;
    Ok(files)
}
