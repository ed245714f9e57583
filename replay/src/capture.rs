//! Capture readers: classic pcap, pcapng and Nasdaq `*.NASDAQ_ITCH50` files, read where they lie.
//!
//! ```text
//!  Capture::open(path) ── mmap ──► bytes ──► Records<'_>      (pcap, pcapng: Record per packet)
//!                                       └──► ItchMessages<'_> (NASDAQ_ITCH50 plain or .gz)
//! ```
//!
//! The readers work over any `&[u8]` ([`Records::new`], [`ItchMessages::new`]); the memory map
//! of [`Capture`] is one source of bytes, a fuzzer's input is another.
//!
//! ## Invariants
//! - **Zero copy, no allocation per record.** A [`Record`]'s `data` and a plain ITCH message are
//!   slices of the input. A gzip'd ITCH file is inflated through one reusable buffer (the only
//!   copy), grown only for a message longer than any before it (at most 64 KiB + 2).
//! - **Never panics, whatever the bytes.** Every length is checked against what is left before
//!   it is used; all arithmetic on values from the file is checked or saturating.
//! - **Errors are one line naming the file and the byte offset** ([`Error`]'s `Display`):
//!   `FILE: offset N: what`. A file that is no capture, an unsupported version, an unknown link
//!   type, an absurd record or block length, a pcapng block whose trailing length disagrees
//!   (a block cut in the middle of the file) are hard errors. Iteration stops after any error.
//! - **A capture cut off at its very end** (its last record incomplete) yields every complete
//!   record and then one [`Error`] whose [`Error::is_truncation`] is true: a warning, not a
//!   failure.
//! - Timestamps are ns since the Unix epoch: pcap µs × 1000; pcapng units converted per
//!   interface (`if_tsresol`, powers of 10 and of 2, plus `if_tsoffset`), saturating at
//!   `u64::MAX`. A Simple Packet Block has no timestamp: it repeats the previous record's.
//! - pcapng: a Section Header Block resets the byte order and the interface list; unknown
//!   blocks are skipped by length; interface ids index the current section's IDBs.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use memmap2::Mmap;

use crate::frame::LinkType;
use crate::writer::{Endian, PCAP_MAGIC_NS, PCAP_MAGIC_US};

/// The kind of a capture file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Classic pcap (µs or ns, either byte order).
    Pcap,
    /// pcapng.
    Pcapng,
    /// Nasdaq historical ITCH 5.0 file, uncompressed.
    Itch,
    /// Nasdaq historical ITCH 5.0 file, gzip'd.
    ItchGz,
}

/// Largest captured length accepted whatever the snap length says (libpcap's maximum).
pub const MAX_SNAPLEN: u32 = 262_144;
/// Largest pcapng block accepted (libpcap's limit).
pub const MAX_BLOCK: u32 = 16 * 1024 * 1024;

const PCAPNG_SHB: u32 = 0x0A0D_0D0A;
const PCAPNG_BOM: u32 = 0x1A2B_3C4D;
const GZIP_MAGIC: [u8; 2] = [0x1F, 0x8B];

