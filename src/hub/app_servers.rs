//! A hub's side of default mode: the server connections it routes clients to, the binding of
//! each client to one of them, and the client invocations (client results) in flight between
//! app servers. Like the rest of the registry it never awaits and copies handles out before
//! acting on them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::connection::ConnectionHandle;
use super::members::Hub;
use super::servers::{NoServer, ServerHandle, ServerSnapshot, Stickiness};
use crate::protocol::Close;
use crate::protocol::service::{
    ClientCompletion, ClientInvocation, ErrorCompletion, Extensions, ServiceMessage,
};

/// A client invocation an app server sent, remembered until the client answers or goes away.
#[derive(Debug, Clone)]
pub struct RoutedInvocation {
    /// The client the invocation went to.
    pub connection_id: Arc<str>,
    /// The app server that asked (where the result and errors go).
    pub caller_server_id: Arc<str>,
    /// The server connection the invocation arrived on.
    pub caller: ServerHandle,
}

/// Client invocations in flight, by invocation id.
#[derive(Debug, Default)]
pub(super) struct ClientInvocations {
    pending: Mutex<HashMap<String, RoutedInvocation>>,
}

impl ClientInvocations {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, RoutedInvocation>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Hub {
    /// Registers a server connection of this hub.
    pub fn add_server(&self, server: ServerHandle) {
        self.servers.add(server);
    }

    /// Unregisters a server connection and closes every client bound to it, allowing them to
    /// reconnect (they will be routed to the remaining connections).
    pub fn remove_server(&self, server_id: &str, reason: &str) {
        let Some(server) = self.servers.remove(server_id) else {
            return;
        };
        let mut bound: Vec<ConnectionHandle> = self
            .read()
            .connections
            .values()
            .filter(|c| c.app_server().is_some_and(|s| &**s.id() == server_id))
            .cloned()
            .collect();
        bound.extend(server.abandon_opening());
        for connection in bound {
            connection.close(Close {
                error: Some(reason.to_owned()),
                allow_reconnect: true,
            });
        }
    }

    /// The server connection a new client should be bound to.
    pub fn pick_server(&self, stickiness: Stickiness<'_>) -> Result<ServerHandle, NoServer> {
        self.servers.pick(stickiness)
    }

    /// Whether a connection that carries clients (Default or OnDemand) is connected: the hub
    /// is then in default mode.
    pub fn has_app_server(&self) -> bool {
        self.servers.has_client_carrier()
    }

    /// Every server connection of the hub.
    pub fn servers(&self) -> Vec<ServerHandle> {
        self.servers.all()
    }

    /// A connection of app server `server_id`, preferring `preferred`.
    pub fn server_of(
        &self,
        server_id: &str,
        preferred: Option<&ServerHandle>,
    ) -> Option<ServerHandle> {
        self.servers.of_server(server_id, preferred)
    }

    /// The server connections as the dashboard shows them, by id.
    pub fn server_snapshots(&self) -> Vec<ServerSnapshot> {
        let mut servers: Vec<ServerSnapshot> = self
            .servers
            .all()
            .iter()
            .map(|s| ServerSnapshot {
                id: s.id().clone(),
                server_id: s.server_id().clone(),
                kind: s.kind().name(),
                clients: s.clients(),
                received: s.received(),
                sent: s.sent(),
            })
            .collect();
        servers.sort_by(|a, b| a.id.cmp(&b.id));
        servers
    }

    /// Remembers a client invocation until the client answers.
    fn track_client_invocation(&self, invocation_id: String, route: RoutedInvocation) {
        self.invocations.lock().insert(invocation_id, route);
    }

    /// Routes an app server's client invocation to its client on this node: remembers the
    /// server `caller` gives as where the answer goes, delivers the payloads and, when another
    /// app server owns the client, hands that one the invocation too (its router reads the
    /// client's Completion and sends it back here). Whether another app server owns the
    /// client (the caller is then told so with a ServiceMapping); the invocation back when
    /// the client is not on this node, and then `caller` is not called (a stand-in for a
    /// caller on another node is only made for a client that is here).
    pub fn route_client_invocation(
        &self,
        invocation: ClientInvocation,
        caller: impl FnOnce() -> ServerHandle,
    ) -> Result<bool, Box<ClientInvocation>> {
        let Some(connection) = self.connection(&invocation.connection_id) else {
            return Err(Box::new(invocation));
        };
        self.track_client_invocation(
            invocation.invocation_id.clone(),
            RoutedInvocation {
                connection_id: connection.id().clone(),
                caller_server_id: Arc::from(invocation.caller_server_id.as_str()),
                caller: caller(),
            },
        );
        super::deliver(
            std::slice::from_ref(&connection),
            &invocation.payloads.pre_framed(),
        );
        let owner = connection
            .app_server()
            .filter(|owner| **owner.server_id() != *invocation.caller_server_id)
            .cloned();
        let Some(owner) = owner else {
            return Ok(false);
        };
        owner.send_message(&ServiceMessage::ClientInvocation(invocation));
        Ok(true)
    }

    /// Forgets a finished invocation and returns its route.
    pub fn finish_client_invocation(&self, invocation_id: &str) -> Option<RoutedInvocation> {
        self.invocations.lock().remove(invocation_id)
    }

    /// Forgets every invocation in flight to a client that went away and returns them.
    fn abandon_client_invocations(&self, connection_id: &str) -> Vec<(String, RoutedInvocation)> {
        let mut pending = self.invocations.lock();
        let ids: Vec<String> = pending
            .iter()
            .filter(|(_, route)| &*route.connection_id == connection_id)
            .map(|(id, _)| id.clone())
            .collect();
        ids.into_iter()
            .filter_map(|id| pending.remove(&id).map(|route| (id, route)))
            .collect()
    }

    /// Fails every invocation in flight to a client that went away: each caller gets an
    /// ErrorCompletion.
    pub fn fail_client_invocations(&self, connection_id: &str) {
        for (invocation_id, route) in self.abandon_client_invocations(connection_id) {
            let failed = ErrorCompletion {
                invocation_id,
                connection_id: connection_id.to_owned(),
                caller_server_id: route.caller_server_id.to_string(),
                error: Some("The client connection closed before it answered.".to_owned()),
                ext: Extensions::default(),
            };
            self.caller_of(&route)
                .send_message(&ServiceMessage::ErrorCompletion(failed));
        }
    }

    /// Hands a client's Completion (`framed` in its protocol) to the app server or Management
    /// SDK connection whose ClientInvocation it answers, when the service serves that client
    /// itself (no app server of its own routes it). False when no such invocation is in flight.
    pub fn answer_client_invocation(
        &self,
        client: &ConnectionHandle,
        invocation_id: &str,
        framed: bytes::Bytes,
    ) -> bool {
        let Some(route) = self.finish_client_invocation(invocation_id) else {
            return false;
        };
        let completion = ClientCompletion {
            invocation_id: invocation_id.to_owned(),
            connection_id: client.id().to_string(),
            caller_server_id: route.caller_server_id.to_string(),
            protocol: Some(client.protocol().name().to_owned()),
            payload: framed,
            ext: Extensions::default(),
        };
        self.caller_of(&route)
            .send_message(&ServiceMessage::ClientCompletion(completion));
        true
    }

    /// The caller's connection: the one the invocation came on, or another of the same app
    /// server when that one is gone.
    fn caller_of(&self, route: &RoutedInvocation) -> ServerHandle {
        self.server_of(&route.caller_server_id, Some(&route.caller))
            .unwrap_or_else(|| Arc::clone(&route.caller))
    }
}
