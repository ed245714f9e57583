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
use crate::writer::{ItchFileWriter, PcapWriter, TsPrecision, UdpFrame};
use std::fs::File;
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};

/// The trading day of every generated capture: midnight US/Eastern (EST, UTC-5) of Friday
/// 2026-11-20, in ns since the Unix epoch. Fixed so files do not depend on when they are made.
pub const SESSION_MIDNIGHT_UNIX_NS: u64 = 1_795_150_800 * 1_000_000_000;

/// Source address of the generated frames (the exchange's sender).
pub const SOURCE: Ipv4Addr = Ipv4Addr::new(10, 54, 12, 1);

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Nanosecond pcap of Ethernet/IPv4/UDP frames carrying MoldUDP64.
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
            let file = File::create(out).map_err(io_err(out))?;
            let sink = PcapFrames::new(file, opts).map_err(io_err(out))?;
            let (sink, summary) = run_packets(opts, sink).map_err(gen_err(out))?;
            sink.finish().map_err(io_err(out))?;
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
            FileError::Io(p, e) => write!(f, "{}: {e}", p.display()),
        }
    }
}

impl std::error::Error for FileError {}
