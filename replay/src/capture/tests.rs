//! Tests of the capture readers: the spec fixtures, round trips through the writers, every
//! error case, the real captures, a never-panic sweep and a no-allocation check.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddrV4;

use super::*;
use crate::frame::{udp_payload, FrameError, FrameStats};
use crate::writer::{ItchFileWriter, PcapOptions, PcapWriter, PcapngWriter, TsPrecision, UdpFrame};

/// Counts allocations made by the current thread (tests run on several threads at once).
struct CountingAlloc;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: defers every call to the system allocator; only counts calls.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn allocs() -> u64 {
    ALLOCS.with(|c| c.get())
}

/// Prints `SKIP: <msg>` straight to stderr, past the harness's capture, so that the skip is
/// visible; under `FH_REQUIRE_ALL=1` (set by `.ci/run`) panics with that message instead.
fn skip(msg: core::fmt::Arguments<'_>) {
    if std::env::var_os("FH_REQUIRE_ALL").is_some_and(|v| v == "1") {
        panic!("SKIP: {msg} (a failure under FH_REQUIRE_ALL=1)");
    }
    let _ = std::io::Write::write_fmt(&mut std::io::stderr(), format_args!("SKIP: {msg}\n"));
}

/// `shared/<sub>` found in an ancestor of the crate (the worktree or main checkout), or a
/// `SKIP:` notice ([`skip`]).
fn shared(sub: &str, test: &str) -> Option<PathBuf> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let found = here
        .ancestors()
        .map(|a| a.join("shared").join(sub))
        .find(|p| p.exists());
    if found.is_none() {
        skip(format_args!(
            "{test}: shared/{sub} not found above {}",
            here.display()
        ));
    }
    found
}

fn sa(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

/// Everything a reader yields: owned copies of the records, and the final error if any.
#[derive(Debug, PartialEq)]
struct Owned {
    index: u64,
    offset: u64,
    ts_ns: u64,
    link: LinkType,
    interface: u32,
    orig_len: u32,
    data: Vec<u8>,
}

fn read_all(bytes: &[u8]) -> Result<(Vec<Owned>, Option<Error>), Error> {
    let path = Path::new("mem.pcap");
    let mut out = Vec::new();
    for r in Records::new(path, bytes)? {
        match r {
            Ok(r) => out.push(Owned {
                index: r.index,
                offset: r.offset,
                ts_ns: r.ts_ns,
                link: r.link,
                interface: r.interface,
                orig_len: r.orig_len,
                data: r.data.to_vec(),
            }),
            Err(e) => return Ok((out, Some(e))),
        }
    }
    Ok((out, None))
}

const HELLO: &[u8] = b"HELLO-MARKET-DATA";

#[test]
fn fixture_sll_ns_pcap() {
    let Some(f) = shared("specs/fixtures/loopback_udp_sll_ns.pcap", "fixture_sll") else {
        return;
    };
    let cap = Capture::open(&f).unwrap();
    assert_eq!(cap.kind(), Kind::Pcap);
    let recs: Vec<_> = cap.records().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(recs.len(), 1);
    let r = recs[0];
    assert_eq!(r.link, LinkType::LinuxSll);
    // tcpdump -tt --time-stamp-precision=nano prints 1795306756.764226525.
    assert_eq!(r.ts_ns, 1_795_306_756_764_226_525);
    assert_eq!((r.index, r.offset, r.orig_len), (0, 24, 61));
    let d = udp_payload(r.link, r.data).unwrap();
    assert_eq!(d.payload, HELLO);
    assert_eq!(d.src, sa("127.0.0.1:35466"));
    assert_eq!(d.dst, sa("127.0.0.1:40123"));
}

#[test]
fn fixture_sll2_ns_pcap() {
    let Some(f) = shared("specs/fixtures/loopback_udp_sll2_ns.pcap", "fixture_sll2") else {
        return;
    };
    let cap = Capture::open(&f).unwrap();
    let recs: Vec<_> = cap.records().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].link, LinkType::LinuxSll2);
    assert_eq!(recs[0].ts_ns, 1_795_306_760_917_964_136);
    let d = udp_payload(recs[0].link, recs[0].data).unwrap();
    assert_eq!(d.payload, HELLO);
    assert_eq!(d.src, sa("127.0.0.1:48077"));
    assert_eq!(d.dst, sa("127.0.0.1:40123"));
}