/// What went wrong, without the file name and offset (see [`Error`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Opening or mapping the file failed.
    Io(io::ErrorKind),
    /// The first bytes are no pcap or pcapng magic and the name no `NASDAQ_ITCH50`.
    NotACapture { head: [u8; 4], len: usize },
    /// The file header is cut off.
    HeaderTruncated,
    /// A pcap or pcapng version this reader does not know.
    UnsupportedVersion { major: u16, minor: u16 },
    /// A link type this reader does not know (pcap header or pcapng IDB).
    UnknownLinkType(u32),
    /// A pcap record whose captured length no snap length allows.
    RecordTooLong { len: u32, snaplen: u32 },
    /// A pcapng block length below 12, not a multiple of 4, or above [`MAX_BLOCK`].
    BadBlockLength(u32),
    /// A pcapng block whose trailing length differs from its leading one.
    BlockLengthMismatch { first: u32, last: u32 },
    /// A pcapng SHB without a valid byte-order magic.
    BadByteOrderMagic(u32),
    /// A pcapng block whose body contradicts its length or its fields.
    BadBlock(&'static str),
    /// A pcapng packet block naming an interface the section has not described.
    UnknownInterface(u32),
    /// A gzip stream that does not inflate.
    Gzip(io::ErrorKind),
    /// The reader was asked for the wrong kind of records (packets of an ITCH file, or the
    /// reverse).
    WrongKind(Kind),
    /// The file ends inside a record: `needed` bytes for it, `available` left. A warning: every
    /// complete record before it was read.
    Truncated { needed: u64, available: u64 },
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ErrorKind::Io(k) => write!(f, "cannot read: {k}"),
            ErrorKind::NotACapture { head, len } => write!(
                f,
                "not a pcap, pcapng or NASDAQ_ITCH50 file (first bytes {:02x?}, {len} bytes)",
                &head[..len.min(4)]
            ),
            ErrorKind::HeaderTruncated => write!(f, "file header cut off"),
            ErrorKind::UnsupportedVersion { major, minor } => {
                write!(f, "unsupported format version {major}.{minor}")
            }
            ErrorKind::UnknownLinkType(t) => write!(f, "unknown link type {t}"),
            ErrorKind::RecordTooLong { len, snaplen } => write!(
                f,
                "record length {len} exceeds snaplen {snaplen} (and the limit {MAX_SNAPLEN})"
            ),
            ErrorKind::BadBlockLength(l) => write!(
                f,
                "pcapng block length {l} is invalid (below 12, not a multiple of 4 or above {MAX_BLOCK})"
            ),
            ErrorKind::BlockLengthMismatch { first, last } => write!(
                f,
                "pcapng block length {first} differs from its trailing copy {last} (block cut or corrupt)"
            ),
            ErrorKind::BadByteOrderMagic(m) => {
                write!(f, "pcapng section header with bad byte-order magic {m:#010x}")
            }
            ErrorKind::BadBlock(why) => write!(f, "malformed pcapng block: {why}"),
            ErrorKind::UnknownInterface(i) => {
                write!(f, "packet on interface {i}, which no IDB of this section describes")
            }
            ErrorKind::Gzip(k) => write!(f, "gzip stream does not inflate: {k}"),
            ErrorKind::WrongKind(k) => write!(f, "wrong reader for a file of kind {k:?}"),
            ErrorKind::Truncated { needed, available } => write!(
                f,
                "capture cut off: last record needs {needed} bytes, {available} left (complete records before it were read)"
            ),
        }
    }
}

/// A capture error: the file, the byte offset (in the file; in the inflated stream for a gzip'd
/// ITCH file) and what went wrong. Displays as one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub path: PathBuf,
    pub offset: u64,
    pub kind: ErrorKind,
}

impl Error {
    fn new(path: &Path, offset: u64, kind: ErrorKind) -> Error {
        Error {
            path: path.to_path_buf(),
            offset,
            kind,
        }
    }

    /// True for a capture cut off at its very end: a warning, every complete record was read.
    pub fn is_truncation(&self) -> bool {
        matches!(self.kind, ErrorKind::Truncated { .. })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: offset {}: {}",
            self.path.display(),
            self.offset,
            self.kind
        )
    }
}

impl std::error::Error for Error {}

/// One captured packet: a slice of the capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// 0-based index among the packets of the file.
    pub index: u64,
    /// Byte offset of the record (pcap record header / pcapng block) in the file.
    pub offset: u64,
    /// Capture time, ns since the Unix epoch.
    pub ts_ns: u64,
    /// Link type of the packet's interface.
    pub link: LinkType,
    /// pcapng interface id within its section (0 for classic pcap).
    pub interface: u32,
    /// Length of the packet on the wire (≥ `data.len()` when the capture cut it).
    pub orig_len: u32,
    /// The captured bytes, starting with the link-layer header.
    pub data: &'a [u8],
}

