//! The bounded queue of framed messages (a client's [`crate::protocol::Frame`]s, an app server's
//! bytes) between the producers that deliver to a connection
//! (REST sends, broadcasts, invocations) and its one writer. A full queue is refused at once
//! (`try_send` semantics: producers never wait); the writer waits for frames asynchronously.
//!
//! Hand-written rather than a `tokio::sync::mpsc` channel because an idle connection must be
//! small: a channel idles at about 1.5 KiB (its cache-padded state and a first block of 32
//! slots), this queue at about a hundred bytes, and it only keeps a few slots once a burst is
//! drained. The writer is woken through an [`AtomicWaker`] (lock-free, as in a channel) rather
//! than a `Notify`, whose waiter list takes a lock on every wait and every wake-up: on the
//! fan-out path that was paid once per recipient.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use futures_util::task::AtomicWaker;

/// How long the writer of a queue may wait for its peer (a client or an app server) to take one
/// write before the connection is given up (ASP.NET Core's `TransportSendTimeout`): a peer that
/// stopped reading must not hold its connection and queue open.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Slots kept when the queue empties after a large burst: enough that steady traffic does not
/// reallocate per message, few enough that idle connections stay small.
const IDLE_SLOTS: usize = 8;
/// A drained queue gives its memory back only when it grew past this many slots. Below it the
/// slots stay: shrinking after every burst of a few dozen frames made each burst grow the queue
/// again, a malloc and a free per burst on two threads (producers and writer), which then
/// contended for the allocator's arena locks (most of the fan-out path's futex calls).
const SHRINK_ABOVE: usize = 64;

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PushError {
    /// The queue holds `capacity` frames: the writer is not keeping up.
    Full,
    /// The writer is gone.
    Closed,
}

/// The queue was empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueEmpty;

#[derive(Debug)]
struct Shared<T> {
    state: Mutex<State<T>>,
    /// The writer's waker while it waits for a frame; every push wakes it.
    writer: AtomicWaker,
    capacity: usize,
}

#[derive(Debug)]
struct State<T> {
    frames: VecDeque<T>,
    writer_gone: bool,
}

impl<T> Shared<T> {
    // Nothing below can panic while the lock is held, so a poisoned lock is taken over.
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the oldest frame; gives back the memory of a drained burst.
    fn pop(&self) -> Option<T> {
        let mut state = self.lock();
        let frame = state.frames.pop_front()?;
        if state.frames.is_empty() && state.frames.capacity() > SHRINK_ABOVE {
            state.frames.shrink_to(IDLE_SLOTS);
        }
        Some(frame)
    }
}

/// The producers' end.
#[derive(Debug)]
pub(super) struct FrameSender<T = Bytes> {
    shared: Arc<Shared<T>>,
}

/// The writer's end.
#[derive(Debug)]
pub struct FrameReceiver<T = Bytes> {
    shared: Arc<Shared<T>>,
}

/// A queue holding at most `capacity` frames (at least one).
pub(super) fn frame_queue<T>(capacity: usize) -> (FrameSender<T>, FrameReceiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            frames: VecDeque::new(),
            writer_gone: false,
        }),
        writer: AtomicWaker::new(),
        capacity: capacity.max(1),
    });
    (
        FrameSender {
            shared: shared.clone(),
        },
        FrameReceiver { shared },
    )
}

impl<T> FrameSender<T> {
    /// Queues a frame without waiting.
    pub(super) fn try_send(&self, frame: T) -> Result<(), PushError> {
        {
            let mut state = self.shared.lock();
            if state.writer_gone {
                return Err(PushError::Closed);
            }
            if state.frames.len() >= self.shared.capacity {
                return Err(PushError::Full);
            }
            state.frames.push_back(frame);
        }
        self.shared.writer.wake();
        Ok(())
    }

    /// How many frames the queue holds at most.
    pub(super) fn capacity(&self) -> usize {
        self.shared.capacity
    }
}

impl<T> FrameReceiver<T> {
    /// The next frame, waiting for one. Cancel-safe: a frame is only taken when returned.
    pub async fn recv(&mut self) -> T {
        let shared = &*self.shared;
        poll_fn(|cx| {
            if let Some(frame) = shared.pop() {
                return Poll::Ready(frame);
            }
            // Registered before looking again, so a push between the two looks wakes us.
            shared.writer.register(cx.waker());
            match shared.pop() {
                Some(frame) => Poll::Ready(frame),
                None => Poll::Pending,
            }
        })
        .await
    }

    /// The next frame if one is queued.
    pub fn try_recv(&mut self) -> Result<T, QueueEmpty> {
        self.shared.pop().ok_or(QueueEmpty)
    }
}

impl<T> Drop for FrameReceiver<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.writer_gone = true;
        state.frames = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_in_order_and_closed_when_the_writer_goes() {
        let (tx, mut rx) = frame_queue(2);
        assert_eq!(tx.try_send(Bytes::from("a")), Ok(()));
        assert_eq!(tx.try_send(Bytes::from("b")), Ok(()));
        assert_eq!(tx.try_send(Bytes::from("c")), Err(PushError::Full));
        assert_eq!(rx.try_recv(), Ok(Bytes::from("a")));
        assert_eq!(tx.try_send(Bytes::from("c")), Ok(()));
        assert_eq!(rx.try_recv(), Ok(Bytes::from("b")));
        assert_eq!(rx.try_recv(), Ok(Bytes::from("c")));
        assert_eq!(rx.try_recv(), Err(QueueEmpty));
        drop(rx);
        assert_eq!(tx.try_send(Bytes::from("d")), Err(PushError::Closed));
    }

    #[tokio::test]
    async fn the_writer_wakes_for_frames_sent_while_it_waits_or_before() {
        let (tx, mut rx) = frame_queue(16);
        tx.try_send(Bytes::from("early")).unwrap();
        assert_eq!(rx.recv().await, Bytes::from("early"));
        let waiting = tokio::spawn(async move { rx.recv().await });
        tokio::task::yield_now().await;
        tx.try_send(Bytes::from("late")).unwrap();
        assert_eq!(waiting.await.unwrap(), Bytes::from("late"));
    }

    #[test]
    fn a_drained_burst_leaves_only_a_few_slots() {
        let (tx, mut rx) = frame_queue(1024);
        for n in 0..500 {
            tx.try_send(Bytes::from(n.to_string())).unwrap();
        }
        while rx.try_recv().is_ok() {}
        assert!(tx.shared.lock().frames.capacity() <= IDLE_SLOTS);
    }

    #[test]
    fn a_drained_small_burst_keeps_its_slots_for_the_next() {
        let (tx, mut rx) = frame_queue(1024);
        for n in 0..20 {
            tx.try_send(Bytes::from(n.to_string())).unwrap();
        }
        while rx.try_recv().is_ok() {}
        let kept = tx.shared.lock().frames.capacity();
        assert!((20..=SHRINK_ABOVE).contains(&kept), "{kept} slots kept");
    }
}
