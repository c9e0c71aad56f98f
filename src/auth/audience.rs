//! The `aud` check: does the token name the endpoint being called?
//!
//! Only the path is compared. Scheme, host and port are ignored because the SDKs drop the port
//! when they build `aud` and docker networks rewrite hosts; a trailing slash is ignored; both sides
//! are percent-decoded segment by segment so `%20` and a space compare equal.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;
use serde_json::Value;

use super::error::{AuthError, printable};

/// How many audience values an error message lists, and how long each may be: enough to
/// diagnose, bounded so a hostile token cannot inflate the response.
const SHOWN_AUDIENCES: usize = 5;
const SHOWN_AUDIENCE_CHARS: usize = 200;

/// The endpoint a request targets, which the token's `aud` must name (checked in strict mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience<'a> {
    /// Client endpoint (`/client/negotiate`, `/client/`). `hub` is the internal hub name the
    /// request targets (already lowercased, including any `application_` prefix).
    Client {
        /// Internal hub name, e.g. `chat` or `app_chat`.
        hub: &'a str,
    },
    /// App-server endpoint (`/server/?hub=`), used by ASP.NET Core app servers and the
    /// Management SDK's persistent transport. `hub` is the internal hub name.
    Server {
        /// Internal hub name, e.g. `chat` or `app_chat`.
        hub: &'a str,
    },
    /// REST call. `path` is the request path exactly as received (percent-encoded), e.g.
    /// `/api/v1/hubs/Chat/users/u%201`.
    Rest {
        /// Request path, without the query.
        path: &'a str,
    },
}

impl Audience<'_> {
    /// The path and query this request expects in `aud`, as error messages show it.
    fn requested(&self) -> String {
        match self {
            Self::Client { hub } => {
                format!("/client/?hub={}", printable(hub, SHOWN_AUDIENCE_CHARS))
            }
            Self::Server { hub } => {
                format!("/server/?hub={}", printable(hub, SHOWN_AUDIENCE_CHARS))
            }
            Self::Rest { path } => printable(path, SHOWN_AUDIENCE_CHARS),
        }
    }

    fn accepts(&self, aud: &str) -> bool {
        let target = path_and_query(aud);
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        match self {
            Self::Client { hub } => endpoint_accepts("client", hub, &segments(path), query),
            Self::Server { hub } => endpoint_accepts("server", hub, &segments(path), query),
            // The usual case, a token minted for exactly this path, needs no decoding.
            Self::Rest { path: wanted } if *wanted == path => true,
            Self::Rest { path: wanted } => {
                let got = segments(path);
                let want = segments(wanted);
                got.len() == want.len()
                    && want.iter().zip(&got).enumerate().all(|(i, (w, g))| {
                        // The hub name follows `hubs` (v1, 2022+) or `hub` (v1-preview) and is
                        // case-insensitive like hubs everywhere; groups, users and connection ids
                        // are case-sensitive, so everything else compares exactly.
                        let is_hub = i > 0 && matches!(want[i - 1].as_ref(), "hubs" | "hub");
                        if is_hub { eq_ignore_case(w, g) } else { w == g }
                    })
            }
        }
    }
}

/// Whether an audience's path segments and query name the endpoint `/{endpoint}/` of `hub`.
/// `hub` in the query is optional; when present it must name this hub. Other parameters
/// (asrs.op, negotiateVersion, ...) are ignored.
fn endpoint_accepts(endpoint: &str, hub: &str, got: &[Cow<'_, str>], query: &str) -> bool {
    matches!(got, [only] if only == endpoint)
        && form_urlencoded::parse(query.as_bytes())
            .filter(|(name, _)| name.eq_ignore_ascii_case("hub"))
            .all(|(_, value)| eq_ignore_case(&value, hub))
}

/// Checks the payload's `aud` (a string or an array of strings; any match passes).
pub(super) fn check(payload: &[(String, Value)], expected: &Audience<'_>) -> Result<(), AuthError> {
    let audiences = audiences(payload)?;
    if audiences.is_empty() {
        return Err(AuthError::MissingAudience {
            expected: format!("http://localhost{}", expected.requested()),
        });
    }
    if audiences.iter().any(|aud| expected.accepts(aud)) {
        return Ok(());
    }
    Err(AuthError::AudienceMismatch {
        found: audiences
            .iter()
            .take(SHOWN_AUDIENCES)
            .map(|aud| printable(shown_path(aud), SHOWN_AUDIENCE_CHARS))
            .collect(),
        expected: expected.requested(),
    })
}

/// The non-empty `aud` values. Empty strings, `null` and `[]` count as no audience.
pub(super) fn audiences(payload: &[(String, Value)]) -> Result<Vec<&str>, AuthError> {
    let not_strings =
        || AuthError::Malformed("its 'aud' claim is not a string or an array of strings".into());
    let Some((_, aud)) = payload.iter().find(|(name, _)| name == "aud") else {
        return Ok(Vec::new());
    };
    let values = match aud {
        Value::Null => Vec::new(),
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().ok_or_else(not_strings))
            .collect::<Result<_, _>>()?,
        _ => return Err(not_strings()),
    };
    Ok(values.into_iter().filter(|s| !s.is_empty()).collect())
}

