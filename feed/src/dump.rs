//! Every message of a capture, as aligned text or JSON Lines (what `fh decode` prints).
//!
//! [`dump`] walks a capture — classic pcap, pcapng or a Nasdaq `*.NASDAQ_ITCH50[.gz]` file —
//! recognises each UDP payload as MoldUDP64 (ITCH 5.0) or IEX-TP (DEEP/TOPS) from its bytes
//! ([`Protocol::Auto`]) or as forced, keeps the messages of the wanted symbols, and writes one
//! line per message until the end, the limit or the stop flag. It returns a [`DumpSummary`]:
//! records read, messages decoded and printed, and everything dropped, counted by kind. The
//! line formatters ([`json_line`], [`text_line`], and below them [`JsonFields`],
//! [`TextFields`], [`json_str`], [`utc`]) are public for other exports.
//!
//! ## JSON Lines ([`Format::Json`])
//! One object per message: `"type"` (the type character); context: `"frame"` (1-based record
//! index; absent for ITCH files), `"ts"` (capture time, ns since the Unix epoch; absent for ITCH
//! files); MoldUDP64 `"session"`, `"seq"` (the message's own sequence number); IEX-TP
//! `"session_id"`, `"seq"`, `"send_time"`; for ITCH files `"seq"` is the message's 1-based
//! position in the file (the feed's sequence number when the file starts at the session's
//! start). Then every field under its spec name in snake_case: integers as numbers, prices as
//! exact decimal strings with all implied decimals, alpha fields trimmed, chars as one-character
//! strings. Any wire bytes give valid JSON.
//!
//! ## Invariants
//! - No panic on any input. A file that is no capture, an unknown link type, an absurd length
//!   or a record cut in the middle is a [`DumpError`] naming the file and byte offset; a
//!   capture cut off at its very end is decoded up to there and the cut reported in
//!   [`DumpSummary::truncation`].
//! - Malformed frames, packets and messages are counted by kind and dropped, never fatal
//!   ([`DumpSummary::dropped`]).
//! - The output is flushed before [`dump`] returns, on every path.
//! - A closed output (`fh decode … | head`) is a quiet, successful end:
//!   [`End::OutputClosed`], not an error.

use fh_decoders::fields::{FieldValue, FieldVisitor, Fields};
use fh_decoders::sniff::{sniff, Transport};
use fh_decoders::{deep, iextp, itch50, moldudp64, tops};
use fh_replay::capture::{self, Capture, Kind};
use fh_replay::frame::{self, FrameStats};
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Which protocol to decode the UDP payloads as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    /// One aligned, human-readable line per message ([`text_line`]).
    #[default]
    Text,
    /// JSON Lines, one object per message ([`json_line`]).
    Json,
}

impl Format {
    /// Appends one message as a line of this format.
    pub fn line(self, out: &mut Vec<u8>, ctx: MsgContext<'_>, m: &dyn Fields) {
        match self {
            Format::Json => json_line(out, ctx, m),
            Format::Text => text_line(out, ctx, m),
        }
    }
}

/// What to print.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DumpConfig {
    /// Protocol of the UDP payloads (ignored for ITCH files, which refuse [`Protocol::Iex`]).
    pub protocol: Protocol,
    /// Output format.
    pub format: Format,
    /// Print only messages of these symbols (none: all). ITCH messages without a symbol field
    /// are matched through the stock locate learned from earlier messages.
    pub symbols: Vec<String>,
    /// Stop after printing this many messages.
    pub limit: Option<u64>,
}

/// Why [`dump`] ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum End {
    /// The whole capture was read.
    #[default]
    Complete,
    /// [`DumpConfig::limit`] messages were printed.
    Limit,
    /// The stop flag was set.
    Stopped,
    /// The output was closed (a broken pipe): a quiet end, the counts are partial.
    OutputClosed,
}

