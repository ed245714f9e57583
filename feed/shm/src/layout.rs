//! What lies in shared memory, byte for byte: the update record, the sample header and the
//! top-of-book table. Every type is `#[repr(C)]` of plain integers (no padding, no enums),
//! so any bit pattern is a valid value and any language can read it; the offsets are asserted
//! at compile time. The Python package (`python/fh_shm/layout.py`) declares the same layouts.

use fh_feed::update::{BookUpdate, RawUpdate};
use iceoryx2::prelude::ZeroCopySend;

/// Most updates in one sample: 240 × 64 bytes = 15 KiB, and with the headers four 4 KiB
/// pages. A full sample is sent at once (counted as `full samples`), even inside a datagram.
/// Readers take a sample's length from its header (`count`), never from this constant.
pub const MAX_SAMPLE_UPDATES: usize = 240;

/// A [`BookUpdate`] as it lies in a sample: the same 64 bytes at the same offsets (see
/// `fh_feed::update::BookUpdate` for the units), with `kind`, `side` and `flags` as raw
/// integers and the 4 trailing bytes named.
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
/// | 52 | 4 | `instrument` | u32 | instrument id |
/// | 56 | 1 | `kind` | u8 | 0 add, 1 change, 2 delete level, 3 trade, 4 status, 5 trade break |
/// | 57 | 1 | `side` | u8 | 0 bid, 1 ask, 2 none |
/// | 58 | 2 | `flags` | u16 | bit 0 best changed, 1 last in event, 2 stale, 3 non-printable, 4 cross |
/// | 60 | 4 | `reserved` | u32 | 0 |
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    ZeroCopySend,
    zerocopy::FromBytes,
    zerocopy::IntoBytes,
    zerocopy::Immutable,
)]
#[type_name("fh::BookUpdate")]
#[repr(C)]
pub struct ShmUpdate {
    /// Feed sequence number of the message that caused this update.
    pub seq: u64,
    /// Exchange timestamp, ns.
    pub exch_ts: u64,
    /// Capture or kernel receive time of the datagram, ns.
    pub recv_ts: u64,
    /// Time the engine took the update's datagram (before decoding it), ns on fh's clock.
    pub engine_ts: u64,
    /// Price, 4 implied decimals.
    pub price: i64,
    /// Shares at the level (or the trade's).
    pub shares: u64,
    /// Orders at the level (0 when unknown).
    pub order_count: u32,
    /// Instrument id.
    pub instrument: u32,
    /// [`fh_feed::update::UpdateKind`] as its byte.
    pub kind: u8,
    /// [`fh_feed::update::Side`] as its byte.
    pub side: u8,
    /// [`fh_feed::update::Flags`] bits.
    pub flags: u16,
    /// Always 0.
    pub reserved: u32,
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<ShmUpdate>() == 64);
    assert!(offset_of!(ShmUpdate, seq) == offset_of!(BookUpdate, seq));
    assert!(offset_of!(ShmUpdate, exch_ts) == offset_of!(BookUpdate, exch_ts));
    assert!(offset_of!(ShmUpdate, recv_ts) == offset_of!(BookUpdate, recv_ts));
    assert!(offset_of!(ShmUpdate, engine_ts) == offset_of!(BookUpdate, engine_ts));
    assert!(offset_of!(ShmUpdate, price) == offset_of!(BookUpdate, price));
    assert!(offset_of!(ShmUpdate, shares) == offset_of!(BookUpdate, shares));
    assert!(offset_of!(ShmUpdate, order_count) == offset_of!(BookUpdate, order_count));
    assert!(offset_of!(ShmUpdate, instrument) == offset_of!(BookUpdate, instrument));
    assert!(offset_of!(ShmUpdate, kind) == offset_of!(BookUpdate, kind));
    assert!(offset_of!(ShmUpdate, side) == offset_of!(BookUpdate, side));
    assert!(offset_of!(ShmUpdate, flags) == offset_of!(BookUpdate, flags));
    assert!(offset_of!(ShmUpdate, reserved) == 60);
    // The engine's sink writes `RawUpdate`s straight into the sample's slots.
    assert!(size_of::<ShmUpdate>() == size_of::<RawUpdate>());
    assert!(core::mem::align_of::<ShmUpdate>() == core::mem::align_of::<RawUpdate>());
    assert!(offset_of!(ShmUpdate, seq) == offset_of!(RawUpdate, seq));
    assert!(offset_of!(ShmUpdate, exch_ts) == offset_of!(RawUpdate, exch_ts));
    assert!(offset_of!(ShmUpdate, recv_ts) == offset_of!(RawUpdate, recv_ts));
    assert!(offset_of!(ShmUpdate, engine_ts) == offset_of!(RawUpdate, engine_ts));
    assert!(offset_of!(ShmUpdate, price) == offset_of!(RawUpdate, price));
    assert!(offset_of!(ShmUpdate, shares) == offset_of!(RawUpdate, shares));
    assert!(offset_of!(ShmUpdate, order_count) == offset_of!(RawUpdate, order_count));
    assert!(offset_of!(ShmUpdate, instrument) == offset_of!(RawUpdate, instrument));
    assert!(offset_of!(ShmUpdate, kind) == offset_of!(RawUpdate, kind));
    assert!(offset_of!(ShmUpdate, side) == offset_of!(RawUpdate, side));
    assert!(offset_of!(ShmUpdate, flags) == offset_of!(RawUpdate, flags));
    assert!(offset_of!(ShmUpdate, reserved) == offset_of!(RawUpdate, reserved));
};

