//! Recovery of a sequenced feed: A/B arbitration, MoldUDP64 re-requests, and resynchronisation
//! from a snapshot. It sits between the receive ring and the engine, on the engine's thread.
//!
//! ```text
//!  rx ring (line A, line B, …, responses) ─► Arbiter::on_datagram ─► deliver (in order) ─► Engine
//!                                              │  ahead of `next`: copied into the hold
//!                                              │  buffer (preallocated arena + sorted index)
//!                                              ▼
//!                           holes [a, b): detected at t, requested after --gap-wait-us
//!                                              │ Request{server, first, count}
//!                                              ▼ lock-free bounded queue (no allocation)
//!                     Requester thread ─► UDP unicast 20-byte MoldUDP64 requests
//!                     (responses come back to the same socket: the receive agent's last socket)
//! ```
//!
//! The arbiter keeps one sequence space per stream: `next` (everything below was delivered to
//! the engine, or given up), `top` (one past the highest sequence number seen), the *holes*
//! between them (missing on every line so far, each with the time it was detected) and the
//! packets held after the first hole. The first copy of a sequence number wins; a packet that
//! brings nothing new is a duplicate and is dropped here. A packet at or below `next` goes to the
//! engine at once, followed by every held packet it makes contiguous, so the engine sees exactly
//! the update stream of a gap-free run when every hole gets filled.
//!
//! ## Invariants
//! - No allocation after start-up on the engine's thread: holes, in-flight requests, the hold
//!   index and arena, the lost-range list and the latency histogram are sized in [`Arbiter::new`];
//!   the request queue is a preallocated `ArrayQueue`; only a snapshot load (a TCP connection,
//!   start-up or after a hole was given up) makes syscalls other than the receive.
//! - A hole is given up (counted, its range listed in [`RecoveryReport::lost`], the engine left to
//!   flag its books stale) when its deadline passes, its retries are spent, or holding the next
//!   packet would overflow the hold buffer; with a snapshot server, the books are then rebuilt
//!   from a snapshot and the stream resumes at its sequence number.
//! - Requests never ask for more than one response datagram can hold
//!   ([`RecoveryConfig::request_messages`]); at most [`RecoveryConfig::in_flight`] are
//!   outstanding; a request not answered within the timeout is retried on the next server; a
//!   response that covers part of a range leaves the rest to be asked again at once.
//! - Time is passed in (`now`, ns); nothing here reads a clock.

use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_queue::ArrayQueue;
use fh_replay::serve::snapshot;
use hdrhistogram::Histogram;

use crate::engine::{Engine, UpdateSink};

/// Most lines (groups) arbitrated, the response socket not counted.
pub const MAX_LINES: usize = 8;
/// Most holes open at once (more: the oldest is given up).
pub const MAX_HOLES: usize = 1024;
/// Most lost ranges listed (more are counted in [`RecoveryReport::lost_unlisted`]).
pub const MAX_LOST: usize = 4096;
/// Snapshot read buffer, bytes.
const SNAP_BUF: usize = 1 << 16;

/// What recovery may do (`fh live --gap-wait-us --rerequest --snapshot …`).
#[derive(Clone, Debug)]
pub struct RecoveryConfig {
    /// Wait this long after a hole opens before asking a server (the other line usually fills
    /// it within microseconds); without servers, the hole is given up after it.
    pub gap_wait_ns: u64,
    /// MoldUDP64 request servers, tried in turn.
    pub servers: Vec<SocketAddrV4>,
    /// A request not answered within this is sent again (to the next server).
    pub request_timeout_ns: u64,
    /// Unanswered requests per request's worth of a hole before it is given up.
    pub retries: u32,
    /// A hole still open this long after detection is given up.
    pub gap_timeout_ns: u64,
    /// Most requests outstanding.
    pub in_flight: usize,
    /// Most messages asked for in one request (what one response datagram can hold).
    pub request_messages: u16,
    /// Most packets held while a hole is open.
    pub hold_packets: usize,
    /// Bytes of held packets.
    pub hold_bytes: usize,
    /// SoupBinTCP snapshot server: load the books from it at start-up and after a hole is
    /// given up.
    pub snapshot: Option<SocketAddrV4>,
    /// The stream is MoldUDP64 (else IEX-TP: arbitration and IEX-TP gap-fill requests, no
    /// snapshots).
    pub mold: bool,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        RecoveryConfig {
            gap_wait_ns: 200_000,
            servers: Vec::new(),
            request_timeout_ns: 20_000_000,
            retries: 16,
            gap_timeout_ns: 2_000_000_000,
            in_flight: 32,
            // (1400 − 20) / (2 + 12): the smallest ITCH message is 12 bytes.
            request_messages: 98,
            hold_packets: 1 << 16,
            hold_bytes: 64 << 20,
            snapshot: None,
            mold: true,
        }
    }
}

