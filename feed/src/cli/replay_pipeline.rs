//! `fh replay FILE --pipeline`: the replay as a threaded pipeline, the shape of `fh live`
//! without the sockets.
//!
//! ```text
//!  fh-replay (main thread, --cpu 1st)   replay_capture: records → frames → Engine::on_datagram
//!        │ PipeSink: claim a slot, write the update in place, publish at each LAST_IN_EVENT
//!        ▼            (and the top of book table when a strategy reads it)
//!  publication ring (--policy, --ring-size)
//!        ├─► fh-strat-0 (--cpu 2nd)  digest: the single-thread replay's ReplaySink, fed by the ring
//!        ├─► fh-strat-1 (--cpu 3rd)  bbo: spread / locked-or-crossed tracker (top-of-book table)
//!        ├─► fh-strat-2              imbalance: size-imbalance signals at event ends
//!        └─► fh-strat-3..            count: counts what it reads
//! ```
//!
//! The producer is exactly the single-thread replay ([`replay_capture`], same engine, same
//! capture times as `now`), only its sink writes into the ring, so under the no-loss policy
//! the digest consumer folds the very stream `fh replay --digest` folds and prints the same
//! `digest:` (local times are not part of the digest). Each consumer runs as a
//! [`StrategyAgent`] on its own thread (pinned with `--cpu`), draining whole batches through the
//! ring's guard; its lag (published − read, sampled as each batch starts) is tracked.
//!
//! The `bbo` and `imbalance` strategies read the lock-free top-of-book table
//! ([`crate::topbook`]), which the producer fills only when such a strategy runs
//! (`--consumers` >= 2). The engine reports a BBO change after the event's updates, so a
//! strategy may read the table a moment before that event's change lands (or after later
//! ones): it sees the latest consistent BBO, not one tied to the update in hand.
//!
//! ## Invariants
//! - Every consumer reads each published update once or counts it as missed (never-wait):
//!   `consumed + missed == published`, reported per consumer.
//! - A venue event is published whole. The one exception: an event with more updates than the
//!   ring has slots would wait forever on a no-loss ring, so the sink publishes a full ring of
//!   pending updates early (counted as `split events`; never happens with sane ring sizes).
//! - Shutdown is ordered: the capture ends, the producer publishes what is left and is dropped
//!   (which closes the ring); every consumer then drains and reports done; all threads are
//!   joined before the report. Idle strategies default to back-off, so a 2-core machine is
//!   never starved.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use super::live::IdleKind;
use super::replay::{replay_capture, report, thread_cpu_ns, Args, NoBbo, ReplaySink};
use super::{CliError, CliResult};
use crate::agent::{self, Backoff, BusySpin, Idle, MonotonicClock, SpinYield, ThreadConfig};
use crate::engine::levels::Bbo as LevelBbo;
use crate::engine::{Engine, UpdateSink, IEX_INSTRUMENT_BASE};
use crate::ring::{self, Policy, Producer, RingConfig, RingMonitor};
use crate::strategy::{Strategy, StrategyAgent};
use crate::topbook::{self, Bbo, TopBookReader, TopBookWriter};
use crate::update::{flags, BookUpdate, InstrumentId};
use fh_replay::capture::Capture;

/// Ring policy on the command line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PolicyArg {
    /// The producer waits for the slowest consumer (measured); nothing is lost.
    #[default]
    NoLoss,
    /// The producer never waits; a lapped consumer counts exactly what it missed.
    NeverWait,
}

/// The options of `fh replay --pipeline` (flattened into [`Args`]).
#[derive(Debug, Clone, clap::Args)]
pub struct PipelineArgs {
    /// Run as a pipeline: reader + engine on this thread, strategies on their own threads.
    #[arg(long)]
    pub pipeline: bool,
    /// Strategy threads: the 1st digests, the 2nd tracks BBO/spreads, the 3rd computes
    /// imbalance signals, the rest count.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub consumers: usize,
    /// Publication ring policy.
    #[arg(long, value_enum, default_value = "no-loss")]
    pub policy: PolicyArg,
    /// Publication ring slots (a power of two, at least 2).
    #[arg(long, value_name = "N", default_value_t = 1 << 16)]
    pub ring_size: usize,
    /// Idle strategy of the strategy threads and of a waiting no-loss producer.
    #[arg(long, value_enum, default_value = "backoff")]
    pub idle: IdleKind,
    /// Cores to pin to, in order: reader + engine, then each strategy (repeatable).
    #[arg(long = "cpu", value_name = "N")]
    pub cpus: Vec<usize>,
    /// Make the last strategy deliberately slow: it spends NS ns on each update (to watch
    /// back-pressure or never-wait misses).
    #[arg(long, value_name = "NS", default_value_t = 0)]
    pub slow_ns: u64,
}

