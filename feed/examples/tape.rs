//! Trade tape with volume and VWAP per symbol on the real engine, the very code
//! `fh --strategy tape` runs: `cargo run --release --example tape -- [FILE] [--live G:P]`.

mod common;
#[path = "../src/pipeline/builtin/tape.rs"]
mod tape;

fn main() {
    common::run("tape", tape::Tape::default());
}
