//! The publication ring against crossbeam bounded channels and `std::sync::mpsc`, in one run:
//!
//! - `ring_throughput/*`: one producer thread, one consumer thread, 64-byte `BookUpdate`s;
//!   `single` publishes (sends) every update on its own, `batch64` publishes 64 updates at a
//!   time (the ring: 64 in-place claims then one publish; the channels: one `[BookUpdate; 64]`
//!   message). Criterion reports updates/s. Three waiting modes (see `Wait`): `ring`,
//!   `crossbeam`, `mpsc` as each is usually run (the ring's consumer busy-polls and its
//!   producer waits for room with its default [`Backoff`]; the channels block); `*_spin`
//!   (both sides of every transport busy-poll, spinning 200 times before each yield);
//!   `ring_park` (the ring sleeps when idle on both sides). Compare within one mode.
//! - `ring_hop/*`: ping-pong of single updates between two threads (the echo thread answers
//!   each update on a second queue of the same kind); criterion's time is a round trip.
//! - `ring_hop_same_thread/*`: send and receive one update on one thread: the per-hop
//!   software cost without the cache-line transfer (and without the scheduler).
//! - Before criterion runs, the same ping-pong is done `FH_HOP_ROUNDS` times (default 20,000)
//!   per transport, in `FH_HOP_BLOCKS` blocks (default 10) with every transport in turn, so a
//!   change of the VM's regime hits them alike (the per-block ratio's spread is printed),
//!   each hop timed one way (sender's clock read in `engine_ts`, receiver's clock read on
//!   arrival; fh's stage clock, the TSC when invariant) into an HdrHistogram, and p50 /
//!   p99 / p99.9 are printed for the ring, crossbeam and mpsc side by side: both channels
//!   busy-polled with `try_recv` (their fastest mode) and as usually used (blocking `recv`).
//!   The one-way figure carries any offset between the two cores' counters (a few ns on this
//!   VM, either sign), so round trips are also timed on the sender's clock alone: the `rtt/2`
//!   columns (p50, p99 of half of each round trip) are offset-free. They come from a second
//!   run of the same rounds right after the one-way run, with an echo thread that only
//!   echoes: in the one-way run it reads its clock and records a value before answering.
//!   `Floor` is no queue at all: one cache line (sequence and timestamp) ping-ponged, the
//!   transfer every transport pays at least (a C version of it: 56-66 ns one way on this VM).
//!   Then the same transports one way at a feed's cadence (one update every 20 µs, sender
//!   spinning to each deadline): a blocking channel's receiver is then asleep when an update
//!   comes, as it is on a quiet feed, where ping-pong keeps it in its spin phase.
//!
//! Every receiver busy-polls (`try_recv` loops for the channels, which is their fastest mode;
//! after 200 empty polls in a row it yields, so a loaded machine cannot wedge the run), and
//! the two threads are pinned to cores 0 and 1 when there are two. Blocking `recv` is used by
//! the channel consumers of the default-mode throughput benches.
//!
//! `cargo bench -p fh-benches --bench ring`

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use fh_feed::agent::{Backoff, Idle, IdleStrategy, SpinYield};
use fh_feed::latency::clock::Clock;
use fh_feed::ring::{ring, Policy, RingConfig};
use fh_feed::update::BookUpdate;
use hdrhistogram::Histogram;
use std::cell::Cell;
use std::hint::spin_loop;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CAPACITY: usize = 4096;
const BATCH: usize = 64;

/// The cores this process may use, read once before any thread is pinned: a thread spawned by
/// a pinned thread inherits its one-core mask, so asking `get_core_ids` there would see one core
/// and leave producer and consumer time-sharing it.
static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

fn pin(core: usize) {
    let cores = *CORES.get_or_init(|| core_affinity::get_core_ids().map_or(1, |ids| ids.len()));
    if cores > core {
        core_affinity::set_for_current(core_affinity::CoreId { id: core });
    }
}

