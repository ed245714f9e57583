//! The pipeline options `fh replay --pipeline` and `fh live` share, and the report output.

use std::io::Write;
use std::path::PathBuf;

use super::{CliError, CliResult};
use fh_feed::pipeline::output::{NamedPath, Role};
use fh_feed::pipeline::{
    builtin, report, IdleKind, Pipeline, RingSettings, RunReport, StrategyOptions, Threading,
};
use fh_feed::ring::Policy;

/// Ring policy on the command line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PolicyArg {
    /// The producer waits for the slowest strategy (measured); nothing is lost.
    #[default]
    NoLoss,
    /// The producer never waits; a lapped strategy counts exactly what it missed.
    NeverWait,
}

/// Idle strategy on the command line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum IdleArg {
    /// Busy-spin: lowest latency, burns its core.
    Spin,
    /// Spin a little, then yield the core.
    Yield,
    /// Spin, yield, then park with a growing timeout (shared cores, tests).
    #[default]
    Backoff,
}

/// Threading mode on the command line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ThreadingArg {
    /// Each strategy on its own thread (live: receive and engine too).
    #[default]
    Dedicated,
    /// Everything on one thread: strategies run at the end of each datagram.
    Shared,
}

/// Strategy, ring and threading options.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PipelineArgs {
    /// Run a built-in strategy (repeatable): digest, bbo-csv (with --bbo-csv), spread,
    /// imbalance, tape, count.
    #[arg(long = "strategy", value_name = "NAME")]
    pub strategies: Vec<String>,
    /// N strategies: digest, spread, imbalance, then count (shorthand for --strategy).
    #[arg(long, value_name = "N", conflicts_with = "strategies")]
    pub consumers: Option<usize>,
    /// Publication ring policy.
    #[arg(long, value_enum)]
    pub policy: Option<PolicyArg>,
    /// Publication ring slots (a power of two, 2 to 16 777 216; default 65 536).
    #[arg(long, value_name = "N")]
    pub ring_size: Option<usize>,
    /// Idle strategy of the pipeline's threads.
    #[arg(long, value_enum)]
    pub idle: Option<IdleArg>,
    /// dedicated: a thread per strategy; shared: one thread for everything.
    #[arg(long, value_enum)]
    pub threading: Option<ThreadingArg>,
    /// Cores to pin to, in order: replay: engine, then each strategy thread; live: receive,
    /// engine, then each strategy thread (shared: the one thread).
    #[arg(long = "cpu", value_name = "N")]
    pub cpus: Vec<usize>,
    /// Make the last strategy spend NS ns on each update (to watch back-pressure or misses;
    /// at most 10 000 000).
    #[arg(long, value_name = "NS")]
    pub slow_ns: Option<u64>,
    /// WebAssembly strategies (`--wasm FILE`…).
    #[command(flatten)]
    pub wasm: super::wasm_args::WasmArgs,
}

