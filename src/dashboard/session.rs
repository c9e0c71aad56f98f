//! Who may see the dashboard. With `--auth off` anyone on the network may; otherwise a viewer
//! logs in once with an access key and gets a short-lived session token the server signed
//! (`<expiry>.<HMAC-SHA256>`), kept in an HttpOnly cookie (or sent as `Authorization: Bearer`
//! by scripts). Works over plain http on any host name; nothing is stored server-side.

use axum::Json;
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;

use crate::auth::{AuthMode, unix_now};
use crate::state::AppState;

/// The cookie that carries the session token.
pub const COOKIE: &str = "signalr_emulator_dashboard";
/// How long a session lasts, in seconds.
pub const SESSION_SECONDS: u64 = 3600;

/// Domain separation: a session token's MAC can never be mistaken for anything else signed
/// with the access key.
const PURPOSE: &[u8] = b"signalr-emulator dashboard session until ";

/// `<expiry>.<mac>` for a session that ends at `expires` (Unix seconds).
fn sign(key: &str, expires: u64) -> String {
    let mac = mac(key, expires).finalize().into_bytes();
    format!("{expires}.{}", URL_SAFE_NO_PAD.encode(mac))
}

fn mac(key: &str, expires: u64) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(PURPOSE);
    mac.update(expires.to_string().as_bytes());
    mac
}

/// Whether `token` is an unexpired session signed with one of `keys`.
fn is_valid(token: &str, keys: &[String], now: u64) -> bool {
    let Some((expires, signature)) = token.split_once('.') else {
        return false;
    };
    let (Ok(expires), Ok(signature)) = (expires.parse::<u64>(), URL_SAFE_NO_PAD.decode(signature))
    else {
        return false;
    };
    expires > now
        && keys
            .iter()
            .any(|key| mac(key, expires).verify_slice(&signature).is_ok())
}

/// Compares without an early exit, so timing does not reveal how much of a guess was right.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The session token from the cookie or an `Authorization: Bearer` header.
fn presented(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    bearer.or_else(|| {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
    })
}

/// A request from someone allowed to see the dashboard.
#[derive(Debug)]
pub(super) struct Viewer;

impl<S: Send + Sync> FromRequestParts<S> for Viewer
where
    AppState: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let state = AppState::from_ref(state);
        if state.config.auth == AuthMode::Off {
            return Ok(Viewer);
        }
        match presented(&parts.headers) {
            Some(token) if is_valid(token, &state.config.access_keys, unix_now()) => Ok(Viewer),
            Some(_) => Err(unauthorized(
                "The dashboard session expired or is not valid: log in again with the access key.",
            )),
            None => Err(unauthorized(
                "Log in with the access key to see the dashboard.",
            )),
        }
    }
}

fn unauthorized(message: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "code": "Error.Dashboard.Unauthorized", "message": message })),
    )
        .into_response()
}

/// The login form.
#[derive(Debug, Deserialize)]
pub(super) struct Login {
    key: String,
}

/// `POST /dashboard/login` with `key=<access key>`: sets the session cookie and returns the
/// token for scripts.
pub(super) async fn login(
    State(state): State<AppState>,
    axum::Form(login): axum::Form<Login>,
) -> Response {
    let key = login.key.trim();
    if !state
        .config
        .access_keys
        .iter()
        .any(|known| same_secret(known, key))
    {
        return unauthorized(
            "That is not the emulator's access key (see the AccessKey of its connection string).",
        );
    }
    let expires = unix_now() + SESSION_SECONDS;
    let token = sign(key, expires);
    let cookie =
        format!("{COOKIE}={token}; Max-Age={SESSION_SECONDS}; Path=/; HttpOnly; SameSite=Strict");
    (
        [(header::SET_COOKIE, cookie)],
        Json(json!({ "token": token, "expiresAt": expires })),
    )
        .into_response()
}

/// `POST /dashboard/logout`: forgets the cookie.
pub(super) async fn logout() -> Response {
    let cookie = format!("{COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict");
    ([(header::SET_COOKIE, cookie)], StatusCode::NO_CONTENT).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_signed_by_a_configured_key_and_expire() {
        let keys = vec!["primary".to_owned(), "secondary".to_owned()];
        let token = sign("secondary", 100);
        assert!(is_valid(&token, &keys, 99));
        assert!(!is_valid(&token, &keys, 100));
        assert!(!is_valid(&sign("other", 100), &keys, 1));
        let forged = token.replacen("100", "200", 1);
        assert!(!is_valid(&forged, &keys, 1));
        assert!(!is_valid("garbage", &keys, 1));
    }

    #[test]
    fn the_token_comes_from_bearer_or_the_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            format!("a=b; {COOKIE}=t1; c=d").parse().unwrap(),
        );
        assert_eq!(presented(&headers), Some("t1"));
        headers.insert(header::AUTHORIZATION, "Bearer t2".parse().unwrap());
        assert_eq!(presented(&headers), Some("t2"));
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd"));
    }
}
