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
//!
//! A client's queue can also be tapped into its hub's [`BroadcastLog`]: its writer then takes
//! broadcasts from the log and everything else from the queue, in the order they were sent
//! (each queued frame carries the log position it was queued at).

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use futures_util::task::AtomicWaker;

use super::broadcast_log::{BroadcastLog, Read, Registration};
use crate::protocol::{Frame, Protocol};

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
    /// The hub's broadcast log this queue's writer reads too, once tapped.
    tap: OnceLock<Tap>,
    /// The writer's position in the log: where it starts, then the next broadcast it reads.
    /// Only the writer moves it; the hub's sweep looks at it.
    cursor: AtomicU64,
}

/// What a writer needs to read its hub's broadcast log.
struct Tap {
    log: Arc<BroadcastLog>,
    protocol: Protocol,
    connection: Arc<str>,
    /// Called once if the writer finds a broadcast it had not read dropped from the log.
    on_lost: Box<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for Tap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tap")
            .field("protocol", &self.protocol)
            .field("connection", &self.connection)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct State<T> {
    /// Each frame with the log position it was queued at: the writer reads the log up to
    /// there first.
    frames: VecDeque<(u64, T)>,
    writer_gone: bool,
}

impl<T> Shared<T> {
    // Nothing below can panic while the lock is held, so a poisoned lock is taken over.
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the oldest frame unless it was queued after log position `cursor` (`None`: any
    /// frame); gives back the memory of a drained burst.
    fn pop_before(&self, cursor: Option<u64>) -> Popped<T> {
        let mut state = self.lock();
        let Some((position, _)) = state.frames.front() else {
            return Popped::Empty;
        };
        if cursor.is_some_and(|cursor| cursor < *position) {
            return Popped::After;
        }
        let Some((_, frame)) = state.frames.pop_front() else {
            return Popped::Empty;
        };
        if state.frames.is_empty() && state.frames.capacity() > SHRINK_ABOVE {
            state.frames.shrink_to(IDLE_SLOTS);
        }
        Popped::Frame(frame)
    }
}

/// What [`Shared::pop_before`] found.
enum Popped<T> {
    Frame(T),
    /// The oldest frame was queued after the log position asked about.
    After,
    Empty,
}

impl<T> Popped<T> {
    fn frame(self) -> Option<T> {
        match self {
            Popped::Frame(frame) => Some(frame),
            Popped::After | Popped::Empty => None,
        }
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
    /// What the log's last registration returned (see [`BroadcastLog::register`]).
    registered: Registration,
    /// Set once a broadcast was lost: the log is not read any further.
    lost: bool,
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
        tap: OnceLock::new(),
        cursor: AtomicU64::new(0),
    });
    (
        FrameSender {
            shared: shared.clone(),
        },
        FrameReceiver {
            shared,
            registered: Registration::NONE,
            lost: false,
        },
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
            let position = self.shared.tap.get().map_or(0, |tap| tap.log.head());
            state.frames.push_back((position, frame));
        }
        self.shared.writer.wake();
        Ok(())
    }

    /// Makes the writer read `log` too, from its current head on, as the connection `connection`
    /// speaking `protocol`; `on_lost` runs if the writer falls so far behind that a broadcast
    /// it had not read is dropped. Call it under the lock that orders the hub's broadcasts
    /// with its membership, so that the connection gets exactly the broadcasts sent once it is
    /// a member. A queue is tapped once; later taps are ignored.
    pub(super) fn tap(
        &self,
        log: Arc<BroadcastLog>,
        protocol: Protocol,
        connection: Arc<str>,
        on_lost: Box<dyn Fn() + Send + Sync>,
    ) {
        if self.shared.tap.get().is_some() {
            return;
        }
        // The start is in place before the tap is seen: the writer reads it from there.
        self.shared.cursor.store(log.head(), Ordering::Relaxed);
        log.join(protocol, self.shared.capacity);
        let tap = Tap {
            log,
            protocol,
            connection,
            on_lost,
        };
        let _ = self.shared.tap.set(tap);
        // A writer already waiting learns of the log and registers with it.
        self.shared.writer.wake();
    }

