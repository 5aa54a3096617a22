# ping RTT through each contender, idle and while one iperf3 stream saturates the path.

# Idle pings go in blocks of this many, taking the contenders in turn: on a shared VM the cost
# of waking a halted CPU drifts over seconds, and the "+ over raw veth" figures are only fair
# when every contender (and the raw veth) sees the same stretch of time.
PING_BLOCK=20

# ping_rtts TARGET COUNT -> one RTT (ms) per line
ping_rtts() {
  in_a ping -n -c "$2" -i 0.01 -W 1 "$1" 2>/dev/null | sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p'
}

# measure_idle_latency RUN ID...: BENCH_PINGS idle pings per contender, interleaved in blocks.
# STATE (default idle) names the series in the results.
measure_idle_latency() {
  local run=$1 state=${STATE:-idle} id sent left n
  shift
  declare -A rtts=()
  for id in "$@"; do rtts[$id]=; done
  for ((sent = 0; sent < BENCH_PINGS; sent += PING_BLOCK)); do
    left=$((BENCH_PINGS - sent))
    n=$((left < PING_BLOCK ? left : PING_BLOCK))
    for id in "$@"; do
      rtts[$id]+="$(ping_rtts "${T_TARGET[$id]}" "$n")"$'\n'
    done
  done
  for id in "$@"; do emit_latency "$id" "$run" "$state" "${rtts[$id]}"; done
}

# measure_awake_latency RUN ID...: the idle series again while a PM QoS CPU latency request of 0
# is held (the file /dev/cpu_dma_latency kept open after writing 0), so that idle CPUs poll
# instead of halting. This is the machine state wgkit's low-latency mode (cpuLatencyUs: 0)
# requests while its tunnel carries packets; here the harness holds it, for every contender and
# the raw veth alike.
measure_awake_latency() {
  local holder
  node -e '
    const fs = require("node:fs");
    const fd = fs.openSync("/dev/cpu_dma_latency", "w");
    const zero = Buffer.alloc(4);
    fs.writeSync(fd, zero);
    process.stdout.write("held\n");
    setInterval(() => {}, 1 << 30);
  ' >"$RUN_DIR/awake.out" 2>&1 &
  holder=$!
  track_pid "$holder"
  for _ in $(seq 50); do grep -q held "$RUN_DIR/awake.out" 2>/dev/null && break; sleep 0.1; done
  if ! grep -q held "$RUN_DIR/awake.out"; then
    log "could not hold a CPU latency request: $(cat "$RUN_DIR/awake.out")"
    stop_pid "$holder"
    return 0
  fi
  STATE=awake measure_idle_latency "$@"
  stop_pid "$holder"
}

# measure_load_latency ID RUN: pings while one TCP stream runs from A to B.
measure_load_latency() {
  local id=$1 run=$2 target=${T_TARGET[$1]} rtts load_pid
  in_a iperf3 -c "$target" -p "$IPERF_PORT" -t $((BENCH_PINGS / 100 + 4)) --connect-timeout 3000 >/dev/null 2>&1 &
  load_pid=$!
  track_pid "$load_pid"
  sleep 1
  rtts=$(ping_rtts "$target" "$BENCH_PINGS")
  wait "$load_pid" 2>/dev/null || true
  emit_latency "$id" "$run" load "$rtts"
}

emit_latency() {
  local id=$1 run=$2 state=$3 rtts=$4 json
  json=$(printf '%s\n' "$rtts" | jq -Rsc 'split("\n") | map(select(length > 0) | tonumber)')
  emit kind=ping contender="$id" run:="$run" state="$state" sent:="$BENCH_PINGS" rtts_ms:="$json"
  printf '  %-12s ping %-4s run %d: %s replies, median %s ms\n' "$id" "$state" "$run" \
    "$(jq length <<<"$json")" "$(jq -r 'sort | if length == 0 then "-" else .[(length / 2 | floor)] end' <<<"$json")" >&2
}
