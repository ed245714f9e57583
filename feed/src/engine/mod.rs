//! The engine: decoded datagrams in, sequenced books and [`BookUpdate`]s out. No I/O, no
//! threads, no clock — time is passed in, so live receive and replay call the same
//! [`Engine::on_datagram`] and a replay reproduces a live run bit for bit.
//!
//! ```text
//!  on_datagram(now, meta, bytes, sink)
//!     ├─ IEX-TP (version 1, protocol 0x8002..=0x8004) ─► Sequencer<u64> ─► DEEP: DeepBooks (L2)
//!     │                                                                 └► TOPS: counted, trades/status
//!     ├─ MoldUDP64 ───────────────────────────────────► Sequencer<[u8;10]> ─► ITCH: ItchBooks (L3 → L2)
//!     └─ neither (another venue's feed: CME MDP3, Cboe PITCH…) ─► counted (`unknown_protocol`), dropped
//!  on_itch_stream_message(now, meta, bytes, sink)   (bare *.NASDAQ_ITCH50 files: no sequencing)
//!                                   │
//!                                   ▼
//!             sink.publish(&BookUpdate)   (monomorphized: a closure, a digest, a ring producer)
//! ```
//!
//! ## Modules
//! - [`seq`]: per-stream sequencing state machine (in order, duplicate, gap, late, session
//!   change, end of session).
//! - [`orders`]: the ITCH order store (open addressing, sized at start-up).
//! - [`levels`]: L2 price levels (sorted arrays, best at the end) with the worst case of each
//!   operation.
//! - [`itch_book`]: ITCH L3 books (A F E C X D U exactly as the spec says).
//! - [`deep_book`]: IEX DEEP L2 books with atomic events; `iex` (private): the IEX-TP /
//!   DEEP / TOPS half of [`Engine`].
//! - [`digest`]: the stable hash over the update stream.
//!
//! ## The ITCH hot path
//! One match on the type byte views and applies the seven book messages (`A F E C X D U`,
//! nine in ten of a day) with the store, book and ladder operations inlined into each arm;
//! every other type goes through the decoder's `parse`, out of line (a message is malformed
//! exactly when `parse` rejects it). In-order packets apply their messages inline. Before
//! that, the framing check (which walks every block anyway, [`moldudp64::Packet::parse_visiting`])
//! prefetches the order-store slot of each message's reference
//! ([`Engine::prefetch_itch_message`]), so that a packet's cache misses are in flight together;
//! types that carry no reference prefetch reference 0's slot (a select, no branch), not
//! whatever bytes they hold there (a random slot: a miss per packet cost 12 % in the bench
//! when an earlier form did that). Walking the blocks once for both, instead of prefetching
//! the next message from the apply loop, drops the apply loop's own end-of-packet test and
//! its mispredict. A bare ITCH stream ([`Engine::on_itch_stream_message`]) has no packets: its
//! caller calls `prefetch_itch_message` some messages ahead (`fh replay` of an ITCH file asks
//! for a block of 8 a block ahead: `pipeline::replay::ITCH_PREFETCH_AHEAD`). With books spread
//! over thousands of instruments, whose levels miss too, it calls
//! [`Engine::prefetch_itch_ahead`] instead, with each message applied and the one 8 after it:
//! the later one's slot and instrument, then, some messages later, the price level it will
//! touch (read from the instrument and the order's level hint, which have arrived by then).
//!
//! ## Invariants
//! - Hot path allocates nothing, locks nothing, formats nothing, never panics on any input:
//!   malformed packets and messages, unknown references, crossed books… are counted in
//!   [`EngineStats`] and the anomaly counters of the books.
//! - Every update carries [`Flags::STALE`] while its stream has an open (unrecovered) gap.
//! - ITCH: each message is one event; its last update carries [`Flags::LAST_IN_EVENT`].
//!   DEEP: updates of an event (flag-0 PLUs … flag-1 PLU) are held and published together
//!   when the event completes, the last one with `LAST_IN_EVENT`.
//! - [`Flags::BEST_CHANGED`]: ITCH — set on each update that touched the best level of its
//!   side (the BBO's price or size changed); DEEP — set on the last update of an event when
//!   the published BBO differs from the one before the event.
//! - Instrument ids: ITCH instruments are their stock locate (0..65 535); IEX symbols are
//!   [`IEX_INSTRUMENT_BASE`] + their slot, so one engine can carry both without collisions.
//! - With an instrument filter, books are kept only for the named symbols; every packet is
//!   still sequenced and every message counted.

pub mod deep_book;
pub mod digest;
mod iex;
pub mod itch_book;
pub mod levels;
pub mod orders;
pub mod seq;
mod snapshot;
pub mod table;

pub use snapshot::{EngineSnapshot, SequencingSnapshot};

use crate::directory::SymbolDirectory;
use crate::update::{BookUpdate, Flags, InstrumentId, OrderAction, OrderEvent, Side, UpdateKind};
use deep_book::DeepBooks;
use fh_decoders::{itch50, moldudp64};
use itch_book::{ItchBooks, SideChange};
use levels::{Bbo, LevelChange, LevelOp};
use orders::NO_LEVEL_HINT;
use seq::{PacketClass, Sequencer};

/// First instrument id of IEX symbols (ITCH locates use 0..65 535).
pub const IEX_INSTRUMENT_BASE: InstrumentId = 1 << 16;

/// Instrument id of IEX System Event status updates (ITCH ones use locate 0, as the spec does).
pub const IEX_SYSTEM_INSTRUMENT: InstrumentId = InstrumentId::MAX;

/// Where book updates go. Implemented for any `FnMut(&BookUpdate)`, for [`digest::Digest`],
/// and by the publication ring's producer; always used through generics (no `dyn`).
pub trait UpdateSink {
    /// One update, in order.
    fn publish(&mut self, u: &BookUpdate);

    /// The engine is done with a datagram (or one message of a bare ITCH stream): everything
    /// it published for it has been handed over. A sink that batches publishes here.
    #[inline]
    fn datagram_end(&mut self) {}

    /// The engine has handled every datagram it had in hand (the end of a live poll batch, a
    /// paced replay about to wait for the next one): a sink that collects several datagrams
    /// before handing them on hands them on now.
    #[inline]
    fn idle(&mut self) {}

    /// Set to `true` to receive [`UpdateSink::bbo_changed`] (costs a BBO read per message that
    /// changed a level at a best level).
    const WANTS_BBO: bool = false;

    /// The published BBO of `instrument` changed with the event that ended at exchange time
    /// `exch_ts` (called after the event's updates). Only called when `WANTS_BBO`.
    #[inline]
    fn bbo_changed(
        &mut self,
        _exch_ts: u64,
        _instrument: InstrumentId,
        _symbol: &[u8; 8],
        _bbo: &Bbo,
    ) {
    }

    /// Set to `true` to receive [`UpdateSink::order_event`] (the ITCH order-level events an
    /// MBO export needs; compiled out otherwise).
    const WANTS_ORDERS: bool = false;

    /// One order-level event of an ITCH book message, before that message's book updates (a
    /// session change that empties the books gives one [`OrderAction::Clear`]). Only called
    /// when `WANTS_ORDERS`.
    #[inline]
    fn order_event(&mut self, _e: &OrderEvent) {}
}

impl<F: FnMut(&BookUpdate)> UpdateSink for F {
    #[inline]
    fn publish(&mut self, u: &BookUpdate) {
        self(u)
    }
}

/// Engine configuration (sizes are fixed at start-up; beyond them structures grow on a cold
/// path and the growth is counted).
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Expected live ITCH orders (the order store holds twice as many slots). The default,
    /// 2^20, holds the peak of a busy day's live orders without the spill table growing.
    pub orders: usize,
    /// Expected IEX symbols.
    pub symbols: usize,
    /// Keep books only for these symbols (`None`: all).
    pub symbol_filter: Option<Vec<String>>,
    /// First sequence number of a session, when known (a later first packet is a gap).
    pub expect_first_seq: Option<u64>,
    /// DEEP updates held while events are open.
    pub pending_updates: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            orders: 1 << 20,
            symbols: 16 << 10,
            symbol_filter: None,
            expect_first_seq: None,
            pending_updates: 1024,
        }
    }
}

/// Per-datagram metadata supplied by the shell (capture reader or receiver).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DatagramMeta {
    /// Capture or kernel receive time, ns since the Unix epoch (copied into `recv_ts`).
    pub recv_ts: u64,
}

