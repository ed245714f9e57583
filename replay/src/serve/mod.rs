//! # The exchange side: a day on two lines, a MoldUDP64 request server, a snapshot server
//!
//! ```text
//!  gen::Generator ─► Packetizer ─► Tee ─┬─► Log (every clean message, by sequence number)
//!  (or a capture's MoldUDP64 packets)   └─► faults::Lines ─► Frames (line A / line B, faulted,
//!                                                              outage on both lines)
//!  sender thread:   Frames ─► UDP multicast (TTL 0 by default), paced; `sent` = highest
//!                   sequence number on the wire so far
//!  request server:  UDP unicast, 20-byte MoldUDP64 requests ─► one downstream packet back from
//!                   the Log (bounded: only the last `log_messages` sent are kept), optionally
//!                   answering part of each range or dropping some requests
//!  snapshot server: SoupBinTCP 3.0 (`snapshot`): login ─► the state at `sent` as ITCH 5.0
//!                   messages ─► end of snapshot (layout in `snapshot.rs`)
//! ```
//!
//! Everything is prepared before the first packet goes out (the day is generated into memory),
//! so the sender only paces and sends. The request and snapshot servers answer from the clean
//! log, never from what a line carried.
//!
//! ## Invariants
//! - Line faults are the generator's fault model ([`crate::gen::faults::Lines`]): each line
//!   draws its own drops, duplicates, reorders and corruptions; the [`ServeTruth`] records them
//!   and the outage, so what was lost on *both* lines is known exactly ([`ServeTruth::lost_both`]).
//! - A server never answers what has not been sent yet, nor what has left its log.
//! - Traffic stays where it is sent: multicast TTL defaults to 0; the servers bind the
//!   addresses they are given.

pub mod snapshot;

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::gen::faults::{FrameSink, LineTruth, Lines, SeqRange};
use crate::gen::packet::{Packet, PacketSink, Packetizer, HEADER_LEN, MAX_PAYLOAD};
use crate::gen::rng::{Chance, Rng};
use crate::gen::{self, FaultRates, GenError, Generator};

/// Where the day comes from.
#[derive(Debug, Clone)]
pub enum DaySource {
    /// A generated day (`fh gen`'s model): these options' config and session; their fault rates
    /// and lines are ignored (the serve config has its own).
    Generate(gen::Options),
    /// The MoldUDP64 packets of a capture, in file order (one session; other datagrams skipped).
    Capture(PathBuf),
}

/// A MoldUDP64 request server's behaviour.
#[derive(Debug, Clone)]
pub struct RequestServerConfig {
    /// Address to bind (UDP).
    pub bind: SocketAddrV4,
    /// Messages kept for re-requests (the most recent ones sent).
    pub log_messages: u64,
    /// Fraction of each requested range answered (0 < f ≤ 1; at least one message).
    pub answer_fraction: f64,
    /// Probability that a request is ignored.
    pub drop_requests: f64,
    /// PRNG seed for the drops.
    pub seed: u64,
}

impl RequestServerConfig {
    /// A server on `bind` answering every request in full from a log of 1 M messages.
    pub fn new(bind: SocketAddrV4) -> Self {
        RequestServerConfig {
            bind,
            log_messages: 1 << 20,
            answer_fraction: 1.0,
            drop_requests: 0.0,
            seed: 1,
        }
    }
}

/// Everything `fh serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The day.
    pub source: DaySource,
    /// Faults, each line drawing independently.
    pub rates: FaultRates,
    /// Seed of the line faults.
    pub fault_seed: u64,
    /// Line A's group.
    pub line_a: SocketAddrV4,
    /// Line B's group, if any.
    pub line_b: Option<SocketAddrV4>,
    /// Outage: from this data packet index (0-based), this many data packets are lost on
    /// every line.
    pub outage: Option<(u64, u64)>,
    /// Interface to send from (its address); `None`: the route decides.
    pub iface: Option<Ipv4Addr>,
    /// Multicast TTL (0 keeps it on the host).
    pub ttl: u32,
    /// Packets per second per line (0: as fast as the socket takes them).
    pub pps: u64,
    /// The request server, if any.
    pub request: Option<RequestServerConfig>,
    /// The snapshot server's address, if any.
    pub snapshot: Option<SocketAddrV4>,
    /// Stop sending before the packet holding this sequence number until a snapshot client
    /// has logged in (a late joiner meets the day there: a client logging in earlier waits
    /// for the sender to reach the gate); then the rest goes out.
    pub snapshot_gate: Option<u64>,
    /// Keep the servers up this long after the last packet (for the clients' last requests).
    pub linger: Duration,
    /// Wait this long before the first packet (for receivers to join).
    pub start_delay: Duration,
}