#[test]
fn fixture_pcapng_two_interfaces_tsresol() {
    let Some(f) = shared(
        "specs/fixtures/handmade_sll2_tsresol.pcapng",
        "fixture_pcapng",
    ) else {
        return;
    };
    let cap = Capture::open(&f).unwrap();
    assert_eq!(cap.kind(), Kind::Pcapng);
    let recs: Vec<_> = cap.records().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(recs.len(), 2);
    // if_tsresol 9 and 0x8A (2^-10 s), as in fixtures/README.md.
    assert_eq!(recs[0].ts_ns, 1_700_000_000_123_456_789);
    assert_eq!(recs[1].ts_ns, 1_700_000_000_500_000_000);
    assert_eq!((recs[0].interface, recs[1].interface), (0, 1));
    for r in &recs {
        assert_eq!(r.link, LinkType::LinuxSll2);
        assert_eq!(udp_payload(r.link, r.data).unwrap().payload, HELLO);
    }
}

/// Three frames: untagged, 802.1Q, and a non-UDP one.
fn frames() -> Vec<Vec<u8>> {
    let f = UdpFrame::new(sa("10.1.2.3:4000"), sa("233.54.12.111:26477"));
    let a = f.build(b"first").unwrap();
    let b = f.with_vlan(142).build(b"second, tagged").unwrap();
    let mut c = f.build(b"tcp?").unwrap();
    c[23] = 6;
    vec![a, b, c]
}

#[test]
fn pcap_round_trip_us_ns_both_byte_orders() {
    let ts = [
        1_700_000_000_000_000_001,
        1_700_000_000_999_999_999,
        1_700_000_001_000_500_000,
    ];
    for precision in [TsPrecision::Micro, TsPrecision::Nano] {
        for endian in [Endian::Little, Endian::Big] {
            let mut o = PcapOptions::new(LinkType::Ethernet, precision);
            o.endian = endian;
            let mut w = PcapWriter::with_options(Vec::new(), o).unwrap();
            for (t, f) in ts.iter().zip(frames()) {
                w.write_packet(*t, &f).unwrap();
            }
            let bytes = w.finish().unwrap();
            let (recs, err) = read_all(&bytes).unwrap();
            assert!(err.is_none());
            assert_eq!(recs.len(), 3);
            let mut offset = 24;
            for (i, (r, f)) in recs.iter().zip(frames()).enumerate() {
                let want_ts = match precision {
                    TsPrecision::Nano => ts[i],
                    TsPrecision::Micro => ts[i] / 1000 * 1000,
                };
                assert_eq!(r.ts_ns, want_ts, "{precision:?} {endian:?}");
                assert_eq!((r.index, r.offset), (i as u64, offset));
                assert_eq!(r.data, f);
                assert_eq!(r.orig_len as usize, f.len());
                assert_eq!(r.link, LinkType::Ethernet);
                offset += 16 + f.len() as u64;
            }
            let mut st = FrameStats::default();
            let payloads: Vec<_> = recs
                .iter()
                .filter_map(|r| st.count(udp_payload(r.link, &r.data)))
                .map(|d| d.payload.to_vec())
                .collect();
            assert_eq!(payloads, [&b"first"[..], b"second, tagged"]);
            assert_eq!((st.udp, st.not_udp), (2, 1));
        }
    }
}

#[test]
fn pcap_cut_data_keeps_orig_len() {
    let mut o = PcapOptions::new(LinkType::Ethernet, TsPrecision::Nano);
    o.snaplen = 20;
    let mut w = PcapWriter::with_options(Vec::new(), o).unwrap();
    w.write_packet(5, &frames()[0]).unwrap();
    let (recs, err) = read_all(&w.finish().unwrap()).unwrap();
    assert!(err.is_none());
    assert_eq!(recs[0].data.len(), 20);
    assert_eq!(recs[0].orig_len as usize, frames()[0].len());
    assert_eq!(
        udp_payload(recs[0].link, &recs[0].data),
        Err(FrameError::IpTruncated)
    );
}

