//! MoldUDP64 framing (spec: `shared/specs/moldudp64.md`): downstream packets, heartbeats,
//! end of session, re-request packets, and the ITCH messages inside.
//!
//! ```text
//!   UDP payload ──Packet::parse──► Data(DataPacket) ──.blocks()────► (seq, &[u8]) …
//!                 (checks once)  │                   └─.messages(&mut stats)──► (seq, itch50::Message) …
//!                                ├► Heartbeat(&Header)     count 0
//!                                ├► EndOfSession(&Header)  count 0xFFFF
//!                                └► Request(&Header)       20 bytes, count > 0, no blocks
//! ```
//!
//! ## Invariants
//! - [`Packet::parse`] walks the block lengths once and rejects the packet (a [`PacketError`])
//!   unless exactly `Message Count` whole blocks fill the payload — the checks Wireshark's
//!   dissector applies: block count ≠ Message Count, a block running past the end of the
//!   payload, bytes after the last block, blocks in an end-of-session packet. After it succeeds
//!   the block iterator cannot fail.
//! - Sequence numbers use wrapping arithmetic: block *i* has `Sequence Number + i`, and
//!   [`Packet::next_sequence`] is `Sequence Number + Message Count` for data packets, the
//!   Sequence Number itself for heartbeats and end of session.
//! - [`Messages`] steps by the length on the wire, never by the struct size: a message longer
//!   than the spec still decodes (counted in [`DecodeStats::long_messages`]); a shorter one,
//!   an empty block or an unknown type is skipped and counted. Nothing here allocates,
//!   formats or panics, whatever the bytes.

use crate::itch50::{Message, MsgError};
use zerocopy::byteorder::big_endian::{U16, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Size of the MoldUDP64 header (and of a whole request packet).
pub const HEADER_LEN: usize = 20;
/// Message Count of a heartbeat.
pub const HEARTBEAT_COUNT: u16 = 0;
/// Message Count of an end-of-session packet.
pub const END_OF_SESSION_COUNT: u16 = 0xFFFF;
/// Largest UDP payload a standard 1500-byte Ethernet MTU carries (IPv4, no options).
pub const MAX_PAYLOAD_MTU_1500: usize = 1472;

/// The 20-byte header of every MoldUDP64 packet; also the whole of a request packet.
#[repr(C)]
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq, Hash,
)]
pub struct Header {
    /// Session (0, `alpha(10)`).
    pub session: [u8; 10],
    /// Sequence Number (10, `u64`): of the first message; next expected for heartbeat and end
    /// of session; first requested in a request.
    pub sequence_number: U64,
    /// Message Count (18, `u16`): blocks that follow; 0 heartbeat, 0xFFFF end of session;
    /// number of messages wanted in a request.
    pub message_count: U16,
}

const _: () = assert!(core::mem::size_of::<Header>() == HEADER_LEN);

impl Header {
    /// A header (write it with `as_bytes()`; alone it is a heartbeat, end-of-session or
    /// request packet depending on `message_count`).
    #[inline]
    pub const fn new(session: [u8; 10], sequence_number: u64, message_count: u16) -> Header {
        Header {
            session,
            sequence_number: U64::new(sequence_number),
            message_count: U16::new(message_count),
        }
    }

    /// The session bytes as on the wire (not trimmed: sessions are fixed-width codes).
    #[inline]
    pub fn session(&self) -> &[u8; 10] {
        &self.session
    }

    /// Sequence Number.
    #[inline]
    pub fn sequence_number(&self) -> u64 {
        self.sequence_number.get()
    }

    /// Message Count.
    #[inline]
    pub fn message_count(&self) -> u16 {
        self.message_count.get()
    }
}

/// Why a packet was rejected. Small and `Copy`: count it and drop the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketError {
    /// Fewer than 20 bytes: no complete header.
    TooShort,
    /// The payload holds whole blocks, but not `Message Count` of them.
    CountMismatch,
    /// A block's length prefix, or its data, runs past the end of the payload.
    BlockOverrun,
    /// Bytes after the last block that do not form whole blocks.
    TrailingBytes,
    /// An end-of-session packet (count 0xFFFF) with bytes after the header.
    EndOfSessionWithBlocks,
}

