//! Book snapshots at fixed intervals of exchange time and the trade tape, as CSV and Parquet
//! (the same rows and values in both; CSV adds a human-readable UTC time column).
//!
//! ## Snapshots (`--snapshot-every D --depth N`)
//! At every multiple `t` of `D` (ns since the epoch) after the first event and up to the
//! last, one row per instrument whose book holds a level: the book after every event with
//! `ts_event ≤ t`. Columns:
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `ts_ns` | int64 | `t`, ns since the Unix epoch (exchange time) |
//! | `ts_utc` | text, CSV only | `t` as `2019-01-30T14:30:00.100000000Z` |
//! | `symbol` | text | the instrument's symbol |
//! | `instrument_id` | int64 | fh's instrument id (ITCH stock locate; IEX 65 536 + slot) |
//! | `bid_px_00` … | decimal(18,4), null if absent | price of the k-th best bid (00 = best), in dollars |
//! | `bid_sz_00` … | int64, null if absent | shares at that level |
//! | `bid_ct_00` … | int64, null if absent | orders at that level (0: the feed does not say, IEX DEEP) |
//! | `ask_px_00` … | as for bids | the k-th best ask |
//!
//! ## Trade tape
//! One row per trade print, in feed order:
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `ts_ns` | int64 | exchange time, ns since the Unix epoch |
//! | `ts_utc` | text, CSV only | the same as UTC text |
//! | `ts_recv_ns` | int64 | capture / receive time, ns since the epoch (`ts_ns` for a bare ITCH file, which has none) |
//! | `symbol`, `instrument_id` | text, int64 | as above |
//! | `price` | decimal(18,4) | trade price, dollars |
//! | `size` | int64 | shares |
//! | `side` | text | aggressor: `B` buy, `A` sell, `N` not known (ITCH `P`/`Q`, IEX) |
//! | `printable` | bool | false for ITCH `C` executions marked non-printable (not in volume) |
//! | `cross` | bool | an auction cross (ITCH `Q`) |
//! | `sequence` | int64 | feed sequence number of the message |
//!
//! Parquet files are written with the `parquet` crate's column writers (no Arrow), in row
//! groups of [`ROW_GROUP`] rows, Snappy-compressed; decimals are `INT64` with the
//! `DECIMAL(18,4)` logical type, exactly fh's fixed-point integers.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fh_decoders::price::Fixed;
use fh_feed::pipeline::output::Output;
use fh_feed::pipeline::report::OutputReport;
use fh_feed::pipeline::PipelineError;
use fh_feed::update::{BookUpdate, InstrumentId, Side};
use parquet::basic::Compression;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

use crate::book::{Books, Level};
use crate::clock::utc;
use crate::dbn_out::Common;

/// Rows per Parquet row group.
pub const ROW_GROUP: usize = 64 * 1024;

/// A column's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Int,
    Decimal,
    Text,
    Bool,
}

/// A value.
#[derive(Clone, Debug)]
enum Val {
    Int(i64),
    Text(String),
    Bool(bool),
    Null,
}

/// One column of a row group being filled.
#[derive(Debug)]
struct Col {
    name: String,
    kind: Kind,
    nullable: bool,
    ints: Vec<i64>,
    texts: Vec<ByteArray>,
    bools: Vec<bool>,
    defs: Vec<i16>,
}

/// A table written to CSV and/or Parquet at once.
struct Table {
    cols: Vec<Col>,
    csv: Option<(Output, BufWriter<File>)>,
    parquet: Option<(Output, SerializedFileWriter<BufWriter<File>>)>,
    line: String,
    rows: u64,
    pending: usize,
    error: Option<String>,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table").field("rows", &self.rows).finish()
    }
}

fn perr(path: &Path, e: impl std::fmt::Display) -> PipelineError {
    PipelineError::new(format!("{}: {e}", path.display()))
}

