//! Property test: random valid ITCH order flows, encoded as real ITCH 5.0 messages and fed to
//! the engine, give exactly the price levels of a deliberately simple reference model
//! (a `HashMap` of orders and a `BTreeMap` of levels) after every message — both in the
//! engine's books and in a book rebuilt only from the published `BookUpdate` stream.
//!
//! Seeded xorshift generator: each seed is a different flow; a failure prints its seed and step.

use fh_decoders::itch50::{
    alpha, AddOrder, AddOrderMpid, OrderCancel, OrderDelete, OrderExecuted, OrderExecutedWithPrice,
    OrderReplace, StockDirectory, Trade,
};
use fh_feed::engine::{DatagramMeta, Engine, EngineConfig};
use fh_feed::update::{BookUpdate, Flags, Side, UpdateKind};
use std::collections::{BTreeMap, HashMap};
use zerocopy::byteorder::big_endian::{U32, U64};
use zerocopy::IntoBytes;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Copy, Debug)]
struct ModelOrder {
    locate: u16,
    side: Side,
    price: u32,
    shares: u32,
}

/// The reference: orders by reference, levels as ordered maps.
#[derive(Default)]
struct Model {
    orders: HashMap<u64, ModelOrder>,
    live: Vec<u64>,
}

type Levels = BTreeMap<(u16, u8, i64), (u64, u32)>;

impl Model {
    fn levels(&self) -> Levels {
        let mut l = Levels::new();
        for o in self.orders.values() {
            let e = l
                .entry((o.locate, o.side as u8, i64::from(o.price)))
                .or_insert((0, 0));
            e.0 += u64::from(o.shares);
            e.1 += 1;
        }
        l
    }
    fn remove_live(&mut self, r: u64) {
        let i = self.live.iter().position(|&x| x == r).unwrap();
        self.live.swap_remove(i);
    }
}

const LOCATES: u16 = 3;

fn engine_levels(e: &Engine) -> Levels {
    let mut l = Levels::new();
    for locate in 1..=LOCATES {
        let i = e.itch().instrument(locate);
        for (side, ladder) in [(Side::Bid, i.bids()), (Side::Ask, i.asks())] {
            assert!(ladder.is_well_formed());
            for lv in ladder.iter_best_first() {
                l.insert((locate, side as u8, lv.price), (lv.shares, lv.orders));
            }
        }
    }
    l
}

fn apply_update(l: &mut Levels, u: &BookUpdate) {
    let key = (u.instrument as u16, u.side as u8, u.price);
    match u.kind {
        UpdateKind::AddLevel => {
            assert!(!l.contains_key(&key), "AddLevel of an existing level {u:?}");
            l.insert(key, (u.shares, u.order_count));
        }
        UpdateKind::ChangeLevel => {
            assert!(l.contains_key(&key), "ChangeLevel of a missing level {u:?}");
            l.insert(key, (u.shares, u.order_count));
        }
        UpdateKind::DeleteLevel => {
            assert!(
                l.remove(&key).is_some(),
                "DeleteLevel of a missing level {u:?}"
            );
        }
        _ => {}
    }
}