/// A request for the sender thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// Index into [`RecoveryConfig::servers`].
    pub server: u8,
    /// The stream: the MoldUDP64 session, or IEX-TP's Message Protocol ID, Channel ID and
    /// Session ID as they lie in the segment header (bytes 2..12).
    pub session: [u8; 10],
    /// First sequence number.
    pub first: u64,
    /// Messages.
    pub count: u16,
}

/// Per-line figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LineCounters {
    /// Packets of the stream that arrived on the line.
    pub packets: u64,
    /// Sequence gaps seen on this line alone.
    pub gaps: u64,
    /// Data packets this line delivered first (new messages).
    pub first: u64,
    /// Data packets that brought nothing new (the other line's copy came first).
    pub duplicates: u64,
    /// Times this line had what the other had lost.
    pub saves: u64,
}

/// Recovery figures for the report.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct RecoveryReport {
    /// `A`, `B`, … then `responses`.
    pub lines: Vec<(String, LineCounters)>,
    /// Holes opened (missing on every line so far).
    pub holes: u64,
    /// Holes (or pieces of a hole split by a fill in its middle) filled by a line's late or
    /// reordered copy.
    pub filled_by_line: u64,
    /// Holes (or pieces) filled by a request server's response.
    pub filled_by_request: u64,
    /// Holes given up.
    pub gave_up: u64,
    /// Messages given up.
    pub lost_messages: u64,
    /// The given-up ranges `[first, last]`, in order.
    pub lost: Vec<[u64; 2]>,
    /// Given-up ranges beyond [`MAX_LOST`], not listed.
    pub lost_unlisted: u64,
    /// Requests queued.
    pub requests: u64,
    /// Requests not answered in time.
    pub request_timeouts: u64,
    /// Requests not queued because the queue was full.
    pub request_queue_full: u64,
    /// Requests the sender thread sent.
    pub requests_sent: u64,
    /// Responses received.
    pub responses: u64,
    /// Packets held, and the most held at once.
    pub held: u64,
    /// Most packets held at once.
    pub held_max: u64,
    /// Holes given up because the hold buffer was full.
    pub hold_overflows: u64,
    /// Datagrams of other streams, requests and damaged packets passed on untouched (the
    /// engine counts them).
    pub passed_through: u64,
    /// Snapshots loaded.
    pub snapshots: u64,
    /// Sequence number the last snapshot reflected.
    pub snapshot_seq: u64,
    /// Messages applied from snapshots.
    pub snapshot_messages: u64,
    /// Snapshot loads that failed (one line each in `snapshot_errors`, at most 8).
    pub snapshot_failures: u64,
    /// Why snapshot loads failed.
    pub snapshot_errors: Vec<String>,
    /// Gap recovery latency, detection → filled, µs: p50, p99, max (every hole filled).
    pub latency_us: [f64; 3],
    /// Holes whose fill was timed.
    pub latency_count: u64,
    /// The same for the holes a request server's response filled.
    pub request_latency_us: [f64; 3],
    /// Holes filled by a response, timed.
    pub request_latency_count: u64,
}

#[derive(Clone, Copy, Debug, Default)]
struct Hole {
    a: u64,
    b: u64,
    detected: u64,
    tries: u32,
    dead: bool,
}

#[derive(Clone, Copy, Debug, Default)]
struct Flight {
    a: u64,
    b: u64,
    sent: u64,
    live: bool,
}

#[derive(Clone, Copy, Debug, Default)]
struct Held {
    first: u64,
    end: u64,
    off: u32,
    len: u32,
}

/// One packet's place in its stream.
#[derive(Clone, Copy, Debug)]
struct Pid {
    key: [u8; 10],
    first: u64,
    count: u64,
    data: bool,
}

