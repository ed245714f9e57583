//! The module's strategy agent: drains a ring batch into the guest's region and calls the
//! guest once per batch (once per region-full when a batch is longer than the region).

use fh_feed::agent::{Agent, Nanos};
use fh_feed::latency::{Clock, Stage};
use fh_feed::ring::{Batch, Consumer, RingMonitor};
use fh_feed::strategy::{
    Figure, Figures, Finished, HopTimer, MarketView, Runner, RunnerStats, TimeSource,
};
use fh_feed::update::BookUpdate;

use crate::sandbox::{Failure, Guest};
use crate::signals::SignalLog;

/// A guest as a pipeline agent (see the module docs).
pub struct WasmRunner {
    name: String,
    /// `None` once the guest is stopped: the cursor is detached.
    consumer: Option<Consumer<BookUpdate>>,
    monitor: RingMonitor<BookUpdate>,
    guest: Option<Guest>,
    module: String,
    view: MarketView,
    timer: Option<HopTimer>,
    clock: Clock,
    stats: RunnerStats,
    /// `(engine_ts, recv_ts)` of each record in the region (for the hop timer).
    stamps: Vec<(u64, u64)>,
    now: u64,
    calls: u64,
    busy_ns: u64,
    /// Thread CPU time at start, then over the run.
    cpu_ns: (u64, u64),
    failure: Option<Failure>,
    log: SignalLog,
    /// The guest's signals, signals dropped, and figures, once taken out of it.
    finished: Option<(Vec<crate::Signal>, u64, crate::signals::GuestFigures)>,
}

impl core::fmt::Debug for WasmRunner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WasmRunner")
            .field("name", &self.name)
            .field("module", &self.module)
            .field("stats", &self.stats)
            .field("failure", &self.failure)
            .finish()
    }
}

impl WasmRunner {
    /// `guest`, fed by `consumer`, seeing `view`; `timer` times the hop to it (from the
    /// update's engine time to the call that hands it to the guest); signals go to `log`.
    pub fn new(
        name: String,
        mut guest: Guest,
        consumer: Consumer<BookUpdate>,
        view: MarketView,
        timer: Option<HopTimer>,
        log: SignalLog,
    ) -> WasmRunner {
        guest.set_view(view.clone());
        log.declare(&name);
        WasmRunner {
            module: guest.module.clone(),
            stamps: vec![
                (0, 0);
                if guest.ring_mask.is_some() {
                    0
                } else {
                    guest.region_len
                }
            ],
            name,
            monitor: consumer.monitor(),
            consumer: Some(consumer),
            guest: Some(guest),
            view,
            clock: *Clock::global(),
            timer,
            stats: RunnerStats::default(),
            now: 0,
            calls: 0,
            busy_ns: 0,
            cpu_ns: (0, 0),
            failure: None,
            log,
            finished: None,
        }
    }

    /// Why the guest was stopped, if it was.
    pub fn failure(&self) -> Option<&Failure> {
        self.failure.as_ref()
    }

    /// Stops the guest: reports why, frees its instance and detaches the ring cursor.
    #[cold]
    fn stop(&mut self, reason: String, update: u64, count: u64) {
        let after_ns = self.guest.as_ref().map_or(0, |g| g.failed_after_ns);
        self.failure = Some(Failure {
            module: self.module.clone(),
            reason,
            update,
            count,
            after_ns,
        });
        self.take_outputs();
        self.guest = None;
        self.consumer = None;
    }

    /// Moves the guest's signals and figures out (once).
    fn take_outputs(&mut self) {
        if self.finished.is_some() {
            return;
        }
        if let Some(g) = self.guest.as_mut() {
            let st = g.store.data_mut();
            let sigs = std::mem::take(&mut st.signals.signals);
            let figs = std::mem::take(&mut st.figures);
            self.finished = Some((sigs, st.signals.dropped, figs));
        }
    }

    /// Hands records `0..k` (first ring sequence `first`) to the guest, timing the hop.
    #[inline]
    fn call(&mut self, k: usize, first: u64) -> bool {
        if k == 0 {
            return true;
        }
        record_hops(self.timer.as_mut(), &self.stamps[..k]);
        let Some(g) = self.guest.as_mut() else {
            return false;
        };
        self.calls += 1;
        match g.on_batch(self.now, 0, k as u32) {
            Ok(()) => true,
            Err(reason) => {
                self.stop(reason, first, k as u64);
                false
            }
        }
    }

