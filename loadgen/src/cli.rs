//! The command line: `run` (the load generator), the two baseline servers, and `token` (a REST
//! token for external tools such as wrk).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use signalr_emulator::auth::{issue_token, unix_now};
use signalr_emulator::cli::DEFAULT_ACCESS_KEY;

/// How long minted tokens stay valid: longer than any bounded run.
pub(crate) const TOKEN_LIFETIME_SECS: u64 = 3600;

/// Load generator for signalr-emulator and its baselines (raw WebSocket, Socket.IO 4).
#[derive(Debug, Parser)]
#[command(name = "signalr-loadgen", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Open clients, send messages, count deliveries, print a summary.
    Run(RunArgs),
    /// A minimal raw WebSocket broadcast server: the ceiling baseline. `POST /broadcast`
    /// sends its body to every client as one text frame.
    RawServer(ServerArgs),
    /// An axum server whose `POST /api/v1/hubs/{hub}/connections/{id}` handler does nothing:
    /// the yardstick for the emulator's REST request rate.
    EmptyServer(ServerArgs),
    /// Print a REST token whose audience is `--url` (for wrk and curl).
    Token(TokenArgs),
    /// Clients connecting and leaving in a loop under steady broadcasts, for a duration:
    /// reports the server's RSS after warm-up and at the end, leaked connections and loss.
    Soak(SoakArgs),
}

/// Which server the clients talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Mode {
    /// signalr-emulator: negotiate, WebSocket, hub-protocol handshake, REST sends.
    Signalr,
    /// `signalr-loadgen raw-server`: plain WebSocket, `POST /broadcast`.
    Raw,
    /// Socket.IO 4 (`benches/socketio/server.js`): Engine.IO v4 over WebSocket, `POST /broadcast`.
    Socketio,
}

/// The hub protocol SignalR clients ask for in their handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum HubProtocol {
    /// `json`: text frames, records ending in 0x1E.
    Json,
    /// `messagepack`: binary frames, records prefixed with their VarInt length.
    Messagepack,
}

impl HubProtocol {
    /// The name in the handshake request.
    pub(crate) fn name(self) -> &'static str {
        match self {
            HubProtocol::Json => "json",
            HubProtocol::Messagepack => "messagepack",
        }
    }
}

/// What each send targets (SignalR mode; the baselines only broadcast).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SendKind {
    /// `POST /api/v1/hubs/{hub}`: every client gets every message.
    Broadcast,
    /// `POST /api/v1/hubs/{hub}/groups/bench`: every client joins the group first.
    Group,
    /// `POST /api/v1/hubs/{hub}/connections/{id}`: message i goes to client i mod N.
    Connection,
    /// BroadcastData from the load generator's own app server on `/server` (the hub is then in
    /// default mode and its clients are relayed to that app server): every client gets every
    /// message.
    AppServer,
    /// Each client invokes `echo` M times, one call in flight: SignalR clients through the hub
    /// to the load generator's app server and back, raw clients through the raw server's echo.
    Echo,
    /// Nothing: another signalr-loadgen process makes the broadcasts (same `--time-origin`,
    /// started together through `--go-file`), and every client expects `--messages` of them.
    /// Lets one broadcast's clients span several processes, each under its fd limit.
    External,
}