/// A checked MoldUDP64 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Message Count 1..=0xFFFE and exactly that many blocks.
    Data(DataPacket<'a>),
    /// Message Count 0, no blocks; Sequence Number = next expected.
    Heartbeat(&'a Header),
    /// Message Count 0xFFFF, no blocks; Sequence Number = next expected.
    EndOfSession(&'a Header),
    /// A 20-byte packet with Message Count > 0 and no blocks: a re-request (client → server).
    Request(&'a Header),
}

impl<'a> Packet<'a> {
    /// Checks the framing of one UDP payload (see the module invariants). Never panics.
    #[inline]
    pub fn parse(bytes: &'a [u8]) -> Result<Packet<'a>, PacketError> {
        Packet::parse_visiting(bytes, |_| {})
    }

    /// [`Packet::parse`], showing `visit` each block's data as the check walks past it, in
    /// order, before the packet is accepted or rejected (a rejected packet may have shown some
    /// of its blocks). Lets a consumer act on every message of a packet during the walk the
    /// check makes anyway — the engine loads each message's order slot there, so that the
    /// cache misses of a whole packet overlap — instead of walking the blocks a second time.
    #[inline]
    pub fn parse_visiting(
        bytes: &'a [u8],
        visit: impl FnMut(&'a [u8]),
    ) -> Result<Packet<'a>, PacketError> {
        let (header, payload) =
            Header::ref_from_prefix(bytes).map_err(|_| PacketError::TooShort)?;
        match header.message_count() {
            END_OF_SESSION_COUNT if payload.is_empty() => Ok(Packet::EndOfSession(header)),
            END_OF_SESSION_COUNT => Err(PacketError::EndOfSessionWithBlocks),
            HEARTBEAT_COUNT if payload.is_empty() => Ok(Packet::Heartbeat(header)),
            _ if payload.is_empty() => Ok(Packet::Request(header)),
            count => {
                check_blocks(payload, count, visit)?;
                Ok(Packet::Data(DataPacket { header, payload }))
            }
        }
    }

    /// [`Packet::parse`], recording the outcome in `stats`.
    #[inline]
    pub fn parse_counted(
        bytes: &'a [u8],
        stats: &mut DecodeStats,
    ) -> Result<Packet<'a>, PacketError> {
        let r = Packet::parse(bytes);
        stats.record_packet(&r);
        r
    }

    /// The header.
    #[inline]
    pub fn header(&self) -> &'a Header {
        match self {
            Packet::Data(d) => d.header,
            Packet::Heartbeat(h) | Packet::EndOfSession(h) | Packet::Request(h) => h,
        }
    }

    /// The sequence number expected after this packet (wrapping): `seq + count` for data,
    /// `seq` for heartbeat, end of session and request.
    #[inline]
    pub fn next_sequence(&self) -> u64 {
        match self {
            Packet::Data(d) => d.next_sequence(),
            Packet::Heartbeat(h) | Packet::EndOfSession(h) | Packet::Request(h) => {
                h.sequence_number()
            }
        }
    }
}

/// Checks that `payload` is exactly `count` whole blocks, showing each to `visit`.
#[inline]
fn check_blocks<'a>(
    payload: &'a [u8],
    count: u16,
    mut visit: impl FnMut(&'a [u8]),
) -> Result<(), PacketError> {
    let mut rest = payload;
    for _ in 0..count {
        if rest.is_empty() {
            return Err(PacketError::CountMismatch);
        }
        let (block, r) = split_block(rest).ok_or(PacketError::BlockOverrun)?;
        visit(block);
        rest = r;
    }
    if rest.is_empty() {
        return Ok(());
    }
    // Extra bytes: more whole blocks than announced, or junk.
    while !rest.is_empty() {
        match split_block(rest) {
            Some((_, r)) => rest = r,
            None => return Err(PacketError::TrailingBytes),
        }
    }
    Err(PacketError::CountMismatch)
}

/// Splits one block off the front: `(data, rest)`, or `None` if it is incomplete.
#[inline]
fn split_block(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = U16::read_from_prefix(b).ok()?;
    let len = usize::from(len.get());
    if rest.len() < len {
        return None;
    }
    Some(rest.split_at(len))
}

/// A data packet whose blocks have been checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataPacket<'a> {
    header: &'a Header,
    payload: &'a [u8],
}

impl<'a> DataPacket<'a> {
    /// The header.
    #[inline]
    pub fn header(&self) -> &'a Header {
        self.header
    }

    /// Sequence number of the first message.
    #[inline]
    pub fn sequence_number(&self) -> u64 {
        self.header.sequence_number()
    }

    /// Number of messages (blocks), 1..=0xFFFE.
    #[inline]
    pub fn message_count(&self) -> u16 {
        self.header.message_count()
    }

    /// `Sequence Number + Message Count`, wrapping.
    #[inline]
    pub fn next_sequence(&self) -> u64 {
        self.sequence_number()
            .wrapping_add(u64::from(self.message_count()))
    }

    /// The bytes after the header (exactly the blocks).
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The blocks, with their sequence numbers.
    #[inline]
    pub fn blocks(&self) -> Blocks<'a> {
        Blocks::new(self.payload, self.sequence_number())
    }

    /// The ITCH messages, with their sequence numbers; skipped blocks are counted in `stats`.
    #[inline]
    pub fn messages<'s>(&self, stats: &'s mut DecodeStats) -> Messages<'a, 's> {
        Messages {
            blocks: self.blocks(),
            stats,
        }
    }
}

