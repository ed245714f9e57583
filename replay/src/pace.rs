//! Pacing a capture against its own timestamps: absolute deadlines, sleep then spin.
//!
//! ```text
//!  record ts_i ──► Schedule::deadline(ts_i) = start + (ts_i − ts_0) / speed   (never decreasing)
//!                        │
//!                        ▼
//!               wait_until(deadline, spin, now)   sleep until `spin` before it, then spin
//! ```
//!
//! Used by the wire sender ([`crate::wire`], `fh replay --to … --speed X`) and by the
//! in-process paced replay (`fh replay --speed X`), which reads time from fh's latency clock:
//! the clock is a closure, so both callers keep their own timeline.
//!
//! ## Invariants
//! - Deadlines are absolute (from the schedule's start), so waiting errors never accumulate.
//! - Deadlines never go backwards: a timestamp earlier than a previous one is due at the
//!   previous deadline (captures merged from several lines can step back a little).
//! - [`Schedule::deadline`] is pure arithmetic (no allocation, no syscall); [`wait_until`]
//!   sleeps (a syscall) only when the deadline is more than `spin_ns` away.

use std::time::Duration;

/// How long before a deadline [`wait_until`] stops sleeping and spins (the wire sender's
/// default too).
pub const DEFAULT_SPIN: Duration = Duration::from_micros(100);

/// The deadlines of one pass over a capture replayed `speed` times faster than captured.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    speed: f64,
    start_ns: u64,
    ts0: Option<u64>,
    last: u64,
}

impl Schedule {
    /// A schedule whose first record is due at `start_ns` (ns on the caller's clock). `speed`
    /// must be positive and finite (callers validate it: `--speed` is a user value).
    pub fn new(speed: f64, start_ns: u64) -> Schedule {
        Schedule {
            speed,
            start_ns,
            ts0: None,
            last: start_ns,
        }
    }

    /// The deadline of the record captured at `ts_ns`: `start + (ts − ts_0) / speed`, where
    /// `ts_0` is the first record's timestamp, never before the previous deadline.
    #[inline]
    pub fn deadline(&mut self, ts_ns: u64) -> u64 {
        let t0 = *self.ts0.get_or_insert(ts_ns);
        let off = (ts_ns.saturating_sub(t0) as f64 / self.speed) as u64;
        self.last = self.last.max(self.start_ns.saturating_add(off));
        self.last
    }

    /// The speed factor.
    pub fn speed(&self) -> f64 {
        self.speed
    }
}

/// Checks a `--speed` value: positive and finite.
pub fn check_speed(x: f64) -> Result<f64, String> {
    if x.is_finite() && x > 0.0 {
        Ok(x)
    } else {
        Err(format!("--speed {x}: must be a positive number"))
    }
}

/// Waits until `now() >= deadline`: sleeps until `spin` before it, then spins. Returns
/// `now()` at the end (the first reading at or after the deadline).
#[inline]
pub fn wait_until(deadline: u64, spin: Duration, now: impl Fn() -> u64) -> u64 {
    let spin_ns = spin.as_nanos() as u64;
    let mut t = now();
    if deadline > t.saturating_add(spin_ns) {
        std::thread::sleep(Duration::from_nanos(deadline - t - spin_ns));
        t = now();
    }
    while t < deadline {
        std::hint::spin_loop();
        t = now();
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn deadlines_follow_the_timestamps_scaled_and_never_go_back() {
        let mut s = Schedule::new(2.0, 1_000);
        assert_eq!(s.deadline(5_000_000), 1_000);
        assert_eq!(s.deadline(5_000_400), 1_200);
        // A timestamp stepping back keeps the previous deadline.
        assert_eq!(s.deadline(5_000_100), 1_200);
        assert_eq!(s.deadline(5_002_000), 2_000);
        // Before the first timestamp: due at once (saturating), still not before the last.
        assert_eq!(s.deadline(1), 2_000);
        assert_eq!(s.speed(), 2.0);
    }

    #[test]
    fn speed_must_be_positive_and_finite() {
        assert_eq!(check_speed(0.5), Ok(0.5));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(
                check_speed(bad).unwrap_err(),
                format!("--speed {bad}: must be a positive number")
            );
        }
    }

    #[test]
    fn wait_until_returns_at_or_after_the_deadline() {
        let origin = Instant::now();
        let now = || origin.elapsed().as_nanos() as u64;
        for (deadline_us, spin_us) in [(0u64, 100u64), (300, 100), (2_000, 100), (500, 0)] {
            let d = now() + deadline_us * 1_000;
            let t = wait_until(d, Duration::from_micros(spin_us), now);
            assert!(t >= d, "returned {t} before deadline {d}");
            assert!(now() >= d);
        }
    }
}
