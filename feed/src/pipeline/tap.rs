//! Taps: consumers of the update stream that run on the engine's thread, inside its sink, and
//! see every update the moment the engine publishes it, before any ring.
//!
//! ```text
//!  Engine::on_datagram ─► PublishSink ─► TapOutlet<O> ─► O (nothing, or the publication ring)
//!                                                    └► Tapped: update written in place into
//!                                                       the tap's Window; the Tap (e.g. fh-shm)
//!                                                       called when it is full, per BBO change
//!                                                       and when the engine is idle
//! ```
//!
//! A tap is added with [`super::Pipeline::tap`]; the library knows nothing of what it does
//! with the updates (the `fh-shm` crate writes them into shared memory for other processes).
//! A tap lends a [`Window`] of slots (e.g. a loaned shared-memory sample) and the engine's sink
//! writes each update straight into the next slot ([`RawUpdate`]): no copy, no call into the
//! tap per update. A tap may lend a top-of-book table too ([`TopRows`]), which the sink
//! writes each best bid/offer change into (under a sequence lock). The tap is called only to
//! take a full window and lend the next ([`Tap::full`]), for a best bid/offer change when it
//! lent no table (or the instrument is outside it), when the engine is idle, and at the end;
//! the window tells it where the last datagram ended.
//!
//! ## Invariants
//! - A tap runs on the engine's thread and never waits for anyone: whatever it costs is
//!   engine time (the report's `engine_cpu_s`). Like the rest of the hot path it must not
//!   allocate, lock or make system calls per update.
//! - A tap sees exactly what a strategy sees, in the same order, in every mode: the digest of
//!   what is written into its windows (and counted as lost when it lends none) equals the
//!   run's digest.
//! - A window's slots are written only below its `room`, each once, in stream order; the tap
//!   that lent them keeps them valid until it lends another window or closes it.
//! - Without a tap nothing changes: the sink is built without [`TapOutlet`].

use crate::directory::SymbolDirectory;
use crate::engine::levels::Bbo;
use crate::strategy::Figures;
use crate::update::{BookUpdate, InstrumentId, RawUpdate};
use std::sync::atomic::{fence, AtomicU64, Ordering};

use super::sink::Outlet;

/// Slots a tap lends for updates to be written in place: `room` of them from `start`, the
/// ones below `next` written. Only [`Window::lend`] (unsafe: the tap vouches for the memory)
/// opens one. Held as pointers (the next slot and the end), so that writing an update costs
/// one compare and one pointer step besides the stores.
#[derive(Debug)]
pub struct Window {
    start: *mut RawUpdate,
    next: *mut RawUpdate,
    end: *mut RawUpdate,
    /// `next` when the last datagram ended (null: none ended in this window).
    ended: *mut RawUpdate,
}

// SAFETY: a window only points into memory its tap lent, and the tap travels with it (both are
// held by one `Tapped`, used by one thread at a time through `&mut`); `Window::lend`'s
// contract makes that memory writable from whichever thread holds the window.
unsafe impl Send for Window {}

impl Default for Window {
    fn default() -> Self {
        Window::closed()
    }
}

impl Window {
    /// A window with no room.
    pub const fn closed() -> Window {
        let p = core::ptr::NonNull::dangling().as_ptr();
        Window {
            start: p,
            next: p,
            end: p,
            ended: core::ptr::null_mut(),
        }
    }

    /// Opens the window on `room` slots from `ptr`, none written yet.
    ///
    /// # Safety
    /// `ptr` is aligned and valid for writes of `room` consecutive [`RawUpdate`]s, from any
    /// thread, until the window is lent again or closed, and nothing else reads or writes
    /// them meanwhile (the tap reads the first [`Window::len`] only after the window is
    /// closed or lent again).
    #[inline]
    pub unsafe fn lend(&mut self, ptr: *mut RawUpdate, room: usize) {
        *self = Window {
            start: ptr,
            next: ptr,
            // SAFETY: `ptr` is valid for `room` slots (the caller's contract), so one past
            // the last is in (or one past) the same allocation.
            end: unsafe { ptr.add(room) },
            ended: core::ptr::null_mut(),
        };
    }

