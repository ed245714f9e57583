//! DBN files through the `dbn` crate: one schema per file, records as the replay runs, the
//! metadata (with the symbology only known at the end) written in front when it is done.
//!
//! Records go to a body file beside the output as they come; at the end the output is
//! written as metadata + body (zstd-compressed when the name ends in `.zst`) to a temporary
//! file and renamed over the target ([`fh_feed::pipeline::output::Output`]).
//!
//! ## Fields
//! | field | from |
//! |---|---|
//! | `hd.ts_event` | exchange time as epoch ns (ITCH: ns since midnight + US Eastern midnight of the session date; IEX: as sent) |
//! | `hd.instrument_id` | fh's instrument id (ITCH stock locate; IEX 65 536 + slot); `metadata.mappings` maps it to the symbol |
//! | `hd.publisher_id` | 2 (`XNAS.ITCH.XNAS`) for ITCH, 38 (`IEXG.TOPS.IEXG`, IEX's venue) for IEX |
//! | `ts_recv` | capture (or kernel receive) time; a bare ITCH file has none: `ts_event` and `F_BAD_TS_RECV` |
//! | `sequence` | the feed sequence number of the message, low 32 bits (DBN's field is `u32`) |
//! | `ts_in_delta`, `channel_id` | 0 |
//! | `price` | 1e-9 units (fh's 4 decimals × 100 000); `UNDEF_PRICE` for an empty level or a clear |
//! | `flags` | `F_LAST` on the last record of a venue event, `F_MAYBE_BAD_BOOK` while a sequence gap is open, `F_BAD_TS_RECV` as above; `F_SNAPSHOT` never (no snapshot is replayed) |
//!
//! Per schema:
//! - `mbo`: ITCH order-level events. `A` add, `C` cancel (`size` the shares that left: `X`, `D`, the
//!   old half of `U`, and the executed shares after a fill), `F` fill of the resting order
//!   (`E`, `C`; then its `C`), `T` the aggressor side of an execution (`side` opposite the
//!   resting order's) and `P`/`Q` prints (`side` `N`), `R` clear (one per known instrument
//!   when a session change empties the books). `U` is `C` + `A` (ITCH gives the order a new
//!   reference); `M` is never written. Non-printable executions (`C` with printable `N`)
//!   write no `T`. IEX DEEP is aggregated by price: no MBO (refused).
//! - `mbp-1`, `mbp-10`: one record per level change (`A` when the level's shares grew, `C`
//!   when they shrank; `size` the difference, `depth` the level's index from the best, before
//!   a deletion) and per printable trade (`T`), with the book after the change.
//! - `tbbo`: one record per printable trade, with the top of book as it was before the event
//!   that printed it.
//! - `trades`: one record per printable trade. Trade `side` is the aggressor's: the side
//!   opposite the resting order for ITCH executions, `N` when the feed does not say (ITCH
//!   `P`/`Q`, IEX).

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use dbn::encode::{DbnMetadataEncoder, DbnRecordEncoder, EncodeRecord};
use dbn::{
    rtype, BidAskPair, FlagSet, MappingInterval, MboMsg, Mbp10Msg, Mbp1Msg, Metadata, RecordHeader,
    SType, Schema as DbnSchema, SymbolMapping, TradeMsg, UNDEF_PRICE,
};
use fh_feed::pipeline::output::{temp_path, Output};
use fh_feed::pipeline::report::OutputReport;
use fh_feed::pipeline::PipelineError;

use crate::Schema;

/// fh price (4 decimals) → DBN price (9 decimals).
#[inline]
pub fn dbn_price(p: i64) -> i64 {
    p.saturating_mul(100_000)
}

/// A level pair as DBN writes it (absent sides: `UNDEF_PRICE`, 0, 0).
pub fn pair(bid: Option<crate::book::Level>, ask: Option<crate::book::Level>) -> BidAskPair {
    let mut p = BidAskPair {
        bid_px: UNDEF_PRICE,
        ask_px: UNDEF_PRICE,
        ..BidAskPair::default()
    };
    if let Some(b) = bid {
        (p.bid_px, p.bid_sz, p.bid_ct) = (dbn_price(b.price), clamp32(b.shares), b.orders);
    }
    if let Some(a) = ask {
        (p.ask_px, p.ask_sz, p.ask_ct) = (dbn_price(a.price), clamp32(a.shares), a.orders);
    }
    p
}

