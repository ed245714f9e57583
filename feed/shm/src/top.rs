//! The top-of-book table: one 64-byte row per instrument (best bid and offer, and the
//! symbol) in a file of `/dev/shm` that the publisher maps read-write and every reader maps
//! read-only (layout: [`crate::layout::TopRow`], header: [`crate::layout::top_header`]).
//!
//! Each row is written under a sequence lock: the writer makes `version` odd, stores the
//! fields, and makes it even again (`Release`); a reader loads `version` (`Acquire`), copies
//! the fields, and keeps the copy only if `version` was even and is unchanged (an `Acquire`
//! fence before the second load). The writer never waits; a reader retries while a row is
//! being written. Every word is accessed as an `AtomicU64`, so no access is a data race.
//!
//! The file is created under a temporary name, filled in and renamed into place, so a reader
//! never maps a half-made table; the publisher removes it when it ends (mappings stay valid).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, AtomicU64, Ordering};

use crate::layout::{top_header, TopRow, TOP_MAGIC, TOP_ROW};

/// Words per row.
const W: usize = TOP_ROW / 8;

/// A mapping seen as words.
struct Words {
    ptr: *mut AtomicU64,
    len: usize,
    _map: Map,
}

enum Map {
    Rw(memmap2::MmapMut),
    Ro(memmap2::Mmap),
}

// SAFETY: the mapping is owned by `Words` and every access through `ptr` is atomic.
unsafe impl Send for Words {}
// SAFETY: as above: shared access is by atomic loads and stores only.
unsafe impl Sync for Words {}

impl Words {
    fn of(map: Map) -> Words {
        let (ptr, bytes) = match &map {
            Map::Rw(m) => (m.as_ptr() as *mut AtomicU64, m.len()),
            Map::Ro(m) => (m.as_ptr() as *mut AtomicU64, m.len()),
        };
        Words {
            ptr,
            len: bytes / 8,
            _map: map,
        }
    }

    #[inline(always)]
    fn at(&self, i: usize) -> &AtomicU64 {
        assert!(i < self.len, "word {i} outside the table");
        // SAFETY: `i < len` words of the mapping, which is page-aligned (so 8-aligned) and
        // lives as long as `self`; `AtomicU64` has the layout of `u64`, and every access to
        // the shared words (here and in other processes' readers) is atomic.
        unsafe { &*self.ptr.add(i) }
    }
}

impl Words {
    /// Row `r` (the header is row 0) as its words: one bounds check for the row.
    #[inline(always)]
    fn row(&self, r: usize) -> &[AtomicU64; W] {
        assert!((r + 1) * W <= self.len, "row {r} outside the table");
        // SAFETY: words `r * W .. (r + 1) * W` lie in the mapping (checked above), which is
        // page-aligned and lives as long as `self`; `[AtomicU64; W]` has the layout of
        // `W` consecutive `u64`, and every access to the shared words is atomic.
        unsafe { &*self.ptr.add(r * W).cast::<[AtomicU64; W]>() }
    }
}

/// The path of the table of publisher `name`.
pub fn table_path(name: &str) -> PathBuf {
    PathBuf::from(format!("/dev/shm/fh-{name}.top"))
}

/// The publisher's side of the table.
pub struct TopWriter {
    words: Words,
    rows: usize,
    path: PathBuf,
}

impl core::fmt::Debug for TopWriter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TopWriter")
            .field("path", &self.path)
            .field("rows", &self.rows)
            .finish()
    }
}

impl TopWriter {
    /// Creates the table at `path` (replacing any old one) with `rows` rows, all empty.
    pub fn create(path: &Path, rows: usize, run: u64) -> std::io::Result<TopWriter> {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        let made = (|| {
            file.set_len(((rows + 1) * TOP_ROW) as u64)?;
            // SAFETY: the file was just created by this process under a private name; nothing
            // else maps or truncates it while it is mapped here.
            let map = unsafe { memmap2::MmapMut::map_mut(&file)? };
            let words = Words::of(Map::Rw(map));
            words
                .at(0)
                .store(u64::from_le_bytes(TOP_MAGIC), Ordering::Relaxed);
            words
                .at(top_header::ROWS / 8)
                .store(rows as u64, Ordering::Relaxed);
            words.at(top_header::RUN / 8).store(run, Ordering::Relaxed);
            let pid = u64::from(std::process::id());
            words.at(top_header::PID / 8).store(pid, Ordering::Relaxed);
            let state = top_header::STATE / 8;
            words
                .at(state)
                .store(top_header::RUNNING, Ordering::Release);
            std::fs::rename(&tmp, path)?;
            Ok(TopWriter {
                words,
                rows,
                path: path.to_path_buf(),
            })
        })();
        if made.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        made
    }

