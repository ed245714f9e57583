//! One clock for every stage timestamp: nanoseconds on the `CLOCK_MONOTONIC_RAW` timeline, read
//! from the TSC when it is invariant, from `clock_gettime(CLOCK_MONOTONIC_RAW)` otherwise.
//!
//! ## How it works
//! - [`Clock::calibrate`] checks CPUID for an invariant TSC (leaf `0x8000_0007`, EDX bit 8:
//!   constant rate, keeps counting in deep C-states, synchronised across cores). If present, it
//!   samples `(tsc, CLOCK_MONOTONIC_RAW)` pairs [`CALIBRATION_WINDOW`] apart, each pair taken
//!   between two `rdtsc` reads with the narrowest bracket of several tries, and derives a
//!   fixed-point ns-per-tick factor. `now()` is then `ns0 + ((rdtsc - tsc0) * mult) >> 32`:
//!   one `rdtsc`, one 64×64→128 multiply, no syscall, no memory shared between threads.
//! - Without an invariant TSC (or off x86_64) `now()` calls `clock_gettime(CLOCK_MONOTONIC_RAW)`
//!   (a vDSO call on Linux, no syscall on common clock sources).
//! - A [`Clock`] is a small `Copy` value: calibrate once at start-up ([`Clock::global`]) and
//!   hand copies to every thread; all copies give the same timeline, so a timestamp taken on the
//!   receive thread can be subtracted from one taken on a strategy thread.
//!
//! ## Invariants and error bounds
//! - `now()` never goes below the calibration point (`saturating_sub` on the tick delta) and
//!   never allocates, locks, panics or enters the kernel.
//! - TSC rate error: the two calibration samples are each known within half their bracket
//!   (typically tens of ns), so the rate is off by about `bracket / CALIBRATION_WINDOW`
//!   (≈ 2–5 ppm: a few µs of drift per second against `CLOCK_MONOTONIC_RAW`, i.e. a few ns on
//!   any one stage, which is far below the histograms' 3-digit resolution).
//!   [`Clock::calibration_error_ppm`] reports the bound.
//! - `rdtsc` is not serialising: the CPU may execute it a few instructions early or late. That
//!   is the usual trade for stage timestamps (tens of cycles of skew, no pipeline flush).
//!
//! ## Kernel receive times
//! `SO_TIMESTAMPNS` gives `CLOCK_REALTIME`. [`RealtimeMap`] holds `realtime − clock` measured
//! at start-up (the narrowest of several `clock / realtime / clock` brackets), so
//! [`Clock::from_realtime`] maps a kernel time onto this clock. Its error is the bracket half
//! width (tens of ns, reported by [`RealtimeMap::error_ns`]) plus whatever NTP slews
//! `CLOCK_REALTIME` by after the measurement (at most 500 ppm, typically < 10 ppm) plus the TSC
//! rate error above. A long-running `fh live` should call [`RealtimeMap::measure`] again on a
//! cold thread now and then (each interval, say) and use the fresh map.
//!
//! This is one of the few modules with `unsafe`: `rdtsc`, `cpuid` and `clock_gettime`, each
//! block with its `// SAFETY:` note.

use std::sync::OnceLock;
use std::time::Duration;

/// How long [`Clock::calibrate`] measures the TSC rate against `CLOCK_MONOTONIC_RAW`.
pub const CALIBRATION_WINDOW: Duration = Duration::from_millis(20);

/// Fixed-point shift of the ns-per-tick factor.
const SHIFT: u32 = 32;

/// Where [`Clock::now`] reads time from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockSource {
    /// The time-stamp counter, converted with a calibrated factor.
    Tsc,
    /// `clock_gettime(CLOCK_MONOTONIC_RAW)`.
    MonotonicRaw,
}

impl ClockSource {
    /// Short name for reports: `tsc` or `monotonic_raw`.
    pub fn name(self) -> &'static str {
        match self {
            ClockSource::Tsc => "tsc",
            ClockSource::MonotonicRaw => "monotonic_raw",
        }
    }
}

/// The offset between `CLOCK_REALTIME` and a [`Clock`], to map kernel receive times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RealtimeMap {
    /// `CLOCK_REALTIME − clock`, ns, at the moment of measurement.
    offset_ns: i128,
    /// Half the width of the bracket the offset was measured in, ns.
    error_ns: u64,
}

