#!/bin/sh
# Data-plane throughput: wgkit<->wgkit and Debian wireguard-go<->wireguard-go in the same run.
# Two network namespaces joined by veth (192.0.2.1/2), tunnel MTU 1420, 10.77.0.1 <-> 10.77.0.2,
# iperf3 single TCP stream, RUNS x DURATION seconds per direction (forward: a sends to b;
# reverse: -R), median of the receiver figures in Gbit/s. Needs root, iperf3, wireguard-go, wg.
#
#   benchmark/dataplane.sh            # release build of crate/examples/wgkit_pair.rs, both impls
#   RUNS=5 DURATION=10 ONLY=wgkit benchmark/dataplane.sh
#   CONFIGS="WGKIT_UDP_GRO=0 WGKIT_SPIN_US=0,WGKIT_UDP_GRO=0 -" ROUNDS=2 benchmark/dataplane.sh
#   PAIR_BIN=/tmp/wgkit_pair.old ONLY=wgkit benchmark/dataplane.sh   # another build, not rebuilt
#
# CONFIGS: space-separated wgkit configurations, each a comma-separated list of environment
# assignments for wgkit_pair ("-" = defaults); every configuration is measured once per round
# (ROUNDS, default 1), interleaved with Debian wireguard-go, so that the configurations of one
# sitting see the same machine load. PINGS=N adds an idle ping test (N pings, -i 0.01, p50/p90)
# per configuration and over the raw veth. Each measurement also prints the tunnel processes'
# CPU seconds per GB moved (user + system, medians), steadier than Gbit/s on a busy host.
set -eu
umask 077
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
ONLY=${ONLY:-}
CONFIGS=${CONFIGS:--}
ROUNDS=${ROUNDS:-1}
PINGS=${PINGS:-0}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PAIR_BIN=${PAIR_BIN:-}
T=$$
A=wgbA$T
B=wgbB$T
PAIR_PID=
GO_PIDS=
TMP=$(mktemp -d)