    /// Closes the window (no room): its slots are the tap's again.
    #[inline]
    pub fn close(&mut self) {
        *self = Window::closed();
    }

    /// Updates written.
    #[inline]
    pub fn len(&self) -> usize {
        (self.next as usize - self.start as usize) / core::mem::size_of::<RawUpdate>()
    }

    /// Whether nothing was written.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.next == self.start
    }

    /// Slots lent.
    #[inline]
    pub fn room(&self) -> usize {
        (self.end as usize - self.start as usize) / core::mem::size_of::<RawUpdate>()
    }

    /// Whether the last update written ended a datagram.
    #[inline]
    pub fn at_datagram_end(&self) -> bool {
        !self.is_empty() && self.ended == self.next
    }

    /// Marks the last update written as the end of a datagram.
    #[inline(always)]
    fn end_datagram(&mut self) {
        self.ended = self.next;
    }

    /// Writes `u` into the next slot; false (nothing written) when the window is full.
    #[inline(always)]
    fn write(&mut self, u: &BookUpdate) -> bool {
        if self.next == self.end {
            return false;
        }
        // SAFETY: `next < end`, and slots `start..end` are valid for writes and ours until
        // the window is lent again or closed (`Window::lend`'s contract); a closed window has
        // `next == end` and never gets here. `next + 1` is at most `end`. `RawUpdate` has
        // `BookUpdate`'s size and field offsets (asserted in `update`), so the update goes in
        // as one 64-byte block copy (`copy_nonoverlapping` copies bytes, padding included,
        // without reading them as values); the 4 bytes that are `BookUpdate`'s padding are
        // then set to `reserved`'s 0, so the slot is a valid `RawUpdate` (as
        // `RawUpdate::from(u)` would write it) before anything can read it.
        unsafe {
            core::ptr::copy_nonoverlapping(
                (u as *const BookUpdate).cast::<u8>(),
                self.next.cast::<u8>(),
                core::mem::size_of::<RawUpdate>(),
            );
            core::ptr::addr_of_mut!((*self.next).reserved).write(0);
            self.next = self.next.add(1);
        }
        true
    }
}

/// A top-of-book table a tap lends the sink, which then writes each best bid/offer change
/// into it in place instead of calling [`Tap::bbo`] (a change of an instrument outside the
/// table still goes to [`Tap::bbo`]). `len` rows of eight words, row `i` for instrument `i`,
/// each written under a sequence lock (the writer makes word 0 odd, stores words 1 to 6, makes
/// it even again with `Release`; a reader keeps a copy only if word 0 was even and unchanged
/// around it):
///
/// | word | value |
/// |---:|---|
/// | 0 | sequence lock (odd while written) |
/// | 1, 2 | best bid price (4 implied decimals), shares (both 0: no bid) |
/// | 3, 4 | best offer price, shares (both 0: no offer) |
/// | 5 | feed sequence number of the last update of the event |
/// | 6 | exchange time of the event, ns |
/// | 7 | not written (the tap's) |
#[derive(Debug)]
pub struct TopRows {
    rows: *const [AtomicU64; 8],
    len: usize,
}

// SAFETY: the rows are only accessed atomically, and the memory is the tap's, which travels
// with the `TopRows` (both are held by one `Tapped`); `TopRows::new`'s contract makes it
// accessible from whichever thread holds them.
unsafe impl Send for TopRows {}

impl TopRows {
    /// The table of `len` rows from `rows`.
    ///
    /// # Safety
    /// `rows` is aligned and valid for atomic loads and stores of `len` rows of eight `u64`,
    /// from any thread, for as long as the tap that lends it lives, and nothing else writes
    /// words 0 to 6 of those rows.
    pub unsafe fn new(rows: *const [AtomicU64; 8], len: usize) -> TopRows {
        TopRows { rows, len }
    }

