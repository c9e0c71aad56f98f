//! Test harness: starts the server on an ephemeral loopback port, mints tokens, makes REST
//! calls and drives hand-rolled WebSocket clients. Every wait is bounded. The mock
//! upstream, the wait-until helper and the SSE/long-polling requests are in their own files.

mod http_transports;
mod upstream;
mod wait;

pub(crate) use http_transports::{HANDSHAKE, connect_url, http, next_chunk, poll, post};
pub(crate) use upstream::{MockUpstream, Received};
pub(crate) use wait::WaitUntil;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use signalr_emulator::auth::issue_token;
use signalr_emulator::cli::DEFAULT_ACCESS_KEY;
use signalr_emulator::{Config, run};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Longest any single wait in a test may take.
pub(crate) const WAIT: Duration = Duration::from_secs(5);

/// A running server.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
    http: reqwest::Client,
}

impl TestServer {
    /// A server with the default configuration.
    pub(crate) async fn start() -> Self {
        Self::with_config(Config::default()).await
    }

    /// A server whose connections queue at most `messages` each (`--send-queue`).
    pub(crate) async fn with_send_queue(messages: usize) -> Self {
        Self::with_config(Config {
            send_queue: messages,
            ..Config::default()
        })
        .await
    }

    /// A server with `config` (its bind address is replaced by 127.0.0.1:0).
    pub(crate) async fn with_config(config: Config) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(run(config, listener, async {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            stop: Some(stop),
            handle: Some(handle),
            http: reqwest::Client::new(),
        }
    }

    /// A server running elsewhere (e.g. the binary in a child process) at `addr`.
    pub(crate) fn attach(addr: SocketAddr) -> Self {
        TestServer {
            addr,
            stop: None,
            handle: None,
            http: reqwest::Client::new(),
        }
    }

    /// Signals shutdown and waits for `run` to return.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(10), handle)
                .await
                .expect("server stops in time")
                .unwrap()
                .unwrap();
        }
    }

    /// `http://127.0.0.1:port{path}`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A REST call with a valid token for the path (query excluded from the audience).
    pub(crate) async fn rest(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let path = path_and_query.split('?').next().unwrap();
        let token = token(json!({ "aud": format!("http://localhost{path}"), "exp": now() + 3600 }));
        self.rest_with_token(method, path_and_query, body, Some(&token))
            .await
    }

    /// A REST call with the given token (or none).
    pub(crate) async fn rest_with_token(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .request(method.parse().unwrap(), self.url(path_and_query));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    /// Posts 80 messages of 512 KiB each to `path`, each accepted: enough to fill a client's
    /// socket buffers and then a small send queue when the client does not read.
    pub(crate) async fn flood(&self, path: &str) {
        let big = "x".repeat(512 * 1024);
        for _ in 0..80 {
            let body = Some(json!({"target": "flood", "arguments": [big]}));
            assert_eq!(self.rest("POST", path, body).await.status(), 202, "{path}");
        }
    }

    /// Whether the REST API sees connection `id` in `hub`.
    pub(crate) async fn connection_exists(&self, hub: &str, id: &str) -> bool {
        let path = format!("/api/v1/hubs/{hub}/connections/{id}");
        self.rest("GET", &path, None).await.status() == 200
    }

    /// The `/metrics` page.
    pub(crate) async fn metrics(&self) -> String {
        self.rest("GET", "/metrics", None)
            .await
            .text()
            .await
            .unwrap()
    }

    /// Waits until `/metrics` shows the sample `line` (`name{labels} value`) exactly.
    pub(crate) async fn wait_for_sample(&self, line: &str) {
        let wait = WaitUntil::new("a /metrics sample reaches its value");
        loop {
            let page = self.metrics().await;
            if page.lines().any(|sample| sample == line) {
                return;
            }
            wait.retry().await;
        }
    }

    /// Negotiates (version 1) as `user` and returns `(connectionId, connectionToken)`.
    pub(crate) async fn negotiate(&self, hub: &str, user: Option<&str>) -> (String, String) {
        let body = self.negotiate_query(hub, user, "").await;
        connection_of(&body)
    }

    /// Negotiates (version 1) anonymously asking for stateful reconnect, checks the service
    /// granted it, and returns `(connectionId, connectionToken)`.
    pub(crate) async fn negotiate_stateful(&self, hub: &str) -> (String, String) {
        let body = self
            .negotiate_query(hub, None, "&useStatefulReconnect=true")
            .await;
        assert_eq!(body["useStatefulReconnect"], true, "{body}");
        connection_of(&body)
    }

    /// A version 1 negotiate with `extra` appended to its query; returns the 200 reply's body.
    async fn negotiate_query(&self, hub: &str, user: Option<&str>, extra: &str) -> Value {
        let response = self
            .http
            .post(self.url(&format!(
                "/client/negotiate?hub={hub}&negotiateVersion=1{extra}"
            )))
            .bearer_auth(client_token(hub, user))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Opens the WebSocket for a connection negotiated anonymously, without a handshake.
    pub(crate) async fn open(&self, hub: &str, token: &str) -> WsClient {
        self.open_with_token(hub, token, &client_token(hub, None))
            .await
    }

    /// Opens the WebSocket for a negotiated connection with `access_token` (a token for the
    /// user who negotiated it), without a handshake.
    pub(crate) async fn open_with_token(
        &self,
        hub: &str,
        token: &str,
        access_token: &str,
    ) -> WsClient {
        let url = format!(
            "ws://{}/client/?hub={hub}&id={token}&access_token={access_token}",
            self.addr
        );
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("websocket connects in time")
            .expect("websocket upgrade succeeds");
        WsClient {
            ws,
            pending: Vec::new(),
        }
    }

    /// Negotiates, connects and completes a JSON handshake; returns the client and its id.
    pub(crate) async fn connect(&self, hub: &str, user: Option<&str>) -> (WsClient, String) {
        let (id, token) = self.negotiate(hub, user).await;
        let mut client = self
            .open_with_token(hub, &token, &client_token(hub, user))
            .await;
        client
            .send_text("{\"protocol\":\"json\",\"version\":1}\x1e")
            .await;
        assert_eq!(client.next_message().await, json!({}));
        (client, id)
    }
}

/// The `/metrics` sample of one `chat` connection waiting for its client to reconnect.
pub(crate) const CHAT_AWAITS_RECONNECT: &str =
    "signalr_connections_awaiting_reconnect{hub=\"chat\"} 1";

/// A negotiate reply's `(connectionId, connectionToken)`.
fn connection_of(body: &Value) -> (String, String) {
    (
        body["connectionId"].as_str().unwrap().to_owned(),
        body["connectionToken"].as_str().unwrap().to_owned(),
    )
}

/// Unix seconds now.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A token signed with the default key.
pub(crate) fn token(claims: Value) -> String {
    issue_token(DEFAULT_ACCESS_KEY, &claims)
}

/// A client token for the hub, as the Azure SDKs mint it (aud without the port).
pub(crate) fn client_token(hub: &str, user: Option<&str>) -> String {
    let mut claims =
        json!({ "aud": format!("http://localhost/client/?hub={hub}"), "exp": now() + 3600 });
    if let Some(user) = user {
        claims["nameid"] = json!(user);
    }
    token(claims)
}

/// A raw WebSocket client speaking the JSON hub protocol.
pub(crate) struct WsClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Messages received but not yet taken (a frame may hold several).
    pending: Vec<Value>,
}

