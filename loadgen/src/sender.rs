//! The send phase: M stamped messages through the server's REST API (SignalR) or its HTTP
//! trigger (baselines), unpaced or paced at a fixed rate, with a bounded number in flight.
//! Tokens are minted before the clock starts so the measurement holds only the sends.

use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream;
use reqwest::header::CONTENT_TYPE;
use tokio::time::Instant;

use crate::Result;
use crate::cli::{Mode, RunArgs, SendKind, mint};
use crate::connect::Connector;
use crate::reader::Shared;
use crate::wire::{SEND_TARGET, payload};

/// The group every client joins for group sends.
pub(crate) const GROUP: &str = "bench";

/// Where one send goes.
struct Target {
    url: String,
    token: Option<String>,
}

/// How the send phase went.
#[derive(Debug, Default)]
pub(crate) struct Sent {
    /// Numbers of the sends the server accepted (2xx).
    pub(crate) accepted: Vec<u64>,
    /// Sends that failed, and the first failure.
    pub(crate) errors: usize,
    /// The first failure.
    pub(crate) first_error: Option<String>,
    /// When the first send started and the last one was answered (since the stamps' origin).
    pub(crate) started: Duration,
    /// When the last one was answered.
    pub(crate) finished: Duration,
    /// Whether the deadline cut the phase short.
    pub(crate) deadline_hit: bool,
}

/// The send plan of one run.
pub(crate) struct Sender {
    mode: Mode,
    targets: Vec<Target>,
    messages: usize,
    payload: usize,
    rate: Option<f64>,
    concurrency: usize,
}

impl Sender {
    /// Plans the sends; `connection_ids` are the clients' ids in client order (SignalR mode).
    pub(crate) fn new(
        args: &RunArgs,
        connector: &Connector,
        connection_ids: &[String],
    ) -> Result<Self> {
        let base = connector.base();
        let hub = &args.hub;
        let rest = |path: String| {
            let url = format!("{base}{path}");
            Target {
                token: Some(mint(&args.access_key, &url, None)),
                url,
            }
        };
        let targets = match (args.mode, args.send) {
            (Mode::Signalr, SendKind::Broadcast) => vec![rest(format!("/api/v1/hubs/{hub}"))],
            (Mode::Signalr, SendKind::Group) => {
                vec![rest(format!("/api/v1/hubs/{hub}/groups/{GROUP}"))]
            }
            (Mode::Signalr, SendKind::Connection) => connection_ids
                .iter()
                .map(|id| rest(format!("/api/v1/hubs/{hub}/connections/{id}")))
                .collect(),
            (_, SendKind::Broadcast) => vec![Target {
                url: format!("{base}/broadcast"),
                token: None,
            }],
            (mode, kind) => {
                return Err(format!(
                    "--send {kind:?} needs --mode signalr; {mode:?} servers only broadcast"
                )
                .into());
            }
        };
        Ok(Sender {
            mode: args.mode,
            targets,
            messages: args.messages,
            payload: args.payload,
            rate: args.rate.filter(|r| *r > 0.0),
            concurrency: args.send_concurrency.max(1),
        })
    }

    /// Which client send `seq` reaches when sends go to single connections.
    pub(crate) fn target_index(&self, seq: u64) -> usize {
        (seq % self.targets.len() as u64) as usize
    }

    /// Makes every send, stopping early at `deadline`.
    pub(crate) async fn send_all(
        &self,
        connector: &Connector,
        shared: &Shared,
        deadline: Instant,
    ) -> Sent {
        let http = connector.http();
        let start = Instant::now();
        let mut sent = Sent {
            started: shared.now(),
            ..Sent::default()
        };
        let mut results = stream::iter(0..self.messages as u64)
            .map(|seq| async move {
                if let Some(rate) = self.rate {
                    tokio::time::sleep_until(start + Duration::from_secs_f64(seq as f64 / rate))
                        .await;
                }
                let target = &self.targets[self.target_index(seq)];
                let body = payload(seq, shared.now(), self.payload);
                (seq, self.post(http, target, body).await)
            })
            .buffer_unordered(self.concurrency);
        loop {
            let next = tokio::select! {
                next = results.next() => next,
                () = tokio::time::sleep_until(deadline) => {
                    sent.deadline_hit = true;
                    break;
                }
            };
            match next {
                Some((seq, Ok(()))) => sent.accepted.push(seq),
                Some((_, Err(e))) => {
                    sent.errors += 1;
                    sent.first_error.get_or_insert(e);
                }
                None => break,
            }
        }
        sent.finished = shared.now();
        sent
    }

    async fn post(
        &self,
        http: &reqwest::Client,
        target: &Target,
        argument: String,
    ) -> Result<(), String> {
        let request = http.post(&target.url);
        let request = match self.mode {
            Mode::Signalr => request.header(CONTENT_TYPE, "application/json").body(
                serde_json::json!({"target": SEND_TARGET, "arguments": [argument]}).to_string(),
            ),
            Mode::Raw | Mode::Socketio => request.header(CONTENT_TYPE, "text/plain").body(argument),
        };
        let request = match &target.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        check(request.send().await, &target.url).await
    }
}

/// Adds every connection to [`GROUP`], `concurrency` requests at a time.
pub(crate) async fn join_group(
    args: &RunArgs,
    connector: &Connector,
    connection_ids: &[String],
) -> Result<()> {
    let http = connector.http();
    let mut joins = stream::iter(connection_ids)
        .map(|id| async move {
            let url = format!(
                "{}/api/v1/hubs/{}/groups/{GROUP}/connections/{id}",
                connector.base(),
                args.hub
            );
            let token = mint(&args.access_key, &url, None);
            check(http.put(&url).bearer_auth(token).send().await, &url).await
        })
        .buffer_unordered(args.connect_concurrency.max(1));
    while let Some(result) = joins.next().await {
        result?;
    }
    Ok(())
}

/// Turns anything but a 2xx answer into a readable error.
async fn check(response: reqwest::Result<reqwest::Response>, url: &str) -> Result<(), String> {
    let response = response.map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    Err(format!("{url} answered {status}: {body}"))
}