    /// Hands one batch to a shared-mode guest, which reads the updates in the ring's slots
    /// (its own read-only mapping of them): one call, `fh_on_batch(first slot, count)`; the
    /// slots are released when the call has returned. Returns the updates delivered.
    fn poll_shared(&mut self, mask: u64) -> usize {
        let wall = self.view.time == TimeSource::Wall;
        let timed = self.timer.is_some();
        let Some((mut batch, guest, t0)) =
            next_batch(&mut self.consumer, &mut self.guest, timed, &self.clock)
        else {
            return 0;
        };
        // Never-wait rings are refused with shared guests at start-up (`add_shared_guest`).
        let Some(range) = batch.take_in_place() else {
            return 0;
        };
        let n = (range.end - range.start) as usize;
        if wall {
            self.now = fh_feed::live::realtime_ns();
        } else if let Some(u) = batch.in_place(range.end - 1) {
            self.now = u.recv_ts;
        }
        if let Some(t) = self.timer.as_mut() {
            let now = t.clock.now();
            for seq in range.clone() {
                if let Some(u) = batch.in_place(seq) {
                    record_hop(t, now, u.engine_ts, u.recv_ts);
                }
            }
        }
        self.calls += 1;
        // A batch never exceeds the ring (u32 slots), so `n` fits.
        let r = guest.on_batch(self.now, (range.start & mask) as u32, n as u32);
        drop(batch);
        self.note_lag(range.start);
        self.stats.delivered += n as u64;
        self.stats.batches += 1;
        if let Err(reason) = r {
            self.stop(reason, range.start, n as u64);
        }
        self.end_busy(t0);
        n
    }

    /// Drains one batch into the guest; returns the updates delivered.
    pub fn poll(&mut self) -> usize {
        if let Some(mask) = self.guest.as_ref().and_then(|g| g.ring_mask) {
            return self.poll_shared(mask);
        }
        let wall = self.view.time == TimeSource::Wall;
        let timed = self.timer.is_some();
        let Some((mut batch, guest, t0)) =
            next_batch(&mut self.consumer, &mut self.guest, timed, &self.clock)
        else {
            return 0;
        };
        if wall {
            self.now = fh_feed::live::realtime_ns();
        }
        let cap = guest.region_len;
        let mut batch_first = 0;
        let (mut k, mut first, mut n) = (0usize, 0u64, 0usize);
        let mut pending_missed = 0u64;
        let mut failed = None;
        while let Some(ev) = batch.next() {
            if ev.missed_before > 0 || k == cap {
                // Hand over what precedes the gap (or fills the region) first.
                let (now, guest) = (self.now, self.guest.as_mut());
                if let Some(g) = guest {
                    if k > 0 {
                        record_hops(self.timer.as_mut(), &self.stamps[..k]);
                        self.calls += 1;
                        if let Err(r) = g.on_batch(now, 0, k as u32) {
                            failed = Some((r, first, k as u64));
                            break;
                        }
                    }
                    if ev.missed_before > 0 {
                        self.stats.missed += ev.missed_before;
                        if let Err(r) = g.on_missed(now, ev.missed_before) {
                            failed = Some((r, ev.seq, 0));
                            break;
                        }
                    }
                }
                k = 0;
            }
            let u = ev.update;
            if k == 0 {
                first = ev.seq;
            }
            if n == 0 {
                batch_first = ev.seq;
            }
            if let Some(g) = self.guest.as_mut() {
                g.write(k, u);
            }
            self.stamps[k] = (u.engine_ts, u.recv_ts);
            if !wall {
                self.now = u.recv_ts;
            }
            k += 1;
            n += 1;
        }
        pending_missed += batch.pending_missed();
        drop(batch);
        if n > 0 {
            self.note_lag(batch_first);
        }
        self.stats.delivered += n as u64;
        self.stats.batches += u64::from(n > 0);
        if let Some((r, at, count)) = failed {
            self.stop(r, at, count);
            if t0 != 0 {
                self.busy_ns += self.clock.now().saturating_sub(t0);
            }
            return n;
        }
        if self.call(k, first) && pending_missed > 0 {
            self.stats.missed += pending_missed;
            let now = self.now;
            if let Some(Err(r)) = self
                .guest
                .as_mut()
                .map(|g| g.on_missed(now, pending_missed))
            {
                self.stop(r, first + k as u64, 0);
            }
        }
        self.end_busy(t0);
        n
    }

    /// Notes how far behind the producer a batch starting at ring sequence `first` was: one
    /// Acquire load per batch.
    #[inline]
    fn note_lag(&mut self, first: u64) {
        let published = self.monitor.producer_stats().published;
        let lag = published.saturating_sub(first);
        self.stats.max_lag = self.stats.max_lag.max(lag);
        self.stats.lag_sum += lag;
    }

    /// Ends a batch's busy time, begun at `t0` (with the hop timer only): ticks the timer's
    /// interval.
    #[inline]
    fn end_busy(&mut self, t0: u64) {
        if let Some(t) = self.timer.as_mut() {
            let end = t.clock.now();
            t.rec.tick(end);
            self.busy_ns += end.saturating_sub(t0);
        }
    }

