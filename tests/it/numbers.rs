//! Numbers reach clients unchanged: a REST send's JSON arguments arrive at JSON clients byte for
//! byte, at MessagePack clients as the exact doubles their text names, and a client's result
//! reaches the `:invoke` caller with the same value. (`1.8446744173772038e25` used to arrive as
//! `1.844674417377204e+25`.)

use rmpv::Value as Msgpack;
use serde_json::{Value, json};

use crate::common::{TestServer, messagepack_client, next_binary, now, token};

const NUMBERS: &str =
    "[1.8446744173772038e25, 4.659209721461601e-30,123456789012345678901234567890,1e3,-0.0]";

/// Posts `body` as it is (not re-serialized) to `path`.
async fn post_raw(server: &TestServer, path: &str, body: String) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(server.url(path))
        .bearer_auth(token(json!({
            "aud": format!("http://localhost{}", path.split('?').next().unwrap()),
            "exp": now() + 60
        })))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn rest_arguments_reach_json_clients_byte_for_byte_and_messagepack_clients_exactly() {
    let server = TestServer::start().await;
    let (mut json_client, _) = server.connect("chat", Some("alice")).await;
    let mut msgpack_client = messagepack_client(&server, "alice").await;
    let (status, _) = post_raw(
        &server,
        "/api/v1/hubs/chat",
        format!("{{\"target\":\"numbers\",\"arguments\":{NUMBERS}}}"),
    )
    .await;
    assert_eq!(status, 202);

    let frame = loop {
        let frame = json_client
            .next_frame()
            .await
            .expect("the socket stays open");
        if frame != "{\"type\":6}\x1e" {
            break frame;
        }
    };
    assert_eq!(
        frame,
        format!("{{\"type\":1,\"target\":\"numbers\",\"arguments\":{NUMBERS}}}\x1e")
    );

    let bytes = next_binary(&mut msgpack_client).await;
    let mut body = &bytes[1..]; // a one-byte length prefix
    let message = rmpv::decode::read_value(&mut body).unwrap();
    let arguments = message[4].as_array().expect("the arguments").clone();
    let expected = [
        "1.8446744173772038e25",
        "4.659209721461601e-30",
        "123456789012345678901234567890",
        "1e3",
        "-0.0",
    ];
    for (argument, text) in arguments.iter().zip(expected) {
        let want: f64 = text.parse().unwrap();
        let got = match argument {
            Msgpack::F64(f) => *f,
            Msgpack::Integer(i) => i.as_f64().unwrap(),
            other => panic!("{text} arrived as {other}"),
        };
        assert_eq!(got.to_bits(), want.to_bits(), "{text} arrived as {got:e}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_clients_result_reaches_the_invoke_caller_with_the_same_value() {
    let server = TestServer::start().await;
    let (mut client, id) = server.connect("chat", None).await;
    let path = format!("/api/hubs/chat/connections/{id}/:invoke?api-version=2024-12-01");
    let call = {
        let server_url = server.url(&path);
        let aud = format!("http://localhost{}", path.split('?').next().unwrap());
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(server_url)
                .bearer_auth(token(json!({"aud": aud, "exp": now() + 60})))
                .json(&json!({"target": "m", "arguments": []}))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        })
    };
    let invocation: Value = client.next_non_ping().await;
    let invocation_id = invocation["invocationId"].as_str().unwrap();
    client
        .send_text(&format!(
            "{{\"type\":3,\"invocationId\":\"{invocation_id}\",\"result\":[1.8446744173772038e25,4.659209721461601e-30]}}\x1e"
        ))
        .await;
    // The same doubles, however the serializer spells them (`e25` or `e+25`).
    let answer: Value = serde_json::from_str(&call.await.unwrap()).unwrap();
    let result: Vec<u64> = answer["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_f64().unwrap().to_bits())
        .collect();
    let expected: Vec<u64> = ["1.8446744173772038e25", "4.659209721461601e-30"]
        .iter()
        .map(|text| text.parse::<f64>().unwrap().to_bits())
        .collect();
    assert_eq!(result, expected, "{answer}");
    server.stop().await;
}
