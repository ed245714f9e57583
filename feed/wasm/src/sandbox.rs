//! The sandbox: one wasmtime engine with an epoch ticker, modules checked at load, and a
//! guest instance per strategy with its memory limit, stack limit and per-call deadline.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use fh_feed::strategy::MarketView;
use std::ops::Range;

use wasmtime::{
    Caller, Config, Engine, Extern, ExternType, InstancePre, Linker, Memory, MemoryType, Module,
    SharedMemory, Store, StoreLimits, StoreLimitsBuilder, Trap, TypedFunc,
};

use crate::scan::{scan, MEMORY_IMPORTS};
use crate::shared::RingMemory;

use crate::signals::{Signal, SignalBuf};

/// The functions a module may import, all from module `fh`.
pub const IMPORTS: [&str; 5] = ["top", "symbol", "now", "signal", "figure"];

/// Size of one update record in the guest's region.
pub const RECORD: usize = 64;

/// The epoch tick: deadlines are whole ticks.
pub const TICK: Duration = Duration::from_millis(1);

/// Largest deadline per call (10 s) and memory limit (4 GiB, a 32-bit memory's whole range).
pub const MAX_DEADLINE: Duration = Duration::from_secs(10);
/// See [`MAX_DEADLINE`].
pub const MAX_MEMORY: u64 = 4 << 30;
/// Smallest memory limit: one 64 KiB wasm page.
pub const MIN_MEMORY: u64 = 64 << 10;
/// Most records a guest's region may hold (at least 1).
pub const MAX_REGION: u32 = 1 << 16;
/// Wasm stack per guest (deep recursion traps beyond it).
pub const STACK: usize = 512 << 10;

/// Limits of each guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WasmConfig {
    /// Longest a single guest call (one batch) may run; rounded up to whole ticks.
    pub deadline: Duration,
    /// Most linear memory (and table) bytes an instance may have.
    pub memory: u64,
}

impl Default for WasmConfig {
    fn default() -> Self {
        WasmConfig {
            deadline: Duration::from_millis(100),
            memory: 64 << 20,
        }
    }
}

impl WasmConfig {
    /// Checks the ranges (deadline 1 ms to 10 s, memory 64 KiB to 4 GiB).
    pub fn check(&self) -> Result<(), WasmError> {
        if self.deadline < TICK || self.deadline > MAX_DEADLINE {
            return Err(WasmError(format!(
                "--wasm-deadline-ms {}: from 1 to {}",
                self.deadline.as_millis(),
                MAX_DEADLINE.as_millis()
            )));
        }
        if !(MIN_MEMORY..=MAX_MEMORY).contains(&self.memory) {
            return Err(WasmError(format!(
                "--wasm-memory-mib {}: from 1 to {}",
                self.memory >> 20,
                MAX_MEMORY >> 20
            )));
        }
        Ok(())
    }

    fn ticks(&self) -> u64 {
        (self.deadline.as_nanos().div_ceil(TICK.as_nanos()) as u64).max(1)
    }
}

/// A start-up error: one line naming the file and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WasmError(pub String);

impl fmt::Display for WasmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WasmError {}

/// Why and where a guest was stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The module's file name.
    pub module: String,
    /// What happened (`deadline of 100 ms exceeded`, `out of bounds memory access`, …).
    pub reason: String,
    /// Ring sequence of the first update of the call that failed.
    pub update: u64,
    /// Updates in that call.
    pub count: u64,
    /// How long that call ran before it was stopped, ns.
    pub after_ns: u64,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: stopped at update {} (a call with {} updates, after {:.3} ms): {}",
            self.module,
            self.update,
            self.count,
            self.after_ns as f64 / 1e6,
            self.reason
        )
    }
}

/// The wasmtime engine all guests share, and its epoch ticker.
#[derive(Debug)]
pub struct WasmHost {
    engine: Engine,
    /// Built for `--wasm-shared` modules ([`WasmHost::new_shared`]).
    shared: bool,
    linker: Linker<GuestState>,
    stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

impl WasmHost {
    /// An engine with epoch interruption, the stack limit and no proposal beyond core wasm's
    /// defaults (no threads, no WASI), and its ticker thread (sleeps [`TICK`] per epoch).
    pub fn new() -> Result<Arc<WasmHost>, WasmError> {
        let mut c = Config::new();
        c.epoch_interruption(true)
            .max_wasm_stack(STACK)
            .wasm_threads(false);
        Self::with_config(&c, false)
    }

