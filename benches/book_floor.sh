#!/usr/bin/env bash
# The book floor: what any ITCH L3 book costs on this machine, against the mapped-file floor.
#
# For each file, alternating rounds pinned to one core (`taskset -c $CPU`) of:
#   floor       `itchtool touch FILE`: mmap the file and read every byte (the kit's floor)
#   touch       book_floor touch: one line of per-locate and one of per-reference state per
#               book message, nothing else (the memory-touch floor of an L3 book)
#   orders      book_floor orders: a correct order store alone
#   l3          book_floor l3: a minimal correct L3 book (orders + levels, best known always)
#   l3-nopf     the same without its requests ahead (`--prefetch 0`)
#   l3-huge     l3 on transparent huge pages (`--pages huge`, and glibc's malloc asked for them
#               with GLIBC_TUNABLES=glibc.malloc.hugetlb=1)
#   fh          `$FH_BIN replay FILE --no-latency` (its tables and its heap, mimalloc's, are
#               on transparent huge pages already)
# each round in the opposite order of the one before; then a table per file of the median
# ns/msg [min-max] and the median of each program's ratio to the floor of the same round, by
# CPU time (each program's own loop timer; the floor's process) and by wall time: on a loaded
# machine the wall time also holds the time others had the core.
# Before timing, l3's final tops and live-order count are checked against fh's on the 1m files
# (CHECK_FILES; the script stops on a mismatch).
# With CG=1 (default), cachegrind's last-level data misses per message of the modes and of fh
# on the 1m files: (misses(1m) - misses(1k)) / (N_1m - 1000).
#
# usage: benches/book_floor.sh [FILE...]   (default: the 20m files and the day in $DATA)
# env: ROUNDS (7), DAY_ROUNDS (3: for files above 1 GB), FH_BIN (target/release/fh),
#      FLOOR_BIN (target/release/examples/book_floor), ITCHTOOL ($DATA/itchtool), DATA
#      (target/book-floor-data: what it must hold is printed when a file is missing), CPU (1), OUT (a new temporary directory), TIME (1: the timed rounds), CG (1),
#      CG_FILES and CHECK_FILES
#      (s100 s8000 day: $DATA/NAME_1m.NASDAQ_ITCH50 and NAME_1k).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-target/book-floor-data}
# The files it reads, made once by hand (the peer kit's itchtool strips 'h'/'O' like the kit):
need=("$DATA/itchtool")
for f in ${CHECK_FILES:-s100 s8000 day} ${CG_FILES:-s100 s8000 day}; do need+=("$DATA/${f}_1m.NASDAQ_ITCH50" "$DATA/${f}_1k.NASDAQ_ITCH50"); done
if [ $# -eq 0 ]; then need+=("$DATA/s100_20m.NASDAQ_ITCH50" "$DATA/s8000_20m.NASDAQ_ITCH50" "$DATA/day_full.NASDAQ_ITCH50"); fi
for f in "${need[@]}"; do
  [ -e "$f" ] || {
    echo "book_floor.sh: $f is missing. DATA ($DATA) must hold: itchtool (gcc -O2 ../shared/bench/peers/tools/itchtool.c);" >&2
    echo "  s100_20m, s8000_20m: fh gen --format itch --messages 20000000 --symbols 100|8000 --seed 1, then itchtool strip hO;" >&2
    echo "  day_full: fh gen --format itch --profile day --scale 1 --symbols 8000 --seed 1, stripped the same way;" >&2
    echo "  NAME_1m / NAME_1k: the first 1,000,000 / 1,000 messages of the s100, s8000 (1.1 M generated) and day (--scale 0.1) streams." >&2
    exit 2
  }
done
FH_BIN=${FH_BIN:-target/release/fh}
FLOOR_BIN=${FLOOR_BIN:-target/release/examples/book_floor}
ITCHTOOL=${ITCHTOOL:-$DATA/itchtool}
ROUNDS=${ROUNDS:-7}
DAY_ROUNDS=${DAY_ROUNDS:-3}
CPU=${CPU:-1}
CG=${CG:-1}
TIME=${TIME:-1}
CG_FILES=${CG_FILES:-s100 s8000 day}
CHECK_FILES=${CHECK_FILES:-s100 s8000 day}
OUT=${OUT:-$(mktemp -d /tmp/book_floor.XXXXXX)}
mkdir -p "$OUT"
if [ $# -eq 0 ]; then
  set -- "$DATA/s100_20m.NASDAQ_ITCH50" "$DATA/s8000_20m.NASDAQ_ITCH50" "$DATA/day_full.NASDAQ_ITCH50"
fi
for b in "$FH_BIN" "$FLOOR_BIN" "$ITCHTOOL"; do
  [ -x "$b" ] || { echo "book_floor.sh: $b is not an executable" >&2; exit 2; }
done
PROGS=(floor touch orders l3 l3-nopf l3-huge fh)
THP=glibc.malloc.hugetlb=1

# cpu CMD...: runs CMD, passes its output on, then prints `rusage_cpu_s S` (its user + system
# CPU time, from wait4).
cpu() {
  python3 -c '
import os, subprocess, sys
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE)
out = p.stdout.read()
_, _, ru = os.wait4(p.pid, 0)
sys.stdout.write(out.decode())
print("rusage_cpu_s %.6f" % (ru.ru_utime + ru.ru_stime))' "$@"
}

# run PROG FILE: prints the program's wall and CPU seconds for the whole file (its own timers;
# the floor's CPU time is its process's).
run() {
  local p=$1 f=$2
  local mode=$p pf=() env=()
  case $p in
    l3-nopf) mode=l3 pf=(--prefetch 0) ;;
    l3-huge) mode=l3 pf=(--pages huge) env=("GLIBC_TUNABLES=$THP") ;;
  esac
  case $p in
    floor) cpu taskset -c "$CPU" "$ITCHTOOL" touch "$f" |
      sed -n -e 's/.*read-sum \([0-9.]*\) s.*/\1/p' -e 's/^rusage_cpu_s //p' | tr '\n' ' ' ;;
    touch | orders | l3*) env "${env[@]}" taskset -c "$CPU" "$FLOOR_BIN" "$mode" "$f" "${pf[@]}" |
      sed -n 's/^loop_s \([0-9.]*\) .* cpu_s \([0-9.]*\) .*/\1 \2/p' ;;
    fh*) env "${env[@]}" taskset -c "$CPU" "$FH_BIN" replay "$f" --no-latency |
      sed -n 's/^elapsed: \([0-9.]*\) s.*CPU time \([0-9.]*\) s.*/\1 \2/p' ;;
  esac
}

