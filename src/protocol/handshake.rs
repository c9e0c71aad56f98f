//! The handshake that opens every hub connection: `{"protocol":"json","version":1}` + 0x1E from
//! the client, `{}` + 0x1E (or `{"error":"..."}` + 0x1E) from the server. Error texts are
//! ASP.NET Core's, so clients and users see what they would see against Azure.

use bytes::Bytes;
use serde_json::Value;

use super::json::RECORD_SEPARATOR;
use super::{MAX_PROTOCOL_VERSION, Protocol};
use crate::text::sentence_end;

/// What the client asked for in its handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeRequest {
    /// Protocol name, e.g. `json`.
    pub protocol: String,
    /// Protocol version; 2 asks for stateful reconnect.
    pub version: u64,
}

/// The handshake the server accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreed {
    /// The protocol in use from now on.
    pub protocol: Protocol,
    /// The version the client asked for (1 or 2).
    pub version: u64,
}

/// The successful handshake response, bytes `7B 7D 1E`.
pub const SUCCESS: &[u8] = b"{}\x1e";

/// The error a handshake timeout produces.
pub const CANCELED: &str = "Handshake was canceled.";

const UNEXPECTED: &str = "An unexpected error occurred during connection handshake.";

/// Parses an unframed handshake request. The error is the text to send back to the client.
pub fn parse_request(frame: &[u8]) -> Result<HandshakeRequest, String> {
    let value: Value = serde_json::from_slice(frame).map_err(|e| {
        format!(
            "{UNEXPECTED} The handshake request is not valid JSON: {}",
            sentence_end(e)
        )
    })?;
    let protocol = match value.get("protocol") {
        Some(Value::String(p)) => p.clone(),
        Some(_) => return Err(format!("{UNEXPECTED} 'protocol' must be a string.")),
        None => {
            return Err(format!(
                "{UNEXPECTED} Missing required property 'protocol'."
            ));
        }
    };
    let version = match value.get("version") {
        Some(v) => v
            .as_u64()
            .ok_or_else(|| format!("{UNEXPECTED} 'version' must be a non-negative integer."))?,
        None => return Err(format!("{UNEXPECTED} Missing required property 'version'.")),
    };
    Ok(HandshakeRequest { protocol, version })
}

/// Checks the request against what the server and the transport support.
pub fn agree(
    request: &HandshakeRequest,
    transport_supports_binary: bool,
) -> Result<Agreed, String> {
    let Some(protocol) = Protocol::from_name(&request.protocol) else {
        return Err(format!(
            "The protocol '{}' is not supported.",
            request.protocol
        ));
    };
    if request.version > MAX_PROTOCOL_VERSION {
        return Err(format!(
            "The server does not support version {} of the '{}' protocol.",
            request.version, request.protocol
        ));
    }
    if protocol.is_binary() && !transport_supports_binary {
        return Err(format!(
            "Cannot use the '{}' protocol on the current transport. The transport does not support 'Binary' transfer format.",
            request.protocol
        ));
    }
    Ok(Agreed {
        protocol,
        version: request.version,
    })
}

/// Encodes a failed handshake response.
pub fn error_response(error: &str) -> Bytes {
    let mut out = serde_json::to_vec(&serde_json::json!({ "error": error }))
        .expect("a string map always serializes");
    out.push(RECORD_SEPARATOR);
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_json_versions_one_and_two() {
        for version in [1, 2] {
            let req =
                parse_request(format!(r#"{{"protocol":"json","version":{version}}}"#).as_bytes())
                    .unwrap();
            assert_eq!(agree(&req, false).unwrap().version, version);
        }
    }

    #[test]
    fn messagepack_needs_a_binary_transport() {
        let req = parse_request(br#"{"protocol":"messagepack","version":1}"#).unwrap();
        assert_eq!(
            agree(&req, true).unwrap(),
            Agreed {
                protocol: Protocol::MessagePack,
                version: 1
            }
        );
        assert_eq!(
            agree(&req, false).unwrap_err(),
            "Cannot use the 'messagepack' protocol on the current transport. The transport does not support 'Binary' transfer format."
        );
    }

    #[test]
    fn protocol_names_ignore_case_like_aspnet() {
        let req = parse_request(br#"{"protocol":"MessagePack","version":1}"#).unwrap();
        assert_eq!(agree(&req, true).unwrap().protocol, Protocol::MessagePack);
        let req = parse_request(br#"{"protocol":"JSON","version":1}"#).unwrap();
        assert_eq!(agree(&req, false).unwrap().protocol, Protocol::Json);
    }

    #[test]
    fn unknown_protocol_and_version_use_aspnet_texts() {
        let req = parse_request(br#"{"protocol":"xml","version":1,"extra":true}"#).unwrap();
        assert_eq!(
            agree(&req, true).unwrap_err(),
            "The protocol 'xml' is not supported."
        );
        let req = parse_request(br#"{"protocol":"json","version":3}"#).unwrap();
        assert_eq!(
            agree(&req, true).unwrap_err(),
            "The server does not support version 3 of the 'json' protocol."
        );
    }

    #[test]
    fn missing_properties_fail_with_the_generic_text_and_a_reason() {
        let err = parse_request(br#"{"protocol":"json"}"#).unwrap_err();
        assert!(
            err.starts_with(UNEXPECTED) && err.contains("version"),
            "{err}"
        );
        let err = parse_request(b"nope").unwrap_err();
        assert!(err.starts_with(UNEXPECTED), "{err}");
    }

    #[test]
    fn error_response_is_framed_json() {
        assert_eq!(&error_response("x")[..], b"{\"error\":\"x\"}\x1e");
    }
}