    /// The engine for `--wasm-shared` modules: as [`WasmHost::new`], plus wasmtime's threads
    /// proposal and shared memories (wasmtime ranks them tier 2), and without bulk memory and
    /// reference types (see [`crate::shared`] for why `memory.copy`/`fill`/`init` may not run
    /// on a memory that holds the ring; reference types need bulk memory).
    pub fn new_shared() -> Result<Arc<WasmHost>, WasmError> {
        let mut c = Config::new();
        c.epoch_interruption(true)
            .max_wasm_stack(STACK)
            .wasm_threads(true)
            .shared_memory(true)
            .wasm_features(wasmtime::WasmFeatures::REFERENCE_TYPES, false)
            .wasm_bulk_memory(false);
        Self::with_config(&c, true)
    }

    /// True for the `--wasm-shared` engine.
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    fn with_config(c: &Config, shared: bool) -> Result<Arc<WasmHost>, WasmError> {
        let engine = Engine::new(c).map_err(|e| WasmError(format!("wasmtime: {e}")))?;
        let mut linker = Linker::new(&engine);
        define_imports(&mut linker).map_err(|e| WasmError(format!("wasmtime: {e}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (e, s) = (engine.clone(), stop.clone());
        let ticker = std::thread::Builder::new()
            .name("fh-wasm-epoch".into())
            .spawn(move || {
                // The epoch follows the clock, not the number of wake-ups: a sleep that
                // overran (a busy machine) is made up with several increments.
                let start = std::time::Instant::now();
                let mut epochs = 0u128;
                while !s.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    let due = start.elapsed().as_nanos() / TICK.as_nanos();
                    while epochs < due {
                        e.increment_epoch();
                        epochs += 1;
                    }
                }
            })
            .map_err(|e| WasmError(format!("epoch ticker thread: {e}")))?;
        Ok(Arc::new(WasmHost {
            engine,
            shared,
            linker,
            stop,
            ticker: Some(ticker),
        }))
    }
}

impl Drop for WasmHost {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}

/// A compiled and linked module.
#[derive(Clone)]
pub struct WasmModule {
    /// The file it came from.
    pub path: PathBuf,
    /// Its file name (for reports).
    pub name: String,
    /// Linked ahead (copying mode); a shared-mode module is linked per guest, with its memory.
    pre: Option<InstancePre<GuestState>>,
    module: Module,
    /// Shared mode: the memory import (`module`, `name`) and its size in wasm pages.
    shared: Option<(String, String, u32)>,
    host: Arc<WasmHost>,
}

impl fmt::Debug for WasmModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WasmModule")
            .field("path", &self.path)
            .finish()
    }
}

/// The first line of an error chain, without wasmtime's backtrace.
fn one_line(e: &wasmtime::Error) -> String {
    let parts: Vec<String> = e
        .chain()
        .filter_map(|c| {
            let s = c.to_string();
            let first = s.lines().next().unwrap_or("").trim().to_string();
            (!first.is_empty() && !first.ends_with(':')).then_some(first)
        })
        .collect();
    parts.join(": ")
}

impl WasmModule {
    /// Reads, compiles and links `path` (binary wasm, or the text format): a one-line error
    /// when it is not a module, imports anything but the `fh` functions, or lacks the
    /// callbacks.
    pub fn load(host: &Arc<WasmHost>, path: &Path) -> Result<WasmModule, WasmError> {
        let shown = path.display();
        let bytes = std::fs::read(path).map_err(|e| WasmError(format!("{shown}: {e}")))?;
        // Which mode the module was built for, before compiling it (a shared memory does not
        // even compile on the copying mode's engine). Text that does not parse, or bytes that
        // are not a module, are reported by wasmtime below.
        let binary = if bytes.starts_with(b"\0asm") {
            Some(std::borrow::Cow::Borrowed(&bytes[..]))
        } else {
            wat::parse_bytes(&bytes).ok()
        };
        let found = binary.as_deref().map(scan);
        if host.shared {
            // Shared mode fails closed: a module the scan cannot read is not run.
            if let Some(Err(e)) = &found {
                return Err(WasmError(format!(
                    "{shown}: not a valid WebAssembly module: {e}"
                )));
            }
            if found.is_none() {
                return Err(WasmError(format!(
                    "{shown}: not a WebAssembly module (binary or text)"
                )));
            }
        }
        if let Some(Ok(found)) = found {
            match (&found.memory_import, host.shared) {
                (Some(m), false) => {
                    return Err(WasmError(format!(
                        "{shown}: imports a memory ({m}): a module built for --wasm-shared"
                    )))
                }
                (None, true) => {
                    let built = if found.exports_region {
                        "exports fh_region: a module built for the copying mode"
                    } else {
                        "not a --wasm-shared module"
                    };
                    return Err(WasmError(format!(
                        "{shown}: imports no shared memory (fh.memory) and {built}, not for --wasm-shared"
                    )));
                }
                _ => {}
            }
            if let (true, Some((f, op))) = (host.shared, found.forbidden) {
                return Err(WasmError(format!(
                    "{shown}: function {f} uses {op}, which a --wasm-shared module may not (wasmtime runs it as host code on the memory that holds the ring)"
                )));
            }
        }
        let module = Module::new(&host.engine, &bytes).map_err(|e| {
            let what = if bytes.starts_with(b"\0asm") {
                "not a valid WebAssembly module"
            } else {
                "not a WebAssembly module (binary or text)"
            };
            WasmError(format!("{shown}: {what}: {}", one_line(&e)))
        })?;
        let mut memory = None;
        for i in module.imports() {
            if let ExternType::Memory(t) = i.ty() {
                let pages = t.maximum().filter(|&m| m == t.minimum() && t.is_shared());
                let named = MEMORY_IMPORTS.contains(&(i.module(), i.name()));
                match (host.shared, named, pages) {
                    (true, true, Some(p)) if memory.is_none() => {
                        memory = Some((i.module().to_string(), i.name().to_string(), p as u32));
                        continue;
                    }
                    (true, true, _) if memory.is_none() => {
                        return Err(WasmError(format!(
                            "{shown}: imports {}.{}: a --wasm-shared module's memory must be shared with as many maximum as minimum pages",
                            i.module(),
                            i.name()
                        )));
                    }
                    _ => {}
                }
            }
            if i.module() != "fh" || !IMPORTS.contains(&i.name()) {
                return Err(WasmError(format!(
                    "{shown}: imports {}.{}: a strategy module may import only fh.{{{}}}",
                    i.module(),
                    i.name(),
                    IMPORTS.join(",")
                )));
            }
        }
        let copying = [
            ("memory", "a memory"),
            ("fh_region", "a function () -> i32"),
            ("fh_region_len", "a function () -> i32"),
            ("fh_on_batch", "a function (i32, i32)"),
        ];
        let shared = [
            ("fh_ring", "a function (i32) -> i32"),
            ("fh_on_batch", "a function (i32, i32)"),
        ];
        let wanted = if host.shared {
            &shared[..]
        } else {
            &copying[..]
        };
        if host.shared && memory.is_none() {
            return Err(WasmError(format!(
                "{shown}: imports no shared memory (fh.memory): not a --wasm-shared module"
            )));
        }
        for &(name, want) in wanted {
            if module.get_export(name).is_none() {
                return Err(WasmError(format!(
                    "{shown}: exports no '{name}' ({want}): not an fh strategy module"
                )));
            }
        }
        let pre = if host.shared {
            None
        } else {
            Some(
                host.linker
                    .instantiate_pre(&module)
                    .map_err(|e| WasmError(format!("{shown}: {}", one_line(&e))))?,
            )
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| shown.to_string());
        Ok(WasmModule {
            path: path.to_path_buf(),
            name,
            pre,
            module,
            shared: memory,
            host: host.clone(),
        })
    }