/// Detects the kind of a file from its first bytes and its name.
///
/// pcap and pcapng are told by magic; a name containing `NASDAQ_ITCH50` is an ITCH file,
/// gzip'd if it starts with the gzip magic or its name ends in `.gz`.
pub fn detect(path: &Path, bytes: &[u8]) -> Result<Kind, Error> {
    if let Some(&head) = bytes.first_chunk::<4>() {
        let m = u32::from_le_bytes(head);
        if m == PCAPNG_SHB {
            return Ok(Kind::Pcapng);
        }
        if pcap_magic(head).is_some() {
            return Ok(Kind::Pcap);
        }
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_uppercase())
        .unwrap_or_default();
    if name.contains("NASDAQ_ITCH50") {
        let gz = bytes.starts_with(&GZIP_MAGIC) || name.ends_with(".GZ");
        return Ok(if gz { Kind::ItchGz } else { Kind::Itch });
    }
    let mut head = [0u8; 4];
    let n = bytes.len().min(4);
    head[..n].copy_from_slice(&bytes[..n]);
    Err(Error::new(
        path,
        0,
        ErrorKind::NotACapture {
            head,
            len: bytes.len(),
        },
    ))
}

/// Byte order and nanosecond flag of a classic pcap magic as found on disk.
fn pcap_magic(head: [u8; 4]) -> Option<(Endian, bool)> {
    let le = u32::from_le_bytes(head);
    let be = u32::from_be_bytes(head);
    match (le, be) {
        (PCAP_MAGIC_US, _) => Some((Endian::Little, false)),
        (PCAP_MAGIC_NS, _) => Some((Endian::Little, true)),
        (_, PCAP_MAGIC_US) => Some((Endian::Big, false)),
        (_, PCAP_MAGIC_NS) => Some((Endian::Big, true)),
        _ => None,
    }
}

/// A capture file mapped into memory, with its detected kind.
#[derive(Debug)]
pub struct Capture {
    path: PathBuf,
    map: Mmap,
    kind: Kind,
}

impl Capture {
    /// Maps `path` and detects its kind (see [`detect`]). For pcap the file header is checked
    /// here, so a bad link type or version fails at open.
    pub fn open(path: impl AsRef<Path>) -> Result<Capture, Error> {
        Self::open_kind(path, None)
    }

    /// Like [`Capture::open`], with the kind given (`None`: detect it).
    pub fn open_kind(path: impl AsRef<Path>, kind: Option<Kind>) -> Result<Capture, Error> {
        let path = path.as_ref();
        let io = |e: io::Error| Error::new(path, 0, ErrorKind::Io(e.kind()));
        let file = File::open(path).map_err(io)?;
        // SAFETY: the mapping is read-only and private to this process; the file is a capture
        // that nothing should modify while it is read. Were it truncated underneath us, reads
        // past the new end would fault (SIGBUS): the accepted risk of every mmapped reader.
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        let kind = match kind {
            Some(k) => k,
            None => detect(path, &map)?,
        };
        let cap = Capture {
            path: path.to_path_buf(),
            map,
            kind,
        };
        match kind {
            Kind::Pcap | Kind::Pcapng => drop(cap.records()?),
            Kind::Itch | Kind::ItchGz => drop(cap.itch_messages()?),
        }
        Ok(cap)
    }

    /// The file's kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// The packets of a pcap or pcapng file.
    pub fn records(&self) -> Result<Records<'_>, Error> {
        match self.kind {
            Kind::Pcap | Kind::Pcapng => Records::with_kind(&self.path, &self.map, self.kind),
            k => Err(Error::new(&self.path, 0, ErrorKind::WrongKind(k))),
        }
    }

    /// The messages of a NASDAQ_ITCH50 file.
    pub fn itch_messages(&self) -> Result<ItchMessages<'_>, Error> {
        match self.kind {
            Kind::Itch => Ok(ItchMessages::new(&self.path, &self.map, false)),
            Kind::ItchGz => Ok(ItchMessages::new(&self.path, &self.map, true)),
            k => Err(Error::new(&self.path, 0, ErrorKind::WrongKind(k))),
        }
    }
}

/// How a pcapng interface's timestamp units become nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TsConv {
    Mul(u64),
    Div(u64),
    Shift(u32),
}

