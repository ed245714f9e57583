//! `fh decode FILE`: print every message of a capture, as aligned text or JSON Lines.
//!
//! Input: classic pcap, pcapng or a Nasdaq `*.NASDAQ_ITCH50[.gz]` file. Each UDP payload is
//! recognised as MoldUDP64 (ITCH 5.0) or IEX-TP (DEEP/TOPS) from its bytes (`--protocol auto`),
//! or forced with `--protocol itch|iex`.
//!
//! ## JSON Lines (`--format json`)
//! One object per message: `"type"` (the type character); context: `"frame"` (1-based record
//! index; absent for ITCH files), `"ts"` (capture time, ns since the Unix epoch; absent for ITCH
//! files); MoldUDP64 `"session"`, `"seq"` (the message's own sequence number); IEX-TP
//! `"session_id"`, `"seq"`, `"send_time"`; for ITCH files `"seq"` is the message's 1-based
//! position in the file (the feed's sequence number when the file starts at the session's
//! start). Then every field under its spec name in snake_case: integers as numbers, prices as
//! exact decimal strings with all implied decimals, alpha fields trimmed, chars as one-character
//! strings.
//!
//! ## Errors
//! A file that is no capture, an unknown link type, an absurd length or a record cut in the
//! middle: one line naming the file and byte offset, exit 2. A capture cut off at its very end:
//! everything complete is decoded, then a warning. Malformed frames, packets and messages are
//! counted by kind and summed up on stderr at the end. A closed stdout (`| head`) ends quietly.

use super::{CliError, CliResult};
use fh_decoders::fields::{FieldValue, FieldVisitor, Fields};
use fh_decoders::sniff::{sniff, Transport};
use fh_decoders::{deep, iextp, itch50, moldudp64, tops};
use fh_replay::capture::{Capture, Kind};
use fh_replay::frame::{self, FrameStats};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

/// Which protocol to decode the UDP payloads as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// Recognise MoldUDP64/ITCH or IEX-TP per datagram.
    #[default]
    Auto,
    /// MoldUDP64 carrying ITCH 5.0.
    Itch,
    /// IEX-TP carrying DEEP or TOPS.
    Iex,
}

/// Output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One aligned, human-readable line per message.
    #[default]
    Text,
    /// JSON Lines, one object per message.
    Json,
}

/// Arguments of `fh decode`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Capture to decode: pcap, pcapng, or NASDAQ_ITCH50 (plain or .gz).
    pub file: PathBuf,
    /// Protocol of the UDP payloads.
    #[arg(long, value_enum, default_value_t)]
    pub protocol: Protocol,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Print only messages of this symbol (repeatable). ITCH messages without a symbol field
    /// are matched through the stock locate learned from earlier messages.
    #[arg(long = "symbol", value_name = "SYM")]
    pub symbols: Vec<String>,
    /// Stop after printing this many messages.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
}

/// Runs `fh decode`.
pub fn run(args: Args) -> CliResult {
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let summary = match decode(&args, &mut out).and_then(|s| Ok(out.flush().map(|()| s)?)) {
        Ok(s) => s,
        Err(Stop::Pipe) => return Ok(()),
        Err(Stop::Fatal(e)) => return Err(e),
    };
    summary.report(&args.file);
    Ok(())
}

/// Why decoding stopped early.
#[derive(Debug)]
enum Stop {
    /// stdout closed: a quiet, successful end.
    Pipe,
    /// A fatal error (bad file, I/O).
    Fatal(CliError),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Stop::Pipe
        } else {
            Stop::Fatal(CliError::new(format!("writing output: {e}")))
        }
    }
}

/// What was decoded and dropped, reported on stderr at the end.
#[derive(Debug, Default)]
struct Summary {
    records: u64,
    printed: u64,
    frames: FrameStats,
    mold: moldudp64::DecodeStats,
    iex: iextp::Counters,
    /// Datagrams too short for either transport (auto) — counted, dropped.
    unrecognised: u64,
    /// Cut-off-at-the-end warning.
    truncation: Option<String>,
}

