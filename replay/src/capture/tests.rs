//! Tests of the capture readers: the spec fixtures, round trips through the writers, every
//! error case, the real captures, a never-panic sweep and a no-allocation check.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddrV4;
use std::ops::ControlFlow;

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
    for (bytes, kind) in [
        (&b"hello, world"[..], "NotACapture"),
        (b"", "Empty"),
        (b"\x1f\x8b\x08\x00", "Gzip"),
    ] {
        let e = Records::new(Path::new("/tmp/notes.txt"), bytes).unwrap_err();
        assert!(format!("{:?}", e.kind).starts_with(kind), "{e:?}");
        let s = e.to_string();
        assert!(s.starts_with("/tmp/notes.txt: offset 0: "), "{s}");
        assert!(!s.contains('\n'));
    }
    let e = Records::new(Path::new("n.txt"), b"hello, world").unwrap_err();
    assert_eq!(
        e.to_string(),
        "n.txt: offset 0: not a capture (pcap, pcapng, gzip) or an ITCH 5.0 stream: 'l' is no ITCH 5.0 message type (the file starts with [68, 65, 6c, 6c], 12 bytes)"
    );
    let dir = TempDir::new("not_a_capture");
    let p = dir.file("x.bin", b"nothing here");
    let e = Capture::open(&p).unwrap_err();
    assert!(
        e.to_string()
            .contains("x.bin: offset 0: not a capture (pcap, pcapng, gzip) or an ITCH 5.0 stream"),
        "{e}"
    );
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