impl PipelineArgs {
    /// Flags of the pipeline (to declare what a mode takes).
    #[rustfmt::skip]
    pub const FLAGS: &'static [&'static str] = &[
        "--strategy", "--consumers", "--policy", "--ring-size", "--idle", "--threading", "--cpu",
        "--slow-ns", "--wasm", "--wasm-deadline-ms", "--wasm-memory-mib", "--wasm-shared",
        "--signals-csv",
    ];

    /// The strategy names to run (`default` when none was asked for).
    pub fn names(&self, default: &[&str]) -> Result<Vec<String>, CliError> {
        if let Some(n) = self.consumers {
            if !(1..=fh_feed::pipeline::MAX_STRATEGIES).contains(&n) {
                return Err(CliError::new(format!(
                    "--consumers {n}: from 1 to {}",
                    fh_feed::pipeline::MAX_STRATEGIES
                )));
            }
            let base = ["digest", "spread", "imbalance"];
            return Ok((0..n)
                .map(|i| match base.get(i) {
                    Some(b) => b.to_string(),
                    None => format!("count-{}", i - base.len() + 1),
                })
                .collect());
        }
        if self.strategies.is_empty() && !self.wasm.modules.is_empty() {
            return Ok(Vec::new());
        }
        if self.strategies.is_empty() {
            return Ok(default.iter().map(|s| s.to_string()).collect());
        }
        Ok(self.strategies.clone())
    }

    /// The ring settings.
    pub fn ring(&self) -> Result<RingSettings, CliError> {
        let d = RingSettings::default();
        let size = self.ring_size.unwrap_or(d.size);
        if !size.is_power_of_two() || !(2..=fh_feed::pipeline::MAX_RING_SIZE).contains(&size) {
            return Err(CliError::new(format!(
                "--ring-size {size}: must be a power of two from 2 to {}",
                fh_feed::pipeline::MAX_RING_SIZE
            )));
        }
        Ok(RingSettings {
            size,
            policy: match self.policy.unwrap_or_default() {
                PolicyArg::NoLoss => Policy::NoLoss,
                PolicyArg::NeverWait => Policy::NeverWait,
            },
            idle: match self.idle.unwrap_or_default() {
                IdleArg::Spin => IdleKind::Spin,
                IdleArg::Yield => IdleKind::Yield,
                IdleArg::Backoff => IdleKind::Backoff,
            },
        })
    }

    /// The threading mode.
    pub fn threading(&self) -> Threading {
        match self.threading.unwrap_or_default() {
            ThreadingArg::Dedicated => Threading::Dedicated,
            ThreadingArg::Shared => Threading::Shared,
        }
    }

    /// Adds the strategies `names` to `p`, the `k`-th strategy thread pinned to
    /// `cpus[first_strategy_cpu + k]`; `--slow-ns` slows the last one.
    pub fn add_strategies(
        &self,
        mut p: Pipeline,
        names: &[String],
        first_strategy_cpu: usize,
        bbo_csv: Option<&PathBuf>,
    ) -> Result<Pipeline, CliError> {
        check_cpus(&self.cpus)?;
        let threads = match self.threading() {
            Threading::Shared => 1,
            Threading::Dedicated => first_strategy_cpu + names.len() + self.wasm.modules.len(),
        };
        if self.cpus.len() > threads {
            return Err(CliError::new(format!(
                "--cpu {}: {} cores for {threads} threads",
                self.cpus[threads],
                self.cpus.len()
            )));
        }
        if let Some(ns) = self.slow_ns {
            super::in_range("--slow-ns", ns, 0, MAX_SLOW_NS)?;
        }
        let ring = self.ring()?;
        fh_feed::pipeline::output::check_memory(
            &[(
                format!("--ring-size {}", ring.size),
                (ring.size * std::mem::size_of::<fh_feed::update::BookUpdate>()) as u64,
            )],
            None,
        )?;
        for (i, name) in names.iter().enumerate() {
            let opts = StrategyOptions {
                group: None,
                core: self.cpus.get(first_strategy_cpu + i).copied(),
            };
            let base = name
                .split_once('-')
                .filter(|(b, _)| *b == "count")
                .map_or(name.as_str(), |(b, _)| b);
            let slow = self.slow_ns.filter(|_| i + 1 == names.len()).unwrap_or(0);
            p = builtin::add(p, base, name, opts, bbo_csv, slow)?;
        }
        let wasm_cores = self
            .cpus
            .get(first_strategy_cpu + names.len()..)
            .unwrap_or(&[]);
        self.wasm.add(p, names, wasm_cores)
    }
}

/// Largest `--slow-ns`: 10 ms per update.
pub const MAX_SLOW_NS: u64 = 10_000_000;

/// Refuses cores this process may not use.
pub fn check_cpus(cpus: &[usize]) -> CliResult {
    let usable = fh_feed::pipeline::usable_cores();
    for &c in cpus {
        if !usable.is_empty() && !usable.contains(&c) {
            return Err(CliError::new(format!(
                "--cpu {c}: not a core this process may use ({usable:?})"
            )));
        }
    }
    Ok(())
}

/// Report output: the text on stdout, and `--report-json FILE` (written atomically).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ReportArgs {
    /// Also write the whole report as JSON to FILE (schema: feed/report.schema.json).
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,
}

impl ReportArgs {
    /// The output, named by its flag (for `check_paths`).
    pub fn outputs(&self) -> Vec<NamedPath> {
        let p = self.report_json.iter();
        p.map(|p| NamedPath::new("--report-json", p, Role::File))
            .collect()
    }

    /// Writes the JSON file and prints `r` as text (plus `extra` lines).
    pub fn emit(&self, r: &RunReport, extra: &str) -> CliResult {
        if let Some(path) = &self.report_json {
            let mut o = fh_feed::pipeline::output::Output::create(path)?;
            let mut w = o.writer();
            serde_json::to_writer_pretty(&mut w, r)
                .map_err(|e| CliError::new(format!("{}: {e}", path.display())))?;
            w.write_all(b"\n")
                .and_then(|_| w.flush())
                .map_err(|e| CliError::new(o.error(e).0))?;
            drop(w);
            o.commit()?;
        }
        let mut text = report::render_text(r);
        text.push_str(extra);
        super::print(&text)
    }
}
