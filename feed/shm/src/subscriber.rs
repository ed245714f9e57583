//! The Rust reader: subscribes to `fh/NAME/updates`, hands out each sample as a [`Batch`]
//! (the updates where the publisher wrote them), counts exactly what it missed, and reads the
//! top-of-book table.
//!
//! ```no_run
//! use fh_shm::{Subscriber, SubscriberOptions};
//! let mut sub = Subscriber::open("feed", &SubscriberOptions::default())?;
//! while !sub.ended() {
//!     match sub.receive()? {
//!         Some(batch) => {
//!             for u in batch.updates() {
//!                 let _ = (u.instrument, u.price, u.shares);
//!             }
//!         }
//!         None => std::thread::yield_now(),
//!     }
//! }
//! println!("missed {} updates", sub.missed());
//! # Ok::<(), fh_shm::ShmError>(())
//! ```

use std::time::{Duration, Instant};

use iceoryx2::prelude::*;
use iceoryx2::sample::Sample;

use crate::layout::{SampleHeader, ShmUpdate, TopRow, SAMPLE_END};
use crate::top::{table_path, TopReader};
use crate::{ShmError, UpdatesService};

/// How a subscriber connects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubscriberOptions {
    /// Samples its queue holds (at most the service's `max_buffer`; the oldest is dropped
    /// beyond).
    pub buffer: usize,
    /// How long [`Subscriber::open`] waits for the publisher to create the service.
    pub wait: Duration,
}

impl Default for SubscriberOptions {
    fn default() -> Self {
        SubscriberOptions {
            buffer: 1024,
            wait: Duration::from_secs(10),
        }
    }
}

/// One received sample: the updates of one datagram or of several handled back to back (a
/// datagram larger than a sample spans samples), read in place.
pub struct Batch {
    sample: Sample<ipc::Service, [ShmUpdate], SampleHeader>,
    missed: u64,
}

impl core::fmt::Debug for Batch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Batch")
            .field("header", self.header())
            .field("missed", &self.missed)
            .finish()
    }
}

impl Batch {
    /// The sample's header.
    pub fn header(&self) -> &SampleHeader {
        self.sample.user_header()
    }

    /// The updates, in the publisher's shared memory.
    pub fn updates(&self) -> &[ShmUpdate] {
        let p = self.sample.payload();
        &p[..(self.header().count as usize).min(p.len())]
    }

    /// Updates missed right before this batch.
    pub fn missed(&self) -> u64 {
        self.missed
    }

    /// Whether this is the end-of-stream marker.
    pub fn is_end(&self) -> bool {
        self.header().flags & SAMPLE_END != 0
    }
}

/// A subscriber of `fh/NAME/updates` (see the module docs).
pub struct Subscriber {
    name: String,
    sub: iceoryx2::port::subscriber::Subscriber<ipc::Service, [ShmUpdate], SampleHeader>,
    service: UpdatesService,
    _node: Node<ipc::Service>,
    table: Option<TopReader>,
    run: u64,
    next: Option<u64>,
    joined_at: Option<u64>,
    missed: u64,
    received: u64,
    samples: u64,
    ended: bool,
}

impl core::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Subscriber")
            .field("name", &self.name)
            .field("received", &self.received)
            .field("missed", &self.missed)
            .finish()
    }
}