impl Summary {
    fn report(&self, file: &std::path::Path) {
        let mut bad: Vec<String> = Vec::new();
        let f = &self.frames;
        for (name, n) in [
            ("link_truncated", f.link_truncated),
            ("not_ipv4", f.not_ipv4),
            ("ip_truncated", f.ip_truncated),
            ("ip_malformed", f.ip_malformed),
            ("ip_fragments", f.fragments),
            ("not_udp", f.not_udp),
            ("udp_truncated", f.udp_truncated),
            ("udp_malformed", f.udp_malformed),
            ("unrecognised_datagrams", self.unrecognised),
        ] {
            if n > 0 {
                bad.push(format!("{name} {n}"));
            }
        }
        for (name, n) in self.mold.counters() {
            let counted = name.starts_with("malformed")
                || matches!(
                    name,
                    "unknown_types" | "truncated" | "long_messages" | "empty_blocks"
                );
            if counted && n > 0 {
                bad.push(format!("itch {name} {n}"));
            }
        }
        let c = &self.iex;
        let m = &c.malformed;
        for (name, n) in [
            ("segment_too_short", m.too_short),
            ("unsupported_version", m.unsupported_version),
            ("payload_truncated", m.payload_truncated),
            ("trailing_bytes", m.trailing_bytes),
            ("block_overrun", m.block_overrun),
            ("missing_blocks", m.missing_blocks),
            ("extra_bytes", m.extra_bytes),
            ("unknown_protocol", c.unknown_protocol),
            ("unknown_types", c.unknown_types),
            ("truncated", c.truncated),
            ("oversized", c.oversized),
        ] {
            if n > 0 {
                bad.push(format!("iex {name} {n}"));
            }
        }
        let messages = self.mold.messages + c.messages;
        eprintln!(
            "fh decode: {}: {} records, {} messages decoded, {} printed{}",
            file.display(),
            self.records,
            messages,
            self.printed,
            if bad.is_empty() {
                String::new()
            } else {
                format!("; dropped: {}", bad.join(", "))
            }
        );
        if let Some(w) = &self.truncation {
            eprintln!("fh decode: warning: {w}");
        }
    }
}

/// Per-message context printed before the fields.
#[derive(Clone, Copy, Debug)]
enum Ctx<'a> {
    Mold {
        frame: u64,
        ts: u64,
        session: &'a [u8],
        seq: u64,
    },
    Iex {
        frame: u64,
        ts: u64,
        session_id: u32,
        seq: u64,
        send_time: u64,
    },
    ItchFile {
        seq: u64,
    },
}

/// Symbol filter: symbols wanted, and ITCH stock locates learned to belong to them.
#[derive(Debug)]
struct Filter {
    symbols: Vec<Vec<u8>>,
    /// Bit per stock locate: does it belong to a wanted symbol?
    locates: Vec<bool>,
}

impl Filter {
    fn new(symbols: &[String]) -> Option<Filter> {
        (!symbols.is_empty()).then(|| Filter {
            symbols: symbols
                .iter()
                .map(|s| s.trim().as_bytes().to_vec())
                .collect(),
            locates: vec![false; 1 << 16],
        })
    }

    /// Does the message belong to a wanted symbol? Learns locate → symbol on the way.
    fn keep(&mut self, m: &dyn Fields, locate: Option<u16>) -> bool {
        let mut probe = SymbolProbe(None);
        m.visit_fields(&mut probe);
        match (probe.0, locate) {
            (Some(sym), loc) => {
                let hit = self.symbols.contains(&sym);
                if let Some(l) = loc.filter(|&l| l != 0) {
                    self.locates[usize::from(l)] = hit;
                }
                hit
            }
            (None, Some(l)) => l != 0 && self.locates[usize::from(l)],
            (None, None) => false,
        }
    }
}

/// Finds the `stock`/`symbol` field of a message.
struct SymbolProbe(Option<Vec<u8>>);

