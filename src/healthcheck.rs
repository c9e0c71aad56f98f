//! The `healthcheck` subcommand: asks the emulator on 127.0.0.1 for `GET /api/v1/health` and
//! reports the answer, so a container image without curl can still declare a HEALTHCHECK.

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

/// Checks the emulator listening on `port` of the loopback address.
pub async fn check(port: u16, timeout: Duration) -> Result<(), Unhealthy> {
    let url = format!("http://127.0.0.1:{port}/api/v1/health");
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .map_err(|source| Unhealthy::NoAnswer {
            url: url.clone(),
            source,
        })?;
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|source| Unhealthy::NoAnswer {
            url: url.clone(),
            source,
        })?;
    match response.status() {
        reqwest::StatusCode::OK => Ok(()),
        status => Err(Unhealthy::Status { url, status }),
    }
}
