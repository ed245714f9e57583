//! Example strategies, the same code natively and in a module (`examples/*.rs` export them).
//!
//! Each folds the [`Digest`] of every update it reads and reports it (`digest`, `updates`)
//! at the end, so a run can show that the module saw exactly the stream a native strategy saw.
//! Per-instrument state lives in fixed arrays ([`slot`]): no allocator.

use crate::{flags, Bbo, BookUpdate, Digest, Host, Strategy};

/// Instruments with state: every ITCH locate (below 2^16) and the first 16 384 IEX symbols
/// (fh numbers those from 2^16).
pub const INSTRUMENTS: usize = (1 << 16) + (1 << 14);

/// The state slot of `instrument`, if it has one.
#[inline]
pub fn slot(instrument: u32) -> Option<usize> {
    let i = instrument as usize;
    (i < INSTRUMENTS).then_some(i)
}

/// Signal kinds the examples emit.
pub mod signal {
    /// BBO tracker: the best bid moved (value: price, 4 decimals; 0 when the side is empty).
    pub const BID: u32 = 1;
    /// BBO tracker: the best offer moved.
    pub const ASK: u32 = 2;
    /// Imbalance: the size imbalance crossed the threshold (value: +1 bid-heavy, -1 ask-heavy).
    pub const IMBALANCE: u32 = 3;
}

fn finish_digest<H: Host>(d: &Digest, signals: u64, host: &mut H) {
    host.figure("digest", d.value() as i64, true);
    host.figure("updates", d.count as i64, false);
    host.figure("signals", signals as i64, false);
}

/// The update stream's digest, nothing else.
#[derive(Debug)]
pub struct DigestOnly {
    digest: Digest,
}

impl DigestOnly {
    /// A fresh one.
    pub const fn new() -> Self {
        DigestOnly {
            digest: Digest::new(),
        }
    }
}

impl Default for DigestOnly {
    fn default() -> Self {
        Self::new()
    }
}

impl Strategy for DigestOnly {
    #[inline]
    fn on_update<H: Host>(&mut self, u: &BookUpdate, _: &mut H) {
        self.digest.add(u);
    }
    fn on_finish<H: Host>(&mut self, host: &mut H) {
        finish_digest(&self.digest, 0, host);
    }
}

/// BBO tracker: at the end of each event that moved a best price, reads the instrument's top
/// of book and signals each side whose best price differs from the last one signalled.
#[derive(Debug)]
pub struct BboTracker {
    digest: Digest,
    /// Last signalled (bid, ask) per instrument.
    last: [(i64, i64); INSTRUMENTS],
    /// A best price moved in the event so far.
    moved: [bool; INSTRUMENTS],
    signals: u64,
}

// No `Default`: a megabyte of state is made once, in a static or a box, with `new`.
#[allow(clippy::new_without_default)]
impl BboTracker {
    /// A fresh one.
    pub const fn new() -> Self {
        BboTracker {
            digest: Digest::new(),
            last: [(0, 0); INSTRUMENTS],
            moved: [false; INSTRUMENTS],
            signals: 0,
        }
    }
}

impl Strategy for BboTracker {
    #[inline]
    fn on_update<H: Host>(&mut self, u: &BookUpdate, host: &mut H) {
        self.digest.add(u);
        let Some(i) = slot(u.instrument) else { return };
        self.moved[i] |= u.has(flags::BEST_CHANGED);
        if !u.has(flags::LAST_IN_EVENT) || !core::mem::take(&mut self.moved[i]) {
            return;
        }
        let Some(b) = host.top(u.instrument) else {
            return;
        };
        let side = |price: i64, shares: u64| if shares > 0 { price } else { 0 };
        let (bid, ask) = (
            side(b.bid_price, b.bid_shares),
            side(b.ask_price, b.ask_shares),
        );
        let (lb, la) = self.last[i];
        if bid != lb {
            host.signal(u.instrument, signal::BID, bid);
            self.signals += 1;
        }
        if ask != la {
            host.signal(u.instrument, signal::ASK, ask);
            self.signals += 1;
        }
        self.last[i] = (bid, ask);
    }
    fn on_finish<H: Host>(&mut self, host: &mut H) {
        finish_digest(&self.digest, self.signals, host);
    }
}

/// Imbalance signal: at each event end, the top of book's size imbalance
/// `(bid - ask) / (bid + ask)` in basis points; a signal when it crosses ±6 000 bp (the rule
/// of fh's built-in `imbalance` strategy, whose `signals` count it matches).
#[derive(Debug)]
pub struct Imbalance {
    digest: Digest,
    state: [i8; INSTRUMENTS],
    events: u64,
    signals: u64,
}

// No `Default`: a megabyte of state is made once, in a static or a box, with `new`.
#[allow(clippy::new_without_default)]
impl Imbalance {
    /// Threshold, basis points.
    pub const THRESHOLD_BP: i128 = 6_000;

    /// A fresh one.
    pub const fn new() -> Self {
        Imbalance {
            digest: Digest::new(),
            state: [0; INSTRUMENTS],
            events: 0,
            signals: 0,
        }
    }

    fn level(b: &Bbo) -> i8 {
        let (bid, ask) = (i128::from(b.bid_shares), i128::from(b.ask_shares));
        let bp = (bid - ask) * 10_000 / (bid + ask).max(1);
        i8::from(bp >= Self::THRESHOLD_BP) - i8::from(bp <= -Self::THRESHOLD_BP)
    }
}

impl Strategy for Imbalance {
    #[inline]
    fn on_update<H: Host>(&mut self, u: &BookUpdate, host: &mut H) {
        self.digest.add(u);
        if !u.has(flags::LAST_IN_EVENT) {
            return;
        }
        let Some(b) = host.top(u.instrument) else {
            return;
        };
        self.events += 1;
        let Some(i) = slot(u.instrument) else { return };
        let sig = Self::level(&b);
        let last = core::mem::replace(&mut self.state[i], sig);
        if sig != 0 && sig != last {
            host.signal(u.instrument, signal::IMBALANCE, i64::from(sig));
            self.signals += 1;
        }
    }
    fn on_finish<H: Host>(&mut self, host: &mut H) {
        finish_digest(&self.digest, self.signals, host);
        host.figure("events", self.events as i64, false);
    }
}
