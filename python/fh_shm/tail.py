"""`python -m fh_shm.tail NAME`: what a Python subscriber of `fh … --shm NAME` sees.

Prints the updates (unless --quiet), then a summary line, `digest: HEX` with --digest (equal to
`fh replay --digest` when nothing was missed) and, with --top, the final top of book of every
quoted instrument as BBO CSV rows (ts,symbol,bid,bid_size,ask,ask_size). Exit status: 0 at the
end of the stream, 1 if the publisher went away before it, 2 on a usage error.
"""

import argparse
import sys
import time

from .digest import Digest
from .layout import KINDS, SIDES
from .subscriber import ShmError, Subscriber


def price(p: int) -> str:
    sign = "-" if p < 0 else ""
    p = abs(p)
    return f"{sign}{p // 10000}.{p % 10000:04d}"


def bbo_row(r: dict) -> str:
    bid = f"{price(r['bid_price'])},{r['bid_shares']}" if r["bid_shares"] else ","
    ask = f"{price(r['ask_price'])},{r['ask_shares']}" if r["ask_shares"] else ","
    return f"{r['exch_ts']},{r['symbol'] or ''},{bid},{ask}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fh_shm.tail", description=__doc__.splitlines()[0])
    ap.add_argument("name")
    ap.add_argument("--quiet", action="store_true", help="no update lines")
    ap.add_argument("--digest", action="store_true", help="print the digest of what was received")
    ap.add_argument("--top", action="store_true", help="print the final top of book as BBO CSV rows")
    ap.add_argument("--buffer", type=int, default=1024, help="samples this subscriber's queue holds")
    ap.add_argument("--wait", type=float, default=10.0, help="seconds to wait for the publisher")
    ap.add_argument("--slow-ms", type=float, default=0.0, help="sleep this long after each sample")
    ap.add_argument("--count", type=int, default=0, help="stop after this many updates")
    a = ap.parse_args(argv)
    try:
        sub = Subscriber(a.name, buffer=a.buffer, wait=a.wait)
    except ShmError as e:
        print(f"fh_shm.tail: {e}", file=sys.stderr)
        return 2
    print(f"fh_shm.tail: subscribed to fh/{a.name}/updates", file=sys.stderr, flush=True)
    d = Digest()
    idle_since = None
    gone = False
    out = sys.stdout
    while not sub.ended and not (a.count and sub.received >= a.count):
        b = sub.receive()
        if b is None:
            now = time.monotonic()
            idle_since = idle_since or now
            if now - idle_since > 1.0 and sub.publisher_gone():
                gone = True
                break
            time.sleep(0.0001)
            continue
        idle_since = None
        with b:
            if a.digest:
                d.add_array(b.updates)
            if not a.quiet:
                if b.missed:
                    out.write(f"# missed {b.missed} updates\n")
                t = sub.table()
                for i, u in enumerate(b.updates):
                    row = t.row(int(u["instrument"])) if t is not None else None
                    sym = (row or {}).get("symbol") or "?"
                    out.write(
                        f"{b.first + i} {u['seq']} {u['exch_ts']} {sym} {KINDS[u['kind']] if u['kind'] < 6 else '?'} "
                        f"{SIDES[u['side']] if u['side'] < 3 else '?'} {price(int(u['price']))} {u['shares']} {u['order_count']} {hex(u['flags'])}\n"
                    )
        if a.slow_ms:
            time.sleep(a.slow_ms / 1000.0)
    state = "stream ended" if sub.ended else ("publisher gone" if gone else "stopped")
    joined = "-" if sub.joined_at is None else sub.joined_at
    out.write(
        f"fh_shm.tail {a.name}: received {sub.received} updates in {sub.samples} samples, missed {sub.missed}, joined at update {joined}, {state}\n"
    )
    if a.digest:
        out.write(f"digest: {d.hex()}\n")
    if a.top:
        out.write("ts,symbol,bid,bid_size,ask,ask_size\n")
        t = sub.table()
        if t is not None:
            for _, r in t.quoted():
                out.write(bbo_row(r) + "\n")
    out.flush()
    return 1 if gone else 0


if __name__ == "__main__":
    sys.exit(main())
