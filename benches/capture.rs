//! Capture reading speed: packets/s of the mmapped pcap and pcapng readers with UDP extraction.
//!
//! Writes a capture of 1 000 000 Ethernet/802.1Q/IPv4/UDP frames (64-byte payloads, ns
//! timestamps) to a temporary file, maps it once, and measures one full pass per iteration:
//! every record is read and walked down to its UDP payload (`frame::udp_payload`).
//!
//! Run: `cargo bench -p fh-benches --bench capture`.

use std::hint::black_box;
use std::net::SocketAddrV4;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fh_replay::capture::Capture;
use fh_replay::frame::{udp_payload, FrameStats, LinkType};
use fh_replay::writer::{Endian, PcapWriter, PcapngWriter, TsPrecision, UdpFrame};

const RECORDS: u64 = 1_000_000;

fn frame() -> Vec<u8> {
    let src: SocketAddrV4 = "10.0.0.1:5000".parse().unwrap();
    let dst: SocketAddrV4 = "233.54.12.111:26477".parse().unwrap();
    UdpFrame::new(src, dst)
        .with_vlan(141)
        .build(&[0x5A; 64])
        .unwrap()
}

fn write_pcap(path: &PathBuf) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = PcapWriter::new(f, LinkType::Ethernet, TsPrecision::Nano).unwrap();
    let fr = frame();
    for i in 0..RECORDS {
        w.write_packet(1_700_000_000_000_000_000 + i * 1000, &fr)
            .unwrap();
    }
    w.finish().unwrap();
}

fn write_pcapng(path: &PathBuf) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = PcapngWriter::new(f, Endian::Little).unwrap();
    w.add_interface(LinkType::Ethernet, 0, 9).unwrap();
    let fr = frame();
    for i in 0..RECORDS {
        w.write_epb(0, 1_700_000_000_000_000_000 + i * 1000, &fr)
            .unwrap();
    }
    w.finish().unwrap();
}

/// One pass: every record read and its UDP payload extracted; returns payload bytes.
fn pass(cap: &Capture) -> u64 {
    let mut st = FrameStats::default();
    let mut bytes = 0u64;
    for r in cap.records().unwrap() {
        let r = r.unwrap();
        if let Some(d) = st.count(udp_payload(r.link, r.data)) {
            bytes += d.payload.len() as u64 + (r.ts_ns & 1);
        }
    }
    assert_eq!(st.udp, RECORDS);
    bytes
}

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("fh-bench-capture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("bench.pcap");
    let pcapng = dir.join("bench.pcapng");
    write_pcap(&pcap);
    write_pcapng(&pcapng);
    let mut g = c.benchmark_group("capture");
    g.throughput(Throughput::Elements(RECORDS));
    g.sample_size(20);
    for (name, path) in [("pcap_udp", &pcap), ("pcapng_udp", &pcapng)] {
        let cap = Capture::open(path).unwrap();
        pass(&cap); // warm the page cache
        g.bench_function(name, |b| b.iter(|| black_box(pass(black_box(&cap)))));
    }
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
