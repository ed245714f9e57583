//! `fh serve`: the exchange side for tests and demos (`fh_replay::serve`): a generated day or a
//! capture sent on line A and line B with independent faults and an outage, a MoldUDP64
//! request server and a SoupBinTCP snapshot server. Prints where the servers listen, then one
//! summary when the day is sent and the servers have lingered.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{in_range, CliError, Ending, Run};
use fh_feed::pipeline::output::{write_atomic, NamedPath, Role};
use fh_replay::gen::{self, Config, FaultRates, Stop};
use fh_replay::serve::{self, DaySource, RequestServerConfig, ServeConfig};

/// Arguments of `fh serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// A capture to serve (its MoldUDP64 packets of the first session); default: a generated day.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Messages of the generated day (1000 to 100000000).
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub messages: u64,
    /// Instruments of the generated day (1 to 10000).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub symbols: u16,
    /// Seed of the generated day and of the faults.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// MoldUDP64 session of the generated day.
    #[arg(long, value_name = "NAME", default_value = "FHGEN00001")]
    pub session: String,
    /// Line A's multicast group and port.
    #[arg(long, value_name = "G:PORT", default_value = "233.54.12.111:26477")]
    pub group: SocketAddrV4,
    /// Line B's multicast group and port (same packets, its own faults).
    #[arg(long = "line-b", value_name = "G:PORT")]
    pub line_b: Option<SocketAddrV4>,
    /// Probability of dropping each data packet, per line.
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    pub drop: f64,
    /// Probability of sending a data packet twice, per line.
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    pub dup: f64,
    /// Probability of sending a data packet after the next one, per line.
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    pub reorder: f64,
    /// Probability of damaging a data packet, per line.
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    pub corrupt: f64,
    /// Outage on every line: AT:N loses data packets AT to AT+N-1 (0-based) on all lines.
    #[arg(long, value_name = "AT:N")]
    pub outage: Option<String>,
    /// Interface address to send from.
    #[arg(long, value_name = "ADDR")]
    pub iface: Option<Ipv4Addr>,
    /// Multicast TTL (0 to 255; 0 keeps the traffic on this host).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub ttl: u32,
    /// Packets per second per line (1 to 10^8; default: as fast as the socket takes them).
    #[arg(long, value_name = "N")]
    pub pps: Option<u64>,
    /// Run a MoldUDP64 request server on ADDR:PORT (UDP).
    #[arg(long = "request-server", value_name = "ADDR:PORT")]
    pub request_server: Option<SocketAddrV4>,
    /// Messages the request server keeps (the most recent sent; 1 to 10^9).
    #[arg(long, value_name = "N", default_value_t = 1 << 20)]
    pub log_messages: u64,
    /// Fraction of each requested range the server answers (0.01 to 1).
    #[arg(long, value_name = "F", default_value_t = 1.0)]
    pub answer_fraction: f64,
    /// Probability that the server ignores a request (0 to 1).
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    pub drop_requests: f64,
    /// Run a SoupBinTCP snapshot server on ADDR:PORT (TCP).
    #[arg(long = "snapshot-server", value_name = "ADDR:PORT")]
    pub snapshot_server: Option<SocketAddrV4>,
    /// Stop sending before the packet holding this sequence number until a snapshot client has
    /// logged in (late-join demos).
    #[arg(long, value_name = "SEQ")]
    pub snapshot_gate: Option<u64>,
    /// Wait S seconds before the first packet (0 to 3600).
    #[arg(long, value_name = "S", default_value_t = 0.0)]
    pub start_delay: f64,
    /// Keep the servers up S seconds after the last packet (0 to 3600).
    #[arg(long, value_name = "S", default_value_t = 1.0)]
    pub linger: f64,
    /// Write what the lines did (drops, duplicates, reorders, corruptions, the outage, and the
    /// ranges lost on every line) as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub truth: Option<PathBuf>,
}

fn secs(flag: &str, s: f64) -> Result<Duration, CliError> {
    if s.is_finite() && (0.0..=3600.0).contains(&s) {
        Ok(Duration::from_secs_f64(s))
    } else {
        Err(CliError::new(format!(
            "{flag} {s}: must be from 0 to 3600 seconds"
        )))
    }
}

fn rate(flag: &str, r: f64) -> Result<f64, CliError> {
    if r.is_finite() && (0.0..=1.0).contains(&r) {
        Ok(r)
    } else {
        Err(CliError::new(format!("{flag} {r}: must be from 0 to 1")))
    }
}

