//! The live dashboard at `/`: one static page (HTML, JS and CSS embedded in the binary, no build
//! step, nothing from a CDN) over a small JSON API: the hubs with their connections, users and
//! groups, the connection string, a live trace over Server-Sent Events, and short-lived REST
//! tokens so the page's send form goes through the real REST API. Protected by the access key
//! unless `--auth off` (see [`session`]). Also the interactive API reference at `/swagger/`
//! over the served OpenAPI documents, whose calls are signed through the same session.
//!
//! These routes are merged outside the CORS layer on purpose: other origins (the user's own app
//! on another port) must not read the dashboard with the viewer's cookie.

mod events;
mod nodes;
pub mod session;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::{AuthMode, issue_token, unix_now};
use crate::config::{Config, ServiceMode};
use crate::hub::{HubSnapshot, TRACE_CAPACITY};
use crate::state::AppState;
use session::Viewer;

/// How long a REST token handed to the page stays valid, in seconds.
const REST_TOKEN_SECONDS: u64 = 300;

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

const INDEX_HTML: &str = include_str!("assets/index.html");
const FAVICON_SVG: &str = include_str!("assets/favicon.svg");
const API_REFERENCE_HTML: &str = include_str!("assets/api-reference.html");

/// The embedded files under `/dashboard/`: name, content type, content.
const ASSETS: [(&str, &str, &str); 8] = [
    ("app.js", JS, include_str!("assets/app.js")),
    ("nodes.js", JS, include_str!("assets/nodes.js")),
    ("dom.js", JS, include_str!("assets/dom.js")),
    ("trace.js", JS, include_str!("assets/trace.js")),
    ("style.css", CSS, include_str!("assets/style.css")),
    ("favicon.svg", SVG, FAVICON_SVG),
    (
        "api-reference.js",
        JS,
        include_str!("assets/api-reference.js"),
    ),
    (
        "api-reference.css",
        CSS,
        include_str!("assets/api-reference.css"),
    ),
];

/// The dashboard's routes.
pub fn router() -> Router<AppState> {
    let mut router = Router::new()
        .route("/", get(|| asset(HTML, INDEX_HTML)))
        // Browsers ask for /favicon.ico whatever the page links; an SVG answers both.
        .route("/favicon.ico", get(|| asset(SVG, FAVICON_SVG)))
        .route("/swagger", get(|| asset(HTML, API_REFERENCE_HTML)))
        .route("/swagger/", get(|| asset(HTML, API_REFERENCE_HTML)));
    for (name, content_type, body) in ASSETS {
        router = router.route(
            &format!("/dashboard/{name}"),
            get(move || asset(content_type, body)),
        );
    }
    router
        .route("/dashboard/login", post(session::login))
        .route("/dashboard/logout", post(session::logout))
        .route("/dashboard/api/state", get(overview))
        .route("/dashboard/api/events", get(events::events))
        .route("/dashboard/api/rest-token", post(rest_token))
}

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// What the page shows besides the trace.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Overview {
    /// Every hub, by name.
    hubs: Vec<HubView>,
    /// The connection string for this server as the viewer reached it.
    connection_string: String,
    /// `strict`, `relaxed` or `off`.
    auth: &'static str,
    /// Trace lines kept for a viewer that falls behind.
    trace_capacity: usize,
    /// The nodes and what they hold (`--redis`); `null` for a single node.
    cluster: Option<nodes::ClusterView>,
}

async fn overview(_viewer: Viewer, State(state): State<AppState>, headers: HeaderMap) -> Response {
    let hubs: Vec<HubView> = state
        .hubs
        .sorted()
        .iter()
        .map(|hub| HubView {
            mode: hub_mode(state.config.service_mode, hub.has_app_server()),
            snapshot: hub.snapshot(),
        })
        .collect();
    let cluster = match (&state.cluster, &state.config.cluster) {
        (Some(cluster), Some(config)) => {
            let held = hubs.iter().map(|hub| hub.snapshot.connections.len()).sum();
            Some(nodes::cluster_view(cluster, config.lease.as_secs(), held).await)
        }
        _ => None,
    };
    let auth = match state.config.auth {
        AuthMode::Strict => "strict",
        AuthMode::Relaxed => "relaxed",
        AuthMode::Off => "off",
    };
    let overview = Overview {
        hubs,
        connection_string: connection_string(
            &state.config,
            headers.get(header::HOST).and_then(|v| v.to_str().ok()),
        ),
        auth,
        trace_capacity: TRACE_CAPACITY,
        cluster,
    };
    ([(header::CACHE_CONTROL, "no-store")], Json(overview)).into_response()
}