/// pcapng with two sections of different byte orders, several interfaces and resolutions,
/// SPBs, an unknown block and an `if_tsoffset`.
fn sample_pcapng() -> Vec<u8> {
    let fr = frames();
    let mut w = PcapngWriter::new(Vec::new(), Endian::Little).unwrap();
    assert_eq!(w.add_interface(LinkType::Ethernet, 0, 6).unwrap(), 0);
    assert_eq!(w.add_interface(LinkType::Ethernet, 65535, 9).unwrap(), 1);
    assert_eq!(w.add_interface(LinkType::Ethernet, 0, 0x8A).unwrap(), 2);
    assert_eq!(w.add_interface(LinkType::Raw, 0, 12).unwrap(), 3);
    w.write_epb(0, 1_000_000_123_456_789, &fr[0]).unwrap();
    w.write_epb(1, 1_000_000_123_456_789, &fr[1]).unwrap();
    w.write_block(0x4000_0BAD, b"private block, skipped")
        .unwrap();
    w.write_epb(2, 1_000_000_000_500_000_000, &fr[2]).unwrap();
    w.write_epb(3, 1_000_000_123_456_789, &fr[0][14..]).unwrap();
    w.write_spb(&fr[1]).unwrap();
    w.new_section(Endian::Big).unwrap();
    w.add_interface_with_offset(LinkType::Ethernet, 0, 9, 10)
        .unwrap();
    w.write_epb(0, 7, &fr[1]).unwrap();
    w.finish().unwrap()
}

#[test]
fn pcapng_sections_interfaces_resolutions_spb() {
    let bytes = sample_pcapng();
    let (recs, err) = read_all(&bytes).unwrap();
    assert!(err.is_none(), "{err:?}");
    let got: Vec<_> = recs
        .iter()
        .map(|r| (r.index, r.interface, r.ts_ns, r.link))
        .collect();
    let e = LinkType::Ethernet;
    assert_eq!(
        got,
        [
            (0, 0, 1_000_000_123_456_000, e), // µs: rounded down by the writer
            (1, 1, 1_000_000_123_456_789, e),
            (2, 2, 1_000_000_000_500_000_000, e), // 2^-10 s
            (3, 3, 1_000_000_123_456_789, LinkType::Raw), // 10^-12 s
            (4, 0, 1_000_000_123_456_789, e),     // SPB: previous timestamp
            (5, 0, 10_000_000_007, e),            // new section, big-endian, if_tsoffset
        ]
    );
    let fr = frames();
    assert_eq!(recs[0].data, fr[0]);
    assert_eq!(recs[3].data, &fr[0][14..]);
    assert_eq!(recs[4].data, fr[1]);
    assert_eq!(recs[5].data, fr[1]);
    assert_eq!(
        udp_payload(recs[3].link, &recs[3].data).unwrap().payload,
        b"first"
    );
    assert_eq!(recs[0].offset, 28 + 20 + 3 * 28);
}

#[test]
fn pcapng_new_section_resets_interfaces() {
    let mut w = PcapngWriter::new(Vec::new(), Endian::Little).unwrap();
    w.add_interface(LinkType::Ethernet, 0, 9).unwrap();
    w.add_interface(LinkType::Ethernet, 0, 9).unwrap();
    w.write_epb(1, 1, &frames()[0]).unwrap();
    let mut bytes = w.finish().unwrap();
    let epb_len = 32 + frames()[0].len().div_ceil(4) * 4;
    let epb = bytes[bytes.len() - epb_len..].to_vec();
    let shb_and_one_idb = {
        let mut w = PcapngWriter::new(Vec::new(), Endian::Little).unwrap();
        w.add_interface(LinkType::Ethernet, 0, 9).unwrap();
        w.finish().unwrap()
    };
    let second_epb = bytes.len() + 28 + 28;
    bytes.extend_from_slice(&shb_and_one_idb);
    // The EPB on interface 1 again: the new section has only interface 0.
    bytes.extend_from_slice(&epb);
    let (recs, err) = read_all(&bytes).unwrap();
    assert_eq!(recs.len(), 1);
    let err = err.unwrap();
    assert_eq!(err.kind, ErrorKind::UnknownInterface(1));
    assert_eq!(err.offset as usize, second_epb);
    assert!(!err.is_truncation());
}

fn small_pcap(n: usize) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), LinkType::Ethernet, TsPrecision::Nano).unwrap();
    let f = UdpFrame::new(sa("10.0.0.1:1"), sa("10.0.0.2:2"));
    for i in 0..n {
        w.write_packet(i as u64, &f.build(&[0xFF; 40]).unwrap())
            .unwrap();
    }
    w.finish().unwrap()
}

