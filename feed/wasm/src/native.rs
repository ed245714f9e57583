//! The guest SDK's strategies run natively: [`Native`] is an fh-feed `Strategy` that hands
//! each update to an `fh_guest::Strategy` with a host that reads fh's tables directly — the
//! same logic, compiled for the host, as the module runs in the sandbox.

use fh_feed::strategy::{Context, Figure, Figures, Strategy};
use fh_feed::update::BookUpdate;
use fh_guest::{Bbo, Host};

use crate::signals::{Signal, SignalBuf, SignalLog};

/// An `fh_guest::Strategy` as a native fh strategy; its signals go to a [`SignalLog`].
#[derive(Debug)]
pub struct Native<S> {
    name: String,
    strategy: Box<S>,
    signals: SignalBuf,
    figures: Vec<(String, i64, bool)>,
    log: SignalLog,
}

impl<S> Native<S> {
    /// `strategy` under `name` (the pipeline's name for it), signalling into `log`.
    pub fn new(name: &str, strategy: Box<S>, log: SignalLog) -> Self {
        log.declare(name);
        Native {
            name: name.to_string(),
            strategy,
            signals: SignalBuf::new(),
            figures: Vec::new(),
            log,
        }
    }
}

struct NativeHost<'a, 'c> {
    ctx: &'a Context<'c>,
    signals: &'a mut SignalBuf,
    figures: &'a mut Vec<(String, i64, bool)>,
}

impl Host for NativeHost<'_, '_> {
    #[inline]
    fn top(&mut self, instrument: u32) -> Option<Bbo> {
        self.ctx.top(instrument).map(|b| Bbo {
            bid_price: b.bid_price,
            bid_shares: b.bid_shares,
            ask_price: b.ask_price,
            ask_shares: b.ask_shares,
            seq: b.seq,
            exch_ts: b.exch_ts,
        })
    }
    fn symbol(&mut self, instrument: u32) -> Option<[u8; 8]> {
        self.ctx.symbol(instrument).map(|s| s.0)
    }
    fn now(&mut self) -> u64 {
        self.ctx.now()
    }
    fn signal(&mut self, instrument: u32, kind: u32, value: i64) {
        let symbol = self.ctx.symbol(instrument).map_or([b' '; 8], |s| s.0);
        self.signals.push(Signal {
            instrument,
            kind,
            value,
            symbol,
        });
    }
    fn figure(&mut self, name: &str, value: i64, hex: bool) {
        match self.figures.iter_mut().find(|(n, _, _)| n == name) {
            Some(f) => (f.1, f.2) = (value, hex),
            None => self.figures.push((name.to_string(), value, hex)),
        }
    }
}

/// The host's update as the guest's record (the same fields; a few register moves).
#[inline]
pub fn guest_update(u: &BookUpdate) -> fh_guest::BookUpdate {
    fh_guest::BookUpdate {
        seq: u.seq,
        exch_ts: u.exch_ts,
        recv_ts: u.recv_ts,
        engine_ts: u.engine_ts,
        price: u.price,
        shares: u.shares,
        order_count: u.order_count,
        instrument: u.instrument,
        kind: u.kind as u8,
        side: u.side as u8,
        flags: u.flags.bits(),
    }
}

impl<S: fh_guest::Strategy + Send + 'static> Strategy for Native<S> {
    #[inline]
    fn on_update(&mut self, u: &BookUpdate, ctx: &Context<'_>) {
        let mut h = NativeHost {
            ctx,
            signals: &mut self.signals,
            figures: &mut self.figures,
        };
        self.strategy.on_update(&guest_update(u), &mut h);
    }

    fn on_batch_end(&mut self, ctx: &Context<'_>) {
        let mut h = NativeHost {
            ctx,
            signals: &mut self.signals,
            figures: &mut self.figures,
        };
        self.strategy.on_batch_end(&mut h);
    }

    fn on_missed(&mut self, count: u64, ctx: &Context<'_>) {
        let mut h = NativeHost {
            ctx,
            signals: &mut self.signals,
            figures: &mut self.figures,
        };
        self.strategy.on_missed(count, &mut h);
    }

    fn on_finish(&mut self, ctx: &Context<'_>) {
        let mut h = NativeHost {
            ctx,
            signals: &mut self.signals,
            figures: &mut self.figures,
        };
        self.strategy.on_finish(&mut h);
        self.log
            .hand_in(&self.name, std::mem::take(&mut self.signals.signals));
    }

    fn report(&self, out: &mut Figures) {
        for (name, v, hex) in &self.figures {
            let fig = if *hex {
                Figure::Text(format!("{:016x}", *v as u64))
            } else {
                Figure::Int(*v)
            };
            if name != "signals" {
                out.0.push((format!("guest {name}"), fig));
            }
        }
        let n = self
            .figures
            .iter()
            .find(|f| f.0 == "signals")
            .map_or(0, |f| f.1);
        out.count("signals", n as u64);
    }
}
