//! The `healthcheck` subcommand: asks the emulator on 127.0.0.1 for `GET /api/v1/health` and
//! reports the answer, so a container image without curl can still declare a HEALTHCHECK. A
//! TLS port (`--tls-cert`, `--tls-self-signed`) is asked over https.

use std::time::Duration;

/// Why the check failed.
#[derive(Debug, thiserror::Error)]
pub enum Unhealthy {
    /// No answer (not listening, or too slow).
    #[error("no answer from {url}: {source}")]
    NoAnswer {
        /// The URL asked.
        url: String,
        /// What went wrong.
        source: reqwest::Error,
    },
    /// An answer other than 200.
    #[error("{url} answered {status}")]
    Status {
        /// The URL asked.
        url: String,
        /// The status received.
        status: reqwest::StatusCode,
    },
}

/// Checks the emulator listening on `port` of the loopback address: over http, or over https
/// when the port answers that it speaks TLS.
pub async fn check(port: u16, timeout: Duration) -> Result<(), Unhealthy> {
    let url = format!("http://127.0.0.1:{port}/api/v1/health");
    match ask(&url, timeout, false).await? {
        (reqwest::StatusCode::BAD_REQUEST, body) if body.contains("This port speaks TLS") => {
            // A liveness probe on loopback sends nothing secret, and the certificate names
            // the public host rather than 127.0.0.1: its chain is not what is being checked.
            let url = format!("https://127.0.0.1:{port}/api/v1/health");
            match ask(&url, timeout, true).await? {
                (reqwest::StatusCode::OK, _) => Ok(()),
                (status, _) => Err(Unhealthy::Status { url, status }),
            }
        }
        (reqwest::StatusCode::OK, _) => Ok(()),
        (status, _) => Err(Unhealthy::Status { url, status }),
    }
}

/// One GET: the status and body text.
async fn ask(
    url: &str,
    timeout: Duration,
    any_certificate: bool,
) -> Result<(reqwest::StatusCode, String), Unhealthy> {
    let failed = |source| Unhealthy::NoAnswer {
        url: url.to_owned(),
        source,
    };
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .danger_accept_invalid_certs(any_certificate)
        .build()
        .map_err(failed)?;
    let response = client.get(url).send().await.map_err(failed)?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    Ok((status, body))
}