/// Options of `run`.
#[derive(Debug, Clone, Args)]
pub(crate) struct RunArgs {
    /// Server kind.
    #[arg(long, value_enum, default_value_t = Mode::Signalr)]
    pub(crate) mode: Mode,
    /// Base URL of the server, `http://` or `https://` (then WebSockets are `wss://`); its
    /// host must be a loopback address (127.x.y.z). REST sends go here, and clients too unless
    /// `--client-url` says otherwise.
    #[arg(long, default_value = "http://127.0.0.1:8888")]
    pub(crate) url: String,
    /// Base URLs the clients connect to, client i to URL i mod K (repeatable or
    /// comma-separated): the nodes of a cluster, while the sends go to `--url`.
    #[arg(long = "client-url", value_delimiter = ',')]
    pub(crate) client_urls: Vec<String>,
    /// PEM CA certificate(s) to trust for an https `--url` (e.g. the emulator's
    /// `--tls-self-signed` ca.pem).
    #[arg(long, value_name = "FILE")]
    pub(crate) ca: Option<std::path::PathBuf>,
    /// Hub name (SignalR mode).
    #[arg(long, default_value = "bench")]
    pub(crate) hub: String,
    /// Access key that signs client and REST tokens (SignalR mode).
    #[arg(long, env = "SIGNALR_EMULATOR_ACCESS_KEY", default_value = DEFAULT_ACCESS_KEY)]
    pub(crate) access_key: String,
    /// Hub protocol of the SignalR clients.
    #[arg(long, value_enum, default_value_t = HubProtocol::Json)]
    pub(crate) protocol: HubProtocol,
    /// Number of clients.
    #[arg(short = 'n', long, default_value_t = 100)]
    pub(crate) clients: usize,
    /// Clients connecting at the same time.
    #[arg(long, default_value_t = 256)]
    pub(crate) connect_concurrency: usize,
    /// Spread clients over source addresses 127.0.0.1 .. 127.0.0.K (each holds about 28k
    /// connections to one server port).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=254))]
    pub(crate) source_ips: u8,
    /// Number of sends.
    #[arg(short = 'm', long, default_value_t = 200)]
    pub(crate) messages: usize,
    /// Bytes of the message argument (it starts with a stamp of about 20 bytes; padded with 'x').
    #[arg(short = 'b', long, default_value_t = 64)]
    pub(crate) payload: usize,
    /// Sends per second; unpaced (as fast as the server accepts them) when absent.
    #[arg(long)]
    pub(crate) rate: Option<f64>,
    /// What each send targets.
    #[arg(long, value_enum, default_value_t = SendKind::Broadcast)]
    pub(crate) send: SendKind,
    /// Sends in flight at once.
    #[arg(long, default_value_t = 1)]
    pub(crate) send_concurrency: usize,
    /// Server connections of the load generator's app server (`--send app-server|echo`); the
    /// SDK opens 5 per hub.
    #[arg(long, default_value_t = 5)]
    pub(crate) app_connections: usize,
    /// Clients that stop reading after their handshake (slow consumers). They read again after
    /// the sends, to see whether the server disconnected them.
    #[arg(long, default_value_t = 0)]
    pub(crate) slow_clients: usize,
    /// Server process ids (repeatable or comma-separated, e.g. every node of a cluster): the sum
    /// of their VmRSS is read before and after connecting.
    #[arg(long = "server-pid", value_delimiter = ',')]
    pub(crate) server_pids: Vec<u32>,
    /// Wall-clock origin of the message stamps, in milliseconds since the Unix epoch (default:
    /// the start of this process). Processes that share it can read each other's stamps: one
    /// sends, the others measure the latency of what they receive.
    #[arg(long, value_name = "UNIX_MS")]
    pub(crate) time_origin: Option<u64>,
    /// Once every client is connected and the settle time passed, write this file (the client
    /// count and connect time, as JSON) so a script knows this process is ready.
    #[arg(long, value_name = "FILE")]
    pub(crate) ready_file: Option<std::path::PathBuf>,
    /// After connecting (and writing `--ready-file`), wait until this file exists before the
    /// send phase: the start signal a script gives several processes at once.
    #[arg(long, value_name = "FILE")]
    pub(crate) go_file: Option<std::path::PathBuf>,
    /// Seconds to wait after connecting before reading the server's RSS and sending.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) settle: f64,
    /// Seconds to wait for outstanding deliveries after the last send.
    #[arg(long, default_value_t = 10.0)]
    pub(crate) drain_timeout: f64,
    /// Hard limit in seconds for the whole run; everything stops by itself when it passes.
    #[arg(long, default_value_t = 120.0)]
    pub(crate) deadline: f64,
    /// Name of this run in the summary.
    #[arg(long, default_value = "")]
    pub(crate) label: String,
}

impl RunArgs {
    /// The `--settle` duration.
    pub(crate) fn settle(&self) -> Duration {
        Duration::from_secs_f64(self.settle.max(0.0))
    }

    /// The `--drain-timeout` duration.
    pub(crate) fn drain_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.drain_timeout.max(0.0))
    }

    /// The `--deadline` duration.
    pub(crate) fn deadline(&self) -> Duration {
        Duration::from_secs_f64(self.deadline.max(0.0))
    }

    /// Source address of client `index`: 127.0.0.1 + index mod K.
    pub(crate) fn source_ip(&self, index: usize) -> IpAddr {
        let last = 1 + (index % usize::from(self.source_ips)) as u8;
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
    }

    /// The URLs clients connect to: `--client-url`, or `--url` when none is given.
    pub(crate) fn client_urls(&self) -> Vec<&str> {
        if self.client_urls.is_empty() {
            vec![self.url.as_str()]
        } else {
            self.client_urls.iter().map(String::as_str).collect()
        }
    }
}