/// Waits one step while polling an empty queue: spins, and after 200 empty polls in a row
/// yields the core (on a loaded 2-core machine the peer thread may be descheduled).
#[inline]
fn backoff(empty_polls: &mut u32) {
    *empty_polls += 1;
    if *empty_polls < 200 {
        spin_loop();
    } else {
        *empty_polls = 0;
        std::thread::yield_now();
    }
}

fn update(i: u64) -> BookUpdate {
    BookUpdate {
        seq: i,
        price: i as i64,
        shares: 100,
        ..BookUpdate::default()
    }
}

/// The busy-polling ring: its producer spins as long as [`backoff`] (200 spins) before
/// yielding, the same budget as every busy-polling side here. (It used to spin 10,000: on
/// this shared 2-vCPU VM a producer pause-spinning that long on a full ring cut the
/// consumer's throughput to 12 M updates/s, single or batched, against 91-99 M with 200.)
fn ring_config(policy: Policy) -> RingConfig {
    RingConfig {
        producer_idle: Idle::SpinYield(SpinYield::new(200)),
        ..RingConfig::new(CAPACITY, 1, policy)
    }
}

// ---------------------------------------------------------------- throughput

/// How the two sides of a throughput bench wait: for data (consumer) and for room (producer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    /// Both sides busy-poll, yielding now and then: consumers [`backoff`], the ring's producer
    /// `SpinYield(200)`, the channels' producers a `try_send` loop with [`backoff`].
    Spin,
    /// Each transport as normally used: the ring's consumer busy-polls and its producer waits
    /// for room with the ring's default idle strategy (`SpinYield(200)`: it never parks, so
    /// for the ring this is [`Wait::Spin`]); the channels block in `recv` and `send`.
    Usual,
    /// Both sides sleep when idle (the ring's consumer too uses `Backoff`).
    Park,
}

/// Moves `n` updates from this thread to a consumer thread; returns the elapsed time once the
/// consumer has seen them all (and checks it saw them all, in order).
fn ring_throughput(n: u64, batch: usize, wait: Wait) -> Duration {
    let config = match wait {
        Wait::Spin => ring_config(Policy::NoLoss),
        Wait::Usual => RingConfig::new(CAPACITY, 1, Policy::NoLoss),
        Wait::Park => RingConfig {
            producer_idle: Idle::Backoff(Backoff::default()),
            ..RingConfig::new(CAPACITY, 1, Policy::NoLoss)
        },
    };
    let (mut p, mut cs) = ring::<BookUpdate>(config).unwrap();
    let mut c = cs.pop().unwrap();
    let consumer = std::thread::spawn(move || {
        pin(1);
        let mut sum = 0u64;
        let mut seen = 0u64;
        let mut empty = 0;
        let mut idle = Backoff::default();
        while seen < n {
            if let Some(mut b) = c.poll() {
                while let Some(ev) = b.next() {
                    sum = sum.wrapping_add(ev.update.seq);
                    seen += 1;
                }
                empty = 0;
                idle.reset();
            } else if wait != Wait::Park {
                backoff(&mut empty);
            } else {
                idle.idle(0);
            }
        }
        sum
    });
    pin(0);
    let start = Instant::now();
    let mut i = 0;
    while i < n {
        let k = (batch as u64).min(n - i);
        for _ in 0..k {
            // The whole record in one go (as the engine writes a full update): one full-line
            // store instead of a read-for-ownership and a partial write.
            *p.claim() = update(i);
            i += 1;
        }
        p.publish();
    }
    let sum = consumer.join().unwrap();
    let elapsed = start.elapsed();
    assert_eq!(sum, n * (n - 1) / 2);
    elapsed
}

/// A channel's sending end, blocking (`send`) or not (`try_send`, which hands the value back).
trait Sender<T>: Send + 'static {
    fn send(&self, v: T);
    fn try_send(&self, v: T) -> Result<(), T>;
}

impl<T: Send + 'static> Sender<T> for crossbeam_channel::Sender<T> {
    fn send(&self, v: T) {
        crossbeam_channel::Sender::send(self, v).unwrap();
    }
    fn try_send(&self, v: T) -> Result<(), T> {
        crossbeam_channel::Sender::try_send(self, v).map_err(|e| e.into_inner())
    }
}

