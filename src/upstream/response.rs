//! What came back from an upstream call ([`Attempt`]) and what it means for the client
//! ([`Attempt::outcome`]): the official emulator's mapping of statuses to Completions, with the
//! same client-facing texts, plus a timeout the official one lacks.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::{Response, StatusCode};

use super::UpstreamOutcome;
use super::metrics::CallOutcome;
use crate::text::sentence_end;

/// Largest response body forwarded to a client, as in the official emulator.
pub(super) const MAX_RESPONSE_SIZE: usize = 16 * 1024 * 1024;

/// How one call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Attempt {
    /// The upstream answered; the body is read only for 200.
    Answered { status: StatusCode, body: Bytes },
    /// A 200 whose body exceeds [`MAX_RESPONSE_SIZE`].
    TooLarge,
    /// No usable answer: the connection failed or the body could not be read.
    Failed {
        /// The root cause, e.g. `Connection refused (os error 111)`.
        error: String,
        /// The upstream actively refused the TCP connection (nothing listens there).
        refused: bool,
        /// The TLS handshake failed, typically on a certificate this server does not trust.
        tls: bool,
    },
    /// No complete answer within the configured timeout.
    TimedOut(Duration),
}

impl Attempt {
    /// Reads `response`: the body of a 200 (bounded), the status alone otherwise.
    pub(super) async fn read(mut response: Response) -> Self {
        let status = response.status();
        if status != StatusCode::OK {
            return Attempt::Answered {
                status,
                body: Bytes::new(),
            };
        }
        if response
            .content_length()
            .is_some_and(|length| length > MAX_RESPONSE_SIZE as u64)
        {
            return Attempt::TooLarge;
        }
        let mut body = BytesMut::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) if body.len() + chunk.len() > MAX_RESPONSE_SIZE => {
                    return Attempt::TooLarge;
                }
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => {
                    return Attempt::Answered {
                        status,
                        body: body.freeze(),
                    };
                }
                Err(err) => return Attempt::from_error(&err),
            }
        }
    }

    /// A transport error, reduced to its root cause.
    pub(super) fn from_error(err: &reqwest::Error) -> Self {
        let mut root: &dyn std::error::Error = err;
        let mut refused = false;
        let mut tls = false;
        while let Some(source) = root.source() {
            if let Some(io) = source.downcast_ref::<std::io::Error>() {
                refused |= io.kind() == std::io::ErrorKind::ConnectionRefused;
            }
            tls |= is_tls_error(source);
            root = source;
        }
        Attempt::Failed {
            error: root.to_string(),
            refused,
            tls,
        }
    }

    /// What the client is told, for a blocking invocation.
    pub(super) fn outcome(&self) -> UpstreamOutcome {
        match self {
            Attempt::Answered { status, body } if *status == StatusCode::OK && !body.is_empty() => {
                UpstreamOutcome::Body(body.clone())
            }
            Attempt::Answered { status, .. }
                if *status == StatusCode::OK || *status == StatusCode::NO_CONTENT =>
            {
                UpstreamOutcome::Empty
            }
            Attempt::Answered { status, .. } => UpstreamOutcome::Failed(format!(
                "Invocation failed, status code {}",
                status.as_u16()
            )),
            Attempt::TooLarge => {
                UpstreamOutcome::Failed("Invocation failed, response too large.".into())
            }
            Attempt::Failed {
                error, tls: true, ..
            } => UpstreamOutcome::Failed(format!(
                "Invocation failed, error: the upstream's TLS certificate was refused: {}",
                sentence_end(error)
            )),
            Attempt::Failed { error, .. } => UpstreamOutcome::Failed(format!(
                "Invocation failed, error: {}",
                sentence_end(error)
            )),
            Attempt::TimedOut(timeout) => UpstreamOutcome::Failed(format!(
                "Invocation failed, the upstream did not answer within {} s.",
                timeout.as_secs_f64()
            )),
        }
    }

    /// How metrics label this attempt: only 200 and 204 count as ok, as for the client.
    pub(super) fn metric(&self) -> CallOutcome {
        match self {
            Attempt::Answered { status, .. }
                if *status == StatusCode::OK || *status == StatusCode::NO_CONTENT =>
            {
                CallOutcome::Ok
            }
            Attempt::Answered { .. } | Attempt::TooLarge => CallOutcome::HttpError,
            Attempt::Failed { .. } => CallOutcome::TransportError,
            Attempt::TimedOut(_) => CallOutcome::Timeout,
        }
    }

    /// The `status` field of the call's log line.
    pub(super) fn status_label(&self) -> String {
        match self {
            Attempt::Answered { status, .. } => status.as_u16().to_string(),
            Attempt::TooLarge => "200 (too large)".into(),
            Attempt::Failed { refused: true, .. } => "refused".into(),
            Attempt::Failed { tls: true, .. } => "tls-error".into(),
            Attempt::Failed { .. } => "error".into(),
            Attempt::TimedOut(_) => "timeout".into(),
        }
    }
}

/// Whether `err` is, or wraps, a rustls error. The TLS client reports handshake failures as
/// io::Errors wrapping (io::Errors wrapping) the rustls error, which `source()` skips over.
fn is_tls_error(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = err;
    loop {
        if current.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        match current
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => current = inner,
            None => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16, body: &'static [u8]) -> Attempt {
        Attempt::Answered {
            status: StatusCode::from_u16(status).unwrap(),
            body: Bytes::from_static(body),
        }
    }

    fn failed(text: &str) -> UpstreamOutcome {
        UpstreamOutcome::Failed(text.to_owned())
    }

    #[test]
    fn statuses_map_to_completions_like_the_official_emulator() {
        let framed = b"{\"type\":3,\"invocationId\":\"1\",\"result\":1}\x1e";
        assert_eq!(
            answered(200, framed).outcome(),
            UpstreamOutcome::Body(Bytes::from_static(framed))
        );
        assert_eq!(answered(200, b"").outcome(), UpstreamOutcome::Empty);
        assert_eq!(answered(204, b"").outcome(), UpstreamOutcome::Empty);
        for status in [201, 202, 301, 400, 401, 404, 415, 500, 503] {
            assert_eq!(
                answered(status, b"").outcome(),
                failed(&format!("Invocation failed, status code {status}"))
            );
        }
    }

    #[test]
    fn failures_have_readable_texts() {
        assert_eq!(
            Attempt::TooLarge.outcome(),
            failed("Invocation failed, response too large.")
        );
        let refused = Attempt::Failed {
            error: "Connection refused (os error 111)".into(),
            refused: true,
            tls: false,
        };
        assert_eq!(
            refused.outcome(),
            failed("Invocation failed, error: Connection refused (os error 111).")
        );
        assert_eq!(refused.status_label(), "refused");
        let untrusted = Attempt::Failed {
            error: "invalid peer certificate: UnknownIssuer".into(),
            refused: false,
            tls: true,
        };
        assert_eq!(
            untrusted.outcome(),
            failed(
                "Invocation failed, error: the upstream's TLS certificate was refused: invalid peer certificate: UnknownIssuer."
            )
        );
        assert_eq!(untrusted.status_label(), "tls-error");
        assert_eq!(
            Attempt::TimedOut(Duration::from_secs(100)).outcome(),
            failed("Invocation failed, the upstream did not answer within 100 s.")
        );
        assert_eq!(
            Attempt::TimedOut(Duration::from_millis(250)).outcome(),
            failed("Invocation failed, the upstream did not answer within 0.25 s.")
        );
    }
}
