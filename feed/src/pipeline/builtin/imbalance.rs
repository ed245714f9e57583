//! Order-book imbalance signal: at each event end, read the instrument's top of book and
//! signal when the size imbalance `(bid - ask) / (bid + ask)` crosses ±`threshold_bp`.

use std::collections::HashMap;

use fh_feed::strategy::{Context, Figures, Strategy};
use fh_feed::update::{BookUpdate, InstrumentId};

/// See the module docs.
#[derive(Debug, Default)]
pub struct Imbalance {
    /// Signal threshold, basis points (0: the default, 6 000).
    pub threshold_bp: i64,
    state: HashMap<InstrumentId, i8>,
    events: u64,
    signals: u64,
}

impl Strategy for Imbalance {
    fn on_update(&mut self, u: &BookUpdate, ctx: &Context<'_>) {
        let Some(b) = ctx.top(u.instrument).filter(|_| u.flags.last_in_event()) else {
            return;
        };
        self.events += 1;
        let (bid, ask) = (i128::from(b.bid_shares), i128::from(b.ask_shares));
        let bp = (bid - ask) * 10_000 / (bid + ask).max(1);
        let t = i128::from(Some(self.threshold_bp).filter(|&t| t > 0).unwrap_or(6_000));
        let sig = i8::from(bp >= t) - i8::from(bp <= -t);
        let last = std::mem::replace(self.state.entry(u.instrument).or_insert(0), sig);
        self.signals += u64::from(sig != 0 && sig != last);
    }

    fn report(&self, out: &mut Figures) {
        out.count("events", self.events)
            .count("signals", self.signals);
    }
}
