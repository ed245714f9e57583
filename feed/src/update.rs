//! The book update: one fixed-size `Copy` record per change to a book, written in place into
//! the publication ring and read there by strategies.

/// Instrument index: the ITCH stock locate, or the IEX symbol's slot in the engine's table.
pub type InstrumentId = u32;

/// Book side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Side {
    /// Buy side.
    #[default]
    Bid = 0,
    /// Sell side.
    Ask = 1,
    /// Not tied to a side (trades without aggressor, status changes).
    None = 2,
}

/// What changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum UpdateKind {
    /// A price level appeared.
    #[default]
    AddLevel = 0,
    /// A level's shares or order count changed.
    ChangeLevel = 1,
    /// A level disappeared (`shares` and `order_count` are 0).
    DeleteLevel = 2,
    /// A trade printed (`price`, `shares` are the trade's; no book change).
    Trade = 3,
    /// Trading status / security event changed: `price` carries the status code byte, `shares`
    /// the type byte of the message that set it (ITCH `H` `h` `S`, IEX `H` `O` `E` `S`).
    Status = 4,
    /// A trade was broken (ITCH `B`, IEX `B`): `shares`/`price` of the broken trade when the
    /// venue says them (IEX), 0 otherwise (ITCH gives only the match number).
    TradeBreak = 5,
}

/// The flag bits of a [`BookUpdate`], a `u16` newtype (like `dbn`'s `FlagSet`): test with
/// [`Flags::contains`] or the named accessors, combine with `|`.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct Flags(u16);

impl Flags {
    /// No flag set.
    pub const EMPTY: Flags = Flags(0);
    /// The best bid or offer of this instrument changed with this update.
    pub const BEST_CHANGED: Flags = Flags(1 << 0);
    /// Last update of the venue event (publish/act on the book only after this one).
    pub const LAST_IN_EVENT: Flags = Flags(1 << 1);
    /// The book may be stale: a gap was seen on its feed and not yet recovered.
    pub const STALE: Flags = Flags(1 << 2);
    /// A trade that must not be counted in volume or time-and-sales (ITCH `C` with
    /// `Printable = N`; IEX trades flagged extended-hours or odd-lot are *not* marked).
    pub const NON_PRINTABLE: Flags = Flags(1 << 3);
    /// A cross (auction) trade (ITCH `Q`).
    pub const CROSS: Flags = Flags(1 << 4);
    /// Every defined flag.
    pub const ALL: Flags = Flags(0x1f);

    /// The flags of raw bits (undefined bits are kept: they round-trip through the ring).
    #[inline]
    pub const fn from_bits(bits: u16) -> Flags {
        Flags(bits)
    }

    /// The raw bits (the wire and digest representation).
    #[inline]
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Whether every flag of `other` is set.
    #[inline]
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any flag of `other` is set.
    #[inline]
    pub const fn intersects(self, other: Flags) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether no flag is set.
    #[inline]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// [`Flags::BEST_CHANGED`] is set.
    #[inline]
    pub const fn best_changed(self) -> bool {
        self.contains(Flags::BEST_CHANGED)
    }

    /// [`Flags::LAST_IN_EVENT`] is set.
    #[inline]
    pub const fn last_in_event(self) -> bool {
        self.contains(Flags::LAST_IN_EVENT)
    }

    /// [`Flags::STALE`] is set.
    #[inline]
    pub const fn stale(self) -> bool {
        self.contains(Flags::STALE)
    }

    /// [`Flags::NON_PRINTABLE`] is set.
    #[inline]
    pub const fn non_printable(self) -> bool {
        self.contains(Flags::NON_PRINTABLE)
    }

    /// [`Flags::CROSS`] is set.
    #[inline]
    pub const fn cross(self) -> bool {
        self.contains(Flags::CROSS)
    }
}

impl core::ops::BitOr for Flags {
    type Output = Flags;
    #[inline]
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl core::ops::BitOrAssign for Flags {
    #[inline]
    fn bitor_assign(&mut self, rhs: Flags) {
        self.0 |= rhs.0;
    }
}

impl core::ops::BitAnd for Flags {
    type Output = Flags;
    #[inline]
    fn bitand(self, rhs: Flags) -> Flags {
        Flags(self.0 & rhs.0)
    }
}

impl core::ops::Not for Flags {
    type Output = Flags;
    #[inline]
    fn not(self) -> Flags {
        Flags(!self.0)
    }
}

impl core::ops::BitAndAssign for Flags {
    #[inline]
    fn bitand_assign(&mut self, rhs: Flags) {
        self.0 &= rhs.0;
    }
}

impl core::fmt::Debug for Flags {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        const NAMES: [(Flags, &str); 5] = [
            (Flags::BEST_CHANGED, "BEST_CHANGED"),
            (Flags::LAST_IN_EVENT, "LAST_IN_EVENT"),
            (Flags::STALE, "STALE"),
            (Flags::NON_PRINTABLE, "NON_PRINTABLE"),
            (Flags::CROSS, "CROSS"),
        ];
        let mut first = true;
        for (flag, name) in NAMES {
            if self.contains(flag) {
                f.write_str(if first { "" } else { " | " })?;
                f.write_str(name)?;
                first = false;
            }
        }
        let rest = self.0 & !Flags::ALL.0;
        if rest != 0 {
            write!(f, "{}{rest:#x}", if first { "" } else { " | " })?;
            first = false;
        }
        if first {
            f.write_str("(empty)")?;
        }
        Ok(())
    }
}

