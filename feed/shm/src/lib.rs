//! # fh-shm: book updates and the top of book in shared memory
//!
//! Strategies in other processes (other teams, other languages, crash isolation) read the
//! feed handler's book updates where the handler wrote them. The transport is iceoryx2's
//! publish-subscribe over shared memory; this crate adds the publisher that runs inside the
//! `fh` pipeline (a `fh_feed::pipeline::tap::Tap` on the engine's thread), a
//! [`Subscriber`] for Rust readers, and the layouts every language reads
//! ([`layout`]; the Python package `fh_shm` in `python/` declares the same).
//!
//! ```text
//!  fh replay|live … --shm NAME
//!    engine ─► ShmPublisher (engine thread; a tap lending the loaned sample as its window)
//!                ├─ per datagram (or burst): loan a slice, the engine writes in place, send ─► fh/NAME/updates
//!                │     (iceoryx2 publish-subscribe, safe overflow)        ├─► Subscriber (Rust)
//!                │                                                        └─► fh_shm (Python)
//!                └─ best bid/offer and symbols ─► /dev/shm/fh-NAME.top (seqlocked rows,
//!                                                  mapped read-only by every reader)
//! ```
//!
//! ## Names
//! - `fh/NAME/updates`: the iceoryx2 publish-subscribe service. Payload: a slice of
//!   [`layout::ShmUpdate`] (type name `fh::BookUpdate`, 64 bytes, alignment 8), user header
//!   [`layout::SampleHeader`] (`fh::SampleHeader`, 32 bytes). One publisher, up to
//!   [`ServiceSettings::max_subscribers`] subscribers.
//! - `/dev/shm/fh-NAME.top`: the top-of-book table, one row per instrument id, with the
//!   instrument's symbol ([`layout::TopRow`], [`top`]).
//! - iceoryx2 nodes are named `fh-NAME-pub` and `fh-NAME-sub`.
//!
//! `NAME` is 1 to 48 characters of `A-Z a-z 0-9 _ -`.
//!
//! ## Invariants
//! - The publisher never waits for a subscriber: the service overflows (a full subscriber
//!   queue loses its oldest sample), so a slow, stuck or dead subscriber costs the handler
//!   nothing. Each update has a stream index (`SampleHeader::first` + position), so a
//!   subscriber knows exactly how many updates it missed.
//! - A sample holds the updates of the datagrams the engine handled back to back (one datagram
//!   unless they came in a burst; an unpaced replay fills samples), at most
//!   [`layout::MAX_SAMPLE_UPDATES`], written in place by the engine's sink (the sample is the
//!   tap's `Window`): no intermediate copy, no call into the publisher per update. It is sent when
//!   the engine has handled every datagram it had in hand (`Tap::idle`) or when full. The
//!   stream ends with an empty sample flagged [`layout::SAMPLE_END`].
//! - Subscribers map the samples and the table read-only: none can write what another reads.
//!   Resources of processes that died (SIGKILL) are removed by the next publisher or
//!   subscriber that starts; a subscriber may join or leave at any time, and one that joins
//!   late reads the current top of book from the table.
//! - A sample is sent only after the symbols of the instruments in it are in the table (the
//!   publisher copies what the engine named since its last send, from the directory's change
//!   log).
//! - Per update the publisher allocates nothing, takes no lock and makes no system call. Per
//!   sample, iceoryx2 0.10 allocates one small block when it loans (its `ChunkMutSharedState`
//!   `Rc`): exactly one allocation per sample, pinned by `tests/shm_noalloc.rs`. A new
//!   subscriber's connection is set up by the next send (iceoryx2 maps its queue then).

pub mod layout;
pub mod publisher;
pub mod subscriber;
pub mod top;

use iceoryx2::prelude::*;

pub use publisher::ShmPublisher;
pub use subscriber::{Batch, Subscriber, SubscriberOptions};

/// An error of this crate: one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShmError(pub String);

