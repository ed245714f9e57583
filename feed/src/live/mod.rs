//! The live multicast receiver: sockets, the receive ring, the receive agent, and the agents
//! of the live pipeline behind it ([`pipeline`]).
//!
//! ```text
//!   GroupSocket (one per --group: bound, joined, SO_RCVBUF raised, non-blocking,
//!        │       SO_TIMESTAMPNS, SO_RXQ_OVFL)
//!        ▼ recvmmsg straight into free slots
//!   RxAgent::do_work ──► rx ring ──► RxConsumer 0: the pipeline's engine agent
//!                                │      (`crate::pipeline::live`, decodes in place)
//!                                └─► RxConsumer 1: capture writer (optional, off the hot thread)
//! ```
//!
//! ## Invariants
//! - This folder holds all the socket and libc code of `fh-feed` (`socket`, `rx`, `signal`);
//!   every `unsafe` block there has a `// SAFETY:` note.
//! - The whole hot path (receive, engine, publish, strategy) allocates nothing after start-up;
//!   `tests/live_noalloc.rs` checks it with a counting allocator on the real DEEP capture.
//! - Sockets, slots and `recvmmsg` arrays are set up by [`open`]; the receive agent's duty
//!   cycle makes no allocation and no syscall but `recvmmsg`, and reads only the vDSO clock.
//! - Counters are plain per-thread integers copied to [`RxStats`] atomics with `Relaxed`
//!   stores after each batch; readers (the stats line) see a recent, consistent-enough value.
//! - Silence: each group's last arrival time is kept; a group quiet for longer than the
//!   heartbeat interval is reported by [`RxStats::silent_groups`] (heartbeats keep a healthy
//!   feed from ever going that quiet).

pub mod recovery;
pub mod rx;
pub mod signal;
pub mod socket;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use rx::{rx_ring, RxBatch, RxConsumer, RxPacket, RxProducer, SlotMeta};
pub use socket::{GroupSocket, GroupSpec};

/// A start-up error of the receiver (socket, join, argument): one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveError(pub String);

impl fmt::Display for LiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LiveError {}

/// Receiver configuration.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    /// Groups to join, one socket each.
    pub groups: Vec<GroupSpec>,
    /// Interface address to join on (`0.0.0.0`: the route decides).
    pub iface: Ipv4Addr,
    /// Receive buffer to ask for, bytes.
    pub rcvbuf: usize,
    /// Ring slots (rounded up to a power of two).
    pub slots: usize,
    /// Bytes per slot (longer datagrams are truncated and counted).
    pub slot_size: usize,
    /// Most datagrams per `recvmmsg`.
    pub batch: usize,
    /// Also open a unicast UDP socket bound to this address (port 0: any) after the groups,
    /// for MoldUDP64 re-request responses (its group index is `groups.len()`).
    pub unicast: Option<SocketAddrV4>,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            groups: Vec::new(),
            iface: Ipv4Addr::UNSPECIFIED,
            rcvbuf: 64 << 20,
            slots: 1 << 16,
            slot_size: 2048,
            batch: 64,
            unicast: None,
        }
    }
}

/// Receive counters, shared with the stats reporter.
#[derive(Debug)]
pub struct RxStats {
    packets: AtomicU64,
    bytes: AtomicU64,
    recv_calls: AtomicU64,
    ring_full: AtomicU64,
    truncated: AtomicU64,
    no_kernel_ts: AtomicU64,
    errors: AtomicU64,
    group_drops: Box<[AtomicU64]>,
    group_last_ns: Box<[AtomicU64]>,
    group_packets: Box<[AtomicU64]>,
}

/// A snapshot of [`RxStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RxCounters {
    /// Datagrams received.
    pub packets: u64,
    /// Payload bytes received.
    pub bytes: u64,
    /// `recvmmsg` calls that returned datagrams.
    pub recv_calls: u64,
    /// Duty cycles that found the ring full (the consumers are behind).
    pub ring_full: u64,
    /// Datagrams longer than a slot (cut).
    pub truncated: u64,
    /// Datagrams without a kernel timestamp.
    pub no_kernel_ts: u64,
    /// Socket errors other than "nothing queued".
    pub errors: u64,
    /// Kernel drops (`SO_RXQ_OVFL`) summed over the groups, as last reported by the kernel.
    pub kernel_drops: u64,
}

impl RxStats {
    fn new(groups: usize) -> Self {
        let z = |n: usize| (0..n).map(|_| AtomicU64::new(0)).collect::<Box<[_]>>();
        RxStats {
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            recv_calls: AtomicU64::new(0),
            ring_full: AtomicU64::new(0),
            truncated: AtomicU64::new(0),
            no_kernel_ts: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            group_drops: z(groups),
            group_last_ns: z(groups),
            group_packets: z(groups),
        }
    }

    /// The current counters.
    pub fn snapshot(&self) -> RxCounters {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RxCounters {
            packets: r(&self.packets),
            bytes: r(&self.bytes),
            recv_calls: r(&self.recv_calls),
            ring_full: r(&self.ring_full),
            truncated: r(&self.truncated),
            no_kernel_ts: r(&self.no_kernel_ts),
            errors: r(&self.errors),
            kernel_drops: self.group_drops.iter().map(r).sum(),
        }
    }

