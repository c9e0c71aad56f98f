//! The JWT wire format: splitting and decoding a compact token, and signing new ones.
//!
//! Decoding here is structural only (no signature, no claim checks); it exists so that every way a
//! token can be malformed gets its own message, and so the payload keeps its claim order.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::error::{AuthError, printable};

/// Longest token we look at. The SDKs refuse to produce more than 4 KB; the cap bounds the work a
/// hostile client can make us do (decoding, one HMAC per key).
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// A token whose three parts decoded and whose algorithm we accept. Signature not yet checked.
#[derive(Debug)]
pub(super) struct ParsedToken {
    /// The header's `alg`, one of HS256/HS384/HS512.
    pub(super) alg: Algorithm,
    /// The payload's members in token order (duplicates kept).
    pub(super) payload: Vec<(String, Value)>,
}

/// Decodes a compact JWT far enough to verify it, with a precise reason when it is malformed.
pub(super) fn parse(token: &str) -> Result<ParsedToken, AuthError> {
    check_length(token)?;
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        let count = token.split('.').count();
        return Err(AuthError::Malformed(format!(
            "it has {count} dot-separated part(s); a JWT has 3 (header.payload.signature)"
        )));
    };
    let alg = header_alg(header)?;
    let payload = decode_payload(payload)?;
    // Checked here rather than left to jsonwebtoken so bad base64 is reported as such, once,
    // instead of as a failed signature for every key.
    URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|e| AuthError::Malformed(format!("its signature is not valid base64url ({e})")))?;
    Ok(ParsedToken { alg, payload })
}

/// The payload of a token without any other check, for `--auth off`, where a token only serves to
/// carry the user id and claims. `None` when there is no decodable payload.
pub(super) fn payload_only(token: &str) -> Option<Vec<(String, Value)>> {
    check_length(token).ok()?;
    decode_payload(token.split('.').nth(1)?).ok()
}

/// Signs `claims` (a JSON object) as an HS256 JWT keyed with the UTF-8 bytes of `key`, the way the
/// Azure SignalR SDKs do. Used by tests and by the REST `:generateToken` operation.
pub fn issue_token(key: &str, claims: &Value) -> String {
    // An HMAC key accepts any byte length and a `Value` always serializes, so encoding cannot
    // fail; the only error paths in `encode` are algorithm/key-family mismatches we cannot hit.
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(key.as_bytes()),
    )
    .expect("HS256 signing with an HMAC key cannot fail")
}

pub(super) fn check_length(token: &str) -> Result<(), AuthError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::Malformed(format!(
            "it is {} bytes long; the limit is {MAX_TOKEN_BYTES}",
            token.len()
        )));
    }
    Ok(())
}

/// Reads `alg` ourselves rather than through jsonwebtoken's `Header`, which cannot represent
/// `none` or unknown algorithms and would hide which algorithm was refused.
fn header_alg(encoded: &str) -> Result<Algorithm, AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|e| AuthError::Malformed(format!("its header is not valid base64url ({e})")))?;
    let header: Value = serde_json::from_slice(&bytes)
        .map_err(|e| AuthError::Malformed(format!("its header is not valid JSON ({e})")))?;
    let Some(alg) = header.get("alg").and_then(Value::as_str) else {
        return Err(AuthError::Malformed(
            "its header has no 'alg' string".to_owned(),
        ));
    };
    match alg {
        "HS256" => Ok(Algorithm::HS256),
        "HS384" => Ok(Algorithm::HS384),
        "HS512" => Ok(Algorithm::HS512),
        other => Err(AuthError::UnsupportedAlgorithm(printable(other, 32))),
    }
}

pub(super) fn decode_payload(encoded: &str) -> Result<Vec<(String, Value)>, AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|e| AuthError::Malformed(format!("its payload is not valid base64url ({e})")))?;
    // serde_json's recursion limit keeps deeply nested payloads from exhausting the stack.
    match serde_json::from_slice::<OrderedObject>(&bytes) {
        Ok(OrderedObject(members)) => Ok(members),
        Err(e) if e.classify() == serde_json::error::Category::Data => Err(AuthError::Malformed(
            "its payload is not a JSON object".to_owned(),
        )),
        Err(e) => Err(AuthError::Malformed(format!(
            "its payload is not valid JSON ({e})"
        ))),
    }
}

