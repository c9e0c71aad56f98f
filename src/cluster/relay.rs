//! Relays clients across nodes. A client's WebSocket that reached a node which does not hold
//! its connection (a stateful reconnect landing on another node), or whose hub has its app
//! server only on another node (default mode), is relayed to that node: this node opens a
//! WebSocket to its advertised URL first, so a node that is gone is a 503 before the client's
//! upgrade, then carries every frame both ways until either side ends. Nodes announce which
//! hubs they have app servers for, so the others know where to relay.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{self, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::task::TaskTracker;

use super::forward::{FORWARDED_HEADER, holder_gone};
use crate::hub::Hub;
use crate::state::AppState;

/// How long opening the WebSocket to the holder may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

type Upstream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One WebSocket to relay, as the client endpoint received it.
#[derive(Debug)]
pub struct Relay<'a> {
    /// The holder's advertised base URL (`http://`; an `https://` holder is refused).
    pub holder: &'a str,
    /// Path and query of the client's request.
    pub path_and_query: &'a str,
    /// The client's request headers; the token goes along (the holder checks it again).
    pub headers: &'a HeaderMap,
    /// This node's id, for [`FORWARDED_HEADER`].
    pub from_node: &'a str,
    /// Tracks the relay task, so shutdown waits for it.
    pub tasks: &'a TaskTracker,
}

/// Opens the WebSocket to the holder, then accepts the client's upgrade and relays between
/// the two; a holder that cannot be reached is a 503 naming it.
pub async fn relay(upgrade: WebSocketUpgrade, relay: Relay<'_>) -> Response {
    let Some(address) = relay.holder.strip_prefix("http://") else {
        return holder_gone(
            relay.holder,
            "relaying WebSockets to an https:// node is not supported",
        );
    };
    let url = format!(
        "ws://{}{}",
        address.trim_end_matches('/'),
        relay.path_and_query
    );
    let mut request = match url.as_str().into_client_request() {
        Ok(request) => request,
        Err(err) => return holder_gone(relay.holder, &err.to_string()),
    };
    if let Some(authorization) = relay.headers.get(header::AUTHORIZATION) {
        request
            .headers_mut()
            .insert(header::AUTHORIZATION, authorization.clone());
    }
    let from =
        HeaderValue::from_str(relay.from_node).unwrap_or_else(|_| HeaderValue::from_static("node"));
    request.headers_mut().insert(FORWARDED_HEADER, from);
    let upstream =
        match tokio::time::timeout(OPEN_TIMEOUT, tokio_tungstenite::connect_async(request)).await {
            Ok(Ok((upstream, _))) => upstream,
            Ok(Err(tungstenite::Error::Http(answer))) => {
                // The holder refused (the connection ended, another socket is attached): the
                // client gets the holder's own status and text.
                let status = StatusCode::from_u16(answer.status().as_u16())
                    .unwrap_or(StatusCode::BAD_GATEWAY);
                let text = answer
                    .body()
                    .as_ref()
                    .map(|body| String::from_utf8_lossy(body).into_owned())
                    .unwrap_or_default();
                return (status, [(header::CONTENT_TYPE, "text/plain")], text).into_response();
            }
            Ok(Err(err)) => return holder_gone(relay.holder, &err.to_string()),
            Err(_) => return holder_gone(relay.holder, "it did not answer in time"),
        };
    let tasks = relay.tasks.clone();
    upgrade
        .on_upgrade(move |client| tasks.track_future(pump(client, upstream)))
        .into_response()
}

/// Carries frames both ways until one side closes or fails, then closes the other.
async fn pump(client: WebSocket, upstream: Upstream) {
    let (mut to_client, mut from_client) = client.split();
    let (mut to_holder, mut from_holder) = upstream.split();
    let client_to_holder = async {
        while let Some(Ok(message)) = from_client.next().await {
            let message = match message {
                ws::Message::Text(text) => Message::text(text.as_str()),
                ws::Message::Binary(data) => Message::Binary(data),
                ws::Message::Close(_) => break,
                // Each hop answers its own pings.
                ws::Message::Ping(_) | ws::Message::Pong(_) => continue,
            };
            if to_holder.send(message).await.is_err() {
                break;
            }
        }
        let _ = to_holder.close().await;
    };
    let holder_to_client = async {
        while let Some(Ok(message)) = from_holder.next().await {
            let message = match message {
                Message::Text(text) => ws::Message::Text(text.as_str().into()),
                Message::Binary(data) => ws::Message::Binary(data),
                Message::Close(_) => break,
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            };
            if to_client.send(message).await.is_err() {
                break;
            }
        }
        let _ = to_client
            .send(ws::Message::Close(Some(ws::CloseFrame {
                code: ws::close_code::NORMAL,
                reason: ws::Utf8Bytes::from_static(""),
            })))
            .await;
    };
    // Either direction ending ends the relay: the other side learns it from its close.
    tokio::select! {
        () = client_to_holder => {}
        () = holder_to_client => {}
    }
}

/// Tells the cluster whether this node has an app server for `hub` now (call after one
/// connected or left), so that other nodes relay that hub's clients here when they have none.
pub fn announce_app_servers(state: &AppState, hub: &Arc<Hub>) {
    if let Some(cluster) = state.cluster.clone() {
        let hub = hub.clone();
        // Read when the task runs, so the last announcement says how things are now.
        state.tasks.spawn(async move {
            cluster
                .announce_app_servers(hub.name(), hub.has_app_server())
                .await;
        });
    }
}
