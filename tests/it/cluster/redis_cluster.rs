//! A private Redis Cluster for one test: three `redis-server` processes with cluster mode on
//! and persistence off, on free loopback ports, their cluster files in a temporary folder,
//! joined by `redis-cli --cluster create` (no replicas), ready once every node says the
//! cluster's state is ok.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use super::{Backend, eventually, free_port, listening, on_free_ports};

/// How many primaries the cluster has (`redis-cli --cluster create` needs three).
const SHARDS: usize = 3;
/// How long an outage lasts at least.
const LONG_OUTAGE: Duration = Duration::from_secs(3);

/// Three clustered Redis servers; they die with this.
pub(crate) struct RedisCluster {
    pub(crate) ports: Vec<u16>,
    /// Each server's cluster bus port, chosen free too (the default, port + 10000, may be
    /// taken or past 65535).
    bus_ports: Vec<u16>,
    servers: Vec<Child>,
    dir: tempfile::TempDir,
}

impl Backend for RedisCluster {
    /// Every server as a seed, as a self-hoster would list them.
    fn node_flags(&self) -> Vec<String> {
        let seeds: Vec<String> = self
            .ports
            .iter()
            .map(|port| format!("redis://127.0.0.1:{port}"))
            .collect();
        vec!["--redis-cluster".into(), "--redis".into(), seeds.join(",")]
    }

    async fn outage(&mut self) {
        for server in &mut self.servers {
            server.kill().await.unwrap();
        }
    }

    /// Each server comes back with its cluster file, so it serves the same slots, with no data;
    /// not at once, so the nodes' attempts to reconnect fail a few times first.
    async fn recover(&mut self) {
        tokio::time::sleep(LONG_OUTAGE).await;
        self.servers = (0..SHARDS).map(|shard| self.spawn(shard)).collect();
        self.until_ready().await;
    }
}

impl RedisCluster {
    /// Starts the servers, creates the cluster and waits until it serves every slot.
    pub(crate) async fn start() -> Self {
        let cluster = on_free_ports(Self::try_spawn_all).await;
        let addresses: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let created = tokio::time::timeout(
            Duration::from_secs(20),
            Command::new("redis-cli")
                .arg("--cluster")
                .arg("create")
                .args(&addresses)
                .args(["--cluster-replicas", "0", "--cluster-yes"])
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("redis-cli --cluster create finished in time")
        .unwrap();
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&created.stdout),
            String::from_utf8_lossy(&created.stderr)
        );
        cluster.until_ready().await;
        cluster
    }

    /// Starts every server on newly chosen ports; `None` if one exits instead of listening.
    async fn try_spawn_all() -> Option<Self> {
        let mut cluster = RedisCluster {
            ports: (0..SHARDS).map(|_| free_port()).collect(),
            bus_ports: (0..SHARDS).map(|_| free_port()).collect(),
            servers: Vec::new(),
            dir: tempfile::tempdir().unwrap(),
        };
        cluster.servers = (0..SHARDS).map(|shard| cluster.spawn(shard)).collect();
        for (port, server) in cluster.ports.iter().zip(&mut cluster.servers) {
            if !listening(*port, server).await {
                return None;
            }
        }
        Some(cluster)
    }

    /// Starts the server of `shard`, its cluster file in the cluster's folder.
    fn spawn(&self, shard: usize) -> Child {
        let port = self.ports[shard];
        let config_file = self.dir.path().join(format!("nodes-{port}.conf"));
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--cluster-port", &self.bus_ports[shard].to_string()])
            .args(["--cluster-enabled", "yes", "--cluster-config-file"])
            .arg(&config_file)
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server is installed (apt-get install -y redis-server)")
    }

    /// Waits (bounded) until every server says the cluster's state is ok.
    async fn until_ready(&self) {
        let cluster = self;
        let ready = eventually(Duration::from_secs(20), || async {
            let mut ok = true;
            for port in &cluster.ports {
                ok &= cluster
                    .cli(*port, &["cluster", "info"])
                    .await
                    .contains("cluster_state:ok");
            }
            ok
        })
        .await;
        assert!(ready, "the Redis Cluster never reached state ok");
    }

    /// What `redis-cli -p port args…` prints (empty when it fails).
    pub(crate) async fn cli(&self, port: u16, args: &[&str]) -> String {
        let output = tokio::time::timeout(
            Duration::from_secs(5),
            Command::new("redis-cli")
                .args(["-h", "127.0.0.1", "-p", &port.to_string()])
                .args(args)
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .output(),
        )
        .await;
        match output {
            Ok(Ok(output)) => String::from_utf8_lossy(&output.stdout).into_owned(),
            _ => String::new(),
        }
    }
}
