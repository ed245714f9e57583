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

/// Flag bits of [`BookUpdate::flags`].
pub mod flags {
    /// The best bid or offer of this instrument changed with this update.
    pub const BEST_CHANGED: u16 = 1 << 0;
    /// Last update of the venue event (publish/act on the book only after this one).
    pub const LAST_IN_EVENT: u16 = 1 << 1;
    /// The book may be stale: a gap was seen on its feed and not yet recovered.
    pub const STALE: u16 = 1 << 2;
    /// A trade that must not be counted in volume or time-and-sales (ITCH `C` with
    /// `Printable = N`, IEX trades flagged extended-hours or odd-lot are *not* marked).
    pub const NON_PRINTABLE: u16 = 1 << 3;
    /// A cross (auction) trade (ITCH `Q`).
    pub const CROSS: u16 = 1 << 4;
}

/// One change to a book, 64 bytes, `Copy`, written once into a ring slot.
///
/// Prices are fixed-point with 4 implied decimals (ITCH `Price(4)`, IEX prices).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(C, align(64))]
pub struct BookUpdate {
    /// Feed sequence number of the message that caused this update.
    pub seq: u64,
    /// Exchange timestamp, ns (ITCH: since midnight; IEX: since the Unix epoch).
    pub exch_ts: u64,
    /// Local capture or kernel receive time of the datagram, ns. Excluded from digests.
    pub recv_ts: u64,
    /// Local time the engine applied the update, ns on fh's clock. Excluded from digests.
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
    /// [`flags`] bits.
    pub flags: u16,
}

const _: () = assert!(core::mem::size_of::<BookUpdate>() == 64);
