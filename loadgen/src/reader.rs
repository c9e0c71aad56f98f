//! The task behind each client: it reads every frame, counts the stamped deliveries and their
//! latency, answers Engine.IO pings, and notices when the server closes the connection. A slow
//! consumer reads nothing until the sends are over, then drains to see how it was treated. In an
//! echo run the task also makes the client's calls, one in flight: the next goes out when the
//! answer to the last one arrives.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::connect::Ws;
use crate::wire::{Framing, Record, echo_request, payload, records};

/// State every client task shares with the run.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The time stamps count from here.
    pub(crate) base: Instant,
    /// Deliveries to clients that read normally, for the drain phase to watch.
    pub(crate) received: AtomicU64,
    /// Slow consumers that saw the server close them.
    pub(crate) slow_closed: AtomicUsize,
    /// Set once every send was made: slow consumers start reading.
    pub(crate) sends_done: CancellationToken,
    /// Set when the send phase starts: echo clients make their first call.
    pub(crate) go: CancellationToken,
    /// Set when the run is over: every task returns its tally.
    pub(crate) stop: CancellationToken,
}

impl Shared {
    /// Fresh shared state; stamps count from `origin` (a wall-clock time other processes can
    /// share), or from now.
    pub(crate) fn new(origin: Option<SystemTime>) -> crate::Result<Self> {
        let now = Instant::now();
        let base = match origin {
            None => now,
            Some(origin) => {
                let age = SystemTime::now()
                    .duration_since(origin)
                    .map_err(|_| "--time-origin is in the future")?;
                now.checked_sub(age)
                    .ok_or("--time-origin is further back than this machine's uptime")?
            }
        };
        Ok(Shared {
            base,
            received: AtomicU64::new(0),
            slow_closed: AtomicUsize::new(0),
            sends_done: CancellationToken::new(),
            go: CancellationToken::new(),
            stop: CancellationToken::new(),
        })
    }

    /// Time since the stamps' origin.
    pub(crate) fn now(&self) -> Duration {
        self.base.elapsed()
    }
}

/// What one client saw.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Stamped messages received.
    pub(crate) received: u64,
    /// Latency of each, in microseconds.
    pub(crate) latencies_us: Vec<u32>,
    /// When the last one arrived (since the stamps' origin).
    pub(crate) last: Option<Duration>,
    /// Whether the server closed the connection (Close message, close frame or EOF).
    pub(crate) server_closed: bool,
}

/// The calls of one echo client: `rounds` of them, each carrying `payload` bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Echo {
    /// Calls to make.
    pub(crate) rounds: u64,
    /// Bytes of each call's argument.
    pub(crate) payload: usize,
}

/// Reads the client's frames until the run stops or the server closes the connection.
/// `leftover` holds records that arrived with the handshake response; `expected` sizes the
/// latency buffer; `echo` makes it an echo client.
pub(crate) async fn read(
    mut ws: Ws,
    framing: Framing,
    leftover: Vec<u8>,
    shared: Arc<Shared>,
    slow: bool,
    expected: usize,
    echo: Option<Echo>,
) -> Tally {
    let mut tally = Tally {
        latencies_us: Vec::with_capacity(expected),
        ..Tally::default()
    };
    let mut pong_due = false;
    if !leftover.is_empty() {
        on_frame(&mut tally, framing, &leftover, &shared, slow, &mut pong_due);
    }
    if slow {
        tokio::select! {
            () = shared.sends_done.cancelled() => {}
            () = shared.stop.cancelled() => return tally,
        }
    }
    let mut calls = 0u64;
    if echo.is_some() {
        tokio::select! {
            () = shared.go.cancelled() => {}
            () = shared.stop.cancelled() => return tally,
        }
    }
    loop {
        if let Some(echo) = echo {
            // One call in flight: the next goes out once every earlier one was answered.
            if calls < echo.rounds && calls == tally.received {
                let request =
                    echo_request(framing, calls, payload(calls, shared.now(), echo.payload));
                let sent = match request {
                    Some(request) => ws.send(request).await.is_ok(),
                    None => false,
                };
                if !sent {
                    tally.server_closed = true;
                    break;
                }
                calls += 1;
            }
        }
        if pong_due {
            pong_due = false;
            if ws.send(Message::text("3")).await.is_err() {
                tally.server_closed = true;
                break;
            }
        }
        let frame = tokio::select! {
            biased;
            () = shared.stop.cancelled() => return tally,
            frame = ws.next() => frame,
        };
        match frame {
            Some(Ok(Message::Text(text))) => on_frame(
                &mut tally,
                framing,
                text.as_bytes(),
                &shared,
                slow,
                &mut pong_due,
            ),
            Some(Ok(Message::Binary(data))) => {
                on_frame(&mut tally, framing, &data, &shared, slow, &mut pong_due);
            }
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                tally.server_closed = true;
                break;
            }
            Some(Ok(_)) => {}
        }
    }
    if slow {
        shared.slow_closed.fetch_add(1, Ordering::Relaxed);
    }
    tally
}

fn on_frame(
    tally: &mut Tally,
    framing: Framing,
    frame: &[u8],
    shared: &Shared,
    slow: bool,
    pong_due: &mut bool,
) {
    records(framing, frame, |record| match record {
        Record::Delivery { sent, .. } => {
            let now = shared.now();
            tally.received += 1;
            tally.last = Some(now);
            let micros = now.saturating_sub(sent).as_micros();
            tally
                .latencies_us
                .push(u32::try_from(micros).unwrap_or(u32::MAX));
            if !slow {
                shared.received.fetch_add(1, Ordering::Relaxed);
            }
        }
        Record::Close => tally.server_closed = true,
        Record::Ping => *pong_due = true,
        Record::Other => {}
    });
}
