//! Capture readers: classic pcap, pcapng, gzip and bare ITCH 5.0 streams (Nasdaq's
//! `*.NASDAQ_ITCH50` files), read where they lie.
//!
//! ```text
//!  Capture::open(path | "-") ── detect from the bytes ──►
//!     pcap, pcapng ─ mmap ─────────────────────► Records<'_>      (Record per packet)
//!     gzip ─ inflate (≤ MAX_IN_MEMORY) ─ pcap/pcapng ─► Records<'_>
//!          └ ITCH inside ─ inflated as it is read ──► ItchMessages<'_>
//!     bare ITCH 5.0 stream ─ mmap ──────────────► ItchMessages<'_> (u16 length + message)
//! ```
//!
//! The readers work over any `&[u8]` ([`Records::new`], [`ItchMessages::new`]); the memory map
//! of [`Capture`] is one source of bytes, a fuzzer's input is another.
//!
//! ## Content decides, not names
//! [`detect`] looks at the bytes: a pcap magic (µs or ns, either byte order), a pcapng Section
//! Header Block, the gzip magic `1f 8b` (then the first [`GZIP_PEEK`] inflated bytes are
//! looked at again: pcap, pcapng or ITCH inside), or a bare ITCH 5.0 stream: its first
//! [`ITCH_CHECK_MESSAGES`] messages (or all of them, if fewer) must each have a type ITCH 5.0
//! defines and exactly that type's length. Text or random bytes fail that at once: the error
//! names the offset of the first message that makes no sense. The name only breaks a tie: a
//! stream that ends inside its very first message is ITCH only when the name says so
//! (`ITCH` in it, as in `.NASDAQ_ITCH50` or `.itch`).
//!
//! ## Where the bytes are
//! - A regular file is memory-mapped (zero copy).
//! - `-` (standard input), a pipe or a device, and a gzip'd pcap or pcapng once inflated, are
//!   read into memory, at most [`MAX_IN_MEMORY`] bytes (a clear error beyond; a gzip'd ITCH
//!   stream is never inflated whole, so it has no limit).
//!
//! ## Invariants
//! - **Zero copy, no allocation per record.** A [`Record`]'s `data` and a plain ITCH message are
//!   slices of the input. A gzip'd ITCH file is inflated through one reusable buffer (the only
//!   copy), grown only for a message longer than any before it (at most 64 KiB + 2).
//! - **Never panics, whatever the bytes.** Every length is checked against what is left before
//!   it is used; all arithmetic on values from the file is checked or saturating.
//! - **Errors are one line naming the file** ([`Error`]'s `Display`): `FILE: what` for what the
//!   system says (`is a directory`, `no such file`, `permission denied`), `FILE: offset N:
//!   what` for what the bytes say (offsets in the inflated stream for a gzip'd file; `FILE` is
//!   `standard input` for `-`). A file that is no capture, empty, an unsupported version, an
//!   unknown link type, an absurd record or block length, a pcapng block whose trailing length
//!   disagrees (a block cut in the middle of the file) are hard errors. Iteration stops after
//!   any error.
//! - **A capture cut off at its very end** (its last record incomplete, or its gzip stream cut)
//!   yields every complete record and then one [`Error`] whose [`Error::is_truncation`] is
//!   true: a warning, not a failure.
//! - Timestamps are ns since the Unix epoch: pcap µs × 1000; pcapng units converted per
//!   interface (`if_tsresol`, powers of 10 and of 2, plus `if_tsoffset`), saturating at
//!   `u64::MAX`. A Simple Packet Block has no timestamp: it repeats the previous record's.
//! - pcapng: a Section Header Block resets the byte order and the interface list; unknown
//!   blocks are skipped by length; interface ids index the current section's IDBs.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use memmap2::Mmap;

use crate::frame::LinkType;
use crate::writer::{Endian, PCAP_MAGIC_NS, PCAP_MAGIC_US};

/// The kind of a capture's content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Classic pcap (µs or ns, either byte order; inflated first when gzip'd).
    Pcap,
    /// pcapng (inflated first when gzip'd).
    Pcapng,
    /// A bare ITCH 5.0 stream (Nasdaq's historical file format), uncompressed.
    Itch,
    /// A bare ITCH 5.0 stream, gzip'd (inflated as it is read).
    ItchGz,
}

/// What [`detect`] found: the kind of the content and whether the bytes are gzip'd.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Detected {
    /// The content (`ItchGz` for a gzip'd ITCH stream; `Pcap`/`Pcapng` for a gzip'd capture,
    /// whose bytes must be inflated before [`Records`] can read them).
    pub kind: Kind,
    /// The bytes are gzip'd.
    pub gzip: bool,
}

/// Largest captured length accepted whatever the snap length says (libpcap's maximum).
pub const MAX_SNAPLEN: u32 = 262_144;
/// Largest pcapng block accepted (libpcap's limit).
pub const MAX_BLOCK: u32 = 16 * 1024 * 1024;
/// Most bytes held in memory for one capture: standard input (`-`), a pipe or a device as
/// read, a gzip'd pcap or pcapng once inflated (2 GiB). A regular file is mapped instead, and
/// a gzip'd ITCH stream is inflated as it is read: neither has a limit.
/// [`Capture::open_with`] takes another limit.
pub const MAX_IN_MEMORY: u64 = 2 << 30;
/// Messages at the start of a bare ITCH stream that must all be valid ITCH 5.0 (type and
/// length) for [`detect`] to take it for one.
pub const ITCH_CHECK_MESSAGES: usize = 8;
/// Inflated bytes [`detect`] looks at inside a gzip stream.
pub const GZIP_PEEK: usize = 64 * 1024;