impl TsConv {
    /// From an `if_tsresol` byte; `None` when out of range (10^-v, v ≤ 19; 2^-k, k ≤ 63).
    fn from_tsresol(v: u8) -> Option<TsConv> {
        if v & 0x80 == 0 {
            let v = u32::from(v);
            if v > 19 {
                None
            } else if v <= 9 {
                Some(TsConv::Mul(10u64.pow(9 - v)))
            } else {
                Some(TsConv::Div(10u64.pow(v - 9)))
            }
        } else {
            let k = u32::from(v & 0x7F);
            (k <= 63).then_some(TsConv::Shift(k))
        }
    }

    #[inline]
    fn to_ns(self, units: u64) -> u64 {
        match self {
            TsConv::Mul(m) => units.saturating_mul(m),
            TsConv::Div(d) => units / d,
            TsConv::Shift(k) => {
                u64::try_from((u128::from(units) * 1_000_000_000) >> k).unwrap_or(u64::MAX)
            }
        }
    }
}

/// One pcapng interface (IDB) of the current section.
#[derive(Clone, Copy, Debug)]
struct Iface {
    link: LinkType,
    snaplen: u32,
    conv: TsConv,
    /// `if_tsoffset` in ns (saturating).
    offset_ns: i64,
}

impl Iface {
    #[inline]
    fn ts(&self, units: u64) -> u64 {
        self.conv.to_ns(units).saturating_add_signed(self.offset_ns)
    }
}

#[derive(Debug)]
enum State {
    Pcap {
        endian: Endian,
        nano: bool,
        link: LinkType,
        snaplen: u32,
    },
    Pcapng {
        endian: Endian,
        ifaces: Vec<Iface>,
    },
    Done,
}

/// Iterator over the packets of a pcap or pcapng capture held in memory.
///
/// Yields `Ok(Record)` for each packet, then ends; or yields one `Err` and ends (a warning when
/// [`Error::is_truncation`]).
#[derive(Debug)]
pub struct Records<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    pos: usize,
    index: u64,
    last_ts: u64,
    state: State,
}