cleanup() {
    [ -s "$TMP/iperf.pid" ] && kill "$(cat "$TMP/iperf.pid")" 2>/dev/null || true
    [ -n "$PAIR_PID" ] && kill "$PAIR_PID" 2>/dev/null || true
    for p in $GO_PIDS; do kill "$p" 2>/dev/null || true; done
    [ -n "$PAIR_PID" ] && wait "$PAIR_PID" 2>/dev/null || true
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

netns_pair() {
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
    ip netns add "$A"
    ip netns add "$B"
    ip link add va$T netns "$A" type veth peer name vb$T netns "$B"
    ip -n "$A" link set lo up
    ip -n "$B" link set lo up
    ip -n "$A" addr add 192.0.2.1/24 dev va$T
    ip -n "$B" addr add 192.0.2.2/24 dev vb$T
    ip -n "$A" link set va$T up
    ip -n "$B" link set vb$T up
}

median() { sort -n | awk '{v[NR]=$1} END {if (NR==0) print "n/a"; else if (NR%2) print v[(NR+1)/2]; else printf "%.2f\n", (v[NR/2]+v[NR/2+1])/2}'; }

# PINGS pings from A to $1 every 10 ms; prints p50 and p90 in ms.
ping_pct() {
    [ "$PINGS" -gt 0 ] || return 0
    ip netns exec "$A" ping -c 3 -i 0.1 -W 2 "$1" >/dev/null 2>&1 || true
    ip netns exec "$A" ping -c "$PINGS" -i 0.01 "$1" 2>/dev/null | sed -n 's/.*time=\([0-9.]*\).*/\1/p' | sort -n |
        awk '{v[NR]=$1} END {if (NR==0) print "ping n/a"; else printf "ping p50 %.3f ms  p90 %.3f ms  (n %d)\n", v[int(NR/2)+1], v[int(NR*0.9)], NR}'
}

# User + system CPU ticks so far of the tunnel processes (the wgkit pair, or both
# wireguard-go daemons); nothing when none is running.
cpu_ticks() {
    for p in $PAIR_PID $GO_PIDS; do
        [ -r "/proc/$p/stat" ] && sed 's/.*) //' "/proc/$p/stat"
    done | awk '{t += $12 + $13; n++} END {if (n) print t}'
}

# iperf3 runs against a server in B; prints "<fwd median> <rev median>" and the single runs.
measure() {
    label=$1
    rm -f "$TMP/iperf.pid"
    ip netns exec "$B" iperf3 -s -D -p 5202 -I "$TMP/iperf.pid" >/dev/null 2>&1
    sleep 0.3
    ip netns exec "$A" ping -c 2 -i 0.2 -W 2 10.77.0.2 >/dev/null
    : >"$TMP/fwd"
    : >"$TMP/rev"
    : >"$TMP/fwd.cpu"
    : >"$TMP/rev.cpu"
    i=0
    while [ $i -lt "$RUNS" ]; do
        for dir in fwd rev; do
            flag=
            [ $dir = rev ] && flag=-R
            t0=$(cpu_ticks)
            g=$(ip netns exec "$A" iperf3 -c 10.77.0.2 -p 5202 -t "$DURATION" $flag -f g 2>&1 |
                awk '/receiver/ {print $(NF-2)}')
            t1=$(cpu_ticks)
            echo "$g" >>"$TMP/$dir"
            # CPU seconds of the tunnel process per GB moved (GB = Gbit/s * seconds / 8).
            [ -n "$t0" ] && [ -n "$g" ] && awk -v a="$t0" -v b="$t1" -v g="$g" -v d="$DURATION" -v hz="$(getconf CLK_TCK)" \
                'BEGIN {printf "%.3f\n", (b - a) / hz / (g * d / 8)}' >>"$TMP/$dir.cpu"
        done
        i=$((i + 1))
    done
    [ -s "$TMP/iperf.pid" ] && kill "$(cat "$TMP/iperf.pid")" 2>/dev/null || true
    f=$(median <"$TMP/fwd")
    r=$(median <"$TMP/rev")
    printf '%-22s forward %6s Gbit/s  reverse %6s Gbit/s   (runs: %s | %s)\n' "$label" "$f" "$r" \
        "$(tr '\n' ' ' <"$TMP/fwd")" "$(tr '\n' ' ' <"$TMP/rev")"
    [ -s "$TMP/fwd.cpu" ] && printf '%-22s CPU s/GB of the tunnel process: forward %s  reverse %s\n' "" \
        "$(median <"$TMP/fwd.cpu")" "$(median <"$TMP/rev.cpu")"
    return 0
}

echo "# $(date -u '+%Y-%m-%d %H:%M UTC') $(uname -r) $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "# iperf3 single stream, ${RUNS} x ${DURATION}s per direction, tunnel MTU 1420, medians"

run_wgkit() {
    cfg=$1
    netns_pair
    [ "$PINGS" -gt 0 ] && echo "raw veth               $(ping_pct 192.0.2.2)"
    rm -f "$TMP/in"
    mkfifo "$TMP/in"
    # shellcheck disable=SC2046
    env $([ "$cfg" = - ] || echo "$cfg" | tr , ' ') "$PAIR_BIN" "$A" "$B" \
        <"$TMP/in" >"$TMP/pair.out" 2>"$TMP/pair.err" &
    PAIR_PID=$!
    exec 3>"$TMP/in"
    for _ in $(seq 50); do grep -q ready "$TMP/pair.out" 2>/dev/null && break; sleep 0.1; done
    grep -q ready "$TMP/pair.out" || { cat "$TMP/pair.err" >&2; exit 1; }
    label="wgkit $cfg"
    [ "$cfg" = - ] && label="wgkit<->wgkit"
    [ "$PINGS" -gt 0 ] && echo "$(printf '%-22s' "$label") $(ping_pct 10.77.0.2)"
    [ "$RUNS" -gt 0 ] && measure "$label"
    exec 3>&-
    kill "$PAIR_PID" 2>/dev/null || true
    wait "$PAIR_PID" || true
    PAIR_PID=
    [ -n "${VERBOSE:-}" ] && cat "$TMP/pair.err"
    return 0
}

run_go() {
    netns_pair
    wg genkey >"$TMP/ka"
    wg genkey >"$TMP/kb"
    ip netns exec "$A" wireguard-go -f wggoa$T >/dev/null 2>&1 &
    GO_PIDS="$GO_PIDS $!"
    ip netns exec "$B" wireguard-go -f wggob$T >/dev/null 2>&1 &
    GO_PIDS="$GO_PIDS $!"
    for _ in $(seq 50); do
        [ -S /var/run/wireguard/wggoa$T.sock ] && [ -S /var/run/wireguard/wggob$T.sock ] && break
        sleep 0.1
    done
    ip netns exec "$A" wg set wggoa$T listen-port 51820 private-key "$TMP/ka" \
        peer "$(wg pubkey <"$TMP/kb")" endpoint 192.0.2.2:51820 allowed-ips 10.77.0.2/32
    ip netns exec "$B" wg set wggob$T listen-port 51820 private-key "$TMP/kb" \
        peer "$(wg pubkey <"$TMP/ka")" endpoint 192.0.2.1:51820 allowed-ips 10.77.0.1/32
    ip -n "$A" addr add 10.77.0.1/24 dev wggoa$T
    ip -n "$B" addr add 10.77.0.2/24 dev wggob$T
    ip -n "$A" link set wggoa$T mtu 1420 up
    ip -n "$B" link set wggob$T mtu 1420 up
    [ "$PINGS" -gt 0 ] && echo "wireguard-go (Debian)  $(ping_pct 10.77.0.2)"
    [ "$RUNS" -gt 0 ] && measure "wireguard-go (Debian)"
    for p in $GO_PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $GO_PIDS; do wait "$p" 2>/dev/null || true; done
    GO_PIDS=
    return 0
}

if [ "$ONLY" != wireguard-go ] && [ -z "$PAIR_BIN" ]; then
    (cd "$ROOT" && cargo build --release --example wgkit_pair >/dev/null 2>&1) || {
        echo "build failed" >&2
        exit 1
    }
fi
PAIR_BIN=${PAIR_BIN:-$ROOT/target/release/examples/wgkit_pair}
round=0
while [ $round -lt "$ROUNDS" ]; do
    round=$((round + 1))
    [ "$ROUNDS" -gt 1 ] && echo "## round $round"
    if [ "$ONLY" != wireguard-go ]; then
        for cfg in $CONFIGS; do run_wgkit "$cfg"; done
    fi
    [ "$ONLY" != wgkit ] && run_go
done
