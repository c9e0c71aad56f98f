//! Clients that send half a request, never read, or flood: the shipped binary drops them within
//! its timeouts, keeps its memory bounded, serves again once descriptors are freed, and still
//! exits within its shutdown deadline while they hang on.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::binary::{spawn_binary, spawn_started};
use crate::common::{TestServer, WAIT, now, token};

/// Quiet logs: the test never reads the server's stderr, whose pipe must not fill up.
const QUIET: &[(&str, &str)] = &[("RUST_LOG", "error")];

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Reads until the server closes the socket; returns what it sent, or `None` if it stayed open
/// for `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(seen),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// A REST request whose body stops after 10 of its 100 bytes.
async fn half_sent_body(addr: SocketAddr) -> TcpStream {
    let token = token(serde_json::json!({
        "aud": "http://localhost/api/v1/hubs/chat",
        "exp": now() + 3600,
    }));
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/hubs/chat HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"target\":"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// A request that stops in the middle of its headers.
async fn half_sent_headers(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    stream
}

#[tokio::test]
async fn half_sent_requests_are_timed_out() {
    let (_child, port, _) = spawn_binary(
        &[
            "--port",
            "0",
            "--header-read-timeout",
            "1",
            "--body-read-timeout",
            "1",
        ],
        QUIET,
    )
    .await;
    let mut headers = half_sent_headers(loopback(port)).await;
    let mut body = half_sent_body(loopback(port)).await;
    assert!(
        closed_within(&mut headers, WAIT).await.is_some(),
        "a request stalled in its headers is dropped"
    );
    let answer = closed_within(&mut body, WAIT)
        .await
        .expect("a request stalled in its body is dropped");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
}

/// Gets `/api/v1/health` on a fresh connection; `true` on a 200 within `within`.
async fn healthy(addr: SocketAddr, within: Duration) -> bool {
    tokio::time::timeout(within, async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        stream
            .write_all(
                b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            )
            .await
            .ok()?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.ok()?;
        Some(answer.starts_with(b"HTTP/1.1 200"))
    })
    .await
    .ok()
    .flatten()
    .unwrap_or(false)
}

#[tokio::test]
async fn out_of_descriptors_the_server_serves_again_once_stalled_clients_are_dropped() {
    // 64 descriptors: the stalled clients below take every one the server has left.
    let mut command = Command::new("prlimit");
    command.args([
        "--nofile=64:64",
        "--",
        env!("CARGO_BIN_EXE_signalr-emulator"),
        "--port",
        "0",
        "--header-read-timeout",
        "1",
    ]);
    let (_child, port, _) = spawn_started(command, QUIET).await;
    let mut stalled = Vec::new();
    for _ in 0..100 {
        stalled.push(half_sent_headers(loopback(port)).await);
    }
    // They are dropped a second later, the backlog is accepted (and dropped) in turn, and the
    // server answers again.
    assert!(
        healthy(loopback(port), Duration::from_secs(10)).await,
        "health answers once the stalled clients are timed out"
    );
}

/// Sends SIGTERM to `child` and returns how long it took to exit, if it did within `within`.
async fn terminate(child: &mut Child, within: Duration) -> Option<Duration> {
    let pid = child.id().unwrap().to_string();
    let started = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(within, child.wait()).await.ok()?;
    assert!(status.unwrap().success());
    Some(started.elapsed())
}

#[tokio::test]
async fn sigterm_exits_within_the_shutdown_deadline_while_requests_hang() {
    let (mut child, port, _) =
        spawn_binary(&["--port", "0", "--shutdown-timeout", "2"], QUIET).await;
    let _headers = half_sent_headers(loopback(port)).await;
    let _body = half_sent_body(loopback(port)).await;
    let server = TestServer::attach(loopback(port));
    // One listener accepts in arrival order and tracks a connection from its accept on: once
    // this later WebSocket is handshaken, both half-sent requests are in.
    let (_client, _) = server.connect("chat", None).await;
    let took = terminate(&mut child, Duration::from_secs(8))
        .await
        .expect("the process exits within its shutdown deadline");
    assert!(
        took >= Duration::from_secs(2),
        "{took:?}: it waited for the deadline"
    );
}

/// A client WebSocket frame (masked with a zero key, which leaves the payload as it is).
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(payload);
    frame
}

/// `VmRSS` or `VmHWM` (peak) of a process, in KiB.
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap()
}

/// Opens a WebSocket by hand and completes a JSON handshake, so the socket can then be
/// written without ever being read.
async fn handshaken_socket(addr: SocketAddr) -> TcpStream {
    let token = crate::common::client_token("chat", Some("flooder"));
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let upgrade = format!(
        "GET /client/?hub=chat HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
         Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    stream.write_all(upgrade.as_bytes()).await.unwrap();
    stream
        .write_all(&client_frame(
            0x1,
            b"{\"protocol\":\"json\",\"version\":1}\x1e",
        ))
        .await
        .unwrap();
    // The 101 answer and the handshake response `{}` (a 2-byte header and 3 bytes).
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(WAIT, async {
        while !seen.ends_with(b"{}\x1e") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed during the handshake");
            seen.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("the handshake completes");
    assert!(seen.starts_with(b"HTTP/1.1 101"));
    stream
}

#[tokio::test]
async fn a_client_flooding_pings_without_reading_is_dropped_with_bounded_memory() {
    let (child, port, _) = spawn_binary(&["--port", "0"], QUIET).await;
    let pid = child.id().unwrap();
    let mut socket = handshaken_socket(loopback(port)).await;
    let before = memory_kib(pid, "VmRSS");
    // One million Pings of 125 bytes (131 MB), never reading a Pong.
    let batch: Vec<u8> = (0..10_000)
        .flat_map(|_| client_frame(0x9, &[b'p'; 125]))
        .collect();
    let flood = tokio::time::timeout(Duration::from_secs(30), async {
        for _ in 0..100 {
            socket.write_all(&batch).await?;
        }
        std::io::Result::Ok(())
    })
    .await
    .expect("the flood ends in time");
    assert!(
        flood.is_err(),
        "the server closes the connection before the flood is over"
    );
    let peak = memory_kib(pid, "VmHWM");
    assert!(
        peak < before + 32 * 1024,
        "server memory stays bounded: {before} KiB before, peak {peak} KiB"
    );
    // And it serves as before.
    assert!(healthy(loopback(port), WAIT).await);
}