#[test]
fn error_not_a_capture() {
    for bytes in [&b"hello, world"[..], b"", b"\x1f\x8b\x08\x00"] {
        let e = Records::new(Path::new("/tmp/notes.txt"), bytes).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::NotACapture { .. }));
        let s = e.to_string();
        assert!(s.starts_with("/tmp/notes.txt: offset 0: not a pcap"), "{s}");
        assert!(!s.contains('\n'));
    }
    let dir = TempDir::new("not_a_capture");
    let p = dir.file("x.bin", b"nothing here");
    let e = Capture::open(&p).unwrap_err();
    assert!(e.to_string().contains("x.bin: offset 0: not a pcap"), "{e}");
    let e = Capture::open(dir.0.join("missing.pcap")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Io(io::ErrorKind::NotFound));
}

#[test]
fn error_bad_pcap_header() {
    let good = small_pcap(1);
    let mut lt = good.clone();
    lt[20..24].copy_from_slice(&999u32.to_le_bytes());
    let e = Records::new(Path::new("f.pcap"), &lt).unwrap_err();
    assert_eq!((e.offset, e.kind), (20, ErrorKind::UnknownLinkType(999)));
    assert_eq!(e.to_string(), "f.pcap: offset 20: unknown link type 999");
    let mut reserved = good.clone();
    reserved[22] = 1;
    assert!(Records::new(Path::new("f"), &reserved).is_err());
    let mut ver = good.clone();
    ver[4] = 3;
    let e = Records::new(Path::new("f"), &ver).unwrap_err();
    assert_eq!(e.kind, ErrorKind::UnsupportedVersion { major: 3, minor: 4 });
    let e = Records::new(Path::new("f"), &good[..10]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::HeaderTruncated);
}

