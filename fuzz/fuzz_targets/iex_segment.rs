//! Fuzz target: arbitrary bytes as one IEX-TP segment, then every message as DEEP and as TOPS,
//! every field visited. Checks the invariants the decoders promise (never panics; a parsed
//! segment has exactly `Message Count` blocks; the counters account for every block).
#![no_main]

use fh_decoders::fields::{FieldValue, FieldVisitor, Fields};
use fh_decoders::iextp::{Counters, Segment};

struct Sink(u64);

impl FieldVisitor for Sink {
    fn field(&mut self, name: &'static str, value: FieldValue<'_>) {
        let v = match value {
            FieldValue::U64(x) => x,
            FieldValue::I64(x) => x as u64,
            FieldValue::Char(c) => c.into(),
            FieldValue::Alpha(a) => a.len() as u64,
            FieldValue::Price4(p) => p.raw() as u64,
            FieldValue::Price8(p) => p.raw(),
        };
        self.0 = self.0.wrapping_add(v).wrapping_add(name.len() as u64);
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut c = Counters::new();
    let mut sink = Sink(0);
    // Also walk the input as a TCP byte stream of back-to-back segments.
    let mut rest = data;
    while let Ok((seg, after)) = Segment::parse_prefix(rest) {
        assert!(after.len() < rest.len());
        seg.header().visit_fields(&mut sink);
        rest = after;
    }
    let Some(seg) = Segment::parse_counted(data, &mut c) else {
        assert_eq!(c.malformed.total(), 1);
        return;
    };
    assert_eq!(seg.blocks().count(), usize::from(seg.message_count()));
    assert_eq!(seg.header().payload_length.get() as usize + 40, data.len());

    let before = c;
    for (_, m) in seg.deep(&mut c) {
        let _ = m.type_byte();
        let _ = m.timestamp();
        m.visit_fields(&mut sink);
    }
    let deep_seen = c.messages + c.unknown_types + c.truncated
        - (before.messages + before.unknown_types + before.truncated);
    if c.unknown_protocol == before.unknown_protocol {
        assert_eq!(deep_seen, u64::from(seg.message_count()));
    }

    for (_, m) in seg.tops(&mut c) {
        let _ = m.type_byte();
        let _ = m.timestamp();
        m.visit_fields(&mut sink);
    }
    std::hint::black_box(sink.0);
});
