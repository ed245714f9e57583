//! Trade tape: every printable trade, with volume, trade count and VWAP per symbol.

use std::collections::HashMap;

use fh_feed::strategy::{Context, Figures, Strategy};
use fh_feed::update::{BookUpdate, UpdateKind};

/// See the module docs.
#[derive(Debug, Default)]
pub struct Tape {
    /// Per symbol: trades, shares, notional (price × shares, 4 implied decimals).
    pub by_symbol: HashMap<String, (u64, u64, u128)>,
}

impl Strategy for Tape {
    fn on_update(&mut self, u: &BookUpdate, ctx: &Context<'_>) {
        if u.kind != UpdateKind::Trade || u.flags.non_printable() {
            return;
        }
        let sym = ctx
            .symbol(u.instrument)
            .map_or_else(|| u.instrument.to_string(), |s| s.to_string());
        let e = self.by_symbol.entry(sym).or_default();
        e.0 += 1;
        e.1 += u.shares;
        e.2 += u128::from(u.shares) * u128::from(u.price.unsigned_abs());
    }

    fn report(&self, out: &mut Figures) {
        let mut top: Vec<_> = self.by_symbol.iter().collect();
        top.sort_by(|a, b| b.1 .1.cmp(&a.1 .1).then(a.0.cmp(b.0)));
        out.count("trades", self.by_symbol.values().map(|v| v.0).sum())
            .count("symbols", self.by_symbol.len() as u64);
        for (sym, &(n, shares, notional)) in top.iter().take(3) {
            let vwap = notional as f64 / shares.max(1) as f64 / 1e4;
            out.text(sym, format!("{n} trades, {shares} shares, VWAP {vwap:.4}"));
        }
    }
}
