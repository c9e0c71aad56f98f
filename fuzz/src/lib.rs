//! The properties every fuzz target checks, one function per parser, so that a target file is
//! one line and a new parser (e.g. the ServiceProtocol codec) needs one more function here.

use bytes::BytesMut;
use serde_json::Value;
use signalr_emulator::auth::{Audience, AuthMode, Verifier, issue_token};
use signalr_emulator::hub::filter::{Filter, Subject};
use signalr_emulator::protocol::{self, Protocol, handshake, service};

/// A hub protocol's framing and parser on arbitrary client bytes: no panic, and whatever
/// parses survives our own encoding in both protocols.
pub fn hub_protocol(protocol: Protocol, data: &[u8]) {
    let mut buf = BytesMut::from(data);
    while let Ok(Some(frame)) = protocol::next_frame(protocol, &mut buf) {
        if let Ok(Some(message)) = protocol::parse(protocol, &frame) {
            let encoded = protocol::encode(protocol, &message);
            let reparsed = parse_own(protocol, &encoded);
            // Decoding our own bytes and encoding again must give the same bytes.
            assert_eq!(protocol::encode(protocol, &reparsed), encoded);
            // What one protocol's client sent can be delivered to the other's.
            let other = match protocol {
                Protocol::Json => Protocol::MessagePack,
                Protocol::MessagePack => Protocol::Json,
            };
            parse_own(other, &protocol::encode(other, &message));
        }
    }
}

/// Parses one message this server encoded; anything else is a bug in the codec.
fn parse_own(protocol: Protocol, encoded: &[u8]) -> protocol::HubMessage {
    let mut buf = BytesMut::from(encoded);
    let frame = protocol::next_frame(protocol, &mut buf)
        .expect("our framing is valid")
        .expect("our frame is complete");
    assert!(buf.is_empty(), "one message makes one frame");
    protocol::parse(protocol, &frame)
        .expect("our encoding parses")
        .expect("our message type is known")
}

/// The ServiceProtocol reader on an arbitrary app-server byte stream: no panic, frames are taken
/// one after another with the endpoint's size limit, and whatever parses is written back in a
/// layout that reads again to the same bytes.
pub fn service_protocol(data: &[u8]) {
    let mut buf = BytesMut::from(data);
    while let Ok(Some(message)) = service::next_frame(&mut buf, 1 << 20) {
        let encoded = service::encode_frame(&message);
        let reparsed = match service::parse_frame(&encoded) {
            Ok(Some((reparsed, used))) => {
                assert_eq!(used, encoded.len(), "one message makes one frame");
                reparsed
            }
            other => panic!("our own frame of {message:?} does not parse: {other:?}"),
        };
        // The current layout is a fixed point: writing what it reads gives the same bytes.
        assert_eq!(service::encode_frame(&reparsed), encoded);
    }
}

/// The handshake request parser and the protocol agreement, on arbitrary bytes.
pub fn handshake(data: &[u8]) {
    if let Ok(request) = handshake::parse_request(data) {
        for binary in [false, true] {
            let _ = handshake::agree(&request, binary);
        }
    }
}

/// The `:execute` OData filter: any text parses or fails with an error, and a filter that
/// parses can be evaluated against any connection.
pub fn odata_filter(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Filter::parse(text) {
        Ok(filter) => {
            for subject in [
                Subject {
                    user_id: None,
                    connection_id: "",
                    groups: &[],
                },
                Subject {
                    user_id: Some("alice"),
                    connection_id: "c-1",
                    groups: &["news", "", "a'b"],
                },
            ] {
                filter.matches(&subject);
            }
        }
        Err(error) => {
            // The error text goes into a 400 body; building it must not panic either.
            let _ = error.to_string();
        }
    }
}

const KEY: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH";
/// 2025-11-23T10:00:00Z, so runs are reproducible.
const NOW: u64 = 1_763_892_000;

/// Token parsing and verification in every mode: the bytes as a token, and (when they are a
/// JSON object) as the claims of a correctly signed token, so the checks behind the signature
/// (lifetime, audience, claims) are reached too.
pub fn token(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let signed = serde_json::from_str::<Value>(text)
        .ok()
        .filter(Value::is_object)
        .map(|claims| issue_token(KEY, &claims));
    for mode in [AuthMode::Strict, AuthMode::Relaxed, AuthMode::Off] {
        let verifier = Verifier::new(vec![KEY.to_owned()], mode);
        for audience in [
            Audience::Client { hub: "chat" },
            Audience::Rest {
                path: "/api/v1/hubs/chat",
            },
        ] {
            for token in [Some(text), signed.as_deref()] {
                if let Err(error) = verifier.verify(token, &audience, NOW) {
                    let _ = (error.code(), error.to_string());
                }
            }
        }
    }
}