/// One change to a book, 64 bytes, `Copy`, written once into a ring slot.
///
/// Prices are fixed-point with 4 implied decimals (ITCH `Price(4)`, IEX prices).
///
/// The layout is `#[repr(C)]`, fixed and asserted below, so other processes and languages can
/// read it (the `fh-shm` crate publishes these bytes in shared memory; `python/fh_shm`):
///
/// | offset | size | field | type | unit |
/// |---:|---:|---|---|---|
/// | 0 | 8 | `seq` | u64 | feed sequence number |
/// | 8 | 8 | `exch_ts` | u64 | ns (ITCH: since midnight; IEX: since the Unix epoch) |
/// | 16 | 8 | `recv_ts` | u64 | ns, capture or kernel receive time |
/// | 24 | 8 | `engine_ts` | u64 | ns, fh's clock |
/// | 32 | 8 | `price` | i64 | 4 implied decimals |
/// | 40 | 8 | `shares` | u64 | shares |
/// | 48 | 4 | `order_count` | u32 | orders at the level (0: unknown) |
/// | 52 | 4 | `instrument` | u32 | [`InstrumentId`] |
/// | 56 | 1 | `kind` | u8 | [`UpdateKind`] |
/// | 57 | 1 | `side` | u8 | [`Side`] |
/// | 58 | 2 | `flags` | u16 | [`Flags`] bits |
/// | 60 | 4 | padding | | |
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(C, align(64))]
pub struct BookUpdate {
    /// Feed sequence number of the message that caused this update.
    pub seq: u64,
    /// Exchange timestamp, ns (ITCH: since midnight; IEX: since the Unix epoch).
    pub exch_ts: u64,
    /// Local capture or kernel receive time of the datagram, ns. Excluded from digests.
    pub recv_ts: u64,
    /// Local time the engine took the update's datagram (its first reading, before decoding:
    /// live, off the receive ring; a replay, the record read, 0 on untimed datagrams), ns on
    /// fh's clock. Excluded from digests.
    pub engine_ts: u64,
    /// Price, 4 implied decimals.
    pub price: i64,
    /// New aggregated shares at the level (or the trade's shares).
    pub shares: u64,
    /// New number of orders at the level (0 when unknown, as in IEX DEEP).
    pub order_count: u32,
    /// Instrument.
    pub instrument: InstrumentId,
    /// What changed.
    pub kind: UpdateKind,
    /// Which side.
    pub side: Side,
    /// What else is true of this update.
    pub flags: Flags,
}

const _: () = {
    use core::mem::offset_of;
    assert!(core::mem::size_of::<BookUpdate>() == 64);
    assert!(offset_of!(BookUpdate, seq) == 0 && offset_of!(BookUpdate, exch_ts) == 8);
    assert!(offset_of!(BookUpdate, recv_ts) == 16 && offset_of!(BookUpdate, engine_ts) == 24);
    assert!(offset_of!(BookUpdate, price) == 32 && offset_of!(BookUpdate, shares) == 40);
    assert!(offset_of!(BookUpdate, order_count) == 48 && offset_of!(BookUpdate, instrument) == 52);
    assert!(offset_of!(BookUpdate, kind) == 56 && offset_of!(BookUpdate, side) == 57);
    assert!(offset_of!(BookUpdate, flags) == 58);
};

/// A [`BookUpdate`] as plain integers, the way other processes read it: the same 64 bytes at
/// the same offsets (see [`BookUpdate`]), `kind`, `side` and `flags` as their raw values, the
/// trailing 4 bytes named and zero, aligned to 8 (not 64). Every bit pattern is a value. A
/// tap's [`crate::pipeline::tap::Window`] lends slots of this type (fh-shm's samples).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    zerocopy::FromBytes,
    zerocopy::IntoBytes,
    zerocopy::Immutable,
)]
#[repr(C)]
pub struct RawUpdate {
    /// Feed sequence number.
    pub seq: u64,
    /// Exchange timestamp, ns.
    pub exch_ts: u64,
    /// Capture or kernel receive time, ns.
    pub recv_ts: u64,
    /// Time the engine applied the update, ns on fh's clock.
    pub engine_ts: u64,
    /// Price, 4 implied decimals.
    pub price: i64,
    /// Shares.
    pub shares: u64,
    /// Orders at the level (0: unknown).
    pub order_count: u32,
    /// Instrument.
    pub instrument: u32,
    /// [`UpdateKind`] as its byte.
    pub kind: u8,
    /// [`Side`] as its byte.
    pub side: u8,
    /// [`Flags`] bits.
    pub flags: u16,
    /// Always 0.
    pub reserved: u32,
}

