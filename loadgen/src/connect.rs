//! Opening one client: a TCP connection bound to a chosen 127.0.0.x source address (so more than
//! one address's ~28k ephemeral ports are available), TLS for an https target, the WebSocket
//! upgrade, and the opening
//! exchange of each kind of server: SignalR negotiate + hub-protocol handshake, Engine.IO open +
//! Socket.IO connect, or nothing for the raw server.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::Url;
use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::either::Either;

use crate::Result;
use crate::cli::{HubProtocol, Mode, RunArgs};
use crate::wire::Framing;

/// A client's WebSocket, over plain TCP or TLS.
pub(crate) type Ws = WebSocketStream<Either<TcpStream, TlsStream<TcpStream>>>;

/// How long one client may take for its opening exchange after the TCP connect.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);
/// Read buffer per client: messages are small, and 10k clients must fit in memory.
const READ_BUFFER: usize = 4 * 1024;
/// Receive buffer of a slow consumer's socket, so the server's queue fills after few messages.
const SLOW_RECV_BUFFER: u32 = 4 * 1024;
/// errno values worth a hint.
const EMFILE: i32 = 24;
const EADDRNOTAVAIL: i32 = 99;

/// A client that finished its opening exchange.
pub(crate) struct Connected {
    /// The socket.
    pub(crate) ws: Ws,
    /// The SignalR connection id (for group joins and connection sends).
    pub(crate) connection_id: Option<String>,
    /// Bytes that followed the handshake response in the same frame.
    pub(crate) leftover: Vec<u8>,
}

/// Everything clients of one run share to connect.
pub(crate) struct Connector {
    mode: Mode,
    protocol: HubProtocol,
    /// `http://ip:port` (or `https://`) without a trailing slash.
    base: String,
    server: SocketAddr,
    /// Set for an https target: how each client's TLS session starts.
    tls: Option<TlsConnector>,
    hub: String,
    http: reqwest::Client,
    ws_config: WebSocketConfig,
}

impl Connector {
    /// Checks the target `url` (a loopback address) and builds the shared HTTP client for the
    /// run's kind of clients.
    pub(crate) fn new(args: &RunArgs, url: &str) -> Result<Self> {
        Self::build(args.mode, args.protocol, url, &args.hub, args.ca.as_deref())
    }

    /// A connector for SignalR JSON clients of `hub` at `url` (a loopback address).
    pub(crate) fn signalr_json(url: &str, hub: &str) -> Result<Self> {
        Self::build(Mode::Signalr, HubProtocol::Json, url, hub, None)
    }

    fn build(
        mode: Mode,
        protocol: HubProtocol,
        url: &str,
        hub: &str,
        ca: Option<&std::path::Path>,
    ) -> Result<Self> {
        let (scheme, server) = loopback_target(url)?;
        let mut http = reqwest::Client::builder()
            .local_address(IpAddr::from([127, 0, 0, 1]))
            .tcp_nodelay(true);
        let mut tls = None;
        if scheme == "https" {
            let ca = ca.ok_or_else(|| format!("--url {url}: an https target needs --ca FILE"))?;
            let pem = std::fs::read(ca).map_err(|e| format!("--ca {}: {e}", ca.display()))?;
            let mut roots = rustls::RootCertStore::empty();
            for certificate in
                <rustls_pki_types::CertificateDer as rustls_pki_types::pem::PemObject>::pem_slice_iter(&pem)
            {
                roots.add(certificate.map_err(|e| format!("--ca {}: {e}", ca.display()))?)?;
            }
            let config = rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth();
            tls = Some(TlsConnector::from(Arc::new(config)));
            http = http.tls_built_in_root_certs(false);
            for certificate in reqwest::Certificate::from_pem_bundle(&pem)? {
                http = http.add_root_certificate(certificate);
            }
        }
        let http = http.build()?;
        Ok(Connector {
            mode,
            protocol,
            base: format!("{scheme}://{server}"),
            server,
            tls,
            hub: hub.to_owned(),
            http,
            ws_config: WebSocketConfig::default()
                .read_buffer_size(READ_BUFFER)
                .write_buffer_size(0),
        })
    }

