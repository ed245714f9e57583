#!/bin/bash
# fh vs peers on the realistic day: the peer kit's comparison (../shared/bench/peers, README
# there) run on `fh gen --profile day` instead of its two flat files. The kit's own pieces do
# the work, from a copy in WORK (the kit is only read): its harness builds, check.py (the book
# peers' BBOs after every message, final tops and live orders against fh's), cg.py (callgrind
# instructions per message), bench.py (alternating pairs pinned to CPU 1), table.py.
#
#   benches/peers_day.sh                                   # the full day: 8000 symbols, scale 1
#   ROUNDS=1 SCALE=0.05 SMALL_SCALE=0.01 benches/peers_day.sh   # a quick look
#
# Knobs (env): SCALE (the timing day, `fh gen --profile day --scale`, default 1: ~36 M
# messages, ~1.3 M live orders at the peak), SMALL_SCALE (the check and callgrind day, default
# 0.03: ~1.1 M messages), SYMBOLS (8000), SEED (1), ROUNDS (alternating rounds, default 3),
# BENCH_GROUPS ("decode book"), SKIP_CG=1 (no callgrind), MIN_PEAK (least live-order peak the timing
# day must reach, default 1000000 when SCALE=1, else 0), KIT (default ../shared/bench/peers
# next to this repository), WORK (/tmp/fh-peers-day), RES ($WORK/results; replaced).
# Needs what the kit needs (gcc, python3, valgrind, taskset, cargo with rustc >= 1.95, crates.io
# or a filled cargo cache), ~4 GB in WORK for the full day.
set -euo pipefail

