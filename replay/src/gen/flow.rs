//! The order-flow model: a synthetic Nasdaq trading day, one ITCH message at a time.
//!
//! ## The day
//! ```text
//! 09:29:55  S O, V, R (every symbol), H T (every symbol), L, K, O
//! 09:29:56.5 S S   (1.5 s of silence before it: the packetizer sends a heartbeat)
//! 09:29:58  pre-open adds: per symbol two orders at the touch and one resting order a side
//! 09:29:59.5 I (opening NOII, every symbol)
//! 09:30:00  S Q, then per symbol the opening cross: C C (printable N: the two touch orders,
//!           filled against non-displayed on-open interest) and Q (cross type O)
//!           continuous trading (A F E C X D U P N, price moves), with special events placed
//!           at fixed fractions of the session: N, Y, a LULD pause (H P, J) and its reopening
//!           cross (H Q, I, Q type H, H T), an operational halt and lift (h H, h T), a broken
//!           trade (B), a level-1 market-wide circuit breaker (W, H H MWC1 for every symbol,
//!           2.5 s of silence, H T for every symbol; only the W when the day is too short)
//! close     I (closing NOII), S M, per symbol C C (printable N) and Q (type C), S E, S C
//! ```
//! The day is compressed (continuous trading lasts as long as the requested messages need, or
//! `--seconds`), so clock times after 09:30 are model time, not Nasdaq's schedule.
//!
//! ## Invariants (checked by the tests over decoded bytes)
//! - Every `E`/`C`/`X`/`D`/`U` names a live order of this day and never takes more shares than
//!   it has left; an order whose shares reach zero is gone. Order reference numbers and match
//!   numbers are unique for the day (both only ever increase).
//! - Live orders never cross the touch: buys at or below the symbol's bid touch, sells at or
//!   above its ask touch (one tick higher). A price move first removes the orders it crosses
//!   (executions, then deletes). The displayed book is never crossed or locked.
//! - At most [`MAX_LIVE_PER_SYMBOL`] live orders per symbol, so memory stays bounded however
//!   many messages are generated.
//! - With [`Stop::Messages`] the day has exactly that many messages (the closing sequence has a
//!   fixed cost, reserved in advance); timestamps never decrease.
//! - Prices are integers on a one-cent tick grid in `Price(4)` units; floating point is used only
//!   for probabilities and gaps, through [`super::rng`] (bit-for-bit reproducible).

use super::msg::{Body, Msg, Stock};
use super::rng::{Chance, Rng};
use std::collections::VecDeque;
use std::fmt;

/// Nanoseconds in a second.
const SEC: u64 = 1_000_000_000;
/// 09:30:00 in nanoseconds since midnight: the open of continuous trading.
pub const OPEN_NS: u64 = 34_200 * SEC;
/// One cent in `Price(4)` units: the tick grid of every price.
pub const TICK: u32 = 100;
/// Lowest bid touch a price walk may reach ($1.00).
const MIN_BID: u32 = 100 * TICK;
/// Highest ask touch a price walk may reach ($10,000): far below the spec maximum.
const MAX_ASK: u32 = 1_000_000 * TICK;
/// Upper bound on the live orders of one symbol; at the bound adds turn into deletes.
pub const MAX_LIVE_PER_SYMBOL: usize = 128;
/// Most messages one continuous event can produce (a sweep of crossed orders).
const MAX_EVENT: u64 = 1 + MAX_LIVE_PER_SYMBOL as u64;
/// Highest `--symbols`.
pub const MAX_SYMBOLS: u16 = 10_000;

/// When the day ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Exactly this many ITCH messages in the day.
    Messages(u64),
    /// This many seconds of continuous trading (model time).
    Seconds(u64),
}

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Number of instruments (stock locates `1..=symbols`).
    pub symbols: u16,
    /// PRNG seed; same config and seed give the same messages.
    pub seed: u64,
    /// Length of the day.
    pub stop: Stop,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            symbols: 50,
            seed: 1,
            stop: Stop::Messages(1_000_000),
        }
    }
}