impl Default for PipelineArgs {
    fn default() -> Self {
        PipelineArgs {
            pipeline: false,
            consumers: 1,
            policy: PolicyArg::NoLoss,
            ring_size: 1 << 16,
            idle: IdleKind::Backoff,
            cpus: Vec::new(),
            slow_ns: 0,
        }
    }
}

/// Top-of-book table size: every ITCH locate and the first 16 384 IEX symbols.
const TOP_INSTRUMENTS: usize = IEX_INSTRUMENT_BASE as usize + (1 << 14);

/// The producer's sink: updates written in place into ring slots, published at event
/// boundaries; BBO changes into the top-of-book table when `TOP`.
struct PipeSink<'a, const TOP: bool> {
    out: &'a mut Producer<BookUpdate>,
    top: Option<&'a mut TopBookWriter>,
    capacity: u64,
    pending: u64,
    split_events: u64,
    top_outside: u64,
}

/// Replays `cap` into `engine`, publishing into `out` (and the top-of-book table when `TOP`):
/// the shell's stats, events split at a full ring, and BBO changes outside the table.
fn produce<const TOP: bool>(
    cap: &Capture,
    engine: &mut Engine,
    out: &mut Producer<BookUpdate>,
    top: Option<&mut TopBookWriter>,
    progress: impl FnMut(f64),
) -> Result<(super::replay::ShellStats, u64, u64), CliError> {
    let capacity = out.capacity() as u64;
    let mut sink = PipeSink::<TOP> {
        out,
        top,
        capacity,
        pending: 0,
        split_events: 0,
        top_outside: 0,
    };
    let st = replay_capture(cap, engine, &mut sink, progress)?;
    Ok((st, sink.split_events, sink.top_outside))
}

impl<const TOP: bool> UpdateSink for PipeSink<'_, TOP> {
    const WANTS_BBO: bool = TOP;

    #[inline]
    fn publish(&mut self, u: &BookUpdate) {
        if self.pending == self.capacity {
            // A whole ring unpublished: a no-loss claim would wait for ever.
            self.out.publish();
            self.pending = 0;
            self.split_events += 1;
        }
        *self.out.claim() = *u;
        self.pending += 1;
        if u.flags & flags::LAST_IN_EVENT != 0 {
            self.out.publish();
            self.pending = 0;
        }
    }

    #[inline]
    fn bbo_changed(&mut self, exch_ts: u64, instrument: InstrumentId, _: &[u8; 8], b: &LevelBbo) {
        if let Some(w) = self.top.as_deref_mut() {
            let (bid_price, bid_shares) = b.bid.unwrap_or((0, 0));
            let (ask_price, ask_shares) = b.ask.unwrap_or((0, 0));
            let bbo = Bbo {
                bid_price,
                bid_shares,
                ask_price,
                ask_shares,
                seq: 0,
                exch_ts,
            };
            self.top_outside += u64::from(!w.set(instrument, &bbo));
        }
    }
}

/// Size imbalance `(bid - ask) / (bid + ask)` beyond which a signal is emitted, basis points.
pub const IMBALANCE_THRESHOLD_BP: i64 = 6_000;

/// What one strategy thread does with the updates.
#[derive(Debug)]
pub enum Role {
    /// The single-thread replay's sink (digest, counts by kind, stale), fed by the ring.
    Digest(ReplaySink<NoBbo>),
    /// Spread tracker: on each update that moved a best price, reads the instrument's top of
    /// book and tracks the spread (samples, sum, max in price units) and locked/crossed books.
    Bbo {
        /// The top-of-book table.
        top: TopBookReader,
        /// Two-sided books sampled.
        samples: u64,
        /// Sum of the sampled spreads (4 implied decimals).
        spread_sum: i128,
        /// Widest sampled spread.
        spread_max: i64,
        /// Samples with bid >= ask.
        locked_or_crossed: u64,
    },
    /// Imbalance signal: at each event end, reads the instrument's top of book and counts the
    /// times its size imbalance crosses ±[`IMBALANCE_THRESHOLD_BP`].
    Imbalance {
        /// The top-of-book table.
        top: TopBookReader,
        /// Last signal per instrument (-1, 0, 1), indexed like the table.
        state: Box<[i8]>,
        /// Events examined.
        events: u64,
        /// Signal changes emitted.
        signals: u64,
    },
    /// Counts only.
    Count,
}

