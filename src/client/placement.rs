//! Which node serves a client request whose connection this node does not hold (scale-out, no
//! sticky sessions). The connection token is portable ([`PortableToken`]): the first transport
//! request (a WebSocket upgrade, the SSE stream, the first poll, or a send before them) claims
//! the connection for the node it lands on, through the cluster's [`Directory`]; every later
//! request on another node is forwarded to that holder. A request already forwarded once is
//! never forwarded again.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::connections::ClientConnection;
use super::portable_token::{self, PortableToken, Refused};
use super::request::user_mismatch;
use super::state::ClientState;
use super::ws_upgrade::SocketUpgrade;
use crate::auth::{AuthMode, Claims, unix_now};
use crate::cluster::forward::{Directory, Forward, Holder, forward, was_forwarded};
use crate::cluster::relay::{self, Relay};
use crate::config::ServiceMode;
use crate::error::ApiError;

/// The outcome for a request with a token this node's table does not have.
#[derive(Debug)]
pub(super) enum Placed {
    /// This node took the connection over: serve the request locally.
    Here(Arc<ClientConnection>),
    /// Forward the request to the holder at this base URL.
    Elsewhere(String),
    /// No such connection (a local token of another node, a forgery, or one too old to start
    /// and held by nobody).
    Unknown,
}

