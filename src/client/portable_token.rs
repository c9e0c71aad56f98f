//! Connection tokens any node of a cluster accepts: `<connectionId>.<issued>.<flags>.<mac>`,
//! an HMAC-SHA256 (keyed with the access key) over the hub, the negotiating user, the connection
//! id, when it was issued and whether stateful reconnect was granted. Negotiate on one node
//! mints it; the node a transport request lands on verifies it without asking the negotiating
//! node, so no sticky sessions are needed. Nothing is stored for an unused token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Domain separation: a connection token's MAC is never valid as anything else signed with the
/// access key (dashboard sessions, upstream signatures).
const PURPOSE: &[u8] = b"signalr-emulator connection token\n";
/// The MAC's length in the token; 128 bits are plenty against forgery and keep URLs short.
const MAC_LEN: usize = 16;

/// What a verified token says about its connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PortableToken {
    /// The public connection id.
    pub(super) connection_id: String,
    /// Whether negotiate granted stateful reconnect.
    pub(super) stateful: bool,
    /// Negotiate version 0, which has no separate token: the whole token is the public id.
    pub(super) legacy: bool,
    /// When negotiate issued it (Unix seconds).
    pub(super) issued: u64,
}

/// Who the token is bound to: the hub and, unless auth is off, the negotiating user (`None` for
/// an anonymous one), so a token is worth nothing for another hub or another user.
#[derive(Debug, Clone, Copy)]
pub(super) struct Binding<'a> {
    pub(super) hub: &'a str,
    pub(super) user: Option<Option<&'a str>>,
}

fn mac(key: &str, binding: Binding<'_>, body: &str) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(PURPOSE);
    mac.update(binding.hub.as_bytes());
    mac.update(b"\n");
    match binding.user {
        None => mac.update(b"*"),
        Some(None) => mac.update(b"-"),
        Some(Some(user)) => {
            mac.update(b"=");
            mac.update(user.as_bytes());
        }
    }
    mac.update(b"\n");
    mac.update(body.as_bytes());
    mac
}

impl PortableToken {
    /// The token text, signed with `key`.
    pub(super) fn sign(&self, key: &str, binding: Binding<'_>) -> String {
        let flags = match (self.stateful, self.legacy) {
            (false, false) => "n",
            (true, false) => "s",
            (false, true) => "n0",
            (true, true) => "s0",
        };
        let body = format!("{}.{}.{flags}", self.connection_id, self.issued);
        let tag = mac(key, binding, &body).finalize().into_bytes();
        format!("{body}.{}", URL_SAFE_NO_PAD.encode(&tag[..MAC_LEN]))
    }

    /// The token's content when one of `keys` signed it for `binding`; `None` for anything
    /// else (a local token, another hub's or user's, a forgery).
    pub(super) fn verify(text: &str, keys: &[String], binding: Binding<'_>) -> Option<Self> {
        let (body, tag) = text.rsplit_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let mut parts = body.split('.');
        let (Some(connection_id), Some(issued), Some(flags), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let (stateful, legacy) = match flags {
            "n" => (false, false),
            "s" => (true, false),
            "n0" => (false, true),
            "s0" => (true, true),
            _ => return None,
        };
        let issued = issued.parse().ok()?;
        if connection_id.is_empty() || tag.len() != MAC_LEN {
            return None;
        }
        keys.iter()
            .any(|key| mac(key, binding, body).verify_truncated_left(&tag).is_ok())
            .then(|| PortableToken {
                connection_id: connection_id.to_owned(),
                stateful,
                legacy,
                issued,
            })
    }

    /// The connection's public id: the id inside, or for version 0 the whole `token`.
    pub(super) fn public_id<'a>(&'a self, token: &'a str) -> &'a str {
        if self.legacy {
            token
        } else {
            &self.connection_id
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH";

    fn token() -> PortableToken {
        PortableToken {
            connection_id: "AbCdEfGhIjKlMnOpQrStUv".to_owned(),
            stateful: true,
            legacy: false,
            issued: 1_800_000_000,
        }
    }

    fn alice(hub: &str) -> Binding<'_> {
        Binding {
            hub,
            user: Some(Some("alice")),
        }
    }

    #[test]
    fn a_signed_token_verifies_with_any_configured_key() {
        let text = token().sign(KEY, alice("chat"));
        assert!(text.starts_with("AbCdEfGhIjKlMnOpQrStUv.1800000000.s."));
        let keys = ["other".to_owned(), KEY.to_owned()];
        assert_eq!(
            PortableToken::verify(&text, &keys, alice("chat")),
            Some(token())
        );
    }

    #[test]
    fn another_hub_user_key_or_an_edit_is_refused() {
        let text = token().sign(KEY, alice("chat"));
        let keys = [KEY.to_owned()];
        assert_eq!(PortableToken::verify(&text, &keys, alice("news")), None);
        let bob = Binding {
            hub: "chat",
            user: Some(Some("bob")),
        };
        assert_eq!(PortableToken::verify(&text, &keys, bob), None);
        let anonymous = Binding {
            hub: "chat",
            user: Some(None),
        };
        assert_eq!(PortableToken::verify(&text, &keys, anonymous), None);
        assert_eq!(
            PortableToken::verify(&text, &["other".to_owned()], alice("chat")),
            None
        );
        for edit in [".n.", ".s0.", ".n0."] {
            let edited = text.replace(".s.", edit);
            assert_eq!(PortableToken::verify(&edited, &keys, alice("chat")), None);
        }
        for junk in ["", "abc", "a.b.c.d", "a.1.s.!!", "a.1.x.AAAA", ".1.s.AAAA"] {
            assert_eq!(PortableToken::verify(junk, &keys, alice("chat")), None);
        }
    }

    #[test]
    fn a_version_0_token_is_its_own_public_id() {
        let legacy = PortableToken {
            legacy: true,
            ..token()
        };
        let text = legacy.sign(KEY, alice("chat"));
        let verified = PortableToken::verify(&text, &[KEY.to_owned()], alice("chat")).unwrap();
        assert_eq!(verified, legacy);
        assert_eq!(verified.public_id(&text), text);
        assert_eq!(token().public_id(&text), "AbCdEfGhIjKlMnOpQrStUv");
    }

    #[test]
    fn a_token_without_a_user_binding_ignores_the_user() {
        let any = Binding {
            hub: "chat",
            user: None,
        };
        let text = token().sign(KEY, any);
        assert!(PortableToken::verify(&text, &[KEY.to_owned()], any).is_some());
        assert_eq!(
            PortableToken::verify(&text, &[KEY.to_owned()], alice("chat")),
            None
        );
    }
}
