//! Agents and idle strategies: every thread of fh runs agents with a duty cycle.
//!
//! An [`Agent`] does a bounded amount of work per call of [`Agent::do_work`] and says how much
//! it did; a runner drives it with `loop { idle.idle(agent.do_work(clock.now())) }`, where the
//! [`IdleStrategy`] decides what to do when there was nothing to do: [`BusySpin`] (lowest
//! latency, burns a core), [`SpinYield`] (spin a while, then yield the core), or [`Backoff`]
//! (spin, then yield, then park with a doubling timeout; for shared cores and tests).
//!
//! Whether agents get their own threads or share one is a deployment choice (Agrona's
//! "threading mode"):
//! - [`spawn`] runs one agent on a new named thread, optionally pinned to a core
//!   (`core_affinity`), until [`AgentHandle::stop`] or until the agent reports
//!   [`Agent::is_done`]; `join` hands the agent back so its counters can be read.
//! - Several agents share one thread by composing them: `(A, B)` tuples and [`Composite`]
//!   are agents whose duty cycle runs each member once. [`run_until_done`] drives an agent on
//!   the calling thread, which is how tests and deterministic replays run a whole pipeline.
//!
//! Invariants: the duty cycle allocates nothing (idle strategies are plain counters; only
//! start-up allocates, e.g. the thread and its name); a stop request is honoured within one
//! duty cycle plus one idle step (a park lasts at most [`Backoff`]'s `max_park`);
//! [`Agent::on_start`] and [`Agent::on_close`] run exactly once, on the agent's own thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Nanoseconds on fh's monotonic clock (see [`MonotonicClock`]).
pub type Nanos = u64;

/// A unit of work driven by a duty cycle.
pub trait Agent {
    /// A short name for threads, logs and reports.
    fn name(&self) -> &str;

    /// Called once on the agent's thread before the first duty cycle.
    fn on_start(&mut self) {}

    /// Does a bounded amount of work and returns how much (0 = idle). `now` is the runner's
    /// clock; agents never read a clock of their own, so replays are deterministic.
    fn do_work(&mut self, now: Nanos) -> usize;

    /// True once the agent has nothing more to do (e.g. its input ring is closed and drained);
    /// the runner then stops. Defaults to never.
    fn is_done(&self) -> bool {
        false
    }

    /// Called once on the agent's thread after the last duty cycle.
    fn on_close(&mut self) {}
}

/// Two agents sharing one thread: each duty cycle runs both, in order.
impl<A: Agent, B: Agent> Agent for (A, B) {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn on_start(&mut self) {
        self.0.on_start();
        self.1.on_start();
    }
    fn do_work(&mut self, now: Nanos) -> usize {
        self.0.do_work(now) + self.1.do_work(now)
    }
    fn is_done(&self) -> bool {
        self.0.is_done() && self.1.is_done()
    }
    fn on_close(&mut self) {
        self.0.on_close();
        self.1.on_close();
    }
}

/// Any number of agents sharing one thread, run in the order given; done when all are done.
pub struct Composite {
    name: String,
    agents: Vec<Box<dyn Agent + Send>>,
}

impl Composite {
    /// Groups `agents` (allocated once, at start-up) under `name`.
    pub fn new(name: impl Into<String>, agents: Vec<Box<dyn Agent + Send>>) -> Self {
        Self {
            name: name.into(),
            agents,
        }
    }

    /// The member agents, e.g. to read their counters after the run.
    pub fn agents(&self) -> &[Box<dyn Agent + Send>] {
        &self.agents
    }
}

impl core::fmt::Debug for Composite {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut list = f.debug_list();
        for a in &self.agents {
            list.entry(&a.name());
        }
        list.finish()
    }
}

impl Agent for Composite {
    fn name(&self) -> &str {
        &self.name
    }
    fn on_start(&mut self) {
        self.agents.iter_mut().for_each(|a| a.on_start());
    }
    fn do_work(&mut self, now: Nanos) -> usize {
        self.agents.iter_mut().map(|a| a.do_work(now)).sum()
    }
    fn is_done(&self) -> bool {
        self.agents.iter().all(|a| a.is_done())
    }
    fn on_close(&mut self) {
        self.agents.iter_mut().for_each(|a| a.on_close());
    }
}

