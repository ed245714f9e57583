//! Packet-level fault injection for one or two redundant lines (A and B), and the record of
//! exactly what was done (the "truth" of the capture).
//!
//! Every line sees the same packets (same bytes) from the packetizer and decides its faults
//! with its own PRNG stream, so line B's drops are independent of line A's. Per data packet
//! a line draws once and applies at most one fault:
//!
//! | draw in            | fault      | what the capture shows |
//! |--------------------|------------|------------------------|
//! | `[0, d)`           | drop       | the packet is missing |
//! | `[d, d+u)`         | duplicate  | the same bytes twice in a row |
//! | `[.., +r)`         | reorder    | the packet comes right after the next one, which is left clean (if the next is a heartbeat or end of session, nothing is reordered or recorded) |
//! | `[.., +c)`         | corrupt    | damaged bytes a decoder must flag as malformed: see [`Corruption`] |
//!
//! Heartbeats and End of Session packets are never faulted. Sequence numbers in the truth are
//! MoldUDP64 message sequence numbers: a packet is named by `[first, last]`.

use super::packet::{Packet, PacketSink, HEADER_LEN};
use super::rng::Rng;
use std::io;

/// Fault rates (probabilities per data packet, each in `[0, 1]`, summing to at most 1).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FaultRates {
    /// `--drop`
    pub drop: f64,
    /// `--dup`
    pub dup: f64,
    /// `--reorder`
    pub reorder: f64,
    /// `--corrupt`
    pub corrupt: f64,
}

impl FaultRates {
    /// True if no fault can happen.
    pub fn is_none(&self) -> bool {
        self.drop == 0.0 && self.dup == 0.0 && self.reorder == 0.0 && self.corrupt == 0.0
    }
}

/// How a corrupted packet was damaged. Each kind breaks a check every MoldUDP64 decoder makes
/// (block count vs Message Count, block length vs end of payload), so a corrupted packet is
/// always detectable as malformed, never silently wrong data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    /// The payload was cut inside the last message's data: its block runs past the end.
    Truncated,
    /// Message Count was increased by one: fewer blocks than the header claims.
    CountMismatch,
    /// The first block's length prefix was set to 0xFFFF: it runs past the end of the payload.
    BlockLength,
}

impl Corruption {
    /// Name used in the truth file.
    pub fn name(self) -> &'static str {
        match self {
            Corruption::Truncated => "truncated",
            Corruption::CountMismatch => "count_mismatch",
            Corruption::BlockLength => "block_length",
        }
    }
}

/// Message sequence numbers `[first, last]` of one data packet.
pub type SeqRange = (u64, u64);

/// What one line did to the packets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineTruth {
    /// Packets left out.
    pub dropped: Vec<SeqRange>,
    /// Packets written twice in a row.
    pub duplicated: Vec<SeqRange>,
    /// `(late, early)`: `late` was written right after `early`, which follows it in sequence.
    pub reordered: Vec<(SeqRange, SeqRange)>,
    /// Packets whose bytes were damaged, and how.
    pub corrupted: Vec<(SeqRange, Corruption)>,
    /// Packets (frames) written on this line, faults included.
    pub packets_written: u64,
}

/// Where a line's packets are written: `line` is 0 for A, 1 for B.
pub trait FrameSink {
    /// Writes one UDP payload of `line` sent at `ts` (ns since midnight).
    fn frame(&mut self, line: usize, ts: u64, payload: &[u8]) -> io::Result<()>;
}

/// Offset of line B's copy of a packet after line A's (they leave the exchange together).
pub const LINE_B_OFFSET_NS: u64 = 100;

#[derive(Debug)]
struct Line {
    rng: Rng,
    held: Option<(SeqRange, Vec<u8>)>,
    truth: LineTruth,
}

/// Applies the faults of every line and writes the result to a [`FrameSink`].
#[derive(Debug)]
pub struct Lines<F> {
    lines: Vec<Line>,
    /// Cumulative thresholds: drop, +dup, +reorder, +corrupt.
    cut: [f64; 4],
    out: F,
    scratch: Vec<u8>,
}

