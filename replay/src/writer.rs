//! Writers of the files the readers in [`crate::capture`] read, and a UDP frame builder.
//!
//! - [`PcapWriter`]: classic pcap, µs or ns timestamps, little- or big-endian.
//! - [`PcapngWriter`]: pcapng with several sections and interfaces (each with its own link type
//!   and `if_tsresol`), EPBs and SPBs; chiefly for tests.
//! - [`ItchFileWriter`]: Nasdaq's historical `*.NASDAQ_ITCH50` files (2-byte big-endian length
//!   before every message), plain or gzip'd.
//! - [`UdpFrame`]: wraps a UDP payload in Ethernet (optionally 802.1Q-tagged) / IPv4 / UDP with
//!   correct lengths and checksums.
//!
//! ## Invariants
//! - Every writer buffers (a [`BufWriter`] inside) and writes whole records only; `finish`
//!   flushes and hands the sink back. Dropping a writer without `finish` flushes on a
//!   best-effort basis, like `BufWriter`.
//! - Timestamps are given in nanoseconds since the Unix epoch; a timestamp the format cannot
//!   hold (seconds past `u32::MAX` in classic pcap) is an `InvalidInput` error, never a silent
//!   wrap. µs files round down to the microsecond.
//! - A packet longer than the snap length is written cut to it, with its true original length,
//!   as a capturing tool would.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;

use flate2::write::GzEncoder;
use flate2::Compression;

use crate::frame::{fold, ipv4_checksum, sum16, LinkType, ETHERTYPE_IPV4, ETHERTYPE_VLAN};

/// Byte order of a capture file (or of one pcapng section).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endian {
    Little,
    Big,
}

impl Endian {
    #[inline]
    /// Reads a `u16` in this byte order.
    pub fn u16(self, b: [u8; 2]) -> u16 {
        match self {
            Endian::Little => u16::from_le_bytes(b),
            Endian::Big => u16::from_be_bytes(b),
        }
    }
    #[inline]
    /// Reads a `u32` in this byte order.
    pub fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            Endian::Little => u32::from_le_bytes(b),
            Endian::Big => u32::from_be_bytes(b),
        }
    }
    /// Reads a `u64` in this byte order.
    pub fn u64(self, b: [u8; 8]) -> u64 {
        match self {
            Endian::Little => u64::from_le_bytes(b),
            Endian::Big => u64::from_be_bytes(b),
        }
    }
    fn put16(self, v: u16) -> [u8; 2] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }
    fn put32(self, v: u32) -> [u8; 4] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }
}

/// Resolution of classic pcap timestamps (chosen by the file's magic number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TsPrecision {
    /// Magic `0xA1B2C3D4`: seconds + microseconds.
    Micro,
    /// Magic `0xA1B23C4D`: seconds + nanoseconds.
    Nano,
}

/// Classic pcap magic for µs timestamps.
pub const PCAP_MAGIC_US: u32 = 0xA1B2_C3D4;
/// Classic pcap magic for ns timestamps.
pub const PCAP_MAGIC_NS: u32 = 0xA1B2_3C4D;
/// The snap length written by default (libpcap's maximum).
pub const DEFAULT_SNAPLEN: u32 = 262_144;

/// Options of a classic pcap file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcapOptions {
    pub link: LinkType,
    pub precision: TsPrecision,
    pub endian: Endian,
    pub snaplen: u32,
}

impl PcapOptions {
    /// Little-endian, [`DEFAULT_SNAPLEN`].
    pub fn new(link: LinkType, precision: TsPrecision) -> PcapOptions {
        PcapOptions {
            link,
            precision,
            endian: Endian::Little,
            snaplen: DEFAULT_SNAPLEN,
        }
    }
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.to_string())
}

/// A classic pcap writer to any [`Write`] (buffered).
///
/// ```
/// # use fh_replay::{frame::LinkType, writer::{PcapWriter, TsPrecision}};
/// let mut w = PcapWriter::new(Vec::new(), LinkType::Ethernet, TsPrecision::Nano).unwrap();
/// w.write_packet(1_700_000_000_123_456_789, &[0u8; 60]).unwrap();
/// let bytes = w.finish().unwrap();
/// assert_eq!(bytes.len(), 24 + 16 + 60);
/// ```
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: BufWriter<W>,
    opts: PcapOptions,
}