impl<T: Send + 'static> Sender<T> for std::sync::mpsc::SyncSender<T> {
    fn send(&self, v: T) {
        std::sync::mpsc::SyncSender::send(self, v).unwrap();
    }
    fn try_send(&self, v: T) -> Result<(), T> {
        use std::sync::mpsc::TrySendError::{Disconnected, Full};
        std::sync::mpsc::SyncSender::try_send(self, v).map_err(|(Full(v) | Disconnected(v))| v)
    }
}

/// Moves `msgs` messages made by `make(i)` through a channel to a consumer thread that sums
/// `seqs(&msg)`; returns the elapsed time once it has seen them all, and that sum.
fn channel_throughput<M: Send + 'static>(
    (tx, rx): (impl Sender<M>, impl Receiver<M> + Send + 'static),
    msgs: u64,
    make: impl Fn(u64) -> M,
    seqs: fn(&M) -> u64,
    wait: Wait,
) -> (Duration, u64) {
    let consumer = std::thread::spawn(move || {
        pin(1);
        let mut sum = 0u64;
        let mut empty = 0;
        for _ in 0..msgs {
            let m = match wait {
                Wait::Usual | Wait::Park => rx.recv().unwrap(),
                Wait::Spin => wait_for(|| rx.try_recv(), &mut empty),
            };
            sum = sum.wrapping_add(seqs(&m));
        }
        sum
    });
    pin(0);
    let start = Instant::now();
    let mut full = 0;
    for i in 0..msgs {
        let mut m = make(i);
        if wait == Wait::Spin {
            while let Err(back) = tx.try_send(m) {
                m = back;
                backoff(&mut full);
            }
        } else {
            tx.send(m);
        }
    }
    let sum = consumer.join().unwrap();
    (start.elapsed(), sum)
}

/// One message of `BATCH` updates, the `m`th.
fn batch_msg(m: u64) -> [BookUpdate; BATCH] {
    core::array::from_fn(|k| update(m * BATCH as u64 + k as u64))
}

fn batch_seqs(m: &[BookUpdate; BATCH]) -> u64 {
    m.iter().fold(0u64, |s, u| s.wrapping_add(u.seq))
}

/// `n` updates through `t`'s bounded channels, one per message or [`BATCH`] per message.
fn chan_throughput(t: Transport, n: u64, batch: usize, wait: Wait) -> Duration {
    let (elapsed, sum, total) = if batch == 1 {
        let (d, sum) = match t {
            Transport::Crossbeam => channel_throughput(
                crossbeam_channel::bounded(CAPACITY),
                n,
                update,
                |u| u.seq,
                wait,
            ),
            _ => channel_throughput(
                std::sync::mpsc::sync_channel(CAPACITY),
                n,
                update,
                |u| u.seq,
                wait,
            ),
        };
        (d, sum, n)
    } else {
        let msgs = n / BATCH as u64;
        let (d, sum) = match t {
            Transport::Crossbeam => channel_throughput(
                crossbeam_channel::bounded(CAPACITY / BATCH),
                msgs,
                batch_msg,
                batch_seqs,
                wait,
            ),
            _ => channel_throughput(
                std::sync::mpsc::sync_channel(CAPACITY / BATCH),
                msgs,
                batch_msg,
                batch_seqs,
                wait,
            ),
        };
        (d, sum, msgs * BATCH as u64)
    };
    assert_eq!(sum, total * (total - 1) / 2);
    elapsed
}

