//! Stateful reconnect bookkeeping (HubProtocol.md "Stateful Reconnect"): numbering the
//! trackable messages (types 1 to 5) each way, keeping sent ones until the client acknowledges
//! them, dropping inbound duplicates after a replay, and the Ack/Sequence values to send.

use std::collections::VecDeque;

use bytes::Bytes;

/// Bytes of unacknowledged messages kept before the sender waits for Acks (ASP.NET's and the
/// JS client's `StatefulReconnectBufferSize`).
pub(super) const BUFFER_LIMIT: usize = 100_000;

/// Why the client's Sequence message cannot be honoured.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct SequenceError;

impl std::fmt::Display for SequenceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sequence ID greater than amount of messages we've received.")
    }
}

/// Both directions of one stateful connection.
#[derive(Debug, Default)]
pub(super) struct ReconnectState {
    /// Messages sent and not yet acknowledged: (sequence id, frame).
    unacked: VecDeque<(u64, Bytes)>,
    unacked_bytes: usize,
    total_sent: u64,
    /// Id the next inbound trackable message implicitly carries.
    next_inbound: u64,
    /// Highest inbound id processed.
    processed: u64,
    /// Highest processed id already acknowledged to the client.
    acked_to_client: u64,
    /// After a reconnect, inbound messages are dropped until the client's Sequence arrives.
    awaiting_sequence: bool,
}

impl ReconnectState {
    /// A fresh state: nothing sent, nothing received.
    pub(super) fn new() -> Self {
        ReconnectState {
            next_inbound: 1,
            ..Default::default()
        }
    }

    /// Records a trackable frame as sent.
    pub(super) fn sent(&mut self, frame: Bytes) {
        self.total_sent += 1;
        self.unacked_bytes += frame.len();
        self.unacked.push_back((self.total_sent, frame));
    }

    /// Whether the unacknowledged buffer is full (stop sending until an Ack arrives).
    pub(super) fn is_full(&self) -> bool {
        self.unacked_bytes >= BUFFER_LIMIT
    }

    /// The client acknowledged everything up to `sequence_id`.
    pub(super) fn ack(&mut self, sequence_id: u64) {
        while let Some((id, frame)) = self.unacked.front() {
            if *id > sequence_id {
                break;
            }
            self.unacked_bytes -= frame.len();
            self.unacked.pop_front();
        }
    }

    /// Decides whether an inbound trackable message is new (true) or a replayed duplicate
    /// (false). Messages arriving before the client's Sequence after a reconnect are dropped.
    pub(super) fn accept_inbound(&mut self) -> bool {
        if self.awaiting_sequence {
            return false;
        }
        let id = self.next_inbound;
        self.next_inbound += 1;
        if id <= self.processed {
            return false;
        }
        self.processed = id;
        true
    }

    /// The client's Sequence: its next message carries `sequence_id`.
    pub(super) fn client_sequence(&mut self, sequence_id: u64) -> Result<(), SequenceError> {
        if sequence_id > self.processed + 1 {
            return Err(SequenceError);
        }
        self.next_inbound = sequence_id;
        self.awaiting_sequence = false;
        Ok(())
    }

    /// The Ack to send, if the client has not been told about everything processed yet.
    pub(super) fn ack_due(&mut self) -> Option<u64> {
        (self.processed > self.acked_to_client).then(|| {
            self.acked_to_client = self.processed;
            self.processed
        })
    }

    /// Starts a replay after the transport came back: returns the Sequence id to send and the
    /// frames to resend, and drops inbound messages until the client's Sequence.
    pub(super) fn replay(&mut self) -> (u64, Vec<Bytes>) {
        self.awaiting_sequence = true;
        let first = self
            .unacked
            .front()
            .map_or(self.total_sent + 1, |(id, _)| *id);
        (first, self.unacked.iter().map(|(_, f)| f.clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_release_the_buffer_and_replay_starts_at_the_first_unacked() {
        let mut state = ReconnectState::new();
        for text in ["a", "b", "c"] {
            state.sent(Bytes::from(text));
        }
        state.ack(1);
        let (first, frames) = state.replay();
        assert_eq!(first, 2);
        assert_eq!(frames, vec![Bytes::from("b"), Bytes::from("c")]);
        state.ack(3);
        assert_eq!(state.replay(), (4, vec![]));
    }

    #[test]
    fn the_buffer_limit_applies_back_pressure() {
        let mut state = ReconnectState::new();
        state.sent(Bytes::from(vec![0; BUFFER_LIMIT - 1]));
        assert!(!state.is_full());
        state.sent(Bytes::from_static(b"x"));
        assert!(state.is_full());
        state.ack(2);
        assert!(!state.is_full());
    }

    #[test]
    fn duplicates_after_a_replay_are_dropped() {
        let mut state = ReconnectState::new();
        assert!(state.accept_inbound()); // 1
        assert!(state.accept_inbound()); // 2
        assert_eq!(state.ack_due(), Some(2));
        assert_eq!(state.ack_due(), None);
        let _ = state.replay();
        assert!(
            !state.accept_inbound(),
            "dropped until the client's Sequence"
        );
        state.client_sequence(2).unwrap();
        assert!(!state.accept_inbound(), "2 again is a duplicate");
        assert!(state.accept_inbound(), "3 is new");
        assert_eq!(state.client_sequence(9), Err(SequenceError));
    }
}
