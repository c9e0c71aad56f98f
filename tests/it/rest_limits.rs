//! Request limits (1 MB bodies → 413, 16 KB of headers → 431, both `ErrorDetail`) and the
//! content types of send bodies, including the Management SDK's binary MessagePack payload.

use rmpv::Value as Msgpack;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{TestServer, WAIT, messagepack_client, next_binary, now, token};
use crate::rest_support::{SILENCE, expect_message};

fn token_for(path: &str) -> String {
    token(json!({"aud": format!("http://localhost{path}"), "exp": now() + 60}))
}

/// POSTs raw bytes with a content type.
async fn post_bytes(
    server: &TestServer,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(server.url(path))
        .bearer_auth(token_for(path.split('?').next().unwrap()))
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A framed MessagePack `m("bin", 2)` whose 2 is a uint16 (`cd 00 02`), not the fixint an
/// encoder would pick: if it arrives like this, it was forwarded, not re-encoded.
fn msgpack_frame() -> Vec<u8> {
    let mut body = Vec::new();
    rmp::encode::write_array_len(&mut body, 6).unwrap();
    rmp::encode::write_pfix(&mut body, 1).unwrap();
    rmp::encode::write_map_len(&mut body, 0).unwrap();
    rmp::encode::write_nil(&mut body).unwrap();
    rmp::encode::write_str(&mut body, "m").unwrap();
    rmp::encode::write_array_len(&mut body, 2).unwrap();
    rmp::encode::write_str(&mut body, "bin").unwrap();
    rmp::encode::write_u16(&mut body, 2).unwrap();
    rmp::encode::write_array_len(&mut body, 0).unwrap();
    let mut framed = vec![u8::try_from(body.len()).unwrap()];
    framed.extend(body);
    framed
}

/// The Management SDK's payload: a map of protocol name to framed invocation.
fn sdk_payload(json_frame: &[u8]) -> Vec<u8> {
    let map = Msgpack::Map(vec![
        (Msgpack::from("json"), Msgpack::Binary(json_frame.to_vec())),
        (
            Msgpack::from("messagepack"),
            Msgpack::Binary(msgpack_frame()),
        ),
    ]);
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &map).unwrap();
    out
}

#[tokio::test]
async fn binary_payloads_reach_each_protocol_as_framed_by_the_sdk() {
    let server = TestServer::start().await;
    let (mut alice, a) = server.connect("chat", Some("alice")).await;
    let mut alice_msgpack = messagepack_client(&server, "alice").await;
    // Unusual spacing proves the bytes are passed on as they are, not re-encoded.
    let frame = b"{ \"type\": 1, \"target\": \"m\", \"arguments\": [\"bin\", 2] }\x1e";
    for (path, content_type) in [
        (
            "/api/hubs/chat/:send?api-version=2022-06-01",
            "application/octet-stream",
        ),
        ("/api/hubs/chat/users/alice/:send", "application/x-msgpack"),
        ("/api/v1/hubs/chat", "application/octet-stream"),
    ] {
        let (status, body) = post_bytes(&server, path, content_type, sdk_payload(frame)).await;
        assert_eq!(status, 202, "{path}: {body}");
        let got = alice.next_frame().await.unwrap();
        assert_eq!(got.as_bytes(), frame, "{path}");
        assert_eq!(
            next_binary(&mut alice_msgpack).await,
            msgpack_frame(),
            "{path}"
        );
    }
    // :invoke reads the target and arguments from the binary payload too.
    let path = format!("/api/hubs/chat/connections/{a}/:invoke");
    let call = tokio::spawn({
        let url = server.url(&path);
        let token = token_for(&path);
        async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .header("Content-Type", "application/octet-stream")
                .body(sdk_payload(frame))
                .send()
                .await
                .unwrap()
        }
    });
    let invocation = alice.next_non_ping().await;
    assert_eq!(invocation["target"], "m");
    assert_eq!(invocation["arguments"], json!(["bin", 2]));
    let id = invocation["invocationId"].as_str().unwrap();
    alice
        .send_text(&format!(
            "{{\"type\":3,\"invocationId\":\"{id}\",\"result\":7}}\x1e"
        ))
        .await;
    let response = tokio::time::timeout(WAIT, call).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"result": 7})
    );

    let (status, body) = post_bytes(
        &server,
        "/api/hubs/chat/:send",
        "application/x-msgpack",
        vec![0x80],
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("no 'json' entry"),
        "{body}"
    );
    let (status, body) = post_bytes(
        &server,
        "/api/hubs/chat/:send",
        "text/plain",
        b"hi".to_vec(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (415, Some("Error.Request.UnsupportedMediaType"))
    );
    alice.expect_silence(SILENCE).await;
    server.stop().await;
}

#[tokio::test]
async fn json_bodies_need_no_content_type_and_take_any_key_case() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.connect("chat", Some("alice")).await;
    for body in [
        br#"{"target":"m","arguments":[1]}"#.to_vec(),
        br#"{"TARGET":"m","ARGUMENTS":[1]}"#.to_vec(),
    ] {
        let path = "/api/hubs/chat/:send";
        let response = reqwest::Client::new()
            .post(server.url(path))
            .bearer_auth(token_for(path))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        expect_message(&mut alice, json!([1])).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn bodies_over_one_megabyte_are_413() {
    let server = TestServer::start().await;
    let big = json!({"target": "m", "arguments": ["x".repeat(1024 * 1024)]});
    for path in [
        "/api/hubs/chat/:send",
        "/api/hubs/chat/:execute",
        "/api/v1-preview/hub/chat",
        "/api/hubs/chat/connections/c/:invoke",
    ] {
        let response = server.rest("POST", path, Some(big.clone())).await;
        assert_eq!(response.status(), 413, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "Error.Request.TooLarge", "{path}");
    }

    // Without a Content-Length the body is cut while it is read.
    let path = "/api/hubs/chat/:send";
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        server.addr,
        token_for(path)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..17 {
        let sent = async {
            stream
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            stream.write_all(&chunk).await?;
            stream.write_all(b"\r\n").await
        };
        // The server may answer and close before the whole body is sent.
        if sent.await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut response))
        .await
        .expect("the server answers in time")
        .ok();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("Error.Request.TooLarge"), "{response}");
    server.stop().await;
}

#[tokio::test]
async fn headers_over_sixteen_kilobytes_are_431() {
    let server = TestServer::start().await;
    let path = "/api/hubs/chat/:send";
    let response = reqwest::Client::new()
        .post(server.url(path))
        .bearer_auth(token_for(path))
        .header("x-padding", "p".repeat(16 * 1024))
        .json(&json!({"target": "m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 431);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "Error.Request.HeadersTooLarge");
    assert!(
        body["message"].as_str().unwrap().contains("16384"),
        "{body}"
    );

    // Just under the limit is fine.
    let response = reqwest::Client::new()
        .post(server.url(path))
        .bearer_auth(token_for(path))
        .header("x-padding", "p".repeat(15 * 1024))
        .json(&json!({"target": "m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    server.stop().await;
}