impl Role {
    fn name(&self) -> &'static str {
        match self {
            Role::Digest(_) => "digest",
            Role::Bbo { .. } => "bbo",
            Role::Imbalance { .. } => "imbalance",
            Role::Count => "count",
        }
    }
}

/// A role with the per-consumer measurements of the pipeline: lag at batch starts, missed count,
/// optional deliberate slowness.
#[derive(Debug)]
pub struct PipeStrategy {
    /// What it does.
    pub role: Role,
    monitor: RingMonitor<BookUpdate>,
    batch_start: bool,
    /// Largest lag seen at a batch start (published − the batch's first sequence), updates.
    pub max_lag: u64,
    /// Sum of the lags seen at batch starts.
    pub lag_sum: u64,
    /// Updates missed (never-wait), as announced by the ring.
    pub missed: u64,
    slow: Duration,
}

impl Strategy for PipeStrategy {
    #[inline]
    fn on_update(&mut self, u: &BookUpdate, seq: u64, _end_of_batch: bool) {
        if self.batch_start {
            // One Acquire load per batch: how far behind the producer this batch starts.
            let lag = self.monitor.producer_stats().published.saturating_sub(seq);
            self.max_lag = self.max_lag.max(lag);
            self.lag_sum += lag;
            self.batch_start = false;
        }
        match &mut self.role {
            Role::Digest(s) => s.publish(u),
            Role::Bbo {
                top,
                samples,
                spread_sum,
                spread_max,
                locked_or_crossed,
            } => {
                if u.flags & flags::BEST_CHANGED != 0 {
                    if let Some(b) = top.get(u.instrument) {
                        if b.bid_shares > 0 && b.ask_shares > 0 {
                            let s = b.ask_price - b.bid_price;
                            *samples += 1;
                            *spread_sum += i128::from(s);
                            *spread_max = (*spread_max).max(s);
                            *locked_or_crossed += u64::from(s <= 0);
                        }
                    }
                }
            }
            Role::Imbalance {
                top,
                state,
                events,
                signals,
            } => {
                if u.flags & flags::LAST_IN_EVENT != 0 {
                    *events += 1;
                    if let (Some(b), Some(st)) =
                        (top.get(u.instrument), state.get_mut(u.instrument as usize))
                    {
                        let total = i128::from(b.bid_shares) + i128::from(b.ask_shares);
                        let sig = if total == 0 {
                            0
                        } else {
                            let bp = (i128::from(b.bid_shares) - i128::from(b.ask_shares)) * 10_000
                                / total;
                            let t = i128::from(IMBALANCE_THRESHOLD_BP);
                            i8::from(bp >= t) - i8::from(bp <= -t)
                        };
                        if sig != *st {
                            *signals += u64::from(sig != 0);
                            *st = sig;
                        }
                    }
                }
            }
            Role::Count => {}
        }
        if !self.slow.is_zero() {
            let t = Instant::now();
            while t.elapsed() < self.slow {
                std::hint::spin_loop();
            }
        }
    }

    #[inline]
    fn on_batch_end(&mut self) {
        self.batch_start = true;
    }

    fn on_missed(&mut self, count: u64) {
        self.missed += count;
    }
}

/// One consumer's figures at the end of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerReport {
    /// Its role (`digest`, `bbo`, `imbalance`, `count`).
    pub role: &'static str,
    /// Updates delivered to it.
    pub consumed: u64,
    /// Non-empty batches.
    pub batches: u64,
    /// Updates it lost to laps (never-wait).
    pub missed: u64,
    /// Largest lag at a batch start (published − first sequence of the batch).
    pub max_lag: u64,
    /// Mean lag at batch starts.
    pub mean_lag: u64,
    /// What the role found, one line.
    pub detail: String,
}

fn policy(p: PolicyArg) -> Policy {
    match p {
        PolicyArg::NoLoss => Policy::NoLoss,
        PolicyArg::NeverWait => Policy::NeverWait,
    }
}

fn idle(k: IdleKind) -> Idle {
    match k {
        IdleKind::Spin => Idle::BusySpin(BusySpin),
        IdleKind::Yield => Idle::SpinYield(SpinYield::default()),
        IdleKind::Backoff => Idle::Backoff(Backoff::default()),
    }
}

