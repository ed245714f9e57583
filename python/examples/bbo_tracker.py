"""BBO tracker: follows the best bid and offer of every instrument from `fh … --shm NAME`.

    python python/examples/bbo_tracker.py NAME [SYMBOL ...]

Each update flagged BEST_CHANGED is followed by a read of the instrument's row in the
top-of-book table; at the end it prints, per symbol, the number of BBO changes, the tightest
and widest spread seen and the final quote. Updates are read as numpy arrays in place.
"""

import sys
import time

import numpy as np

from fh_shm import BEST_CHANGED, PRICE_SCALE, Subscriber


def main() -> int:
    name, wanted = sys.argv[1], set(sys.argv[2:])
    sub = Subscriber(name, buffer=65536)  # clamped to the service's --shm-buffer
    stats = {}
    while not sub.ended:
        b = sub.receive()
        if b is None:
            if sub.samples and sub.publisher_gone():
                break
            time.sleep(0.0005)
            continue
        with b:
            changed = np.unique(b.updates["instrument"][(b.updates["flags"] & BEST_CHANGED) != 0])
        for inst in changed.tolist():
            r = sub.top(inst)
            if r is None or not r["symbol"] or (wanted and r["symbol"] not in wanted):
                continue
            s = stats.setdefault(r["symbol"], {"changes": 0, "min": None, "max": None, "last": r})
            s["changes"] += 1
            s["last"] = r
            if r["bid_shares"] and r["ask_shares"]:
                spread = r["ask_price"] - r["bid_price"]
                s["min"] = spread if s["min"] is None else min(s["min"], spread)
                s["max"] = spread if s["max"] is None else max(s["max"], spread)
    for sym, s in sorted(stats.items(), key=lambda kv: -kv[1]["changes"])[:20]:
        r = s["last"]
        sp = lambda v: "-" if v is None else f"{v / PRICE_SCALE:.4f}"
        print(
            f"{sym:8} changes {s['changes']:7} spread min {sp(s['min'])} max {sp(s['max'])} "
            f"last {r['bid_shares']}@{r['bid_price'] / PRICE_SCALE:.4f} / {r['ask_shares']}@{r['ask_price'] / PRICE_SCALE:.4f}"
        )
    print(f"received {sub.received} updates, missed {sub.missed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
