//! Sequencing of one sequenced stream (a MoldUDP64 session, or an IEX-TP session): an explicit
//! state machine fed with each packet's `(session, first sequence, message count)`.
//!
//! ```text
//!            first packet                  count == END (MoldUDP64 0xFFFF) / end-of-messages
//!  Idle ───────────────────────► Active ───────────────────────────────────────► Ended
//!                                 │  ▲                                             │
//!   seq == next        in order ──┘  │ new session id: SessionChange (reset)       │
//!   seq >  next        gap [next, seq−1] recorded as open, books stale ────────────┘
//!   seq+n <= next      duplicate (or late: messages inside an open gap are taken)
//!   seq < next < seq+n overlap: skip the first next−seq messages
//! ```
//!
//! Messages are numbered implicitly: message *i* of a packet has sequence `first + i`; after a
//! data packet the next expected is `first + count`; heartbeats and end-of-session packets carry
//! the next expected number (a heartbeat ahead of `next` reveals a gap).
//!
//! ## Invariants
//! - `next` only moves forward within a session; every message number below `next` was either
//!   accepted once or is inside an open gap (`gaps`), so no message is ever applied twice.
//! - Open gaps are kept in a fixed array of [`MAX_OPEN_GAPS`] ranges (no allocation). When it is
//!   full the oldest range is forgotten and counted in [`SeqStats::gaps_forgotten`] (its messages
//!   are then treated as duplicates if they arrive).
//! - The stream is *stale* (books unreliable) while any gap is open.
//! - Time never enters here: recovery timeouts belong to the caller, which passes `now`.

/// Open gap ranges remembered per stream.
pub const MAX_OPEN_GAPS: usize = 1024;

/// Counters of one stream. All counts since start (not reset on session change).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SeqStats {
    /// Packets seen (data, heartbeat, end of session).
    pub packets: u64,
    /// Heartbeat packets.
    pub heartbeats: u64,
    /// Messages accepted for processing (in order or late into a gap).
    pub messages: u64,
    /// Gap events (a packet or heartbeat ahead of the next expected number).
    pub gaps: u64,
    /// Messages missing over all gap events.
    pub gap_messages: u64,
    /// Packets all of whose messages had been seen already.
    pub duplicate_packets: u64,
    /// Messages dropped as already seen (whole duplicate packets and overlaps).
    pub duplicate_messages: u64,
    /// Packets that arrived after a later one and filled (part of) an open gap.
    pub out_of_order_packets: u64,
    /// Messages taken late into an open gap.
    pub late_messages: u64,
    /// Session id changes after the first session.
    pub session_changes: u64,
    /// End-of-session indications.
    pub end_of_session: u64,
    /// Data packets received on a session that had ended.
    pub after_end: u64,
    /// Open gap ranges forgotten because [`MAX_OPEN_GAPS`] were open.
    pub gaps_forgotten: u64,
}

/// What a packet was, for the caller's dispatch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketClass {
    /// Every message is new and in order (`skip` leading ones already seen: overlap).
    InOrder {
        /// Messages at the start of the packet to skip.
        skip: u64,
    },
    /// Ahead of the next expected number: a gap `[first, last]` opened; process everything.
    Gap {
        /// First missing sequence number.
        first: u64,
        /// Last missing sequence number.
        last: u64,
    },
    /// Behind: process only messages for which [`Sequencer::take_late`] returns true.
    Late,
    /// Entirely seen before: drop.
    Duplicate,
    /// No messages (heartbeat / end of session), nothing to process.
    Empty,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State<K> {
    Idle,
    Active { session: K, next: u64 },
    Ended { session: K, next: u64 },
}

/// Sequencer of one stream, generic over the session id type.
#[derive(Clone, Debug)]
pub struct Sequencer<K> {
    state: State<K>,
    expect_first: Option<u64>,
    /// Open gaps as half-open ranges `[a, b)`, oldest first; `n_gaps` of them are valid.
    gaps: [(u64, u64); MAX_OPEN_GAPS],
    n_gaps: usize,
    /// For a late packet that also runs past `next`: its messages from here on are new.
    late_new_from: u64,
    /// Counters.
    pub stats: SeqStats,
}