    /// The writer's position in its hub's broadcast log, once tapped.
    pub(super) fn log_cursor(&self) -> Option<u64> {
        self.shared.tap.get()?;
        Some(self.shared.cursor.load(Ordering::Relaxed))
    }

    /// How many frames the queue holds at most.
    pub(super) fn capacity(&self) -> usize {
        self.shared.capacity
    }
}

impl<T: From<Frame>> FrameReceiver<T> {
    /// The next frame, waiting for one. Cancel-safe: a frame is only taken when returned.
    pub async fn recv(&mut self) -> T {
        poll_fn(|cx| {
            if let Some(frame) = self.next() {
                return Poll::Ready(frame);
            }
            // Registered before looking again, so a push between the two looks wakes us.
            self.shared.writer.register(cx.waker());
            if let Some(tap) = self.shared.tap.get()
                && !self.lost
            {
                self.registered = tap.log.register(cx.waker(), self.registered);
            }
            match self.next() {
                Some(frame) => Poll::Ready(frame),
                None => Poll::Pending,
            }
        })
        .await
    }

    /// The next frame if one is queued.
    pub fn try_recv(&mut self) -> Result<T, QueueEmpty> {
        self.next().ok_or(QueueEmpty)
    }

    /// The next frame in send order: broadcasts from the log up to the oldest queued frame's
    /// position, then that frame.
    fn next(&mut self) -> Option<T> {
        let shared = &*self.shared;
        let Some(tap) = shared.tap.get() else {
            return shared.pop_before(None).frame();
        };
        loop {
            if self.lost {
                return shared.pop_before(None).frame();
            }
            let cursor = shared.cursor.load(Ordering::Relaxed);
            let queued_after = match shared.pop_before(Some(cursor)) {
                Popped::Frame(frame) => return Some(frame),
                Popped::After => true,
                Popped::Empty => false,
            };
            match tap.log.read(cursor, tap.protocol, &tap.connection) {
                Read::Entry(frame) => {
                    shared.cursor.store(cursor + 1, Ordering::Relaxed);
                    if let Some(frame) = frame {
                        return Some(T::from(frame));
                    }
                }
                Read::Lagged => {
                    self.lost = true;
                    (tap.on_lost)();
                }
                // A frame is only queued at a position the log has reached, so this does not
                // happen; the frame is not held back for it.
                Read::Caught if queued_after => return shared.pop_before(None).frame(),
                Read::Caught => return None,
            }
        }
    }
}