impl RealtimeMap {
    /// Measures `CLOCK_REALTIME − clock.now()`: the narrowest of 32 `clock / realtime / clock`
    /// brackets, taken at its midpoint. Cold path (a few µs).
    pub fn measure(clock: &Clock) -> RealtimeMap {
        let mut best = RealtimeMap {
            offset_ns: 0,
            error_ns: u64::MAX,
        };
        for _ in 0..32 {
            let a = clock.now();
            let rt = clock_gettime_ns(libc::CLOCK_REALTIME);
            let b = clock.now();
            let width = b.saturating_sub(a);
            let half = width / 2;
            if half < best.error_ns {
                let mid = a + half;
                best = RealtimeMap {
                    offset_ns: i128::from(rt) - i128::from(mid),
                    error_ns: half.max(1),
                };
            }
        }
        best
    }

    /// `CLOCK_REALTIME − clock`, ns.
    pub fn offset_ns(&self) -> i128 {
        self.offset_ns
    }

    /// Bound on the error of the measured offset, ns (half the bracket; drift comes on top, see
    /// the module docs).
    pub fn error_ns(&self) -> u64 {
        self.error_ns
    }

    /// Maps a `CLOCK_REALTIME` time (ns since the Unix epoch, as `SO_TIMESTAMPNS` gives) onto
    /// the clock's timeline; 0 if it falls before the clock's origin.
    #[inline]
    pub fn to_clock(&self, realtime_ns: u64) -> u64 {
        let t = i128::from(realtime_ns) - self.offset_ns;
        t.clamp(0, i128::from(u64::MAX)) as u64
    }

    /// Maps a time of the clock onto `CLOCK_REALTIME` (ns since the Unix epoch).
    #[inline]
    pub fn to_realtime(&self, clock_ns: u64) -> u64 {
        let t = i128::from(clock_ns) + self.offset_ns;
        t.clamp(0, i128::from(u64::MAX)) as u64
    }
}

/// A calibrated nanosecond clock; see the module docs. `Copy`: give each thread its own copy.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    source: ClockSource,
    /// TSC value at the calibration point.
    tsc0: u64,
    /// `CLOCK_MONOTONIC_RAW` ns at the calibration point.
    ns0: u64,
    /// ns per tick, fixed point with [`SHIFT`] fractional bits.
    mult: u64,
    /// Ticks per second as measured (0 for `MonotonicRaw`).
    tsc_hz: f64,
    /// Bound on the relative rate error, ppm (0 for `MonotonicRaw`).
    error_ppm: f64,
    /// The `CLOCK_REALTIME` offset measured at calibration.
    realtime: RealtimeMap,
}

