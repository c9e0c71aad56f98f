//! Reading a PEM certificate chain and its private key into what rustls serves, with an error
//! that names the file and the problem (unreadable, no certificate, no key, key not matching).

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::ring::sign::any_supported_type;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsError;

/// Loads `cert` (leaf first, then intermediates) and `key` (PKCS#8, PKCS#1 or SEC1).
pub(super) fn load(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let (cert_pem, key_pem) = (read(cert, "--tls-cert")?, read(key, "--tls-key")?);
    parse(&cert_pem, &key_pem, cert, key)
}

/// Both files' bytes, as the hot reload compares them.
pub(super) fn read_pair(cert: &Path, key: &Path) -> Result<Vec<u8>, String> {
    let mut bytes = read(cert, "--tls-cert").map_err(|e| e.0)?;
    bytes.extend(read(key, "--tls-key").map_err(|e| e.0)?);
    Ok(bytes)
}

/// Parses already-read PEM text; `cert` and `key` name the files in errors.
fn parse(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert: &Path,
    key: &Path,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| {
            TlsError(format!(
                "--tls-cert '{}' is not a PEM certificate chain: {err}",
                cert.display()
            ))
        })?;
    if chain.is_empty() {
        return Err(TlsError(format!(
            "--tls-cert '{}' holds no '-----BEGIN CERTIFICATE-----' block",
            cert.display()
        )));
    }
    let private = PrivateKeyDer::from_pem_slice(key_pem).map_err(|err| {
        TlsError(format!(
            "--tls-key '{}' holds no PEM private key (PKCS#8, RSA or EC): {err}",
            key.display()
        ))
    })?;
    let signing = any_supported_type(&private).map_err(|err| {
        TlsError(format!(
            "--tls-key '{}' is not a usable RSA, ECDSA or Ed25519 key: {err}",
            key.display()
        ))
    })?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|_| {
        TlsError(format!(
            "--tls-key '{}' is not the private key of the certificate in --tls-cert '{}'",
            key.display(),
            cert.display()
        ))
    })?;
    Ok(Arc::new(certified))
}

fn read(path: &Path, flag: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path)
        .map_err(|err| TlsError(format!("{flag}: cannot read '{}': {err}", path.display())))
}
