//! The publisher: a [`Tap`] on the engine's thread that lends the engine's sink a loaned
//! iceoryx2 sample as its window (the engine writes each update straight into it), sends it
//! once the engine has handled every datagram it had in hand, and keeps the top-of-book table
//! and the symbols current.
//!
//! ```text
//!  update ─► (the sink writes it into the window: the loaned sample's next slot)
//!  full   ─► send the full sample (if any) ─► loan the next, lend it as the window
//!  bbo    ─► (the sink writes the top-of-book row, sequence lock, into the lent table)
//!  idle   ─► symbols named since the last send ─► table;
//!            header {first, count, publish_ns, run, flags} ─► send (never waits)
//! ```
//!
//! So a sample holds the datagrams the engine handled back to back: one datagram when they
//! come apart (live at ordinary rates, a paced replay), several in a burst (a live poll batch)
//! and in an unpaced replay (which is never idle), up to MAX_SAMPLE_UPDATES updates. One
//! loan and send per sample is what iceoryx2 costs; coalescing bursts keeps that off the
//! per-datagram path when it matters most. The publisher is called once per sample, not per
//! update; before each send it copies the symbols the engine named since the last one
//! (the directory's change log) into the table, so a subscriber finds the symbol of every
//! instrument in a sample it receives.
//!
//! The service overflows: a subscriber whose queue is full loses its oldest sample, never
//! the publisher's time. A loan that fails (it cannot while subscribers stay within the
//! service's limits) drops the update waiting for it, counted; the stream's numbering goes
//! on, so every subscriber sees the gap.

use std::time::{Duration, Instant};

use fh_feed::directory::SymbolDirectory;
use fh_feed::engine::levels::Bbo;
use fh_feed::pipeline::tap::{Tap, TopRows, Window};
use fh_feed::strategy::Figures;
use fh_feed::update::{InstrumentId, RawUpdate};
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
    /// Updates sent or dropped (the next sample's first index).
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
    /// The sample lent to the engine's sink as its window (the window is closed while none).
    loan: Option<Loan>,
    top: TopWriter,
    symbols: Option<SymbolDirectory>,
    /// The directory's change log cursor.
    names_seen: u64,
    run: u64,
    stats: PublisherStats,
}

// SAFETY: every `Rc` that iceoryx2 shares among the node, the service, the publisher and a
// loaned sample is owned by this one value (`ports`, `loan`): none is handed out, and a
// loaned sample never leaves it (only its payload is lent as the engine's window, which lives
// in the same `Tapped` as this value). Moving the value to another thread moves all the
// holders of each count together, so no two threads ever touch one count; the value is used by one
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
            top,
            symbols: None,
            names_seen: 0,
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

    /// Loans a sample and lends it as `w`; false (and `w` closed) if none could be loaned.
    #[inline]
    fn loan(&mut self, w: &mut Window) -> bool {
        w.close();
        match self.ports.publisher.loan_slice_uninit(MAX_SAMPLE_UPDATES) {
            Ok(mut l) => {
                let p = l.payload_mut();
                if p.len() < MAX_SAMPLE_UPDATES {
                    self.stats.loan_errors += 1;
                    return false;
                }
                let slots = p.as_mut_ptr().cast::<RawUpdate>();
                // SAFETY: the payload is MAX_SAMPLE_UPDATES elements (checked above) of
                // `MaybeUninit<ShmUpdate>`, which has `RawUpdate`'s layout (asserted in
                // `layout`), aligned for it; it stays mapped and ours until the sample is sent
                // or dropped, which happens only in `send` and `end` after the window is
                // closed (or in `Drop`, when the window is not used any more). Nothing else
                // touches an unsent sample.
                unsafe { w.lend(slots, MAX_SAMPLE_UPDATES) };
                self.loan = Some(l);
                true
            }
            Err(_) => {
                self.stats.loan_errors += 1;
                false
            }
        }
    }

    /// Sends the loaned sample with the updates written in `w` (closing it), `flags` added.
    #[inline]
    fn send(&mut self, w: &mut Window, flags: u32) {
        let count = w.len();
        let flags = flags
            | if w.at_datagram_end() {
                SAMPLE_DATAGRAM_END
            } else {
                0
            };
        w.close();
        let Some(mut l) = self.loan.take() else {
            return;
        };
        self.name_instruments();
        let first = self.stats.updates;
        self.stats.updates += count as u64;
        *l.user_header_mut() = SampleHeader {
            first,
            publish_ns: monotonic_raw_ns(),
            run: self.run,
            count: count as u32,
            flags,
        };
        // SAFETY: the payload is a slice of `ShmUpdate`, plain integers without padding, in
        // the service's mmapped data segment, whose bytes are always initialised (zero pages
        // or the updates of earlier samples): every bit pattern is a valid `ShmUpdate`. The
        // first `count` elements were written for this sample through the window; readers are
        // told to read only those (`SampleHeader::count`).
        let sample = unsafe { l.assume_init() };
        match sample.send() {
            Ok(n) => {
                self.stats.samples += 1;
                self.stats.deliveries += n as u64;
            }
            Err(_) => self.stats.send_errors += 1,
        }
        self.top.set_updates(self.stats.updates);
    }

    /// Sends what `w` holds, then the end-of-stream marker (an empty sample flagged
    /// [`SAMPLE_END`]).
    fn end(&mut self, w: &mut Window) {
        if !w.is_empty() {
            self.send(w, 0);
        }
        w.close();
        self.loan = None;
        if self.loan(w) {
            w.close();
            self.send(w, SAMPLE_END);
        }
        self.top.end();
    }

    /// Copies the symbols the engine named since the last call into the table.
    #[inline]
    fn name_instruments(&mut self) {
        if let Some(d) = self.symbols.as_ref() {
            let top = &self.top;
            d.changes(&mut self.names_seen, |id, s| {
                if let Some(s) = s {
                    top.set_symbol(id, s.0);
                }
            });
        }
    }
}

impl Tap for ShmPublisher {
    fn start(&mut self, symbols: &SymbolDirectory) {
        self.symbols = Some(symbols.clone());
        self.names_seen = 0;
        self.name_instruments();
    }

    fn top_rows(&mut self) -> Option<TopRows> {
        Some(self.top.lend_rows())
    }

    fn full(&mut self, w: &mut Window) {
        if self.loan.is_some() {
            self.stats.full_samples += 1;
            self.send(w, 0);
        }
        if !self.loan(w) {
            self.stats.updates += 1;
            self.stats.dropped += 1;
        }
    }

    #[inline]
    fn bbo(&mut self, exch_ts: u64, seq: u64, instrument: InstrumentId, b: &Bbo) {
        let (bp, bs) = b.bid.unwrap_or((0, 0));
        let (ap, a_s) = b.ask.unwrap_or((0, 0));
        let row = [bp as u64, bs, ap as u64, a_s, seq, exch_ts];
        self.stats.top_outside += u64::from(!self.top.set_bbo(instrument, row));
    }

    fn idle(&mut self, w: &mut Window) {
        if !w.is_empty() {
            self.send(w, 0);
        }
    }

    fn finish(&mut self, w: &mut Window) -> Figures {
        self.end(w);
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
