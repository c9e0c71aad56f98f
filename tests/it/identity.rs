//! Identity: Microsoft Entra ID tokens (refused by default, accepted unvalidated only with
//! `--allow-unvalidated-entra-tokens`, verified against `--entra-jwks`), the access key the
//! SDKs fetch with one, and clients closed when their authentication expires (`asrs.s.coae`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rcgen::KeyPair;
use serde_json::{Value, json};
use signalr_emulator::Config;
use signalr_emulator::auth::EntraTokens;

use signalr_emulator::protocol::service::{
    AccessKeyRequest, Extensions, ServerConnectionType, ServiceMessage,
};

use crate::app_server::{AppServer, handshake};
use crate::common::{TestServer, now, token};

/// An ES256 key as an identity provider holds it, with its public JWK.
struct TestIdp {
    key: KeyPair,
    kid: &'static str,
}

impl TestIdp {
    fn new(kid: &'static str) -> Self {
        TestIdp {
            key: KeyPair::generate().unwrap(),
            kid,
        }
    }

    fn jwk(&self) -> Value {
        // An uncompressed P-256 point: 0x04, then x and y.
        let point = self.key.public_key_raw();
        json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        })
    }

    /// An Entra-style access token for the service.
    fn token(&self, claims: Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.to_owned());
        let key = EncodingKey::from_ec_der(&self.key.serialize_der());
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    }
}

fn entra_claims(aud: &str) -> Value {
    json!({
        "aud": aud,
        "iss": "https://sts.windows.net/00000000-0000-0000-0000-000000000000/",
        "oid": "11111111-1111-1111-1111-111111111111",
        "sub": "11111111-1111-1111-1111-111111111111",
        "roles": ["SignalR.Service.Owner"],
        "nbf": now() - 10,
        "exp": now() + 3600,
    })
}

async fn broadcast(server: &TestServer, token: &str) -> (u16, Value) {
    let response = server
        .rest_with_token(
            "POST",
            "/api/v1/hubs/chat",
            Some(json!({"target": "t", "arguments": []})),
            Some(token),
        )
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn entra_tokens_are_refused_by_default() {
    let server = TestServer::start().await;
    let idp = TestIdp::new("k1");
    let (status, body) = broadcast(
        &server,
        &idp.token(entra_claims("https://signalr.azure.com")),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "Error.Auth.UnsupportedAlgorithm");
    server.stop().await;
}

#[tokio::test]
async fn unvalidated_entra_tokens_are_accepted_only_for_this_service() {
    let server = TestServer::with_config(Config {
        entra: EntraTokens::Unvalidated,
        ..Config::default()
    })
    .await;
    // Any key: the signature is not checked.
    let idp = TestIdp::new("any");
    for aud in [
        "https://signalr.azure.com",
        "https://localhost:8888",
        "http://127.0.0.1/",
    ] {
        let (status, body) = broadcast(&server, &idp.token(entra_claims(aud))).await;
        assert_eq!(status, 202, "{aud}: {body}");
    }
    // An RS256 token whose signature is garbage passes too.
    let forged = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT","kid":"x"}"#),
        URL_SAFE_NO_PAD.encode(entra_claims("https://signalr.azure.com").to_string()),
        URL_SAFE_NO_PAD.encode("not a signature")
    );
    assert_eq!(broadcast(&server, &forged).await.0, 202);

    let (status, body) = broadcast(
        &server,
        &idp.token(entra_claims("https://graph.microsoft.com")),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "Error.Auth.AudienceMismatch");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("https://signalr.azure.com/.default"),
        "{body}"
    );
    let mut expired = entra_claims("https://signalr.azure.com");
    expired["exp"] = json!(now() - 3600);
    let (status, body) = broadcast(&server, &idp.token(expired)).await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "Error.Auth.TokenExpired");
    // Access-key tokens work as before.
    let hmac = token(json!({"aud": "http://localhost/api/v1/hubs/chat", "exp": now() + 60}));
    assert_eq!(broadcast(&server, &hmac).await.0, 202);
    server.stop().await;
}

