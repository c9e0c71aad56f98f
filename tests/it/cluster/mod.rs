//! Cluster tests: each starts its own `redis-server` on a free 127.0.0.1 port with persistence
//! off (or a Redis Cluster of three such servers), and two or more nodes, each a process of
//! the real binary on its own port with `--redis`. Every wait is bounded; processes die with
//! their handles.

mod app_server_fanout;
mod app_servers_across;
mod clients;
mod dashboard;
mod execute;
mod existence;
mod invoke;
mod late_nodes;
mod lifecycle;
mod outage;
mod paging;
mod prefixes;
mod redis_cluster;
mod restart;
mod sends;
mod sharded;
mod state;
mod streams;

use std::net::{SocketAddr, TcpListener};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::common::{TestServer, WAIT};
pub(crate) use redis_cluster::RedisCluster;

/// What nodes are started on: one Redis server or a Redis Cluster.
pub(crate) trait Backend {
    /// The flags that point a node at it.
    fn node_flags(&self) -> Vec<String>;
    /// Kills every server (an outage).
    async fn outage(&mut self);
    /// Starts the servers again where the nodes expect them, empty, and waits until they serve.
    async fn recover(&mut self);
}

/// A private Redis for one test.
pub(crate) struct Redis {
    pub(crate) port: u16,
    child: Child,
}

/// A free loopback port (free when this returns; good enough for a test's own processes).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Backend for Redis {
    fn node_flags(&self) -> Vec<String> {
        vec!["--redis".into(), self.url()]
    }

    async fn outage(&mut self) {
        self.child.kill().await.unwrap();
    }

    async fn recover(&mut self) {
        *self = Redis::start_on(self.port).await;
    }
}

/// How many times a Redis is started on newly chosen ports when the ones chosen were taken.
const PORT_ATTEMPTS: usize = 5;

/// Waits (bounded) until `child` listens on the loopback `port`; false if it exits first, as a
/// server does when the port it was given was taken after it was chosen (by another test's
/// process or connection).
pub(crate) async fn listening(port: u16, child: &mut Child) -> bool {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let answered = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok();
        if matches!(child.try_wait(), Ok(Some(_))) {
            return false;
        }
        if answered {
            return true;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "redis-server did not start on port {port}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `start` on newly chosen ports until the server it starts listens (see [`listening`]).
pub(crate) async fn on_free_ports<T, F: Future<Output = Option<T>>>(start: impl Fn() -> F) -> T {
    for _ in 0..PORT_ATTEMPTS {
        if let Some(started) = start().await {
            return started;
        }
    }
    panic!("redis-server exited on {PORT_ATTEMPTS} sets of free ports");
}

impl Redis {
    /// Starts `redis-server` on a free port and waits until it answers.
    pub(crate) async fn start() -> Self {
        on_free_ports(|| Self::try_start_on(free_port())).await
    }

    /// The URL of a Redis that would run on `port`.
    pub(crate) fn url_on(port: u16) -> String {
        format!("redis://127.0.0.1:{port}/0")
    }

    /// Starts `redis-server` on `port` (to restart one where nodes expect it).
    pub(crate) async fn start_on(port: u16) -> Self {
        Self::try_start_on(port)
            .await
            .unwrap_or_else(|| panic!("redis-server exited: port {port} is taken"))
    }

    /// Starts `redis-server` on `port`; `None` if it exits instead of listening.
    async fn try_start_on(port: u16) -> Option<Self> {
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server is installed (apt-get install -y redis-server)");
        listening(port, &mut child)
            .await
            .then_some(Redis { port, child })
    }

    /// The URL nodes are given.
    pub(crate) fn url(&self) -> String {
        Self::url_on(self.port)
    }
}

/// One node: a child process of the binary, and a test client attached to it.
pub(crate) struct Node {
    pub(crate) server: TestServer,
    child: Child,
}

impl Node {
    /// Two nodes on `redis` with the default options, started one after the other.
    pub(crate) async fn pair(redis: &impl Backend) -> [Node; 2] {
        [Node::start(redis, &[]).await, Node::start(redis, &[]).await]
    }

    /// Two nodes on `redis` in `--service-mode default`, started one after the other.
    pub(crate) async fn default_mode_pair(redis: &impl Backend) -> [Node; 2] {
        let default = ["--service-mode", "default"];
        [
            Node::start(redis, &default).await,
            Node::start(redis, &default).await,
        ]
    }

    /// Starts a node on `redis` with the default prefix and `extra` flags, and waits until it
    /// holds its lease and its subscription is up.
    pub(crate) async fn start(redis: &impl Backend, extra: &[&str]) -> Self {
        let node = Self::launch(&redis.node_flags(), extra).await;
        node.wait_healthy(true).await;
        node
    }

    /// Starts a node with `redis_flags` (see [`Backend::node_flags`]) and `extra` flags, and
    /// waits until it serves HTTP, whether or not it reached Redis.
    pub(crate) async fn launch(redis_flags: &[String], extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_signalr-emulator"))
            .args(["start", "--port", "0", "--ip", "127.0.0.1"])
            .args(redis_flags)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port: u16 = tokio::time::timeout(WAIT, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(port) = line.split(';').find_map(|part| part.strip_prefix("Port=")) {
                    return port.parse().unwrap();
                }
            }
            panic!("the node printed no connection string");
        })
        .await
        .expect("the node started");
        // Keep reading stdout so the node never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Node {
            server: TestServer::attach(SocketAddr::from(([127, 0, 0, 1], port))),
            child,
        }
    }

    /// Waits (bounded) until the node's cluster health gauge says `healthy`.
    pub(crate) async fn wait_healthy(&self, healthy: bool) {
        // A whole line: the gauge's HELP text starts with the same words.
        let line = format!("signalr_cluster_healthy {}", u8::from(healthy));
        self.wait_until(|m| m.lines().any(|l| l == line)).await;
    }

    /// The node's `/metrics` page.
    pub(crate) async fn metrics(&self) -> String {
        self.server.metrics().await
    }

    /// Waits (bounded) until the metrics page satisfies `ready`.
    pub(crate) async fn wait_until(&self, ready: impl Fn(&str) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let page = self.metrics().await;
            if ready(&page) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "node never got ready: {page}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the process with SIGKILL: no goodbye to the cluster.
    pub(crate) async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }

    /// Stops the process with SIGTERM and waits for it to exit.
    pub(crate) async fn terminate(mut self) {
        let pid = self.child.id().unwrap().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().await;
        assert!(status.unwrap().success());
        tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("the node exits after SIGTERM")
            .unwrap();
    }
}

/// Polls `check` every 50 ms until it returns true, for at most `within`; returns whether it
/// did, so the caller asserts with its own message.
pub(crate) async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