const PCAPNG_SHB: u32 = 0x0A0D_0D0A;
const PCAPNG_BOM: u32 = 0x1A2B_3C4D;
const GZIP_MAGIC: [u8; 2] = [0x1F, 0x8B];

/// Why bytes are no ITCH 5.0 stream ([`ErrorKind::NotACapture`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotItch {
    /// A type byte ITCH 5.0 does not define.
    UnknownType(u8),
    /// A known type whose length prefix differs from the type's length.
    BadLength {
        /// The type byte.
        ty: u8,
        /// The length prefix.
        len: u16,
        /// The type's length in ITCH 5.0.
        want: u16,
    },
    /// The bytes end inside the first message and the name does not say ITCH.
    CutFirst,
    /// gzip inside gzip.
    GzipInGzip,
}

impl fmt::Display for NotItch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            NotItch::UnknownType(t) => write!(f, "{} is no ITCH 5.0 message type", show_byte(t)),
            NotItch::BadLength { ty, len, want } => write!(
                f,
                "an ITCH 5.0 {} message is {want} bytes, its length prefix says {len}",
                show_byte(ty)
            ),
            NotItch::CutFirst => write!(f, "it ends inside its first message"),
            NotItch::GzipInGzip => write!(f, "it is gzip inside gzip"),
        }
    }
}

/// `'A'` for a printable byte, `0x1f` otherwise.
fn show_byte(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("{b:#04x}")
    }
}

/// What went wrong, without the file name and offset (see [`Error`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Opening or reading the file failed (`is a directory`, `no such file`…).
    Io(io::ErrorKind),
    /// The file (or the gzip stream in it) holds no byte.
    Empty {
        /// It is an empty gzip stream.
        gzip: bool,
    },
    /// Neither pcap, pcapng, gzip nor an ITCH 5.0 stream: the first bytes (`len` of the file)
    /// and why they are no ITCH either (at the error's offset).
    NotACapture {
        head: [u8; 4],
        len: usize,
        why: NotItch,
    },
    /// More than the limit to hold in memory ([`MAX_IN_MEMORY`]).
    TooLarge {
        /// The limit, bytes.
        limit: u64,
        /// Inflating a gzip'd pcap or pcapng (else: reading standard input, a pipe, a device).
        gzip: bool,
    },
    /// [`Records::new`] was given gzip'd bytes: [`Capture::open`] inflates them.
    Compressed,
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
    /// The gzip stream of a pcap or pcapng was cut off (at a record boundary of the inflated
    /// bytes). A warning: every complete record before it was read.
    GzipCut,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ErrorKind::Io(k) => f.write_str(&input_words(k)),
            ErrorKind::Empty { gzip: false } => write!(f, "empty file"),
            ErrorKind::Empty { gzip: true } => write!(f, "empty file (a gzip stream of nothing)"),
            ErrorKind::NotACapture { head, len, why } => write!(
                f,
                "not a capture (pcap, pcapng, gzip) or an ITCH 5.0 stream: {why} (the file starts with {:02x?}, {len} bytes)",
                &head[..len.min(4)]
            ),
            ErrorKind::TooLarge { limit, gzip: true } => write!(
                f,
                "a gzip'd pcap or pcapng is inflated into memory, and this one inflates to more than {limit} bytes: gunzip it to a file first"
            ),
            ErrorKind::TooLarge { limit, gzip: false } => write!(
                f,
                "standard input, a pipe or a device is read into memory, and this one holds more than {limit} bytes: write it to a file first"
            ),
            ErrorKind::Compressed => write!(
                f,
                "gzip'd pcap or pcapng: inflate it first (Capture::open does)"
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
            ErrorKind::Gzip(k) => write!(f, "gzip stream does not inflate: {}", input_words(k)),
            ErrorKind::WrongKind(k) => write!(f, "wrong reader for a file of kind {k:?}"),
            ErrorKind::Truncated { needed, available } => write!(
                f,
                "capture cut off: last record needs {needed} bytes, {available} left (complete records before it were read)"
            ),
            ErrorKind::GzipCut => write!(
                f,
                "gzip stream cut off (complete records before it were read)"
            ),
        }
    }
}

/// Plain words for an I/O error on an input file: "no such file", "is a directory",
/// "permission denied" ([`crate::io_words`] for the others).
fn input_words(k: io::ErrorKind) -> String {
    match k {
        io::ErrorKind::NotFound => "no such file".to_string(),
        io::ErrorKind::InvalidInput => "invalid input".to_string(),
        k => crate::io_kind_words(k)
            .map(str::to_string)
            .unwrap_or_else(|| k.to_string().to_lowercase()),
    }
}

/// A capture error: the file, the byte offset (in the file; in the inflated stream for a gzip'd
/// file) and what went wrong. Displays as one line: `FILE: what` for an I/O error, else
/// `FILE: offset N: what` (`FILE` is `standard input` for `-`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub path: PathBuf,
    pub offset: u64,
    pub kind: ErrorKind,
}

impl Error {
    #[inline]
    fn new(path: &Path, offset: u64, kind: ErrorKind) -> Error {
        Error {
            path: path.to_path_buf(),
            offset,
            kind,
        }
    }

    /// True for a capture cut off at its very end: a warning, every complete record was read.
    pub fn is_truncation(&self) -> bool {
        matches!(self.kind, ErrorKind::Truncated { .. } | ErrorKind::GzipCut)
    }
}