    /// True for a `--wasm-shared` module.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }
}

/// What the host functions reach: the market view, the time, and the guest's outputs.
pub struct GuestState {
    limits: StoreLimits,
    /// The instance's exported memory (found once, not by name at every host call).
    memory: Option<Memory>,
    /// Shared mode: the guest's shared memory and the bytes of it that are the ring.
    shared: Option<(SharedMemory, Range<usize>)>,
    pub(crate) view: Option<MarketView>,
    pub(crate) now: u64,
    pub(crate) signals: SignalBuf,
    pub(crate) figures: Vec<(String, i64, bool)>,
}

impl fmt::Debug for GuestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuestState")
            .field("signals", &self.signals.signals.len())
            .finish()
    }
}

fn guest_memory(caller: &mut Caller<'_, GuestState>) -> wasmtime::Result<Memory> {
    if let Some(m) = caller.data().memory {
        return Ok(m);
    }
    match caller.get_export("memory") {
        Some(Extern::Memory(m)) => Ok(m),
        _ => wasmtime::bail!("the module exports no memory"),
    }
}

/// Writes `bytes` at `off` of the guest's memory for a host function (bounds-checked; in shared
/// mode never into the ring): an error traps the guest.
fn write_guest(c: &mut Caller<'_, GuestState>, off: u32, bytes: &[u8]) -> wasmtime::Result<()> {
    if let Some((m, ring)) = &c.data().shared {
        return crate::shared::guest_write(m, ring, off as usize, bytes)
            .map_err(|e| wasmtime::format_err!("{e}"));
    }
    guest_memory(c)?.write(c, off as usize, bytes)?;
    Ok(())
}

