//! IEX-TP v1: the transport that frames IEX DEEP and TOPS messages into UDP payloads.
//!
//! One UDP payload is one *segment*: a 40-byte little-endian [`Header`] followed by
//! `Message Count` blocks, each a `u16` LE length and that many bytes of one DEEP/TOPS message.
//! Messages are numbered implicitly, `First Message Sequence Number + i`. A segment with
//! `Message Count == 0` is a heartbeat (its first sequence number is the *next* one).
//!
//! ```text
//!  0        2      4          8          12      14      16             24              32           40
//!  ver rsv  proto  channel    session    paylen  count   stream offset  first seq       send time    blocks…
//!  block: [len u16][len bytes: type byte, fields…]
//! ```
//!
//! ## Invariants
//! - [`Segment::parse`] checks the framing once: header present, version 1, `Payload Length`
//!   bytes present (and nothing after them), and exactly `Message Count` blocks that tile the
//!   payload. After it succeeds, no accessor can fail and [`Blocks`] yields exactly
//!   `Message Count` blocks. Malformed segments are a small `Copy` [`SegmentError`], counted by
//!   kind in [`MalformedSegments`].
//! - Blocks are stepped by the length on the wire, never by a struct size. Message-level checks
//!   (unknown type, shorter or longer than the spec) are done by the DEEP/TOPS iterators
//!   (`deep::Messages`, `tops::Messages`, both [`MessagesOf`]), which bump the named [`Counters`].
//!   Those modules depend on this one, never the other way: `Segment::deep` and
//!   `Segment::tops` are defined there.
//! - All sequence and offset arithmetic wraps: hostile headers cannot cause an overflow panic.
//!
//! ## Not here
//! Gap-fill requests (built by the live receiver), sequencing and arbitration (see `fh-feed`).

use zerocopy::little_endian::{I64, U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::fields::{FieldValue, FieldVisitor};

/// IEX-TP protocol version carried in byte 0 of every segment.
pub const VERSION: u8 = 1;
/// Message Protocol ID of IEX TOPS v1.5 (older layouts; decoded with the 1.6 tables, see
/// the `tops` module).
pub const PROTOCOL_TOPS_1_5: u16 = 0x8002;
/// Message Protocol ID of IEX TOPS v1.6.
pub const PROTOCOL_TOPS_1_6: u16 = 0x8003;
/// Message Protocol ID of IEX DEEP v1.0.
pub const PROTOCOL_DEEP_1_0: u16 = 0x8004;

/// The 40-byte IEX-TP segment header (all fields little-endian).
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq, Hash,
)]
#[repr(C)]
pub struct Header {
    /// Protocol version, `1`.
    pub version: u8,
    /// Reserved, ignored.
    pub reserved: u8,
    /// `0x8004` DEEP 1.0, `0x8003` TOPS 1.6, `0x8002` TOPS 1.5.
    pub message_protocol_id: U16,
    /// Stream id (`1` for DEEP and TOPS).
    pub channel_id: U32,
    /// Session id: a message is unique by (session id, sequence number).
    pub session_id: U32,
    /// Bytes after this header.
    pub payload_length: U16,
    /// Number of message blocks in the payload (`0` = heartbeat).
    pub message_count: U16,
    /// Byte offset of this payload in the session's byte stream.
    pub stream_offset: I64,
    /// Sequence number of the first message (of the next one in a heartbeat).
    pub first_message_sequence_number: I64,
    /// Send time, ns since the Unix epoch (UTC).
    pub send_time: I64,
}

/// Size of [`Header`] on the wire.
pub const HEADER_LEN: usize = 40;
const _: () = assert!(core::mem::size_of::<Header>() == HEADER_LEN);