/// How a capture's path is shown: `standard input` for `-`.
pub fn display_path(path: &Path) -> std::borrow::Cow<'_, str> {
    if is_stdin(path) {
        "standard input".into()
    } else {
        path.to_string_lossy()
    }
}

/// `-`: standard input.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = display_path(&self.path);
        match self.kind {
            ErrorKind::Io(_) => write!(f, "{path}: {}", self.kind),
            _ => write!(f, "{path}: offset {}: {}", self.offset, self.kind),
        }
    }
}

impl std::error::Error for Error {}

/// One captured packet: a slice of the capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// 0-based index among the packets of the file.
    pub index: u64,
    /// Byte offset of the record (pcap record header / pcapng block) in the file (in the
    /// inflated bytes of a gzip'd file).
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

/// The name says ITCH (`ITCH` in it, any case: `.NASDAQ_ITCH50`, `.itch`, `.itch.gz`).
fn name_says_itch(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().to_ascii_uppercase().contains("ITCH"))
}

/// The kind told by the magic numbers alone: pcapng, pcap or gzip (`None`: none of them).
fn magic_kind(bytes: &[u8]) -> Option<Magic> {
    let head = *bytes.first_chunk::<4>()?;
    if u32::from_le_bytes(head) == PCAPNG_SHB {
        Some(Magic::Pcapng)
    } else if pcap_magic(head).is_some() {
        Some(Magic::Pcap)
    } else if bytes.starts_with(&GZIP_MAGIC) {
        Some(Magic::Gzip)
    } else {
        None
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Magic {
    Pcap,
    Pcapng,
    Gzip,
}

/// Whether `bytes` start like a bare ITCH 5.0 stream: each of the first
/// [`ITCH_CHECK_MESSAGES`] messages (fewer if the bytes end first) has a type ITCH 5.0 defines
/// and exactly its length. `Err((offset, why))` at the first one that does not. Bytes that
/// end inside the first message are ITCH only if `tie` (the name says so).
pub fn check_itch(bytes: &[u8], tie: bool) -> Result<(), (u64, NotItch)> {
    let mut pos = 0usize;
    for n in 0..ITCH_CHECK_MESSAGES {
        let rest = bytes.get(pos..).unwrap_or(&[]);
        let cut = |pos: usize| {
            // The bytes end inside message `n`: fine after a whole one, a tie before.
            if n > 0 || tie {
                Ok(())
            } else {
                Err((pos as u64, NotItch::CutFirst))
            }
        };
        let Some(&[l0, l1, ty]) = rest.first_chunk::<3>() else {
            return if rest.is_empty() { Ok(()) } else { cut(pos) };
        };
        let len = u16::from_be_bytes([l0, l1]);
        let Some(want) = fh_decoders::itch50::len_of(ty) else {
            return Err((pos as u64, NotItch::UnknownType(ty)));
        };
        let want = want as u16;
        if len != want {
            return Err((pos as u64, NotItch::BadLength { ty, len, want }));
        }
        if rest.len() < 2 + usize::from(len) {
            return cut(pos);
        }
        pos += 2 + usize::from(len);
    }
    Ok(())
}

/// Detects what `bytes` hold from the bytes (the name of `path` only breaks a tie, see the
/// module docs): pcap, pcapng, gzip (the first [`GZIP_PEEK`] inflated bytes looked at again)
/// or a bare ITCH 5.0 stream.
pub fn detect(path: &Path, bytes: &[u8]) -> Result<Detected, Error> {
    if bytes.is_empty() {
        return Err(Error::new(path, 0, ErrorKind::Empty { gzip: false }));
    }
    let plain = |kind| Ok(Detected { kind, gzip: false });
    match magic_kind(bytes) {
        Some(Magic::Pcap) => return plain(Kind::Pcap),
        Some(Magic::Pcapng) => return plain(Kind::Pcapng),
        Some(Magic::Gzip) => {
            let inner = peek_gzip(path, bytes)?;
            if inner.is_empty() {
                return Err(Error::new(path, 0, ErrorKind::Empty { gzip: true }));
            }
            let gz = |kind| Ok(Detected { kind, gzip: true });
            return match magic_kind(&inner) {
                Some(Magic::Pcap) => gz(Kind::Pcap),
                Some(Magic::Pcapng) => gz(Kind::Pcapng),
                Some(Magic::Gzip) => Err(not_a_capture(path, &inner, 0, NotItch::GzipInGzip)),
                None => match check_itch(&inner, name_says_itch(path)) {
                    Ok(()) => gz(Kind::ItchGz),
                    Err((off, why)) => Err(not_a_capture(path, &inner, off, why)),
                },
            };
        }
        None => {}
    }
    match check_itch(bytes, name_says_itch(path)) {
        Ok(()) => plain(Kind::Itch),
        Err((off, why)) => Err(not_a_capture(path, bytes, off, why)),
    }
}

fn not_a_capture(path: &Path, bytes: &[u8], offset: u64, why: NotItch) -> Error {
    let mut head = [0u8; 4];
    let n = bytes.len().min(4);
    head[..n].copy_from_slice(&bytes[..n]);
    Error::new(
        path,
        offset,
        ErrorKind::NotACapture {
            head,
            len: bytes.len(),
            why,
        },
    )
}

/// The first [`GZIP_PEEK`] inflated bytes of a gzip stream (fewer if it is shorter or cut).
fn peek_gzip(path: &Path, bytes: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(GZIP_PEEK.min(bytes.len().saturating_mul(8).max(1024)));
    let mut dec = MultiGzDecoder::new(bytes).take(GZIP_PEEK as u64);
    match dec.read_to_end(&mut out) {
        Ok(_) => Ok(out),
        // A cut stream: what inflated is what there is.
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !out.is_empty() => Ok(out),
        Err(e) => Err(Error::new(path, 0, ErrorKind::Gzip(e.kind()))),
    }
}

/// Inflates a whole gzip stream into memory, at most `limit` bytes. Returns the bytes and
/// whether the stream was cut off.
fn inflate_all(path: &Path, bytes: &[u8], limit: u64) -> Result<(Vec<u8>, bool), Error> {
    // The gzip trailer's ISIZE (size mod 2^32 of the last member) sizes the buffer when it is
    // plausible (deflate inflates at most ~1032:1).
    let hint = bytes
        .last_chunk::<4>()
        .map(|t| u64::from(u32::from_le_bytes(*t)))
        .filter(|&n| n <= (bytes.len() as u64).saturating_mul(1032))
        .unwrap_or(0)
        .min(limit);
    let mut out = Vec::with_capacity(usize::try_from(hint).unwrap_or(0));
    let mut dec = MultiGzDecoder::new(bytes).take(limit.saturating_add(1));
    let cut = match dec.read_to_end(&mut out) {
        Ok(_) => false,
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => true,
        Err(e) => {
            return Err(Error::new(
                path,
                out.len() as u64,
                ErrorKind::Gzip(e.kind()),
            ))
        }
    };
    if out.len() as u64 > limit {
        return Err(Error::new(
            path,
            limit,
            ErrorKind::TooLarge { limit, gzip: true },
        ));
    }
    Ok((out, cut))
}

/// Reads `r` to its end into memory, at most `limit` bytes.
fn read_bounded(path: &Path, r: impl Read, limit: u64) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    r.take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| Error::new(path, out.len() as u64, ErrorKind::Io(e.kind())))?;
    if out.len() as u64 > limit {
        return Err(Error::new(
            path,
            limit,
            ErrorKind::TooLarge { limit, gzip: false },
        ));
    }
    Ok(out)
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

/// Where a capture's bytes are.
#[derive(Debug)]
enum Data {
    /// A regular file, mapped.
    Map(Mmap),
    /// Read or inflated into memory.
    Mem(Vec<u8>),
}

/// A capture held in memory (mapped, or read: see the module docs), with its detected kind.
#[derive(Debug)]
pub struct Capture {
    path: PathBuf,
    data: Data,
    kind: Kind,
    /// The file is gzip'd (a pcap or pcapng then is inflated in `data`).
    gzip: bool,
    /// The gzip stream of an inflated pcap or pcapng was cut off.
    cut: bool,
}

impl Capture {
    /// Opens `path` (`-`: standard input) and detects its kind from the bytes (see
    /// [`detect`]). For pcap the file header is checked here, so a bad link type or version
    /// fails at open.
    pub fn open(path: impl AsRef<Path>) -> Result<Capture, Error> {
        Self::open_with(path, None, MAX_IN_MEMORY)
    }

    /// Like [`Capture::open`], with the kind given (`None`: detect it).
    pub fn open_kind(path: impl AsRef<Path>, kind: Option<Kind>) -> Result<Capture, Error> {
        Self::open_with(path, kind, MAX_IN_MEMORY)
    }

    /// Like [`Capture::open_kind`], holding at most `max_in_memory` bytes in memory (standard
    /// input, a pipe, a device, an inflated gzip'd pcap; [`MAX_IN_MEMORY`] by default).
    pub fn open_with(
        path: impl AsRef<Path>,
        kind: Option<Kind>,
        max_in_memory: u64,
    ) -> Result<Capture, Error> {
        let path = path.as_ref();
        let data = load(path, max_in_memory)?;
        let bytes: &[u8] = match &data {
            Data::Map(m) => m,
            Data::Mem(v) => v,
        };
        let found = match kind {
            Some(k) => Detected {
                kind: k,
                gzip: k == Kind::ItchGz || bytes.starts_with(&GZIP_MAGIC),
            },
            None => detect(path, bytes)?,
        };
        let (data, cut) = match found.kind {
            Kind::Pcap | Kind::Pcapng if found.gzip => {
                let (v, cut) = inflate_all(path, bytes, max_in_memory)?;
                (Data::Mem(v), cut)
            }
            _ => (data, false),
        };
        let cap = Capture {
            path: path.to_path_buf(),
            data,
            kind: found.kind,
            gzip: found.gzip,
            cut,
        };
        match cap.kind {
            Kind::Pcap | Kind::Pcapng => drop(cap.records()?),
            Kind::Itch | Kind::ItchGz => drop(cap.itch_messages()?),
        }
        Ok(cap)
    }

    /// The content's kind (`Pcap`/`Pcapng` for a gzip'd capture too: it was inflated).
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The file is gzip'd.
    pub fn gzip(&self) -> bool {
        self.gzip
    }

    /// The kind as reports name it: `Pcap`, `Pcapng`, `Itch`, `ItchGz`, `PcapGz`, `PcapngGz`.
    pub fn kind_name(&self) -> &'static str {
        match (self.kind, self.gzip) {
            (Kind::Pcap, false) => "Pcap",
            (Kind::Pcap, true) => "PcapGz",
            (Kind::Pcapng, false) => "Pcapng",
            (Kind::Pcapng, true) => "PcapngGz",
            (Kind::Itch, _) => "Itch",
            (Kind::ItchGz, _) => "ItchGz",
        }
    }

    /// The file's path (`-`: standard input).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The bytes held: the file as it is, or inflated for a gzip'd pcap or pcapng (a gzip'd
    /// ITCH stream stays compressed: [`Capture::itch_messages`] inflates it).
    pub fn bytes(&self) -> &[u8] {
        match &self.data {
            Data::Map(m) => m,
            Data::Mem(v) => v,
        }
    }

    /// The packets of a pcap or pcapng file.
    pub fn records(&self) -> Result<Records<'_>, Error> {
        match self.kind {
            Kind::Pcap | Kind::Pcapng => {
                let mut r = Records::with_kind(&self.path, self.bytes(), self.kind)?;
                r.cut = self.cut;
                Ok(r)
            }
            k => Err(Error::new(&self.path, 0, ErrorKind::WrongKind(k))),
        }
    }

    /// The messages of a bare ITCH stream.
    pub fn itch_messages(&self) -> Result<ItchMessages<'_>, Error> {
        match self.kind {
            Kind::Itch => Ok(ItchMessages::new(&self.path, self.bytes(), false)),
            Kind::ItchGz => Ok(ItchMessages::new(&self.path, self.bytes(), true)),
            k => Err(Error::new(&self.path, 0, ErrorKind::WrongKind(k))),
        }
    }
}

