//! The floor under any ITCH decoder in the peer kit's decode harnesses
//! (`../shared/bench/peers/rsdec`): the harnesses' own work with a decoder that costs nothing.
//!
//! Every harness counts messages by type byte and folds the fields a book builder needs into a
//! checksum, which takes one dispatch on the message type per message: a jump through a table,
//! whose target a branch predictor cannot know when the types follow one another at random.
//! This program does that work over fh's reader (`Capture` + `ItchMessages`, as the kit's
//! `dec_fh` harness) with no decoder at all, so whatever it costs, every decoder pays:
//!
//! - `frame`: the framing and the count by type, the locate folded into the checksum; no branch
//!   on the type (a lower bound, not a harness: it reads no type's fields).
//! - `fields`: `frame` plus the harnesses' per-type field reads, straight from the bytes after
//!   one length check per type (`first_chunk::<LEN>`): the dispatch of every harness, with the
//!   cheapest checked decode under it. Its checksum equals `dec_fh`'s and `dec_itch5`'s on the
//!   same file.
//!
//! ```sh
//! cargo build --release -p fh-benches --example decode_floor
//! taskset -c 1 target/release/examples/decode_floor frame|fields FILE.NASDAQ_ITCH50
//! ```
//!
//! Prints what the kit's harnesses print (`messages N checksum X`, the counts by type, `loop_s …
//! ns_per_msg …`, the timer starting before the file is opened, as theirs), so the kit's
//! `bench.py` parsing reads it. Exit 2 on a usage error, 1 when the file cannot be read.

use std::process::ExitCode;
use std::time::Instant;

use fh_replay::capture::Capture;

const USAGE: &str = "usage: decode_floor frame|fields FILE.NASDAQ_ITCH50";

/// The kit's `rsdec::Tally`: counts by type byte and a checksum of the folded fields.
struct Tally {
    types: [u64; 256],
    sum: u64,
}

impl Tally {
    #[inline(always)]
    fn add(&mut self, t: u8, locate: u16, v: u64) {
        self.types[usize::from(t)] += 1;
        self.sum = self.sum.wrapping_add(v ^ u64::from(locate)).rotate_left(1);
    }
}

#[inline(always)]
fn u16_at<const N: usize>(m: &[u8; N], at: usize) -> u16 {
    u16::from_be_bytes([m[at], m[at + 1]])
}

#[inline(always)]
fn u32_at<const N: usize>(m: &[u8; N], at: usize) -> u64 {
    u64::from(u32::from_be_bytes([m[at], m[at + 1], m[at + 2], m[at + 3]]))
}

#[inline(always)]
fn u64_at<const N: usize>(m: &[u8; N], at: usize) -> u64 {
    u64::from_be_bytes([
        m[at],
        m[at + 1],
        m[at + 2],
        m[at + 3],
        m[at + 4],
        m[at + 5],
        m[at + 6],
        m[at + 7],
    ])
}

/// The harnesses' fold of one message (spec offsets: order reference at 11, etc.); `false` when
/// a known type is shorter than the spec's length (counted as malformed, as the harnesses do).
#[inline(always)]
fn fold(d: &[u8], t: &mut Tally) -> bool {
    // A known type shorter than its spec length, or an empty message: refused.
    macro_rules! need {
        ($len:literal) => {
            match d.first_chunk::<$len>() {
                Some(m) => m,
                None => return false,
            }
        };
    }
    // Types whose harness arm folds the locate only.
    macro_rules! locate_only {
        ($($ty:literal => $len:literal),*) => {
            match d.first() {
                $( Some(&$ty) => {
                    let m = need!($len);
                    t.add($ty, u16_at(m, 1), 0);
                } )*
                Some(&other) => t.add(other, 0, 0),
                None => return false,
            }
        };
    }
    match d.first() {
        Some(b'A') => {
            let m = need!(36);
            t.add(
                b'A',
                u16_at(m, 1),
                u64_at(m, 11) ^ u32_at(m, 20) ^ u32_at(m, 32),
            );
        }
        Some(b'F') => {
            let m = need!(40);
            t.add(
                b'F',
                u16_at(m, 1),
                u64_at(m, 11) ^ u32_at(m, 20) ^ u32_at(m, 32),
            );
        }
        Some(b'E') => {
            let m = need!(31);
            t.add(b'E', u16_at(m, 1), u64_at(m, 11) ^ u32_at(m, 19));
        }
        Some(b'C') => {
            let m = need!(36);
            t.add(
                b'C',
                u16_at(m, 1),
                u64_at(m, 11) ^ u32_at(m, 19) ^ u32_at(m, 32),
            );
        }
        Some(b'X') => {
            let m = need!(23);
            t.add(b'X', u16_at(m, 1), u64_at(m, 11) ^ u32_at(m, 19));
        }
        Some(b'D') => {
            let m = need!(19);
            t.add(b'D', u16_at(m, 1), u64_at(m, 11));
        }
        Some(b'U') => {
            let m = need!(35);
            let v = u64_at(m, 11) ^ u64_at(m, 19) ^ u32_at(m, 27) ^ u32_at(m, 31);
            t.add(b'U', u16_at(m, 1), v);
        }
        Some(b'P') => {
            let m = need!(44);
            t.add(
                b'P',
                u16_at(m, 1),
                u64_at(m, 11) ^ u32_at(m, 20) ^ u32_at(m, 32),
            );
        }
        _ => locate_only!(
            b'S' => 12, b'R' => 39, b'H' => 25, b'Y' => 20, b'L' => 26, b'V' => 35, b'W' => 12,
            b'K' => 28, b'J' => 35, b'h' => 21, b'Q' => 40, b'B' => 19, b'I' => 50, b'N' => 20,
            b'O' => 48
        ),
    }
    true
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Frame,
    Fields,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, path) = match args.as_slice() {
        [m, f] if m == "frame" => (Mode::Frame, f),
        [m, f] if m == "fields" => (Mode::Fields, f),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let start = Instant::now();
    let cap = match Capture::open(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("decode_floor: {e}");
            return ExitCode::from(1);
        }
    };
    let mut msgs = match cap.itch_messages() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("decode_floor: {e}");
            return ExitCode::from(1);
        }
    };
    let mut t = Tally {
        types: [0; 256],
        sum: 0,
    };
    let mut bad = 0u64;
    match mode {
        Mode::Frame => {
            while let Some(Ok(m)) = msgs.next_message() {
                match m.data.first_chunk::<3>() {
                    Some(h) => t.add(h[0], u16_at(h, 1), 0),
                    None => bad += 1,
                }
            }
        }
        Mode::Fields => {
            while let Some(Ok(m)) = msgs.next_message() {
                if !fold(m.data, &mut t) {
                    bad += 1;
                }
            }
        }
    }
    let el = start.elapsed().as_secs_f64();
    let n: u64 = t.types.iter().sum();
    let name = if mode == Mode::Frame {
        "frame"
    } else {
        "fields"
    };
    let types: Vec<String> = (0..=255u8)
        .filter(|&b| t.types[usize::from(b)] > 0)
        .map(|b| format!("{}={}", b as char, t.types[usize::from(b)]))
        .collect();
    println!("decode_floor {name}: messages {n} checksum {:016x}", t.sum);
    println!("types: {}", types.join(" "));
    println!(
        "loop_s {el:.6} msgs_per_s {:.0} ns_per_msg {:.3}",
        n as f64 / el,
        el * 1e9 / n as f64
    );
    if bad > 0 {
        println!("malformed {bad}");
    }
    ExitCode::SUCCESS
}
