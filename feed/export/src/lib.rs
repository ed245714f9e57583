//! Research outputs of an fh replay or `fh live` recording: DBN files (`mbo`, `mbp-1`, `mbp-10`, `tbbo`, `trades`)
//! through Databento's `dbn` crate, book snapshots at fixed intervals of exchange time and the
//! trade tape, as CSV and Parquet.
//!
//! ```text
//!  Engine ─► pipeline::record::Recording ─► Exporter (a Recorder, on the engine's thread)
//!               order events ─────────► DBN mbo
//!               book updates ─► Books (L2, rebuilt from the level updates)
//!                                  ├─► DBN mbp-1 / mbp-10 / tbbo / trades
//!                                  └─► snapshots every --snapshot-every (CSV, Parquet), trade tape
//!               BBO changes ──────────► BBO CSV with epoch timestamps (`--bbo-ts epoch`)
//! ```
//!
//! ## Invariants
//! - Every output is written to a temporary file beside its target and renamed when complete
//!   ([`fh_feed::pipeline::output::Output`]); a failed run leaves the previous file or none.
//! - Times: `ts_event` is exchange time as ns since the Unix epoch ([`clock`]); ITCH's ns
//!   since midnight need the session date (given, or from the capture's times).
//! - Prices stay integers until written: 4-decimal fixed point in fh, 9-decimal in DBN,
//!   decimal text in CSV, `DECIMAL(18,4)` in Parquet. No floating point.
//! - The exporter reads only what the engine publishes (its books are rebuilt from the level
//!   updates, [`book`]), so an export never changes what the replay computes (same digest).
//! - Not on the hot path: a replay without exports does not run any of this.

pub mod book;
pub mod clock;
pub mod dbn_out;
pub mod table;

use std::path::PathBuf;

use fh_feed::directory::SymbolDirectory;
use fh_feed::engine::IEX_INSTRUMENT_BASE;
use fh_feed::pipeline::record::Recorder;
use fh_feed::pipeline::report::OutputReport;
use fh_feed::pipeline::PipelineError;
use fh_feed::update::{BookUpdate, Flags, InstrumentId, OrderAction, OrderEvent, Side, UpdateKind};

use book::{Books, Level};
use clock::{Date, SessionClock, MIN_EPOCH_NS};
use dbn_out::{clamp32, dbn_price, pair, Common, DbnFile};

/// A DBN schema fh writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Schema {
    /// Market by order (ITCH only).
    Mbo,
    /// Top of book at each change and trade.
    Mbp1,
    /// Ten levels at each change and trade.
    Mbp10,
    /// Trades with the top of book before them.
    Tbbo,
    /// Trades.
    Trades,
}

impl Schema {
    /// Every schema, in the order of [`Schema::name`]'s list.
    pub const ALL: [Schema; 5] = [
        Schema::Mbo,
        Schema::Mbp1,
        Schema::Mbp10,
        Schema::Tbbo,
        Schema::Trades,
    ];

    /// The name on the command line (Databento's).
    pub fn name(self) -> &'static str {
        match self {
            Schema::Mbo => "mbo",
            Schema::Mbp1 => "mbp-1",
            Schema::Mbp10 => "mbp-10",
            Schema::Tbbo => "tbbo",
            Schema::Trades => "trades",
        }
    }

    /// The schema of a name.
    pub fn parse(s: &str) -> Option<Schema> {
        Schema::ALL.into_iter().find(|x| x.name() == s)
    }
}

