//! fh-guest: write an fh strategy that runs as a sandboxed WebAssembly module.
//!
//! ```text
//!   fh (host, wasmtime)                          guest (this crate, wasm32-unknown-unknown)
//!   ring batch ──► copies each 64-byte update ──► REGION: [BookUpdate; N] in linear memory
//!              ──► fh_on_batch(first, count) ───► Strategy::on_update(&REGION[i], host) …
//!                                                  Strategy::on_batch_end(host)
//!   fh.top / fh.symbol / fh.now  ◄────────────── host calls (Host trait, `Imports`)
//!   fh.signal(instrument, kind, value) ◄──────── signals → the run's CSV and report
//! ```
//!
//! - [`BookUpdate`] has exactly the host's layout (`#[repr(C, align(64))]`, 64 bytes,
//!   little-endian, field offsets asserted below); `kind` and `side` are raw bytes
//!   ([`kind`], [`side`]), `flags` a bit set ([`flags`]).
//! - A strategy implements [`Strategy`] against a [`Host`]; [`export_strategy!`] exports the
//!   callbacks fh calls (`fh_region`, `fh_region_len`, `fh_on_batch`, `fh_on_missed`,
//!   `fh_on_finish`) and the update region. The same strategy type runs natively (fh-wasm's
//!   `native::Native`) against a host that reads fh's tables directly: the same logic both ways.
//! - No allocator, no std, no WASI: the module imports only the `fh` functions.
//!
//! The C header `fh_guest.h` beside this crate declares the same ABI for
//! `clang --target=wasm32`.
#![no_std]

pub mod examples;

/// One book update, the host's record byte for byte (see the crate docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct BookUpdate {
    /// Feed sequence number of the message that caused this update.
    pub seq: u64,
    /// Exchange timestamp, ns.
    pub exch_ts: u64,
    /// Local capture or receive time of the datagram, ns.
    pub recv_ts: u64,
    /// Local time the engine applied the update, ns on fh's clock.
    pub engine_ts: u64,
    /// Price, 4 implied decimals.
    pub price: i64,
    /// Shares at the level (or of the trade).
    pub shares: u64,
    /// Orders at the level (0 when unknown).
    pub order_count: u32,
    /// Instrument index.
    pub instrument: u32,
    /// What changed ([`kind`]).
    pub kind: u8,
    /// Which side ([`side`]).
    pub side: u8,
    /// Flag bits ([`flags`]).
    pub flags: u16,
}

const _: () = {
    assert!(core::mem::size_of::<BookUpdate>() == 64);
    assert!(core::mem::offset_of!(BookUpdate, price) == 32);
    assert!(core::mem::offset_of!(BookUpdate, order_count) == 48);
    assert!(core::mem::offset_of!(BookUpdate, instrument) == 52);
    assert!(core::mem::offset_of!(BookUpdate, kind) == 56);
    assert!(core::mem::offset_of!(BookUpdate, side) == 57);
    assert!(core::mem::offset_of!(BookUpdate, flags) == 58);
    assert!(core::mem::size_of::<Bbo>() == 48);
};

/// [`BookUpdate::kind`] values.
pub mod kind {
    /// A price level appeared.
    pub const ADD_LEVEL: u8 = 0;
    /// A level's shares or order count changed.
    pub const CHANGE_LEVEL: u8 = 1;
    /// A level disappeared.
    pub const DELETE_LEVEL: u8 = 2;
    /// A trade printed.
    pub const TRADE: u8 = 3;
    /// Trading status changed.
    pub const STATUS: u8 = 4;
    /// A trade was broken.
    pub const TRADE_BREAK: u8 = 5;
}

/// [`BookUpdate::side`] values.
pub mod side {
    /// Buy side.
    pub const BID: u8 = 0;
    /// Sell side.
    pub const ASK: u8 = 1;
    /// No side.
    pub const NONE: u8 = 2;
}

/// [`BookUpdate::flags`] bits.
pub mod flags {
    /// The best bid or offer changed with this update.
    pub const BEST_CHANGED: u16 = 1 << 0;
    /// Last update of the venue event.
    pub const LAST_IN_EVENT: u16 = 1 << 1;
    /// The book may be stale (a gap is open).
    pub const STALE: u16 = 1 << 2;
    /// A trade not to be counted in volume.
    pub const NON_PRINTABLE: u16 = 1 << 3;
    /// A cross (auction) trade.
    pub const CROSS: u16 = 1 << 4;
}

