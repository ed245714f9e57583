#!/usr/bin/env bash
# Shared-memory publication: the in-process ring hop against the cross-process shared-memory
# hop, measured alike in one invocation, and the engine thread's CPU per message with --shm on
# and off.
#
# (1) Hop latency. ROUNDS rounds; each round replays the same capture DIR/lat.pcap at --speed 1
#     twice, once per hop, in alternating order (ring first in odd rounds, shm first in even):
#     ring: `ring_hop lat.pcap DIR/ring-I --engine-cpu 0 --reader-cpu 1 --idle spin` (fh-benches'
#           example: a pipeline replay, its one reader strategy spinning on core 1);
#     shm:  `fh shm-tail NAME --spin --hgrm DIR/shm-I` on core 1 and
#           `fh replay lat.pcap --speed 1 --no-latency --shm NAME` on core 0.
#     Each run has exactly two busy threads, engine (sleeps, then spins 100 µs before each
#     datagram) on core 0 and reader (spins) on core 1, and the two runs never overlap: no more
#     spinning threads than the machine's 2 cores.
#     Both hops start where the datagram's updates become visible to the reader and end when the
#     reader has them, one value per datagram, both ends `clock_gettime(CLOCK_MONOTONIC_RAW)`:
#     ring_hop.hgrm: ring cursor released (read right after the Release store) -> the reader's
#       first update of the batch holding the datagram's last update (fh_benches::hop);
#     shm_hop.hgrm: `SampleHeader::publish_ns` (read right before the iceoryx2 send; one sample
#       per datagram in a paced replay) -> `fh shm-tail` has the sample from `receive`.
#     (The `consume` stage of `fh replay --pipeline` is not this hop: it starts at the
#     datagram's read, before decoding; see feed/src/latency/mod.rs.)
#     Prints each round's p50/p99/p99.9 (µs) of both and the median over rounds.
# (2) ROUNDS alternating pairs of `fh replay BIG --no-latency` without and with `--shm` (one
#     `fh shm-tail` subscriber attached, not spinning): engine CPU (the report's engine_cpu_s)
#     per message, and the median over pairs.
# (3) The same pairs with an in-process strategy already consuming the updates
#     (`--pipeline --strategy count --idle backoff --ring-size 2097152`, a ring the strategy
#     never fills): --shm as one more consumer of a pipeline
#     that publishes anyway, which is how the handler runs with strategies.
#
# Usage: benches/shm_latency.sh [--rounds N] [--dir DIR]
# Build first: cargo build --release && cargo build --release -p fh-benches --example ring_hop
set -euo pipefail
# As root the runs get nice -20 (the machine may be shared). Under autogroup scheduling (each
# session one group, nice weighing only within its group) that alone does not lift them above
# other sessions' work, so the script then runs in a session of its own whose group gets nice
# -20 (/proc/self/autogroup).
if [ "$(id -u)" = 0 ] && [ -z "${FH_BENCH_SESSION:-}" ] &&
  [ "$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null)" = 1 ]; then
  FH_BENCH_SESSION=1 exec setsid --wait "$0" "$@"
fi
if [ -n "${FH_BENCH_SESSION:-}" ]; then echo -20 2>/dev/null >/proc/self/autogroup || true; fi
cd "$(dirname "$0")/.."
rounds=5
dir=$(mktemp -d /tmp/fh-shm-bench.XXXXXX)
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    *) echo "usage: $0 [--rounds N] [--dir DIR]" >&2; exit 2 ;;
  esac
done
case "$rounds" in '' | *[!0-9]* | 0) echo "$0: --rounds $rounds: a whole number from 1" >&2; exit 2 ;; esac
fh=${FH:-target/release/fh}
ring_hop=${RING_HOP:-target/release/examples/ring_hop}
for b in "$fh" "$ring_hop"; do
  [ -x "$b" ] || { echo "$0: $b: not built (cargo build --release && cargo build --release -p fh-benches --example ring_hop)" >&2; exit 2; }
done
mkdir -p "$dir"
"$fh" gen --out "$dir/lat.pcap" --messages 300000 --seed 12 >/dev/null
"$fh" gen --out "$dir/cpu.pcap" --messages 5000000 --seed 7 >/dev/null
name="bench-$$"
nice_cmd=()
[ "$(id -u)" = 0 ] && nice_cmd=(nice -n -20)

# p50 p99 p99.9 (µs) of an .hgrm file.
pct() { awk 'NF==4 && $1+0>0 { if ($2>=0.5 && !a) {p50=$1; a=1} if ($2>=0.99 && !b) {p99=$1; b=1} if ($2>=0.999 && !c) {p999=$1; c=1} } END { printf "%.2f %.2f %.2f\n", p50, p99, p999 }' "$1"; }

