# ping RTT through one contender, idle and while one iperf3 stream saturates the path.

# ping_rtts TARGET COUNT -> one RTT (ms) per line
ping_rtts() {
  in_a ping -n -c "$2" -i 0.01 -W 1 "$1" 2>/dev/null | sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p'
}

# measure_latency ID RUN
measure_latency() {
  local id=$1 run=$2 target=${T_TARGET[$1]} rtts load_pid
  rtts=$(ping_rtts "$target" "$BENCH_PINGS")
  emit_latency "$id" "$run" idle "$rtts"
  # Under load: one TCP stream from A to B for the whole ping series.
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