/// The bytes of `path`: mapped for a regular file, read (at most `limit`) for `-`, a pipe or
/// a device. A directory, a missing file and an empty file are errors.
fn load(path: &Path, limit: u64) -> Result<Data, Error> {
    let io = |e: io::Error| Error::new(path, 0, ErrorKind::Io(e.kind()));
    let data = if is_stdin(path) {
        Data::Mem(read_bounded(path, io::stdin().lock(), limit)?)
    } else {
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.is_dir() {
            return Err(Error::new(
                path,
                0,
                ErrorKind::Io(io::ErrorKind::IsADirectory),
            ));
        }
        let file = File::open(path).map_err(io)?;
        if meta.is_file() && meta.len() > 0 {
            // SAFETY: the mapping is read-only and private to this process; the file is a
            // capture that nothing should modify while it is read. Were it truncated
            // underneath us, reads past the new end would fault (SIGBUS): the accepted risk
            // of every mmapped reader.
            match unsafe { Mmap::map(&file) } {
                Ok(m) => Data::Map(m),
                // A file system that cannot map: read it instead.
                Err(_) => Data::Mem(read_bounded(path, file, limit)?),
            }
        } else {
            // A pipe (`<(zcat …)`), a device (`/dev/stdin`, `/dev/null`) or an empty file.
            Data::Mem(read_bounded(path, file, limit)?)
        }
    };
    let empty = match &data {
        Data::Map(m) => m.is_empty(),
        Data::Mem(v) => v.is_empty(),
    };
    if empty {
        return Err(Error::new(path, 0, ErrorKind::Empty { gzip: false }));
    }
    Ok(data)
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
    /// The bytes are what inflated of a cut gzip stream: the end is a truncation warning.
    cut: bool,
}