impl Header {
    /// Visits the header fields in wire order under their spec names in `snake_case`
    /// (`version`, `reserved`, `message_protocol_id`, `channel_id`, `session_id`,
    /// `payload_length`, `message_count`, `stream_offset`, `first_message_sequence_number`,
    /// `send_time`); these equal the oracle's `hdr` keys once underscores are removed.
    /// (The OMI dissector prints `reserved` as `"30"` whatever the byte holds; compare the
    /// other nine.)
    pub fn visit_fields(&self, v: &mut dyn FieldVisitor) {
        v.field("version", FieldValue::U64(self.version.into()));
        v.field("reserved", FieldValue::U64(self.reserved.into()));
        v.field(
            "message_protocol_id",
            FieldValue::U64(self.message_protocol_id.get().into()),
        );
        v.field("channel_id", FieldValue::U64(self.channel_id.get().into()));
        v.field("session_id", FieldValue::U64(self.session_id.get().into()));
        v.field(
            "payload_length",
            FieldValue::U64(self.payload_length.get().into()),
        );
        v.field(
            "message_count",
            FieldValue::U64(self.message_count.get().into()),
        );
        v.field("stream_offset", FieldValue::I64(self.stream_offset.get()));
        v.field(
            "first_message_sequence_number",
            FieldValue::I64(self.first_message_sequence_number.get()),
        );
        v.field("send_time", FieldValue::U64(self.send_time.get() as u64));
    }
}

/// Which message protocol a segment carries, from its Message Protocol ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `0x8004`: DEEP 1.0 (the `deep` module).
    Deep,
    /// `0x8003`: TOPS 1.6 (the `tops` module).
    Tops16,
    /// `0x8002`: TOPS 1.5 (the `tops` module, same tables; Trade Report/Break are 4 bytes longer).
    Tops15,
    /// Anything else (e.g. `0x8005` DEEP+), not decoded here.
    Other(u16),
}

impl Protocol {
    /// Classifies a Message Protocol ID.
    #[inline]
    pub const fn from_id(id: u16) -> Self {
        match id {
            PROTOCOL_DEEP_1_0 => Protocol::Deep,
            PROTOCOL_TOPS_1_6 => Protocol::Tops16,
            PROTOCOL_TOPS_1_5 => Protocol::Tops15,
            other => Protocol::Other(other),
        }
    }

    /// True for TOPS 1.5 and 1.6.
    #[inline]
    pub const fn is_tops(self) -> bool {
        matches!(self, Protocol::Tops16 | Protocol::Tops15)
    }
}

/// Why a UDP payload is not a well-formed IEX-TP segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SegmentError {
    /// Fewer than 40 bytes: no complete header.
    TooShort,
    /// Version byte is not `1`.
    UnsupportedVersion,
    /// `Payload Length` is larger than the bytes after the header.
    PayloadTruncated,
    /// Bytes remain after `Payload Length` bytes ([`Segment::parse`] only).
    TrailingBytes,
    /// A block's length prefix or data runs past the end of the payload.
    BlockOverrun,
    /// The payload ends before `Message Count` blocks were read.
    MissingBlocks,
    /// Bytes remain in the payload after `Message Count` blocks.
    ExtraBytes,
}

/// Counts of malformed segments, one counter per [`SegmentError`] kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MalformedSegments {
    /// [`SegmentError::TooShort`].
    pub too_short: u64,
    /// [`SegmentError::UnsupportedVersion`].
    pub unsupported_version: u64,
    /// [`SegmentError::PayloadTruncated`].
    pub payload_truncated: u64,
    /// [`SegmentError::TrailingBytes`].
    pub trailing_bytes: u64,
    /// [`SegmentError::BlockOverrun`].
    pub block_overrun: u64,
    /// [`SegmentError::MissingBlocks`].
    pub missing_blocks: u64,
    /// [`SegmentError::ExtraBytes`].
    pub extra_bytes: u64,
}

impl MalformedSegments {
    /// Bumps the counter of `e`'s kind.
    #[inline]
    pub fn record(&mut self, e: SegmentError) {
        let c = match e {
            SegmentError::TooShort => &mut self.too_short,
            SegmentError::UnsupportedVersion => &mut self.unsupported_version,
            SegmentError::PayloadTruncated => &mut self.payload_truncated,
            SegmentError::TrailingBytes => &mut self.trailing_bytes,
            SegmentError::BlockOverrun => &mut self.block_overrun,
            SegmentError::MissingBlocks => &mut self.missing_blocks,
            SegmentError::ExtraBytes => &mut self.extra_bytes,
        };
        *c = c.wrapping_add(1);
    }

