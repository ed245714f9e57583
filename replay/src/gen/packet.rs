//! MoldUDP64 packetizer: packs the generator's messages into downstream packets the way the
//! exchange does.
//!
//! - Messages that arrive together (each within [`PACK_GAP_NS`] of the previous one) share a
//!   packet, up to [`MAX_PAYLOAD`] bytes of UDP payload (20-byte header included); a message
//!   arriving after a longer gap starts a new packet, so quiet periods give single-message
//!   packets.
//! - After a second without any packet a heartbeat (count 0, sequence = next expected) goes
//!   out, and one more every further second of silence.
//! - [`Packetizer::finish`] sends the last data packet and one End of Session packet (count
//!   0xFFFF, sequence = next expected).
//!
//! Invariants: sequence numbers start at 1 and are contiguous over data packets; a packet's
//! send time is the arrival of its last message, never earlier than
//! [`MIN_SPACING_NS`] after the previous packet, so send times strictly increase.

use fh_decoders::moldudp64::Header;
use std::io;
use zerocopy::IntoBytes;

/// Largest UDP payload of a data packet, header included.
pub const MAX_PAYLOAD: usize = 1400;
/// MoldUDP64 downstream header length.
pub const HEADER_LEN: usize = fh_decoders::moldudp64::HEADER_LEN;
/// Messages closer than this to the previous one ride in the same packet.
pub const PACK_GAP_NS: u64 = 1_000;
/// Least time between two packets of one line (a 1400-byte frame takes ~1.1 µs at 10 Gb/s).
pub const MIN_SPACING_NS: u64 = 300;
/// Silence after which a heartbeat is sent.
pub const HEARTBEAT_NS: u64 = 1_000_000_000;
/// Message Count of a heartbeat.
pub const HEARTBEAT: u16 = fh_decoders::moldudp64::HEARTBEAT_COUNT;
/// Message Count of an End of Session packet.
pub const END_OF_SESSION: u16 = fh_decoders::moldudp64::END_OF_SESSION_COUNT;

/// One downstream packet as the packetizer hands it on.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// Send time, ns since midnight.
    pub ts: u64,
    /// Sequence Number field (first message, or next expected for heartbeat / end of session).
    pub seq: u64,
    /// Message Count field.
    pub count: u16,
    /// The whole UDP payload: header and blocks.
    pub bytes: &'a [u8],
}

impl Packet<'_> {
    /// True for a packet carrying messages (not a heartbeat or end of session).
    pub fn is_data(&self) -> bool {
        self.count != HEARTBEAT && self.count != END_OF_SESSION
    }
}

/// Where packets go (the fault injector and the file writers implement it).
pub trait PacketSink {
    /// Takes one packet.
    fn packet(&mut self, p: &Packet<'_>) -> io::Result<()>;
}

/// Packet counts of a finished session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PacketStats {
    /// Data packets.
    pub data: u64,
    /// Heartbeats.
    pub heartbeats: u64,
    /// End of Session packets.
    pub end_of_session: u64,
    /// Messages packed.
    pub messages: u64,
    /// Sum of UDP payload bytes of all packets.
    pub payload_bytes: u64,
}

/// Builds MoldUDP64 packets for one session.
#[derive(Debug)]
pub struct Packetizer {
    session: [u8; 10],
    buf: Vec<u8>,
    count: u16,
    first_seq: u64,
    next_seq: u64,
    last_msg_ts: u64,
    last_send: Option<u64>,
    stats: PacketStats,
}

impl Packetizer {
    /// A packetizer for `session` whose first message gets sequence number 1.
    pub fn new(session: [u8; 10]) -> Self {
        let mut buf = Vec::with_capacity(MAX_PAYLOAD);
        buf.resize(HEADER_LEN, 0);
        Packetizer {
            session,
            buf,
            count: 0,
            first_seq: 1,
            next_seq: 1,
            last_msg_ts: 0,
            last_send: None,
            stats: PacketStats::default(),
        }
    }

    /// Counts so far.
    pub fn stats(&self) -> PacketStats {
        self.stats
    }

    /// Next sequence number to be assigned.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Adds one message that arrived at `ts` (ns since midnight, never decreasing).
    pub fn push<S: PacketSink + ?Sized>(
        &mut self,
        ts: u64,
        msg: &[u8],
        sink: &mut S,
    ) -> io::Result<()> {
        let fits = self.buf.len() + 2 + msg.len() <= MAX_PAYLOAD;
        if self.count > 0 && (ts > self.last_msg_ts + PACK_GAP_NS || !fits) {
            self.flush(sink)?;
        }
        if self.count == 0 {
            self.heartbeats_until(ts, sink)?;
            self.first_seq = self.next_seq;
        }
        self.buf
            .extend_from_slice(&(msg.len() as u16).to_be_bytes());
        self.buf.extend_from_slice(msg);
        self.count += 1;
        self.next_seq += 1;
        self.last_msg_ts = ts;
        self.stats.messages += 1;
        Ok(())
    }