/// What to export.
#[derive(Clone, Debug, Default)]
pub struct ExportConfig {
    /// DBN outputs, each with its schema.
    pub dbn: Vec<(PathBuf, Schema)>,
    /// Snapshot interval in exchange time, ns (with `snapshot_csv` / `snapshot_parquet`).
    pub snapshot_every_ns: u64,
    /// Levels per side in a snapshot.
    pub snapshot_depth: usize,
    /// Snapshots as CSV.
    pub snapshot_csv: Option<PathBuf>,
    /// Snapshots as Parquet.
    pub snapshot_parquet: Option<PathBuf>,
    /// The trade tape as CSV.
    pub trades_csv: Option<PathBuf>,
    /// The trade tape as Parquet.
    pub trades_parquet: Option<PathBuf>,
    /// The BBO CSV of the engine (the same rows as `--bbo-csv`) with `ts` as epoch ns for
    /// every protocol.
    pub bbo_csv_epoch: Option<PathBuf>,
    /// The ITCH session date (`None`: from the capture's times).
    pub session_date: Option<Date>,
}

impl ExportConfig {
    /// Whether anything is exported.
    pub fn is_empty(&self) -> bool {
        self.dbn.is_empty()
            && self.snapshot_csv.is_none()
            && self.snapshot_parquet.is_none()
            && self.trades_csv.is_none()
            && self.trades_parquet.is_none()
            && self.bbo_csv_epoch.is_none()
    }
}

/// `100ms`, `1s`, `5m`, `250us`, `10ns` or a bare number of ns → ns (1 ns to 1 day).
pub fn parse_interval(s: &str) -> Option<u64> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult = match unit {
        "" | "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" | "min" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    };
    let ns = n.checked_mul(mult)?;
    (1..=clock::DAY_NS).contains(&ns).then_some(ns)
}

/// DBN side character.
fn side_char(s: Side) -> u8 {
    match s {
        Side::Bid => b'B',
        Side::Ask => b'A',
        Side::None => b'N',
    }
}

/// The aggressor of a trade update: the engine gives the resting order's side for ITCH
/// executions, `None` when the feed does not say.
fn aggressor(s: Side) -> Side {
    match s {
        Side::Bid => Side::Ask,
        Side::Ask => Side::Bid,
        Side::None => Side::None,
    }
}

fn is_itch(i: InstrumentId) -> bool {
    i < IEX_INSTRUMENT_BASE
}

/// The exporter: a [`Recorder`] writing every output of an [`ExportConfig`].
pub struct Exporter {
    clock: SessionClock,
    books: Books,
    symbols: Option<SymbolDirectory>,
    dbn: Vec<DbnFile>,
    snapshots: Option<table::Snapshots>,
    tape: Option<table::Tape>,
    /// Instruments written to DBN, for the symbology.
    seen: std::collections::BTreeSet<InstrumentId>,
    /// The top of book of an instrument at the start of the open event (TBBO).
    event_open: bool,
    event_bbo: (Option<Level>, Option<Level>),
    saw_itch: bool,
    saw_iex: bool,
    orders: u64,
    scratch: (Vec<Level>, Vec<Level>),
    bbo_csv: Option<table::BboEpochCsv>,
    /// Some output reads the books (MBP, TBBO, snapshots): keep them.
    needs_books: bool,
    /// An MBO output is written.
    mbo: bool,
    /// A TBBO output is written.
    tbbo: bool,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter").field("dbn", &self.dbn).finish()
    }
}

