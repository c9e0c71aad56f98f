//! Token verification: signature against the configured access keys, then the checks the mode asks for.

use std::fmt;
use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use super::audience::{self, Audience};
use super::cache::{VerifiedToken, VerifiedTokens};
use super::claims::Claims;
use super::entra::{self, EntraTokens};
use super::error::AuthError;
use super::{lifetime, token};

/// How strictly tokens are checked (`--auth strict|relaxed|off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Signature, `exp` (required), `nbf` and `aud` (by path): catches token bugs before Azure
    /// does.
    Strict,
    /// Signature only, like Microsoft's `asrs-emulator`: expired, never-expiring and
    /// wrong-audience tokens pass.
    Relaxed,
    /// No checks at all, for throwaway local use; a token, if any, only supplies user id and claims.
    Off,
}

/// Checks access tokens against a set of access keys (e.g. primary and secondary).
#[derive(Clone)]
pub struct Verifier {
    keys: Vec<DecodingKey>,
    mode: AuthMode,
    entra: EntraTokens,
    /// Hosts that name this service in an Entra token's `aud`.
    service_hosts: Vec<String>,
    /// Access-key tokens already verified with `keys`; clones share it, as they share the keys.
    verified: Arc<VerifiedTokens>,
}

// Hand-written so that key material can never end up in a log line.
impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("keys", &format_args!("<{} access key(s)>", self.keys.len()))
            .field("mode", &self.mode)
            .field("entra", &self.entra.enabled())
            .finish()
    }
}

impl Verifier {
    /// A verifier for `keys`, access-key strings whose UTF-8 bytes are the HMAC key (they are NOT
    /// base64-decoded, matching how the Azure SignalR SDKs sign).
    pub fn new(keys: Vec<String>, mode: AuthMode) -> Self {
        let keys = keys
            .iter()
            .map(|key| DecodingKey::from_secret(key.as_bytes()))
            .collect();
        Self {
            keys,
            mode,
            entra: EntraTokens::Refused,
            service_hosts: Vec::new(),
            verified: Arc::default(),
        }
    }

    /// Also accepts Microsoft Entra ID tokens as `entra` says, when their `aud` is
    /// `https://signalr.azure.com` or a URL on one of `service_hosts` (this endpoint's names).
    pub fn with_entra(mut self, entra: EntraTokens, service_hosts: Vec<String>) -> Self {
        self.entra = entra;
        self.service_hosts = service_hosts;
        self
    }

    /// The mode this verifier enforces.
    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    /// Verifies `token` for a request to `expected` at time `now` (unix seconds, injected so
    /// tests are deterministic) and returns its claims, or exactly why it was refused.
    ///
    /// Strict checks signature, `exp`, `nbf` (5 s leeway each) and `aud`; Relaxed only the
    /// signature; Off nothing, and a missing or undecodable token then yields empty claims.
    pub fn verify(
        &self,
        token: Option<&str>,
        expected: &Audience<'_>,
        now: u64,
    ) -> Result<Claims, AuthError> {
        self.verify_with(token, expected, now, false)
            .map(Arc::unwrap_or_clone)
    }

    /// As [`Verifier::verify`], for a caller that needs only the verdict, not the claims (a
    /// REST call): a token verified before costs no claim copy.
    pub fn check(
        &self,
        token: Option<&str>,
        expected: &Audience<'_>,
        now: u64,
    ) -> Result<(), AuthError> {
        self.verify_with(token, expected, now, false).map(drop)
    }

    /// As [`Verifier::check`], but relaxed mode checks `aud` too: for a route that hands out a
    /// secret (`GET /api/auth/accessKey`), where a client token must not pass for a REST one.
    pub fn check_for_secrets(
        &self,
        token: Option<&str>,
        expected: &Audience<'_>,
        now: u64,
    ) -> Result<(), AuthError> {
        self.verify_with(token, expected, now, true).map(drop)
    }