/// The path-and-query part of an audience URL. An absolute URL loses its scheme and authority;
/// anything else (a bare path) is taken as it is. The fragment is dropped.
fn path_and_query(aud: &str) -> &str {
    let aud = aud.split_once('#').map_or(aud, |(before, _)| before);
    let after_authority = match aud.split_once("://") {
        // Only a real scheme (no '/', '?' before "://") starts an absolute URL.
        Some((scheme, rest)) if !scheme.is_empty() && !scheme.contains(['/', '?']) => rest,
        _ => match aud.strip_prefix("//") {
            Some(rest) => rest,
            None => return aud,
        },
    };
    after_authority
        .find(['/', '?'])
        .map_or("", |start| &after_authority[start..])
}

/// What a mismatch message shows for one audience: its path and query (`/` for none).
fn shown_path(aud: &str) -> &str {
    match path_and_query(aud) {
        "" => "/",
        path => path,
    }
}

/// Path segments, percent-decoded one by one (so an encoded `/` stays inside its segment), with
/// leading and trailing slashes ignored.
fn segments(path: &str) -> Vec<Cow<'_, str>> {
    let path = path.trim_start_matches('/').trim_end_matches('/');
    if path.is_empty() {
        return Vec::new();
    }
    path.split('/')
        .map(|segment| percent_decode_str(segment).decode_utf8_lossy())
        .collect()
}

fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b) || a.to_lowercase() == b.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with_aud(aud: Value) -> Vec<(String, Value)> {
        vec![("aud".to_owned(), aud)]
    }

    fn client(aud: &str, hub: &str) -> Result<(), AuthError> {
        check(&with_aud(json!(aud)), &Audience::Client { hub })
    }

    fn rest(aud: &str, path: &str) -> Result<(), AuthError> {
        check(&with_aud(json!(aud)), &Audience::Rest { path })
    }

    #[test]
    fn client_audience_ignores_scheme_host_port_and_slash() {
        for aud in [
            "http://localhost/client/?hub=chat",
            "http://localhost:8888/client/?hub=chat",
            "https://example.service.signalr.net/client/?hub=chat",
            "http://localhost/client?hub=chat",
            "http://localhost:8888/client/",
            "http://localhost/client/?asrs.op=%2Fchat&hub=chat&negotiateVersion=1",
            "/client/?hub=chat",
            "http://localhost/client/?hub=chat#frag",
        ] {
            assert!(client(aud, "chat").is_ok(), "{aud}");
        }
    }

    #[test]
    fn server_audience_is_the_server_path_of_the_hub() {
        let server = |aud: &str| check(&with_aud(json!(aud)), &Audience::Server { hub: "chat" });
        for aud in [
            "http://localhost/server/?hub=chat",
            "https://localhost:8888/server/?hub=Chat",
            "http://h/server?hub=chat",
        ] {
            assert!(server(aud).is_ok(), "{aud}");
        }
        let e = server("http://localhost/client/?hub=chat").unwrap_err();
        assert_eq!(
            e.to_string(),
            "The token audience path '/client/?hub=chat' does not match the requested \
             '/server/?hub=chat' (scheme, host and port are ignored)"
        );
        assert!(server("http://localhost/server/?hub=other").is_err());
    }

    #[test]
    fn client_hub_is_case_insensitive() {
        assert!(client("http://localhost/client/?hub=Chat", "chat").is_ok());
        assert!(client("http://localhost/client/?hub=APP_CHAT", "app_chat").is_ok());
    }

    #[test]
    fn client_other_hub_or_path_rejected() {
        let e = client("http://localhost:8888/client/?hub=other", "chat").unwrap_err();
        assert_eq!(e.code(), "Error.Auth.AudienceMismatch");
        assert_eq!(
            e.to_string(),
            "The token audience path '/client/?hub=other' does not match the requested \
             '/client/?hub=chat' (scheme, host and port are ignored)"
        );
        assert!(client("http://localhost/server/?hub=chat", "chat").is_err());
        assert!(client("http://localhost/client/negotiate?hub=chat", "chat").is_err());
        assert!(client("http://localhost", "chat").is_err());
        let e = client("http://localhost", "chat").unwrap_err().to_string();
        assert!(e.contains("path '/'"), "{e}");
    }

    #[test]
    fn array_audience_passes_if_any_matches() {
        let payload = with_aud(json!(["http://x/other", "http://x/client/?hub=chat"]));
        assert!(check(&payload, &Audience::Client { hub: "chat" }).is_ok());
        let payload = with_aud(json!(["http://x/a", "http://x/b"]));
        let e = check(&payload, &Audience::Client { hub: "chat" }).unwrap_err();
        assert!(e.to_string().contains("'/a', '/b'"), "{e}");
    }

    #[test]
    fn missing_audience_suggests_one() {
        for payload in [
            vec![],
            with_aud(json!("")),
            with_aud(json!([])),
            with_aud(Value::Null),
        ] {
            let e = check(&payload, &Audience::Client { hub: "chat" }).unwrap_err();
            assert_eq!(
                e.to_string(),
                "The token has no 'aud' claim; expected an audience such as \
                 http://localhost/client/?hub=chat"
            );
        }
        let e = check(
            &[],
            &Audience::Rest {
                path: "/api/v1/hubs/chat",
            },
        )
        .unwrap_err();
        assert!(
            e.to_string().ends_with("http://localhost/api/v1/hubs/chat"),
            "{e}"
        );
    }

    #[test]
    fn non_string_audience_is_malformed() {
        for aud in [json!(1), json!({"a": 1}), json!(["ok", 2])] {
            let e = check(&with_aud(aud), &Audience::Client { hub: "chat" }).unwrap_err();
            assert_eq!(e.code(), "Error.Auth.MalformedToken");
        }
    }

    #[test]
    fn rest_audience_ignores_query_and_hub_case() {
        let path = "/api/hubs/Chat/:send";
        for aud in [
            "http://localhost/api/hubs/chat/:send?api-version=2022-06-01",
            "http://localhost:8888/api/hubs/CHAT/:send/",
            "https://h/api/hubs/chat/%3Asend?application=app&api-version=2024-12-01",
        ] {
            assert!(rest(aud, path).is_ok(), "{aud}");
        }
        assert!(
            rest(
                "http://h/api/v1-preview/hub/CHAT/users/u",
                "/api/v1-preview/hub/chat/users/u"
            )
            .is_ok()
        );
    }

    #[test]
    fn rest_segments_other_than_hub_compare_exactly() {
        let path = "/api/v1/hubs/Chat/users/u%201";
        assert!(rest("http://localhost/api/v1/hubs/chat/users/u 1", path).is_ok());
        assert!(rest("http://localhost/api/v1/hubs/chat/users/u%201", path).is_ok());
        assert!(rest("http://localhost/api/v1/hubs/chat/users/U%201", path).is_err());
        assert!(rest("http://localhost/api/v1/hubs/chat/users/u2", path).is_err());
        assert!(rest("http://localhost/api/v1/hubs/chat/users", path).is_err());
        assert!(rest("http://localhost/api/v1/hubs/chat", path).is_err());
        // An encoded '/' stays inside its segment instead of adding one.
        assert!(
            rest(
                "http://h/api/v1/hubs/chat/users/a%2Fb",
                "/api/v1/hubs/chat/users/a/b"
            )
            .is_err()
        );
    }

    #[test]
    fn path_and_query_forms() {
        assert_eq!(path_and_query("http://h:1/a?b"), "/a?b");
        assert_eq!(path_and_query("http://h?x=1"), "?x=1");
        assert_eq!(path_and_query("http://h"), "");
        assert_eq!(path_and_query("//h/a"), "/a");
        assert_eq!(path_and_query("/a?x=http://b/c"), "/a?x=http://b/c");
        assert_eq!(path_and_query("://"), "://");
        assert_eq!(path_and_query("a"), "a");
    }

    #[test]
    fn hostile_audiences_do_not_panic() {
        let long = "/".repeat(100_000);
        for aud in [
            "%",
            "%ff%fe",
            "http://",
            "?",
            "#",
            "é://é/é?é",
            long.as_str(),
        ] {
            let _ = client(aud, "chat");
            let _ = rest(aud, "/api/hubs/é/%");
            let _ = rest(aud, aud);
        }
    }
}