impl core::fmt::Display for ShmError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ShmError {}

/// The service's limits, fixed by whoever creates it (the publisher, normally).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceSettings {
    /// Samples each subscriber's queue may hold (the oldest is dropped beyond).
    pub max_buffer: usize,
    /// Subscribers at once.
    pub max_subscribers: usize,
    /// Samples a subscriber may hold at once.
    pub max_borrowed: usize,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        ServiceSettings {
            max_buffer: 1024,
            max_subscribers: 8,
            max_borrowed: 4,
        }
    }
}

/// Largest `max_buffer` (samples of 16 KiB each, per subscriber: a queue of `n` samples can
/// hold `n` × 16 KiB of the service's shared memory).
pub const MAX_BUFFER: usize = 1 << 16;

/// The iceoryx2 service of the updates.
pub(crate) type UpdatesService = iceoryx2::service::port_factory::publish_subscribe::PortFactory<
    ipc::Service,
    [layout::ShmUpdate],
    layout::SampleHeader,
>;

/// The name of the updates service of publisher `name`.
pub fn updates_service_name(name: &str) -> String {
    format!("fh/{name}/updates")
}

/// Checks a publisher name (`A-Z a-z 0-9 _ -`, 1 to 48 characters).
pub fn check_name(name: &str) -> Result<(), ShmError> {
    let ok = (1..=48).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ShmError(format!(
            "shm name '{name}': 1 to 48 characters of A-Z a-z 0-9 _ -"
        )))
    }
}

/// A node named `fh-NAME-ROLE`, without signal handlers (the shell owns the signals).
pub(crate) fn node(name: &str, role: &str) -> Result<Node<ipc::Service>, ShmError> {
    let node_name = NodeName::new(&format!("fh-{name}-{role}"))
        .map_err(|e| ShmError(format!("shm {name}: node name: {e:?}")))?;
    NodeBuilder::new()
        .name(&node_name)
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<ipc::Service>()
        .map_err(|e| ShmError(format!("shm {name}: cannot create an iceoryx2 node: {e:?}")))
}

/// Opens or creates the updates service with `settings`.
pub(crate) fn updates_service(
    node: &Node<ipc::Service>,
    name: &str,
    s: &ServiceSettings,
) -> Result<UpdatesService, ShmError> {
    let service_name = ServiceName::new(&updates_service_name(name))
        .map_err(|e| ShmError(format!("shm {name}: service name: {e:?}")))?;
    node.service_builder(&service_name)
        .publish_subscribe::<[layout::ShmUpdate]>()
        .user_header::<layout::SampleHeader>()
        .enable_safe_overflow(true)
        .history_size(0)
        .subscriber_max_buffer_size(s.max_buffer)
        .subscriber_max_borrowed_samples(s.max_borrowed)
        .max_subscribers(s.max_subscribers)
        .max_publishers(1)
        .open_or_create()
        .map_err(|e| {
            ShmError(format!(
                "shm {name}: cannot open or create service {}: {e:?}",
                updates_service_name(name)
            ))
        })
}

/// Removes what processes that died without cleaning up left behind (their nodes and
/// ports); how many dead nodes were found.
pub fn remove_dead_nodes() -> usize {
    let mut dead = 0;
    let _ = Node::<ipc::Service>::list(Config::global_config(), |state| {
        if let NodeState::Dead(view) = state {
            dead += 1;
            let _ = view.try_remove_stale_resources();
        }
        CallbackProgression::Continue
    });
    dead
}

/// `CLOCK_MONOTONIC_RAW`, ns (the clock of `SampleHeader::publish_ns`; a vDSO call).
#[inline]
pub fn monotonic_raw_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC_RAW exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_RAW, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("feed_1-a").is_ok());
        for bad in ["", "a/b", "a b", &"x".repeat(49)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert_eq!(updates_service_name("n"), "fh/n/updates");
    }
}
