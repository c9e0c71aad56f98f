//! In a cluster, what an app server's message must do beyond this node. `dispatch` does each
//! message's local part at once, exactly as a single node does; the rest goes to the server
//! connection's forwarder as a [`Remote`]. The forwarder does them one at a time, in the order
//! the messages came (a join asked of another node is done before a later group send is
//! published), and sends each Ack once the whole cluster did its part, as REST answers only
//! then. Its queue is bounded: when it is full the connection stops reading the app server
//! (and keeps writing to it) until there is room.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::dispatch::{acknowledgement, found, member_page, not_connected, service_mapping};
use crate::cluster::{AppliedUserGroup, Cluster, ClusterError, ClusterMetrics, Request};
use crate::hub::{Audience, Hub, ServerHandle};
use crate::protocol::Protocol;
use crate::protocol::service::{
    AckStatus, ClientInvocation, ErrorCompletion, GroupMember, GroupMemberQuery, ServiceMessage,
};

/// Messages whose cluster part may wait for the forwarder.
const QUEUE: usize = 256;

/// Where a server connection's [`Remote`] parts go.
pub(super) type Forwarder = mpsc::Sender<Remote>;

/// The part of one app-server message that the other nodes do, or that answers only once
/// they did.
#[derive(Debug)]
pub(super) enum Remote {
    /// An Ack this node could answer alone, sent in order after the parts before it.
    Ack {
        /// The message's ack id.
        ack: i32,
        /// The answer.
        status: AckStatus,
    },
    /// Deliver to the other nodes' connections of `to`.
    Send {
        /// Who receives it.
        to: Audience,
        /// Connection ids left out.
        excluded: Vec<String>,
        /// Users whose connections are left out.
        excluded_users: Vec<String>,
        /// The app server's frames, per protocol.
        frames: Vec<(Protocol, Bytes)>,
    },
    /// Deliver to each of these connections, which this node does not hold.
    Connections {
        /// The connection ids.
        ids: Vec<String>,
        /// The app server's frames, per protocol.
        frames: Vec<(Protocol, Bytes)>,
    },
    /// A group change of one connection.
    ConnectionGroup {
        /// The connection id.
        connection: String,
        /// Whether this node holds the connection and made the change already.
        here: bool,
        /// What to ask of the node that holds it otherwise.
        request: Request,
        /// The ack id, when the app server waits for one.
        ack: Option<i32>,
    },
    /// A user-group change applied here, for Redis and the other nodes.
    UserGroup {
        /// The change.
        applied: AppliedUserGroup,
        /// The ack id, when the app server waits for one.
        ack: Option<i32>,
    },
    /// An existence check this node's own connections answered "no" to.
    Check {
        /// What is asked.
        question: Question,
        /// The ack id.
        ack: i32,
    },
    /// Close one connection this node does not hold.
    CloseConnection {
        /// The connection id.
        connection: String,
        /// The Close message's error.
        reason: Option<String>,
        /// The ack id, when the app server waits for one.
        ack: Option<i32>,
    },
    /// Close the other nodes' connections of `to` but the excluded ones.
    Close {
        /// Whose connections close.
        to: Audience,
        /// Connection ids left open.
        excluded: Vec<String>,
        /// The Close message's error.
        reason: Option<String>,
        /// The ack id.
        ack: i32,
    },
    /// A client invocation for a client this node does not hold.
    ClientInvocation(Box<ClientInvocation>),
    /// One page of a group's members, of every node.
    Members {
        /// The query.
        query: GroupMemberQuery,
        /// This node's members after the query's token, sorted by id.
        here: Vec<GroupMember>,
    },
}

/// An existence check.
#[derive(Debug)]
pub(super) enum Question {
    /// Whether the connection is connected.
    Connection(String),
    /// Whether the group has a connection.
    Group(String),
    /// Whether the user has a connection.
    User(String),
    /// Whether a connection of the user is in the group.
    UserInGroup {
        /// The user.
        user: String,
        /// The group.
        group: String,
    },
}

/// Starts the forwarder of one server connection; it ends once the returned sender is dropped
/// and what was queued is done.
pub(super) fn start(
    tasks: &tokio_util::task::TaskTracker,
    cluster: Arc<Cluster>,
    hub: Arc<Hub>,
    server: ServerHandle,
) -> Forwarder {
    let (sender, mut parts) = mpsc::channel(QUEUE);
    let forwarder = Across {
        cluster,
        hub,
        server,
        failed_sends: AtomicU64::new(0),
    };
    tasks.spawn(async move {
        while let Some(part) = parts.recv().await {
            forwarder.run(part).await;
        }
    });
    sender
}

/// What the forwarder works with.
struct Across {
    cluster: Arc<Cluster>,
    hub: Arc<Hub>,
    server: ServerHandle,
    /// Sends in a row that did not reach the other nodes, so only the first is logged.
    failed_sends: AtomicU64,
}