impl<K: Copy + Eq> Sequencer<K> {
    /// The first sequence number it was told to expect, if any.
    pub fn expect_first(&self) -> Option<u64> {
        self.expect_first
    }

    /// A sequencer. `expect_first`: the sequence number a session starts at, if known (a first
    /// packet beyond it is a gap); `None` takes the first packet seen as the baseline.
    pub fn new(expect_first: Option<u64>) -> Self {
        Sequencer {
            state: State::Idle,
            expect_first,
            gaps: [(0, 0); MAX_OPEN_GAPS],
            n_gaps: 0,
            late_new_from: u64::MAX,
            stats: SeqStats::default(),
        }
    }

    /// The session being followed, if any.
    pub fn session(&self) -> Option<K> {
        match self.state {
            State::Idle => None,
            State::Active { session, .. } | State::Ended { session, .. } => Some(session),
        }
    }

    /// Next expected sequence number.
    pub fn next_expected(&self) -> Option<u64> {
        match self.state {
            State::Idle => None,
            State::Active { next, .. } | State::Ended { next, .. } => Some(next),
        }
    }

    /// The session has ended.
    pub fn ended(&self) -> bool {
        matches!(self.state, State::Ended { .. })
    }

    /// Messages still missing (sum of open gaps).
    pub fn open_gap_messages(&self) -> u64 {
        self.gaps[..self.n_gaps]
            .iter()
            .fold(0u64, |n, (a, b)| n.saturating_add(b - a))
    }

    /// The open gaps as half-open ranges, oldest first.
    pub fn open_gaps(&self) -> &[(u64, u64)] {
        &self.gaps[..self.n_gaps]
    }

    /// Books fed by this stream may be stale (a gap is open).
    #[inline]
    pub fn stale(&self) -> bool {
        self.n_gaps > 0
    }

    /// The common case of [`Sequencer::on_packet`], small enough to inline: a packet with
    /// messages (`count > 0`) of the session being followed that starts exactly at the next
    /// expected number. Then the state and counters advance exactly as `on_packet` would
    /// advance them, returning `(InOrder { skip: 0 }, false)`, and this returns `true`;
    /// anything else changes nothing and returns `false`, for the caller to call `on_packet`.
    /// (`on_packet`, out of line, cost ~60 instructions per packet for this case.)
    #[inline(always)]
    pub fn in_order_fast(&mut self, session: K, first: u64, count: u64) -> bool {
        if let State::Active { session: s, next } = &mut self.state {
            if (*s == session) & (first == *next) & (count > 0) {
                *next = first.saturating_add(count);
                self.stats.packets += 1;
                self.stats.messages += count;
                self.late_new_from = u64::MAX;
                return true;
            }
        }
        false
    }

