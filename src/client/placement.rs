//! Which node serves a client request whose connection this node does not hold (scale-out, no
//! sticky sessions). The connection token is portable ([`PortableToken`]): the first transport
//! request (a WebSocket upgrade, the SSE stream, the first poll, or a send before them) claims
//! the connection for the node it lands on, through the cluster's [`Directory`]; every later
//! request on another node is forwarded to that holder. A request already forwarded once is
//! never forwarded again.

use std::future::Future;
use std::sync::Arc;

use super::connections::ClientConnection;
use super::portable_token::{self, PortableToken};
use crate::auth::{AuthMode, Claims, unix_now};
use crate::error::ApiError;
use crate::state::AppState;

/// Where the cluster says a connection lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// Nobody held it; this node does now.
    Claimed,
    /// This node already holds it.
    ThisNode,
    /// Another node holds it; requests go to its advertised base URL.
    Node {
        /// The holder's advertised base URL.
        url: String,
    },
    /// Nobody holds it and it may not be claimed (the caller said so).
    Nobody,
}

/// The cluster-wide record of which node holds which client connection.
pub trait Directory: Send + Sync {
    /// This node's id.
    fn node_id(&self) -> &str;

    /// The connection's holder; with `claim`, makes this node the holder when there is none,
    /// atomically (two nodes racing for one connection get one winner).
    fn holder(
        &self,
        hub: &str,
        connection_id: &str,
        claim: bool,
    ) -> impl Future<Output = Result<Holder, ApiError>> + Send;

    /// This node no longer holds the connection.
    fn release(&self, hub: &str, connection_id: &str) -> impl Future<Output = ()> + Send;
}

/// The outcome for a request with a token this node's table does not have.
#[derive(Debug)]
pub(super) enum Placed {
    /// This node took the connection over: serve the request locally.
    Here(Arc<ClientConnection>),
    /// Forward the request to the holder at this base URL.
    Elsewhere(String),
    /// No such connection (a local token of another node, a forgery, another user's, or one
    /// too old to start and held by nobody).
    Unknown,
}

/// The token binding of a request: its hub and, unless auth is off, its user.
pub(super) fn binding<'a>(
    state: &AppState,
    hub: &'a str,
    claims: &'a Claims,
) -> portable_token::Binding<'a> {
    portable_token::Binding {
        hub,
        user: (state.verifier.mode() != AuthMode::Off).then_some(claims.user_id.as_deref()),
    }
}

/// Decides where a request for `token` is served. `forwarded` says another node already sent
/// it here, so it is served here or nowhere.
pub(super) async fn place<D: Directory>(
    directory: &D,
    state: &AppState,
    token: &str,
    hub: &str,
    claims: &Claims,
    forwarded: bool,
) -> Result<Placed, ApiError> {
    let Some(portable) =
        PortableToken::verify(token, &state.config.access_keys, binding(state, hub, claims))
    else {
        return Ok(Placed::Unknown);
    };
    let connection_id = portable.public_id(token);
    // A token may start a connection only as long as a negotiated one waits for its transport
    // on a single node; after that it can only reach the connection it started.
    let fresh = unix_now().saturating_sub(portable.issued)
        <= state.config.disconnect_timeout.as_secs().max(1);
    match directory
        .holder(hub, connection_id, fresh && !forwarded)
        .await?
    {
        Holder::Claimed => Ok(Placed::Here(state.connections.insert(
            Arc::from(token),
            Arc::from(connection_id),
            Arc::from(hub),
            claims.clone(),
            portable.stateful,
        ))),
        Holder::Node { url } if !forwarded => Ok(Placed::Elsewhere(url)),
        // Held here but not in the table: it just ended. Held elsewhere after a forward: the
        // nodes disagree for a moment; the client reconnects rather than loop.
        Holder::Node { .. } | Holder::ThisNode | Holder::Nobody => Ok(Placed::Unknown),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::config::Config;

    /// One directory the tests' nodes share: connection id to the holder's URL.
    #[derive(Default)]
    struct Shared(Mutex<Vec<(String, String)>>);

    struct Node<'a> {
        url: &'static str,
        shared: &'a Shared,
    }

    impl Directory for Node<'_> {
        fn node_id(&self) -> &str {
            self.url
        }

        async fn holder(&self, _hub: &str, id: &str, claim: bool) -> Result<Holder, ApiError> {
            let mut held = self.shared.0.lock().unwrap();
            Ok(match held.iter().find(|(held_id, _)| held_id == id) {
                Some((_, url)) if url == self.url => Holder::ThisNode,
                Some((_, url)) => Holder::Node { url: url.clone() },
                None if claim => {
                    held.push((id.to_owned(), self.url.to_owned()));
                    Holder::Claimed
                }
                None => Holder::Nobody,
            })
        }

        async fn release(&self, _hub: &str, id: &str) {
            self.shared.0.lock().unwrap().retain(|(held_id, _)| held_id != id);
        }
    }

    fn alice() -> Claims {
        Claims {
            user_id: Some("alice".to_owned()),
            claims: Vec::new(),
        }
    }

    fn token(state: &AppState, issued: u64) -> String {
        let claims = alice();
        PortableToken {
            connection_id: "conn1".to_owned(),
            stateful: false,
            legacy: false,
            issued,
        }
        .sign(&state.config.access_keys[0], binding(state, "chat", &claims))
    }

    #[tokio::test]
    async fn the_first_node_claims_and_the_others_forward_to_it() {
        let shared = Shared::default();
        let (a, b) = (
            Node {
                url: "http://a",
                shared: &shared,
            },
            Node {
                url: "http://b",
                shared: &shared,
            },
        );
        let (state_a, state_b) = (
            AppState::new(Config::default(), None),
            AppState::new(Config::default(), None),
        );
        let token = token(&state_b, unix_now());
        let placed = place(&b, &state_b, &token, "chat", &alice(), false).await;
        let Ok(Placed::Here(client)) = placed else {
            panic!("{placed:?}");
        };
        assert_eq!(&*client.connection_id, "conn1");
        assert!(state_b.connections.get(&token).is_some());

        let placed = place(&a, &state_a, &token, "chat", &alice(), false).await;
        assert!(matches!(placed, Ok(Placed::Elsewhere(ref url)) if url == "http://b"));
        // Forwarded once already: never again.
        let placed = place(&a, &state_a, &token, "chat", &alice(), true).await;
        assert!(matches!(placed, Ok(Placed::Unknown)), "{placed:?}");
        assert!(state_a.connections.get(&token).is_none());
    }

    #[tokio::test]
    async fn stale_forged_or_foreign_tokens_start_nothing() {
        let shared = Shared::default();
        let a = Node {
            url: "http://a",
            shared: &shared,
        };
        let state = AppState::new(Config::default(), None);
        let stale = token(&state, unix_now() - 3600);
        let bob = Claims {
            user_id: Some("bob".to_owned()),
            claims: Vec::new(),
        };
        let fresh = token(&state, unix_now());
        for (token, claims) in [
            (stale.as_str(), alice()),
            ("conn1", alice()),
            (fresh.as_str(), bob),
        ] {
            let placed = place(&a, &state, token, "chat", &claims, false).await;
            assert!(matches!(placed, Ok(Placed::Unknown)), "{placed:?}");
        }
        assert!(shared.0.lock().unwrap().is_empty());
    }
}