fn bench_throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring_throughput");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    // Each criterion iteration moves this many updates (amortising the thread start).
    const PER_ITER: u64 = 16 * 1024;
    // `ring`/`crossbeam`/`mpsc`: each as usually run ([`Wait::Usual`]); `*_spin`: both sides
    // busy-poll; `ring_park`: the ring sleeps when idle on both sides. On a loaded shared
    // machine the waiting mode decides more than the transport: compare within a mode.
    for (name, batch) in [("single", 1usize), ("batch64", BATCH)] {
        g.throughput(Throughput::Elements(PER_ITER));
        for (suffix, wait) in [
            ("", Wait::Usual),
            ("_spin", Wait::Spin),
            ("_park", Wait::Park),
        ] {
            g.bench_function(BenchmarkId::new(format!("ring{suffix}"), name), |b| {
                b.iter_custom(|iters| ring_throughput(iters * PER_ITER, batch, wait))
            });
            if wait == Wait::Park {
                continue; // the channels' usual mode already blocks on both sides
            }
            g.bench_function(BenchmarkId::new(format!("crossbeam{suffix}"), name), |b| {
                b.iter_custom(|iters| {
                    chan_throughput(Transport::Crossbeam, iters * PER_ITER, batch, wait)
                })
            });
            g.bench_function(BenchmarkId::new(format!("mpsc{suffix}"), name), |b| {
                b.iter_custom(|iters| {
                    chan_throughput(Transport::Mpsc, iters * PER_ITER, batch, wait)
                })
            });
        }
    }
    g.finish();
}

// ---------------------------------------------------------------- one-hop latency

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    Ring,
    Crossbeam,
    Mpsc,
    /// Crossbeam as usually used: blocking `send`/`recv` (the receiver sleeps when empty).
    CrossbeamBlocking,
    /// `std::sync::mpsc` with blocking `send`/`recv`.
    MpscBlocking,
    /// No queue: the sender stores the timestamp and the sequence into one cache line, the
    /// receiver spins on it. One line transfer per hop: the floor every transport pays.
    Floor,
}

/// [`Transport::Floor`]'s line: a sequence (0: nothing yet) and the sender's timestamp.
#[repr(align(64))]
#[derive(Default)]
struct Line {
    seq: AtomicU64,
    ts: AtomicU64,
}

impl Line {
    /// Sends update `seq` (stamped `ts`).
    fn send(&self, seq: u64, ts: u64) {
        self.ts.store(ts, Ordering::Relaxed);
        self.seq.store(seq + 1, Ordering::Release);
    }

    /// The update after `*seen`, if it is there.
    fn recv(&self, seen: &Cell<u64>) -> Option<BookUpdate> {
        let s = self.seq.load(Ordering::Acquire);
        (s > seen.get()).then(|| {
            seen.set(s);
            BookUpdate {
                seq: s - 1,
                engine_ts: self.ts.load(Ordering::Relaxed),
                ..BookUpdate::default()
            }
        })
    }
}

/// ns from a sender's `clock.ticks()` reading to now (0 when this core's counter reads behind
/// the sender's: the two vCPUs' counters may be offset by a few ns).
#[inline]
fn since(clock: &Clock, sent: u64) -> u64 {
    clock.span_ns(sent, clock.ticks())
}

/// Polls `recv` until it yields, with [`backoff`] between empty polls.
#[inline]
fn wait_for<T>(mut recv: impl FnMut() -> Option<T>, empty_polls: &mut u32) -> T {
    loop {
        if let Some(v) = recv() {
            return v;
        }
        backoff(empty_polls);
    }
}

/// A channel's receiving end, polled (`try_recv`) or blocking (`recv`).
trait Receiver<T> {
    fn try_recv(&self) -> Option<T>;
    fn recv(&self) -> Option<T>;
}

impl<T> Receiver<T> for crossbeam_channel::Receiver<T> {
    fn try_recv(&self) -> Option<T> {
        crossbeam_channel::Receiver::try_recv(self).ok()
    }
    fn recv(&self) -> Option<T> {
        crossbeam_channel::Receiver::recv(self).ok()
    }
}

impl<T> Receiver<T> for std::sync::mpsc::Receiver<T> {
    fn try_recv(&self) -> Option<T> {
        std::sync::mpsc::Receiver::try_recv(self).ok()
    }
    fn recv(&self) -> Option<T> {
        std::sync::mpsc::Receiver::recv(self).ok()
    }
}

