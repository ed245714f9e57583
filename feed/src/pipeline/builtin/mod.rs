//! The strategies `fh` can run by name (`--strategy NAME`), written against the public API
//! exactly as a user's strategy is: `spread`, `imbalance` and `tape` are also the examples
//! (`cargo run --release --example spread`).
//!
//! | name | what it does |
//! |---|---|
//! | `digest` | folds the stable digest of every update it reads and counts them by kind |
//! | `bbo-csv` | keeps L2 ladders from the updates and writes each BBO change as CSV |
//! | `spread` | spread statistics from the top-of-book table ([`Spread`]) |
//! | `imbalance` | size-imbalance signals ([`Imbalance`]) |
//! | `tape` | printable trades, volume and VWAP per symbol ([`Tape`]) |
//! | `count` | counts what it reads |

mod imbalance;
mod spread;
mod tape;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;

pub use imbalance::Imbalance;
pub use spread::Spread;
pub use tape::Tape;

use super::output::Output;
use super::sink::{BboCsv, Tally};
use super::{Pipeline, PipelineError, StrategyOptions};
use crate::engine::levels::Bbo as LevelBbo;
use crate::strategy::{Context, Figures, Strategy};
use crate::update::{BookUpdate, InstrumentId, Side, UpdateKind};

/// Names [`add`] knows.
pub const NAMES: [&str; 6] = ["digest", "bbo-csv", "spread", "imbalance", "tape", "count"];

/// The digest of the update stream as the strategy read it, with counts by kind.
#[derive(Debug, Default)]
pub struct DigestStrategy {
    /// Digest and counts.
    pub tally: Tally,
}

impl Strategy for DigestStrategy {
    #[inline]
    fn on_update(&mut self, u: &BookUpdate, _: &Context<'_>) {
        self.tally.add(u);
    }

    fn report(&self, out: &mut Figures) {
        out.text("digest", format!("{:016x}", self.tally.digest.value()))
            .count("updates", self.tally.digest.count)
            .count("stale", self.tally.stale);
    }
}

/// Counts what it reads.
#[derive(Debug, Default)]
pub struct Count(pub u64);

impl Strategy for Count {
    #[inline]
    fn on_update(&mut self, _: &BookUpdate, _: &Context<'_>) {
        self.0 += 1;
    }
}

/// L2 ladders rebuilt from the updates: price → shares per side.
#[derive(Debug, Default)]
struct Ladders {
    bids: BTreeMap<i64, u64>,
    asks: BTreeMap<i64, u64>,
    last: LevelBbo,
}

impl Ladders {
    fn bbo(&self) -> LevelBbo {
        LevelBbo {
            bid: self.bids.iter().next_back().map(|(&p, &s)| (p, s)),
            ask: self.asks.iter().next().map(|(&p, &s)| (p, s)),
        }
    }
}

/// Writes every BBO change as CSV (the header and rows of `fh replay --bbo-csv`), from
/// ladders it keeps itself, on its own thread; the file is written atomically.
#[derive(Debug)]
pub struct BboCsvWriter {
    books: HashMap<InstrumentId, Ladders>,
    out: Option<(Output, BboCsv<std::io::BufWriter<std::fs::File>>)>,
    error: Option<String>,
    rows: u64,
}

impl BboCsvWriter {
    /// Starts writing `path` (a temporary file until the run ends).
    pub fn create(path: &std::path::Path) -> Result<Self, PipelineError> {
        let mut o = Output::create(path)?;
        let w = BboCsv::new(o.writer()).map_err(|e| o.error(e))?;
        Ok(BboCsvWriter {
            books: HashMap::new(),
            out: Some((o, w)),
            error: None,
            rows: 0,
        })
    }
}

