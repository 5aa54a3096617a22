# Scale: N peers (each an endpoint, a persistent keepalive and two allowed IPs, every third a
# preshared key; the interface has a private key) on one fresh device per contender and size:
# `wg setconf` (apply), `wg show dump` (read back), `wg syncconf` of the same file, then
# wgkit's WireGuardClient.setConf on an emptied device; resident memory per peer from
# /proc/PID/status (VmRSS after the apply and 2 s of settling, minus VmRSS before), and the
# device's CPU time for the apply from /proc/PID/stat (the machine may be shared: CPU time
# is the steadier figure).

# proc_rss_kb PID / proc_cpu_ms PID (utime+stime of all threads).
proc_rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
proc_cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{print int(($14+$15)*1000/hz)}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# Each step may take BENCH_SCALE_TIMEOUT seconds (default 300); a contender past it is reported
# as failed with the time it ran.
: "${BENCH_SCALE_TIMEOUT:=300}"

# measure_scale ID N
measure_scale() {
  local id=$1 n=$2 ifname="wk${RUN_ID}${C_INDEX[$1]}s" conf="$RUN_DIR/scale-$2.conf" pid t0 set_ms get_ms sync_ms
  local rss0 rss1 cpu0 cpu1 lines out err="$RUN_DIR/$id-scale-$n.err"
  [[ -f $conf ]] || node "$BENCH_DIR/lib/gen-scale-peers.mjs" "$n" "$conf" "$RUN_DIR/scale-empty.conf" || return 1
  start_device "$id" "$NS_A" "$ifname" "$RUN_DIR/$id-scale-$n.log" || { emit kind=scale contender="$id" peers:="$n" ok:=false error="device did not start"; return 1; }
  pid=$START_PID
  sleep 0.5
  rss0=$(proc_rss_kb "$pid") cpu0=$(proc_cpu_ms "$pid") t0=$(now_ms)
  timeout "$BENCH_SCALE_TIMEOUT" ip netns exec "$NS_A" wg setconf "$ifname" "$conf" 2>"$err"
  local rc=$?
  if ((rc)); then
    set_ms=$(($(now_ms) - t0))
    ((rc == 124)) && echo "stopped after $BENCH_SCALE_TIMEOUT s" >>"$err"
    emit kind=scale contender="$id" peers:="$n" ok:=false set_ms:="$set_ms" rss_at_failure_kb:="$(proc_rss_kb "$pid")" \
      error="wg setconf: $(tail -1 "$err"); device log: $(tail -1 "$RUN_DIR/$id-scale-$n.log" 2>/dev/null)"
    printf '  %-12s %d peers: wg setconf failed after %d ms: %s\n' "$id" "$n" "$set_ms" "$(tail -1 "$err")" >&2
    stop_pid "$pid"
    return 1
  fi
  set_ms=$(($(now_ms) - t0)) cpu1=$(proc_cpu_ms "$pid")
  sleep 2
  rss1=$(proc_rss_kb "$pid")
  t0=$(now_ms); lines=$(timeout "$BENCH_SCALE_TIMEOUT" ip netns exec "$NS_A" wg show "$ifname" dump | wc -l); get_ms=$(($(now_ms) - t0))
  t0=$(now_ms)
  if timeout "$BENCH_SCALE_TIMEOUT" ip netns exec "$NS_A" wg syncconf "$ifname" "$conf" 2>>"$err"; then sync_ms=$(($(now_ms) - t0)); else sync_ms=null; fi
  local client_ms=null client_get_ms=null client_peers=null
  if timeout "$BENCH_SCALE_TIMEOUT" ip netns exec "$NS_A" wg setconf "$ifname" "$RUN_DIR/scale-empty.conf" 2>>"$err" \
     && out=$(timeout "$BENCH_SCALE_TIMEOUT" ip netns exec "$NS_A" node "$BENCH_DIR/lib/client-conf.mjs" "$REPO_DIR" "$ifname" "$conf" 2>>"$err"); then
    client_ms=$(jq ".set_ms|round" <<<"$out") client_get_ms=$(jq ".get_ms|round" <<<"$out") client_peers=$(jq .peers <<<"$out")
  fi
  emit kind=scale contender="$id" peers:="$n" ok:=true set_ms:="$set_ms" set_cpu_ms:=$((cpu1 - cpu0)) get_ms:="$get_ms" \
    peers_read:=$((lines - 1)) syncconf_ms:="$sync_ms" rss_before_kb:="$rss0" rss_after_kb:="$rss1" \
    rss_per_peer_bytes:=$(((rss1 - rss0) * 1024 / n)) client_set_ms:="$client_ms" client_get_ms:="$client_get_ms" client_peers:="$client_peers"
  printf '  %-12s %d peers: setconf %d ms (CPU %d ms), dump %d ms (%d peers), syncconf %s ms, client %s ms, %d B RSS/peer\n' \
    "$id" "$n" "$set_ms" $((cpu1 - cpu0)) "$get_ms" $((lines - 1)) "$sync_ms" "$client_ms" $(((rss1 - rss0) * 1024 / n)) >&2
  stop_pid "$pid"
}

# measure_scale_all: every size, each contender in turn (wgkit and wireguard-go by default).
measure_scale_all() {
  local n id
  for n in $BENCH_SCALE; do
    for id in "${C_IDS[@]}"; do
      case $id in wgkit|wggo-latest) usable "$id" && measure_scale "$id" "$n" ;; esac
    done
    rm -f "$RUN_DIR/scale-$n.conf"
  done
}
