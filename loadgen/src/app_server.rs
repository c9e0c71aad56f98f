//! The simulated app server of the default-mode rows: `--app-connections` server connections
//! to `/server/?hub=` (the SDK's token and headers, HandshakeRequest Default), each owned by one
//! task that answers every relayed client's hub handshake (ConnectionData `{}` tagged
//! Handshake), answers `echo` invocations with their Completion, and writes the BroadcastData
//! the send phase hands it. It speaks the ServiceProtocol and the hub protocols through the
//! project's own codecs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use signalr_emulator::protocol::service::{
    BroadcastData, ConnectionData, DataMessageType, Extensions, HandshakeRequest, Ping,
    ServerConnectionType, ServiceMessage, encode_frame, parse_frame,
};
use signalr_emulator::protocol::{
    Completion, CompletionResult, Headers, HubMessage, Invocation, Protocol, encode, next_frame,
    parse,
};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::Result;
use crate::cli::{RunArgs, mint};
use crate::connect::Connector;
use crate::reader::Shared;
use crate::sender::Sent;
use crate::wire::payload;

/// Frames queued per server connection before the send phase waits (back-pressure).
const QUEUE: usize = 1024;
/// How long the service may take to answer the handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// The SDK's keep-alive period.
const KEEP_ALIVE: Duration = Duration::from_secs(5);
/// Frames written per flush.
const MAX_BATCH: usize = 64;

/// The running app server: one writer queue per server connection.
pub(crate) struct AppServer {
    queues: Vec<mpsc::Sender<Bytes>>,
    next: AtomicUsize,
    tasks: Vec<JoinHandle<()>>,
}

impl AppServer {
    /// Opens `--app-connections` server connections and completes their handshakes.
    pub(crate) async fn start(args: &RunArgs, connector: &Connector) -> Result<Self> {
        let server_id = format!("signalr-loadgen_{}", uuid::Uuid::new_v4().simple());
        let mut queues = Vec::new();
        let mut tasks = Vec::new();
        for _ in 0..args.app_connections.max(1) {
            let ws = open(args, connector, &server_id).await?;
            let (tx, rx) = mpsc::channel(QUEUE);
            tasks.push(tokio::spawn(serve(ws, rx)));
            queues.push(tx);
        }
        eprintln!(
            "signalr-loadgen: app server {server_id} connected with {} server connection(s)",
            queues.len()
        );
        Ok(AppServer {
            queues,
            next: AtomicUsize::new(0),
            tasks,
        })
    }

    /// Sends `--messages` stamped broadcasts as BroadcastData, round-robin over the server
    /// connections, paced by `--rate` if given; a write counts as accepted once queued.
    pub(crate) async fn broadcast_all(
        &self,
        args: &RunArgs,
        shared: &Shared,
        deadline: Instant,
    ) -> Sent {
        let start = Instant::now();
        let mut sent = Sent {
            started: shared.now(),
            ..Sent::default()
        };
        let rate = args.rate.filter(|r| *r > 0.0);
        for seq in 0..args.messages as u64 {
            if let Some(rate) = rate {
                tokio::time::sleep_until(start + Duration::from_secs_f64(seq as f64 / rate)).await;
            }
            let frame = broadcast_frame(&payload(seq, shared.now(), args.payload));
            let queue = &self.queues[self.next.fetch_add(1, Ordering::Relaxed) % self.queues.len()];
            match tokio::time::timeout_at(deadline, queue.send(frame)).await {
                Ok(Ok(())) => sent.accepted.push(seq),
                Ok(Err(_)) => {
                    sent.errors += 1;
                    sent.first_error
                        .get_or_insert_with(|| "a server connection closed".to_owned());
                }
                Err(_) => {
                    sent.deadline_hit = true;
                    break;
                }
            }
        }
        sent.finished = shared.now();
        sent
    }
}

impl Drop for AppServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

type ServerWs = tokio_tungstenite::WebSocketStream<TcpStream>;

