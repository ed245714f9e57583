"""Independent checks of fh's research outputs, run by tests/export.rs.

Reads fh's DBN files with Databento's own `databento_dbn` package and its Parquet files with
`pyarrow`, and compares them with what fh reports and with independent decodes:

  dbn FILE...                         every file decodes, its metadata names the schema its
                                      records have; prints {"file": record count}
  mbo-book MBO REPORT.json DEPTH [MBP10]
                                      a book built here from the MBO records (ordered maps)
                                      ends with the top-DEPTH depth per symbol that
                                      `fh replay --report-json` reports; so does the last
                                      MBP-10 record of every instrument when given
  parquet-csv PARQUET CSV             same rows and values (CSV's extra ts_utc column is
                                      the UTC text of ts_ns)
  iex-oracle ORACLE.jsonl.gz MBP10 TRADES
                                      the final MBP-10 book of every symbol equals the book
                                      built from the oracle's price level updates, and the
                                      trades equal the oracle's trade reports
  same-dbn A B                        the same schema, symbology and records, field by
                                      field, but for the receive times (ts_recv, the
                                      F_BAD_TS_RECV flag, and ts_event of a book clear, which
                                      is its receive time): a live recording against a replay
                                      of the capture it received; prints {"records": n}

Exits non-zero with a message on the first difference.
"""

import csv
import datetime
import decimal
import gzip
import json
import sys

import databento_dbn as dbn
import pyarrow as pa
import pyarrow.parquet as pq

UNDEF_PRICE = 2**63 - 1
SCHEMA_OF_TYPE = {
    "MBOMsg": {"mbo"},
    "MBP1Msg": {"mbp-1", "tbbo"},
    "MBP10Msg": {"mbp-10"},
    "TradeMsg": {"trades"},
}


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


def read_dbn(path):
    """(metadata, records) of a DBN file, zstd-compressed when named .zst."""
    if path.endswith(".zst"):
        raw = pa.input_stream(path, compression="zstd").read()
    else:
        with open(path, "rb") as f:
            raw = f.read()
    dec = dbn.DBNDecoder()
    dec.write(raw)
    recs = dec.decode()
    if not recs or not isinstance(recs[0], dbn.Metadata):
        fail(f"{path}: no DBN metadata")
    return recs[0], recs[1:]


def schema_name(meta):
    s = meta.schema
    return str(getattr(s, "value", s)).lower()


def symbols_of(meta):
    """instrument id -> symbol from the metadata's symbology."""
    out = {}
    for raw, intervals in meta.mappings.items():
        for iv in intervals:
            out[int(iv["symbol"])] = raw
    return out


def cmd_dbn(files):
    counts = {}
    for f in files:
        meta, recs = read_dbn(f)
        name = schema_name(meta)
        for r in recs:
            if name not in SCHEMA_OF_TYPE.get(type(r).__name__, set()):
                fail(f"{f}: metadata schema {name}, record {type(r).__name__}")
        if recs and meta.start > recs[0].ts_event:
            fail(f"{f}: metadata start {meta.start} after the first record")
        counts[f] = len(recs)
    print(json.dumps(counts))


def side_key(c):
    return {"B": "bids", "A": "asks"}.get(c)