    fn finish_guest(&mut self) {
        let now = self.now;
        if let Some(Err(r)) = self.guest.as_mut().map(|g| g.on_finish(now)) {
            let at = self.stats.delivered;
            self.stop(r, at, 0);
        }
        self.take_outputs();
        self.guest = None;
        self.consumer = None;
    }
}

/// The next batch for a guest still running (`None` when it was stopped or nothing is
/// waiting), the guest, and the start of the batch's busy time: read only when `timed` (busy
/// time is measured with the hop timer only: two clock reads per batch), 0 otherwise.
#[inline]
fn next_batch<'c, 'g>(
    consumer: &'c mut Option<Consumer<BookUpdate>>,
    guest: &'g mut Option<Guest>,
    timed: bool,
    clock: &Clock,
) -> Option<(Batch<'c, BookUpdate>, &'g mut Guest, u64)> {
    let (Some(consumer), Some(guest)) = (consumer.as_mut(), guest.as_mut()) else {
        return None;
    };
    let batch = consumer.poll()?;
    let t0 = if timed { clock.now() } else { 0 };
    Some((batch, guest, t0))
}

/// Records the hop of records with `stamps` (`(engine_ts, recv_ts)`), handed over now:
/// `consume` from the engine's time, `end_to_end` from the arrival (the kernel's receive time
/// live, the read in a replay).
#[inline]
fn record_hops(timer: Option<&mut HopTimer>, stamps: &[(u64, u64)]) {
    let Some(t) = timer else { return };
    let now = t.clock.now();
    for &(engine_ts, recv_ts) in stamps {
        record_hop(t, now, engine_ts, recv_ts);
    }
}

/// Records the hop of one record with stamps `engine_ts`, `recv_ts`, handed over at `now`.
#[inline]
fn record_hop(t: &mut HopTimer, now: u64, engine_ts: u64, recv_ts: u64) {
    if engine_ts != 0 {
        t.rec.record(Stage::Consume, now.saturating_sub(engine_ts));
        let from = if t.kernel_arrival {
            t.clock.from_realtime(recv_ts)
        } else {
            engine_ts
        };
        t.rec.record(Stage::EndToEnd, now.saturating_sub(from));
    }
}

impl Agent for WasmRunner {
    fn name(&self) -> &str {
        &self.name
    }

    #[inline]
    fn do_work(&mut self, _now: Nanos) -> usize {
        self.poll()
    }

    /// Done when the producer is gone and everything is read, or when the guest is stopped.
    fn is_done(&self) -> bool {
        self.consumer.as_ref().is_none_or(|c| c.is_finished())
    }

    fn on_start(&mut self) {
        self.cpu_ns.0 = fh_feed::pipeline::thread_cpu_ns().unwrap_or(0);
    }

    fn on_close(&mut self) {
        while self.poll() > 0 {}
        self.finish_guest();
        let now = fh_feed::pipeline::thread_cpu_ns().unwrap_or(0);
        self.cpu_ns.1 = now.saturating_sub(self.cpu_ns.0);
    }
}

impl Runner for WasmRunner {
    fn finish(mut self: Box<Self>) -> Finished {
        self.finish_guest();
        let (signals, dropped, figs) = self.finished.take().unwrap_or_default();
        let mut f = Figures::default();
        f.text("module", self.module.clone())
            .count("calls", self.calls)
            .count("signals", signals.len() as u64);
        if dropped > 0 {
            f.count("signals dropped", dropped);
        }
        if self.stats.delivered > 0 {
            let n = self.stats.delivered as f64;
            if self.timer.is_some() {
                f.real("busy ns per update", self.busy_ns as f64 / n);
            }
            if self.cpu_ns.0 > 0 && self.cpu_ns.1 > 0 {
                f.real("thread cpu ns per update", self.cpu_ns.1 as f64 / n);
            }
        }
        for (name, v, hex) in figs {
            let fig = if hex {
                Figure::Text(format!("{:016x}", v as u64))
            } else {
                Figure::Int(v)
            };
            if name != "signals" {
                f.0.push((format!("guest {name}"), fig));
            }
        }
        match &self.failure {
            Some(x) => {
                f.text("stopped", x.reason.clone())
                    .count("stopped at update", x.update)
                    .count("stopped call updates", x.count)
                    .real("stopped after ms", x.after_ns as f64 / 1e6);
            }
            None => {
                f.text("stopped", "no");
            }
        }
        self.log.hand_in(&self.name, signals);
        let latency = self.timer.take().map(|t| t.rec.finish(t.clock.now()));
        Finished {
            name: self.name.clone(),
            stats: self.stats,
            figures: f,
            strategy: Box::new(self.failure.take()),
            latency,
        }
    }

    fn runner_stats(&self) -> RunnerStats {
        self.stats
    }
}