/// Datagram- and message-level counters.
#[derive(Clone, Debug)]
pub struct EngineStats {
    /// Datagrams given to the engine.
    pub datagrams: u64,
    /// MoldUDP64 packets rejected by the framing check.
    pub mold_malformed: u64,
    /// MoldUDP64 re-request packets seen (client → server; ignored).
    pub mold_requests: u64,
    /// IEX-TP segments rejected by the framing check.
    pub iextp_malformed: u64,
    /// ITCH messages by type byte (unknown types included).
    pub itch_types: [u64; 256],
    /// ITCH messages shorter than their type's length (or empty blocks).
    pub itch_malformed: u64,
    /// IEX messages by type byte (DEEP and TOPS, unknown types included).
    pub iex_types: [u64; 256],
    /// IEX messages shorter than their type's length (or empty blocks).
    pub iex_malformed: u64,
    /// IEX-TP segments of a protocol other than DEEP/TOPS.
    pub iex_other_protocol: u64,
    /// Datagrams that are neither IEX-TP nor MoldUDP64 ([`is_moldudp64`]): another venue's
    /// feed (CME MDP3, Cboe PITCH…), counted and dropped rather than taken for malformed
    /// MoldUDP64.
    pub unknown_protocol: u64,
    /// Book updates published.
    pub updates: u64,
    /// DEEP held-update buffer growths past its configured size.
    pub pending_growths: u64,
    /// Book resets (session changes, start of messages).
    pub book_resets: u64,
}

impl Default for EngineStats {
    fn default() -> Self {
        EngineStats {
            datagrams: 0,
            mold_malformed: 0,
            mold_requests: 0,
            iextp_malformed: 0,
            itch_types: [0; 256],
            itch_malformed: 0,
            iex_types: [0; 256],
            iex_malformed: 0,
            iex_other_protocol: 0,
            unknown_protocol: 0,
            updates: 0,
            pending_growths: 0,
            book_resets: 0,
        }
    }
}

impl EngineStats {
    /// ITCH messages decoded.
    pub fn itch_messages(&self) -> u64 {
        self.itch_types.iter().sum()
    }

    /// IEX messages decoded.
    pub fn iex_messages(&self) -> u64 {
        self.iex_types.iter().sum()
    }
}

/// Context of the message being applied (copied into every update).
#[derive(Clone, Copy, Debug)]
struct Ctx {
    seq: u64,
    exch_ts: u64,
    recv_ts: u64,
    now: u64,
    stale: Flags,
}

impl Ctx {
    /// An order-level event of this message (see [`UpdateSink::order_event`]).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn order<S: UpdateSink>(
        &self,
        sink: &mut S,
        action: OrderAction,
        order_id: u64,
        instrument: InstrumentId,
        side: Side,
        price: i64,
        shares: u64,
        flags: Flags,
    ) {
        if S::WANTS_ORDERS {
            sink.order_event(&OrderEvent {
                seq: self.seq,
                exch_ts: self.exch_ts,
                recv_ts: self.recv_ts,
                order_id,
                price,
                shares,
                instrument,
                action,
                side,
                flags: self.stale | flags,
            });
        }
    }

    #[inline(always)]
    fn update(&self, instrument: InstrumentId, side: Side, kind: UpdateKind) -> BookUpdate {
        BookUpdate {
            seq: self.seq,
            exch_ts: self.exch_ts,
            recv_ts: self.recv_ts,
            engine_ts: self.now,
            price: 0,
            shares: 0,
            order_count: 0,
            instrument,
            kind,
            side,
            flags: self.stale,
        }
    }

    #[inline(always)]
    fn level(
        &self,
        instrument: InstrumentId,
        side: Side,
        c: &LevelChange,
        last: bool,
    ) -> BookUpdate {
        let mut u = self.update(instrument, side, kind_of(c.op));
        u.price = c.level.price;
        u.shares = c.level.shares;
        u.order_count = c.level.orders;
        if c.at_best {
            u.flags |= Flags::BEST_CHANGED;
        }
        if last {
            u.flags |= Flags::LAST_IN_EVENT;
        }
        u
    }
}

#[inline(always)]
fn kind_of(op: LevelOp) -> UpdateKind {
    match op {
        LevelOp::Added => UpdateKind::AddLevel,
        LevelOp::Changed => UpdateKind::ChangeLevel,
        LevelOp::Deleted => UpdateKind::DeleteLevel,
    }
}

/// Timestamp of the ITCH common header (`u48` at offset 5), read with one 8-byte load that
/// also covers the tracking number (masked off).
#[inline(always)]
fn header_ts(h: &[u8; itch50::COMMON_HEADER_LEN]) -> u64 {
    u64::from_be_bytes([h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10]]) & ((1 << 48) - 1)
}

/// Timestamp of a message whose view was checked (0 if `b` is shorter than the common header,
/// which no checked book message is).
#[inline(always)]
fn message_ts(b: &[u8]) -> u64 {
    b.first_chunk::<{ itch50::COMMON_HEADER_LEN }>()
        .map_or(0, header_ts)
}

/// [`Engine::itch_prefetcher`]: [`Engine::prefetch_itch_message`] with the order store's
/// fields read once.
#[derive(Clone, Copy, Debug)]
pub struct ItchPrefetch<'a>(orders::OrderPrefetch<'a>);

impl ItchPrefetch<'_> {
    /// [`Engine::prefetch_itch_message`] of `m`.
    #[inline(always)]
    pub fn message(self, m: &[u8]) {
        if let Some(r) = m.get(11..19).and_then(|r| r.first_chunk::<8>()) {
            // A E F C X D U carry their order reference at offset 11. Other types hold
            // something else there: prefetch reference 0's slot instead (a select, not a
            // branch), whose line is hot. (`m[0]` exists: `m` has 19 bytes or more.)
            let keep = REFERENCE_MASK[usize::from(m[0])];
            self.0.prefetch(u64::from_be_bytes(*r) & keep);
        }
    }
}

/// By ITCH message type: all ones for the types that carry an order reference at offset 11
/// (`A F E C X D U`), else 0 ([`Engine::prefetch_itch_message`]: one load instead of a
/// comparison chain).
static REFERENCE_MASK: [u64; 256] = {
    let mut t = [0u64; 256];
    let book = *b"AFECXDU";
    let mut i = 0;
    while i < book.len() {
        t[book[i] as usize] = u64::MAX;
        i += 1;
    }
    t
};

/// By ITCH message type: [`AHEAD_ADD`] for the adds (`A F`), whose price level is found from
/// the message ([`Engine::prefetch_itch_ahead`]), not from a live order; else 0.
static ADDS: [u64; 256] = {
    let mut t = [0; 256];
    t[b'A' as usize] = AHEAD_ADD;
    t[b'F' as usize] = AHEAD_ADD;
    t
};

/// How many calls of [`Engine::prefetch_itch_ahead`] its second stage (the price level) runs
/// behind its first (the order slot and the instrument, which the second reads).
pub const ITCH_LEVEL_STAGE_LAG: usize = 4;

// What [`Engine::prefetch_itch_ahead`]'s second stage needs of a message the first saw, in
// one `u64`: bits 0–31 the order reference's (0 for the types without one; the low 32 bits
// name the same ring slot: the ring has fewer than 2^32 slots), 32–47 the locate, then an add
// (`A F`: its level is near the best of its side, not where an order was) and its side.
const AHEAD_REFERENCE: u64 = u32::MAX as u64;
const AHEAD_ADD: u64 = 1 << 48;
const AHEAD_ADD_ASK: u64 = 1 << 49;

/// The side of an ITCH buy/sell indicator: `B` bids, `S` asks, any other byte none (one
/// table load instead of two comparisons and their selects).
#[inline(always)]
fn itch_side(b: u8) -> Side {
    SIDES[usize::from(b)]
}

/// [`itch_side`] of every byte.
static SIDES: [Side; 256] = {
    let mut t = [Side::None; 256];
    t[b'B' as usize] = Side::Bid;
    t[b'S' as usize] = Side::Ask;
    t
};

/// The fields an `A` and an `F` add carry alike (`mpid` all zero for an `A`).
#[derive(Clone, Copy, Debug)]
struct NewOrder {
    reference: u64,
    locate: u16,
    side: Side,
    price: u32,
    shares: u32,
    mpid: [u8; 4],
}

/// The fields an `E` and a `C` execution carry alike: `price` is the `C`'s execution price
/// (`None` for an `E`: the resting order's), `printable` its flag (`b'Y'` for an `E`).
#[derive(Clone, Copy, Debug)]
struct Execution {
    reference: u64,
    locate: u16,
    shares: u32,
    price: Option<u32>,
    printable: u8,
}