impl<'a> Records<'a> {
    /// Reads the pcap or pcapng capture in `bytes` (`path` only names it in errors). Checks
    /// the pcap file header now. Gzip'd bytes are refused ([`ErrorKind::Compressed`]:
    /// [`Capture::open`] inflates them), and so is a bare ITCH stream
    /// ([`ErrorKind::WrongKind`]).
    pub fn new(path: &'a Path, bytes: &'a [u8]) -> Result<Records<'a>, Error> {
        match detect(path, bytes)? {
            Detected { gzip: true, .. } if bytes.starts_with(&GZIP_MAGIC) => {
                Err(Error::new(path, 0, ErrorKind::Compressed))
            }
            Detected { kind, .. } => Self::with_kind(path, bytes, kind),
        }
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
            cut: false,
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

    /// The end of the bytes: done, after a warning if they are a cut gzip stream's.
    fn end(&mut self) -> Option<Result<Record<'a>, Error>> {
        if self.cut {
            return self.fail(self.pos, ErrorKind::GzipCut);
        }
        self.state = State::Done;
        None
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
            return self.end();
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
                return self.end();
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

/// The error for `bytes` that are not of the kind asked for: what [`detect`] says of them.
fn not_a(path: &Path, bytes: &[u8]) -> Error {
    match detect(path, bytes) {
        Err(e) => e,
        Ok(d) => Error::new(path, 0, ErrorKind::WrongKind(d.kind)),
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
    #[inline]
    pub fn timestamp_ns(&self) -> Option<u64> {
        itch_timestamp_ns(self.data)
    }
}

/// The timestamp of the ITCH message `data` (ns since midnight, bytes 5..11, the type byte
/// first), if it is long enough.
#[inline]
pub fn itch_timestamp_ns(data: &[u8]) -> Option<u64> {
    // Bytes 3..11 (tracking number and timestamp) as one big-endian load, the timestamp's
    // 6 bytes kept.
    let t = data.get(3..11)?.first_chunk::<8>()?;
    Some(u64::from_be_bytes(*t) & 0xFFFF_FFFF_FFFF)
}

/// Size of the inflate buffer of a gzip'd ITCH file (grown only for a longer message).
const GZ_BUF: usize = 256 * 1024;

/// The inflating side of a gzip'd ITCH file: one reusable buffer, refilled as it is read.
#[derive(Debug)]
struct GzSource<'a> {
    dec: MultiGzDecoder<&'a [u8]>,
    buf: Vec<u8>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    eof: bool,
    /// The compressed stream ended early (a cut `.gz` file).
    cut: bool,
    /// Stream offset of the next message's length prefix.
    pos: u64,
    /// The stream ended (or failed): no more messages.
    done: bool,
}

impl GzSource<'_> {
    /// Makes sure the next message (its length prefix, then its bytes) is whole in
    /// `buf[start..]`: `Ok(Some(n))` with `n` its length prefix included, `Ok(None)` at the
    /// clean end of the stream. Out of line: an uncompressed file's loop stays small.
    #[inline(never)]
    fn fill(&mut self) -> Result<Option<usize>, ErrorKind> {
        let mut need = 2;
        loop {
            let have = self.end - self.start;
            if have >= need {
                if need == 2 {
                    let l = u16::from_be_bytes([self.buf[self.start], self.buf[self.start + 1]]);
                    need = 2 + usize::from(l);
                    if have >= need {
                        return Ok(Some(need));
                    }
                } else {
                    return Ok(Some(need));
                }
            }
            if self.eof {
                if have == 0 && !self.cut {
                    return Ok(None);
                }
                return Err(truncated(need, have));
            }
            // Move the unconsumed tail to the front, grow if a message needs it, fill.
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.buf.len() < need {
                self.buf.resize(need, 0);
            }
            match self.dec.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    self.eof = true;
                    self.cut = true;
                }
                Err(e) => return Err(ErrorKind::Gzip(e.kind())),
            }
        }
    }
}