/// The packet's place, after the full framing check (a damaged packet is left to the engine,
/// which counts it malformed; its sequence numbers stay missing until a good copy comes).
fn mold_id(b: &[u8]) -> Option<Pid> {
    use fh_decoders::moldudp64::Packet;
    let p = Packet::parse(b).ok()?;
    let h = p.header();
    let count = match p {
        Packet::Data(d) => u64::from(d.message_count()),
        Packet::Heartbeat(_) | Packet::EndOfSession(_) => 0,
        Packet::Request(_) => return None,
    };
    Some(Pid {
        key: *h.session(),
        first: h.sequence_number(),
        count,
        data: count > 0,
    })
}

fn iex_id(b: &[u8]) -> Option<Pid> {
    let seg = fh_decoders::iextp::Segment::parse(b).ok()?;
    let count = u64::from(seg.message_count());
    Some(Pid {
        key: b[2..12].try_into().ok()?,
        first: seg.first_seq(),
        count,
        data: count > 0,
    })
}

/// The arbiter and recovery state of one stream (see the module docs).
#[derive(Debug)]
pub struct Arbiter {
    cfg: RecoveryConfig,
    n_lines: usize,
    key: Option<[u8; 10]>,
    next: u64,
    top: u64,
    line_next: [u64; MAX_LINES],
    lines: [LineCounters; MAX_LINES + 1],
    holes: Box<[Hole]>,
    n_holes: usize,
    flights: Box<[Flight]>,
    n_flights: usize,
    held: Vec<Held>,
    head: usize,
    arena: Box<[u8]>,
    used: usize,
    lost: Vec<[u64; 2]>,
    latency: Histogram<u64>,
    req_latency: Histogram<u64>,
    rep: RecoveryReport,
    queue: Arc<ArrayQueue<Request>>,
    rr: usize,
    next_poll: u64,
    want_snapshot: bool,
    snap_buf: Box<[u8]>,
    sent: Arc<AtomicU64>,
}

impl Arbiter {
    /// An arbiter for `n_lines` lines (group indexes `0..n_lines`); the responses arrive with
    /// group index `n_lines`. Everything is allocated here.
    pub fn new(cfg: RecoveryConfig, n_lines: usize) -> Self {
        let n_lines = n_lines.clamp(1, MAX_LINES);
        let want_snapshot = cfg.snapshot.is_some() && cfg.mold;
        Arbiter {
            n_lines,
            key: None,
            next: 0,
            top: 0,
            line_next: [0; MAX_LINES],
            lines: [LineCounters::default(); MAX_LINES + 1],
            holes: vec![Hole::default(); MAX_HOLES].into_boxed_slice(),
            n_holes: 0,
            flights: vec![Flight::default(); cfg.in_flight.max(1)].into_boxed_slice(),
            n_flights: 0,
            held: Vec::with_capacity(cfg.hold_packets.max(1)),
            head: 0,
            arena: vec![0u8; cfg.hold_bytes.max(2048)].into_boxed_slice(),
            used: 0,
            lost: Vec::with_capacity(MAX_LOST),
            latency: Histogram::new_with_bounds(1, 3_600_000_000_000, 2)
                .expect("static histogram bounds"),
            req_latency: Histogram::new_with_bounds(1, 3_600_000_000_000, 2)
                .expect("static histogram bounds"),
            rep: RecoveryReport::default(),
            queue: Arc::new(ArrayQueue::new(cfg.in_flight.max(1) * 2)),
            rr: 0,
            next_poll: 0,
            want_snapshot,
            snap_buf: vec![0u8; SNAP_BUF].into_boxed_slice(),
            sent: Arc::new(AtomicU64::new(0)),
            cfg,
        }
    }

    /// The request queue and the sender's counter, for the [`Requester`].
    pub fn queue(&self) -> (Arc<ArrayQueue<Request>>, Arc<AtomicU64>) {
        (self.queue.clone(), self.sent.clone())
    }

    /// Next sequence number to deliver (0 before the first packet).
    pub fn next_expected(&self) -> u64 {
        self.next
    }

    /// Messages missing right now (sum of the open holes).
    pub fn missing(&self) -> u64 {
        self.holes[..self.n_holes].iter().map(|h| h.b - h.a).sum()
    }

    /// Packets held right now.
    pub fn held_now(&self) -> usize {
        self.held.len() - self.head
    }

    /// A snapshot should be loaded now (start-up, or a hole was given up).
    pub fn wants_snapshot(&self) -> bool {
        self.want_snapshot
    }

