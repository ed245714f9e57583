//! Shared memory on the command line: `--shm NAME` of `fh replay` and `fh live` (the `fh-shm`
//! publisher as the pipeline's tap), and `fh shm-tail NAME`, a subscriber for operators.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{in_range, CliError, Ending, Run};
use fh_feed::engine::levels::Bbo as LevelBbo;
use fh_feed::pipeline::Pipeline;
use fh_shm::layout::ShmUpdate;
use fh_shm::{ServiceSettings, ShmPublisher, Subscriber, SubscriberOptions};

/// `--shm` and its settings.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ShmArgs {
    /// Publish every book update and the top of book in shared memory as NAME (iceoryx2
    /// service fh/NAME/updates, table /dev/shm/fh-NAME.top) for other processes.
    #[arg(long, value_name = "NAME")]
    pub shm: Option<String>,
    /// With --shm: wait (up to 10 s) for N subscribers before starting (0 to 64).
    #[arg(long, value_name = "N")]
    pub shm_wait: Option<usize>,
    /// With --shm: samples each subscriber's queue may hold, its oldest dropped beyond
    /// (1 to 65536, default 1024; a sample is a datagram's updates).
    #[arg(long, value_name = "N")]
    pub shm_buffer: Option<usize>,
}

/// How long `--shm-wait` waits.
const SHM_WAIT: Duration = Duration::from_secs(10);

impl ShmArgs {
    /// Checks the flags: their values, and that the settings come with `--shm`.
    pub fn check(&self) -> Result<(), CliError> {
        if self.shm.is_none() && (self.shm_wait.is_some() || self.shm_buffer.is_some()) {
            let f = if self.shm_wait.is_some() {
                "--shm-wait"
            } else {
                "--shm-buffer"
            };
            return Err(CliError::new(format!("{f}: only with --shm NAME")));
        }
        if let Some(n) = &self.shm {
            fh_shm::check_name(n).map_err(|e| CliError::new(format!("--shm {}", e.0)))?;
        }
        if let Some(n) = self.shm_wait {
            in_range("--shm-wait", n, 0, 64)?;
        }
        if let Some(n) = self.shm_buffer {
            in_range("--shm-buffer", n, 1, fh_shm::MAX_BUFFER)?;
        }
        Ok(())
    }

    /// Adds the publisher to `p` (after waiting for `--shm-wait` subscribers).
    pub fn add(&self, p: Pipeline) -> Result<Pipeline, CliError> {
        self.check()?;
        let Some(name) = &self.shm else {
            return Ok(p);
        };
        let settings = ServiceSettings {
            max_buffer: self
                .shm_buffer
                .unwrap_or(ServiceSettings::default().max_buffer),
            ..ServiceSettings::default()
        };
        let publisher = ShmPublisher::create(name, &settings, fh_feed::pipeline::TOP_INSTRUMENTS)
            .map_err(|e| CliError::new(e.0))?;
        if let Some(n) = self.shm_wait.filter(|&n| n > 0) {
            let k = publisher.wait_for_subscribers(n, SHM_WAIT);
            if k < n {
                return Err(CliError::new(format!(
                    "--shm-wait {n}: {k} subscribers after {} s",
                    SHM_WAIT.as_secs()
                )));
            }
        }
        Ok(p.tap("shm", publisher))
    }
}

/// Arguments of `fh shm-tail`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TailArgs {
    /// The publisher's name (`fh replay|live … --shm NAME`).
    pub name: String,
    /// Print no update lines, only the summary.
    #[arg(long)]
    pub quiet: bool,
    /// Print `digest: <hex>` of the updates received (equal to `fh replay --digest` when
    /// nothing was missed).
    #[arg(long)]
    pub digest: bool,
    /// At the end, print the top of book of every instrument with one, as BBO CSV rows
    /// (ts,symbol,bid,bid_size,ask,ask_size).
    #[arg(long)]
    pub top: bool,
    /// Samples this subscriber's queue holds (1 to 65536, at most the service's; default
    /// 1024).
    #[arg(long, value_name = "N")]
    pub buffer: Option<usize>,
    /// Seconds to wait for the publisher's service (0 to 3600; default 10).
    #[arg(long, value_name = "S")]
    pub wait: Option<f64>,
    /// Stop after N updates (1 to 10^12).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Sleep US µs after each sample (0 to 10^6): a deliberately slow subscriber.
    #[arg(long, value_name = "US")]
    pub slow_us: Option<u64>,
    /// Busy-poll instead of sleeping when there is nothing to read (lowest latency).
    #[arg(long)]
    pub spin: bool,
    /// Write the publish → read latency of each sample to DIR/shm_hop.hgrm.
    #[arg(long, value_name = "DIR")]
    pub hgrm: Option<PathBuf>,
}

