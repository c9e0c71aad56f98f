//! One load run, phase by phase: start the load generator's app server when the sends need one,
//! connect every client (readers start at once, spread over the `--client-url` nodes), let the
//! server settle, say so in `--ready-file` and wait for `--go-file` when several processes start
//! together, send (REST, BroadcastData from the app server, every client's echo calls, or nothing
//! when another process sends), wait for the deliveries (and for slow consumers to be dealt
//! with), then stop every reader and report. Each phase is bounded by the run's deadline, and a watchdog thread
//! ends the process if the runtime itself ever stalls past it.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant as StdInstant, SystemTime};

use futures_util::StreamExt;
use futures_util::stream;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::Result;
use crate::app_server::AppServer;
use crate::cli::{Mode, RunArgs, SendKind, mint};
use crate::connect::Connector;
use crate::cpu::cpu_ns;
use crate::reader::{self, Echo, Shared, Tally};
use crate::report::{Outcome, Rss};
use crate::rss::vm_rss_kib;
use crate::sender::{self, Sender, Sent};

/// How often the drain phase looks at the delivery count.
const POLL: Duration = Duration::from_millis(5);
/// Extra time the watchdog grants past the deadline before it ends the process.
const WATCHDOG_GRACE: Duration = Duration::from_secs(15);
/// One address holds the ephemeral port range 32768–60999 towards one server port.
const PORTS_PER_SOURCE_IP: usize = 28_000;
/// Upper bound for the latency buffer preallocated per client.
const MAX_PREALLOCATED_SAMPLES: usize = 1 << 16;

/// Runs the load described by `args` and prints its summary.
pub(crate) async fn run(args: RunArgs) -> Result<()> {
    validate(&args)?;
    let deadline = Instant::now() + args.deadline();
    watchdog(args.deadline() + WATCHDOG_GRACE);
    let connector = Arc::new(Connector::new(&args, &args.url)?);
    let client_connectors = args
        .client_urls()
        .into_iter()
        .map(|url| Connector::new(&args, url).map(Arc::new))
        .collect::<Result<Vec<_>>>()?;
    let origin = args
        .time_origin
        .map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms));
    let shared = Arc::new(Shared::new(origin)?);
    let rss = || total_rss(&args.server_pids);
    let mut memory = Rss {
        before: rss()?,
        ..Rss::default()
    };

    let app_server = if needs_app_server(&args) {
        let app = tokio::time::timeout_at(deadline, AppServer::start(&args, &connector))
            .await
            .map_err(|_| "the deadline passed while the app server connected")??;
        Some(app)
    } else {
        None
    };
    let tokens = client_tokens(&args, &client_connectors);
    let per_client = expected_per_client_upper_bound(&args);
    let started = StdInstant::now();
    let clients = tokio::time::timeout_at(
        deadline,
        connect_all(&args, &client_connectors, &shared, tokens, per_client),
    )
    .await
    .map_err(|_| "the deadline passed while clients were connecting")??;
    let connect = started.elapsed();
    eprintln!(
        "signalr-loadgen: {} clients connected in {:.2} s",
        clients.len(),
        connect.as_secs_f64()
    );

    tokio::time::sleep_until(deadline.min(Instant::now() + args.settle())).await;
    memory.connected = rss()?;
    if let Some(path) = &args.ready_file {
        let line =
            serde_json::json!({"clients": clients.len(), "connect_secs": connect.as_secs_f64()});
        std::fs::write(path, format!("{line}\n"))
            .map_err(|e| format!("--ready-file {}: {e}", path.display()))?;
    }
    if let Some(path) = &args.go_file {
        tokio::time::timeout_at(deadline, wait_for_file(path))
            .await
            .map_err(|_| format!("the deadline passed before {} appeared", path.display()))?;
    }
    let ids: Vec<String> = clients
        .iter()
        .map(|(id, _)| id.clone().unwrap_or_default())
        .collect();
    if args.send == SendKind::Group {
        tokio::time::timeout_at(deadline, sender::join_group(&args, &connector, &ids))
            .await
            .map_err(|_| "the deadline passed while clients joined the group")??;
    }

    let cpu_before = server_cpu_ns(&args.server_pids)?;
    let (sent, expected) = match (args.send, &app_server) {
        (SendKind::Echo, _) => echo_phase(&args, &shared, clients.len(), deadline).await,
        (SendKind::External, _) => {
            // Another process makes the sends: these clients expect every one of them.
            let sent = Sent {
                started: shared.now(),
                accepted: (0..args.messages as u64).collect(),
                ..Sent::default()
            };
            (sent, vec![args.messages as u64; clients.len()])
        }
        (SendKind::AppServer, Some(app)) => {
            let sent = app.broadcast_all(&args, &shared, deadline).await;
            let expected = vec![sent.accepted.len() as u64; clients.len()];
            (sent, expected)
        }
        _ => {
            let sender = Sender::new(&args, &connector, &ids)?;
            let sent = sender.send_all(&connector, &shared, deadline).await;
            let mut expected = vec![0u64; clients.len()];
            match args.send {
                SendKind::Connection => {
                    for &seq in &sent.accepted {
                        expected[sender.target_index(seq)] += 1;
                    }
                }
                _ => expected.fill(sent.accepted.len() as u64),
            }
            (sent, expected)
        }
    };
    shared.sends_done.cancel();
    let normal_expected: u64 = expected.iter().skip(args.slow_clients).sum();
    let drain_until = deadline.min(Instant::now() + args.drain_timeout());
    wait(drain_until, || {
        shared.received.load(Ordering::Relaxed) >= normal_expected
    })
    .await;
    if args.slow_clients > 0 {
        let slow_until = deadline.min(Instant::now() + args.drain_timeout());
        wait(slow_until, || {
            shared.slow_closed.load(Ordering::Relaxed) >= args.slow_clients
        })
        .await;
    }
    let deadline_hit = sent.deadline_hit || Instant::now() >= deadline;
    let server_cpu = match (cpu_before, server_cpu_ns(&args.server_pids)?) {
        (Some(before), Some(after)) => Some(Duration::from_nanos(after.saturating_sub(before))),
        _ => None,
    };
    memory.after = rss()?;

    shared.stop.cancel();
    let mut tallies = Vec::with_capacity(clients.len());
    for ((_, reader), expected) in clients.into_iter().zip(expected) {
        tallies.push((reader.await.unwrap_or_default(), expected));
    }
    Outcome {
        args: &args,
        connect,
        sent,
        tallies,
        rss: memory,
        server_cpu,
        deadline_hit,
    }
    .print();
    Ok(())
}

