//! The key/value pings app servers send (SERVICE-PROTOCOL.md §4) and the answers the SDK
//! expects: `status` (does this service have clients), `servers` (which app servers are
//! connected), `shutdown`/`offline` (stop routing new clients here, then `finack`) and `echo`.
//! A bare ping or the SDK's `#clientInHub` keep-alive needs no answer.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::hub::{Hub, ServerConnection};
use crate::protocol::service::Ping;

/// .NET ticks (100 ns since 0001-01-01) at the unix epoch.
const UNIX_EPOCH_TICKS: u128 = 621_355_968_000_000_000;

/// The reply to `ping`, if it asks for one.
pub(super) fn answer(ping: &Ping, hub: &Hub, server: &ServerConnection) -> Option<Ping> {
    let (key, value) = match ping.messages.as_slice() {
        [key, value, ..] => (key.as_str(), value.as_str()),
        _ => return None,
    };
    let reply = |key: &str, value: String| {
        Some(Ping {
            messages: vec![key.to_owned(), value],
        })
    };
    match key {
        "status" => {
            let has_clients = hub.servers().iter().any(|s| s.clients() > 0);
            reply("status", if has_clients { "1" } else { "0" }.to_owned())
        }
        "servers" => reply("servers", servers_value(hub)),
        "shutdown" | "offline" if value.starts_with("fin") => {
            server.stop_accepting();
            reply(key, "finack".to_owned())
        }
        "echo" => reply("echo", value.to_owned()),
        _ => None,
    }
}

/// `<ticks>:<serverId1>;<serverId2>`: the time and the distinct app servers of the hub.
fn servers_value(hub: &Hub) -> String {
    let mut ids: Vec<String> = hub
        .servers()
        .iter()
        .filter(|s| s.kind().carries_clients())
        .map(|s| s.server_id().to_string())
        .collect();
    ids.sort();
    ids.dedup();
    let ticks = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() / 100)
        + UNIX_EPOCH_TICKS;
    format!("{ticks}:{}", ids.join(";"))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::hub::{ServerIdentity, ServerKind};

    fn ping(messages: &[&str]) -> Ping {
        Ping {
            messages: messages.iter().map(|m| (*m).to_owned()).collect(),
        }
    }

    fn setup() -> (Hub, Arc<ServerConnection>) {
        let hub = Hub::new(Arc::from("hub"));
        let identity = ServerIdentity {
            id: Arc::from("cid"),
            server_id: Arc::from("server-1"),
            hub: Arc::from("hub"),
            kind: ServerKind::Default,
            stateful_reconnects: false,
        };
        let (server, outbox) =
            ServerConnection::new(identity, 4, &CancellationToken::new(), Arc::default());
        drop(outbox);
        hub.add_server(server.clone());
        (hub, server)
    }

    #[test]
    fn answers_status_servers_echo_and_shutdown() {
        let (hub, server) = setup();
        assert_eq!(
            answer(&ping(&["status", "1"]), &hub, &server)
                .unwrap()
                .messages,
            ["status", "0"]
        );
        server.bind_client();
        assert_eq!(
            answer(&ping(&["status", "1"]), &hub, &server)
                .unwrap()
                .messages,
            ["status", "1"]
        );
        let servers = answer(&ping(&["servers", ""]), &hub, &server).unwrap();
        assert!(servers.messages[1].ends_with(":server-1"), "{servers:?}");
        assert_eq!(
            answer(&ping(&["echo", "x"]), &hub, &server)
                .unwrap()
                .messages,
            ["echo", "x"]
        );
        assert!(server.takes_clients());
        assert_eq!(
            answer(&ping(&["shutdown", "fin:0"]), &hub, &server)
                .unwrap()
                .messages,
            ["shutdown", "finack"]
        );
        assert!(!server.takes_clients());
    }

    #[test]
    fn keep_alives_and_bare_pings_need_no_answer() {
        let (hub, server) = setup();
        assert!(answer(&ping(&[]), &hub, &server).is_none());
        let keep_alive = ping(&["#clientInHub", "0", "#client", "0"]);
        assert!(answer(&keep_alive, &hub, &server).is_none());
    }
}
