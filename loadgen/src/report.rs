//! The summary of a run: one JSON line on stdout for scripts, one human line on stderr.

use std::time::Duration;

use serde_json::{Value, json};

use crate::cli::RunArgs;
use crate::reader::Tally;
use crate::sender::Sent;

/// Memory of the server process at the run's three moments, in KiB.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Rss {
    /// Before the first client connected.
    pub(crate) before: Option<u64>,
    /// After every client connected and the settle time passed.
    pub(crate) connected: Option<u64>,
    /// After the sends were delivered.
    pub(crate) after: Option<u64>,
}

/// Everything measured in one run.
pub(crate) struct Outcome<'a> {
    /// The options of the run.
    pub(crate) args: &'a RunArgs,
    /// Time for every client to finish its opening exchange.
    pub(crate) connect: Duration,
    /// The send phase.
    pub(crate) sent: Sent,
    /// Per client: what it saw and how many deliveries it should have seen.
    pub(crate) tallies: Vec<(Tally, u64)>,
    /// Server memory.
    pub(crate) rss: Rss,
    /// The servers' CPU time from the first send until every delivery arrived (or the drain
    /// gave up), when server pids were given.
    pub(crate) server_cpu: Option<Duration>,
    /// Whether the deadline cut the run short.
    pub(crate) deadline_hit: bool,
}

/// Latency percentiles in milliseconds.
fn percentiles(mut samples: Vec<u32>) -> Value {
    if samples.is_empty() {
        return json!(null);
    }
    samples.sort_unstable();
    let at = |q: f64| {
        let index = ((samples.len() - 1) as f64 * q).round() as usize;
        f64::from(samples[index]) / 1000.0
    };
    json!({"p50": at(0.50), "p99": at(0.99), "max": at(1.0)})
}

impl Outcome<'_> {
    /// Prints the summary and returns it.
    pub(crate) fn print(self) -> Value {
        let slow = self.args.slow_clients.min(self.tallies.len());
        let (slow_tallies, normal) = self.tallies.split_at(slow);
        let received: u64 = normal.iter().map(|(t, _)| t.received).sum();
        let expected: u64 = normal.iter().map(|(_, e)| *e).sum();
        let lost: u64 = normal
            .iter()
            .map(|(t, e)| e.saturating_sub(t.received))
            .sum();
        let extra: u64 = normal
            .iter()
            .map(|(t, e)| t.received.saturating_sub(*e))
            .sum();
        let closed = normal.iter().filter(|(t, _)| t.server_closed).count();
        // How the loss is spread tells a dropped connection (all of its messages) from
        // scattered drops.
        let clients_with_loss = normal.iter().filter(|(t, e)| t.received < *e).count();
        let last = normal.iter().filter_map(|(t, _)| t.last).max();
        let span = last.map(|l| l.saturating_sub(self.sent.started));
        let rate = match span {
            Some(span) if !span.is_zero() => received as f64 / span.as_secs_f64(),
            _ => 0.0,
        };
        let mut latencies = Vec::with_capacity(received as usize);
        for (tally, _) in normal {
            latencies.extend_from_slice(&tally.latencies_us);
        }
        let clients = self.tallies.len();
        let per_connection = match (self.rss.before, self.rss.connected) {
            (Some(before), Some(connected)) if clients > 0 => {
                Some(connected.saturating_sub(before) * 1024 / clients as u64)
            }
            _ => None,
        };
        let connect_secs = self.connect.as_secs_f64();
        let connects_per_sec = if connect_secs > 0.0 {
            clients as f64 / connect_secs
        } else {
            0.0
        };
        let summary = json!({
            "label": self.args.label,
            "mode": format!("{:?}", self.args.mode).to_lowercase(),
            "protocol": self.args.protocol.name(),
            "send": format!("{:?}", self.args.send).to_lowercase(),
            "clients": clients,
            "nodes": self.args.client_urls().len(),
            "source_ips": self.args.source_ips,
            "messages": self.args.messages,
            "payload_bytes": self.args.payload,
            "rate": self.args.rate,
            "connect_secs": round(connect_secs),
            "connects_per_sec": round(connects_per_sec),
            "sends_accepted": self.sent.accepted.len(),
            "send_errors": self.sent.errors,
            "first_send_error": self.sent.first_error,
            "send_secs": round(self.sent.finished.saturating_sub(self.sent.started).as_secs_f64()),
            "expected": expected,
            "received": received,
            "lost": lost,
            "clients_with_loss": clients_with_loss,
            "extra": extra,
            "closed_by_server": closed,
            "delivery_secs": span.map(|s| round(s.as_secs_f64())),
            "deliveries_per_sec": round(rate),
            "latency_ms": percentiles(latencies),
            "rss_kib": {
                "before": self.rss.before,
                "connected": self.rss.connected,
                "after": self.rss.after,
            },
            "rss_per_connection_bytes": per_connection,
            "server_cpu_secs": self.server_cpu.map(|c| round(c.as_secs_f64())),
            "server_cpu_ns_per_delivery": self.server_cpu
                .filter(|_| received > 0)
                .map(|c| (c.as_nanos() / u128::from(received)) as u64),
            "slow": {
                "clients": slow,
                "disconnected": slow_tallies.iter().filter(|(t, _)| t.server_closed).count(),
                "received": slow_tallies.iter().map(|(t, _)| t.received).sum::<u64>(),
            },
            "deadline_hit": self.deadline_hit || self.sent.deadline_hit,
        });
        println!("{summary}");
        eprintln!("{}", human(&summary));
        summary
    }
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// One line a person reads.
fn human(s: &Value) -> String {
    let ms = |k: &str| s["latency_ms"][k].as_f64().unwrap_or(f64::NAN);
    let mut line = format!(
        "{} {}: {} clients connected in {:.2} s; {} of {} sends accepted; {} deliveries ({} lost) at {:.0}/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        s["mode"].as_str().unwrap_or_default(),
        s["protocol"].as_str().unwrap_or_default(),
        s["clients"],
        s["connect_secs"].as_f64().unwrap_or_default(),
        s["sends_accepted"],
        s["messages"],
        s["received"],
        s["lost"],
        s["deliveries_per_sec"].as_f64().unwrap_or_default(),
        ms("p50"),
        ms("p99"),
        ms("max"),
    );
    if let Some(bytes) = s["rss_per_connection_bytes"].as_u64() {
        line += &format!("; server RSS {bytes} B per connection");
    }
    if let Some(ns) = s["server_cpu_ns_per_delivery"].as_u64() {
        line += &format!("; server CPU {ns} ns per delivery");
    }
    if s["slow"]["clients"].as_u64().unwrap_or(0) > 0 {
        line += &format!(
            "; slow consumers disconnected: {}/{}",
            s["slow"]["disconnected"], s["slow"]["clients"]
        );
    }
    if let Some(error) = s["first_send_error"].as_str() {
        line += &format!("; first send error: {error}");
    }
    if s["deadline_hit"].as_bool().unwrap_or(false) {
        line += "; DEADLINE HIT";
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_known_samples() {
        let p = percentiles((1..=100).map(|ms| ms * 1000).collect());
        assert_eq!(p["p50"], json!(51.0));
        assert_eq!(p["p99"], json!(99.0));
        assert_eq!(p["max"], json!(100.0));
        assert_eq!(percentiles(Vec::new()), json!(null));
    }
}