/// One receive: blocking as a channel is usually used, or a single poll.
#[inline]
fn recv<T>(rx: &impl Receiver<T>, block: bool) -> Option<T> {
    if block {
        rx.recv()
    } else {
        rx.try_recv()
    }
}

/// What a ping-pong run measured (one of its two histograms, by [`Timing`]).
struct PingPong {
    /// One way, ping direction: the receiver's TSC reading minus the sender's (exposed to any
    /// offset between the two cores' counters).
    one_way: Histogram<u64>,
    /// Half of each round trip, on the sender's clock alone: no clock offset in it. Ping and
    /// pong are both `BookUpdate`s on queues of the same kind, so this is one hop's figure.
    half_rtt: Histogram<u64>,
    /// Total time of all rounds.
    elapsed: Duration,
}

/// What a ping-pong run times. Two separate runs, so that neither figure carries the other's
/// instrumentation: timing the ping one way makes the echo thread read its clock and record a
/// histogram value (≈ 15 ns here) between receiving the ping and sending the pong, which a
/// round trip timed in the same run would include.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timing {
    /// The echo thread timestamps each ping's arrival; round trips are not recorded.
    OneWay,
    /// The echo thread only echoes; the sender records half of each round trip.
    RoundTrip,
}

/// `rounds` ping-pongs.
fn ping_pong(t: Transport, rounds: u64, timing: Timing) -> PingPong {
    match timing {
        Timing::OneWay => ping_pong_timed::<true>(t, rounds),
        Timing::RoundTrip => ping_pong_timed::<false>(t, rounds),
    }
}

/// `rounds` ping-pongs; `ONE_WAY` as [`Timing::OneWay`] (a constant, so the untimed echo loop
/// has no trace of the timed one).
fn ping_pong_timed<const ONE_WAY: bool>(t: Transport, rounds: u64) -> PingPong {
    // The stage clock of `fh` (TSC when invariant): two `rdtsc` per hop, converted after.
    let clock = Clock::global();
    let hist = Histogram::<u64>::new_with_bounds(1, 1_000_000_000, 3).unwrap();
    // Each side: a "send" and a "receive" closure over the transport, run in a tight loop.
    macro_rules! run {
        ($send_ping:expr, $recv_ping:expr, $send_pong:expr, $recv_pong:expr) => {{
            let echo = std::thread::spawn(move || {
                pin(1);
                let mut hist = hist;
                let mut empty = 0;
                for _ in 0..rounds {
                    let u: BookUpdate = wait_for(|| $recv_ping(), &mut empty);
                    if ONE_WAY {
                        hist.saturating_record(since(&clock, u.engine_ts));
                    }
                    $send_pong(u.seq);
                }
                hist
            });
            pin(0);
            let mut half_rtt = Histogram::<u64>::new_with_bounds(1, 1_000_000_000, 3).unwrap();
            let start = Instant::now();
            let mut empty = 0;
            for i in 0..rounds {
                let sent = clock.ticks();
                $send_ping(BookUpdate {
                    seq: i,
                    engine_ts: sent,
                    ..BookUpdate::default()
                });
                assert_eq!(wait_for(|| $recv_pong(), &mut empty), i);
                if !ONE_WAY {
                    half_rtt.saturating_record(since(&clock, sent) / 2);
                }
            }
            let elapsed = start.elapsed();
            PingPong {
                one_way: echo.join().unwrap(),
                half_rtt,
                elapsed,
            }
        }};
    }
    match t {
        Transport::Floor => {
            let (ping, pong) = (Arc::new(Line::default()), Arc::new(Line::default()));
            let (ping_rx, pong_tx) = (Arc::clone(&ping), Arc::clone(&pong));
            let (seen_ping, seen_pong) = (Cell::new(0), Cell::new(0));
            run!(
                |u: BookUpdate| ping.send(u.seq, u.engine_ts),
                || ping_rx.recv(&seen_ping),
                |seq: u64| pong_tx.send(seq, 0),
                || pong.recv(&seen_pong).map(|u| u.seq)
            )
        }
        Transport::Ring => {
            let (mut ping_p, mut ping_c) = ring::<BookUpdate>(ring_config(Policy::NoLoss)).unwrap();
            let (mut pong_p, mut pong_c) = ring::<BookUpdate>(ring_config(Policy::NoLoss)).unwrap();
            let mut ping_c = ping_c.pop().unwrap();
            let mut pong_c = pong_c.pop().unwrap();
            run!(
                |u: BookUpdate| {
                    let mut claim = ping_p.claim();
                    claim.seq = u.seq;
                    claim.engine_ts = u.engine_ts;
                    drop(claim);
                    ping_p.publish();
                },
                || ping_c
                    .poll()
                    .and_then(|mut b| b.next().map(|ev| *ev.update)),
                |seq: u64| {
                    pong_p.claim().seq = seq;
                    pong_p.publish();
                },
                || pong_c
                    .poll()
                    .and_then(|mut b| b.next().map(|ev| ev.update.seq))
            )
        }
        Transport::Crossbeam | Transport::CrossbeamBlocking => {
            let block = t == Transport::CrossbeamBlocking;
            let (ping_tx, ping_rx) = crossbeam_channel::bounded::<BookUpdate>(CAPACITY);
            let (pong_tx, pong_rx) = crossbeam_channel::bounded::<BookUpdate>(CAPACITY);
            run!(
                |u: BookUpdate| ping_tx.send(u).unwrap(),
                || recv(&ping_rx, block),
                |seq: u64| pong_tx.send(update(seq)).unwrap(),
                || recv(&pong_rx, block).map(|u| u.seq)
            )
        }
        Transport::Mpsc | Transport::MpscBlocking => {
            let block = t == Transport::MpscBlocking;
            let (ping_tx, ping_rx) = std::sync::mpsc::sync_channel::<BookUpdate>(CAPACITY);
            let (pong_tx, pong_rx) = std::sync::mpsc::sync_channel::<BookUpdate>(CAPACITY);
            run!(
                |u: BookUpdate| ping_tx.send(u).unwrap(),
                || recv(&ping_rx, block),
                |seq: u64| pong_tx.send(update(seq)).unwrap(),
                || recv(&pong_rx, block).map(|u| u.seq)
            )
        }
    }
}

