//! `--tls-self-signed`: a local certificate authority, created once and kept in a folder so
//! that a developer trusts its `ca.pem` once, and a localhost certificate it signs, written
//! afresh at every start.
//!
//! The CA is name-constrained to `localhost`, `127.0.0.0/8` and `::1`: trusting it lets it
//! vouch for this machine's loopback names only, never for another site, even if its key (a
//! file on this disk) leaks.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    NameConstraints, SanType,
};
use time::{Duration, OffsetDateTime};

use super::TlsError;

/// The CA's lifetime.
const CA_DAYS: i64 = 10 * 365;
/// A CA this close to its end is replaced (and must be trusted again).
const CA_RENEW_DAYS: i64 = 30;
/// The localhost certificate's lifetime (under the 825 days Apple platforms accept).
const LEAF_DAYS: i64 = 365;

const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca-key.pem";
const LEAF_CERT: &str = "localhost.pem";
const LEAF_KEY: &str = "localhost-key.pem";

/// The files `--tls-self-signed` serves and asks the developer to trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfSigned {
    /// The CA certificate to trust (`ca.pem`).
    pub ca: PathBuf,
    /// The localhost certificate followed by the CA (`localhost.pem`).
    pub cert: PathBuf,
    /// The localhost certificate's private key (`localhost-key.pem`).
    pub key: PathBuf,
}

/// Reuses the CA in `dir` (creating it when missing or about to expire) and writes a new
/// localhost certificate signed by it.
pub fn ensure(dir: &Path) -> Result<SelfSigned, TlsError> {
    let fail = |what: &str, err: &dyn std::fmt::Display| {
        TlsError(format!(
            "--tls-self-signed: {what} in '{}': {err}",
            dir.display()
        ))
    };
    std::fs::create_dir_all(dir).map_err(|e| fail("cannot create the folder", &e))?;
    let now = OffsetDateTime::now_utc();
    let (ca_pem, ca_key) = match existing_ca(dir, now) {
        Some(ca) => ca,
        None => {
            let (pem, key) = new_ca(now).map_err(|e| fail("cannot create the CA", &e))?;
            write_private(&dir.join(CA_KEY), &key.serialize_pem())
                .map_err(|e| fail("cannot write the CA key", &e))?;
            std::fs::write(dir.join(CA_CERT), &pem).map_err(|e| fail("cannot write the CA", &e))?;
            tracing::info!(ca = %dir.join(CA_CERT).display(), "created a local CA for --tls-self-signed: trust it once");
            (pem, key)
        }
    };
    let issuer =
        Issuer::from_ca_cert_pem(&ca_pem, ca_key).map_err(|e| fail("cannot read the CA", &e))?;
    let leaf_key = KeyPair::generate().map_err(|e| fail("cannot create a key", &e))?;
    let leaf = leaf_params(now)
        .signed_by(&leaf_key, &issuer)
        .map_err(|e| fail("cannot sign the localhost certificate", &e))?;
    let files = SelfSigned {
        ca: dir.join(CA_CERT),
        cert: dir.join(LEAF_CERT),
        key: dir.join(LEAF_KEY),
    };
    // The key goes first: a reader that sees the new certificate must find its key.
    write_private(&files.key, &leaf_key.serialize_pem())
        .map_err(|e| fail("cannot write the localhost key", &e))?;
    std::fs::write(&files.cert, format!("{}{ca_pem}", leaf.pem()))
        .map_err(|e| fail("cannot write the localhost certificate", &e))?;
    Ok(files)
}

/// The CA in `dir`, when both files read and it is not about to expire.
fn existing_ca(dir: &Path, now: OffsetDateTime) -> Option<(String, KeyPair)> {
    let pem = std::fs::read_to_string(dir.join(CA_CERT)).ok()?;
    let key = KeyPair::from_pem(&std::fs::read_to_string(dir.join(CA_KEY)).ok()?).ok()?;
    let der = rustls_pki_types::pem::PemObject::from_pem_slice(pem.as_bytes())
        .map(|der: rustls_pki_types::CertificateDer<'_>| der.to_vec())
        .ok()?;
    let (_, certificate) = x509_parser::parse_x509_certificate(&der).ok()?;
    let not_after = certificate.validity().not_after.timestamp();
    if not_after < (now + Duration::days(CA_RENEW_DAYS)).unix_timestamp() {
        tracing::warn!(ca = %dir.join(CA_CERT).display(), "the --tls-self-signed CA is about to expire: creating a new one, which must be trusted again");
        return None;
    }
    Some((pem, key))
}

fn new_ca(now: OffsetDateTime) -> Result<(String, KeyPair), rcgen::Error> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = name("signalr-emulator local CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.name_constraints = Some(NameConstraints {
        permitted_subtrees: vec![
            GeneralSubtree::DnsName("localhost".into()),
            GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(
                IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)),
                8,
            )),
            GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(
                IpAddr::V6(Ipv6Addr::LOCALHOST),
                128,
            )),
        ],
        excluded_subtrees: Vec::new(),
    });
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(CA_DAYS);
    let certificate = params.self_signed(&key)?;
    Ok((certificate.pem(), key))
}

fn leaf_params(now: OffsetDateTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = name("localhost");
    params.subject_alt_names = vec![
        SanType::DnsName("localhost".try_into().expect("a valid DNS name")),
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)),
    ];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(LEAF_DAYS);
    params
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name.push(DnType::OrganizationName, "signalr-emulator");
    name
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, pem: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(path)?, pem.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_is_kept_and_the_certificate_renewed() {
        let dir = tempfile::tempdir().unwrap();
        let first = ensure(dir.path()).unwrap();
        let ca = std::fs::read(&first.ca).unwrap();
        let cert = std::fs::read(&first.cert).unwrap();
        let second = ensure(dir.path()).unwrap();
        assert_eq!(first, second);
        assert_eq!(std::fs::read(&second.ca).unwrap(), ca, "the CA is reused");
        assert_ne!(
            std::fs::read(&second.cert).unwrap(),
            cert,
            "a new certificate"
        );
        super::super::certificate::load(&second.cert, &second.key).unwrap();
    }
}
