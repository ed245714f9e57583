//! The generator's messages before they become bytes: one small `Copy` value per ITCH 5.0
//! message, with every field the wire carries, and [`encode`], the thin layer that writes one
//! into a buffer through the `fh_decoders::itch50` wire structs.
//!
//! Invariant: [`Msg::wire_len`] is the spec length of the message type, and [`encode`] writes
//! exactly that many bytes.

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

/// Spec length of an ITCH 5.0 message of type `t` (0 for an unknown type).
pub const fn type_len(t: u8) -> usize {
    match t {
        b'S' | b'W' => 12,
        b'R' => 39,
        b'H' => 25,
        b'Y' | b'N' => 20,
        b'L' => 26,
        b'V' | b'J' => 35,
        b'K' => 28,
        b'h' => 21,
        b'A' => 36,
        b'F' | b'Q' => 40,
        b'E' => 31,
        b'C' => 36,
        b'X' => 23,
        b'D' | b'B' => 19,
        b'U' => 35,
        b'P' => 44,
        b'I' => 50,
        b'O' => 48,
        _ => 0,
    }
}

/// The 23 ITCH 5.0 message types.
pub const ALL_TYPES: [u8; 23] = *b"SRHYLVWKJhAFECXDUPQBINO";

/// Longest ITCH 5.0 message (`I`, 50 bytes).
pub const MAX_LEN: usize = 50;

impl Msg {
    /// Length of the encoded message (the spec length of its type).
    pub fn wire_len(&self) -> usize {
        type_len(self.body.type_byte())
    }
}

/// Writes `msg` at the start of `out` and returns its length. `out` must hold [`MAX_LEN`] bytes.
pub fn encode(msg: &Msg, out: &mut [u8]) -> usize {
    let mut w = W { out, pos: 0 };
    w.u8(msg.body.type_byte());
    w.u16(msg.locate);
    w.u16(msg.tracking);
    w.u48(msg.ts);
    match msg.body {
        Body::SystemEvent { code } => w.u8(code),
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
            w.bytes(&stock);
            w.u8(category);
            w.u8(financial_status);
            w.u32(round_lot);
            w.u8(round_lots_only);
            w.u8(classification);
            w.bytes(&sub_type);
            w.u8(authenticity);
            w.u8(short_sale_threshold);
            w.u8(ipo_flag);
            w.u8(luld_tier);
            w.u8(etp_flag);
            w.u32(etp_leverage);
            w.u8(inverse);
        }
        Body::TradingAction {
            stock,
            state,
            reason,
        } => {
            w.bytes(&stock);
            w.u8(state);
            w.u8(b' ');
            w.bytes(&reason);
        }
        Body::RegSho { stock, action } => {
            w.bytes(&stock);
            w.u8(action);
        }
        Body::MarketParticipant {
            mpid,
            stock,
            primary,
            mode,
            state,
        } => {
            w.bytes(&mpid);
            w.bytes(&stock);
            w.u8(primary);
            w.u8(mode);
            w.u8(state);
        }
        Body::MwcbDecline {
            level1,
            level2,
            level3,
        } => {
            w.u64(level1);
            w.u64(level2);
            w.u64(level3);
        }
        Body::MwcbStatus { level } => w.u8(level),
        Body::IpoQuoting {
            stock,
            release_time,
            qualifier,
            price,
        } => {
            w.bytes(&stock);
            w.u32(release_time);
            w.u8(qualifier);
            w.u32(price);
        }
        Body::LuldCollar {
            stock,
            reference,
            upper,
            lower,
            extension,
        } => {
            w.bytes(&stock);
            w.u32(reference);
            w.u32(upper);
            w.u32(lower);
            w.u32(extension);
        }
        Body::OperationalHalt {
            stock,
            market,
            action,
        } => {
            w.bytes(&stock);
            w.u8(market);
            w.u8(action);
        }
        Body::AddOrder {
            order_ref,
            side,
            shares,
            stock,
            price,
            mpid,
        } => {
            w.u64(order_ref);
            w.u8(side);
            w.u32(shares);
            w.bytes(&stock);
            w.u32(price);
            if let Some(m) = mpid {
                w.bytes(&m);
            }
        }
        Body::Executed {
            order_ref,
            shares,
            match_no,
        } => {
            w.u64(order_ref);
            w.u32(shares);
            w.u64(match_no);
        }
        Body::ExecutedWithPrice {
            order_ref,
            shares,
            match_no,
            printable,
            price,
        } => {
            w.u64(order_ref);
            w.u32(shares);
            w.u64(match_no);
            w.u8(if printable { b'Y' } else { b'N' });
            w.u32(price);
        }
        Body::Cancel { order_ref, shares } => {
            w.u64(order_ref);
            w.u32(shares);
        }
        Body::Delete { order_ref } => w.u64(order_ref),
        Body::Replace {
            old_ref,
            new_ref,
            shares,
            price,
        } => {
            w.u64(old_ref);
            w.u64(new_ref);
            w.u32(shares);
            w.u32(price);
        }
        Body::Trade {
            shares,
            stock,
            price,
            match_no,
        } => {
            w.u64(0);
            w.u8(b'B');
            w.u32(shares);
            w.bytes(&stock);
            w.u32(price);
            w.u64(match_no);
        }
        Body::Cross {
            shares,
            stock,
            price,
            match_no,
            cross_type,
        } => {
            w.u64(shares);
            w.bytes(&stock);
            w.u32(price);
            w.u64(match_no);
            w.u8(cross_type);
        }
        Body::BrokenTrade { match_no } => w.u64(match_no),
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
            w.u64(paired);
            w.u64(imbalance);
            w.u8(direction);
            w.bytes(&stock);
            w.u32(far);
            w.u32(near);
            w.u32(reference);
            w.u8(cross_type);
            w.u8(variation);
        }
        Body::Rpii { stock, flag } => {
            w.bytes(&stock);
            w.u8(flag);
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
            w.bytes(&stock);
            w.u8(eligible);
            w.u32(min_price);
            w.u32(max_price);
            w.u32(near_price);
            w.u64(near_time);
            w.u32(lower_collar);
            w.u32(upper_collar);
        }
    }
    debug_assert_eq!(w.pos, msg.wire_len());
    w.pos
}

/// Big-endian cursor writer.
struct W<'a> {
    out: &'a mut [u8],
    pos: usize,
}

impl W<'_> {
    fn bytes(&mut self, b: &[u8]) {
        self.out[self.pos..self.pos + b.len()].copy_from_slice(b);
        self.pos += b.len();
    }
    fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }
    fn u16(&mut self, v: u16) {
        self.bytes(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_be_bytes());
    }
    fn u48(&mut self, v: u64) {
        self.bytes(&v.to_be_bytes()[2..]);
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_be_bytes());
    }
}