fn define_imports(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    l.func_wrap(
        "fh",
        "top",
        |mut c: Caller<'_, GuestState>, instrument: u32, out: u32| -> wasmtime::Result<u32> {
            let b = c.data().view.as_ref().and_then(|v| v.top.get(instrument));
            let Some(b) = b else { return Ok(0) };
            let mut rec = [0u8; 48];
            for (i, w) in [
                b.bid_price as u64,
                b.bid_shares,
                b.ask_price as u64,
                b.ask_shares,
                b.seq,
                b.exch_ts,
            ]
            .into_iter()
            .enumerate()
            {
                rec[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
            }
            // Bounds-checked: an offset outside the guest's memory is a trap, never a write
            // anywhere else.
            write_guest(&mut c, out, &rec)?;
            Ok(1)
        },
    )?;
    l.func_wrap(
        "fh",
        "symbol",
        |mut c: Caller<'_, GuestState>, instrument: u32, out: u32| -> wasmtime::Result<u32> {
            let s = c
                .data()
                .view
                .as_ref()
                .and_then(|v| v.symbols.get(instrument));
            let Some(s) = s else { return Ok(0) };
            write_guest(&mut c, out, &s.0)?;
            Ok(1)
        },
    )?;
    l.func_wrap("fh", "now", |c: Caller<'_, GuestState>| -> u64 {
        c.data().now
    })?;
    l.func_wrap(
        "fh",
        "signal",
        |mut c: Caller<'_, GuestState>, instrument: u32, kind: u32, value: i64| {
            let symbol = c
                .data()
                .view
                .as_ref()
                .and_then(|v| v.symbols.get(instrument))
                .map_or([b' '; 8], |s| s.0);
            c.data_mut().signals.push(Signal {
                instrument,
                kind,
                value,
                symbol,
            });
        },
    )?;
    l.func_wrap(
        "fh",
        "figure",
        |mut c: Caller<'_, GuestState>,
         ptr: u32,
         len: u32,
         value: i64,
         hex: u32|
         -> wasmtime::Result<()> {
            if len > 64 {
                wasmtime::bail!("fh.figure: a name of {len} bytes (at most 64)");
            }
            let mut name = [0u8; 64];
            let name = &mut name[..len as usize];
            if let Some((m, ring)) = &c.data().shared {
                crate::shared::guest_read(m, ring, ptr as usize, name)
                    .map_err(|e| wasmtime::format_err!("fh.figure: {e}"))?;
            } else {
                guest_memory(&mut c)?.read(&c, ptr as usize, name)?;
            }
            let name = String::from_utf8_lossy(name).into_owned();
            let figs = &mut c.data_mut().figures;
            match figs.iter().position(|(n, _, _)| *n == name) {
                Some(i) => (figs[i].1, figs[i].2) = (value, hex != 0),
                None if figs.len() < 64 => figs.push((name, value, hex != 0)),
                None => {}
            }
            Ok(())
        },
    )?;
    Ok(())
}

