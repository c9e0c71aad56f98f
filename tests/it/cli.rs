//! The binary's command line as a newcomer and an asrs-emulator user meet it: secrets stay out of
//! `--help`, logs are plain text when redirected, the start line asrs-emulator's scripts wait
//! for, its .NET-style `UpstreamSettings__…` variables, and the `token` subcommand.

use std::net::SocketAddr;
use std::process::{Output, Stdio};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::common::{TestServer, WAIT};

const BINARY: &str = env!("CARGO_BIN_EXE_signalr-emulator");

/// Runs the binary to completion with only `env` set, in `dir`, bounded.
async fn run(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let child = Command::new(BINARY)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("the command finishes in time")
        .unwrap()
}

/// Starts the server on a free port with `args` and `env` in `dir`; returns it, its port and the
/// banner's lines up to the connection string.
async fn start(
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Child, u16, Vec<String>) {
    let mut child = Command::new(BINARY)
        .args(["start", "-p", "0"])
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    tokio::time::timeout(WAIT, async {
        while !seen.iter().any(|l: &String| l.starts_with("Endpoint=")) {
            seen.push(lines.next_line().await.unwrap().expect("the banner"));
        }
    })
    .await
    .expect("the banner in time");
    let port = seen
        .iter()
        .find_map(|line| line.split("listening on http://").nth(1))
        .and_then(|addr| addr.rsplit(':').next()?.parse().ok())
        .expect("the listening line names the port");
    (child, port, seen)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn help_never_prints_the_access_key_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    for args in [&["--help"][..], &["start", "--help"], &["token", "--help"]] {
        let output = run(
            dir.path(),
            args,
            &[("SIGNALR_EMULATOR_ACCESS_KEY", "my-secret")],
        )
        .await;
        let help = text(&output.stdout);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            text(&output.stderr)
        );
        assert!(
            help.contains("SIGNALR_EMULATOR_ACCESS_KEY"),
            "{args:?}: {help}"
        );
        assert!(
            !help.contains("my-secret"),
            "{args:?} printed the key: {help}"
        );
    }
}

#[tokio::test]
async fn banner_has_the_asrs_emulator_line_and_redirected_logs_have_no_colour() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, _, banner) = start(dir.path(), &[], &[("RUST_LOG", "info")]).await;
    assert!(
        banner
            .iter()
            .any(|line| line == "The Azure SignalR Emulator was successfully started."),
        "{banner:?}"
    );
    let mut logs = BufReader::new(child.stderr.take().unwrap()).lines();
    let started = tokio::time::timeout(WAIT, async {
        loop {
            let line = logs.next_line().await.unwrap().expect("the start log line");
            if line.contains("signalr-emulator started") {
                return line;
            }
        }
    })
    .await
    .unwrap();
    child.start_kill().unwrap();
    assert!(
        !started.contains('\u{1b}'),
        "ANSI escapes in a redirected log: {started:?}"
    );
}

#[tokio::test]
async fn dotnet_style_variables_configure_upstream_templates() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        (
            "UpstreamSettings__Templates__0__UrlTemplate",
            "http://localhost:7071/api/{hub}/{event}",
        ),
        (
            "UpstreamSettings__Templates__0__EventPattern",
            "connected,disconnected",
        ),
        (
            "UpstreamSettings__Templates__1__UrlTemplate",
            "http://localhost:7072/all",
        ),
    ];
    let expected = [
        "\t[0]http://localhost:7071/api/{hub}/{event}(event:'connected,disconnected',hub:'*',category:'*')",
        "\t[1]http://localhost:7072/all(event:'*',hub:'*',category:'*')",
    ];
    let listed = text(&run(dir.path(), &["upstream", "list"], &env).await.stdout);
    let (mut child, _, banner) = start(dir.path(), &[], &env).await;
    child.start_kill().unwrap();
    for line in expected {
        assert!(listed.lines().any(|l| l == line), "upstream list: {listed}");
        assert!(banner.iter().any(|l| l == line), "start: {banner:?}");
    }

    // Over a settings file they change single fields, key by key, as .NET layers them.
    std::fs::write(
        dir.path().join("settings.json"),
        r#"{"UpstreamSettings":{"Templates":[{"UrlTemplate":"http://file/{hub}","HubPattern":"chat"}]}}"#,
    )
    .unwrap();
    let env = [("upstreamsettings__templates__0__hubpattern", "news")];
    let (mut child, _, banner) = start(dir.path(), &[], &env).await;
    child.start_kill().unwrap();
    let line = "\t[0]http://file/{hub}(event:'*',hub:'news',category:'*')";
    assert!(banner.iter().any(|l| l == line), "{banner:?}");

    // A broken template from the environment stops the start with a message saying where.
    let file = dir.path().join("settings.json");
    std::fs::remove_file(file).unwrap();
    let env = [("UpstreamSettings__Templates__0__HubPattern", "chat")];
    let output = run(dir.path(), &["start", "-p", "0"], &env).await;
    assert_eq!(output.status.code(), Some(2));
    let err = text(&output.stderr);
    assert!(
        err.contains("UpstreamSettings__") && err.contains("UrlTemplate"),
        "{err}"
    );
}

