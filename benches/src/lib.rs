//! Shared helpers of the benches: [`hop`], the probe that measures the in-process ring hop
//! the way `fh shm-tail` measures the shared-memory hop (the `ring_hop` example and
//! `shm_latency.sh` run it).
//!
//! Invariants: nothing here runs in `fh` itself; a probe only reads what the pipeline
//! publishes and allocates before the run.

pub mod hop;
