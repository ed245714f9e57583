//! The ring's steady state allocates nothing: a counting `#[global_allocator]` counts every
//! allocation made by threads that armed it, and after a warm-up the publish / consume path
//! (claims, event publishes, batch guards, ring handlers and strategy runners with their
//! contexts, never-wait lapping and resync, top-of-book reads and writes, symbol lookups, the
//! wall clock, idle strategies) must not allocate once, on the producer's thread or on a
//! consumer thread.

use fh_feed::agent::{Agent, Backoff, IdleStrategy, SpinYield};
use fh_feed::directory::SymbolDirectory;
use fh_feed::ring::{ring, Consumer, Handler, Policy, Producer, RingConfig};
use fh_feed::strategy::{Context, MarketView, Strategy, StrategyRunner, TimeSource};
use fh_feed::topbook::{top_book, Bbo};
use fh_feed::update::{BookUpdate, Side};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: forwards every call to the system allocator unchanged; it only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ARMED.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn arm(on: bool) {
    ARMED.with(|a| a.set(on));
}

/// Tracks a running sum so the work is not optimised away; as a strategy it also reads the
/// context (top of book, symbol, time) on every update.
#[derive(Debug, Default)]
struct Summer {
    sum: i64,
    batches: u64,
    missed: u64,
    tops: u64,
    named: u64,
    now: u64,
}

impl Strategy for Summer {
    fn on_update(&mut self, u: &BookUpdate, ctx: &Context<'_>) {
        self.sum += u.price;
        if let Some(b) = ctx.top(u.instrument) {
            self.tops += (b.bid_shares > 0) as u64;
        }
        if ctx.symbol(u.instrument).is_some() {
            self.named += 1;
        }
        self.now = self.now.max(ctx.now());
    }
    fn on_batch_end(&mut self, _ctx: &Context<'_>) {
        self.batches += 1;
    }
    fn on_missed(&mut self, count: u64, _ctx: &Context<'_>) {
        self.missed += count;
    }
}

/// The ring's own callback interface, without a runner.
impl Handler<BookUpdate> for Summer {
    fn on_record(&mut self, u: &BookUpdate, _seq: u64, _end_of_batch: bool) {
        self.sum += u.price;
    }
    fn on_missed(&mut self, count: u64) {
        self.missed += count;
    }
    fn on_batch_end(&mut self) {
        self.batches += 1;
    }
}

fn view(top: &fh_feed::topbook::TopBookReader, time: TimeSource) -> MarketView {
    let symbols = SymbolDirectory::new(4);
    symbols.set(1, b"AAPL    ");
    MarketView {
        top: top.clone(),
        symbols,
        time,
    }
}

fn publish_events(
    p: &mut Producer<BookUpdate>,
    events: u64,
    top: &mut fh_feed::topbook::TopBookWriter,
) {
    for e in 0..events {
        for k in 0..3 {
            let mut claim = p.claim();
            claim.price = (e * 3 + k) as i64;
            claim.instrument = (e % 4) as u32;
            claim.side = Side::Bid;
        }
        p.publish();
        top.set(
            (e % 4) as u32,
            &Bbo {
                bid_price: e as i64,
                bid_shares: 1,
                seq: e,
                ..Bbo::default()
            },
        );
    }
}

fn drain_poll(c: &mut Consumer<BookUpdate>) -> u64 {
    let mut n = 0;
    while let Some(mut b) = c.poll() {
        while let Some(ev) = b.next() {
            n += ev.update.price as u64 & 1;
        }
    }
    n
}

#[test]
fn steady_state_allocates_nothing() {
    // --- single thread: no-loss and never-wait rings, runners (capture and wall time) and
    // plain polling, top of book.
    let (mut top, reader) = top_book(4);
    let (mut p, mut cs) = ring::<BookUpdate>(RingConfig::new(64, 3, Policy::NoLoss)).unwrap();
    let mut agent = StrategyRunner::new(
        "sum",
        cs.pop().unwrap(),
        Summer::default(),
        view(&reader, TimeSource::Capture),
        None,
    );
    let mut wall = StrategyRunner::new(
        "wall",
        cs.pop().unwrap(),
        Summer::default(),
        view(&reader, TimeSource::Wall),
        None,
    );
    let mut poller = cs.pop().unwrap();
    let (mut lossy, mut lossy_cs) =
        ring::<BookUpdate>(RingConfig::new(16, 2, Policy::NeverWait)).unwrap();
    let mut lapped = lossy_cs.pop().unwrap();
    let mut lapped_runner = StrategyRunner::new(
        "lapped",
        lossy_cs.pop().unwrap(),
        Summer::default(),
        view(&reader, TimeSource::Capture),
        None,
    );
    let mut idle = Backoff::default();
    let mut spin = SpinYield::new(10);
    let mut round = |arm_it: bool| {
        arm(arm_it);
        for _ in 0..200 {
            publish_events(&mut p, 5, &mut top);
            agent.do_work(0);
            wall.do_work(0);
            drain_poll(&mut poller);
            publish_events(&mut lossy, 20, &mut top); // 60 updates into 16 slots: lapped
            drain_poll(&mut lapped);
            lapped_runner.do_work(0);
            assert!(reader.get(1).is_some());
            idle.idle(1);
            spin.idle(0);
            spin.idle(1);
        }
        arm(false);
    };
    round(false);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    round(true);
    assert_eq!(
        ALLOCATIONS.load(Ordering::Relaxed) - before,
        0,
        "single-threaded steady state allocated"
    );
    assert!(lapped.missed() > 0 && agent.strategy().batches > 0);
    assert!(lapped_runner.strategy().missed > 0 && lapped_runner.stats().missed > 0);
    let (a, w) = (agent.strategy(), wall.strategy());
    assert!(a.tops > 0 && a.named > 0 && w.now > 0);
    assert_eq!((a.sum, a.batches), (w.sum, w.batches));

    // --- across threads: the consumer arms itself after its warm-up.
    let (mut p, mut cs) = ring::<BookUpdate>(RingConfig::new(256, 1, Policy::NoLoss)).unwrap();
    let mut c = cs.pop().unwrap();
    let armed = Arc::new(AtomicBool::new(false));
    let armed2 = Arc::clone(&armed);
    let consumer = std::thread::spawn(move || {
        let mut strategy = Summer::default();
        let mut idle = SpinYield::new(50);
        let mut n = 0u64;
        while n < 1_000 {
            let k = c.poll_with(&mut strategy);
            n += k as u64;
            idle.idle(k);
        }
        arm(true);
        armed2.store(true, Ordering::Release);
        while !c.is_finished() {
            let k = c.poll_with(&mut strategy);
            idle.idle(k);
        }
        arm(false);
        strategy.sum
    });
    let (mut top, _reader) = top_book(4);
    publish_events(&mut p, 400, &mut top); // 1,200 updates: the consumer warms up on these
    while !armed.load(Ordering::Acquire) {
        std::thread::yield_now();
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    arm(true);
    publish_events(&mut p, 100_000, &mut top);
    arm(false);
    drop(p);
    let sum = consumer.join().unwrap();
    assert_eq!(
        ALLOCATIONS.load(Ordering::Relaxed) - before,
        0,
        "producer or consumer thread allocated"
    );
    assert_eq!(sum, (0..1_200).sum::<i64>() + (0..300_000).sum::<i64>());
}