/// A live instance of a module: its store (memory, limits, state) and its callbacks.
pub struct Guest {
    /// The module's file name.
    pub module: String,
    pub(crate) store: Store<GuestState>,
    /// The exported memory (copying mode; `None` in shared mode).
    memory: Option<Memory>,
    /// Shared mode: the ring's slots less one (`fh_on_batch`'s `first` is a slot index).
    pub(crate) ring_mask: Option<u64>,
    /// Shared mode: the ring memory mapped into the guest.
    pub(crate) ring: Option<Arc<RingMemory>>,
    on_batch: TypedFunc<(u32, u32), ()>,
    on_missed: Option<TypedFunc<u64, ()>>,
    on_finish: Option<TypedFunc<(), ()>>,
    /// Byte offset of the update region (shared mode: the ring) in the guest's memory.
    region: usize,
    /// Records the region (shared mode: the ring) holds.
    pub(crate) region_len: usize,
    ticks: u64,
    deadline: Duration,
    clock: fh_feed::latency::Clock,
    /// How long the call that failed ran, ns.
    pub(crate) failed_after_ns: u64,
    _host: Arc<WasmHost>,
}

impl fmt::Debug for Guest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guest")
            .field("module", &self.module)
            .field("region", &self.region)
            .field("region_len", &self.region_len)
            .finish()
    }
}

impl Guest {
    /// Instantiates `module` under `config`'s limits (its start function and data segments
    /// run now, under the deadline) and finds its region: a one-line error if anything is
    /// off.
    pub fn new(module: &WasmModule, config: &WasmConfig) -> Result<Guest, WasmError> {
        config.check()?;
        let name = module.name.clone();
        let err = |what: String| WasmError(format!("{}: {what}", module.path.display()));
        let Some(pre) = &module.pre else {
            return Err(err(
                "a module built for --wasm-shared: it needs the ring (Guest::new_shared)".into(),
            ));
        };
        let mut store = new_store(module, config);
        let ticks = config.ticks();
        let inst = pre.instantiate(&mut store).map_err(|e| {
            err(format!(
                "instantiation failed: {}",
                reason(&e, config.deadline)
            ))
        })?;
        let memory = inst
            .get_memory(&mut store, "memory")
            .ok_or_else(|| err("the export 'memory' is not a memory".into()))?;
        store.data_mut().memory = Some(memory);
        let typed = |store: &mut Store<GuestState>, n: &str| {
            inst.get_typed_func::<(), u32>(store, n)
                .map_err(|e| err(format!("export '{n}': {}", one_line(&e))))
        };
        let region_f = typed(&mut store, "fh_region")?;
        let len_f = typed(&mut store, "fh_region_len")?;
        let (on_batch, on_missed, on_finish) = callbacks(&inst, &mut store, &err)?;
        store.set_epoch_deadline(ticks);
        let region = region_f
            .call(&mut store, ())
            .map_err(|e| err(format!("fh_region(): {}", reason(&e, config.deadline))))?
            as usize;
        store.set_epoch_deadline(ticks);
        let len = len_f
            .call(&mut store, ())
            .map_err(|e| err(format!("fh_region_len(): {}", reason(&e, config.deadline))))?;
        if len == 0 || len > MAX_REGION {
            return Err(err(format!(
                "fh_region_len() = {len}: from 1 to {MAX_REGION} records"
            )));
        }
        let size = memory.data_size(&store);
        let end = region.checked_add(len as usize * RECORD);
        if end.is_none_or(|e| e > size) {
            return Err(err(format!(
                "fh_region() = {region} with {len} records of {RECORD} bytes: outside its memory of {size} bytes"
            )));
        }
        Ok(Guest {
            module: name,
            store,
            memory: Some(memory),
            ring_mask: None,
            ring: None,
            on_batch,
            on_missed,
            on_finish,
            region,
            region_len: len as usize,
            ticks,
            deadline: config.deadline,
            clock: *fh_feed::latency::Clock::global(),
            failed_after_ns: 0,
            _host: module.host.clone(),
        })
    }

