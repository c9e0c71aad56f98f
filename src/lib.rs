//! signalr-emulator: a self-hosted server that behaves like Azure SignalR Service for the
//! clients, SDKs and REST callers that talk to it.
//!
//! # Layout
//!
//! * [`protocol`]: pure hub-protocol codecs (handshake, JSON framing, messages, encode-once).
//! * [`hub`]: the registry of hubs, connections, users and groups, and fan-out to them.
//! * [`auth`]: access keys and token verification with precise reasons.
//! * [`client`]: the client endpoint: negotiate, the WebSocket transport, the session.
//! * [`server`]: the app-server endpoint `/server` (default mode, the ServiceProtocol).
//! * [`api`]: the data-plane REST API, one module per generation over shared operations.
//! * [`app`]: the service every request enters (the REST direct lane beside the router).
//! * [`upstream`]: serverless upstream webhooks (settings.json templates, signed calls).
//! * [`metrics`]: `GET /metrics` for Prometheus; [`dashboard`]: the live dashboard at `/`.
//! * [`tls`]: TLS on the service port (certificates, hot reload, `--tls-self-signed`).
//! * [`serve`]: accept loops, per-connection HTTP, timeouts and the shutdown deadline.
//! * [`config`], [`cli`], [`telemetry`], [`shutdown`]: running the process; [`text`]: error
//!   texts built from details (one full stop at most).
//!
//! Dependencies point one way: `api`, `client` and `server` use `hub`, which uses `protocol`.
//! [`run`] serves a bound listener until a shutdown future completes, so tests start the real
//! server on `127.0.0.1:0`.

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod config;
pub mod dashboard;
pub mod error;
pub mod healthcheck;
pub mod hub;
pub mod metrics;
pub mod protocol;
pub mod query;
pub mod request_span;
pub mod serve;
pub mod server;
mod settle;
pub mod shutdown;
pub mod state;
pub mod telemetry;
pub mod text;
pub mod tls;
pub mod upstream;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Method};
use axum::middleware;
use axum::response::IntoResponse;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower::util::BoxCloneSyncService;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

pub use app::App;
pub use config::Config;
pub use state::AppState;

use api::RestMetrics;
use client::{ClientConnections, ClientState};
use cluster::Cluster;
use upstream::Upstream;

/// How often abandoned negotiations are swept.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// The whole HTTP surface for a state and the client connection table, with each part's CORS
/// policy:
///
/// * the client endpoint (negotiate, transports) echoes any origin and allows credentials, as
///   Azure does: browser clients negotiate with `withCredentials` (cookies for sticky sessions);
/// * the REST API allows any origin without credentials (`*`): its callers authenticate with a
///   bearer header, never cookies, so a page can call it only with a token it holds;
/// * `/metrics` (for Prometheus, not for pages) and the dashboard (same-origin) send no CORS
///   headers, so no other origin can read them from a browser.
pub fn router(state: AppState, connections: Arc<ClientConnections>) -> App {
    let rest_metrics = Arc::new(RestMetrics::default());
    let methods = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
    ];
    let browser_clients = CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_credentials(true)
        .allow_headers(AllowHeaders::mirror_request())
        .allow_methods(methods.clone());
    let rest_callers = CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_headers(AllowHeaders::any())
        .allow_methods(methods)
        .expose_headers([HeaderName::from_static("x-ms-error-code")]);
    let observers = api::RestObservers {
        state: state.clone(),
        metrics: rest_metrics.clone(),
    };
    // The direct lane gets the layers the routed API has (see `api/direct.rs`).
    let direct = ServiceBuilder::new()
        .map_response(IntoResponse::into_response)
        .layer(request_span::layer())
        .layer(rest_callers.clone())
        .layer(DefaultBodyLimit::max(api::MAX_BODY_BYTES))
        .service(api::direct_send(observers.clone()));
    // The API goes first and the check stays off: see `api::router`.
    let routed = Router::new()
        .without_v07_checks()
        .merge(
            api::router()
                .layer(middleware::from_fn_with_state(observers, api::observe))
                .layer(rest_callers),
        )
        .merge(
            client::router()
                .layer(browser_clients)
                .with_state(ClientState::new(state.clone(), connections)),
        )
        .merge(server::router())
        .merge(metrics::router(rest_metrics))
        .merge(dashboard::router())
        .layer(request_span::layer())
        .with_state(state);
    App::new(routed, BoxCloneSyncService::new(direct))
}

