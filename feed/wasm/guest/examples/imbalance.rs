//! The `Imbalance` example strategy as a WebAssembly module (`fh replay --pipeline --wasm imbalance.wasm`).
#![no_std]
#![no_main]

fh_guest::export_strategy!(
    fh_guest::examples::Imbalance,
    fh_guest::examples::Imbalance::new(),
    1024
);
