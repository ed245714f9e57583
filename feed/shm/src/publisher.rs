//! The publisher: a [`Tap`] on the engine's thread that writes book updates straight into a
//! loaned iceoryx2 sample and sends it once the engine has handled every datagram it had in
//! hand, and keeps the top-of-book table and the symbols current.
//!
//! ```text
//!  update ─► (none loaned: loan a slice of MAX_SAMPLE_UPDATES) ─► write in place
//!            (sample full: send it first)
//!  bbo    ─► top-of-book row (sequence lock)          symbol first seen ─► its row's name
//!  idle   ─► header {first, count, publish_ns, run} ─► send (never waits)
//! ```
//!
//! So a sample holds the datagrams the engine handled back to back: one datagram when they
//! come apart (live at ordinary rates, a paced replay), several in a burst (a live poll batch)
//! and in an unpaced replay (which is never idle), up to MAX_SAMPLE_UPDATES updates. One
//! loan and send per sample is what iceoryx2 costs; coalescing bursts keeps that off the
//! per-datagram path when it matters most.
//!
//! The service overflows: a subscriber whose queue is full loses its oldest sample, never
//! the publisher's time. A loan that fails (it cannot while subscribers stay within the
//! service's limits) drops that datagram's updates, counted; the stream's numbering goes on,
//! so every subscriber sees the gap.

use std::time::{Duration, Instant};

use fh_feed::directory::SymbolDirectory;
use fh_feed::engine::levels::Bbo;
use fh_feed::pipeline::tap::Tap;
use fh_feed::strategy::Figures;
use fh_feed::update::{BookUpdate, InstrumentId};
use iceoryx2::prelude::*;
use iceoryx2::sample_mut_uninit::SampleMutUninit;

use crate::layout::{SampleHeader, ShmUpdate, MAX_SAMPLE_UPDATES, SAMPLE_DATAGRAM_END, SAMPLE_END};
use crate::top::{table_path, TopWriter};
use crate::{monotonic_raw_ns, ServiceSettings, ShmError};

type Loan = SampleMutUninit<ipc::Service, [core::mem::MaybeUninit<ShmUpdate>], SampleHeader>;

/// The iceoryx2 objects of the publisher. They share reference counts (`Rc`) among
/// themselves and with loaned samples, which is why iceoryx2 makes them `!Send`.
struct Ports {
    publisher: iceoryx2::port::publisher::Publisher<ipc::Service, [ShmUpdate], SampleHeader>,
    service: crate::UpdatesService,
    node: Node<ipc::Service>,
}

/// Counters of the publisher.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PublisherStats {
    /// Updates published (the next update's index).
    pub updates: u64,
    /// Samples sent.
    pub samples: u64,
    /// Samples sent because they were full (the rest at the engine's idle moments).
    pub full_samples: u64,
    /// Updates dropped because no sample could be loaned.
    pub dropped: u64,
    /// Failed loans.
    pub loan_errors: u64,
    /// Failed sends.
    pub send_errors: u64,
    /// BBO changes of instruments outside the table.
    pub top_outside: u64,
    /// Sum over samples of the subscribers each was delivered to.
    pub deliveries: u64,
}

/// The shared-memory publisher of a pipeline (add it with `Pipeline::tap`).
pub struct ShmPublisher {
    name: String,
    ports: Ports,
    loan: Option<Loan>,
    /// The loaned sample's first element (valid while `loan` is `Some`).
    slots: *mut ShmUpdate,
    len: usize,
    /// Slots of the loaned sample (MAX_SAMPLE_UPDATES), 0 while none is loaned.
    room: usize,
    /// The last update written ended a datagram.
    boundary: bool,
    top: TopWriter,
    named: Vec<bool>,
    symbols: Option<SymbolDirectory>,
    run: u64,
    stats: PublisherStats,
}

// SAFETY: every `Rc` that iceoryx2 shares among the node, the service, the publisher and a
// loaned sample is owned by this one value (`ports`, `loan`): none is handed out, and a
// loaned sample never leaves it (nor does `slots`, a pointer into that sample). Moving the value to another thread moves all the holders of
// each count together, so no two threads ever touch one count; the value is used by one
// thread at a time (`&mut self`), and iceoryx2's shared memory is accessed through its own
// atomics.
unsafe impl Send for ShmPublisher {}

