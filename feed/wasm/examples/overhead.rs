//! What running a strategy as a WebAssembly module costs against running it natively, in one
//! replay: fh's stream digest natively (`native`, the SDK's `DigestOnly` strategy), as the
//! copying-mode module (`wasm-copy`: each update copied into the guest's memory) and as the
//! shared-mode module (`wasm-shared`: the guest reads the ring's slots in place,
//! `feed/wasm/guest/wat/digest_shared.wat`), each on its own thread, fed by the same ring.
//!
//! ```sh
//! cargo build --release --target wasm32-unknown-unknown --features module \
//!   --examples --manifest-path feed/wasm/guest/Cargo.toml --target-dir target/wasm-guest
//! cargo run --release -p fh-wasm --example overhead -- CAPTURE \
//!   target/wasm-guest/wasm32-unknown-unknown/release/examples/digest.wasm HGRM_DIR \
//!   [dedicated|shared] [RING_SIZE]
//! ```
//!
//! `shared` runs the engine and the strategies on one thread, one after the other after each
//! event (no preemption between them; the thread CPU figure is then the whole run's, and each
//! strategy's hop includes the strategies before it).
//!
//! Prints, per strategy: updates, busy time per update (the clock read at the start and end
//! of each batch: the work done on the strategy's thread, idle polling excluded), thread CPU
//! per update (`CLOCK_THREAD_CPUTIME_ID` over the run, idle polling included), the digest, and
//! the hop latency's percentiles; writes `consume.NAME.hgrm` and `end_to_end.NAME.hgrm` to
//! HGRM_DIR.

use std::path::PathBuf;

use fh_feed::latency::{Clock, LatencyConfig};
use fh_feed::pipeline::{thread_cpu_ns, Pipeline, RingSettings, StrategyOptions, Threading};
use fh_feed::strategy::{Context, Figures, Strategy};
use fh_feed::update::BookUpdate;
use fh_wasm::native::Native;
use std::sync::Arc;

use fh_wasm::{
    add_guest, add_shared_guest, Guest, RingMemory, SignalLog, WasmConfig, WasmHost, WasmModule,
};

/// A strategy with its busy time (batch start to batch end) and thread CPU measured.
struct Timed<S> {
    inner: S,
    clock: Clock,
    batch_start: u64,
    busy: u64,
    cpu0: u64,
    cpu: u64,
    updates: u64,
}

impl<S: Strategy> Strategy for Timed<S> {
    #[inline]
    fn on_update(&mut self, u: &BookUpdate, ctx: &Context<'_>) {
        if self.batch_start == 0 {
            self.batch_start = self.clock.now();
            if self.cpu0 == 0 {
                self.cpu0 = thread_cpu_ns().unwrap_or(0);
            }
        }
        self.updates += 1;
        self.inner.on_update(u, ctx);
    }
    fn on_batch_end(&mut self, ctx: &Context<'_>) {
        self.inner.on_batch_end(ctx);
        if self.batch_start != 0 {
            self.busy += self.clock.now().saturating_sub(self.batch_start);
            self.batch_start = 0;
        }
    }
    fn on_finish(&mut self, ctx: &Context<'_>) {
        self.cpu = thread_cpu_ns().unwrap_or(0).saturating_sub(self.cpu0);
        self.inner.on_finish(ctx);
    }
    fn report(&self, out: &mut Figures) {
        self.inner.report(out);
        let n = self.updates.max(1) as f64;
        out.real("busy ns per update", self.busy as f64 / n)
            .real("thread cpu ns per update", self.cpu as f64 / n);
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let file = PathBuf::from(args.next().expect("CAPTURE"));
    let module = PathBuf::from(args.next().expect("digest.wasm"));
    let hgrm = PathBuf::from(args.next().expect("HGRM_DIR"));
    let threading = match args.next().as_deref() {
        None | Some("dedicated") => Threading::Dedicated,
        Some("shared") => Threading::Shared,
        Some(x) => panic!("{x}: dedicated or shared"),
    };
    let size: usize = args
        .next()
        .map_or(1 << 16, |s| s.parse().expect("RING_SIZE"));
    std::fs::create_dir_all(&hgrm).expect("HGRM_DIR");
    let host = WasmHost::new().expect("wasmtime");
    let m = WasmModule::load(&host, &module).unwrap_or_else(|e| panic!("{e}"));
    let guest = Guest::new(&m, &WasmConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    let shared_host = WasmHost::new_shared().expect("wasmtime (threads)");
    let wat = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("guest/wat/digest_shared.wat");
    let sm = WasmModule::load(&shared_host, &wat).unwrap_or_else(|e| panic!("{e}"));
    let ring = Arc::new(RingMemory::new(size).expect("ring memory"));
    let shared_guest =
        Guest::new_shared(&sm, &WasmConfig::default(), &ring).unwrap_or_else(|e| panic!("{e}"));
    let log = SignalLog::new();
    let native = Timed {
        inner: Native::new(
            "native",
            Box::new(fh_guest::examples::DigestOnly::new()),
            log.clone(),
        ),
        clock: *Clock::global(),
        batch_start: 0,
        busy: 0,
        cpu0: 0,
        cpu: 0,
        updates: 0,
    };
    let p = Pipeline::replay(&file)
        .ring(RingSettings {
            size,
            ..RingSettings::default()
        })
        .threading(threading)
        .latency(LatencyConfig {
            hgrm: Some(hgrm.clone()),
            stamp_every: 1,
            ..LatencyConfig::default()
        })
        .strategy("native", native);
    let p = add_guest(
        p,
        "wasm-copy",
        guest,
        StrategyOptions::default(),
        log.clone(),
    );
    let p = add_shared_guest(
        p,
        "wasm-shared",
        shared_guest,
        &ring,
        StrategyOptions::default(),
        log.clone(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let r = p.run().expect("replay").report;
    for s in &r.strategies {
        let f = |n: &str| s.figures.get(n).map(|v| v.to_string()).unwrap_or_default();
        println!(
            "{:16} updates {:>9} batches {:>8} busy ns/update {:>8} thread cpu ns/update {:>8} digest {}",
            s.name,
            s.stats.delivered,
            s.stats.batches,
            f("busy ns per update"),
            if threading == Threading::Shared {
                "(one thread)".to_string()
            } else {
                f("thread cpu ns per update")
            },
            f("guest digest"),
        );
    }
    if let Some(l) = &r.latency {
        for st in l.stages.iter().filter(|s| s.name.starts_with("consume.")) {
            println!(
                "{:28} count {:>9} p50 {:>7} p99 {:>8} p99.9 {:>8} max {:>9} ns",
                st.name,
                st.count,
                st.quantile(0.5).unwrap_or(0),
                st.quantile(0.99).unwrap_or(0),
                st.quantile(0.999).unwrap_or(0),
                st.max
            );
        }
    }
    println!("hgrm files in {}", hgrm.display());
}
