//! The fh-wasm tests: each file of this folder is a module of this one test binary (one build
//! and one link against wasmtime for them all); `common` holds their shared set-up.

mod cli;
mod common;
mod live;
mod sandbox;
mod shared;