impl<F: FrameSink> Lines<F> {
    /// `n_lines` lines (1 or 2) with the same rates; line `l`'s PRNG is derived from `seed`
    /// and `l` only.
    pub fn new(n_lines: usize, rates: FaultRates, seed: u64, out: F) -> Self {
        let lines = (0..n_lines)
            .map(|l| Line {
                rng: Rng::new(seed ^ (0xFA17_0000_0000_0000 + l as u64)),
                held: None,
                truth: LineTruth::default(),
            })
            .collect();
        let d = rates.drop;
        let u = d + rates.dup;
        let r = u + rates.reorder;
        let c = r + rates.corrupt;
        Lines {
            lines,
            cut: [d, u, r, c],
            out,
            scratch: Vec::with_capacity(2048),
        }
    }

    /// What each line did so far.
    pub fn truth(&self) -> Vec<LineTruth> {
        self.lines.iter().map(|l| l.truth.clone()).collect()
    }

    /// The frame sink (e.g. to tell it about the packet being faulted).
    pub fn sink_mut(&mut self) -> &mut F {
        &mut self.out
    }

    /// The frame sink back, with each line's truth.
    pub fn into_parts(self) -> (F, Vec<LineTruth>) {
        (self.out, self.lines.into_iter().map(|l| l.truth).collect())
    }

    fn write(&mut self, line: usize, ts: u64, bytes: &[u8]) -> io::Result<()> {
        self.lines[line].truth.packets_written += 1;
        self.out
            .frame(line, ts + line as u64 * LINE_B_OFFSET_NS, bytes)
    }
}

impl<F: FrameSink> PacketSink for Lines<F> {
    fn packet(&mut self, p: &Packet<'_>) -> io::Result<()> {
        let range = (p.seq, p.seq + u64::from(p.count).saturating_sub(1));
        for l in 0..self.lines.len() {
            if let Some((late, bytes)) = self.lines[l].held.take() {
                if p.is_data() {
                    // The data packet after a held one is written clean, then the held one.
                    self.write(l, p.ts, p.bytes)?;
                    self.write(l, p.ts, &bytes)?;
                    self.lines[l].truth.reordered.push((late, range));
                } else {
                    // Never swap with a heartbeat or end of session: the held packet goes out
                    // in order (late, but not reordered), then the control packet.
                    self.write(l, p.ts, &bytes)?;
                    self.write(l, p.ts, p.bytes)?;
                }
                continue;
            }
            if !p.is_data() {
                self.write(l, p.ts, p.bytes)?;
                continue;
            }
            let u = self.lines[l].rng.unit();
            if u < self.cut[0] {
                self.lines[l].truth.dropped.push(range);
            } else if u < self.cut[1] {
                self.write(l, p.ts, p.bytes)?;
                self.write(l, p.ts, p.bytes)?;
                self.lines[l].truth.duplicated.push(range);
            } else if u < self.cut[2] {
                self.lines[l].held = Some((range, p.bytes.to_vec()));
            } else if u < self.cut[3] {
                let kind = [
                    Corruption::Truncated,
                    Corruption::CountMismatch,
                    Corruption::BlockLength,
                ][self.lines[l].rng.below(3) as usize];
                let mut buf = std::mem::take(&mut self.scratch);
                buf.clear();
                buf.extend_from_slice(p.bytes);
                corrupt(&mut buf, kind, &mut self.lines[l].rng);
                let r = self.write(l, p.ts, &buf);
                self.scratch = buf;
                r?;
                self.lines[l].truth.corrupted.push((range, kind));
            } else {
                self.write(l, p.ts, p.bytes)?;
            }
        }
        Ok(())
    }
}