    /// One datagram from group `line`: delivered (now or later, in order) through `deliver`, or
    /// dropped as a duplicate.
    #[inline]
    pub fn on_datagram<D: FnMut(&[u8])>(
        &mut self,
        now: u64,
        line: usize,
        b: &[u8],
        deliver: &mut D,
    ) {
        let id = if self.cfg.mold { mold_id(b) } else { iex_id(b) };
        let Some(p) = id else {
            self.rep.passed_through += 1;
            deliver(b);
            return;
        };
        let l = line.min(self.n_lines);
        if self.key != Some(p.key) {
            match self.key {
                None => self.adopt(p.key, p.first),
                Some(_) if self.cfg.mold => {
                    // A new session: what is open now can never be filled.
                    while self.give_up_first(deliver) {}
                    self.adopt(p.key, p.first);
                    self.flush_held(deliver);
                }
                Some(_) => {
                    self.rep.passed_through += 1;
                    deliver(b);
                    return;
                }
            }
        }
        self.lines[l].packets += 1;
        let end = p.first + p.count;
        if l < self.n_lines {
            let ln = self.line_next[l];
            if ln != 0 && p.first > ln {
                self.lines[l].gaps += 1;
                if self.n_lines == 2 && self.covered(ln, p.first) {
                    self.lines[1 - l].saves += 1;
                }
            }
            self.line_next[l] = ln.max(end);
        }
        if !p.data {
            if p.first > self.top {
                self.open_hole(now, self.top, p.first, deliver);
                self.top = p.first;
            }
            if p.first <= self.next {
                deliver(b);
            } else {
                self.hold(p.first, p.first, b, deliver);
            }
            return;
        }
        let response = l == self.n_lines;
        if response {
            // Answered, even if a line filled the range meanwhile: the request is done.
            self.rep.responses += 1;
            self.answered(p.first);
            self.next_poll = 0;
        }
        if end <= self.next || (end <= self.top && !self.overlaps_hole(p.first, end)) {
            self.lines[l].duplicates += 1;
            return;
        }
        self.lines[l].first += 1;
        if !response && p.first < self.top {
            self.lines[l].saves += 1;
        }
        if p.first < self.top {
            self.fill(now, p.first, end.min(self.top), response);
        }
        if end > self.top {
            if p.first > self.top {
                self.open_hole(now, self.top, p.first, deliver);
            }
            self.top = end;
        }
        if p.first <= self.next {
            deliver(b);
            self.next = self.next.max(end);
            self.drain(deliver);
        } else {
            self.hold(p.first, end, b, deliver);
        }
    }

    /// Timers: requests after the wait, timeouts and retries, giving up. Cheap when nothing is
    /// open; does the work at most every 20 µs otherwise (at once after a response).
    #[inline]
    pub fn poll<D: FnMut(&[u8])>(&mut self, now: u64, deliver: &mut D) {
        if (self.n_holes == 0 && self.n_flights == 0) || now < self.next_poll {
            return;
        }
        self.next_poll = now + 20_000;
        let mut i = 0;
        while i < self.n_flights {
            let f = self.flights[i];
            if now.saturating_sub(f.sent) >= self.cfg.request_timeout_ns {
                self.rep.request_timeouts += 1;
                if let Some(h) = self.holes[..self.n_holes]
                    .iter_mut()
                    .find(|h| h.a < f.b && f.a < h.b)
                {
                    // Retries are per request's worth of the hole: a big hole (an outage) asked
                    // for in many pieces may see that many more timeouts.
                    h.tries += 1;
                    let pieces = (h.b - h.a).div_ceil(u64::from(self.cfg.request_messages.max(1)));
                    h.dead |= u64::from(h.tries) > u64::from(self.cfg.retries) * pieces;
                }
                self.remove_flight(i);
            } else {
                i += 1;
            }
        }
        while self.n_holes > 0 {
            let h = self.holes[0];
            let limit = if self.cfg.servers.is_empty() {
                self.cfg.gap_wait_ns
            } else {
                self.cfg.gap_timeout_ns
            };
            if h.dead || now.saturating_sub(h.detected) >= limit {
                self.give_up_first(deliver);
            } else {
                break;
            }
        }
        if self.cfg.servers.is_empty() {
            return;
        }
        let Some(session) = self.key else { return };
        for k in 0..self.n_holes {
            let h = self.holes[k];
            if h.dead || now.saturating_sub(h.detected) < self.cfg.gap_wait_ns {
                continue;
            }
            let mut x = h.a;
            while x < h.b {
                if self.n_flights == self.flights.len() {
                    return;
                }
                // Skip what is asked for already.
                if let Some(f) = self.flights[..self.n_flights]
                    .iter()
                    .find(|f| f.a <= x && x < f.b)
                {
                    x = f.b;
                    continue;
                }
                let stop = self.flights[..self.n_flights]
                    .iter()
                    .filter(|f| f.a > x)
                    .map(|f| f.a)
                    .min()
                    .unwrap_or(u64::MAX)
                    .min(h.b);
                let count = (stop - x).min(u64::from(self.cfg.request_messages.max(1)));
                let r = Request {
                    server: (self.rr % self.cfg.servers.len()) as u8,
                    session,
                    first: x,
                    count: count as u16,
                };
                if self.queue.push(r).is_err() {
                    self.rep.request_queue_full += 1;
                    return;
                }
                self.rr += 1;
                self.rep.requests += 1;
                self.flights[self.n_flights] = Flight {
                    a: x,
                    b: x + count,
                    sent: now,
                    live: true,
                };
                self.n_flights += 1;
                x += count;
            }
        }
    }

