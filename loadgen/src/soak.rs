//! `soak`: N clients connect, stay a few seconds and leave, in a loop, while broadcasts go out
//! at a steady rate, for a fixed duration. It reports the server's RSS after the warm-up and at
//! the end (under the same load), the connections `/metrics` still counts once every client
//! left (leaks), and lost deliveries.
//!
//! Loss, with clients coming and going: broadcasts are sent one at a time, numbered. A client
//! session must receive every broadcast whose send started after its handshake completed (the
//! server registers a connection before it answers the handshake) and was answered (202) before
//! the client began to leave. Anything else it gets is extra, never counted as loss.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant as StdInstant};

use futures_util::StreamExt;
use rand::Rng;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::Result;
use crate::cli::{SoakArgs, mint};
use crate::connect::Connector;
use crate::rss::vm_rss_kib;
use crate::wire::{Framing, Record, payload, records};

/// How long a leaving client waits for the server's side of the close.
const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// Pause after a failed connect before the client tries again.
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// How long the server gets, once every client left, to forget them before `/metrics` is read.
const SETTLE: Duration = Duration::from_secs(3);

/// Counters every task shares.
#[derive(Default)]
struct Counters {
    /// The number of the broadcast being sent (0 before the first).
    started: AtomicU64,
    /// The number of the last broadcast the server accepted.
    acked: AtomicU64,
    sessions: AtomicU64,
    connect_errors: AtomicU64,
    expected: AtomicU64,
    received: AtomicU64,
    lost: AtomicU64,
    send_errors: AtomicU64,
}

/// Runs the soak and prints its summary (one JSON line on stdout, one human line on stderr).
pub(crate) async fn soak(args: SoakArgs) -> Result<()> {
    let connector = Arc::new(Connector::signalr_json(&args.url, &args.hub)?);
    let counters = Arc::new(Counters::default());
    let stop = CancellationToken::new();
    let origin = StdInstant::now();
    let started = Instant::now();

    let token_url = format!("{}/client/?hub={}", connector.base(), args.hub);
    let mut clients = tokio::task::JoinSet::new();
    for index in 0..args.clients {
        let token = mint(&args.access_key, &token_url, Some(&format!("soak-{index}")));
        clients.spawn(client_loop(
            connector.clone(),
            counters.clone(),
            stop.clone(),
            args.source_ip(index),
            token,
            args.lifetime_range(),
        ));
    }
    let broadcaster = tokio::spawn(broadcast(
        connector.clone(),
        counters.clone(),
        stop.clone(),
        args.clone(),
        origin,
    ));

    tokio::time::sleep_until(started + args.warmup()).await;
    let rss_warm = vm_rss_kib(args.server_pid)?;
    let sessions_warm = counters.sessions.load(Ordering::Relaxed);
    eprintln!(
        "signalr-loadgen: soak warmed up: server RSS {rss_warm} KiB, {sessions_warm} sessions"
    );
    tokio::time::sleep_until(started + args.duration()).await;
    let rss_end = vm_rss_kib(args.server_pid)?;

    stop.cancel();
    let leave_by = Instant::now() + args.lifetime_range().1 + CLOSE_WAIT * 2;
    while let Ok(Some(_)) = tokio::time::timeout_at(leave_by, clients.join_next()).await {}
    let stragglers = clients.len();
    clients.abort_all();
    let _ = broadcaster.await;
    tokio::time::sleep(SETTLE).await;
    let open = open_connections(&connector, &args.hub).await?;
    let rss_after = vm_rss_kib(args.server_pid)?;

    let growth = rss_end as f64 / rss_warm as f64 - 1.0;
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let summary = serde_json::json!({
        "label": args.label,
        "clients": args.clients,
        "duration_secs": args.duration_secs,
        "warmup_secs": args.warmup_secs,
        "sessions": load(&counters.sessions),
        "connect_errors": load(&counters.connect_errors),
        "broadcasts": load(&counters.acked),
        "send_errors": load(&counters.send_errors),
        "expected": load(&counters.expected),
        "received": load(&counters.received),
        "lost": load(&counters.lost),
        "rss_kib": { "warm": rss_warm, "end": rss_end, "after": rss_after },
        "rss_growth": growth,
        "open_connections_after": open,
        "stragglers": stragglers,
    });
    println!("{summary}");
    eprintln!(
        "signalr-loadgen: soak {} s, {} clients: {} sessions, {} broadcasts, {} lost of {} expected, RSS {} KiB after warm-up, {} KiB at the end ({:+.1} %), {} connections left in /metrics",
        args.duration_secs,
        args.clients,
        load(&counters.sessions),
        load(&counters.acked),
        load(&counters.lost),
        load(&counters.expected),
        rss_warm,
        rss_end,
        growth * 100.0,
        open,
    );
    Ok(())
}

