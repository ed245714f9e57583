//! Files out: the generated day as a nanosecond pcap of Ethernet/IPv4/UDP frames (through
//! [`crate::writer`]) or as a `NASDAQ_ITCH50` file, and the truth JSON next to it.
//!
//! Invariants: frames go to the group:port of their line, from [`SOURCE`] (port = the line's
//! port), TTL 1; pcap timestamps are [`SESSION_MIDNIGHT_UNIX_NS`] plus the message clock (ns
//! since midnight), so they never decrease within a line; line B's copy of a packet is written
//! right after line A's, [`super::faults::LINE_B_OFFSET_NS`] later.

use super::faults::FrameSink;
use super::{run_itch, run_packets, GenError, Options, Summary};
use crate::frame::LinkType;
use crate::writer::{FileSink, ItchFileWriter, PcapWriter, TsPrecision, UdpFrame};
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The trading day of every generated capture: midnight US/Eastern (EST, UTC-5) of Friday
/// 2026-11-20, in ns since the Unix epoch. Fixed so files do not depend on when they are made.
pub const SESSION_MIDNIGHT_UNIX_NS: u64 = 1_795_150_800 * 1_000_000_000;

/// Source address of the generated frames (the exchange's sender).
pub const SOURCE: Ipv4Addr = Ipv4Addr::new(10, 54, 12, 1);

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Nanosecond pcap of Ethernet/IPv4/UDP frames carrying MoldUDP64; gzip'd when the file
    /// name ends in `.gz`.
    Pcap,
    /// Nasdaq's historical file format: `u16` length + message, no packets; gzip'd when the
    /// file name ends in `.gz`.
    Itch,
}

/// [`FrameSink`] writing each line's payloads as Ethernet/IPv4/UDP frames into a pcap.
#[derive(Debug)]
pub struct PcapFrames<W: Write> {
    w: PcapWriter<W>,
    frames: Vec<UdpFrame>,
    buf: Vec<u8>,
    /// Bytes of frames written (pcap record headers excluded).
    pub frame_bytes: u64,
}

impl<W: Write> PcapFrames<W> {
    /// A pcap (ns, Ethernet) on `out` with one frame template per line of `opts`.
    pub fn new(out: W, opts: &Options) -> io::Result<Self> {
        let w = PcapWriter::new(out, LinkType::Ethernet, TsPrecision::Nano)?;
        let mut frames = vec![frame_for(opts.line_a)];
        if let Some(b) = opts.line_b {
            frames.push(frame_for(b));
        }
        Ok(PcapFrames {
            w,
            frames,
            buf: Vec::with_capacity(1600),
            frame_bytes: 0,
        })
    }

    /// Flushes and returns the sink.
    pub fn finish(self) -> io::Result<W> {
        self.w.finish()
    }
}

fn frame_for(ep: super::Endpoint) -> UdpFrame {
    UdpFrame::new(
        SocketAddrV4::new(SOURCE, ep.port),
        SocketAddrV4::new(ep.group, ep.port),
    )
}

impl<W: Write> FrameSink for PcapFrames<W> {
    fn frame(&mut self, line: usize, ts: u64, payload: &[u8]) -> io::Result<()> {
        self.frames[line].build_into(payload, &mut self.buf)?;
        self.frame_bytes += self.buf.len() as u64;
        self.w
            .write_packet(SESSION_MIDNIGHT_UNIX_NS + ts, &self.buf)
    }
}

/// Path of the truth file of `out`: `out` with `.truth.json` appended.
pub fn truth_path(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".truth.json");
    PathBuf::from(s)
}

/// Generates the day into `out` in `format` and writes the truth next to it.
/// Errors name the file.
pub fn write_files(opts: &Options, format: Format, out: &Path) -> Result<Summary, FileError> {
    let io_err = |path: &Path| {
        let p = path.to_path_buf();
        move |e: io::Error| FileError::Io(p.clone(), e)
    };
    let gen_err = |path: &Path| {
        let p = path.to_path_buf();
        move |e: GenError| match e {
            GenError::Config(c) => FileError::Config(c),
            GenError::Io(e) => FileError::Io(p.clone(), e),
        }
    };
    let summary = match format {
        Format::Pcap => {
            // gzip'd when the name ends in `.gz`, like the ITCH file.
            let file = FileSink::create(out).map_err(io_err(out))?;
            let sink = PcapFrames::new(file, opts).map_err(io_err(out))?;
            let (sink, summary) = run_packets(opts, sink).map_err(gen_err(out))?;
            let file = sink.finish().map_err(io_err(out))?;
            file.close().map_err(io_err(out))?;
            summary
        }
        Format::Itch => {
            // gzip'd when the name ends in `.gz`.
            let mut w = ItchFileWriter::create(out).map_err(io_err(out))?;
            let summary = run_itch(opts, |m| w.write_message(m)).map_err(gen_err(out))?;
            w.close().map_err(io_err(out))?;
            summary
        }
    };
    let tp = truth_path(out);
    std::fs::write(&tp, summary.truth.to_json()).map_err(io_err(&tp))?;
    Ok(summary)
}