impl BookUpdate {
    /// Whether the flag bits `f` are all set.
    #[inline]
    pub fn has(&self, f: u16) -> bool {
        self.flags & f == f
    }
}

/// Top of book of one instrument as the host's table holds it (48 bytes, `fh.top`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Bbo {
    /// Best bid, 4 implied decimals.
    pub bid_price: i64,
    /// Shares at the best bid (0: no bid).
    pub bid_shares: u64,
    /// Best offer.
    pub ask_price: i64,
    /// Shares at the best offer (0: no offer).
    pub ask_shares: u64,
    /// Feed sequence number of the update that set it.
    pub seq: u64,
    /// Its exchange time, ns.
    pub exch_ts: u64,
}

/// What a strategy can ask of the host.
pub trait Host {
    /// Top of book of `instrument` (`None` before its first change).
    fn top(&mut self, instrument: u32) -> Option<Bbo>;
    /// The symbol of `instrument`, space-padded, if named.
    fn symbol(&mut self, instrument: u32) -> Option<[u8; 8]>;
    /// The current time, ns since the Unix epoch (the capture time in a replay).
    fn now(&mut self) -> u64;
    /// Emits a signal: the host appends `(instrument, kind, value)` to the run's signals.
    fn signal(&mut self, instrument: u32, kind: u32, value: i64);
    /// Sets the report figure `name` (at most 64 bytes) to `value` (`hex`: shown in hex).
    fn figure(&mut self, name: &str, value: i64, hex: bool);
}

/// Trading logic over book updates (the guest-side twin of fh's `Strategy`).
pub trait Strategy {
    /// One update, in ring order.
    fn on_update<H: Host>(&mut self, u: &BookUpdate, host: &mut H);
    /// After the last update of a batch.
    fn on_batch_end<H: Host>(&mut self, host: &mut H) {
        let _ = host;
    }
    /// `count` updates were lost (never-wait ring).
    fn on_missed<H: Host>(&mut self, count: u64, host: &mut H) {
        let _ = (count, host);
    }
    /// Once, after the last update (report figures here).
    fn on_finish<H: Host>(&mut self, host: &mut H) {
        let _ = host;
    }
}

/// The stable digest of an update stream, as fh's `--digest` computes it (wyhash's folded
/// multiply over six words per update; `recv_ts` and `engine_ts` left out).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digest {
    h: u64,
    /// Updates folded in.
    pub count: u64,
}

const P: [u64; 8] = [
    0xa076_1d64_78bd_642f,
    0xe703_7ed1_a0b4_28db,
    0x8ebc_6af0_9c88_c6e3,
    0x5899_65cc_7537_4cc3,
    0x1d8e_4e27_c47d_124f,
    0x0000_0100_0000_01b3,
    0x9e37_79b9_7f4a_7c15,
    0xcbf2_9ce4_8422_2325,
];