/// Serves `listener` until `shutdown` completes; then every client gets a Close message that
/// allows reconnecting, and connections get the configured grace period to finish, after which
/// whatever is left is dropped (see [`serve`]).
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    run_on(config, vec![listener], shutdown).await
}

/// [`run`] on several listeners at once (e.g. `127.0.0.1` and `::1`), one state for all.
pub async fn run_on(
    config: Config,
    listeners: Vec<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let upstream = Upstream::from_config(&config)
        .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidInput, err.to_string()))?;
    run_state(AppState::new(config, upstream), listeners, shutdown).await
}

/// [`run_on`] for a state already built, so a caller that built the upstream (to print it)
/// does not build it again.
pub async fn run_state(
    mut state: AppState,
    listeners: Vec<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Some(cluster) = &state.config.cluster {
        let advertise = advertised_url(&state.config, &listeners);
        let (hubs, tasks) = (state.hubs.clone(), &state.tasks);
        let joined = Cluster::start(cluster, advertise, hubs, tasks, &state.shutdown).await;
        let joined = joined.map_err(|err| {
            std::io::Error::other(format!(
                "cannot join the cluster through Redis at {}: {err}",
                cluster.redis_url
            ))
        })?;
        state = state.with_cluster(joined);
    }
    if let Some(upstream) = &state.upstream {
        upstream.watch(state.shutdown.clone());
    }
    let token = state.shutdown.clone();
    let connections = Arc::new(ClientConnections::default());
    let sweeper = state
        .tasks
        .spawn(sweep(ClientState::new(state.clone(), connections.clone())));
    let expirer = state.tasks.spawn(expire_memberships(state.clone()));
    let options = serve::ServeOptions {
        header_read_timeout: state.config.header_read_timeout,
        body_read_timeout: state.config.body_read_timeout,
        shutdown_timeout: state.config.shutdown_grace,
    };
    let tasks = state.tasks.clone();
    let cluster = state.cluster.clone();
    let config_tls = state.config.tls.clone();
    let app = router(state, connections);
    let stop = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = shutdown => {
                tracing::info!("shutting down: closing every connection");
                stop.cancel();
            }
            () = stop.cancelled() => {}
        }
    });
    match &config_tls {
        None => serve::serve(listeners, serve::PlainTcp, app, options, tasks, token).await,
        Some(source) => {
            let invalid = |err: tls::TlsError| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, err.to_string())
            };
            let files = tls::prepare(source).map_err(invalid)?;
            let acceptor = tls::TlsAcceptor::new(&files, token.clone()).map_err(invalid)?;
            serve::serve(listeners, acceptor, app, options, tasks, token).await;
        }
    }
    sweeper.abort();
    expirer.abort();
    if let Some(cluster) = &cluster {
        cluster.leave().await;
    }
    Ok(())
}

/// This node's URL for other nodes when `--cluster-advertise` names none: the scheme and the
/// first listener's address.
fn advertised_url(config: &Config, listeners: &[TcpListener]) -> String {
    let address = listeners
        .first()
        .and_then(|l| l.local_addr().ok())
        .unwrap_or(config.bind);
    format!("{}://{address}", config.scheme())
}

/// Periodic housekeeping until shutdown.
async fn sweep(state: ClientState) {
    let mut tick = tokio::time::interval(SWEEP_INTERVAL);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let now = tokio::time::Instant::now();
                client::sweep(&state, now);
            }
            () = state.shutdown.cancelled() => return,
        }
    }
}

/// Expires user-group memberships as they fall due, until shutdown: sleeps until the earliest
/// deadline, or until one earlier than that is added.
async fn expire_memberships(state: AppState) {
    let expiries = state.hubs.expiries();
    loop {
        state.hubs.expire_due(tokio::time::Instant::now());
        let next = expiries.next();
        let due = async {
            match next {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = due => {}
            () = expiries.earlier() => {}
            () = state.shutdown.cancelled() => return,
        }
    }
}