    fn verify_with(
        &self,
        token: Option<&str>,
        expected: &Audience<'_>,
        now: u64,
        audience_always: bool,
    ) -> Result<Arc<Claims>, AuthError> {
        let token = token.map(str::trim).filter(|t| !t.is_empty());
        if self.mode == AuthMode::Off {
            let payload = token.and_then(token::payload_only).unwrap_or_default();
            return Ok(Arc::new(Claims::from_payload(&payload)));
        }
        let token = token.ok_or(AuthError::MissingToken)?;
        // A cached token is an access-key token (its `alg` is HS*), never an Entra one.
        let verified = match self.verified.get(token) {
            Some(verified) => verified,
            None => {
                if self.entra.enabled()
                    && let Some(header) = entra::header(token)
                {
                    let rules = entra::Rules {
                        service_hosts: &self.service_hosts,
                        check_lifetime: self.mode == AuthMode::Strict,
                        now,
                    };
                    let payload = entra::verify(&self.entra, token, &header, rules)?;
                    return Ok(Arc::new(Claims::from_payload(&payload)));
                }
                let parsed = token::parse(token)?;
                self.check_signature(token, parsed.alg)?;
                let verified = Arc::new(VerifiedToken::new(token, parsed.payload));
                self.verified.insert(token, verified.clone());
                verified
            }
        };
        let payload = &verified.payload;
        if self.mode == AuthMode::Strict {
            lifetime::require_expiry(payload)?;
            lifetime::check(payload, now)?;
            audience::check(payload, expected)?;
        } else if audience_always {
            audience::check(payload, expected)?;
        }
        Ok(verified.claims.clone())
    }

