#!/usr/bin/env bash
# npm run bench [-- --quick] [-- --runs N --seconds S --pings N --peers N --scale "10000 100000" --skip-control --skip-handshake --skip-scale --skip-netstack]
# npm run bench -- netstack [--quick|--runs N --seconds S]: only the netstack section (results/netstack.*)
# Installs what is missing, builds what changed, runs every contender in two private network
# namespaces, and writes benchmark/results/latest.{md,json,svg}. Needs root (netns, TUN).
# Environment: BENCH_CONTENDERS="wgkit wggo-debian ..." selects contenders; BENCH_KEEP=1 keeps the scratch dir.
# --scale lists the peer counts of the scale section (default 10k, 100k, 1M; --quick: 10k);
# --results NAME writes benchmark/results/NAME.* instead of latest.* (for a partial run).
# `run.sh soak`: the soak alone (lib/soak.sh; WGKIT_SOAK_SECONDS, default 1800), results in soak.*.
set -uo pipefail

LIB="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib"
for f in common contenders install netns tunnel throughput latency handshake controlplane jsboundary scale soak netstack-bench; do
  # shellcheck source=/dev/null
  source "$LIB/$f.sh"
done

if [[ ${1:-} == soak ]]; then
  [[ $(id -u) == 0 ]] || { echo "the soak needs root (network namespaces, TUN devices)" >&2; exit 1; }
  install_traps
  init_run_dir
  run_soak
  exit $?
fi

BENCH_RUNS=3 BENCH_SECONDS=10 BENCH_PINGS=200 BENCH_PEERS=10000 BENCH_HS_SECONDS=3 MODE=full
DO_CONTROL=1 DO_HANDSHAKE=1 DO_THROUGHPUT=1 DO_SCALE=1 DO_NETSTACK=1 ONLY="" BENCH_SCALE="10000 100000 1000000" BENCH_RESULTS=latest
while (($#)); do
  case $1 in
    --quick) MODE=quick BENCH_RUNS=1 BENCH_SECONDS=3 BENCH_PINGS=100 BENCH_HS_SECONDS=1 BENCH_SCALE=10000 ;;
    --runs) BENCH_RUNS=$2; shift ;;
    --seconds) BENCH_SECONDS=$2; shift ;;
    --pings) BENCH_PINGS=$2; shift ;;
    --peers) BENCH_PEERS=$2; shift ;;
    --scale) BENCH_SCALE=$2; shift ;;
    --results) BENCH_RESULTS=$2; shift ;;
    --skip-control) DO_CONTROL=0 ;;
    --skip-scale) DO_SCALE=0 ;;
    --skip-handshake) DO_HANDSHAKE=0 ;;
    --skip-throughput) DO_THROUGHPUT=0 ;;
    --skip-netstack) DO_NETSTACK=0 ;;
    netstack) ONLY=netstack ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done

[[ $(id -u) == 0 ]] || { echo "npm run bench needs root (network namespaces, TUN devices)" >&2; exit 1; }

install_traps
# The netstack section's /etc/netns entry is not a namespace: removed before cleanup() (same exit status).
trap 'rc=$?; nsb_cleanup; (exit $rc); cleanup' EXIT
init_run_dir

if [[ $ONLY == netstack ]]; then
  log "netstack section only: ${BENCH_RUNS} x ${BENCH_SECONDS} s per stream test"
  mkdir -p "$CACHE_DIR"
  install_tools || { warn "could not install the suite's tools"; exit 1; }
  run_netstack_section
  exit 0
fi
load_contenders
emit kind=settings mode="$MODE" runs:="$BENCH_RUNS" seconds:="$BENCH_SECONDS" pings:="$BENCH_PINGS" \
  peers:="$BENCH_PEERS" mtu:=1420 started="$(date -u +%Y-%m-%dT%H:%M:%SZ)" loadavg_start="$(cut -d" " -f1-3 /proc/loadavg)"

log "mode $MODE: ${BENCH_RUNS} x ${BENCH_SECONDS} s per iperf3 test, ${BENCH_PINGS} pings; contenders: ${C_IDS[*]}"
install_all || exit 1
if ((DO_HANDSHAKE)); then build_handshake 2>"$RUN_DIR/handshake-build.err" || { cat "$RUN_DIR/handshake-build.err" >&2; DO_HANDSHAKE=0; emit kind=handshake ok:=false error="build failed"; }; fi

setup_underlay || exit 1

if ((DO_THROUGHPUT)); then
  for id in "${C_IDS[@]}"; do usable "$id" && start_pair "$id"; done
  # Runs are interleaved across contenders so slow drifts in machine load hit all of them alike.
  for run in $(seq "$BENCH_RUNS"); do
    log "run $run/$BENCH_RUNS"
    for streams in 1 4; do
      for rev in 0 1; do
        for id in "${C_IDS[@]}"; do usable "$id" && measure_iperf "$id" "$streams" "$rev" "$run"; done
      done
    done
    live=()
    for id in "${C_IDS[@]}"; do usable "$id" && live+=("$id"); done
    ((${#live[@]})) && measure_idle_latency "$run" "${live[@]}"
    ((${#live[@]})) && measure_awake_latency "$run" "${live[@]}"
    for id in "${live[@]}"; do measure_load_latency "$id" "$run"; done
  done
  for id in "${C_IDS[@]}"; do is_tunnel "$id" && stop_pair "$id"; done
  log "JS boundary: N-API calls while wgkit moves data"
  measure_js_boundary
fi

((DO_HANDSHAKE)) && { log "handshakes (in process, one thread)"; measure_handshakes; }
((DO_HANDSHAKE)) && { log "event delivery into JavaScript"; measure_event_rate; }

if ((DO_CONTROL)); then
  log "control plane: $BENCH_PEERS peers x 2 allowed IPs"
  prepare_peer_configs
  for id in "${C_IDS[@]}"; do is_tunnel "$id" && usable "$id" && measure_controlplane "$id"; done
  log "control plane on kernel WireGuard (qemu guest, TCG)"
  measure_controlplane_kernel
fi

if ((DO_SCALE)); then
  log "scale: $BENCH_SCALE peers (endpoint, keepalive, 2 allowed IPs, a third with preshared keys)"
  measure_scale_all
fi

if ((DO_NETSTACK)); then
  log "netstack: userspace-stack tunnels against one far peer (results/netstack.*)"
  run_netstack_section
fi

record_contenders
emit kind=settings_end finished="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
mkdir -p "$RESULTS_DIR"
cp "$RAW" "$RESULTS_DIR/$BENCH_RESULTS.raw.jsonl"
node "$BENCH_DIR/report/report.mjs" "$RAW" "$RESULTS_DIR" "$BENCH_RESULTS"