/// Runs `fh replay --pipeline` on an opened capture with a configured engine.
pub fn run(args: &Args, cap: &Capture, mut engine: Engine, progress: impl FnMut(f64)) -> CliResult {
    let p = &args.pipe;
    if args.bbo_csv.is_some() {
        return Err(CliError::new("--bbo-csv is not available with --pipeline"));
    }
    if p.consumers == 0 {
        return Err(CliError::new(
            "--consumers 0: at least one strategy is needed",
        ));
    }
    if p.consumers > 64 {
        return Err(CliError::new(format!(
            "--consumers {}: at most 64 strategy threads",
            p.consumers
        )));
    }
    let mut rc = RingConfig::new(p.ring_size, p.consumers, policy(p.policy));
    rc.producer_idle = idle(p.idle);
    let (mut producer, consumers) = ring::ring::<BookUpdate>(rc)
        .map_err(|e| CliError::new(format!("--ring-size {}: {e}", p.ring_size)))?;
    let want_top = p.consumers >= 2;
    let (mut writer, reader) = if want_top {
        let (w, r) = topbook::top_book(TOP_INSTRUMENTS);
        (Some(w), Some(r))
    } else {
        (None, None)
    };
    let clock = MonotonicClock::new();
    let ag = |e: std::io::Error| CliError::new(format!("cannot start a strategy thread: {e}"));
    let n = p.consumers;
    let mut handles = Vec::with_capacity(n);
    for (i, c) in consumers.into_iter().enumerate() {
        let role = match (i, &reader) {
            (0, _) => Role::Digest(ReplaySink::default()),
            (1, Some(r)) => Role::Bbo {
                top: r.clone(),
                samples: 0,
                spread_sum: 0,
                spread_max: 0,
                locked_or_crossed: 0,
            },
            (2, Some(r)) => Role::Imbalance {
                top: r.clone(),
                state: vec![0i8; TOP_INSTRUMENTS].into_boxed_slice(),
                events: 0,
                signals: 0,
            },
            _ => Role::Count,
        };
        let strat = PipeStrategy {
            role,
            monitor: c.monitor(),
            batch_start: true,
            max_lag: 0,
            lag_sum: 0,
            missed: 0,
            slow: if i + 1 == n {
                Duration::from_nanos(p.slow_ns)
            } else {
                Duration::ZERO
            },
        };
        let name = format!("fh-strat-{i}");
        let cfg = ThreadConfig {
            name: Some(name.clone()),
            core: p.cpus.get(i + 1).copied(),
            idle: idle(p.idle),
        };
        handles.push(agent::spawn(StrategyAgent::new(name, c, strat), cfg, clock).map_err(ag)?);
    }
    let pinned = p
        .cpus
        .first()
        .is_some_and(|&id| core_affinity::set_for_current(core_affinity::CoreId { id }));

    let start = Instant::now();
    let cpu0 = thread_cpu_ns();
    let capacity = producer.capacity() as u64;
    let produced = match writer.as_mut() {
        Some(w) => produce::<true>(cap, &mut engine, &mut producer, Some(w), progress),
        None => produce::<false>(cap, &mut engine, &mut producer, None, progress),
    };
    producer.publish();
    let producer_elapsed = start.elapsed();
    let producer_cpu = thread_cpu_ns().zip(cpu0).map(|(a, b)| a - b);
    let pstats = producer.stats();
    drop(producer); // closes the ring: the strategies drain and finish
    let mut agents = Vec::with_capacity(n);
    let mut pins = Vec::with_capacity(n);
    for h in handles {
        pins.push(h.pinned_core());
        agents.push(h.join().map_err(CliError::new)?);
    }
    let elapsed = start.elapsed();
    let (st, split_events, top_outside) = produced?;

    let mut reports = Vec::with_capacity(n);
    let mut digest_sink = None;
    for a in agents {
        let consumed = a.delivered();
        let batches = a.batches();
        let s = a.into_strategy();
        let detail = match &s.role {
            Role::Digest(d) => format!("digest {:016x} over {} updates", d.digest.value(), d.digest.count),
            Role::Bbo {
                samples,
                spread_sum,
                spread_max,
                locked_or_crossed,
                ..
            } => format!(
                "{samples} two-sided BBO samples, mean spread {}, max spread {}, locked or crossed {locked_or_crossed}",
                fixed4(spread_sum.checked_div(i128::from(*samples)).unwrap_or(0) as i64),
                fixed4(*spread_max)
            ),
            Role::Imbalance { events, signals, .. } => format!(
                "{events} events, {signals} imbalance signals (|imbalance| >= {} bp)",
                IMBALANCE_THRESHOLD_BP
            ),
            Role::Count => String::new(),
        };
        reports.push(ConsumerReport {
            role: s.role.name(),
            consumed,
            batches,
            missed: s.missed,
            max_lag: s.max_lag,
            mean_lag: s.lag_sum.checked_div(batches).unwrap_or(0),
            detail,
        });
        if let Role::Digest(d) = s.role {
            digest_sink = Some(d);
        }
    }
    let sink = digest_sink.unwrap_or_default();
    let mut o = report(args, cap, &engine, &st, &sink, elapsed, None);
    let msgs = engine.stats.itch_messages() + engine.stats.iex_messages();
    let rate = |d: Duration| msgs as f64 / d.as_secs_f64().max(1e-9) / 1e6;
    let _ = writeln!(
        o,
        "pipeline: {} strategy threads, ring {} slots, {} policy, {:?} idle; reader+engine {}",
        n,
        capacity,
        match p.policy {
            PolicyArg::NoLoss => "no-loss",
            PolicyArg::NeverWait => "never-wait",
        },
        p.idle,
        if pinned {
            format!("pinned to cpu {}", p.cpus[0])
        } else {
            "not pinned".to_string()
        }
    );
    let _ = writeln!(
        o,
        "producer: published {} updates, waited {} times for {:.3} ms (no-loss back-pressure), split events {}, top-of-book ids outside the table {}; done after {:.3} s ({:.2} M messages/s{})",
        pstats.published,
        pstats.waits,
        pstats.wait_ns as f64 / 1e6,
        split_events,
        top_outside,
        producer_elapsed.as_secs_f64(),
        rate(producer_elapsed),
        producer_cpu
            .filter(|&c| c > 0)
            .map(|c| format!(", CPU time {:.3} s", c as f64 / 1e9))
            .unwrap_or_default()
    );
    for (i, (r, pin)) in reports.iter().zip(pins).enumerate() {
        let _ = writeln!(
            o,
            "consumer {i} ({}{}): consumed {}, batches {} (mean {:.1} updates), missed {}, lag max {} mean {}{}{}",
            r.role,
            pin.map(|c| format!(", cpu {c}")).unwrap_or_default(),
            r.consumed,
            r.batches,
            r.consumed as f64 / r.batches.max(1) as f64,
            r.missed,
            r.max_lag,
            r.mean_lag,
            if r.detail.is_empty() { "" } else { "; " },
            r.detail
        );
    }
    let _ = writeln!(
        o,
        "pipeline elapsed: {:.3} s, {:.2} M messages/s end to end",
        elapsed.as_secs_f64(),
        rate(elapsed)
    );
    print!("{o}");
    Ok(())
}