die() { printf '\npeers_day.sh: ERROR: %s\n\n' "$*" >&2; exit 1; }
log() { echo "== $(date +%T) $*"; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
KIT=$(cd "${KIT:-$ROOT/../shared/bench/peers}" 2>/dev/null && pwd -P) ||
  die "KIT=${KIT:-$ROOT/../shared/bench/peers}: the peer kit is not there"
[ -f "$KIT/run.sh" ] && [ -f "$KIT/bench.py" ] || die "$KIT does not hold the peer kit (run.sh, bench.py)"
SCALE=${SCALE:-1}; SMALL_SCALE=${SMALL_SCALE:-0.03}; SYMBOLS=${SYMBOLS:-8000}; SEED=${SEED:-1}
ROUNDS=${ROUNDS:-3}; BENCH_GROUPS=${BENCH_GROUPS:-decode book}; SKIP_CG=${SKIP_CG:-0}
if [ -z "${MIN_PEAK:-}" ]; then
  if [ "$SCALE" = 1 ]; then MIN_PEAK=1000000; else MIN_PEAK=0; fi
fi
WORK=$(realpath -m "${WORK:-/tmp/fh-peers-day}"); RES=$(realpath -m "${RES:-$WORK/results}")
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS=$ROUNDS: want a positive integer"
for g in $BENCH_GROUPS; do [ "$g" = decode ] || [ "$g" = book ] || die "BENCH_GROUPS: $g is not decode or book"; done
for d in "$WORK" "$RES"; do
  case "$d/" in "$KIT"/* | "$ROOT"/*) die "$d is inside the kit or the repository: set WORK/RES elsewhere";; esac
done
for c in gcc python3 taskset cargo; do command -v "$c" >/dev/null || die "$c not found (see $KIT/README.md)"; done
[ "$SKIP_CG" = 1 ] || command -v valgrind >/dev/null || die "valgrind not found (or SKIP_CG=1)"
mkdir -p "$WORK/bin" "$WORK/data" "$WORK/cg" "$RES"
rm -f "$RES"/decode_day*.json "$RES"/book_day*.json "$RES"/callgrind.json "$RES"/check.txt "$RES"/memcpy.txt \
      "$RES"/fh_commit.txt "$RES"/fh_own.txt "$RES"/versions.txt "$RES"/gen.txt "$RES"/day.txt "$RES"/table.md
export WORK RES

log "fh: cargo build --release in $ROOT"
(cd "$ROOT" && cargo build --release -q) || die "cargo build --release failed"
TARGET=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
         python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
export FH_BIN=$TARGET/release/fh
git -C "$ROOT" log -1 --format='fh commit %H %s' | tee "$RES/fh_commit.txt"

log "the kit ($KIT) copied to $WORK/src; itchtool and the harnesses built there"
S=$WORK/src
rm -rf "$S" && mkdir -p "$S" && cp -R "$KIT"/. "$S"/ && chmod -R u+w "$S"
gcc -O2 -o "$WORK/bin/itchtool" "$S/tools/itchtool.c"
T=$WORK/bin/itchtool
sed "s|@FH_REPO@|$ROOT|g" "$S/rsdec/Cargo.toml.in" > "$S/rsdec/Cargo.toml"
cp "$ROOT/Cargo.lock" "$S/rsdec/Cargo.lock"
(cd "$S/rsdec" && CARGO_TARGET_DIR=$WORK/target cargo build --release -q) || die "the decode harnesses do not build"
(cd "$S/rsbook" && CARGO_TARGET_DIR=$WORK/target cargo build --release --locked -q) || die "the book harnesses do not build"
{
  cat "$RES/fh_commit.txt"; rustc --version
  echo "cpu: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) CPUs"
} > "$RES/versions.txt"

# The day as the kit's files: an ITCH file with 'h' and 'O' stripped (the day has neither;
# itchy aborts on them), its truth next to it.
gen_day() { # scale name
  local out=$WORK/data/$2.NASDAQ_ITCH50
  "$FH_BIN" gen --profile day --scale "$1" --symbols "$SYMBOLS" --seed "$SEED" --format itch \
    --out "$WORK/data/raw.NASDAQ_ITCH50" | tee -a "$RES/gen.txt"
  "$T" strip hO "$WORK/data/raw.NASDAQ_ITCH50" "$out" >/dev/null
  mv "$WORK/data/raw.NASDAQ_ITCH50.truth.json" "$out.truth.json"
  rm -f "$WORK/data/raw.NASDAQ_ITCH50"
  "$T" stats "$out" | head -1
}
BIG=day${SYMBOLS}_x${SCALE}; SMALL=day${SYMBOLS}_x${SMALL_SCALE}
log "data: fh gen --profile day, $SYMBOLS symbols, seed $SEED, scales $SCALE (timing) and $SMALL_SCALE (check, callgrind)"
gen_day "$SCALE" "$BIG"
gen_day "$SMALL_SCALE" "$SMALL"
python3 - "$WORK/data/$BIG.NASDAQ_ITCH50.truth.json" "$MIN_PEAK" <<'EOF' | tee "$RES/day.txt"
import json, sys
t = json.load(open(sys.argv[1])); d = t["day"]; n = t["messages"]
mix = ", ".join(f"{k} {v / n * 100:.1f} %" for k, v in d["messages_by_type"].items())
print(f"day: {t['symbols']} symbols, scale {d['scale']}, {n} messages, {d['orders_added']} orders added; "
      f"live orders peak {d['live_orders_peak']} (message {d['live_orders_peak_at_seq']}), "
      f"{d['live_orders_at_end']} at the end; order lifetime p50 <= {d['lifetime_p50_ns']} ns, "
      f"p90 <= {d['lifetime_p90_ns']} ns, p99 <= {d['lifetime_p99_ns']} ns; "
      f"top 10 symbols {d['top10_symbols_permille'] / 10:.1f} % of messages; mix: {mix}")
if d["live_orders_peak"] < int(sys.argv[2]):
    sys.exit(f"peers_day.sh: the day peaks at {d['live_orders_peak']} live orders, below MIN_PEAK={sys.argv[2]}")
EOF

log "memory-bandwidth floors over the timing day (taskset -c 1)"
{
  for i in 1 2 3; do taskset -c 1 "$T" memcpy "$WORK/data/$BIG.NASDAQ_ITCH50" 3; done
  for i in 1 2 3; do taskset -c 1 "$T" touch "$WORK/data/$BIG.NASDAQ_ITCH50"; done
} | tee "$RES/memcpy.txt"

log "book peers against fh replay on $SMALL: BBO after every message, final tops, live orders"
python3 "$S/check.py" "$RES/check.txt" "$WORK/data/$SMALL.NASDAQ_ITCH50" ||
  die "check.py failed ($RES/check.txt): a book peer's books differ from fh's"

if [ "$SKIP_CG" != 1 ]; then
  log "callgrind on $SMALL (instructions per message)"
  python3 "$S/cg.py" "$RES/callgrind.json" "$WORK/data/$SMALL.NASDAQ_ITCH50"
fi

log "timing: $ROUNDS alternating rounds on $BIG"
for g in $BENCH_GROUPS; do
  python3 "$S/bench.py" "$g" "$WORK/data/$BIG.NASDAQ_ITCH50" "$ROUNDS" "$RES/${g}_$BIG.json"
done

log "fh's own report on $BIG"
taskset -c 1 "$FH_BIN" replay "$WORK/data/$BIG.NASDAQ_ITCH50" --no-latency |
  grep -E '^(ITCH messages|books|anomalies|updates|elapsed|order store|live)' | tee "$RES/fh_own.txt" || true

log "table (also in $RES/table.md)"
{
  python3 "$S/table.py"
  echo
  cat "$RES/day.txt"
  # fh replay's time per message over the mapped-file floor (mmap + read every byte) of the
  # same file, best of three.
  python3 - "$RES" "$BIG" <<'EOF'
import json, re, sys
res, big = sys.argv[1], sys.argv[2]
path = f"{res}/book_{big}.json"
try:
    d = json.load(open(path))
except OSError:
    sys.exit(0)
fh = next(r for r in d["summary"] if r["program"].startswith("fh replay"))
floor_ns = min(re.findall(r"mmap\(no populate\)\+read-sum ([\d.]+) s", open(f"{res}/memcpy.txt").read()), key=float)
floor = float(floor_ns) * 1e9 / fh["messages_file"]
print(f"floor: mmap + read every byte {floor:.2f} ns/msg; fh replay --no-latency {fh['ns_per_msg_median']:.2f} ns/msg = {fh['ns_per_msg_median'] / floor:.1f}x the floor")
EOF
} | tee "$RES/table.md"
