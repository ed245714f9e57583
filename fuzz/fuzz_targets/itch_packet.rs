//! Fuzzes MoldUDP64 framing and ITCH 5.0 decoding with arbitrary UDP payloads: parse the
//! packet, walk its blocks and messages, visit every field, and check the invariants the
//! decoder promises (a checked data packet has exactly `Message Count` blocks that fill it;
//! every block is either yielded or counted once).
#![no_main]

use fh_decoders::fields::{FieldValue, FieldVisitor, Fields};
use fh_decoders::itch50::{self, Message};
use fh_decoders::moldudp64::{Blocks, DecodeStats, Packet, HEADER_LEN};

struct Sink(u64);

impl FieldVisitor for Sink {
    fn field(&mut self, name: &'static str, value: FieldValue<'_>) {
        let v = match value {
            FieldValue::U64(v) => v,
            FieldValue::I64(v) => v as u64,
            FieldValue::Char(c) => u64::from(c),
            FieldValue::Alpha(a) => {
                assert!(a.last() != Some(&b' '), "{name}: alpha not trimmed");
                a.len() as u64
            }
            FieldValue::Price4(p) => p.raw() as u64,
            FieldValue::Price8(p) => p.raw(),
        };
        self.0 = self.0.wrapping_add(v).wrapping_add(name.len() as u64);
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut stats = DecodeStats::default();
    let mut sink = Sink(0);
    match Packet::parse_counted(data, &mut stats) {
        Ok(Packet::Data(d)) => {
            let count = u64::from(d.message_count());
            let mut blocks = d.blocks();
            let mut n = 0u64;
            for (seq, _) in blocks.by_ref() {
                assert_eq!(seq, d.sequence_number().wrapping_add(n));
                n += 1;
            }
            assert_eq!(n, count);
            assert!(blocks.remainder().is_empty());
            assert_eq!(HEADER_LEN + d.payload().len(), data.len());
            for (_, m) in d.messages(&mut stats) {
                assert!(!matches!(m, Message::Unknown(_)));
                assert_eq!(Some(m.as_bytes().len()), itch50::len_of(m.type_byte()));
                m.visit_fields(&mut sink);
            }
            let skipped = stats.unknown_types + stats.truncated + stats.empty_blocks;
            assert_eq!(stats.messages + skipped, count);
        }
        Ok(p) => {
            assert_eq!(data.len(), HEADER_LEN);
            assert_eq!(p.next_sequence(), p.header().sequence_number());
        }
        Err(_) => assert_eq!(stats.malformed_packets(), 1),
    }
    // The same bytes as a bare length-prefixed stream (historical ITCH files).
    for (_, block) in Blocks::new(data, 0) {
        if let Ok(m) = Message::parse(block) {
            m.visit_fields(&mut sink);
            let _ = (m.stock_locate(), m.tracking_number(), m.timestamp());
        }
    }
    std::hint::black_box(sink.0);
});
