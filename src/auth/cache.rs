//! The verified-token cache: a token whose shape and signature were checked once is not decoded
//! and HMAC'd again on the next request that carries it (a REST caller's every call, a client's
//! negotiate and then its WebSocket upgrade).
//!
//! Only tokens that passed those checks are kept, so a failure is never remembered as a success;
//! the key is the token's exact text, so a hit proves that these bytes were verified with this
//! verifier's keys. What depends on the request or the clock (`exp`, `nbf`, `aud`) is not
//! cached: it is checked on every use, from the cached payload. The cache is bounded by the
//! bytes it holds and evicts the least useful entries when full.

use std::sync::Arc;

use quick_cache::Weighter;
use quick_cache::sync::Cache;
use serde_json::Value;

use super::claims::Claims;

/// Weight the cache may hold: about 4 MB of token text and decoded claims, some 4,000 tokens of
/// the size the SDKs issue.
const CAPACITY: u64 = 4 * 1024 * 1024;
/// Tokens a full cache is expected to hold, for sizing its tables.
const EXPECTED_TOKENS: usize = 4096;
/// Weight counted per entry on top of its text: the map slot, the `Arc`s and vector headers.
const ENTRY_OVERHEAD: u64 = 256;

/// What a verified token decoded to.
#[derive(Debug)]
pub(super) struct VerifiedToken {
    /// The payload's members in token order, for the per-request `exp`, `nbf` and `aud` checks.
    pub(super) payload: Vec<(String, Value)>,
    /// The claims built from the payload, once.
    pub(super) claims: Arc<Claims>,
    weight: u64,
}

impl VerifiedToken {
    /// The decoded form of `token`, whose payload is `payload`.
    pub(super) fn new(token: &str, payload: Vec<(String, Value)>) -> Self {
        let claims = Arc::new(Claims::from_payload(&payload));
        // The payload and the claims each hold about the decoded text of the token, which is
        // shorter than the token itself.
        let weight = 3 * token.len() as u64 + ENTRY_OVERHEAD;
        VerifiedToken {
            payload,
            claims,
            weight,
        }
    }
}

#[derive(Debug, Clone)]
struct ByWeight;

impl Weighter<Box<str>, Arc<VerifiedToken>> for ByWeight {
    fn weight(&self, _: &Box<str>, token: &Arc<VerifiedToken>) -> u64 {
        token.weight
    }
}

/// Tokens that passed the shape and signature checks, by their text.
#[derive(Debug)]
pub(super) struct VerifiedTokens {
    cache: Cache<Box<str>, Arc<VerifiedToken>, ByWeight>,
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        VerifiedTokens {
            cache: Cache::with_weighter(EXPECTED_TOKENS, CAPACITY, ByWeight),
        }
    }
}

impl VerifiedTokens {
    /// The decoded form of `token`, if it was verified before and is still kept.
    pub(super) fn get(&self, token: &str) -> Option<Arc<VerifiedToken>> {
        self.cache.get(token)
    }

    /// Remembers a token that passed the shape and signature checks.
    pub(super) fn insert(&self, token: &str, verified: Arc<VerifiedToken>) {
        self.cache.insert(token.into(), verified);
    }

    #[cfg(test)]
    pub(super) fn weight(&self) -> u64 {
        self.cache.weight()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_what_was_inserted_and_stays_within_its_capacity() {
        let tokens = VerifiedTokens::default();
        let payload = || vec![("sub".to_owned(), Value::from("u"))];
        tokens.insert("a.b.c", Arc::new(VerifiedToken::new("a.b.c", payload())));
        let hit = tokens.get("a.b.c").expect("kept");
        assert_eq!(hit.claims.user_id.as_deref(), Some("u"));
        assert!(tokens.get("a.b.d").is_none());
        let long = "x".repeat(16 * 1024);
        for i in 0..1000 {
            let token = format!("{long}{i}");
            tokens.insert(&token, Arc::new(VerifiedToken::new(&token, payload())));
        }
        assert!(tokens.weight() <= CAPACITY, "{}", tokens.weight());
    }
}
