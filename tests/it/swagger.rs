//! `GET /swagger/<name>.json` serves each OpenAPI document of `swagger/` as it is in the
//! repository, without a token.

use crate::common::TestServer;

#[tokio::test]
async fn serves_every_openapi_document_without_a_token() {
    let server = TestServer::start().await;
    for name in ["v1-preview", "v1", "latest"] {
        let on_disk = std::fs::read_to_string(format!(
            "{}/swagger/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let response = server
            .rest_with_token("GET", &format!("/swagger/{name}.json"), None, None)
            .await;
        assert_eq!(response.status(), 200, "{name}");
        assert_eq!(response.headers()["content-type"], "application/json");
        let served = response.text().await.unwrap();
        assert_eq!(served, on_disk, "{name}");
        let document: serde_json::Value = serde_json::from_str(&served).unwrap();
        assert!(
            document["openapi"].as_str().unwrap().starts_with("3."),
            "{name}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_document_is_a_404_naming_the_real_ones() {
    let server = TestServer::start().await;
    let response = server
        .rest_with_token("GET", "/swagger/v2.json", None, None)
        .await;
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "Error.Request.NotFound");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("/swagger/latest.json")
    );
    server.stop().await;
}
