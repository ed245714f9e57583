#!/usr/bin/env bash
# Live latency benchmark, run inside a private network namespace (nothing leaves it: the
# namespace has only its own loopback, and the sender's multicast TTL is 0).
#
# Measures, on a generated ITCH capture sent to multicast by `fh replay --to`:
#   - fh live: latency from the kernel receive timestamp (SO_TIMESTAMPNS) to the strategy
#     callback, p50 / p99 / p99.9 / max, at 100k and 1M messages/s;
#   - the floor: `fh live --floor` (one recvmmsg per datagram, busy-poll, no engine) joined to
#     the same group in the same run, kernel timestamp -> receive return;
#   - the highest rate received without loss (the sender's rate is doubled until fh live
#     reports kernel drops or fewer packets than were sent).
#
# Usage: benches/live_latency.sh [MESSAGES] [CPU_RX CPU_ENGINE CPU_STRATEGY CPU_FLOOR]
#   MESSAGES defaults to 2000000. Run as root (or where `unshare -r -n` works).
#   Builds with --release (fat LTO) first, or with the cargo profile in $FH_PROFILE (e.g. ci).
#   Figures are printed, one block per rate.
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=${FH_PROFILE:-release}
if [ "${FH_BENCH_NETNS:-}" != 1 ]; then
    cargo build --profile "$PROFILE" -q -p fh-feed --bin fh
    for u in "-n" "-r -n"; do
        # shellcheck disable=SC2086
        if unshare $u true 2>/dev/null; then
            # shellcheck disable=SC2086
            exec unshare $u env FH_BENCH_NETNS=1 bash "$0" "$@"
        fi
    done
    echo "SKIP: cannot create a private network namespace (need root or user namespaces)"
    exit 0
fi

ip link set lo up
ip link set lo multicast on
ip route add 224.0.0.0/4 dev lo
if [ "$(ls /proc/self/net/dev >/dev/null; awk 'NR>2{print $1}' /proc/self/net/dev | tr -d ':' | tr '\n' ' ')" != "lo " ]; then
    echo "not in a private namespace; refusing to send" >&2
    exit 1
fi

MESSAGES=${1:-2000000}
CPU_RX=${2:-0}; CPU_ENGINE=${3:-1}; CPU_STRAT=${4:-1}; CPU_FLOOR=${5:-0}
IDLE=${FH_IDLE:-spin}   # spin on dedicated cores; backoff on a shared, small machine
FH=target/$PROFILE/fh
GROUP=239.77.0.1:40001
TMP=$(mktemp -d)
[ -n "${FH_KEEP:-}" ] || trap 'rm -rf "$TMP"' EXIT

echo "== $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), idle strategy $IDLE"
echo "== generating $MESSAGES ITCH messages"
$FH gen --out "$TMP/feed.pcap" --messages "$MESSAGES" --group "$GROUP" | tee "$TMP/gen.txt"
PACKETS=$(sed -n 's/.* messages, \([0-9]*\) packets .*/\1/p' "$TMP/gen.txt")
echo "capture: $PACKETS packets, $MESSAGES messages ($(awk "BEGIN{printf \"%.1f\", $MESSAGES/$PACKETS}") messages/packet)"

wait_joined() { # GROUP USERS
    local hex
    hex=$(printf '%02X%02X%02X%02X' $(echo "${1%%:*}" | awk -F. '{print $4, $3, $2, $1}'))
    for _ in $(seq 1 2000); do
        if awk -v h="$hex" -v n="$2" '$1==h && $2>=n {f=1} END{exit !f}' /proc/net/igmp; then return 0; fi
        sleep 0.01
    done
    echo "never joined $1" >&2; return 1
}

# run PPS-ARGS...: one send with fh live and the floor listening; prints both reports.
run() {
    timeout 600 $FH live --protocol itch --group "$GROUP" --iface 127.0.0.1 --idle "$IDLE" \
        --cpu "$CPU_RX" --cpu "$CPU_ENGINE" --cpu "$CPU_STRAT" \
        --stats-every 0 --until-quiet 1 >"$TMP/live.txt" 2>&1 &
    local live=$!
    timeout 600 $FH live --protocol itch --group "$GROUP" --iface 127.0.0.1 --floor \
        --cpu "$CPU_FLOOR" --stats-every 0 --until-quiet 1 >"$TMP/floor.txt" 2>&1 &
    local floor=$!
    wait_joined "$GROUP" 2
    timeout 600 $FH replay "$TMP/feed.pcap" --to "$GROUP" --iface 127.0.0.1 "$@" >"$TMP/send.txt"
    wait "$live" "$floor" || true
    echo "-- sender: $(cat "$TMP/send.txt")"
    echo "-- fh live:"
    grep -E "^(received|sequencing|stage|receive |consume|end_to_end|latency kernel)" "$TMP/live.txt" | sed 's/^/   /' || true
    echo "-- floor:"
    grep -E "^(received|stage|receive |latency kernel)" "$TMP/floor.txt" | sed 's/^/   /' || true
}

MPP=$(awk "BEGIN{print $MESSAGES/$PACKETS}")
for RATE in 100000 1000000; do
    PPS=$(awk "BEGIN{printf \"%d\", $RATE/$MPP}")
    echo "== $RATE messages/s ($PPS packets/s)"
    run --pps "$PPS"
done

echo "== highest rate without loss"
BEST=0
LIMIT="the receiver lost packets above it"
check() { # after a run: sets got/sent/drops/rate
    got=$(sed -n 's/^received \([0-9]*\) packets.*/\1/p' "$TMP/live.txt")
    drops=$(sed -n 's/.*kernel drops \([0-9]*\);.*/\1/p' "$TMP/live.txt")
    sent=$(sed -n 's/^sent \([0-9]*\) packets.*/\1/p' "$TMP/send.txt")
    rate=$(sed -n 's/.* s: \([0-9]*\) packets\/s.*/\1/p' "$TMP/send.txt")
}
PPS=50000
while :; do
    run --pps "$PPS" >/dev/null
    check
    echo "   asked $PPS packets/s, achieved $rate: sent $sent, received $got, kernel drops $drops"
    if [ "$got" != "$sent" ] || [ "$drops" != 0 ]; then break; fi
    BEST=$rate
    if [ "$rate" -lt $((PPS * 8 / 10)) ]; then
        run --topspeed >/dev/null
        check
        echo "   top speed (sendmmsg batches): achieved $rate: sent $sent, received $got, kernel drops $drops"
        if [ "$got" = "$sent" ] && [ "$drops" = 0 ] && [ "$rate" -gt "$BEST" ]; then BEST=$rate; fi
        LIMIT="limited by the sender on this machine: nothing was lost"
        break
    fi
    PPS=$((PPS * 2))
done
echo "highest rate received without loss: $BEST packets/s ($(awk "BEGIN{printf \"%d\", $BEST*$MPP}") messages/s); $LIMIT"
