#!/usr/bin/env bash
# Live latency benchmark: fh against the floor receiver, one at a time, each alone against the
# sender, inside a private network namespace (nothing leaves it: the namespace has only its own
# loopback, multicast is routed to it alone, and the sender's multicast TTL is 0).
#
# For each rate (default 100k and 1M ITCH messages/s, turned into datagrams/s with the
# capture's messages per datagram), in alternating pairs (fh first in odd rounds, the floor
# first in even ones; never both at once):
#   (a) fh:    `fh live --threading shared --idle spin --cpu A --strategy digest`: receive,
#              engine and strategy on one thread on core A; latency kernel receive timestamp
#              (SO_TIMESTAMPNS) -> the strategy's on_update, per book update;
#   (b) floor: `fh live --floor --cpu A`: one datagram per recvmmsg, busy-poll, no engine;
#              latency kernel receive timestamp -> recvmmsg return, per datagram;
# with the sender, `fh replay --to --pps N`, pinned to core B (`taskset`). Each run checks
# there was no loss (received == sent, kernel drops 0, and for fh no sequence gaps). Prints one
# line per run, then the table: medians over the rounds of p50/p99/p99.9, and the median and
# every per-pair difference of the p50s.
#
# Usage: benches/live_latency.sh [--rounds N] [--seconds S] [--rates "R1 R2 ..."] [--cpus A,B]
#                                [--capture FILE] [--hgrm DIR] [--keep DIR]
#   --rounds    pairs per rate (default 5)       --seconds  traffic per run (default 3)
#   --rates     messages/s (default "100000 1000000")
#   --cpus      receiver core A, sender core B (default 0,1)
#   --capture   an ITCH/MoldUDP64 capture to send (looped with --loop to last --seconds; the
#               repeats are duplicates to fh, counted but not applied); default: one capture
#               per rate made by `fh gen` with rate x seconds messages (unique sequence numbers)
#   --hgrm DIR  each run's stages as HdrHistogram files, DIR/<rate>/<round>-<fh|floor>/*.hgrm
#   --keep DIR  keep every run's full output there
# Needs root (`unshare -n`; `unshare -r -n` through a user namespace otherwise) and iproute2.
# The runs go in a new session whose scheduling group gets nice -20 (root only, else as is):
# on a machine shared with other work the spinning receiver must not queue behind it, or the
# figures measure the scheduler. Builds with the cargo profile in $FH_PROFILE (default release).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=5 SECONDS_PER_RUN=3 RATES="100000 1000000" CPUS=0,1 CAPTURE="" HGRM="" KEEP=""
ARGS=("$@")
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS=$2; shift 2 ;;
        --seconds) SECONDS_PER_RUN=$2; shift 2 ;;
        --rates) RATES=$2; shift 2 ;;
        --cpus) CPUS=$2; shift 2 ;;
        --capture) CAPTURE=$(realpath "$2"); shift 2 ;;
        --hgrm) mkdir -p "$2"; HGRM=$(realpath "$2"); shift 2 ;;
        --keep) mkdir -p "$2"; KEEP=$(realpath "$2"); shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