    /// Rows in the table.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table has no row.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes the row of `id`; false (nothing written) when `id` is outside the table.
    #[inline(always)]
    fn write(&self, id: InstrumentId, b: &Bbo, seq: u64, exch_ts: u64) -> bool {
        let i = id as usize;
        if i >= self.len {
            return false;
        }
        // SAFETY: `i < len`, and rows `0..len` from `rows` are valid for atomic access as long
        // as the tap lives (`TopRows::new`'s contract); the tap lives in the same `Tapped`.
        let row = unsafe { &*self.rows.add(i) };
        let (bp, bs) = b.bid.unwrap_or((0, 0));
        let (ap, a_s) = b.ask.unwrap_or((0, 0));
        let v = row[0].load(Ordering::Relaxed);
        row[0].store(v.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        row[1].store(bp as u64, Ordering::Relaxed);
        row[2].store(bs, Ordering::Relaxed);
        row[3].store(ap as u64, Ordering::Relaxed);
        row[4].store(a_s, Ordering::Relaxed);
        row[5].store(seq, Ordering::Relaxed);
        row[6].store(exch_ts, Ordering::Relaxed);
        row[0].store(v.wrapping_add(2), Ordering::Release);
        true
    }
}

/// A consumer of the update stream on the engine's thread (see the module docs).
pub trait Tap: Send {
    /// Called once on the engine's thread before the first datagram, with the engine's
    /// instrument directory (the symbol of every instrument an update names is in it).
    fn start(&mut self, symbols: &SymbolDirectory);
    /// Called once after [`Tap::start`]: the top-of-book table the tap lends, if any (then
    /// [`Tap::bbo`] gets only the changes of instruments outside it).
    fn top_rows(&mut self) -> Option<TopRows> {
        None
    }
    /// An update is to be written and `window` is full (`len == room`; closed, 0 and 0, before
    /// the first update and after the tap closed it): take the updates written in it and lend
    /// the next. A window left without room loses that one update (the tap counts it).
    fn full(&mut self, window: &mut Window);
    /// The best bid/offer of `instrument` changed with the event just written; `seq` is the
    /// feed sequence number of the last update of that event.
    fn bbo(&mut self, exch_ts: u64, seq: u64, instrument: InstrumentId, bbo: &Bbo);
    /// Whether the tap wants [`Tap::datagram_end`] (asked once, at start; default no: the
    /// window already tells where the last datagram ended).
    fn wants_datagram_ends(&self) -> bool {
        false
    }
    /// A datagram is done (its updates are in `window`, and in the ring if there is one):
    /// called only for a tap whose [`Tap::wants_datagram_ends`] is true.
    fn datagram_end(&mut self, window: &Window) {
        let _ = window;
    }
    /// The engine has handled every datagram it had in hand (the end of a live poll batch, a
    /// paced replay about to wait; never in an unpaced replay): hand on what `window` holds.
    fn idle(&mut self, window: &mut Window) {
        let _ = window;
    }
    /// The stream is over (end of the source or a stop): take what `window` holds. Called
    /// once, on the engine's thread; returns what the tap reports of itself.
    fn finish(&mut self, window: &mut Window) -> Figures;
}

impl<T: Tap + ?Sized> Tap for Box<T> {
    fn start(&mut self, symbols: &SymbolDirectory) {
        (**self).start(symbols);
    }
    fn top_rows(&mut self) -> Option<TopRows> {
        (**self).top_rows()
    }
    #[inline]
    fn full(&mut self, window: &mut Window) {
        (**self).full(window);
    }
    #[inline]
    fn bbo(&mut self, exch_ts: u64, seq: u64, instrument: InstrumentId, bbo: &Bbo) {
        (**self).bbo(exch_ts, seq, instrument, bbo);
    }
    fn wants_datagram_ends(&self) -> bool {
        (**self).wants_datagram_ends()
    }
    #[inline]
    fn datagram_end(&mut self, window: &Window) {
        (**self).datagram_end(window);
    }
    #[inline]
    fn idle(&mut self, window: &mut Window) {
        (**self).idle(window);
    }
    fn finish(&mut self, window: &mut Window) -> Figures {
        (**self).finish(window)
    }
}

/// A tap and the window it lent: what the engine's sink calls (also usable on its own, e.g.
/// to drive a tap in a test).
pub struct Tapped<T: Tap> {
    /// The tap.
    pub tap: T,
    window: Window,
    top: Option<TopRows>,
    last_seq: u64,
    datagram_ends: bool,
}

impl<T: Tap> Tapped<T> {
    /// `tap`, started now with `symbols`.
    pub fn new(mut tap: T, symbols: &SymbolDirectory) -> Self {
        tap.start(symbols);
        Tapped {
            top: tap.top_rows(),
            datagram_ends: tap.wants_datagram_ends(),
            tap,
            window: Window::closed(),
            last_seq: 0,
        }
    }