def top(levels, side, depth):
    """[(price4, shares, orders)] of the best `depth` levels; levels: price9 -> [size, count]."""
    ps = sorted(levels, reverse=(side == "bids"))[:depth]
    return [[p // 100_000, levels[p][0], levels[p][1]] for p in ps]


def cmd_mbo_book(mbo_path, report_path, depth, mbp10_path=None):
    depth = int(depth)
    meta, recs = read_dbn(mbo_path)
    syms = symbols_of(meta)
    orders = {}  # order id -> [instrument, side, price, size]
    books = {}  # instrument -> {"bids": {px: [size, count]}, "asks": {...}}
    for r in recs:
        a, s = str(r.action), str(r.side)
        a = getattr(r.action, "value", a)
        s = getattr(r.side, "value", s)
        if a == "R":
            books.pop(r.instrument_id, None)
            orders = {k: v for k, v in orders.items() if v[0] != r.instrument_id}
            continue
        if a == "A":
            if r.order_id in orders:
                fail(f"add of a live order {r.order_id}")
            orders[r.order_id] = [r.instrument_id, side_key(s), r.price, r.size]
            lv = books.setdefault(r.instrument_id, {"bids": {}, "asks": {}})[side_key(s)]
            l = lv.setdefault(r.price, [0, 0])
            l[0] += r.size
            l[1] += 1
        elif a == "C":
            o = orders.get(r.order_id)
            if o is None:
                fail(f"cancel of an unknown order {r.order_id}")
            if r.size > o[3]:
                fail(f"cancel of {r.size} from order {r.order_id} of {o[3]}")
            lv = books[o[0]][o[1]]
            l = lv[o[2]]
            l[0] -= r.size
            o[3] -= r.size
            if o[3] == 0:
                l[1] -= 1
                del orders[r.order_id]
            if l[0] == 0:
                del lv[o[2]]
        elif a in ("F", "T", "M"):
            pass  # a fill is followed by its cancel; trades change no book; fh writes no M
        else:
            fail(f"unexpected MBO action {a!r}")
    with open(report_path) as f:
        report = json.load(f)
    want = {b["symbol"]: b for b in report["books"]}
    got_syms = set()
    for inst, b in books.items():
        bids, asks = top(b["bids"], "bids", depth), top(b["asks"], "asks", depth)
        if not bids and not asks:
            continue
        sym = syms.get(inst)
        got_syms.add(sym)
        w = want.get(sym)
        if w is None:
            fail(f"{sym} ({inst}): a book from the MBO records, none in fh's report")
        if w["bids"] != bids or w["asks"] != asks:
            fail(f"{sym}: MBO book {bids} | {asks}, fh replay {w['bids']} | {w['asks']}")
    for sym, w in want.items():
        if (w["bids"] or w["asks"]) and sym not in got_syms:
            fail(f"{sym}: fh reports a book the MBO records do not build")
    checked = {"books": len(got_syms), "mbo_records": len(recs)}
    if mbp10_path:
        meta10, recs10 = read_dbn(mbp10_path)
        syms10 = symbols_of(meta10)
        last = {}
        for r in recs10:
            last[r.instrument_id] = r
        n = 0
        for inst, r in last.items():
            sym = syms10.get(inst)
            bids = [[l.bid_px // 100_000, l.bid_sz, l.bid_ct] for l in r.levels if l.bid_px != UNDEF_PRICE]
            asks = [[l.ask_px // 100_000, l.ask_sz, l.ask_ct] for l in r.levels if l.ask_px != UNDEF_PRICE]
            w = want.get(sym, {"bids": [], "asks": []})
            if w["bids"] != bids[:depth] or w["asks"] != asks[:depth]:
                fail(f"{sym}: last MBP-10 {bids[:depth]} | {asks[:depth]}, fh replay {w['bids']} | {w['asks']}")
            n += 1
        checked["mbp10_books"] = n
    print(json.dumps(checked))


def utc_text(ns):
    s, frac = divmod(int(ns), 1_000_000_000)
    d = datetime.datetime.fromtimestamp(s, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def cmd_parquet_csv(parquet_path, csv_path):
    t = pq.read_table(parquet_path)
    rows = t.to_pylist()
    with open(csv_path, newline="") as f:
        crow = list(csv.DictReader(f))
    if len(rows) != len(crow):
        fail(f"{len(rows)} Parquet rows, {len(crow)} CSV rows")
    if list(crow[0].keys()) if crow else None:
        cols = [c for c in crow[0].keys() if c != "ts_utc"]
        if cols != t.column_names:
            fail(f"columns: Parquet {t.column_names}, CSV {cols}")
    for i, (p, c) in enumerate(zip(rows, crow)):
        if c["ts_utc"] != utc_text(p["ts_ns"]):
            fail(f"row {i}: ts_utc {c['ts_utc']} for ts_ns {p['ts_ns']}")
        for k, v in p.items():
            cv = c[k]
            if v is None:
                ok = cv == ""
            elif isinstance(v, bool):
                ok = cv == ("true" if v else "false")
            elif isinstance(v, decimal.Decimal):
                ok = decimal.Decimal(cv) == v
            else:
                ok = str(v) == cv
            if not ok:
                fail(f"row {i} column {k}: Parquet {v!r}, CSV {cv!r}")
    print(json.dumps({"rows": len(rows), "columns": t.num_columns}))


def price4(s):
    return int(decimal.Decimal(s) * 10_000)


def cmd_iex_oracle(oracle_path, mbp10_path, trades_path):
    books = {}
    trades = []
    with gzip.open(oracle_path, "rt") as f:
        for line in f:
            m = json.loads(line).get("msg") or {}
            t = m.get("messagetype")
            if t in ("8", "5"):
                side = "bids" if t == "8" else "asks"
                lv = books.setdefault(m["symbol"], {"bids": {}, "asks": {}})[side]
                p, n = price4(m["price"]), int(m["size"])
                if n == 0:
                    lv.pop(p, None)
                else:
                    lv[p] = n
            elif t == "T":
                trades.append((int(m["timestamp"]), m["symbol"], price4(m["price"]), int(m["size"])))
    meta, recs = read_dbn(mbp10_path)
    syms = symbols_of(meta)
    last = {}
    for r in recs:
        last[syms[r.instrument_id]] = r
    compared = 0
    for sym, b in books.items():
        want_b = sorted(b["bids"].items(), reverse=True)[:10]
        want_a = sorted(b["asks"].items())[:10]
        r = last.get(sym)
        if r is None:
            if want_b or want_a:
                fail(f"{sym}: oracle book {want_b} | {want_a}, no MBP-10 record")
            continue
        got_b = [(l.bid_px // 100_000, l.bid_sz) for l in r.levels if l.bid_px != UNDEF_PRICE]
        got_a = [(l.ask_px // 100_000, l.ask_sz) for l in r.levels if l.ask_px != UNDEF_PRICE]
        if got_b != want_b or got_a != want_a:
            fail(f"{sym}: MBP-10 {got_b} | {got_a}, oracle {want_b} | {want_a}")
        compared += 1
    for sym, r in last.items():
        if sym not in books and any(
            l.bid_px != UNDEF_PRICE or l.ask_px != UNDEF_PRICE for l in r.levels
        ):
            fail(f"{sym}: an MBP-10 book the oracle has no price level for")
    meta_t, recs_t = read_dbn(trades_path)
    syms_t = symbols_of(meta_t)
    got = [(r.ts_event, syms_t[r.instrument_id], r.price // 100_000, r.size) for r in recs_t]
    if got != trades:
        fail(f"trades differ: {len(got)} in DBN, {len(trades)} in the oracle; first DBN {got[:2]}, oracle {trades[:2]}")
    print(json.dumps({"books": compared, "trades": len(got), "mbp10_records": len(recs)}))


BAD_TS_RECV = 1 << 3
RECV_FIELDS = {
    "ts_recv",
    "ts_index",
    "ts_out",
    "ts_in_delta",
    "flags",
}


def record_fields(r):
    """The record's fields (name -> value) but the receive times, as comparable values."""
    out = {}
    for name in dir(r):
        # (The pretty_* views repeat the integer fields.)
        if name.startswith(("_", "pretty_")) or name in RECV_FIELDS:
            continue
        v = getattr(r, name)
        if callable(v):
            continue
        out[name] = repr(v)
    out["flags"] = int(r.flags) & ~BAD_TS_RECV
    if getattr(r, "action", None) in ("R", b"R"):
        out.pop("ts_event", None)
    return out


def cmd_same_dbn(a, b):
    ma, ra = read_dbn(a)
    mb, rb = read_dbn(b)
    if schema_name(ma) != schema_name(mb):
        fail(f"{a}: schema {schema_name(ma)}, {b}: {schema_name(mb)}")
    if symbols_of(ma) != symbols_of(mb):
        fail(f"{a}, {b}: symbology differs: {symbols_of(ma)} vs {symbols_of(mb)}")
    if len(ra) != len(rb):
        fail(f"{a}: {len(ra)} records, {b}: {len(rb)}")
    for k, (x, y) in enumerate(zip(ra, rb)):
        fx, fy = record_fields(x), record_fields(y)
        if fx != fy:
            diff = {n: (fx.get(n), fy.get(n)) for n in set(fx) | set(fy) if fx.get(n) != fy.get(n)}
            fail(f"record {k}: {diff}")
    print(json.dumps({"records": len(ra)}))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    {
        "dbn": lambda: cmd_dbn(args),
        "mbo-book": lambda: cmd_mbo_book(*args),
        "parquet-csv": lambda: cmd_parquet_csv(*args),
        "iex-oracle": lambda: cmd_iex_oracle(*args),
        "same-dbn": lambda: cmd_same_dbn(*args),
    }[cmd]()


if __name__ == "__main__":
    main()