impl Subscriber {
    /// Subscribes to publisher `name`, waiting up to `opts.wait` for its service; removes
    /// what dead processes left behind first.
    pub fn open(name: &str, opts: &SubscriberOptions) -> Result<Subscriber, ShmError> {
        crate::check_name(name)?;
        crate::remove_dead_nodes();
        let node = crate::node(name, "sub")?;
        let service_name = ServiceName::new(&crate::updates_service_name(name))
            .map_err(|e| ShmError(format!("shm {name}: service name: {e:?}")))?;
        let t0 = Instant::now();
        let service = loop {
            let r = node
                .service_builder(&service_name)
                .publish_subscribe::<[ShmUpdate]>()
                .user_header::<SampleHeader>()
                .open();
            match r {
                Ok(s) => break s,
                Err(e) if t0.elapsed() >= opts.wait => {
                    return Err(ShmError(format!(
                        "shm {name}: no service {} after {:.1} s: {e:?}",
                        crate::updates_service_name(name),
                        opts.wait.as_secs_f64()
                    )))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        let max = service.static_config().subscriber_max_buffer_size();
        let sub = service
            .subscriber_builder()
            .buffer_size(opts.buffer.clamp(1, max))
            .create()
            .map_err(|e| ShmError(format!("shm {name}: cannot subscribe: {e:?}")))?;
        // Every sample sent from now on reaches this subscriber (or counts as missed by it):
        // the publisher connects new subscribers before its next send, and the table's
        // `updates` is the next sample's `first` once a send is done. Without a table the
        // publisher has sent nothing yet.
        let table = TopReader::open(&table_path(name)).ok();
        let (run, next) = match &table {
            Some(t) => (t.run(), t.updates()),
            None => (0, 0),
        };
        Ok(Subscriber {
            name: name.to_string(),
            sub,
            service,
            _node: node,
            table,
            run,
            next: Some(next),
            joined_at: Some(next),
            missed: 0,
            received: 0,
            samples: 0,
            ended: false,
        })
    }

    /// The next sample, if one is there (never waits).
    pub fn receive(&mut self) -> Result<Option<Batch>, ShmError> {
        let sample = self
            .sub
            .receive()
            .map_err(|e| ShmError(format!("shm {}: receive: {e:?}", self.name)))?;
        let Some(sample) = sample else {
            return Ok(None);
        };
        let h = *sample.user_header();
        if self.run == 0 {
            self.run = h.run;
        } else if h.run != self.run {
            // Another publisher run than the table said: its numbering starts again.
            self.run = h.run;
            self.next = None;
            self.joined_at = None;
            self.ended = false;
        }
        let missed = match self.next {
            Some(n) => h.first.saturating_sub(n),
            None => {
                self.joined_at = Some(h.first);
                0
            }
        };
        self.missed += missed;
        self.next = Some(h.first + u64::from(h.count));
        self.received += u64::from(h.count);
        self.samples += 1;
        self.ended |= h.flags & SAMPLE_END != 0;
        if self.table.as_ref().is_none_or(|t| t.run() != self.run) {
            // Mapped now, while the publisher is surely there (it removes the file at its end;
            // a mapping outlives that).
            self.table();
        }
        Ok(Some(Batch { sample, missed }))
    }

    /// Updates missed since the first received sample (exact: from the stream indices).
    pub fn missed(&self) -> u64 {
        self.missed
    }

    /// Updates received.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Samples received.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Stream index from which this subscriber receives every update or counts it missed: 0
    /// when it was there from the start, more when it joined late.
    pub fn joined_at(&self) -> Option<u64> {
        self.joined_at
    }

    /// Whether the end-of-stream marker was received.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Whether a publisher is connected to the service. A publisher that is not may still
    /// have left samples to receive: to tell whether the stream is over, use
    /// [`Subscriber::publisher_gone`].
    pub fn publisher_alive(&self) -> bool {
        self.service.dynamic_config().number_of_publishers() > 0
    }

    /// Whether the publisher is gone and left nothing to receive: the stream is over (if
    /// [`Subscriber::ended`] is false, without its end marker).
    ///
    /// The publisher sends its last samples and its end marker just before it leaves, so an
    /// empty [`Subscriber::receive`] followed by "no publisher" does not mean the stream was
    /// cut: the publisher may have sent and left in between. This checks the publisher first,
    /// then this subscriber's queue (iceoryx2 keeps a gone publisher's undelivered samples
    /// receivable), so it is true only when nothing the publisher sent is left.
    pub fn publisher_gone(&self) -> Result<bool, ShmError> {
        if self.publisher_alive() {
            return Ok(false);
        }
        let pending = self
            .sub
            .has_samples()
            .map_err(|e| ShmError(format!("shm {}: receive: {e:?}", self.name)))?;
        Ok(!pending)
    }

    /// The top-of-book table, mapped on first use (`None` while the publisher has made none);
    /// mapped again when the publisher's run changes.
    pub fn table(&mut self) -> Option<&TopReader> {
        let stale = self
            .table
            .as_ref()
            .is_some_and(|t| self.run != 0 && t.run() != self.run);
        if self.table.is_none() || stale {
            if let Ok(t) = TopReader::open(&table_path(&self.name)) {
                self.table = Some(t);
            }
        }
        self.table.as_ref()
    }

    /// The top of book of instrument `id` now.
    pub fn top(&mut self, id: u32) -> Option<TopRow> {
        self.table()?.row(id)
    }
}