/// The engine (see the module docs).
#[derive(Debug)]
pub struct Engine {
    /// ITCH books.
    pub(crate) itch: ItchBooks,
    /// IEX DEEP books.
    pub(crate) deep: DeepBooks,
    /// MoldUDP64 sequencing.
    pub(crate) mold_seq: Sequencer<[u8; 10]>,
    /// IEX-TP sequencing (key: channel id << 32 | session id).
    pub(crate) iex_seq: Sequencer<u64>,
    /// Counters.
    pub(crate) stats: EngineStats,
    directory: SymbolDirectory,
    pending: Vec<BookUpdate>,
    pending_cap: usize,
    stream_seq: u64,
    /// The ITCH book message being applied changed a level at a best level (kept for a sink
    /// that [`UpdateSink::WANTS_BBO`]).
    event_best: bool,
    /// The locate whose book the message changed: the resting order's, which a message naming
    /// another locate (counted as `locate_mismatch`) does not move.
    event_locate: u16,
    /// The messages [`Engine::prefetch_itch_ahead`] saw in its last calls, for its second
    /// stage (by call index modulo the lag).
    ahead: [u64; ITCH_LEVEL_STAGE_LAG],
}

impl Engine {
    /// An engine with everything allocated for `cfg`.
    pub fn new(cfg: &EngineConfig) -> Self {
        let filter = cfg.symbol_filter.as_deref();
        let directory = SymbolDirectory::new(IEX_INSTRUMENT_BASE as usize + 2 * cfg.symbols);
        let mut itch = ItchBooks::new(cfg.orders, filter);
        itch.directory = Some(directory.clone());
        let mut deep = DeepBooks::new(cfg.symbols, filter);
        deep.directory = Some(directory.clone());
        Engine {
            directory,
            itch,
            deep,
            mold_seq: Sequencer::new(cfg.expect_first_seq),
            iex_seq: Sequencer::new(cfg.expect_first_seq),
            stats: EngineStats::default(),
            pending: Vec::with_capacity(cfg.pending_updates),
            pending_cap: cfg.pending_updates,
            stream_seq: 0,
            event_best: false,
            event_locate: 0,
            ahead: [0; ITCH_LEVEL_STAGE_LAG],
        }
    }

    /// A snapshot of every named counter (decoding, sequencing, books, anomalies).
    pub fn stats(&self) -> EngineSnapshot {
        EngineSnapshot::of(self)
    }

    /// The raw decoding counters (messages by type byte, malformed, updates).
    pub fn counters(&self) -> &EngineStats {
        &self.stats
    }

    /// The ITCH books (read-only).
    pub fn itch(&self) -> &ItchBooks {
        &self.itch
    }

    /// The IEX DEEP books (read-only).
    pub fn deep(&self) -> &DeepBooks {
        &self.deep
    }

    /// MoldUDP64 sequencing state (read-only).
    pub fn mold_seq(&self) -> &Sequencer<[u8; 10]> {
        &self.mold_seq
    }

    /// IEX-TP sequencing state (read-only).
    pub fn iex_seq(&self) -> &Sequencer<u64> {
        &self.iex_seq
    }

    /// Forgets every book and all sequencing state, as at the start of a new day, keeping
    /// every allocation (for tests and benches that warm up, then measure).
    pub fn reset_day(&mut self) {
        self.reset_itch();
        self.reset_deep();
        self.mold_seq = Sequencer::new(self.mold_seq.expect_first());
        self.iex_seq = Sequencer::new(self.iex_seq.expect_first());
        self.stream_seq = 0;
    }

    /// The instrument directory this engine names instruments in, for other threads.
    pub fn directory(&self) -> &SymbolDirectory {
        &self.directory
    }

    /// Symbol of an instrument id (ITCH locate or IEX slot), if known.
    pub fn symbol(&self, instrument: InstrumentId) -> Option<&[u8; 8]> {
        if instrument >= IEX_INSTRUMENT_BASE {
            let slot = instrument - IEX_INSTRUMENT_BASE;
            (slot < self.deep.len() as u32).then(|| &self.deep.instrument(slot).symbol)
        } else {
            let i = self.itch.instrument(instrument as u16);
            i.named.then_some(&i.symbol)
        }
    }

    /// Published BBO of an instrument.
    pub fn bbo(&self, instrument: InstrumentId) -> Bbo {
        if instrument >= IEX_INSTRUMENT_BASE {
            let slot = instrument - IEX_INSTRUMENT_BASE;
            if slot < self.deep.len() as u32 {
                return self.deep.instrument(slot).published_bbo();
            }
            Bbo::default()
        } else {
            let i = self.itch.instrument(instrument as u16);
            Bbo::of(i.bids(), i.asks())
        }
    }

    /// One UDP payload (MoldUDP64/ITCH or IEX-TP/DEEP/TOPS, told apart by the header; a
    /// payload that is neither is counted in [`EngineStats::unknown_protocol`] and dropped).
    #[inline]
    pub fn on_datagram<S: UpdateSink>(
        &mut self,
        now: u64,
        meta: &DatagramMeta,
        bytes: &[u8],
        sink: &mut S,
    ) {
        self.stats.datagrams += 1;
        if is_iextp(bytes) {
            self.on_iextp(now, meta, bytes, sink);
        } else if is_moldudp64(bytes) {
            self.on_mold(now, meta, bytes, sink);
        } else {
            self.stats.unknown_protocol += 1;
        }
        sink.datagram_end();
    }

    /// Asks for the order-store slot that the ITCH message `m` will touch, ahead of applying
    /// it (no effect on the engine's state). The engine does this itself for every message of
    /// a MoldUDP64 packet before applying the packet; a caller feeding
    /// [`Engine::on_itch_stream_message`] (a bare ITCH file) calls it some messages ahead.
    #[inline(always)]
    pub fn prefetch_itch_message(&self, m: &[u8]) {
        self.itch_prefetcher().message(m);
    }