/// `n` messages, then one of 65 535 bytes: the first [`ITCH_CHECK_MESSAGES`] + 2 of the spec's
/// types and lengths (so that the bytes are recognised as ITCH), the others 'A' of any length
/// (the reader does not look inside); message `i` has timestamp `i`.
fn itch_messages(n: usize) -> Vec<Vec<u8>> {
    use fh_decoders::itch50::{len_of, ALL_TYPES};
    (0..n)
        .map(|i| {
            let (t, len) = if i < ITCH_CHECK_MESSAGES + 2 {
                let t = ALL_TYPES[i % ALL_TYPES.len()];
                (t, len_of(t).unwrap())
            } else {
                (b'A', 11 + (i * 7919) % 300)
            };
            let mut m = vec![t; len];
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
    // The content decides: the same bytes under another name are the same ITCH stream, and
    // the kind can be given too.
    let p = dir.0.join("01302019.NASDAQ_ITCH50");
    let q = dir.file("renamed.bin", &std::fs::read(&p).unwrap());
    assert_eq!(Capture::open(&q).unwrap().kind(), Kind::Itch);
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

/// What [`ItchMessages::walk`] sees, in [`read_itch`]'s form, stopping (and resuming) after
/// every `pause` messages: `f` breaking must lose nothing.
fn walk_itch(msgs: &mut ItchMessages<'_>, pause: u64) -> ItchRead {
    let mut out = Vec::new();
    loop {
        let mut k = 0;
        let r = msgs.walk(|m| {
            out.push((m.index, m.offset, m.data.to_vec()));
            k += 1;
            if k == pause {
                ControlFlow::Break(k)
            } else {
                ControlFlow::Continue(())
            }
        });
        match r {
            Ok(Some(n)) => assert_eq!(n, pause),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

/// The one-loop walk yields exactly the messages, offsets and final error of `next_message`,
/// plain and gzip'd, whole and cut anywhere, with and without breaks.
#[test]
fn walk_sees_what_next_message_sees() {
    let mut w = ItchFileWriter::new(Vec::new());
    for m in itch_messages(2000).iter().take(2000) {
        w.write_message(m).unwrap();
    }
    let b = w.finish().unwrap();
    let z = gzip(&b);
    let p = Path::new("x.NASDAQ_ITCH50");
    let key = |r: &ItchRead| (r.0.clone(), r.1.as_ref().map(|e| (e.offset, e.to_string())));
    for (bytes, gz) in [(&b, false), (&z, true)] {
        for cut in [bytes.len(), bytes.len() - 1, bytes.len() / 2 + 1, 1, 0] {
            let bytes = &bytes[..cut];
            let want = read_itch(&mut ItchMessages::new(p, bytes, gz));
            for pause in [1, 7, u64::MAX] {
                let got = walk_itch(&mut ItchMessages::new(p, bytes, gz), pause);
                assert_eq!(key(&got), key(&want), "gz {gz}, cut {cut}, pause {pause}");
            }
        }
    }
}

/// A [`BlockWalker`] that records what a walk shows it and checks it as it goes (see
/// `walk_blocks_shows_messages_ahead_and_boundaries`), breaking after `pause` messages and
/// once at every third boundary when `pause` is finite.
struct Probe<'t> {
    msgs: &'t [Vec<u8>],
    want: &'t [(u64, u64, Vec<u8>)],
    gz: bool,
    pause: u64,
    ctx: String,
    /// Index of the next message to be applied; plain: of the next to be shown ahead.
    i: usize,
    next_ahead: usize,
    /// Messages applied in this walk.
    k: u64,
    got: Vec<(u64, u64, Vec<u8>)>,
    shown: usize,
    bounds: usize,
    broke_at: Option<u64>,
}

impl BlockWalker for Probe<'_> {
    type Break = ();

    fn ahead(&mut self) -> impl FnMut(&[u8]) {
        |m| {
            let (ctx, i) = (&self.ctx, self.i);
            if self.gz {
                assert_eq!(m, &self.msgs[i + 8][..], "{ctx}: ahead of {i}");
            } else {
                assert_eq!(m, &self.msgs[self.next_ahead][..], "{ctx}: ahead {i}");
                self.next_ahead += 1;
            }
            self.shown += 1;
        }
    }

    fn boundary(&mut self, index: u64, offset: u64) -> ControlFlow<()> {
        let ctx = &self.ctx;
        assert_eq!((index as usize, index % 8), (self.i, 0), "{ctx}");
        match self.want.get(self.i) {
            Some(w) => assert_eq!((index, offset), (w.0, w.1), "{ctx}"),
            // Only a gzip'd stream may show a boundary at its end.
            None => assert!(self.gz, "{ctx}: boundary at the end"),
        }
        self.bounds += 1;
        if self.pause != u64::MAX && index.is_multiple_of(24) && self.broke_at != Some(index) {
            self.broke_at = Some(index);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    fn message(&mut self, m: &[u8], later: Later<'_>) -> ControlFlow<()> {
        let (ctx, i, later) = (&self.ctx, self.i, later.get());
        // `later` is one of the next 8 messages, or nothing.
        if !later.is_empty() {
            let after = &self.msgs[(i + 1).min(self.msgs.len())..(i + 9).min(self.msgs.len())];
            assert!(after.iter().any(|a| &a[..] == later), "{ctx}: later of {i}");
        }
        if !self.gz {
            let framed = (i + 8).min(self.want.len());
            assert!(self.next_ahead >= framed, "{ctx}: at {i}");
        }
        let offset = self.want.get(i).map_or(u64::MAX, |w| w.1);
        self.got.push((i as u64, offset, m.to_vec()));
        (self.i, self.k) = (i + 1, self.k + 1);
        if self.k == self.pause {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

/// `walk_blocks` yields what `next_message` yields, plain and gzip'd, whole and cut, with
/// breaks at messages and at boundaries; a plain stream shows every message ahead, in order,
/// at least `K` messages before it is applied (or once the stream's last whole message is
/// framed), a gzip'd one shows with message i message i + K or nothing; each boundary names
/// the next message, at each index that is a multiple of `K`.
#[test]
fn walk_blocks_shows_messages_ahead_and_boundaries() {
    let mut w = ItchFileWriter::new(Vec::new());
    let msgs = itch_messages(3000);
    for m in &msgs {
        w.write_message(m).unwrap();
    }
    let b = w.finish().unwrap();
    let z = gzip(&b);
    let p = Path::new("x.NASDAQ_ITCH50");
    for (bytes, gz) in [(&b, false), (&z, true)] {
        for cut in [bytes.len(), bytes.len() - 1, bytes.len() / 2 + 1, 0] {
            let bytes = &bytes[..cut];
            let want = read_itch(&mut ItchMessages::new(p, bytes, gz));
            let whole = want.0.len();
            for pause in [5, 13, u64::MAX] {
                let mut it = ItchMessages::new(p, bytes, gz);
                let mut probe = Probe {
                    msgs: &msgs,
                    want: &want.0,
                    gz,
                    pause,
                    ctx: format!("gz {gz}, cut {cut}, pause {pause}"),
                    i: 0,
                    next_ahead: 0,
                    k: 0,
                    got: Vec::new(),
                    shown: 0,
                    bounds: 0,
                    broke_at: None,
                };
                let err = loop {
                    let from = it.yielded() as usize;
                    (probe.i, probe.next_ahead, probe.k) = (from, from, 0);
                    match it.walk_blocks::<8, _>(&mut probe) {
                        Ok(Some(())) => {}
                        Ok(None) => break None,
                        Err(e) => break Some(e),
                    }
                };
                let ctx = &probe.ctx;
                let key = |e: &Option<Error>| e.as_ref().map(|e| (e.offset, e.to_string()));
                assert_eq!((&probe.got, key(&err)), (&want.0, key(&want.1)), "{ctx}");
                assert_eq!(it.yielded() as usize, whole, "{ctx}");
                if whole > 8 {
                    assert!(probe.shown > 0 && probe.bounds > 0, "{ctx}: nothing shown");
                }
            }
        }
    }
}

/// A zero-length message is yielded (its consumer counts it as malformed), not taken for the
/// end; after the error that ends a stream, both readers stay at the end, plain and gzip'd.
#[test]
fn itch_stream_after_an_error_stays_done() {
    let mut b = vec![0, 0, 0, 1, b'S'];
    b.extend_from_slice(&[0, 36, b'A']); // cut: 36 bytes announced, 1 there
    let z = gzip(&b);
    let p = Path::new("x.NASDAQ_ITCH50");
    for (bytes, gz) in [(&b, false), (&z, true)] {
        let mut it = ItchMessages::new(p, bytes, gz);
        let (got, err) = read_itch(&mut it);
        let lens: Vec<usize> = got.iter().map(|m| m.2.len()).collect();
        assert_eq!(lens, [0, 1], "gz {gz}");
        let e = err.unwrap();
        assert!(e.is_truncation() && e.offset == 5, "gz {gz}: {e}");
        assert!(it.next_message().is_none(), "gz {gz}");
        assert!(it.walk(|_| ControlFlow::Break(())).unwrap().is_none());
        assert_eq!(it.yielded(), 2);
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
        let (mut read, mut failed) = (0, false);
        while let Some(m) = it.next_message() {
            match m {
                Ok(_) => read += 1,
                Err(_) => failed = true,
            }
        }
        let mut walked = 0;
        let r = ItchMessages::new(p, bytes, gz).walk(|_| {
            walked += 1;
            ControlFlow::<()>::Continue(())
        });
        assert_eq!((walked, r.is_err()), (read, failed));
        n += read;
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

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    io::Write::write_all(&mut gz, bytes).unwrap();
    gz.finish().unwrap()
}

/// (ts, link, data) of a packet.
type Packet = (u64, LinkType, Vec<u8>);

/// Every packet of a capture, and the error it ended with, if any.
fn packets(cap: &Capture) -> (Vec<Packet>, Option<Error>) {
    let mut out = Vec::new();
    for r in cap.records().unwrap() {
        match r {
            Ok(r) => out.push((r.ts_ns, r.link, r.data.to_vec())),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

/// The bytes of an ITCH file of the first `n` messages of [`itch_messages`].
fn itch_bytes(n: usize) -> Vec<u8> {
    let mut w = ItchFileWriter::new(Vec::new());
    for m in itch_messages(n).iter().take(n) {
        w.write_message(m).unwrap();
    }
    w.finish().unwrap()
}

/// The content decides, whatever the name: pcap (µs and ns, both byte orders), pcapng, ITCH,
/// each under the other kinds' names, read exactly as under their own.
#[test]
fn kind_from_the_content_whatever_the_name() {
    let dir = TempDir::new("by-content");
    let fr = frames();
    let mut pcaps = Vec::new();
    for (precision, endian) in [
        (TsPrecision::Micro, Endian::Little),
        (TsPrecision::Nano, Endian::Little),
        (TsPrecision::Micro, Endian::Big),
        (TsPrecision::Nano, Endian::Big),
    ] {
        let mut o = PcapOptions::new(LinkType::Ethernet, precision);
        o.endian = endian;
        let mut w = PcapWriter::with_options(Vec::new(), o).unwrap();
        for (i, f) in fr.iter().enumerate() {
            w.write_packet(1_000_000_000 + i as u64 * 1000, f).unwrap();
        }
        pcaps.push(w.finish().unwrap());
    }
    let itch = itch_bytes(50);
    let names = [
        "x.NASDAQ_ITCH50",
        "x.itch",
        "x.pcapng",
        "x.pcap",
        "x.txt",
        "x",
    ];
    for name in names {
        for (i, b) in pcaps.iter().enumerate() {
            let cap = Capture::open(dir.file(name, b)).unwrap();
            assert_eq!(
                (cap.kind(), cap.kind_name()),
                (Kind::Pcap, "Pcap"),
                "{name}"
            );
            let (got, err) = packets(&cap);
            assert!(err.is_none(), "{name} #{i}: {err:?}");
            let data: Vec<_> = got.iter().map(|p| p.2.clone()).collect();
            assert_eq!(data, fr, "{name} #{i}");
            assert_eq!(got[2].0, 1_000_002_000, "{name} #{i}");
        }
        let cap = Capture::open(dir.file(name, &sample_pcapng())).unwrap();
        assert_eq!(cap.kind(), Kind::Pcapng, "{name}");
        assert_eq!(packets(&cap).0.len(), 6, "{name}");
        // An ITCH stream called `.itch` (refused before), `.pcap`, or nothing at all.
        let cap = Capture::open(dir.file(name, &itch)).unwrap();
        assert_eq!(cap.kind(), Kind::Itch, "{name}");
        let (got, err) = read_itch(&mut cap.itch_messages().unwrap());
        assert!(err.is_none(), "{name}: {err:?}");
        assert_eq!(got.len(), 50, "{name}");
    }
}

/// gzip'd pcap, pcapng and ITCH, under any name: inflated and detected again inside; the
/// same records as the plain files.
#[test]
fn gzip_of_every_kind_is_read_inside() {
    let dir = TempDir::new("gz");
    let pcap = small_pcap(30);
    let ng = sample_pcapng();
    let itch = itch_bytes(300);
    for name in ["a.pcap.gz", "a.pcap", "a.NASDAQ_ITCH50", "a.gz", "a"] {
        let plain = Capture::open(dir.file("plain.pcap", &pcap)).unwrap();
        let cap = Capture::open(dir.file(name, &gzip(&pcap))).unwrap();
        assert_eq!((cap.kind(), cap.gzip()), (Kind::Pcap, true), "{name}");
        assert_eq!(cap.kind_name(), "PcapGz");
        assert_eq!(cap.bytes(), &pcap[..], "{name}: inflated in memory");
        assert_eq!(packets(&cap), packets(&plain), "{name}");

        let cap = Capture::open(dir.file(name, &gzip(&ng))).unwrap();
        assert_eq!((cap.kind(), cap.kind_name()), (Kind::Pcapng, "PcapngGz"));
        let (got, err) = packets(&cap);
        assert_eq!((got.len(), err), (6, None), "{name}");

        let cap = Capture::open(dir.file(name, &gzip(&itch))).unwrap();
        assert_eq!((cap.kind(), cap.kind_name()), (Kind::ItchGz, "ItchGz"));
        let (got, err) = read_itch(&mut cap.itch_messages().unwrap());
        assert!(err.is_none(), "{name}: {err:?}");
        assert_eq!(got.len(), 300, "{name}");
    }
    // Several gzip members in a row are one stream (like `cat a.gz b.gz`).
    let mut two = gzip(&pcap[..24 + 10 * (16 + 82)]);
    two.extend_from_slice(&gzip(&pcap[24 + 10 * (16 + 82)..]));
    let cap = Capture::open(dir.file("two-members", &two)).unwrap();
    assert_eq!(packets(&cap).0.len(), 30);
    // Text inside gzip is no capture: the offset is in the inflated bytes.
    let mut text = itch_bytes(3);
    text.extend_from_slice(b"and then some text");
    let e = Capture::open(dir.file("t.NASDAQ_ITCH50.gz", &gzip(&text))).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::NotACapture { .. }), "{e}");
    assert_eq!(e.offset, itch_bytes(3).len() as u64, "{e}");
    // Empty inside, gzip inside gzip, and no gzip at all after the magic.
    let e = Capture::open(dir.file("e.gz", &gzip(b""))).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Empty { gzip: true });
    let e = Capture::open(dir.file("gg.gz", &gzip(&gzip(&pcap)))).unwrap_err();
    assert!(e.to_string().contains("gzip inside gzip"), "{e}");
    let e = Capture::open(dir.file("bad.gz", b"\x1f\x8bnot really gzip")).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Gzip(_)), "{e}");
    assert!(
        e.to_string().starts_with(&format!(
            "{}: offset 0: gzip stream does not inflate",
            dir.0.join("bad.gz").display()
        )),
        "{e}"
    );
    // Records over gzip'd bytes refuse them: Capture::open inflates.
    let e = Records::new(Path::new("m"), &gzip(&pcap)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Compressed);
}

/// A gzip'd pcap is inflated into memory up to a limit: beyond it, a clear error.
#[test]
fn gzip_inflated_beyond_the_limit_is_a_clear_error() {
    let dir = TempDir::new("gz-limit");
    let pcap = small_pcap(100);
    let p = dir.file("big.pcap.gz", &gzip(&pcap));
    let limit = pcap.len() as u64 - 1;
    let e = Capture::open_with(&p, None, limit).unwrap_err();
    assert_eq!(e.kind, ErrorKind::TooLarge { limit, gzip: true });
    let s = e.to_string();
    assert!(!s.contains('\n'));
    assert!(
        s.contains("inflates to more than") && s.contains("gunzip it to a file first"),
        "{s}"
    );
    // Exactly at the limit is fine; a gzip'd ITCH stream is never inflated whole.
    assert!(Capture::open_with(&p, None, pcap.len() as u64).is_ok());
    let itch = dir.file("big.itch.gz", &gzip(&itch_bytes(2000)));
    assert_eq!(
        Capture::open_with(&itch, None, 100).unwrap().kind(),
        Kind::ItchGz
    );
    const { assert!(MAX_IN_MEMORY == 2 << 30) };
}

/// What the system says, in plain words on one line naming the file.
#[test]
fn directories_missing_and_empty_files_in_plain_words() {
    let dir = TempDir::new("io-words");
    let e = Capture::open(&dir.0).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}: is a directory", dir.0.display())
    );
    let missing = dir.0.join("missing.pcap");
    let e = Capture::open(&missing).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}: no such file", missing.display())
    );
    let e = Capture::open(dir.0.join("missing/below.pcap")).unwrap_err();
    assert!(e.to_string().ends_with("below.pcap: no such file"), "{e}");
    let e = Capture::open("/dev/null").unwrap_err();
    assert_eq!(e.to_string(), "/dev/null: offset 0: empty file");
    let empty = dir.file("empty.pcap", b"");
    let e = Capture::open(&empty).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}: offset 0: empty file", empty.display())
    );
    // Standard input is named as such.
    let e = Error::new(Path::new("-"), 0, ErrorKind::Empty { gzip: false });
    assert_eq!(e.to_string(), "standard input: offset 0: empty file");
}

/// A text file named like an ITCH file, random bytes, a stream that goes wrong after a few
/// good messages: no ITCH, naming the offset where it stopped making sense.
#[test]
fn text_and_random_bytes_are_not_itch_whatever_the_name() {
    let dir = TempDir::new("not-itch");
    let text = b"Symbol,Price,Size\nAAPL,150.00,100\nMSFT,300.00,200\n";
    for name in ["day.NASDAQ_ITCH50", "day.itch", "day.NASDAQ_ITCH50.gz"] {
        let bytes = if name.ends_with(".gz") {
            gzip(text)
        } else {
            text.to_vec()
        };
        let e = Capture::open(dir.file(name, &bytes)).unwrap_err();
        assert_eq!(e.offset, 0, "{e}");
        let s = e.to_string();
        assert!(
            s.contains(&format!(
                "{name}: offset 0: not a capture (pcap, pcapng, gzip) or an ITCH 5.0 stream: "
            )),
            "{s}"
        );
    }
    let mut rng = Rng(0x5eed);
    for len in [1usize, 2, 3, 20, 100, 5000] {
        for _ in 0..200 {
            let b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if b.starts_with(&GZIP_MAGIC) || magic_kind(&b).is_some() {
                continue;
            }
            let e = detect(Path::new("r.itch"), &b);
            // Random bytes pass only when too short to say (1-2 bytes named `.itch`).
            assert!(
                e.is_err() || len < 3,
                "{len} random bytes taken for ITCH: {b:02x?}"
            );
        }
    }
    // Four good messages, then an 'A' whose length prefix says 26: offset of the fifth.
    let mut b = itch_bytes(4);
    let at = b.len() as u64;
    b.extend_from_slice(&[0, 26, b'A']);
    b.extend_from_slice(&[0; 25]);
    let e = Capture::open(dir.file("x.bin", &b)).unwrap_err();
    assert_eq!(e.offset, at);
    assert!(
        e.to_string().contains(&format!("offset {at}: not a capture (pcap, pcapng, gzip) or an ITCH 5.0 stream: an ITCH 5.0 'A' message is 36 bytes, its length prefix says 26")),
        "{e}"
    );
    // A type ITCH 5.0 does not define, past a good message.
    let mut b = itch_bytes(1);
    let at = b.len();
    b.extend_from_slice(&[0, 12, b'z']);
    b.extend_from_slice(&[0; 12]);
    let e = detect(Path::new("y"), &b).unwrap_err();
    assert_eq!(e.offset as usize, at);
    assert_eq!(
        e.kind,
        ErrorKind::NotACapture {
            head: [0, 12, b'S', b'S'],
            len: b.len(),
            why: NotItch::UnknownType(b'z')
        }
    );
}

/// Cut files: a warning after every complete record, for each kind; a stream cut inside its
/// first message is ITCH only if its name says so (the tie).
#[test]
fn truncated_files_of_every_kind() {
    let dir = TempDir::new("cut");
    let pcap = small_pcap(5);
    // pcap cut inside its last record, plain and gzip'd.
    for (name, bytes) in [
        ("cut.pcap", pcap[..pcap.len() - 7].to_vec()),
        ("cut.pcap.gz", gzip(&pcap[..pcap.len() - 7])),
    ] {
        let cap = Capture::open(dir.file(name, &bytes)).unwrap();
        let (got, err) = packets(&cap);
        assert_eq!(got.len(), 4, "{name}");
        let e = err.unwrap();
        assert!(e.is_truncation(), "{name}: {e}");
        assert!(e.to_string().contains("capture cut off"), "{e}");
    }
    // A gzip'd pcap whose compressed stream is cut: what inflated, then a warning.
    let big = small_pcap(2000);
    let z = gzip(&big);
    let cap = Capture::open(dir.file("cutz.pcap.gz", &z[..z.len() * 2 / 3])).unwrap();
    let (got, err) = packets(&cap);
    assert!(!got.is_empty() && got.len() < 2000, "{}", got.len());
    assert!(err.unwrap().is_truncation());
    // The compressed stream cut exactly after whole records: still a warning.
    let whole = small_pcap(3);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    io::Write::write_all(&mut enc, &whole).unwrap();
    io::Write::flush(&mut enc).unwrap();
    let flushed = enc.get_ref().len();
    let z = enc.finish().unwrap();
    let cap = Capture::open(dir.file("cut-at-boundary.gz", &z[..flushed])).unwrap();
    let (got, err) = packets(&cap);
    assert_eq!(got.len(), 3);
    assert_eq!(err.unwrap().kind, ErrorKind::GzipCut);
    // ITCH cut inside a message, plain and gzip'd.
    let itch = itch_bytes(20);
    for (name, bytes) in [
        ("cut.itch", itch[..itch.len() - 3].to_vec()),
        ("cut.itch.gz", gzip(&itch[..itch.len() - 3])),
    ] {
        let cap = Capture::open(dir.file(name, &bytes)).unwrap();
        let (got, err) = read_itch(&mut cap.itch_messages().unwrap());
        assert_eq!(got.len(), 19, "{name}");
        assert!(err.unwrap().is_truncation(), "{name}");
    }
    // Only part of the first message: ITCH by name, else no capture.
    let part = &itch[..7];
    let cap = Capture::open(dir.file("first.NASDAQ_ITCH50", part)).unwrap();
    let (got, err) = read_itch(&mut cap.itch_messages().unwrap());
    assert!(got.is_empty() && err.unwrap().is_truncation());
    let e = Capture::open(dir.file("first.bin", part)).unwrap_err();
    assert!(
        e.to_string().contains("ends inside its first message"),
        "{e}"
    );
    // A pcap whose header is cut: named by its magic, a clear error.
    let e = Capture::open(dir.file("h.itch", &pcap[..10])).unwrap_err();
    assert_eq!(e.kind, ErrorKind::HeaderTruncated);
}

/// A pipe (`<(zcat day.pcap.gz)`) is read into memory, detected like a file, gzip'd or not.
#[test]
fn a_pipe_is_read_like_a_file() {
    let dir = TempDir::new("fifo");
    let pcap = small_pcap(40);
    for (name, bytes) in [("p", pcap.clone()), ("pz", gzip(&pcap))] {
        let fifo = dir.0.join(name);
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let w = fifo.clone();
        let writer = std::thread::spawn(move || std::fs::write(w, bytes).unwrap());
        let cap = Capture::open(&fifo).unwrap();
        writer.join().unwrap();
        assert_eq!(cap.kind(), Kind::Pcap);
        assert_eq!(packets(&cap).0.len(), 40, "{name}");
        // More than the limit: a clear error.
        let w = fifo.clone();
        let p2 = pcap.clone();
        let writer = std::thread::spawn(move || {
            let _ = std::fs::write(w, p2);
        });
        let e = Capture::open_with(&fifo, None, 100).unwrap_err();
        writer.join().unwrap();
        assert!(
            matches!(e.kind, ErrorKind::TooLarge { limit: 100, .. }),
            "{e}"
        );
    }
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
