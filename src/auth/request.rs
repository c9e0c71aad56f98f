//! Where a request carries its access token.

use std::borrow::Cow;

/// The access token of a request: the Bearer token from the `Authorization` header value if there
/// is one (scheme matched case-insensitively), otherwise the last `access_token` value in the raw
/// query string (percent-decoded, `+` as space, per form encoding).
///
/// The query fallback is accepted on every endpoint, not only WebSocket and SSE requests as in
/// ASP.NET Core, because browsers cannot set headers on those and nothing is gained by refusing
/// it elsewhere. "Last wins" matches ASP.NET Core's query handling.
/// A header token is borrowed; a query token is decoded only when the header has none.
pub fn token_from_request<'a>(
    authorization: Option<&'a str>,
    raw_query: Option<&str>,
) -> Option<Cow<'a, str>> {
    authorization
        .and_then(bearer_token)
        .map(Cow::Borrowed)
        .or_else(|| raw_query.and_then(query_token).map(Cow::Owned))
}

fn bearer_token(header: &str) -> Option<&str> {
    let header = header.trim();
    let (scheme, token) = header.split_once(char::is_whitespace)?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn query_token(raw_query: &str) -> Option<String> {
    let raw_query = raw_query.strip_prefix('?').unwrap_or(raw_query);
    form_urlencoded::parse(raw_query.as_bytes())
        .filter(|(name, _)| name == "access_token")
        .last()
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_scheme_is_case_insensitive() {
        assert_eq!(
            token_from_request(Some("Bearer abc"), None).as_deref(),
            Some("abc")
        );
        assert_eq!(
            token_from_request(Some("bearer  abc "), None).as_deref(),
            Some("abc")
        );
        assert_eq!(
            token_from_request(Some("BEARER\tabc"), None).as_deref(),
            Some("abc")
        );
    }

    #[test]
    fn header_wins_over_query() {
        let got = token_from_request(Some("Bearer h"), Some("access_token=q"));
        assert_eq!(got.as_deref(), Some("h"));
    }

    #[test]
    fn non_bearer_or_empty_header_falls_back_to_query() {
        for header in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "", "Bearerabc"] {
            let got = token_from_request(Some(header), Some("access_token=q"));
            assert_eq!(got.as_deref(), Some("q"), "{header:?}");
        }
        assert_eq!(token_from_request(Some("Basic x"), None), None);
    }

    #[test]
    fn last_access_token_wins_and_is_decoded() {
        let q = "hub=chat&access_token=first&id=1&access_token=a%2Eb%20c+d";
        assert_eq!(
            token_from_request(None, Some(q)).as_deref(),
            Some("a.b c d")
        );
        let q = "?access_token=x";
        assert_eq!(token_from_request(None, Some(q)).as_deref(), Some("x"));
    }

    #[test]
    fn absent_tokens() {
        assert_eq!(token_from_request(None, None), None);
        assert_eq!(token_from_request(None, Some("")), None);
        assert_eq!(
            token_from_request(None, Some("hub=chat&access_tokens=x")),
            None
        );
        assert_eq!(token_from_request(None, Some("access_token=")), None);
        assert_eq!(token_from_request(None, Some("%zz&&==&access_token")), None);
    }
}