impl FieldVisitor for SymbolProbe {
    fn field(&mut self, name: &'static str, value: FieldValue<'_>) {
        if let ("stock" | "symbol", FieldValue::Alpha(s)) = (name, value) {
            self.0 = Some(s.to_vec());
        }
    }
}

/// Everything one message needs to be printed.
struct Printer<'w, W: Write> {
    out: &'w mut W,
    format: Format,
    line: Vec<u8>,
    filter: Option<Filter>,
    limit: u64,
    printed: u64,
}

impl<W: Write> Printer<'_, W> {
    /// Prints one message; `Err(Stop::Pipe)` also when the limit is reached.
    fn message(&mut self, ctx: Ctx<'_>, m: &dyn Fields, locate: Option<u16>) -> Result<(), Stop> {
        if let Some(f) = &mut self.filter {
            if !f.keep(m, locate) {
                return Ok(());
            }
        }
        self.line.clear();
        match self.format {
            Format::Json => json_line(&mut self.line, ctx, m),
            Format::Text => text_line(&mut self.line, ctx, m),
        }
        self.out.write_all(&self.line)?;
        self.printed += 1;
        if self.printed >= self.limit {
            return Err(Stop::Pipe);
        }
        Ok(())
    }
}

fn decode<W: Write>(args: &Args, out: &mut W) -> Result<Summary, Stop> {
    let cap = Capture::open(&args.file).map_err(|e| Stop::Fatal(CliError::new(e)))?;
    let mut s = Summary::default();
    let mut p = Printer {
        out,
        format: args.format,
        line: Vec::with_capacity(512),
        filter: Filter::new(&args.symbols),
        limit: args.limit.unwrap_or(u64::MAX),
        printed: 0,
    };
    if args.limit == Some(0) {
        return Ok(s);
    }
    let r = match cap.kind() {
        Kind::Itch | Kind::ItchGz => decode_itch_file(&cap, args, &mut s, &mut p),
        Kind::Pcap | Kind::Pcapng => decode_capture(&cap, args, &mut s, &mut p),
    };
    s.printed = p.printed;
    match r {
        Ok(()) => Ok(s),
        Err(Stop::Pipe) if p.printed >= p.limit => {
            // The limit, not a closed pipe: still flush and report.
            p.out.flush()?;
            Ok(s)
        }
        Err(e) => Err(e),
    }
}

fn decode_itch_file<W: Write>(
    cap: &Capture,
    args: &Args,
    s: &mut Summary,
    p: &mut Printer<'_, W>,
) -> Result<(), Stop> {
    if args.protocol == Protocol::Iex {
        return Err(Stop::Fatal(CliError::new(format!(
            "{}: an ITCH file cannot be decoded as IEX",
            args.file.display()
        ))));
    }
    let mut msgs = cap
        .itch_messages()
        .map_err(|e| Stop::Fatal(CliError::new(e)))?;
    while let Some(r) = msgs.next_message() {
        let m = match r {
            Ok(m) => m,
            Err(e) if e.is_truncation() => {
                s.truncation = Some(e.to_string());
                break;
            }
            Err(e) => return Err(Stop::Fatal(CliError::new(e))),
        };
        s.records += 1;
        match itch50::Message::parse(m.data) {
            Ok(itch50::Message::Unknown(_)) => s.mold.unknown_types += 1,
            Ok(msg) => {
                s.mold.messages += 1;
                if m.data.len() != msg.as_bytes().len() {
                    s.mold.long_messages += 1;
                }
                p.message(Ctx::ItchFile { seq: m.index + 1 }, &msg, msg.stock_locate())?;
            }
            Err(itch50::MsgError::Empty) => s.mold.empty_blocks += 1,
            Err(itch50::MsgError::Truncated { .. }) => s.mold.truncated += 1,
        }
    }
    Ok(())
}

