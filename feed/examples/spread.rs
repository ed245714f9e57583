//! Spread/BBO tracker on the real engine, the very code `fh --strategy spread` runs:
//! `cargo run --release --example spread -- [FILE] [--speed X] [--live GROUP:PORT]`.

mod common;
#[path = "../src/pipeline/builtin/spread.rs"]
mod spread;

fn main() {
    common::run("spread", spread::Spread::default());
}