/// The configured public endpoint's connection string, else one naming the host and port the
/// viewer used to reach the dashboard (which a local app can use as well).
/// A hub as the dashboard shows it: its state and how its clients are served.
#[derive(Debug, Serialize)]
struct HubView {
    #[serde(flatten)]
    snapshot: HubSnapshot,
    /// `default` (clients go to app servers) or `serverless`.
    mode: &'static str,
}

/// Whether a hub's clients go to app servers: always in `default`, never in `serverless`, and
/// in `classic` while an app server is connected.
fn hub_mode(service_mode: ServiceMode, has_app_server: bool) -> &'static str {
    match service_mode {
        ServiceMode::Default => "default",
        ServiceMode::Serverless => "serverless",
        ServiceMode::Classic if has_app_server => "default",
        ServiceMode::Classic => "serverless",
    }
}

fn connection_string(config: &Config, host: Option<&str>) -> String {
    match host {
        Some(host) if config.public_endpoint.is_none() => {
            // `[::1]` alone has colons but no port.
            let (name, port) = match host.rsplit_once(':') {
                Some((name, port)) if !host.ends_with(']') => {
                    (name, port.parse::<u16>().unwrap_or(80))
                }
                _ => (host, 80),
            };
            format!(
                "Endpoint=http://{name};Port={port};AccessKey={};Version=1.0;",
                config.access_keys[0]
            )
        }
        _ => config.connection_string(config.bind),
    }
}

/// A REST path the page wants to call.
#[derive(Debug, Deserialize)]
struct RestTokenRequest {
    /// The request path, percent-encoded as it will be sent, e.g. `/api/hubs/chat/:send`.
    path: String,
}

/// `POST /dashboard/api/rest-token`: a token for one REST path, so the send form uses the real
/// REST API (and shows up in its metrics and trace) without the page ever holding the key.
async fn rest_token(
    _viewer: Viewer,
    State(state): State<AppState>,
    Json(request): Json<RestTokenRequest>,
) -> Response {
    let path = request.path;
    if !path.starts_with("/api/") || path.contains(['?', '#']) {
        let message = format!(
            "'{path}' is not a REST API path (it must start with /api/ and have no query)."
        );
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "code": "Error.Dashboard.Path", "message": message })),
        )
            .into_response();
    }
    let claims = json!({
        "aud": format!("http://localhost{path}"),
        "exp": unix_now() + REST_TOKEN_SECONDS,
    });
    let token = issue_token(&state.config.access_keys[0], &claims);
    Json(json!({ "token": token })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PublicEndpoint;

    #[test]
    fn the_connection_string_names_the_host_the_viewer_used() {
        let config = Config {
            access_keys: vec!["k".into()],
            ..Config::default()
        };
        let at = |host| connection_string(&config, host);
        assert_eq!(
            at(Some("10.0.0.5:8888")),
            "Endpoint=http://10.0.0.5;Port=8888;AccessKey=k;Version=1.0;"
        );
        assert_eq!(
            at(Some("[::1]:9000")),
            "Endpoint=http://[::1];Port=9000;AccessKey=k;Version=1.0;"
        );
        assert_eq!(
            at(Some("emulator")),
            "Endpoint=http://emulator;Port=80;AccessKey=k;Version=1.0;"
        );
        let public = Config {
            public_endpoint: Some(PublicEndpoint::parse("http://signalr:8888").unwrap()),
            ..config.clone()
        };
        assert_eq!(
            connection_string(&public, Some("127.0.0.1:1234")),
            "Endpoint=http://signalr;Port=8888;AccessKey=k;Version=1.0;"
        );
    }
}