impl Across {
    async fn run(&self, part: Remote) {
        let (cluster, hub) = (&*self.cluster, self.hub.name());
        match part {
            Remote::Ack { ack, status } => self.ack(ack, Ok(status), None),
            Remote::Send {
                to,
                excluded,
                excluded_users,
                frames,
            } => {
                let sent = match self.attached() {
                    Ok(()) => {
                        cluster
                            .send(hub, to, excluded, excluded_users, frames)
                            .await
                    }
                    Err(err) => Err(err),
                };
                self.sent(sent);
            }
            Remote::Connections { ids, frames } => {
                for id in ids {
                    let sent = match self.attached() {
                        Ok(()) => {
                            let to = Audience::Connection(id);
                            cluster
                                .send(hub, to, Vec::new(), Vec::new(), frames.clone())
                                .await
                        }
                        Err(err) => Err(err),
                    };
                    self.sent(sent);
                }
            }
            Remote::ConnectionGroup {
                connection,
                here,
                request,
                ack,
            } => {
                let done = cluster
                    .change_connection(hub, &connection, here, || request)
                    .await;
                self.answer(ack, done.map(found));
            }
            Remote::UserGroup { applied, ack } => {
                let done = cluster.share_user_group(applied).await;
                self.answer(ack, done.map(|()| AckStatus::Ok));
            }
            Remote::Check { question, ack } => {
                let exists = match question {
                    Question::Connection(id) => cluster
                        .locate_connection(hub, &id)
                        .await
                        .map(|node| node.is_some()),
                    Question::Group(group) => cluster.group_exists(hub, &group).await,
                    Question::User(user) => cluster.user_exists(hub, &user).await,
                    Question::UserInGroup { user, group } => {
                        cluster.user_connection_in_group(hub, &user, &group).await
                    }
                };
                self.ack(ack, exists.map(found), None);
            }
            Remote::CloseConnection {
                connection,
                reason,
                ack,
            } => {
                let closed = cluster.close_connection(hub, &connection, reason).await;
                self.answer(ack, closed.map(found));
            }
            Remote::Close {
                to,
                excluded,
                reason,
                ack,
            } => {
                let closed = cluster.close(hub, to, excluded, reason).await;
                self.ack(ack, closed.map(|()| AckStatus::Ok), None);
            }
            Remote::ClientInvocation(invocation) => {
                match cluster.route_client_invocation(hub, &invocation).await {
                    Ok(Some(true)) => {
                        let mapping =
                            service_mapping(invocation.invocation_id, invocation.connection_id);
                        self.server
                            .send_message(&ServiceMessage::ServiceMapping(mapping));
                    }
                    Ok(Some(false)) => {}
                    Ok(None) => {
                        let error = not_connected(*invocation);
                        self.server
                            .send_message(&ServiceMessage::ErrorCompletion(error));
                    }
                    Err(err) => {
                        let error = ErrorCompletion {
                            error: Some(err.explained()),
                            ..not_connected(*invocation)
                        };
                        self.server
                            .send_message(&ServiceMessage::ErrorCompletion(error));
                    }
                }
            }
            Remote::Members { query, mut here } => {
                let after = query
                    .continuation_token
                    .as_deref()
                    .filter(|t| !t.is_empty());
                match cluster.group_members(hub, &query.group, after).await {
                    Ok(elsewhere) => {
                        here.extend(elsewhere.into_iter().map(|(connection_id, user_id)| {
                            GroupMember {
                                connection_id,
                                user_id,
                            }
                        }));
                        here.sort_by(|a, b| a.connection_id.cmp(&b.connection_id));
                        let page = member_page(&query, here);
                        self.ack(query.ack_id, Ok(AckStatus::Ok), Some(page.encode()));
                    }
                    Err(err) => self.ack(query.ack_id, Err(err), None),
                }
            }
        }
    }

    /// Whether sends can reach the other nodes now. A node out of the cluster does not wait
    /// for Redis on each message: the app server's messages would queue behind the waits and
    /// hold up the delivery to this node's own connections too.
    fn attached(&self) -> Result<(), ClusterError> {
        if self.cluster.is_healthy() {
            Ok(())
        } else {
            Err(ClusterError::Detached)
        }
    }

    /// Counts a send that did not reach the other nodes; logs the first of a run and the end
    /// of it, not each one (an app server may send thousands a second).
    fn sent(&self, outcome: Result<(), ClusterError>) {
        let failed = self.failed_sends.load(Ordering::Relaxed);
        match outcome {
            Ok(()) if failed > 0 => {
                tracing::info!(
                    server_connection = %self.server.id(),
                    failed,
                    "cluster: this app server's sends reach the other nodes again"
                );
                self.failed_sends.store(0, Ordering::Relaxed);
            }
            Ok(()) => {}
            Err(err) => {
                ClusterMetrics::count(&self.cluster.metrics().app_server_sends_failed);
                if failed == 0 {
                    tracing::warn!(
                        server_connection = %self.server.id(),
                        %err,
                        "cluster: this app server's sends reach this node's connections only"
                    );
                }
                self.failed_sends.store(failed + 1, Ordering::Relaxed);
            }
        }
    }

    /// Acks `ack` when the app server waits for one; a failure it does not wait for is logged.
    fn answer(&self, ack: Option<i32>, outcome: Result<AckStatus, ClusterError>) {
        match (ack, outcome) {
            (Some(ack), outcome) => self.ack(ack, outcome, None),
            (None, Ok(_)) => {}
            (None, Err(err)) => tracing::warn!(
                server_connection = %self.server.id(),
                %err,
                "cluster: an app server's change did not reach the other nodes"
            ),
        }
    }

    /// Sends the Ack: a failure of the cluster is an InternalServerError saying why.
    fn ack(&self, ack: i32, outcome: Result<AckStatus, ClusterError>, payload: Option<Bytes>) {
        let (status, message) = match outcome {
            Ok(status) => (status, String::new()),
            Err(err) => (AckStatus::InternalServerError, err.explained()),
        };
        let ack = acknowledgement(ack, status, message, payload);
        self.server.send_message(&ServiceMessage::Ack(ack));
    }
}