#[tokio::test]
async fn an_app_server_with_an_entra_token_gets_the_access_key_it_signs_client_tokens_with() {
    let server = TestServer::with_config(Config {
        entra: EntraTokens::Unvalidated,
        ..Config::default()
    })
    .await;
    let idp = TestIdp::new("any");
    let entra = idp.token(entra_claims("https://signalr.azure.com"));
    let mut app = AppServer::open_with_token(&server, "chat", "entra-app", &entra).await;
    app.send(&handshake(ServerConnectionType::Default)).await;
    match app.recv().await {
        ServiceMessage::HandshakeResponse(response) => assert_eq!(response.error_message, None),
        other => panic!("expected a HandshakeResponse, got {other:?}"),
    }
    let request = AccessKeyRequest {
        token: Some(entra),
        kid: Some("entra-kid".to_owned()),
        ext: Extensions::default(),
    };
    app.send(&ServiceMessage::AccessKeyRequest(request)).await;
    match app.recv().await {
        ServiceMessage::AccessKeyResponse(response) => {
            assert_eq!(response.kid.as_deref(), Some("entra-kid"));
            assert_eq!(
                response.access_key.as_deref(),
                Some(Config::default().access_keys[0].as_str())
            );
            assert_eq!(response.error_message, None);
        }
        other => panic!("expected an AccessKeyResponse, got {other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn entra_tokens_are_verified_against_a_jwks_file() {
    let idp = TestIdp::new("test-key");
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, json!({"keys": [idp.jwk()]}).to_string()).unwrap();
    let server = TestServer::with_config(Config {
        entra: EntraTokens::from_jwks_file(&jwks).unwrap(),
        ..Config::default()
    })
    .await;
    let good = idp.token(entra_claims("https://signalr.azure.com"));
    assert_eq!(broadcast(&server, &good).await.0, 202);

    // Another key under the same kid, and another key without a known kid.
    let impostor = TestIdp::new("test-key");
    let (status, body) = broadcast(
        &server,
        &impostor.token(entra_claims("https://signalr.azure.com")),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "Error.Auth.InvalidSignature");
    assert!(
        body["message"].as_str().unwrap().contains("kid 'test-key'"),
        "{body}"
    );
    let stranger = TestIdp::new("other-kid");
    assert_eq!(
        broadcast(
            &server,
            &stranger.token(entra_claims("https://signalr.azure.com"))
        )
        .await
        .0,
        401
    );

    // What an SDK using Entra does next: fetch the access key, sign client tokens with it.
    let response = server
        .rest_with_token("GET", "/api/v1/auth/accessKey", None, Some(&good))
        .await;
    assert_eq!(response.status(), 200);
    let key: Value = response.json().await.unwrap();
    let access_key = key["AccessKey"].as_str().unwrap();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(key["KeyId"].as_str().unwrap().to_owned());
    let client = jsonwebtoken::encode(
        &header,
        &json!({"aud": "https://localhost/client/?hub=chat", "exp": now() + 60}),
        &EncodingKey::from_secret(access_key.as_bytes()),
    )
    .unwrap();
    let negotiated = reqwest::Client::new()
        .post(server.url("/client/negotiate?hub=chat&negotiateVersion=1"))
        .bearer_auth(client)
        .send()
        .await
        .unwrap();
    assert_eq!(negotiated.status(), 200);
    server.stop().await;
}

#[test]
fn bad_jwks_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, "{\"keys\": []}").unwrap();
    let err = EntraTokens::from_jwks_file(&file).unwrap_err();
    assert!(err.contains("holds no keys"), "{err}");
    std::fs::write(&file, "[1]").unwrap();
    let err = EntraTokens::from_jwks_file(&file).unwrap_err();
    assert!(err.contains("is not a JWKS document"), "{err}");
}

#[tokio::test]
async fn a_client_asking_for_close_on_auth_expiry_is_closed_when_it_expires() {
    let server = TestServer::start().await;
    let expires = now() + 2;
    let client_token = token(json!({
        "aud": "http://localhost/client/?hub=chat",
        "exp": now() + 3600,
        "asrs.s.coae": "true",
        "asrs.s.aeo": expires.to_string(),
    }));
    let negotiated: Value = reqwest::Client::new()
        .post(server.url("/client/negotiate?hub=chat&negotiateVersion=1"))
        .bearer_auth(&client_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut client = server
        .open("chat", negotiated["connectionToken"].as_str().unwrap())
        .await;
    client
        .send_text("{\"protocol\":\"json\",\"version\":1}\x1e")
        .await;
    assert_eq!(client.next_message().await, json!({}));
    let close = client.next_non_ping().await;
    assert_eq!(close["type"], 7, "{close}");
    assert_eq!(close["allowReconnect"], true);
    let error = close["error"].as_str().unwrap();
    assert!(
        error.contains("authentication expired at") && error.contains("asrs.s.coae"),
        "{error}"
    );
    assert!(now() + 1 >= expires, "closed at expiry, not before");
    server.stop().await;
}
