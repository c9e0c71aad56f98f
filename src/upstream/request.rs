//! The HTTP request for one upstream event: `POST`, the `X-ASRS-*` headers and the body, as
//! Azure SignalR Service and the Azure Functions extension define them.

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Request, Url};

use super::signature::signature;
use super::{EventKind, UpstreamEvent};

const CONNECTION_ID: HeaderName = HeaderName::from_static("x-asrs-connection-id");
const HUB: HeaderName = HeaderName::from_static("x-asrs-hub");
const CATEGORY: HeaderName = HeaderName::from_static("x-asrs-category");
const EVENT: HeaderName = HeaderName::from_static("x-asrs-event");
const USER_ID: HeaderName = HeaderName::from_static("x-asrs-user-id");
const USER_CLAIMS: HeaderName = HeaderName::from_static("x-asrs-user-claims");
const CLIENT_QUERY: HeaderName = HeaderName::from_static("x-asrs-client-query");
const SIGNATURE: HeaderName = HeaderName::from_static("x-asrs-signature");

const JSON: &str = "application/json";
const MSGPACK: &str = "application/x-msgpack";

/// The request for `event` to `url`, signed with `keys`.
pub(super) fn build(url: Url, event: &UpstreamEvent<'_>, keys: &[String]) -> Request {
    let (body, content_type) = body(&event.kind);
    let mut request = Request::new(Method::POST, url);
    let headers = request.headers_mut();
    *headers = self::headers(event, keys);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    *request.body_mut() = Some(body.into());
    request
}

/// The `X-ASRS-*` headers.
fn headers(event: &UpstreamEvent<'_>, keys: &[String]) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(9);
    headers.insert(CONNECTION_ID, value(event.connection_id));
    headers.insert(HUB, value(event.hub));
    headers.insert(CATEGORY, value(event.kind.category()));
    headers.insert(EVENT, value(event.kind.event()));
    if let Some(user) = event.user_id.filter(|user| !user.is_empty()) {
        headers.insert(USER_ID, value(user));
    }
    if !event.claims.is_empty() {
        headers.insert(USER_CLAIMS, value(&claims(event.claims)));
    }
    let query = event.client_query.trim_start_matches('?');
    if !query.is_empty() {
        headers.insert(CLIENT_QUERY, value(&format!("?{query}")));
    }
    headers.insert(SIGNATURE, value(&signature(keys, event.connection_id)));
    headers
}

