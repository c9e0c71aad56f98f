//! Connections created by negotiate that have not opened their transport yet, keyed by their
//! connection token. Entries older than the negotiate timeout are swept, as ASP.NET Core does.

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use tokio::time::Instant;

use crate::auth::Claims;

/// What negotiate decided for a connection.
#[derive(Debug, Clone)]
pub struct PendingConnection {
    /// The public connection id.
    pub connection_id: Arc<str>,
    /// The internal hub name.
    pub hub: Arc<str>,
    /// The verified claims of the negotiate request.
    pub claims: Claims,
    created: Instant,
}

/// The table of negotiated connections.
#[derive(Debug, Default)]
pub struct Negotiated {
    by_token: DashMap<String, PendingConnection>,
}

impl Negotiated {
    /// Records a negotiated connection under its token.
    pub fn insert(&self, token: String, connection_id: Arc<str>, hub: Arc<str>, claims: Claims) {
        self.by_token.insert(
            token,
            PendingConnection {
                connection_id,
                hub,
                claims,
                created: Instant::now(),
            },
        );
    }

    /// Takes the connection for a token: a token opens one transport only.
    pub fn take(&self, token: &str) -> Option<PendingConnection> {
        self.by_token.remove(token).map(|(_, pending)| pending)
    }

    /// Forgets connections that waited longer than `timeout` for their transport.
    pub fn sweep(&self, now: Instant, timeout: Duration) {
        self.by_token
            .retain(|_, pending| now.duration_since(pending.created) < timeout);
    }
}