async fn open(args: &RunArgs, connector: &Connector, server_id: &str) -> Result<ServerWs> {
    let base = connector.base();
    let token = mint(
        &args.access_key,
        &format!("{base}/server/?hub={}", args.hub),
        Some(server_id),
    );
    let url = format!(
        "{}/server/?hub={}&cid={}",
        base.replacen("http", "ws", 1),
        args.hub,
        uuid::Uuid::new_v4()
    );
    let mut request = url.as_str().into_client_request()?;
    let headers = request.headers_mut();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}"))?,
    );
    headers.insert("x-asrs-server-id", HeaderValue::from_str(server_id)?);
    headers.insert(
        "asrs-user-agent",
        HeaderValue::from_static("signalr-loadgen"),
    );
    let stream = TcpStream::connect(connector.server()).await?;
    stream.set_nodelay(true)?;
    let config = WebSocketConfig::default().write_buffer_size(0);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
        .await
        .map_err(|e| format!("opening the server connection {url}: {e}"))?;
    let handshake = ServiceMessage::HandshakeRequest(HandshakeRequest {
        version: 1,
        connection_type: ServerConnectionType::Default,
        target: None,
        migration_level: 0,
        ext: Extensions::default(),
        allow_stateful_reconnects: false,
    });
    ws.send(Message::binary(encode_frame(&handshake))).await?;
    let mut buf = BytesMut::new();
    let response = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Binary(data))) => buf.extend_from_slice(&data),
                Some(Ok(Message::Close(frame))) => {
                    return Err(format!(
                        "the service closed the server connection: {frame:?}"
                    ));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("the service closed the server connection".to_owned()),
            }
            let bytes = buf.clone().freeze();
            if let Some((message, _)) = parse_frame(&bytes).map_err(|e| e.to_string())? {
                return Ok(message);
            }
        }
    })
    .await
    .map_err(|_| "no HandshakeResponse within 15 s")??;
    match response {
        ServiceMessage::HandshakeResponse(r)
            if r.error_message.as_deref().unwrap_or("").is_empty() =>
        {
            Ok(ws)
        }
        ServiceMessage::HandshakeResponse(r) => {
            Err(format!("the service refused the app server: {:?}", r.error_message).into())
        }
        other => Err(format!("expected HandshakeResponse, got {}", other.name()).into()),
    }
}

/// What the app server remembers of one relayed client.
struct Client {
    /// The hub protocol OpenConnection named (ext 3).
    protocol: Protocol,
    handshaken: bool,
    /// Bytes of an incomplete hub message.
    partial: BytesMut,
}

/// One server connection's task: reads the service's byte stream, answers handshakes and
/// echo invocations, and writes queued frames, batching what is queued into one flush.
async fn serve(mut ws: ServerWs, mut outgoing: mpsc::Receiver<Bytes>) {
    let mut buf = BytesMut::new();
    let mut clients: HashMap<String, Client> = HashMap::new();
    let mut keep_alive = tokio::time::interval(KEEP_ALIVE);
    loop {
        let result: Result<()> = tokio::select! {
            frame = outgoing.recv() => {
                let Some(frame) = frame else { return };
                write_batch(&mut ws, frame, &mut outgoing).await
            }
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Binary(data))) => {
                    buf.extend_from_slice(&data);
                    let mut replies = Vec::new();
                    let read = read_messages(&mut buf, &mut clients, &mut replies);
                    match read {
                        Ok(()) => write_all(&mut ws, replies).await,
                        Err(e) => Err(e),
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => Ok(()),
            },
            _ = keep_alive.tick() => {
                let ping = ServiceMessage::Ping(Ping::default());
                ws.send(Message::binary(encode_frame(&ping))).await.map_err(Into::into)
            }
        };
        if let Err(e) = result {
            eprintln!("signalr-loadgen: app server connection failed: {e}");
            return;
        }
    }
}

async fn write_batch(
    ws: &mut ServerWs,
    first: Bytes,
    queue: &mut mpsc::Receiver<Bytes>,
) -> Result<()> {
    ws.feed(Message::binary(first)).await?;
    for _ in 1..MAX_BATCH {
        match queue.try_recv() {
            Ok(frame) => ws.feed(Message::binary(frame)).await?,
            Err(_) => break,
        }
    }
    ws.flush().await?;
    Ok(())
}