    /// Rows in the table.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The table's rows (instrument 0's first), lent to the engine's sink: words 0 to 6 of each
    /// row are written there, under the same sequence lock as [`TopWriter::set_bbo`]'s.
    pub fn lend_rows(&self) -> fh_feed::pipeline::tap::TopRows {
        let rows = self.words.ptr.wrapping_add(W).cast::<[AtomicU64; W]>();
        // SAFETY: the mapping holds `rows + 1` rows of `W` = 8 words after the header row,
        // page-aligned; it stays mapped as long as this writer, which the publisher that lends
        // the rows owns; every access is atomic; the sink writes only bid, ask, seq and time
        // (words 0 to 6), which nothing else writes while the rows are lent (the publisher's
        // `set_bbo` only for ids outside them: none).
        unsafe { fh_feed::pipeline::tap::TopRows::new(rows, self.rows) }
    }

    /// Writes the best bid and offer of `id`; false if `id` is outside the table.
    #[inline]
    pub fn set_bbo(&self, id: u32, bbo: [u64; 6]) -> bool {
        let id = id as usize;
        if id >= self.rows {
            return false;
        }
        let row = self.words.row(id + 1);
        let v = row[0].load(Ordering::Relaxed);
        row[0].store(v + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        for (w, x) in row[1..7].iter().zip(bbo) {
            w.store(x, Ordering::Relaxed);
        }
        row[0].store(v + 2, Ordering::Release);
        true
    }

    /// Names `id` (written once; a symbol is one word, so it needs no lock).
    #[inline]
    pub fn set_symbol(&self, id: u32, symbol: [u8; 8]) -> bool {
        let id = id as usize;
        if id >= self.rows {
            return false;
        }
        let w = self.words.at((id + 1) * W + 7);
        w.store(u64::from_le_bytes(symbol), Ordering::Release);
        true
    }

    /// Updates published so far.
    #[inline]
    pub fn set_updates(&self, n: u64) {
        self.words
            .at(top_header::UPDATES / 8)
            .store(n, Ordering::Release);
    }

    /// Marks the stream ended.
    pub fn end(&self) {
        self.words
            .at(top_header::STATE / 8)
            .store(top_header::ENDED, Ordering::Release);
    }
}

impl Drop for TopWriter {
    fn drop(&mut self) {
        self.end();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A reader's side of the table (mapped read-only).
pub struct TopReader {
    words: Words,
    rows: usize,
}

impl core::fmt::Debug for TopReader {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TopReader")
            .field("rows", &self.rows)
            .finish()
    }
}

impl TopReader {
    /// Maps the table at `path` read-only.
    pub fn open(path: &Path) -> std::io::Result<TopReader> {
        let bad = |what: &str| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {what}", path.display()),
            )
        };
        let file = File::open(path)?;
        let len = file.metadata()?.len() as usize;
        if len < TOP_ROW || !len.is_multiple_of(TOP_ROW) {
            return Err(bad("not a top-of-book table (size)"));
        }
        // SAFETY: mapped read-only and read with atomic loads only; the publisher never
        // truncates the file (a new run makes a new file and renames it into place).
        let map = unsafe { memmap2::Mmap::map(&file)? };
        let words = Words::of(Map::Ro(map));
        if words.at(0).load(Ordering::Relaxed).to_le_bytes() != TOP_MAGIC {
            return Err(bad("not a top-of-book table (magic)"));
        }
        let rows = words.at(top_header::ROWS / 8).load(Ordering::Relaxed) as usize;
        if (rows + 1) * TOP_ROW != len {
            return Err(bad("not a top-of-book table (rows)"));
        }
        Ok(TopReader { words, rows })
    }

    /// Rows in the table.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The publisher's run id.
    pub fn run(&self) -> u64 {
        self.words.at(top_header::RUN / 8).load(Ordering::Acquire)
    }

