//! [`TlsAcceptor`]: the TLS handshake on an accepted TCP stream, after a one-byte peek that
//! tells a TLS ClientHello from a plain-http request.

use std::io;
use std::sync::Arc;

use rustls::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use super::resolver::{self, ReloadingCert};
use super::{TlsError, TlsFiles, certificate};

/// The first byte of every TLS connection: a handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// What a plain-http client on the TLS port is told, as a complete HTTP/1.1 response.
const PLAIN_HTTP_REFUSED: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Connection: close\r\n\
Content-Length: 72\r\n\
\r\n\
This port speaks TLS: use https:// (and wss:// for WebSockets) instead.\n";

/// How much of a plain-http request is read before the socket closes, and for how long.
const DRAIN_LIMIT: usize = 16 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(1);

/// Accepts TLS connections with the current certificate of a [`TlsFiles`] pair. Cheap to clone.
#[derive(Clone)]
pub struct TlsAcceptor {
    inner: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsAcceptor")
    }
}

impl TlsAcceptor {
    /// Loads the certificate and starts re-reading it when its files change, until `shutdown`.
    /// Call it inside a Tokio runtime.
    pub fn new(files: &TlsFiles, shutdown: CancellationToken) -> Result<Self, TlsError> {
        let loaded = certificate::read_pair(&files.cert, &files.key).map_err(TlsError)?;
        let first = certificate::load(&files.cert, &files.key)?;
        let resolver = Arc::new(ReloadingCert::new(first));
        let mut config = ServerConfig::builder()
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        // The server speaks HTTP/1.1 (WebSockets upgrade over it).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        tokio::spawn(resolver::watch(
            resolver,
            files.cert.clone(),
            files.key.clone(),
            loaded,
            shutdown,
        ));
        Ok(TlsAcceptor {
            inner: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// Runs the handshake. A client that sent plain http instead gets a short 400 naming
    /// `https://` and an error comes back; so does a failed handshake. The caller bounds the
    /// time this may take.
    pub async fn accept(&self, mut stream: TcpStream) -> io::Result<TlsStream<TcpStream>> {
        let mut first = [0u8; 1];
        if stream.peek(&mut first).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if first[0] != TLS_HANDSHAKE {
            // An HTTP method starts with a letter; anything else gets no answer at all.
            if first[0].is_ascii_alphabetic() {
                refuse_plain_http(&mut stream).await;
            }
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "plain http sent to the TLS port",
            ));
        }
        self.inner.accept(stream).await
    }
}

/// Answers [`PLAIN_HTTP_REFUSED`], then reads (a little of) what the client sent: closing a
/// socket with unread input resets it, and the client might never see the answer.
async fn refuse_plain_http(stream: &mut TcpStream) {
    if stream.write_all(PLAIN_HTTP_REFUSED).await.is_err() {
        return;
    }
    let _ = stream.shutdown().await;
    let drain = async {
        let mut buffer = [0u8; 4096];
        let mut total = 0;
        while total < DRAIN_LIMIT {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
}

impl crate::serve::Acceptor for TlsAcceptor {
    type Io = TlsStream<TcpStream>;

    async fn accept(
        &self,
        stream: TcpStream,
        _peer: std::net::SocketAddr,
    ) -> io::Result<TlsStream<TcpStream>> {
        TlsAcceptor::accept(self, stream).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_http_answer_is_a_complete_response() {
        let text = std::str::from_utf8(PLAIN_HTTP_REFUSED).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{text}"
        );
    }
}
