//! A request body that must arrive in full within a deadline counted from its headers, so
//! that a client sending half a body cannot hold its connection (and a handler) forever.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

/// [`Incoming`] with a deadline for its last byte.
pub(super) struct DeadlineBody {
    body: Incoming,
    deadline: Instant,
    limit: Duration,
    /// Created on the first poll that has to wait, so bodies read at once (and upgrade
    /// requests, which have none) never allocate a timer.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl DeadlineBody {
    pub(super) fn new(body: Incoming, limit: Duration) -> Self {
        DeadlineBody {
            body,
            deadline: Instant::now() + limit,
            limit,
            sleep: None,
        }
    }
}

/// The body did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {} s of its headers", .0.as_secs())]
pub(super) struct BodyTimeout(Duration);

impl Body for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let deadline = self.deadline;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout(self.limit))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