impl<'a> Records<'a> {
    /// Reads the pcap or pcapng capture in `bytes` (`path` only names it in errors). Checks
    /// the pcap file header now.
    pub fn new(path: &'a Path, bytes: &'a [u8]) -> Result<Records<'a>, Error> {
        let kind = detect(path, bytes)?;
        Self::with_kind(path, bytes, kind)
    }

    fn with_kind(path: &'a Path, bytes: &'a [u8], kind: Kind) -> Result<Records<'a>, Error> {
        let err = |offset, kind| Err(Error::new(path, offset, kind));
        let state = match kind {
            Kind::Pcapng => {
                if !bytes.starts_with(&PCAPNG_SHB.to_le_bytes()) {
                    return Err(not_a(path, bytes));
                }
                // Byte order is set by the SHB, read as the first block.
                State::Pcapng {
                    endian: Endian::Little,
                    ifaces: Vec::new(),
                }
            }
            Kind::Pcap => {
                let Some(h) = bytes.first_chunk::<24>() else {
                    return match bytes.first_chunk::<4>().and_then(|m| pcap_magic(*m)) {
                        Some(_) => err(0, ErrorKind::HeaderTruncated),
                        None => Err(not_a(path, bytes)),
                    };
                };
                let Some((endian, nano)) = pcap_magic([h[0], h[1], h[2], h[3]]) else {
                    return Err(not_a(path, bytes));
                };
                let major = endian.u16([h[4], h[5]]);
                let minor = endian.u16([h[6], h[7]]);
                if major != 2 && major != 543 {
                    return err(4, ErrorKind::UnsupportedVersion { major, minor });
                }
                let snaplen = endian.u32([h[16], h[17], h[18], h[19]]);
                let lt = endian.u32([h[20], h[21], h[22], h[23]]);
                // Bits 16-25 are reserved and must be 0; bits 26-31 describe an FCS, which
                // frame parsing cuts off with the IPv4 Total Length.
                let link = match (lt & 0x03FF_0000, LinkType::from_code(lt & 0xFFFF)) {
                    (0, Some(l)) => l,
                    _ => return err(20, ErrorKind::UnknownLinkType(lt)),
                };
                State::Pcap {
                    endian,
                    nano,
                    link,
                    snaplen,
                }
            }
            k => return err(0, ErrorKind::WrongKind(k)),
        };
        Ok(Records {
            path,
            bytes,
            pos: if kind == Kind::Pcap { 24 } else { 0 },
            index: 0,
            last_ts: 0,
            state,
        })
    }

    /// Byte offset of the next record.
    pub fn offset(&self) -> u64 {
        self.pos as u64
    }

    /// Packets yielded so far.
    pub fn yielded(&self) -> u64 {
        self.index
    }

    fn fail(&mut self, offset: usize, kind: ErrorKind) -> Option<Result<Record<'a>, Error>> {
        self.state = State::Done;
        Some(Err(Error::new(self.path, offset as u64, kind)))
    }

    fn truncated(&mut self, needed: u64) -> Option<Result<Record<'a>, Error>> {
        let available = (self.bytes.len() - self.pos) as u64;
        self.fail(self.pos, ErrorKind::Truncated { needed, available })
    }

    #[inline]
    fn next_pcap(
        &mut self,
        endian: Endian,
        nano: bool,
        link: LinkType,
        snaplen: u32,
    ) -> Option<Result<Record<'a>, Error>> {
        let rest = &self.bytes[self.pos..];
        if rest.is_empty() {
            self.state = State::Done;
            return None;
        }
        let Some(h) = rest.first_chunk::<16>() else {
            return self.truncated(16);
        };
        let rd = |i: usize| endian.u32([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let (sec, frac, caplen, orig) = (rd(0), rd(4), rd(8), rd(12));
        if caplen > snaplen.max(MAX_SNAPLEN) {
            return self.fail(
                self.pos,
                ErrorKind::RecordTooLong {
                    len: caplen,
                    snaplen,
                },
            );
        }
        let cap = caplen as usize;
        let Some(data) = rest.get(16..16 + cap) else {
            return self.truncated(16 + u64::from(caplen));
        };
        let frac_ns = if nano {
            u64::from(frac)
        } else {
            u64::from(frac) * 1000
        };
        let rec = Record {
            index: self.index,
            offset: self.pos as u64,
            ts_ns: u64::from(sec) * 1_000_000_000 + frac_ns,
            link,
            interface: 0,
            orig_len: orig,
            data,
        };
        self.pos += 16 + cap;
        self.index += 1;
        Some(Ok(rec))
    }

    fn next_pcapng(&mut self) -> Option<Result<Record<'a>, Error>> {
        loop {
            if matches!(self.state, State::Done) {
                return None;
            }
            let off = self.pos;
            let bytes: &'a [u8] = self.bytes;
            let rest = &bytes[off..];
            if rest.is_empty() {
                self.state = State::Done;
                return None;
            }
            let Some(h) = rest.first_chunk::<12>() else {
                return self.truncated(12);
            };
            let btype_raw = [h[0], h[1], h[2], h[3]];
            if u32::from_le_bytes(btype_raw) == PCAPNG_SHB {
                // The byte order is read before the length, from the byte-order magic.
                let bom = [h[8], h[9], h[10], h[11]];
                let found = match (u32::from_le_bytes(bom), u32::from_be_bytes(bom)) {
                    (PCAPNG_BOM, _) => Endian::Little,
                    (_, PCAPNG_BOM) => Endian::Big,
                    (m, _) => return self.fail(off + 8, ErrorKind::BadByteOrderMagic(m)),
                };
                let State::Pcapng { endian, .. } = &mut self.state else {
                    return None;
                };
                *endian = found;
            }
            let State::Pcapng { endian, ifaces } = &mut self.state else {
                return None;
            };
            let e = *endian;
            let btype = e.u32(btype_raw);
            let len = e.u32([h[4], h[5], h[6], h[7]]);
            if len < 12 || len % 4 != 0 || len > MAX_BLOCK {
                return self.fail(off, ErrorKind::BadBlockLength(len));
            }
            let Some(block) = rest.get(..len as usize) else {
                return self.truncated(u64::from(len));
            };
            let n = block.len();
            let last = e.u32([block[n - 4], block[n - 3], block[n - 2], block[n - 1]]);
            if last != len {
                return self.fail(off, ErrorKind::BlockLengthMismatch { first: len, last });
            }
            let body = &block[8..n - 4];
            let r32 = |i: usize| e.u32([body[i], body[i + 1], body[i + 2], body[i + 3]]);
            let bad = |why| Some(Err(ErrorKind::BadBlock(why)));
            // Each arm yields None (no packet: skip the block), a packet, or an error.
            let outcome: Option<Result<Packet<'a>, ErrorKind>> = match btype {
                PCAPNG_SHB => {
                    if body.len() < 16 {
                        bad("section header shorter than 16 bytes")
                    } else {
                        let major = e.u16([body[4], body[5]]);
                        let minor = e.u16([body[6], body[7]]);
                        ifaces.clear();
                        (major != 1).then_some(Err(ErrorKind::UnsupportedVersion { major, minor }))
                    }
                }
                1 => {
                    if body.len() < 8 {
                        bad("interface description shorter than 8 bytes")
                    } else {
                        match parse_idb(e, body) {
                            Ok(i) => {
                                ifaces.push(i);
                                None
                            }
                            Err(k) => Some(Err(k)),
                        }
                    }
                }
                6 => {
                    if body.len() < 20 {
                        bad("enhanced packet block shorter than 20 bytes")
                    } else {
                        let id = r32(0);
                        let units = (u64::from(r32(4)) << 32) | u64::from(r32(8));
                        let cap = r32(12) as usize;
                        match (ifaces.get(id as usize), body.get(20..20 + cap)) {
                            (None, _) => Some(Err(ErrorKind::UnknownInterface(id))),
                            (_, None) => bad("EPB captured length exceeds the block"),
                            (Some(i), Some(d)) => Some(Ok((id, i.link, i.ts(units), r32(16), d))),
                        }
                    }
                }
                2 => {
                    // Obsolete Packet Block: u16 interface, u16 drops, then as an EPB.
                    if body.len() < 20 {
                        bad("packet block shorter than 20 bytes")
                    } else {
                        let id = u32::from(e.u16([body[0], body[1]]));
                        let units = (u64::from(r32(4)) << 32) | u64::from(r32(8));
                        let cap = r32(12) as usize;
                        match (ifaces.get(id as usize), body.get(20..20 + cap)) {
                            (None, _) => Some(Err(ErrorKind::UnknownInterface(id))),
                            (_, None) => bad("packet block captured length exceeds the block"),
                            (Some(i), Some(d)) => Some(Ok((id, i.link, i.ts(units), r32(16), d))),
                        }
                    }
                }
                3 => {
                    if body.len() < 4 {
                        bad("simple packet block shorter than 4 bytes")
                    } else {
                        let orig = r32(0);
                        match ifaces.first() {
                            None => Some(Err(ErrorKind::UnknownInterface(0))),
                            Some(i) => {
                                let snap = if i.snaplen == 0 { u32::MAX } else { i.snaplen };
                                let cap = (orig.min(snap) as usize).min(body.len() - 4);
                                Some(Ok((0, i.link, self.last_ts, orig, &body[4..4 + cap])))
                            }
                        }
                    }
                }
                _ => None,
            };
            match outcome {
                None => self.pos += n,
                Some(Err(k)) => return self.fail(off, k),
                Some(Ok((interface, link, ts_ns, orig_len, data))) => {
                    self.pos += n;
                    self.last_ts = ts_ns;
                    let rec = Record {
                        index: self.index,
                        offset: off as u64,
                        ts_ns,
                        link,
                        interface,
                        orig_len,
                        data,
                    };
                    self.index += 1;
                    return Some(Ok(rec));
                }
            }
        }
    }
}

