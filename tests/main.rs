//! The end-to-end tests: each file of this folder is a module of this one test binary (one
//! build and one link for them all). `cargo test -p fh-tests --test e2e live_recovery::` runs
//! one file's tests.
//!
//! The global allocator is the counting one of [`fh_tests::alloc`]: it counts only the
//! allocations of a thread inside [`fh_tests::alloc::counted`] (the no-allocation tests) and is
//! the system allocator otherwise.

#[global_allocator]
static GLOBAL: fh_tests::alloc::Counting = fh_tests::alloc::Counting;

mod cli_contract;
mod decode_cli;
mod decode_oracle;
mod deep_oracle;
mod export;
mod gen;
mod gen_day;
mod latency;
mod latency_noalloc;
mod live_cli;
mod live_itch;
mod live_noalloc;
mod live_real;
mod live_recovery;
mod live_recovery_iex;
mod live_recovery_noalloc;
mod live_rx;
mod no_alloc;
mod pipeline_modes;
mod replay_cli;
mod replay_gen;
mod replay_pipeline;
mod shm;
mod shm_noalloc;
