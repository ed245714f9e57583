//! The generator's messages before they become bytes: one small `Copy` value per ITCH 5.0
//! message, with every field the wire carries, and [`encode`], the thin layer that writes one
//! into a buffer through the `fh_decoders::itch50` wire structs.
//!
//! Invariant: [`Msg::wire_len`] is the spec length of the message type, and [`encode`] writes
//! exactly that many bytes.

use fh_decoders::itch50 as itch;
use zerocopy::byteorder::big_endian::{U32, U64};
use zerocopy::{Immutable, IntoBytes};

/// An 8-byte, space-padded stock symbol as on the wire.
pub type Stock = [u8; 8];

/// One ITCH 5.0 message: the common header values and the type-specific body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Msg {
    /// Nanoseconds since midnight.
    pub ts: u64,
    /// Stock locate (0 for messages not tied to an instrument).
    pub locate: u16,
    /// Tracking number.
    pub tracking: u16,
    /// The type-specific fields.
    pub body: Body,
}

/// The type-specific fields of each of the 23 ITCH 5.0 message types.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// `S`
    SystemEvent { code: u8 },
    /// `R`
    StockDirectory {
        stock: Stock,
        category: u8,
        financial_status: u8,
        round_lot: u32,
        round_lots_only: u8,
        classification: u8,
        sub_type: [u8; 2],
        authenticity: u8,
        short_sale_threshold: u8,
        ipo_flag: u8,
        luld_tier: u8,
        etp_flag: u8,
        etp_leverage: u32,
        inverse: u8,
    },
    /// `H`
    TradingAction {
        stock: Stock,
        state: u8,
        reason: [u8; 4],
    },
    /// `Y`
    RegSho { stock: Stock, action: u8 },
    /// `L`
    MarketParticipant {
        mpid: [u8; 4],
        stock: Stock,
        primary: u8,
        mode: u8,
        state: u8,
    },
    /// `V` (Price(8) levels)
    MwcbDecline {
        level1: u64,
        level2: u64,
        level3: u64,
    },
    /// `W`
    MwcbStatus { level: u8 },
    /// `K`
    IpoQuoting {
        stock: Stock,
        release_time: u32,
        qualifier: u8,
        price: u32,
    },
    /// `J`
    LuldCollar {
        stock: Stock,
        reference: u32,
        upper: u32,
        lower: u32,
        extension: u32,
    },
    /// `h`
    OperationalHalt {
        stock: Stock,
        market: u8,
        action: u8,
    },
    /// `A` (mpid `None`) or `F` (mpid `Some`)
    AddOrder {
        order_ref: u64,
        side: u8,
        shares: u32,
        stock: Stock,
        price: u32,
        mpid: Option<[u8; 4]>,
    },
    /// `E`
    Executed {
        order_ref: u64,
        shares: u32,
        match_no: u64,
    },
    /// `C`
    ExecutedWithPrice {
        order_ref: u64,
        shares: u32,
        match_no: u64,
        printable: bool,
        price: u32,
    },
    /// `X`
    Cancel { order_ref: u64, shares: u32 },
    /// `D`
    Delete { order_ref: u64 },
    /// `U`
    Replace {
        old_ref: u64,
        new_ref: u64,
        shares: u32,
        price: u32,
    },
    /// `P` (reference 0, side `B`, as Nasdaq sends them)
    Trade {
        shares: u32,
        stock: Stock,
        price: u32,
        match_no: u64,
    },
    /// `Q`
    Cross {
        shares: u64,
        stock: Stock,
        price: u32,
        match_no: u64,
        cross_type: u8,
    },
    /// `B`
    BrokenTrade { match_no: u64 },
    /// `I`
    Noii {
        paired: u64,
        imbalance: u64,
        direction: u8,
        stock: Stock,
        far: u32,
        near: u32,
        reference: u32,
        cross_type: u8,
        variation: u8,
    },
    /// `N`
    Rpii { stock: Stock, flag: u8 },
    /// `O`
    Dlcr {
        stock: Stock,
        eligible: u8,
        min_price: u32,
        max_price: u32,
        near_price: u32,
        near_time: u64,
        lower_collar: u32,
        upper_collar: u32,
    },
}