/// A packet found in a pcapng block: interface, link type, ts (ns), original length, data.
type Packet<'a> = (u32, LinkType, u64, u32, &'a [u8]);

/// Parses an IDB body (at least 8 bytes): link type, snap length and the options we use.
fn parse_idb(e: Endian, body: &[u8]) -> Result<Iface, ErrorKind> {
    let code = u32::from(e.u16([body[0], body[1]]));
    let link = LinkType::from_code(code).ok_or(ErrorKind::UnknownLinkType(code))?;
    let snaplen = e.u32([body[4], body[5], body[6], body[7]]);
    let mut conv = TsConv::Mul(1000);
    let mut offset_ns = 0i64;
    let mut opts = &body[8..];
    // Options end with opt_endofopt or at the end of the block, whichever comes first.
    while let Some(h) = opts.first_chunk::<4>() {
        let code = e.u16([h[0], h[1]]);
        let olen = usize::from(e.u16([h[2], h[3]]));
        let Some(val) = opts.get(4..4 + olen) else {
            return Err(ErrorKind::BadBlock("IDB option runs past the block"));
        };
        match code {
            0 => break,
            9 if olen >= 1 => {
                conv = TsConv::from_tsresol(val[0])
                    .ok_or(ErrorKind::BadBlock("if_tsresol out of range"))?;
            }
            14 if olen >= 8 => {
                let b = [
                    val[0], val[1], val[2], val[3], val[4], val[5], val[6], val[7],
                ];
                let s = e.u64(b) as i64;
                offset_ns = s.saturating_mul(1_000_000_000);
            }
            _ => {}
        }
        let step = 4 + olen.div_ceil(4) * 4;
        opts = opts.get(step..).unwrap_or(&[]);
    }
    Ok(Iface {
        link,
        snaplen,
        conv,
        offset_ns,
    })
}