/// What was read, decoded, printed and dropped.
#[derive(Debug, Default)]
pub struct DumpSummary {
    /// Capture records (frames, or messages of an ITCH file) read.
    pub records: u64,
    /// Messages written.
    pub printed: u64,
    /// Frame-level counts (UDP datagrams and the frames dropped, by reason).
    pub frames: FrameStats,
    /// MoldUDP64/ITCH counts (for ITCH files too).
    pub mold: moldudp64::DecodeStats,
    /// IEX-TP counts.
    pub iex: iextp::Counters,
    /// Datagrams too short for either transport ([`Protocol::Auto`]): counted, dropped.
    pub unrecognised: u64,
    /// The capture was cut off at its very end: everything before the cut was decoded.
    pub truncation: Option<capture::Error>,
    /// Why the walk ended.
    pub end: End,
}

impl DumpSummary {
    /// Messages decoded, ITCH and IEX (printed or filtered out).
    pub fn messages(&self) -> u64 {
        self.mold.messages + self.iex.messages
    }

    /// Everything dropped as malformed, unknown or unrecognised, as `name count` (non-zero
    /// counts only; ITCH counts prefixed `itch `, IEX counts `iex `).
    pub fn dropped(&self) -> Vec<String> {
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
        bad
    }
}

/// `R records, M messages decoded, P printed[; dropped: name n, …]` (one line, no newline).
impl fmt::Display for DumpSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} records, {} messages decoded, {} printed",
            self.records,
            self.messages(),
            self.printed
        )?;
        let bad = self.dropped();
        if !bad.is_empty() {
            write!(f, "; dropped: {}", bad.join(", "))?;
        }
        Ok(())
    }
}

/// A fatal error: nothing more can be read, or written.
#[derive(Debug)]
pub enum DumpError {
    /// Not a capture, or broken in the middle (names the file and byte offset).
    Capture(capture::Error),
    /// [`Protocol::Iex`] asked of an ITCH file.
    ItchAsIex(PathBuf),
    /// Writing the output failed (other than a closed pipe, which is [`End::OutputClosed`]).
    Output(io::Error),
}

impl fmt::Display for DumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DumpError::Capture(e) => write!(f, "{e}"),
            DumpError::ItchAsIex(p) => {
                write!(f, "{}: an ITCH file cannot be decoded as IEX", p.display())
            }
            DumpError::Output(e) => write!(f, "writing output: {e}"),
        }
    }
}

impl std::error::Error for DumpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DumpError::Capture(e) => Some(e),
            DumpError::ItchAsIex(_) => None,
            DumpError::Output(e) => Some(e),
        }
    }
}

impl From<capture::Error> for DumpError {
    fn from(e: capture::Error) -> Self {
        DumpError::Capture(e)
    }
}

/// Opens `path` and [`dump`]s it.
pub fn dump_file<W: Write + ?Sized>(
    path: impl AsRef<Path>,
    cfg: &DumpConfig,
    out: &mut W,
    stop: &AtomicBool,
) -> Result<DumpSummary, DumpError> {
    dump(&Capture::open(path)?, cfg, out, stop)
}

/// Writes every wanted message of `cap` to `out` (best wrapped in a `BufWriter`: one write per
/// message) until the end, [`DumpConfig::limit`], `stop` (polled per record) or a closed
/// output; flushes `out` on every path.
pub fn dump<W: Write + ?Sized>(
    cap: &Capture,
    cfg: &DumpConfig,
    out: &mut W,
    stop: &AtomicBool,
) -> Result<DumpSummary, DumpError> {
    let mut s = DumpSummary::default();
    let r = if cfg.limit == Some(0) {
        Err(Halt::Limit)
    } else {
        let mut p = Printer {
            out: &mut *out,
            format: cfg.format,
            line: Vec::with_capacity(512),
            filter: SymbolFilter::new(&cfg.symbols),
            limit: cfg.limit.unwrap_or(u64::MAX),
            printed: 0,
        };
        let r = match cap.kind() {
            Kind::Itch | Kind::ItchGz => walk_itch_file(cap, cfg, stop, &mut s, &mut p),
            Kind::Pcap | Kind::Pcapng => walk_capture(cap, cfg, stop, &mut s, &mut p),
        };
        s.printed = p.printed;
        r
    };
    s.end = match r {
        Ok(()) => End::Complete,
        Err(Halt::Limit) => End::Limit,
        Err(Halt::Stopped) => End::Stopped,
        Err(Halt::Closed) => End::OutputClosed,
        Err(Halt::Fatal(e)) => {
            // What was printed before the error still goes out; the error is what matters.
            let _ = out.flush();
            return Err(e);
        }
    };
    match out.flush() {
        Ok(()) => Ok(s),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            s.end = End::OutputClosed;
            Ok(s)
        }
        Err(e) => Err(DumpError::Output(e)),
    }
}

