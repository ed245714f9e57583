//! `fh gen`: writes a synthetic Nasdaq TotalView-ITCH 5.0 day (see `fh_replay::gen`; `--profile
//! flow`, the default, or `--profile day`, the realistic day) as a nanosecond pcap of MoldUDP64
//! packets or as a NASDAQ_ITCH50 file, with packet faults on demand, and `FILE.truth.json` next
//! to it. Prints one summary line with the throughput (and, for a day, its live-order peak).
//!
//! Every argument is checked before anything is written; a bad one is a [`CliError`] naming
//! the option and the value. Both files are written atomically (temporary files renamed when
//! the day is complete): Ctrl-C or a failure leaves the previous files, or none (exit 130 or
//! 2). A progress bar shows on a terminal.

use super::{CliError, Ending, Run};
use fh_feed::pipeline::output::{NamedPath, Output, Role};
use fh_replay::gen::{self, Config, Endpoint, FaultRates, Format, Options, Profile, Stop};
use std::cell::Cell;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

/// Arguments of `fh gen`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Output file (the truth goes to FILE.truth.json).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// `pcap` (Ethernet/IPv4/UDP/MoldUDP64, ns timestamps) or `itch` (NASDAQ_ITCH50 file,
    /// gzip'd if FILE ends in .gz).
    #[arg(long, default_value = "pcap")]
    pub format: String,
    /// Exactly this many ITCH messages (default 1000000 unless --seconds is given; at most
    /// 10^10, about 420 GB of pcap).
    #[arg(long, value_name = "N", conflicts_with = "seconds")]
    pub messages: Option<u64>,
    /// This many seconds of continuous trading instead of a message count (1 to 23400, a
    /// session; about 400 000 messages a second).
    #[arg(long, value_name = "S")]
    pub seconds: Option<u64>,
    /// Number of instruments (1..=10000; default 50, or 8000 with --profile day).
    #[arg(long, value_name = "N")]
    pub symbols: Option<u16>,
    /// `flow` (a compressed day with all 23 message types, sized by --messages or --seconds)
    /// or `day` (a realistic 6.5-hour session: heavy-tailed order lifetimes, Zipf activity,
    /// dense references, over a million live orders at its peak; sized by --scale).
    #[arg(long, value_name = "NAME", default_value = "flow")]
    pub profile: String,
    /// With --profile day: multiplies the order flow (messages and live orders) of the full
    /// day (1); 0.0001 to 8.
    #[arg(long, value_name = "X")]
    pub scale: Option<f64>,
    /// PRNG seed: same arguments and seed give byte-identical files.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Line A's multicast group and port.
    #[arg(long, value_name = "G:PORT", default_value = "233.54.12.111:26477")]
    pub group: String,
    /// MoldUDP64 session (1 to 10 printable ASCII characters).
    #[arg(long, value_name = "NAME", default_value = "FHGEN00001")]
    pub session: String,
    /// Probability of dropping each data packet (per line).
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    pub drop: f64,
    /// Probability of sending a data packet twice (per line).
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    pub dup: f64,
    /// Probability of sending a data packet after the next one (per line).
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    pub reorder: f64,
    /// Probability of damaging a data packet so it is malformed (per line).
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    pub corrupt: f64,
    /// Also write line B to this group and port: same packets, its own independent faults.
    #[arg(long = "line-b", value_name = "G:PORT")]
    pub line_b: Option<String>,
}

/// Most `--messages`.
pub const MAX_MESSAGES: u64 = 10_000_000_000;
/// Most `--seconds`: a whole session, 9:30 to 16:00.
pub const MAX_SECONDS: u64 = 23_400;