impl ServeConfig {
    /// A fault-free day on line A only, no servers.
    pub fn new(source: DaySource, line_a: SocketAddrV4) -> Self {
        ServeConfig {
            source,
            rates: FaultRates::default(),
            fault_seed: 1,
            line_a,
            line_b: None,
            outage: None,
            iface: None,
            ttl: 0,
            pps: 0,
            request: None,
            snapshot: None,
            snapshot_gate: None,
            linger: Duration::from_secs(1),
            start_delay: Duration::ZERO,
        }
    }
}

/// A start-up or run error, one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeError(pub String);

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ServeError {}

/// The clean day: every message by sequence number, and the session.
#[derive(Debug, Default)]
pub struct Log {
    /// MoldUDP64 session.
    pub session: [u8; 10],
    /// Sequence number of the first message.
    pub first_seq: u64,
    bytes: Vec<u8>,
    /// Start of message `i` in `bytes`; one more entry than messages.
    offs: Vec<u32>,
}

impl Log {
    fn push(&mut self, msg: &[u8]) {
        if self.offs.is_empty() {
            self.offs.push(0);
        }
        self.bytes.extend_from_slice(msg);
        self.offs.push(self.bytes.len() as u32);
    }

    /// Messages in the log.
    pub fn len(&self) -> u64 {
        self.offs.len().saturating_sub(1) as u64
    }

    /// True when the log holds no message.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Last sequence number (first − 1 when empty).
    pub fn last_seq(&self) -> u64 {
        self.first_seq + self.len() - 1
    }

    /// Message `seq`, if logged.
    pub fn get(&self, seq: u64) -> Option<&[u8]> {
        let i = seq.checked_sub(self.first_seq)?;
        if i >= self.len() {
            return None;
        }
        let i = i as usize;
        Some(&self.bytes[self.offs[i] as usize..self.offs[i + 1] as usize])
    }
}

/// One frame as a line carries it.
#[derive(Debug)]
struct Frame {
    line: u8,
    /// Highest sequence number the frame's data carries (0 for control packets).
    last_seq: u64,
    bytes: Vec<u8>,
}

#[derive(Debug, Default)]
struct Frames {
    frames: Vec<Frame>,
    outage_now: bool,
    cur_last: u64,
    outage_frames: u64,
}

impl FrameSink for Frames {
    fn frame(&mut self, line: usize, _ts: u64, payload: &[u8]) -> io::Result<()> {
        if self.outage_now {
            self.outage_frames += 1;
            return Ok(());
        }
        self.frames.push(Frame {
            line: line as u8,
            last_seq: self.cur_last,
            bytes: payload.to_vec(),
        });
        Ok(())
    }
}

/// Logs every clean packet's messages and passes it on to the faulted lines.
struct Tee {
    log: Log,
    lines: Lines<Frames>,
    data_index: u64,
    outage: Option<(u64, u64)>,
    outage_ranges: Vec<SeqRange>,
}

impl PacketSink for Tee {
    fn packet(&mut self, p: &Packet<'_>) -> io::Result<()> {
        let mut in_outage = false;
        if p.is_data() {
            if self.log.is_empty() {
                self.log.first_seq = p.seq;
            }
            let mut pos = HEADER_LEN;
            while pos + 2 <= p.bytes.len() {
                let n = usize::from(u16::from_be_bytes([p.bytes[pos], p.bytes[pos + 1]]));
                let end = (pos + 2 + n).min(p.bytes.len());
                self.log.push(&p.bytes[pos + 2..end]);
                pos = end;
            }
            in_outage = self
                .outage
                .is_some_and(|(a, n)| self.data_index >= a && self.data_index < a + n);
            if in_outage {
                let r = (p.seq, p.seq + u64::from(p.count) - 1);
                match self.outage_ranges.last_mut() {
                    Some(l) if l.1 + 1 == r.0 => l.1 = r.1,
                    _ => self.outage_ranges.push(r),
                }
            }
            self.data_index += 1;
        }
        let last = if p.is_data() {
            p.seq + u64::from(p.count) - 1
        } else {
            0
        };
        let out = self.lines.sink_mut();
        out.outage_now = in_outage;
        out.cur_last = last;
        self.lines.packet(p)?;
        self.lines.sink_mut().outage_now = false;
        Ok(())
    }
}