/// A JSON object read as an ordered list of members. `serde_json::Map` sorts keys unless the
/// `preserve_order` feature is on, and the claim list must keep the token's order.
struct OrderedObject(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for OrderedObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;

        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = OrderedObject;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedObject, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, Value>()? {
                    members.push(member);
                }
                Ok(OrderedObject(members))
            }
        }

        deserializer.deserialize_map(MembersVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn malformed(token: &str) -> String {
        match parse(token) {
            Err(AuthError::Malformed(m)) => m,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn issued_token_parses_in_order() {
        let t = issue_token("k", &json!({"sub": "a", "aud": "b"}));
        let parsed = parse(&t).expect("parses");
        assert_eq!(parsed.alg, Algorithm::HS256);
        let h = b64(r#"{"alg":"HS256"}"#);
        let p = b64(r#"{"z":1,"a":2,"z":3}"#);
        let keys: Vec<_> = parse(&format!("{h}.{p}.")).expect("parses").payload;
        let keys: Vec<_> = keys.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["z", "a", "z"]);
    }

    #[test]
    fn malformed_shapes_have_reasons() {
        let h = b64(r#"{"alg":"HS256"}"#);
        let p = b64(r#"{"sub":"x"}"#);
        assert!(malformed("abc").contains("1 dot-separated part"));
        assert!(malformed("a.b.c.d").contains("4 dot-separated part"));
        assert!(malformed(&format!("!!.{p}.")).contains("header is not valid base64url"));
        assert!(malformed(&format!("{}.{p}.", b64("nope"))).contains("header is not valid JSON"));
        assert!(malformed(&format!("{}.{p}.", b64("{}"))).contains("no 'alg'"));
        assert!(malformed(&format!("{h}.***.")).contains("payload is not valid base64url"));
        assert!(malformed(&format!("{h}.{}.", b64("{"))).contains("payload is not valid JSON"));
        assert!(malformed(&format!("{h}.{}.", b64("[1]"))).contains("not a JSON object"));
        assert!(malformed(&format!("{h}.{}.", b64("\"s\""))).contains("not a JSON object"));
        assert!(malformed(&format!("{h}.{p}.a+b/")).contains("signature is not valid"));
        assert!(malformed(&"a".repeat(MAX_TOKEN_BYTES + 1)).contains("limit"));
    }

    #[test]
    fn unsupported_algorithm_is_named() {
        let p = b64("{}");
        for alg in ["none", "RS256", "hs256"] {
            let t = format!("{}.{p}.", b64(&format!(r#"{{"alg":"{alg}"}}"#)));
            match parse(&t) {
                Err(AuthError::UnsupportedAlgorithm(a)) => assert_eq!(a, alg),
                other => panic!("{alg}: {other:?}"),
            }
        }
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let deep_obj = format!(r#"{{"a":{deep}}}"#);
        let h = b64(r#"{"alg":"HS256"}"#);
        for input in [
            String::new(),
            ".".into(),
            "..".into(),
            "...".into(),
            "\u{0}.\u{0}.\u{0}".into(),
            "é.é.é".into(),
            format!("{h}.{}.", b64(&deep_obj)),
            format!("{}.e30.", b64(&deep)),
            format!("{h}.{}.", URL_SAFE_NO_PAD.encode([0xff, 0xfe, 0x7b])),
        ] {
            let _ = parse(&input);
            let _ = payload_only(&input);
        }
    }

    #[test]
    fn payload_only_ignores_header_and_signature() {
        let t = format!("garbage.{}.garbage", b64(r#"{"sub":"u"}"#));
        assert_eq!(payload_only(&t), Some(vec![("sub".to_owned(), json!("u"))]));
        assert_eq!(payload_only("no-dots"), None);
    }
}