    /// Sum of all kinds.
    pub fn total(&self) -> u64 {
        [
            self.too_short,
            self.unsupported_version,
            self.payload_truncated,
            self.trailing_bytes,
            self.block_overrun,
            self.missing_blocks,
            self.extra_bytes,
        ]
        .iter()
        .fold(0u64, |a, &b| a.wrapping_add(b))
    }
}

/// Named counters bumped by [`Segment::parse_counted`] and the DEEP/TOPS message iterators.
///
/// Nothing here is an error the hot path reports any other way: a bad segment or message is
/// counted and dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Counters {
    /// Well-formed segments (heartbeats included).
    pub segments: u64,
    /// Well-formed segments with `Message Count == 0`.
    pub heartbeats: u64,
    /// Segments rejected by [`Segment::parse`], by kind.
    pub malformed: MalformedSegments,
    /// Segments handed to a DEEP (TOPS) iterator whose protocol id is not DEEP (TOPS).
    pub unknown_protocol: u64,
    /// Messages of a known type decoded and yielded.
    pub messages: u64,
    /// Messages of an unknown type (yielded as `Unknown(type)`, otherwise skipped).
    pub unknown_types: u64,
    /// Messages shorter than their spec size (or empty): skipped.
    pub truncated: u64,
    /// Messages longer than their spec size: decoded (the tail is ignored) and counted.
    pub oversized: u64,
}

impl Counters {
    /// All counters zero.
    pub const fn new() -> Self {
        Counters {
            segments: 0,
            heartbeats: 0,
            malformed: MalformedSegments {
                too_short: 0,
                unsupported_version: 0,
                payload_truncated: 0,
                trailing_bytes: 0,
                block_overrun: 0,
                missing_blocks: 0,
                extra_bytes: 0,
            },
            unknown_protocol: 0,
            messages: 0,
            unknown_types: 0,
            truncated: 0,
            oversized: 0,
        }
    }
}

#[inline]
pub(crate) fn bump(c: &mut u64) {
    *c = c.wrapping_add(1);
}

/// A validated IEX-TP segment: the header and the payload it announces.
///
/// Built only by [`Segment::parse`]/[`Segment::parse_prefix`], so the payload is exactly
/// `Payload Length` bytes made of exactly `Message Count` well-formed blocks.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    header: &'a Header,
    payload: &'a [u8],
}

impl<'a> Segment<'a> {
    /// Parses one UDP payload: it must hold exactly one segment.
    #[inline]
    pub fn parse(bytes: &'a [u8]) -> Result<Self, SegmentError> {
        let (seg, rest) = Self::parse_prefix(bytes)?;
        if rest.is_empty() {
            Ok(seg)
        } else {
            Err(SegmentError::TrailingBytes)
        }
    }

    /// Parses the segment at the start of `bytes` and returns it with the bytes after it
    /// (for a TCP gap-fill byte stream, where segments follow each other).
    #[inline]
    pub fn parse_prefix(bytes: &'a [u8]) -> Result<(Self, &'a [u8]), SegmentError> {
        let (header, after) = Header::ref_from_prefix(bytes).map_err(|_| SegmentError::TooShort)?;
        if header.version != VERSION {
            return Err(SegmentError::UnsupportedVersion);
        }
        let len = usize::from(header.payload_length.get());
        let (payload, rest) = after
            .split_at_checked(len)
            .ok_or(SegmentError::PayloadTruncated)?;
        check_blocks(payload, header.message_count.get())?;
        Ok((Segment { header, payload }, rest))
    }

    /// [`Segment::parse`], counting the outcome in `c` (`segments` and `heartbeats`, or the
    /// kind of malformation). Returns `None` for a malformed segment.
    #[inline]
    pub fn parse_counted(bytes: &'a [u8], c: &mut Counters) -> Option<Self> {
        match Self::parse(bytes) {
            Ok(s) => {
                bump(&mut c.segments);
                if s.is_heartbeat() {
                    bump(&mut c.heartbeats);
                }
                Some(s)
            }
            Err(e) => {
                c.malformed.record(e);
                None
            }
        }
    }