#[test]
fn error_absurd_record_length() {
    let mut b = small_pcap(2);
    let second = 24 + 16 + 82;
    b[second + 8..second + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    let (recs, err) = read_all(&b).unwrap();
    assert_eq!(recs.len(), 1);
    let e = err.unwrap();
    assert!(!e.is_truncation());
    assert_eq!(e.offset as usize, second);
    assert_eq!(
        e.to_string(),
        format!(
            "mem.pcap: offset {second}: record length 4294967295 exceeds snaplen 262144 (and the limit 262144)"
        )
    );
}

#[test]
fn cut_at_end_is_a_warning_after_complete_records() {
    let b = small_pcap(3);
    let last = 24 + 2 * (16 + 82);
    // Cut inside the last record's data, and inside its header.
    for cut in [b.len() - 1, last + 5] {
        let (recs, err) = read_all(&b[..cut]).unwrap();
        assert_eq!(recs.len(), 2);
        let e = err.unwrap();
        assert!(e.is_truncation(), "{e}");
        assert_eq!(e.offset as usize, last);
        assert!(e
            .to_string()
            .contains(&format!("offset {last}: capture cut off")));
    }
    // A whole file is no truncation.
    assert!(read_all(&b).unwrap().1.is_none());
}

#[test]
fn cut_in_the_middle_is_a_hard_error() {
    // Classic pcap: 10 bytes missing inside record 0 make the reader take record 1's header
    // as data and then read 0xFF payload bytes as a length.
    let mut b = small_pcap(3);
    b.drain(24 + 16 + 50..24 + 16 + 60);
    let (recs, err) = read_all(&b).unwrap();
    assert_eq!(recs.len(), 1);
    let e = err.unwrap();
    assert!(!e.is_truncation());
    assert!(matches!(e.kind, ErrorKind::RecordTooLong { .. }), "{e}");
    assert_eq!(e.offset as usize, 24 + 16 + 82);

    // pcapng: a block missing 8 bytes in the middle has a wrong trailing length.
    let ng = sample_pcapng();
    let (whole, _) = read_all(&ng).unwrap();
    let third = whole[2].offset as usize;
    let mut cut = ng.clone();
    cut.drain(third + 40..third + 48);
    let (recs, err) = read_all(&cut).unwrap();
    assert_eq!(recs.len(), 2);
    let e = err.unwrap();
    assert!(!e.is_truncation());
    assert_eq!(e.offset as usize, third);
    assert!(
        matches!(
            e.kind,
            ErrorKind::BlockLengthMismatch { .. } | ErrorKind::BadBlockLength(_)
        ),
        "{e}"
    );
    // pcapng cut at its very end: a warning after the complete blocks.
    let (recs, err) = read_all(&ng[..ng.len() - 3]).unwrap();
    assert_eq!(recs.len(), 5);
    assert!(err.unwrap().is_truncation());
}

#[test]
fn pcapng_malformed_blocks() {
    let ng = sample_pcapng();
    let first_idb = 28;
    // Unknown link type in an IDB.
    let mut b = ng.clone();
    b[first_idb + 8..first_idb + 10].copy_from_slice(&999u16.to_le_bytes());
    let (recs, err) = read_all(&b).unwrap();
    assert!(recs.is_empty());
    let e = err.unwrap();
    assert_eq!((e.offset, e.kind), (28, ErrorKind::UnknownLinkType(999)));
    // Bad block length.
    let mut b = ng.clone();
    b[first_idb + 4..first_idb + 8].copy_from_slice(&13u32.to_le_bytes());
    assert_eq!(
        read_all(&b).unwrap().1.unwrap().kind,
        ErrorKind::BadBlockLength(13)
    );
    let mut b = ng.clone();
    b[first_idb + 4..first_idb + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        read_all(&b).unwrap().1.unwrap().kind,
        ErrorKind::BadBlockLength(_)
    ));
    // EPB captured length past its block.
    let (whole, _) = read_all(&ng).unwrap();
    let epb = whole[0].offset as usize;
    let mut b = ng.clone();
    b[epb + 20..epb + 24].copy_from_slice(&5000u32.to_le_bytes());
    assert!(matches!(
        read_all(&b).unwrap().1.unwrap().kind,
        ErrorKind::BadBlock(_)
    ));
    // Bad byte-order magic.
    let mut b = ng.clone();
    b[8] = 0;
    assert!(matches!(
        read_all(&b).unwrap().1.unwrap().kind,
        ErrorKind::BadByteOrderMagic(_)
    ));
    // An IDB with if_tsresol out of range.
    let mut w = PcapngWriter::new(Vec::new(), Endian::Little).unwrap();
    w.write_block(1, &[1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 1, 0, 20, 0, 0, 0])
        .unwrap();
    let e = read_all(&w.finish().unwrap()).unwrap().1.unwrap();
    assert_eq!(e.kind, ErrorKind::BadBlock("if_tsresol out of range"));
}

#[test]
fn capture_on_disk_and_wrong_kind() {
    let dir = TempDir::new("on_disk");
    let p = dir.file("a.pcap", &small_pcap(4));
    let cap = Capture::open(&p).unwrap();
    assert_eq!(cap.records().unwrap().count(), 4);
    assert!(matches!(
        cap.itch_messages().unwrap_err().kind,
        ErrorKind::WrongKind(Kind::Pcap)
    ));
    // An unknown link type fails at open, naming the file.
    let mut b = small_pcap(1);
    b[20] = 0xFE;
    let p = dir.file("b.pcap", &b);
    let e = Capture::open(&p).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("b.pcap: offset 20: unknown link type 254"),
        "{e}"
    );
}

fn itch_messages(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let len = 11 + (i * 7919) % 300;
            let mut m = vec![b'A'; len];
            m[5..11].copy_from_slice(&(i as u64).to_be_bytes()[2..]);
            m
        })
        .chain([vec![b'Z'; 65_535]])
        .collect()
}

/// Writes `msgs` as an ITCH file (gzip'd if `p` ends in `.gz`).
fn write_itch_file(p: &Path, msgs: &[Vec<u8>]) {
    let mut w = ItchFileWriter::create(p).unwrap();
    for m in msgs {
        w.write_message(m).unwrap();
    }
    w.close().unwrap();
}

/// (index, offset, data) of every message read, and the final error if any.
type ItchRead = (Vec<(u64, u64, Vec<u8>)>, Option<Error>);

