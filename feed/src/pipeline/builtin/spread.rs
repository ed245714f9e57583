//! Spread tracker: on every update that moved a best price, read the instrument's top of
//! book and keep the spread's mean and maximum, and count locked or crossed books.

use fh_feed::strategy::{Context, Figures, Strategy};
use fh_feed::update::BookUpdate;

/// See the module docs.
#[derive(Debug, Default)]
pub struct Spread {
    samples: u64,
    sum: i128,
    max: i64,
    locked_or_crossed: u64,
}

impl Strategy for Spread {
    fn on_update(&mut self, u: &BookUpdate, ctx: &Context<'_>) {
        if !u.flags.best_changed() {
            return;
        }
        if let Some(b) = ctx
            .top(u.instrument)
            .filter(|b| b.bid_shares > 0 && b.ask_shares > 0)
        {
            let s = b.ask_price - b.bid_price;
            self.samples += 1;
            self.sum += i128::from(s);
            self.max = self.max.max(s);
            self.locked_or_crossed += u64::from(s <= 0);
        }
    }

    fn report(&self, out: &mut Figures) {
        let mean = self.sum.checked_div(i128::from(self.samples)).unwrap_or(0);
        out.count("two-sided samples", self.samples)
            .real("mean spread", mean as f64 / 1e4)
            .real("max spread", self.max as f64 / 1e4)
            .count("locked or crossed", self.locked_or_crossed);
    }
}