/// Why the walk stopped before the end.
#[derive(Debug)]
enum Halt {
    Limit,
    Stopped,
    /// The output was closed.
    Closed,
    Fatal(DumpError),
}

impl From<io::Error> for Halt {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Halt::Closed
        } else {
            Halt::Fatal(DumpError::Output(e))
        }
    }
}

impl From<capture::Error> for Halt {
    fn from(e: capture::Error) -> Self {
        Halt::Fatal(DumpError::Capture(e))
    }
}

/// Symbol filter: symbols wanted, and ITCH stock locates learned to belong to them.
#[derive(Debug)]
pub struct SymbolFilter {
    symbols: Vec<Vec<u8>>,
    /// One flag per stock locate: does it belong to a wanted symbol?
    locates: Vec<bool>,
}

impl SymbolFilter {
    /// A filter for `symbols` (trimmed); `None` when there are none (keep everything).
    pub fn new(symbols: &[String]) -> Option<SymbolFilter> {
        (!symbols.is_empty()).then(|| SymbolFilter {
            symbols: symbols
                .iter()
                .map(|s| s.trim().as_bytes().to_vec())
                .collect(),
            locates: vec![false; 1 << 16],
        })
    }

    /// Does the message belong to a wanted symbol? Learns locate → symbol on the way (pass
    /// the message's ITCH stock locate, `None` for IEX).
    pub fn keep(&mut self, m: &dyn Fields, locate: Option<u16>) -> bool {
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
struct Printer<'w, W: Write + ?Sized> {
    out: &'w mut W,
    format: Format,
    line: Vec<u8>,
    filter: Option<SymbolFilter>,
    limit: u64,
    printed: u64,
}

impl<W: Write + ?Sized> Printer<'_, W> {
    /// Prints one message; `Err(Halt::Limit)` once the limit is reached.
    fn message(
        &mut self,
        ctx: MsgContext<'_>,
        m: &dyn Fields,
        locate: Option<u16>,
    ) -> Result<(), Halt> {
        if let Some(f) = &mut self.filter {
            if !f.keep(m, locate) {
                return Ok(());
            }
        }
        self.line.clear();
        self.format.line(&mut self.line, ctx, m);
        self.out.write_all(&self.line)?;
        self.printed += 1;
        if self.printed >= self.limit {
            return Err(Halt::Limit);
        }
        Ok(())
    }
}

fn walk_itch_file<W: Write + ?Sized>(
    cap: &Capture,
    cfg: &DumpConfig,
    stop: &AtomicBool,
    s: &mut DumpSummary,
    p: &mut Printer<'_, W>,
) -> Result<(), Halt> {
    if cfg.protocol == Protocol::Iex {
        return Err(Halt::Fatal(DumpError::ItchAsIex(cap.path().to_path_buf())));
    }
    let mut msgs = cap.itch_messages()?;
    while let Some(r) = msgs.next_message() {
        if stop.load(Ordering::Relaxed) {
            return Err(Halt::Stopped);
        }
        let m = match r {
            Ok(m) => m,
            Err(e) if e.is_truncation() => {
                s.truncation = Some(e);
                break;
            }
            Err(e) => return Err(e.into()),
        };
        s.records += 1;
        match itch50::Message::parse(m.data) {
            Ok(itch50::Message::Unknown(_)) => s.mold.unknown_types += 1,
            Ok(msg) => {
                s.mold.messages += 1;
                if m.data.len() != msg.as_bytes().len() {
                    s.mold.long_messages += 1;
                }
                let ctx = MsgContext::ItchFile { seq: m.index + 1 };
                p.message(ctx, &msg, msg.stock_locate())?;
            }
            Err(itch50::MsgError::Empty) => s.mold.empty_blocks += 1,
            Err(itch50::MsgError::Truncated { .. }) => s.mold.truncated += 1,
        }
    }
    Ok(())
}