fn read_itch(msgs: &mut ItchMessages<'_>) -> ItchRead {
    let mut out = Vec::new();
    while let Some(m) = msgs.next_message() {
        match m {
            Ok(m) => out.push((m.index, m.offset, m.data.to_vec())),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

#[test]
fn itch_files_plain_and_gz_round_trip() {
    let dir = TempDir::new("itch");
    let msgs = itch_messages(5000);
    for name in ["01302019.NASDAQ_ITCH50", "01302019.NASDAQ_ITCH50.gz"] {
        let p = dir.0.join(name);
        write_itch_file(&p, &msgs);
        let cap = Capture::open(&p).unwrap();
        let gz = name.ends_with(".gz");
        assert_eq!(cap.kind(), if gz { Kind::ItchGz } else { Kind::Itch });
        let (got, err) = read_itch(&mut cap.itch_messages().unwrap());
        assert!(err.is_none(), "{err:?}");
        assert_eq!(got.len(), msgs.len());
        let mut off = 0;
        for (i, ((idx, o, d), m)) in got.iter().zip(&msgs).enumerate() {
            assert_eq!((*idx, *o), (i as u64, off));
            assert_eq!(d, m);
            off += 2 + m.len() as u64;
        }
        assert!(matches!(
            cap.records().unwrap_err().kind,
            ErrorKind::WrongKind(_)
        ));
    }
    // Explicit kind for a file without the usual name.
    let p = dir.0.join("01302019.NASDAQ_ITCH50");
    let q = dir.file("renamed.bin", &std::fs::read(&p).unwrap());
    assert!(Capture::open(&q).is_err());
    let cap = Capture::open_kind(&q, Some(Kind::Itch)).unwrap();
    let mut it = cap.itch_messages().unwrap();
    let m = it.next_message().unwrap().unwrap();
    assert_eq!(m.timestamp_ns(), Some(0));
    let m = it.next_message().unwrap().unwrap();
    assert_eq!(m.timestamp_ns(), Some(1));
}

/// `ahead` is always the stream that follows the message, as far as the reader holds it: all
/// of the rest for a plain file, a prefix of it (the inflated buffer) for a `.gz` one.
#[test]
fn itch_message_ahead_is_the_stream_that_follows() {
    let dir = TempDir::new("itch-ahead");
    let msgs = itch_messages(3000);
    let stream: Vec<u8> = msgs
        .iter()
        .flat_map(|m| {
            (m.len() as u16)
                .to_be_bytes()
                .into_iter()
                .chain(m.iter().copied())
        })
        .collect();
    for name in ["a.NASDAQ_ITCH50", "a.NASDAQ_ITCH50.gz"] {
        let p = dir.0.join(name);
        write_itch_file(&p, &msgs);
        let cap = Capture::open(&p).unwrap();
        let mut it = cap.itch_messages().unwrap();
        let (mut n, mut longest) = (0, 0);
        while let Some(m) = it.next_message() {
            let m = m.unwrap();
            let after = &stream[m.offset as usize + 2 + m.data.len()..];
            assert!(after.starts_with(m.ahead), "{name}: message {}", m.index);
            if !name.ends_with(".gz") {
                assert_eq!(m.ahead.len(), after.len(), "{name}: message {}", m.index);
            }
            longest = longest.max(m.ahead.len());
            n += 1;
        }
        assert_eq!(n, msgs.len());
        assert!(
            longest > 1000,
            "{name}: the reader looked ahead at most {longest} bytes"
        );
    }
}

#[test]
fn itch_file_cut_at_end_is_a_warning() {
    let mut w = ItchFileWriter::new(Vec::new());
    for m in itch_messages(10).iter().take(10) {
        w.write_message(m).unwrap();
    }
    let b = w.finish().unwrap();
    let p = Path::new("x.NASDAQ_ITCH50");
    for cut in [b.len() - 1, b.len() - 3] {
        let (got, err) = read_itch(&mut ItchMessages::new(p, &b[..cut], false));
        assert_eq!(got.len(), 9);
        let e = err.unwrap();
        assert!(e.is_truncation());
        assert_eq!(e.offset, got[8].1 + 2 + got[8].2.len() as u64);
    }
    // Gzip'd and cut inside the compressed stream: what inflates is read, then a warning.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    io::Write::write_all(&mut gz, &b).unwrap();
    let z = gz.finish().unwrap();
    let (got, err) = read_itch(&mut ItchMessages::new(p, &z[..z.len() - 20], true));
    assert!(got.len() < 10);
    assert!(err.unwrap().is_truncation());
    // Not gzip at all: a hard error.
    let (got, err) = read_itch(&mut ItchMessages::new(p, b"\x1f\x8bnot really", true));
    assert!(got.is_empty());
    assert!(!err.unwrap().is_truncation());
}

#[test]
fn real_captures() {
    let Some(real) = shared("pcaps/real", "real_captures") else {
        return;
    };
    // IEX DEEP: 5000 packets, all UDP, timestamps as tcpdump prints them.
    let cap = Capture::open(real.join("iex-deep-20231002-sai271828/test.pcap")).unwrap();
    let mut st = FrameStats::default();
    let mut n = 0;
    let (mut first, mut last) = (0, 0);
    for r in cap.records().unwrap() {
        let r = r.unwrap();
        if n == 0 {
            first = r.ts_ns;
        }
        last = r.ts_ns;
        n += 1;
        st.count(udp_payload(r.link, r.data));
    }
    assert_eq!(n, 5000);
    assert_eq!((st.udp, st.skipped()), (5000, 0));
    assert_eq!(first, 1_696_246_474_224_454_000);
    assert_eq!(last, 1_696_248_032_418_087_000);

    // IEX TOPS pcapng cut inside its third packet: 2 packets, then a warning.
    let p = real.join("iex-tops-20180103-iextools/example1.pcap");
    let cap = Capture::open(&p).unwrap();
    assert_eq!(cap.kind(), Kind::Pcapng);
    let mut it = cap.records().unwrap();
    let a = it.next().unwrap().unwrap();
    let b = it.next().unwrap().unwrap();
    let e = it.next().unwrap().unwrap_err();
    assert!(it.next().is_none());
    assert!(e.is_truncation(), "{e}");
    assert!(e.to_string().contains("example1.pcap: offset "));
    assert_eq!(
        (a.ts_ns, b.ts_ns),
        (1_514_983_023_518_791_000, 1_514_983_024_499_887_000)
    );
    let lens: Vec<_> = [a, b]
        .iter()
        .map(|r| udp_payload(r.link, r.data).unwrap().payload.len())
        .collect();
    assert_eq!(lens, [40, 1469]);
    // The same two packets as classic pcap.
    let p = real.join("iex-tops-20180103-iextools/example1-complete-2pkts.pcap");
    let cap = Capture::open(&p).unwrap();
    let recs: Vec<_> = cap.records().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].data, a.data);
    assert_eq!(recs[1].data, b.data);

    // Every capture of the OMI collection reads to its end without an error; the Nasdaq ITCH
    // ones (802.1Q-tagged) all yield UDP.
    let mut files = Vec::new();
    walk(&real.join("omi-data-packets"), &mut files);
    assert!(files.len() > 50);
    let (mut nasdaq, mut ouch) = (FrameStats::default(), FrameStats::default());
    for f in &files {
        let cap = Capture::open(f).unwrap();
        let mut k = 0;
        for r in cap.records().unwrap() {
            let r = r.unwrap_or_else(|e| panic!("{e}"));
            k += 1;
            let name = f.to_string_lossy();
            if name.contains("Itch") {
                nasdaq.count(udp_payload(r.link, r.data));
            } else if name.contains("Ouch") {
                ouch.count(udp_payload(r.link, r.data));
            }
        }
        assert!(k > 0, "{}", f.display());
    }
    assert!(nasdaq.udp > 100);
    assert_eq!(nasdaq.skipped(), 0);
    // OUCH runs over TCP: every packet counted as not UDP.
    assert!(ouch.not_udp > 0);
    assert_eq!((ouch.udp, ouch.skipped()), (0, ouch.not_udp));
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
            out.push(p);
        }
    }
}

