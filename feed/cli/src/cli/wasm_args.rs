//! `--wasm FILE` (repeatable) and its limits: WebAssembly strategy modules (fh-wasm) on the
//! pipeline of `fh replay --pipeline` and `fh live`, and `--signals-csv` for what they emit.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::{CliError, CliResult};
use fh_feed::pipeline::output::{NamedPath, Role};
use fh_feed::pipeline::{Pipeline, StrategyOptions};
use fh_feed::ring::Policy;
use fh_wasm::{Guest, RingMemory, SignalLog, WasmConfig, WasmHost, WasmModule};

/// WebAssembly strategies.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WasmArgs {
    /// Run a WebAssembly strategy module (binary or text format; repeatable), each on its own
    /// agent, sandboxed: imports only fh.{top,symbol,now,signal,figure}, no WASI.
    #[arg(long = "wasm", value_name = "FILE")]
    pub modules: Vec<PathBuf>,
    /// Longest one call of a module (one batch) may run, ms (1 to 10 000; default 100); a
    /// module that runs past it is stopped and reported.
    #[arg(long, value_name = "MS")]
    pub wasm_deadline_ms: Option<u64>,
    /// Most memory a module's instance may have, MiB (1 to 4096; default 64); a module that
    /// grows past it is stopped and reported.
    #[arg(long, value_name = "MIB")]
    pub wasm_memory_mib: Option<u64>,
    /// Run the --wasm modules in shared mode: each reads the ring's slots in place from a
    /// read-only mapping in its (wasm shared) memory, no copy; the modules must be built for it
    /// (import fh.memory, export fh_ring). Uses wasmtime's threads support (tier 2 in wasmtime).
    /// Needs the no-loss policy.
    #[arg(long)]
    pub wasm_shared: bool,
    /// Write the modules' signals as CSV (strategy,instrument,symbol,kind,value).
    #[arg(long, value_name = "FILE")]
    pub signals_csv: Option<PathBuf>,
    /// The run's signals (shared with the runners).
    #[arg(skip)]
    pub log: SignalLog,
}

impl WasmArgs {
    /// The modules (inputs) and the signals CSV (an output), for `check_paths`.
    pub fn paths(&self) -> Vec<NamedPath> {
        let mut v: Vec<NamedPath> = self
            .modules
            .iter()
            .map(|m| NamedPath::new("--wasm", m, Role::Input))
            .collect();
        if let Some(p) = &self.signals_csv {
            v.push(NamedPath::new("--signals-csv", p, Role::File));
        }
        v
    }

    /// The limits, checked.
    pub fn config(&self) -> Result<WasmConfig, CliError> {
        if self.modules.is_empty() {
            let given = [
                ("--wasm-deadline-ms", self.wasm_deadline_ms.is_some()),
                ("--wasm-memory-mib", self.wasm_memory_mib.is_some()),
                ("--wasm-shared", self.wasm_shared),
                ("--signals-csv", self.signals_csv.is_some()),
            ];
            if let Some((f, _)) = given.iter().find(|(_, g)| *g) {
                return Err(CliError::new(format!("{f}: needs --wasm FILE")));
            }
        }
        let d = WasmConfig::default();
        let c = WasmConfig {
            deadline: self
                .wasm_deadline_ms
                .map_or(d.deadline, Duration::from_millis),
            memory: self
                .wasm_memory_mib
                .map_or(d.memory, |m| m.saturating_mul(1 << 20)),
        };
        c.check().map_err(CliError::new)?;
        Ok(c)
    }

    /// Loads and instantiates every module (a one-line error for a bad one) and adds each to
    /// `p` under `wasm-STEM` (unique among `taken`), the `k`-th pinned to `cores[k]`.
    pub fn add(
        &self,
        mut p: Pipeline,
        taken: &[String],
        cores: &[usize],
    ) -> Result<Pipeline, CliError> {
        let config = self.config()?;
        if self.modules.is_empty() {
            return Ok(p);
        }
        let ring = match self.wasm_shared {
            false => None,
            true => {
                let r = p.ring_settings();
                if r.policy != Policy::NoLoss {
                    return Err(CliError::new(
                        "--wasm-shared: the modules read the ring's slots in place, which needs --policy no-loss",
                    ));
                }
                Some(Arc::new(RingMemory::new(r.size).map_err(CliError::new)?))
            }
        };
        let host: Arc<WasmHost> = match ring {
            None => WasmHost::new(),
            Some(_) => WasmHost::new_shared(),
        }
        .map_err(CliError::new)?;
        let mut names: Vec<String> = taken.to_vec();
        for (k, path) in self.modules.iter().enumerate() {
            let module = WasmModule::load(&host, path).map_err(CliError::new)?;
            let guest = match &ring {
                None => Guest::new(&module, &config),
                Some(r) => Guest::new_shared(&module, &config, r),
            }
            .map_err(CliError::new)?;
            let stem = path
                .file_stem()
                .map_or("module".into(), |s| s.to_string_lossy().into_owned());
            let mut name = format!("wasm-{stem}");
            let mut i = 2;
            while names.contains(&name) {
                name = format!("wasm-{stem}-{i}");
                i += 1;
            }
            names.push(name.clone());
            let opts = StrategyOptions {
                group: None,
                core: cores.get(k).copied(),
            };
            p = match &ring {
                None => fh_wasm::add_guest(p, &name, guest, opts, self.log.clone()),
                Some(r) => fh_wasm::add_shared_guest(p, &name, guest, r, opts, self.log.clone())
                    .map_err(CliError::new)?,
            };
        }
        Ok(p)
    }

    /// After the run: writes `--signals-csv`.
    pub fn write_signals(&self) -> CliResult {
        if let Some(path) = &self.signals_csv {
            self.log.write_csv(path)?;
        }
        Ok(())
    }
}
