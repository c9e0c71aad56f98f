//! Tokens for a URL, as an app server would mint them: the `token` subcommand prints one so a
//! curl call or a quick script needs nothing installed.

use serde_json::{Value, json};

use super::lifetime::unix_now;
use super::token::issue_token;

/// A token for `url` signed with `key`, valid `ttl` seconds, for `user` if given. A client URL
/// (`/client/...`) keeps its query (`?hub=` names the hub); a REST URL's audience is the URL
/// without its query, which is what the REST API compares.
pub fn token_for_url(key: &str, url: &str, user: Option<&str>, ttl: u64) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| {
            format!("--url '{url}' must be an absolute http:// or https:// URL, e.g. http://localhost:8888/api/v1/hubs/chat")
        })?;
    let path = rest.find('/').map_or("", |at| &rest[at..]);
    let audience = if path.starts_with("/client") {
        url
    } else if path.starts_with("/api/") {
        url.split(['?', '#']).next().unwrap_or(url)
    } else {
        return Err(format!(
            "--url '{url}' names neither the REST API (/api/...) nor the client endpoint (/client/?hub=...)"
        ));
    };
    if ttl == 0 {
        return Err("--ttl must be at least 1 second".into());
    }
    let mut claims = json!({ "aud": audience, "exp": unix_now() + ttl });
    if let Some(user) = user {
        claims["nameid"] = Value::from(user);
    }
    Ok(issue_token(key, &claims))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Audience, AuthMode, Verifier};

    fn verify(token: &str, audience: Audience<'_>) -> Result<Option<String>, String> {
        let verifier = Verifier::new(vec!["key".into()], AuthMode::Strict);
        verifier
            .verify(Some(token), &audience, unix_now())
            .map(|claims| claims.user_id)
            .map_err(|err| err.to_string())
    }

    #[test]
    fn rest_and_client_tokens_pass_the_strict_check() {
        let rest = token_for_url(
            "key",
            "http://localhost:8888/api/v1/hubs/chat?x=1",
            None,
            60,
        )
        .unwrap();
        assert_eq!(
            verify(
                &rest,
                Audience::Rest {
                    path: "/api/v1/hubs/chat"
                }
            ),
            Ok(None)
        );
        let client = token_for_url(
            "key",
            "http://localhost:8888/client/?hub=chat",
            Some("alice"),
            60,
        )
        .unwrap();
        assert_eq!(
            verify(&client, Audience::Client { hub: "chat" }),
            Ok(Some("alice".into()))
        );
    }

    #[test]
    fn bad_urls_and_ttls_say_what_is_wrong() {
        let err = token_for_url("key", "localhost:8888/api/v1/hubs/chat", None, 60).unwrap_err();
        assert!(err.contains("absolute http://"), "{err}");
        let err = token_for_url("key", "http://localhost:8888/metrics", None, 60).unwrap_err();
        assert!(err.contains("neither the REST API"), "{err}");
        let err = token_for_url("key", "http://localhost/api/v1/hubs/a", None, 0).unwrap_err();
        assert!(err.contains("--ttl"), "{err}");
    }
}
