//! `X-ASRS-Signature`: proof for the upstream that a call comes from the service holding the
//! access key. One `sha256=<hex>` entry per configured key, comma-separated, where hex is
//! HMAC-SHA256 keyed with the UTF-8 bytes of the access key over the connection id.
//!
//! The hex is **lowercase**, what `hexdigest()` and `digest('hex')` produce, so the simplest
//! hand-written check works; the Azure Functions extension compares case-insensitively, so it
//! accepts this as it accepts the official emulator's uppercase.

use std::fmt::Write;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header value for `connection_id` signed with each of `keys`.
pub(super) fn signature(keys: &[String], connection_id: &str) -> String {
    keys.iter()
        .map(|key| {
            let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes())
                .expect("HMAC accepts keys of any length");
            mac.update(connection_id.as_bytes());
            let digest = mac.finalize().into_bytes();
            let mut entry = String::with_capacity(7 + digest.len() * 2);
            entry.push_str("sha256=");
            for byte in digest {
                let _ = write!(entry, "{byte:02x}");
            }
            entry
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::DEFAULT_ACCESS_KEY;

    #[test]
    fn matches_a_fixture_computed_independently() {
        // python3 -c 'import hmac,hashlib;print(hmac.new(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH",b"conn1",hashlib.sha256).hexdigest())'
        assert_eq!(
            signature(&[DEFAULT_ACCESS_KEY.to_owned()], "conn1"),
            "sha256=8de7281e588e23b0a30a7180ffa240257b8176e983004c240c9f3f7a7233c993"
        );
    }

    #[test]
    fn one_entry_per_key() {
        let keys = ["k1".to_owned(), "k2".to_owned()];
        let value = signature(&keys, "c");
        let entries: Vec<&str> = value.split(',').collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0], signature(&keys[..1], "c"));
        assert_eq!(entries[1], signature(&keys[1..], "c"));
        assert!(entries.iter().all(|e| e.len() == 7 + 64));
    }
}