fn decode_capture<W: Write>(
    cap: &Capture,
    args: &Args,
    s: &mut Summary,
    p: &mut Printer<'_, W>,
) -> Result<(), Stop> {
    let records = cap.records().map_err(|e| Stop::Fatal(CliError::new(e)))?;
    for r in records {
        let rec = match r {
            Ok(rec) => rec,
            Err(e) if e.is_truncation() => {
                s.truncation = Some(e.to_string());
                break;
            }
            Err(e) => return Err(Stop::Fatal(CliError::new(e))),
        };
        s.records += 1;
        let frame_no = rec.index + 1;
        let dg = match frame::udp_payload(rec.link, rec.data) {
            Ok(d) => {
                s.frames.udp += 1;
                d
            }
            Err(e) => {
                s.frames.record(e);
                continue;
            }
        };
        let transport = match args.protocol {
            Protocol::Itch => Some(Transport::MoldUdp64),
            Protocol::Iex => Some(Transport::IexTp),
            Protocol::Auto => sniff(dg.payload),
        };
        match transport {
            None => s.unrecognised += 1,
            Some(Transport::MoldUdp64) => {
                let Ok(moldudp64::Packet::Data(d)) =
                    moldudp64::Packet::parse_counted(dg.payload, &mut s.mold)
                else {
                    continue;
                };
                let session = fh_decoders::fields::trim_alpha(d.header().session());
                for (seq, msg) in d.messages(&mut s.mold) {
                    let ctx = Ctx::Mold {
                        frame: frame_no,
                        ts: rec.ts_ns,
                        session,
                        seq,
                    };
                    p.message(ctx, &msg, msg.stock_locate())?;
                }
            }
            Some(Transport::IexTp) => {
                let Some(seg) = iextp::Segment::parse_counted(dg.payload, &mut s.iex) else {
                    continue;
                };
                let (session_id, send_time) = (seg.session_id(), seg.send_time());
                let ctx = |seq| Ctx::Iex {
                    frame: frame_no,
                    ts: rec.ts_ns,
                    session_id,
                    seq,
                    send_time,
                };
                if seg.protocol().is_tops() {
                    for (seq, msg) in seg.tops(&mut s.iex) {
                        if !matches!(msg, tops::Message::Unknown(_)) {
                            p.message(ctx(seq), &msg, None)?;
                        }
                    }
                } else {
                    for (seq, msg) in seg.deep(&mut s.iex) {
                        if !matches!(msg, deep::Message::Unknown(_)) {
                            p.message(ctx(seq), &msg, None)?;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Rendering.

/// Appends `s` as a JSON string literal (quotes included); bytes outside printable ASCII are
/// escaped as `\u00XX`, so any wire bytes give valid JSON.
fn json_str(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x20..=0x7e => out.push(b),
            _ => {
                let _ = write!(out, "\\u{:04x}", b);
            }
        }
    }
    out.push(b'"');
}

/// Writes field values as JSON members (`,"name":value`).
struct JsonFields<'o>(&'o mut Vec<u8>);

impl FieldVisitor for JsonFields<'_> {
    fn field(&mut self, name: &'static str, value: FieldValue<'_>) {
        let o = &mut *self.0;
        o.extend_from_slice(b",\"");
        o.extend_from_slice(name.as_bytes());
        o.extend_from_slice(b"\":");
        let _ = match value {
            FieldValue::U64(v) => write!(o, "{v}"),
            FieldValue::I64(v) => write!(o, "{v}"),
            FieldValue::Char(c) => {
                json_str(o, &[c]);
                Ok(())
            }
            FieldValue::Alpha(a) => {
                json_str(o, a);
                Ok(())
            }
            FieldValue::Price4(p) => write!(o, "\"{p}\""),
            FieldValue::Price8(p) => write!(o, "\"{p}\""),
        };
    }
}

fn json_line(o: &mut Vec<u8>, ctx: Ctx<'_>, m: &dyn Fields) {
    o.extend_from_slice(b"{\"type\":");
    json_str(o, &[m.type_byte()]);
    let _ = match ctx {
        Ctx::Mold { frame, ts, session, seq } => {
            let _ = write!(o, ",\"frame\":{frame},\"ts\":{ts},\"session\":");
            json_str(o, session);
            write!(o, ",\"seq\":{seq}")
        }
        Ctx::Iex { frame, ts, session_id, seq, send_time } => write!(
            o,
            ",\"frame\":{frame},\"ts\":{ts},\"session_id\":{session_id},\"seq\":{seq},\"send_time\":{send_time}"
        ),
        Ctx::ItchFile { seq } => write!(o, ",\"seq\":{seq}"),
    };
    m.visit_fields(&mut JsonFields(o));
    o.extend_from_slice(b"}\n");
}

/// Writes field values as ` name=value`; alpha fields that are empty print as `''`.
struct TextFields<'o>(&'o mut Vec<u8>);

impl FieldVisitor for TextFields<'_> {
    fn field(&mut self, name: &'static str, value: FieldValue<'_>) {
        let o = &mut *self.0;
        o.push(b' ');
        o.extend_from_slice(name.as_bytes());
        o.push(b'=');
        let _ = match value {
            FieldValue::U64(v) => write!(o, "{v}"),
            FieldValue::I64(v) => write!(o, "{v}"),
            FieldValue::Char(c) if c.is_ascii_graphic() => {
                o.push(c);
                Ok(())
            }
            FieldValue::Char(c) => write!(o, "0x{c:02x}"),
            FieldValue::Alpha([]) => write!(o, "''"),
            FieldValue::Alpha(a) => {
                for &b in a {
                    if b.is_ascii_graphic() || b == b' ' {
                        o.push(b);
                    } else {
                        let _ = write!(o, "\\x{b:02x}");
                    }
                }
                Ok(())
            }
            FieldValue::Price4(p) => write!(o, "{p}"),
            FieldValue::Price8(p) => write!(o, "{p}"),
        };
    }
}

/// `2023-10-02T11:34:35.036614045Z` from ns since the Unix epoch.
fn utc(o: &mut Vec<u8>, ns: u64) {
    let secs = ns / 1_000_000_000;
    let (days, sod) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let _ = write!(
        o,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60,
        ns % 1_000_000_000
    );
}

fn text_line(o: &mut Vec<u8>, ctx: Ctx<'_>, m: &dyn Fields) {
    match ctx {
        Ctx::Mold {
            frame,
            ts,
            session,
            seq,
        } => {
            let _ = write!(o, "#{frame:<7} ");
            utc(o, ts);
            o.push(b' ');
            o.extend_from_slice(session);
            let _ = write!(o, " seq {seq:<12}");
        }
        Ctx::Iex {
            frame,
            ts,
            session_id,
            seq,
            ..
        } => {
            let _ = write!(o, "#{frame:<7} ");
            utc(o, ts);
            let _ = write!(o, " {session_id:<10} seq {seq:<12}");
        }
        Ctx::ItchFile { seq } => {
            let _ = write!(o, "seq {seq:<12}");
        }
    }
    o.push(b' ');
    o.push(m.type_byte());
    m.visit_fields(&mut TextFields(o));
    o.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_always_valid() {
        let mut o = Vec::new();
        json_str(&mut o, b"A\"B\\C\x01\xff ");
        assert_eq!(o, b"\"A\\\"B\\\\C\\u0001\\u00ff \"");
    }

    #[test]
    fn utc_dates() {
        let mut o = Vec::new();
        utc(&mut o, 1_696_246_474_223_823_730);
        assert_eq!(
            String::from_utf8(o).unwrap(),
            "2023-10-02T11:34:34.223823730Z"
        );
        let mut o = Vec::new();
        utc(&mut o, 0);
        assert_eq!(
            String::from_utf8(o).unwrap(),
            "1970-01-01T00:00:00.000000000Z"
        );
        let mut o = Vec::new();
        utc(&mut o, 951_782_400_000_000_000); // 2000-02-29
        assert_eq!(
            String::from_utf8(o).unwrap(),
            "2000-02-29T00:00:00.000000000Z"
        );
    }
}