ring_run() {
  "${nice_cmd[@]}" "$ring_hop" "$dir/lat.pcap" "$dir/ring-$1" --speed 1 --engine-cpu 0 --reader-cpu 1 --idle spin \
    >"$dir/ring-$1.out"
}
shm_run() {
  "${nice_cmd[@]}" taskset -c 1 "$fh" shm-tail "$name-lat-$1" --quiet --spin --buffer 65536 --hgrm "$dir/shm-$1" \
    >"$dir/tail-lat-$1.out" 2>&1 &
  local tail_pid=$!
  "${nice_cmd[@]}" taskset -c 0 "$fh" replay "$dir/lat.pcap" --speed 1 --no-latency \
    --shm "$name-lat-$1" --shm-wait 1 --shm-buffer 65536 >"$dir/shm-$1.out"
  wait "$tail_pid"
}

echo "scheduling: $(cat /proc/self/autogroup 2>/dev/null || echo 'no autogroup'), runs at nice ${nice_cmd[2]:-0}"
echo "load before (1): $(uptime)"
: >"$dir/hops.txt"
for i in $(seq "$rounds"); do
  if [ $((i % 2)) = 1 ]; then ring_run "$i"; shm_run "$i"; else shm_run "$i"; ring_run "$i"; fi
  r=$(pct "$dir/ring-$i/ring_hop.hgrm")
  s=$(pct "$dir/shm-$i/shm_hop.hgrm")
  echo "$i $r $s" >>"$dir/hops.txt"
  read -r r50 r99 r999 <<<"$r"
  read -r s50 s99 s999 <<<"$s"
  echo "round $i: ring hop p50 $r50 p99 $r99 p99.9 $r999 µs | shm hop p50 $s50 p99 $s99 p99.9 $s999 µs"
  grep -h "^ring hop" "$dir/ring-$i.out" | sed 's/^/  /'
  grep -h "received" "$dir/tail-lat-$i.out" | sed 's/^/  /'
done
echo "load after (1): $(uptime)"
python3 - "$dir/hops.txt" <<'PY'
import statistics, sys
rows = [list(map(float, l.split()[1:])) for l in open(sys.argv[1]) if l.strip()]
med = [statistics.median(r[k] for r in rows) for k in range(6)]
won = sum(r[0] < r[3] for r in rows)
print(f"median of {len(rows)} rounds: ring hop p50 {med[0]:.2f} p99 {med[1]:.2f} p99.9 {med[2]:.2f} µs"
      f" | shm hop p50 {med[3]:.2f} p99 {med[4]:.2f} p99.9 {med[5]:.2f} µs"
      f" (ring p50 lower in {won} of {len(rows)} rounds)")
PY

# cpu_pairs TAG ARGS…: ROUNDS alternating pairs of `fh replay cpu.pcap --no-latency ARGS…`
# without and with --shm (one `fh shm-tail` attached), engine CPU per message of each.
cpu_pairs() {
  local tag=$1; shift
  echo "load before ($tag): $(uptime)"
  : >"$dir/cpu-$tag.txt"
  for i in $(seq "$rounds"); do
    "$fh" replay "$dir/cpu.pcap" --no-latency "$@" --report-json "$dir/off.json" >/dev/null
    "$fh" shm-tail "$name-$tag-$i" --quiet --buffer 4096 >"$dir/tail-$tag-$i.out" 2>&1 &
    "$fh" replay "$dir/cpu.pcap" --no-latency "$@" --shm "$name-$tag-$i" --shm-wait 1 --shm-buffer 4096 \
      --report-json "$dir/on.json" >/dev/null
    wait
    python3 - "$dir/off.json" "$dir/on.json" "$dir/cpu-$tag.txt" <<'PY'
import json, sys
def per_msg(p):
    r = json.load(open(p))
    return r["engine_cpu_s"] * 1e9 / r["engine"]["itch_messages"]
off, on = per_msg(sys.argv[1]), per_msg(sys.argv[2])
open(sys.argv[3], "a").write(f"{off} {on}\n")
print(f"engine cpu per message: --shm off {off:.1f} ns, on {on:.1f} ns (+{(on / off - 1) * 100:.1f} %)")
PY
  done
  echo "load after ($tag): $(uptime)"
  python3 - "$dir/cpu-$tag.txt" "$tag" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
off = statistics.median(r[0] for r in rows)
on = statistics.median(r[1] for r in rows)
ratio = statistics.median(r[1] / r[0] - 1 for r in rows)
print(f"({sys.argv[2]}) median of {len(rows)} pairs: --shm off {off:.1f} ns, on {on:.1f} ns per message"
      f" (+{(on / off - 1) * 100:.1f} %; median of the pairs' ratios +{ratio * 100:.1f} %)")
PY
}
cpu_pairs 2
cpu_pairs 3 --pipeline --strategy count --idle backoff --ring-size 2097152
echo "files in $dir"