impl Clock {
    /// The process-wide clock, calibrated on first use (takes [`CALIBRATION_WINDOW`]; call it
    /// once at start-up, before the hot threads start).
    pub fn global() -> &'static Clock {
        static GLOBAL: OnceLock<Clock> = OnceLock::new();
        GLOBAL.get_or_init(Clock::calibrate)
    }

    /// The best clock this machine offers: the TSC if it is invariant, else
    /// `CLOCK_MONOTONIC_RAW`. Sleeps for [`CALIBRATION_WINDOW`].
    pub fn calibrate() -> Clock {
        if invariant_tsc() {
            if let Some(c) = Clock::tsc() {
                return c;
            }
        }
        Clock::monotonic_raw()
    }

    /// A clock reading `CLOCK_MONOTONIC_RAW` directly.
    pub fn monotonic_raw() -> Clock {
        let mut c = Clock {
            source: ClockSource::MonotonicRaw,
            tsc0: 0,
            ns0: 0,
            mult: 0,
            tsc_hz: 0.0,
            error_ppm: 0.0,
            realtime: RealtimeMap {
                offset_ns: 0,
                error_ns: 0,
            },
        };
        c.realtime = RealtimeMap::measure(&c);
        c
    }

    /// A TSC clock calibrated against `CLOCK_MONOTONIC_RAW`, whether or not CPUID says the TSC
    /// is invariant (for benches and comparisons; use [`Clock::calibrate`] in production).
    /// `None` off x86_64 or if the TSC does not advance.
    pub fn tsc() -> Option<Clock> {
        let (t0, n0, w0) = tsc_pair()?;
        std::thread::sleep(CALIBRATION_WINDOW);
        let (t1, n1, w1) = tsc_pair()?;
        let ticks = t1.checked_sub(t0).filter(|&t| t > 0)?;
        let nanos = n1.checked_sub(n0).filter(|&n| n > 0)?;
        let mult = ((u128::from(nanos) << SHIFT) / u128::from(ticks)) as u64;
        let tsc_hz = ticks as f64 * 1e9 / nanos as f64;
        // Each sample is known within half its bracket (converted to ns), on both ends.
        let bracket_ns = (w0 + w1) as f64 * 1e9 / tsc_hz / 2.0;
        let error_ppm = bracket_ns / nanos as f64 * 1e6;
        let mut c = Clock {
            source: ClockSource::Tsc,
            tsc0: t0,
            ns0: n0,
            mult,
            tsc_hz,
            error_ppm,
            realtime: RealtimeMap {
                offset_ns: 0,
                error_ns: 0,
            },
        };
        c.realtime = RealtimeMap::measure(&c);
        Some(c)
    }

    /// Now, in ns on the `CLOCK_MONOTONIC_RAW` timeline. Hot path: no allocation, no lock, no
    /// syscall (TSC) or one vDSO call (fallback).
    #[inline]
    pub fn now(&self) -> u64 {
        match self.source {
            ClockSource::Tsc => {
                let delta = rdtsc().saturating_sub(self.tsc0);
                self.ns0 + ((u128::from(delta) * u128::from(self.mult)) >> SHIFT) as u64
            }
            ClockSource::MonotonicRaw => clock_gettime_ns(libc::CLOCK_MONOTONIC_RAW),
        }
    }

    /// A raw reading for hot loops: TSC ticks (`rdtsc`, no conversion) or, on the fallback,
    /// ns. Convert later, off the hot path, with [`Clock::span_ns`] and [`Clock::ticks_to_ns`].
    /// Like [`Clock::now`], `rdtsc` is not serialising: a reading may move by a few tens of
    /// cycles against the instructions around it (see the module docs).
    #[inline(always)]
    pub fn ticks(&self) -> u64 {
        match self.source {
            ClockSource::Tsc => rdtsc(),
            ClockSource::MonotonicRaw => clock_gettime_ns(libc::CLOCK_MONOTONIC_RAW),
        }
    }

    /// `end − start` of two [`Clock::ticks`] readings, in ns (0 if out of order).
    #[inline]
    pub fn span_ns(&self, start: u64, end: u64) -> u64 {
        let d = end.saturating_sub(start);
        match self.source {
            ClockSource::Tsc => ((u128::from(d) * u128::from(self.mult)) >> SHIFT) as u64,
            ClockSource::MonotonicRaw => d,
        }
    }

    /// A [`Clock::ticks`] reading as [`Clock::now`] would have given it, ns.
    #[inline]
    pub fn ticks_to_ns(&self, ticks: u64) -> u64 {
        match self.source {
            ClockSource::Tsc => self.ns0 + self.span_ns(self.tsc0, ticks),
            ClockSource::MonotonicRaw => ticks,
        }
    }

    /// About how many [`Clock::ticks`] make `ns` (at least 1).
    pub fn ns_to_ticks(&self, ns: u64) -> u64 {
        match self.source {
            ClockSource::Tsc if self.mult > 0 => {
                ((u128::from(ns) << SHIFT) / u128::from(self.mult)).max(1) as u64
            }
            _ => ns.max(1),
        }
    }

    /// Where this clock reads time from.
    pub fn source(&self) -> ClockSource {
        self.source
    }

    /// Measured TSC frequency, Hz (0 for `MonotonicRaw`).
    pub fn tsc_hz(&self) -> f64 {
        self.tsc_hz
    }

    /// Bound on the TSC rate error against `CLOCK_MONOTONIC_RAW`, ppm (0 for `MonotonicRaw`).
    pub fn calibration_error_ppm(&self) -> f64 {
        self.error_ppm
    }

    /// The `CLOCK_REALTIME` mapping measured at calibration.
    pub fn realtime(&self) -> RealtimeMap {
        self.realtime
    }

    /// Maps a kernel `SO_TIMESTAMPNS` receive time (`CLOCK_REALTIME` ns since the epoch) onto
    /// this clock, with the offset measured at calibration.
    #[inline]
    pub fn from_realtime(&self, realtime_ns: u64) -> u64 {
        self.realtime.to_clock(realtime_ns)
    }

    /// The cost of one [`Clock::now`] call, ns: the least per-call time over `rounds` batches
    /// of `calls` back-to-back calls, measured with the clock itself. Cold path.
    pub fn cost_ns(&self, rounds: u32, calls: u32) -> f64 {
        let calls = calls.max(1);
        let mut best = f64::INFINITY;
        for _ in 0..rounds.max(1) {
            let start = self.now();
            let mut sink = 0u64;
            for _ in 0..calls {
                sink = sink.wrapping_add(std::hint::black_box(self).now());
            }
            std::hint::black_box(sink);
            let end = self.now();
            let per = end.saturating_sub(start) as f64 / f64::from(calls);
            best = best.min(per);
        }
        best
    }

    /// One line for reports: source, rate, calibration error, realtime error and the cost of a
    /// timestamp (`cost_ns`, from [`Clock::cost_ns`]).
    pub fn describe(&self, cost_ns: f64) -> String {
        match self.source {
            ClockSource::Tsc => format!(
                "clock: tsc at {:.3} GHz (invariant: {}), calibrated against CLOCK_MONOTONIC_RAW \
                 within {:.1} ppm; realtime offset ±{} ns; one timestamp costs {:.1} ns",
                self.tsc_hz / 1e9,
                if invariant_tsc() { "yes" } else { "no" },
                self.error_ppm,
                self.realtime.error_ns,
                cost_ns
            ),
            ClockSource::MonotonicRaw => format!(
                "clock: CLOCK_MONOTONIC_RAW (no invariant TSC); realtime offset ±{} ns; \
                 one timestamp costs {:.1} ns",
                self.realtime.error_ns, cost_ns
            ),
        }
    }
}