/// A size as DBN's `u32` (saturating).
#[inline]
pub fn clamp32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The fields every record shares.
#[derive(Clone, Copy, Debug)]
pub struct Common {
    /// Record header (rtype set per record).
    pub publisher_id: u16,
    /// Instrument id.
    pub instrument_id: u32,
    /// Epoch ns.
    pub ts_event: u64,
    /// Epoch ns.
    pub ts_recv: u64,
    /// DBN flags.
    pub flags: u8,
    /// Sequence (low 32 bits).
    pub sequence: u32,
}

impl Common {
    fn hd<R: dbn::HasRType>(&self, rt: u8) -> RecordHeader {
        RecordHeader::new::<R>(rt, self.publisher_id, self.instrument_id, self.ts_event)
    }
}

/// One DBN output being written.
pub struct DbnFile {
    /// The schema.
    pub schema: Schema,
    path: PathBuf,
    body_path: PathBuf,
    body: Option<BufWriter<File>>,
    /// Records written.
    pub records: u64,
    first_ts: Option<u64>,
    last_ts: u64,
    error: Option<String>,
}

impl std::fmt::Debug for DbnFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbnFile")
            .field("schema", &self.schema)
            .field("path", &self.path)
            .field("records", &self.records)
            .finish()
    }
}

impl DbnFile {
    /// Starts the body file of `path` (`.fh-tmp-PID.body.NAME` beside it).
    pub fn create(path: &Path, schema: Schema) -> Result<DbnFile, PipelineError> {
        let tmp = temp_path(path);
        let name = tmp.file_name().map(|n| n.to_string_lossy().into_owned());
        let body_path = tmp.with_file_name(format!("{}.body", name.unwrap_or_default()));
        let f = File::create(&body_path)
            .map_err(|e| PipelineError::new(format!("{}: {e}", path.display())))?;
        Ok(DbnFile {
            schema,
            path: path.to_path_buf(),
            body_path,
            body: Some(BufWriter::with_capacity(1 << 20, f)),
            records: 0,
            first_ts: None,
            last_ts: 0,
            error: None,
        })
    }

    fn put<R: dbn::encode::DbnEncodable>(&mut self, ts_event: u64, r: &R) {
        let Some(w) = self.body.as_mut() else { return };
        if self.error.is_some() {
            return;
        }
        if let Err(e) = DbnRecordEncoder::new(w).encode_record(r) {
            self.error = Some(e.to_string());
            return;
        }
        self.first_ts.get_or_insert(ts_event);
        self.last_ts = self.last_ts.max(ts_event);
        self.records += 1;
    }

    /// An MBO record.
    #[allow(clippy::too_many_arguments)]
    pub fn mbo(&mut self, c: &Common, order_id: u64, price: i64, size: u32, action: u8, side: u8) {
        let r = MboMsg {
            hd: c.hd::<MboMsg>(rtype::MBO),
            order_id,
            price,
            size,
            flags: FlagSet::new(c.flags),
            channel_id: 0,
            action: action as _,
            side: side as _,
            ts_recv: c.ts_recv,
            ts_in_delta: 0,
            sequence: c.sequence,
        };
        self.put(c.ts_event, &r);
    }

    /// An MBP-1 (or TBBO) record.
    #[allow(clippy::too_many_arguments)]
    pub fn mbp1(
        &mut self,
        c: &Common,
        price: i64,
        size: u32,
        action: u8,
        side: u8,
        depth: u8,
        l: BidAskPair,
    ) {
        let r = Mbp1Msg {
            hd: c.hd::<Mbp1Msg>(rtype::MBP_1),
            price,
            size,
            action: action as _,
            side: side as _,
            flags: FlagSet::new(c.flags),
            depth,
            ts_recv: c.ts_recv,
            ts_in_delta: 0,
            sequence: c.sequence,
            levels: [l],
        };
        self.put(c.ts_event, &r);
    }

    /// An MBP-10 record.
    #[allow(clippy::too_many_arguments)]
    pub fn mbp10(
        &mut self,
        c: &Common,
        price: i64,
        size: u32,
        action: u8,
        side: u8,
        depth: u8,
        l: [BidAskPair; 10],
    ) {
        let r = Mbp10Msg {
            hd: c.hd::<Mbp10Msg>(rtype::MBP_10),
            price,
            size,
            action: action as _,
            side: side as _,
            flags: FlagSet::new(c.flags),
            depth,
            ts_recv: c.ts_recv,
            ts_in_delta: 0,
            sequence: c.sequence,
            levels: l,
        };
        self.put(c.ts_event, &r);
    }