/// `rounds` single updates sent one way at a market-data cadence, one every `gap_ns` (the
/// sender spins to each deadline), the receiver waiting as `t` does: the ring and the
/// `try_recv` channels busy-poll, the blocking channels sleep between updates, as they do when
/// a feed is quiet. Returns the one-way latency histogram.
fn paced(t: Transport, rounds: u64, gap_ns: u64) -> Histogram<u64> {
    let clock = Clock::global();
    let gap = clock.ns_to_ticks(gap_ns);
    let hist = Histogram::<u64>::new_with_bounds(1, 1_000_000_000, 3).unwrap();
    macro_rules! run {
        ($send:expr, $recv:expr) => {{
            let rx = std::thread::spawn(move || {
                pin(1);
                let mut hist = hist;
                let mut empty = 0;
                for i in 0..rounds {
                    let u: BookUpdate = wait_for(|| $recv(), &mut empty);
                    hist.saturating_record(since(&clock, u.engine_ts));
                    assert_eq!(u.seq, i);
                }
                hist
            });
            pin(0);
            let mut next = clock.ticks();
            for i in 0..rounds {
                next += gap;
                while clock.ticks() < next {
                    spin_loop();
                }
                $send(BookUpdate {
                    seq: i,
                    engine_ts: clock.ticks(),
                    ..BookUpdate::default()
                });
            }
            rx.join().unwrap()
        }};
    }
    match t {
        Transport::Ring => {
            let (mut p, mut c) = ring::<BookUpdate>(ring_config(Policy::NoLoss)).unwrap();
            let mut c = c.pop().unwrap();
            run!(
                |u: BookUpdate| {
                    p.push(u);
                },
                || c.poll().and_then(|mut b| b.next().map(|ev| *ev.update))
            )
        }
        Transport::Crossbeam | Transport::CrossbeamBlocking => {
            let block = t == Transport::CrossbeamBlocking;
            let (tx, rx) = crossbeam_channel::bounded::<BookUpdate>(CAPACITY);
            run!(|u| tx.send(u).unwrap(), || recv(&rx, block))
        }
        Transport::Mpsc | Transport::MpscBlocking => {
            let block = t == Transport::MpscBlocking;
            let (tx, rx) = std::sync::mpsc::sync_channel::<BookUpdate>(CAPACITY);
            run!(|u| tx.send(u).unwrap(), || recv(&rx, block))
        }
        Transport::Floor => unreachable!("one line is not a queue"),
    }
}