    /// Classifies a packet and advances the state. `count == 0` is a heartbeat; `end` marks an
    /// end-of-session packet (its `first` is the next expected number, it has no messages).
    /// Returns `(class, session_changed)`; on a session change the caller resets its books.
    #[inline]
    pub fn on_packet(
        &mut self,
        session: K,
        first: u64,
        count: u64,
        end: bool,
    ) -> (PacketClass, bool) {
        self.stats.packets += 1;
        self.late_new_from = u64::MAX;
        let mut changed = false;
        let mut ended_before = false;
        let next = match self.state {
            State::Active { session: s, next } if s == session => next,
            State::Ended { session: s, next } if s == session => {
                ended_before = true;
                if count > 0 && first >= next {
                    self.stats.after_end += 1;
                }
                next
            }
            State::Idle => self.start(first),
            _ => {
                self.stats.session_changes += 1;
                changed = true;
                self.n_gaps = 0;
                self.start(first)
            }
        };
        let set = |s: &mut Self, next: u64| {
            s.state = if end || ended_before {
                State::Ended { session, next }
            } else {
                State::Active { session, next }
            };
        };
        if end {
            if !ended_before {
                self.stats.end_of_session += 1;
            }
        } else if count == 0 {
            self.stats.heartbeats += 1;
        }
        let last = first.saturating_add(count);
        if first > next {
            // Gap (a heartbeat or end-of-session packet can reveal it too).
            self.stats.gaps += 1;
            self.stats.gap_messages = self.stats.gap_messages.saturating_add(first - next);
            self.open_gap(next, first);
            set(self, last);
            self.stats.messages += count;
            let class = if count == 0 {
                PacketClass::Empty
            } else {
                PacketClass::Gap {
                    first: next,
                    last: first - 1,
                }
            };
            return (class, changed);
        }
        if count == 0 {
            set(self, next);
            return (PacketClass::Empty, changed);
        }
        if first == next {
            set(self, last);
            self.stats.messages += count;
            return (PacketClass::InOrder { skip: 0 }, changed);
        }
        // first < next: old, overlapping or late.
        if self.n_gaps > 0 && self.touches_gap(first, last) {
            self.stats.out_of_order_packets += 1;
            if last > next {
                // The tail from `next` on is new, in order.
                self.late_new_from = next;
                set(self, last);
            }
            return (PacketClass::Late, changed);
        }
        if last <= next {
            self.stats.duplicate_packets += 1;
            self.stats.duplicate_messages += count;
            return (PacketClass::Duplicate, changed);
        }
        let skip = next - first;
        self.stats.duplicate_messages += skip;
        self.stats.messages += count - skip;
        set(self, last);
        (PacketClass::InOrder { skip }, changed)
    }

    /// Resumes at `next` of `session` (after a snapshot that reflects everything before it):
    /// open gaps are forgotten (the snapshot covers them), the state is active.
    pub fn resume(&mut self, session: K, next: u64) {
        self.state = State::Active { session, next };
        self.n_gaps = 0;
        self.late_new_from = u64::MAX;
    }

    /// The session ended in-band (e.g. an IEX End of Messages system event): counted once.
    pub fn end_session(&mut self) {
        if let State::Active { session, next } = self.state {
            self.state = State::Ended { session, next };
            self.stats.end_of_session += 1;
        }
    }

    fn start(&mut self, first: u64) -> u64 {
        match self.expect_first {
            Some(f) if f <= first => f,
            _ => first,
        }
    }

    fn touches_gap(&self, a: u64, b: u64) -> bool {
        self.gaps[..self.n_gaps]
            .iter()
            .any(|&(x, y)| a < y && x < b)
    }

    fn open_gap(&mut self, a: u64, b: u64) {
        if a >= b {
            return;
        }
        if self.n_gaps == MAX_OPEN_GAPS {
            self.stats.gaps_forgotten += 1;
            self.gaps.copy_within(1.., 0);
            self.n_gaps -= 1;
        }
        self.gaps[self.n_gaps] = (a, b);
        self.n_gaps += 1;
    }