    /// Tries every key: a token signed with the secondary key is as valid as one signed with the
    /// primary, which is what makes key rotation work.
    fn check_signature(&self, token: &str, alg: Algorithm) -> Result<(), AuthError> {
        // jsonwebtoken checks only the signature here; exp/nbf/aud are checked by us afterwards
        // so that each failure gets a precise message.
        let mut validation = Validation::new(alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        for key in &self.keys {
            match jsonwebtoken::decode::<serde::de::IgnoredAny>(token, key, &validation) {
                Ok(_) => return Ok(()),
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => {}
                // `token::parse` already vetted the shape, so this is something subtler, such
                // as a duplicated registered claim or a header field jsonwebtoken cannot read.
                Err(e) => return Err(AuthError::Malformed(e.to_string())),
            }
        }
        Err(AuthError::UnknownKey {
            tried: self.keys.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::issue_token;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::{Value, json};

    const KEY: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH";
    const SECONDARY: &str = "secondary-key-0123456789";
    /// 2025-11-23T10:00:00Z.
    const NOW: u64 = 1_763_892_000;
    const CHAT: Audience<'static> = Audience::Client { hub: "chat" };

    fn verifier(mode: AuthMode) -> Verifier {
        Verifier::new(vec![KEY.to_owned(), SECONDARY.to_owned()], mode)
    }

    fn strict() -> Verifier {
        verifier(AuthMode::Strict)
    }

    fn client_claims(extra: Value) -> Value {
        let mut claims = json!({
            "aud": "http://localhost/client/?hub=chat",
            "exp": NOW + 3600,
            "nbf": NOW,
            "iat": NOW,
        });
        if let (Some(base), Value::Object(extra)) = (claims.as_object_mut(), extra) {
            base.extend(extra);
        }
        claims
    }

    fn sign(alg: Algorithm, key: &str, claims: &Value) -> String {
        jsonwebtoken::encode(
            &Header::new(alg),
            claims,
            &EncodingKey::from_secret(key.as_bytes()),
        )
        .expect("sign")
    }

    fn unsigned(header: &str, claims: &Value) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode("not-a-signature")
        )
    }

    #[test]
    fn accepts_every_hmac_algorithm() {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let t = sign(alg, KEY, &client_claims(json!({"nameid": "u1"})));
            let claims = strict().verify(Some(&t), &CHAT, NOW).expect("valid");
            assert_eq!(claims.user_id.as_deref(), Some("u1"), "{alg:?}");
        }
    }

    #[test]
    fn second_key_works() {
        let t = issue_token(SECONDARY, &client_claims(json!({})));
        assert!(strict().verify(Some(&t), &CHAT, NOW).is_ok());
    }

    #[test]
    fn wrong_key_says_how_many_were_tried() {
        let t = issue_token("some-other-key", &client_claims(json!({})));
        let e = strict().verify(Some(&t), &CHAT, NOW).unwrap_err();
        assert_eq!(e.code(), "Error.Auth.InvalidSignature");
        let text = e.to_string();
        assert!(
            text.contains("unknown key") && text.contains(" 2 "),
            "{text}"
        );
        assert!(!text.contains(KEY) && !text.contains(SECONDARY));
        let none = Verifier::new(vec![], AuthMode::Relaxed).verify(Some(&t), &CHAT, NOW);
        assert!(matches!(none, Err(AuthError::UnknownKey { tried: 0 })));
    }

    #[test]
    fn tampered_payload_fails_signature() {
        let t = issue_token(KEY, &client_claims(json!({"sub": "alice"})));
        let parts: Vec<_> = t.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(client_claims(json!({"sub": "bob"})).to_string());
        let t = format!("{}.{forged}.{}", parts[0], parts[2]);
        let e = verifier(AuthMode::Relaxed)
            .verify(Some(&t), &CHAT, NOW)
            .unwrap_err();
        assert!(matches!(e, AuthError::UnknownKey { tried: 2 }), "{e}");
    }

    #[test]
    fn rejects_none_and_rs256() {
        for (header, alg) in [
            (r#"{"alg":"none"}"#, "none"),
            (r#"{"alg":"RS256","typ":"JWT"}"#, "RS256"),
        ] {
            let t = unsigned(header, &client_claims(json!({})));
            for mode in [AuthMode::Strict, AuthMode::Relaxed] {
                let e = verifier(mode).verify(Some(&t), &CHAT, NOW).unwrap_err();
                assert_eq!(e.code(), "Error.Auth.UnsupportedAlgorithm");
                assert!(e.to_string().contains(&format!("'{alg}'")), "{e}");
            }
        }
        let t = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode("{}")
        );
        assert!(matches!(
            strict().verify(Some(&t), &CHAT, NOW),
            Err(AuthError::UnsupportedAlgorithm(_))
        ));
    }

    #[test]
    fn expired_message_gives_the_times() {
        let t = issue_token(KEY, &client_claims(json!({"exp": NOW - 3600})));
        let e = strict().verify(Some(&t), &CHAT, NOW).unwrap_err();
        assert_eq!(e.code(), "Error.Auth.TokenExpired");
        assert_eq!(
            e.to_string(),
            "The token expired at 2025-11-23T09:00:00Z (unix 1763888400); \
             the server time is 2025-11-23T10:00:00Z."
        );
        // Within the 5 s leeway.
        let t = issue_token(KEY, &client_claims(json!({"exp": NOW - 5})));
        assert!(strict().verify(Some(&t), &CHAT, NOW).is_ok());
    }

    #[test]
    fn not_yet_valid_message_gives_the_times() {
        let t = issue_token(KEY, &client_claims(json!({"nbf": NOW + 60})));
        let e = strict().verify(Some(&t), &CHAT, NOW).unwrap_err();
        assert_eq!(e.code(), "Error.Auth.TokenNotYetValid");
        let text = e.to_string();
        assert!(
            text.contains("2025-11-23T10:01:00Z (unix 1763892060)"),
            "{text}"
        );
        assert!(
            text.contains("server time is 2025-11-23T10:00:00Z"),
            "{text}"
        );
    }

    #[test]
    fn missing_aud_rejected_in_strict() {
        let t = issue_token(KEY, &json!({"exp": NOW + 60}));
        let e = strict().verify(Some(&t), &CHAT, NOW).unwrap_err();
        assert_eq!(e.code(), "Error.Auth.MissingAudience");
        assert!(
            e.to_string().contains("http://localhost/client/?hub=chat"),
            "{e}"
        );
    }

    #[test]
    fn client_audiences() {
        let ok = |aud: &str, hub: &str| {
            let t = issue_token(KEY, &client_claims(json!({"aud": aud})));
            strict().verify(Some(&t), &Audience::Client { hub }, NOW)
        };
        assert!(ok("http://localhost:8888/client/?hub=chat", "chat").is_ok());
        assert!(ok("http://localhost/client/?hub=chat", "chat").is_ok());
        assert!(ok("http://localhost/client?hub=chat", "chat").is_ok());
        assert!(ok("https://localhost/client/?hub=CHAT", "chat").is_ok());
        assert!(ok("http://localhost/client/?hub=app_chat", "app_chat").is_ok());
        let e = ok("http://localhost/client/?hub=other", "chat").unwrap_err();
        assert_eq!(e.code(), "Error.Auth.AudienceMismatch");
        assert!(e.to_string().contains("'/client/?hub=other'"), "{e}");
    }

    #[test]
    fn rest_audiences() {
        let path = "/api/v1/hubs/Chat/users/u%201";
        let rest = Audience::Rest { path };
        let with = |aud: &str| {
            let t = issue_token(KEY, &json!({"aud": aud, "exp": NOW + 60}));
            strict().verify(Some(&t), &rest, NOW)
        };
        assert!(
            with("http://localhost/api/v1/hubs/chat/users/u%201?api-version=2022-06-01").is_ok()
        );
        assert!(with("http://localhost:8888/api/v1/hubs/CHAT/users/u%201/").is_ok());
        let e = with("http://localhost/api/v1/hubs/chat/users/u2").unwrap_err();
        assert_eq!(
            e.to_string(),
            "The token audience path '/api/v1/hubs/chat/users/u2' does not match the requested \
             '/api/v1/hubs/Chat/users/u%201' (scheme, host and port are ignored)"
        );
    }

    #[test]
    fn relaxed_accepts_expired_and_wrong_audience() {
        let t = issue_token(
            KEY,
            &json!({"aud": "http://x/client/?hub=other", "exp": 1, "nbf": NOW + 999, "sub": "s"}),
        );
        let claims = verifier(AuthMode::Relaxed)
            .verify(Some(&t), &CHAT, NOW)
            .expect("relaxed");
        assert_eq!(claims.user_id.as_deref(), Some("s"));
        assert!(strict().verify(Some(&t), &CHAT, NOW).is_err());
        let e = verifier(AuthMode::Relaxed)
            .verify(None, &CHAT, NOW)
            .unwrap_err();
        assert_eq!(e.code(), "Error.Auth.MissingToken");
    }

    #[test]
    fn off_mode() {
        let off = verifier(AuthMode::Off);
        assert_eq!(
            off.verify(None, &CHAT, NOW).expect("off"),
            Claims::default()
        );
        assert_eq!(
            off.verify(Some("garbage"), &CHAT, NOW).expect("off"),
            Claims::default()
        );
        let t = issue_token("unknown", &json!({"asrs.s.uid": "u", "exp": 1}));
        let claims = off.verify(Some(&t), &CHAT, NOW).expect("off");
        assert_eq!(claims.user_id.as_deref(), Some("u"));
        assert_eq!(off.mode(), AuthMode::Off);
    }

    #[test]
    fn missing_token_in_strict() {
        for token in [None, Some(""), Some("  ")] {
            let e = strict().verify(token, &CHAT, NOW).unwrap_err();
            assert!(matches!(e, AuthError::MissingToken), "{e}");
        }
    }

    #[test]
    fn claims_are_returned_in_token_order() {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(
            r#"{"sub":"s","role":["a","b"],"aud":"http://h/client/?hub=chat","exp":1763895600}"#,
        );
        let message = format!("{header}.{payload}");
        let signature = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &EncodingKey::from_secret(KEY.as_bytes()),
            Algorithm::HS256,
        )
        .expect("sign");
        let t = format!("{message}.{signature}");
        let claims = strict().verify(Some(&t), &CHAT, NOW).expect("valid");
        let names: Vec<_> = claims
            .claims
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(
            names,
            [
                "sub=s",
                "role=a",
                "role=b",
                "aud=http://h/client/?hub=chat",
                "exp=1763895600"
            ]
        );
    }

    #[test]
    fn duplicated_registered_claim_is_malformed_not_a_panic() {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#);
        let payload = URL_SAFE_NO_PAD.encode(r#"{"exp":1,"exp":2}"#);
        let message = format!("{header}.{payload}");
        let signature = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &EncodingKey::from_secret(KEY.as_bytes()),
            Algorithm::HS256,
        )
        .expect("sign");
        let e = strict()
            .verify(Some(&format!("{message}.{signature}")), &CHAT, NOW)
            .unwrap_err();
        assert_eq!(e.code(), "Error.Auth.MalformedToken");
    }

    #[test]
    fn mutated_tokens_never_panic() {
        // A cheap deterministic fuzz: every single-character corruption and every truncation of
        // a valid token, through every mode and both audience kinds.
        let t = issue_token(KEY, &client_claims(json!({"role": ["a", "b"], "sub": "s"})));
        let verifiers = [
            strict(),
            verifier(AuthMode::Relaxed),
            verifier(AuthMode::Off),
        ];
        let rest = Audience::Rest {
            path: "/api/hubs/chat/:send",
        };
        let mut inputs: Vec<String> = (0..t.len()).map(|i| t[..i].to_owned()).collect();
        for i in 0..t.len() {
            for c in ['.', 'A', '_', '%', '='] {
                let mut s = t.clone();
                s.replace_range(i..=i, &c.to_string());
                inputs.push(s);
            }
        }
        for input in &inputs {
            for v in &verifiers {
                let _ = v.verify(Some(input), &CHAT, NOW);
                let _ = v.verify(Some(input), &rest, u64::MAX);
            }
        }
    }

    #[test]
    fn debug_hides_keys() {
        let text = format!("{:?}", strict());
        assert!(
            !text.contains(KEY) && text.contains("2 access key(s)"),
            "{text}"
        );
    }

    #[test]
    fn a_verified_token_still_meets_exp_and_nbf_on_every_use() {
        let v = strict();
        let t = issue_token(KEY, &client_claims(json!({"nbf": NOW + 60})));
        let e = v.verify(Some(&t), &CHAT, NOW).unwrap_err();
        assert_eq!(e.code(), "Error.Auth.TokenNotYetValid");
        assert!(v.verify(Some(&t), &CHAT, NOW + 60).is_ok());
        // The hit of the same bytes is judged against its own time, both ways.
        assert!(v.verify(Some(&t), &CHAT, NOW).is_err());
        assert!(v.verify(Some(&t), &CHAT, NOW + 3605).is_ok());
        let e = v.verify(Some(&t), &CHAT, NOW + 3606).unwrap_err();
        assert_eq!(e.code(), "Error.Auth.TokenExpired");
    }

    #[test]
    fn a_verified_token_still_meets_the_audience_of_each_request() {
        let v = strict();
        let t = issue_token(KEY, &client_claims(json!({})));
        assert!(v.check(Some(&t), &CHAT, NOW).is_ok());
        let other = Audience::Client { hub: "other" };
        let e = v.check(Some(&t), &other, NOW).unwrap_err();
        assert_eq!(e.code(), "Error.Auth.AudienceMismatch");
        let relaxed = verifier(AuthMode::Relaxed);
        assert!(relaxed.check(Some(&t), &other, NOW).is_ok());
        assert!(relaxed.check_for_secrets(Some(&t), &other, NOW).is_err());
    }

    #[test]
    fn a_refused_token_is_refused_every_time() {
        let v = strict();
        let good = issue_token(KEY, &client_claims(json!({"sub": "alice"})));
        assert!(v.verify(Some(&good), &CHAT, NOW).is_ok());
        let forged = issue_token("some-other-key", &client_claims(json!({"sub": "alice"})));
        for _ in 0..2 {
            let e = v.verify(Some(&forged), &CHAT, NOW).unwrap_err();
            assert!(matches!(e, AuthError::UnknownKey { tried: 2 }), "{e}");
        }
        // One byte off a cached token is another key in the cache, verified afresh.
        let mut tampered = good.clone();
        let last = tampered.pop().expect("not empty");
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(v.verify(Some(&tampered), &CHAT, NOW).is_err());
        // The claims of a hit are the token's own.
        let claims = v.verify(Some(&good), &CHAT, NOW).expect("valid");
        assert_eq!(claims.user_id.as_deref(), Some("alice"));
    }
}