impl Body {
    /// The ITCH message type byte.
    pub fn type_byte(&self) -> u8 {
        match self {
            Body::SystemEvent { .. } => b'S',
            Body::StockDirectory { .. } => b'R',
            Body::TradingAction { .. } => b'H',
            Body::RegSho { .. } => b'Y',
            Body::MarketParticipant { .. } => b'L',
            Body::MwcbDecline { .. } => b'V',
            Body::MwcbStatus { .. } => b'W',
            Body::IpoQuoting { .. } => b'K',
            Body::LuldCollar { .. } => b'J',
            Body::OperationalHalt { .. } => b'h',
            Body::AddOrder { mpid: None, .. } => b'A',
            Body::AddOrder { mpid: Some(_), .. } => b'F',
            Body::Executed { .. } => b'E',
            Body::ExecutedWithPrice { .. } => b'C',
            Body::Cancel { .. } => b'X',
            Body::Delete { .. } => b'D',
            Body::Replace { .. } => b'U',
            Body::Trade { .. } => b'P',
            Body::Cross { .. } => b'Q',
            Body::BrokenTrade { .. } => b'B',
            Body::Noii { .. } => b'I',
            Body::Rpii { .. } => b'N',
            Body::Dlcr { .. } => b'O',
        }
    }
}

/// The 23 ITCH 5.0 message types.
pub const ALL_TYPES: [u8; 23] = itch::ALL_TYPES;

/// Longest ITCH 5.0 message (`I`, 50 bytes).
pub const MAX_LEN: usize = 50;

impl Msg {
    /// Length of the encoded message (the spec length of its type).
    pub fn wire_len(&self) -> usize {
        itch::len_of(self.body.type_byte()).unwrap_or(0)
    }
}