/// Now, in ns, on the process-wide clock ([`Clock::global`], calibrated on first use). Costs
/// one atomic load more than [`Clock::now`]; hot loops should copy the `Clock` once instead.
#[inline]
pub fn now() -> u64 {
    Clock::global().now()
}

/// A `(tsc, monotonic_raw_ns, bracket_ticks)` sample: the narrowest of 16 `rdtsc / clock /
/// rdtsc` brackets, the TSC value taken at the bracket's midpoint.
fn tsc_pair() -> Option<(u64, u64, u64)> {
    if !cfg!(target_arch = "x86_64") {
        return None;
    }
    let mut best: Option<(u64, u64, u64)> = None;
    for _ in 0..16 {
        let a = rdtsc();
        let ns = clock_gettime_ns(libc::CLOCK_MONOTONIC_RAW);
        let b = rdtsc();
        let w = b.checked_sub(a)?;
        if best.is_none_or(|(_, _, bw)| w < bw) {
            best = Some((a + w / 2, ns, w));
        }
    }
    best
}

/// Reads the time-stamp counter (0 off x86_64).
#[inline]
fn rdtsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `rdtsc` reads a model-specific counter and has no memory effects; every
        // x86_64 CPU implements it (it would fault only if CR4.TSD were set, which Linux does
        // not do for user processes unless asked to with prctl(PR_SET_TSC)).
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        0
    }
}