    /// Ends the run: what is still open is given up (and delivered past), then the figures.
    pub fn finish<D: FnMut(&[u8])>(&mut self, deliver: &mut D) -> RecoveryReport {
        while self.give_up_first(deliver) {}
        self.flush_held(deliver);
        self.report()
    }

    /// The figures so far.
    pub fn report(&self) -> RecoveryReport {
        let mut r = self.rep.clone();
        let names = ["A", "B", "C", "D", "E", "F", "G", "H"];
        r.lines = (0..self.n_lines)
            .map(|l| (names[l].to_string(), self.lines[l]))
            .collect();
        r.lines
            .push(("responses".to_string(), self.lines[self.n_lines]));
        r.lost = self.lost.clone();
        r.requests_sent = self.sent.load(Ordering::Relaxed);
        let us = |h: &Histogram<u64>| {
            let f = |v: u64| v as f64 / 1000.0;
            if h.is_empty() {
                [0.0; 3]
            } else {
                [
                    f(h.value_at_quantile(0.5)),
                    f(h.value_at_quantile(0.99)),
                    f(h.max()),
                ]
            }
        };
        r.latency_us = us(&self.latency);
        r.latency_count = self.latency.len();
        r.request_latency_us = us(&self.req_latency);
        r.request_latency_count = self.req_latency.len();
        r
    }

    fn adopt(&mut self, key: [u8; 10], first: u64) {
        self.key = Some(key);
        self.next = first;
        self.top = first;
        self.line_next = [0; MAX_LINES];
    }

    /// `[a, b)` was seen already (below `top`, in no hole).
    fn covered(&self, a: u64, b: u64) -> bool {
        b <= self.top && a >= self.next.min(a) && !self.overlaps_hole(a, b)
    }

    fn overlaps_hole(&self, a: u64, b: u64) -> bool {
        self.holes[..self.n_holes]
            .iter()
            .any(|h| h.a < b && a < h.b)
    }

    fn open_hole<D: FnMut(&[u8])>(&mut self, now: u64, a: u64, b: u64, deliver: &mut D) {
        if a >= b {
            return;
        }
        if self.n_holes == MAX_HOLES {
            self.give_up_first(deliver);
        }
        self.holes[self.n_holes] = Hole {
            a,
            b,
            detected: now,
            tries: 0,
            dead: false,
        };
        self.n_holes += 1;
        self.rep.holes += 1;
        self.next_poll = 0;
    }

    /// Removes `[a, b)` from the holes, timing each hole it closes.
    fn fill(&mut self, now: u64, a: u64, b: u64, response: bool) {
        let mut i = 0;
        while i < self.n_holes {
            let h = self.holes[i];
            if h.b <= a || b <= h.a {
                i += 1;
                continue;
            }
            let left = (h.a < a).then_some((h.a, a));
            let right = (b < h.b).then_some((b, h.b));
            match (left, right) {
                (None, None) => {
                    self.holes.copy_within(i + 1..self.n_holes, i);
                    self.n_holes -= 1;
                    let took = now.saturating_sub(h.detected).max(1);
                    self.latency.saturating_record(took);
                    if response {
                        self.req_latency.saturating_record(took);
                        self.rep.filled_by_request += 1;
                    } else {
                        self.rep.filled_by_line += 1;
                    }
                    continue;
                }
                (Some((x, y)), None) | (None, Some((x, y))) => {
                    self.holes[i].a = x;
                    self.holes[i].b = y;
                }
                (Some((x, y)), Some((u, v))) => {
                    if self.n_holes == MAX_HOLES {
                        // No room to split: keep the hole whole (the middle will be dropped
                        // as a duplicate and asked for again).
                        i += 1;
                        continue;
                    }
                    self.holes.copy_within(i + 1..self.n_holes, i + 2);
                    self.n_holes += 1;
                    self.holes[i].a = x;
                    self.holes[i].b = y;
                    self.holes[i + 1] = Hole { a: u, b: v, ..h };
                    i += 1;
                }
            }
            i += 1;
        }
    }