/// A configuration that cannot make a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// `symbols` outside `1..=MAX_SYMBOLS`.
    Symbols(u16),
    /// Fewer messages than the opening and closing sequences of this many symbols need.
    TooFewMessages {
        /// Requested.
        requested: u64,
        /// Least possible.
        minimum: u64,
    },
    /// Zero seconds.
    ZeroSeconds,
    /// A realistic day's scale outside `day::MIN_SCALE..=day::MAX_SCALE` (the value as given).
    Scale(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Symbols(n) => write!(f, "--symbols {n}: must be 1..={MAX_SYMBOLS}"),
            ConfigError::TooFewMessages { requested, minimum } => write!(
                f,
                "--messages {requested}: the day's fixed messages need at least {minimum} for these symbols"
            ),
            ConfigError::ZeroSeconds => f.write_str("--seconds 0: must be at least 1"),
            ConfigError::Scale(v) => write!(
                f,
                "--scale {v}: must be between {} and {}",
                super::day::MIN_SCALE,
                super::day::MAX_SCALE
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A resting order as the generator sees it (its own view of the book).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveOrder {
    /// Stock locate of the order's instrument.
    pub locate: u16,
    /// Current order reference number (after any replace).
    pub order_ref: u64,
    /// `b'B'` or `b'S'`.
    pub side: u8,
    /// Display price, `Price(4)`.
    pub price: u32,
    /// Shares left.
    pub shares: u32,
}

/// One price level of the generator's book: `Price(4)` price and total shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    /// `Price(4)`.
    pub price: u32,
    /// Sum of the live orders' shares at this price.
    pub shares: u64,
}

#[derive(Debug, Clone, Copy)]
struct Order {
    order_ref: u64,
    price: u32,
    shares: u32,
    side: u8,
}

#[derive(Debug)]
struct Sym {
    stock: Stock,
    /// Bid touch, `Price(4)`; the ask touch is one tick above.
    bid: u32,
    orders: Vec<Order>,
    /// No executions while set (LULD pause, operational halt).
    halted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Start,
    Continuous,
    Done,
}

#[derive(Debug, Clone, Copy)]
enum Special {
    Rpii,
    RegSho,
    LuldPause,
    LuldResume,
    OpHalt,
    OpLift,
    Broken,
    Mwcb,
}

// Event mix of continuous trading: cumulative upper bounds of a draw in 0..1000, close to
// Nasdaq's (adds and deletes dominate; executions a few percent).
/// Add (`A`, or `F` with an MPID): 45 %.
const ADD: u64 = 450;
/// Delete (`D`): 34 %.
const DELETE: u64 = 790;
/// Partial cancel (`X`): 3 %.
const CANCEL: u64 = 820;
/// Replace (`U`): 7 %.
const REPLACE: u64 = 890;
/// Execution at the best (`E`): 5 %.
const EXEC: u64 = 940;
/// Execution with price improvement (`C`, printable): 0.6 %.
const EXEC_PRICE: u64 = 946;
/// Non-displayed trade (`P`): 2.6 %.
const TRADE: u64 = 972;
/// Retail price improvement indicator (`N`): 0.4 %; the rest (2.4 %) moves the touch.
const RPII: u64 = 976;

/// Special events and the progress (per mille of the session) at which they happen.
const SPECIALS: [(u64, Special); 8] = [
    (50, Special::Rpii),
    (100, Special::RegSho),
    (200, Special::LuldPause),
    (250, Special::LuldResume),
    (350, Special::OpHalt),
    (400, Special::OpLift),
    (500, Special::Broken),
    (600, Special::Mwcb),
];

const MPIDS: [[u8; 4]; 6] = [*b"GSCO", *b"MSCO", *b"JPMS", *b"UBSS", *b"CDRG", *b"VIRT"];

/// Probabilities of the continuous model, as integer thresholds.
#[derive(Debug, Clone, Copy)]
struct Odds {
    burst_continue: Chance,
    same_symbol: Chance,
    distance: Chance,
    full_fill: Chance,
    odd_lot: Chance,
    attributed: Chance,
    more_lots: Chance,
}

/// The synthetic exchange: call [`Generator::next_message`] (bytes) or
/// [`Generator::next_event`] (typed) until it returns `None`.
#[derive(Debug)]
pub struct Generator {
    cfg: Config,
    rng: Rng,
    odds: Odds,
    syms: Vec<Sym>,
    /// Cumulative Zipf weights (symbol `i` weighs `1e9 / (i + 1)`).
    cum_weight: Vec<u64>,
    pending: VecDeque<Msg>,
    phase: Phase,
    /// Current model time, ns since midnight.
    clock: u64,
    emitted: u64,
    /// Total message budget (`u64::MAX` in seconds mode).
    budget: u64,
    /// End of continuous trading in seconds mode.
    end_clock: u64,
    closing_cost: u64,
    next_ref: u64,
    next_match: u64,
    last_match: u64,
    next_special: usize,
    burst_left: u32,
    burst_sym: usize,
    luld_sym: usize,
    halt_sym: usize,
}

/// Messages of the opening sequence for `n` symbols.
pub const fn opening_cost(n: u64) -> u64 {
    let l = if n < 3 { n } else { 3 };
    // S O, V, K, O, S S, S Q + per symbol R, H, 4 adds, I, C, C, Q + 2 L per active symbol.
    6 + 10 * n + 2 * l
}

/// Messages of the closing sequence for `n` symbols.
pub const fn closing_cost(n: u64) -> u64 {
    // per symbol three NOII-or-execution slots and a Q; S M, S E, S C.
    3 + 4 * n
}

impl Generator {
    /// A generator for one day; fails if the configuration cannot make one.
    pub fn new(cfg: Config) -> Result<Self, ConfigError> {
        if cfg.symbols == 0 || cfg.symbols > MAX_SYMBOLS {
            return Err(ConfigError::Symbols(cfg.symbols));
        }
        let n = u64::from(cfg.symbols);
        let (budget, end_clock) = match cfg.stop {
            Stop::Messages(m) => {
                let minimum = opening_cost(n) + closing_cost(n) + 1;
                if m < minimum {
                    return Err(ConfigError::TooFewMessages {
                        requested: m,
                        minimum,
                    });
                }
                (m, u64::MAX)
            }
            Stop::Seconds(0) => return Err(ConfigError::ZeroSeconds),
            Stop::Seconds(s) => (u64::MAX, OPEN_NS.saturating_add(s.saturating_mul(SEC))),
        };
        let mut rng = Rng::new(cfg.seed);
        let mut syms = Vec::with_capacity(n as usize);
        let mut cum_weight = Vec::with_capacity(n as usize);
        let mut total = 0u64;
        for i in 0..n {
            let cents = rng.range(500, 50_000) as u32;
            syms.push(Sym {
                stock: symbol_name(i),
                bid: cents * TICK,
                orders: Vec::with_capacity(16),
                halted: false,
            });
            total += 1_000_000_000 / (i + 1);
            cum_weight.push(total);
        }
        let odds = Odds {
            burst_continue: Chance::new(23.0 / 24.0),
            same_symbol: Chance::new(0.7),
            distance: Chance::new(0.65),
            full_fill: Chance::new(0.6),
            odd_lot: Chance::new(0.1),
            attributed: Chance::new(0.2),
            more_lots: Chance::new(0.6),
        };
        let nsym = n as usize;
        Ok(Generator {
            cfg,
            rng,
            odds,
            syms,
            cum_weight,
            pending: VecDeque::with_capacity(2 * nsym + 256),
            phase: Phase::Start,
            clock: OPEN_NS - 5 * SEC,
            emitted: 0,
            budget,
            end_clock,
            closing_cost: closing_cost(n),
            next_ref: 1_000_000 + rng_offset(cfg.seed),
            next_match: 1,
            last_match: 0,
            next_special: 0,
            burst_left: 0,
            burst_sym: 0,
            luld_sym: 2 % nsym,
            halt_sym: 3 % nsym,
        })
    }

    /// The configuration this generator was made with.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Messages handed out so far.
    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    /// Stock locate and symbol of every instrument (locate `i + 1` is index `i`).
    pub fn symbols(&self) -> impl Iterator<Item = (u16, Stock)> + '_ {
        self.syms
            .iter()
            .enumerate()
            .map(|(i, s)| (i as u16 + 1, s.stock))
    }

    /// The generator's own view of every live order now (at the end of the day, the final
    /// book a book builder replaying the feed must agree with).
    pub fn live_orders(&self) -> impl Iterator<Item = LiveOrder> + '_ {
        self.syms.iter().enumerate().flat_map(|(i, s)| {
            s.orders.iter().map(move |o| LiveOrder {
                locate: i as u16 + 1,
                order_ref: o.order_ref,
                side: o.side,
                price: o.price,
                shares: o.shares,
            })
        })
    }

    /// Aggregated levels of one symbol's book: `(bids best first, asks best first)`.
    /// Empty for an unknown locate.
    pub fn levels(&self, locate: u16) -> (Vec<Level>, Vec<Level>) {
        let Some(s) = (locate as usize)
            .checked_sub(1)
            .and_then(|i| self.syms.get(i))
        else {
            return (Vec::new(), Vec::new());
        };
        let side = |sd: u8, best_high: bool| {
            let mut v: Vec<Level> = Vec::new();
            let mut os: Vec<&Order> = s.orders.iter().filter(|o| o.side == sd).collect();
            os.sort_by_key(|o| o.price);
            if best_high {
                os.reverse();
            }
            for o in os {
                match v.last_mut() {
                    Some(l) if l.price == o.price => l.shares += u64::from(o.shares),
                    _ => v.push(Level {
                        price: o.price,
                        shares: u64::from(o.shares),
                    }),
                }
            }
            v
        };
        (side(b'B', true), side(b'S', false))
    }

    /// Writes the next message into `buf` (at least [`super::msg::MAX_LEN`] bytes) and returns
    /// its timestamp (ns since midnight) and length; `None` once the day is over.
    #[inline]
    pub fn next_message(&mut self, buf: &mut [u8]) -> Option<(u64, usize)> {
        let m = self.next_event()?;
        Some((m.ts, super::msg::encode(&m, buf)))
    }

    /// The next message as a typed value; `None` once the day is over.
    pub fn next_event(&mut self) -> Option<Msg> {
        loop {
            if let Some(m) = self.pending.pop_front() {
                self.emitted += 1;
                return Some(m);
            }
            match self.phase {
                Phase::Start => {
                    self.open_day();
                    self.phase = Phase::Continuous;
                }
                Phase::Continuous => {
                    let room = self.room();
                    if room == 0 || self.clock >= self.end_clock {
                        self.close_day();
                        self.phase = Phase::Done;
                    } else {
                        self.run_specials(room);
                        let room = self.room();
                        if room > 0 {
                            self.step(room.min(MAX_EVENT));
                        }
                    }
                }
                Phase::Done => return None,
            }
        }
    }

    /// Messages the continuous phase may still produce.
    fn room(&self) -> u64 {
        let committed = self.emitted + self.pending.len() as u64;
        self.budget.saturating_sub(committed + self.closing_cost)
    }

    fn progress_permille(&self) -> u64 {
        match self.cfg.stop {
            Stop::Messages(m) => (u128::from(self.emitted) * 1000 / u128::from(m)) as u64,
            Stop::Seconds(s) => self.clock.saturating_sub(OPEN_NS) / s.saturating_mul(1_000_000),
        }
    }

    fn push(&mut self, locate: u16, body: Body) {
        let tracking = if locate == 0 { 0 } else { 1 + locate % 5 };
        self.pending.push_back(Msg {
            ts: self.clock,
            locate,
            tracking,
            body,
        });
    }

    fn new_ref(&mut self) -> u64 {
        self.next_ref += 1 + self.rng.below(3);
        self.next_ref
    }

    fn new_match(&mut self) -> u64 {
        self.last_match = self.next_match;
        self.next_match += 1;
        self.last_match
    }

    fn lot(&mut self) -> u32 {
        if self.rng.chance(self.odds.odd_lot) {
            self.rng.range(1, 99) as u32
        } else {
            100 * (1 + self.rng.geometric(self.odds.more_lots, 30))
        }
    }

    fn mpid(&mut self) -> Option<[u8; 4]> {
        if self.rng.chance(self.odds.attributed) {
            Some(MPIDS[self.rng.below(MPIDS.len() as u64) as usize])
        } else {
            None
        }
    }

    /// A price near the touch on `side`: the distance from the best falls off geometrically.
    fn near_touch(&mut self, i: usize, side: u8) -> u32 {
        let d = self.rng.geometric(self.odds.distance, 20) * TICK;
        let bid = self.syms[i].bid;
        if side == b'B' {
            bid.saturating_sub(d).max(TICK)
        } else {
            bid + TICK + d
        }
    }

    fn add(&mut self, i: usize, side: u8, price: u32, shares: u32, mpid: Option<[u8; 4]>) {
        let order_ref = self.new_ref();
        let stock = self.syms[i].stock;
        self.syms[i].orders.push(Order {
            order_ref,
            price,
            shares,
            side,
        });
        self.push(
            i as u16 + 1,
            Body::AddOrder {
                order_ref,
                side,
                shares,
                stock,
                price,
                mpid,
            },
        );
    }

    /// Executes `shares` of order `k` of symbol `i` (removing it when exhausted).
    fn execute(&mut self, i: usize, k: usize, shares: u32, with_price: Option<(u32, bool)>) {
        let o = &mut self.syms[i].orders[k];
        debug_assert!(shares >= 1 && shares <= o.shares);
        o.shares -= shares;
        let order_ref = o.order_ref;
        if o.shares == 0 {
            self.syms[i].orders.swap_remove(k);
        }
        let match_no = self.new_match();
        let body = match with_price {
            None => Body::Executed {
                order_ref,
                shares,
                match_no,
            },
            Some((price, printable)) => Body::ExecutedWithPrice {
                order_ref,
                shares,
                match_no,
                printable,
                price,
            },
        };
        self.push(i as u16 + 1, body);
    }

    /// Index of the best order on `side` of symbol `i` (oldest first among equals).
    fn best(&self, i: usize, side: u8) -> Option<usize> {
        let os = &self.syms[i].orders;
        let mut best: Option<usize> = None;
        for (k, o) in os.iter().enumerate() {
            if o.side != side {
                continue;
            }
            best = match best {
                None => Some(k),
                Some(b) => {
                    let better = if side == b'B' {
                        o.price > os[b].price
                    } else {
                        o.price < os[b].price
                    };
                    Some(if better { k } else { b })
                }
            };
        }
        best
    }

    fn pick_symbol(&mut self) -> usize {
        if self.burst_left > 0 && self.rng.chance(self.odds.same_symbol) {
            return self.burst_sym;
        }
        let total = *self.cum_weight.last().unwrap_or(&1);
        let r = self.rng.below(total);
        let i = self.cum_weight.partition_point(|&c| c <= r);
        self.burst_sym = i;
        i
    }

    /// Advances the clock by one bursty inter-arrival gap.
    fn tick_clock(&mut self) {
        let gap = if self.burst_left > 0 {
            self.burst_left -= 1;
            self.rng.exp(400.0)
        } else {
            self.burst_left = 1 + self.rng.geometric(self.odds.burst_continue, 400);
            self.rng.exp(40_000.0)
        };
        self.clock += 1 + gap;
    }

    /// One continuous-trading event producing between 0 and `max` messages.
    fn step(&mut self, max: u64) {
        self.tick_clock();
        let i = self.pick_symbol();
        let n_orders = self.syms[i].orders.len();
        let halted = self.syms[i].halted;
        let mut r = self.rng.below(1000);
        if n_orders == 0 && (ADD..EXEC_PRICE).contains(&r) {
            r = 0; // nothing to act on: add instead
        }
        if n_orders >= MAX_LIVE_PER_SYMBOL && r < ADD {
            r = ADD; // book full: delete instead
        }
        if halted && r >= REPLACE && !(TRADE..RPII).contains(&r) {
            r = 0; // no trading while halted: orders may still be entered
        }
        match r {
            0..ADD => {
                let side = if self.rng.below(2) == 0 { b'B' } else { b'S' };
                let price = self.near_touch(i, side);
                let shares = self.lot();
                let mpid = self.mpid();
                self.add(i, side, price, shares, mpid);
            }
            ADD..DELETE => {
                let k = self.rng.below(n_orders as u64) as usize;
                let o = self.syms[i].orders.swap_remove(k);
                self.push(
                    i as u16 + 1,
                    Body::Delete {
                        order_ref: o.order_ref,
                    },
                );
            }
            DELETE..CANCEL => {
                let k = self.rng.below(n_orders as u64) as usize;
                let o = self.syms[i].orders[k];
                if o.shares == 1 {
                    self.syms[i].orders.swap_remove(k);
                    self.push(
                        i as u16 + 1,
                        Body::Delete {
                            order_ref: o.order_ref,
                        },
                    );
                } else {
                    let shares = self.rng.range(1, u64::from(o.shares - 1)) as u32;
                    self.syms[i].orders[k].shares -= shares;
                    self.push(
                        i as u16 + 1,
                        Body::Cancel {
                            order_ref: o.order_ref,
                            shares,
                        },
                    );
                }
            }
            CANCEL..REPLACE => {
                let k = self.rng.below(n_orders as u64) as usize;
                let old = self.syms[i].orders[k];
                let price = self.near_touch(i, old.side);
                let shares = self.lot();
                let new_ref = self.new_ref();
                self.syms[i].orders[k] = Order {
                    order_ref: new_ref,
                    price,
                    shares,
                    side: old.side,
                };
                self.push(
                    i as u16 + 1,
                    Body::Replace {
                        old_ref: old.order_ref,
                        new_ref,
                        shares,
                        price,
                    },
                );
            }
            REPLACE..EXEC_PRICE => {
                let side = if self.rng.below(2) == 0 { b'B' } else { b'S' };
                let Some(k) = self.best(i, side).or_else(|| self.best(i, opposite(side))) else {
                    return;
                };
                let have = self.syms[i].orders[k].shares;
                let shares = if have == 1 || self.rng.chance(self.odds.full_fill) {
                    have
                } else {
                    self.rng.range(1, u64::from(have - 1)) as u32
                };
                if r < EXEC {
                    self.execute(i, k, shares, None);
                } else {
                    // Executed at a price other than the display price (price improvement).
                    let o = self.syms[i].orders[k];
                    let price = if o.side == b'B' {
                        o.price.saturating_sub(TICK).max(TICK)
                    } else {
                        o.price + TICK
                    };
                    self.execute(i, k, shares, Some((price, true)));
                }
            }
            EXEC_PRICE..TRADE => {
                let s = &self.syms[i];
                let (stock, price) = (
                    s.stock,
                    if self.rng.below(2) == 0 {
                        s.bid
                    } else {
                        s.bid + TICK
                    },
                );
                let shares = self.lot();
                let match_no = self.new_match();
                self.push(
                    i as u16 + 1,
                    Body::Trade {
                        shares,
                        stock,
                        price,
                        match_no,
                    },
                );
            }
            TRADE..RPII => {
                let flag = b"BSAN"[self.rng.below(4) as usize];
                let stock = self.syms[i].stock;
                self.push(i as u16 + 1, Body::Rpii { stock, flag });
            }
            _ => self.move_price(i, max),
        }
    }

    /// Moves symbol `i`'s touch one tick up or down, first removing the resting orders the move
    /// would cross (the first few executed, `E`, the rest deleted, `D`); does nothing if that
    /// would take more than `max` messages.
    fn move_price(&mut self, i: usize, max: u64) {
        let bid = self.syms[i].bid;
        let up = if bid <= MIN_BID {
            true
        } else if bid + 2 * TICK >= MAX_ASK {
            false
        } else {
            self.rng.below(2) == 0
        };
        // Up: sells at the old ask touch are lifted. Down: buys at the old bid touch are hit.
        let (side, at) = if up { (b'S', bid + TICK) } else { (b'B', bid) };
        let crossed = self.syms[i]
            .orders
            .iter()
            .filter(|o| o.side == side && o.price == at)
            .count();
        if crossed as u64 > max {
            return;
        }
        // The level goes: the first few orders are executed, the rest are cancelled.
        let mut fills = 1 + self.rng.geometric(self.odds.more_lots, 8);
        let mut k = 0;
        while k < self.syms[i].orders.len() {
            let o = self.syms[i].orders[k];
            if o.side == side && o.price == at {
                // Both remove index k (swap_remove): index k now holds another order.
                if fills > 0 {
                    fills -= 1;
                    self.execute(i, k, o.shares, None);
                } else {
                    self.syms[i].orders.swap_remove(k);
                    self.push(
                        i as u16 + 1,
                        Body::Delete {
                            order_ref: o.order_ref,
                        },
                    );
                }
            } else {
                k += 1;
            }
        }
        self.syms[i].bid = if up { bid + TICK } else { bid - TICK };
    }

    fn run_specials(&mut self, room: u64) {
        while let Some(&(at, sp)) = SPECIALS.get(self.next_special) {
            if self.progress_permille() < at {
                break;
            }
            self.next_special += 1;
            let n = self.syms.len() as u64;
            let free = room.saturating_sub(self.pending.len() as u64);
            // The market-wide halt needs two messages per symbol; when the day is too short
            // for that, only the breach (W) is sent.
            let full_mwcb = 2 * n < free;
            let cost = match sp {
                Special::RegSho
                | Special::Rpii
                | Special::OpHalt
                | Special::OpLift
                | Special::Broken => 1,
                Special::LuldPause => 2,
                Special::LuldResume => 4,
                Special::Mwcb => 1,
            };
            if cost > free {
                continue;
            }
            self.clock += 1_000;
            match sp {
                Special::RegSho => {
                    let i = 1 % self.syms.len();
                    let stock = self.syms[i].stock;
                    self.push(
                        i as u16 + 1,
                        Body::RegSho {
                            stock,
                            action: b'1',
                        },
                    );
                }
                Special::LuldPause => {
                    let i = self.luld_sym;
                    self.syms[i].halted = true;
                    let (stock, reference) = (self.syms[i].stock, self.syms[i].bid);
                    let band = (reference / 20 / TICK).max(1) * TICK;
                    self.push(
                        i as u16 + 1,
                        Body::TradingAction {
                            stock,
                            state: b'P',
                            reason: *b"LUDP",
                        },
                    );
                    self.push(
                        i as u16 + 1,
                        Body::LuldCollar {
                            stock,
                            reference,
                            upper: reference + band,
                            lower: reference - band.min(reference - TICK),
                            extension: 0,
                        },
                    );
                }
                Special::LuldResume => {
                    let i = self.luld_sym;
                    if !self.syms[i].halted {
                        continue;
                    }
                    let (stock, price) = (self.syms[i].stock, self.syms[i].bid);
                    let loc = i as u16 + 1;
                    self.push(
                        loc,
                        Body::TradingAction {
                            stock,
                            state: b'Q',
                            reason: *b"T7  ",
                        },
                    );
                    self.push(
                        loc,
                        Body::Noii {
                            paired: 0,
                            imbalance: 0,
                            direction: b'O',
                            stock,
                            far: 0,
                            near: 0,
                            reference: price,
                            cross_type: b'H',
                            variation: b' ',
                        },
                    );
                    let match_no = self.new_match();
                    self.push(
                        loc,
                        Body::Cross {
                            shares: 0,
                            stock,
                            price,
                            match_no,
                            cross_type: b'H',
                        },
                    );
                    self.push(
                        loc,
                        Body::TradingAction {
                            stock,
                            state: b'T',
                            reason: *b"    ",
                        },
                    );
                    self.syms[i].halted = false;
                }
                Special::OpHalt | Special::OpLift => {
                    let i = self.halt_sym;
                    let halt = matches!(sp, Special::OpHalt);
                    self.syms[i].halted = halt;
                    let stock = self.syms[i].stock;
                    let action = if halt { b'H' } else { b'T' };
                    self.push(
                        i as u16 + 1,
                        Body::OperationalHalt {
                            stock,
                            market: b'Q',
                            action,
                        },
                    );
                }
                Special::Broken => {
                    if self.last_match == 0 {
                        continue;
                    }
                    let match_no = self.last_match;
                    self.push(0, Body::BrokenTrade { match_no });
                }
                Special::Rpii => {
                    let stock = self.syms[0].stock;
                    self.push(1, Body::Rpii { stock, flag: b'A' });
                }
                Special::Mwcb => {
                    self.push(0, Body::MwcbStatus { level: b'1' });
                    if !full_mwcb {
                        continue;
                    }
                    for i in 0..self.syms.len() {
                        let stock = self.syms[i].stock;
                        self.push(
                            i as u16 + 1,
                            Body::TradingAction {
                                stock,
                                state: b'H',
                                reason: *b"MWC1",
                            },
                        );
                    }
                    self.clock += 2_500_000_000;
                    for i in 0..self.syms.len() {
                        let stock = self.syms[i].stock;
                        self.push(
                            i as u16 + 1,
                            Body::TradingAction {
                                stock,
                                state: b'T',
                                reason: *b"MWCQ",
                            },
                        );
                    }
                }
            }
        }
    }

    fn open_day(&mut self) {
        let n = self.syms.len();
        self.clock = OPEN_NS - 5 * SEC;
        self.push(0, Body::SystemEvent { code: b'O' });
        self.clock += 1_000;
        // Level 1/2/3 of the MWCB (S&P 500 at 7%/13%/20% below 5000.00), Price(8).
        self.push(
            0,
            Body::MwcbDecline {
                level1: 465_000_000_000,
                level2: 435_000_000_000,
                level3: 400_000_000_000,
            },
        );
        for i in 0..n {
            self.clock += 200;
            let nasdaq = i % 4 != 3;
            let ipo = i == n - 1 && n > 1;
            let body = Body::StockDirectory {
                stock: self.syms[i].stock,
                category: if nasdaq { b"QGS"[i % 3] } else { b"NPZ"[i % 3] },
                financial_status: if nasdaq { b'N' } else { b' ' },
                round_lot: 100,
                round_lots_only: b'N',
                classification: b'C',
                sub_type: *b"C ",
                authenticity: b'P',
                short_sale_threshold: b'N',
                ipo_flag: if !nasdaq {
                    b' '
                } else if ipo {
                    b'Y'
                } else {
                    b'N'
                },
                luld_tier: if i < n.div_ceil(5) { b'1' } else { b'2' },
                etp_flag: b'N',
                etp_leverage: 0,
                inverse: b'N',
            };
            self.push(i as u16 + 1, body);
        }
        for i in 0..n {
            self.clock += 200;
            let stock = self.syms[i].stock;
            self.push(
                i as u16 + 1,
                Body::TradingAction {
                    stock,
                    state: b'T',
                    reason: *b"    ",
                },
            );
        }
        for i in 0..n.min(3) {
            for (j, mpid) in MPIDS.iter().take(2).enumerate() {
                self.clock += 200;
                let stock = self.syms[i].stock;
                let body = Body::MarketParticipant {
                    mpid: *mpid,
                    stock,
                    primary: if j == 0 { b'Y' } else { b'N' },
                    mode: b'N',
                    state: b'A',
                };
                self.push(i as u16 + 1, body);
            }
        }
        let last = n - 1;
        let (stock, price) = (self.syms[last].stock, self.syms[last].bid);
        self.clock += 200;
        self.push(
            last as u16 + 1,
            Body::IpoQuoting {
                stock,
                release_time: 34_200 + 5_400,
                qualifier: b'A',
                price,
            },
        );
        self.clock += 200;
        let collar = (price / 10 / TICK).max(1) * TICK;
        self.push(
            last as u16 + 1,
            Body::Dlcr {
                stock,
                eligible: b'N',
                min_price: price - (price / 5 / TICK) * TICK,
                max_price: price + (price / 5 * 4 / TICK) * TICK,
                near_price: price,
                near_time: self.clock,
                lower_collar: price - collar.min(price - TICK),
                upper_collar: price + collar,
            },
        );
        self.clock = OPEN_NS - 3_500_000_000;
        self.push(0, Body::SystemEvent { code: b'S' });
        // Pre-open: two orders at one touch (bids for even symbols, asks for odd ones), executed
        // in full by the opening cross against non-displayed on-open interest, and one resting
        // order a side. The displayed book is never crossed or locked.
        self.clock = OPEN_NS - 2 * SEC;
        let mut opening = Vec::with_capacity(n);
        for i in 0..n {
            self.clock += 2_000;
            let (side, price) = if i % 2 == 0 {
                (b'B', self.syms[i].bid)
            } else {
                (b'S', self.syms[i].bid + TICK)
            };
            let mut fill = [(0u64, 0u32); 2];
            for f in &mut fill {
                let shares = 100 * (1 + self.rng.below(20) as u32);
                self.add(i, side, price, shares, None);
                *f = (self.next_ref, shares);
            }
            opening.push((fill, side, price));
            let (p, s, m) = (self.near_touch(i, b'B'), self.lot(), self.mpid());
            self.add(i, b'B', p, s, m);
            let (p, s, m) = (self.near_touch(i, b'S'), self.lot(), self.mpid());
            self.add(i, b'S', p, s, m);
        }
        self.clock = OPEN_NS - 500_000_000;
        for (i, &(fill, side, price)) in opening.iter().enumerate() {
            self.clock += 1_000;
            let paired = u64::from(fill[0].1 + fill[1].1);
            let imbalance = 100 * self.rng.below(10);
            let direction = if imbalance == 0 { b'N' } else { side };
            let stock = self.syms[i].stock;
            self.push(
                i as u16 + 1,
                Body::Noii {
                    paired,
                    imbalance,
                    direction,
                    stock,
                    far: price,
                    near: price,
                    reference: price,
                    cross_type: b'O',
                    variation: b'L',
                },
            );
        }
        self.clock = OPEN_NS;
        self.push(0, Body::SystemEvent { code: b'Q' });
        for (i, &(fill, _, price)) in opening.iter().enumerate() {
            self.clock += 500;
            for (r, shares) in fill {
                let k = self.syms[i].orders.iter().position(|o| o.order_ref == r);
                if let Some(k) = k {
                    self.execute(i, k, shares, Some((price, false)));
                }
            }
            let (stock, match_no) = (self.syms[i].stock, self.new_match());
            self.push(
                i as u16 + 1,
                Body::Cross {
                    shares: u64::from(fill[0].1 + fill[1].1),
                    stock,
                    price,
                    match_no,
                    cross_type: b'O',
                },
            );
        }
        debug_assert_eq!(self.pending.len() as u64, opening_cost(n as u64));
    }

    fn close_day(&mut self) {
        let n = self.syms.len();
        for s in &mut self.syms {
            s.halted = false;
        }
        // Plan each symbol's closing cross: best bid against best ask, at the bid price.
        let mut plan = Vec::with_capacity(n);
        for i in 0..n {
            let p = match (self.best(i, b'B'), self.best(i, b'S')) {
                (Some(b), Some(a)) => {
                    let os = &self.syms[i].orders;
                    Some((
                        os[b].order_ref,
                        os[a].order_ref,
                        os[b].shares.min(os[a].shares),
                        os[b].price,
                    ))
                }
                _ => None,
            };
            plan.push(p);
        }
        for (i, p) in plan.iter().enumerate() {
            let noiis = if p.is_some() { 1 } else { 3 };
            for _ in 0..noiis {
                self.clock += 1_000;
                let s = &self.syms[i];
                let (stock, bid) = (s.stock, s.bid);
                let (paired, price) = p.map_or((0, bid), |(_, _, sh, pr)| (u64::from(sh), pr));
                self.push(
                    i as u16 + 1,
                    Body::Noii {
                        paired,
                        imbalance: 0,
                        direction: b'N',
                        stock,
                        far: price,
                        near: price,
                        reference: price,
                        cross_type: b'C',
                        variation: b'L',
                    },
                );
            }
        }
        self.clock += 1_000_000;
        self.push(0, Body::SystemEvent { code: b'M' });
        for (i, p) in plan.into_iter().enumerate() {
            self.clock += 500;
            let stock = self.syms[i].stock;
            let (shares, price) = match p {
                Some((b, a, shares, price)) => {
                    for r in [b, a] {
                        if let Some(k) = self.syms[i].orders.iter().position(|o| o.order_ref == r) {
                            self.execute(i, k, shares, Some((price, false)));
                        }
                    }
                    (shares, price)
                }
                None => (0, self.syms[i].bid),
            };
            let match_no = self.new_match();
            self.push(
                i as u16 + 1,
                Body::Cross {
                    shares: u64::from(shares),
                    stock,
                    price,
                    match_no,
                    cross_type: b'C',
                },
            );
        }
        self.clock += 1_500_000_000;
        self.push(0, Body::SystemEvent { code: b'E' });
        self.clock += 1_500_000_000;
        self.push(0, Body::SystemEvent { code: b'C' });
    }
}

