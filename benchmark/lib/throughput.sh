# iperf3 through one contender: Gbit/s at the receiver and the tunnel processes' CPU time.

# measure_iperf ID STREAMS REVERSE(0|1) RUN
measure_iperf() {
  local id=$1 streams=$2 rev=$3 run=$4 out t0 t1 flags=()
  out="$RUN_DIR/iperf-$id-P$streams-R$rev-$run.json"
  ((rev)) && flags+=(-R)
  local rc attempt
  # The server may still be finishing the previous test (the under-load ping's stream): it
  # then refuses with "busy"; wait and try again.
  for attempt in 1 2 3; do
    t0=$(cpu_ticks ${T_PIDS[$id]})
    in_a timeout $((BENCH_SECONDS + 20)) iperf3 -c "${T_TARGET[$id]}" -p "$IPERF_PORT" -t "$BENCH_SECONDS" \
      -P "$streams" "${flags[@]}" -J --connect-timeout 3000 >"$out" 2>>"$RUN_DIR/iperf3-client.log"
    rc=$?
    t1=$(cpu_ticks ${T_PIDS[$id]})
    grep -q 'server is busy' "$out" 2>/dev/null || break
    ((attempt < 3)) && sleep 2
  done
  local bps bytes retr err
  bps=$(jq -r '.end.sum_received.bits_per_second // empty' "$out" 2>/dev/null)
  bytes=$(jq -r '.end.sum_received.bytes // empty' "$out" 2>/dev/null)
  retr=$(jq -r '.end.sum_sent.retransmits // 0' "$out" 2>/dev/null)
  if [[ $rc -ne 0 || -z $bps ]]; then
    err=$(jq -r '.error // empty' "$out" 2>/dev/null)
    warn "$id: iperf3 -P $streams ${flags[*]} run $run failed (rc $rc${err:+, $err})"
    emit kind=iperf contender="$id" streams:="$streams" reverse:=$([[ $rev == 1 ]] && echo true || echo false) \
      run:="$run" ok:=false error="rc $rc ${err}"
    return 1
  fi
  emit kind=iperf contender="$id" streams:="$streams" reverse:=$([[ $rev == 1 ]] && echo true || echo false) \
    run:="$run" ok:=true seconds:="$BENCH_SECONDS" bits_per_second:="$bps" bytes:="$bytes" retransmits:="$retr" \
    cpu_ticks:=$([[ -n $t0 && -n $t1 ]] && ((t1 >= t0)) && echo $((t1 - t0)) || echo null) clk_tck:="$(getconf CLK_TCK)" tunnel_processes:=$(wc -w <<<"${T_PIDS[$id]}")
  printf '  %-12s P%-2s %-3s run %d: %6.2f Gbit/s\n' "$id" "$streams" "$([[ $rev == 1 ]] && echo rev || echo fwd)" \
    "$run" "$(jq -n "$bps / 1e9")" >&2
}
