//! Output files written atomically, and the checks a run makes of its paths before it starts.
//!
//! [`Output`]: into a temporary file beside the target, renamed over it only when complete, so
//! an interrupted or failed run leaves the previous file (or nothing), never a truncated one.
//! A target that is a symbolic link is resolved (the link stays, the file it names is
//! replaced); a target that exists and is no regular file (`/dev/null`, a FIFO) is written in
//! place.
//!
//! [`check_paths`]: every output location is writable, no output is an input or another
//! output (canonical paths and device/inode), before anything is read or written.
//! [`check_memory`]: the big start-up allocations fit in the memory available.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::PipelineError;

/// An output being written (see the module docs). Dropped without [`Output::commit`], it
/// removes its temporary file.
#[derive(Debug)]
pub struct Output {
    path: PathBuf,
    target: PathBuf,
    /// `None`: a special file, written in place.
    tmp: Option<PathBuf>,
    file: Option<File>,
    committed: bool,
}

/// The temporary name of `path`: `.fh-tmp-PID.NAME` in the same directory (so the rename
/// stays on one file system, and the name keeps its extension, e.g. `.gz`).
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".to_string());
    path.with_file_name(format!(".fh-tmp-{}.{name}", std::process::id()))
}

/// `path` with a symbolic link resolved (a dangling link or a missing file: as given).
fn resolve(path: &Path) -> PathBuf {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path).unwrap_or(path.into()),
        _ => path.to_path_buf(),
    }
}

fn words(path: &Path, e: &std::io::Error) -> PipelineError {
    PipelineError::new(format!("{}: {}", path.display(), crate::io_words(e)))
}

impl Output {
    /// Creates the temporary file for `path` (the error names `path`).
    pub fn create(path: &Path) -> Result<Output, PipelineError> {
        let target = resolve(path);
        let special = std::fs::metadata(&target).ok().filter(|m| !m.is_file());
        if special.as_ref().is_some_and(|m| m.is_dir()) {
            return Err(PipelineError::new(format!(
                "{}: is a directory",
                path.display()
            )));
        }
        let (tmp, file) = if special.is_some() {
            let f = OpenOptions::new().write(true).open(&target);
            (None, f.map_err(|e| words(path, &e))?)
        } else {
            let tmp = temp_path(&target);
            let f = File::create(&tmp).map_err(|e| words(path, &e))?;
            (Some(tmp), f)
        };
        Ok(Output {
            path: path.to_path_buf(),
            target,
            tmp,
            file: Some(file),
            committed: false,
        })
    }

    /// The target path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file being written (the temporary one, or a special target itself).
    pub fn temp(&self) -> &Path {
        self.tmp.as_deref().unwrap_or(&self.target)
    }

    /// A buffered writer on the temporary file (once; later calls give a writer to a sink).
    pub fn writer(&mut self) -> BufWriter<File> {
        let f = self
            .file
            .take()
            .or_else(|| self.tmp.as_ref().and_then(|t| File::create(t).ok()))
            .unwrap_or_else(|| {
                // Only reached if the temporary file vanished and cannot be recreated: write
                // to a sink whose errors are reported at commit.
                File::open("/dev/null").unwrap_or_else(|_| unreachable!("/dev/null opens"))
            });
        BufWriter::with_capacity(1 << 20, f)
    }

    /// An error about this output.
    pub fn error(&self, e: std::io::Error) -> PipelineError {
        words(&self.path, &e)
    }