fn opposite(side: u8) -> u8 {
    if side == b'B' {
        b'S'
    } else {
        b'B'
    }
}

/// A small seed-dependent offset for the first order reference number.
fn rng_offset(seed: u64) -> u64 {
    Rng::new(seed ^ 0x5EED).below(1_000_000)
}

/// Symbol `i`: four letters, a bijection of `i` (7919 is coprime with 26^4), space-padded.
pub fn symbol_name(i: u64) -> Stock {
    let mut v = (i * 7919 + 12_345) % (26 * 26 * 26 * 26);
    let mut s = *b"        ";
    for k in (0..4).rev() {
        s[k] = b'A' + (v % 26) as u8;
        v /= 26;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn day(symbols: u16, seed: u64, messages: u64) -> Vec<Msg> {
        let mut g = Generator::new(Config {
            symbols,
            seed,
            stop: Stop::Messages(messages),
        })
        .unwrap();
        std::iter::from_fn(|| g.next_event()).collect()
    }

    /// Replays typed messages through a minimal order store; panics on any violation.
    fn check_lifecycle(msgs: &[Msg]) -> HashMap<u64, (u16, u8, u32, u32)> {
        let mut live: HashMap<u64, (u16, u8, u32, u32)> = HashMap::new();
        let mut seen_refs = std::collections::HashSet::new();
        let mut seen_matches = std::collections::HashSet::new();
        let mut last_ts = 0;
        for m in msgs {
            assert!(m.ts >= last_ts, "time went back at {m:?}");
            last_ts = m.ts;
            let mut take = |r: u64, n: u32| {
                let o = live
                    .get_mut(&r)
                    .unwrap_or_else(|| panic!("unknown order {r} in {m:?}"));
                assert!(n >= 1 && n <= o.3, "{m:?} takes {n} of {}", o.3);
                o.3 -= n;
                if o.3 == 0 {
                    live.remove(&r);
                }
            };
            match m.body {
                Body::AddOrder {
                    order_ref,
                    side,
                    shares,
                    price,
                    ..
                } => {
                    assert!(seen_refs.insert(order_ref), "duplicate ref {order_ref}");
                    assert!(shares > 0 && price > 0 && price % TICK == 0);
                    live.insert(order_ref, (m.locate, side, price, shares));
                }
                Body::Executed {
                    order_ref,
                    shares,
                    match_no,
                }
                | Body::ExecutedWithPrice {
                    order_ref,
                    shares,
                    match_no,
                    ..
                } => {
                    assert!(seen_matches.insert(match_no));
                    take(order_ref, shares);
                }
                Body::Cancel { order_ref, shares } => take(order_ref, shares),
                Body::Delete { order_ref } => {
                    assert!(
                        live.remove(&order_ref).is_some(),
                        "delete of unknown {order_ref}"
                    );
                }
                Body::Replace {
                    old_ref,
                    new_ref,
                    shares,
                    price,
                } => {
                    let o = live.remove(&old_ref).expect("replace of unknown order");
                    assert!(seen_refs.insert(new_ref), "duplicate ref {new_ref}");
                    live.insert(new_ref, (o.0, o.1, price, shares));
                }
                Body::Trade { match_no, .. } | Body::Cross { match_no, .. } => {
                    assert!(seen_matches.insert(match_no));
                }
                _ => {}
            }
        }
        live
    }

    #[test]
    fn exact_count_all_types_and_consistent_lifecycle() {
        let msgs = day(20, 42, 100_000);
        assert_eq!(msgs.len(), 100_000);
        for t in super::super::msg::ALL_TYPES {
            assert!(
                msgs.iter().any(|m| m.body.type_byte() == t),
                "type {} missing",
                t as char
            );
        }
        assert_eq!(msgs[0].body, Body::SystemEvent { code: b'O' });
        assert_eq!(msgs.last().unwrap().body, Body::SystemEvent { code: b'C' });
        check_lifecycle(&msgs);
    }

    #[test]
    fn final_book_matches_generator_view() {
        let mut g = Generator::new(Config {
            symbols: 7,
            seed: 3,
            stop: Stop::Messages(50_000),
        })
        .unwrap();
        let mut msgs = Vec::new();
        while let Some(m) = g.next_event() {
            msgs.push(m);
            // No symbol's displayed book is ever crossed or locked.
            if msgs.len() % 100 == 0 {
                for loc in 1..=7 {
                    let (bids, asks) = g.levels(loc);
                    if let (Some(b), Some(a)) = (bids.first(), asks.first()) {
                        assert!(b.price < a.price, "symbol {loc} crossed at {}", msgs.len());
                    }
                }
            }
        }
        let live = check_lifecycle(&msgs);
        let mut ours: Vec<(u64, u16, u8, u32, u32)> = g
            .live_orders()
            .map(|o| (o.order_ref, o.locate, o.side, o.price, o.shares))
            .collect();
        let mut theirs: Vec<(u64, u16, u8, u32, u32)> = live
            .iter()
            .map(|(&r, &(l, s, p, n))| (r, l, s, p, n))
            .collect();
        ours.sort_unstable();
        theirs.sort_unstable();
        assert_eq!(ours, theirs);
        assert!(!ours.is_empty());
        // Levels are sorted best first and sum the orders.
        let (bids, asks) = g.levels(1);
        assert!(bids.windows(2).all(|w| w[0].price > w[1].price));
        assert!(asks.windows(2).all(|w| w[0].price < w[1].price));
        let total: u64 = bids.iter().chain(&asks).map(|l| l.shares).sum();
        let want: u64 = ours
            .iter()
            .filter(|o| o.1 == 1)
            .map(|o| u64::from(o.4))
            .sum();
        assert_eq!(total, want);
        if let (Some(b), Some(a)) = (bids.first(), asks.first()) {
            assert!(b.price < a.price, "generator book crossed");
        }
    }

    #[test]
    fn deterministic_and_seed_sensitive() {
        assert_eq!(day(5, 9, 20_000), day(5, 9, 20_000));
        assert_ne!(day(5, 9, 20_000), day(5, 10, 20_000));
    }

    #[test]
    fn activity_is_skewed_and_bursty() {
        let msgs = day(50, 1, 200_000);
        let mut per = vec![0u64; 51];
        for m in &msgs {
            per[m.locate as usize] += 1;
        }
        let mut counts: Vec<u64> = per[1..].to_vec();
        counts.sort_unstable_by(|a, b| b.cmp(a));
        let top5: u64 = counts[..5].iter().sum();
        let all: u64 = counts.iter().sum();
        assert!(
            top5 * 100 / all >= 40,
            "top 5 of 50 symbols take {}%",
            top5 * 100 / all
        );
        // Bursts: many gaps under a microsecond, and many over ten.
        let gaps: Vec<u64> = msgs
            .windows(2)
            .map(|w| w[1].ts - w[0].ts)
            .filter(|&g| g > 0)
            .collect();
        let short = gaps.iter().filter(|&&g| g < 1_000).count();
        let long = gaps.iter().filter(|&&g| g > 10_000).count();
        assert!(
            short > gaps.len() / 2 && long > gaps.len() / 50,
            "{short} {long} {}",
            gaps.len()
        );
    }

    #[test]
    fn seconds_mode_ends_after_the_session() {
        let mut g = Generator::new(Config {
            symbols: 3,
            seed: 1,
            stop: Stop::Seconds(1),
        })
        .unwrap();
        let msgs: Vec<Msg> = std::iter::from_fn(|| g.next_event()).collect();
        let m = msgs
            .iter()
            .rposition(|m| m.body == Body::SystemEvent { code: b'M' })
            .unwrap();
        // One second of trading plus the 2.5 s market-wide halt.
        assert!(
            msgs[m].ts >= OPEN_NS + SEC && msgs[m].ts < OPEN_NS + 4 * SEC,
            "{}",
            msgs[m].ts
        );
        check_lifecycle(&msgs);
    }

    #[test]
    fn bad_configs_are_refused() {
        let c = |symbols, stop| {
            Generator::new(Config {
                symbols,
                seed: 1,
                stop,
            })
            .err()
        };
        assert_eq!(c(0, Stop::Messages(1000)), Some(ConfigError::Symbols(0)));
        assert!(matches!(
            c(10, Stop::Messages(50)),
            Some(ConfigError::TooFewMessages { .. })
        ));
        assert_eq!(c(1, Stop::Seconds(0)), Some(ConfigError::ZeroSeconds));
        let min = opening_cost(10) + closing_cost(10) + 1;
        assert!(c(10, Stop::Messages(min)).is_none());
        assert_eq!(day(10, 1, min).len() as u64, min);
    }

    #[test]
    fn all_types_for_any_symbol_count_at_100k() {
        for symbols in [1, 2, 5, 500, 5_000, 7_000] {
            let msgs = day(symbols, 2, 100_000);
            assert_eq!(msgs.len(), 100_000);
            for t in super::super::msg::ALL_TYPES {
                assert!(
                    msgs.iter().any(|m| m.body.type_byte() == t),
                    "type {} missing with {symbols} symbols",
                    t as char
                );
            }
        }
    }

    #[test]
    fn extreme_lengths_do_not_overflow() {
        for stop in [Stop::Seconds(u64::MAX), Stop::Messages(u64::MAX)] {
            let mut g = Generator::new(Config {
                symbols: 3,
                seed: 1,
                stop,
            })
            .unwrap();
            assert_eq!((0..10_000).filter_map(|_| g.next_event()).count(), 10_000);
        }
    }

    #[test]
    fn symbol_names_are_unique_letters() {
        let names: std::collections::HashSet<Stock> = (0..10_000).map(symbol_name).collect();
        assert_eq!(names.len(), 10_000);
        assert!(names
            .iter()
            .all(|n| n[..4].iter().all(u8::is_ascii_uppercase) && &n[4..] == b"    "));
    }
}
