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