# check FILE: l3's final tops and live orders against fh's.
check() {
  local f=$1 t
  t=$OUT/$(basename "$f")
  "$FH_BIN" replay "$f" --no-latency --bbo-csv "$t.bbo.csv" >"$t.fh.txt"
  "$FLOOR_BIN" l3 "$f" --tops "$t.tops.csv" >"$t.l3.txt"
  python3 - "$t" >&2 <<'EOF'
import csv, re, sys
t = sys.argv[1]
last = {}
for r in csv.DictReader(open(t + ".bbo.csv")):
    last[r["symbol"]] = (r["bid"], r["bid_size"], r["ask"], r["ask_size"])
fh = {s: v for s, v in last.items() if v != ("", "", "", "")}
mine = {r["symbol"]: (r["bid"], r["bid_size"], r["ask"], r["ask_size"])
        for r in csv.DictReader(open(t + ".tops.csv"))}
bad = sorted(s for s in set(fh) | set(mine) if fh.get(s) != mine.get(s))
fh_live = int(re.search(r"(\d+) live orders", open(t + ".fh.txt").read()).group(1))
l3_live = int(re.search(r"^l3: live (\d+)", open(t + ".l3.txt").read(), re.M).group(1))
ok = not bad and fh_live == l3_live
print(f"check {t.rsplit('/', 1)[-1]}: tops fh {len(fh)} l3 {len(mine)} differing {len(bad)} {bad[:3]}; "
      f"live orders fh {fh_live} l3 {l3_live}: {'OK' if ok else 'MISMATCH'}")
sys.exit(0 if ok else 1)
EOF
}

# count FILE: its messages.
count() { "$FLOOR_BIN" touch "$1" | sed -n 's/.*messages \([0-9]*\) checksum.*/\1/p'; }

