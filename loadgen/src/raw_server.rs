//! The ceiling baseline: the least a WebSocket broadcast server can do. Plain tokio-tungstenite
//! over TCP, one task per client that owns its socket and drains a bounded queue (batching
//! what is queued into one flush, as the emulator does), and a broadcast that encodes the text
//! frame once and hands every client a shared copy. A full queue drops that client.
//!
//! `POST /broadcast` (HTTP/1.1, keep-alive) sends its body to every client (with
//! `--signalr-frames`, wrapped in the SignalR record the emulator would send for it, so both
//! carry the same bytes); anything else on the port is taken for a WebSocket upgrade. A text
//! frame a client sends comes back to it through its own queue: the ceiling for the echo rows.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::Result;
use crate::cli::ServerArgs;
use crate::wire::send_record;

/// Same buffer sizes and batch as the emulator's WebSocket transport, for a like-for-like ceiling.
const READ_BUFFER: usize = 4 * 1024;
const WRITE_BUFFER: usize = 8 * 1024;
const MAX_BATCH: usize = 64;
/// Connections waiting to be accepted: room for connection bursts (`TcpListener::bind` gives 128).
const BACKLOG: u32 = 4096;
/// Largest trigger request accepted (headers and body).
const MAX_REQUEST: usize = 1024 * 1024;

#[derive(Default)]
struct Clients {
    next_id: AtomicU64,
    queues: RwLock<HashMap<u64, mpsc::Sender<Message>>>,
    signalr_frames: bool,
}

impl Clients {
    fn broadcast(&self, text: String) -> usize {
        let text = if self.signalr_frames {
            send_record(&text)
        } else {
            text
        };
        let frame = Message::Text(Utf8Bytes::from(text));
        let queues = self.queues.read().unwrap_or_else(|e| e.into_inner());
        queues
            .values()
            .filter(|queue| queue.try_send(frame.clone()).is_ok())
            .count()
    }
}

/// Serves on 127.0.0.1:`port` until the process is stopped.
pub(crate) async fn serve(args: ServerArgs) -> Result<()> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], args.port)))?;
    let listener = socket.listen(BACKLOG)?;
    eprintln!("raw-server listening on {}", listener.local_addr()?);
    let clients = Arc::new(Clients {
        signalr_frames: args.signalr_frames,
        ..Clients::default()
    });
    let capacity = args.send_queue.max(1);
    loop {
        let (stream, _) = listener.accept().await?;
        let clients = clients.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let mut start = [0u8; 5];
            let is_trigger = matches!(stream.peek(&mut start).await, Ok(5) if &start == b"POST ");
            if is_trigger {
                let _ = trigger(stream, &clients).await;
            } else {
                let _ = client(stream, &clients, capacity).await;
            }
        });
    }
}

/// One WebSocket client: register its queue, write what arrives, echo the text it sends.
async fn client(stream: TcpStream, clients: &Clients, capacity: usize) -> Result<()> {
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER);
    let mut ws = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await?;
    let (tx, mut rx) = mpsc::channel(capacity);
    let echo = tx.clone();
    let id = clients.next_id.fetch_add(1, Ordering::Relaxed);
    clients
        .queues
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id, tx);
    let result = async {
        loop {
            tokio::select! {
                frame = rx.recv() => {
                    let Some(frame) = frame else { return Ok(()) };
                    ws.feed(frame).await?;
                    for _ in 1..MAX_BATCH {
                        match rx.try_recv() {
                            Ok(frame) => ws.feed(frame).await?,
                            Err(_) => break,
                        }
                    }
                    ws.flush().await?;
                }
                incoming = ws.next() => match incoming {
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Ok(()),
                    Some(Ok(Message::Text(text))) => {
                        let _ = echo.try_send(Message::Text(text));
                    }
                    Some(Ok(_)) => {}
                },
            }
        }
    }
    .await;
    clients
        .queues
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&id);
    result
}

/// Keep-alive HTTP/1.1 requests: `POST /broadcast` broadcasts its body; others get 404.
async fn trigger(mut stream: TcpStream, clients: &Clients) -> Result<()> {
    let mut buf = Vec::with_capacity(4096);
    loop {
        let (head, body_len, path_ok) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut request = httparse::Request::new(&mut headers);
            if let httparse::Status::Complete(head) = request.parse(&buf)? {
                let body_len = request
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
                    .unwrap_or(0usize);
                let path_ok = request.method == Some("POST") && request.path == Some("/broadcast");
                break (head, body_len, path_ok);
            }
            if buf.len() > MAX_REQUEST || read_more(&mut stream, &mut buf).await? == 0 {
                return Ok(());
            }
        };
        if head + body_len > MAX_REQUEST {
            stream.write_all(b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await?;
            return Ok(());
        }
        while buf.len() < head + body_len {
            if read_more(&mut stream, &mut buf).await? == 0 {
                return Ok(());
            }
        }
        let body = buf[head..head + body_len].to_vec();
        buf.drain(..head + body_len);
        let response: &[u8] = match (path_ok, String::from_utf8(body)) {
            (true, Ok(text)) => {
                clients.broadcast(text);
                b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
            }
            (true, Err(_)) => b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n",
            (false, _) => b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
        };
        stream.write_all(response).await?;
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut chunk = [0u8; 4096];
    let n = stream.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}
