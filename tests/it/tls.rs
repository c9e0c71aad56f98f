//! TLS on the service port and to upstreams, with a CA and certificates the test makes itself
//! (nothing checked in that could expire): REST, negotiate and WebSockets over TLS, plain http
//! refused on the TLS port, a renewed certificate picked up without a restart,
//! `--tls-self-signed`, and https upstreams with and without `--upstream-ca`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use serde_json::{Value, json};
use signalr_emulator::Config;
use signalr_emulator::config::TlsSource;
use signalr_emulator::serve::{self, ServeOptions};
use signalr_emulator::tls::{TlsAcceptor, TlsFiles};
use signalr_emulator::upstream::{EventKind, Upstream, UpstreamEvent, UpstreamOutcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::common::{TestServer, WAIT, WaitUntil, client_token, now, token};

/// A CA made for one test.
struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        TestCa { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// Writes `ca.pem`, and a localhost / 127.0.0.1 certificate and key, into `dir`.
    fn issue(&self, dir: &Path) -> TlsFiles {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let files = TlsFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            ca: Some(dir.join("ca.pem")),
        };
        std::fs::write(&files.key, key.serialize_pem()).unwrap();
        std::fs::write(&files.cert, cert.pem()).unwrap();
        std::fs::write(files.ca.as_ref().unwrap(), self.pem()).unwrap();
        files
    }

    /// An HTTPS client that trusts this CA only, and opens a new connection for every request.
    fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.pem().as_bytes()).unwrap())
            .pool_max_idle_per_host(0)
            .timeout(WAIT)
            .build()
            .unwrap()
    }

    fn rustls_client(&self) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.issuer.der().clone()).unwrap();
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }
}

fn tls_config(files: &TlsFiles) -> Config {
    Config {
        tls: Some(TlsSource::Files {
            cert: files.cert.clone(),
            key: files.key.clone(),
        }),
        ..Config::default()
    }
}

fn https(addr: SocketAddr, path: &str) -> String {
    format!("https://{addr}{path}")
}

/// Starts a TLS server and waits until it serves the CA's certificate.
async fn start_tls(config: Config, ca: &reqwest::Client) -> TestServer {
    let server = TestServer::with_config(config).await;
    let health = https(server.addr, "/api/v1/health");
    let response = ca
        .get(&health)
        .send()
        .await
        .expect("the TLS server answers");
    assert_eq!(response.status(), 200);
    server
}

