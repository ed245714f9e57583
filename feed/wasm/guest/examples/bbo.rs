//! The `BboTracker` example strategy as a WebAssembly module (`fh replay --pipeline --wasm bbo.wasm`).
#![no_std]
#![no_main]

fh_guest::export_strategy!(
    fh_guest::examples::BboTracker,
    fh_guest::examples::BboTracker::new(),
    1024
);
