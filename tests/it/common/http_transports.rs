//! Hand-rolled requests of the two HTTP transports (Server-Sent Events and long polling) to
//! the `chat` hub: the POST that carries client bytes, the poll, an event stream's next chunk.
//! Every request carries an anonymous client token unless the test sets another.

use super::{TestServer, WAIT, client_token};

/// The JSON handshake every hand-rolled `chat` client sends first.
pub(crate) const HANDSHAKE: &str = "{\"protocol\":\"json\",\"version\":1}\x1e";

/// A client whose requests carry an anonymous client token for `chat`, as every request to
/// a connection must (a request's own `bearer_auth` replaces it).
pub(crate) fn http() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {}", client_token("chat", None))
            .parse()
            .unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// The connect URL of the `chat` connection with `token` on `server`.
pub(crate) fn connect_url(server: &TestServer, token: &str) -> String {
    server.url(&format!("/client/?hub=chat&id={token}"))
}

/// Sends `body` to the connection, as SSE and long-polling clients send.
pub(crate) async fn post(server: &TestServer, token: &str, body: &str) -> reqwest::Response {
    http()
        .post(connect_url(server, token))
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

/// One long poll, which must answer within [`WAIT`].
pub(crate) async fn poll(server: &TestServer, token: &str) -> reqwest::Response {
    tokio::time::timeout(WAIT, http().get(connect_url(server, token)).send())
        .await
        .expect("the poll answers in time")
        .unwrap()
}

/// The next chunk of an event stream, which must arrive within [`WAIT`].
pub(crate) async fn next_chunk(response: &mut reqwest::Response) -> String {
    let chunk = tokio::time::timeout(WAIT, response.chunk())
        .await
        .expect("an event arrives in time")
        .unwrap()
        .expect("the stream stays open");
    String::from_utf8(chunk.to_vec()).unwrap()
}