fn validate(args: &RunArgs) -> Result<()> {
    if args.clients == 0 {
        return Err("--clients must be at least 1".into());
    }
    if args.slow_clients >= args.clients {
        return Err("--slow-clients must be fewer than --clients".into());
    }
    let capacity = PORTS_PER_SOURCE_IP * usize::from(args.source_ips);
    if args.clients > capacity {
        return Err(format!(
            "{} clients need more local ports than {} source address(es) have (about {capacity}); raise --source-ips to at least {}",
            args.clients,
            args.source_ips,
            args.clients.div_ceil(PORTS_PER_SOURCE_IP)
        )
        .into());
    }
    if args.mode != Mode::Signalr && args.protocol != crate::cli::HubProtocol::Json {
        return Err("--protocol applies to --mode signalr only".into());
    }
    match (args.send, args.mode) {
        (SendKind::AppServer, mode) if mode != Mode::Signalr => {
            return Err("--send app-server needs --mode signalr".into());
        }
        (SendKind::Echo, Mode::Socketio) => {
            return Err("--send echo needs --mode signalr or raw".into());
        }
        (SendKind::Echo, _) if args.slow_clients > 0 => {
            return Err("--send echo has no slow consumers".into());
        }
        _ => {}
    }
    Ok(())
}

/// Whether this run's clients are relayed to the load generator's own app server.
fn needs_app_server(args: &RunArgs) -> bool {
    args.mode == Mode::Signalr && matches!(args.send, SendKind::AppServer | SendKind::Echo)
}

/// Every client makes `--messages` echo calls, one in flight; the phase ends when every answer
/// arrived or the deadline passed. Each client is expected to get every answer.
async fn echo_phase(
    args: &RunArgs,
    shared: &Shared,
    clients: usize,
    deadline: Instant,
) -> (Sent, Vec<u64>) {
    let rounds = args.messages as u64;
    let mut sent = Sent {
        started: shared.now(),
        // The calls each client makes: send numbers are per client in an echo run.
        accepted: (0..rounds).collect(),
        ..Sent::default()
    };
    shared.go.cancel();
    let total = rounds * clients as u64;
    wait(deadline, || {
        shared.received.load(Ordering::Relaxed) >= total
    })
    .await;
    sent.deadline_hit = shared.received.load(Ordering::Relaxed) < total;
    sent.finished = shared.now();
    (sent, vec![rounds; clients])
}