    /// The header view.
    #[inline]
    pub fn header(&self) -> &'a Header {
        self.header
    }

    /// The payload: `Payload Length` bytes of message blocks.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The message protocol (from Message Protocol ID).
    #[inline]
    pub fn protocol(&self) -> Protocol {
        Protocol::from_id(self.header.message_protocol_id.get())
    }

    /// Session id.
    #[inline]
    pub fn session_id(&self) -> u32 {
        self.header.session_id.get()
    }

    /// Channel id.
    #[inline]
    pub fn channel_id(&self) -> u32 {
        self.header.channel_id.get()
    }

    /// True when the segment carries no message (`Message Count == 0`).
    #[inline]
    pub fn is_heartbeat(&self) -> bool {
        self.header.message_count.get() == 0
    }

    /// Number of messages.
    #[inline]
    pub fn message_count(&self) -> u16 {
        self.header.message_count.get()
    }

    /// Sequence number of the first message (of the next message, for a heartbeat).
    #[inline]
    pub fn first_seq(&self) -> u64 {
        self.header.first_message_sequence_number.get() as u64
    }

    /// Sequence number expected after this segment: first + Message Count.
    #[inline]
    pub fn next_seq(&self) -> u64 {
        self.first_seq()
            .wrapping_add(u64::from(self.header.message_count.get()))
    }

    /// Stream offset of the payload.
    #[inline]
    pub fn stream_offset(&self) -> u64 {
        self.header.stream_offset.get() as u64
    }

    /// Stream offset expected after this segment: offset + Payload Length.
    #[inline]
    pub fn next_stream_offset(&self) -> u64 {
        self.stream_offset()
            .wrapping_add(u64::from(self.header.payload_length.get()))
    }

    /// Send time, ns since the Unix epoch (UTC).
    #[inline]
    pub fn send_time(&self) -> u64 {
        self.header.send_time.get() as u64
    }

    /// The message blocks as `(sequence number, message bytes)`; exactly `Message Count` items.
    #[inline]
    pub fn blocks(&self) -> Blocks<'a> {
        Blocks {
            rest: self.payload,
            seq: self.first_seq(),
            remaining: self.header.message_count.get(),
        }
    }
}

/// Walks `count` blocks over `payload`; they must tile it exactly.
fn check_blocks(mut payload: &[u8], count: u16) -> Result<(), SegmentError> {
    for _ in 0..count {
        if payload.is_empty() {
            return Err(SegmentError::MissingBlocks);
        }
        let (len, after) =
            U16::read_from_prefix(payload).map_err(|_| SegmentError::BlockOverrun)?;
        payload = after
            .get(usize::from(len.get())..)
            .ok_or(SegmentError::BlockOverrun)?;
    }
    if payload.is_empty() {
        Ok(())
    } else {
        Err(SegmentError::ExtraBytes)
    }
}

/// Iterator over the message blocks of a [`Segment`]: `(sequence number, message bytes)`.
///
/// The bytes exclude the 2-byte length prefix; byte 0 is the message type (a block may be
/// empty: the message iterators count it as truncated).
#[derive(Clone, Debug)]
pub struct Blocks<'a> {
    rest: &'a [u8],
    seq: u64,
    remaining: u16,
}

impl Blocks<'_> {
    /// An iterator that yields nothing.
    pub const EMPTY: Blocks<'static> = Blocks {
        rest: &[],
        seq: 0,
        remaining: 0,
    };
}

impl<'a> Iterator for Blocks<'a> {
    type Item = (u64, &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        // The segment was validated, so these cannot fail; if they did, stop rather than panic.
        let Ok((len, after)) = U16::read_from_prefix(self.rest) else {
            self.remaining = 0;
            return None;
        };
        let Some((msg, rest)) = after.split_at_checked(usize::from(len.get())) else {
            self.remaining = 0;
            return None;
        };
        let seq = self.seq;
        self.rest = rest;
        self.seq = seq.wrapping_add(1);
        self.remaining -= 1;
        Some((seq, msg))
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(usize::from(self.remaining)))
    }
}