/// Why a plain stream's `rest` holds no whole message: `None` at its clean end, else the
/// truncation.
#[cold]
#[inline(never)]
fn plain_end(rest: &[u8]) -> Option<ErrorKind> {
    match rest.first_chunk::<2>() {
        None if rest.is_empty() => None,
        None => Some(truncated(2, rest.len())),
        Some(&l) => Some(truncated(
            2 + usize::from(u16::from_be_bytes(l)),
            rest.len(),
        )),
    }
}

/// Reader of the messages of a NASDAQ_ITCH50 file: a lending iterator (each message borrows
/// the reader until the next call), since a gzip'd file is inflated into one reusable buffer.
///
/// An uncompressed stream is read by stepping a slice of the bytes not yet read: one length
/// check per message (the prefix and the message together), nothing else between two
/// messages; the inflating path is out of line.
#[derive(Debug)]
pub struct ItchMessages<'a> {
    path: &'a Path,
    /// Uncompressed: the bytes not yet read, from the next message's length prefix (emptied
    /// after an error). Gzip'd: unused.
    rest: &'a [u8],
    /// The inflater of a gzip'd stream.
    gz: Option<Box<GzSource<'a>>>,
    /// Uncompressed: the stream's length (a message's offset is `len - rest.len()`).
    len: u64,
    index: u64,
}

