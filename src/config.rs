//! The validated, immutable server configuration built from the command line, and the
//! connection string the server advertises. Invalid values are rejected here with a message
//! that names the flag, before anything binds a port.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::auth::{AuthMode, EntraTokens};
use crate::cli::{
    AuthArg, ClusterArgs, DEFAULT_ACCESS_KEY, SecurityArgs, ServiceModeArg, StartArgs,
};

/// Everything the server needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to bind.
    pub bind: SocketAddr,
    /// Also listen on `[::1]` at the bound port: no `-i` was given, so the server listens on
    /// both loopback addresses, as asrs-emulator does (`localhost` may resolve to either).
    pub also_ipv6_loopback: bool,
    /// Access keys; tokens signed with any of them are accepted. The first one is advertised.
    pub access_keys: Vec<String>,
    /// The endpoint clients should use, when it differs from the bound address.
    pub public_endpoint: Option<PublicEndpoint>,
    /// Which token checks run.
    pub auth: AuthMode,
    /// Idle output time after which a Ping is sent.
    pub keep_alive_interval: Duration,
    /// Time without client messages (after its first Ping) after which it is dropped.
    pub client_timeout: Duration,
    /// Time a client has to complete its handshake.
    pub handshake_timeout: Duration,
    /// ASP.NET Core's DisconnectTimeout: how long a negotiated connection waits for its
    /// transport, a long-polling connection for its next poll, and a stateful connection for
    /// its client to reconnect.
    pub disconnect_timeout: Duration,
    /// How long a long poll waits for output before it returns empty.
    pub poll_timeout: Duration,
    /// Time a REST `:invoke` waits for the client's Completion.
    pub invoke_timeout: Duration,
    /// Frames queued per connection before it is closed as a slow consumer.
    pub send_queue: usize,
    /// Largest single hub message a client may send.
    pub max_message_size: usize,
    /// How long shutdown waits for connections to receive their Close and for requests to
    /// finish; whatever is left then is dropped.
    pub shutdown_grace: Duration,
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request's body, counted from its headers.
    pub body_read_timeout: Duration,
    /// The upstream settings.json: the one given with `-c`, else `./settings.json` when it
    /// exists (as asrs-emulator does).
    pub settings_file: Option<PathBuf>,
    /// URL templates from `--upstream`, each for every hub, category and event; matched after
    /// the settings file's templates.
    pub upstream_urls: Vec<String>,
    /// How long an upstream call may take before the client is told it failed.
    pub upstream_timeout: Duration,
    /// Upstream calls in flight at once, over all connections.
    pub upstream_max_calls: usize,
    /// PEM bundles of CAs upstream calls trust besides the system's roots (`--upstream-ca`).
    pub upstream_ca: Vec<PathBuf>,
    /// TLS on the service port; `None` serves plain http.
    pub tls: Option<TlsSource>,
    /// Whether Microsoft Entra ID tokens are accepted, and how.
    pub entra: EntraTokens,
    /// How hubs treat app servers (`--service-mode`).
    pub service_mode: ServiceMode,
    /// How often app servers are pinged; the SDK drops a server connection after 30 s of silence.
    pub server_ping_interval: Duration,
    /// Frames queued per app-server connection before it is closed as too slow.
    pub server_send_queue: usize,
    /// The process environment's variables, where asrs-emulator's .NET-style upstream settings
    /// (`UpstreamSettings__Templates__0__UrlTemplate`, ...) are read from.
    pub environment: Vec<(String, String)>,
    /// Scale-out over Redis; `None` is the single in-memory node.
    pub cluster: Option<ClusterConfig>,
}

/// How this node joins a cluster (`--redis` and its companions).
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The Redis URL (`redis://` or `rediss://`); with `redis_cluster`, comma-separated seeds.
    pub redis_url: String,
    /// Whether `redis_url` names seed nodes of a Redis Cluster.
    pub redis_cluster: bool,
    /// Prefix of every key and channel.
    pub prefix: String,
    /// How long a lease lasts without renewal.
    pub lease: Duration,
    /// The base URL other nodes reach this one at; `None` derives it from the bound address.
    pub advertise: Option<String>,
}

/// Where the service port's certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// `--tls-cert` and `--tls-key`.
    Files {
        /// PEM certificate chain, leaf first.
        cert: PathBuf,
        /// PEM private key.
        key: PathBuf,
    },
    /// `--tls-self-signed`: a local CA and localhost certificate kept in `dir`.
    SelfSigned {
        /// The folder holding them.
        dir: PathBuf,
    },
}

