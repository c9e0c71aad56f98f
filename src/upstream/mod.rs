//! Serverless upstream webhooks: the templates from `settings.json` (hot-reloaded) and
//! `--upstream`, and the signed HTTP call for each event (`connections/connected`,
//! `connections/disconnected`, `messages/<target>`) with its response mapped to what the
//! client gets. [`Upstream`] is the handle the client session uses.
//!
//! * [`settings`]: reading the official settings.json; [`template`]: patterns and URLs.
//! * `request`, `signature`: the `X-ASRS-*` request; `response`: statuses to Completions.
//! * `report`: the log line per call and the advice on failures; `reload`: hot reload.
//!
//! Calls go over http or https; https trusts the system's roots plus `--upstream-ca` bundles.
//! * [`commands`]: the `upstream init` and `upstream list` subcommands.

pub mod commands;
pub mod env_settings;
mod jsonc;
pub mod metrics;
mod reload;
mod report;
mod request;
mod response;
pub mod settings;
mod signature;
pub mod template;

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError};
use crate::text::sentence_end;
use env_settings::EnvSettings;
use metrics::{CallOutcome, UpstreamMetrics};
use report::Call;
use response::Attempt;
use template::Template;

/// The upstream of a running server. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Upstream {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The settings file, when one was given.
    file: Option<PathBuf>,
    /// The file's content as loaded at startup, where hot reload starts from.
    loaded: Vec<u8>,
    /// Templates from `--upstream`, kept after the file's across reloads.
    extra: Vec<Template>,
    /// asrs-emulator's `UpstreamSettings__…` variables, laid over the file on every reload.
    env: EnvSettings,
    /// The templates in effect: the file's, then `extra`. Swapped whole on reload; the lock is
    /// only held to clone or replace the `Arc`, never across an await.
    templates: RwLock<Arc<[Template]>>,
    /// Access keys that sign each call.
    keys: Vec<String>,
    http: reqwest::Client,
    timeout: Duration,
    /// One permit per call in flight (`--upstream-max-calls`), so a hung upstream cannot
    /// collect a call from every connection.
    in_flight: Semaphore,
    max_calls: usize,
    metrics: UpstreamMetrics,
}

/// One event for the upstream.
#[derive(Debug, Clone)]
pub struct UpstreamEvent<'a> {
    /// The hub as the client named it (with its application prefix).
    pub hub: &'a str,
    /// The public connection id.
    pub connection_id: &'a str,
    /// The user id; `None` for anonymous connections.
    pub user_id: Option<&'a str>,
    /// The token's claims as (type, value).
    pub claims: &'a [(String, String)],
    /// The query string of the client's connect request (a leading `?` is optional).
    pub client_query: &'a str,
    /// What happened.
    pub kind: EventKind<'a>,
}

/// The event itself.
#[derive(Debug, Clone)]
pub enum EventKind<'a> {
    /// `connections/connected`: the handshake completed.
    Connected,
    /// `connections/disconnected`, with the error that ended the connection, if any.
    Disconnected {
        /// Why the connection ended abnormally.
        error: Option<&'a str>,
    },
    /// `messages/<target>`: a client Invocation.
    /// `target` is the event name; `body` the unframed client message; `msgpack` selects application/x-msgpack.
    Message {
        /// The invocation target, case preserved.
        target: &'a str,
        /// The client's message without its transport framing.
        body: Bytes,
        /// The client speaks MessagePack.
        msgpack: bool,
    },
}

impl EventKind<'_> {
    /// `connections` or `messages`.
    pub fn category(&self) -> &'static str {
        match self {
            EventKind::Connected | EventKind::Disconnected { .. } => "connections",
            EventKind::Message { .. } => "messages",
        }
    }

    /// `connected`, `disconnected` or the target.
    pub fn event(&self) -> &str {
        match self {
            EventKind::Connected => "connected",
            EventKind::Disconnected { .. } => "disconnected",
            EventKind::Message { target, .. } => target,
        }
    }
}

/// How a call ended, from the client's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamOutcome {
    /// No template matched: nothing was sent.
    NoMatch,
    /// 200 with an empty body, or 204.
    Empty,
    /// 200 with a body (for blocking invocations the caller validates it as framed hub
    /// messages in the client's protocol).
    Body(Bytes),
    /// The exact client-facing text, e.g. "Invocation failed, status code 404".
    Failed(String),
}