impl<'a> ItchMessages<'a> {
    /// Reads the ITCH file in `bytes`, inflating it if `gz`.
    pub fn new(path: &'a Path, bytes: &'a [u8], gz: bool) -> ItchMessages<'a> {
        let (rest, gz) = if gz {
            let src = GzSource {
                dec: MultiGzDecoder::new(bytes),
                // Small inputs get a small buffer; it grows for a longer message.
                buf: vec![0; GZ_BUF.min(bytes.len().saturating_mul(8).max(4096))],
                start: 0,
                end: 0,
                eof: false,
                cut: false,
                pos: 0,
                done: false,
            };
            (&[][..], Some(Box::new(src)))
        } else {
            (bytes, None)
        };
        ItchMessages {
            path,
            rest,
            len: rest.len() as u64,
            gz,
            index: 0,
        }
    }

    /// Messages yielded so far.
    pub fn yielded(&self) -> u64 {
        self.index
    }

    /// Calls `f` with every message in order (the same messages as [`Self::next_message`]), until
    /// the stream ends (`Ok(None)`), `f` returns `ControlFlow::Break(b)` (`Ok(Some(b))`; the
    /// walk can go on from the next message), or the stream is cut or malformed (`Err`, as
    /// `next_message` reports it; then the stream is done). An uncompressed file is walked in
    /// one loop over the mapped bytes, with nothing between two messages but their framing.
    ///
    /// `f` is called from one place, plain or gzip'd (the inflating path is out of line), so
    /// that it is inlined into the loop.
    #[inline]
    pub fn walk<B>(
        &mut self,
        mut f: impl FnMut(ItchMessage<'_>) -> ControlFlow<B>,
    ) -> Result<Option<B>, Error> {
        let (mut rest, mut index, len) = (self.rest, self.index, self.len);
        loop {
            let (offset, data, ahead) = match split_message(rest) {
                Some((data, tail)) => {
                    let offset = len - rest.len() as u64;
                    rest = tail;
                    (offset, data, tail)
                }
                None => match Self::next_slow(&mut self.gz, self.path, &mut self.rest, len, rest) {
                    Some(Ok(m)) => m,
                    Some(Err(e)) => {
                        self.index = index;
                        return Err(e);
                    }
                    None => {
                        self.index = index;
                        return Ok(None);
                    }
                },
            };
            let m = ItchMessage {
                index,
                offset,
                data,
                ahead,
            };
            index += 1;
            if let ControlFlow::Break(b) = f(m) {
                (self.rest, self.index) = (rest, index);
                return Ok(Some(b));
            }
        }
    }

    /// Applies every message in order (the same messages as [`Self::next_message`]) with
    /// `w`'s [`BlockWalker::message`], showing each to [`BlockWalker::ahead`] some messages
    /// before, and calling [`BlockWalker::boundary`] before each message whose index is a
    /// multiple of `K`; until the stream ends (`Ok(None)`), `w` breaks at a message or a
    /// boundary (`Ok(Some(b))`; the walk can go on from the message after that message, or
    /// from the message the boundary named), or the stream is cut or malformed (`Err`, as
    /// `next_message` reports it; then the stream is done).
    ///
    /// An uncompressed stream is framed in blocks of `K` messages (a walk's first block ends
    /// where the message index reaches a multiple of `K`; the stream's tail may be a shorter
    /// block): a block is framed into an array, each message shown ahead as it is framed,
    /// before the block framed just before it is applied. So a message is shown ahead `K` to
    /// `2K - 1` messages before it is applied (fewer in a walk's first block), with one framing
    /// step per message, and the loop that applies a block steps through the array, nothing
    /// else. A gzip'd stream goes message by message in a loop of its own, out of line: each
    /// message shows the one `K` places after it when the inflated buffer holds that one
    /// whole; its boundaries come before each index that is a multiple of `K` (perhaps at its
    /// end). A message may be shown ahead again after a walk resumes.
    #[inline]
    pub fn walk_blocks<const K: usize, W: BlockWalker>(
        &mut self,
        w: &mut W,
    ) -> Result<Option<W::Break>, Error> {
        const { assert!(K > 0) };
        if self.gz.is_some() {
            return self.walk_gz::<K, W>(w);
        }
        let (start, len) = (self.rest, self.len);
        // `start`'s stream offset; the place in `start` of a message of it (its first byte).
        let base = len - start.len() as u64;
        let pos = |m: &[u8]| m.as_ptr() as usize - start.as_ptr() as usize;
        let mut rest = start;
        // Two blocks side by side: row `i` holds the message at place `i` of each (column
        // `cur`: the block to apply; the other: the block framed after it), so that a message
        // and the one a block after it are read together, one step of one pointer.
        let mut blocks: [[&'a [u8]; 2]; K] = [[&[]; 2]; K];
        // `done` messages were taken before the block to apply, column `cur` of
        // `blocks[..n]`; `plain`: `rest` may hold more whole messages.
        let mut done = self.index;
        let first = K - (done % K as u64) as usize;
        let (mut cur, mut n) = (0, frame_block(&mut rest, &mut blocks, 0, first, w.ahead()));
        let mut plain = n == first;
        while let Some(m0) = blocks[..n].first().map(|b| b[cur & 1]) {
            let next = cur ^ 1;
            let mut n_next = 0;
            if plain {
                n_next = frame_block(&mut rest, &mut blocks, next, K, w.ahead());
                plain = n_next == K;
            }
            if !plain {
                // The stream's end: no message at hand past the last one.
                for b in &mut blocks[n_next..] {
                    b[next & 1] = &[];
                }
            }
            if done.is_multiple_of(K as u64) {
                let at = pos(m0) - 2;
                if let ControlFlow::Break(b) = w.boundary(done, base + at as u64) {
                    (self.rest, self.index) = (start.get(at..).unwrap_or_default(), done);
                    return Ok(Some(b));
                }
            }
            // With each message, the one at its place in the next block (`n` messages on;
            // empty past the stream's end).
            let mut it = blocks[..n].iter();
            while let Some(row) = it.next() {
                let (m, later) = (row[cur & 1], row[next & 1]);
                if let ControlFlow::Break(b) = w.message(m, Later { message: later }) {
                    let at = n - 1 - it.len();
                    self.index = done + at as u64 + 1;
                    self.rest = start.get(pos(m) + m.len()..).unwrap_or_default();
                    return Ok(Some(b));
                }
            }
            done += n as u64;
            (cur, n) = (next, n_next);
        }
        // `rest` holds no whole message: the end of the stream, or its cut.
        (self.rest, self.index) = (&[], done);
        match plain_end(rest) {
            None => Ok(None),
            Some(kind) => Err(Error::new(self.path, len - rest.len() as u64, kind)),
        }
    }

    /// [`Self::walk_blocks`] over a gzip'd stream: message by message, as they are inflated.
    #[inline(never)]
    fn walk_gz<const K: usize, W: BlockWalker>(
        &mut self,
        w: &mut W,
    ) -> Result<Option<W::Break>, Error> {
        let mut index = self.index;
        loop {
            if index.is_multiple_of(K as u64) {
                if let Some(gz) = self.gz.as_ref().filter(|gz| !gz.done) {
                    if let ControlFlow::Break(b) = w.boundary(index, gz.pos) {
                        self.index = index;
                        return Ok(Some(b));
                    }
                }
            }
            match Self::next_slow(&mut self.gz, self.path, &mut self.rest, self.len, &[]) {
                Some(Ok((_, data, ahead))) => {
                    let later = nth_message(ahead, K - 1);
                    if !later.is_empty() {
                        (w.ahead())(later);
                    }
                    index += 1;
                    let later = Later { message: later };
                    if let ControlFlow::Break(b) = w.message(data, later) {
                        self.index = index;
                        return Ok(Some(b));
                    }
                }
                Some(Err(e)) => {
                    self.index = index;
                    return Err(e);
                }
                None => {
                    self.index = index;
                    return Ok(None);
                }
            }
        }
    }

    /// The next message, or an error (then `None` forever). A file cut inside its last message
    /// ends with an error whose [`Error::is_truncation`] is true.
    #[inline]
    pub fn next_message(&mut self) -> Option<Result<ItchMessage<'_>, Error>> {
        // `rest` is empty for a gzip'd stream: the plain framing is tried first, alone on the
        // path of an uncompressed file's messages.
        let rest = self.rest;
        let (offset, data, ahead) = if let Some((data, ahead)) = split_message(rest) {
            self.rest = ahead;
            (self.len - rest.len() as u64, data, ahead)
        } else {
            match Self::next_slow(&mut self.gz, self.path, &mut self.rest, self.len, rest)? {
                Ok(m) => m,
                Err(e) => return Some(Err(e)),
            }
        };
        let m = ItchMessage {
            index: self.index,
            offset,
            data,
            ahead,
        };
        self.index += 1;
        Some(Ok(m))
    }

    /// What follows when `rest` (the unread bytes of an uncompressed stream of `len` bytes,
    /// empty for a gzip'd one) holds no whole message: the next inflated message (offset,
    /// message, bytes at hand after it), the end (`None`, then for ever), or the error that
    /// ends the stream (`unread`, the reader's unread bytes, emptied then). Takes the reader's
    /// fields, not the reader: the message borrows only the inflater.
    #[inline(never)]
    #[allow(clippy::type_complexity)]
    fn next_slow<'s>(
        gz: &'s mut Option<Box<GzSource<'a>>>,
        path: &Path,
        unread: &mut &'a [u8],
        len: u64,
        rest: &'a [u8],
    ) -> Option<Result<(u64, &'s [u8], &'s [u8]), Error>> {
        if let Some(gz) = gz {
            if gz.done {
                return None;
            }
            let offset = gz.pos;
            return match gz.fill() {
                Ok(Some(need)) => {
                    let s = gz.start;
                    gz.start += need;
                    gz.pos += need as u64;
                    Some(Ok((
                        offset,
                        &gz.buf[s + 2..s + need],
                        &gz.buf[s + need..gz.end],
                    )))
                }
                Ok(None) => {
                    gz.done = true;
                    None
                }
                Err(kind) => {
                    gz.done = true;
                    Some(Err(Error::new(path, offset, kind)))
                }
            };
        }
        *unread = &[];
        let kind = plain_end(rest)?;
        Some(Err(Error::new(path, len - rest.len() as u64, kind)))
    }
}