/// Writes `msg` at the start of `out` and returns its length. `out` must hold [`MAX_LEN`] bytes.
pub fn encode(msg: &Msg, out: &mut [u8]) -> usize {
    let (l, t, ts) = (msg.locate, msg.tracking, msg.ts);
    match msg.body {
        Body::SystemEvent { code } => {
            let mut m = itch::SystemEvent::new(l, t, ts);
            m.event_code = code;
            put(out, &m)
        }
        Body::StockDirectory {
            stock,
            category,
            financial_status,
            round_lot,
            round_lots_only,
            classification,
            sub_type,
            authenticity,
            short_sale_threshold,
            ipo_flag,
            luld_tier,
            etp_flag,
            etp_leverage,
            inverse,
        } => {
            let mut m = itch::StockDirectory::new(l, t, ts);
            m.stock = stock;
            m.market_category = category;
            m.financial_status_indicator = financial_status;
            m.round_lot_size = U32::new(round_lot);
            m.round_lots_only = round_lots_only;
            m.issue_classification = classification;
            m.issue_sub_type = sub_type;
            m.authenticity = authenticity;
            m.short_sale_threshold_indicator = short_sale_threshold;
            m.ipo_flag = ipo_flag;
            m.luld_reference_price_tier = luld_tier;
            m.etp_flag = etp_flag;
            m.etp_leverage_factor = U32::new(etp_leverage);
            m.inverse_indicator = inverse;
            put(out, &m)
        }
        Body::TradingAction {
            stock,
            state,
            reason,
        } => {
            let mut m = itch::StockTradingAction::new(l, t, ts);
            m.stock = stock;
            m.trading_state = state;
            m.reason = reason;
            put(out, &m)
        }
        Body::RegSho { stock, action } => {
            let mut m = itch::RegShoRestriction::new(l, t, ts);
            m.stock = stock;
            m.reg_sho_action = action;
            put(out, &m)
        }
        Body::MarketParticipant {
            mpid,
            stock,
            primary,
            mode,
            state,
        } => {
            let mut m = itch::MarketParticipantPosition::new(l, t, ts);
            m.mpid = mpid;
            m.stock = stock;
            m.primary_market_maker = primary;
            m.market_maker_mode = mode;
            m.market_participant_state = state;
            put(out, &m)
        }
        Body::MwcbDecline {
            level1,
            level2,
            level3,
        } => {
            let mut m = itch::MwcbDeclineLevel::new(l, t, ts);
            m.level_1 = U64::new(level1);
            m.level_2 = U64::new(level2);
            m.level_3 = U64::new(level3);
            put(out, &m)
        }
        Body::MwcbStatus { level } => {
            let mut m = itch::MwcbStatus::new(l, t, ts);
            m.breached_level = level;
            put(out, &m)
        }
        Body::IpoQuoting {
            stock,
            release_time,
            qualifier,
            price,
        } => {
            let mut m = itch::IpoQuotingPeriodUpdate::new(l, t, ts);
            m.stock = stock;
            m.ipo_quotation_release_time = U32::new(release_time);
            m.ipo_quotation_release_qualifier = qualifier;
            m.ipo_price = U32::new(price);
            put(out, &m)
        }
        Body::LuldCollar {
            stock,
            reference,
            upper,
            lower,
            extension,
        } => {
            let mut m = itch::LuldAuctionCollar::new(l, t, ts);
            m.stock = stock;
            m.auction_collar_reference_price = U32::new(reference);
            m.upper_auction_collar_price = U32::new(upper);
            m.lower_auction_collar_price = U32::new(lower);
            m.auction_collar_extension = U32::new(extension);
            put(out, &m)
        }
        Body::OperationalHalt {
            stock,
            market,
            action,
        } => {
            let mut m = itch::OperationalHalt::new(l, t, ts);
            m.stock = stock;
            m.market_code = market;
            m.operational_halt_action = action;
            put(out, &m)
        }
        Body::AddOrder {
            order_ref,
            side,
            shares,
            stock,
            price,
            mpid: None,
        } => {
            let mut m = itch::AddOrder::new(l, t, ts);
            m.order_reference_number = U64::new(order_ref);
            m.buy_sell_indicator = side;
            m.shares = U32::new(shares);
            m.stock = stock;
            m.price = U32::new(price);
            put(out, &m)
        }
        Body::AddOrder {
            order_ref,
            side,
            shares,
            stock,
            price,
            mpid: Some(mpid),
        } => {
            let mut m = itch::AddOrderMpid::new(l, t, ts);
            m.order_reference_number = U64::new(order_ref);
            m.buy_sell_indicator = side;
            m.shares = U32::new(shares);
            m.stock = stock;
            m.price = U32::new(price);
            m.attribution = mpid;
            put(out, &m)
        }
        Body::Executed {
            order_ref,
            shares,
            match_no,
        } => {
            let mut m = itch::OrderExecuted::new(l, t, ts);
            m.order_reference_number = U64::new(order_ref);
            m.executed_shares = U32::new(shares);
            m.match_number = U64::new(match_no);
            put(out, &m)
        }
        Body::ExecutedWithPrice {
            order_ref,
            shares,
            match_no,
            printable,
            price,
        } => {
            let mut m = itch::OrderExecutedWithPrice::new(l, t, ts);
            m.order_reference_number = U64::new(order_ref);
            m.executed_shares = U32::new(shares);
            m.match_number = U64::new(match_no);
            m.printable = if printable { b'Y' } else { b'N' };
            m.execution_price = U32::new(price);
            put(out, &m)
        }
        Body::Cancel { order_ref, shares } => {
            let mut m = itch::OrderCancel::new(l, t, ts);
            m.order_reference_number = U64::new(order_ref);
            m.cancelled_shares = U32::new(shares);
            put(out, &m)
        }
        Body::Delete { order_ref } => {
            let mut m = itch::OrderDelete::new(l, t, ts);
            m.order_reference_number = U64::new(order_ref);
            put(out, &m)
        }
        Body::Replace {
            old_ref,
            new_ref,
            shares,
            price,
        } => {
            let mut m = itch::OrderReplace::new(l, t, ts);
            m.original_order_reference_number = U64::new(old_ref);
            m.new_order_reference_number = U64::new(new_ref);
            m.shares = U32::new(shares);
            m.price = U32::new(price);
            put(out, &m)
        }
        Body::Trade {
            shares,
            stock,
            price,
            match_no,
        } => {
            let mut m = itch::Trade::new(l, t, ts);
            m.order_reference_number = U64::new(0);
            m.buy_sell_indicator = b'B';
            m.shares = U32::new(shares);
            m.stock = stock;
            m.price = U32::new(price);
            m.match_number = U64::new(match_no);
            put(out, &m)
        }
        Body::Cross {
            shares,
            stock,
            price,
            match_no,
            cross_type,
        } => {
            let mut m = itch::CrossTrade::new(l, t, ts);
            m.shares = U64::new(shares);
            m.stock = stock;
            m.cross_price = U32::new(price);
            m.match_number = U64::new(match_no);
            m.cross_type = cross_type;
            put(out, &m)
        }
        Body::BrokenTrade { match_no } => {
            let mut m = itch::BrokenTrade::new(l, t, ts);
            m.match_number = U64::new(match_no);
            put(out, &m)
        }
        Body::Noii {
            paired,
            imbalance,
            direction,
            stock,
            far,
            near,
            reference,
            cross_type,
            variation,
        } => {
            let mut m = itch::Noii::new(l, t, ts);
            m.paired_shares = U64::new(paired);
            m.imbalance_shares = U64::new(imbalance);
            m.imbalance_direction = direction;
            m.stock = stock;
            m.far_price = U32::new(far);
            m.near_price = U32::new(near);
            m.current_reference_price = U32::new(reference);
            m.cross_type = cross_type;
            m.price_variation_indicator = variation;
            put(out, &m)
        }
        Body::Rpii { stock, flag } => {
            let mut m = itch::Rpii::new(l, t, ts);
            m.stock = stock;
            m.interest_flag = flag;
            put(out, &m)
        }
        Body::Dlcr {
            stock,
            eligible,
            min_price,
            max_price,
            near_price,
            near_time,
            lower_collar,
            upper_collar,
        } => {
            let mut m = itch::Dlcr::new(l, t, ts);
            m.stock = stock;
            m.open_eligibility_status = eligible;
            m.minimum_allowable_price = U32::new(min_price);
            m.maximum_allowable_price = U32::new(max_price);
            m.near_execution_price = U32::new(near_price);
            m.near_execution_time = U64::new(near_time);
            m.lower_price_range_collar = U32::new(lower_collar);
            m.upper_price_range_collar = U32::new(upper_collar);
            put(out, &m)
        }
    }
}