    /// [`Engine::prefetch_itch_message`] for many messages in a row (a block of a bare ITCH
    /// stream as it is framed), what it reads of the order store read once.
    #[inline(always)]
    pub fn itch_prefetcher(&self) -> ItchPrefetch<'_> {
        ItchPrefetch(self.itch.orders.prefetcher())
    }

    /// [`Engine::prefetch_itch_message`] in two stages, for a caller that shows the engine
    /// each message of a bare ITCH stream some messages ahead of applying it (`index` counting
    /// up by one from call to call): now, the message's order slot and its instrument; then,
    /// [`ITCH_LEVEL_STAGE_LAG`] calls later (when those lines have arrived), the price level
    /// it will touch: the level its order's [`Order::level_hint`](orders::Order::level_hint)
    /// names (`E C X D U`), or the best levels of its side (`A F`, whose new levels land
    /// mostly there). A prefetch: no effect on the books.
    #[inline(always)]
    pub fn prefetch_itch_ahead(&mut self, index: u64, m: &[u8]) {
        let at = index as usize % ITCH_LEVEL_STAGE_LAG;
        let n = self.ahead[at];
        let (ladder, hint) = self.itch.orders.level_guess(n & AHEAD_REFERENCE);
        let (ladder, hint) = if n & AHEAD_ADD != 0 {
            (usize::from(n & AHEAD_ADD_ASK != 0), NO_LEVEL_HINT)
        } else {
            (ladder, hint)
        };
        self.itch.prefetch_level((n >> 32) as u16, ladder, hint);
        self.ahead[at] = match m.first_chunk::<19>() {
            Some(h) => {
                // As in `prefetch_itch_message`: reference 0 for the types without one.
                let r = u64::from_be_bytes(*h[11..].first_chunk::<8>().unwrap_or(&[0; 8]));
                let reference = r & REFERENCE_MASK[usize::from(h[0])];
                let locate = u16::from_be_bytes([h[1], h[2]]);
                self.itch.orders.prefetch(reference);
                self.itch.prefetch_instrument(locate);
                // `B` 0x42 and `S` 0x53: the side's ladder index is the low bit.
                let ask = m.get(19).map_or(0, |b| u64::from(b & 1));
                (reference & AHEAD_REFERENCE)
                    | (u64::from(locate) << 32)
                    | ADDS[usize::from(h[0])]
                    | (ask * AHEAD_ADD_ASK)
            }
            None => 0,
        };
    }

    /// One message of an unsequenced ITCH stream (a bare `*.NASDAQ_ITCH50` file): numbered
    /// 1, 2, 3… in arrival order, never stale. Inlined, with the book messages' code, into
    /// the caller's loop (one message per call: a call would cost more than the loop itself).
    #[inline(always)]
    pub fn on_itch_stream_message<S: UpdateSink>(
        &mut self,
        now: u64,
        meta: &DatagramMeta,
        bytes: &[u8],
        sink: &mut S,
    ) {
        self.stream_seq += 1;
        let seq = self.stream_seq;
        self.itch_message_inline(now, Some(meta.recv_ts), seq, Flags::EMPTY, bytes, sink);
        sink.datagram_end();
    }

    /// [`Engine::on_itch_stream_message`] with each message's own timestamp as its receive
    /// time (a bare ITCH file has no other; 0 for a message shorter than the common header,
    /// as `fh_replay::capture::itch_timestamp_ns` reads it): read as the message is parsed,
    /// after its length check, not before it by the caller with one of its own.
    #[inline(always)]
    pub fn on_itch_stream_message_own_ts<S: UpdateSink>(
        &mut self,
        now: u64,
        bytes: &[u8],
        sink: &mut S,
    ) {
        self.stream_seq += 1;
        let seq = self.stream_seq;
        self.itch_message_inline(now, None, seq, Flags::EMPTY, bytes, sink);
        sink.datagram_end();
    }

    /// Before applying a snapshot: the ITCH books are emptied (the snapshot rebuilds them), and
    /// every level they held is published as deleted, one event per instrument, so that every
    /// consumer's view (strategies' ladders, the top-of-book table) empties with them.
    pub fn begin_snapshot<S: UpdateSink>(&mut self, now: u64, sink: &mut S) {
        for locate in 0..itch_book::LOCATES {
            let i = self.itch.instrument(locate as u16);
            let n = i.bids().len() + i.asks().len();
            if n == 0 {
                continue;
            }
            let (symbol, instrument) = (i.symbol, InstrumentId::from(locate as u16));
            let mut k = 0;
            for (side, ladder) in [(Side::Bid, i.bids()), (Side::Ask, i.asks())] {
                for l in ladder.iter_best_first() {
                    k += 1;
                    let flags = if k == n {
                        Flags::BEST_CHANGED | Flags::LAST_IN_EVENT
                    } else {
                        Flags::BEST_CHANGED
                    };
                    let u = BookUpdate {
                        engine_ts: now,
                        price: l.price,
                        instrument,
                        kind: UpdateKind::DeleteLevel,
                        side,
                        flags,
                        ..BookUpdate::default()
                    };
                    self.stats.updates += 1;
                    sink.publish(&u);
                }
            }
            if S::WANTS_BBO {
                sink.bbo_changed(0, instrument, &symbol, &Bbo::default());
            }
            sink.datagram_end();
        }
        self.reset_itch();
    }

    /// One ITCH message of a snapshot (unsequenced: it carries the state at the snapshot's
    /// sequence number; see `fh_replay::serve::snapshot`), applied like a live one.
    pub fn on_snapshot_message<S: UpdateSink>(&mut self, now: u64, bytes: &[u8], sink: &mut S) {
        self.itch_message(now, 0, 0, Flags::EMPTY, bytes, sink);
        sink.datagram_end();
    }

    /// After a snapshot reflecting everything before `next`: MoldUDP64 sequencing resumes at
    /// `next` of `session`, its open gaps forgotten (no longer stale).
    pub fn resume_mold(&mut self, session: [u8; 10], next: u64) {
        self.mold_seq.resume(session, next);
    }

    fn reset_itch(&mut self) {
        self.stats.book_resets += 1;
        self.itch.reset();
    }

    fn reset_deep(&mut self) {
        self.stats.book_resets += 1;
        self.deep.reset();
        self.pending.clear();
    }

    #[inline]
    fn on_mold<S: UpdateSink>(
        &mut self,
        now: u64,
        meta: &DatagramMeta,
        bytes: &[u8],
        sink: &mut S,
    ) {
        // The framing check walks every block once; on the way, prefetch each message's order
        // slot (module docs: "The ITCH hot path").
        let p = match moldudp64::Packet::parse_visiting(bytes, |m| self.prefetch_itch_message(m)) {
            Ok(p) => p,
            Err(_) => {
                self.stats.mold_malformed += 1;
                return;
            }
        };
        let h = p.header();
        let (count, end) = match p {
            moldudp64::Packet::Data(d) => (u64::from(d.message_count()), false),
            moldudp64::Packet::Heartbeat(_) => (0, false),
            moldudp64::Packet::EndOfSession(_) => (0, true),
            moldudp64::Packet::Request(_) => {
                self.stats.mold_requests += 1;
                return;
            }
        };
        let (class, changed) =
            if self
                .mold_seq
                .in_order_fast(*h.session(), h.sequence_number(), count)
            {
                (PacketClass::InOrder { skip: 0 }, false)
            } else {
                self.mold_seq
                    .on_packet(*h.session(), h.sequence_number(), count, end)
            };
        if changed {
            self.reset_itch();
            if S::WANTS_ORDERS {
                sink.order_event(&OrderEvent {
                    seq: h.sequence_number(),
                    recv_ts: meta.recv_ts,
                    instrument: OrderEvent::ALL_INSTRUMENTS,
                    action: OrderAction::Clear,
                    side: Side::None,
                    flags: Flags::LAST_IN_EVENT,
                    ..OrderEvent::default()
                });
            }
        }
        let moldudp64::Packet::Data(d) = p else {
            return;
        };
        match class {
            PacketClass::Duplicate | PacketClass::Empty => {}
            PacketClass::InOrder { skip } => {
                let stale = self.stale_flag_mold();
                let mut blocks = d.blocks();
                if skip > 0 {
                    // Drop the blocks already applied (a packet overlapping the last one).
                    blocks.nth(skip as usize - 1);
                }
                for (seq, msg) in blocks {
                    self.itch_message_inline(now, Some(meta.recv_ts), seq, stale, msg, sink);
                }
            }
            PacketClass::Gap { .. } => {
                let stale = self.stale_flag_mold();
                for (seq, msg) in d.blocks() {
                    self.itch_message(now, meta.recv_ts, seq, stale, msg, sink);
                }
            }
            PacketClass::Late => {
                for (seq, msg) in d.blocks() {
                    if self.mold_seq.take_late(seq) {
                        let stale = self.stale_flag_mold();
                        self.itch_message(now, meta.recv_ts, seq, stale, msg, sink);
                    }
                }
            }
        }
    }

    #[inline]
    fn stale_flag_mold(&self) -> Flags {
        if self.mold_seq.stale() {
            Flags::STALE
        } else {
            Flags::EMPTY
        }
    }

    #[inline]
    fn stale_flag_iex(&self) -> Flags {
        if self.iex_seq.stale() {
            Flags::STALE
        } else {
            Flags::EMPTY
        }
    }

    /// Applies one ITCH message (out of line: the gap, late and snapshot paths).
    #[inline(never)]
    fn itch_message<S: UpdateSink>(
        &mut self,
        now: u64,
        recv_ts: u64,
        seq: u64,
        stale: Flags,
        bytes: &[u8],
        sink: &mut S,
    ) {
        self.itch_message_inline(now, Some(recv_ts), seq, stale, bytes, sink);
    }

    /// Applies one ITCH message. The book messages (nine in ten of a day) are viewed and
    /// applied in one match on the type byte; every other type goes through the decoder's
    /// `parse` in [`Engine::itch_other`] (same results: a message is malformed exactly when
    /// `parse` rejects it). `recv_ts` `None`: the message's own timestamp.
    #[inline(always)]
    fn itch_message_inline<S: UpdateSink>(
        &mut self,
        now: u64,
        recv_ts: Option<u64>,
        seq: u64,
        stale: Flags,
        bytes: &[u8],
        sink: &mut S,
    ) {
        use zerocopy::FromBytes;
        let Some(&t) = bytes.first() else {
            self.stats.itch_malformed += 1;
            return;
        };
        // A view of the book message, or count it malformed and return.
        macro_rules! view {
            ($T:ty) => {
                match <$T>::ref_from_prefix(bytes) {
                    Ok((m, _)) => m,
                    Err(_) => {
                        self.stats.itch_malformed += 1;
                        return;
                    }
                }
            };
        }
        macro_rules! ctx {
            () => {
                Ctx {
                    seq,
                    exch_ts: message_ts(bytes),
                    recv_ts: recv_ts.unwrap_or_else(|| message_ts(bytes)),
                    now,
                    stale,
                }
            };
        }
        match t {
            b'A' => {
                let m = view!(itch50::AddOrder);
                let add = NewOrder {
                    reference: m.order_reference_number.get(),
                    locate: m.stock_locate.get(),
                    side: itch_side(m.buy_sell_indicator),
                    price: m.price.get(),
                    shares: m.shares.get(),
                    mpid: [0; 4],
                };
                self.add_event(t, &ctx!(), add, &m.stock, sink);
            }
            b'F' => {
                let m = view!(itch50::AddOrderMpid);
                let add = NewOrder {
                    reference: m.order_reference_number.get(),
                    locate: m.stock_locate.get(),
                    side: itch_side(m.buy_sell_indicator),
                    price: m.price.get(),
                    shares: m.shares.get(),
                    mpid: m.attribution,
                };
                self.add_event(t, &ctx!(), add, &m.stock, sink);
            }
            b'E' => {
                let m = view!(itch50::OrderExecuted);
                let exec = Execution {
                    reference: m.order_reference_number.get(),
                    locate: m.stock_locate.get(),
                    shares: m.executed_shares.get(),
                    price: None,
                    printable: b'Y',
                };
                self.execution_event(t, &ctx!(), exec, sink);
            }
            b'C' => {
                let m = view!(itch50::OrderExecutedWithPrice);
                let exec = Execution {
                    reference: m.order_reference_number.get(),
                    locate: m.stock_locate.get(),
                    shares: m.executed_shares.get(),
                    price: Some(m.execution_price.get()),
                    printable: m.printable,
                };
                self.execution_event(t, &ctx!(), exec, sink);
            }
            b'X' => {
                let m = view!(itch50::OrderCancel);
                let locate = m.stock_locate.get();
                self.book_event_start::<S>(t);
                let ctx = ctx!();
                let r = self.itch.reduce(
                    m.order_reference_number.get(),
                    locate,
                    m.cancelled_shares.get(),
                );
                if let (true, Some((o, _))) = (S::WANTS_ORDERS, &r) {
                    let n = u64::from(m.cancelled_shares.get().min(o.shares));
                    let (id, i) = (m.order_reference_number.get(), InstrumentId::from(o.locate));
                    let px = i64::from(o.price);
                    ctx.order(
                        sink,
                        OrderAction::Cancel,
                        id,
                        i,
                        o.side,
                        px,
                        n,
                        Flags::LAST_IN_EVENT,
                    );
                }
                self.emit_change(&ctx, r.map(|(_, c)| c), true, sink);
                self.book_event_end(ctx.exch_ts, sink);
            }
            b'D' => {
                let m = view!(itch50::OrderDelete);
                let locate = m.stock_locate.get();
                self.book_event_start::<S>(t);
                let ctx = ctx!();
                let r = self.itch.delete(m.order_reference_number.get(), locate);
                if let (true, Some((o, _))) = (S::WANTS_ORDERS, &r) {
                    let (id, i) = (m.order_reference_number.get(), InstrumentId::from(o.locate));
                    let (px, n) = (i64::from(o.price), u64::from(o.shares));
                    ctx.order(
                        sink,
                        OrderAction::Cancel,
                        id,
                        i,
                        o.side,
                        px,
                        n,
                        Flags::LAST_IN_EVENT,
                    );
                }
                self.emit_change(&ctx, r.map(|(_, c)| c), true, sink);
                self.book_event_end(ctx.exch_ts, sink);
            }
            b'U' => {
                let m = view!(itch50::OrderReplace);
                let locate = m.stock_locate.get();
                self.book_event_start::<S>(t);
                let ctx = ctx!();
                let old = if S::WANTS_ORDERS && self.itch.keeps(locate) {
                    self.itch
                        .orders
                        .get(m.original_order_reference_number.get())
                } else {
                    None
                };
                let (a, b) = self.itch.replace(
                    m.original_order_reference_number.get(),
                    m.new_order_reference_number.get(),
                    locate,
                    m.shares.get(),
                    m.price.get(),
                );
                if let (true, Some(o), Some(_)) = (S::WANTS_ORDERS, old, a) {
                    let i = InstrumentId::from(o.locate);
                    let id = m.original_order_reference_number.get();
                    let (px, n) = (i64::from(o.price), u64::from(o.shares));
                    let last = if b.is_some() {
                        Flags::EMPTY
                    } else {
                        Flags::LAST_IN_EVENT
                    };
                    ctx.order(sink, OrderAction::Cancel, id, i, o.side, px, n, last);
                    if b.is_some() {
                        let id = m.new_order_reference_number.get();
                        let (px, n) = (i64::from(m.price.get()), u64::from(m.shares.get()));
                        ctx.order(
                            sink,
                            OrderAction::Add,
                            id,
                            i,
                            o.side,
                            px,
                            n,
                            Flags::LAST_IN_EVENT,
                        );
                    }
                }
                self.emit_change(&ctx, a, b.is_none(), sink);
                self.emit_change(&ctx, b, true, sink);
                self.book_event_end(ctx.exch_ts, sink);
            }
            _ => {
                let recv_ts = recv_ts.unwrap_or_else(|| message_ts(bytes));
                self.itch_other(now, recv_ts, seq, stale, t, bytes, sink)
            }
        }
    }

    /// Starts a viewed book message of type `t`: counts it and, for a sink that
    /// [`UpdateSink::WANTS_BBO`], starts watching whether it touches a best level.
    #[inline(always)]
    fn book_event_start<S: UpdateSink>(&mut self, t: u8) {
        self.stats.itch_types[usize::from(t)] += 1;
        if S::WANTS_BBO {
            self.event_best = false;
        }
    }

    /// Ends a book message: for a sink that [`UpdateSink::WANTS_BBO`], if one of its level
    /// changes was at a best level, reports the BBO of the book it changed when it differs from
    /// the one last reported. A message that touched no best level left the BBO as it was, so
    /// it costs no BBO read.
    #[inline(always)]
    fn book_event_end<S: UpdateSink>(&mut self, exch_ts: u64, sink: &mut S) {
        if S::WANTS_BBO && self.event_best {
            let locate = self.event_locate;
            if let Some(after) = self.itch.bbo_if_changed(locate) {
                let symbol = self.itch.instrument(locate).symbol;
                sink.bbo_changed(exch_ts, InstrumentId::from(locate), &symbol, &after);
            }
        }
    }

    /// An `A` or `F` message (type `t`): the order goes into the book, then its order event
    /// and its level's update.
    #[inline(always)]
    fn add_event<S: UpdateSink>(
        &mut self,
        t: u8,
        ctx: &Ctx,
        a: NewOrder,
        stock: &[u8; 8],
        sink: &mut S,
    ) {
        self.book_event_start::<S>(t);
        let c = self.itch.add(
            a.reference,
            a.locate,
            a.side,
            a.price,
            a.shares,
            a.mpid,
            stock,
        );
        if S::WANTS_ORDERS && c.is_some() {
            let (px, n) = (i64::from(a.price), u64::from(a.shares));
            let i = InstrumentId::from(a.locate);
            let last = Flags::LAST_IN_EVENT;
            ctx.order(sink, OrderAction::Add, a.reference, i, a.side, px, n, last);
        }
        self.emit_change(ctx, c, true, sink);
        self.book_event_end(ctx.exch_ts, sink);
    }

    /// An `E` or `C` message (type `t`): the executed shares leave the resting order and its
    /// level, then the order events, the level's update and the trade.
    #[inline(always)]
    fn execution_event<S: UpdateSink>(&mut self, t: u8, ctx: &Ctx, x: Execution, sink: &mut S) {
        self.book_event_start::<S>(t);
        if let Some((o, c)) = self.itch.reduce(x.reference, x.locate, x.shares) {
            let price = i64::from(x.price.unwrap_or(o.price));
            let np = if x.printable == b'N' {
                Flags::NON_PRINTABLE
            } else {
                Flags::EMPTY
            };
            if S::WANTS_ORDERS {
                self.fill_events(ctx, sink, x.reference, &o, price, x.shares, np);
            }
            self.emit_change(ctx, Some(c), false, sink);
            let mut u = ctx.update(InstrumentId::from(o.locate), o.side, UpdateKind::Trade);
            u.price = price;
            u.shares = u64::from(x.shares);
            u.flags |= Flags::LAST_IN_EVENT | np;
            self.publish(&u, sink);
        }
        self.book_event_end(ctx.exch_ts, sink);
    }

    /// Applies one ITCH message that is not a book message (`t` is its type byte).
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn itch_other<S: UpdateSink>(
        &mut self,
        now: u64,
        recv_ts: u64,
        seq: u64,
        stale: Flags,
        t: u8,
        bytes: &[u8],
        sink: &mut S,
    ) {
        let Ok(msg) = itch50::Message::parse(bytes) else {
            self.stats.itch_malformed += 1;
            return;
        };
        self.stats.itch_types[usize::from(t)] += 1;
        // Every known type starts with the common header (type, locate, tracking, timestamp),
        // which the parse above checked. Unknown types: locate 0, timestamp 0.
        let (locate, exch_ts) = match (&msg, bytes.first_chunk::<{ itch50::COMMON_HEADER_LEN }>()) {
            (itch50::Message::Unknown(_), _) | (_, None) => (0, 0),
            (_, Some(h)) => (u16::from_be_bytes([h[1], h[2]]), header_ts(h)),
        };
        let ctx = Ctx {
            seq,
            exch_ts,
            recv_ts,
            now,
            stale,
        };
        use itch50::Message as M;
        match msg {
            M::Trade(m) if self.itch.keeps(locate) => {
                let (px, n) = (i64::from(m.price.get()), u64::from(m.shares.get()));
                let (id, i) = (m.order_reference_number.get(), InstrumentId::from(locate));
                let last = Flags::LAST_IN_EVENT;
                ctx.order(sink, OrderAction::Trade, id, i, Side::None, px, n, last);
                let mut u = ctx.update(InstrumentId::from(locate), Side::None, UpdateKind::Trade);
                u.price = i64::from(m.price.get());
                u.shares = u64::from(m.shares.get());
                u.flags |= Flags::LAST_IN_EVENT;
                self.publish(&u, sink);
            }
            M::CrossTrade(m) if self.itch.keeps(locate) => {
                let (px, n) = (i64::from(m.cross_price.get()), m.shares.get());
                let (i, last) = (
                    InstrumentId::from(locate),
                    Flags::LAST_IN_EVENT | Flags::CROSS,
                );
                ctx.order(sink, OrderAction::Trade, 0, i, Side::None, px, n, last);
                let mut u = ctx.update(InstrumentId::from(locate), Side::None, UpdateKind::Trade);
                u.price = i64::from(m.cross_price.get());
                u.shares = m.shares.get();
                u.flags |= Flags::LAST_IN_EVENT | Flags::CROSS;
                self.publish(&u, sink);
            }
            M::BrokenTrade(_) if self.itch.keeps(locate) => {
                let mut u = ctx.update(
                    InstrumentId::from(locate),
                    Side::None,
                    UpdateKind::TradeBreak,
                );
                u.flags |= Flags::LAST_IN_EVENT;
                self.publish(&u, sink);
            }
            M::StockDirectory(m) => {
                self.itch.name(locate, m.stock);
            }
            M::StockTradingAction(m) => {
                if !self.itch.instrument(locate).named {
                    self.itch.name(locate, m.stock);
                }
                self.itch.set_trading_state(locate, m.trading_state);
                if self.itch.keeps(locate) {
                    self.status(
                        &ctx,
                        InstrumentId::from(locate),
                        m.trading_state,
                        b'H',
                        sink,
                    );
                }
            }
            M::OperationalHalt(m) if self.itch.keeps(locate) => {
                self.status(
                    &ctx,
                    InstrumentId::from(locate),
                    m.operational_halt_action,
                    b'h',
                    sink,
                );
            }
            M::SystemEvent(m) => {
                self.status(&ctx, 0, m.event_code, b'S', sink);
            }
            _ => {}
        }
    }

    /// The order-level events of an execution of `shares` of the resting order `o` (as it was
    /// before) at `price`: the aggressor's trade (the other side), the resting order's fill,
    /// and the cancel of the executed shares that changes the book.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn fill_events<S: UpdateSink>(
        &self,
        ctx: &Ctx,
        sink: &mut S,
        id: u64,
        o: &orders::Order,
        price: i64,
        shares: u32,
        flags: Flags,
    ) {
        let i = InstrumentId::from(o.locate);
        let aggressor = match o.side {
            Side::Bid => Side::Ask,
            Side::Ask => Side::Bid,
            Side::None => Side::None,
        };
        let n = u64::from(shares.min(o.shares));
        ctx.order(sink, OrderAction::Trade, 0, i, aggressor, price, n, flags);
        ctx.order(sink, OrderAction::Fill, id, i, o.side, price, n, flags);
        let last = Flags::LAST_IN_EVENT;
        ctx.order(
            sink,
            OrderAction::Cancel,
            id,
            i,
            o.side,
            i64::from(o.price),
            n,
            last,
        );
    }

    #[inline(always)]
    fn publish<S: UpdateSink>(&mut self, u: &BookUpdate, sink: &mut S) {
        self.stats.updates += 1;
        sink.publish(u);
    }

    #[inline(always)]
    fn emit_change<S: UpdateSink>(
        &mut self,
        ctx: &Ctx,
        c: Option<SideChange>,
        last: bool,
        sink: &mut S,
    ) {
        if let Some(c) = c {
            if S::WANTS_BBO {
                self.event_best |= c.change.at_best;
                self.event_locate = c.locate;
            }
            let u = ctx.level(InstrumentId::from(c.locate), c.side, &c.change, last);
            self.publish(&u, sink);
        }
    }

    fn status<S: UpdateSink>(
        &mut self,
        ctx: &Ctx,
        instrument: InstrumentId,
        code: u8,
        msg_type: u8,
        sink: &mut S,
    ) {
        let mut u = ctx.update(instrument, Side::None, UpdateKind::Status);
        u.price = i64::from(code);
        u.shares = u64::from(msg_type);
        u.flags |= Flags::LAST_IN_EVENT;
        self.publish(&u, sink);
    }

    /// Anomalies of all books, summed (for reports).
    pub fn anomaly_total(&self) -> u64 {
        let a = &self.itch.anomalies;
        let d = &self.deep.anomalies;
        a.unknown_ref
            + a.duplicate_ref
            + a.over_execution
            + a.locate_mismatch
            + a.level_mismatch
            + a.bad_side
            + a.crossed
            + d.crossed
            + d.negative_price
    }
}