impl Exporter {
    /// Opens every output's working files (the outputs themselves appear at the end).
    pub fn new(cfg: ExportConfig) -> Result<Exporter, PipelineError> {
        let dbn = cfg
            .dbn
            .iter()
            .map(|(p, s)| DbnFile::create(p, *s))
            .collect::<Result<Vec<_>, _>>()?;
        let snapshots = (cfg.snapshot_csv.is_some() || cfg.snapshot_parquet.is_some())
            .then(|| {
                table::Snapshots::new(
                    cfg.snapshot_csv.as_deref(),
                    cfg.snapshot_parquet.as_deref(),
                    cfg.snapshot_every_ns.max(1),
                    cfg.snapshot_depth,
                )
            })
            .transpose()?;
        let tape = (cfg.trades_csv.is_some() || cfg.trades_parquet.is_some())
            .then(|| table::Tape::new(cfg.trades_csv.as_deref(), cfg.trades_parquet.as_deref()))
            .transpose()?;
        let bbo_csv = cfg
            .bbo_csv_epoch
            .as_deref()
            .map(table::BboEpochCsv::new)
            .transpose()?;
        let needs_books = snapshots.is_some()
            || dbn
                .iter()
                .any(|d| matches!(d.schema, Schema::Mbp1 | Schema::Mbp10 | Schema::Tbbo));
        Ok(Exporter {
            mbo: dbn.iter().any(|d| d.schema == Schema::Mbo),
            tbbo: dbn.iter().any(|d| d.schema == Schema::Tbbo),
            needs_books,
            bbo_csv,
            clock: SessionClock::new(cfg.session_date),
            books: Books::default(),
            symbols: None,
            dbn,
            snapshots,
            tape,
            seen: Default::default(),
            event_open: false,
            event_bbo: (None, None),
            saw_itch: false,
            saw_iex: false,
            orders: 0,
            scratch: (Vec::new(), Vec::new()),
        })
    }

    fn symbol(&self, i: InstrumentId) -> String {
        self.symbols
            .as_ref()
            .and_then(|d| d.get(i))
            .map(|s| s.as_str().to_string())
            .unwrap_or_default()
    }

    fn common(
        &mut self,
        instrument: InstrumentId,
        exch_ts: u64,
        recv_ts: u64,
        seq: u64,
        flags: Flags,
    ) -> Common {
        let itch = is_itch(instrument);
        self.clock.see_recv(recv_ts);
        let ts_event = self.clock.epoch(itch, exch_ts);
        let mut f = 0u8;
        if flags.last_in_event() {
            f |= dbn::flags::LAST;
        }
        if flags.stale() {
            f |= dbn::flags::MAYBE_BAD_BOOK;
        }
        let ts_recv = if recv_ts >= MIN_EPOCH_NS {
            recv_ts
        } else {
            f |= dbn::flags::BAD_TS_RECV;
            ts_event
        };
        Common {
            publisher_id: if itch { 2 } else { 38 },
            instrument_id: instrument,
            ts_event,
            ts_recv,
            flags: f,
            sequence: seq as u32,
        }
    }

    fn top_pairs<const N: usize>(&mut self, i: InstrumentId) -> [dbn::BidAskPair; N] {
        let (bids, asks) = &mut self.scratch;
        match self.books.get(i) {
            Some(b) => {
                b.top(Side::Bid, N, bids);
                b.top(Side::Ask, N, asks);
            }
            None => {
                bids.clear();
                asks.clear();
            }
        }
        std::array::from_fn(|k| pair(bids.get(k).copied(), asks.get(k).copied()))
    }

    fn top_of_book(&self, i: InstrumentId) -> (Option<Level>, Option<Level>) {
        self.books.get(i).map_or((None, None), |b| {
            (b.level(Side::Bid, 0), b.level(Side::Ask, 0))
        })
    }
}

impl Exporter {
    /// A trade update: the tape, and the DBN records that carry trades.
    fn trade(&mut self, u: &BookUpdate, c: &Common) {
        let i = u.instrument;
        let side = aggressor(u.side);
        if self.tape.is_some() {
            let sym = self.symbol(i);
            if let Some(t) = self.tape.as_mut() {
                t.trade(c, &sym, u, side);
            }
        }
        if u.flags.non_printable() || self.dbn.is_empty() {
            return;
        }
        self.seen.insert(i);
        let (px, size, sc) = (dbn_price(u.price), clamp32(u.shares), side_char(side));
        let has = |s: Schema| self.dbn.iter().any(|d| d.schema == s);
        let (want1, want10) = (has(Schema::Mbp1), has(Schema::Mbp10));
        let none = pair(None, None);
        let l1 = if want1 {
            self.top_pairs::<1>(i)
        } else {
            [none]
        };
        let l10 = if want10 {
            self.top_pairs::<10>(i)
        } else {
            [none; 10]
        };
        let before = pair(self.event_bbo.0, self.event_bbo.1);
        for d in self.dbn.iter_mut() {
            match d.schema {
                Schema::Trades => d.trade(c, px, size, sc),
                Schema::Tbbo => d.mbp1(c, px, size, b'T', sc, 0, before),
                Schema::Mbp1 => d.mbp1(c, px, size, b'T', sc, 0, l1[0]),
                Schema::Mbp10 => d.mbp10(c, px, size, b'T', sc, 0, l10),
                Schema::Mbo => {}
            }
        }
    }
}

