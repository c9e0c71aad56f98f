//! What an accepted token says about its bearer: the user id and the flat claim list.

use serde_json::Value;

/// The identity carried by an accepted token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    /// The user id: the first non-empty `asrs.s.uid`, else `nameid`, else `sub`; `None` means an
    /// anonymous connection.
    pub user_id: Option<String>,
    /// Every claim as (type, value) in token order. An array contributes one pair per element;
    /// numbers and booleans are stringified, `null` is empty and nested objects are compact JSON,
    /// which is how the service renders claims for upstream (`X-ASRS-User-Claims`).
    pub claims: Vec<(String, String)>,
}

/// Claim types that name the user, highest priority first. `asrs.s.uid` is what the SDKs,
/// Management SDK and Functions emit; `nameid` and `sub` both map to .NET's NameIdentifier.
const USER_ID_CLAIMS: [&str; 3] = ["asrs.s.uid", "nameid", "sub"];

/// Set to `true` by the SDK when the app asks for `CloseOnAuthenticationExpiration`.
const CLOSE_ON_AUTH_EXPIRY: &str = "asrs.s.coae";
/// When the app's authentication expires, unix seconds; the token's `exp` when absent.
const AUTH_EXPIRES_ON: &str = "asrs.s.aeo";

impl Claims {
    /// Builds the claims from a decoded payload (members in token order).
    pub(super) fn from_payload(payload: &[(String, Value)]) -> Self {
        let mut claims = Vec::with_capacity(payload.len());
        for (name, value) in payload {
            match value {
                Value::Array(items) => {
                    claims.extend(items.iter().map(|item| (name.clone(), claim_text(item))));
                }
                other => claims.push((name.clone(), claim_text(other))),
            }
        }
        let user_id = USER_ID_CLAIMS.iter().find_map(|wanted| {
            claims
                .iter()
                .find(|(name, value)| name == wanted && !value.is_empty())
                .map(|(_, value)| value.clone())
        });
        Self { user_id, claims }
    }

    /// When the connection must be closed because its authentication expired (unix seconds):
    /// `asrs.s.aeo`, else `exp`, when the token carries `asrs.s.coae=true`; `None` otherwise.
    pub fn close_on_auth_expiry(&self) -> Option<i64> {
        let value = |name: &str| {
            self.claims
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        if !value(CLOSE_ON_AUTH_EXPIRY).is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return None;
        }
        let seconds = |text: &str| {
            text.parse::<i64>()
                .ok()
                .or_else(|| text.parse::<f64>().ok().map(|f| f.floor() as i64))
        };
        value(AUTH_EXPIRES_ON)
            .and_then(seconds)
            .or_else(|| value("exp").and_then(seconds))
    }
}

fn claim_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        // Numbers, booleans, nested arrays and objects: their compact JSON text.
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn members(v: Value) -> Vec<(String, Value)> {
        match v {
            Value::Object(m) => m.into_iter().collect(),
            _ => panic!("test payload must be an object"),
        }
    }

    fn user_id(v: Value) -> Option<String> {
        Claims::from_payload(&members(v)).user_id
    }

    #[test]
    fn user_id_precedence() {
        let all = json!({"sub": "s", "nameid": "n", "asrs.s.uid": "u"});
        assert_eq!(user_id(all).as_deref(), Some("u"));
        assert_eq!(
            user_id(json!({"sub": "s", "nameid": "n"})).as_deref(),
            Some("n")
        );
        assert_eq!(user_id(json!({"sub": "s"})).as_deref(), Some("s"));
        assert_eq!(user_id(json!({"aud": "x"})), None);
    }

    #[test]
    fn close_on_auth_expiry_prefers_aeo_then_exp() {
        let expiry = |v: Value| Claims::from_payload(&members(v)).close_on_auth_expiry();
        assert_eq!(
            expiry(json!({"asrs.s.coae": "true", "asrs.s.aeo": "100", "exp": 200})),
            Some(100)
        );
        assert_eq!(
            expiry(json!({"asrs.s.coae": "True", "exp": 200})),
            Some(200)
        );
        assert_eq!(
            expiry(json!({"asrs.s.coae": "false", "asrs.s.aeo": "100"})),
            None
        );
        assert_eq!(expiry(json!({"asrs.s.aeo": "100", "exp": 200})), None);
        assert_eq!(expiry(json!({"asrs.s.coae": "true"})), None);
    }

    #[test]
    fn empty_user_ids_fall_through() {
        let v = json!({"asrs.s.uid": "", "nameid": ["", "n2"], "sub": "s"});
        assert_eq!(user_id(v).as_deref(), Some("n2"));
        assert_eq!(
            user_id(json!({"asrs.s.uid": null, "sub": 42})).as_deref(),
            Some("42")
        );
    }

    #[test]
    fn flattening_keeps_order_and_splits_arrays() {
        let payload = vec![
            ("role".to_owned(), json!(["admin", "reader"])),
            ("n".to_owned(), json!(3)),
            ("ok".to_owned(), json!(true)),
            ("obj".to_owned(), json!({"a": [1, 2]})),
            ("none".to_owned(), Value::Null),
            ("nested".to_owned(), json!([[1], {"b": "c"}])),
        ];
        let claims = Claims::from_payload(&payload).claims;
        let expected = [
            ("role", "admin"),
            ("role", "reader"),
            ("n", "3"),
            ("ok", "true"),
            ("obj", r#"{"a":[1,2]}"#),
            ("none", ""),
            ("nested", "[1]"),
            ("nested", r#"{"b":"c"}"#),
        ];
        let got: Vec<_> = claims
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(got, expected);
    }
}