/// What was done to the lines: the generator's truth per line plus the outage.
#[derive(Debug, Clone, Default)]
pub struct ServeTruth {
    /// Messages in the day.
    pub messages: u64,
    /// First sequence number.
    pub first_seq: u64,
    /// Per line (A, then B): drops, duplicates, reorders, corruptions.
    pub lines: Vec<LineTruth>,
    /// Ranges lost on every line by the outage (consecutive packets merged).
    pub outage: Vec<SeqRange>,
}

impl ServeTruth {
    /// Sequence ranges no line delivered intact (dropped, corrupted or in the outage on every
    /// line), consecutive ranges merged, in order.
    pub fn lost_both(&self) -> Vec<SeqRange> {
        let per_line: Vec<Vec<SeqRange>> = self
            .lines
            .iter()
            .map(|t| {
                let mut v: Vec<SeqRange> = t.dropped.clone();
                v.extend(t.corrupted.iter().map(|(r, _)| *r));
                v.extend(self.outage.iter().copied());
                merge(v)
            })
            .collect();
        let Some((first, rest)) = per_line.split_first() else {
            return Vec::new();
        };
        let mut acc = first.clone();
        for other in rest {
            acc = intersect(&acc, other);
        }
        merge(acc)
    }

    /// JSON: messages, first sequence, outage and lost ranges, and each line's faults.
    pub fn to_json(&self) -> String {
        let r = |v: &[SeqRange]| {
            let s: Vec<String> = v.iter().map(|(a, b)| format!("[{a},{b}]")).collect();
            format!("[{}]", s.join(","))
        };
        let lines: Vec<String> = self
            .lines
            .iter()
            .zip(["A", "B"])
            .map(|(t, n)| {
                let c: Vec<SeqRange> = t.corrupted.iter().map(|(r, _)| *r).collect();
                let re: Vec<SeqRange> = t.reordered.iter().map(|(l, _)| *l).collect();
                format!(
                    "{{\"name\":\"{n}\",\"packets_written\":{},\"dropped\":{},\"duplicated\":{},\"reordered\":{},\"corrupted\":{}}}",
                    t.packets_written,
                    r(&t.dropped),
                    r(&t.duplicated),
                    r(&re),
                    r(&c)
                )
            })
            .collect();
        format!(
            "{{\n  \"generator\": \"fh serve\",\n  \"messages\": {},\n  \"first_seq\": {},\n  \"outage\": {},\n  \"lost_both\": {},\n  \"lines\": [\n    {}\n  ]\n}}\n",
            self.messages,
            self.first_seq,
            r(&self.outage),
            r(&self.lost_both()),
            lines.join(",\n    ")
        )
    }
}