impl Table {
    /// `cols`: name, kind, nullable. `ts_utc` after the first column in CSV only.
    fn new(
        cols: &[(String, Kind, bool)],
        csv: Option<&Path>,
        parquet: Option<&Path>,
    ) -> Result<Table, PipelineError> {
        let csv = match csv {
            Some(p) => {
                let mut o = Output::create(p)?;
                let mut w = o.writer();
                let mut head = String::new();
                for (k, (name, _, _)) in cols.iter().enumerate() {
                    if k > 0 {
                        head.push(',');
                    }
                    head.push_str(name);
                    if k == 0 {
                        head.push_str(",ts_utc");
                    }
                }
                head.push('\n');
                w.write_all(head.as_bytes()).map_err(|e| o.error(e))?;
                Some((o, w))
            }
            None => None,
        };
        let parquet = match parquet {
            Some(p) => {
                let mut o = Output::create(p)?;
                let mut schema = String::from("message fh {\n");
                for (name, kind, nullable) in cols {
                    let rep = if *nullable { "OPTIONAL" } else { "REQUIRED" };
                    let (ty, logical) = match kind {
                        Kind::Int => ("INT64", ""),
                        Kind::Decimal => ("INT64", " (DECIMAL(18,4))"),
                        Kind::Text => ("BYTE_ARRAY", " (UTF8)"),
                        Kind::Bool => ("BOOLEAN", ""),
                    };
                    let _ = writeln!(schema, "  {rep} {ty} {name}{logical};");
                }
                schema.push('}');
                let t =
                    parquet::schema::parser::parse_message_type(&schema).map_err(|e| perr(p, e))?;
                let props = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .build();
                let w = SerializedFileWriter::new(o.writer(), Arc::new(t), Arc::new(props))
                    .map_err(|e| perr(p, e))?;
                Some((o, w))
            }
            None => None,
        };
        Ok(Table {
            cols: cols
                .iter()
                .map(|(name, kind, nullable)| Col {
                    name: name.clone(),
                    kind: *kind,
                    nullable: *nullable,
                    ints: Vec::new(),
                    texts: Vec::new(),
                    bools: Vec::new(),
                    defs: Vec::new(),
                })
                .collect(),
            csv,
            parquet,
            line: String::new(),
            rows: 0,
            pending: 0,
            error: None,
        })
    }

    /// One row; `ts` (the first column's value) also gives the CSV's `ts_utc`.
    fn row(&mut self, ts: u64, vals: &[Val]) {
        if self.error.is_some() {
            return;
        }
        self.rows += 1;
        if let Some((_, w)) = self.csv.as_mut() {
            let l = &mut self.line;
            l.clear();
            for (k, (v, c)) in vals.iter().zip(&self.cols).enumerate() {
                if k > 0 {
                    l.push(',');
                }
                match (v, c.kind) {
                    (Val::Int(x), Kind::Decimal) => {
                        let _ = write!(l, "{}", Fixed::<4>(*x));
                    }
                    (Val::Int(x), _) => {
                        let _ = write!(l, "{x}");
                    }
                    (Val::Text(s), _) => l.push_str(s),
                    (Val::Bool(b), _) => l.push_str(if *b { "true" } else { "false" }),
                    (Val::Null, _) => {}
                }
                if k == 0 {
                    l.push(',');
                    utc(l, ts);
                }
            }
            l.push('\n');
            if let Err(e) = w.write_all(l.as_bytes()) {
                self.error = Some(e.to_string());
            }
        }
        if self.parquet.is_some() {
            for (v, c) in vals.iter().zip(self.cols.iter_mut()) {
                match v {
                    Val::Int(x) => c.ints.push(*x),
                    Val::Text(s) => c.texts.push(ByteArray::from(s.as_str())),
                    Val::Bool(b) => c.bools.push(*b),
                    Val::Null => {}
                }
                if c.nullable {
                    c.defs.push(i16::from(!matches!(v, Val::Null)));
                }
            }
            self.pending += 1;
            if self.pending >= ROW_GROUP {
                if let Err(e) = self.flush_group() {
                    self.error = Some(e);
                }
            }
        }
    }

