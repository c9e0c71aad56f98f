//! Access-token authentication for the client endpoint and the REST API.
//!
//! This module owns everything about access tokens and nothing else: where a request carries its
//! token ([`token_from_request`]), checking a token against the configured access keys
//! ([`Verifier`]) with a precise reason for every rejection ([`AuthError`]), turning the payload
//! into the user id and claim list the hub and upstream need ([`Claims`]), and signing tokens
//! ([`issue_token`], for tests and the REST `:generateToken` operation; [`token_for_url`], for the
//! `token` subcommand).
//!
//! Microsoft Entra ID tokens (RS256/ES256) are accepted only when the operator opts in
//! ([`EntraTokens`]).
//!
//! Tokens are HMAC JWTs (HS256/HS384/HS512) keyed with the UTF-8 bytes of an access-key string,
//! exactly as the Azure SignalR SDKs sign them. How strictly they are checked is an [`AuthMode`].
//! It has no HTTP types in its API so that `api` and `client` can both call it with what they
//! extracted from their requests.

mod audience;
mod cache;
mod claims;
mod entra;
mod error;
mod lifetime;
mod request;
mod token;
mod url_token;
mod verify;

pub use audience::Audience;
pub use claims::Claims;
pub use entra::{ENTRA_AUDIENCE, EntraTokens};
pub use error::AuthError;
pub use lifetime::{iso8601, unix_now};
pub use request::token_from_request;
pub use token::issue_token;
pub use url_token::token_for_url;
pub use verify::{AuthMode, Verifier};