#[test]
fn reading_allocates_nothing_per_record() {
    let pcap = small_pcap(2000);
    let ng = sample_pcapng();
    let mut plain = ItchFileWriter::new(Vec::new());
    for m in itch_messages(2000) {
        plain.write_message(&m).unwrap();
    }
    let itch = plain.finish().unwrap();
    let p = Path::new("mem");
    let before = allocs();
    let mut st = FrameStats::default();
    let mut bytes = 0usize;
    let mut recs = Records::new(p, &pcap).unwrap();
    for r in &mut recs {
        let r = r.unwrap();
        if let Some(d) = st.count(udp_payload(r.link, r.data)) {
            bytes += d.payload.len();
        }
    }
    assert_eq!((recs.yielded(), recs.offset()), (2000, pcap.len() as u64));
    let pcap_allocs = allocs() - before;
    // The pcapng reader allocates its interface list at the first IDB only.
    let mut ng_recs = Records::new(p, &ng).unwrap();
    let first = ng_recs.next().unwrap().unwrap();
    let after_first = allocs();
    assert_eq!(first.interface, 0);
    for r in ng_recs {
        let r = r.unwrap();
        st.count(udp_payload(r.link, r.data));
    }
    let ng_allocs = allocs() - after_first;
    let mut it = ItchMessages::new(p, &itch, false);
    let mut n_itch = 0;
    while let Some(m) = it.next_message() {
        n_itch += m.unwrap().data.len();
    }
    assert_eq!(it.yielded(), 2001);
    assert_eq!(pcap_allocs, 0);
    assert_eq!(ng_allocs, 0);
    assert_eq!(allocs() - after_first, 0, "plain ITCH file");
    assert_eq!(st.udp, 2000 + 4);
    assert_eq!(bytes, 2000 * 40);
    assert!(n_itch > 2000 * 11);
}