/// Iterator over length-prefixed blocks, yielding `(sequence number, message data)`.
///
/// Over a checked [`DataPacket`] it yields every block. Built with [`Blocks::new`] over
/// arbitrary bytes (e.g. a bare `*.NASDAQ_ITCH50` stream), it stops at the first incomplete
/// block and [`Blocks::remainder`] returns what was left.
#[derive(Clone, Debug)]
pub struct Blocks<'a> {
    rest: &'a [u8],
    seq: u64,
}

impl<'a> Blocks<'a> {
    /// Blocks of `bytes`, the first numbered `first_seq`.
    #[inline]
    pub fn new(bytes: &'a [u8], first_seq: u64) -> Blocks<'a> {
        Blocks {
            rest: bytes,
            seq: first_seq,
        }
    }

    /// The bytes not yet consumed (empty after a complete walk of a checked packet).
    #[inline]
    pub fn remainder(&self) -> &'a [u8] {
        self.rest
    }
}

impl<'a> Iterator for Blocks<'a> {
    type Item = (u64, &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<(u64, &'a [u8])> {
        let (data, rest) = split_block(self.rest)?;
        self.rest = rest;
        let seq = self.seq;
        self.seq = seq.wrapping_add(1);
        Some((seq, data))
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.rest.len() / 2))
    }
}

/// Iterator over the ITCH messages of a packet: `(sequence number, message)`.
///
/// Skips (and counts in [`DecodeStats`]) empty blocks, unknown types and messages shorter than
/// the spec; yields (and counts) messages longer than the spec.
#[derive(Debug)]
pub struct Messages<'a, 's> {
    blocks: Blocks<'a>,
    stats: &'s mut DecodeStats,
}

impl<'a> Iterator for Messages<'a, '_> {
    type Item = (u64, Message<'a>);

    #[inline]
    fn next(&mut self) -> Option<(u64, Message<'a>)> {
        for (seq, data) in self.blocks.by_ref() {
            match Message::parse(data) {
                Ok(Message::Unknown(_)) => self.stats.unknown_types += 1,
                Ok(m) => {
                    self.stats.messages += 1;
                    if data.len() != m.as_bytes().len() {
                        self.stats.long_messages += 1;
                    }
                    return Some((seq, m));
                }
                Err(MsgError::Empty) => self.stats.empty_blocks += 1,
                Err(MsgError::Truncated { .. }) => self.stats.truncated += 1,
            }
        }
        None
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.blocks.size_hint()
    }
}

/// Named counters of everything the decoder saw and dropped. Plain `u64`s, bumped by
/// [`Packet::parse_counted`] and [`Messages`]; no allocation, no strings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DecodeStats {
    /// Data packets accepted.
    pub data_packets: u64,
    /// Heartbeats accepted.
    pub heartbeats: u64,
    /// End-of-session packets accepted.
    pub end_of_session: u64,
    /// Request packets seen (unexpected on a downstream feed).
    pub requests: u64,
    /// ITCH messages yielded.
    pub messages: u64,
    /// Blocks with a type byte ITCH 5.0 does not define (skipped).
    pub unknown_types: u64,
    /// Messages shorter than the spec length of their type (skipped).
    pub truncated: u64,
    /// Messages longer than the spec length of their type (decoded; the tail is ignored).
    pub long_messages: u64,
    /// Zero-length blocks (skipped).
    pub empty_blocks: u64,
    /// Packets dropped: shorter than the header.
    pub malformed_too_short: u64,
    /// Packets dropped: number of blocks ≠ Message Count.
    pub malformed_count_mismatch: u64,
    /// Packets dropped: a block runs past the end of the payload.
    pub malformed_block_overrun: u64,
    /// Packets dropped: junk after the last block.
    pub malformed_trailing_bytes: u64,
    /// Packets dropped: end of session with blocks.
    pub malformed_eos_with_blocks: u64,
}