    fn answered(&mut self, first: u64) {
        if let Some(i) = self.flights[..self.n_flights]
            .iter()
            .position(|f| f.a == first && f.live)
        {
            self.remove_flight(i);
        }
    }

    fn remove_flight(&mut self, i: usize) {
        self.flights[i] = self.flights[self.n_flights - 1];
        self.n_flights -= 1;
    }

    fn hold<D: FnMut(&[u8])>(&mut self, first: u64, end: u64, b: &[u8], deliver: &mut D) {
        while self.held.len() == self.held.capacity() || self.used + b.len() > self.arena.len() {
            self.rep.hold_overflows += 1;
            if !self.give_up_first(deliver) {
                break;
            }
            if first <= self.next {
                break;
            }
        }
        if first <= self.next {
            deliver(b);
            self.next = self.next.max(end);
            self.drain(deliver);
            return;
        }
        if self.held.len() == self.held.capacity() || self.used + b.len() > self.arena.len() {
            // Cannot happen: with no hole left, `first` is at or below `next`.
            return;
        }
        let off = self.used;
        self.arena[off..off + b.len()].copy_from_slice(b);
        self.used += b.len();
        let h = Held {
            first,
            end,
            off: off as u32,
            len: b.len() as u32,
        };
        let pos = self.head + self.held[self.head..].partition_point(|x| x.first <= first);
        self.held.insert(pos, h);
        self.rep.held += 1;
        self.rep.held_max = self.rep.held_max.max(self.held_now() as u64);
    }

    fn drain<D: FnMut(&[u8])>(&mut self, deliver: &mut D) {
        while self.head < self.held.len() && self.held[self.head].first <= self.next {
            let h = self.held[self.head];
            self.head += 1;
            if h.end > self.next || h.end == h.first {
                deliver(&self.arena[h.off as usize..(h.off + h.len) as usize]);
                self.next = self.next.max(h.end);
            }
        }
        if self.head == self.held.len() {
            self.held.clear();
            self.head = 0;
            self.used = 0;
        }
    }

    /// Delivers every held packet in order, whatever lies between (end of run, new session).
    fn flush_held<D: FnMut(&[u8])>(&mut self, deliver: &mut D) {
        while self.head < self.held.len() {
            let h = self.held[self.head];
            self.head += 1;
            if h.end > self.next || h.end == h.first {
                deliver(&self.arena[h.off as usize..(h.off + h.len) as usize]);
                self.next = self.next.max(h.end);
            }
        }
        self.held.clear();
        self.head = 0;
        self.used = 0;
    }

    /// Gives up the first hole: listed as lost, `next` moves past it, what it held back goes
    /// to the engine (which flags its books stale). False if no hole is open.
    fn give_up_first<D: FnMut(&[u8])>(&mut self, deliver: &mut D) -> bool {
        if self.n_holes == 0 {
            return false;
        }
        let h = self.holes[0];
        self.holes.copy_within(1..self.n_holes, 0);
        self.n_holes -= 1;
        self.rep.gave_up += 1;
        self.rep.lost_messages += h.b - h.a;
        let n = self.lost.len();
        match self.lost.last_mut() {
            Some(l) if l[1] + 1 == h.a => l[1] = h.b - 1,
            _ if n < MAX_LOST => self.lost.push([h.a, h.b - 1]),
            _ => self.rep.lost_unlisted += 1,
        }
        let mut i = 0;
        while i < self.n_flights {
            if self.flights[i].a < h.b {
                self.remove_flight(i);
            } else {
                i += 1;
            }
        }
        self.next = self.next.max(h.b);
        self.drain(deliver);
        if self.cfg.snapshot.is_some() && self.cfg.mold {
            self.want_snapshot = true;
        }
        true
    }

