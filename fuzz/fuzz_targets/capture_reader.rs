//! Fuzz target: arbitrary bytes read as a capture (pcap or pcapng, detected from the magic),
//! every record walked down to its UDP payload, and the same bytes read as a NASDAQ_ITCH50
//! file, plain and gzip'd. The readers must never panic and every error must name an offset
//! inside the input.
#![no_main]

use std::path::Path;

use fh_replay::capture::{ItchMessages, Records};
use fh_replay::frame::{udp_payload, FrameStats};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz-input");
    if let Ok(records) = Records::new(path, data) {
        let mut stats = FrameStats::default();
        let mut n = 0u64;
        for r in records {
            match r {
                Ok(r) => {
                    n += 1;
                    assert!(r.offset as usize + r.data.len() <= data.len());
                    stats.count(udp_payload(r.link, r.data));
                }
                Err(e) => assert!(e.offset as usize <= data.len(), "{e}"),
            }
        }
        assert_eq!(stats.udp + stats.skipped(), n);
    }
    for gz in [false, true] {
        let mut msgs = ItchMessages::new(path, data, gz);
        while let Some(m) = msgs.next_message() {
            if let Ok(m) = m {
                let _ = m.timestamp_ns();
            }
        }
    }
});
