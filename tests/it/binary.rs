//! The shipped binary: its banner is a usable connection string, and SIGTERM closes every
//! client with a Close that allows reconnecting before the process exits cleanly.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use signalr_emulator::cli::DEFAULT_ACCESS_KEY;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::common::{TestServer, WAIT};

#[tokio::test]
async fn banner_and_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_signalr-emulator"))
        .args(["start", "--port", "0", "--ip", "127.0.0.1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let banner = tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.starts_with("Endpoint=") {
                return line;
            }
        }
        panic!("no connection string printed");
    })
    .await
    .unwrap();
    let port: u16 = banner
        .split(';')
        .find_map(|part| part.strip_prefix("Port="))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        banner,
        format!(
            "Endpoint=http://localhost;Port={port};AccessKey={DEFAULT_ACCESS_KEY};Version=1.0;"
        )
    );

    let server = TestServer::attach(SocketAddr::from(([127, 0, 0, 1], port)));
    let (mut client, _) = server.connect("chat", None).await;
    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let seen = client.until_closed().await;
    let close = seen
        .iter()
        .find(|m| m["type"] == 7)
        .expect("a Close message");
    assert_eq!(close["allowReconnect"], true);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the process exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
}

/// Starts the binary with `args` and `env`, returning it and the port it bound (read from the
/// "listening on" line, which names the bound address even when a public endpoint is set).
pub(crate) async fn spawn_binary(
    args: &[&str],
    env: &[(&str, &str)],
) -> (tokio::process::Child, u16, Vec<String>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_signalr-emulator"));
    command.args(args);
    spawn_started(command, env).await
}

/// Like [`spawn_binary`] for a command that ends up running the binary (`prlimit … -- bin`).
pub(crate) async fn spawn_started(
    mut command: Command,
    env: &[(&str, &str)],
) -> (tokio::process::Child, u16, Vec<String>) {
    command
        .env_clear()
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let port = tokio::time::timeout(WAIT, async {
        loop {
            let line = lines.next_line().await.unwrap().expect("the banner");
            seen.push(line.clone());
            if let Some(addr) = line.split("listening on http://").nth(1) {
                return addr.rsplit(':').next().unwrap().parse::<u16>().unwrap();
            }
        }
    })
    .await
    .unwrap();
    // The connection string comes a few lines later.
    tokio::time::timeout(WAIT, async {
        while !seen.iter().any(|l| l.starts_with("Endpoint=")) {
            seen.push(
                lines
                    .next_line()
                    .await
                    .unwrap()
                    .expect("the connection string"),
            );
        }
    })
    .await
    .unwrap();
    (child, port, seen)
}

#[tokio::test]
async fn environment_variables_alone_configure_the_server() {
    let (mut child, port, banner) = spawn_binary(
        &[],
        &[
            ("SIGNALR_EMULATOR_PORT", "0"),
            ("SIGNALR_EMULATOR_IP", "127.0.0.1"),
            ("SIGNALR_EMULATOR_ACCESS_KEY", "first-key,second-key"),
            ("SIGNALR_EMULATOR_PUBLIC_ENDPOINT", "http://signalr:8888"),
            ("SIGNALR_EMULATOR_LOG_FORMAT", "json"),
        ],
    )
    .await;
    assert!(
        banner.contains(
            &"Endpoint=http://signalr;Port=8888;AccessKey=first-key;Version=1.0;".to_owned()
        ),
        "{banner:?}"
    );
    // A token signed with the second key is accepted.
    let server = TestServer::attach(SocketAddr::from(([127, 0, 0, 1], port)));
    let token = signalr_emulator::auth::issue_token(
        "second-key",
        &serde_json::json!({"aud": "http://signalr/api/v1/hubs/chat", "exp": crate::common::now() + 60}),
    );
    let response = server
        .rest_with_token(
            "POST",
            "/api/v1/hubs/chat",
            Some(serde_json::json!({"target": "m"})),
            Some(&token),
        )
        .await;
    assert_eq!(response.status(), 202);
    child.start_kill().unwrap();
    let output = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let first = stderr.lines().next().expect("a log line");
    let parsed: serde_json::Value = serde_json::from_str(first).expect("JSON log lines");
    assert!(parsed.get("level").is_some(), "{first}");
}

#[tokio::test]
async fn healthcheck_exit_codes() {
    let (mut child, port, _) = spawn_binary(&["--port", "0"], &[]).await;
    let healthcheck = |port: u16| async move {
        Command::new(env!("CARGO_BIN_EXE_signalr-emulator"))
            .args(["healthcheck", "--port", &port.to_string(), "--timeout", "2"])
            .env_clear()
            .output()
            .await
            .unwrap()
    };
    let healthy = healthcheck(port).await;
    assert!(healthy.status.success(), "{healthy:?}");
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let unhealthy = healthcheck(port).await;
    assert_eq!(unhealthy.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unhealthy.stderr).contains("unhealthy: no answer"));
}