/// Whether CPUID advertises an invariant TSC (leaf 0x8000_0007, EDX bit 8).
pub fn invariant_tsc() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `cpuid` is available on every x86_64 CPU and only reads identification
        // registers. (Newer toolchains declare `__cpuid` safe, hence the `allow`.)
        #[allow(unused_unsafe)]
        let max_ext = unsafe { core::arch::x86_64::__cpuid(0x8000_0000) }.eax;
        if max_ext < 0x8000_0007 {
            return false;
        }
        // SAFETY: as above; the leaf is within the maximum extended leaf just read.
        #[allow(unused_unsafe)]
        let edx = unsafe { core::arch::x86_64::__cpuid(0x8000_0007) }.edx;
        edx & (1 << 8) != 0
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `clock_gettime(id)` in ns (0 if the call fails, which it cannot for the clocks used here).
#[inline]
/// CPU time consumed by the calling thread, ns (`CLOCK_THREAD_CPUTIME_ID`: exact to the
/// call, unlike `/proc/thread-self/schedstat`, which the kernel only brings up to date at
/// scheduler ticks and switches, 4 ms steps here). For reports and benches, not the hot path.
pub fn thread_cpu_ns() -> u64 {
    clock_gettime_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn clock_gettime_ns(id: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `timespec` for the duration of the call, and `id` is
    // one of the clock ids the kernel always supports (MONOTONIC_RAW, REALTIME,
    // THREAD_CPUTIME_ID).
    let rc = unsafe { libc::clock_gettime(id, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_cpu_time_advances_with_work_and_not_faster_than_wall_time() {
        let (cpu0, wall0) = (thread_cpu_ns(), std::time::Instant::now());
        let mut x = 1u64;
        while wall0.elapsed() < std::time::Duration::from_millis(20) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let (cpu, wall) = (thread_cpu_ns() - cpu0, wall0.elapsed().as_nanos() as u64);
        assert!(
            cpu > 0 && cpu <= wall + 1_000_000,
            "cpu {cpu} ns, wall {wall} ns"
        );
        // Finer than the scheduler tick that /proc/thread-self/schedstat moves by.
        let a = thread_cpu_ns();
        let mut b = a;
        for _ in 0..100 {
            b = std::hint::black_box(thread_cpu_ns());
        }
        assert!(b > a && b - a < 1_000_000, "{a} -> {b}");
    }

    #[test]
    fn global_clock_is_monotonic_and_tracks_monotonic_raw() {
        let c = Clock::global();
        let mut prev = now();
        for _ in 0..10_000 {
            let t = c.now();
            assert!(t >= prev, "clock went backwards: {t} < {prev}");
            prev = t;
        }
        // Same timeline as CLOCK_MONOTONIC_RAW: between two direct reads (up to the
        // calibration error; 100 µs is generous).
        let raw0 = clock_gettime_ns(libc::CLOCK_MONOTONIC_RAW);
        let ours = c.now();
        let raw1 = clock_gettime_ns(libc::CLOCK_MONOTONIC_RAW);
        assert!(
            ours + 100_000 >= raw0 && ours <= raw1 + 100_000,
            "{ours} not within [{raw0}, {raw1}]"
        );
    }

    #[test]
    fn tsc_and_raw_clocks_share_the_timeline() {
        let raw = Clock::monotonic_raw();
        let Some(tsc) = Clock::tsc() else { return };
        assert!(tsc.tsc_hz() > 1e8, "implausible TSC rate {}", tsc.tsc_hz());
        let a = raw.now();
        let b = tsc.now();
        let c = raw.now();
        // b lies in [a, c] up to the calibration error (generous: 100 µs).
        assert!(b + 100_000 >= a && b <= c + 100_000, "{a} {b} {c}");
    }

    #[test]
    fn realtime_map_round_trips_and_matches_the_wall_clock() {
        let c = Clock::global();
        let map = c.realtime();
        let now = c.now();
        assert_eq!(map.to_clock(map.to_realtime(now)), now);
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let mapped = c.from_realtime(wall);
        // A kernel timestamp taken "now" maps to "now" on our clock, within 1 ms.
        assert!(
            mapped.abs_diff(c.now()) < 1_000_000,
            "{mapped} vs {}",
            c.now()
        );
        assert!(map.error_ns() < 1_000_000);
        assert_eq!(map.to_clock(0), 0, "times before the origin clamp to 0");
    }

    #[test]
    fn raw_ticks_convert_to_the_same_timeline_as_now() {
        let c = Clock::global();
        let a = c.now();
        let t0 = c.ticks();
        std::thread::sleep(Duration::from_millis(2));
        let t1 = c.ticks();
        let b = c.now();
        let (n0, n1) = (c.ticks_to_ns(t0), c.ticks_to_ns(t1));
        assert!(a <= n0 && n0 <= n1 && n1 <= b, "{a} {n0} {n1} {b}");
        let span = c.span_ns(t0, t1);
        assert!(span >= 2_000_000 && span <= b - a, "{span}");
        assert_eq!(c.span_ns(t1, t0), 0);
        let k = c.ns_to_ticks(1_000_000);
        assert!(c.span_ns(0, k).abs_diff(1_000_000) < 1_000, "{k}");
        let raw = Clock::monotonic_raw();
        assert_eq!(
            (raw.span_ns(10, 25), raw.ticks_to_ns(7), raw.ns_to_ticks(9)),
            (15, 7, 9)
        );
    }

    #[test]
    fn cost_is_positive_and_small() {
        let c = Clock::global();
        let cost = c.cost_ns(3, 1000);
        assert!(cost > 0.0 && cost < 100_000.0, "cost {cost}");
        assert!(c.describe(cost).starts_with("clock: "));
    }
}