    fn flush_group(&mut self) -> Result<(), String> {
        let Some((_, w)) = self.parquet.as_mut() else {
            return Ok(());
        };
        if self.pending == 0 {
            return Ok(());
        }
        let mut rg = w.next_row_group().map_err(|e| e.to_string())?;
        for c in &mut self.cols {
            let Some(mut cw) = rg.next_column().map_err(|e| e.to_string())? else {
                return Err("parquet: fewer columns than the schema".into());
            };
            let defs = c.nullable.then_some(&c.defs[..]);
            let r = match c.kind {
                Kind::Int | Kind::Decimal => {
                    cw.typed::<Int64Type>().write_batch(&c.ints, defs, None)
                }
                Kind::Text => cw
                    .typed::<ByteArrayType>()
                    .write_batch(&c.texts, defs, None),
                Kind::Bool => cw.typed::<BoolType>().write_batch(&c.bools, defs, None),
            };
            r.map_err(|e| format!("{}: {e}", c.name))?;
            cw.close().map_err(|e| e.to_string())?;
            c.ints.clear();
            c.texts.clear();
            c.bools.clear();
            c.defs.clear();
        }
        rg.close().map_err(|e| e.to_string())?;
        self.pending = 0;
        Ok(())
    }

    fn finish(&mut self) -> Result<Vec<OutputReport>, PipelineError> {
        let mut out = Vec::new();
        let flushed = self.flush_group();
        if let Some((o, mut w)) = self.csv.take() {
            if let Some(e) = &self.error {
                return Err(perr(o.path(), e));
            }
            w.flush().map_err(|e| o.error(e))?;
            drop(w);
            out.push(OutputReport {
                path: o.path().display().to_string(),
                rows: self.rows,
            });
            o.commit()?;
        }
        if let Some((o, w)) = self.parquet.take() {
            let p: PathBuf = o.path().to_path_buf();
            flushed.map_err(|e| perr(&p, e))?;
            if let Some(e) = &self.error {
                return Err(perr(&p, e));
            }
            let mut inner = w.into_inner().map_err(|e| perr(&p, e))?;
            inner.flush().map_err(|e| o.error(e))?;
            drop(inner);
            out.push(OutputReport {
                path: p.display().to_string(),
                rows: self.rows,
            });
            o.commit()?;
        }
        Ok(out)
    }
}

/// Book snapshots at fixed intervals (see the module docs).
#[derive(Debug)]
pub struct Snapshots {
    table: Table,
    every: u64,
    depth: usize,
    next: Option<u64>,
    bids: Vec<Level>,
    asks: Vec<Level>,
    vals: Vec<Val>,
}

/// Column names of a snapshot of `depth` levels.
pub fn snapshot_columns(depth: usize) -> Vec<String> {
    let mut v = vec!["ts_ns".to_string(), "symbol".into(), "instrument_id".into()];
    for k in 0..depth {
        for s in ["bid", "ask"] {
            for f in ["px", "sz", "ct"] {
                v.push(format!("{s}_{f}_{k:02}"));
            }
        }
    }
    v
}

impl Snapshots {
    /// Snapshots every `every` ns of `depth` levels a side.
    pub fn new(
        csv: Option<&Path>,
        parquet: Option<&Path>,
        every: u64,
        depth: usize,
    ) -> Result<Snapshots, PipelineError> {
        let cols: Vec<(String, Kind, bool)> = snapshot_columns(depth)
            .into_iter()
            .enumerate()
            .map(|(k, n)| {
                let kind = match k {
                    0 | 2 => Kind::Int,
                    1 => Kind::Text,
                    _ if n.contains("_px_") => Kind::Decimal,
                    _ => Kind::Int,
                };
                (n, kind, k > 2)
            })
            .collect();
        Ok(Snapshots {
            table: Table::new(&cols, csv, parquet)?,
            every,
            depth,
            next: None,
            bids: Vec::new(),
            asks: Vec::new(),
            vals: Vec::new(),
        })
    }

    /// An event at `ts` (epoch ns) is about to change `books`: writes every snapshot due
    /// before it.
    pub fn before(&mut self, ts: u64, books: &Books, symbol: impl Fn(InstrumentId) -> String) {
        let next = *self.next.get_or_insert((ts / self.every + 1) * self.every);
        let mut t = next;
        while ts > t {
            for i in books.non_empty() {
                let Some(b) = books.get(i) else { continue };
                b.top(Side::Bid, self.depth, &mut self.bids);
                b.top(Side::Ask, self.depth, &mut self.asks);
                self.vals.clear();
                self.vals.push(Val::Int(t as i64));
                self.vals.push(Val::Text(symbol(i)));
                self.vals.push(Val::Int(i64::from(i)));
                for k in 0..self.depth {
                    for l in [self.bids.get(k), self.asks.get(k)] {
                        match l {
                            Some(l) => {
                                self.vals.push(Val::Int(l.price));
                                self.vals.push(Val::Int(l.shares as i64));
                                self.vals.push(Val::Int(i64::from(l.orders)));
                            }
                            None => self.vals.extend([Val::Null, Val::Null, Val::Null]),
                        }
                    }
                }
                self.table.row(t, &self.vals);
            }
            t += self.every;
        }
        self.next = Some(t);
    }

