# Shared state, logging and the cleanup registry for the benchmark (sourced by run.sh).

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
CACHE_DIR="$REPO_DIR/.cache/bench"
RESULTS_DIR="$BENCH_DIR/results"
# Per-run scratch space (iperf3 JSON, logs, keys); removed at exit unless BENCH_KEEP=1.
RUN_DIR=""
RAW=""            # JSON lines, one per measurement; the report is built from this file
RUN_ID=""         # short unique id used in namespace and interface names

log() { printf '\033[1m[bench]\033[0m %s\n' "$*" >&2; }
warn() { printf '\033[33m[bench] %s\033[0m\n' "$*" >&2; }

# emit KEY=VALUE... KEY:=JSON... : append one JSON object to $RAW ("=" strings, ":=" raw JSON).
emit() {
  local args=() kv
  for kv in "$@"; do
    if [[ $kv =~ ^([A-Za-z0-9_]+):=(.*)$ ]]; then
      args+=(--argjson "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]:-null}")
    else
      args+=(--arg "${kv%%=*}" "${kv#*=}")
    fi
  done
  jq -cn "${args[@]}" '$ARGS.named' >>"$RAW"
}

# ---- cleanup registry: every resource is registered right after it is created ----
CLEANUP_PIDS=()
CLEANUP_NETNS=()

track_pid() { CLEANUP_PIDS+=("$1"); }
track_netns() { CLEANUP_NETNS+=("$1"); }

# stop_pid PID: TERM, wait up to 3 s, then KILL. Only ever called with PIDs this run started.
stop_pid() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 30); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$? pid ns
  trap - EXIT INT TERM
  for pid in "${CLEANUP_PIDS[@]}"; do stop_pid "$pid"; done
  for ns in "${CLEANUP_NETNS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  if [[ -n $RUN_DIR && -d $RUN_DIR && ${BENCH_KEEP:-0} != 1 ]]; then rm -rf "$RUN_DIR"; fi
  exit "$rc"
}

install_traps() {
  trap cleanup EXIT
  trap 'warn "interrupted"; exit 130' INT
  trap 'warn "terminated"; exit 143' TERM
}

init_run_dir() {
  RUN_ID=$(printf '%04x' $((RANDOM % 65536)))
  RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/wgkit-bench.XXXXXX")
  RAW="$RUN_DIR/raw.jsonl"
  : >"$RAW"
}

# wait_for CONDITION-COMMAND TIMEOUT-SECONDS
wait_for() {
  local deadline=$((SECONDS + $2))
  until eval "$1"; do
    ((SECONDS >= deadline)) && return 1
    sleep 0.05
  done
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "null"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
