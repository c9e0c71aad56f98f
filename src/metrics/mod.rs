//! `GET /metrics` in the Prometheus text format. Everything is read at scrape time: hub totals
//! come from per-connection counters summed under each hub's lock (see `hub::HubStats`), REST
//! counts from the API middleware, upstream counts from the upstream module.

mod exposition;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::api::RestMetrics;
use crate::cluster::{Cluster, ClusterMetrics};
use crate::hub::{Hub, HubStats};
use crate::state::AppState;
use crate::upstream::metrics::{CallOutcome, LATENCY_BUCKETS, UpstreamMetrics};
use exposition::Exposition;

/// The content type Prometheus expects for the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `/metrics` route, reporting the REST counts `rest` holds beside the shared state.
pub fn router(rest: Arc<RestMetrics>) -> Router<AppState> {
    Router::new().route(
        "/metrics",
        get(move |State(state): State<AppState>| scrape(state, rest.clone())),
    )
}

async fn scrape(state: AppState, rest_metrics: Arc<RestMetrics>) -> impl IntoResponse {
    let stats: Vec<HubStats> = state
        .hubs
        .sorted()
        .iter()
        .map(|hub| Hub::stats(hub))
        .collect();
    let mut page = Exposition::default();
    hubs(&mut page, &stats);
    app_servers(&mut page, &state);
    rest(&mut page, &rest_metrics);
    if let Some(upstream) = &state.upstream {
        upstream_calls(&mut page, upstream.metrics());
    }
    if let Some(cluster) = &state.cluster {
        cluster_state(&mut page, cluster);
    }
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], page.finish())
}

/// A per-hub counter family: name, help, and how to read it from a hub's totals.
type HubCounter = (&'static str, &'static str, fn(&HubStats) -> u64);

fn hubs(page: &mut Exposition, stats: &[HubStats]) {
    page.family(
        "signalr_connections",
        "gauge",
        "Live client connections by hub, transport and hub protocol.",
    );
    for hub in stats {
        for ((transport, protocol), count) in &hub.connections {
            let labels = [
                ("hub", &*hub.name),
                ("transport", transport),
                ("protocol", protocol),
            ];
            page.sample("signalr_connections", &labels, count);
        }
    }
    let name = "signalr_connections_awaiting_reconnect";
    page.family(
        name,
        "gauge",
        "Stateful-reconnect connections whose transport is gone, waiting for their client.",
    );
    for hub in stats {
        page.sample(name, &[("hub", &hub.name)], hub.awaiting_reconnect);
    }
    let counters: [HubCounter; 3] = [
        (
            "signalr_messages_in_total",
            "Hub messages clients sent to the server (pings excluded).",
            |h| h.received,
        ),
        (
            "signalr_messages_out_total",
            "Messages delivered to clients (sends, broadcasts, server invocations).",
            |h| h.sent,
        ),
        (
            "signalr_slow_consumer_disconnects_total",
            "Connections closed because their send queue was full.",
            |h| h.slow_consumer_disconnects,
        ),
    ];
    for (name, help, value) in counters {
        page.family(name, "counter", help);
        for hub in stats {
            page.sample(name, &[("hub", &hub.name)], value(hub));
        }
    }
}

/// Server connections by hub and kind, and ServiceProtocol messages by direction and type.
fn app_servers(page: &mut Exposition, state: &AppState) {
    let name = "signalr_server_connections";
    page.family(
        name,
        "gauge",
        "Live app-server (ServiceProtocol) connections by hub and connection type.",
    );
    for hub in state.hubs.sorted() {
        let mut by_kind = std::collections::BTreeMap::<&str, u64>::new();
        for server in hub.servers() {
            *by_kind.entry(server.kind().name()).or_default() += 1;
        }
        for (kind, count) in by_kind {
            page.sample(name, &[("hub", hub.name()), ("type", kind)], count);
        }
    }
    let name = "signalr_service_messages_total";
    page.family(
        name,
        "counter",
        "ServiceProtocol messages from (in) and to (out) app servers, by message type.",
    );
    for (direction, message, count) in state.hubs.service_metrics().counts() {
        page.sample(name, &[("direction", direction), ("type", message)], count);
    }
}

fn rest(page: &mut Exposition, metrics: &RestMetrics) {
    let name = "signalr_rest_requests_total";
    page.family(
        name,
        "counter",
        "REST API requests by method, matched route template and response status.",
    );
    for (route, count) in metrics.requests() {
        let status = route.status.to_string();
        let labels = [
            ("method", route.method.as_str()),
            ("route", &*route.route),
            ("status", status.as_str()),
        ];
        page.sample(name, &labels, count);
    }
}

/// The cluster counters: traffic over Redis, the lease and the nodes seen.
fn cluster_state(page: &mut Exposition, cluster: &Cluster) {
    let metrics = cluster.metrics();
    let counters = [
        (
            "signalr_cluster_published_total",
            "Operations this node published to the cluster.",
            &metrics.published,
        ),
        (
            "signalr_cluster_received_total",
            "Operations this node received from other nodes.",
            &metrics.received,
        ),
        (
            "signalr_cluster_redis_round_trips_total",
            "Redis commands and pipelines this node sent.",
            &metrics.round_trips,
        ),
        (
            "signalr_cluster_redis_errors_total",
            "Redis commands that failed (Redis unreachable or slow).",
            &metrics.redis_errors,
        ),
        (
            "signalr_cluster_lease_renewals_total",
            "Lease renewals that succeeded.",
            &metrics.lease_renewals,
        ),
        (
            "signalr_cluster_resyncs_total",
            "Times this node rewrote its local state into Redis.",
            &metrics.resyncs,
        ),
        (
            "signalr_cluster_app_server_sends_failed_total",
            "Fan-out messages of app servers on this node that reached its own connections but not the other nodes' (Redis unavailable).",
            &metrics.app_server_sends_failed,
        ),
    ];
    for (name, help, counter) in counters {
        page.family(name, "counter", help);
        page.sample(name, &[], ClusterMetrics::read(counter));
    }
    let name = "signalr_cluster_healthy";
    page.family(
        name,
        "gauge",
        "1 while this node holds its lease, its Redis subscription is up and Redis has its state (rewritten after Redis lost it).",
    );
    page.sample(name, &[], u64::from(cluster.is_healthy()));
    let name = "signalr_cluster_nodes";
    page.family(
        name,
        "gauge",
        "Nodes holding a lease, as of this node's last renewal.",
    );
    page.sample(name, &[], cluster.nodes().len() as u64);
}

fn upstream_calls(page: &mut Exposition, metrics: &UpstreamMetrics) {
    let name = "signalr_upstream_calls_total";
    page.family(
        name,
        "counter",
        "Upstream webhook calls by outcome (ok, http_error, transport_error, timeout, no_match, busy).",
    );
    for outcome in CallOutcome::ALL {
        page.sample(
            name,
            &[("outcome", outcome.label())],
            metrics.calls(outcome),
        );
    }
    let name = "signalr_upstream_call_duration_seconds";
    page.family(
        name,
        "histogram",
        "How long upstream calls took, from sending the request to reading the answer.",
    );
    let latency = metrics.latency();
    let bucket = format!("{name}_bucket");
    for (bound, count) in LATENCY_BUCKETS.iter().zip(&latency.cumulative) {
        page.sample(&bucket, &[("le", &bound.to_string())], count);
    }
    page.sample(&bucket, &[("le", "+Inf")], latency.count);
    page.sample(&format!("{name}_sum"), &[], latency.sum_seconds);
    page.sample(&format!("{name}_count"), &[], latency.count);
}