/// `type: value, type: value`: how .NET's HttpClient joins one `Claim.ToString()` per header
/// value, and what the Functions extension splits back on `,` and `": "`.
fn claims(claims: &[(String, String)]) -> String {
    claims
        .iter()
        .map(|(kind, value)| format!("{kind}: {value}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A header value from any text: control characters, which HTTP forbids, become spaces;
/// non-ASCII text is sent as its UTF-8 bytes.
fn value(text: &str) -> HeaderValue {
    let bytes: Vec<u8> = text
        .bytes()
        .map(|b| {
            if b.is_ascii_control() && b != b'\t' {
                b' '
            } else {
                b
            }
        })
        .collect();
    HeaderValue::from_bytes(&bytes).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The body and its content type: OpenConnection (10), CloseConnection (11) or the client's
/// message as it came, minus the transport framing.
fn body(kind: &EventKind<'_>) -> (Bytes, &'static str) {
    match kind {
        EventKind::Connected => (Bytes::from_static(br#"{"type":10}"#), JSON),
        EventKind::Disconnected { error: None } => (Bytes::from_static(br#"{"type":11}"#), JSON),
        EventKind::Disconnected { error: Some(error) } => (
            // Written by hand to keep `type` first, as every SignalR serializer does.
            Bytes::from(format!(
                r#"{{"type":11,"error":{}}}"#,
                serde_json::Value::from(*error)
            )),
            JSON,
        ),
        EventKind::Message { body, msgpack, .. } => {
            (body.clone(), if *msgpack { MSGPACK } else { JSON })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event<'a>(kind: EventKind<'a>, claims: &'a [(String, String)]) -> UpstreamEvent<'a> {
        UpstreamEvent {
            hub: "chat",
            connection_id: "conn1",
            user_id: Some("alice"),
            claims,
            client_query: "hub=chat&id=abc",
            kind,
        }
    }

    fn header(request: &Request, name: &str) -> Option<String> {
        request
            .headers()
            .get(name)
            .map(|v| String::from_utf8(v.as_bytes().to_vec()).unwrap())
    }

    fn body_of(request: &Request) -> &[u8] {
        request.body().unwrap().as_bytes().unwrap()
    }

    #[test]
    fn connected_carries_every_header() {
        let claims = [
            ("nameid".to_owned(), "alice".to_owned()),
            ("role".to_owned(), "admin".to_owned()),
        ];
        let request = build(
            "http://h/x".parse().unwrap(),
            &event(EventKind::Connected, &claims),
            &["k".to_owned()],
        );
        assert_eq!(request.method(), Method::POST);
        assert_eq!(header(&request, "X-ASRS-Connection-Id").unwrap(), "conn1");
        assert_eq!(header(&request, "X-ASRS-Hub").unwrap(), "chat");
        assert_eq!(header(&request, "X-ASRS-Category").unwrap(), "connections");
        assert_eq!(header(&request, "X-ASRS-Event").unwrap(), "connected");
        assert_eq!(header(&request, "X-ASRS-User-Id").unwrap(), "alice");
        assert_eq!(
            header(&request, "X-ASRS-User-Claims").unwrap(),
            "nameid: alice, role: admin"
        );
        assert_eq!(
            header(&request, "X-ASRS-Client-Query").unwrap(),
            "?hub=chat&id=abc"
        );
        assert_eq!(
            header(&request, "X-ASRS-Signature").unwrap(),
            signature(&["k".to_owned()], "conn1")
        );
        assert_eq!(header(&request, "Content-Type").unwrap(), JSON);
        assert_eq!(body_of(&request), br#"{"type":10}"#);
    }

    #[test]
    fn anonymous_connections_omit_the_user_headers() {
        let mut anonymous = event(EventKind::Disconnected { error: None }, &[]);
        anonymous.user_id = None;
        anonymous.client_query = "?hub=chat";
        let request = build("http://h/x".parse().unwrap(), &anonymous, &[]);
        assert_eq!(header(&request, "X-ASRS-User-Id"), None);
        assert_eq!(header(&request, "X-ASRS-User-Claims"), None);
        assert_eq!(
            header(&request, "X-ASRS-Client-Query").unwrap(),
            "?hub=chat"
        );
        assert_eq!(header(&request, "X-ASRS-Event").unwrap(), "disconnected");
        assert_eq!(body_of(&request), br#"{"type":11}"#);
    }

    #[test]
    fn disconnected_with_an_error_and_messages() {
        let request = build(
            "http://h/x".parse().unwrap(),
            &event(
                EventKind::Disconnected {
                    error: Some("bad \"thing\""),
                },
                &[],
            ),
            &[],
        );
        assert_eq!(body_of(&request), br#"{"type":11,"error":"bad \"thing\""}"#);

        let packed = Bytes::from_static(&[0x95, 0x01, 0x80, 0xc0, 0xa1, 0x61, 0x90]);
        let request = build(
            "http://h/x".parse().unwrap(),
            &event(
                EventKind::Message {
                    target: "Send Ä\n",
                    body: packed.clone(),
                    msgpack: true,
                },
                &[],
            ),
            &[],
        );
        assert_eq!(header(&request, "X-ASRS-Category").unwrap(), "messages");
        assert_eq!(header(&request, "X-ASRS-Event").unwrap(), "Send Ä ");
        assert_eq!(header(&request, "Content-Type").unwrap(), MSGPACK);
        assert_eq!(body_of(&request), &packed[..]);
    }
}
