//! One relayed client's link to the app-server connection it is bound to (default mode): the
//! OpenConnection and the client's raw handshake that start it, the client's bytes forwarded
//! verbatim as ConnectionData, ConnectionReconnect after a stateful reconnect, and the
//! CloseConnection (plus an ErrorCompletion for every client invocation left unanswered) when
//! the client goes away. The app server's answers reach the client through its queue.

use bytes::Bytes;

use super::request::ConnectRequest;
use crate::auth::Claims;
use crate::hub::{ConnectionHandle, Hub, NoServer, ServerHandle, Stickiness};
use crate::protocol::service::{
    CloseConnection, ConnectionData, ConnectionReconnect, Extensions, OpenConnection,
    ServiceMessage,
};

/// JWT registered claims: they describe the token, not the user, and the SDK drops them.
const TOKEN_CLAIMS: [&str; 6] = ["aud", "exp", "iat", "nbf", "iss", "jti"];
/// The claim the SDK takes the user id from.
const USER_ID_CLAIM: &str = "asrs.s.uid";

/// The link; dropped once the client is gone and the app server was told.
#[derive(Debug)]
pub(super) struct AppServerLink {
    server: ServerHandle,
    connection: ConnectionHandle,
}

/// The stickiness a client token asks for: `asrs.s.ssticky` (Preferred/Required, by name or
/// number as the SDK's enum) for the server named in `asrs.s.sn`.
pub(super) fn stickiness(claims: &Claims) -> Stickiness<'_> {
    let claim = |name: &str| {
        claims
            .claims
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (Some(mode), Some(server)) = (claim("asrs.s.ssticky"), claim("asrs.s.sn")) else {
        return Stickiness::None;
    };
    match mode.trim() {
        m if m.eq_ignore_ascii_case("preferred") || m == "1" => Stickiness::Preferred(server),
        m if m.eq_ignore_ascii_case("required") || m == "2" => Stickiness::Required(server),
        _ => Stickiness::None,
    }
}

/// The handshake error of a client no app-server connection can take.
pub(super) fn no_server_error(reason: NoServer, hub: &str, stickiness: Stickiness<'_>) -> String {
    match (reason, stickiness) {
        (NoServer::RequiredServerMissing, Stickiness::Required(server)) => format!(
            "The client requires app server '{server}' (asrs.s.ssticky=Required), but no connection of it is connected to hub '{hub}'."
        ),
        _ => format!(
            "SignalR Service is in 'Default' service mode for hub '{hub}', but no app server is connected: start an app server that connects to this service (AddAzureSignalR) or use --service-mode classic for serverless hubs."
        ),
    }
}

impl AppServerLink {
    /// Binds the client to `server` and sends it OpenConnection, then the client's raw
    /// handshake. The client joins the hub when the app server answers the handshake.
    pub(super) fn open(
        server: ServerHandle,
        connection: ConnectionHandle,
        claims: &Claims,
        request: &ConnectRequest,
        handshake: Bytes,
    ) -> Self {
        server.bind_client();
        connection.bind_app_server(server.clone());
        server.open_client(connection.clone());
        let open = OpenConnection {
            connection_id: connection.id().to_string(),
            claims: forwarded_claims(claims),
            headers: request.headers.clone(),
            query_string: request.query.clone(),
            ext: Extensions {
                protocol: Some(connection.protocol().name().to_owned()),
                ..Extensions::default()
            },
        };
        server.send_message(&ServiceMessage::OpenConnection(open));
        let link = AppServerLink { server, connection };
        link.forward(handshake);
        link
    }

    /// Forwards client bytes verbatim.
    pub(super) fn forward(&self, payload: Bytes) {
        let data = ConnectionData {
            connection_id: self.connection.id().to_string(),
            payload,
            ext: Extensions::default(),
        };
        self.server
            .send_message(&ServiceMessage::ConnectionData(data));
    }

    /// The client came back after a stateful reconnect: the SDK drops any partial message it
    /// buffered for it.
    pub(super) fn reconnected(&self) {
        let reconnect = ConnectionReconnect {
            connection_id: self.connection.id().to_string(),
            ext: Extensions::default(),
        };
        self.server
            .send_message(&ServiceMessage::ConnectionReconnect(reconnect));
    }

    /// Forgets the client if it is still waiting for its handshake answer; called before the
    /// client leaves the hub.
    pub(super) fn forget_opening(&self) {
        self.server.forget_opening(self.connection.id());
    }

    /// The client is gone: the app server gets CloseConnection (unless it ended the client
    /// itself), and the callers of invocations it never answered get an ErrorCompletion.
    pub(super) fn closed(self, hub: &Hub, error: Option<String>) {
        self.server.unbind_client();
        if !self.connection.ended_by_app_server() {
            let close = CloseConnection {
                connection_id: self.connection.id().to_string(),
                error_message: error.unwrap_or_default(),
                headers: Vec::new(),
                ext: Extensions::default(),
            };
            self.server
                .send_message(&ServiceMessage::CloseConnection(close));
        }
        hub.fail_client_invocations(self.connection.id());
    }
}

/// The token's claims without the token's own (`aud`, `exp`, ...), and with `asrs.s.uid` added
/// when the user id came from `nameid` or `sub`, so the app server's `UserIdentifier` is the
/// user id the service routes by.
fn forwarded_claims(claims: &Claims) -> Vec<(String, String)> {
    let mut forwarded: Vec<(String, String)> = claims
        .claims
        .iter()
        .filter(|(name, _)| !TOKEN_CLAIMS.contains(&name.as_str()))
        .cloned()
        .collect();
    if let Some(user) = &claims.user_id
        && !forwarded.iter().any(|(name, _)| name == USER_ID_CLAIM)
    {
        forwarded.push((USER_ID_CLAIM.to_owned(), user.clone()));
    }
    forwarded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(pairs: &[(&str, &str)], user: Option<&str>) -> Claims {
        Claims {
            user_id: user.map(str::to_owned),
            claims: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn token_claims_are_dropped_and_the_user_id_is_named() {
        let given = claims(
            &[
                ("aud", "x"),
                ("exp", "1"),
                ("nameid", "alice"),
                ("role", "a"),
                ("role", "b"),
            ],
            Some("alice"),
        );
        assert_eq!(
            forwarded_claims(&given),
            [
                ("nameid".to_owned(), "alice".to_owned()),
                ("role".to_owned(), "a".to_owned()),
                ("role".to_owned(), "b".to_owned()),
                ("asrs.s.uid".to_owned(), "alice".to_owned()),
            ]
        );
        let given = claims(&[("asrs.s.uid", "bob")], Some("bob"));
        assert_eq!(forwarded_claims(&given).len(), 1);
    }

    #[test]
    fn stickiness_reads_names_and_numbers() {
        let sticky = |mode: &str| {
            let c = claims(&[("asrs.s.sn", "s1"), ("asrs.s.ssticky", mode)], None);
            format!("{:?}", stickiness(&c))
        };
        assert_eq!(sticky("Preferred"), "Preferred(\"s1\")");
        assert_eq!(sticky("2"), "Required(\"s1\")");
        assert_eq!(sticky("Disabled"), "None");
        assert_eq!(format!("{:?}", stickiness(&claims(&[], None))), "None");
    }
}