    /// Renames the finished temporary file over the target (keeping the target's permissions
    /// if it existed).
    pub fn commit(mut self) -> Result<(), PipelineError> {
        if let Some(tmp) = &self.tmp {
            if !tmp.exists() {
                return Err(PipelineError::new(format!(
                    "{}: the temporary file {} vanished",
                    self.path.display(),
                    tmp.display()
                )));
            }
            if let Ok(m) = std::fs::metadata(&self.target) {
                let _ = std::fs::set_permissions(tmp, m.permissions());
            }
            std::fs::rename(tmp, &self.target).map_err(|e| self.error(e))?;
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let (false, Some(tmp)) = (self.committed, &self.tmp) {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PipelineError> {
    let mut o = Output::create(path)?;
    let mut w = o.writer();
    w.write_all(bytes)
        .and_then(|_| w.flush())
        .map_err(|e| o.error(e))?;
    drop(w);
    o.commit()
}

/// What a run does with a path it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Reads it.
    Input,
    /// Writes it (a file).
    File,
    /// Writes `.hgrm` files into it (a directory, created if missing).
    Dir,
}

/// A path a run was given: who named it (a flag such as `--bbo-csv`, or words such as `the
/// capture` for an input), the path, and what the run does with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedPath {
    /// The flag, or what the input is.
    pub name: String,
    /// The path as given.
    pub path: PathBuf,
    /// Read or written.
    pub role: Role,
}

impl NamedPath {
    /// A path of `role` named `name`.
    pub fn new(name: impl Into<String>, path: impl Into<PathBuf>, role: Role) -> Self {
        NamedPath {
            name: name.into(),
            path: path.into(),
            role,
        }
    }
}

/// Who a path is on disk: canonical path, device and inode if it exists, and whether it is a
/// special file (never a collision: `/dev/null` may take several outputs).
struct Ident {
    canon: PathBuf,
    id: Option<(u64, u64)>,
    special: bool,
}

fn absolute(p: &Path) -> PathBuf {
    std::env::current_dir()
        .map(|d| d.join(p))
        .unwrap_or(p.into())
}

fn parent_of(p: &Path) -> &Path {
    p.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

fn ident(p: &Path) -> Ident {
    match std::fs::metadata(p) {
        Ok(m) => Ident {
            canon: std::fs::canonicalize(p).unwrap_or_else(|_| absolute(p)),
            id: Some((m.dev(), m.ino())),
            special: !m.is_file() && !m.is_dir(),
        },
        Err(_) => Ident {
            canon: match (std::fs::canonicalize(parent_of(p)), p.file_name()) {
                (Ok(d), Some(f)) => d.join(f),
                _ => absolute(p),
            },
            id: None,
            special: false,
        },
    }
}

impl Ident {
    fn same(&self, o: &Ident) -> bool {
        !self.special
            && !o.special
            && (self.canon == o.canon || (self.id.is_some() && self.id == o.id))
    }

    /// `self` (a directory) would receive a `.hgrm` file at `f`.
    fn holds_hgrm(&self, f: &Ident) -> bool {
        !f.special
            && f.canon.parent() == Some(self.canon.as_path())
            && f.canon.extension().is_some_and(|e| e == "hgrm")
    }
}

/// Creates (and removes) a file in `dir`: whether this process may write there.
fn probe_dir(n: &NamedPath, dir: &Path) -> Result<(), PipelineError> {
    let probe = dir.join(format!(".fh-probe-{}", std::process::id()));
    match OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(PipelineError::new(format!(
            "{} {}: cannot write in {}: {}",
            n.name,
            n.path.display(),
            dir.display(),
            crate::io_words(&e)
        ))),
    }
}

fn check_location(n: &NamedPath) -> Result<(), PipelineError> {
    let at = |what: &str| PipelineError::new(format!("{} {}: {what}", n.name, n.path.display()));
    let meta = std::fs::metadata(&n.path).ok();
    match n.role {
        Role::Input => Ok(()),
        Role::File => {
            match &meta {
                Some(m) if m.is_dir() => return Err(at("is a directory")),
                Some(m) if !m.is_file() => return Ok(()),
                Some(_) => {
                    if let Err(e) = OpenOptions::new().write(true).open(&n.path) {
                        return Err(at(&crate::io_words(&e)));
                    }
                }
                None => {}
            }
            let dir = parent_of(&n.path);
            match std::fs::metadata(dir) {
                Ok(m) if m.is_dir() => probe_dir(n, dir),
                Ok(_) => Err(at(&format!("{} is not a directory", dir.display()))),
                Err(_) => Err(at(&format!("no directory {}", dir.display()))),
            }
        }
        Role::Dir => match &meta {
            Some(m) if m.is_dir() => probe_dir(n, &n.path),
            Some(_) => Err(at("not a directory")),
            None => {
                let mut up = n.path.as_path();
                loop {
                    up = parent_of(up);
                    match std::fs::metadata(up) {
                        Ok(m) if m.is_dir() => return probe_dir(n, up),
                        Ok(_) => return Err(at(&format!("{} is not a directory", up.display()))),
                        Err(_) if up == Path::new(".") || up == Path::new("/") => {
                            return Err(at("no such directory"))
                        }
                        Err(_) => {}
                    }
                }
            }
        },
    }
}

/// Checks a run's paths before it starts: each output's location can be written (its
/// directory exists and takes a new file; an existing target can be opened for writing; a
/// `Dir` is a directory or can be created), and no output is an input or another output
/// (same canonical path, or same device and inode: hard and symbolic links too; a `.hgrm`
/// file inside a `Dir`). The first problem is a one-line error naming the flags and paths.
pub fn check_paths(paths: &[NamedPath]) -> Result<(), PipelineError> {
    for n in paths {
        check_location(n)?;
    }
    let ids: Vec<Ident> = paths.iter().map(|n| ident(&n.path)).collect();
    for (j, b) in paths.iter().enumerate() {
        for (i, a) in paths[..j].iter().enumerate() {
            let (ia, ib) = (&ids[i], &ids[j]);
            let clash = ia.same(ib)
                || (a.role == Role::Dir && ia.holds_hgrm(ib))
                || (b.role == Role::Dir && ib.holds_hgrm(ia));
            if !clash || (a.role == Role::Input && b.role == Role::Input) {
                continue;
            }
            let (out, other) = if b.role == Role::Input {
                (a, b)
            } else {
                (b, a)
            };
            let msg = if other.role == Role::Input {
                format!(
                    "{} {}: is {} ({}); refusing to overwrite it",
                    out.name,
                    out.path.display(),
                    other.name,
                    other.path.display()
                )
            } else {
                format!(
                    "{} {} and {} {}: the same file; give each output its own path",
                    other.name,
                    other.path.display(),
                    out.name,
                    out.path.display()
                )
            };
            return Err(PipelineError::new(msg));
        }
    }
    Ok(())
}

/// The data problems a run's report shows, for a shell to exit on (`fh` exits 1): a capture
/// cut off, malformed or foreign datagrams, gaps still open at the end, a symbol filter that
/// matched nothing (no update but status), a live run that received nothing.
pub fn data_problems(r: &super::RunReport, symbol_filter: bool) -> Vec<String> {
    let (e, mut p) = (&r.engine, Vec::new());
    if let Some(c) = r.capture.as_ref().filter(|c| c.truncated) {
        match c.warnings.is_empty() {
            true => p.push("the capture is cut off inside its last record".to_string()),
            false => p.extend(c.warnings.iter().cloned()),
        }
    }
    let bad = e.mold_malformed + e.iextp_malformed + e.itch_malformed + e.iex_malformed;
    let foreign = e.foreign + e.unknown_protocol;
    for (n, what) in [
        (bad, "malformed packets or messages"),
        (foreign, "foreign datagrams"),
    ] {
        if n > 0 {
            p.push(format!("{n} {what}"));
        }
    }
    let open: u64 = [&e.moldudp64, &e.iextp]
        .into_iter()
        .flatten()
        .map(|s| s.open_gap_messages)
        .sum();
    if open > 0 {
        p.push(format!(
            "{open} messages missing in gaps still open at the end"
        ));
    }
    if symbol_filter && r.updates.total == r.updates.status {
        p.push("--symbol matched nothing (no book update)".to_string());
    }
    if r.live.as_ref().is_some_and(|l| l.rx.packets == 0) {
        p.push("received nothing".to_string());
    }
    if let Some(v) = r.recovery.as_ref().filter(|v| v.snapshot_failures > 0) {
        p.push(format!(
            "{} snapshot loads failed ({})",
            v.snapshot_failures,
            v.snapshot_errors.first().map_or("", String::as_str)
        ));
    }
    p
}

/// The number after `key` in a `/proc` file (`kB` values in bytes).
fn proc_value(file: &str, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(file).ok()?;
    let mut words = s
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .split_whitespace();
    let n: u64 = words.next()?.parse().ok()?;
    Some(if words.next() == Some("kB") {
        n.saturating_mul(1024)
    } else {
        n
    })
}

/// Memory this process can get now, bytes, if known: the machine's `MemAvailable`, or less
/// when an address-space limit (`ulimit -v`) leaves less room.
pub fn available_memory() -> Option<u64> {
    let avail = proc_value("/proc/meminfo", "MemAvailable:");
    let limit = proc_value("/proc/self/limits", "Max address space");
    let room =
        limit.map(|l| l.saturating_sub(proc_value("/proc/self/status", "VmSize:").unwrap_or(0)));
    match (avail, room) {
        (Some(a), Some(r)) => Some(a.min(r)),
        (a, r) => a.or(r),
    }
}

/// `n` bytes for people: `512 MiB`, `12.0 GiB`.
pub fn bytes_words(n: u64) -> String {
    const GIB: f64 = (1u64 << 30) as f64;
    if n >= 1 << 30 {
        format!("{:.1} GiB", n as f64 / GIB)
    } else {
        format!("{} MiB", n.div_ceil(1 << 20))
    }
}

/// Refuses start-up allocations (`(flag and value, bytes)`) that together exceed the memory
/// available (`available`, or [`available_memory`] when `None`); the error names the largest.
pub fn check_memory(needs: &[(String, u64)], available: Option<u64>) -> Result<(), PipelineError> {
    let Some(avail) = available.or_else(available_memory) else {
        return Ok(());
    };
    let total = needs.iter().fold(0u64, |s, (_, b)| s.saturating_add(*b));
    match needs.iter().max_by_key(|(_, b)| *b) {
        Some((what, b)) if total > avail => Err(PipelineError::new(format!(
            "{what}: needs {} of memory ({} with the rest of the run), {} available",
            bytes_words(*b),
            bytes_words(total),
            bytes_words(avail)
        ))),
        _ => Ok(()),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("fh-output-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn committed_outputs_replace_the_target_and_abandoned_ones_leave_it_alone() {
        let dir = tmpdir("commit");
        let target = dir.join("x.csv");
        std::fs::write(&target, "old").unwrap();
        {
            let mut o = Output::create(&target).unwrap();
            o.writer().write_all(b"half").unwrap();
        }
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old");
        assert!(!temp_path(&target).exists());
        write_atomic(&target, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        // Through a symbolic link: the file it names is replaced, the link stays.
        let link = dir.join("link.csv");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_atomic(&link, b"via link").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "via link");
        // A special file is written in place.
        write_atomic(Path::new("/dev/null"), b"gone").unwrap();
        assert!(Path::new("/dev/null").exists());
        let e = Output::create(&dir.join("no/such/dir/x")).unwrap_err();
        assert!(e.0.ends_with("x: no such file or directory"), "{}", e.0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn outputs_that_are_inputs_or_each_other_are_refused() {
        let dir = tmpdir("paths");
        let input = dir.join("in.pcap");
        std::fs::write(&input, "capture").unwrap();
        let hard = dir.join("hard.pcap");
        std::fs::hard_link(&input, &hard).unwrap();
        let inp = NamedPath::new("the capture", &input, Role::Input);
        let check = |o: NamedPath| check_paths(&[inp.clone(), o]).map_err(|e| e.0);
        let e = check(NamedPath::new("--bbo-csv", &input, Role::File)).unwrap_err();
        assert!(
            e.contains("--bbo-csv") && e.contains("is the capture"),
            "{e}"
        );
        assert!(check(NamedPath::new("--hlog", &hard, Role::File)).is_err());
        let dotted = dir.join(".").join("in.pcap");
        assert!(check(NamedPath::new("--plot", &dotted, Role::File)).is_err());
        assert!(check(NamedPath::new("--plot", dir.join("p.svg"), Role::File)).is_ok());
        assert!(check(NamedPath::new("--hgrm", &input, Role::Dir))
            .unwrap_err()
            .contains("not a directory"));
        let two = [
            NamedPath::new("--hlog", dir.join("a"), Role::File),
            NamedPath::new("--plot", dir.join("a"), Role::File),
        ];
        let e = check_paths(&two).unwrap_err().0;
        assert!(e.contains("--hlog") && e.contains("--plot"), "{e}");
        let hg = [
            NamedPath::new("--hgrm", &dir, Role::Dir),
            NamedPath::new("--hlog", dir.join("decode.hgrm"), Role::File),
        ];
        assert!(check_paths(&hg).is_err());
        let locs = [
            NamedPath::new("--plot", dir.join("nodir/p.svg"), Role::File),
            NamedPath::new("--plot", &dir, Role::File),
        ];
        for l in locs {
            assert!(check_paths(&[l]).is_err());
        }
        assert!(check_paths(&[NamedPath::new("--hgrm", dir.join("a/b/c"), Role::Dir)]).is_ok());
        let null = NamedPath::new("--plot", "/dev/null", Role::File);
        assert!(check_paths(&[
            null.clone(),
            NamedPath {
                name: "--hlog".into(),
                ..null
            }
        ])
        .is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn memory_beyond_what_is_available_is_refused() {
        let needs = [
            ("--orders 9".to_string(), 3 << 30),
            ("ring".into(), 1 << 20),
        ];
        let e = check_memory(&needs, Some(2 << 30)).unwrap_err().0;
        assert!(e.starts_with("--orders 9: needs 3.0 GiB"), "{e}");
        assert!(check_memory(&needs, Some(4 << 30)).is_ok());
    }
}
