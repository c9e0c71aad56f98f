//! Connection tokens any node of a cluster accepts:
//! `<connectionId>.<issued>.<flags>.<mac>.<genuine>`, where `mac` is an HMAC-SHA256 (keyed with
//! the access key) over the hub, the negotiating user, the connection id, when it was issued and
//! whether stateful reconnect was granted, and `genuine` one over the hub and everything before
//! it, without the user: a node tells another user's genuine token (403, as the node holding the
//! connection answers) from a forgery or an edit (404) without asking any other node. Negotiate on one node
//! mints it; the node a transport request lands on verifies it without asking the negotiating
//! node, so no sticky sessions are needed. Nothing is stored for an unused token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Domain separation: a connection token's MAC is never valid as anything else signed with the
/// access key (dashboard sessions, upstream signatures).
const PURPOSE: &[u8] = b"signalr-emulator connection token\n";
/// The same for the tag that proves a token genuine whoever it is for.
const GENUINE_PURPOSE: &[u8] = b"signalr-emulator genuine connection token\n";
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

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// Not a token of this service for this hub (a local token, a forgery, another key's).
    NotOurs,
    /// A genuine token of this hub, negotiated by another user.
    OtherUser,
}

fn mac(key: &str, purpose: &[u8], binding: Binding<'_>, body: &str) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(purpose);
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
        let tag = mac(key, PURPOSE, binding, &body).finalize().into_bytes();
        let signed = format!("{body}.{}", URL_SAFE_NO_PAD.encode(&tag[..MAC_LEN]));
        let genuine = mac(key, GENUINE_PURPOSE, anyone(binding), &signed).finalize();
        format!(
            "{signed}.{}",
            URL_SAFE_NO_PAD.encode(&genuine.into_bytes()[..MAC_LEN])
        )
    }

    /// The token's content when one of `keys` signed it for `binding`; else whether it is a
    /// genuine token of the hub for another user, or not one of ours at all.
    pub(super) fn verify(
        text: &str,
        keys: &[String],
        binding: Binding<'_>,
    ) -> Result<Self, Refused> {
        let token = Self::read(text).ok_or(Refused::NotOurs)?;
        let tagged = |purpose: &[u8], binding: Binding<'_>, signed: &str, tag: &[u8]| {
            keys.iter().any(|key| {
                mac(key, purpose, binding, signed)
                    .verify_truncated_left(tag)
                    .is_ok()
            })
        };
        // Both tags must hold, so no token has two texts (the connection table is keyed by it).
        let genuine = tagged(
            GENUINE_PURPOSE,
            anyone(binding),
            token.signed,
            &token.genuine,
        );
        if !genuine {
            Err(Refused::NotOurs)
        } else if tagged(PURPOSE, binding, token.body, &token.tag) {
            Ok(token.content)
        } else {
            Err(Refused::OtherUser)
        }
    }

    /// The content of a well-formed token and its signed part and tags, not verified yet.
    fn read(text: &str) -> Option<Unverified<'_>> {
        let (signed, genuine) = text.rsplit_once('.')?;
        let (body, tag) = signed.rsplit_once('.')?;
        let (tag, genuine) = (
            URL_SAFE_NO_PAD.decode(tag).ok()?,
            URL_SAFE_NO_PAD.decode(genuine).ok()?,
        );
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
        if connection_id.is_empty() || tag.len() != MAC_LEN || genuine.len() != MAC_LEN {
            return None;
        }
        Some(Unverified {
            content: PortableToken {
                connection_id: connection_id.to_owned(),
                stateful,
                legacy,
                issued,
            },
            body,
            tag,
            signed,
            genuine,
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

/// A well-formed token before its tags are checked.
struct Unverified<'a> {
    content: PortableToken,
    /// What the user-bound tag signs, and that tag.
    body: &'a str,
    tag: Vec<u8>,
    /// What the genuine tag signs (the body and the user-bound tag), and that tag.
    signed: &'a str,
    genuine: Vec<u8>,
}

/// The binding of the genuine tag: the hub, whoever the user.
fn anyone(binding: Binding<'_>) -> Binding<'_> {
    Binding {
        user: None,
        ..binding
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
            Ok(token())
        );
    }

    #[test]
    fn another_hub_user_key_or_an_edit_is_refused_and_only_another_user_is_told_apart() {
        let text = token().sign(KEY, alice("chat"));
        let keys = [KEY.to_owned()];
        assert_eq!(
            PortableToken::verify(&text, &keys, alice("news")),
            Err(Refused::NotOurs)
        );
        let bob = Binding {
            hub: "chat",
            user: Some(Some("bob")),
        };
        assert_eq!(
            PortableToken::verify(&text, &keys, bob),
            Err(Refused::OtherUser)
        );
        let anonymous = Binding {
            hub: "chat",
            user: Some(None),
        };
        assert_eq!(
            PortableToken::verify(&text, &keys, anonymous),
            Err(Refused::OtherUser)
        );
        assert_eq!(
            PortableToken::verify(&text, &["other".to_owned()], alice("chat")),
            Err(Refused::NotOurs)
        );
        // An edited user-bound tag is a forgery, not another user's token.
        let (signed, genuine) = text.rsplit_once('.').unwrap();
        let (body, tag) = signed.rsplit_once('.').unwrap();
        let flipped = if tag.starts_with('A') { "B" } else { "A" };
        let edited = format!("{body}.{flipped}{}.{genuine}", &tag[1..]);
        assert_eq!(
            PortableToken::verify(&edited, &keys, bob),
            Err(Refused::NotOurs)
        );
        // And so is an edited genuine tag, even for the right user.
        let flipped = if genuine.starts_with('A') { "B" } else { "A" };
        let edited = format!("{signed}.{flipped}{}", &genuine[1..]);
        assert_eq!(
            PortableToken::verify(&edited, &keys, alice("chat")),
            Err(Refused::NotOurs)
        );
        for edit in [".n.", ".s0.", ".n0."] {
            let edited = text.replace(".s.", edit);
            assert_eq!(
                PortableToken::verify(&edited, &keys, alice("chat")),
                Err(Refused::NotOurs)
            );
        }
        for junk in [
            "",
            "abc",
            "a.b.c.d",
            "a.1.s.!!",
            "a.1.x.AAAA",
            ".1.s.AAAA",
            "a.1.s.AAAA.AAAA",
        ] {
            assert_eq!(
                PortableToken::verify(junk, &keys, alice("chat")),
                Err(Refused::NotOurs)
            );
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
        assert!(PortableToken::verify(&text, &[KEY.to_owned()], any).is_ok());
        assert_eq!(
            PortableToken::verify(&text, &[KEY.to_owned()], alice("chat")),
            Err(Refused::OtherUser)
        );
    }
}