fn not_a(path: &Path, bytes: &[u8]) -> Error {
    match detect(path, bytes) {
        Err(e) => e,
        Ok(_) => {
            let mut head = [0u8; 4];
            let n = bytes.len().min(4);
            head[..n].copy_from_slice(&bytes[..n]);
            Error::new(
                path,
                0,
                ErrorKind::NotACapture {
                    head,
                    len: bytes.len(),
                },
            )
        }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, Error>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self.state {
            State::Pcap {
                endian,
                nano,
                link,
                snaplen,
            } => self.next_pcap(endian, nano, link, snaplen),
            State::Pcapng { .. } => self.next_pcapng(),
            State::Done => None,
        }
    }
}

impl std::iter::FusedIterator for Records<'_> {}

/// One message of a NASDAQ_ITCH50 file (the 2-byte length prefix stripped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItchMessage<'a> {
    /// 0-based index of the message in the file.
    pub index: u64,
    /// Byte offset of its length prefix (in the inflated stream for a `.gz` file).
    pub offset: u64,
    /// The message, starting with its type byte.
    pub data: &'a [u8],
    /// The stream bytes after the message that are already at hand (the rest of the mapped
    /// file; the rest of the inflated buffer for a `.gz` file), starting with the next
    /// message's length prefix. A hint for looking ahead (the replay prefetches the books the
    /// next messages will touch): it may end anywhere, even inside a message.
    pub ahead: &'a [u8],
}

impl ItchMessage<'_> {
    /// The message's own timestamp (ns since midnight, bytes 5..11), if it is long enough.
    /// These files carry no capture time.
    pub fn timestamp_ns(&self) -> Option<u64> {
        let t = self.data.get(5..11)?;
        Some(t.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }
}

/// Size of the inflate buffer of a gzip'd ITCH file (grown only for a longer message).
const GZ_BUF: usize = 256 * 1024;

#[derive(Debug)]
enum ItchSource<'a> {
    Plain(&'a [u8]),
    Gz {
        dec: Box<MultiGzDecoder<&'a [u8]>>,
        buf: Vec<u8>,
        /// Unconsumed bytes are `buf[start..end]`.
        start: usize,
        end: usize,
        eof: bool,
        /// The compressed stream ended early (a cut `.gz` file).
        cut: bool,
    },
}

/// Reader of the messages of a NASDAQ_ITCH50 file: a lending iterator (each message borrows
/// the reader until the next call), since a gzip'd file is inflated into one reusable buffer.
#[derive(Debug)]
pub struct ItchMessages<'a> {
    path: &'a Path,
    src: ItchSource<'a>,
    /// Stream offset of the next message's length prefix.
    pos: u64,
    index: u64,
    done: bool,
}