#[tokio::test]
async fn rest_negotiate_and_websockets_work_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("test CA");
    let http = ca.client();
    let server = start_tls(tls_config(&ca.issue(dir.path())), &http).await;

    let health = http
        .get(https(server.addr, "/api/v1/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let generated = http
        .post(https(server.addr, "/api/hubs/chat/:generateToken"))
        .bearer_auth(token(
            json!({"aud": "https://localhost/api/hubs/chat/:generateToken", "exp": now() + 60}),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(generated.status(), 200);
    let generated: Value = generated.json().await.unwrap();
    let claims = generated["token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap()
        .to_owned();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, claims).unwrap(),
    )
    .unwrap();
    assert_eq!(
        claims["aud"],
        format!("https://{}/client/?hub=chat", server.addr),
        "the service's own URLs are https"
    );

    let negotiated: Value = http
        .post(https(
            server.addr,
            "/client/negotiate?hub=chat&negotiateVersion=1",
        ))
        .bearer_auth(client_token("chat", Some("alice")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let connection_token = negotiated["connectionToken"].as_str().unwrap();

    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let tls = ca.rustls_client().connect(name, tcp).await.unwrap();
    let url = format!(
        "wss://localhost:{}/client/?hub=chat&id={connection_token}&access_token={}",
        server.addr.port(),
        client_token("chat", Some("alice"))
    );
    let (mut ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::client_async(url, tls))
        .await
        .unwrap()
        .unwrap();
    ws.send(Message::text("{\"protocol\":\"json\",\"version\":1}\x1e"))
        .await
        .unwrap();
    let next_text = async |ws: &mut tokio_tungstenite::WebSocketStream<_>| loop {
        match tokio::time::timeout(WAIT, ws.next()).await.unwrap() {
            Some(Ok(Message::Text(text))) => break text.to_string(),
            Some(Ok(_)) => continue,
            other => panic!("the socket closed: {other:?}"),
        }
    };
    assert_eq!(next_text(&mut ws).await, "{}\x1e");
    let sent = http
        .post(https(server.addr, "/api/v1/hubs/chat"))
        .bearer_auth(token(
            json!({"aud": "https://localhost/api/v1/hubs/chat", "exp": now() + 60}),
        ))
        .json(&json!({"target": "hello", "arguments": ["over wss"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);
    let message: Value =
        serde_json::from_str(next_text(&mut ws).await.trim_end_matches('\x1e')).unwrap();
    assert_eq!(message["target"], "hello");
    assert_eq!(message["arguments"], json!(["over wss"]));
    server.stop().await;
}

#[tokio::test]
async fn plain_http_to_the_tls_port_is_refused_and_the_server_stays_healthy() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("test CA");
    let server = start_tls(tls_config(&ca.issue(dir.path())), &ca.client()).await;

    for _ in 0..20 {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        tcp.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        tokio::time::timeout(WAIT, tcp.read_to_string(&mut answer))
            .await
            .expect("the server answers and closes")
            .unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{answer}"
        );
        assert!(answer.contains("use https://"), "{answer}");
    }
    // Bytes that are neither TLS nor http: closed without an answer.
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(&[0, 1, 2, 3]).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(WAIT, tcp.read_to_end(&mut answer))
        .await
        .expect("the server closes");
    // Unread input makes the close a reset; either way nothing was answered.
    assert!(read.is_ok() || read.unwrap_err().kind() == std::io::ErrorKind::ConnectionReset);
    assert!(answer.is_empty());
    // A client of the plain URL sees a clear http error, not a hang.
    let plain = reqwest::get(format!("http://{}/api/v1/health", server.addr))
        .await
        .unwrap();
    assert_eq!(plain.status(), 400);
    assert!(plain.text().await.unwrap().contains("https://"));

    let health = ca
        .client()
        .get(https(server.addr, "/api/v1/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the TLS port still serves");
    server.stop().await;
}

#[tokio::test]
async fn a_certificate_replaced_on_disk_is_served_to_new_connections() {
    let dir = tempfile::tempdir().unwrap();
    let (old_ca, new_ca) = (TestCa::new("old CA"), TestCa::new("new CA"));
    let files = old_ca.issue(dir.path());
    let server = start_tls(tls_config(&files), &old_ca.client()).await;
    let health = https(server.addr, "/api/v1/health");
    assert!(new_ca.client().get(&health).send().await.is_err());

    // Renewed in place, as certbot or a CI secret rotation does.
    let renewed = tempfile::tempdir().unwrap();
    let next = new_ca.issue(renewed.path());
    std::fs::copy(&next.key, &files.key).unwrap();
    std::fs::copy(&next.cert, &files.cert).unwrap();

    let wait = WaitUntil::within(Duration::from_secs(10), "the new certificate is served");
    loop {
        if let Ok(response) = new_ca.client().get(&health).send().await {
            assert_eq!(response.status(), 200);
            break;
        }
        wait.retry().await;
    }
    assert!(
        old_ca.client().get(&health).send().await.is_err(),
        "the old certificate is no longer served"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_broken_replacement_keeps_the_current_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("test CA");
    let files = ca.issue(dir.path());
    let server = start_tls(tls_config(&files), &ca.client()).await;
    std::fs::write(&files.cert, "not a certificate").unwrap();
    // The sleep is the assertion: two polls (one second apart) see the broken file settle and
    // refuse it, and the certificate still served afterwards is the old one.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let health = https(server.addr, "/api/v1/health");
    assert_eq!(ca.client().get(&health).send().await.unwrap().status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn tls_self_signed_creates_a_local_ca_to_trust() {
    let dir = tempfile::tempdir().unwrap();
    let source = TlsSource::SelfSigned {
        dir: dir.path().join("tls"),
    };
    // As main does before the server starts; the server then reuses the CA.
    let files = signalr_emulator::tls::prepare(&source).unwrap();
    let ca = std::fs::read(files.ca.unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    let server = start_tls(
        Config {
            tls: Some(source),
            ..Config::default()
        },
        &client,
    )
    .await;
    for host in ["localhost", "127.0.0.1"] {
        let url = format!("https://{host}:{}/api/v1/health", server.addr.port());
        assert_eq!(
            client.get(&url).send().await.unwrap().status(),
            200,
            "{url}"
        );
    }
    server.stop().await;
}

#[test]
fn unusable_certificate_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("test CA");
    let files = ca.issue(dir.path());
    let other_dir = tempfile::tempdir().unwrap();
    let other = TestCa::new("other").issue(other_dir.path());
    let prepare = |cert: &PathBuf, key: &PathBuf| {
        signalr_emulator::tls::prepare(&TlsSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        })
        .unwrap_err()
        .to_string()
    };
    let missing = dir.path().join("missing.pem");
    assert!(prepare(&missing, &files.key).contains("--tls-cert: cannot read"));
    assert!(prepare(&files.key, &files.key).contains("holds no '-----BEGIN CERTIFICATE-----'"));
    assert!(prepare(&files.cert, &files.cert).contains("--tls-key"));
    let mismatch = prepare(&files.cert, &other.key);
    assert!(
        mismatch.contains("is not the private key of the certificate"),
        "{mismatch}"
    );
}

/// An https upstream answering every invocation with a Completion, on `files`' certificate.
async fn https_upstream(files: &TlsFiles, shutdown: &CancellationToken) -> SocketAddr {
    let app = axum::Router::new()
        .fallback(async || "{\"type\":3,\"invocationId\":\"1\",\"result\":\"over https\"}\x1e");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::new(files, shutdown.clone()).unwrap();
    let options = ServeOptions {
        header_read_timeout: WAIT,
        body_read_timeout: WAIT,
        shutdown_timeout: WAIT,
    };
    tokio::spawn(serve::serve(
        vec![listener],
        acceptor,
        app,
        options,
        TaskTracker::new(),
        shutdown.clone(),
    ));
    addr
}

async fn invoke(upstream: &Upstream) -> UpstreamOutcome {
    upstream
        .call(UpstreamEvent {
            hub: "chat",
            connection_id: "conn-1",
            user_id: None,
            claims: &[],
            client_query: "",
            kind: EventKind::Message {
                target: "echo",
                body: bytes::Bytes::from_static(
                    b"{\"type\":1,\"invocationId\":\"1\",\"target\":\"echo\",\"arguments\":[]}",
                ),
                msgpack: false,
            },
        })
        .await
}

#[tokio::test]
async fn an_https_upstream_with_a_private_ca_needs_upstream_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("private upstream CA");
    let files = ca.issue(dir.path());
    let shutdown = CancellationToken::new();
    let addr = https_upstream(&files, &shutdown).await;
    let config = |upstream_ca: Vec<PathBuf>| Config {
        upstream_urls: vec![format!("https://localhost:{}/api/{{event}}", addr.port())],
        upstream_ca,
        ..Config::default()
    };

    let trusted = Upstream::from_config(&config(vec![files.ca.clone().unwrap()]))
        .unwrap()
        .unwrap();
    assert_eq!(
        invoke(&trusted).await,
        UpstreamOutcome::Body(bytes::Bytes::from_static(
            b"{\"type\":3,\"invocationId\":\"1\",\"result\":\"over https\"}\x1e"
        ))
    );

    let untrusted = Upstream::from_config(&config(Vec::new())).unwrap().unwrap();
    match invoke(&untrusted).await {
        UpstreamOutcome::Failed(text) => assert!(
            text.starts_with("Invocation failed, error: the upstream's TLS certificate was refused: invalid peer certificate: UnknownIssuer"),
            "{text}"
        ),
        other => panic!("expected a failure, got {other:?}"),
    }
    shutdown.cancel();
}

#[test]
fn upstream_ca_files_must_hold_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    for (file, why) in [
        (dir.path().join("missing.pem"), "cannot read"),
        (not_pem, "holds no '-----BEGIN CERTIFICATE-----' block"),
    ] {
        let err = Upstream::from_config(&Config {
            upstream_urls: vec!["https://localhost/x".into()],
            upstream_ca: vec![file],
            ..Config::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("--upstream-ca: ") && err.contains(why),
            "{err}"
        );
    }
}

#[tokio::test]
async fn the_healthcheck_subcommand_speaks_tls_to_a_tls_port() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("test CA");
    let server = start_tls(tls_config(&ca.issue(dir.path())), &ca.client()).await;
    signalr_emulator::healthcheck::check(server.addr.port(), WAIT)
        .await
        .expect("healthy over https");
    server.stop().await;
}