    /// Instantiates a `--wasm-shared` `module` under `config`'s limits with a new shared memory
    /// of the size it imports, asks it where the ring goes (`fh_ring(slots)`) and maps `ring`
    /// there read-only (after its start function and data segments ran: nothing of the
    /// module's own writes the ring's pages afterwards). A one-line error if anything is off.
    pub fn new_shared(
        module: &WasmModule,
        config: &WasmConfig,
        ring: &Arc<RingMemory>,
    ) -> Result<Guest, WasmError> {
        config.check()?;
        let name = module.name.clone();
        let err = |what: String| WasmError(format!("{}: {what}", module.path.display()));
        let Some((m, n, pages)) = &module.shared else {
            return Err(err(
                "a module built for the copying mode, not for --wasm-shared".into(),
            ));
        };
        let bytes = u64::from(*pages) * crate::shared::WASM_PAGE as u64;
        if bytes > config.memory {
            return Err(err(format!(
                "imports a shared memory of {pages} pages ({bytes} bytes): above the memory limit of {} bytes",
                config.memory
            )));
        }
        let shared = SharedMemory::new(&module.host.engine, MemoryType::shared(*pages, *pages))
            .map_err(|e| err(format!("shared memory: {}", one_line(&e))))?;
        let mut store = new_store(module, config);
        store.data_mut().shared = Some((shared.clone(), 0..0));
        let ticks = config.ticks();
        let mut linker = module.host.linker.clone();
        linker
            .define(&store, m, n, shared.clone())
            .map_err(|e| err(one_line(&e)))?;
        let inst = linker
            .instantiate(&mut store, &module.module)
            .map_err(|e| {
                err(format!(
                    "instantiation failed: {}",
                    reason(&e, config.deadline)
                ))
            })?;
        let ring_f = inst
            .get_typed_func::<u32, u32>(&mut store, "fh_ring")
            .map_err(|e| err(format!("export 'fh_ring': {}", one_line(&e))))?;
        let (on_batch, on_missed, on_finish) = callbacks(&inst, &mut store, &err)?;
        let slots = ring.slots();
        let slots32 = u32::try_from(slots).map_err(|_| err(format!("ring of {slots} slots")))?;
        store.set_epoch_deadline(ticks);
        let at = ring_f
            .call(&mut store, slots32)
            .map_err(|e| err(format!("fh_ring({slots}): {}", reason(&e, config.deadline))))?
            as usize;
        let mapped = ring.map_into(&shared, at).map_err(err)?;
        store.data_mut().shared = Some((shared, mapped));
        Ok(Guest {
            module: name,
            store,
            memory: None,
            ring_mask: Some(slots as u64 - 1),
            ring: Some(ring.clone()),
            on_batch,
            on_missed,
            on_finish,
            region: at,
            region_len: slots,
            ticks,
            deadline: config.deadline,
            clock: *fh_feed::latency::Clock::global(),
            failed_after_ns: 0,
            _host: module.host.clone(),
        })
    }
}

/// A store for one guest of `module` under `config`'s limits, with its deadline armed.
fn new_store(module: &WasmModule, config: &WasmConfig) -> Store<GuestState> {
    let limits = StoreLimitsBuilder::new()
        .memory_size(config.memory as usize)
        .table_elements(1 << 20)
        .instances(1)
        .memories(1)
        .tables(4)
        .trap_on_grow_failure(true)
        .build();
    let mut store = Store::new(
        &module.host.engine,
        GuestState {
            limits,
            memory: None,
            shared: None,
            view: None,
            now: 0,
            signals: SignalBuf::new(),
            figures: Vec::new(),
        },
    );
    store.limiter(|s| &mut s.limits);
    store.epoch_deadline_trap();
    store.set_epoch_deadline(config.ticks());
    store
}