fn run_flow(seed: u64, steps: usize) {
    let mut rng = Rng(seed | 1);
    let mut e = Engine::new(&EngineConfig {
        orders: 16, // small on purpose: forces the store's cold-path growth
        ..EngineConfig::default()
    });
    let meta = DatagramMeta::default();
    let mut from_updates = Levels::new();
    let mut model = Model::default();
    let mut next_ref = 1u64;
    let mut ts = 34_200_000_000_000u64;
    let mut buf: Vec<u8> = Vec::new();

    for locate in 1..=LOCATES {
        let mut m = StockDirectory::new(locate, 0, ts);
        m.stock = alpha(format!("SYM{locate}").as_bytes());
        e.on_itch_stream_message(0, &meta, m.as_bytes(), &mut |_: &BookUpdate| {});
    }

    for step in 0..steps {
        ts += 1 + rng.below(1000);
        buf.clear();
        let op = rng.below(100);
        if model.live.is_empty() || op < 35 {
            // A or F
            let locate = 1 + rng.below(u64::from(LOCATES)) as u16;
            let side = if rng.below(2) == 0 {
                Side::Bid
            } else {
                Side::Ask
            };
            // bids 90..110, asks 100..120: overlapping ranges also exercise crossed counting
            let price = if side == Side::Bid {
                900_000
            } else {
                1_000_000
            } + 1000 * rng.below(20) as u32;
            let shares = 1 + rng.below(500) as u32;
            let r = next_ref;
            next_ref += 1 + rng.below(3); // not dense
            if rng.below(2) == 0 {
                let mut m = AddOrder::new(locate, 0, ts);
                m.order_reference_number = U64::new(r);
                m.buy_sell_indicator = if side == Side::Bid { b'B' } else { b'S' };
                m.shares = U32::new(shares);
                m.stock = alpha(format!("SYM{locate}").as_bytes());
                m.price = U32::new(price);
                buf.extend_from_slice(m.as_bytes());
            } else {
                let mut m = AddOrderMpid::new(locate, 0, ts);
                m.order_reference_number = U64::new(r);
                m.buy_sell_indicator = if side == Side::Bid { b'B' } else { b'S' };
                m.shares = U32::new(shares);
                m.stock = alpha(format!("SYM{locate}").as_bytes());
                m.price = U32::new(price);
                m.attribution = alpha(b"GSCO");
                buf.extend_from_slice(m.as_bytes());
            }
            model.orders.insert(
                r,
                ModelOrder {
                    locate,
                    side,
                    price,
                    shares,
                },
            );
            model.live.push(r);
        } else {
            let r = model.live[rng.below(model.live.len() as u64) as usize];
            let o = model.orders[&r];
            match op {
                35..=69 => {
                    // E, C or X of part or all of the order
                    let n = if rng.below(3) == 0 {
                        o.shares
                    } else {
                        1 + rng.below(u64::from(o.shares)) as u32
                    };
                    match op {
                        35..=49 => {
                            let mut m = OrderExecuted::new(o.locate, 0, ts);
                            m.order_reference_number = U64::new(r);
                            m.executed_shares = U32::new(n);
                            m.match_number = U64::new(step as u64);
                            buf.extend_from_slice(m.as_bytes());
                        }
                        50..=59 => {
                            let mut m = OrderExecutedWithPrice::new(o.locate, 0, ts);
                            m.order_reference_number = U64::new(r);
                            m.executed_shares = U32::new(n);
                            m.match_number = U64::new(step as u64);
                            m.printable = if rng.below(2) == 0 { b'Y' } else { b'N' };
                            m.execution_price = U32::new(o.price + 100);
                            buf.extend_from_slice(m.as_bytes());
                        }
                        _ => {
                            let mut m = OrderCancel::new(o.locate, 0, ts);
                            m.order_reference_number = U64::new(r);
                            m.cancelled_shares = U32::new(n);
                            buf.extend_from_slice(m.as_bytes());
                        }
                    }
                    let left = o.shares - n;
                    if left == 0 {
                        model.orders.remove(&r);
                        model.remove_live(r);
                    } else {
                        model.orders.get_mut(&r).unwrap().shares = left;
                    }
                }
                70..=84 => {
                    let mut m = OrderDelete::new(o.locate, 0, ts);
                    m.order_reference_number = U64::new(r);
                    buf.extend_from_slice(m.as_bytes());
                    model.orders.remove(&r);
                    model.remove_live(r);
                }
                85..=96 => {
                    let nr = next_ref;
                    next_ref += 1;
                    let price =
                        (o.price as i64 + 1000 * (rng.below(5) as i64 - 2)).max(1000) as u32;
                    let shares = 1 + rng.below(500) as u32;
                    let mut m = OrderReplace::new(o.locate, 0, ts);
                    m.original_order_reference_number = U64::new(r);
                    m.new_order_reference_number = U64::new(nr);
                    m.shares = U32::new(shares);
                    m.price = U32::new(price);
                    buf.extend_from_slice(m.as_bytes());
                    model.orders.remove(&r);
                    model.remove_live(r);
                    model.orders.insert(nr, ModelOrder { price, shares, ..o });
                    model.live.push(nr);
                }
                _ => {
                    // P: a trade, no book change
                    let mut m = Trade::new(o.locate, 0, ts);
                    m.buy_sell_indicator = b'B';
                    m.shares = U32::new(100);
                    m.stock = alpha(format!("SYM{}", o.locate).as_bytes());
                    m.price = U32::new(o.price);
                    m.match_number = U64::new(step as u64);
                    buf.extend_from_slice(m.as_bytes());
                }
            }
        }
        let mut n_updates = 0;
        let mut last_flagged = 0;
        e.on_itch_stream_message(ts, &meta, &buf, &mut |u: &BookUpdate| {
            apply_update(&mut from_updates, u);
            n_updates += 1;
            if u.flags.contains(Flags::LAST_IN_EVENT) {
                last_flagged += 1;
            }
            assert_eq!(u.exch_ts, ts);
        });
        assert_eq!(
            last_flagged, 1,
            "seed {seed} step {step}: exactly one LAST_IN_EVENT per message ({n_updates} updates)"
        );
        let want = model.levels();
        assert_eq!(
            engine_levels(&e),
            want,
            "seed {seed} step {step}: engine books differ from the model"
        );
        assert_eq!(
            from_updates, want,
            "seed {seed} step {step}: update stream differs from the model"
        );
        assert_eq!(e.itch().orders.len(), model.orders.len());
    }
    let a = e.itch().anomalies;
    assert_eq!(
        (
            a.unknown_ref,
            a.duplicate_ref,
            a.over_execution,
            a.level_mismatch
        ),
        (0, 0, 0, 0),
        "a valid flow has no anomalies"
    );
    assert!(
        e.itch().orders.growths() > 0,
        "the store was sized small to force growth"
    );
}

#[test]
fn random_flows_match_the_ordered_map_model() {
    for seed in 1..=12u64 {
        run_flow(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), 2_500);
    }
}