impl Recorder for Exporter {
    fn start(&mut self, symbols: &SymbolDirectory) {
        self.symbols = Some(symbols.clone());
    }

    fn order(&mut self, e: &OrderEvent) {
        if e.action == OrderAction::Clear {
            self.books.clear();
        }
        if e.instrument != OrderEvent::ALL_INSTRUMENTS {
            self.orders += 1;
        }
        if !self.mbo {
            return;
        }
        if e.action == OrderAction::Trade && e.flags.non_printable() {
            return;
        }
        let action = match e.action {
            OrderAction::Add => b'A',
            OrderAction::Cancel => b'C',
            OrderAction::Modify => b'M',
            OrderAction::Fill => b'F',
            OrderAction::Trade => b'T',
            OrderAction::Clear => b'R',
        };
        if e.action == OrderAction::Clear {
            let ids: Vec<_> = self.seen.iter().copied().filter(|&i| is_itch(i)).collect();
            let n = ids.len();
            for (k, i) in ids.into_iter().enumerate() {
                let last = if k + 1 == n {
                    Flags::LAST_IN_EVENT
                } else {
                    Flags::EMPTY
                };
                let c = self.common(i, 0, e.recv_ts, e.seq, last);
                let c = Common {
                    ts_event: c.ts_recv,
                    ..c
                };
                for d in self.dbn.iter_mut().filter(|d| d.schema == Schema::Mbo) {
                    d.mbo(&c, 0, dbn::UNDEF_PRICE, 0, b'R', b'N');
                }
            }
            return;
        }
        self.seen.insert(e.instrument);
        let c = self.common(e.instrument, e.exch_ts, e.recv_ts, e.seq, e.flags);
        let (px, n) = (dbn_price(e.price), clamp32(e.shares));
        for d in self.dbn.iter_mut().filter(|d| d.schema == Schema::Mbo) {
            d.mbo(&c, e.order_id, px, n, action, side_char(e.side));
        }
    }

    fn update(&mut self, u: &BookUpdate) {
        let i = u.instrument;
        if is_itch(i) {
            self.saw_itch = true;
        } else if i != fh_feed::engine::IEX_SYSTEM_INSTRUMENT {
            self.saw_iex = true;
        }
        if !self.needs_books {
            // Only trades are written (tape, trades, MBP trade records need the books).
            self.clock.see_recv(u.recv_ts);
            if u.kind == UpdateKind::Trade {
                let c = self.common(i, u.exch_ts, u.recv_ts, u.seq, u.flags);
                self.trade(u, &c);
            }
            return;
        }
        let c = self.common(i, u.exch_ts, u.recv_ts, u.seq, u.flags);
        if let Some(s) = self.snapshots.as_mut() {
            let sym = &self.symbols;
            s.before(c.ts_event, &self.books, |i| {
                sym.as_ref()
                    .and_then(|d| d.get(i))
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default()
            });
        }
        if !self.event_open {
            if self.tbbo {
                self.event_bbo = self.top_of_book(i);
            }
            self.event_open = true;
        }
        if u.flags.last_in_event() {
            self.event_open = false;
        }
        match u.kind {
            UpdateKind::AddLevel | UpdateKind::ChangeLevel | UpdateKind::DeleteLevel => {
                let Some(a) = self.books.apply(u) else { return };
                if self
                    .dbn
                    .iter()
                    .all(|d| !matches!(d.schema, Schema::Mbp1 | Schema::Mbp10))
                {
                    return;
                }
                self.seen.insert(i);
                let action = if u.shares >= a.before { b'A' } else { b'C' };
                let size = clamp32(u.shares.abs_diff(a.before));
                let (px, side) = (dbn_price(u.price), side_char(u.side));
                let depth = a.depth.min(255) as u8;
                if self.dbn.iter().any(|d| d.schema == Schema::Mbp1) {
                    let l = self.top_pairs::<1>(i);
                    for d in self.dbn.iter_mut().filter(|d| d.schema == Schema::Mbp1) {
                        d.mbp1(&c, px, size, action, side, depth, l[0]);
                    }
                }
                if self.dbn.iter().any(|d| d.schema == Schema::Mbp10) {
                    let l = self.top_pairs::<10>(i);
                    for d in self.dbn.iter_mut().filter(|d| d.schema == Schema::Mbp10) {
                        d.mbp10(&c, px, size, action, side, depth, l);
                    }
                }
            }
            UpdateKind::Trade => self.trade(u, &c),
            _ => {}
        }
    }