/// One client: connect, stay for a random lifetime counting deliveries, leave; until `stop`.
async fn client_loop(
    connector: Arc<Connector>,
    counters: Arc<Counters>,
    stop: CancellationToken,
    source: std::net::IpAddr,
    token: String,
    (shortest, longest): (Duration, Duration),
) {
    while !stop.is_cancelled() {
        let connected = tokio::select! {
            connected = connector.connect(source, Some(&token), false) => connected,
            () = stop.cancelled() => return,
        };
        let Ok(connected) = connected else {
            counters.connect_errors.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(RETRY_PAUSE).await;
            continue;
        };
        // Every broadcast started from now on must arrive.
        let first = counters.started.load(Ordering::SeqCst) + 1;
        let lifetime = rand::rng().random_range(shortest..=longest);
        let mut ws = connected.ws;
        let mut seen = Vec::new();
        collect(&connected.leftover, &mut seen);
        let leave_at = Instant::now() + lifetime;
        loop {
            let frame = tokio::select! {
                frame = ws.next() => frame,
                () = tokio::time::sleep_until(leave_at) => break,
                () = stop.cancelled() => break,
            };
            match frame {
                Some(Ok(Message::Text(text))) => collect(text.as_bytes(), &mut seen),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            }
        }
        // Every broadcast answered before now must have arrived.
        let last = counters.acked.load(Ordering::SeqCst);
        let _ = ws.close(None).await;
        let _ = tokio::time::timeout(CLOSE_WAIT, async {
            while let Some(Ok(frame)) = ws.next().await {
                if let Message::Text(text) = frame {
                    collect(text.as_bytes(), &mut seen);
                }
            }
        })
        .await;
        if last >= first {
            let expected = last - first + 1;
            let got = seen
                .iter()
                .filter(|&&s| (first..=last).contains(&s))
                .count() as u64;
            counters.expected.fetch_add(expected, Ordering::Relaxed);
            counters.received.fetch_add(got, Ordering::Relaxed);
            counters
                .lost
                .fetch_add(expected - got.min(expected), Ordering::Relaxed);
        }
        counters.sessions.fetch_add(1, Ordering::Relaxed);
    }
}

/// The broadcast numbers in a frame.
fn collect(frame: &[u8], seen: &mut Vec<u64>) {
    records(Framing::SignalrJson, frame, |record| {
        if let Record::Delivery { seq, .. } = record {
            seen.push(seq);
        }
    });
}

/// Broadcasts one message at a time at `--rate` until `stop`.
async fn broadcast(
    connector: Arc<Connector>,
    counters: Arc<Counters>,
    stop: CancellationToken,
    args: SoakArgs,
    origin: StdInstant,
) {
    let url = format!("{}/api/v1/hubs/{}", connector.base(), args.hub);
    let token = mint(&args.access_key, &url, None);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate.max(0.1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for seq in 1.. {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        counters.started.store(seq, Ordering::SeqCst);
        let body = serde_json::json!({
            "target": "soak",
            "arguments": [payload(seq, origin.elapsed(), args.payload)],
        });
        let sent = connector
            .http()
            .post(&url)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {
                counters.acked.store(seq, Ordering::SeqCst);
            }
            _ => {
                counters.send_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The live connections `/metrics` counts for `hub`.
async fn open_connections(connector: &Connector, hub: &str) -> Result<u64> {
    let page = connector
        .http()
        .get(format!("{}/metrics", connector.base()))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let wanted = format!("hub=\"{hub}\"");
    Ok(page
        .lines()
        .filter(|line| line.starts_with("signalr_connections{") && line.contains(&wanted))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64)
}