    /// The server's base URL, `http://ip:port`.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// The server's socket address.
    pub(crate) fn server(&self) -> SocketAddr {
        self.server
    }

    /// The shared HTTP client (keep-alive pool).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// How this run's clients frame their messages.
    pub(crate) fn framing(&self) -> Framing {
        match (self.mode, self.protocol) {
            (Mode::Signalr, HubProtocol::Json) => Framing::SignalrJson,
            (Mode::Signalr, HubProtocol::Messagepack) => Framing::SignalrMessagepack,
            (Mode::Socketio, _) => Framing::EngineIo,
            (Mode::Raw, _) => Framing::Raw,
        }
    }

    /// Opens one client from `source`. `token` is the client's access token (SignalR mode);
    /// a `slow` client gets a tiny receive buffer.
    pub(crate) async fn connect(
        &self,
        source: IpAddr,
        token: Option<&str>,
        slow: bool,
    ) -> Result<Connected> {
        match self.mode {
            Mode::Signalr => self.signalr(source, token.unwrap_or_default(), slow).await,
            Mode::Raw => Ok(Connected {
                ws: self.websocket(source, "/ws", slow).await?,
                connection_id: None,
                leftover: Vec::new(),
            }),
            Mode::Socketio => self.socketio(source, slow).await,
        }
    }

    async fn signalr(&self, source: IpAddr, token: &str, slow: bool) -> Result<Connected> {
        let negotiate = format!(
            "{}/client/negotiate?hub={}&negotiateVersion=1",
            self.base, self.hub
        );
        let response = self.http.post(&negotiate).bearer_auth(token).send().await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if !status.is_success() {
            return Err(format!("negotiate answered {status}: {body}").into());
        }
        if let Some(error) = body.get("error") {
            return Err(format!("negotiate failed: {error}").into());
        }
        let connection_id = body
            .get("connectionId")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("negotiate gave no connectionId: {body}"))?
            .to_owned();
        let connection_token = body
            .get("connectionToken")
            .and_then(Value::as_str)
            .unwrap_or(&connection_id);
        // The JavaScript client sends the access token on the WebSocket too.
        let path = format!(
            "/client/?hub={}&id={connection_token}&access_token={token}",
            self.hub
        );
        let mut ws = self.websocket(source, &path, slow).await?;
        let request = format!(
            "{{\"protocol\":\"{}\",\"version\":1}}\x1e",
            self.protocol.name()
        );
        ws.send(Message::text(request)).await?;
        let response = tokio::time::timeout(OPEN_TIMEOUT, next_data(&mut ws))
            .await
            .map_err(|_| "no handshake response within 30 s")??;
        let end = response
            .iter()
            .position(|&b| b == 0x1e)
            .ok_or("the handshake response has no record separator")?;
        if &response[..end] != b"{}" {
            return Err(self.handshake_error(&response[..end]).into());
        }
        Ok(Connected {
            ws,
            connection_id: Some(connection_id),
            leftover: response[end + 1..].to_vec(),
        })
    }

    fn handshake_error(&self, response: &[u8]) -> String {
        let text = serde_json::from_slice::<Value>(response)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(response).into_owned());
        if self.protocol == HubProtocol::Messagepack {
            format!(
                "MessagePack is not supported by the server yet: its handshake answer was \"{text}\""
            )
        } else {
            format!("the server refused the handshake: {text}")
        }
    }

    async fn socketio(&self, source: IpAddr, slow: bool) -> Result<Connected> {
        let mut ws = self
            .websocket(source, "/socket.io/?EIO=4&transport=websocket", slow)
            .await?;
        let open = async {
            let mut connect_sent = false;
            loop {
                let packet = next_data(&mut ws).await?;
                match packet.as_slice() {
                    [b'0', ..] if !connect_sent => {
                        ws.send(Message::text("40")).await?;
                        connect_sent = true;
                    }
                    [b'4', b'0', ..] if connect_sent => return Ok::<_, crate::BoxError>(()),
                    b"2" => ws.send(Message::text("3")).await?,
                    [b'4', b'4', ..] => {
                        return Err(format!(
                            "Socket.IO refused the connection: {}",
                            String::from_utf8_lossy(&packet)
                        )
                        .into());
                    }
                    _ => {}
                }
            }
        };
        tokio::time::timeout(OPEN_TIMEOUT, open)
            .await
            .map_err(|_| "no Socket.IO connect within 30 s")??;
        Ok(Connected {
            ws,
            connection_id: None,
            leftover: Vec::new(),
        })
    }

    async fn websocket(&self, source: IpAddr, path: &str, slow: bool) -> Result<Ws> {
        let socket = TcpSocket::new_v4()?;
        socket
            .bind(SocketAddr::new(source, 0))
            .map_err(|e| io_error(e, &format!("binding source address {source}")))?;
        if slow {
            socket.set_recv_buffer_size(SLOW_RECV_BUFFER)?;
        }
        let stream = socket
            .connect(self.server)
            .await
            .map_err(|e| io_error(e, &format!("connecting from {source} to {}", self.server)))?;
        stream.set_nodelay(true)?;
        let (stream, scheme) = match &self.tls {
            None => (Either::Left(stream), "ws"),
            Some(tls) => {
                let name = rustls_pki_types::ServerName::IpAddress(self.server.ip().into());
                (Either::Right(tls.connect(name, stream).await?), "wss")
            }
        };
        let url = format!("{scheme}://{}{path}", self.server);
        let (ws, _) =
            tokio_tungstenite::client_async_with_config(url, stream, Some(self.ws_config)).await?;
        Ok(ws)
    }
}