impl<W: Write> PcapWriter<W> {
    /// A little-endian writer with the default snap length; writes the file header.
    pub fn new(out: W, link: LinkType, precision: TsPrecision) -> io::Result<Self> {
        Self::with_options(out, PcapOptions::new(link, precision))
    }

    /// A writer with every option given; writes the file header.
    pub fn with_options(out: W, opts: PcapOptions) -> io::Result<Self> {
        if opts.snaplen == 0 {
            return Err(invalid("pcap snap length must not be 0"));
        }
        let mut out = BufWriter::with_capacity(1 << 16, out);
        let e = opts.endian;
        let magic = match opts.precision {
            TsPrecision::Micro => PCAP_MAGIC_US,
            TsPrecision::Nano => PCAP_MAGIC_NS,
        };
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&e.put32(magic));
        h[4..6].copy_from_slice(&e.put16(2));
        h[6..8].copy_from_slice(&e.put16(4));
        h[16..20].copy_from_slice(&e.put32(opts.snaplen));
        h[20..24].copy_from_slice(&e.put32(u32::from(opts.link.code())));
        out.write_all(&h)?;
        Ok(PcapWriter { out, opts })
    }

    /// Writes one packet captured at `ts_ns` (ns since the Unix epoch), whole.
    pub fn write_packet(&mut self, ts_ns: u64, data: &[u8]) -> io::Result<()> {
        let orig = u32::try_from(data.len()).map_err(|_| invalid("packet longer than 4 GiB"))?;
        self.write_packet_orig(ts_ns, data, orig)
    }

    /// Writes one packet with an explicit original (wire) length; `data` is cut to the snap
    /// length if longer.
    pub fn write_packet_orig(&mut self, ts_ns: u64, data: &[u8], orig_len: u32) -> io::Result<()> {
        let sec = u32::try_from(ts_ns / 1_000_000_000)
            .map_err(|_| invalid("timestamp past the classic pcap range (year 2106)"))?;
        let ns = (ts_ns % 1_000_000_000) as u32;
        let frac = match self.opts.precision {
            TsPrecision::Micro => ns / 1000,
            TsPrecision::Nano => ns,
        };
        let cap = data.len().min(self.opts.snaplen as usize);
        let e = self.opts.endian;
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&e.put32(sec));
        h[4..8].copy_from_slice(&e.put32(frac));
        h[8..12].copy_from_slice(&e.put32(cap as u32));
        h[12..16].copy_from_slice(&e.put32(orig_len.max(cap as u32)));
        self.out.write_all(&h)?;
        self.out.write_all(&data[..cap])
    }

    /// Flushes and returns the sink.
    pub fn finish(self) -> io::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

/// pcapng block types written here.
const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const SPB: u32 = 3;
const EPB: u32 = 6;

/// A pcapng writer (several sections, several interfaces, EPB and SPB) to any [`Write`].
#[derive(Debug)]
pub struct PcapngWriter<W: Write> {
    out: BufWriter<W>,
    endian: Endian,
    /// `if_tsresol` of each interface of the current section.
    ifaces: Vec<u8>,
}

impl<W: Write> PcapngWriter<W> {
    /// Starts the first section (writes its SHB).
    pub fn new(out: W, endian: Endian) -> io::Result<Self> {
        let mut w = PcapngWriter {
            out: BufWriter::with_capacity(1 << 16, out),
            endian,
            ifaces: Vec::new(),
        };
        w.new_section(endian)?;
        Ok(w)
    }

    /// Starts a new section (an SHB): the interface list is emptied.
    pub fn new_section(&mut self, endian: Endian) -> io::Result<()> {
        self.endian = endian;
        self.ifaces.clear();
        let e = endian;
        let mut body = [0u8; 16];
        body[0..4].copy_from_slice(&e.put32(0x1A2B_3C4D));
        body[4..6].copy_from_slice(&e.put16(1));
        body[6..8].copy_from_slice(&e.put16(0));
        body[8..16].copy_from_slice(&[0xFF; 8]); // section length -1: unknown
        self.block(SHB, &[&body])
    }

    /// Adds an interface (an IDB) to the current section and returns its id.
    ///
    /// `tsresol` is the `if_tsresol` byte: `v` means 10^-v s, `0x80 | v` means 2^-v s; 6 (µs)
    /// is written as no option at all, which is what readers must assume then. The option list
    /// is left without `opt_endofopt` (readers must stop at the end of the block).
    pub fn add_interface(&mut self, link: LinkType, snaplen: u32, tsresol: u8) -> io::Result<u32> {
        self.add_interface_with_offset(link, snaplen, tsresol, 0)
    }