    /// Sends the last data packet and the End of Session packet.
    pub fn finish<S: PacketSink + ?Sized>(&mut self, sink: &mut S) -> io::Result<PacketStats> {
        if self.count > 0 {
            self.flush(sink)?;
        }
        let ts = self.last_send.map_or(0, |t| t + 1_000_000);
        self.control(ts, END_OF_SESSION, sink)?;
        self.stats.end_of_session += 1;
        Ok(self.stats)
    }

    fn send_time(&self, want: u64) -> u64 {
        match self.last_send {
            Some(l) => want.max(l + MIN_SPACING_NS),
            None => want,
        }
    }

    fn heartbeats_until<S: PacketSink + ?Sized>(
        &mut self,
        ts: u64,
        sink: &mut S,
    ) -> io::Result<()> {
        while let Some(l) = self.last_send {
            if ts < l + HEARTBEAT_NS {
                break;
            }
            self.control(l + HEARTBEAT_NS, HEARTBEAT, sink)?;
            self.stats.heartbeats += 1;
        }
        Ok(())
    }

    fn control<S: PacketSink + ?Sized>(
        &mut self,
        ts: u64,
        count: u16,
        sink: &mut S,
    ) -> io::Result<()> {
        let ts = self.send_time(ts);
        let mut hdr = [0u8; HEADER_LEN];
        write_header(&mut hdr, &self.session, self.next_seq, count);
        self.last_send = Some(ts);
        self.stats.payload_bytes += HEADER_LEN as u64;
        sink.packet(&Packet {
            ts,
            seq: self.next_seq,
            count,
            bytes: &hdr,
        })
    }

    fn flush<S: PacketSink + ?Sized>(&mut self, sink: &mut S) -> io::Result<()> {
        let ts = self.send_time(self.last_msg_ts);
        let (seq, count) = (self.first_seq, self.count);
        write_header(&mut self.buf[..HEADER_LEN], &self.session, seq, count);
        self.last_send = Some(ts);
        self.stats.data += 1;
        self.stats.payload_bytes += self.buf.len() as u64;
        let r = sink.packet(&Packet {
            ts,
            seq,
            count,
            bytes: &self.buf,
        });
        self.buf.truncate(HEADER_LEN);
        self.count = 0;
        r
    }
}

/// Writes a MoldUDP64 downstream header into `out[..20]`.
pub fn write_header(out: &mut [u8], session: &[u8; 10], seq: u64, count: u16) {
    out[..HEADER_LEN].copy_from_slice(Header::new(*session, seq, count).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect(Vec<(u64, u64, u16, Vec<u8>)>);
    impl PacketSink for Collect {
        fn packet(&mut self, p: &Packet<'_>) -> io::Result<()> {
            self.0.push((p.ts, p.seq, p.count, p.bytes.to_vec()));
            Ok(())
        }
    }

    #[test]
    fn packs_bursts_splits_gaps_heartbeats_and_ends() {
        let mut pk = Packetizer::new(*b"TEST000001");
        let mut out = Collect::default();
        let msg = [7u8; 36];
        // A burst of 50 messages 100 ns apart: 50 * 38 + 20 > 1400, so two packets.
        for i in 0..50 {
            pk.push(1_000_000 + i * 100, &msg, &mut out).unwrap();
        }
        // Quiet: one message 2.5 s later gives two heartbeats first.
        pk.push(1_000_000 + 2_500_000_000, &msg, &mut out).unwrap();
        let st = pk.finish(&mut out).unwrap();
        let counts: Vec<u16> = out.0.iter().map(|p| p.2).collect();
        let first = (MAX_PAYLOAD - HEADER_LEN) / 38;
        assert_eq!(
            counts,
            vec![first as u16, (50 - first) as u16, 0, 0, 1, 0xFFFF]
        );
        let seqs: Vec<u64> = out.0.iter().map(|p| p.1).collect();
        assert_eq!(seqs, vec![1, 1 + first as u64, 51, 51, 51, 52]);
        assert!(out.0.iter().all(|p| p.3.len() <= MAX_PAYLOAD));
        assert!(
            out.0.windows(2).all(|w| w[0].0 < w[1].0),
            "send times increase"
        );
        assert_eq!(&out.0[0].3[..10], b"TEST000001");
        assert_eq!(u16::from_be_bytes([out.0[0].3[20], out.0[0].3[21]]), 36);
        assert_eq!(
            st,
            PacketStats {
                data: 3,
                heartbeats: 2,
                end_of_session: 1,
                messages: 51,
                payload_bytes: st.payload_bytes
            }
        );
        assert_eq!(
            st.payload_bytes,
            out.0.iter().map(|p| p.3.len() as u64).sum::<u64>()
        );
    }

    #[test]
    fn spaced_messages_travel_alone() {
        let mut pk = Packetizer::new(*b"TEST000001");
        let mut out = Collect::default();
        for i in 0..5 {
            pk.push(i * 10_000, &[1u8; 12], &mut out).unwrap();
        }
        pk.finish(&mut out).unwrap();
        assert_eq!(out.0.iter().filter(|p| p.2 == 1).count(), 5);
    }
}