/// The token binding of a request: its hub and, unless auth is off, its user.
pub(super) fn binding<'a>(
    state: &ClientState,
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
    state: &ClientState,
    token: &str,
    hub: &str,
    claims: &Claims,
    forwarded: bool,
) -> Result<Placed, ApiError> {
    // Another user's genuine token is refused as the holder would refuse it.
    let portable = match PortableToken::verify(
        token,
        &state.config.access_keys,
        binding(state, hub, claims),
    ) {
        Ok(portable) => portable,
        Err(Refused::OtherUser) => return Err(user_mismatch(claims)),
        Err(Refused::NotOurs) => return Ok(Placed::Unknown),
    };
    let connection_id = portable.public_id(token);
    // A token may start a connection only as long as a negotiated one waits for its transport
    // on a single node; after that it can only reach the connection it started.
    let fresh = unix_now().saturating_sub(portable.issued) <= fresh_window(state).as_secs();
    // A client of a default-mode hub without an app server here is served where there is
    // one: its first request goes there and that node takes it. A forwarded request is served
    // here or nowhere.
    if fresh && !forwarded && needs_remote_app_server(state, hub) {
        match directory.holder(hub, connection_id, false).await? {
            Holder::Node { url } => return Ok(Placed::Elsewhere(url)),
            Holder::Nobody => {
                if let Some(url) = directory.app_server_node(hub).await? {
                    return Ok(Placed::Elsewhere(url));
                }
            }
            Holder::Claimed | Holder::ThisNode => {}
        }
    }
    match directory.holder(hub, connection_id, fresh).await? {
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

/// How long after negotiate a token may start its connection.
fn fresh_window(state: &ClientState) -> Duration {
    state.config.disconnect_timeout.max(Duration::from_secs(1))
}

/// Whether the hub's clients need an app server (default mode) and this node has none.
fn needs_remote_app_server(state: &ClientState, hub: &str) -> bool {
    state.config.service_mode != ServiceMode::Serverless
        && !state.hubs.get_or_create(hub).has_app_server()
}

/// Where a request for a token missing from this node's table is served: with a cluster, as
/// [`place`] decides; without one, nowhere.
pub(super) async fn locate(
    state: &ClientState,
    token: &str,
    hub: &str,
    claims: &Claims,
    headers: &HeaderMap,
) -> Result<Placed, ApiError> {
    match &state.cluster {
        Some(cluster) => {
            place(
                cluster.as_ref(),
                state,
                token,
                hub,
                claims,
                was_forwarded(headers),
            )
            .await
        }
        None => Ok(Placed::Unknown),
    }
}

/// Forwards a connect-URL request to the node holding its connection.
pub(super) async fn forward_to(
    state: &ClientState,
    holder: &str,
    method: Method,
    raw_query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
    wait: Duration,
) -> Response {
    let path_and_query = format!("/client/?{}", raw_query.unwrap_or_default());
    forward(Forward {
        holder,
        method,
        path_and_query: &path_and_query,
        headers,
        body,
        wait,
        from_node: node_id(state),
    })
    .await
}

/// Relays a WebSocket for a connection another node holds to that node: the WebSocket to the
/// holder is opened first, and only then is the client's upgrade accepted. `config` is the
/// client socket's (see [`relay::Relay::config`]).
pub(super) async fn relay_to(
    state: &ClientState,
    holder: &str,
    upgrade: SocketUpgrade,
    config: WebSocketConfig,
    raw_query: Option<&str>,
    headers: &HeaderMap,
) -> Response {
    let path_and_query = format!("/client/?{}", raw_query.unwrap_or_default());
    let opened = relay::open(Relay {
        holder,
        path_and_query: &path_and_query,
        headers,
        from_node: node_id(state),
        config,
    })
    .await;
    let upstream = match opened {
        Ok(upstream) => upstream,
        Err(answer) => return answer,
    };
    let tasks = state.tasks.clone();
    upgrade.on_upgrade(
        || {},
        move |client| tasks.track_future(relay::pump(client, upstream)),
    )
}

fn node_id(state: &ClientState) -> &str {
    state
        .cluster
        .as_ref()
        .map(|cluster| cluster.node_id())
        .unwrap_or_default()
}

/// Forgets a connection that ended here, and tells the cluster this node no longer holds it.
pub(super) fn forget(state: &ClientState, client: &ClientConnection) {
    state.connections.remove(&client.token);
    release(state, client);
}

fn release(state: &ClientState, client: &ClientConnection) {
    if let Some(cluster) = state.cluster.clone() {
        let (hub, id) = (client.hub.clone(), client.connection_id.clone());
        let ended_for = fresh_window(state);
        state
            .tasks
            .spawn(async move { cluster.release(&hub, &id, ended_for).await });
    }
}

/// Forgets connections that waited too long for their first transport (see
/// [`super::ClientConnections::sweep`]), in the cluster too.
pub fn sweep(state: &ClientState, now: Instant) {
    for swept in state
        .connections
        .sweep(now, state.config.disconnect_timeout)
    {
        release(state, &swept);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::config::Config;
    use crate::state::AppState;

    /// A node's client state with the default configuration.
    fn node_state() -> ClientState {
        ClientState::new(AppState::new(Config::default(), None), Arc::default())
    }

    /// One directory the tests' nodes share: connection id to the holder's URL.
    #[derive(Default)]
    struct Shared(Mutex<Vec<(String, String)>>);

    struct Node<'a> {
        url: &'static str,
        shared: &'a Shared,
    }

    impl Directory for Node<'_> {
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

        async fn release(&self, _hub: &str, id: &str, _ended_for: Duration) {
            self.shared
                .0
                .lock()
                .unwrap()
                .retain(|(held_id, _)| held_id != id);
        }

        async fn app_server_node(&self, _hub: &str) -> Result<Option<String>, ApiError> {
            Ok(None)
        }
    }

    fn alice() -> Claims {
        Claims {
            user_id: Some("alice".to_owned()),
            claims: Vec::new(),
        }
    }

    fn token(state: &ClientState, issued: u64) -> String {
        let claims = alice();
        PortableToken {
            connection_id: "conn1".to_owned(),
            stateful: false,
            legacy: false,
            issued,
        }
        .sign(
            &state.config.access_keys[0],
            binding(state, "chat", &claims),
        )
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
        let (state_a, state_b) = (node_state(), node_state());
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
        let state = node_state();
        let stale = token(&state, unix_now() - 3600);
        let bob = Claims {
            user_id: Some("bob".to_owned()),
            claims: Vec::new(),
        };
        let fresh = token(&state, unix_now());
        for token in [stale.as_str(), "conn1"] {
            let placed = place(&a, &state, token, "chat", &alice(), false).await;
            assert!(matches!(placed, Ok(Placed::Unknown)), "{placed:?}");
        }
        // Another user's genuine token is refused as the holder refuses it: 403, not 404.
        let placed = place(&a, &state, &fresh, "chat", &bob, false).await;
        let refused = placed.expect_err("another user's token is refused");
        assert_eq!(refused.status(), axum::http::StatusCode::FORBIDDEN);
        assert!(shared.0.lock().unwrap().is_empty());
    }
}