impl core::fmt::Debug for ShmPublisher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ShmPublisher")
            .field("name", &self.name)
            .field("stats", &self.stats)
            .finish()
    }
}

impl ShmPublisher {
    /// Creates (or takes over) the service `fh/NAME/updates` and the table
    /// `/dev/shm/fh-NAME.top` with `rows` rows (instrument ids `0..rows`). Stale resources
    /// of dead processes are removed first.
    pub fn create(name: &str, settings: &ServiceSettings, rows: usize) -> Result<Self, ShmError> {
        crate::check_name(name)?;
        crate::remove_dead_nodes();
        let node = crate::node(name, "pub")?;
        let service = crate::updates_service(&node, name, settings)?;
        let publisher = service
            .publisher_builder()
            .initial_max_slice_len(MAX_SAMPLE_UPDATES)
            .max_loaned_samples(1)
            .create()
            .map_err(|e| ShmError(format!("shm {name}: cannot create the publisher: {e:?}")))?;
        let run = run_id();
        let path = table_path(name);
        let top = TopWriter::create(&path, rows, run)
            .map_err(|e| ShmError(format!("{}: {}", path.display(), fh_feed::io_words(&e))))?;
        Ok(ShmPublisher {
            name: name.to_string(),
            ports: Ports {
                publisher,
                service,
                node,
            },
            loan: None,
            slots: core::ptr::null_mut(),
            len: 0,
            room: 0,
            boundary: false,
            top,
            named: vec![false; rows],
            symbols: None,
            run,
            stats: PublisherStats::default(),
        })
    }

    /// Subscribers connected now.
    pub fn subscribers(&self) -> usize {
        self.ports.service.dynamic_config().number_of_subscribers()
    }