impl Args {
    /// Checks every argument and builds the exchange's configuration.
    pub fn config(&self) -> Result<ServeConfig, CliError> {
        let source = match &self.file {
            Some(f) => DaySource::Capture(f.clone()),
            None => {
                in_range("--messages", self.messages, 1000, 100_000_000)?;
                in_range("--symbols", self.symbols, 1, 10_000)?;
                let session = gen::parse_session(&self.session).ok_or_else(|| {
                    CliError::new(format!(
                        "--session {:?}: 1 to 10 printable ASCII characters",
                        self.session
                    ))
                })?;
                DaySource::Generate(gen::Options {
                    config: Config {
                        symbols: self.symbols,
                        seed: self.seed,
                        stop: Stop::Messages(self.messages),
                    },
                    session,
                    ..gen::Options::default()
                })
            }
        };
        let rates = FaultRates {
            drop: rate("--drop", self.drop)?,
            dup: rate("--dup", self.dup)?,
            reorder: rate("--reorder", self.reorder)?,
            corrupt: rate("--corrupt", self.corrupt)?,
        };
        let sum = rates.drop + rates.dup + rates.reorder + rates.corrupt;
        if sum > 1.0 {
            return Err(CliError::new(format!(
                "--drop + --dup + --reorder + --corrupt = {sum}: at most 1"
            )));
        }
        let outage = match &self.outage {
            None => None,
            Some(s) => {
                let p = s
                    .split_once(':')
                    .and_then(|(a, n)| Some((a.parse::<u64>().ok()?, n.parse::<u64>().ok()?)));
                Some(p.ok_or_else(|| {
                    CliError::new(format!(
                        "--outage {s}: expected AT:N (packet index and count)"
                    ))
                })?)
            }
        };
        in_range("--ttl", self.ttl, 0, 255)?;
        if let Some(p) = self.pps {
            in_range("--pps", p, 1, 100_000_000)?;
        }
        if self.snapshot_gate.is_some() && self.snapshot_server.is_none() {
            return Err(CliError::new("--snapshot-gate: needs --snapshot-server"));
        }
        let request = match self.request_server {
            Some(bind) => {
                in_range("--log-messages", self.log_messages, 1, 1_000_000_000)?;
                let f = self.answer_fraction;
                if !(f.is_finite() && (0.01..=1.0).contains(&f)) {
                    return Err(CliError::new(format!(
                        "--answer-fraction {f}: must be from 0.01 to 1"
                    )));
                }
                Some(RequestServerConfig {
                    bind,
                    log_messages: self.log_messages,
                    answer_fraction: f,
                    drop_requests: rate("--drop-requests", self.drop_requests)?,
                    seed: self.seed,
                })
            }
            None => None,
        };
        Ok(ServeConfig {
            source,
            rates,
            fault_seed: self.seed,
            line_a: self.group,
            line_b: self.line_b,
            outage,
            iface: self.iface,
            ttl: self.ttl,
            pps: self.pps.unwrap_or(0),
            request,
            snapshot: self.snapshot_server,
            snapshot_gate: self.snapshot_gate,
            linger: secs("--linger", self.linger)?,
            start_delay: secs("--start-delay", self.start_delay)?,
        })
    }
}

/// Runs `fh serve`.
pub fn run(args: Args) -> Run {
    let cfg = args.config()?;
    let mut paths = Vec::new();
    if let Some(t) = &args.truth {
        paths.push(NamedPath::new("--truth", t, Role::File));
    }
    if let Some(f) = &args.file {
        paths.push(NamedPath::new("FILE", f, Role::Input));
    }
    fh_feed::pipeline::output::check_paths(&paths)?;
    fh_feed::live::signal::install();
    let stop = Arc::new(AtomicBool::new(false));
    let served = serve::start(&cfg, stop.clone())
        .map_err(|e| CliError::new(e.0.trim_start_matches("fh serve: ")))?;
    if let Some(t) = &args.truth {
        write_atomic(t, served.truth.to_json().as_bytes())?;
    }
    let mut head = format!(
        "serving {} messages on {}{}",
        served.truth.messages,
        cfg.line_a,
        cfg.line_b.map(|b| format!(" and {b}")).unwrap_or_default()
    );
    if let Some(a) = served.request_addr {
        head += &format!("; request server {a}");
    }
    if let Some(a) = served.snapshot_addr {
        head += &format!("; snapshot server {a}");
    }
    super::print(&format!("{head}\n"))?;
    let watcher = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if fh_feed::live::signal::requested() {
                    stop.store(true, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let r = served.wait();
    stop.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    let r = r.map_err(|e| CliError::new(e.0.trim_start_matches("fh serve: ")))?;
    let lost: Vec<String> = r
        .truth
        .lost_both()
        .iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    super::print(&format!(
        "sent {} frames ({} messages); requests {} answered {} dropped {} unanswerable {} resent-messages {}; snapshots {}\nlost on every line: {}\n",
        r.frames,
        r.messages,
        r.requests,
        r.answered,
        r.dropped_requests,
        r.unanswerable,
        r.resent_messages,
        r.snapshots,
        if lost.is_empty() { "none".to_string() } else { lost.join(" ") }
    ))?;
    if fh_feed::live::signal::requested() {
        return Ok(Ending::Interrupted);
    }
    Ok(Ending::Done)
}