/// `--service-mode`: how hubs treat app servers connecting to `/server`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceMode {
    /// A hub with at least one connected non-Weak app-server connection routes its clients to
    /// its app servers; a hub without one is serverless (REST and upstream).
    Classic,
    /// Every hub routes its clients to app servers; without one, client handshakes fail.
    Default,
    /// Default and OnDemand app-server connections are refused; Weak ones are accepted.
    Serverless,
}

impl ServiceMode {
    /// The name used on the command line and the dashboard.
    pub fn name(self) -> &'static str {
        match self {
            ServiceMode::Classic => "classic",
            ServiceMode::Default => "default",
            ServiceMode::Serverless => "serverless",
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8888)),
            also_ipv6_loopback: false,
            access_keys: vec![DEFAULT_ACCESS_KEY.to_owned()],
            public_endpoint: None,
            auth: AuthMode::Strict,
            keep_alive_interval: Duration::from_secs(15),
            client_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(15),
            disconnect_timeout: Duration::from_secs(15),
            poll_timeout: Duration::from_secs(90),
            invoke_timeout: Duration::from_secs(30),
            send_queue: 1024,
            max_message_size: 1024 * 1024,
            shutdown_grace: Duration::from_secs(5),
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(30),
            settings_file: None,
            upstream_urls: Vec::new(),
            upstream_timeout: Duration::from_secs(100),
            upstream_max_calls: 128,
            upstream_ca: Vec::new(),
            tls: None,
            entra: EntraTokens::Refused,
            service_mode: ServiceMode::Classic,
            server_ping_interval: Duration::from_secs(5),
            server_send_queue: 16 * 1024,
            environment: Vec::new(),
            cluster: None,
        }
    }
}

/// A configuration value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub(crate) String);

impl TryFrom<StartArgs> for Config {
    type Error = ConfigError;

    fn try_from(args: StartArgs) -> Result<Self, ConfigError> {
        let access_keys: Vec<String> = args
            .access_keys
            .into_iter()
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
            .collect();
        if access_keys.is_empty() {
            return Err(ConfigError(
                "--access-key / SIGNALR_EMULATOR_ACCESS_KEY is empty: give at least one key."
                    .into(),
            ));
        }
        let seconds = |value: u64, flag: &str| {
            if value == 0 {
                Err(ConfigError(format!("{flag} must be at least 1 second.")))
            } else {
                Ok(Duration::from_secs(value))
            }
        };
        if args.upstream_max_calls == 0 {
            return Err(ConfigError(
                "--upstream-max-calls must be at least 1.".into(),
            ));
        }
        if args.send_queue == 0 {
            return Err(ConfigError("--send-queue must be at least 1.".into()));
        }
        Ok(Config {
            bind: SocketAddr::new(args.ip.unwrap_or(IpAddr::from([127, 0, 0, 1])), args.port),
            also_ipv6_loopback: args.ip.is_none(),
            access_keys,
            public_endpoint: args
                .public_endpoint
                .as_deref()
                .map(PublicEndpoint::parse)
                .transpose()?,
            auth: match args.auth {
                AuthArg::Strict => AuthMode::Strict,
                AuthArg::Relaxed => AuthMode::Relaxed,
                AuthArg::Off => AuthMode::Off,
            },
            keep_alive_interval: seconds(args.keep_alive_interval, "--keep-alive-interval")?,
            client_timeout: seconds(args.client_timeout, "--client-timeout")?,
            handshake_timeout: seconds(args.handshake_timeout, "--handshake-timeout")?,
            invoke_timeout: seconds(args.invoke_timeout, "--invoke-timeout")?,
            send_queue: args.send_queue,
            settings_file: match args.config {
                Some(path) => Some(resolve_settings_file(&path)?),
                None => Some(PathBuf::from(DEFAULT_SETTINGS_FILE)).filter(|file| file.is_file()),
            },
            upstream_urls: args.upstream,
            upstream_timeout: seconds(args.upstream_timeout, "--upstream-timeout")?,
            environment: std::env::vars().collect(),
            header_read_timeout: seconds(args.header_read_timeout, "--header-read-timeout")?,
            body_read_timeout: seconds(args.body_read_timeout, "--body-read-timeout")?,
            shutdown_grace: seconds(args.shutdown_timeout, "--shutdown-timeout")?,
            upstream_max_calls: args.upstream_max_calls,
            upstream_ca: args.security.upstream_ca.clone(),
            tls: tls_source(&args.security),
            entra: entra_tokens(&args.security)?,
            service_mode: match args.service_mode {
                ServiceModeArg::Classic => ServiceMode::Classic,
                ServiceModeArg::Default => ServiceMode::Default,
                ServiceModeArg::Serverless => ServiceMode::Serverless,
            },
            cluster: cluster_config(&args.cluster)?,
            ..Config::default()
        })
    }
}