    /// A trade record.
    pub fn trade(&mut self, c: &Common, price: i64, size: u32, side: u8) {
        let r = TradeMsg {
            hd: c.hd::<TradeMsg>(rtype::MBP_0),
            price,
            size,
            action: b'T' as _,
            side: side as _,
            flags: FlagSet::new(c.flags),
            depth: 0,
            ts_recv: c.ts_recv,
            ts_in_delta: 0,
            sequence: c.sequence,
        };
        self.put(c.ts_event, &r);
    }

    /// The output's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Drops the body: nothing is written.
    pub fn discard(&mut self) {
        self.body = None;
        let _ = std::fs::remove_file(&self.body_path);
    }

    /// Writes metadata + body to the output and renames it into place; removes the body.
    pub fn finish(
        &mut self,
        dataset: &str,
        symbols: &[(String, u32)],
        date: Option<crate::clock::Date>,
    ) -> Result<OutputReport, PipelineError> {
        let res = self.finish_inner(dataset, symbols, date);
        let _ = std::fs::remove_file(&self.body_path);
        res
    }

    fn finish_inner(
        &mut self,
        dataset: &str,
        symbols: &[(String, u32)],
        date: Option<crate::clock::Date>,
    ) -> Result<OutputReport, PipelineError> {
        let name = self.path.display().to_string();
        let io = |e: &dyn std::fmt::Display| PipelineError::new(format!("{name}: {e}"));
        let Some(mut bw) = self.body.take() else {
            return Err(io(&"finished twice"));
        };
        bw.flush().map_err(|e| io(&e))?;
        drop(bw);
        if let Some(e) = &self.error {
            return Err(io(e));
        }
        let start = self.first_ts.unwrap_or(0);
        let day = date.unwrap_or_else(|| {
            crate::clock::Date::from_days((start / crate::clock::DAY_NS) as i64)
        });
        let tdate = |d: crate::clock::Date| {
            time::Date::from_calendar_date(
                d.year,
                time::Month::try_from(d.month).unwrap_or(time::Month::January),
                d.day,
            )
            .map_err(|e| io(&e))
        };
        let (d0, d1) = (
            tdate(day)?,
            tdate(crate::clock::Date::from_days(day.days() + 1))?,
        );
        let mut names: Vec<String> = symbols.iter().map(|(s, _)| s.clone()).collect();
        names.sort_unstable();
        names.dedup();
        let mappings = symbols
            .iter()
            .map(|(s, id)| SymbolMapping {
                raw_symbol: s.clone(),
                intervals: vec![MappingInterval {
                    start_date: d0,
                    end_date: d1,
                    symbol: id.to_string(),
                }],
            })
            .collect();
        let metadata: Metadata = Metadata::builder()
            .dataset(dataset)
            .schema(Some(self.schema.dbn()))
            .start(start)
            .end(std::num::NonZeroU64::new(self.last_ts.saturating_add(1)))
            .stype_in(Some(SType::RawSymbol))
            .stype_out(SType::InstrumentId)
            .symbols(names)
            .mappings(mappings)
            .build();
        let mut out = Output::create(&self.path)?;
        let file = out.writer();
        let zst = self.path.extension().is_some_and(|e| e == "zst");
        let body = File::open(&self.body_path).map_err(|e| io(&e))?;
        let mut body = BufReader::with_capacity(1 << 20, body);
        if zst {
            let mut z = zstd::stream::Encoder::new(file, 3).map_err(|e| io(&e))?;
            DbnMetadataEncoder::new(&mut z)
                .encode(&metadata)
                .map_err(|e| io(&e))?;
            std::io::copy(&mut body, &mut z).map_err(|e| io(&e))?;
            let mut f = z.finish().map_err(|e| io(&e))?;
            f.flush().map_err(|e| io(&e))?;
        } else {
            let mut f = file;
            DbnMetadataEncoder::new(&mut f)
                .encode(&metadata)
                .map_err(|e| io(&e))?;
            std::io::copy(&mut body, &mut f).map_err(|e| io(&e))?;
            f.flush().map_err(|e| io(&e))?;
        }
        out.commit()?;
        Ok(OutputReport {
            path: name,
            rows: self.records,
        })
    }
}

impl Drop for DbnFile {
    /// The body file never outlives the output (written, failed or dropped).
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.body_path);
    }
}

impl Schema {
    /// The DBN schema.
    pub fn dbn(self) -> DbnSchema {
        match self {
            Schema::Mbo => DbnSchema::Mbo,
            Schema::Mbp1 => DbnSchema::Mbp1,
            Schema::Mbp10 => DbnSchema::Mbp10,
            Schema::Tbbo => DbnSchema::Tbbo,
            Schema::Trades => DbnSchema::Trades,
        }
    }
}