    /// One update, in engine order: written into the window.
    #[inline(always)]
    pub fn push(&mut self, u: &BookUpdate) {
        self.last_seq = u.seq;
        if !self.window.write(u) {
            self.refill(u);
        }
    }

    #[cold]
    #[inline(never)]
    fn refill(&mut self, u: &BookUpdate) {
        self.tap.full(&mut self.window);
        self.window.write(u);
    }

    /// The best bid/offer of `instrument` changed with the event just pushed: written into
    /// the tap's table, or given to the tap.
    #[inline(always)]
    pub fn bbo(&mut self, exch_ts: u64, instrument: InstrumentId, bbo: &Bbo) {
        let seq = self.last_seq;
        let written = match &self.top {
            Some(t) => t.write(instrument, bbo, seq, exch_ts),
            None => false,
        };
        if !written {
            self.tap.bbo(exch_ts, seq, instrument, bbo);
        }
    }

    /// The datagram is done.
    #[inline(always)]
    pub fn datagram_end(&mut self) {
        self.window.end_datagram();
        if self.datagram_ends {
            self.tap.datagram_end(&self.window);
        }
    }

    /// The engine is idle.
    #[inline(always)]
    pub fn idle(&mut self) {
        if !self.window.is_empty() {
            self.tap.idle(&mut self.window);
        }
    }

    /// The stream is over: the tap's figures.
    pub fn finish(&mut self) -> Figures {
        self.tap.finish(&mut self.window)
    }
}

impl<T: Tap> core::fmt::Debug for Tapped<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tapped")
            .field("window", &self.window)
            .field("last_seq", &self.last_seq)
            .finish()
    }
}

/// What a tap reported at the end of a run.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct TapReport {
    /// The tap's name.
    pub name: String,
    /// Its figures.
    pub figures: Figures,
}

/// A named tap, as the pipeline holds it.
pub(crate) struct NamedTap {
    pub(crate) name: String,
    pub(crate) tap: Box<dyn Tap>,
}

impl core::fmt::Debug for NamedTap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NamedTap")
            .field("name", &self.name)
            .finish()
    }
}

struct Started {
    name: String,
    tapped: Tapped<Box<dyn Tap>>,
}

impl core::fmt::Debug for Started {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tap").field("name", &self.name).finish()
    }
}

/// An outlet that hands every call to the inner outlet `O`, then to the tap (if any).
#[derive(Debug)]
pub struct TapOutlet<O: Outlet> {
    /// The inner outlet (nothing, or the ring).
    pub inner: O,
    tap: Option<Started>,
}

impl<O: Outlet> TapOutlet<O> {
    /// `inner` followed by `tap`, started now with `symbols`.
    pub(crate) fn new(inner: O, tap: Option<NamedTap>, symbols: &SymbolDirectory) -> Self {
        TapOutlet {
            inner,
            tap: tap.map(|t| Started {
                name: t.name,
                tapped: Tapped::new(t.tap, symbols),
            }),
        }
    }

    /// Finishes the tap (if any) and gives back the inner outlet and the tap's report.
    pub(crate) fn finish(self) -> (O, Option<TapReport>) {
        let report = self.tap.map(|mut t| TapReport {
            figures: t.tapped.finish(),
            name: t.name,
        });
        (self.inner, report)
    }
}

impl<O: Outlet> Outlet for TapOutlet<O> {
    const WANTS_BBO: bool = true;

    #[inline(always)]
    fn push(&mut self, u: &BookUpdate) {
        self.inner.push(u);
        if let Some(t) = self.tap.as_mut() {
            t.tapped.push(u);
        }
    }

    #[inline(always)]
    fn bbo(&mut self, exch_ts: u64, instrument: InstrumentId, bbo: &Bbo) {
        self.inner.bbo(exch_ts, instrument, bbo);
        if let Some(t) = self.tap.as_mut() {
            t.tapped.bbo(exch_ts, instrument, bbo);
        }
    }

