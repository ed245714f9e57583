"""Trade tape: prints every printable trade from `fh … --shm NAME` and the VWAP per symbol.

    python python/examples/trade_tape.py NAME [--quiet]

Trades are selected with numpy over the sample in shared memory (kind == TRADE and not
NON_PRINTABLE); symbols come from the top-of-book table.
"""

import sys
import time

from fh_shm import NON_PRINTABLE, PRICE_SCALE, TRADE, Subscriber


def main() -> int:
    name, quiet = sys.argv[1], "--quiet" in sys.argv[2:]
    sub = Subscriber(name, buffer=65536)  # clamped to the service's --shm-buffer
    vwap = {}
    while not sub.ended:
        b = sub.receive()
        if b is None:
            if sub.samples and sub.publisher_gone():
                break
            time.sleep(0.0005)
            continue
        with b:
            u = b.updates
            t = u[(u["kind"] == TRADE) & ((u["flags"] & NON_PRINTABLE) == 0)].copy()
        for tr in t:
            r = sub.top(int(tr["instrument"]))
            sym = (r or {}).get("symbol") or f"#{tr['instrument']}"
            px, qty = int(tr["price"]), int(tr["shares"])
            n, v = vwap.get(sym, (0, 0))
            vwap[sym] = (n + qty, v + px * qty)
            if not quiet:
                print(f"{tr['exch_ts']} {sym:8} {qty:8} @ {px / PRICE_SCALE:.4f}")
    for sym, (n, v) in sorted(vwap.items(), key=lambda kv: -kv[1][0])[:20]:
        print(f"{sym:8} volume {n:10} vwap {v / n / PRICE_SCALE:.4f}")
    print(f"received {sub.received} updates, missed {sub.missed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