type Callbacks = (
    TypedFunc<(u32, u32), ()>,
    Option<TypedFunc<u64, ()>>,
    Option<TypedFunc<(), ()>>,
);

/// The instance's `fh_on_batch`, and its `fh_on_missed` and `fh_on_finish` if exported.
fn callbacks(
    inst: &wasmtime::Instance,
    store: &mut Store<GuestState>,
    err: &dyn Fn(String) -> WasmError,
) -> Result<Callbacks, WasmError> {
    let on_batch = inst
        .get_typed_func::<(u32, u32), ()>(&mut *store, "fh_on_batch")
        .map_err(|e| err(format!("export 'fh_on_batch': {}", one_line(&e))))?;
    let on_missed = match inst.get_func(&mut *store, "fh_on_missed") {
        Some(f) => Some(
            f.typed::<u64, ()>(&*store)
                .map_err(|e| err(format!("export 'fh_on_missed': {}", one_line(&e))))?,
        ),
        None => None,
    };
    let on_finish = match inst.get_func(&mut *store, "fh_on_finish") {
        Some(f) => Some(
            f.typed::<(), ()>(&*store)
                .map_err(|e| err(format!("export 'fh_on_finish': {}", one_line(&e))))?,
        ),
        None => None,
    };
    Ok((on_batch, on_missed, on_finish))
}

impl Guest {
    /// Gives the host functions the market view.
    pub(crate) fn set_view(&mut self, view: MarketView) {
        self.store.data_mut().view = Some(view);
    }

    /// Writes `u` as record `i` of the region (the host's 64-byte layout, field by field,
    /// little-endian, padding zeroed). `i` < `region_len`.
    #[inline]
    pub(crate) fn write(&mut self, i: usize, u: &fh_feed::update::BookUpdate) {
        let off = self.region + i * RECORD;
        let Some(m) = self.memory else { return };
        // The region was inside the memory at start-up and a memory never shrinks.
        if let Some(dst) = m.data_mut(&mut self.store).get_mut(off..off + RECORD) {
            dst.copy_from_slice(&record(u));
        }
    }

    /// Calls `fh_on_batch(first, count)` under the deadline.
    #[inline]
    pub(crate) fn on_batch(&mut self, now: u64, first: u32, count: u32) -> Result<(), String> {
        self.store.data_mut().now = now;
        self.store.set_epoch_deadline(self.ticks);
        let t0 = self.clock.now();
        let r = self.on_batch.call(&mut self.store, (first, count));
        r.map_err(|e| self.failed(t0, &e))
    }

    /// Calls `fh_on_missed(count)` if exported.
    pub(crate) fn on_missed(&mut self, now: u64, count: u64) -> Result<(), String> {
        let Some(f) = self.on_missed.clone() else {
            return Ok(());
        };
        self.store.data_mut().now = now;
        self.store.set_epoch_deadline(self.ticks);
        let t0 = self.clock.now();
        let r = f.call(&mut self.store, count);
        r.map_err(|e| self.failed(t0, &e))
    }

    /// Calls `fh_on_finish()` if exported.
    pub(crate) fn on_finish(&mut self, now: u64) -> Result<(), String> {
        let Some(f) = self.on_finish.clone() else {
            return Ok(());
        };
        self.store.data_mut().now = now;
        self.store.set_epoch_deadline(self.ticks);
        let t0 = self.clock.now();
        let r = f.call(&mut self.store, ());
        r.map_err(|e| self.failed(t0, &e))
    }

    /// A call that started at `t0` failed with `e`: how long it ran, and why, in words.
    #[cold]
    fn failed(&mut self, t0: u64, e: &wasmtime::Error) -> String {
        self.failed_after_ns = self.clock.now().saturating_sub(t0);
        reason(e, self.deadline)
    }

    /// The guest's memory size now, bytes.
    pub fn memory_bytes(&self) -> usize {
        match (&self.memory, &self.store.data().shared) {
            (Some(m), _) => m.data_size(&self.store),
            (None, Some((m, _))) => m.data_size(),
            (None, None) => 0,
        }
    }
}