/// Runs `fh shm-tail`.
pub fn tail(a: TailArgs) -> Run {
    fh_shm::check_name(&a.name).map_err(|e| CliError::new(e.0))?;
    let wait = in_range("--wait", a.wait.unwrap_or(10.0), 0.0, 3600.0)?;
    let buffer = in_range("--buffer", a.buffer.unwrap_or(1024), 1, fh_shm::MAX_BUFFER)?;
    if let Some(n) = a.count {
        in_range("--count", n, 1, 1_000_000_000_000)?;
    }
    let slow = Duration::from_micros(in_range("--slow-us", a.slow_us.unwrap_or(0), 0, 1_000_000)?);
    if let Some(dir) = &a.hgrm {
        fh_feed::pipeline::output::check_paths(&[fh_feed::pipeline::output::NamedPath::new(
            "--hgrm",
            dir,
            fh_feed::pipeline::output::Role::Dir,
        )])?;
    }
    fh_feed::live::signal::install();
    let stop = fh_feed::live::signal::flag();
    let opts = SubscriberOptions {
        buffer,
        wait: Duration::from_secs_f64(wait),
    };
    let mut sub = Subscriber::open(&a.name, &opts).map_err(|e| CliError::new(e.0))?;
    eprintln!(
        "fh shm-tail: subscribed to {}",
        fh_shm::updates_service_name(&a.name)
    );
    let mut hist = a
        .hgrm
        .as_ref()
        .map(|_| fh_feed::latency::HistConfig::default().histogram());
    let mut digest = fh_feed::engine::digest::Digest::new();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut line = String::new();
    let mut idle_since: Option<Instant> = None;
    let mut idle_spins = 0u32;
    let mut gone = false;
    let mut closed = false;
    while !stop.load(Ordering::Relaxed) && !sub.ended() {
        if a.count.is_some_and(|n| sub.received() >= n) {
            break;
        }
        let batch = sub.receive().map_err(|e| CliError::new(e.0))?;
        let Some(batch) = batch else {
            // Nothing to read: a publisher that is gone without an end marker, and left
            // nothing to receive, ends the tail once it has been quiet for a second.
            let t = *idle_since.get_or_insert_with(Instant::now);
            if t.elapsed() > Duration::from_secs(1)
                && sub.publisher_gone().map_err(|e| CliError::new(e.0))?
            {
                gone = true;
                break;
            }
            if a.spin {
                core::hint::spin_loop();
            } else {
                idle_spins += 1;
                if idle_spins < 100 {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
            continue;
        };
        idle_since = None;
        idle_spins = 0;
        if let Some(h) = hist.as_mut() {
            let now = fh_shm::monotonic_raw_ns();
            h.saturating_record(now.saturating_sub(batch.header().publish_ns).max(1));
        }
        if batch.missed() > 0 && !a.quiet && !closed {
            line.clear();
            line.push_str(&format!("# missed {} updates\n", batch.missed()));
            closed |= out.write_all(line.as_bytes()).is_err();
        }
        let first = batch.header().first;
        for (i, u) in batch.updates().iter().enumerate() {
            if a.digest {
                digest.add(&u.update());
            }
            if !a.quiet && !closed {
                let sym = sub
                    .table()
                    .and_then(|t| t.row(u.instrument))
                    .and_then(|r| r.symbol().map(str::to_string))
                    .unwrap_or_default();
                update_line(&mut line, first + i as u64, &sym, u);
                closed |= out.write_all(line.as_bytes()).is_err();
            }
        }
        drop(batch);
        if !slow.is_zero() {
            std::thread::sleep(slow);
        }
    }
    let _ = out.flush();
    drop(out);
    let mut text = format!(
        "fh shm-tail {}: received {} updates in {} samples, missed {}, joined at update {}, {}\n",
        a.name,
        sub.received(),
        sub.samples(),
        sub.missed(),
        sub.joined_at().map_or("-".to_string(), |j| j.to_string()),
        if sub.ended() {
            "stream ended"
        } else if gone {
            "publisher gone"
        } else {
            "stopped"
        }
    );
    if a.digest {
        text.push_str(&format!("digest: {:016x}\n", digest.value()));
    }
    if a.top {
        text.push_str(fh_feed::pipeline::sink::BBO_CSV_HEADER);
        if let Some(t) = sub.table() {
            let mut row = String::new();
            for id in 0..t.rows() as u32 {
                let Some(r) = t.row(id) else { continue };
                if r.version == 0 {
                    continue;
                }
                let b = LevelBbo {
                    bid: (r.bid_shares > 0).then_some((r.bid_price, r.bid_shares)),
                    ask: (r.ask_shares > 0).then_some((r.ask_price, r.ask_shares)),
                };
                fh_feed::pipeline::sink::bbo_csv_row(&mut row, r.exch_ts, &r.symbol, &b);
                text.push_str(&row);
            }
        }
    }
    if let (Some(dir), Some(h)) = (&a.hgrm, &hist) {
        let series = [fh_feed::latency::Series {
            name: "shm_hop",
            hist: h,
            over: 0,
        }];
        fh_feed::latency::output::write_hgrm_dir(dir, &series)?;
    }
    super::print(&text)?;
    if stop.load(Ordering::Relaxed) {
        return Ok(Ending::Interrupted);
    }
    if gone {
        return Ok(Ending::Problems(format!(
            "fh shm-tail {}: the publisher went away before the end of its stream",
            a.name
        )));
    }
    Ok(Ending::Done)
}

/// One update as a line: `index seq exch_ts symbol kind side price shares orders flags`.
fn update_line(line: &mut String, index: u64, sym: &str, u: &ShmUpdate) {
    use std::fmt::Write as _;
    const KINDS: [&str; 6] = ["add", "change", "delete", "trade", "status", "break"];
    const SIDES: [&str; 3] = ["bid", "ask", "-"];
    line.clear();
    let _ = writeln!(
        line,
        "{index} {} {} {} {} {} {} {} {} {:#x}",
        u.seq,
        u.exch_ts,
        if sym.is_empty() { "?" } else { sym },
        KINDS.get(u.kind as usize).unwrap_or(&"?"),
        SIDES.get(u.side as usize).unwrap_or(&"?"),
        fh_decoders::price::Fixed::<4>(u.price),
        u.shares,
        u.order_count,
        u.flags
    );
}