/// Copies a wire struct's bytes to the front of `out`.
#[inline]
fn put<T: IntoBytes + Immutable>(out: &mut [u8], m: &T) -> usize {
    let b = m.as_bytes();
    out[..b.len()].copy_from_slice(b);
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::flow::{Config, Generator, Stop};
    use fh_decoders::itch50::Message;

    #[test]
    fn every_generated_message_decodes_to_what_was_meant() {
        let mut g = Generator::new(Config {
            symbols: 10,
            seed: 5,
            stop: Stop::Messages(100_000),
        })
        .unwrap();
        let mut buf = [0u8; MAX_LEN];
        let mut seen = [false; 256];
        while let Some(m) = g.next_event() {
            let n = encode(&m, &mut buf);
            assert_eq!(n, m.wire_len());
            let v = Message::parse(&buf[..n]).unwrap();
            assert_eq!(v.as_bytes().len(), n);
            assert_eq!(v.timestamp(), Some(m.ts));
            assert_eq!(v.stock_locate(), Some(m.locate));
            seen[usize::from(buf[0])] = true;
            match (m.body, v) {
                (
                    Body::AddOrder {
                        order_ref,
                        side,
                        shares,
                        stock,
                        price,
                        mpid: None,
                    },
                    Message::AddOrder(a),
                ) => {
                    assert_eq!(
                        (
                            a.order_reference_number(),
                            a.buy_sell_indicator(),
                            a.shares(),
                            a.stock,
                            a.price().0
                        ),
                        (order_ref, side, shares, stock, i64::from(price))
                    );
                }
                (
                    Body::AddOrder {
                        order_ref,
                        mpid: Some(mp),
                        ..
                    },
                    Message::AddOrderMpid(a),
                ) => {
                    assert_eq!((a.order_reference_number(), a.attribution), (order_ref, mp));
                }
                (
                    Body::Replace {
                        old_ref,
                        new_ref,
                        shares,
                        price,
                    },
                    Message::OrderReplace(u),
                ) => {
                    assert_eq!(
                        (
                            u.original_order_reference_number(),
                            u.new_order_reference_number(),
                            u.shares(),
                            u.price().0
                        ),
                        (old_ref, new_ref, shares, i64::from(price))
                    );
                }
                (
                    Body::ExecutedWithPrice {
                        printable, price, ..
                    },
                    Message::OrderExecutedWithPrice(c),
                ) => {
                    assert_eq!(c.printable(), if printable { b'Y' } else { b'N' });
                    assert_eq!(c.execution_price().0, i64::from(price));
                }
                (b, v) => assert_eq!(b.type_byte(), buf[0], "{b:?} became {v:?}"),
            }
        }
        assert!(ALL_TYPES.iter().all(|&t| seen[usize::from(t)]));
    }
}
