//! Why a token was rejected, worded for the person reading the 401 body.

use super::lifetime::iso8601;

/// Why a request's access token was rejected.
///
/// Every message says exactly what was wrong, because an opaque 401 is the most common support
/// question; [`AuthError::code`] gives the stable machine-readable code for the `ErrorDetail` body.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No token in the `Authorization` header nor in the `access_token` query parameter.
    #[error(
        "No access token was sent; send it in an 'Authorization: Bearer <token>' header \
         or in an 'access_token' query parameter"
    )]
    MissingToken,
    /// The token is not a well-formed JWT; the text says which part is broken.
    #[error("The token is malformed: {0}")]
    Malformed(String),
    /// The header's `alg` is not an HMAC algorithm we accept (the value, shortened and escaped).
    #[error(
        "The token algorithm '{0}' is not supported; sign tokens with HS256, HS384 or HS512 \
         using an access key"
    )]
    UnsupportedAlgorithm(String),
    /// The signature matched none of the configured access keys.
    #[error(
        "The token is signed with an unknown key: its signature matched none of the {tried} \
         configured access key(s)"
    )]
    UnknownKey {
        /// How many keys were tried (never the keys themselves).
        tried: usize,
    },
    /// `exp` is in the past (beyond the clock-skew leeway).
    #[error(
        "The token expired at {} (unix {exp}); the server time is {}.",
        iso8601(*exp),
        iso8601(*now)
    )]
    Expired {
        /// The token's `exp`, unix seconds.
        exp: i64,
        /// The server time, unix seconds.
        now: i64,
    },
    /// Strict mode and the token has no `exp` (ASP.NET Core's JwtBearer requires one too).
    #[error(
        "The token has no 'exp' claim: --auth strict requires an expiry (ASP.NET Core's JwtBearer \
         and Azure do too); sign tokens with one (e.g. jsonwebtoken's expiresIn: \"1h\"), or \
         start the emulator with --auth relaxed to accept tokens without it"
    )]
    MissingExpiry,
    /// `nbf` is in the future (beyond the clock-skew leeway).
    #[error(
        "The token is not valid before {} (unix {nbf}); the server time is {}.",
        iso8601(*nbf),
        iso8601(*now)
    )]
    NotYetValid {
        /// The token's `nbf`, unix seconds.
        nbf: i64,
        /// The server time, unix seconds.
        now: i64,
    },
    /// The token has no `aud` claim (or an empty one).
    #[error("The token has no 'aud' claim; expected an audience such as {expected}")]
    MissingAudience {
        /// An example audience that would be accepted for this request.
        expected: String,
    },
    /// No `aud` value names the requested endpoint.
    #[error("{}", mismatch_message(found, expected))]
    AudienceMismatch {
        /// The path and query of each audience in the token (shortened and escaped).
        found: Vec<String>,
        /// The path and query the request targets.
        expected: String,
    },
    /// A Microsoft Entra ID token whose signature matches no key of the `--entra-jwks` file.
    #[error(
        "The Microsoft Entra ID token's signature matches none of the {tried} key(s) of the \
         --entra-jwks file{}",
        kid.as_ref().map(|kid| format!(" with kid '{kid}'")).unwrap_or_default()
    )]
    EntraSignature {
        /// The token's `kid`, shortened and escaped.
        kid: Option<String>,
        /// How many keys were tried.
        tried: usize,
    },
    /// A Microsoft Entra ID token whose audience is not this service.
    #[error(
        "The Microsoft Entra ID token's audience {found:?} is not this service; request the \
         token for the scope https://signalr.azure.com/.default (or this endpoint)"
    )]
    EntraAudience {
        /// The token's audiences, shortened and escaped.
        found: Vec<String>,
    },
}

impl AuthError {
    /// Stable machine code for the `ErrorDetail` body, e.g. `"Error.Auth.TokenExpired"`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingToken => "Error.Auth.MissingToken",
            Self::Malformed(_) => "Error.Auth.MalformedToken",
            Self::UnsupportedAlgorithm(_) => "Error.Auth.UnsupportedAlgorithm",
            Self::UnknownKey { .. } => "Error.Auth.InvalidSignature",
            Self::Expired { .. } => "Error.Auth.TokenExpired",
            Self::MissingExpiry => "Error.Auth.MissingExpiry",
            Self::NotYetValid { .. } => "Error.Auth.TokenNotYetValid",
            Self::MissingAudience { .. } => "Error.Auth.MissingAudience",
            Self::AudienceMismatch { .. } | Self::EntraAudience { .. } => {
                "Error.Auth.AudienceMismatch"
            }
            Self::EntraSignature { .. } => "Error.Auth.InvalidSignature",
        }
    }
}

fn mismatch_message(found: &[String], expected: &str) -> String {
    match found {
        [one] => format!(
            "The token audience path '{one}' does not match the requested '{expected}' \
             (scheme, host and port are ignored)"
        ),
        many => format!(
            "None of the token audience paths '{}' match the requested '{expected}' \
             (scheme, host and port are ignored)",
            many.join("', '")
        ),
    }
}

/// Makes untrusted text safe to echo in an error body: control characters escaped, length capped,
/// so a hostile token cannot inject lines into logs or blow up a response.
pub(super) fn printable(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    for (count, c) in text.chars().enumerate() {
        if count == max_chars {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct() {
        let errors = [
            AuthError::MissingToken,
            AuthError::Malformed(String::new()),
            AuthError::UnsupportedAlgorithm(String::new()),
            AuthError::UnknownKey { tried: 1 },
            AuthError::Expired { exp: 0, now: 0 },
            AuthError::NotYetValid { nbf: 0, now: 0 },
            AuthError::MissingExpiry,
            AuthError::MissingAudience {
                expected: String::new(),
            },
            AuthError::AudienceMismatch {
                found: vec![],
                expected: String::new(),
            },
        ];
        let mut codes: Vec<_> = errors.iter().map(AuthError::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), errors.len());
        assert!(codes.iter().all(|c| c.starts_with("Error.Auth.")));
    }

    #[test]
    fn missing_token_says_where_to_put_it() {
        let text = AuthError::MissingToken.to_string();
        assert!(text.contains("Authorization: Bearer"), "{text}");
        assert!(text.contains("access_token"), "{text}");
    }

    #[test]
    fn mismatch_lists_every_audience() {
        let e = AuthError::AudienceMismatch {
            found: vec!["/a".into(), "/b".into()],
            expected: "/c".into(),
        };
        assert_eq!(
            e.to_string(),
            "None of the token audience paths '/a', '/b' match the requested '/c' \
             (scheme, host and port are ignored)"
        );
    }

    #[test]
    fn printable_escapes_and_caps() {
        assert_eq!(printable("a\nb", 10), "a\\nb");
        assert_eq!(printable("abcdef", 3), "abc…");
        assert_eq!(printable("abc", 3), "abc");
    }
}