/// The host's update as the guest's 64-byte record.
#[inline]
pub fn record(u: &fh_feed::update::BookUpdate) -> [u8; RECORD] {
    let mut r = [0u8; RECORD];
    for (i, w) in [
        u.seq,
        u.exch_ts,
        u.recv_ts,
        u.engine_ts,
        u.price as u64,
        u.shares,
    ]
    .into_iter()
    .enumerate()
    {
        r[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    r[48..52].copy_from_slice(&u.order_count.to_le_bytes());
    r[52..56].copy_from_slice(&u.instrument.to_le_bytes());
    r[56] = u.kind as u8;
    r[57] = u.side as u8;
    r[58..60].copy_from_slice(&u.flags.bits().to_le_bytes());
    r
}

const _: () = {
    use core::mem::offset_of;
    use fh_feed::update::BookUpdate as U;
    assert!(core::mem::size_of::<U>() == RECORD);
    assert!(offset_of!(U, price) == 32 && offset_of!(U, shares) == 40);
    assert!(offset_of!(U, order_count) == 48 && offset_of!(U, instrument) == 52);
    assert!(offset_of!(U, kind) == 56 && offset_of!(U, side) == 57 && offset_of!(U, flags) == 58);
};

/// Why a call failed, in words.
fn reason(e: &wasmtime::Error, deadline: Duration) -> String {
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => format!("deadline of {} ms exceeded", deadline.as_millis()),
        Some(Trap::StackOverflow) => "stack overflow (deep recursion)".to_string(),
        Some(t) => t.to_string().trim_start_matches("wasm trap: ").to_string(),
        None => {
            let s = e.root_cause().to_string();
            let s = s.lines().next().unwrap_or("").trim().to_string();
            if let Some(b) = s.strip_prefix("forcing trap when growing memory to ") {
                format!("memory limit exceeded (memory.grow to {b})")
            } else {
                s
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::offset_of;
    use fh_feed::update::{BookUpdate, Flags, Side, UpdateKind};
    use fh_guest::BookUpdate as G;

    #[test]
    fn the_record_is_the_guest_struct_field_by_field() {
        let u = BookUpdate {
            seq: 0x0102_0304_0506_0708,
            exch_ts: 2,
            recv_ts: 3,
            engine_ts: 4,
            price: -1_234_500,
            shares: 77,
            order_count: 0xdead_beef,
            instrument: 0x1_0005,
            kind: UpdateKind::TradeBreak,
            side: Side::Ask,
            flags: Flags::STALE | Flags::from_bits(0x8000),
        };
        let r = record(&u);
        let g = crate::native::guest_update(&u);
        let u64_at = |o: usize| u64::from_le_bytes(r[o..o + 8].try_into().unwrap());
        let u32_at = |o: usize| u32::from_le_bytes(r[o..o + 4].try_into().unwrap());
        assert_eq!(u64_at(offset_of!(G, seq)), g.seq);
        assert_eq!(u64_at(offset_of!(G, exch_ts)), g.exch_ts);
        assert_eq!(u64_at(offset_of!(G, recv_ts)), g.recv_ts);
        assert_eq!(u64_at(offset_of!(G, engine_ts)), g.engine_ts);
        assert_eq!(u64_at(offset_of!(G, price)) as i64, g.price);
        assert_eq!(u64_at(offset_of!(G, shares)), g.shares);
        assert_eq!(u32_at(offset_of!(G, order_count)), g.order_count);
        assert_eq!(u32_at(offset_of!(G, instrument)), g.instrument);
        assert_eq!(r[offset_of!(G, kind)], g.kind);
        assert_eq!(r[offset_of!(G, side)], g.side);
        assert_eq!(
            u16::from_le_bytes([r[offset_of!(G, flags)], r[offset_of!(G, flags) + 1]]),
            g.flags
        );
        assert_eq!(&r[60..], &[0; 4], "padding zeroed");
        // The guest's digest of the record is the host's.
        let mut hd = fh_feed::engine::digest::Digest::new();
        hd.add(&u);
        let mut gd = fh_guest::Digest::new();
        gd.add(&g);
        assert_eq!(hd.value(), gd.value());
    }
}
