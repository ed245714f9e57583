#!/bin/sh
# Replay throughput with each research export on and off, in alternating pairs (issue 18).
#
#   benches/export_cost.sh [--rounds N] [--messages N] [--fh PATH]
#
# Generates a synthetic day (fh gen, pcap, 100 symbols), then for each export runs, N times
# in turn, `fh replay --no-latency` without and with it, and prints the median messages per
# CPU second of the replay's thread (the exports run on it) and of the wall clock, with the
# cost of each export against its own "off" runs.
set -eu
rounds=5
messages=2000000
fh=target/release/fh
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --messages) messages=$2; shift 2 ;;
        --fh) fh=$2; shift 2 ;;
        *) echo "usage: $0 [--rounds N] [--messages N] [--fh PATH]" >&2; exit 2 ;;
    esac
done
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
day="$dir/day.pcap"
"$fh" gen --out "$day" --messages "$messages" --symbols 100 >/dev/null

# One replay: prints "<M msg/s wall> <M msg per CPU s>".
run() {
    "$fh" replay "$day" --no-latency "$@" |
        sed -n 's/.*, \([0-9.]*\) M messages\/s (CPU time [0-9.]* s, \([0-9.]*\) M messages per CPU second).*/\1 \2/p'
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

printf '%-22s %12s %12s %12s %12s %8s\n' export off_wall on_wall off_cpu on_cpu cost_cpu
for name in mbo mbp-1 mbp-10 tbbo trades snapshots tape bbo-epoch; do
    case $name in
        snapshots) args="--snapshot-every 100ms --snapshot-csv $dir/s.csv --snapshot-parquet $dir/s.parquet" ;;
        tape) args="--trades-csv $dir/t.csv --trades-parquet $dir/t.parquet" ;;
        bbo-epoch) args="--bbo-csv $dir/b.csv --bbo-ts epoch" ;;
        *) args="--dbn $dir/x.dbn --schema $name" ;;
    esac
    : >"$dir/off"; : >"$dir/on"
    i=0
    while [ $i -lt "$rounds" ]; do
        run >>"$dir/off"
        # shellcheck disable=SC2086
        run $args >>"$dir/on"
        i=$((i + 1))
    done
    ow=$(cut -d' ' -f1 "$dir/off" | median); oc=$(cut -d' ' -f2 "$dir/off" | median)
    nw=$(cut -d' ' -f1 "$dir/on" | median); nc=$(cut -d' ' -f2 "$dir/on" | median)
    cost=$(awk -v a="$oc" -v b="$nc" 'BEGIN {printf "%.0f%%", (a / b - 1) * 100}')
    printf '%-22s %12s %12s %12s %12s %8s\n' "$name" "$ow" "$nw" "$oc" "$nc" "$cost"
done
echo "(M messages/s; medians of $rounds alternating pairs; $messages generated messages; cost: extra CPU time per message)"