#[tokio::test]
async fn the_token_subcommand_signs_rest_and_client_tokens_the_server_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("SIGNALR_EMULATOR_ACCESS_KEY", "k1,k2")];
    let (mut child, port, _) = start(dir.path(), &[], &env).await;
    let server = TestServer::attach(SocketAddr::from(([127, 0, 0, 1], port)));
    let url = format!("http://localhost:{port}/api/v1/hubs/chat");
    let output = run(dir.path(), &["token", "--url", &url, "--ttl", "60"], &env).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let token = text(&output.stdout).trim().to_owned();
    let response = server
        .rest_with_token(
            "POST",
            "/api/v1/hubs/chat",
            Some(serde_json::json!({"target": "m", "arguments": []})),
            Some(&token),
        )
        .await;
    assert_eq!(response.status(), 202);

    let url = format!("http://localhost:{port}/client/?hub=chat");
    let output = run(
        dir.path(),
        &["token", "--url", &url, "--user", "alice"],
        &env,
    )
    .await;
    let token = text(&output.stdout).trim().to_owned();
    let negotiated = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{port}/client/negotiate?hub=chat&negotiateVersion=1"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(negotiated.status(), 200);

    let output = run(dir.path(), &["token", "--url", "localhost/api"], &env).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("absolute http://"));
    child.start_kill().unwrap();
}

/// Whether this machine can listen on `[::1]` at all.
fn has_ipv6_loopback() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

async fn health(addr: SocketAddr) -> Result<u16, reqwest::Error> {
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/api/v1/health"))
        .timeout(WAIT)
        .send()
        .await?;
    Ok(response.status().as_u16())
}

#[tokio::test]
async fn both_loopback_addresses_answer_by_default_and_i_picks_one() {
    if !has_ipv6_loopback() {
        eprintln!(
            "SKIPPED both_loopback_addresses_answer_by_default: this machine has no IPv6 loopback (::1)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut child, port, banner) = start(dir.path(), &[], &[]).await;
    let v4 = SocketAddr::from(([127, 0, 0, 1], port));
    let v6 = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port));
    assert!(
        banner
            .iter()
            .any(|l| l.ends_with(&format!("listening on http://{v4} and http://{v6}"))),
        "{banner:?}"
    );
    assert_eq!(health(v4).await.unwrap(), 200);
    assert_eq!(health(v6).await.unwrap(), 200);
    child.start_kill().unwrap();

    let (mut child, port, _) = start(dir.path(), &["-i", "127.0.0.1"], &[]).await;
    let v6 = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port));
    assert_eq!(
        health(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .unwrap(),
        200
    );
    assert!(
        health(v6).await.is_err(),
        "-i 127.0.0.1 must not listen on ::1"
    );
    child.start_kill().unwrap();

    let (mut child, port, _) = start(dir.path(), &["-i", "::1"], &[]).await;
    assert_eq!(
        health(SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port)))
            .await
            .unwrap(),
        200
    );
    assert!(
        health(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .is_err()
    );
    child.start_kill().unwrap();
}

#[tokio::test]
async fn a_port_taken_on_ipv6_loopback_is_a_clear_error() {
    if !has_ipv6_loopback() {
        eprintln!("SKIPPED a_port_taken_on_ipv6_loopback: this machine has no IPv6 loopback (::1)");
        return;
    }
    let taken = std::net::TcpListener::bind("[::1]:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let output = run(dir.path(), &["start", "-p", &port], &[]).await;
    assert_eq!(output.status.code(), Some(1));
    let err = text(&output.stderr);
    assert!(
        err.contains(&format!("cannot listen on [::1]:{port}")) && err.contains("-i 127.0.0.1"),
        "{err}"
    );
}