/// Damages a data packet (header + at least one block) in place.
fn corrupt(buf: &mut Vec<u8>, kind: Corruption, rng: &mut Rng) {
    match kind {
        Corruption::Truncated => {
            // Find the last block; cut between 1 byte and all of its data.
            let mut pos = HEADER_LEN;
            let mut last = pos;
            while pos + 2 <= buf.len() {
                last = pos;
                pos += 2 + usize::from(u16::from_be_bytes([buf[pos], buf[pos + 1]]));
            }
            let data_len = buf.len() - last - 2;
            let cut = 1 + rng.below(data_len.max(1) as u64) as usize;
            buf.truncate(buf.len() - cut.min(data_len));
        }
        Corruption::CountMismatch => {
            let c = u16::from_be_bytes([buf[18], buf[19]]) + 1;
            buf[18..20].copy_from_slice(&c.to_be_bytes());
        }
        Corruption::BlockLength => {
            buf[HEADER_LEN..HEADER_LEN + 2].copy_from_slice(&0xFFFFu16.to_be_bytes());
        }
    }
}

/// The truth file's contents, written as JSON by [`Truth::to_json`].
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    /// `"pcap"` or `"itch"`.
    pub format: &'static str,
    /// MoldUDP64 session (trailing spaces kept).
    pub session: String,
    /// `--seed`.
    pub seed: u64,
    /// `--symbols`.
    pub symbols: u16,
    /// ITCH messages in the day.
    pub messages: u64,
    /// First and last message sequence numbers.
    pub first_seq: u64,
    /// Last message sequence number.
    pub last_seq: u64,
    /// Data packets the packetizer made (before faults), heartbeats, end of session packets.
    pub data_packets: u64,
    /// Heartbeats.
    pub heartbeats: u64,
    /// End of Session packets.
    pub end_of_session: u64,
    /// The rates asked for.
    pub rates: FaultRates,
    /// How lines are laid out in the file.
    pub layout: &'static str,
    /// `(name, "group:port", truth)` per line.
    pub lines: Vec<(&'static str, String, LineTruth)>,
    /// For a realistic day (`--profile day`): its live-order peak, shape and final books,
    /// written as `"day"` before `"lines"`; absent otherwise.
    pub day: Option<super::day::DayTruth>,
}

impl Truth {
    /// Pretty, stable JSON (fields always in the same order).
    pub fn to_json(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let ranges = |v: &[SeqRange]| {
            let items: Vec<String> = v.iter().map(|(a, b)| format!("[{a},{b}]")).collect();
            format!("[{}]", items.join(","))
        };
        let _ = writeln!(s, "{{");
        let _ = writeln!(s, "  \"generator\": \"fh gen\",");
        let _ = writeln!(s, "  \"format\": \"{}\",", self.format);
        let _ = writeln!(s, "  \"session\": \"{}\",", json_escape(&self.session));
        let _ = writeln!(s, "  \"seed\": {},", self.seed);
        let _ = writeln!(s, "  \"symbols\": {},", self.symbols);
        let _ = writeln!(s, "  \"messages\": {},", self.messages);
        let _ = writeln!(s, "  \"first_seq\": {},", self.first_seq);
        let _ = writeln!(s, "  \"last_seq\": {},", self.last_seq);
        let _ = writeln!(s, "  \"data_packets\": {},", self.data_packets);
        let _ = writeln!(s, "  \"heartbeats\": {},", self.heartbeats);
        let _ = writeln!(s, "  \"end_of_session\": {},", self.end_of_session);
        let r = &self.rates;
        let _ = writeln!(
            s,
            "  \"rates\": {{\"drop\": {}, \"dup\": {}, \"reorder\": {}, \"corrupt\": {}}},",
            r.drop, r.dup, r.reorder, r.corrupt
        );
        let _ = writeln!(s, "  \"layout\": \"{}\",", json_escape(self.layout));
        if let Some(d) = &self.day {
            day_json(&mut s, d);
        }
        let _ = writeln!(s, "  \"lines\": [");
        for (k, (name, ep, t)) in self.lines.iter().enumerate() {
            let reordered: Vec<String> = t
                .reordered
                .iter()
                .map(|(l, e)| format!("{{\"late\":[{},{}],\"early\":[{},{}]}}", l.0, l.1, e.0, e.1))
                .collect();
            let corrupted: Vec<String> = t
                .corrupted
                .iter()
                .map(|(r, k)| format!("{{\"seq\":[{},{}],\"kind\":\"{}\"}}", r.0, r.1, k.name()))
                .collect();
            let _ = writeln!(s, "    {{");
            let _ = writeln!(s, "      \"name\": \"{name}\",");
            let _ = writeln!(s, "      \"endpoint\": \"{}\",", json_escape(ep));
            let _ = writeln!(s, "      \"packets_written\": {},", t.packets_written);
            let _ = writeln!(s, "      \"dropped\": {},", ranges(&t.dropped));
            let _ = writeln!(s, "      \"duplicated\": {},", ranges(&t.duplicated));
            let _ = writeln!(s, "      \"reordered\": [{}],", reordered.join(","));
            let _ = writeln!(s, "      \"corrupted\": [{}]", corrupted.join(","));
            let _ = writeln!(
                s,
                "    }}{}",
                if k + 1 < self.lines.len() { "," } else { "" }
            );
        }
        let _ = writeln!(s, "  ]");
        let _ = writeln!(s, "}}");
        s
    }
}