    /// After a snapshot reflecting everything up to `seq` of `session`: the stream goes on at
    /// `seq + 1`; holes below are covered by it; held packets wholly below are dropped. A
    /// snapshot behind what was delivered opens a hole for the difference.
    fn resume<D: FnMut(&[u8])>(&mut self, now: u64, session: [u8; 10], seq: u64, deliver: &mut D) {
        let at = seq + 1;
        if self.key != Some(session) {
            self.flush_dropping();
            self.adopt(session, at);
            return;
        }
        if at > self.next {
            let mut i = 0;
            while i < self.n_holes {
                if self.holes[i].b <= at {
                    self.holes.copy_within(i + 1..self.n_holes, i);
                    self.n_holes -= 1;
                } else {
                    self.holes[i].a = self.holes[i].a.max(at);
                    i += 1;
                }
            }
            self.n_flights = 0;
            self.next = at;
            self.top = self.top.max(at);
            self.drain(deliver);
        } else if at < self.next {
            // The snapshot is older than what was delivered: ask again for the difference.
            let (a, b) = (at, self.next);
            self.holes
                .copy_within(0..self.n_holes.min(MAX_HOLES - 1), 1);
            self.n_holes = (self.n_holes + 1).min(MAX_HOLES);
            self.holes[0] = Hole {
                a,
                b,
                detected: now,
                tries: 0,
                dead: false,
            };
            self.rep.holes += 1;
            self.next = at;
        }
    }

    fn flush_dropping(&mut self) {
        self.held.clear();
        self.head = 0;
        self.used = 0;
        self.n_holes = 0;
        self.n_flights = 0;
    }

    fn snapshot_failed(&mut self, why: String) {
        self.rep.snapshot_failures += 1;
        if self.rep.snapshot_errors.len() < 8 {
            self.rep.snapshot_errors.push(why);
        }
        self.want_snapshot = false;
    }
}

/// Loads a snapshot into `engine` (its ITCH books reset first) and resumes the arbiter at the
/// snapshot's sequence number. The receive thread goes on meanwhile; what it receives waits in
/// the receive ring. `deliver` applies held packets after the resume.
pub fn resync<S: UpdateSink>(arb: &mut Arbiter, engine: &mut Engine, sink: &mut S, now: u64) {
    arb.want_snapshot = false;
    let Some(addr) = arb.cfg.snapshot else { return };
    let mut buf = std::mem::take(&mut arb.snap_buf);
    let mut applied = 0u64;
    let mut began = false;
    let r = load_snapshot(addr, &mut buf, |m| {
        if !began {
            engine.begin_snapshot(now, sink);
            began = true;
        }
        engine.on_snapshot_message(now, m, sink);
        applied += 1;
    });
    arb.snap_buf = buf;
    match r {
        Ok((session, seq)) => {
            arb.rep.snapshots += 1;
            arb.rep.snapshot_seq = seq;
            arb.rep.snapshot_messages += applied;
            engine.resume_mold(session, seq + 1);
            let mut deliver = |b: &[u8]| {
                let meta = crate::engine::DatagramMeta { recv_ts: 0 };
                engine.on_datagram(now, &meta, b, sink);
            };
            arb.resume(now, session, seq, &mut deliver);
        }
        Err(e) => arb.snapshot_failed(e),
    }
}

