//! Server-to-client invocations awaiting the client's Completion (client results, REST
//! `:invoke`). Ids are `s1`, `s2`, … as ASP.NET Core numbers them, so they never collide with
//! the ids a client picks for its own invocations and streams.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::oneshot;

use crate::protocol::CompletionResult;

/// The answer a waiting caller receives: the client's result, or why there is none.
pub type InvocationOutcome = Result<CompletionResult, InvocationFailed>;

/// How a server-to-client invocation ended, in a form that can travel between nodes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum InvokeAnswer {
    /// The client's result (`null` for a void one).
    Value(serde_json::Value),
    /// The client answered with an error.
    ClientError(String),
    /// No answer came: why.
    Failed(String),
    /// No answer within the timeout.
    TimedOut,
}

impl InvokeAnswer {
    /// The answer for what the wait produced: an outcome, the sender dropped (`Err`), or
    /// nothing before the timeout (`None`).
    pub fn from_wait(waited: Option<Result<InvocationOutcome, oneshot::error::RecvError>>) -> Self {
        match waited {
            Some(Ok(Ok(CompletionResult::Value(value)))) => InvokeAnswer::Value(value),
            Some(Ok(Ok(CompletionResult::Void))) => InvokeAnswer::Value(serde_json::Value::Null),
            Some(Ok(Ok(CompletionResult::Error(error)))) => InvokeAnswer::ClientError(error),
            Some(Ok(Err(reason))) => InvokeAnswer::Failed(reason.to_string()),
            Some(Err(_)) => InvokeAnswer::Failed(InvocationFailed::ConnectionClosed.to_string()),
            None => InvokeAnswer::TimedOut,
        }
    }
}

/// Why an invocation got no Completion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvocationFailed {
    /// The connection closed before the client answered.
    #[error("the connection closed before the client answered")]
    ConnectionClosed,
    /// The connection could not take the message (closed or its queue is full).
    #[error(
        "the connection could not take the invocation (it is closing or its send queue is full)"
    )]
    NotDelivered,
}

/// Pending invocations of one connection.
#[derive(Debug, Default)]
pub(super) struct PendingInvocations {
    next_id: AtomicU64,
    waiting: Mutex<HashMap<String, oneshot::Sender<InvocationOutcome>>>,
    closed: std::sync::atomic::AtomicBool,
}

impl PendingInvocations {
    /// Reserves a new id and the receiver its Completion will reach.
    pub(super) fn register(&self) -> (String, oneshot::Receiver<InvocationOutcome>) {
        let id = format!("s{}", self.next_id.fetch_add(1, Ordering::Relaxed) + 1);
        let (tx, rx) = oneshot::channel();
        if self.closed.load(Ordering::Acquire) {
            let _ = tx.send(Err(InvocationFailed::ConnectionClosed));
        } else {
            self.lock().insert(id.clone(), tx);
        }
        (id, rx)
    }

    /// Resolves the invocation `id`; returns false when nothing waited for it.
    pub(super) fn resolve(&self, id: &str, outcome: InvocationOutcome) -> bool {
        let waiter = self.lock().remove(id);
        match waiter {
            Some(tx) => {
                let _ = tx.send(outcome);
                true
            }
            None => false,
        }
    }

    /// Forgets an invocation whose caller stopped waiting.
    pub(super) fn forget(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Fails every pending invocation: the connection is gone.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let waiting: Vec<_> = self.lock().drain().collect();
        for (_, tx) in waiting {
            let _ = tx.send(Err(InvocationFailed::ConnectionClosed));
        }
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<InvocationOutcome>>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}