/// The `"day"` object of a realistic day's truth (see [`super::day::DayTruth`]).
fn day_json(s: &mut String, d: &super::day::DayTruth) {
    use std::fmt::Write;
    let top = |t: Option<(u32, u64, u32)>| {
        t.map_or("null".to_string(), |(p, sh, n)| format!("[{p},{sh},{n}]"))
    };
    let _ = writeln!(s, "  \"day\": {{");
    let _ = writeln!(s, "    \"profile\": \"day\",");
    let _ = writeln!(s, "    \"scale\": {},", d.scale);
    let _ = writeln!(s, "    \"orders_added\": {},", d.orders_added);
    let _ = writeln!(s, "    \"live_orders_peak\": {},", d.peak.live);
    let _ = writeln!(s, "    \"live_orders_peak_at_seq\": {},", d.peak.at_seq);
    let _ = writeln!(s, "    \"live_orders_peak_at_ns\": {},", d.peak.at_ns);
    let _ = writeln!(s, "    \"live_orders_at_end\": {},", d.live_at_end);
    let types: Vec<String> = d
        .by_type
        .iter()
        .map(|&(t, n)| format!("\"{}\": {n}", t as char))
        .collect();
    let _ = writeln!(s, "    \"messages_by_type\": {{{}}},", types.join(", "));
    let _ = writeln!(s, "    \"lifetime_p50_ns\": {},", d.lifetime_p50_ns);
    let _ = writeln!(s, "    \"lifetime_p90_ns\": {},", d.lifetime_p90_ns);
    let _ = writeln!(s, "    \"lifetime_p99_ns\": {},", d.lifetime_p99_ns);
    let _ = writeln!(
        s,
        "    \"ended_within_2e30ns_permille\": {},",
        d.ended_within_1s_permille
    );
    let _ = writeln!(s, "    \"top10_symbols_permille\": {},", d.top10_permille);
    let _ = writeln!(s, "    \"book_hash\": \"{:#018x}\",", d.book_hash);
    let _ = writeln!(
        s,
        "    \"final_tops_format\": \"[locate, symbol, bid [price, shares, orders] or null, ask]\","
    );
    let _ = writeln!(s, "    \"final_tops\": [");
    for (k, t) in d.final_tops.iter().enumerate() {
        let sym = String::from_utf8_lossy(&t.stock);
        let _ = writeln!(
            s,
            "      [{}, \"{}\", {}, {}]{}",
            t.locate,
            json_escape(sym.trim_end()),
            top(t.bid),
            top(t.ask),
            if k + 1 < d.final_tops.len() { "," } else { "" }
        );
    }
    let _ = writeln!(s, "    ]");
    let _ = writeln!(s, "  }},");
}

