//! Relays clients across nodes. A client's WebSocket that reached a node which does not hold
//! its connection (a stateful reconnect landing on another node), or whose hub has its app
//! server only on another node (default mode), is relayed to that node: this node opens a
//! WebSocket to its advertised URL first, so a node that is gone is a 503 before the client's
//! upgrade, then carries every frame both ways until either side ends. Nodes announce which
//! hubs they have app servers for, so the others know where to relay.

use std::future::ready;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::forward::{FORWARDED_HEADER, holder_gone};

/// How long opening the WebSocket to the holder may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

/// The relay's WebSocket to the holder.
pub type Upstream = WebSocketStream<MaybeTlsStream<TcpStream>>;

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
    /// The client socket's settings; the socket to the holder takes its buffer sizes (a
    /// relayed connection holds both sockets' buffers while idle: tungstenite's defaults are
    /// 128 KiB each) but not its message limit, which bounds what clients send, not what the
    /// holder sends them.
    pub config: WebSocketConfig,
}

/// Opens the WebSocket to the holder, before the client's upgrade is accepted, so a holder
/// that cannot be reached (or refuses) is an answer the client gets instead of a 101: a 503
/// naming the holder, or the holder's own status and text.
pub async fn open(relay: Relay<'_>) -> Result<Upstream, Response> {
    let Some(address) = relay.holder.strip_prefix("http://") else {
        return Err(holder_gone(
            relay.holder,
            "relaying WebSockets to an https:// node is not supported",
        ));
    };
    let url = format!(
        "ws://{}{}",
        address.trim_end_matches('/'),
        relay.path_and_query
    );
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|err| holder_gone(relay.holder, &err.to_string()))?;
    if let Some(authorization) = relay.headers.get(header::AUTHORIZATION) {
        request
            .headers_mut()
            .insert(header::AUTHORIZATION, authorization.clone());
    }
    let from =
        HeaderValue::from_str(relay.from_node).unwrap_or_else(|_| HeaderValue::from_static("node"));
    request.headers_mut().insert(FORWARDED_HEADER, from);
    let config = relay
        .config
        .max_message_size(WebSocketConfig::default().max_message_size);
    // Without Nagle's algorithm, as every client socket: a small frame after another must not
    // wait for the holder's delayed acknowledgement.
    let connect = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
    match tokio::time::timeout(OPEN_TIMEOUT, connect).await {
        Ok(Ok((upstream, _))) => Ok(upstream),
        Ok(Err(tungstenite::Error::Http(answer))) => {
            // The holder refused (the connection ended, another socket is attached): the
            // client gets the holder's own status and text.
            let status =
                StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let text = answer
                .body()
                .as_ref()
                .map(|body| String::from_utf8_lossy(body).into_owned())
                .unwrap_or_default();
            Err((status, [(header::CONTENT_TYPE, "text/plain")], text).into_response())
        }
        Ok(Err(err)) => Err(holder_gone(relay.holder, &err.to_string())),
        Err(_) => Err(holder_gone(relay.holder, "it did not answer in time")),
    }
}

/// Carries frames both ways between the client's upgraded socket and the holder until one
/// side closes or fails, then closes the other.
pub async fn pump<S>(client: WebSocketStream<S>, upstream: Upstream)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (to_client, from_client) = client.split();
    let (to_holder, from_holder) = upstream.split();
    // Either direction ending ends the relay: the other side learns it from its close.
    tokio::select! {
        () = carry(from_client, to_holder) => {}
        () = carry(from_holder, to_client) => {}
    }
}

/// Carries text and binary frames from one socket to the other until a close or an error,
/// then closes the receiving side. Each hop answers its own pings, so those stay behind.
/// Frames that arrived together leave together: the sink is flushed only when nothing more is
/// ready to be read (`send_all`), so a fan-out burst costs a few writes, not one per frame.
async fn carry<R, W>(from: R, mut to: W)
where
    R: Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
    W: Sink<Message> + Unpin,
{
    let mut frames = from
        .take_while(|received| ready(matches!(received, Ok(message) if !message.is_close())))
        .filter_map(|received| {
            ready(match received {
                Ok(message @ (Message::Text(_) | Message::Binary(_))) => Some(Ok(message)),
                _ => None,
            })
        });
    let _ = to.send_all(&mut frames).await;
    let _ = to.close().await;
}