/// Ends the process if the run outlives its deadline by more than the grace period, whatever
/// state the runtime is in.
fn watchdog(limit: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!(
            "signalr-loadgen: still running {} s after start: giving up",
            limit.as_secs()
        );
        std::process::exit(3);
    });
}

/// The summed CPU time of the server processes, if any were named.
fn server_cpu_ns(pids: &[u32]) -> Result<Option<u64>> {
    if pids.is_empty() {
        return Ok(None);
    }
    cpu_ns(pids).map(Some)
}

/// The summed VmRSS of the server processes, if any were named.
fn total_rss(pids: &[u32]) -> Result<Option<u64>> {
    if pids.is_empty() {
        return Ok(None);
    }
    pids.iter()
        .map(|&pid| vm_rss_kib(pid))
        .sum::<Result<u64>>()
        .map(Some)
}

/// Polls until `path` exists (the start signal of a multi-process run).
async fn wait_for_file(path: &Path) {
    while !path.exists() {
        tokio::time::sleep(POLL).await;
    }
}

/// Each SignalR client gets its own token (its own user id) for the node it connects to,
/// minted before the clock starts.
fn client_tokens(args: &RunArgs, connectors: &[Arc<Connector>]) -> Vec<Option<String>> {
    let auds: Vec<String> = connectors
        .iter()
        .map(|c| format!("{}/client/?hub={}", c.base(), args.hub))
        .collect();
    (0..args.clients)
        .map(|i| {
            (args.mode == Mode::Signalr).then(|| {
                let aud = &auds[i % auds.len()];
                mint(&args.access_key, aud, Some(&format!("user{i}")))
            })
        })
        .collect()
}

fn expected_per_client_upper_bound(args: &RunArgs) -> usize {
    let per_client = match args.send {
        SendKind::Connection => args.messages.div_ceil(args.clients),
        SendKind::Broadcast
        | SendKind::Group
        | SendKind::AppServer
        | SendKind::Echo
        | SendKind::External => args.messages,
    };
    per_client.min(MAX_PREALLOCATED_SAMPLES)
}

type Client = (Option<String>, JoinHandle<Tally>);

/// Connects every client, `--connect-concurrency` at a time, client i to node i mod K; each
/// one's reader starts as soon as it is connected. Clients come back in index order; the first
/// failure ends the run.
async fn connect_all(
    args: &RunArgs,
    connectors: &[Arc<Connector>],
    shared: &Arc<Shared>,
    tokens: Vec<Option<String>>,
    per_client: usize,
) -> Result<Vec<Client>> {
    let framing = connectors[0].framing();
    let echo = (args.send == SendKind::Echo).then_some(Echo {
        rounds: args.messages as u64,
        payload: args.payload,
    });
    let mut opened = stream::iter(tokens.into_iter().enumerate())
        .map(|(index, token)| {
            let connector = connectors[index % connectors.len()].clone();
            let shared = shared.clone();
            let slow = index < args.slow_clients;
            let source = args.source_ip(index);
            async move {
                let connected = connector
                    .connect(source, token.as_deref(), slow)
                    .await
                    .map_err(|e| format!("client {index}: {e}"))?;
                let reader = tokio::spawn(reader::read(
                    connected.ws,
                    framing,
                    connected.leftover,
                    shared,
                    slow,
                    per_client,
                    echo,
                ));
                Ok::<_, String>((index, (connected.connection_id, reader)))
            }
        })
        .buffer_unordered(args.connect_concurrency.max(1));
    let mut clients: Vec<Option<Client>> = (0..args.clients).map(|_| None).collect();
    while let Some(result) = opened.next().await {
        let (index, client) = result?;
        clients[index] = Some(client);
    }
    Ok(clients.into_iter().flatten().collect())
}

/// Polls `done` until it holds or `until` passes.
async fn wait(until: Instant, done: impl Fn() -> bool) {
    while !done() && Instant::now() < until {
        tokio::time::sleep(POLL).await;
    }
}