fn json_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::super::packet::write_header;
    use super::*;

    fn data_packet(seq: u64, n: u16) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_LEN];
        write_header(&mut b, b"S000000001", seq, n);
        for _ in 0..n {
            b.extend_from_slice(&12u16.to_be_bytes());
            b.extend_from_slice(&[b'S'; 12]);
        }
        b
    }

    fn malformed(b: &[u8]) -> bool {
        fh_decoders::moldudp64::Packet::parse(b).is_err()
    }

    #[test]
    fn every_corruption_is_malformed() {
        let mut rng = Rng::new(5);
        for kind in [
            Corruption::Truncated,
            Corruption::CountMismatch,
            Corruption::BlockLength,
        ] {
            for n in 1..5 {
                let mut b = data_packet(1, n);
                assert!(!malformed(&b));
                corrupt(&mut b, kind, &mut rng);
                assert!(malformed(&b), "{kind:?} {n}");
            }
        }
    }

    #[derive(Default)]
    struct Frames(Vec<(usize, u64, Vec<u8>)>);
    impl FrameSink for Frames {
        fn frame(&mut self, line: usize, ts: u64, payload: &[u8]) -> io::Result<()> {
            self.0.push((line, ts, payload.to_vec()));
            Ok(())
        }
    }

    #[test]
    fn no_rates_pass_everything_on_both_lines() {
        let mut lines = Lines::new(2, FaultRates::default(), 1, Frames::default());
        for i in 0..10u64 {
            let b = data_packet(1 + 2 * i, 2);
            lines
                .packet(&Packet {
                    ts: i * 1000,
                    seq: 1 + 2 * i,
                    count: 2,
                    bytes: &b,
                })
                .unwrap();
        }
        let (f, t) = lines.into_parts();
        assert_eq!(f.0.len(), 20);
        assert!(t
            .iter()
            .all(|t| t.packets_written == 10 && t.dropped.is_empty()));
        assert_eq!(f.0[1].1, f.0[0].1 + LINE_B_OFFSET_NS);
    }

    #[test]
    fn reorder_swaps_with_next_and_records_it() {
        let rates = FaultRates {
            reorder: 1.0,
            ..Default::default()
        };
        let mut lines = Lines::new(1, rates, 1, Frames::default());
        for i in 0..4u64 {
            let b = data_packet(1 + i, 1);
            lines
                .packet(&Packet {
                    ts: i * 1000,
                    seq: 1 + i,
                    count: 1,
                    bytes: &b,
                })
                .unwrap();
        }
        let (f, t) = lines.into_parts();
        let seqs: Vec<u64> =
            f.0.iter()
                .map(|p| u64::from_be_bytes(p.2[10..18].try_into().unwrap()))
                .collect();
        // 1 held, 2 clean then 1; 3 held, 4 clean then 3.
        assert_eq!(seqs, vec![2, 1, 4, 3]);
        assert_eq!(t[0].reordered, vec![((1, 1), (2, 2)), ((3, 3), (4, 4))]);
    }

    #[test]
    fn lines_draw_independently() {
        let rates = FaultRates {
            drop: 0.3,
            ..Default::default()
        };
        let mut lines = Lines::new(2, rates, 9, Frames::default());
        for i in 0..200u64 {
            let b = data_packet(1 + i, 1);
            lines
                .packet(&Packet {
                    ts: i * 1000,
                    seq: 1 + i,
                    count: 1,
                    bytes: &b,
                })
                .unwrap();
        }
        let t = lines.truth();
        assert!(!t[0].dropped.is_empty() && !t[1].dropped.is_empty());
        assert_ne!(t[0].dropped, t[1].dropped);
        assert_eq!(t[0].packets_written + t[0].dropped.len() as u64, 200);
    }
}