CPU_RX=${CPUS%,*} CPU_TX=${CPUS#*,}
[ "$CPU_RX" != "$CPU_TX" ] || { echo "--cpus: the receiver and the sender need two cores" >&2; exit 2; }

PROFILE=${FH_PROFILE:-release}
if [ "${FH_BENCH_NETNS:-}" != 1 ]; then
    cargo build --profile "$PROFILE" -q -p fh-cli --bin fh
    for u in "-n" "-r -n"; do
        # shellcheck disable=SC2086
        if unshare $u true 2>/dev/null; then
            # A new session (its own scheduling autogroup), in a new network namespace. The
            # child writes its session id so that an interrupt here ends that session.
            PIDFILE=$(mktemp)
            trap '[ -s "$PIDFILE" ] && pkill -TERM -s "$(cat "$PIDFILE")"; rm -f "$PIDFILE"' EXIT
            trap 'exit 130' INT TERM
            rc=0
            # shellcheck disable=SC2086
            setsid -w unshare $u env FH_BENCH_NETNS=1 FH_BENCH_PIDFILE="$PIDFILE" \
                bash "$0" "${ARGS[@]}" || rc=$?
            : >"$PIDFILE"
            exit $rc
        fi
    done
    echo "SKIP: cannot create a private network namespace (need root or user namespaces)"
    exit 0
fi
echo $$ >"$FH_BENCH_PIDFILE"
if echo -20 2>/dev/null >/proc/self/autogroup && renice -n -20 -p $$ >/dev/null 2>&1; then
    PRIO="session nice -20"
else
    PRIO="default priority (could not raise it)"
fi

ip link set lo up
ip link set lo multicast on
ip route add 224.0.0.0/4 dev lo
if [ "$(awk 'NR>2{print $1}' /proc/self/net/dev | tr -d ':' | tr '\n' ' ')" != "lo " ]; then
    echo "not in a private namespace; refusing to send" >&2
    exit 1
fi

FH=$PWD/target/$PROFILE/fh
GROUP=239.77.0.1:40001
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

echo "== $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), receiver on core $CPU_RX, sender on core $CPU_TX, $PRIO"

wait_joined() { # GROUP: until the namespace's loopback has joined it (at most 20 s)
    local hex
    hex=$(printf '%02X%02X%02X%02X' $(echo "${1%%:*}" | awk -F. '{print $4, $3, $2, $1}'))
    for _ in $(seq 1 2000); do
        if awk -v h="$hex" '$1==h {f=1} END{exit !f}' /proc/net/igmp; then return 0; fi
        sleep 0.01
    done
    echo "never joined $1" >&2
    return 1
}

# capture RATE: sets FILE, LOOPS, PACKETS (datagrams sent per run), MPP (messages/datagram).
capture() {
    local want=$(($1 * SECONDS_PER_RUN)) msgs pkts
    if [ -n "$CAPTURE" ]; then
        FILE=$CAPTURE
        if [ ! -s "$TMP/capture.txt" ]; then
            timeout 120 "$FH" replay "$FILE" >"$TMP/capture.txt"
        fi
        msgs=$(sed -n 's/^ITCH messages: \([0-9]*\).*/\1/p' "$TMP/capture.txt")
        pkts=$(sed -n 's/^frames: \([0-9]*\) udp datagrams.*/\1/p' "$TMP/capture.txt")
        LOOPS=$(((want + msgs - 1) / msgs))
    else
        FILE=$TMP/gen-$1.pcap
        timeout 300 "$FH" gen --out "$FILE" --messages "$want" --group "$GROUP" >"$TMP/gen.txt"
        msgs=$want
        pkts=$(sed -n 's/.* messages, \([0-9]*\) packets .*/\1/p' "$TMP/gen.txt")
        LOOPS=1
    fi
    PACKETS=$((pkts * LOOPS))
    MPP=$(awk "BEGIN{printf \"%.2f\", $msgs / $pkts}")
}

# run fh|floor RATE ROUND PPS: one receiver alone against the sender; appends a result line
# "rate round kind p50 p99 p99.9 max count loss" to $TMP/results.
run() {
    local kind=$1 rate=$2 round=$3 pps=$4 out="$TMP/$2-$3-$1" args=() hg=()
    if [ "$kind" = fh ]; then
        args=(--threading shared --idle spin --cpu "$CPU_RX" --strategy digest)
    else
        args=(--floor --cpu "$CPU_RX")
    fi
    if [ -n "$HGRM" ]; then
        mkdir -p "$HGRM/$rate/$round-$kind"
        hg=(--hgrm "$HGRM/$rate/$round-$kind")
    fi
    local bound=$((SECONDS_PER_RUN * 4 + 30))
    timeout "$bound" "$FH" live --protocol itch --group "$GROUP" --iface 127.0.0.1 "${args[@]}" \
        --stats-every 0 --packets "$PACKETS" --until-quiet 1 --duration "$bound" "${hg[@]}" \
        >"$out.live" 2>&1 &
    local live=$!
    wait_joined "$GROUP"
    timeout "$bound" taskset -c "$CPU_TX" "$FH" replay "$FILE" --to "$GROUP" --iface 127.0.0.1 \
        --pps "$pps" --loop "$LOOPS" >"$out.send" 2>&1 || echo "sender failed: $(cat "$out.send")" >&2
    wait "$live" || echo "fh live ($kind) failed: $(tail -3 "$out.live")" >&2
    [ -z "$KEEP" ] || cp "$out.live" "$out.send" "$KEEP/"
    local sent got drops gaps lat loss
    sent=$(sed -n 's/^sent \([0-9]*\) packets.*/\1/p' "$out.send")
    got=$(sed -n 's/^received \([0-9]*\) packets.*/\1/p' "$out.live")
    drops=$(sed -n 's/.*kernel drops \([0-9]*\);.*/\1/p' "$out.live")
    gaps=$(sed -n 's/^sequencing: .* gaps \([0-9]*\) .*/\1/p' "$out.live")
    lat=$(sed -n 's/^latency kernel receive .*ns: count \([0-9]*\) p50 \([0-9]*\) p99 \([0-9]*\) p99.9 \([0-9]*\) max \([0-9]*\)$/\2 \3 \4 \5 \1/p' "$out.live")
    [ -n "$lat" ] || lat="0 0 0 0 0"
    if [ "${sent:-x}" = "${got:-y}" ] && [ "${drops:-x}" = 0 ] && [ "${gaps:-0}" = 0 ]; then
        loss=none
    else
        loss="sent=${sent:-?},received=${got:-?},drops=${drops:-?},gaps=${gaps:-?}"
    fi
    echo "$rate $round $kind $lat $loss" >>"$TMP/results"
    printf '   round %d %-5s p50 %8s  p99 %9s  p99.9 %9s  max %9s  count %8s  loss %s\n' \
        "$round" "$kind" $(echo "$lat" | awk '{printf "%.2fµs %.2fµs %.2fµs %.2fµs %d", $1/1e3, $2/1e3, $3/1e3, $4/1e3, $5}') "$loss"
}

median() { sort -g | awk '{v[NR]=$1} END{if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
col() { # RATE KIND COLUMN(4=p50 5=p99 6=p99.9): median over the rounds, µs
    awk -v r="$1" -v k="$2" -v c="$3" '$1==r && $3==k {print $c/1e3}' "$TMP/results" | median
}

: >"$TMP/results"
for RATE in $RATES; do
    capture "$RATE"
    PPS=$(awk "BEGIN{printf \"%d\", $RATE / $MPP}")
    echo "== $RATE messages/s: $PPS datagrams/s ($MPP messages/datagram), $PACKETS datagrams per run (~${SECONDS_PER_RUN} s), $ROUNDS pairs"
    for ROUND in $(seq 1 "$ROUNDS"); do
        if [ $((ROUND % 2)) = 1 ]; then order="fh floor"; else order="floor fh"; fi
        for KIND in $order; do run "$KIND" "$RATE" "$ROUND" "$PPS"; done
    done
    rm -f "$TMP"/gen-*.pcap
done

echo
echo "== latency from the kernel receive timestamp, µs: medians over the rounds (fh: to the strategy, per update; floor: to recvmmsg return, per datagram)"
printf '%-9s | %-24s | %-24s | %-30s | %s\n' "msgs/s" "fh p50 / p99 / p99.9" "floor p50 / p99 / p99.9" "p50 fh-floor: median (pairs)" "loss"
for RATE in $RATES; do
    pairs=$(awk -v r="$RATE" '$1==r {p[$2" "$3]=$4} END{for (i=1; ("" i " fh") in p; i++) printf "%s%.2f", (i>1?" ":""), (p[i" fh"]-p[i" floor"])/1e3}' "$TMP/results")
    dmed=$(echo "$pairs" | tr ' ' '\n' | median)
    lost=$(awk -v r="$RATE" '$1==r && $9!="none" {n++} END{print n+0}' "$TMP/results")
    printf '%-9s | %6.2f / %7.2f / %7.1f | %6.2f / %7.2f / %7.1f | %+5.2f (%s) | %s\n' "$RATE" \
        "$(col "$RATE" fh 4)" "$(col "$RATE" fh 5)" "$(col "$RATE" fh 6)" \
        "$(col "$RATE" floor 4)" "$(col "$RATE" floor 5)" "$(col "$RATE" floor 6)" \
        "$dmed" "$pairs" "$([ "$lost" = 0 ] && echo none || echo "$lost runs lost datagrams")"
done