    /// Updates published so far.
    pub fn updates(&self) -> u64 {
        self.words
            .at(top_header::UPDATES / 8)
            .load(Ordering::Acquire)
    }

    /// Whether the stream has ended.
    pub fn ended(&self) -> bool {
        self.words.at(top_header::STATE / 8).load(Ordering::Acquire) == top_header::ENDED
    }

    /// Row `id`, read whole (`None` outside the table).
    pub fn row(&self, id: u32) -> Option<TopRow> {
        let id = id as usize;
        if id >= self.rows {
            return None;
        }
        let base = (id + 1) * W;
        loop {
            let v1 = self.words.at(base).load(Ordering::Acquire);
            let mut w = [0u64; 7];
            for (k, x) in w.iter_mut().enumerate() {
                *x = self.words.at(base + 1 + k).load(Ordering::Relaxed);
            }
            fence(Ordering::Acquire);
            let v2 = self.words.at(base).load(Ordering::Relaxed);
            if v1 == v2 && v1.is_multiple_of(2) {
                return Some(TopRow {
                    version: v1,
                    bid_price: w[0] as i64,
                    bid_shares: w[1],
                    ask_price: w[2] as i64,
                    ask_shares: w[3],
                    seq: w[4],
                    exch_ts: w[5],
                    symbol: w[6].to_le_bytes(),
                });
            }
            core::hint::spin_loop();
        }
    }

    /// The first instrument named `symbol` (padding ignored).
    pub fn find(&self, symbol: &str) -> Option<u32> {
        (0..self.rows as u32).find(|&i| {
            let w = self
                .words
                .at((i as usize + 1) * W + 7)
                .load(Ordering::Acquire);
            w != 0 && {
                let b = w.to_le_bytes();
                core::str::from_utf8(&b).is_ok_and(|s| s.trim_end_matches([' ', '\0']) == symbol)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_written_are_read_whole_and_readers_cannot_write() {
        let path = std::env::temp_dir().join(format!("fh-top-test-{}.top", std::process::id()));
        let w = TopWriter::create(&path, 4, 77).unwrap();
        assert!(w.set_bbo(2, [1_000_000, 5, 1_010_000u64, 7, 42, 99]));
        assert!(w.set_symbol(2, *b"AAPL    "));
        assert!(!w.set_bbo(4, [0; 6]), "outside the table");
        w.set_updates(12);
        let r = TopReader::open(&path).unwrap();
        assert_eq!(
            (r.rows(), r.run(), r.updates(), r.ended()),
            (4, 77, 12, false)
        );
        let row = r.row(2).unwrap();
        assert_eq!(
            (
                row.bid_price,
                row.bid_shares,
                row.ask_price,
                row.ask_shares,
                row.seq,
                row.exch_ts
            ),
            (1_000_000, 5, 1_010_000, 7, 42, 99)
        );
        assert_eq!(row.version, 2);
        assert_eq!(row.symbol(), Some("AAPL"));
        assert_eq!(r.row(1).unwrap().symbol(), None);
        assert_eq!(r.find("AAPL"), Some(2));
        assert_eq!(r.find("MSFT"), None);
        assert!(r.row(4).is_none());
        // A reader's mapping is read-only: the file is opened read-only.
        assert!(matches!(r.words._map, Map::Ro(_)));
        drop(w);
        assert!(!path.exists(), "the publisher removes its table");
        assert!(r.ended(), "and marks it ended for readers still mapping it");
        assert_eq!(r.row(2).unwrap().bid_shares, 5);
    }

    #[test]
    fn a_reader_never_sees_a_torn_row() {
        let path = std::env::temp_dir().join(format!("fh-top-torn-{}.top", std::process::id()));
        let w = TopWriter::create(&path, 1, 1).unwrap();
        let r = TopReader::open(&path).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..200_000u64 {
                    w.set_bbo(0, [i, i, i, i, i, i]);
                }
            });
            for _ in 0..200_000 {
                let row = r.row(0).unwrap();
                let b = row.bid_price as u64;
                assert_eq!(
                    [
                        row.bid_shares,
                        row.ask_price as u64,
                        row.ask_shares,
                        row.seq,
                        row.exch_ts
                    ],
                    [b; 5]
                );
            }
        });
    }
}