const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<RawUpdate>() == 64 && align_of::<RawUpdate>() == 8);
    assert!(offset_of!(RawUpdate, seq) == offset_of!(BookUpdate, seq));
    assert!(offset_of!(RawUpdate, exch_ts) == offset_of!(BookUpdate, exch_ts));
    assert!(offset_of!(RawUpdate, recv_ts) == offset_of!(BookUpdate, recv_ts));
    assert!(offset_of!(RawUpdate, engine_ts) == offset_of!(BookUpdate, engine_ts));
    assert!(offset_of!(RawUpdate, price) == offset_of!(BookUpdate, price));
    assert!(offset_of!(RawUpdate, shares) == offset_of!(BookUpdate, shares));
    assert!(offset_of!(RawUpdate, order_count) == offset_of!(BookUpdate, order_count));
    assert!(offset_of!(RawUpdate, instrument) == offset_of!(BookUpdate, instrument));
    assert!(offset_of!(RawUpdate, kind) == offset_of!(BookUpdate, kind));
    assert!(offset_of!(RawUpdate, side) == offset_of!(BookUpdate, side));
    assert!(offset_of!(RawUpdate, flags) == offset_of!(BookUpdate, flags));
    assert!(offset_of!(RawUpdate, reserved) == 60);
};

impl From<&BookUpdate> for RawUpdate {
    #[inline(always)]
    fn from(u: &BookUpdate) -> Self {
        RawUpdate {
            seq: u.seq,
            exch_ts: u.exch_ts,
            recv_ts: u.recv_ts,
            engine_ts: u.engine_ts,
            price: u.price,
            shares: u.shares,
            order_count: u.order_count,
            instrument: u.instrument,
            kind: u.kind as u8,
            side: u.side as u8,
            flags: u.flags.bits(),
            reserved: 0,
        }
    }
}

impl RawUpdate {
    /// The book update (an unknown kind byte reads as `Status`, an unknown side as `None`).
    #[inline]
    pub fn update(&self) -> BookUpdate {
        BookUpdate {
            seq: self.seq,
            exch_ts: self.exch_ts,
            recv_ts: self.recv_ts,
            engine_ts: self.engine_ts,
            price: self.price,
            shares: self.shares,
            order_count: self.order_count,
            instrument: self.instrument,
            kind: UpdateKind::from_u8(self.kind),
            side: Side::from_u8(self.side),
            flags: Flags::from_bits(self.flags),
        }
    }
}

impl UpdateKind {
    /// The kind of a raw byte ([`UpdateKind::Status`] for unknown values).
    #[inline]
    pub const fn from_u8(b: u8) -> UpdateKind {
        match b {
            0 => UpdateKind::AddLevel,
            1 => UpdateKind::ChangeLevel,
            2 => UpdateKind::DeleteLevel,
            3 => UpdateKind::Trade,
            5 => UpdateKind::TradeBreak,
            _ => UpdateKind::Status,
        }
    }
}

impl Side {
    /// The side of a raw byte ([`Side::None`] for unknown values).
    #[inline]
    pub const fn from_u8(b: u8) -> Side {
        match b {
            0 => Side::Bid,
            1 => Side::Ask,
            _ => Side::None,
        }
    }
}

/// What happened to an order: the L3 events of an order-level feed (ITCH), named as DBN's MBO
/// `action`s. Order-level events go only to a sink that asks for them
/// ([`crate::engine::UpdateSink::WANTS_ORDERS`]); the ring carries [`BookUpdate`]s only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OrderAction {
    /// A new order rests on the book (`A`, `F`, the new half of `U`): `shares` its size.
    #[default]
    Add = 0,
    /// Shares leave a resting order (`X`, `D`, the old half of `U`, and after a fill the
    /// executed shares): `shares` is how many left; at its remaining size the order is gone.
    Cancel = 1,
    /// A resting order changes price or size keeping its reference (no ITCH message does:
    /// `U` gives a new reference, so it is a cancel and an add).
    Modify = 2,
    /// A resting order traded (`E`, `C`): `shares` executed at `price`; the book change
    /// follows as a [`OrderAction::Cancel`] of the same shares.
    Fill = 3,
    /// A trade print with no resting displayed order behind it in this feed (`P`, `Q`), or
    /// the aggressor side of a fill: no book change.
    Trade = 4,
    /// Every book of the feed was emptied (session change): `instrument` is
    /// [`OrderEvent::ALL_INSTRUMENTS`].
    Clear = 5,
}