impl DecodeStats {
    /// Counts the outcome of [`Packet::parse`].
    #[inline]
    pub fn record_packet(&mut self, r: &Result<Packet<'_>, PacketError>) {
        let c = match r {
            Ok(Packet::Data(_)) => &mut self.data_packets,
            Ok(Packet::Heartbeat(_)) => &mut self.heartbeats,
            Ok(Packet::EndOfSession(_)) => &mut self.end_of_session,
            Ok(Packet::Request(_)) => &mut self.requests,
            Err(PacketError::TooShort) => &mut self.malformed_too_short,
            Err(PacketError::CountMismatch) => &mut self.malformed_count_mismatch,
            Err(PacketError::BlockOverrun) => &mut self.malformed_block_overrun,
            Err(PacketError::TrailingBytes) => &mut self.malformed_trailing_bytes,
            Err(PacketError::EndOfSessionWithBlocks) => &mut self.malformed_eos_with_blocks,
        };
        *c += 1;
    }

    /// All packets dropped as malformed.
    #[inline]
    pub fn malformed_packets(&self) -> u64 {
        self.malformed_too_short
            + self.malformed_count_mismatch
            + self.malformed_block_overrun
            + self.malformed_trailing_bytes
            + self.malformed_eos_with_blocks
    }

    /// Every counter under its field name, for printing or comparison.
    pub fn counters(&self) -> [(&'static str, u64); 14] {
        [
            ("data_packets", self.data_packets),
            ("heartbeats", self.heartbeats),
            ("end_of_session", self.end_of_session),
            ("requests", self.requests),
            ("messages", self.messages),
            ("unknown_types", self.unknown_types),
            ("truncated", self.truncated),
            ("long_messages", self.long_messages),
            ("empty_blocks", self.empty_blocks),
            ("malformed_too_short", self.malformed_too_short),
            ("malformed_count_mismatch", self.malformed_count_mismatch),
            ("malformed_block_overrun", self.malformed_block_overrun),
            ("malformed_trailing_bytes", self.malformed_trailing_bytes),
            ("malformed_eos_with_blocks", self.malformed_eos_with_blocks),
        ]
    }
}

/// Writes a data packet into a caller's buffer, block by block (no allocation).
///
/// ```
/// use fh_decoders::moldudp64::{Packet, PacketBuilder};
/// let mut buf = [0u8; 1472];
/// let mut b = PacketBuilder::new(&mut buf, *b"SESSION001", 100).unwrap();
/// assert!(b.push(b"first") && b.push(b"second"));
/// let Ok(Packet::Data(d)) = Packet::parse(b.finish()) else { panic!() };
/// assert_eq!(d.blocks().collect::<Vec<_>>(), [(100, &b"first"[..]), (101, &b"second"[..])]);
/// ```
#[derive(Debug)]
pub struct PacketBuilder<'b> {
    buf: &'b mut [u8],
    len: usize,
    count: u16,
}

impl<'b> PacketBuilder<'b> {
    /// Starts a packet with this session and first sequence number; `None` if `buf` cannot
    /// hold the header.
    pub fn new(buf: &'b mut [u8], session: [u8; 10], first_seq: u64) -> Option<Self> {
        let hdr = Header::new(session, first_seq, 0);
        buf.get_mut(..HEADER_LEN)?.copy_from_slice(hdr.as_bytes());
        Some(PacketBuilder {
            buf,
            len: HEADER_LEN,
            count: 0,
        })
    }

    /// Appends one block; `false` (and nothing written) if it does not fit in the buffer, is
    /// longer than 65 535 bytes, or the packet already has 0xFFFE messages.
    pub fn push(&mut self, msg: &[u8]) -> bool {
        let Ok(n) = u16::try_from(msg.len()) else {
            return false;
        };
        let end = self.len + 2 + msg.len();
        if self.count >= END_OF_SESSION_COUNT - 1 || end > self.buf.len() {
            return false;
        }
        self.buf[self.len..self.len + 2].copy_from_slice(&n.to_be_bytes());
        self.buf[self.len + 2..end].copy_from_slice(msg);
        self.len = end;
        self.count += 1;
        true
    }

    /// Whether a block of `msg_len` bytes would still fit.
    #[inline]
    pub fn fits(&self, msg_len: usize) -> bool {
        msg_len <= usize::from(u16::MAX)
            && self.count < END_OF_SESSION_COUNT - 1
            && self.len + 2 + msg_len <= self.buf.len()
    }

    /// Messages pushed so far.
    #[inline]
    pub fn count(&self) -> u16 {
        self.count
    }

    /// Bytes written so far (header included).
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True while no message has been pushed.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Writes Message Count and returns the packet's bytes. With no message pushed this is a
    /// heartbeat.
    pub fn finish(self) -> &'b [u8] {
        self.buf[18..20].copy_from_slice(&self.count.to_be_bytes());
        &self.buf[..self.len]
    }
}

#[cfg(test)]
mod tests;