impl From<&BookUpdate> for ShmUpdate {
    #[inline(always)]
    fn from(u: &BookUpdate) -> Self {
        // Same 64 bytes, field for field (asserted above): one conversion, `RawUpdate`'s.
        zerocopy::transmute!(RawUpdate::from(u))
    }
}

impl ShmUpdate {
    /// The book update (an unknown kind byte reads as `Status`, an unknown side as `None`,
    /// as `fh_feed` reads raw bytes).
    #[inline]
    pub fn update(&self) -> BookUpdate {
        let raw: RawUpdate = zerocopy::transmute!(*self);
        raw.update()
    }
}

/// The sample carries the stream's last updates: no more samples follow.
pub const SAMPLE_END: u32 = 1;
/// The sample ends at a datagram's end (a sample holds one or more datagrams, handled back to
/// back; a datagram of more than `MAX_SAMPLE_UPDATES` updates spans samples).
pub const SAMPLE_DATAGRAM_END: u32 = 2;

/// The user header of every sample (32 bytes).
///
/// | offset | size | field | type | meaning |
/// |---:|---:|---|---|---|
/// | 0 | 8 | `first` | u64 | index of the sample's first update in the stream (0, 1, 2, … over the publisher's run) |
/// | 8 | 8 | `publish_ns` | u64 | `CLOCK_MONOTONIC_RAW` when sent, ns |
/// | 16 | 8 | `run` | u64 | the publisher's run id (also in the top-of-book table's header) |
/// | 24 | 4 | `count` | u32 | updates in the sample (elements past it are not part of it) |
/// | 28 | 4 | `flags` | u32 | [`SAMPLE_END`], [`SAMPLE_DATAGRAM_END`] |
///
/// A subscriber expecting update `n` that receives a sample with `first > n` missed exactly
/// `first - n` updates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ZeroCopySend)]
#[type_name("fh::SampleHeader")]
#[repr(C)]
pub struct SampleHeader {
    /// Index of the first update in the stream.
    pub first: u64,
    /// `CLOCK_MONOTONIC_RAW` at send, ns.
    pub publish_ns: u64,
    /// The publisher's run id.
    pub run: u64,
    /// Updates in the sample.
    pub count: u32,
    /// `SAMPLE_*` bits.
    pub flags: u32,
}

const _: () = assert!(core::mem::size_of::<SampleHeader>() == 32);

/// Magic of the top-of-book table (its first 8 bytes).
pub const TOP_MAGIC: [u8; 8] = *b"FHTOP\0\0\x01";
/// Size of the table's header and of each row.
pub const TOP_ROW: usize = 64;