impl Args {
    /// Checks every argument and turns them into generator options.
    pub fn options(&self) -> Result<(Options, Format), CliError> {
        let format = match self.format.as_str() {
            "pcap" => Format::Pcap,
            "itch" => Format::Itch,
            f => {
                return Err(CliError::new(format!(
                    "--format {f}: expected pcap or itch"
                )))
            }
        };
        let profile = match self.profile.as_str() {
            "flow" => {
                if let Some(x) = self.scale {
                    return Err(CliError::new(format!(
                        "--scale {x}: only with --profile day (--profile flow is sized by --messages or --seconds)"
                    )));
                }
                Profile::Flow
            }
            "day" => {
                if let Some(m) = self.messages {
                    return Err(CliError::new(format!(
                        "--messages {m}: not with --profile day (its size is set by --scale)"
                    )));
                }
                if let Some(s) = self.seconds {
                    return Err(CliError::new(format!(
                        "--seconds {s}: not with --profile day (its session is 9:30 to 16:00; its size is set by --scale)"
                    )));
                }
                let scale = self.scale.unwrap_or(1.0);
                if !(gen::day::MIN_SCALE..=gen::day::MAX_SCALE).contains(&scale) {
                    return Err(CliError::new(format!(
                        "--scale {scale}: must be from {} to {}",
                        gen::day::MIN_SCALE,
                        gen::day::MAX_SCALE
                    )));
                }
                Profile::Day { scale }
            }
            p => {
                return Err(CliError::new(format!(
                    "--profile {p}: expected flow or day"
                )))
            }
        };
        let stop = match (self.messages, self.seconds) {
            (_, Some(s)) => Stop::Seconds(super::in_range("--seconds", s, 1, MAX_SECONDS)?),
            (Some(m), None) => Stop::Messages(super::in_range("--messages", m, 0, MAX_MESSAGES)?),
            (None, None) => Stop::Messages(1_000_000),
        };
        let endpoint = |opt: &str, v: &str| {
            Endpoint::parse(v).ok_or_else(|| {
                CliError::new(format!(
                    "{opt} {v}: expected IPv4:PORT, e.g. 233.54.12.111:26477"
                ))
            })
        };
        let line_a = endpoint("--group", &self.group)?;
        let line_b = self
            .line_b
            .as_deref()
            .map(|v| endpoint("--line-b", v))
            .transpose()?;
        let session = gen::parse_session(&self.session).ok_or_else(|| {
            CliError::new(format!(
                "--session {:?}: expected 1 to 10 printable ASCII characters",
                self.session
            ))
        })?;
        let mut rates = FaultRates::default();
        for (name, v, slot) in [
            ("--drop", self.drop, &mut rates.drop),
            ("--dup", self.dup, &mut rates.dup),
            ("--reorder", self.reorder, &mut rates.reorder),
            ("--corrupt", self.corrupt, &mut rates.corrupt),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(CliError::new(format!(
                    "{name} {v}: a rate must be between 0 and 1"
                )));
            }
            *slot = v;
        }
        let sum = rates.drop + rates.dup + rates.reorder + rates.corrupt;
        if sum > 1.0 {
            return Err(CliError::new(format!(
                "--drop + --dup + --reorder + --corrupt = {sum}: the rates must add up to at most 1"
            )));
        }
        if format == Format::Itch && (!rates.is_none() || line_b.is_some()) {
            return Err(CliError::new(
                "--format itch: faults and --line-b need packets; use --format pcap",
            ));
        }
        let default_symbols = match profile {
            Profile::Flow => 50,
            Profile::Day { .. } => gen::day::DAY_SYMBOLS,
        };
        let config = Config {
            symbols: self.symbols.unwrap_or(default_symbols),
            seed: self.seed,
            stop,
        };
        let opts = Options {
            config,
            profile,
            session,
            rates,
            line_a,
            line_b,
        };
        // Refuse a bad configuration before creating any file.
        gen::check_options(&opts).map_err(CliError::new)?;
        Ok((opts, format))
    }
}

/// A frame sink that counts the messages written (MoldUDP64 message count of line A), moves
/// the progress bar and fails with `Interrupted` once `stop` is set.
struct Watch<'a, F> {
    inner: F,
    messages: &'a Cell<u64>,
    stop: &'a AtomicBool,
    bar: Option<indicatif::ProgressBar>,
}

impl<F> Watch<'_, F> {
    fn tick(&mut self, messages: u64) -> io::Result<()> {
        let n = self.messages.get() + messages;
        self.messages.set(n);
        if n & 0x3FFF < messages {
            if let Some(b) = &self.bar {
                b.set_position(n);
            }
            if self.stop.load(Ordering::Relaxed) {
                return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
            }
        }
        Ok(())
    }
}

impl<F: gen::FrameSink> gen::FrameSink for Watch<'_, F> {
    fn frame(&mut self, line: usize, ts: u64, payload: &[u8]) -> io::Result<()> {
        self.inner.frame(line, ts, payload)?;
        let count = payload
            .get(18..20)
            .map_or(0, |c| u16::from_be_bytes([c[0], c[1]]));
        self.tick(if line == 0 { u64::from(count) } else { 0 })
    }
}