    /// Like [`PcapngWriter::add_interface`], with an `if_tsoffset` of `tsoffset_s` seconds
    /// (written, followed by `opt_endofopt`, when not 0). Timestamps given to
    /// [`PcapngWriter::write_epb`] are then relative to that offset.
    pub fn add_interface_with_offset(
        &mut self,
        link: LinkType,
        snaplen: u32,
        tsresol: u8,
        tsoffset_s: i64,
    ) -> io::Result<u32> {
        let e = self.endian;
        let mut body = Vec::with_capacity(36);
        body.extend_from_slice(&e.put16(link.code()));
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(&e.put32(snaplen));
        if tsresol != 6 {
            body.extend_from_slice(&e.put16(9)); // if_tsresol
            body.extend_from_slice(&e.put16(1));
            body.extend_from_slice(&[tsresol, 0, 0, 0]);
        }
        if tsoffset_s != 0 {
            body.extend_from_slice(&e.put16(14)); // if_tsoffset
            body.extend_from_slice(&e.put16(8));
            body.extend_from_slice(&match e {
                Endian::Little => tsoffset_s.to_le_bytes(),
                Endian::Big => tsoffset_s.to_be_bytes(),
            });
            body.extend_from_slice(&[0; 4]); // opt_endofopt
        }
        self.block(IDB, &[&body])?;
        self.ifaces.push(tsresol);
        Ok(self.ifaces.len() as u32 - 1)
    }

    /// Writes an Enhanced Packet Block on interface `iface` at `ts_ns` (converted to the
    /// interface's resolution, rounding down).
    pub fn write_epb(&mut self, iface: u32, ts_ns: u64, data: &[u8]) -> io::Result<()> {
        let res = *self
            .ifaces
            .get(iface as usize)
            .ok_or_else(|| invalid("EPB on an interface with no IDB"))?;
        let units = ns_to_units(ts_ns, res).ok_or_else(|| invalid("bad if_tsresol"))?;
        let len = u32::try_from(data.len()).map_err(|_| invalid("packet longer than 4 GiB"))?;
        let e = self.endian;
        let mut h = [0u8; 20];
        h[0..4].copy_from_slice(&e.put32(iface));
        h[4..8].copy_from_slice(&e.put32((units >> 32) as u32));
        h[8..12].copy_from_slice(&e.put32(units as u32));
        h[12..16].copy_from_slice(&e.put32(len));
        h[16..20].copy_from_slice(&e.put32(len));
        self.block(EPB, &[&h, data])
    }

    /// Writes a Simple Packet Block (interface 0, no timestamp).
    pub fn write_spb(&mut self, data: &[u8]) -> io::Result<()> {
        let len = u32::try_from(data.len()).map_err(|_| invalid("packet longer than 4 GiB"))?;
        let h = self.endian.put32(len);
        self.block(SPB, &[&h, data])
    }

    /// Writes a block of any type with the given body parts (padded to 4 bytes).
    pub fn write_block(&mut self, block_type: u32, body: &[u8]) -> io::Result<()> {
        self.block(block_type, &[body])
    }

    fn block(&mut self, block_type: u32, parts: &[&[u8]]) -> io::Result<()> {
        let body: usize = parts.iter().map(|p| p.len()).sum();
        let pad = (4 - body % 4) % 4;
        let total = u32::try_from(12 + body + pad).map_err(|_| invalid("block too long"))?;
        let e = self.endian;
        self.out.write_all(&e.put32(block_type))?;
        self.out.write_all(&e.put32(total))?;
        for p in parts {
            self.out.write_all(p)?;
        }
        self.out.write_all(&[0u8; 3][..pad])?;
        self.out.write_all(&e.put32(total))
    }

