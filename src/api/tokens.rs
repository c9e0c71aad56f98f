//! Token and key operations of the 2023-07-01+ API: `:generateToken` mints a client access token
//! the client endpoint accepts, and `GET /api/auth/accessKey` hands out the key tokens are signed
//! with (on Azure this trades a Microsoft Entra token for a dynamic key; here the caller already
//! proved it holds a key, so it gets the primary one).

use serde::Serialize;
use serde_json::json;

use super::extract::HubRequest;
use crate::auth::{issue_token, unix_now};
use crate::config::Config;
use crate::error::ApiError;
use crate::hub::names::check_user;

/// Token lifetime when `minutesToExpire` is not given, as on Azure.
const DEFAULT_MINUTES: u64 = 60;

/// The `KeyId` of the primary (first configured) access key.
pub const PRIMARY_KEY_ID: &str = "primary";

/// `{"token": "..."}`.
#[derive(Debug, Serialize)]
pub(super) struct GeneratedToken {
    token: String,
}

/// Azure's `AccessKeyResponse`, with its PascalCase names.
#[derive(Debug, Serialize)]
pub(super) struct AccessKey {
    #[serde(rename = "KeyId")]
    key_id: &'static str,
    #[serde(rename = "AccessKey")]
    access_key: String,
}

/// Mints a client token for the hub: `aud` is this server's client URL for the hub, the user
/// (if `userId` is given) is in `asrs.s.uid` and `nameid`, and it expires after
/// `minutesToExpire` (default 60).
pub(super) fn generate(req: &HubRequest) -> Result<GeneratedToken, ApiError> {
    let user = req.query.first("userId").filter(|u| !u.is_empty());
    if let Some(user) = user {
        check_user(user).map_err(|e| ApiError::bad_request("userId", e.to_string()))?;
    }
    let minutes = match req.query.first("minutesToExpire") {
        None => DEFAULT_MINUTES,
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|m| (1..=i32::MAX as u64).contains(m))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "minutesToExpire",
                    format!(
                        "Invalid minutesToExpire '{text}': it must be a whole number of minutes from 1 to 2147483647."
                    ),
                )
            })?,
    };
    let now = unix_now();
    let mut claims = json!({
        "aud": format!("{}/client/?hub={}", req.base_url(), req.hub.name()),
        "iat": now,
        "nbf": now,
        "exp": now + minutes * 60,
    });
    if let Some(user) = user {
        claims["asrs.s.uid"] = json!(user);
        claims["nameid"] = json!(user);
    }
    Ok(GeneratedToken {
        token: issue_token(primary_key(&req.config), &claims),
    })
}

/// The primary access key and its id.
pub(super) fn access_key(config: &Config) -> AccessKey {
    AccessKey {
        key_id: PRIMARY_KEY_ID,
        access_key: primary_key(config).to_owned(),
    }
}

fn primary_key(config: &Config) -> &str {
    // The configuration refuses to start without a key.
    config.access_keys.first().map_or("", String::as_str)
}