impl Upstream {
    /// None when neither -c nor --upstream was given.
    pub fn from_config(config: &Config) -> Result<Option<Self>, ConfigError> {
        let extra = config
            .upstream_urls
            .iter()
            .map(|url| {
                Template::catch_all(url).map_err(|why| ConfigError(format!("--upstream: {why}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let env = EnvSettings::from_vars(config.environment.iter().cloned());
        if config.settings_file.is_none() && extra.is_empty() && env.is_empty() {
            return Ok(None);
        }
        let (from_file, loaded) = match &config.settings_file {
            Some(file) => settings::load(file, &env).map_err(|err| ConfigError(err.to_string()))?,
            None => (settings::from_env(&env).map_err(ConfigError)?, Vec::new()),
        };
        let mut http = reqwest::Client::builder()
            // Upstreams are local or on the compose network: a system proxy would only get
            // in the way.
            .no_proxy()
            // A redirected POST silently becomes a GET; better to report the 3xx.
            .redirect(reqwest::redirect::Policy::none());
        for file in &config.upstream_ca {
            for certificate in trusted_ca(file)? {
                http = http.add_root_certificate(certificate);
            }
        }
        let http = http
            .build()
            .map_err(|err| ConfigError(format!("cannot create the upstream HTTP client: {err}")))?;
        let templates = from_file.into_iter().chain(extra.iter().cloned()).collect();
        Ok(Some(Upstream {
            inner: Arc::new(Inner {
                file: config.settings_file.clone(),
                loaded,
                extra,
                env,
                templates: RwLock::new(templates),
                keys: config.access_keys.clone(),
                http,
                timeout: config.upstream_timeout,
                in_flight: Semaphore::new(config.upstream_max_calls),
                max_calls: config.upstream_max_calls,
                metrics: UpstreamMetrics::default(),
            }),
        }))
    }

    /// Starts the file watcher (if any) until `shutdown` is cancelled. Call it once, inside a
    /// Tokio runtime.
    pub fn watch(&self, shutdown: CancellationToken) {
        if let Some(file) = &self.inner.file {
            tokio::spawn(reload::watch(
                self.clone(),
                file.clone(),
                self.inner.loaded.clone(),
                shutdown,
            ));
        }
    }

    /// Whether any template matches (hub, category, event) right now.
    pub fn matches(&self, hub: &str, category: &str, event: &str) -> bool {
        self.templates()
            .iter()
            .any(|template| template.matches(hub, category, event))
    }

    /// The templates in effect, in matching order.
    pub fn templates(&self) -> Arc<[Template]> {
        self.inner
            .templates
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Call counts and latencies so far.
    pub fn metrics(&self) -> &UpstreamMetrics {
        &self.inner.metrics
    }

    /// The settings file being watched, if any.
    pub fn settings_file(&self) -> Option<&Path> {
        self.inner.file.as_deref()
    }

    /// Sends one event; never panics, always returns within the timeout.
    pub async fn call(&self, event: UpstreamEvent<'_>) -> UpstreamOutcome {
        let category = event.kind.category();
        let name = event.kind.event();
        let Some(template) = self
            .templates()
            .iter()
            .find(|template| template.matches(event.hub, category, name))
            .cloned()
        else {
            tracing::debug!(
                hub = event.hub,
                category,
                event = name,
                "no upstream template matches: nothing sent"
            );
            self.inner.metrics.record(CallOutcome::NoMatch, None);
            return UpstreamOutcome::NoMatch;
        };
        let url = match template.render(event.hub, category, name) {
            Ok(url) => url,
            Err(why) => {
                tracing::warn!(hub = event.hub, category, event = name, "{why}");
                self.inner.metrics.record(CallOutcome::TransportError, None);
                return UpstreamOutcome::Failed(format!(
                    "Invocation failed, error: {}",
                    sentence_end(why)
                ));
            }
        };
        // Beyond the limit nothing is sent: an invocation's client is told, every refusal logged.
        let Ok(_permit) = self.inner.in_flight.try_acquire() else {
            tracing::warn!(
                hub = event.hub,
                category,
                event = name,
                connection_id = event.connection_id,
                max_calls = self.inner.max_calls,
                "upstream call not sent: {} calls are already waiting for the upstream (--upstream-max-calls); is it hung?",
                self.inner.max_calls
            );
            self.inner.metrics.record(CallOutcome::Busy, None);
            return UpstreamOutcome::Failed(format!(
                "Invocation failed, {} upstream calls are already in flight (--upstream-max-calls); try again when the upstream answers.",
                self.inner.max_calls
            ));
        };
        let request = request::build(url.clone(), &event, &self.inner.keys);
        let started = Instant::now();
        let timeout = self.inner.timeout;
        let attempt = tokio::time::timeout(timeout, async {
            match self.inner.http.execute(request).await {
                Ok(response) => Attempt::read(response).await,
                Err(err) => Attempt::from_error(&err),
            }
        })
        .await
        .unwrap_or(Attempt::TimedOut(timeout));
        let call = Call {
            hub: event.hub,
            category,
            event: name,
            connection_id: event.connection_id,
            url: &url,
        };
        let elapsed = started.elapsed();
        self.inner.metrics.record(attempt.metric(), Some(elapsed));
        report::log(call, &attempt, elapsed);
        attempt.outcome()
    }

    /// Puts the file's new templates (then `--upstream`'s) in effect; returns them all.
    fn replace(&self, from_file: Vec<Template>) -> Arc<[Template]> {
        let all: Arc<[Template]> = from_file
            .into_iter()
            .chain(self.inner.extra.iter().cloned())
            .collect();
        *self
            .inner
            .templates
            .write()
            .unwrap_or_else(PoisonError::into_inner) = all.clone();
        all
    }
}

/// The certificates of an `--upstream-ca` PEM bundle; the error names the file and the problem.
fn trusted_ca(file: &Path) -> Result<Vec<reqwest::Certificate>, ConfigError> {
    let pem = std::fs::read(file).map_err(|err| {
        ConfigError(format!(
            "--upstream-ca: cannot read '{}': {err}",
            file.display()
        ))
    })?;
    let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|err| {
        ConfigError(format!(
            "--upstream-ca: '{}' is not a PEM certificate bundle: {err}",
            file.display()
        ))
    })?;
    if certificates.is_empty() {
        return Err(ConfigError(format!(
            "--upstream-ca: '{}' holds no '-----BEGIN CERTIFICATE-----' block",
            file.display()
        )));
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_with(urls: &[&str]) -> Config {
        Config {
            upstream_urls: urls.iter().map(|u| (*u).to_owned()).collect(),
            ..Config::default()
        }
    }

    #[test]
    fn nothing_configured_means_no_upstream() {
        assert!(Upstream::from_config(&Config::default()).unwrap().is_none());
    }

    #[test]
    fn upstream_flags_are_catch_all_templates_after_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("settings.json");
        std::fs::write(
            &file,
            r#"{"UpstreamSettings":{"Templates":[{"UrlTemplate":"http://file/{event}","HubPattern":"chat"}]}}"#,
        )
        .unwrap();
        let config = Config {
            settings_file: Some(file.clone()),
            ..config_with(&["http://flag/{hub}"])
        };
        let upstream = Upstream::from_config(&config).unwrap().unwrap();
        let templates = upstream.templates();
        assert_eq!(templates.len(), 2);
        assert_eq!(templates[0].url(), "http://file/{event}");
        assert_eq!(templates[1].url(), "http://flag/{hub}");
        assert!(upstream.matches("news", "messages", "x"));
        assert_eq!(upstream.settings_file(), Some(file.as_path()));

        let replaced = upstream.replace(Vec::new());
        assert_eq!(replaced.len(), 1);
        assert_eq!(upstream.templates()[0].url(), "http://flag/{hub}");
    }

    #[test]
    fn bad_upstream_flags_and_files_are_config_errors() {
        let err = Upstream::from_config(&config_with(&["localhost:7071"])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--upstream: UrlTemplate 'localhost:7071' is not an absolute"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("settings.json");
        std::fs::write(&file, "{ nope").unwrap();
        let config = Config {
            settings_file: Some(file),
            ..Config::default()
        };
        let err = Upstream::from_config(&config).unwrap_err().to_string();
        assert!(
            err.contains("settings.json': it is not valid JSON"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn no_matching_template_sends_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("settings.json");
        std::fs::write(
            &file,
            r#"{"UpstreamSettings":{"Templates":[{"UrlTemplate":"http://127.0.0.1:9/x","HubPattern":"chat"}]}}"#,
        )
        .unwrap();
        let config = Config {
            settings_file: Some(file),
            ..Config::default()
        };
        let upstream = Upstream::from_config(&config).unwrap().unwrap();
        assert!(upstream.matches("chat", "connections", "connected"));
        assert!(!upstream.matches("news", "connections", "connected"));
        let outcome = upstream
            .call(UpstreamEvent {
                hub: "news",
                connection_id: "c",
                user_id: None,
                claims: &[],
                client_query: "",
                kind: EventKind::Connected,
            })
            .await;
        assert_eq!(outcome, UpstreamOutcome::NoMatch);
    }
}
