//! `exp`/`nbf` checks and the UTC timestamps their error messages show.

use serde_json::Value;

use super::error::AuthError;

/// Clock skew tolerated on `exp` and `nbf`, in seconds: enough for a laptop and a container whose
/// clocks drift slightly, too little to hide a genuinely stale token.
const LEEWAY_SECS: i128 = 5;

/// Checks `exp` and `nbf`, each only when present, against `now` (unix seconds).
pub(super) fn check(payload: &[(String, Value)], now: u64) -> Result<(), AuthError> {
    let now_i64 = i64::try_from(now).unwrap_or(i64::MAX);
    if let Some(exp) = numeric_date(payload, "exp")?
        && i128::from(now) > i128::from(exp) + LEEWAY_SECS
    {
        return Err(AuthError::Expired { exp, now: now_i64 });
    }
    if let Some(nbf) = numeric_date(payload, "nbf")?
        && i128::from(nbf) > i128::from(now) + LEEWAY_SECS
    {
        return Err(AuthError::NotYetValid { nbf, now: now_i64 });
    }
    Ok(())
}

/// Checks that the token has an `exp` at all, as strict mode requires.
pub(super) fn require_expiry(payload: &[(String, Value)]) -> Result<(), AuthError> {
    match numeric_date(payload, "exp")? {
        Some(_) => Ok(()),
        None => Err(AuthError::MissingExpiry),
    }
}

/// Reads a JWT NumericDate claim. Fractions are allowed by RFC 7519 and are truncated toward the
/// past; out-of-range values saturate rather than wrap so they still compare sensibly.
fn numeric_date(payload: &[(String, Value)], name: &str) -> Result<Option<i64>, AuthError> {
    let Some((_, value)) = payload.iter().find(|(k, _)| k == name) else {
        return Ok(None);
    };
    let seconds = match value {
        Value::Null => return Ok(None),
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_u64().map(|_| i64::MAX))
            // `as` saturates for finite floats; JSON cannot carry NaN or infinity.
            .or_else(|| n.as_f64().map(|f| f.floor() as i64)),
        _ => None,
    };
    match seconds {
        Some(s) => Ok(Some(s)),
        None => Err(AuthError::Malformed(format!(
            "its '{name}' claim is not a number of seconds since 1970-01-01T00:00:00Z"
        ))),
    }
}

/// Formats unix seconds as ISO-8601 UTC (`2025-11-23T10:00:00Z`), proleptic Gregorian calendar.
pub fn iso8601(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's `civil_from_days`. Every step
/// stays far inside i64 for any i64 day count derived from seconds, so it cannot overflow.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era, [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1st, [0, 365]
    let mp = (5 * doy + 2) / 153; // month from March, [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The current time in Unix seconds, the `now` that [`crate::auth::Verifier::verify`] expects.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payload(v: Value) -> Vec<(String, Value)> {
        match v {
            Value::Object(m) => m.into_iter().collect(),
            _ => panic!("test payload must be an object"),
        }
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(1_763_892_000), "2025-11-23T10:00:00Z");
        assert_eq!(iso8601(1_795_428_005), "2026-11-23T10:00:05Z");
        assert_eq!(iso8601(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn extreme_values_do_not_panic() {
        for t in [i64::MIN, i64::MAX, i64::MIN + 1, -86_400 * 800_000] {
            assert!(!iso8601(t).is_empty());
        }
    }

    #[test]
    fn leeway_applies_both_ways() {
        assert!(check(&payload(json!({"exp": 100})), 105).is_ok());
        assert!(matches!(
            check(&payload(json!({"exp": 100})), 106),
            Err(AuthError::Expired { exp: 100, now: 106 })
        ));
        assert!(check(&payload(json!({"nbf": 105})), 100).is_ok());
        assert!(matches!(
            check(&payload(json!({"nbf": 106})), 100),
            Err(AuthError::NotYetValid { nbf: 106, now: 100 })
        ));
        assert!(check(&payload(json!({})), u64::MAX).is_ok());
    }

    #[test]
    fn an_expiry_is_required_when_asked_for() {
        assert!(require_expiry(&payload(json!({"exp": 100}))).is_ok());
        for claims in [json!({}), json!({"exp": null}), json!({"nbf": 1})] {
            assert!(matches!(
                require_expiry(&payload(claims)),
                Err(AuthError::MissingExpiry)
            ));
        }
        assert!(matches!(
            require_expiry(&payload(json!({"exp": "soon"}))),
            Err(AuthError::Malformed(_))
        ));
    }

    #[test]
    fn odd_numeric_dates() {
        assert!(check(&payload(json!({"exp": 1e300})), 2_000_000_000).is_ok());
        assert!(check(&payload(json!({"exp": u64::MAX})), 2_000_000_000).is_ok());
        assert!(check(&payload(json!({"exp": -5})), 1).is_err());
        assert!(check(&payload(json!({"exp": 100.9})), 105).is_ok());
        assert!(check(&payload(json!({"exp": null})), 1).is_ok());
        let e = check(&payload(json!({"nbf": "soon"})), 1).unwrap_err();
        assert!(matches!(e, AuthError::Malformed(_)), "{e}");
    }
}