impl core::iter::FusedIterator for Blocks<'_> {}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// Hex to bytes (test helper).
    pub(crate) fn hex(s: &str) -> Vec<u8> {
        let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        s.chunks(2)
            .map(|p| u8::from_str_radix(core::str::from_utf8(p).unwrap(), 16).unwrap())
            .collect()
    }

    /// `test.pcap` (iex-deep-20231002-sai271828) frame 1: a heartbeat.
    const DEEP_HEARTBEAT: &str =
        "01000480010000000000b04c000000000000000000000000010000000000000072ab9e632e478a17";
    /// `test.pcap` (iex-deep-20231002-sai271828) frame 2234: two Price Level Updates.
    const DEEP_TWO_PLU: &str = "01000480010000000000b04c400002009dc30e0000000000e1b1000000000000\
        cbd805ae91488a171e003801d613e4ad91488a175442462020202020a60b000060d8030000000000\
        1e0035017e78f5ad91488a175442462020202020a60b000030e0030000000000";

    fn segment(hb: &[u8]) -> Segment<'_> {
        Segment::parse(hb).unwrap()
    }

    #[test]
    fn heartbeat_from_real_capture() {
        let b = hex(DEEP_HEARTBEAT);
        let s = segment(&b);
        // Oracle (frame 1): session 1286602752, offset 0, first seq 1, send time below.
        assert!(s.is_heartbeat());
        assert_eq!(s.protocol(), Protocol::Deep);
        assert_eq!(s.channel_id(), 1);
        assert_eq!(s.session_id(), 1_286_602_752);
        assert_eq!(s.stream_offset(), 0);
        assert_eq!(s.first_seq(), 1);
        assert_eq!(
            s.next_seq(),
            1,
            "a heartbeat carries the next sequence number"
        );
        assert_eq!(s.next_stream_offset(), 0);
        assert_eq!(s.send_time(), 1_696_246_474_223_823_730);
        assert_eq!(s.blocks().count(), 0);
        let mut c = Counters::new();
        assert!(Segment::parse_counted(&b, &mut c).is_some());
        assert_eq!((c.segments, c.heartbeats), (1, 1));
    }

    #[test]
    fn multi_message_segment_from_real_capture() {
        let b = hex(DEEP_TWO_PLU);
        let s = segment(&b);
        // Oracle (frame 2234): payload 64, count 2, offset 967581, first seq 45537.
        assert!(!s.is_heartbeat());
        assert_eq!(s.message_count(), 2);
        assert_eq!(s.payload().len(), 64);
        assert_eq!(s.stream_offset(), 967_581);
        assert_eq!(s.next_stream_offset(), 967_581 + 64);
        assert_eq!(s.first_seq(), 45_537);
        assert_eq!(s.next_seq(), 45_539);
        assert_eq!(s.send_time(), 1_696_248_000_185_489_611);
        let blocks: Vec<_> = s.blocks().collect();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].0, 45_537);
        assert_eq!(blocks[1].0, 45_538);
        assert_eq!(blocks[0].1.len(), 30);
        assert_eq!(blocks[0].1[0], b'8');
        assert_eq!(blocks[1].1[0], b'5');
    }

    #[test]
    fn header_fields_in_wire_order() {
        struct Names(Vec<(&'static str, std::string::String)>);
        impl FieldVisitor for Names {
            fn field(&mut self, name: &'static str, value: FieldValue<'_>) {
                self.0.push((name, std::format!("{value:?}")));
            }
        }
        let b = hex(DEEP_TWO_PLU);
        let mut n = Names(Vec::new());
        segment(&b).header().visit_fields(&mut n);
        let got: Vec<_> = n.0.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(
            got,
            [
                ("version", "U64(1)"),
                ("reserved", "U64(0)"),
                ("message_protocol_id", "U64(32772)"),
                ("channel_id", "U64(1)"),
                ("session_id", "U64(1286602752)"),
                ("payload_length", "U64(64)"),
                ("message_count", "U64(2)"),
                ("stream_offset", "I64(967581)"),
                ("first_message_sequence_number", "I64(45537)"),
                ("send_time", "U64(1696248000185489611)"),
            ]
        );
    }

    #[test]
    fn header_round_trips_through_fields() {
        let h = Header {
            version: 1,
            reserved: 0,
            message_protocol_id: U16::new(PROTOCOL_TOPS_1_6),
            channel_id: U32::new(1),
            session_id: U32::new(1_149_108_224),
            payload_length: U16::new(0),
            message_count: U16::new(0),
            stream_offset: I64::new(0),
            first_message_sequence_number: I64::new(1),
            send_time: I64::new(1_514_983_023_517_685_063),
        };
        // iex-tops-20180103-iextools example1-complete-2pkts.pcap frame 1 (TOPS heartbeat);
        // oracle: session 1149108224, first seq 1, send time 1514983023517685063.
        let real =
            hex("010003800100000000007e44000000000000000000000000010000000000000047d5847d084d0615");
        assert_eq!(h.as_bytes(), &real[..], "fields -> bytes");
        let parsed = segment(&real);
        assert_eq!(parsed.protocol(), Protocol::Tops16);
        assert_eq!(parsed.header(), &h, "bytes -> fields");
        assert_eq!(h.as_bytes().len(), HEADER_LEN);
        let back = Segment::parse(h.as_bytes()).unwrap();
        assert_eq!(back.header(), &h);
    }

    /// Builds a segment from blocks, with header fields consistent unless overridden.
    fn build(proto: u16, count: u16, blocks: &[&[u8]]) -> Vec<u8> {
        let mut payload = Vec::new();
        for b in blocks {
            payload.extend_from_slice(&(b.len() as u16).to_le_bytes());
            payload.extend_from_slice(b);
        }
        let h = Header {
            version: 1,
            reserved: 0,
            message_protocol_id: U16::new(proto),
            channel_id: U32::new(1),
            session_id: U32::new(7),
            payload_length: U16::new(payload.len() as u16),
            message_count: U16::new(count),
            stream_offset: I64::new(100),
            first_message_sequence_number: I64::new(10),
            send_time: I64::new(5),
        };
        let mut v = h.as_bytes().to_vec();
        v.extend_from_slice(&payload);
        v
    }

    #[test]
    fn every_malformed_case_is_detected_and_counted() {
        let good = build(PROTOCOL_DEEP_1_0, 2, &[b"S\x4f12345678", b"Z"]);
        assert!(Segment::parse(&good).is_ok());

        let mut cases: Vec<(Vec<u8>, SegmentError)> = Vec::new();
        cases.push((good[..39].to_vec(), SegmentError::TooShort));
        cases.push((Vec::new(), SegmentError::TooShort));
        let mut v = good.clone();
        v[0] = 2;
        cases.push((v, SegmentError::UnsupportedVersion));
        cases.push((
            good[..good.len() - 1].to_vec(),
            SegmentError::PayloadTruncated,
        ));
        let mut v = good.clone();
        v.push(0);
        cases.push((v, SegmentError::TrailingBytes));
        // Second block claims 5 bytes but only 1 is there; payload length adjusted to match.
        let mut v = good.clone();
        let n = v.len();
        v[n - 3] = 5;
        cases.push((v, SegmentError::BlockOverrun));
        // Count 3 but the payload holds 2 blocks.
        let mut v = good.clone();
        v[14] = 3;
        cases.push((v, SegmentError::MissingBlocks));
        // Count 1 but the payload holds 2 blocks.
        let mut v = good.clone();
        v[14] = 1;
        cases.push((v, SegmentError::ExtraBytes));
        // Heartbeat count with a non-empty payload.
        let mut v = good.clone();
        v[14] = 0;
        cases.push((v, SegmentError::ExtraBytes));
        // Half a length prefix at the end of the payload.
        let mut v = build(PROTOCOL_DEEP_1_0, 2, &[b"S\x4f12345678"]);
        v.push(1);
        v[12] += 1;
        cases.push((v, SegmentError::BlockOverrun));

        let mut c = Counters::new();
        for (bytes, want) in &cases {
            assert_eq!(Segment::parse(bytes).err(), Some(*want), "{bytes:02x?}");
            assert!(Segment::parse_counted(bytes, &mut c).is_none());
        }
        let m = c.malformed;
        assert_eq!(
            [
                m.too_short,
                m.unsupported_version,
                m.payload_truncated,
                m.trailing_bytes,
                m.block_overrun,
                m.missing_blocks,
                m.extra_bytes
            ],
            [2, 1, 1, 1, 2, 1, 2]
        );
        assert_eq!(m.total(), cases.len() as u64);
        assert_eq!(c.segments, 0);
    }

    #[test]
    fn parse_prefix_splits_a_byte_stream() {
        let a = build(PROTOCOL_DEEP_1_0, 1, &[b"S\x4f12345678"]);
        let b = build(PROTOCOL_DEEP_1_0, 0, &[]);
        let mut stream = a.clone();
        stream.extend_from_slice(&b);
        let (s1, rest) = Segment::parse_prefix(&stream).unwrap();
        assert_eq!(s1.message_count(), 1);
        assert_eq!(rest, &b[..]);
        let (s2, rest) = Segment::parse_prefix(rest).unwrap();
        assert!(s2.is_heartbeat() && rest.is_empty());
        assert_eq!(
            Segment::parse(&stream).err(),
            Some(SegmentError::TrailingBytes)
        );
    }

    #[test]
    fn protocol_ids() {
        assert_eq!(Protocol::from_id(0x8004), Protocol::Deep);
        assert_eq!(Protocol::from_id(0x8003), Protocol::Tops16);
        assert_eq!(Protocol::from_id(0x8002), Protocol::Tops15);
        assert_eq!(Protocol::from_id(0x8005), Protocol::Other(0x8005));
        assert!(Protocol::Tops15.is_tops() && !Protocol::Deep.is_tops());
    }

    #[test]
    fn sequence_arithmetic_wraps_instead_of_panicking() {
        let mut v = build(PROTOCOL_DEEP_1_0, 2, &[b"a", b"b"]);
        v[24..32].copy_from_slice(&(-1i64).to_le_bytes());
        v[16..24].copy_from_slice(&(-1i64).to_le_bytes());
        let s = segment(&v);
        assert_eq!(s.first_seq(), u64::MAX);
        assert_eq!(s.next_seq(), 1);
        assert_eq!(s.next_stream_offset(), u64::MAX.wrapping_add(6));
        let seqs: Vec<u64> = s.blocks().map(|(q, _)| q).collect();
        assert_eq!(seqs, [u64::MAX, 0]);
    }
}

/// A message family carried over IEX-TP (DEEP, TOPS): how [`MessagesOf`] views one block.
pub trait Family<'a>: Sized {
    /// Views one block; `None` when it is empty or shorter than its type's spec size.
    fn view(data: &'a [u8]) -> Option<Self>;
    /// Whether the block's type is one the family does not define.
    fn is_unknown(&self) -> bool;
    /// The spec size of a message type, `None` for unknown types.
    fn spec_len(message_type: u8) -> Option<usize>;
}

/// Iterator over the messages of one segment in family `M`: `(sequence number, message)`.
///
/// Truncated messages are skipped; unknown types are yielded (as the family's `Unknown`) and
/// counted; messages longer than their spec size are yielded and counted. Every outcome is
/// counted in the borrowed [`Counters`]. `deep::Messages` and `tops::Messages` are this type.
#[derive(Debug)]
pub struct MessagesOf<'a, 'c, M> {
    blocks: Blocks<'a>,
    counters: &'c mut Counters,
    family: core::marker::PhantomData<M>,
}

impl<'a, 'c, M> MessagesOf<'a, 'c, M> {
    /// Decodes messages of family `M` from `blocks`, counting into `counters`.
    #[inline]
    pub fn new(blocks: Blocks<'a>, counters: &'c mut Counters) -> Self {
        MessagesOf {
            blocks,
            counters,
            family: core::marker::PhantomData,
        }
    }
}

impl<'a, M: Family<'a>> Iterator for MessagesOf<'a, '_, M> {
    type Item = (u64, M);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        for (seq, data) in self.blocks.by_ref() {
            let Some(m) = M::view(data) else {
                bump(&mut self.counters.truncated);
                continue;
            };
            if m.is_unknown() {
                bump(&mut self.counters.unknown_types);
            } else {
                bump(&mut self.counters.messages);
                if M::spec_len(data.first().copied().unwrap_or(0)).is_some_and(|l| data.len() > l) {
                    bump(&mut self.counters.oversized);
                }
            }
            return Some((seq, m));
        }
        None
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.blocks.size_hint()
    }
}

impl<'a, M: Family<'a>> core::iter::FusedIterator for MessagesOf<'a, '_, M> {}
