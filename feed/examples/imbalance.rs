//! Order-book imbalance signal on the real engine, the very code `fh --strategy
//! imbalance` runs: `cargo run --release --example imbalance -- [FILE] [--live GROUP:PORT]`.

mod common;
#[path = "../src/pipeline/builtin/imbalance.rs"]
mod imbalance;

fn main() {
    common::run("imbalance", imbalance::Imbalance::default());
}