impl<T> Drop for FrameReceiver<T> {
    fn drop(&mut self) {
        {
            let mut state = self.shared.lock();
            state.writer_gone = true;
            state.frames = VecDeque::new();
        }
        if let Some(tap) = self.shared.tap.get() {
            tap.log.unregister(self.registered);
        }
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

    /// A JSON broadcast of `text`, as the log holds it.
    struct Text(&'static str);

    impl crate::protocol::Frames for Text {
        fn frame_for(&self, protocol: Protocol) -> Option<Frame> {
            (protocol == Protocol::Json).then(|| Frame::text(Bytes::from_static(self.0.as_bytes())))
        }
    }

    fn tapped(
        log: &Arc<BroadcastLog>,
        capacity: usize,
    ) -> (FrameSender<Frame>, FrameReceiver<Frame>, Arc<AtomicU64>) {
        let (tx, rx) = frame_queue(capacity);
        let lost = Arc::new(AtomicU64::new(0));
        let counted = lost.clone();
        tx.tap(
            log.clone(),
            Protocol::Json,
            Arc::from("me"),
            Box::new(move || {
                counted.fetch_add(1, Ordering::Relaxed);
            }),
        );
        (tx, rx, lost)
    }

    fn text_of(frame: Frame) -> String {
        String::from_utf8(frame.into_bytes().to_vec()).unwrap()
    }

    #[test]
    fn broadcasts_and_queued_frames_come_out_in_the_order_they_were_sent() {
        let log = Arc::new(BroadcastLog::default());
        log.append(&Text("before"), &[]);
        let (tx, mut rx, _) = tapped(&log, 16);
        log.append(&Text("b1"), &[]);
        tx.try_send(Frame::text(Bytes::from("d1"))).unwrap();
        tx.try_send(Frame::text(Bytes::from("d2"))).unwrap();
        log.append(&Text("b2"), &["someone else".to_string()]);
        log.append(&Text("not for me"), &["me".to_string()]);
        tx.try_send(Frame::text(Bytes::from("d3"))).unwrap();
        log.append(&Text("b3"), &[]);
        let mut got = Vec::new();
        while let Ok(frame) = rx.try_recv() {
            got.push(text_of(frame));
        }
        assert_eq!(got, ["b1", "d1", "d2", "b2", "d3", "b3"]);
    }

    #[test]
    fn a_reader_that_falls_a_log_behind_is_told_once_and_keeps_its_queued_frames() {
        let log = Arc::new(BroadcastLog::default());
        let (tx, mut rx, lost) = tapped(&log, 2);
        for text in ["a", "b", "c"] {
            log.append(&Text(text), &[]);
        }
        tx.try_send(Frame::text(Bytes::from("queued"))).unwrap();
        assert_eq!(log.oldest(), 1, "the log keeps as many as a queue holds");
        assert_eq!(text_of(rx.try_recv().unwrap()), "queued");
        assert_eq!(rx.try_recv(), Err(QueueEmpty));
        log.append(&Text("d"), &[]);
        assert_eq!(rx.try_recv(), Err(QueueEmpty));
        assert_eq!(lost.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn read_broadcasts_can_be_forgotten_and_the_reader_goes_on() {
        let log = Arc::new(BroadcastLog::default());
        let (tx, mut rx, lost) = tapped(&log, 8);
        log.append(&Text("a"), &[]);
        assert_eq!(text_of(rx.try_recv().unwrap()), "a");
        assert_eq!(tx.log_cursor(), Some(1));
        log.forget_before(1);
        assert_eq!(log.oldest(), 1);
        log.append(&Text("b"), &[]);
        assert_eq!(text_of(rx.try_recv().unwrap()), "b");
        assert_eq!(lost.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_waiting_writer_wakes_for_every_broadcast() {
        let log = Arc::new(BroadcastLog::default());
        let (_tx, mut rx, _) = tapped(&log, 16);
        let waiting = tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..3 {
                got.push(text_of(rx.recv().await));
            }
            got
        });
        for text in ["x", "y", "z"] {
            tokio::task::yield_now().await;
            log.append(&Text(text), &[]);
        }
        assert_eq!(waiting.await.unwrap(), ["x", "y", "z"]);
    }

    #[tokio::test]
    async fn a_writer_waiting_before_its_queue_is_tapped_wakes_for_broadcasts() {
        let log = Arc::new(BroadcastLog::default());
        let (tx, mut rx) = frame_queue::<Frame>(16);
        let waiting = tokio::spawn(async move { text_of(rx.recv().await) });
        tokio::task::yield_now().await;
        tx.tap(
            log.clone(),
            Protocol::Json,
            Arc::from("me"),
            Box::new(|| {}),
        );
        tokio::task::yield_now().await;
        log.append(&Text("late"), &[]);
        assert_eq!(waiting.await.unwrap(), "late");
    }

    #[test]
    fn a_writer_that_goes_away_leaves_no_waker_in_the_log() {
        struct Counted;
        impl std::task::Wake for Counted {
            fn wake(self: Arc<Self>) {}
        }
        let log = Arc::new(BroadcastLog::default());
        let (tx, mut rx, _) = tapped(&log, 4);
        let counted = Arc::new(Counted);
        let waker = std::task::Waker::from(counted.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        let mut recv = Box::pin(rx.recv());
        assert!(recv.as_mut().poll(&mut cx).is_pending());
        drop(recv);
        drop(waker);
        assert!(
            Arc::strong_count(&counted) > 1,
            "registered with the queue and the log"
        );
        drop(rx);
        drop(tx);
        assert_eq!(Arc::strong_count(&counted), 1);
        log.append(&Text("after"), &[]);
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