    /// For a [`PacketClass::Late`] packet: whether message `seq` is inside an open gap (then it
    /// is taken, removed from the gap, and must be processed) or was already seen (dropped and
    /// counted as a duplicate).
    pub fn take_late(&mut self, seq: u64) -> bool {
        if seq >= self.late_new_from {
            self.stats.messages += 1;
            return true;
        }
        let Some(i) = self.gaps[..self.n_gaps]
            .iter()
            .position(|&(a, b)| a <= seq && seq < b)
        else {
            self.stats.duplicate_messages += 1;
            return false;
        };
        self.stats.messages += 1;
        self.stats.late_messages += 1;
        let (a, b) = self.gaps[i];
        if seq == a && seq + 1 == b {
            self.gaps.copy_within(i + 1..self.n_gaps, i);
            self.n_gaps -= 1;
        } else if seq == a {
            self.gaps[i].0 = a + 1;
        } else if seq + 1 == b {
            self.gaps[i].1 = seq;
        } else if self.n_gaps == MAX_OPEN_GAPS {
            // No room to split: keep [a, seq), forget [seq+1, b).
            self.stats.gaps_forgotten += 1;
            self.gaps[i].1 = seq;
        } else {
            // Split [a, b) into [a, seq) and [seq+1, b).
            self.gaps[i].1 = seq;
            self.gaps.copy_within(i + 1..self.n_gaps, i + 2);
            self.gaps[i + 1] = (seq + 1, b);
            self.n_gaps += 1;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type S = Sequencer<u32>;

    #[test]
    fn in_order_heartbeat_and_gap() {
        let mut s = S::new(None);
        assert_eq!(
            s.on_packet(1, 10, 3, false),
            (PacketClass::InOrder { skip: 0 }, false)
        );
        assert_eq!(s.next_expected(), Some(13));
        assert_eq!(s.on_packet(1, 13, 0, false).0, PacketClass::Empty);
        assert_eq!(s.stats.heartbeats, 1);
        assert!(!s.stale());
        // 13..=14 lost
        assert_eq!(
            s.on_packet(1, 15, 2, false).0,
            PacketClass::Gap {
                first: 13,
                last: 14
            }
        );
        assert!(s.stale());
        assert_eq!((s.stats.gaps, s.stats.gap_messages), (1, 2));
        // a heartbeat ahead reveals a second gap
        assert_eq!(s.on_packet(1, 20, 0, false).0, PacketClass::Empty);
        assert_eq!((s.stats.gaps, s.stats.gap_messages), (2, 5));
        assert_eq!(s.open_gaps(), &[(13, 15), (17, 20)]);
        assert_eq!(s.stats.messages, 5);
    }

    #[test]
    fn duplicates_and_overlaps() {
        let mut s = S::new(None);
        s.on_packet(1, 1, 5, false);
        assert_eq!(s.on_packet(1, 1, 5, false).0, PacketClass::Duplicate);
        assert_eq!(
            s.on_packet(1, 3, 5, false).0,
            PacketClass::InOrder { skip: 3 }
        );
        assert_eq!(s.next_expected(), Some(8));
        assert_eq!(s.stats.duplicate_packets, 1);
        assert_eq!(s.stats.duplicate_messages, 8);
        assert_eq!(s.stats.messages, 7);
    }

    #[test]
    fn reordered_packet_fills_the_gap() {
        let mut s = S::new(None);
        s.on_packet(1, 1, 2, false);
        // packet 3..=4 overtaken by 5..=6
        assert!(matches!(
            s.on_packet(1, 5, 2, false).0,
            PacketClass::Gap { first: 3, last: 4 }
        ));
        assert!(s.stale());
        assert_eq!(s.on_packet(1, 3, 2, false).0, PacketClass::Late);
        assert!(s.take_late(3));
        assert!(s.take_late(4));
        assert!(!s.stale());
        assert_eq!(s.stats.out_of_order_packets, 1);
        assert_eq!(s.stats.messages, 6);
        // the same late packet again is a duplicate
        assert_eq!(s.on_packet(1, 3, 2, false).0, PacketClass::Duplicate);
    }

    #[test]
    fn late_packet_running_past_next() {
        let mut s = S::new(None);
        s.on_packet(1, 1, 2, false);
        s.on_packet(1, 5, 1, false); // gap [3, 5)
                                     // 3..=7 arrives: 3, 4 fill the gap, 5 was seen, 6 and 7 are new
        assert_eq!(s.on_packet(1, 3, 5, false).0, PacketClass::Late);
        let taken: Vec<bool> = (3..8).map(|q| s.take_late(q)).collect();
        assert_eq!(taken, vec![true, true, false, true, true]);
        assert_eq!(s.next_expected(), Some(8));
        assert_eq!((s.stats.late_messages, s.stats.duplicate_messages), (2, 1));
        assert_eq!(s.stats.messages, 7);
        assert!(!s.stale());
    }

    #[test]
    fn late_packet_partly_seen_and_split() {
        let mut s = S::new(None);
        s.on_packet(1, 1, 1, false);
        s.on_packet(1, 10, 1, false); // gap [2, 10)
        assert_eq!(s.on_packet(1, 5, 1, false).0, PacketClass::Late);
        assert!(s.take_late(5));
        assert_eq!(s.open_gaps(), &[(2, 5), (6, 10)]);
        assert_eq!(s.on_packet(1, 4, 3, false).0, PacketClass::Late);
        assert!(s.take_late(4));
        assert!(!s.take_late(5)); // already taken
        assert!(s.take_late(6));
        assert_eq!(s.open_gaps(), &[(2, 4), (7, 10)]);
        assert_eq!(s.open_gap_messages(), 5);
    }

    #[test]
    fn session_change_and_end() {
        let mut s = S::new(Some(1));
        // first packet at 3: messages 1..=2 missing from the start of the session
        assert!(matches!(
            s.on_packet(7, 3, 1, false),
            (PacketClass::Gap { first: 1, last: 2 }, false)
        ));
        assert_eq!(s.on_packet(7, 4, 0, true).0, PacketClass::Empty);
        assert!(s.ended());
        assert_eq!(s.stats.end_of_session, 1);
        s.on_packet(7, 4, 0, true); // repeated end-of-session packets count once
        assert_eq!(s.stats.end_of_session, 1);
        assert_eq!(
            s.on_packet(8, 1, 2, false),
            (PacketClass::InOrder { skip: 0 }, true)
        );
        assert_eq!(s.stats.session_changes, 1);
        assert!(!s.ended());
        assert!(!s.stale(), "a new session forgets the old gaps");
    }

    #[test]
    fn absurd_sequence_numbers_do_not_overflow() {
        let mut s = S::new(Some(1));
        s.on_packet(1, u64::MAX - 1, 5, false);
        s.on_packet(1, 1, 1, false);
        s.on_packet(2, u64::MAX, 0, false);
        s.on_packet(2, 1, 0, true);
        assert!(s.stats.gap_messages >= u64::MAX - 2);
        let _ = s.open_gap_messages();
    }

    #[test]
    fn open_gap_array_is_bounded() {
        let mut s = S::new(None);
        let mut seq = 1;
        for _ in 0..(MAX_OPEN_GAPS + 5) {
            s.on_packet(1, seq, 1, false);
            seq += 2;
        }
        assert_eq!(s.open_gaps().len(), MAX_OPEN_GAPS);
        assert_eq!(s.stats.gaps_forgotten, 4);
        assert_eq!(s.stats.gaps, MAX_OPEN_GAPS as u64 + 4);
    }

    /// `in_order_fast` then `on_packet` (as the engine calls them) and `on_packet` alone give
    /// the same classes, state and counters over a stream of every kind of packet, and the
    /// fast path takes exactly the in-order data packets of the followed session.
    #[test]
    fn fast_path_agrees_with_on_packet() {
        let packets: &[(u32, u64, u64, bool)] = &[
            (1, 10, 3, false), // first packet (idle: slow path)
            (1, 13, 2, false), // in order
            (1, 15, 0, false), // heartbeat
            (1, 15, 4, false), // in order
            (1, 21, 1, false), // gap 19..=20
            (1, 19, 2, false), // late, fills it
            (1, 22, 1, false), // in order
            (1, 22, 1, false), // duplicate
            (1, 21, 3, false), // overlap
            (2, 1, 2, false),  // session change
            (2, 3, 1, false),  // in order
            (2, 4, 0, true),   // end of session
            (2, 4, 2, false),  // after the end
            (u32::MAX, u64::MAX - 1, 5, false),
            (u32::MAX, u64::MAX, 5, false),
        ];
        let (mut fast, mut slow) = (S::new(None), S::new(None));
        let mut taken = Vec::new();
        for (i, &(k, first, count, end)) in packets.iter().enumerate() {
            let a = if fast.in_order_fast(k, first, count) {
                taken.push(i);
                (PacketClass::InOrder { skip: 0 }, false)
            } else {
                fast.on_packet(k, first, count, end)
            };
            assert_eq!(a, slow.on_packet(k, first, count, end), "packet {i}");
            assert_eq!(fast.stats, slow.stats, "packet {i}");
            assert_eq!(
                (fast.session(), fast.next_expected(), fast.ended()),
                (slow.session(), slow.next_expected(), slow.ended()),
                "packet {i}"
            );
            assert_eq!(fast.open_gaps(), slow.open_gaps(), "packet {i}");
        }
        assert_eq!(taken, [1, 3, 6, 10, 14]);
    }
}
