//! `fh gen`: writes a synthetic Nasdaq TotalView-ITCH 5.0 day (see `fh_replay::gen`) as a
//! nanosecond pcap of MoldUDP64 packets or as a NASDAQ_ITCH50 file, with packet faults on
//! demand, and `FILE.truth.json` next to it. Prints one summary line with the throughput.
//!
//! Every argument is checked before anything is written; a bad one is a [`CliError`] naming
//! the option and the value.

use super::{CliError, CliResult};
use fh_replay::gen::{self, Config, Endpoint, FaultRates, Format, GenJob, Options, Stop};
use std::path::PathBuf;

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
    /// Exactly this many ITCH messages (default 1000000 unless --seconds is given).
    #[arg(long, value_name = "N", conflicts_with = "seconds")]
    pub messages: Option<u64>,
    /// This many seconds of continuous trading instead of a message count.
    #[arg(long, value_name = "S")]
    pub seconds: Option<u64>,
    /// Number of instruments (1..=10000).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub symbols: u16,
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
        let stop = match (self.messages, self.seconds) {
            (_, Some(s)) => Stop::Seconds(s),
            (Some(m), None) => Stop::Messages(m),
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
        let config = Config {
            symbols: self.symbols,
            seed: self.seed,
            stop,
        };
        // Refuse a bad configuration before creating any file.
        gen::Generator::new(config).map_err(CliError::new)?;
        Ok((
            Options {
                config,
                session,
                rates,
                line_a,
                line_b,
            },
            format,
        ))
    }
}

/// Runs `fh gen`: arguments → [`GenJob`] → [`gen::write_day`] → one summary line.
pub fn run(args: Args) -> CliResult {
    let (opts, format) = args.options()?;
    let job = GenJob {
        opts,
        format,
        out: args.out,
    };
    let r = gen::write_day(&job).map_err(|e| CliError::new(format!("fh gen: {e}")))?;
    let t = &r.summary.truth;
    let lines = if job.opts.line_b.is_some() {
        "A+B"
    } else {
        "A"
    };
    let packets = match job.format {
        Format::Pcap => format!(
            "{} packets ({} data, {} heartbeats, {} end of session; {} frames on lines {lines})",
            r.packets(),
            t.data_packets,
            t.heartbeats,
            t.end_of_session,
            r.summary.frames
        ),
        Format::Itch => "no packets (itch file)".to_string(),
    };
    println!(
        "fh gen: {}: {} messages, {packets}, {} bytes, {:.3} s, {:.0} messages/s; truth {}",
        job.out.display(),
        r.summary.messages,
        r.bytes,
        r.secs,
        r.messages_per_sec(),
        r.truth_path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(f: impl FnOnce(&mut Args)) -> Args {
        let mut a = Args {
            out: "x.pcap".into(),
            format: "pcap".into(),
            symbols: 5,
            seed: 1,
            group: "233.54.12.111:26477".into(),
            session: "S1".into(),
            messages: Some(10_000),
            ..Args::default()
        };
        f(&mut a);
        a
    }

    fn err(a: Args) -> String {
        a.options().expect_err("should be refused").0
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

    #[test]
    fn bad_arguments_name_the_value() {
        assert!(err(args(|a| a.format = "csv".into())).contains("--format csv"));
        assert!(err(args(|a| a.group = "nowhere".into())).contains("--group nowhere"));
        assert!(err(args(|a| a.line_b = Some("1.2.3.4".into()))).contains("--line-b 1.2.3.4"));
        assert!(err(args(|a| a.session = "ELEVENCHARS".into())).contains("ELEVENCHARS"));
        assert!(err(args(|a| a.drop = 1.5)).contains("--drop 1.5"));
        assert!(err(args(|a| {
            a.drop = 0.6;
            a.dup = 0.6;
        }))
        .contains("at most 1"));
        assert!(err(args(|a| a.symbols = 0)).contains("--symbols 0"));
        assert!(err(args(|a| a.messages = Some(10))).contains("--messages 10"));
        assert!(err(args(|a| {
            a.format = "itch".into();
            a.drop = 0.1;
        }))
        .contains("--format itch"));
    }
}