/// An IEX-TP segment: version 1 and a known IEX message protocol id (a MoldUDP64 session
/// starts with an ASCII character, never byte 1).
#[inline]
pub fn is_iextp(b: &[u8]) -> bool {
    b.len() >= 40 && b[0] == 1 && matches!(u16::from_le_bytes([b[2], b[3]]), 0x8002..=0x8005)
}

/// A plausible MoldUDP64 packet (a cheap look at the header, not the framing check): at
/// least the 20-byte header; a session of printable ASCII (or all NUL, as in anonymised
/// captures); and a Message Count the length allows: any count on a bare header (heartbeat,
/// end of session, re-request), else 1 to 0xFFFE blocks of at least 3 bytes each. Another
/// venue's packets fail it (CME MDP3 starts with a binary sequence number and sending time,
/// Cboe PITCH with a binary length and count); a damaged MoldUDP64 packet passes it and is
/// then counted malformed by the framing check.
#[inline]
pub fn is_moldudp64(b: &[u8]) -> bool {
    let Some(h) = b.first_chunk::<20>() else {
        return false;
    };
    let session =
        h[..10].iter().all(|&c| (0x20..0x7F).contains(&c)) || h[..10].iter().all(|&c| c == 0);
    let count = usize::from(u16::from_be_bytes([h[18], h[19]]));
    let body = b.len() - 20;
    session && (body == 0 || ((1..0xFFFF).contains(&count) && count * 3 <= body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fh_decoders::deep::PriceLevelUpdate;
    use fh_decoders::iextp::Header;
    use fh_decoders::itch50::{alpha, AddOrder};
    use fh_decoders::moldudp64::PacketBuilder;
    use zerocopy::byteorder::little_endian::{I64, U16, U32};
    use zerocopy::IntoBytes;

    /// An IEX-TP DEEP segment carrying `plus` (side byte, flags, price, size) for one symbol.
    fn deep_segment(first_seq: i64, plus: &[(u8, u8, i64, u32)]) -> Vec<u8> {
        let mut payload = Vec::new();
        for &(t, f, price, size) in plus {
            let m = PriceLevelUpdate {
                message_type: t,
                event_flags: f,
                timestamp: I64::new(1_000 + first_seq),
                symbol: *b"ZIEXT   ",
                size: U32::new(size),
                price: I64::new(price),
            };
            payload.extend_from_slice(&(m.as_bytes().len() as u16).to_le_bytes());
            payload.extend_from_slice(m.as_bytes());
        }
        let h = Header {
            version: 1,
            reserved: 0,
            message_protocol_id: U16::new(0x8004),
            channel_id: U32::new(1),
            session_id: U32::new(77),
            payload_length: U16::new(payload.len() as u16),
            message_count: U16::new(plus.len() as u16),
            stream_offset: I64::new(0),
            first_message_sequence_number: I64::new(first_seq),
            send_time: I64::new(5),
        };
        let mut out = h.as_bytes().to_vec();
        out.extend_from_slice(&payload);
        out
    }

    #[test]
    fn deep_event_is_published_only_when_complete() {
        let mut e = Engine::new(&EngineConfig::default());
        let meta = DatagramMeta::default();
        let mut got: Vec<BookUpdate> = Vec::new();
        // Book: asks 25.10 / 25.20 / 25.30, bids 25.00 (single-PLU events).
        let seg = deep_segment(
            1,
            &[
                (b'5', 1, 251_000, 100),
                (b'5', 1, 252_000, 100),
                (b'5', 1, 253_000, 100),
                (b'8', 1, 250_000, 100),
            ],
        );
        e.on_datagram(0, &meta, &seg, &mut |u: &BookUpdate| got.push(*u));
        assert_eq!(got.len(), 4);
        assert!(got.iter().all(|u| u.flags.contains(Flags::LAST_IN_EVENT)));
        got.clear();
        // Event in two segments: flag 0 removes 25.10 …
        e.on_datagram(
            0,
            &meta,
            &deep_segment(5, &[(b'5', 0, 251_000, 0)]),
            &mut |u: &BookUpdate| got.push(*u),
        );
        assert!(got.is_empty(), "nothing published while the event is open");
        let id = IEX_INSTRUMENT_BASE;
        assert_eq!(
            e.bbo(id).ask,
            Some((251_000, 100)),
            "published BBO is the pre-event one"
        );
        // … flag 1 removes 25.20: both updates go out, the last flagged.
        e.on_datagram(
            0,
            &meta,
            &deep_segment(6, &[(b'5', 1, 252_000, 0)]),
            &mut |u: &BookUpdate| got.push(*u),
        );
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].seq, got[0].kind, got[0].flags.last_in_event()),
            (5, UpdateKind::DeleteLevel, false)
        );
        assert_eq!(got[1].seq, 6);
        assert!(got[1].flags.last_in_event());
        assert!(got[1].flags.best_changed());
        assert_eq!(got[1].exch_ts, 1_006);
        assert_eq!(e.bbo(id).ask, Some((253_000, 100)));
        assert_eq!(e.bbo(id).bid, Some((250_000, 100)));
    }

    /// Records every `bbo_changed` call.
    #[derive(Default)]
    struct BboCalls(Vec<(InstrumentId, Bbo)>);

    impl UpdateSink for BboCalls {
        fn publish(&mut self, _: &BookUpdate) {}
        const WANTS_BBO: bool = true;
        fn bbo_changed(&mut self, _: u64, instrument: InstrumentId, _: &[u8; 8], bbo: &Bbo) {
            self.0.push((instrument, *bbo));
        }
    }

    #[test]
    fn a_stream_message_read_with_its_own_timestamp_is_applied_as_with_it_given() {
        // Every message of a generated stream, some cut short (to nothing, inside the common
        // header, inside the body): the same updates, receive times included, and the same
        // counts as when the caller reads the timestamp and hands it over.
        use fh_replay::{capture::itch_timestamp_ns, gen};
        let opts = gen::Options {
            config: gen::Config {
                symbols: 20,
                seed: 5,
                stop: gen::Stop::Messages(30_000),
            },
            ..gen::Options::default()
        };
        let cfg = EngineConfig::default();
        let (mut given, mut own) = (Engine::new(&cfg), Engine::new(&cfg));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let mut i = 0usize;
        gen::run_itch(&opts, |m| {
            i += 1;
            let m = match i % 97 {
                0 => &m[..0],
                1 => &m[..m.len().min(7)],
                2 => &m[..m.len().min(11)],
                3 => &m[..m.len() - 1],
                _ => m,
            };
            let meta = DatagramMeta {
                recv_ts: itch_timestamp_ns(m).unwrap_or(0),
            };
            given.on_itch_stream_message(3, &meta, m, &mut |u: &BookUpdate| a.push(*u));
            own.on_itch_stream_message_own_ts(3, m, &mut |u: &BookUpdate| b.push(*u));
            Ok(())
        })
        .unwrap();
        assert!(a.len() > 20_000, "{} updates", a.len());
        assert!(a.iter().all(|u| u.recv_ts != 0));
        assert_eq!(a, b);
        assert!(given.stats().itch_malformed > 0);
        assert_eq!(format!("{:?}", given.stats()), format!("{:?}", own.stats()));
    }

    #[test]
    fn bbo_changes_are_reported_exactly_when_a_message_moves_the_bbo() {
        // The oracle reads the message's instrument's BBO before and after every message; the
        // engine reads it only after messages that changed a best level.
        use fh_replay::gen;
        let opts = gen::Options {
            config: gen::Config {
                symbols: 20,
                seed: 3,
                stop: gen::Stop::Messages(60_000),
            },
            ..gen::Options::default()
        };
        let mut e = Engine::new(&EngineConfig::default());
        let meta = DatagramMeta::default();
        let (mut got, mut want) = (BboCalls::default(), Vec::new());
        let mut moved = 0;
        gen::run_itch(&opts, |m| {
            let book = matches!(m[0], b'A' | b'F' | b'E' | b'C' | b'X' | b'D' | b'U');
            let id = InstrumentId::from(u16::from_be_bytes([m[1], m[2]]));
            let before = e.bbo(id);
            e.on_itch_stream_message(0, &meta, m, &mut got);
            let after = e.bbo(id);
            if book && after != before {
                want.push((id, after));
            }
            moved += usize::from(after != before);
            Ok(())
        })
        .unwrap();
        assert!(want.len() > 10_000, "{} BBO changes", want.len());
        assert_eq!(moved, want.len(), "only book messages move a BBO");
        assert_eq!(got.0, want);
    }

    #[test]
    fn a_message_naming_another_locate_reports_the_bbo_of_the_book_it_changed() {
        // An execution and a delete carrying locate 2 for an order resting on locate 1: the
        // order's book changes (counted as a locate mismatch), and so does its BBO.
        use zerocopy::byteorder::big_endian::{U32, U64};
        let mut e = Engine::new(&EngineConfig::default());
        let meta = DatagramMeta::default();
        let mut calls = BboCalls::default();
        let mut add = AddOrder::new(1, 0, 1);
        add.order_reference_number = U64::new(7);
        add.buy_sell_indicator = b'B';
        add.shares = U32::new(100);
        add.stock = alpha(b"TEST");
        add.price = U32::new(10_000);
        e.on_itch_stream_message(0, &meta, add.as_bytes(), &mut calls);
        let mut exec = itch50::OrderExecuted::new(2, 0, 2);
        exec.order_reference_number = U64::new(7);
        exec.executed_shares = U32::new(40);
        e.on_itch_stream_message(0, &meta, exec.as_bytes(), &mut calls);
        let mut del = itch50::OrderDelete::new(2, 0, 3);
        del.order_reference_number = U64::new(7);
        e.on_itch_stream_message(0, &meta, del.as_bytes(), &mut calls);
        assert_eq!(e.itch.anomalies.locate_mismatch, 2);
        let bids: Vec<_> = calls.0.iter().map(|(i, b)| (*i, b.bid)).collect();
        assert_eq!(
            bids,
            [
                (InstrumentId::from(1u16), Some((10_000, 100))),
                (InstrumentId::from(1u16), Some((10_000, 60))),
                (InstrumentId::from(1u16), None),
            ]
        );
    }

    #[test]
    fn malformed_exactly_when_the_decoder_rejects() {
        // The engine views book messages itself: it must count a message malformed exactly
        // when the decoder's `parse` rejects it, and count its type otherwise.
        let mut types: Vec<u8> = itch50::ALL_TYPES.to_vec();
        types.extend([0, b'Z', b'z', 0xff]);
        let mut e = Engine::new(&EngineConfig::default());
        let mut sink = |_: &BookUpdate| {};
        for t in types {
            let len = itch50::len_of(t).unwrap_or(12);
            let mut buf = vec![0u8; len + 3];
            buf[0] = t;
            for (i, b) in buf.iter_mut().enumerate().skip(1) {
                *b = (i as u8).wrapping_mul(37);
            }
            for n in 1..=buf.len() {
                let b = &buf[..n];
                let (bad, typed) = (e.stats.itch_malformed, e.stats.itch_types[usize::from(t)]);
                e.on_itch_stream_message(0, &DatagramMeta::default(), b, &mut sink);
                let ok = itch50::Message::parse(b).is_ok();
                assert_eq!(
                    e.stats.itch_malformed - bad,
                    u64::from(!ok),
                    "type {t} len {n}"
                );
                assert_eq!(
                    e.stats.itch_types[usize::from(t)] - typed,
                    u64::from(ok),
                    "type {t} len {n}"
                );
            }
        }
    }

    /// The prefetch hint takes any bytes (empty, short, any type, a live or unknown
    /// reference) without panicking or changing the engine.
    #[test]
    fn prefetch_hint_takes_any_bytes_and_changes_nothing() {
        let mut e = Engine::new(&EngineConfig::default());
        e.on_datagram(
            0,
            &DatagramMeta::default(),
            &mold_add(1, 7),
            &mut |_: &BookUpdate| {},
        );
        let before = (
            e.itch.orders.len(),
            e.stats.itch_messages(),
            e.stats.updates,
        );
        let mut index = 0;
        for t in [b'A', b'F', b'D', b'E', b'U', b'R', 0, 0xFF] {
            for fill in [0x07u8, 0xFF, 0] {
                for len in 0..48usize {
                    let mut m = vec![fill; len];
                    if let Some(b) = m.first_mut() {
                        *b = t;
                    }
                    e.prefetch_itch_message(&m);
                    // Both stages, for this message and the ones before it.
                    e.prefetch_itch_ahead(index, &m);
                    index += 1;
                }
            }
        }
        // The add itself, seen ahead: its order's slot and level (now live) are asked for.
        let add = mold_add(2, 7);
        for i in 0..2 * ITCH_LEVEL_STAGE_LAG as u64 {
            e.prefetch_itch_ahead(index + i, &add[add.len() - 36..]);
        }
        assert_eq!(
            (
                e.itch.orders.len(),
                e.stats.itch_messages(),
                e.stats.updates
            ),
            before
        );
        assert!(e.itch.orders.get(7).is_some());
    }

    fn mold_add(seq: u64, reference: u64) -> Vec<u8> {
        let mut m = AddOrder::new(1, 0, 1);
        m.order_reference_number = zerocopy::byteorder::big_endian::U64::new(reference);
        m.buy_sell_indicator = b'B';
        m.shares = zerocopy::byteorder::big_endian::U32::new(100);
        m.stock = alpha(b"TEST");
        m.price = zerocopy::byteorder::big_endian::U32::new(10_000 + reference as u32);
        let mut buf = vec![0u8; 200];
        let mut b = PacketBuilder::new(&mut buf, *b"SESSION001", seq).unwrap();
        assert!(b.push(m.as_bytes()));
        b.finish().to_vec()
    }

    /// Datagrams of another venue are counted apart, not as malformed MoldUDP64; damaged
    /// MoldUDP64 packets still are malformed.
    #[test]
    fn foreign_datagrams_are_counted_apart_from_malformed_moldudp64() {
        let good = mold_add(1, 1);
        assert!(is_moldudp64(&good));
        // Heartbeat, end of session and a re-request: bare 20-byte headers, any count.
        for count in [0u16, 0xFFFF, 5] {
            let mut h = good[..20].to_vec();
            h[18..20].copy_from_slice(&count.to_be_bytes());
            assert!(is_moldudp64(&h), "count {count}");
        }
        // An anonymised capture's session of NUL bytes.
        let mut anon = good.clone();
        anon[..10].fill(0);
        assert!(is_moldudp64(&anon));
        // Damaged but MoldUDP64: one more message than blocks, a block running past the end.
        let mut count = good.clone();
        count[19] += 1;
        let mut block = good.clone();
        block[20] = 0xFF;
        let cut = good[..good.len() - 5].to_vec();
        // Foreign: CME MDP3 (binary sequence number and sending time first), Cboe PITCH
        // (binary length, count, unit, sequence), a session of mixed text and NUL, a count
        // the length cannot hold, too short for a header.
        let cme = [
            0x1f, 0xd2, 0x26, 0x01, 0xc0, 0xf1, 0x08, 0x4c, 0x6b, 0x0e, 0x12, 0x14, 0x58, 0x00,
            0x0b, 0x00, 0x20, 0x00, 0x01, 0x00, 0x33, 0x44, 0x55, 0x66,
        ];
        let pitch = [
            0x2e, 0x00, 0x01, 0x21, 0x00, 0x00, 0x00, 0x00, 0x26, 0x2e, 0x30, 0x32, 0x37, 0x77,
            0x75, 0x45, 0x53, 0x50, 0x58, 0x20, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let mut mixed = good.clone();
        mixed[3] = 0;
        let mut many = good.clone();
        many[18..20].copy_from_slice(&1000u16.to_be_bytes());
        let foreign: [&[u8]; 6] = [&cme, &pitch, &mixed, &many, &good[..19], &[]];
        for f in foreign {
            assert!(!is_moldudp64(f), "{f:02x?}");
        }
        let mut e = Engine::new(&EngineConfig::default());
        let meta = DatagramMeta::default();
        for p in [&good[..], &count, &block, &cut].into_iter().chain(foreign) {
            e.on_datagram(0, &meta, p, &mut |_: &BookUpdate| {});
        }
        let s = e.stats();
        assert_eq!(s.datagrams, 10);
        assert_eq!((s.unknown_protocol, s.mold_malformed), (6, 3));
        assert_eq!(s.itch_messages, 1);
    }

    #[test]
    fn updates_are_flagged_stale_while_a_gap_is_open() {
        let mut e = Engine::new(&EngineConfig::default());
        let meta = DatagramMeta::default();
        let mut got: Vec<BookUpdate> = Vec::new();
        let feed = |e: &mut Engine, p: Vec<u8>, got: &mut Vec<BookUpdate>| {
            e.on_datagram(0, &meta, &p, &mut |u: &BookUpdate| got.push(*u));
        };
        feed(&mut e, mold_add(1, 1), &mut got);
        feed(&mut e, mold_add(3, 3), &mut got); // 2 missing
        feed(&mut e, mold_add(2, 2), &mut got); // late: fills the gap
        feed(&mut e, mold_add(4, 4), &mut got);
        feed(&mut e, mold_add(4, 4), &mut got); // duplicate: dropped
        let stale: Vec<(u64, bool)> = got
            .iter()
            .map(|u| (u.seq, u.flags.contains(Flags::STALE)))
            .collect();
        assert_eq!(stale, vec![(1, false), (3, true), (2, false), (4, false)]);
        let q = e.mold_seq.stats;
        assert_eq!(
            (q.gaps, q.out_of_order_packets, q.duplicate_packets),
            (1, 1, 1)
        );
        assert_eq!(e.itch.orders.len(), 4);
    }

    #[test]
    fn mutated_packets_never_panic() {
        // Valid ITCH and DEEP packets with random bytes overwritten, cut or extended: every
        // outcome is counted, none panics (overflow checks are on in test builds).
        let seeds = [
            mold_add(1, 1),
            mold_add(2, 2),
            deep_segment(1, &[(b'8', 0, 100, 5), (b'5', 1, 200, 7)]),
        ];
        // (A mutated session id resets every book: keep the store small so resets are cheap.)
        let mut e = Engine::new(&EngineConfig {
            orders: 64,
            ..EngineConfig::default()
        });
        let meta = DatagramMeta::default();
        let mut x: u64 = 0x1234_5678_9abc_def1;
        let mut n = 0u64;
        for round in 0..4_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut p = seeds[(round % 3) as usize].clone();
            for k in 0..(1 + x % 4) {
                let i = ((x >> (8 * k)) as usize) % p.len();
                p[i] = (x >> (16 + 8 * k)) as u8;
            }
            match (x >> 40) % 4 {
                0 => p.truncate(((x >> 44) as usize) % (p.len() + 1)),
                1 => p.extend_from_slice(&x.to_le_bytes()),
                _ => {}
            }
            e.on_datagram(round, &meta, &p, &mut |_: &BookUpdate| n += 1);
        }
        let s = &e.stats;
        assert_eq!(s.datagrams, 4_000);
        assert!(s.mold_malformed + s.iextp_malformed > 0);
        assert!(s.itch_messages() + s.iex_messages() > 0);
        assert_eq!(s.updates, n);
    }
}