fn walk_capture<W: Write + ?Sized>(
    cap: &Capture,
    cfg: &DumpConfig,
    stop: &AtomicBool,
    s: &mut DumpSummary,
    p: &mut Printer<'_, W>,
) -> Result<(), Halt> {
    for r in cap.records()? {
        if stop.load(Ordering::Relaxed) {
            return Err(Halt::Stopped);
        }
        let rec = match r {
            Ok(rec) => rec,
            Err(e) if e.is_truncation() => {
                s.truncation = Some(e);
                break;
            }
            Err(e) => return Err(e.into()),
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
        let transport = match cfg.protocol {
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
                    let ctx = MsgContext::Mold {
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
                let ctx = |seq| MsgContext::Iex {
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

/// Where a message came from: printed before its fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsgContext<'a> {
    /// A MoldUDP64 (ITCH 5.0) message in a capture.
    Mold {
        /// 1-based record index.
        frame: u64,
        /// Capture time, ns since the Unix epoch.
        ts: u64,
        /// MoldUDP64 session, trimmed.
        session: &'a [u8],
        /// The message's own sequence number.
        seq: u64,
    },
    /// An IEX-TP (DEEP/TOPS) message in a capture.
    Iex {
        /// 1-based record index.
        frame: u64,
        /// Capture time, ns since the Unix epoch.
        ts: u64,
        /// IEX-TP session id.
        session_id: u32,
        /// The message's own sequence number.
        seq: u64,
        /// The segment's send time, ns since the Unix epoch.
        send_time: u64,
    },
    /// A message of a `NASDAQ_ITCH50` file.
    ItchFile {
        /// 1-based position in the file.
        seq: u64,
    },
}

/// Appends `s` as a JSON string literal (quotes included); bytes outside printable ASCII are
/// escaped as `\u00XX`, so any wire bytes give valid JSON.
pub fn json_str(out: &mut Vec<u8>, s: &[u8]) {
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
#[derive(Debug)]
pub struct JsonFields<'o>(pub &'o mut Vec<u8>);

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

/// Appends one message as a JSON object and a newline (see the module docs).
pub fn json_line(o: &mut Vec<u8>, ctx: MsgContext<'_>, m: &dyn Fields) {
    o.extend_from_slice(b"{\"type\":");
    json_str(o, &[m.type_byte()]);
    let _ = match ctx {
        MsgContext::Mold { frame, ts, session, seq } => {
            let _ = write!(o, ",\"frame\":{frame},\"ts\":{ts},\"session\":");
            json_str(o, session);
            write!(o, ",\"seq\":{seq}")
        }
        MsgContext::Iex { frame, ts, session_id, seq, send_time } => write!(
            o,
            ",\"frame\":{frame},\"ts\":{ts},\"session_id\":{session_id},\"seq\":{seq},\"send_time\":{send_time}"
        ),
        MsgContext::ItchFile { seq } => write!(o, ",\"seq\":{seq}"),
    };
    m.visit_fields(&mut JsonFields(o));
    o.extend_from_slice(b"}\n");
}

/// Writes field values as ` name=value`; alpha fields that are empty print as `''`.
#[derive(Debug)]
pub struct TextFields<'o>(pub &'o mut Vec<u8>);

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

/// Appends `2023-10-02T11:34:35.036614045Z` from ns since the Unix epoch.
pub fn utc(o: &mut Vec<u8>, ns: u64) {
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

/// Appends one message as an aligned, human-readable line: the context (frame, capture time
/// in UTC, session, sequence number), the type character, then ` name=value` per field.
pub fn text_line(o: &mut Vec<u8>, ctx: MsgContext<'_>, m: &dyn Fields) {
    match ctx {
        MsgContext::Mold {
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
        MsgContext::Iex {
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
        MsgContext::ItchFile { seq } => {
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

    /// `fh decode` prints ITCH `Price(8)` (unsigned) at its extremes as the positive numbers they
    /// are, in JSON and text.
    #[test]
    fn price8_extremes_print_unsigned() {
        use fh_decoders::itch50::{price8, Message, MwcbDeclineLevel};
        use fh_decoders::price::UFixed;
        use zerocopy::IntoBytes;
        let mut m = MwcbDeclineLevel::new(0, 0, 1);
        m.level_1 = price8(UFixed(u64::MAX));
        m.level_2 = price8(UFixed(1 << 63));
        m.level_3 = price8(UFixed(768_000_000_000));
        let bytes = m.as_bytes().to_vec();
        let msg = Message::parse(&bytes).unwrap();
        let mut o = Vec::new();
        json_line(&mut o, MsgContext::ItchFile { seq: 1 }, &msg);
        let line = String::from_utf8(o).unwrap();
        assert!(
            line.ends_with(
                ",\"level_1\":\"184467440737.09551615\",\"level_2\":\"92233720368.54775808\",\"level_3\":\"7680.00000000\"}\n"
            ),
            "{line}"
        );
        let mut o = Vec::new();
        text_line(&mut o, MsgContext::ItchFile { seq: 1 }, &msg);
        let line = String::from_utf8(o).unwrap();
        assert!(
            line.contains("level_1=184467440737.09551615 level_2=92233720368.54775808"),
            "{line}"
        );
    }

    /// An ITCH file of `n` system event messages ('S', 12 bytes), in a fresh temp folder.
    fn itch_file(name: &str, n: u64) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("fh-dump-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.NASDAQ_ITCH50");
        let mut w = fh_replay::writer::ItchFileWriter::new(std::fs::File::create(&path).unwrap());
        for i in 0..n {
            let mut m = [0u8; 12];
            m[0] = b'S';
            m[5..11].copy_from_slice(&(1000 + i).to_be_bytes()[2..]);
            m[11] = b'O';
            w.write_message(&m).unwrap();
        }
        w.finish().unwrap();
        path
    }

    /// A writer whose reader has gone (`| head`).
    struct Closed;

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn ends_limit_stop_closed_output_and_errors() {
        let path = itch_file("ends", 5);
        let go = AtomicBool::new(false);
        let all = DumpConfig::default();
        let mut out = Vec::new();
        let s = dump_file(&path, &all, &mut out, &go).unwrap();
        assert_eq!((s.records, s.printed, s.end), (5, 5, End::Complete));
        assert_eq!(s.to_string(), "5 records, 5 messages decoded, 5 printed");
        let first = String::from_utf8(out)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_string();
        assert_eq!(
            first,
            "seq 1            S stock_locate=0 tracking_number=0 timestamp=1000 event_code=O"
        );

        let json = DumpConfig {
            format: Format::Json,
            limit: Some(2),
            ..DumpConfig::default()
        };
        let mut out = Vec::new();
        let s = dump_file(&path, &json, &mut out, &go).unwrap();
        assert_eq!((s.printed, s.end), (2, End::Limit));
        assert!(out.starts_with(b"{\"type\":\"S\",\"seq\":1,\"stock_locate\":0,"));

        let s = dump_file(&path, &all, &mut Closed, &go).unwrap();
        assert_eq!((s.printed, s.end), (0, End::OutputClosed));

        let s = dump_file(&path, &all, &mut Vec::new(), &AtomicBool::new(true)).unwrap();
        assert_eq!((s.records, s.end), (0, End::Stopped));

        let iex = DumpConfig {
            protocol: Protocol::Iex,
            ..DumpConfig::default()
        };
        let e = dump_file(&path, &iex, &mut Vec::new(), &go).unwrap_err();
        let want = format!("{}: an ITCH file cannot be decoded as IEX", path.display());
        assert_eq!(e.to_string(), want);
        let e = dump_file(path.with_extension("none"), &all, &mut Vec::new(), &go).unwrap_err();
        assert!(matches!(e, DumpError::Capture(_)), "{e}");
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