    /// Flushes and returns the sink.
    pub fn finish(self) -> io::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

/// Nanoseconds to units of `if_tsresol` = `res`, `None` for a resolution we do not write.
fn ns_to_units(ts_ns: u64, res: u8) -> Option<u64> {
    let ns = u128::from(ts_ns);
    let units = if res & 0x80 == 0 {
        let v = u32::from(res);
        if v > 19 {
            return None;
        }
        if v >= 9 {
            ns * 10u128.pow(v - 9)
        } else {
            ns / 10u128.pow(9 - v)
        }
    } else {
        let k = u32::from(res & 0x7F);
        if k > 63 {
            return None;
        }
        (ns << k) / 1_000_000_000
    };
    u64::try_from(units).ok()
}

/// A writer of Nasdaq's historical ITCH files: every message preceded by its length as a
/// 2-byte big-endian integer, no other framing.
#[derive(Debug)]
pub struct ItchFileWriter<W: Write> {
    out: BufWriter<W>,
}

impl<W: Write> ItchFileWriter<W> {
    /// A writer to any sink (wrap it in a `GzEncoder` for a `.gz` file, or use
    /// [`ItchFileWriter::create`]).
    pub fn new(out: W) -> Self {
        ItchFileWriter {
            out: BufWriter::with_capacity(1 << 16, out),
        }
    }

    /// Writes one message (at most 65 535 bytes).
    pub fn write_message(&mut self, msg: &[u8]) -> io::Result<()> {
        let len = u16::try_from(msg.len()).map_err(|_| invalid("ITCH message over 65535 bytes"))?;
        self.out.write_all(&len.to_be_bytes())?;
        self.out.write_all(msg)
    }

    /// Flushes and returns the sink.
    pub fn finish(self) -> io::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

/// An output file, gzip'd when its name ends in `.gz` (any case): what
/// [`ItchFileWriter::create`] and `fh gen` write to.
#[derive(Debug)]
pub enum FileSink {
    Plain(File),
    Gz(GzEncoder<File>),
}

/// The old name of [`FileSink`].
pub type ItchSink = FileSink;

impl FileSink {
    /// Creates `path`, gzip'd if its name ends in `.gz`.
    pub fn create(path: &Path) -> io::Result<FileSink> {
        let f = File::create(path)?;
        Ok(if is_gz_name(path) {
            FileSink::Gz(GzEncoder::new(f, Compression::default()))
        } else {
            FileSink::Plain(f)
        })
    }

    /// Flushes and ends the gzip stream if any (the file is closed on drop).
    pub fn close(self) -> io::Result<()> {
        match self {
            FileSink::Plain(mut f) => f.flush(),
            FileSink::Gz(g) => g.finish().map(drop),
        }
    }
}

/// The name of `path` ends in `.gz` (any case).
pub fn is_gz_name(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

impl Write for FileSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            FileSink::Plain(f) => f.write(buf),
            FileSink::Gz(g) => g.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            FileSink::Plain(f) => f.flush(),
            FileSink::Gz(g) => g.flush(),
        }
    }
}

impl ItchFileWriter<FileSink> {
    /// Creates `path`, gzip'd if its name ends in `.gz`.
    pub fn create(path: &Path) -> io::Result<Self> {
        Ok(ItchFileWriter::new(FileSink::create(path)?))
    }

    /// Flushes, ends the gzip stream if any, and syncs nothing (the file is closed on drop).
    pub fn close(self) -> io::Result<()> {
        self.finish()?.close()
    }
}

/// Builds Ethernet II [/ 802.1Q] / IPv4 / UDP frames around UDP payloads.
///
/// The IPv4 header has no options, DF set, identification 0, the given TTL and a correct
/// header checksum; the UDP checksum is computed too. The destination MAC defaults to the
/// IPv4 multicast mapping (`01:00:5e` + low 23 bits of the group) for a multicast destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpFrame {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    /// 802.1Q tag control information (PCP/DEI/VID) if the frame is tagged.
    pub vlan_tci: Option<u16>,
    pub ttl: u8,
}

/// Largest UDP payload in an IPv4 packet without options.
pub const MAX_UDP_PAYLOAD: usize = 65_535 - 20 - 8;

impl UdpFrame {
    /// A frame from `src` to `dst`, untagged, TTL 1, locally administered source MAC.
    pub fn new(src: SocketAddrV4, dst: SocketAddrV4) -> UdpFrame {
        UdpFrame {
            src,
            dst,
            src_mac: [0x02, 0, 0, 0, 0, 0x01],
            dst_mac: default_dst_mac(*dst.ip()),
            vlan_tci: None,
            ttl: 1,
        }
    }

    /// The same frame tagged with 802.1Q VLAN `vid` (priority 0).
    pub fn with_vlan(mut self, vid: u16) -> UdpFrame {
        self.vlan_tci = Some(vid & 0x0FFF);
        self
    }

