//! Shared helpers of the benches: [`hop`], the probe that measures the in-process ring hop
//! the way `fh shm-tail` measures the shared-memory hop (the `ring_hop` example and
//! `shm_latency.sh` run it); [`floor`], the least work an ITCH L3 book must do (touch only,
//! order store only, a minimal L3 book), which the `book_floor` example times and checks
//! against `fh`.
//!
//! Invariants: nothing here runs in `fh` itself; a probe only reads what the pipeline
//! publishes and allocates before the run; the floors keep the invariants their module states
//! (unit-tested against a naive model).

pub mod floor;
pub mod hop;
