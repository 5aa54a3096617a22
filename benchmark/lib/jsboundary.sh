# J1: N-API calls per data packet. A wgkit pair runs under benchmark/lib/napi-count.mjs, which counts
# every JS -> addon call and addon -> JS callback; one iperf3 transfer goes through it; the counts
# are divided by the packets the TUN interfaces moved.

measure_js_boundary() {
  local id=wgkit-napi base=wgkit
  usable "$base" || { emit kind=js_boundary ok:=false error="wgkit not available"; return 1; }
  C_IDS+=("$id") C_LABEL[$id]="wgkit (N-API call counter)" C_INDEX[$id]=9 C_STATUS[$id]=ok
  C_CMD[$id]="env WGKIT_NAPI_COUNT_OUT=$RUN_DIR/napi-IFNAME.json node --import $BENCH_DIR/lib/napi-count.mjs $REPO_DIR/bin/wgkit-userspace.js -f IFNAME"
  start_pair "$id" || { emit kind=js_boundary ok:=false error="${C_REASON[$id]}"; unset_hidden "$id"; return 1; }
  local ifa ifb pkts0 pkts1 bytes
  read -r ifa ifb <<<"${T_IF[$id]}"
  pkts0=$(tun_packets "$ifa" "$ifb")
  in_a iperf3 -c "${T_TARGET[$id]}" -p "$IPERF_PORT" -t "$BENCH_SECONDS" -J >"$RUN_DIR/iperf-napi.json" 2>/dev/null
  pkts1=$(tun_packets "$ifa" "$ifb")
  bytes=$(jq -r '.end.sum_received.bytes // 0' "$RUN_DIR/iperf-napi.json")
  stop_pair "$id"
  local fa="$RUN_DIR/napi-$ifa.json" fb="$RUN_DIR/napi-$ifb.json"
  if [[ ! -s $fa || ! -s $fb ]]; then
    emit kind=js_boundary ok:=false error="the counting preload wrote no counts"; unset_hidden "$id"; return 1
  fi
  emit kind=js_boundary ok:=true packets:=$((pkts1 - pkts0)) bytes:="$bytes" seconds:="$BENCH_SECONDS" \
    side_a:="$(cat "$fa")" side_b:="$(cat "$fb")"
  printf '  js boundary: %d TUN packets; N-API calls: A %s, B %s (whole process lifetime); callbacks: A %s, B %s\n' \
    $((pkts1 - pkts0)) "$(jq .calls_total "$fa")" "$(jq .calls_total "$fb")" \
    "$(jq .callbacks.invocations "$fa")" "$(jq .callbacks.invocations "$fb")" >&2
  unset_hidden "$id"
}

# Packets through both TUN interfaces (rx + tx), read inside the namespaces.
tun_packets() {
  local a b
  a=$(in_a cat "/sys/class/net/$1/statistics/rx_packets" "/sys/class/net/$1/statistics/tx_packets" | awk '{s += $1} END {print s + 0}')
  b=$(in_b cat "/sys/class/net/$2/statistics/rx_packets" "/sys/class/net/$2/statistics/tx_packets" | awk '{s += $1} END {print s + 0}')
  echo $((a + b))
}

unset_hidden() { unset 'C_IDS[-1]'; }

# J2: event delivery into JavaScript. benchmark/lib/event-rate.mjs runs a WireGuardDevice in
# namespace A and floods it with authenticated keepalives from alternating source ports
# (wgkit-roam-flood, built with the handshake benchmark), one `endpointChanged` event per packet;
# it counts the events that reach the JS listener and those dropped at the full queue.
measure_event_rate() {
  local flood out
  flood="$(dirname "$HANDSHAKE_BIN")/wgkit-roam-flood"
  [[ -x $flood ]] || { emit kind=event_rate ok:=false error="wgkit-roam-flood not built"; return 1; }
  out=$(in_a node "$BENCH_DIR/lib/event-rate.mjs" "$REPO_DIR" "$flood" "$BENCH_HS_SECONDS" 2>"$RUN_DIR/event-rate.err") ||
    { warn "event delivery benchmark failed: $(tail -1 "$RUN_DIR/event-rate.err") $out"; emit kind=event_rate ok:=false; return 1; }
  jq -c '{kind: "event_rate"} + .' <<<"$out" >>"$RAW"
  jq -r '"  events: \(.events_delivered) delivered to JS (\(.delivered_per_second|floor)/s), \(.events_dropped) dropped, from \(.packets_per_second|floor) roaming packets/s"' <<<"$out" >&2
}