    /// Length of the frame around a payload of `payload_len` bytes.
    pub fn frame_len(&self, payload_len: usize) -> usize {
        14 + if self.vlan_tci.is_some() { 4 } else { 0 } + 20 + 8 + payload_len
    }

    /// Clears `out` and writes the frame around `payload` into it (reuse `out` to avoid
    /// allocating per packet). Errors if the payload does not fit an IPv4 packet.
    pub fn build_into(&self, payload: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        if payload.len() > MAX_UDP_PAYLOAD {
            return Err(invalid("UDP payload over 65507 bytes"));
        }
        out.clear();
        out.reserve(self.frame_len(payload.len()));
        out.extend_from_slice(&self.dst_mac);
        out.extend_from_slice(&self.src_mac);
        if let Some(tci) = self.vlan_tci {
            out.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
            out.extend_from_slice(&tci.to_be_bytes());
        }
        out.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        let udp_len = (8 + payload.len()) as u16;
        let total = 20 + udp_len;
        let (s, d) = (self.src.ip().octets(), self.dst.ip().octets());
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip[6..8].copy_from_slice(&0x4000u16.to_be_bytes()); // DF
        ip[8] = self.ttl;
        ip[9] = crate::frame::IPPROTO_UDP;
        ip[12..16].copy_from_slice(&s);
        ip[16..20].copy_from_slice(&d);
        let ck = ipv4_checksum(&ip);
        ip[10..12].copy_from_slice(&ck.to_be_bytes());
        out.extend_from_slice(&ip);
        let mut udp = [0u8; 8];
        udp[0..2].copy_from_slice(&self.src.port().to_be_bytes());
        udp[2..4].copy_from_slice(&self.dst.port().to_be_bytes());
        udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
        // Checksum over the pseudo-header, the UDP header (checksum 0) and the payload.
        let mut acc = sum16(0, &s);
        acc = sum16(acc, &d);
        acc = sum16(acc, &[0, crate::frame::IPPROTO_UDP]);
        acc = sum16(acc, &udp_len.to_be_bytes());
        acc = sum16(acc, &udp);
        acc = sum16(acc, payload);
        let ck = match !fold(acc) {
            0 => 0xFFFF,
            c => c,
        };
        udp[6..8].copy_from_slice(&ck.to_be_bytes());
        out.extend_from_slice(&udp);
        out.extend_from_slice(payload);
        Ok(())
    }

    /// The frame around `payload`, in a new vector.
    pub fn build(&self, payload: &[u8]) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        self.build_into(payload, &mut v)?;
        Ok(v)
    }
}

