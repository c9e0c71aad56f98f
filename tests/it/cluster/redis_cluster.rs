//! A private Redis Cluster for one test: three `redis-server` processes with cluster mode on
//! and persistence off, on free loopback ports, their cluster files in a temporary folder,
//! joined by `redis-cli --cluster create` (no replicas), ready once every node says the
//! cluster's state is ok.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use super::{Backend, eventually, free_port, until_listening};

/// How many primaries the cluster has (`redis-cli --cluster create` needs three).
const SHARDS: usize = 3;

/// Three clustered Redis servers; they die with this.
pub(crate) struct RedisCluster {
    pub(crate) ports: Vec<u16>,
    _servers: Vec<Child>,
    _dir: tempfile::TempDir,
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
}

impl RedisCluster {
    /// Starts the servers, creates the cluster and waits until it serves every slot.
    pub(crate) async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<u16> = (0..SHARDS).map(|_| free_port()).collect();
        let mut servers = Vec::new();
        for port in &ports {
            let config_file = dir.path().join(format!("nodes-{port}.conf"));
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes", "--cluster-config-file"])
                .arg(&config_file)
                .arg("--dir")
                .arg(dir.path())
                .args(["--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("redis-server is installed (apt-get install -y redis-server)");
            servers.push(child);
        }
        for port in &ports {
            until_listening(*port).await;
        }
        let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let created = tokio::time::timeout(
            Duration::from_secs(20),
            Command::new("redis-cli")
                .arg("--cluster")
                .arg("create")
                .args(&addresses)
                .args(["--cluster-replicas", "0", "--cluster-yes"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .status(),
        )
        .await
        .expect("redis-cli --cluster create finished in time")
        .unwrap();
        assert!(created.success(), "redis-cli --cluster create failed");
        let cluster = RedisCluster {
            ports,
            _servers: servers,
            _dir: dir,
        };
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
        cluster
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