impl Strategy for BboCsvWriter {
    fn on_update(&mut self, u: &BookUpdate, ctx: &Context<'_>) {
        let b = self.books.entry(u.instrument).or_default();
        let side = match u.side {
            Side::Bid => Some(&mut b.bids),
            Side::Ask => Some(&mut b.asks),
            Side::None => None,
        };
        match (side, u.kind) {
            (Some(side), UpdateKind::AddLevel | UpdateKind::ChangeLevel) => {
                side.insert(u.price, u.shares);
            }
            (Some(side), UpdateKind::DeleteLevel) => {
                side.remove(&u.price);
            }
            // Trades and status changes move no level, but may end an event that did.
            _ => {}
        }
        if !u.flags.last_in_event() {
            return;
        }
        let now = b.bbo();
        if now == b.last {
            return;
        }
        b.last = now;
        let sym = ctx.symbol(u.instrument).map(|s| s.0).unwrap_or([b' '; 8]);
        if let Some((_, w)) = self.out.as_mut() {
            w.write_row(u.exch_ts, &sym, &now);
            self.rows += 1;
        }
    }

    fn on_finish(&mut self, _: &Context<'_>) {
        if let Some((o, w)) = self.out.take() {
            let r = w
                .finish()
                .and_then(|mut f| f.flush())
                .map_err(|e| o.error(e))
                .and_then(|_| o.commit());
            if let Err(e) = r {
                self.error = Some(e.0);
            }
        }
    }

    fn report(&self, out: &mut Figures) {
        out.count("rows", self.rows);
        if let Some(e) = &self.error {
            out.text("error", e.clone());
        }
    }
}

/// A strategy made deliberately slow: it spins `ns` ns on each update (to watch
/// back-pressure, or never-wait misses).
#[derive(Debug)]
pub struct Slowed<S> {
    /// The strategy.
    pub inner: S,
    /// Nanoseconds spent per update.
    pub ns: u64,
}

impl<S: Strategy> Strategy for Slowed<S> {
    fn on_update(&mut self, u: &BookUpdate, ctx: &Context<'_>) {
        self.inner.on_update(u, ctx);
        let t = std::time::Instant::now();
        while t.elapsed().as_nanos() < u128::from(self.ns) {
            std::hint::spin_loop();
        }
    }
    fn on_batch_end(&mut self, ctx: &Context<'_>) {
        self.inner.on_batch_end(ctx);
    }
    fn on_missed(&mut self, count: u64, ctx: &Context<'_>) {
        self.inner.on_missed(count, ctx);
    }
    fn on_finish(&mut self, ctx: &Context<'_>) {
        self.inner.on_finish(ctx);
    }
    fn report(&self, out: &mut Figures) {
        self.inner.report(out);
    }
}

fn with<S: Strategy>(p: Pipeline, name: &str, s: S, o: StrategyOptions, slow_ns: u64) -> Pipeline {
    if slow_ns > 0 {
        p.strategy_with(
            name,
            Slowed {
                inner: s,
                ns: slow_ns,
            },
            o,
        )
    } else {
        p.strategy_with(name, s, o)
    }
}

/// Adds the built-in strategy `kind` (one of [`NAMES`]) to `p` under `name`; `bbo_csv` is the
/// file of `bbo-csv`; `slow_ns` > 0 slows it down ([`Slowed`]).
pub fn add(
    p: Pipeline,
    kind: &str,
    name: &str,
    options: StrategyOptions,
    bbo_csv: Option<&PathBuf>,
    slow_ns: u64,
) -> Result<Pipeline, PipelineError> {
    let o = options;
    Ok(match kind {
        "digest" => with(p, name, DigestStrategy::default(), o, slow_ns),
        "bbo-csv" => {
            let path = bbo_csv
                .ok_or_else(|| PipelineError::new("--strategy bbo-csv: needs --bbo-csv FILE"))?;
            with(p, name, BboCsvWriter::create(path)?, o, slow_ns)
        }
        "spread" => with(p, name, Spread::default(), o, slow_ns),
        "imbalance" => with(p, name, Imbalance::default(), o, slow_ns),
        "tape" => with(p, name, Tape::default(), o, slow_ns),
        "count" => with(p, name, Count::default(), o, slow_ns),
        other => {
            return Err(PipelineError::new(format!(
                "--strategy {other}: unknown (one of {})",
                NAMES.join(", ")
            )))
        }
    })
}
