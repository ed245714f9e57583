//! A deterministic synthetic market for the examples, standing in for the engine: a few
//! instruments whose best bid and offer random-walk, published as venue events of one or two
//! `BookUpdate`s through the ring (claimed and written in place, published per event), with
//! the top of book stored after each event.

#![allow(dead_code)] // each example uses part of it

use fh_feed::agent::{Agent, MonotonicClock, Nanos};
use fh_feed::ring::Producer;
use fh_feed::topbook::{Bbo, TopBookWriter};
use fh_feed::update::{flags, Side, UpdateKind};

/// One tick: $0.01 in 4-decimal fixed point.
pub const TICK: i64 = 100;

#[derive(Clone, Copy, Debug)]
struct Top {
    bid: i64,
    bid_shares: u64,
    ask: i64,
    ask_shares: u64,
}

/// The synthetic market and the ring producer it feeds (the engine's role).
#[derive(Debug)]
pub struct Market {
    rng: u64,
    tops: Vec<Top>,
    seq: u64,
    events_left: u64,
    producer: Option<Producer>,
    top_book: TopBookWriter,
    clock: MonotonicClock,
    /// Events published per duty cycle.
    pub burst: u32,
}

impl Market {
    /// `instruments` books starting around $100, `events` venue events to publish.
    pub fn new(
        instruments: u32,
        events: u64,
        producer: Producer,
        top_book: TopBookWriter,
        clock: MonotonicClock,
    ) -> Self {
        let tops = (0..instruments)
            .map(|i| Top {
                bid: 1_000_000 + i64::from(i) * 10_000,
                bid_shares: 500,
                ask: 1_000_100 + i64::from(i) * 10_000,
                ask_shares: 500,
            })
            .collect();
        Market {
            rng: 0x2545_F491_4F6C_DD1D,
            tops,
            seq: 0,
            events_left: events,
            producer: Some(producer),
            top_book,
            clock,
            burst: 1,
        }
    }

    fn next_rand(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Publishes one venue event; false once all events are out (the ring is then closed).
    pub fn step(&mut self) -> bool {
        if self.events_left == 0 {
            self.producer = None; // dropping the producer closes the ring
            return false;
        }
        self.events_left -= 1;
        let r = self.next_rand();
        let i = (r % self.tops.len() as u64) as usize;
        let before = self.tops[i];
        let mut top = before;
        let side = if r >> 8 & 1 == 0 {
            Side::Bid
        } else {
            Side::Ask
        };
        let shares = 100 * (1 + (r >> 16) % 20);
        // (kind, price, shares) of up to two updates.
        let mut out = [(UpdateKind::Trade, 0i64, 0u64, side); 2];
        let n = match (r >> 32) % 4 {
            0 if top.ask - top.bid > TICK => {
                // A new level improves the best price.
                if side == Side::Bid {
                    top.bid += TICK;
                    top.bid_shares = shares;
                    out[0] = (UpdateKind::AddLevel, top.bid, shares, side);
                } else {
                    top.ask -= TICK;
                    top.ask_shares = shares;
                    out[0] = (UpdateKind::AddLevel, top.ask, shares, side);
                }
                1
            }
            1 => {
                // The best level is consumed: a trade, then the level goes and the next one
                // (a tick away) becomes the best.
                let (px, old) = if side == Side::Bid {
                    (top.bid, top.bid_shares)
                } else {
                    (top.ask, top.ask_shares)
                };
                out[0] = (UpdateKind::Trade, px, old, Side::None);
                out[1] = (UpdateKind::DeleteLevel, px, 0, side);
                if side == Side::Bid {
                    top.bid -= TICK;
                    top.bid_shares = shares;
                } else {
                    top.ask += TICK;
                    top.ask_shares = shares;
                }
                2
            }
            _ => {
                // Size changes at the best.
                if side == Side::Bid {
                    top.bid_shares = shares;
                    out[0] = (UpdateKind::ChangeLevel, top.bid, shares, side);
                } else {
                    top.ask_shares = shares;
                    out[0] = (UpdateKind::ChangeLevel, top.ask, shares, side);
                }
                1
            }
        };
        self.tops[i] = top;
        self.seq += 1;
        let now = self.clock.now();
        let Some(producer) = self.producer.as_mut() else {
            return false;
        };
        for (k, &(kind, price, shares, side)) in out[..n].iter().enumerate() {
            let mut u = producer.claim();
            u.seq = self.seq;
            u.exch_ts = now;
            u.recv_ts = now;
            u.engine_ts = now;
            u.price = price;
            u.shares = shares;
            u.order_count = u32::from(shares > 0);
            u.instrument = i as u32;
            u.kind = kind;
            u.side = side;
            u.flags = 0;
            if kind != UpdateKind::Trade {
                u.flags |= flags::BEST_CHANGED;
            }
            if k + 1 == n {
                u.flags |= flags::LAST_IN_EVENT;
            }
        }
        self.top_book.set(
            i as u32,
            &Bbo {
                bid_price: top.bid,
                bid_shares: top.bid_shares,
                ask_price: top.ask,
                ask_shares: top.ask_shares,
                seq: self.seq,
                exch_ts: now,
            },
        );
        producer.publish();
        true
    }
}

impl Agent for Market {
    fn name(&self) -> &str {
        "market"
    }

    fn do_work(&mut self, _now: Nanos) -> usize {
        let mut n = 0;
        for _ in 0..self.burst {
            if !self.step() {
                break;
            }
            n += 1;
        }
        n
    }

    fn is_done(&self) -> bool {
        self.producer.is_none()
    }
}

/// The `n`th command-line argument as a number, or `default`.
pub fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .nth(n)
        .and_then(|a| a.replace('_', "").parse().ok())
        .unwrap_or(default)
}