impl WsClient {
    /// A client over an already opened WebSocket.
    pub(crate) fn from_socket(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Self {
        WsClient {
            ws,
            pending: Vec::new(),
        }
    }

    /// Sends one text frame.
    pub(crate) async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    /// Receives the next raw frame's text, or `None` when the socket closed.
    pub(crate) async fn next_frame(&mut self) -> Option<String> {
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame arrives in time");
            match frame {
                Some(Ok(Message::Text(text))) => return Some(text.to_string()),
                Some(Ok(Message::Binary(_))) => panic!("JSON connections get text frames only"),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next hub message (the handshake response counts as one), Pings included.
    pub(crate) async fn next_message(&mut self) -> Value {
        while self.pending.is_empty() {
            let text = self.next_frame().await.expect("the socket stays open");
            self.pending = text
                .split('\x1e')
                .filter(|m| !m.is_empty())
                .map(|m| serde_json::from_str(m).unwrap())
                .rev()
                .collect();
        }
        self.pending.pop().unwrap()
    }

    /// The next hub message that is not a Ping.
    pub(crate) async fn next_non_ping(&mut self) -> Value {
        loop {
            let message = self.next_message().await;
            if message["type"] != 6 {
                return message;
            }
        }
    }

    /// Waits for the socket to close, returning every message seen before.
    pub(crate) async fn until_closed(&mut self) -> Vec<Value> {
        let mut seen = std::mem::take(&mut self.pending);
        seen.reverse();
        while let Some(text) = self.next_frame().await {
            seen.extend(
                text.split('\x1e')
                    .filter(|m| !m.is_empty())
                    .map(|m| serde_json::from_str::<Value>(m).unwrap()),
            );
        }
        seen
    }

    /// Asserts nothing but Pings arrives within `window`.
    pub(crate) async fn expect_silence(&mut self, window: Duration) {
        assert!(
            self.pending.iter().all(|m| m["type"] == 6),
            "unexpected {:?}",
            self.pending
        );
        self.pending.clear();
        let deadline = tokio::time::Instant::now() + window;
        while let Ok(frame) = tokio::time::timeout_at(deadline, self.ws.next()).await {
            match frame {
                Some(Ok(Message::Text(text))) => {
                    for m in text.split('\x1e').filter(|m| !m.is_empty()) {
                        let value: Value = serde_json::from_str(m).unwrap();
                        assert_eq!(value["type"], 6, "expected silence, got {value}");
                    }
                }
                Some(Ok(_)) => {}
                _ => panic!("socket closed while expecting silence"),
            }
        }
    }
}

/// A raw WebSocket.
pub(crate) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A raw MessagePack client of `user` (handshaken).
pub(crate) async fn messagepack_client(server: &TestServer, user: &str) -> Socket {
    use futures_util::SinkExt;
    let (_, token) = server.negotiate("chat", Some(user)).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!(
        "ws://{}/client/?hub=chat&id={token}&access_token={}",
        server.addr,
        client_token("chat", Some(user))
    ))
    .await
    .unwrap();
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        "{\"protocol\":\"messagepack\",\"version\":1}\x1e",
    ))
    .await
    .unwrap();
    assert_eq!(next_binary(&mut ws).await, b"{}\x1e");
    ws
}

/// The next binary frame that is not a MessagePack Ping.
pub(crate) async fn next_binary(ws: &mut Socket) -> Vec<u8> {
    use futures_util::StreamExt;
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            tokio_tungstenite::tungstenite::Message::Binary(data) if data[..] != [2, 0x91, 6] => {
                return data.to_vec();
            }
            tokio_tungstenite::tungstenite::Message::Binary(_) => continue,
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }
}
