//! Logging upstream calls: one info line per call, and a warning that says how to fix things
//! when the upstream refuses, fails or cannot be reached.

use std::time::Duration;

use reqwest::{StatusCode, Url};

use super::response::Attempt;

/// Which event went where.
#[derive(Debug, Clone, Copy)]
pub(super) struct Call<'a> {
    pub(super) hub: &'a str,
    pub(super) category: &'a str,
    pub(super) event: &'a str,
    pub(super) connection_id: &'a str,
    pub(super) url: &'a Url,
}

/// Logs the call at info, and a warning with the likely fix when it did not go well.
pub(super) fn log(call: Call<'_>, attempt: &Attempt, latency: Duration) {
    tracing::info!(
        hub = call.hub,
        category = call.category,
        event = call.event,
        connection = call.connection_id,
        url = %call.url,
        status = %attempt.status_label(),
        latency_ms = latency.as_millis() as u64,
        "upstream call"
    );
    if let Some(advice) = advice(call, attempt) {
        tracing::warn!(
            hub = call.hub,
            category = call.category,
            event = call.event,
            "{advice}"
        );
    }
}

/// What went wrong and what to do about it; `None` for the expected 200 and 204.
fn advice(call: Call<'_>, attempt: &Attempt) -> Option<String> {
    let url = call.url;
    let text = match attempt {
        Attempt::Answered { status, .. }
            if *status == StatusCode::OK || *status == StatusCode::NO_CONTENT =>
        {
            return None;
        }
        Attempt::Answered { status, .. } => {
            let code = status.as_u16();
            let why = match code {
                401 | 403 => "the upstream rejected X-ASRS-Signature; check that the access key configured on both sides is the same (--access-key here, the AccessKey in the upstream's AzureSignalRConnectionString)".to_owned(),
                404 => format!(
                    "nothing handles hub '{}', category '{}', event '{}' there; check the upstream's trigger (hub name, category, event) or the UrlTemplate path",
                    call.hub, call.category, call.event
                ),
                415 => "the upstream does not accept the Content-Type (application/json or application/x-msgpack)".to_owned(),
                300..=399 => "redirects are not followed; put the final URL in the UrlTemplate".to_owned(),
                500..=599 => "the upstream failed while handling the event; see its logs".to_owned(),
                _ => "expected 200 or 204".to_owned(),
            };
            format!("upstream {url} answered {code}: {why}")
        }
        Attempt::TooLarge => {
            format!("upstream {url} answered with a body over 16 MB, which is not forwarded")
        }
        Attempt::Failed { refused: true, .. } => format!(
            "upstream {url} refused the connection: is your upstream running (for Azure Functions: func start)?"
        ),
        Attempt::Failed {
            error, tls: true, ..
        } => format!(
            "upstream {url} failed the TLS handshake: {error}; if its certificate is signed by a private CA, start the emulator with --upstream-ca <ca.pem> (the system's roots are trusted already)"
        ),
        Attempt::Failed { error, .. } => format!(
            "upstream {url} could not be reached or answered badly: {error}; check the host and port in the UrlTemplate"
        ),
        Attempt::TimedOut(timeout) => format!(
            "upstream {url} did not answer within {} s: is it stuck? If it needs longer, raise --upstream-timeout",
            timeout.as_secs_f64()
        ),
    };
    Some(text)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn advice_for(attempt: Attempt) -> Option<String> {
        let url: Url = "http://localhost:7071/runtime/webhooks/signalr"
            .parse()
            .unwrap();
        let call = Call {
            hub: "chat",
            category: "messages",
            event: "send",
            connection_id: "c",
            url: &url,
        };
        advice(call, &attempt)
    }

    fn status(code: u16) -> Attempt {
        Attempt::Answered {
            status: StatusCode::from_u16(code).unwrap(),
            body: Bytes::new(),
        }
    }

    #[test]
    fn expected_answers_need_no_advice() {
        assert_eq!(advice_for(status(200)), None);
        assert_eq!(advice_for(status(204)), None);
    }

    #[test]
    fn advice_names_the_fix() {
        let refused = advice_for(Attempt::Failed {
            error: "Connection refused (os error 111)".into(),
            refused: true,
            tls: false,
        })
        .unwrap();
        assert_eq!(
            refused,
            "upstream http://localhost:7071/runtime/webhooks/signalr refused the connection: is your upstream running (for Azure Functions: func start)?"
        );
        let untrusted = advice_for(Attempt::Failed {
            error: "invalid peer certificate: UnknownIssuer".into(),
            refused: false,
            tls: true,
        })
        .unwrap();
        assert!(
            untrusted.contains("invalid peer certificate: UnknownIssuer; if its certificate is signed by a private CA, start the emulator with --upstream-ca"),
            "{untrusted}"
        );
        let unauthorized = advice_for(status(401)).unwrap();
        assert!(
            unauthorized.contains(
                "answered 401: the upstream rejected X-ASRS-Signature; check that the access key"
            ),
            "{unauthorized}"
        );
        assert!(
            advice_for(status(404))
                .unwrap()
                .contains("hub 'chat', category 'messages', event 'send'")
        );
        assert!(
            advice_for(Attempt::TimedOut(Duration::from_secs(3)))
                .unwrap()
                .contains("within 3 s: is it stuck? If it needs longer, raise --upstream-timeout")
        );
        assert!(
            advice_for(status(302))
                .unwrap()
                .contains("redirects are not followed")
        );
        assert!(advice_for(status(503)).unwrap().contains("see its logs"));
    }
}
