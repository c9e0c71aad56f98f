//! The HTTP/1.1 WebSocket upgrade of the connect URL, done on tokio-tungstenite directly rather
//! than through axum's `WebSocket`: axum's socket only takes its own text type, which it builds by
//! checking the bytes as UTF-8 again for every recipient, while tungstenite's takes the shared
//! text frame the fan-out checked once per message ([`crate::protocol::Frame`]).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

/// A client's WebSocket once upgraded.
pub(super) type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// A request that asks for a WebSocket (RFC 6455 §4.2.1), not upgraded yet.
pub(super) struct SocketUpgrade {
    on_upgrade: OnUpgrade,
    accept: HeaderValue,
    config: WebSocketConfig,
}

/// The request is not a WebSocket upgrade; the endpoint serves it as another transport.
#[derive(Debug)]
pub(super) struct NotAnUpgrade;

impl IntoResponse for NotAnUpgrade {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, "not a WebSocket upgrade").into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SocketUpgrade {
    type Rejection = NotAnUpgrade;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, NotAnUpgrade> {
        let headers = &parts.headers;
        let asks = parts.method == Method::GET
            && has_token(headers, header::CONNECTION, "upgrade")
            && has_token(headers, header::UPGRADE, "websocket")
            && headers
                .get(header::SEC_WEBSOCKET_VERSION)
                .is_some_and(|v| v == "13");
        let key = headers.get(header::SEC_WEBSOCKET_KEY).filter(|_| asks);
        let (Some(key), Some(on_upgrade)) = (key, parts.extensions.get::<OnUpgrade>()) else {
            return Err(NotAnUpgrade);
        };
        let accept =
            HeaderValue::from_str(&derive_accept_key(key.as_bytes())).map_err(|_| NotAnUpgrade)?;
        Ok(SocketUpgrade {
            on_upgrade: on_upgrade.clone(),
            accept,
            config: WebSocketConfig::default(),
        })
    }
}

/// Whether a comma-separated header holds `token` (case-insensitively).
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|part| part.trim().eq_ignore_ascii_case(token))
}

impl SocketUpgrade {
    /// Sets the socket's buffer and message limits.
    pub(super) fn config(mut self, config: WebSocketConfig) -> Self {
        self.config = config;
        self
    }

    /// Answers `101 Switching Protocols` and, once the connection is upgraded, runs `callback`
    /// with the socket in a task of its own; `on_failed` runs instead if the upgrade fails.
    pub(super) fn on_upgrade<F>(
        self,
        on_failed: impl FnOnce() + Send + 'static,
        callback: impl FnOnce(Socket) -> F + Send + 'static,
    ) -> Response
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let SocketUpgrade {
            on_upgrade,
            accept,
            config,
        } = self;
        tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else {
                on_failed();
                return;
            };
            let socket = WebSocketStream::from_raw_socket(
                TokioIo::new(upgraded),
                Role::Server,
                Some(config),
            )
            .await;
            callback(socket).await;
        });
        (
            StatusCode::SWITCHING_PROTOCOLS,
            [
                (header::CONNECTION, HeaderValue::from_static("upgrade")),
                (header::UPGRADE, HeaderValue::from_static("websocket")),
                (header::SEC_WEBSOCKET_ACCEPT, accept),
            ],
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_tokens_are_found_in_lists_and_any_case() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert!(has_token(&headers, header::CONNECTION, "upgrade"));
        assert!(!has_token(&headers, header::UPGRADE, "websocket"));
    }
}
