//! The shipped binary's upstream commands: `upstream init`, `upstream list`, and `start`
//! loading (or rejecting) the settings file and `--upstream`.

use std::path::Path;
use std::process::{Output, Stdio};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::common::WAIT;

const BINARY: &str = env!("CARGO_BIN_EXE_signalr-emulator");

/// Runs the binary in `dir` with no stdin (as a script would) and waits, bounded.
async fn run(dir: &Path, args: &[&str]) -> Output {
    let child = Command::new(BINARY)
        .args(args)
        .current_dir(dir)
        .env_remove("SIGNALR_EMULATOR_CONFIG")
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

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

const TWO_TEMPLATES: &str = r#"{
  // comments are allowed, as in .NET configuration files
  "UpstreamSettings": { "Templates": [
    { "UrlTemplate": "http://localhost:7071/api/{hub}/{event}", "HubPattern": "chat,news", "CategoryPattern": "messages" },
    { "UrlTemplate": "http://localhost:7071/runtime/webhooks/signalr" }
  ] }
}"#;

#[tokio::test]
async fn init_writes_the_default_settings_and_never_overwrites_silently() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("sub");
    let file = std::path::absolute(target.join("settings.json")).unwrap();

    let output = run(dir.path(), &["upstream", "init", "-o", "sub"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        format!("Exported default settings to '{}'.\n", file.display())
    );
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(
        written.contains("\"UrlTemplate\": \"http://localhost:7071/runtime/webhooks/signalr\"")
    );

    // stdin is not a terminal: no prompt, a refusal naming --force, the file untouched.
    std::fs::write(&file, "{}").unwrap();
    let output = run(dir.path(), &["upstream", "init", "--output", "sub"]).await;
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("already exists; add --force to overwrite it"),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "{}");

    let output = run(dir.path(), &["upstream", "init", "-o", "sub", "--force"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), written);

    // Without -o: the current folder.
    let output = run(&target, &["upstream", "init", "--force"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains(&format!("'{}'", file.display())));
}

#[tokio::test]
async fn list_shows_the_templates_like_asrs_emulator() {
    let dir = tempfile::tempdir().unwrap();
    let file = std::path::absolute(dir.path().join("settings.json")).unwrap();

    let output = run(dir.path(), &["upstream", "list"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).ends_with(
            "No upstream is set yet. Use 'upstream init' to create default upstreams.\n"
        ),
        "{}",
        stdout(&output)
    );

    std::fs::write(&file, TWO_TEMPLATES).unwrap();
    for args in [
        &["upstream", "list"][..],
        &["upstream", "list", "-c", "."],
        &["upstream", "list", "--config", "settings.json"],
    ] {
        let output = run(dir.path(), args).await;
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(
            stdout(&output),
            format!(
                "Loaded upstream settings from '{}'\nCurrent Upstream Settings:\n\t[0]http://localhost:7071/api/{{hub}}/{{event}}(event:'*',hub:'chat,news',category:'messages')\n\t[1]http://localhost:7071/runtime/webhooks/signalr(event:'*',hub:'*',category:'*')\n",
                file.display()
            ),
            "{args:?}"
        );
    }

    let output = run(dir.path(), &["upstream", "list", "-c", "nowhere"]).await;
    assert!(!output.status.success());
    assert!(stderr(&output).contains("Unable to find config file 'nowhere'"));

    std::fs::write(
        &file,
        r#"{"UpstreamSettings":{"Templates":[{"UrlTemplate":"/api"}]}}"#,
    )
    .unwrap();
    let output = run(dir.path(), &["upstream", "list"]).await;
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("Templates[0]: UrlTemplate '/api' is not an absolute http URL"),
        "{}",
        stderr(&output)
    );
}

/// Starts the server in `dir`, returns what it printed up to the connection string, stops it.
async fn start_output(dir: &Path, args: &[&str]) -> String {
    let mut child = Command::new(BINARY)
        .args(["start", "--port", "0"])
        .args(args)
        .current_dir(dir)
        .env_remove("SIGNALR_EMULATOR_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let printed = tokio::time::timeout(WAIT, async {
        let mut printed = String::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            printed.push_str(&line);
            printed.push('\n');
            if line.starts_with("Endpoint=") {
                return printed;
            }
        }
        panic!("no connection string printed: {printed}");
    })
    .await
    .expect("the server starts in time");
    child.kill().await.unwrap();
    printed
}

#[tokio::test]
async fn start_loads_settings_from_the_folder_or_c_and_upstream_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = std::path::absolute(dir.path().join("settings.json")).unwrap();
    std::fs::write(&file, TWO_TEMPLATES).unwrap();
    let loaded = format!(
        "Loaded settings from '{}'. Changes to the settings file will be hot-loaded into the emulator.\nCurrent Upstream Settings:\n\t[0]http://localhost:7071/api/{{hub}}/{{event}}(event:'*',hub:'chat,news',category:'messages')\n\t[1]",
        file.display()
    );

    // ./settings.json is picked up without -c, as asrs-emulator does.
    let printed = start_output(dir.path(), &[]).await;
    assert!(printed.starts_with(&loaded), "{printed}");

    let elsewhere = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    let printed = start_output(
        elsewhere.path(),
        &["-c", path, "--upstream", "http://127.0.0.1:9/x"],
    )
    .await;
    assert!(printed.starts_with(&loaded), "{printed}");
    assert!(
        printed.contains("\t[2]http://127.0.0.1:9/x(event:'*',hub:'*',category:'*')\n"),
        "{printed}"
    );

    let printed = start_output(elsewhere.path(), &[]).await;
    assert!(
        printed.starts_with("=====") && !printed.contains("Upstream"),
        "{printed}"
    );
}

#[tokio::test]
async fn start_refuses_bad_settings_and_bad_upstream_urls() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.json"), "{\"UpstreamSettings\": {").unwrap();
    let output = run(dir.path(), &["start", "--port", "0", "-c", "broken.json"]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output)
            .contains("invalid upstream settings file 'broken.json': it is not valid JSON"),
        "{}",
        stderr(&output)
    );

    let output = run(
        dir.path(),
        &["start", "--port", "0", "--upstream", "localhost:7071"],
    )
    .await;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output)
            .contains("--upstream: UrlTemplate 'localhost:7071' is not an absolute http URL"),
        "{}",
        stderr(&output)
    );

    let output = run(dir.path(), &["start", "--upstream-timeout", "0"]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--upstream-timeout must be at least 1 second"));
}