    /// Waits (before the run: this sleeps) until at least `n` subscribers are connected, for
    /// at most `timeout`; how many there are.
    pub fn wait_for_subscribers(&self, n: usize, timeout: Duration) -> usize {
        let t0 = Instant::now();
        loop {
            let k = self.subscribers();
            if k >= n || t0.elapsed() >= timeout {
                return k;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The counters.
    pub fn stats(&self) -> PublisherStats {
        self.stats
    }

    /// The node's name (`fh-NAME-pub`).
    pub fn node_name(&self) -> String {
        self.ports.node.name().to_string()
    }

    #[inline]
    fn loan(&mut self) -> bool {
        match self.ports.publisher.loan_slice_uninit(MAX_SAMPLE_UPDATES) {
            Ok(mut l) => {
                let p = l.payload_mut();
                if p.len() < MAX_SAMPLE_UPDATES {
                    self.stats.loan_errors += 1;
                    return false;
                }
                self.slots = p.as_mut_ptr().cast::<ShmUpdate>();
                self.room = MAX_SAMPLE_UPDATES;
                self.loan = Some(l);
                true
            }
            Err(_) => {
                self.stats.loan_errors += 1;
                false
            }
        }
    }

    /// The loaned sample is full, or none is loaned: sends the full one, loans the next;
    /// whether a sample with room is loaned.
    #[inline(never)]
    fn make_room(&mut self) -> bool {
        if self.loan.is_some() {
            self.stats.full_samples += 1;
            self.send(self.flags());
        }
        self.loan()
    }

    /// Sends the loaned sample with `flags`.
    #[inline]
    fn send(&mut self, flags: u32) {
        let Some(mut l) = self.loan.take() else {
            return;
        };
        let count = self.len;
        *l.user_header_mut() = SampleHeader {
            first: self.stats.updates - count as u64,
            publish_ns: monotonic_raw_ns(),
            run: self.run,
            count: count as u32,
            flags,
        };
        // SAFETY: the payload is a slice of `ShmUpdate`, plain integers without padding, in
        // the service's mmapped data segment, whose bytes are always initialised (zero pages
        // or the updates of earlier samples): every bit pattern is a valid `ShmUpdate`. The
        // first `count` elements were written for this sample; readers are told to read only
        // those (`SampleHeader::count`).
        let sample = unsafe { l.assume_init() };
        self.len = 0;
        self.room = 0;
        match sample.send() {
            Ok(n) => {
                self.stats.samples += 1;
                self.stats.deliveries += n as u64;
            }
            Err(_) => self.stats.send_errors += 1,
        }
        self.top.set_updates(self.stats.updates);
    }

    /// The flags of the loaned sample if sent now.
    #[inline]
    fn flags(&self) -> u32 {
        if self.boundary {
            SAMPLE_DATAGRAM_END
        } else {
            0
        }
    }

    /// Sends the end-of-stream marker (an empty sample flagged [`SAMPLE_END`]).
    fn end(&mut self) {
        if self.len > 0 {
            self.send(self.flags());
        }
        self.loan = None;
        self.room = 0;
        if self.loan() {
            self.send(SAMPLE_END);
        }
        self.top.end();
    }

    #[inline]
    fn name_instrument(&mut self, id: InstrumentId) {
        let i = id as usize;
        if i < self.named.len() && !self.named[i] {
            if let Some(s) = self.symbols.as_ref().and_then(|d| d.get(id)) {
                self.named[i] = true;
                self.top.set_symbol(id, s.0);
            }
        }
    }
}

impl Tap for ShmPublisher {
    fn start(&mut self, symbols: &SymbolDirectory) {
        self.symbols = Some(symbols.clone());
    }

    #[inline]
    fn update(&mut self, u: &BookUpdate) {
        self.name_instrument(u.instrument);
        if self.len == self.room && !self.make_room() {
            self.boundary = false;
            self.stats.updates += 1;
            self.stats.dropped += 1;
            return;
        }
        self.boundary = false;
        // SAFETY: `len < room` here (checked above, or `make_room` gave a fresh loan), and
        // `room` is MAX_SAMPLE_UPDATES only while a sample is loaned (0 otherwise), so
        // `slots` points at its payload of at least MAX_SAMPLE_UPDATES elements (checked at
        // the loan), which stays mapped and ours until the sample is sent.
        // `MaybeUninit<ShmUpdate>` has `ShmUpdate`'s layout.
        unsafe { self.slots.add(self.len).write(ShmUpdate::from(u)) };
        self.len += 1;
        self.stats.updates += 1;
    }

    #[inline]
    fn bbo(&mut self, exch_ts: u64, seq: u64, instrument: InstrumentId, b: &Bbo) {
        let (bp, bs) = b.bid.unwrap_or((0, 0));
        let (ap, a_s) = b.ask.unwrap_or((0, 0));
        let row = [bp as u64, bs, ap as u64, a_s, seq, exch_ts];
        self.stats.top_outside += u64::from(!self.top.set_bbo(instrument, row));
    }

    #[inline]
    fn datagram_end(&mut self) {
        self.boundary = true;
    }

    #[inline]
    fn idle(&mut self) {
        if self.len > 0 {
            self.send(self.flags());
        }
    }

    fn finish(&mut self) -> Figures {
        self.end();
        let s = self.stats;
        let mut f = Figures::default();
        f.text("service", crate::updates_service_name(&self.name))
            .text("table", table_path(&self.name).display().to_string())
            .count("updates", s.updates)
            .count("samples", s.samples)
            .count("deliveries", s.deliveries)
            .count("full samples", s.full_samples)
            .count("dropped", s.dropped)
            .count("loan errors", s.loan_errors)
            .count("send errors", s.send_errors)
            .count("top outside", s.top_outside)
            .count("subscribers at end", self.subscribers() as u64);
        f
    }
}

impl Drop for ShmPublisher {
    fn drop(&mut self) {
        // A loaned sample must go back before its publisher.
        self.loan = None;
    }
}

/// A run id: the start time in ns mixed with the process id (never 0).
fn run_id() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    (t ^ u64::from(std::process::id()).rotate_left(40)) | 1
}