fn merge(mut v: Vec<SeqRange>) -> Vec<SeqRange> {
    v.sort_unstable();
    let mut out: Vec<SeqRange> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(l) if a <= l.1.saturating_add(1) => l.1 = l.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

fn intersect(x: &[SeqRange], y: &[SeqRange]) -> Vec<SeqRange> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < x.len() && j < y.len() {
        let (a, b) = (x[i].0.max(y[j].0), x[i].1.min(y[j].1));
        if a <= b {
            out.push((a, b));
        }
        if x[i].1 < y[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// The day prepared for sending: the clean log, every line's frames in send order, the truth.
#[derive(Debug)]
pub struct Day {
    /// The clean messages.
    pub log: Log,
    frames: Vec<Frame>,
    /// What the lines do.
    pub truth: ServeTruth,
}

impl Day {
    /// Frames to send over all lines.
    pub fn frames(&self) -> usize {
        self.frames.len()
    }
}

/// Generates (or reads) the day and applies the line faults, in memory.
pub fn prepare(cfg: &ServeConfig) -> Result<Day, ServeError> {
    let n_lines = if cfg.line_b.is_some() { 2 } else { 1 };
    let frames = Frames::default();
    let mut tee = Tee {
        log: Log::default(),
        lines: Lines::new(n_lines, cfg.rates, cfg.fault_seed, frames),
        data_index: 0,
        outage: cfg.outage,
        outage_ranges: Vec::new(),
    };
    match &cfg.source {
        DaySource::Generate(o) => {
            tee.log.session = o.session;
            let mut g = Generator::new(o.config)
                .map_err(|e| ServeError(format!("fh serve: {}", GenError::Config(e))))?;
            let mut pk = Packetizer::new(o.session);
            let mut buf = [0u8; gen::msg::MAX_LEN];
            let io = |e: io::Error| ServeError(format!("fh serve: {e}"));
            while let Some((ts, len)) = g.next_message(&mut buf) {
                pk.push(ts, &buf[..len], &mut tee).map_err(io)?;
            }
            pk.finish(&mut tee).map_err(io)?;
        }
        DaySource::Capture(path) => capture_packets(path, &mut tee)?,
    }
    let first_seq = tee.log.first_seq;
    let messages = tee.log.len();
    let (frames, lines) = tee.lines.into_parts();
    Ok(Day {
        log: tee.log,
        frames: frames.frames,
        truth: ServeTruth {
            messages,
            first_seq,
            lines,
            outage: tee.outage_ranges,
        },
    })
}

/// Feeds a capture's MoldUDP64 packets of its first session, in file order, to `tee`.
fn capture_packets(path: &std::path::Path, tee: &mut Tee) -> Result<(), ServeError> {
    use crate::capture::Capture;
    let err = |e: crate::capture::Error| ServeError(format!("fh serve: {e}"));
    let cap = Capture::open(path).map_err(err)?;
    let mut session: Option<[u8; 10]> = None;
    let mut next: Option<u64> = None;
    for rec in cap.records().map_err(err)? {
        let rec = rec.map_err(err)?;
        let Ok(d) = crate::frame::udp_payload(rec.link, rec.data) else {
            continue;
        };
        let b = d.payload;
        let Ok(p) = fh_decoders::moldudp64::Packet::parse(b) else {
            continue;
        };
        let h = p.header();
        let s = *h.session();
        if *session.get_or_insert(s) != s {
            continue;
        }
        tee.log.session = s;
        let (count, data) = match p {
            fh_decoders::moldudp64::Packet::Data(d) => (d.message_count(), true),
            fh_decoders::moldudp64::Packet::Heartbeat(_) => (0, false),
            fh_decoders::moldudp64::Packet::EndOfSession(_) => (0xFFFF, false),
            fh_decoders::moldudp64::Packet::Request(_) => continue,
        };
        let seq = h.sequence_number();
        if data {
            // Only the first copy of each range: a capture of one line may hold duplicates.
            if next.is_some_and(|n| seq != n) {
                continue;
            }
            next = Some(seq + u64::from(count));
        }
        tee.packet(&Packet {
            ts: rec.ts_ns,
            seq,
            count,
            bytes: b,
        })
        .map_err(|e| ServeError(format!("fh serve: {e}")))?;
    }
    if tee.log.is_empty() {
        return Err(ServeError(format!(
            "fh serve: {}: no MoldUDP64 data packets",
            path.display()
        )));
    }
    Ok(())
}

/// Shared progress: the highest sequence number sent so far, and whether a snapshot client
/// logged in.
#[derive(Debug, Default)]
pub struct Progress {
    /// Highest sequence number on the wire (either line).
    pub sent: AtomicU64,
    /// Frames sent.
    pub frames: AtomicU64,
    /// Snapshot logins served.
    pub snapshots: AtomicU64,
    /// The sender is waiting at the snapshot gate.
    pub at_gate: AtomicBool,
    /// Sequence number of the last snapshot served.
    pub snapshot_seq: AtomicU64,
    /// Requests received / answered / ignored (dropped on purpose or out of the log).
    pub requests: AtomicU64,
    /// Requests answered.
    pub answered: AtomicU64,
    /// Requests ignored on purpose (`drop_requests`).
    pub dropped_requests: AtomicU64,
    /// Requests for messages not in the log (too old, or not sent yet).
    pub unanswerable: AtomicU64,
    /// Messages sent in responses.
    pub resent_messages: AtomicU64,
}

/// A running exchange.
#[derive(Debug)]
pub struct Served {
    /// Progress counters.
    pub progress: Arc<Progress>,
    /// What the lines do.
    pub truth: ServeTruth,
    /// The request server's bound address.
    pub request_addr: Option<SocketAddrV4>,
    /// The snapshot server's bound address.
    pub snapshot_addr: Option<SocketAddrV4>,
    stop: Arc<AtomicBool>,
    sender: Option<JoinHandle<Result<(), ServeError>>>,
    servers: Vec<JoinHandle<()>>,
    linger: Duration,
}

/// What a finished exchange did.
#[derive(Debug, Clone)]
pub struct ServeReport {
    /// Frames sent over all lines.
    pub frames: u64,
    /// Messages in the day.
    pub messages: u64,
    /// Requests received.
    pub requests: u64,
    /// Requests answered.
    pub answered: u64,
    /// Requests ignored on purpose.
    pub dropped_requests: u64,
    /// Requests for messages not in the log.
    pub unanswerable: u64,
    /// Messages re-sent.
    pub resent_messages: u64,
    /// Snapshots served.
    pub snapshots: u64,
    /// The truth.
    pub truth: ServeTruth,
}

/// Starts the servers and the sender (which waits `start_delay` first).
pub fn start(cfg: &ServeConfig, stop: Arc<AtomicBool>) -> Result<Served, ServeError> {
    let day = prepare(cfg)?;
    let progress = Arc::new(Progress::default());
    let log = Arc::new(day.log);
    let mut servers = Vec::new();
    let mut request_addr = None;
    if let Some(rc) = &cfg.request {
        let sock = UdpSocket::bind(rc.bind)
            .map_err(|e| ServeError(format!("fh serve: request server bind {}: {e}", rc.bind)))?;
        request_addr = match sock.local_addr() {
            Ok(std::net::SocketAddr::V4(a)) => Some(a),
            _ => None,
        };
        let _ = sock.set_read_timeout(Some(Duration::from_millis(20)));
        let (log, pr, st, rc) = (log.clone(), progress.clone(), stop.clone(), rc.clone());
        servers.push(spawn("fh-serve-req", move || {
            request_server(sock, &log, &pr, &st, &rc)
        })?);
    }
    let mut snapshot_addr = None;
    if let Some(addr) = cfg.snapshot {
        let l = std::net::TcpListener::bind(addr)
            .map_err(|e| ServeError(format!("fh serve: snapshot server bind {addr}: {e}")))?;
        snapshot_addr = match l.local_addr() {
            Ok(std::net::SocketAddr::V4(a)) => Some(a),
            _ => None,
        };
        l.set_nonblocking(true)
            .map_err(|e| ServeError(format!("fh serve: snapshot server: {e}")))?;
        let (log, pr, st) = (log.clone(), progress.clone(), stop.clone());
        let gated = cfg.snapshot_gate.is_some();
        servers.push(spawn("fh-serve-snap", move || {
            snapshot::serve(l, &log, &pr, &st, gated)
        })?);
    }
    let sock = send_socket(cfg)?;
    let (pr, st) = (progress.clone(), stop.clone());
    let (a, b, pps, delay, gate) = (
        cfg.line_a,
        cfg.line_b,
        cfg.pps,
        cfg.start_delay,
        cfg.snapshot_gate,
    );
    let frames = day.frames;
    let sender = std::thread::Builder::new()
        .name("fh-serve-tx".into())
        .spawn(move || send_frames(&sock, &frames, [Some(a), b], pps, delay, gate, &pr, &st))
        .map_err(|e| ServeError(format!("fh serve: thread: {e}")))?;
    Ok(Served {
        progress,
        truth: day.truth,
        request_addr,
        snapshot_addr,
        stop,
        sender: Some(sender),
        servers,
        linger: cfg.linger,
    })
}

impl Served {
    /// Waits for the sender, lingers, stops the servers; the figures.
    pub fn wait(mut self) -> Result<ServeReport, ServeError> {
        let sent = match self.sender.take() {
            Some(h) => h
                .join()
                .map_err(|_| ServeError("fh serve: the sender panicked".into()))?,
            None => Ok(()),
        };
        let t0 = Instant::now();
        while t0.elapsed() < self.linger && !self.stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.stop.store(true, Ordering::Relaxed);
        for h in self.servers.drain(..) {
            let _ = h.join();
        }
        sent?;
        let p = &self.progress;
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Ok(ServeReport {
            frames: r(&p.frames),
            messages: self.truth.messages,
            requests: r(&p.requests),
            answered: r(&p.answered),
            dropped_requests: r(&p.dropped_requests),
            unanswerable: r(&p.unanswerable),
            resent_messages: r(&p.resent_messages),
            snapshots: r(&p.snapshots),
            truth: self.truth.clone(),
        })
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, ServeError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| ServeError(format!("fh serve: thread: {e}")))
}

fn send_socket(cfg: &ServeConfig) -> Result<Socket, ServeError> {
    let err = |what: &str, e: io::Error| ServeError(format!("fh serve: {what}: {e}"));
    for g in std::iter::once(cfg.line_a).chain(cfg.line_b) {
        if !g.ip().is_multicast() {
            return Err(ServeError(format!(
                "fh serve: {g}: not a multicast group (224.0.0.0/4)"
            )));
        }
    }
    let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
        .map_err(|e| err("socket", e))?;
    sock.set_multicast_ttl_v4(cfg.ttl)
        .map_err(|e| err("IP_MULTICAST_TTL", e))?;
    sock.set_multicast_loop_v4(true)
        .map_err(|e| err("IP_MULTICAST_LOOP", e))?;
    if let Some(ifa) = cfg.iface {
        sock.set_multicast_if_v4(&ifa)
            .map_err(|e| err(&format!("IP_MULTICAST_IF {ifa}"), e))?;
        sock.bind(&SockAddr::from(SocketAddrV4::new(ifa, 0)))
            .map_err(|e| err(&format!("bind {ifa}"), e))?;
    }
    let _ = sock.set_send_buffer_size(8 << 20);
    Ok(sock)
}

#[allow(clippy::too_many_arguments)]
fn send_frames(
    sock: &Socket,
    frames: &[Frame],
    lines: [Option<SocketAddrV4>; 2],
    pps: u64,
    delay: Duration,
    gate: Option<u64>,
    progress: &Progress,
    stop: &AtomicBool,
) -> Result<(), ServeError> {
    let dst: Vec<Option<SockAddr>> = lines.iter().map(|l| l.map(SockAddr::from)).collect();
    let t_start = Instant::now();
    while t_start.elapsed() < delay {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let n_lines = dst.iter().filter(|d| d.is_some()).count().max(1) as u64;
    let mut t0 = Instant::now();
    let mut paced = 0u64;
    let mut gated = gate.is_none();
    for (i, f) in frames.iter().enumerate() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if !gated && f.last_seq >= gate.unwrap_or(0) {
            progress.at_gate.store(true, Ordering::Release);
            while progress.snapshots.load(Ordering::Acquire) == 0 {
                if stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            gated = true;
            progress.at_gate.store(false, Ordering::Release);
            t0 = Instant::now();
            paced = 0;
        }
        if pps > 0 && i % 16 == 0 {
            let due =
                t0 + Duration::from_nanos(paced.saturating_mul(1_000_000_000) / (pps * n_lines));
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        paced += 1;
        let Some(Some(to)) = dst.get(usize::from(f.line)) else {
            continue;
        };
        let mut tries = 0;
        loop {
            match sock.send_to(&f.bytes, to) {
                Ok(_) => break,
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.raw_os_error() == Some(libc::ENOBUFS) =>
                {
                    tries += 1;
                    if tries > 10_000 {
                        return Err(ServeError(format!("fh serve: send: {e}")));
                    }
                    std::thread::sleep(Duration::from_micros(50));
                }
                Err(e) => return Err(ServeError(format!("fh serve: send: {e}"))),
            }
        }
        if f.last_seq > 0 {
            progress.sent.fetch_max(f.last_seq, Ordering::Release);
        }
        progress.frames.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Builds the response to a request for `[first, first + count)`: as many whole messages as
/// the log holds, sent already and fit in one [`MAX_PAYLOAD`] datagram, at most `limit`.
/// Returns the messages put in (0: nothing to answer).
pub fn build_response(
    log: &Log,
    sent: u64,
    oldest: u64,
    first: u64,
    count: u64,
    limit: u64,
    out: &mut Vec<u8>,
) -> u64 {
    out.clear();
    out.resize(HEADER_LEN, 0);
    let mut n = 0u64;
    let mut seq = first;
    while n < count.min(limit) && seq <= sent && seq >= oldest {
        let Some(m) = log.get(seq) else { break };
        if out.len() + 2 + m.len() > MAX_PAYLOAD {
            break;
        }
        out.extend_from_slice(&(m.len() as u16).to_be_bytes());
        out.extend_from_slice(m);
        n += 1;
        seq += 1;
    }
    crate::gen::packet::write_header(out, &log.session, first, n as u16);
    n
}

fn request_server(
    sock: UdpSocket,
    log: &Log,
    pr: &Progress,
    stop: &AtomicBool,
    rc: &RequestServerConfig,
) {
    let mut rng = Rng::new(rc.seed ^ 0x5E4E_0000_0000_0001);
    let drop = Chance::new(rc.drop_requests.clamp(0.0, 1.0));
    let mut buf = [0u8; 2048];
    let mut out = Vec::with_capacity(MAX_PAYLOAD);
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        if n != HEADER_LEN || buf[..10] != log.session {
            continue;
        }
        pr.requests.fetch_add(1, Ordering::Relaxed);
        if rng.chance(drop) {
            pr.dropped_requests.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let first = u64::from_be_bytes(buf[10..18].try_into().unwrap_or_default());
        let count = u64::from(u16::from_be_bytes([buf[18], buf[19]]));
        let sent = pr.sent.load(Ordering::Acquire);
        let oldest = sent.saturating_sub(rc.log_messages).max(log.first_seq);
        let limit = ((count as f64 * rc.answer_fraction).ceil() as u64).max(1);
        let k = build_response(log, sent, oldest, first, count, limit, &mut out);
        if k == 0 {
            pr.unanswerable.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if sock.send_to(&out, from).is_ok() {
            pr.answered.fetch_add(1, Ordering::Relaxed);
            pr.resent_messages.fetch_add(k, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_both_is_the_intersection_with_the_outage() {
        let t = ServeTruth {
            lines: vec![
                LineTruth {
                    dropped: vec![(5, 7), (20, 21), (40, 40)],
                    ..LineTruth::default()
                },
                LineTruth {
                    dropped: vec![(5, 7), (22, 23), (41, 41)],
                    ..LineTruth::default()
                },
            ],
            outage: vec![(30, 39)],
            ..ServeTruth::default()
        };
        assert_eq!(t.lost_both(), vec![(5, 7), (30, 39)]);
    }

    #[test]
    fn a_response_holds_whole_messages_up_to_one_datagram() {
        let mut log = Log {
            session: *b"S000000001",
            first_seq: 1,
            ..Log::default()
        };
        for i in 0..100u8 {
            log.push(&[i; 40]);
        }
        let mut out = Vec::new();
        // 1400 bytes: 20 header + 32 × 42.
        assert_eq!(build_response(&log, 100, 1, 1, 100, 100, &mut out), 32);
        assert_eq!(out.len(), 20 + 32 * 42);
        assert_eq!(build_response(&log, 100, 1, 95, 10, 10, &mut out), 6);
        assert_eq!(
            build_response(&log, 50, 1, 60, 10, 10, &mut out),
            0,
            "not sent yet"
        );
        assert_eq!(
            build_response(&log, 100, 50, 10, 10, 10, &mut out),
            0,
            "left the log"
        );
        assert_eq!(
            build_response(&log, 100, 1, 10, 10, 3, &mut out),
            3,
            "partial"
        );
        assert_eq!(&out[10..18], &10u64.to_be_bytes());
    }
}