    /// Datagrams received per group, in `--group` order.
    pub fn group_packets(&self) -> Vec<u64> {
        self.group_packets
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .collect()
    }

    /// Indexes of the groups that received something once and then nothing for longer than
    /// `heartbeat_ns` before `now_ns` (`CLOCK_REALTIME`).
    pub fn silent_groups(
        &self,
        now_ns: u64,
        heartbeat_ns: u64,
    ) -> impl Iterator<Item = usize> + '_ {
        self.group_last_ns
            .iter()
            .enumerate()
            .filter_map(move |(i, a)| {
                let last = a.load(Ordering::Relaxed);
                (last != 0 && now_ns.saturating_sub(last) > heartbeat_ns).then_some(i)
            })
    }
}

/// `CLOCK_REALTIME` in ns since the Unix epoch (the clock of kernel receive timestamps; read
/// through the vDSO, no syscall).
pub fn realtime_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The receive agent: polls every group's socket with `recvmmsg` into the ring.
#[derive(Debug)]
pub struct RxAgent {
    sockets: Vec<GroupSocket>,
    producer: RxProducer,
    stats: Arc<RxStats>,
    local: RxCounters,
    drops: Vec<u64>,
    group_packets: Vec<u64>,
}

/// Opens the sockets and the ring: the receive agent and `consumers` ring readers.
pub fn open(cfg: &LiveConfig, consumers: usize) -> Result<(RxAgent, Vec<RxConsumer>), LiveError> {
    if cfg.groups.is_empty() {
        return Err(LiveError("no --group given".into()));
    }
    if cfg.groups.len() > u16::MAX as usize {
        return Err(LiveError("too many groups".into()));
    }
    let mut sockets = cfg
        .groups
        .iter()
        .map(|g| GroupSocket::open(*g, cfg.iface, cfg.rcvbuf))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(u) = cfg.unicast {
        sockets.push(GroupSocket::unicast(u, cfg.rcvbuf)?);
    }
    let (producer, cons) = rx_ring(cfg.slots, cfg.slot_size, consumers, cfg.batch);
    let n = sockets.len();
    Ok((
        RxAgent {
            sockets,
            producer,
            stats: Arc::new(RxStats::new(n)),
            local: RxCounters::default(),
            drops: vec![0; n],
            group_packets: vec![0; n],
        },
        cons,
    ))
}

impl RxAgent {
    /// The counters, for a reporter thread.
    pub fn stats(&self) -> Arc<RxStats> {
        self.stats.clone()
    }

    /// The joined sockets (granted buffer sizes).
    pub fn sockets(&self) -> &[GroupSocket] {
        &self.sockets
    }

    /// A handle on the unicast response socket ([`LiveConfig::unicast`]), to send requests
    /// from (responses come back to it).
    pub fn unicast_socket(&self, groups: usize) -> Option<std::net::UdpSocket> {
        self.sockets
            .get(groups)
            .and_then(|s| s.try_clone_udp().ok())
    }

    /// The ring's producer side (capacity, slot size).
    pub fn producer(&self) -> &RxProducer {
        &self.producer
    }

    /// One duty cycle: one `recvmmsg` per socket. Returns the datagrams received.
    pub fn receive(&mut self) -> usize {
        let mut got = 0usize;
        for g in 0..self.sockets.len() {
            let fd = self.sockets[g].fd();
            match self.producer.recv(fd, g as u16, realtime_ns) {
                Ok(0) => {
                    if self.producer.is_full() {
                        self.local.ring_full += 1;
                        self.stats
                            .ring_full
                            .store(self.local.ring_full, Ordering::Relaxed);
                    }
                }
                Ok(k) => {
                    got += k;
                    self.note(g, k);
                }
                Err(_) => {
                    self.local.errors += 1;
                    self.stats
                        .errors
                        .store(self.local.errors, Ordering::Relaxed);
                }
            }
        }
        got
    }

    /// Counts a batch from the producer's summary of it.
    fn note(&mut self, g: usize, k: usize) {
        let b = self.producer.last_batch();
        let l = &mut self.local;
        l.packets += k as u64;
        l.bytes += b.bytes;
        l.recv_calls += 1;
        l.truncated += b.truncated;
        l.no_kernel_ts += b.no_kernel_ts;
        self.drops[g] = self.drops[g].max(b.kernel_drops as u64);
        self.group_packets[g] += k as u64;
        let s = &self.stats;
        s.packets.store(l.packets, Ordering::Relaxed);
        s.bytes.store(l.bytes, Ordering::Relaxed);
        s.recv_calls.store(l.recv_calls, Ordering::Relaxed);
        s.truncated.store(l.truncated, Ordering::Relaxed);
        s.no_kernel_ts.store(l.no_kernel_ts, Ordering::Relaxed);
        s.group_drops[g].store(self.drops[g], Ordering::Relaxed);
        s.group_packets[g].store(self.group_packets[g], Ordering::Relaxed);
        s.group_last_ns[g].store(b.agent_ns, Ordering::Relaxed);
    }
}

impl crate::agent::Agent for RxAgent {
    fn name(&self) -> &str {
        "fh-rx"
    }

    #[inline]
    fn do_work(&mut self, _now: crate::agent::Nanos) -> usize {
        self.receive()
    }
}