fn print_hop_percentiles() {
    let rounds = std::env::var("FH_HOP_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000u64);
    let blocks = std::env::var("FH_HOP_BLOCKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10u64)
        .clamp(1, rounds.max(1));
    println!(
        "one-hop latency, {rounds} ping-pongs per transport in {blocks} interleaved blocks, ns. \
         One way: receiver's {} reading minus the sender's (includes any offset between the \
         cores' counters); rtt/2: half of each round trip on the sender's clock (offset-free)",
        Clock::global().source().name()
    );
    println!(
        "{:<18} {:>8} {:>8} {:>8} {:>8} {:>10} {:>10} {:>10}",
        "transport", "p50", "p90", "p99", "p99.9", "rtt/2 p50", "rtt/2 p99", "rtt/2 mean"
    );
    let mut p50 = [0u64; 6];
    let mut half_p50 = [0u64; 6];
    let all = [
        Transport::Ring,
        Transport::Crossbeam,
        Transport::Mpsc,
        Transport::CrossbeamBlocking,
        Transport::MpscBlocking,
        Transport::Floor,
    ];
    // Blocks of every transport in turn, so a change of the VM's regime (vCPUs moved, a
    // neighbour's load) hits every transport alike; per transport the blocks are merged.
    let mut runs: Vec<Option<PingPong>> = all.iter().map(|_| None).collect();
    let mut block_ratios = Vec::new();
    for t in all {
        ping_pong(t, rounds / 10, Timing::RoundTrip); // warm-up
    }
    for _ in 0..blocks {
        let mut block_p50 = [0u64; 6];
        for (k, t) in all.into_iter().enumerate() {
            let mut r = ping_pong(t, rounds / blocks, Timing::RoundTrip);
            r.one_way = ping_pong(t, rounds / blocks, Timing::OneWay).one_way;
            block_p50[k] = r.half_rtt.value_at_quantile(0.5);
            match &mut runs[k] {
                None => runs[k] = Some(r),
                Some(acc) => {
                    acc.one_way.add(&r.one_way).unwrap();
                    acc.half_rtt.add(&r.half_rtt).unwrap();
                    acc.elapsed += r.elapsed;
                }
            }
        }
        block_ratios.push(block_p50[0] as f64 / block_p50[1].max(1) as f64);
    }
    for (k, t) in all.into_iter().enumerate() {
        let PingPong {
            one_way: h,
            half_rtt,
            elapsed,
        } = runs[k].take().expect("every transport ran");
        let rounds = h.len();
        p50[k] = h.value_at_quantile(0.5);
        half_p50[k] = half_rtt.value_at_quantile(0.5);
        println!(
            "{:<18} {:>8} {:>8} {:>8} {:>8} {:>10} {:>10} {:>10.1}",
            format!("{t:?}"),
            h.value_at_quantile(0.50),
            h.value_at_quantile(0.90),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            half_rtt.value_at_quantile(0.50),
            half_rtt.value_at_quantile(0.99),
            elapsed.as_nanos() as f64 / rounds as f64 / 2.0
        );
    }
    println!(
        "ring p50 / crossbeam p50, one way: {:.2} (both busy-polling), {:.3} (crossbeam blocking \
         as usually used); rtt/2: {:.2}, {:.3}",
        p50[0] as f64 / p50[1].max(1) as f64,
        p50[0] as f64 / p50[3].max(1) as f64,
        half_p50[0] as f64 / half_p50[1].max(1) as f64,
        half_p50[0] as f64 / half_p50[3].max(1) as f64
    );
    block_ratios.sort_by(f64::total_cmp);
    println!(
        "per block, ring rtt/2 p50 / crossbeam (busy-polling) rtt/2 p50: min {:.2}, median {:.2}, \
         max {:.2}",
        block_ratios[0],
        block_ratios[block_ratios.len() / 2],
        block_ratios[block_ratios.len() - 1]
    );
    const GAP_NS: u64 = 20_000;
    let paced_rounds = (rounds / 2).max(1);
    println!(
        "one-way latency at a feed's cadence: {paced_rounds} single updates, one every {} µs, ns",
        GAP_NS / 1000
    );
    println!(
        "{:<18} {:>8} {:>8} {:>8} {:>8}",
        "transport", "p50", "p90", "p99", "p99.9"
    );
    // Not the floor: one line is not a queue, a late receiver would miss updates.
    for (k, t) in all
        .into_iter()
        .enumerate()
        .filter(|&(_, t)| t != Transport::Floor)
    {
        let h = paced(t, paced_rounds, GAP_NS);
        p50[k] = h.value_at_quantile(0.5);
        println!(
            "{:<18} {:>8} {:>8} {:>8} {:>8}",
            format!("{t:?}"),
            h.value_at_quantile(0.50),
            h.value_at_quantile(0.90),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
        );
    }
    println!(
        "paced: ring p50 / crossbeam p50: {:.2} (both busy-polling), {:.3} (crossbeam blocking)",
        p50[0] as f64 / p50[1].max(1) as f64,
        p50[0] as f64 / p50[3].max(1) as f64
    );
}

fn bench_hop(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring_hop");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    const PER_ITER: u64 = 1_000;
    for t in [Transport::Ring, Transport::Crossbeam, Transport::Mpsc] {
        g.bench_function(format!("{t:?}").to_lowercase(), |b| {
            // Reported time: one round trip (two hops).
            b.iter_custom(|iters| {
                ping_pong(t, iters * PER_ITER, Timing::RoundTrip).elapsed / PER_ITER as u32
            })
        });
    }
    g.finish();
}

/// The software cost of one hop without the cross-core cache transfer: send one update and
/// receive it on the same thread. Insensitive to scheduling, so it isolates what each transport
/// executes per update (atomics, CAS, waker checks) from what the machine's load does.
fn bench_same_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring_hop_same_thread");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    g.throughput(Throughput::Elements(1));
    let mut i = 0u64;
    for (name, policy) in [
        ("ring", Policy::NoLoss),
        ("ring_never_wait", Policy::NeverWait),
    ] {
        let (mut p, mut cs) = ring::<BookUpdate>(ring_config(policy)).unwrap();
        let mut rc = cs.pop().unwrap();
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut claim = p.claim();
                claim.seq = i;
                claim.price = i as i64;
                drop(claim);
                p.publish();
                i += 1;
                let mut batch = rc.poll().unwrap();
                std::hint::black_box(batch.next().unwrap().update.price)
            })
        });
    }
    let (tx, rx) = crossbeam_channel::bounded::<BookUpdate>(CAPACITY);
    g.bench_function("crossbeam", |b| {
        b.iter(|| {
            tx.send(update(i)).unwrap();
            i += 1;
            std::hint::black_box(rx.try_recv().unwrap().price)
        })
    });
    let (tx, rx) = std::sync::mpsc::sync_channel::<BookUpdate>(CAPACITY);
    g.bench_function("mpsc", |b| {
        b.iter(|| {
            tx.send(update(i)).unwrap();
            i += 1;
            std::hint::black_box(rx.try_recv().unwrap().price)
        })
    });
    g.finish();
}

criterion_group!(benches, bench_same_thread, bench_throughput, bench_hop);

fn main() {
    pin(usize::MAX); // reads the core count while nothing is pinned yet
    if !std::env::args().any(|a| a == "--list") {
        print_hop_percentiles();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