/// One order-level event (see [`OrderAction`]). Prices are fixed-point with 4 implied decimals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct OrderEvent {
    /// Feed sequence number of the message.
    pub seq: u64,
    /// Exchange timestamp, ns (ITCH: since midnight).
    pub exch_ts: u64,
    /// Local capture or kernel receive time of the datagram, ns.
    pub recv_ts: u64,
    /// The order reference (0 for trades without one).
    pub order_id: u64,
    /// Price, 4 implied decimals: the order's for adds and cancels, the execution's for fills
    /// and trades.
    pub price: i64,
    /// Shares (see [`OrderAction`]).
    pub shares: u64,
    /// Instrument.
    pub instrument: InstrumentId,
    /// What happened.
    pub action: OrderAction,
    /// The resting order's side; for [`OrderAction::Trade`] the aggressor's when known.
    pub side: Side,
    /// `LAST_IN_EVENT` on the last event of a message, `STALE`, `NON_PRINTABLE`, `CROSS`.
    pub flags: Flags,
}

impl OrderEvent {
    /// The instrument of a [`OrderAction::Clear`] of every book.
    pub const ALL_INSTRUMENTS: InstrumentId = InstrumentId::MAX;
}

/// A book update travels the never-wait ring as eight words.
impl crate::ring::Record for BookUpdate {
    const WORDS: usize = 8;
    #[inline]
    fn to_words(&self) -> [u64; 8] {
        [
            self.seq,
            self.exch_ts,
            self.recv_ts,
            self.engine_ts,
            self.price as u64,
            self.shares,
            u64::from(self.order_count) | u64::from(self.instrument) << 32,
            u64::from(self.kind as u8)
                | u64::from(self.side as u8) << 8
                | u64::from(self.flags.bits()) << 16,
        ]
    }
    #[inline]
    fn from_words(w: &[u64; 8]) -> Self {
        // The casts below cut packed fields back out of their words.
        BookUpdate {
            seq: w[0],
            exch_ts: w[1],
            recv_ts: w[2],
            engine_ts: w[3],
            price: w[4] as i64,
            shares: w[5],
            order_count: w[6] as u32,
            instrument: (w[6] >> 32) as u32,
            kind: UpdateKind::from_u8(w[7] as u8),
            side: Side::from_u8((w[7] >> 8) as u8),
            flags: Flags::from_bits((w[7] >> 16) as u16),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::ring::{ring, Policy, Record, RingConfig};

    #[test]
    fn book_update_round_trips_through_words() {
        let kinds = [
            UpdateKind::AddLevel,
            UpdateKind::ChangeLevel,
            UpdateKind::DeleteLevel,
            UpdateKind::Trade,
            UpdateKind::Status,
            UpdateKind::TradeBreak,
        ];
        for (i, kind) in kinds.into_iter().enumerate() {
            for side in [Side::Bid, Side::Ask, Side::None] {
                let u = BookUpdate {
                    seq: u64::MAX - i as u64,
                    exch_ts: 1,
                    recv_ts: 2,
                    engine_ts: 3,
                    price: -1_234_500 - i as i64,
                    shares: 77,
                    order_count: u32::MAX,
                    instrument: 0x8000_0001,
                    kind,
                    side,
                    flags: Flags::BEST_CHANGED | Flags::STALE | Flags::from_bits(0x8000),
                };
                assert_eq!(BookUpdate::from_words(&u.to_words()), u);
            }
        }
        // And through a never-wait ring.
        let (mut p, mut cs) = ring::<BookUpdate>(RingConfig::new(2, 1, Policy::NeverWait)).unwrap();
        let u = BookUpdate {
            seq: 5,
            price: -3,
            kind: UpdateKind::Trade,
            side: Side::Ask,
            flags: Flags::from_bits(7),
            ..Default::default()
        };
        p.push(u);
        assert_eq!(*cs[0].poll().unwrap().next().unwrap().update, u);
    }

    #[test]
    fn flags_combine_test_and_print_by_name() {
        let f = Flags::LAST_IN_EVENT | Flags::CROSS;
        assert!(f.last_in_event() && f.cross() && !f.stale());
        assert!(f.contains(Flags::CROSS) && f.intersects(Flags::CROSS | Flags::STALE));
        assert_eq!(format!("{f:?}"), "LAST_IN_EVENT | CROSS");
        assert_eq!(format!("{:?}", Flags::EMPTY), "(empty)");
        assert_eq!(
            format!("{:?}", Flags::from_bits(0x8001)),
            "BEST_CHANGED | 0x8000"
        );
        assert_eq!((f & !Flags::CROSS).bits(), Flags::LAST_IN_EVENT.bits());
    }
}