/// What a duty cycle does after a pass: nothing when work was done, wait a little when not.
pub trait IdleStrategy {
    /// Called after every duty cycle with the work it did.
    fn idle(&mut self, work_count: usize);
    /// Forgets the escalation state (called when work was found).
    fn reset(&mut self);
}

/// Never gives up the core: a `spin_loop` hint per idle cycle. Lowest wake-up latency; use
/// only with a dedicated (pinned, isolated) core.
#[derive(Clone, Copy, Debug, Default)]
pub struct BusySpin;

impl IdleStrategy for BusySpin {
    #[inline]
    fn idle(&mut self, work_count: usize) {
        if work_count == 0 {
            core::hint::spin_loop();
        }
    }
    #[inline]
    fn reset(&mut self) {}
}

/// Spins `spins` idle cycles, then yields the core on every further idle cycle.
#[derive(Clone, Copy, Debug)]
pub struct SpinYield {
    spins: u32,
    count: u32,
}

impl SpinYield {
    /// Spins `spins` idle cycles before yielding.
    pub const fn new(spins: u32) -> Self {
        Self { spins, count: 0 }
    }
}

impl Default for SpinYield {
    fn default() -> Self {
        Self::new(100)
    }
}

impl IdleStrategy for SpinYield {
    #[inline]
    fn idle(&mut self, work_count: usize) {
        if work_count > 0 {
            self.count = 0;
        } else if self.count < self.spins {
            self.count += 1;
            core::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
    #[inline]
    fn reset(&mut self) {
        self.count = 0;
    }
}

/// Agrona's back-off: spin `max_spins` idle cycles, yield `max_yields` more, then park for
/// `min_park`, doubling up to `max_park` while idleness lasts. Any work resets it.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    max_spins: u32,
    max_yields: u32,
    min_park: Duration,
    max_park: Duration,
    spins: u32,
    yields: u32,
    park: Duration,
}

impl Backoff {
    /// A back-off with the given phases.
    pub const fn new(
        max_spins: u32,
        max_yields: u32,
        min_park: Duration,
        max_park: Duration,
    ) -> Self {
        Self {
            max_spins,
            max_yields,
            min_park,
            max_park,
            spins: 0,
            yields: 0,
            park: min_park,
        }
    }

