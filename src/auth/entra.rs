//! Microsoft Entra ID bearer tokens, accepted only when the operator opts in.
//!
//! SDKs configured with `DefaultAzureCredential` send an RS256 (or ES256) token from Entra ID
//! whose audience is `https://signalr.azure.com` (or the resource endpoint). An emulator cannot
//! reach Entra's signing keys offline, so there are two opt-ins: [`EntraTokens::Unvalidated`]
//! (`--allow-unvalidated-entra-tokens`) trusts the token's claims without its signature, as
//! Microsoft's Web PubSub emulator does, and logs every such acceptance; [`EntraTokens::Jwks`]
//! (`--entra-jwks FILE`) verifies the signature against a JWKS file, e.g. a test identity
//! provider's in CI. The audience must always name the service; `exp`/`nbf` follow the mode.

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::audience::audiences;
use super::error::{AuthError, printable};
use super::{lifetime, token};

/// The audience Entra ID puts in tokens for the `https://signalr.azure.com/.default` scope.
pub const ENTRA_AUDIENCE: &str = "https://signalr.azure.com";

/// Whether, and how, Entra ID tokens are accepted.
#[derive(Debug, Clone, Default)]
pub enum EntraTokens {
    /// Refused: only access-key (HMAC) tokens are valid. The default.
    #[default]
    Refused,
    /// Accepted without checking the signature (`--allow-unvalidated-entra-tokens`).
    Unvalidated,
    /// Accepted when signed by a key of this set (`--entra-jwks`).
    Jwks(Arc<JwkSet>),
}

impl EntraTokens {
    /// Reads a JWKS file (`{"keys": [...]}`); the error names the file and what is wrong.
    pub fn from_jwks_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read(path)
            .map_err(|err| format!("--entra-jwks: cannot read '{}': {err}", path.display()))?;
        let set: JwkSet = serde_json::from_slice(&text).map_err(|err| {
            format!(
                "--entra-jwks: '{}' is not a JWKS document ({{\"keys\": [...]}}): {err}",
                path.display()
            )
        })?;
        if let Some(bad) = set
            .keys
            .iter()
            .find_map(|jwk| DecodingKey::from_jwk(jwk).err())
        {
            return Err(format!(
                "--entra-jwks: '{}' holds a key that cannot verify signatures: {bad}",
                path.display()
            ));
        }
        if set.keys.is_empty() {
            return Err(format!("--entra-jwks: '{}' holds no keys", path.display()));
        }
        Ok(EntraTokens::Jwks(Arc::new(set)))
    }

    /// Whether Entra tokens are accepted at all.
    pub fn enabled(&self) -> bool {
        !matches!(self, EntraTokens::Refused)
    }
}

/// The header fields that route a token to Entra verification.
#[derive(Debug)]
pub(super) struct EntraHeader {
    alg: Algorithm,
    kid: Option<String>,
}

/// `Some` when `token`'s header asks for RS256 or ES256, the algorithms Entra ID signs with.
pub(super) fn header(token: &str) -> Option<EntraHeader> {
    let encoded = token.split('.').next()?;
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).ok()?).ok()?;
    let alg = match header.get("alg")?.as_str()? {
        "RS256" => Algorithm::RS256,
        "ES256" => Algorithm::ES256,
        _ => return None,
    };
    let kid = header.get("kid").and_then(Value::as_str).map(str::to_owned);
    Some(EntraHeader { alg, kid })
}

/// What an Entra token must satisfy besides its signature.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rules<'a> {
    /// Hosts that name this service in `aud`, lowercase (e.g. `localhost`, the public host).
    pub(super) service_hosts: &'a [String],
    /// Whether `exp` and `nbf` are checked (strict mode).
    pub(super) check_lifetime: bool,
    /// Unix seconds.
    pub(super) now: u64,
}

/// Verifies an Entra token under `tokens` and returns its payload, or why it was refused.
pub(super) fn verify(
    tokens: &EntraTokens,
    jwt: &str,
    header: &EntraHeader,
    rules: Rules<'_>,
) -> Result<Vec<(String, Value)>, AuthError> {
    token::check_length(jwt)?;
    let mut parts = jwt.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed(
            "a JWT has 3 dot-separated parts (header.payload.signature)".into(),
        ));
    };
    let payload = token::decode_payload(payload)?;
    match tokens {
        EntraTokens::Refused => {
            return Err(AuthError::UnsupportedAlgorithm(format!("{:?}", header.alg)));
        }
        EntraTokens::Unvalidated => {}
        EntraTokens::Jwks(set) => check_signature(set, jwt, header)?,
    }
    check_audience(&payload, rules.service_hosts)?;
    if rules.check_lifetime {
        lifetime::check(&payload, rules.now)?;
    }
    if matches!(tokens, EntraTokens::Unvalidated) {
        tracing::warn!(
            subject = claim(&payload, "oid")
                .or(claim(&payload, "sub"))
                .unwrap_or("-"),
            app = claim(&payload, "appid")
                .or(claim(&payload, "azp"))
                .unwrap_or("-"),
            "accepted a Microsoft Entra ID token WITHOUT checking its signature (--allow-unvalidated-entra-tokens)"
        );
    }
    Ok(payload)
}

/// Tries the key named by `kid` (every key of the algorithm's family when there is no `kid`).
fn check_signature(set: &JwkSet, jwt: &str, header: &EntraHeader) -> Result<(), AuthError> {
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let candidates = set.keys.iter().filter(|jwk| match &header.kid {
        Some(kid) => jwk.common.key_id.as_deref() == Some(kid.as_str()),
        None => true,
    });
    let mut tried = 0;
    for jwk in candidates {
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        tried += 1;
        if jsonwebtoken::decode::<serde::de::IgnoredAny>(jwt, &key, &validation).is_ok() {
            return Ok(());
        }
    }
    Err(AuthError::EntraSignature {
        kid: header.kid.as_deref().map(|kid| printable(kid, 64)),
        tried,
    })
}

/// `aud` must be `https://signalr.azure.com` or a URL whose host names this service.
fn check_audience(payload: &[(String, Value)], service_hosts: &[String]) -> Result<(), AuthError> {
    let found = audiences(payload)?;
    let accepted = |aud: &str| {
        let aud = aud.trim_end_matches('/');
        aud.eq_ignore_ascii_case(ENTRA_AUDIENCE)
            || reqwest::Url::parse(aud).is_ok_and(|url| {
                matches!(url.scheme(), "http" | "https")
                    && url.host_str().is_some_and(|host| {
                        let host = host.trim_start_matches('[').trim_end_matches(']');
                        service_hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
                    })
            })
    };
    if found.iter().any(|aud| accepted(aud)) {
        return Ok(());
    }
    Err(AuthError::EntraAudience {
        found: found
            .iter()
            .take(5)
            .map(|aud| printable(aud, 200))
            .collect(),
    })
}

fn claim<'a>(payload: &'a [(String, Value)], name: &str) -> Option<&'a str> {
    payload
        .iter()
        .find(|(key, _)| key == name)
        .and_then(|(_, value)| value.as_str())
}