    fn bbo(
        &mut self,
        exch_ts: u64,
        instrument: InstrumentId,
        symbol: &[u8; 8],
        bbo: &fh_feed::engine::levels::Bbo,
    ) {
        if let Some(w) = self.bbo_csv.as_mut() {
            w.row(self.clock.epoch(is_itch(instrument), exch_ts), symbol, bbo);
        }
    }

    fn finish(&mut self, _interrupted: bool) -> Result<Vec<OutputReport>, PipelineError> {
        let mut out = Vec::new();
        if self.saw_iex && !self.saw_itch && self.orders == 0 {
            if let Some(d) = self.dbn.iter_mut().find(|d| d.schema == Schema::Mbo) {
                d.discard();
                return Err(PipelineError::new(format!(
                    "{}: --schema mbo: this capture has no order-level events (IEX DEEP gives price levels); use mbp-10",
                    d.path().display()
                )));
            }
        }
        if self.saw_itch && self.clock.date().is_none() {
            for d in &mut self.dbn {
                d.discard();
            }
            return Err(PipelineError::new(
                "the exports' epoch times need the ITCH session date, and this stream has no capture times: give --session-date YYYY-MM-DD",
            ));
        }
        let symbols: Vec<(String, u32)> = self
            .seen
            .iter()
            .map(|&i| (self.symbol(i), i))
            .filter(|(s, _)| !s.is_empty())
            .collect();
        let itch = self.saw_itch || !self.saw_iex;
        let (dataset, date) = if itch {
            ("XNAS.ITCH", self.clock.date())
        } else {
            ("IEXG.DEEP", None)
        };
        for d in &mut self.dbn {
            out.push(d.finish(dataset, &symbols, date)?);
        }
        if let Some(s) = self.snapshots.as_mut() {
            out.extend(s.finish()?);
        }
        if let Some(t) = self.tape.as_mut() {
            out.extend(t.finish()?);
        }
        if let Some(b) = self.bbo_csv.take() {
            out.push(b.finish()?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_and_schemas() {
        assert_eq!(parse_interval("100ms"), Some(100_000_000));
        assert_eq!(parse_interval("1s"), Some(1_000_000_000));
        assert_eq!(parse_interval("250us"), Some(250_000));
        assert_eq!(parse_interval("5m"), Some(300_000_000_000));
        assert_eq!(parse_interval("7"), Some(7));
        assert_eq!(parse_interval("0s"), None);
        assert_eq!(parse_interval("2d"), None);
        assert_eq!(parse_interval("25h"), None);
        assert_eq!(parse_interval("ms"), None);
        for s in Schema::ALL {
            assert_eq!(Schema::parse(s.name()), Some(s));
        }
        assert_eq!(Schema::parse("ohlcv-1s"), None);
    }
}