/// Options of `soak`.
#[derive(Debug, Clone, Args)]
pub(crate) struct SoakArgs {
    /// Base URL of the emulator; its host must be a loopback address (127.x.y.z).
    #[arg(long, default_value = "http://127.0.0.1:8888")]
    pub(crate) url: String,
    /// Hub name.
    #[arg(long, default_value = "soak")]
    pub(crate) hub: String,
    /// Access key that signs client and REST tokens.
    #[arg(long, env = "SIGNALR_EMULATOR_ACCESS_KEY", default_value = DEFAULT_ACCESS_KEY)]
    pub(crate) access_key: String,
    /// Clients, each connecting and leaving in a loop.
    #[arg(short = 'n', long, default_value_t = 1000)]
    pub(crate) clients: usize,
    /// Seconds the soak lasts.
    #[arg(long, default_value_t = 600)]
    pub(crate) duration_secs: u64,
    /// Seconds after the start at which the reference RSS is read.
    #[arg(long, default_value_t = 30)]
    pub(crate) warmup_secs: u64,
    /// Shortest stay of a client, in seconds.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) min_lifetime: f64,
    /// Longest stay of a client, in seconds.
    #[arg(long, default_value_t = 5.0)]
    pub(crate) max_lifetime: f64,
    /// Broadcasts per second (one at a time).
    #[arg(long, default_value_t = 10.0)]
    pub(crate) rate: f64,
    /// Bytes of each broadcast's argument.
    #[arg(short = 'b', long, default_value_t = 64)]
    pub(crate) payload: usize,
    /// Spread clients over source addresses 127.0.0.1 .. 127.0.0.K: each session leaves a
    /// port in TIME_WAIT for a minute.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u8).range(1..=254))]
    pub(crate) source_ips: u8,
    /// The server's process id, whose VmRSS is read.
    #[arg(long)]
    pub(crate) server_pid: u32,
    /// Name of this run in the summary.
    #[arg(long, default_value = "soak")]
    pub(crate) label: String,
}

impl SoakArgs {
    /// The `--duration-secs` duration.
    pub(crate) fn duration(&self) -> Duration {
        Duration::from_secs(self.duration_secs)
    }

    /// The `--warmup-secs` duration (at most the whole soak).
    pub(crate) fn warmup(&self) -> Duration {
        Duration::from_secs(self.warmup_secs.min(self.duration_secs))
    }

    /// Shortest and longest stay of a client.
    pub(crate) fn lifetime_range(&self) -> (Duration, Duration) {
        let shortest = Duration::from_secs_f64(self.min_lifetime.max(0.0));
        let longest = Duration::from_secs_f64(self.max_lifetime.max(0.0)).max(shortest);
        (shortest, longest)
    }

    /// Source address of client `index`: 127.0.0.1 + index mod K.
    pub(crate) fn source_ip(&self, index: usize) -> IpAddr {
        let last = 1 + (index % usize::from(self.source_ips)) as u8;
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
    }
}

/// Options of the baseline servers.
#[derive(Debug, Clone, Args)]
pub(crate) struct ServerArgs {
    /// Port on 127.0.0.1.
    #[arg(short = 'p', long)]
    pub(crate) port: u16,
    /// Frames queued per client before it is dropped as a slow consumer (raw server).
    #[arg(long, default_value_t = 1024)]
    pub(crate) send_queue: usize,
    /// Raw server: send each broadcast as the SignalR JSON record the emulator sends for the same
    /// REST send (`{"type":1,"target":"m","arguments":["…"]}` and 0x1E), not the bare text, so
    /// the ceiling carries the same bytes per delivery as the emulator.
    #[arg(long)]
    pub(crate) signalr_frames: bool,
}

/// Options of `token`.
#[derive(Debug, Clone, Args)]
pub(crate) struct TokenArgs {
    /// The URL the token is for (its audience), e.g.
    /// http://127.0.0.1:8888/api/v1/hubs/bench/connections/x.
    #[arg(long)]
    pub(crate) url: String,
    /// Access key that signs the token.
    #[arg(long, env = "SIGNALR_EMULATOR_ACCESS_KEY", default_value = DEFAULT_ACCESS_KEY)]
    pub(crate) access_key: String,
}

impl TokenArgs {
    /// A token for `--url`, valid for an hour.
    pub(crate) fn mint(&self) -> String {
        mint(&self.access_key, &self.url, None)
    }
}

/// Signs a token for audience `aud`, valid for [`TOKEN_LIFETIME_SECS`], naming `user` if given.
pub(crate) fn mint(key: &str, aud: &str, user: Option<&str>) -> String {
    let now = unix_now();
    let mut claims = serde_json::json!({
        "aud": aud,
        "iat": now,
        "nbf": now,
        "exp": now + TOKEN_LIFETIME_SECS,
    });
    if let Some(user) = user {
        claims["nameid"] = serde_json::Value::from(user);
    }
    issue_token(key, &claims)
}
