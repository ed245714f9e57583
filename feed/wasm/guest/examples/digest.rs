//! The `DigestOnly` example strategy as a WebAssembly module (`fh replay --pipeline --wasm digest.wasm`).
#![no_std]
#![no_main]

fh_guest::export_strategy!(
    fh_guest::examples::DigestOnly,
    fh_guest::examples::DigestOnly::new(),
    1024
);