/// The next text or binary frame's bytes.
async fn next_data(ws: &mut Ws) -> Result<Vec<u8>> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text.as_bytes().to_vec()),
            Some(Ok(Message::Binary(data))) => return Ok(data.to_vec()),
            Some(Ok(Message::Close(frame))) => {
                return Err(format!("the server closed the WebSocket: {frame:?}").into());
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => return Err("the server closed the connection".into()),
        }
    }
}

/// An I/O error with what was being done and, for the usual limits, how to get past them.
fn io_error(error: std::io::Error, doing: &str) -> crate::BoxError {
    let hint = match error.raw_os_error() {
        Some(EMFILE) => " (out of file descriptors: raise `ulimit -n`)",
        Some(EADDRNOTAVAIL) => " (out of local ports: spread clients with --source-ips)",
        _ => "",
    };
    format!("{doing}: {error}{hint}").into()
}

/// The scheme and socket address of `url`, which must be `http(s)://<loopback ip>:<port>`.
fn loopback_target(url: &str) -> Result<(&'static str, SocketAddr)> {
    let parsed = Url::parse(url).map_err(|e| format!("--url {url}: {e}"))?;
    let scheme = match parsed.scheme() {
        "http" => "http",
        "https" => "https",
        _ => return Err(format!("--url {url}: only http:// and https:// are supported").into()),
    };
    let ip: IpAddr = match parsed.host_str() {
        Some("localhost") => IpAddr::from([127, 0, 0, 1]),
        Some(host) => host
            .parse()
            .map_err(|_| format!("--url {url}: the host must be a loopback IPv4 address"))?,
        None => return Err(format!("--url {url}: no host").into()),
    };
    if !ip.is_loopback() {
        return Err(format!(
            "--url {url}: signalr-loadgen only targets loopback addresses (127.x.y.z)"
        )
        .into());
    }
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| format!("--url {url}: no port"))?;
    Ok((scheme, SocketAddr::new(ip, port)))
}