#[inline(always)]
fn mum(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

impl Default for Digest {
    fn default() -> Self {
        Self::new()
    }
}

impl Digest {
    /// The digest of the empty stream.
    pub const fn new() -> Self {
        Digest { h: P[7], count: 0 }
    }

    /// Folds one update in.
    #[inline]
    pub fn add(&mut self, u: &BookUpdate) {
        let w5 = u64::from(u.order_count) | u64::from(u.instrument) << 32;
        let w6 = u64::from(u.kind) | u64::from(u.side) << 8 | u64::from(u.flags) << 16;
        let x1 = mum(u.seq ^ P[0], u.exch_ts ^ P[1]);
        let x2 = mum(u.price as u64 ^ P[2], u.shares ^ P[3]);
        let x3 = mum(w5 ^ P[4], w6 ^ P[5]);
        self.h = mum(self.h ^ x1, x2 ^ x3 ^ P[6]);
        self.count += 1;
    }

    /// The current value.
    pub fn value(&self) -> u64 {
        self.h
    }
}

/// The host's functions, imported from module `fh` (wasm32 only).
#[cfg(target_arch = "wasm32")]
pub mod sys {
    use super::Bbo;
    #[link(wasm_import_module = "fh")]
    extern "C" {
        /// Writes the top of book of `instrument` at `out`; 1 if known, 0 if not.
        pub fn top(instrument: u32, out: *mut Bbo) -> u32;
        /// Writes the 8-byte symbol of `instrument` at `out`; 1 if named, 0 if not.
        pub fn symbol(instrument: u32, out: *mut [u8; 8]) -> u32;
        /// Now, ns since the Unix epoch.
        pub fn now() -> u64;
        /// Emits a signal.
        pub fn signal(instrument: u32, kind: u32, value: i64);
        /// Sets a report figure (`hex` 1: shown in hex).
        pub fn figure(name: *const u8, len: u32, value: i64, hex: u32);
    }
}

/// The host as seen from inside the module: calls the `fh` imports.
#[cfg(target_arch = "wasm32")]
#[derive(Debug, Default)]
pub struct Imports;

#[cfg(target_arch = "wasm32")]
impl Host for Imports {
    #[inline]
    fn top(&mut self, instrument: u32) -> Option<Bbo> {
        let mut b = Bbo::default();
        // SAFETY: `b` is a live, writable 48-byte Bbo in this module's memory.
        (unsafe { sys::top(instrument, &mut b) } == 1).then_some(b)
    }
    #[inline]
    fn symbol(&mut self, instrument: u32) -> Option<[u8; 8]> {
        let mut s = [0u8; 8];
        // SAFETY: `s` is a live, writable 8-byte array.
        (unsafe { sys::symbol(instrument, &mut s) } == 1).then_some(s)
    }
    #[inline]
    fn now(&mut self) -> u64 {
        // SAFETY: no arguments.
        unsafe { sys::now() }
    }
    #[inline]
    fn signal(&mut self, instrument: u32, kind: u32, value: i64) {
        // SAFETY: plain values.
        unsafe { sys::signal(instrument, kind, value) }
    }
    #[inline]
    fn figure(&mut self, name: &str, value: i64, hex: bool) {
        // SAFETY: `name` is a live byte string of `len` bytes.
        unsafe { sys::figure(name.as_ptr(), name.len() as u32, value, u32::from(hex)) }
    }
}

/// A module that panics traps (the host reports it and stops the module).
#[cfg(all(target_arch = "wasm32", not(test)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

/// Exports a strategy: `export_strategy!(Type, init_expr, REGION_RECORDS)` defines the update
/// region (`REGION_RECORDS` 64-byte records) and the callbacks fh calls.
///
/// One module holds one strategy; fh calls it from one thread at a time.
#[macro_export]
macro_rules! export_strategy {
    ($ty:ty, $init:expr, $records:expr) => {
        static mut FH_REGION: [$crate::BookUpdate; $records] = [$crate::BookUpdate {
            seq: 0,
            exch_ts: 0,
            recv_ts: 0,
            engine_ts: 0,
            price: 0,
            shares: 0,
            order_count: 0,
            instrument: 0,
            kind: 0,
            side: 0,
            flags: 0,
        }; $records];
        static mut FH_STRATEGY: $ty = $init;

        /// Where fh writes the updates of a batch.
        #[no_mangle]
        pub extern "C" fn fh_region() -> u32 {
            core::ptr::addr_of_mut!(FH_REGION) as u32
        }

        /// How many records the region holds.
        #[no_mangle]
        pub extern "C" fn fh_region_len() -> u32 {
            $records as u32
        }

        /// Updates `first .. first + count` of the region are a batch.
        #[no_mangle]
        pub extern "C" fn fh_on_batch(first: u32, count: u32) {
            // SAFETY: fh calls one callback at a time, so these are the only live references;
            // the range is clamped to the region.
            let (s, r) = unsafe {
                (
                    &mut *core::ptr::addr_of_mut!(FH_STRATEGY),
                    &*core::ptr::addr_of!(FH_REGION),
                )
            };
            let first = (first as usize).min(r.len());
            let end = first.saturating_add(count as usize).min(r.len());
            let mut h = $crate::Imports;
            for u in &r[first..end] {
                $crate::Strategy::on_update(s, u, &mut h);
            }
            $crate::Strategy::on_batch_end(s, &mut h);
        }

        /// `count` updates were missed.
        #[no_mangle]
        pub extern "C" fn fh_on_missed(count: u64) {
            // SAFETY: as in `fh_on_batch`.
            let s = unsafe { &mut *core::ptr::addr_of_mut!(FH_STRATEGY) };
            $crate::Strategy::on_missed(s, count, &mut $crate::Imports);
        }

        /// The run is over.
        #[no_mangle]
        pub extern "C" fn fh_on_finish() {
            // SAFETY: as in `fh_on_batch`.
            let s = unsafe { &mut *core::ptr::addr_of_mut!(FH_STRATEGY) };
            $crate::Strategy::on_finish(s, &mut $crate::Imports);
        }
    };
}