/// Runs `fh gen`: arguments → the day into temporary files → renamed → one summary line.
pub fn run(args: Args) -> Run {
    let (opts, format) = args.options()?;
    let truth = gen::truth_path(&args.out);
    fh_feed::pipeline::output::check_paths(&[
        NamedPath::new("--out", &args.out, Role::File),
        NamedPath::new("--out (its truth file)", &truth, Role::File),
    ])?;
    let t0 = std::time::Instant::now();
    fh_feed::live::signal::install();
    let stop = fh_feed::live::signal::flag();
    let total = match (opts.profile, opts.config.stop) {
        (Profile::Flow, Stop::Messages(m)) => m,
        _ => 0,
    };
    let (messages, bar) = (Cell::new(0), super::progress_bar(total));
    let watch = |inner| Watch {
        inner,
        messages: &messages,
        stop,
        bar: bar.clone(),
    };
    let out = Output::create(&args.out)?;
    let res = match format {
        Format::Pcap => (|| {
            let file = fh_replay::writer::FileSink::create(out.temp())?;
            let sink = watch(gen::output::PcapFrames::new(file, &opts)?);
            let (sink, summary) = gen::run_packets(&opts, sink).map_err(gen_io)?;
            sink.inner.finish()?.close()?;
            Ok(summary)
        })(),
        Format::Itch => (|| {
            let inner = fh_replay::writer::ItchFileWriter::create(out.temp())?;
            let mut f = Watch {
                inner,
                messages: &messages,
                stop,
                bar: bar.clone(),
            };
            let summary = gen::run_itch(&opts, |m| {
                f.inner.write_message(m)?;
                f.tick(1)
            })
            .map_err(gen_io)?;
            f.inner.close()?;
            Ok(summary)
        })(),
    };
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let summary = match res {
        Ok(s) => s,
        Err(_) if stop.load(Ordering::Relaxed) => {
            eprintln!(
                "fh gen: {}: stopped after {} messages; nothing written (a day is written whole or not at all)",
                args.out.display(),
                messages.get()
            );
            return Ok(Ending::Interrupted);
        }
        Err(e) => return Err(CliError::new(out.error(e))),
    };
    // The truth first (a temporary file too), then both renamed.
    let mut t = Output::create(&truth)?;
    let mut tw = t.writer();
    let json = summary.truth.to_json();
    tw.write_all(json.as_bytes())
        .and_then(|_| tw.flush())
        .map_err(|e| t.error(e))?;
    drop(tw);
    out.commit()?;
    t.commit()?;
    let secs = t0.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    let tr = &summary.truth;
    let packets = match format {
        Format::Pcap => format!(
            "{} packets ({} data, {} heartbeats, {} end of session; {} frames on lines {})",
            tr.data_packets + tr.heartbeats + tr.end_of_session,
            tr.data_packets,
            tr.heartbeats,
            tr.end_of_session,
            summary.frames,
            if opts.line_b.is_some() { "A+B" } else { "A" }
        ),
        Format::Itch => "no packets (itch file)".to_string(),
    };
    let peak = tr.day.as_ref().map_or(String::new(), |d| {
        format!(
            ", live orders peak {} (message {}), {} at the end",
            d.peak.live, d.peak.at_seq, d.live_at_end
        )
    });
    super::print(&format!(
        "fh gen: {}: {} messages{peak}, {packets}, {bytes} bytes, {secs:.3} s, {:.0} messages/s; truth {}\n",
        args.out.display(),
        summary.messages,
        summary.messages as f64 / secs.max(1e-9),
        truth.display()
    ))?;
    Ok(Ending::Done)
}

/// A generator error as an I/O error (configuration errors were refused before).
fn gen_io(e: gen::GenError) -> io::Error {
    match e {
        gen::GenError::Io(e) => e,
        gen::GenError::Config(c) => io::Error::other(c.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(f: impl FnOnce(&mut Args)) -> Args {
        let mut a = Args {
            out: "x.pcap".into(),
            format: "pcap".into(),
            symbols: Some(5),
            profile: "flow".into(),
            seed: 1,
            group: "233.54.12.111:26477".into(),
            session: "S1".into(),
            messages: Some(10_000),
            ..Args::default()
        };
        f(&mut a);
        a
    }

    #[test]
    fn good_arguments_make_options() {
        let (o, f) = args(|a| a.line_b = Some("233.49.196.111:26477".into()))
            .options()
            .unwrap();
        assert_eq!(f, Format::Pcap);
        assert_eq!(o.session, *b"S1        ");
        assert_eq!(o.line_b.unwrap().to_string(), "233.49.196.111:26477");
        assert_eq!(o.config.stop, Stop::Messages(10_000));
    }

    /// The command `pcaps/README.md` gives for `pcaps/sample.pcap` means the library's default
    /// options with that day (`tests/gen.rs` regenerates the sample from these options).
    #[test]
    fn readme_sample_command_is_the_default_options() {
        use clap::Parser;
        #[derive(Debug, Parser)]
        struct Cli {
            #[command(flatten)]
            gen: Args,
        }
        let c = Cli::parse_from(
            "gen --out pcaps/sample.pcap --messages 100000 --symbols 50 --seed 1".split(' '),
        );
        let want = Options {
            config: Config {
                symbols: 50,
                seed: 1,
                stop: Stop::Messages(100_000),
            },
            ..Options::default()
        };
        assert_eq!(c.gen.options().unwrap(), (want, Format::Pcap));
    }
}