/// A tiny deterministic generator (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Reads `bytes` every way a file can be read; returns records seen. Must never panic.
fn read_every_way(bytes: &[u8]) -> usize {
    let p = Path::new("fuzz");
    let mut n = 0;
    if let Ok(recs) = Records::new(p, bytes) {
        let mut st = FrameStats::default();
        for r in recs {
            match r {
                Ok(r) => {
                    n += 1;
                    st.count(udp_payload(r.link, r.data));
                }
                Err(e) => {
                    assert!(e.to_string().starts_with("fuzz: offset "));
                    assert!(e.offset as usize <= bytes.len());
                }
            }
        }
        assert_eq!(st.udp + st.skipped(), n as u64);
    }
    for gz in [false, true] {
        let mut it = ItchMessages::new(p, bytes, gz);
        while let Some(m) = it.next_message() {
            if m.is_ok() {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn never_panics_on_mutated_captures() {
    let mut seeds = vec![small_pcap(5), sample_pcapng()];
    let mut o = PcapOptions::new(LinkType::LinuxSll2, TsPrecision::Micro);
    o.endian = Endian::Big;
    let mut w = PcapWriter::with_options(Vec::new(), o).unwrap();
    w.write_packet(1, &[0u8; 60]).unwrap();
    seeds.push(w.finish().unwrap());
    let mut itch = ItchFileWriter::new(Vec::new());
    for m in itch_messages(3).iter().take(3) {
        itch.write_message(m).unwrap();
    }
    let itch = itch.finish().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    io::Write::write_all(&mut gz, &itch).unwrap();
    seeds.push(itch);
    seeds.push(gz.finish().unwrap());
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut total = 0;
    for round in 0..20_000 {
        let mut b = seeds[round % seeds.len()].clone();
        for _ in 0..1 + rng.below(8) {
            match rng.below(5) {
                0 | 1 => {
                    let i = rng.below(b.len());
                    if let Some(x) = b.get_mut(i) {
                        *x = rng.next() as u8;
                    }
                }
                2 => {
                    let cut = rng.below(b.len() + 1);
                    b.truncate(cut);
                }
                3 => {
                    let i = rng.below(b.len() + 1);
                    b.insert(i, rng.next() as u8);
                }
                _ => {
                    // A 32-bit field set to an extreme value.
                    let i = rng.below(b.len());
                    let v = [0u32, 1, 11, 12, 0xFFFF, u32::MAX][rng.below(6)];
                    for (k, x) in v.to_le_bytes().iter().enumerate() {
                        if let Some(y) = b.get_mut(i + k) {
                            *y = *x;
                        }
                    }
                }
            }
        }
        total += read_every_way(&b);
    }
    // Random bytes, and every prefix of each seed.
    for len in [0, 1, 4, 23, 24, 40, 100, 1000] {
        let b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        read_every_way(&b);
    }
    for s in &seeds {
        for cut in 0..s.len() {
            read_every_way(&s[..cut]);
        }
    }
    assert!(
        total > 1000,
        "mutations left too few readable records: {total}"
    );
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d =
            std::env::temp_dir().join(format!("fh-replay-capture-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