    /// Completes the files.
    pub fn finish(&mut self) -> Result<Vec<OutputReport>, PipelineError> {
        self.table.finish()
    }
}

/// Column names of the trade tape.
pub const TRADE_COLUMNS: [&str; 10] = [
    "ts_ns",
    "ts_recv_ns",
    "symbol",
    "instrument_id",
    "price",
    "size",
    "side",
    "printable",
    "cross",
    "sequence",
];

/// The trade tape (see the module docs).
#[derive(Debug)]
pub struct Tape {
    table: Table,
    vals: Vec<Val>,
}

impl Tape {
    /// A tape to CSV and/or Parquet.
    pub fn new(csv: Option<&Path>, parquet: Option<&Path>) -> Result<Tape, PipelineError> {
        let kinds = [
            Kind::Int,
            Kind::Int,
            Kind::Text,
            Kind::Int,
            Kind::Decimal,
            Kind::Int,
            Kind::Text,
            Kind::Bool,
            Kind::Bool,
            Kind::Int,
        ];
        let cols: Vec<_> = TRADE_COLUMNS
            .iter()
            .zip(kinds)
            .map(|(n, k)| (n.to_string(), k, false))
            .collect();
        Ok(Tape {
            table: Table::new(&cols, csv, parquet)?,
            vals: Vec::new(),
        })
    }

    /// One trade (`side`: the aggressor's).
    pub fn trade(&mut self, c: &Common, symbol: &str, u: &BookUpdate, side: Side) {
        let side = match side {
            Side::Bid => "B",
            Side::Ask => "A",
            Side::None => "N",
        };
        self.vals.clear();
        self.vals.extend([
            Val::Int(c.ts_event as i64),
            Val::Int(c.ts_recv as i64),
            Val::Text(symbol.to_string()),
            Val::Int(i64::from(u.instrument)),
            Val::Int(u.price),
            Val::Int(u.shares as i64),
            Val::Text(side.to_string()),
            Val::Bool(!u.flags.non_printable()),
            Val::Bool(u.flags.cross()),
            Val::Int(u.seq as i64),
        ]);
        self.table.row(c.ts_event, &self.vals);
    }

    /// Completes the files.
    pub fn finish(&mut self) -> Result<Vec<OutputReport>, PipelineError> {
        self.table.finish()
    }
}

/// The engine's BBO CSV (`ts,symbol,bid,bid_size,ask,ask_size`, the rows of `--bbo-csv`) with
/// `ts` as ns since the Unix epoch for every protocol (`--bbo-ts epoch`).
#[derive(Debug)]
pub struct BboEpochCsv {
    out: Output,
    w: fh_feed::pipeline::sink::BboCsv<BufWriter<File>>,
}

impl BboEpochCsv {
    /// Starts the file (its header).
    pub fn new(path: &Path) -> Result<BboEpochCsv, PipelineError> {
        let mut out = Output::create(path)?;
        let w = fh_feed::pipeline::sink::BboCsv::new(out.writer()).map_err(|e| out.error(e))?;
        Ok(BboEpochCsv { out, w })
    }

    /// One change at `ts` (epoch ns).
    pub fn row(&mut self, ts: u64, symbol: &[u8; 8], bbo: &fh_feed::engine::levels::Bbo) {
        self.w.write_row(ts, symbol, bbo);
    }

    /// Completes the file.
    pub fn finish(self) -> Result<OutputReport, PipelineError> {
        let rows = self.w.rows;
        let w = self.w.finish().map_err(|e| self.out.error(e))?;
        drop(w);
        let path = self.out.path().display().to_string();
        self.out.commit()?;
        Ok(OutputReport { path, rows })
    }
}