/// What [`ItchMessages::walk_blocks`] does with the messages (its methods are best inlined:
/// each is called from one place of the walk's loop over a plain stream, `ahead` from two, and
/// from one of the out-of-line loop over a gzip'd stream).
pub trait BlockWalker {
    /// What a walk ends early with.
    type Break;
    /// What to call with each message (starting with its type byte) some messages before it
    /// is applied: a hint for prefetching what it will touch. Asked for once per block, before
    /// the block is framed (what it reads of the walker is read once, not per message), and
    /// dropped before the walker is called again.
    fn ahead(&mut self) -> impl FnMut(&[u8]);
    /// Before the message `index`, whose length prefix is at stream offset `offset` (in the
    /// inflated stream for a `.gz` file).
    fn boundary(&mut self, index: u64, offset: u64) -> ControlFlow<Self::Break>;
    /// The next message, `m`, starting with its type byte; with it `later`, a
    /// message some places after it, for a prefetch that runs in step with the messages.
    fn message(&mut self, m: &[u8], later: Later<'_>) -> ControlFlow<Self::Break>;
}

/// A message some places after the one [`BlockWalker::message`] applies (`K` in a whole
/// block: the one at the same place of the next block). A walker that does not look at it
/// costs nothing: it is read from the framed block as the message is, a load the compiler
/// drops where unused.
#[derive(Clone, Copy, Debug)]
pub struct Later<'b> {
    message: &'b [u8],
}

impl<'b> Later<'b> {
    /// The message, or empty where there is none at hand (the stream's end).
    #[inline(always)]
    pub fn get(self) -> &'b [u8] {
        self.message
    }
}

/// Frames up to `want` (at most `K`) whole messages of `rest` into column `col` (0 or 1) of
/// `to`, stepping `rest` past them and showing each to `ahead`; returns how many (fewer than
/// asked: `rest` holds no further whole message).
#[inline(always)]
fn frame_block<'a, const K: usize>(
    rest: &mut &'a [u8],
    to: &mut [[&'a [u8]; 2]; K],
    col: usize,
    want: usize,
    mut ahead: impl FnMut(&[u8]),
) -> usize {
    let to = &mut to[..want.min(K)];
    let (start, asked) = (*rest, to.len());
    for row in to.iter_mut() {
        let slot = &mut row[col & 1];
        let Some((m, tail)) = split_message(rest) else {
            // How many were framed is counted again here, off the path of a whole block: a
            // count kept as the messages are framed costs each of them a store.
            return whole_messages(start, asked);
        };
        (*slot, *rest) = (m, tail);
        ahead(m);
    }
    asked
}

/// How many whole messages `s` holds, up to `max`.
#[cold]
#[inline(never)]
fn whole_messages(mut s: &[u8], max: usize) -> usize {
    let mut n = 0;
    while n < max {
        let Some((_, tail)) = split_message(s) else {
            break;
        };
        (s, n) = (tail, n + 1);
    }
    n
}

/// The first message of `s` (a length prefix, then that many bytes) and the bytes after it,
/// if `s` holds it whole.
#[inline(always)]
fn split_message(s: &[u8]) -> Option<(&[u8], &[u8])> {
    s.split_first_chunk::<2>()
        .and_then(|(&l, tail)| tail.split_at_checked(usize::from(u16::from_be_bytes(l))))
}

/// The message at 0-based position `n` of `s` if it is whole there (else empty).
fn nth_message(mut s: &[u8], n: usize) -> &[u8] {
    for _ in 0..n {
        match split_message(s) {
            Some((_, tail)) => s = tail,
            None => return &[],
        }
    }
    split_message(s).map_or(&[], |(m, _)| m)
}

fn truncated(needed: usize, available: usize) -> ErrorKind {
    ErrorKind::Truncated {
        needed: needed as u64,
        available: available as u64,
    }
}

#[cfg(test)]
mod tests;