fn fixed4(p: i64) -> String {
    fh_decoders::price::Fixed::<4>(p).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(i: u64, last: bool) -> BookUpdate {
        BookUpdate {
            seq: i,
            flags: if last { flags::LAST_IN_EVENT } else { 0 },
            ..Default::default()
        }
    }

    #[test]
    fn sink_publishes_at_event_ends_and_splits_only_a_ring_sized_event() {
        // Never-wait so that this single thread can overfill the ring without waiting.
        let (mut p, mut cs) =
            ring::ring::<BookUpdate>(RingConfig::new(4, 1, Policy::NeverWait)).unwrap();
        let mut c = cs.pop().unwrap();
        let mut sink = PipeSink::<false> {
            out: &mut p,
            top: None,
            capacity: 4,
            pending: 0,
            split_events: 0,
            top_outside: 0,
        };
        sink.publish(&update(0, false));
        sink.publish(&update(1, true));
        assert_eq!(sink.out.stats().published, 2, "published at the event end");
        for i in 2..6 {
            sink.publish(&update(i, false));
        }
        assert_eq!(
            sink.out.stats().published,
            2,
            "an open event is not published"
        );
        assert_eq!(sink.split_events, 0);
        sink.publish(&update(6, false));
        assert_eq!(
            sink.out.stats().published,
            6,
            "a full ring pending is published"
        );
        assert_eq!(sink.split_events, 1);
        sink.publish(&update(7, true));
        assert_eq!(sink.out.stats().published, 8);
        let mut seen = Vec::new();
        while let Some(mut b) = c.poll() {
            while let Some(ev) = b.next() {
                seen.push(ev.update.seq);
            }
        }
        assert_eq!(*seen.last().unwrap(), 7);
    }
}