echo "book_floor.sh: $(date -u +%FT%TZ), out $OUT, $(nproc) CPUs, pinned to CPU $CPU"
echo "fh: $FH_BIN ($(git rev-parse --short HEAD 2>/dev/null || echo ?)); $(uptime)"
for f in $CHECK_FILES; do check "$DATA/${f}_1m.NASDAQ_ITCH50"; done
[ "$TIME" = 1 ] || set --
for f in "$@"; do
  n=$(count "$f")
  rounds=$ROUNDS
  [ "$(stat -c %s "$f")" -gt 1000000000 ] && rounds=$DAY_ROUNDS
  res=$OUT/$(basename "$f").times
  : >"$res"
  for ((r = 1; r <= rounds; r++)); do
    order=("${PROGS[@]}")
    if ((r % 2 == 0)); then
      order=()
      for ((i = ${#PROGS[@]} - 1; i >= 0; i--)); do order+=("${PROGS[$i]}"); done
    fi
    for p in "${order[@]}"; do
      echo "$r $p $(run "$p" "$f")" >>"$res"
    done
    echo "round $r/$rounds $(basename "$f"): $(cut -d' ' -f2- <"$res" | tail -n ${#PROGS[@]} | tr '\n' ' ') | load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  done
  python3 - "$res" "$n" "$f" "${PROGS[@]}" <<'EOF'
import statistics as st, sys
res, n, f, progs = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
w, c = {}, {}
for line in open(res):
    r, p, wall, cpu = line.split()
    w.setdefault(p, {})[int(r)] = float(wall) * 1e9 / n
    c.setdefault(p, {})[int(r)] = float(cpu) * 1e9 / n
rounds = sorted(w["floor"])
print(f"\n{f}: {n} messages, {len(rounds)} rounds")
print("| program | CPU ns/msg median [min-max] | x floor, CPU [min-max] | wall ns/msg median [min-max] | x floor, wall [min-max] |")
print("|---|---:|---:|---:|---:|")
def cell(t, p, ratio):
    v = [t[p][r] / (t["floor"][r] if ratio else 1) for r in rounds]
    return f"{st.median(v):.2f} [{min(v):.2f}-{max(v):.2f}]"
for p in progs:
    print(f"| {p} | {cell(c, p, 0)} | {cell(c, p, 1)} | {cell(w, p, 0)} | {cell(w, p, 1)} |")
EOF
done
echo "load after: $(uptime)"

if [ "$CG" = 1 ]; then
  echo
  echo "cachegrind: last-level data misses per message (read + write), (1m - 1k) / (N - 1000)"
  # cgmiss PROG FILE: LL data misses of the whole run.
  cgmiss() {
    local p=$1 f=$2 o=$OUT/cg.$p.$(basename "$f").out cmd
    case $p in
      touch | orders | l3) cmd=("$FLOOR_BIN" "$p" "$f") ;;
      l3-nopf) cmd=("$FLOOR_BIN" l3 "$f" --prefetch 0) ;;
      fh) cmd=("$FH_BIN" replay "$f" --no-latency) ;;
    esac
    valgrind --tool=cachegrind --cache-sim=yes --cachegrind-out-file="$o" "${cmd[@]}" >/dev/null 2>"$o.log"
    python3 - "$o" <<'EOF'
import sys
ev = summ = None
for line in open(sys.argv[1]):
    if line.startswith("events:"): ev = line.split()[1:]
    if line.startswith("summary:"): summ = [int(x) for x in line.split()[1:]]
d = dict(zip(ev, summ))
print(d["Ir"], d["D1mr"] + d["D1mw"], d["DLmr"] + d["DLmw"])
EOF
  }
  echo "| program | $(for f in $CG_FILES; do printf '%s Ir | %s D1 miss | %s LL miss | ' "$f" "$f" "$f"; done)"
  for p in touch orders l3 fh; do
    row="| $p |"
    for f in $CG_FILES; do
      read -r i1 d1 l1 < <(cgmiss "$p" "$DATA/${f}_1m.NASDAQ_ITCH50")
      read -r i0 d0 l0 < <(cgmiss "$p" "$DATA/${f}_1k.NASDAQ_ITCH50")
      n1=$(count "$DATA/${f}_1m.NASDAQ_ITCH50")
      row+=$(python3 -c "d=$n1-1000; print(' %.1f | %.3f | %.3f |' % (($i1-$i0)/d, ($d1-$d0)/d, ($l1-$l0)/d), end='')")
    done
    echo "$row"
  done
  grep -h "warning\|LL\b" "$OUT"/cg.*.log 2>/dev/null | sort -u | head -3 || true
fi