/// `01:00:5e` + low 23 bits for a multicast group, else a locally administered address.
fn default_dst_mac(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    if ip.is_multicast() {
        [0x01, 0x00, 0x5E, o[1] & 0x7F, o[2], o[3]]
    } else {
        [0x02, 0, 0, 0, 0, 0x02]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::udp_payload;

    fn sa(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    #[test]
    fn frame_has_correct_lengths_and_checksums() {
        let f = UdpFrame::new(sa("10.0.0.1:5000"), sa("233.54.12.111:26477"));
        let payload = b"HELLO-MARKET-DATA";
        let b = f.build(payload).unwrap();
        assert_eq!(b.len(), 14 + 20 + 8 + payload.len());
        assert_eq!(&b[0..6], &[0x01, 0x00, 0x5e, 0x36, 0x0c, 0x6f]);
        assert_eq!(&b[12..14], &[0x08, 0x00]);
        let ip = &b[14..34];
        assert_eq!(u16::from_be_bytes([ip[2], ip[3]]), 20 + 8 + 17);
        // A header with its checksum in place sums to 0xFFFF.
        assert_eq!(fold(sum16(0, ip)), 0xFFFF);
        let udp = &b[34..];
        assert_eq!(u16::from_be_bytes([udp[4], udp[5]]), 8 + 17);
        let mut acc = sum16(0, &ip[12..20]);
        acc = sum16(acc, &[0, 17, 0, 25]);
        acc = sum16(acc, udp);
        assert_eq!(fold(acc), 0xFFFF, "UDP checksum verifies");
        let d = udp_payload(LinkType::Ethernet, &b).unwrap();
        assert_eq!(d.payload, payload);
        assert_eq!(d.src, sa("10.0.0.1:5000"));
        assert_eq!(d.dst, sa("233.54.12.111:26477"));
    }

    #[test]
    fn ipv4_checksum_matches_rfc1071_example() {
        // The classic example header 4500 0073 0000 4000 4011 [b861] c0a8 0001 c0a8 00c7.
        let h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(ipv4_checksum(&h), 0xb861);
    }

    #[test]
    fn vlan_tagged_frame() {
        let f = UdpFrame::new(sa("10.0.0.1:1"), sa("10.0.0.2:2")).with_vlan(141);
        let b = f.build(b"x").unwrap();
        assert_eq!(b.len(), f.frame_len(1));
        assert_eq!(&b[12..18], &[0x81, 0x00, 0x00, 141, 0x08, 0x00]);
        assert_eq!(udp_payload(LinkType::Ethernet, &b).unwrap().payload, b"x");
    }

    #[test]
    fn oversized_payload_is_refused() {
        let f = UdpFrame::new(sa("10.0.0.1:1"), sa("10.0.0.2:2"));
        assert!(f.build(&vec![0u8; MAX_UDP_PAYLOAD]).is_ok());
        assert!(f.build(&vec![0u8; MAX_UDP_PAYLOAD + 1]).is_err());
    }

    #[test]
    fn pcap_header_and_record_bytes() {
        for (prec, endian, magic) in [
            (TsPrecision::Nano, Endian::Little, [0x4D, 0x3C, 0xB2, 0xA1]),
            (TsPrecision::Micro, Endian::Little, [0xD4, 0xC3, 0xB2, 0xA1]),
            (TsPrecision::Nano, Endian::Big, [0xA1, 0xB2, 0x3C, 0x4D]),
            (TsPrecision::Micro, Endian::Big, [0xA1, 0xB2, 0xC3, 0xD4]),
        ] {
            let mut o = PcapOptions::new(LinkType::Ethernet, prec);
            o.endian = endian;
            let mut w = PcapWriter::with_options(Vec::new(), o).unwrap();
            w.write_packet(1_700_000_000_123_456_789, b"abc").unwrap();
            let b = w.finish().unwrap();
            assert_eq!(&b[0..4], &magic);
            assert_eq!(b.len(), 24 + 16 + 3);
            let r = |i: usize| endian.u32(b[i..i + 4].try_into().unwrap());
            assert_eq!(r(16), DEFAULT_SNAPLEN);
            assert_eq!(r(20), 1);
            assert_eq!(r(24), 1_700_000_000);
            let frac = if prec == TsPrecision::Nano {
                123_456_789
            } else {
                123_456
            };
            assert_eq!(r(28), frac);
            assert_eq!((r(32), r(36)), (3, 3));
            assert_eq!(&b[40..], b"abc");
        }
    }

    #[test]
    fn pcap_writer_cuts_to_snaplen_and_refuses_far_future() {
        let mut o = PcapOptions::new(LinkType::Raw, TsPrecision::Nano);
        o.snaplen = 4;
        let mut w = PcapWriter::with_options(Vec::new(), o).unwrap();
        w.write_packet(0, b"abcdefgh").unwrap();
        assert!(w
            .write_packet((u64::from(u32::MAX) + 1) * 1_000_000_000, b"a")
            .is_err());
        let b = w.finish().unwrap();
        assert_eq!(&b[24 + 8..24 + 16], &[4, 0, 0, 0, 8, 0, 0, 0]);
        assert_eq!(&b[40..], b"abcd");
    }

    #[test]
    fn itch_file_writer_prefixes_lengths() {
        let mut w = ItchFileWriter::new(Vec::new());
        w.write_message(b"S12345678901E").unwrap();
        w.write_message(b"").unwrap();
        assert!(w.write_message(&vec![0u8; 65_536]).is_err());
        let b = w.finish().unwrap();
        assert_eq!(&b[..2], &[0, 13]);
        assert_eq!(&b[2..15], b"S12345678901E");
        assert_eq!(&b[15..], &[0, 0]);
    }

    #[test]
    fn ns_to_units_per_resolution() {
        assert_eq!(ns_to_units(1_500_000_000, 6), Some(1_500_000));
        assert_eq!(ns_to_units(1_500_000_000, 9), Some(1_500_000_000));
        assert_eq!(ns_to_units(1_500_000_000, 12), Some(1_500_000_000_000));
        assert_eq!(ns_to_units(1_500_000_000, 0x8A), Some(1536));
        assert_eq!(ns_to_units(1, 20), None);
    }
}