/// The header of the top-of-book table (the first 64 bytes of the file), then `rows` rows of
/// [`TopRow`], row `i` for instrument `i`.
///
/// | offset | size | field | meaning |
/// |---:|---:|---|---|
/// | 0 | 8 | `magic` | `FHTOP\0\0\x01` |
/// | 8 | 8 | `rows` | rows in the table (instrument ids `0..rows`) |
/// | 16 | 8 | `run` | the publisher's run id (as in every sample header) |
/// | 24 | 8 | `pid` | the publisher's process id |
/// | 32 | 8 | `updates` | updates published so far (the next sample's `first` or more) |
/// | 40 | 8 | `state` | 1 running, 2 ended |
/// | 48 | 16 | reserved | 0 |
pub mod top_header {
    /// Offset of `rows`.
    pub const ROWS: usize = 8;
    /// Offset of `run`.
    pub const RUN: usize = 16;
    /// Offset of `pid`.
    pub const PID: usize = 24;
    /// Offset of `updates`.
    pub const UPDATES: usize = 32;
    /// Offset of `state`.
    pub const STATE: usize = 40;
    /// `state` while the publisher runs.
    pub const RUNNING: u64 = 1;
    /// `state` once the stream ended.
    pub const ENDED: u64 = 2;
}

/// One row of the top-of-book table (64 bytes), written under a sequence lock: `version` is
/// odd while the publisher writes the row; a reader copies the row and keeps the copy only if
/// `version` was even and unchanged around the copy.
///
/// | offset | size | field | type | unit |
/// |---:|---:|---|---|---|
/// | 0 | 8 | `version` | u64 | sequence lock (even: stable) |
/// | 8 | 8 | `bid_price` | i64 | 4 implied decimals |
/// | 16 | 8 | `bid_shares` | u64 | shares (0: no bid) |
/// | 24 | 8 | `ask_price` | i64 | 4 implied decimals |
/// | 32 | 8 | `ask_shares` | u64 | shares (0: no offer) |
/// | 40 | 8 | `seq` | u64 | feed sequence number of the last update of that state |
/// | 48 | 8 | `exch_ts` | u64 | ns, exchange time of that state |
/// | 56 | 8 | `symbol` | [u8; 8] | space-padded (all zero: not named yet) |
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct TopRow {
    /// Sequence lock (even when read whole).
    pub version: u64,
    /// Best bid price, 4 implied decimals.
    pub bid_price: i64,
    /// Shares at the best bid (0: no bid).
    pub bid_shares: u64,
    /// Best offer price, 4 implied decimals.
    pub ask_price: i64,
    /// Shares at the best offer (0: no offer).
    pub ask_shares: u64,
    /// Feed sequence number of the last update of this state.
    pub seq: u64,
    /// Exchange time of this state, ns.
    pub exch_ts: u64,
    /// Symbol, space-padded; all zero until named.
    pub symbol: [u8; 8],
}

const _: () = assert!(core::mem::size_of::<TopRow>() == TOP_ROW);

impl TopRow {
    /// The symbol without padding (`None` until named).
    pub fn symbol(&self) -> Option<&str> {
        if self.symbol == [0; 8] {
            return None;
        }
        core::str::from_utf8(&self.symbol)
            .ok()
            .map(|s| s.trim_end_matches([' ', '\0']))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fh_feed::update::{Flags, Side, UpdateKind};

    #[test]
    fn an_update_survives_the_shared_memory_record_field_by_field() {
        let u = BookUpdate {
            seq: 1,
            exch_ts: 2,
            recv_ts: 3,
            engine_ts: 4,
            price: -5,
            shares: 6,
            order_count: 7,
            instrument: 8,
            kind: UpdateKind::Trade,
            side: Side::Ask,
            flags: Flags::from_bits(0b10011),
        };
        let s = ShmUpdate::from(&u);
        assert_eq!((s.seq, s.price, s.instrument, s.kind), (1, -5, 8, 3));
        assert_eq!((s.side, s.flags, s.reserved), (1, 0b10011, 0));
        assert_eq!(s.update(), u);
    }
}
