#!/usr/bin/env bash
# Shared-memory publication: latency of the in-process ring hop against the cross-process
# shared-memory hop in one run, and the engine thread's CPU per message with --shm on and off.
#
# (1) One paced replay `fh replay CAP --speed 1 --pipeline --strategy count --idle yield
#     --hgrm DIR/ring --shm NAME`, with `fh shm-tail NAME --spin --hgrm DIR/shm` subscribed
#     from another process: DIR/ring/consume_count.hgrm is publish (engine_ts) -> the in-process
#     strategy reads the update (per update, 1 datagram in 8); DIR/shm/shm_hop.hgrm is the
#     sample sent (CLOCK_MONOTONIC_RAW) -> the subscriber process receives it (per sample =
#     datagram). Values in µs. Prints p50/p99/p99.9 of both.
# (2) ROUNDS alternating pairs of `fh replay BIG --no-latency` without and with `--shm` (one
#     `fh shm-tail` subscriber attached): engine CPU (the report's engine_cpu_s) per message.
#
# Usage: benches/shm_latency.sh [--rounds N] [--dir DIR]      (build first: cargo build --release)
set -euo pipefail
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
fh=${FH:-target/release/fh}
mkdir -p "$dir"
"$fh" gen --out "$dir/lat.pcap" --messages 300000 --seed 12 >/dev/null
"$fh" gen --out "$dir/cpu.pcap" --messages 5000000 --seed 7 >/dev/null
name="bench-$$"
# As root the latency run gets nice -20 (the machine may be shared).
nice_cmd=()
[ "$(id -u)" = 0 ] && nice_cmd=(nice -n -20)
"${nice_cmd[@]}" "$fh" shm-tail "$name" --quiet --spin --buffer 65536 --hgrm "$dir/shm" >"$dir/tail.out" 2>&1 &
tail_pid=$!
"${nice_cmd[@]}" "$fh" replay "$dir/lat.pcap" --speed 1 --pipeline --strategy count --idle yield \
  --hgrm "$dir/ring" --shm "$name" --shm-wait 1 --shm-buffer 65536 >"$dir/replay.out"
wait "$tail_pid"
pct() { awk 'NF==4 && $1+0>0 { if ($2>=0.5 && !a) {p50=$1; a=1} if ($2>=0.99 && !b) {p99=$1; b=1} if ($2>=0.999 && !c) {p999=$1; c=1} } END { printf "p50 %.2f µs  p99 %.2f µs  p99.9 %.2f µs\n", p50, p99, p999 }' "$1"; }
echo "ring hop (in-process, consume.count):  $(pct "$dir/ring/consume_count.hgrm")"
echo "shm hop (other process, shm_hop):      $(pct "$dir/shm/shm_hop.hgrm")"
grep -h "received" "$dir/tail.out"
for i in $(seq "$rounds"); do
  "$fh" replay "$dir/cpu.pcap" --no-latency --report-json "$dir/off.json" >/dev/null
  "$fh" shm-tail "$name-$i" --quiet --buffer 4096 >"$dir/tail-$i.out" 2>&1 &
  "$fh" replay "$dir/cpu.pcap" --no-latency --shm "$name-$i" --shm-wait 1 --shm-buffer 4096 \
    --report-json "$dir/on.json" >/dev/null
  wait
  python3 - "$dir/off.json" "$dir/on.json" <<'PY'
import json, sys
def per_msg(p):
    r = json.load(open(p))
    return r["engine_cpu_s"] * 1e9 / r["engine"]["itch_messages"]
off, on = per_msg(sys.argv[1]), per_msg(sys.argv[2])
print(f"engine cpu per message: --shm off {off:.1f} ns, on {on:.1f} ns (+{(on / off - 1) * 100:.1f} %)")
PY
done
echo "files in $dir"