    #[inline(always)]
    fn datagram_end(&mut self) {
        self.inner.datagram_end();
        if let Some(t) = self.tap.as_mut() {
            t.tapped.datagram_end();
        }
    }

    #[inline(always)]
    fn idle(&mut self) {
        self.inner.idle();
        if let Some(t) = self.tap.as_mut() {
            t.tapped.idle();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::engine::digest::Digest;
    use crate::update::Flags;

    #[derive(Default)]
    struct Record {
        calls: Vec<String>,
        digest: Digest,
    }

    /// Lends windows of `room` slots of its own buffer, `budget` of them, then none.
    struct Recorder {
        rec: std::sync::Arc<std::sync::Mutex<Record>>,
        buf: Vec<RawUpdate>,
        budget: usize,
        lost: u64,
    }

    impl Recorder {
        /// Takes what `w` holds (closing it) and records it.
        fn take(&mut self, what: &str, w: &mut Window) {
            let (n, end) = (w.len(), w.at_datagram_end());
            w.close();
            let mut r = self.rec.lock().unwrap();
            let seqs: Vec<u64> = self.buf[..n].iter().map(|u| u.seq).collect();
            for u in &self.buf[..n] {
                r.digest.add(&u.update());
            }
            r.calls.push(format!("{what} {seqs:?} end={end}"));
        }
    }

    impl Tap for Recorder {
        fn start(&mut self, symbols: &SymbolDirectory) {
            let s = format!("start {}", symbols.len());
            self.rec.lock().unwrap().calls.push(s);
        }
        fn full(&mut self, w: &mut Window) {
            self.take("full", w);
            if self.budget == 0 {
                self.lost += 1;
                return;
            }
            self.budget -= 1;
            // SAFETY: `buf` holds `buf.len()` slots, is never resized and lives as long as
            // this tap; it is read only in `take`, after the window is closed.
            unsafe { w.lend(self.buf.as_mut_ptr(), self.buf.len()) };
        }
        fn bbo(&mut self, exch_ts: u64, seq: u64, instrument: InstrumentId, bbo: &Bbo) {
            let s = format!("bbo {exch_ts} {seq} {instrument} {:?}", bbo.bid);
            self.rec.lock().unwrap().calls.push(s);
        }
        fn idle(&mut self, w: &mut Window) {
            self.take("idle", w);
        }
        fn finish(&mut self, w: &mut Window) -> Figures {
            self.take("finish", w);
            let mut f = Figures::default();
            f.count("lost", self.lost);
            f
        }
    }

    #[test]
    fn a_tap_gets_every_update_in_its_windows_and_every_call_in_order() {
        let rec = std::sync::Arc::new(std::sync::Mutex::new(Record::default()));
        let tap = NamedTap {
            name: "rec".into(),
            tap: Box::new(Recorder {
                rec: rec.clone(),
                buf: vec![RawUpdate::default(); 2],
                budget: 2,
                lost: 0,
            }),
        };
        let dir = SymbolDirectory::new(4);
        let mut o = TapOutlet::new((), Some(tap), &dir);
        let u = |i: u64| BookUpdate {
            seq: i,
            price: 100 + i as i64,
            flags: Flags::LAST_IN_EVENT,
            ..Default::default()
        };
        let mut digest = Digest::new();
        for i in 1..=3u64 {
            digest.add(&u(i));
            o.push(&u(i));
        }
        let b = Bbo {
            bid: Some((100, 1)),
            ask: None,
        };
        o.bbo(7, 3, &b);
        o.datagram_end();
        o.idle();
        o.idle();
        o.push(&u(4));
        o.datagram_end();
        o.push(&u(5));
        let ((), report) = o.finish();
        let report = report.unwrap();
        assert_eq!(report.name, "rec");
        let r = rec.lock().unwrap();
        assert_eq!(
            r.calls,
            [
                "start 4",
                "full [] end=false",
                "full [1, 2] end=false",
                "bbo 7 3 3 Some((100, 1))",
                "idle [3] end=true",
                "full [] end=false",
                "full [] end=false",
                "finish [] end=false",
            ],
            "an idle engine with nothing written calls nothing; updates 4 and 5 found no room"
        );
        assert_eq!(format!("{:?}", report.figures.0[0]), "(\"lost\", Count(2))");
        assert_eq!(
            (r.digest.count, r.digest.value()),
            (3, digest.value()),
            "the tap got exactly the updates written"
        );
    }

    /// Lends a table of two rows; records the changes it is given itself.
    struct Table {
        rows: Box<[[AtomicU64; 8]]>,
        given: Vec<(u64, u64, InstrumentId)>,
    }

    impl Tap for Table {
        fn start(&mut self, _: &SymbolDirectory) {}
        fn top_rows(&mut self) -> Option<TopRows> {
            // SAFETY: `rows` holds 2 rows, is never resized and lives as long as this tap;
            // it is accessed only atomically.
            Some(unsafe { TopRows::new(self.rows.as_ptr(), self.rows.len()) })
        }
        fn full(&mut self, _: &mut Window) {}
        fn bbo(&mut self, exch_ts: u64, seq: u64, instrument: InstrumentId, _: &Bbo) {
            self.given.push((exch_ts, seq, instrument));
        }
        fn finish(&mut self, _: &mut Window) -> Figures {
            Figures::default()
        }
    }

    #[test]
    fn best_bid_offer_changes_go_into_a_lent_table_under_its_lock_or_to_the_tap() {
        let table = Table {
            rows: (0..2).map(|_| Default::default()).collect(),
            given: Vec::new(),
        };
        let mut t = Tapped::new(table, &SymbolDirectory::new(4));
        t.tap.rows[1][7].store(0xABCD, Ordering::Relaxed);
        t.push(&BookUpdate {
            seq: 41,
            ..Default::default()
        });
        let b = Bbo {
            bid: Some((1_000_000, 5)),
            ask: None,
        };
        t.bbo(99, 1, &b);
        t.bbo(
            100,
            1,
            &Bbo {
                bid: b.bid,
                ask: Some((1_000_100, 7)),
            },
        );
        t.bbo(101, 3, &b);
        let row: Vec<u64> = t.tap.rows[1]
            .iter()
            .map(|w| w.load(Ordering::Relaxed))
            .collect();
        assert_eq!(row, [4, 1_000_000, 5, 1_000_100, 7, 41, 100, 0xABCD]);
        assert_eq!(
            t.tap.given,
            [(101, 41, 3)],
            "outside the table: given to the tap"
        );
        assert!(t.tap.rows[0].iter().all(|w| w.load(Ordering::Relaxed) == 0));
    }

    #[test]
    fn a_window_writes_below_its_room_and_tells_where_the_datagram_ended() {
        // Slots holding something else (an earlier sample's bytes): every byte of a slot
        // written is the update's, the trailing 4 zero.
        let old = RawUpdate {
            seq: 99,
            reserved: u32::MAX,
            flags: u16::MAX,
            ..Default::default()
        };
        let mut buf = vec![old; 3];
        let mut w = Window::closed();
        assert!(
            !w.write(&BookUpdate::default()),
            "a closed window takes nothing"
        );
        // SAFETY: `buf` has 3 slots, outlives `w`'s use and is read only after `w` is closed.
        unsafe { w.lend(buf.as_mut_ptr(), 3) };
        let u = |seq| BookUpdate {
            seq,
            kind: crate::update::UpdateKind::Trade,
            side: crate::update::Side::Ask,
            flags: Flags::CROSS,
            ..Default::default()
        };
        assert!(w.write(&u(1)) && w.write(&u(2)));
        assert!(!w.at_datagram_end());
        w.end_datagram();
        assert!(w.at_datagram_end());
        assert!(w.write(&u(3)) && !w.write(&u(4)), "full at its room");
        assert!(!w.at_datagram_end());
        assert_eq!((w.len(), w.room()), (3, 3));
        w.close();
        assert_eq!(buf[2].update(), u(3));
        assert_eq!(
            (buf[2].kind, buf[2].side, buf[2].flags, buf[2].reserved),
            (3, 1, 16, 0)
        );
        for (i, slot) in buf.iter().enumerate() {
            assert_eq!(*slot, RawUpdate::from(&u(i as u64 + 1)), "slot {i}");
        }
    }
}