/// The cluster settings, when `--redis` was given; the prefix may hold letters, digits and
/// `_-.` so it cannot collide with the `:` separators or a channel pattern's wildcards.
fn cluster_config(args: &ClusterArgs) -> Result<Option<ClusterConfig>, ConfigError> {
    let Some(url) = args.redis.as_deref().map(str::trim) else {
        return Ok(None);
    };
    let urls: Vec<&str> = if args.redis_cluster {
        url.split(',').map(str::trim).collect()
    } else if url.contains(',') {
        return Err(ConfigError(format!(
            "--redis '{url}' names several servers; add --redis-cluster if they are seed nodes of a Redis Cluster."
        )));
    } else {
        vec![url]
    };
    for url in urls {
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            return Err(ConfigError(format!(
                "--redis '{url}' must start with redis:// or rediss://, e.g. redis://127.0.0.1:6379/0 \
                 (with --redis-cluster: one or more seed nodes, comma-separated)."
            )));
        }
    }
    let prefix = &args.redis_prefix;
    if prefix.is_empty()
        || !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    {
        return Err(ConfigError(format!(
            "--redis-prefix '{prefix}' must be letters, digits, '_', '-' or '.', and not empty."
        )));
    }
    if !(2..=3600).contains(&args.cluster_lease_secs) {
        return Err(ConfigError(
            "--cluster-lease-secs must be from 2 to 3600 seconds.".into(),
        ));
    }
    Ok(Some(ClusterConfig {
        redis_url: url.to_owned(),
        redis_cluster: args.redis_cluster,
        prefix: prefix.clone(),
        lease: Duration::from_secs(args.cluster_lease_secs),
        advertise: args
            .cluster_advertise
            .as_deref()
            .map(|a| a.trim_end_matches('/').to_owned()),
    }))
}

fn tls_source(args: &SecurityArgs) -> Option<TlsSource> {
    if args.tls_self_signed {
        let dir = args
            .tls_self_signed_dir
            .clone()
            .unwrap_or_else(default_self_signed_dir);
        return Some(TlsSource::SelfSigned { dir });
    }
    match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        }),
        _ => None,
    }
}

fn entra_tokens(args: &SecurityArgs) -> Result<EntraTokens, ConfigError> {
    match &args.entra_jwks {
        Some(file) => EntraTokens::from_jwks_file(file).map_err(ConfigError),
        None if args.allow_unvalidated_entra_tokens => Ok(EntraTokens::Unvalidated),
        None => Ok(EntraTokens::Refused),
    }
}

/// The user's local data folder for `--tls-self-signed`, the same on every start so that the CA
/// is trusted once: `$XDG_DATA_HOME`, `~/.local/share` or `%LOCALAPPDATA%`, else the current
/// folder.
fn default_self_signed_dir() -> PathBuf {
    let env = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let base = env("XDG_DATA_HOME")
        .or_else(|| env("HOME").map(|home| home.join(".local").join("share")))
        .or_else(|| env("LOCALAPPDATA"))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("signalr-emulator").join("tls")
}

/// The settings file's name, looked for in the current directory or a `-c` folder.
pub const DEFAULT_SETTINGS_FILE: &str = "settings.json";

/// `-c` takes a file or a folder holding `settings.json`, as asrs-emulator does.
pub(crate) fn resolve_settings_file(path: &Path) -> Result<PathBuf, ConfigError> {
    if path.is_file() {
        return Ok(path.to_owned());
    }
    let inside = path.join(DEFAULT_SETTINGS_FILE);
    if inside.is_file() {
        return Ok(inside);
    }
    Err(ConfigError(format!(
        "Unable to find config file '{}' or '{}'.",
        path.display(),
        inside.display()
    )))
}

/// A scheme, host and optional port that clients reach the emulator at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicEndpoint {
    /// `http` or `https`.
    pub scheme: String,
    /// Host name or address.
    pub host: String,
    /// Port, when not the scheme's default.
    pub port: Option<u16>,
}

impl PublicEndpoint {
    /// Parses `http://host[:port][/]`.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let bad = |why: &str| {
            ConfigError(format!(
                "--public-endpoint '{text}' {why}; expected e.g. http://signalr:8888"
            ))
        };
        let (scheme, rest) = text.split_once("://").ok_or_else(|| bad("has no scheme"))?;
        if scheme != "http" && scheme != "https" {
            return Err(bad("must start with http:// or https://"));
        }
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            return Err(bad("must be a scheme and host only, without a path"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
                let port = port.parse().map_err(|_| bad("has an invalid port"))?;
                (host.to_owned(), Some(port))
            }
            _ => (authority.to_owned(), None),
        };
        Ok(PublicEndpoint {
            scheme: scheme.to_owned(),
            host,
            port,
        })
    }
}

