#!/usr/bin/env bash
# Two measurements of the netstack section alone (benchmark/lib/netstack-bench.sh), to follow
# the relay's cost quickly: resident memory per idle connection (1,000 open through the -L
# forward) and 1,000 concurrent HTTP requests through the forward (one connection each).
# Same namespaces, far peer and clients as `bash benchmark/run.sh netstack`; results print to
# stderr, one line each, with the 1-minute load average (the raw records stay in the scratch
# directory with BENCH_KEEP=1). As in the full section, streams run first (one each way through
# the forward, --warm seconds; 0 skips them): what a contender keeps allocated after a busy
# stream is part of what its idle connections cost in the full bench.
#   bash benchmark/lib/netstack-relay.sh [--runs N] [--warm S] [--contenders "wgkit-proxy wggo-netstack"]
# Needs root, a built tree (npm run build) and the Go harness (built here if missing).
set -uo pipefail

LIB="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for f in common contenders install netns netstack-bench; do
  # shellcheck source=/dev/null
  source "$LIB/$f.sh"
done

RUNS=3 WARM=5 CONTENDERS="wgkit-proxy wggo-netstack"
while (($#)); do
  case $1 in
    --runs) RUNS=$2; shift ;;
    --warm) WARM=$2; shift ;;
    --contenders) CONTENDERS=$2; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done
[[ $(id -u) == 0 ]] || { echo "needs root (network namespaces, TUN devices)" >&2; exit 1; }

install_traps
trap 'rc=$?; nsb_cleanup; (exit $rc); cleanup' EXIT
init_run_dir
mkdir -p "$CACHE_DIR"
install_netstack_go >/dev/null || { warn "could not build benchmark/netstack-go"; exit 1; }
for id in "${NSB_IDS[@]}"; do NSB_STATUS[$id]=skipped; done
for id in $CONTENDERS; do
  [[ -n $(nsb_index "$id") ]] || { warn "unknown contender $id (one of: ${NSB_IDS[*]})"; exit 2; }
  NSB_STATUS[$id]=installed
done
NSB_VERSION[wgkit-proxy]="wgkit ($(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null))"
nsb_setup_namespaces && nsb_start_far || { warn "the namespaces or the far peer could not be set up"; exit 1; }
for id in $CONTENDERS; do nsb_start "$id"; done
if ((WARM > 0)); then
  NSB_SECONDS=$WARM
  for dir in up down; do
    for id in $CONTENDERS; do nsb_usable "$id" && nsb_stream "$id" forward "$dir" 1; done
  done
fi
for id in $CONTENDERS; do nsb_usable "$id" && nsb_idle "$id"; done
for run in $(seq "$RUNS"); do
  for id in $CONTENDERS; do nsb_usable "$id" && nsb_http "$id" "$run"; done
done
for id in $CONTENDERS; do
  nsb_usable "$id" && printf '  %-14s peak VmHWM %s KiB, VmRSS %s KiB, threads %s\n' "$id" \
    "$(awk '/^VmHWM/{print $2}' "/proc/${NSB_PID[$id]}/status")" "$(nsb_rss_kb "${NSB_PID[$id]}")" \
    "$(awk '/^Threads/{print $2}' "/proc/${NSB_PID[$id]}/status")" >&2
  nsb_usable "$id" && stop_pid "${NSB_PID[$id]}"
done