/// One `fh gen` run: the day to generate, the file format and the output file (the truth goes
/// next to it, see [`truth_path`]).
#[derive(Debug, Clone, PartialEq)]
pub struct GenJob {
    /// What to generate.
    pub opts: Options,
    /// Pcap of MoldUDP64 packets or NASDAQ_ITCH50 file.
    pub format: Format,
    /// The output file.
    pub out: PathBuf,
}

/// What [`write_day`] did: the run's [`Summary`] and the figures `fh gen` reports.
#[derive(Debug, Clone, PartialEq)]
pub struct GenReport {
    /// Messages, frames and the truth record.
    pub summary: Summary,
    /// Size of the output file, bytes (0 if it cannot be read back).
    pub bytes: u64,
    /// Wall-clock seconds spent generating and writing both files.
    pub secs: f64,
    /// Where the truth was written ([`truth_path`] of the output).
    pub truth_path: PathBuf,
}

impl GenReport {
    /// Packets over the whole day: data, heartbeats and end of session (per line; 0 for an
    /// ITCH file).
    pub fn packets(&self) -> u64 {
        let t = &self.summary.truth;
        t.data_packets + t.heartbeats + t.end_of_session
    }

    /// Generation throughput, messages per second.
    pub fn messages_per_sec(&self) -> f64 {
        self.summary.messages as f64 / self.secs.max(1e-9)
    }
}

/// Runs `job`: generates the day into `job.out` and the truth next to it ([`write_files`]),
/// timing it, and reports what was written. The time is measured for the report only; the
/// files do not depend on it. Errors name the file.
pub fn write_day(job: &GenJob) -> Result<GenReport, FileError> {
    let start = Instant::now();
    let summary = write_files(&job.opts, job.format, &job.out)?;
    let secs = start.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&job.out).map(|m| m.len()).unwrap_or(0);
    Ok(GenReport {
        summary,
        bytes,
        secs,
        truth_path: truth_path(&job.out),
    })
}

/// Why writing the files failed.
#[derive(Debug)]
pub enum FileError {
    /// The options cannot make a day.
    Config(super::ConfigError),
    /// Creating or writing this file failed.
    Io(PathBuf, io::Error),
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileError::Config(c) => c.fmt(f),
            FileError::Io(p, e) => write!(f, "{}: {}", p.display(), crate::io_words(e)),
        }
    }
}

impl std::error::Error for FileError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{Capture, Kind};
    use crate::gen::{Config, Stop};

    /// `--out x.pcap.gz`, `x.itch.gz`, `x.NASDAQ_ITCH50.gz` write gzip; the same records as
    /// the plain files.
    #[test]
    fn a_gz_name_writes_gzip() {
        let dir = std::env::temp_dir().join(format!("fh-gen-gz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let opts = Options {
            config: Config {
                symbols: 5,
                seed: 7,
                stop: Stop::Messages(3_000),
            },
            ..Options::default()
        };
        let read = |p: &Path| {
            let cap = Capture::open(p).unwrap();
            let n = match cap.kind() {
                Kind::Pcap | Kind::Pcapng => cap.records().unwrap().count(),
                Kind::Itch | Kind::ItchGz => {
                    let mut it = cap.itch_messages().unwrap();
                    let mut n = 0;
                    while let Some(m) = it.next_message() {
                        m.unwrap();
                        n += 1;
                    }
                    n
                }
            };
            (cap.kind_name(), n)
        };
        for (plain, gz, format, kinds) in [
            ("d.pcap", "d.pcap.gz", Format::Pcap, ("Pcap", "PcapGz")),
            ("d.itch", "d.itch.gz", Format::Itch, ("Itch", "ItchGz")),
            (
                "d.NASDAQ_ITCH50",
                "d.NASDAQ_ITCH50.gz",
                Format::Itch,
                ("Itch", "ItchGz"),
            ),
        ] {
            let (p, g) = (dir.join(plain), dir.join(gz));
            write_files(&opts, format, &p).unwrap();
            write_files(&opts, format, &g).unwrap();
            assert_eq!(std::fs::read(&g).unwrap()[..2], [0x1f, 0x8b], "{gz}");
            let (a, b) = (read(&p), read(&g));
            assert_eq!((a.0, b.0), kinds, "{gz}");
            assert_eq!(a.1, b.1, "{gz}");
            assert!(a.1 > 0);
            assert!(std::fs::metadata(&g).unwrap().len() < std::fs::metadata(&p).unwrap().len());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