impl Config {
    /// `https` when the service port speaks TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// Host names an Entra ID token's `aud` may use for this service: the public endpoint's
    /// host, else the loopback names and the bound address.
    pub fn service_hosts(&self) -> Vec<String> {
        if let Some(endpoint) = &self.public_endpoint {
            let host = endpoint.host.trim_start_matches('[').trim_end_matches(']');
            return vec![host.to_ascii_lowercase()];
        }
        let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).into();
        if !self.bind.ip().is_unspecified() {
            hosts.push(self.bind.ip().to_string());
        }
        hosts
    }

    /// The connection string to advertise for a server bound to `bound`. Never names an
    /// unspecified address such as 0.0.0.0: clients cannot connect to it.
    pub fn connection_string(&self, bound: SocketAddr) -> String {
        let key = &self.access_keys[0];
        match &self.public_endpoint {
            Some(endpoint) => {
                let port = endpoint
                    .port
                    .map(|p| format!("Port={p};"))
                    .unwrap_or_default();
                format!(
                    "Endpoint={}://{};{port}AccessKey={key};Version=1.0;",
                    endpoint.scheme, endpoint.host
                )
            }
            None => {
                let host = match bound.ip() {
                    ip if ip.is_unspecified() || ip.is_loopback() => "localhost".to_owned(),
                    IpAddr::V6(ip) => format!("[{ip}]"),
                    IpAddr::V4(ip) => ip.to_string(),
                };
                format!(
                    "Endpoint={}://{host};Port={};AccessKey={key};Version=1.0;",
                    self.scheme(),
                    bound.port()
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_string_never_names_an_unspecified_address() {
        let config = Config::default();
        let s = config.connection_string("0.0.0.0:8888".parse().unwrap());
        assert_eq!(
            s,
            format!(
                "Endpoint=http://localhost;Port=8888;AccessKey={DEFAULT_ACCESS_KEY};Version=1.0;"
            )
        );
        assert!(
            config
                .connection_string("10.1.2.3:9".parse().unwrap())
                .contains("http://10.1.2.3;Port=9;")
        );
    }

    #[test]
    fn tls_makes_the_endpoint_https() {
        let config = Config {
            tls: Some(TlsSource::SelfSigned { dir: "d".into() }),
            ..Config::default()
        };
        assert_eq!(config.scheme(), "https");
        assert!(
            config
                .connection_string("127.0.0.1:8443".parse().unwrap())
                .starts_with("Endpoint=https://localhost;Port=8443;")
        );
    }

    #[test]
    fn public_endpoint_replaces_the_bound_address() {
        let config = Config {
            public_endpoint: Some(PublicEndpoint::parse("http://signalr:8888/").unwrap()),
            ..Config::default()
        };
        assert!(
            config
                .connection_string("0.0.0.0:8888".parse().unwrap())
                .starts_with("Endpoint=http://signalr;Port=8888;")
        );
        assert!(PublicEndpoint::parse("signalr:8888").is_err());
        assert_eq!(config.service_hosts(), ["signalr"]);
        assert!(PublicEndpoint::parse("http://signalr:8888/path").is_err());
        assert_eq!(
            PublicEndpoint::parse("https://x.example").unwrap().port,
            None
        );
    }

    fn cluster_args(redis: &str, redis_cluster: bool) -> ClusterArgs {
        ClusterArgs {
            redis: Some(redis.into()),
            redis_cluster,
            redis_prefix: "signalr".into(),
            cluster_lease_secs: 10,
            cluster_advertise: None,
        }
    }

    #[test]
    fn a_redis_cluster_takes_comma_separated_seed_nodes() {
        let seeds = "redis://10.0.0.1:7000, rediss://10.0.0.2:7000";
        let config = cluster_config(&cluster_args(seeds, true)).unwrap().unwrap();
        assert!(config.redis_cluster);
        assert_eq!(config.redis_url, seeds);

        let err = cluster_config(&cluster_args("redis://a:1,b:2", true)).unwrap_err();
        assert!(
            err.0.contains("'b:2' must start with redis://"),
            "{}",
            err.0
        );
        let err = cluster_config(&cluster_args("redis://a:1,redis://b:2", false)).unwrap_err();
        assert!(err.0.contains("add --redis-cluster"), "{}", err.0);
    }
}