/// Connects to a SoupBinTCP snapshot server, logs in and hands every snapshot message to `f`
/// until the end-of-snapshot message; returns the session and the sequence number it reflects.
/// Reads through `buf` (no allocation per message).
pub fn load_snapshot(
    addr: SocketAddrV4,
    buf: &mut [u8],
    mut f: impl FnMut(&[u8]),
) -> Result<([u8; 10], u64), String> {
    let e = |what: &str, x: std::io::Error| {
        format!("snapshot {addr}: {what}: {}", fh_replay::io_words(&x))
    };
    let mut s = TcpStream::connect_timeout(&addr.into(), Duration::from_secs(2))
        .map_err(|x| e("connect", x))?;
    let _ = s.set_nodelay(true);
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|x| e("timeout", x))?;
    s.write_all(&snapshot::login_request(None, 1))
        .map_err(|x| e("login", x))?;
    let (mut lo, mut hi) = (0usize, 0usize);
    let mut session = None;
    loop {
        // One whole packet in buf[lo..hi]?
        if hi - lo >= 2 {
            let len = usize::from(u16::from_be_bytes([buf[lo], buf[lo + 1]]));
            if len == 0 {
                return Err(format!("snapshot {addr}: an empty packet"));
            }
            if hi - lo >= 2 + len {
                let ty = buf[lo + 2];
                let body = &buf[lo + 3..lo + 2 + len];
                lo += 2 + len;
                match ty {
                    b'A' if body.len() >= 10 => {
                        session = Some(<[u8; 10]>::try_from(&body[..10]).unwrap_or_default());
                    }
                    b'J' => {
                        return Err(format!(
                            "snapshot {addr}: login rejected ({})",
                            String::from_utf8_lossy(body)
                        ))
                    }
                    b'S' => {
                        if let Some(seq) = snapshot::parse_end_of_snapshot(body) {
                            let Some(session) = session else {
                                return Err(format!("snapshot {addr}: data before login"));
                            };
                            return Ok((session, seq));
                        }
                        f(body);
                    }
                    b'Z' => return Err(format!("snapshot {addr}: ended without end of snapshot")),
                    _ => {}
                }
                continue;
            }
        }
        if lo > 0 {
            buf.copy_within(lo..hi, 0);
            hi -= lo;
            lo = 0;
        }
        if hi == buf.len() {
            return Err(format!("snapshot {addr}: a packet longer than the buffer"));
        }
        let n = s.read(&mut buf[hi..]).map_err(|x| e("read", x))?;
        if n == 0 {
            return Err(format!(
                "snapshot {addr}: closed before the end of snapshot"
            ));
        }
        hi += n;
    }
}

/// Writes `r` as a request datagram into `out`; returns its length.
///
/// - MoldUDP64 (Nasdaq *MoldUDP64 Protocol Specification* 1.00): the 20-byte header — session,
///   first sequence number (u64 BE), message count (u16 BE).
/// - IEX-TP (*IEX Transport Specification* 1.25, gap fill; `shared/specs/iex_tp_deep_tops.md`):
///   version 1, request type 1 (sequenced messages), message protocol id, channel id and
///   session id as in the segment header, range count 1 (u32 LE), then the inclusive range
///   first, last (i64 LE): 32 bytes.
pub fn encode_request(r: &Request, iex: bool, out: &mut [u8; 32]) -> usize {
    if iex {
        out[0] = 1;
        out[1] = 1;
        out[2..12].copy_from_slice(&r.session);
        out[12..16].copy_from_slice(&1u32.to_le_bytes());
        out[16..24].copy_from_slice(&r.first.to_le_bytes());
        let last = r.first + u64::from(r.count.max(1)) - 1;
        out[24..32].copy_from_slice(&last.to_le_bytes());
        32
    } else {
        out[..10].copy_from_slice(&r.session);
        out[10..18].copy_from_slice(&r.first.to_be_bytes());
        out[18..20].copy_from_slice(&r.count.to_be_bytes());
        20
    }
}

/// The request sender: takes requests from the arbiter's queue and sends them from the response
/// socket, off the engine's thread.
#[derive(Debug)]
pub struct Requester {
    queue: Arc<ArrayQueue<Request>>,
    sent: Arc<AtomicU64>,
    sock: UdpSocket,
    servers: Vec<SocketAddrV4>,
    iex: bool,
}

impl Requester {
    /// A sender for `arb`'s queue over `sock` (a clone of the receive agent's response socket).
    pub fn new(arb: &Arbiter, sock: UdpSocket) -> Self {
        let (queue, sent) = arb.queue();
        Requester {
            queue,
            sent,
            sock,
            servers: arb.cfg.servers.clone(),
            iex: !arb.cfg.mold,
        }
    }

    /// Sends until `stop`; sleeps 20 µs when there is nothing to send.
    pub fn run(self, stop: &AtomicBool) {
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let mut any = false;
            while let Some(r) = self.queue.pop() {
                any = true;
                let mut b = [0u8; 32];
                let len = encode_request(&r, self.iex, &mut b);
                if let Some(to) = self.servers.get(usize::from(r.server)) {
                    if self.sock.send_to(&b[..len], to).is_ok() {
                        n += 1;
                        self.sent.store(n, Ordering::Relaxed);
                    }
                }
            }
            if !any {
                std::thread::sleep(Duration::from_micros(20));
            }
        }
    }
}

#[cfg(test)]
mod tests;