    /// The current park duration (grows while idle), for tests and reports.
    pub fn current_park(&self) -> Duration {
        self.park
    }
}

impl Default for Backoff {
    /// 100 spins, 10 yields, then parks from 1 µs up to 1 ms.
    fn default() -> Self {
        Self::new(100, 10, Duration::from_micros(1), Duration::from_millis(1))
    }
}

impl IdleStrategy for Backoff {
    #[inline]
    fn idle(&mut self, work_count: usize) {
        if work_count > 0 {
            self.reset();
        } else if self.spins < self.max_spins {
            self.spins += 1;
            core::hint::spin_loop();
        } else if self.yields < self.max_yields {
            self.yields += 1;
            std::thread::yield_now();
        } else {
            std::thread::park_timeout(self.park);
            self.park = (self.park * 2).min(self.max_park);
        }
    }
    #[inline]
    fn reset(&mut self) {
        self.spins = 0;
        self.yields = 0;
        self.park = self.min_park;
    }
}

/// An idle strategy chosen at run time (from configuration or the command line).
#[derive(Clone, Copy, Debug)]
pub enum Idle {
    /// See [`BusySpin`].
    BusySpin(BusySpin),
    /// See [`SpinYield`].
    SpinYield(SpinYield),
    /// See [`Backoff`].
    Backoff(Backoff),
}

impl Default for Idle {
    fn default() -> Self {
        Idle::Backoff(Backoff::default())
    }
}

impl IdleStrategy for Idle {
    #[inline]
    fn idle(&mut self, work_count: usize) {
        match self {
            Idle::BusySpin(s) => s.idle(work_count),
            Idle::SpinYield(s) => s.idle(work_count),
            Idle::Backoff(s) => s.idle(work_count),
        }
    }
    #[inline]
    fn reset(&mut self) {
        match self {
            Idle::BusySpin(s) => s.reset(),
            Idle::SpinYield(s) => s.reset(),
            Idle::Backoff(s) => s.reset(),
        }
    }
}

/// fh's clock: nanoseconds since an epoch taken at start-up, monotonic, comparable across
/// threads (copies share the epoch).
#[derive(Clone, Copy, Debug)]
pub struct MonotonicClock {
    epoch: Instant,
}

impl MonotonicClock {
    /// A clock whose zero is now.
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
        }
    }

    /// Nanoseconds since the epoch (saturating after 584 years).
    #[inline]
    pub fn now(&self) -> Nanos {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs `agent` on the calling thread until it is done or `stop` is set: `on_start`, duty
/// cycles with `idle`, `on_close`. Returns the number of duty cycles that did work.
pub fn run<A: Agent + ?Sized, I: IdleStrategy>(
    agent: &mut A,
    idle: &mut I,
    clock: &MonotonicClock,
    stop: &AtomicBool,
) -> u64 {
    agent.on_start();
    let mut busy_cycles = 0u64;
    while !stop.load(Ordering::Acquire) && !agent.is_done() {
        let work = agent.do_work(clock.now());
        busy_cycles += u64::from(work > 0);
        idle.idle(work);
    }
    agent.on_close();
    busy_cycles
}

/// Runs `agent` on the calling thread until [`Agent::is_done`], with a [`Backoff`] idle: the
/// single-threaded mode of tests and deterministic replays (compose agents with tuples or
/// [`Composite`] to run a pipeline in one thread).
pub fn run_until_done<A: Agent + ?Sized>(agent: &mut A, clock: &MonotonicClock) -> u64 {
    let never = AtomicBool::new(false);
    run(agent, &mut Backoff::default(), clock, &never)
}

/// How to run an agent on its own thread.
#[derive(Clone, Debug, Default)]
pub struct ThreadConfig {
    /// Thread name (defaults to the agent's name).
    pub name: Option<String>,
    /// Core to pin the thread to (`core_affinity` id), if any.
    pub core: Option<usize>,
    /// Idle strategy of the duty cycle.
    pub idle: Idle,
}

/// A running agent thread.
#[derive(Debug)]
pub struct AgentHandle<A> {
    name: String,
    stop: Arc<AtomicBool>,
    pinned: Option<usize>,
    thread: JoinHandle<A>,
}

impl<A> AgentHandle<A> {
    /// The thread's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The core the thread was pinned to, if pinning was asked for and succeeded.
    pub fn pinned_core(&self) -> Option<usize> {
        self.pinned
    }

    /// Asks the agent to stop after its current duty cycle.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// True once the thread has finished (stopped or done).
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Waits for the thread to finish (after [`Self::stop`] or the agent being done) and
    /// returns the agent. Errs with the agent's name if the agent panicked.
    pub fn join(self) -> Result<A, String> {
        let name = self.name;
        self.thread
            .join()
            .map_err(|_| format!("agent thread {name} panicked"))
    }

    /// [`Self::stop`] then [`Self::join`].
    pub fn stop_and_join(self) -> Result<A, String> {
        self.stop();
        self.join()
    }
}

/// Runs `agent` on a new thread configured by `config` (see [`run`]). When a core is asked
/// for, the thread pins itself before `on_start`; [`AgentHandle::pinned_core`] tells whether
/// that worked. Errs only if the thread cannot be created.
pub fn spawn<A: Agent + Send + 'static>(
    mut agent: A,
    config: ThreadConfig,
    clock: MonotonicClock,
) -> std::io::Result<AgentHandle<A>> {
    let name = config
        .name
        .clone()
        .unwrap_or_else(|| agent.name().to_owned());
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = Arc::clone(&stop);
    let (pin_tx, pin_rx) = std::sync::mpsc::sync_channel(1);
    let mut idle = config.idle;
    let core = config.core;
    let thread = std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let pinned =
                core.filter(|&id| core_affinity::set_for_current(core_affinity::CoreId { id }));
            // The spawner waits for this message; it cannot be gone.
            let _ = pin_tx.send(pinned);
            run(&mut agent, &mut idle, &clock, &thread_stop);
            agent
        })?;
    let pinned = pin_rx.recv().unwrap_or(None);
    Ok(AgentHandle {
        name,
        stop,
        pinned,
        thread,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts down `left` units of work, one per duty cycle, idling every other cycle.
    #[derive(Debug)]
    struct Countdown {
        name: &'static str,
        left: u32,
        cycles: u32,
        started: u32,
        closed: u32,
        last_now: Nanos,
    }

    impl Countdown {
        fn new(name: &'static str, left: u32) -> Self {
            Self {
                name,
                left,
                cycles: 0,
                started: 0,
                closed: 0,
                last_now: 0,
            }
        }
    }

    impl Agent for Countdown {
        fn name(&self) -> &str {
            self.name
        }
        fn on_start(&mut self) {
            self.started += 1;
        }
        fn do_work(&mut self, now: Nanos) -> usize {
            assert!(now >= self.last_now, "clock went backwards");
            self.last_now = now;
            self.cycles += 1;
            if self.cycles.is_multiple_of(2) || self.left == 0 {
                return 0;
            }
            self.left -= 1;
            1
        }
        fn is_done(&self) -> bool {
            self.left == 0
        }
        fn on_close(&mut self) {
            self.closed += 1;
        }
    }

    #[test]
    fn agents_share_one_thread_until_all_done() {
        let mut pair = (Countdown::new("a", 3), Countdown::new("b", 5));
        let busy = run_until_done(&mut pair, &MonotonicClock::new());
        assert_eq!((pair.0.left, pair.1.left), (0, 0));
        assert_eq!(
            (pair.0.started, pair.0.closed, pair.1.started, pair.1.closed),
            (1, 1, 1, 1)
        );
        // b needs 5 working cycles out of 9; a's 3 ride along in the first of them.
        assert_eq!(busy, 5);
        assert_eq!(pair.1.cycles, 9);

        let mut all = Composite::new(
            "all",
            vec![
                Box::new(Countdown::new("x", 2)),
                Box::new(Countdown::new("y", 4)),
            ],
        );
        run_until_done(&mut all, &MonotonicClock::new());
        assert!(all.is_done());
        assert_eq!(format!("{all:?}"), r#"["x", "y"]"#);
    }

    #[test]
    fn backoff_escalates_then_resets_on_work() {
        let mut b = Backoff::new(2, 1, Duration::from_nanos(10), Duration::from_nanos(35));
        for _ in 0..3 {
            b.idle(0); // 2 spins, 1 yield
        }
        assert_eq!(b.current_park(), Duration::from_nanos(10));
        b.idle(0);
        assert_eq!(b.current_park(), Duration::from_nanos(20));
        b.idle(0);
        b.idle(0);
        assert_eq!(
            b.current_park(),
            Duration::from_nanos(35),
            "capped at max_park"
        );
        b.idle(1);
        assert_eq!(b.current_park(), Duration::from_nanos(10));
        assert_eq!((b.spins, b.yields), (0, 0));

        let mut s = SpinYield::new(3);
        for _ in 0..5 {
            s.idle(0);
        }
        assert_eq!(s.count, 3);
        s.idle(7);
        assert_eq!(s.count, 0);
    }

    /// Never done: works forever until stopped.
    #[derive(Debug)]
    struct Forever(u64);
    impl Agent for Forever {
        fn name(&self) -> &str {
            "forever"
        }
        fn do_work(&mut self, _now: Nanos) -> usize {
            self.0 += 1;
            usize::from(self.0.is_multiple_of(3))
        }
    }

    #[test]
    fn spawned_agent_is_named_pinned_and_stops_cleanly() {
        let config = ThreadConfig {
            name: Some("fh-test-agent".into()),
            core: Some(0),
            idle: Idle::default(),
        };
        let handle = spawn(Forever(0), config, MonotonicClock::new()).unwrap();
        assert_eq!(handle.name(), "fh-test-agent");
        assert_eq!(handle.pinned_core(), Some(0));
        std::thread::sleep(Duration::from_millis(5));
        let agent = handle.stop_and_join().unwrap();
        assert!(agent.0 > 0);

        // An agent that reports done ends its thread by itself.
        let handle = spawn(
            Countdown::new("short", 4),
            ThreadConfig::default(),
            MonotonicClock::new(),
        )
        .unwrap();
        assert_eq!(handle.name(), "short");
        assert_eq!(handle.pinned_core(), None);
        let agent = handle.join().unwrap();
        assert_eq!((agent.left, agent.started, agent.closed), (0, 1, 1));
    }
}