impl<'a> ItchMessages<'a> {
    /// Reads the ITCH file in `bytes`, inflating it if `gz`.
    pub fn new(path: &'a Path, bytes: &'a [u8], gz: bool) -> ItchMessages<'a> {
        let src = if gz {
            ItchSource::Gz {
                dec: Box::new(MultiGzDecoder::new(bytes)),
                // Small inputs get a small buffer; it grows for a longer message.
                buf: vec![0; GZ_BUF.min(bytes.len().saturating_mul(8).max(4096))],
                start: 0,
                end: 0,
                eof: false,
                cut: false,
            }
        } else {
            ItchSource::Plain(bytes)
        };
        ItchMessages {
            path,
            src,
            pos: 0,
            index: 0,
            done: false,
        }
    }

    /// Messages yielded so far.
    pub fn yielded(&self) -> u64 {
        self.index
    }

    /// The next message, or an error (then `None` forever). A file cut inside its last message
    /// ends with an error whose [`Error::is_truncation`] is true.
    pub fn next_message(&mut self) -> Option<Result<ItchMessage<'_>, Error>> {
        if self.done {
            return None;
        }
        let pos = self.pos;
        let fail = |done: &mut bool, kind| {
            *done = true;
            Some(Err(Error::new(self.path, pos, kind)))
        };
        match &mut self.src {
            ItchSource::Plain(bytes) => {
                let rest = bytes.get(pos as usize..).unwrap_or(&[]);
                if rest.is_empty() {
                    self.done = true;
                    return None;
                }
                let Some(&l) = rest.first_chunk::<2>() else {
                    return fail(&mut self.done, truncated(2, rest.len()));
                };
                let len = usize::from(u16::from_be_bytes(l));
                let Some(data) = rest.get(2..2 + len) else {
                    return fail(&mut self.done, truncated(2 + len, rest.len()));
                };
                self.pos += 2 + len as u64;
                let m = ItchMessage {
                    index: self.index,
                    offset: pos,
                    data,
                    ahead: rest.get(2 + len..).unwrap_or(&[]),
                };
                self.index += 1;
                Some(Ok(m))
            }
            ItchSource::Gz {
                dec,
                buf,
                start,
                end,
                eof,
                cut,
            } => {
                // Make sure the length prefix, then the message, is in the buffer.
                let mut need = 2;
                loop {
                    let have = *end - *start;
                    if have >= need {
                        if need == 2 {
                            let l = u16::from_be_bytes([buf[*start], buf[*start + 1]]);
                            need = 2 + usize::from(l);
                            if have >= need {
                                break;
                            }
                        } else {
                            break;
                        }
                    }
                    if *eof {
                        if have == 0 && !*cut {
                            self.done = true;
                            return None;
                        }
                        return fail(&mut self.done, truncated(need, have));
                    }
                    // Move the unconsumed tail to the front, grow if a message needs it, fill.
                    if *start > 0 {
                        buf.copy_within(*start..*end, 0);
                        *end -= *start;
                        *start = 0;
                    }
                    if buf.len() < need {
                        buf.resize(need, 0);
                    }
                    match dec.read(&mut buf[*end..]) {
                        Ok(0) => *eof = true,
                        Ok(n) => *end += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                            *eof = true;
                            *cut = true;
                        }
                        Err(e) => return fail(&mut self.done, ErrorKind::Gzip(e.kind())),
                    }
                }
                let s = *start;
                *start += need;
                self.pos += need as u64;
                let m = ItchMessage {
                    index: self.index,
                    offset: pos,
                    data: &buf[s + 2..s + need],
                    ahead: &buf[s + need..*end],
                };
                self.index += 1;
                Some(Ok(m))
            }
        }
    }
}

fn truncated(needed: usize, available: usize) -> ErrorKind {
    ErrorKind::Truncated {
        needed: needed as u64,
        available: available as u64,
    }
}

#[cfg(test)]
mod tests;