async fn write_all(ws: &mut ServerWs, frames: Vec<Bytes>) -> Result<()> {
    if frames.is_empty() {
        return Ok(());
    }
    for frame in frames {
        ws.feed(Message::binary(frame)).await?;
    }
    ws.flush().await?;
    Ok(())
}

/// Takes every whole message off `buf` and queues the app server's answers in `replies`.
fn read_messages(
    buf: &mut BytesMut,
    clients: &mut HashMap<String, Client>,
    replies: &mut Vec<Bytes>,
) -> Result<()> {
    loop {
        let bytes = buf.clone().freeze();
        let Some((message, used)) = parse_frame(&bytes).map_err(|e| e.to_string())? else {
            return Ok(());
        };
        let _ = buf.split_to(used);
        match message {
            ServiceMessage::OpenConnection(open) => {
                let protocol = open.ext.protocol.as_deref().and_then(Protocol::from_name);
                let client = Client {
                    protocol: protocol.unwrap_or(Protocol::Json),
                    handshaken: false,
                    partial: BytesMut::new(),
                };
                clients.insert(open.connection_id, client);
            }
            ServiceMessage::CloseConnection(close) => {
                clients.remove(&close.connection_id);
            }
            ServiceMessage::ConnectionData(data) => {
                let Some(client) = clients.get_mut(&data.connection_id) else {
                    continue;
                };
                if client.handshaken {
                    answer_invocations(&data.connection_id, client, &data.payload, replies)?;
                } else {
                    // The handshake request is read only up to its end; the load generator's
                    // clients send nothing else with it.
                    client.handshaken = true;
                    replies.push(connection_data(
                        &data.connection_id,
                        b"{}\x1e",
                        DataMessageType::Handshake,
                    ));
                }
            }
            ServiceMessage::ServiceError(e) => {
                return Err(format!("ServiceError from the service: {}", e.error_message).into());
            }
            _ => {}
        }
    }
}

/// Answers every complete invocation in `bytes` with its Completion, whose result is the
/// invocation's first (stamped) argument.
fn answer_invocations(
    connection_id: &str,
    client: &mut Client,
    bytes: &[u8],
    replies: &mut Vec<Bytes>,
) -> Result<()> {
    client.partial.extend_from_slice(bytes);
    let mut completions = BytesMut::new();
    while let Some(frame) = next_frame(client.protocol, &mut client.partial)? {
        let Some(HubMessage::Invocation(invocation)) = parse(client.protocol, &frame)? else {
            continue;
        };
        let Some(invocation_id) = invocation.invocation_id else {
            continue;
        };
        let result = invocation
            .arguments
            .into_iter()
            .next()
            .unwrap_or(Value::Null);
        let completion = HubMessage::Completion(Completion {
            invocation_id,
            result: CompletionResult::Value(result),
            headers: Headers::new(),
        });
        completions.extend_from_slice(&encode(client.protocol, &completion));
    }
    if !completions.is_empty() {
        replies.push(connection_data(
            connection_id,
            &completions,
            DataMessageType::Invocation,
        ));
    }
    Ok(())
}

fn connection_data(connection_id: &str, payload: &[u8], kind: DataMessageType) -> Bytes {
    encode_frame(&ServiceMessage::ConnectionData(ConnectionData {
        connection_id: connection_id.to_owned(),
        payload: Bytes::copy_from_slice(payload),
        ext: Extensions {
            data_message_type: Some(kind),
            ..Extensions::default()
        },
    }))
}

/// BroadcastData carrying one invocation of `m` with the stamped argument, framed for both hub
/// protocols by the project's codecs.
fn broadcast_frame(argument: &str) -> Bytes {
    let message = HubMessage::Invocation(Invocation::send("m", vec![Value::from(argument)]));
    let payloads = [Protocol::Json, Protocol::MessagePack]
        .into_iter()
        .map(|protocol| (protocol.name(), encode(protocol, &message)))
        .collect();
    encode_frame(&ServiceMessage::BroadcastData(BroadcastData {
        excluded: Vec::new(),
        payloads,
        ext: Extensions::default(),
    }))
}
