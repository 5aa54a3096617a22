# Control plane: 10,000 peers x 2 allowed IPs applied over UAPI and read back, per contender.

now_ms() { echo $(($(date +%s%N) / 1000000)); }

prepare_peer_configs() {
  PEERS_CONF="$RUN_DIR/peers-$BENCH_PEERS.conf" EMPTY_CONF="$RUN_DIR/peers-0.conf"
  node "$BENCH_DIR/lib/gen-peers.mjs" "$BENCH_PEERS" "$PEERS_CONF" "$EMPTY_CONF"
}

# measure_controlplane ID: a fresh single device in NS_A, wg setconf / wg show dump, then WireGuardClient.
measure_controlplane() {
  local id=$1 ifname="wk${RUN_ID}${C_INDEX[$1]}c" pid t0 set_ms get_ms lines out
  start_device "$id" "$NS_A" "$ifname" "$RUN_DIR/$id-cp.log" || { emit kind=control contender="$id" method=wg ok:=false error="device did not start"; return 1; }
  pid=$START_PID
  t0=$(now_ms)
  if ! timeout 600 wg setconf "$ifname" "$PEERS_CONF" 2>"$RUN_DIR/$id-cp-wg.err"; then
    emit kind=control contender="$id" method=wg ok:=false error="$(tail -1 "$RUN_DIR/$id-cp-wg.err")"
  else
    set_ms=$(($(now_ms) - t0)); t0=$(now_ms)
    lines=$(timeout 600 wg show "$ifname" dump | wc -l); get_ms=$(($(now_ms) - t0))
    emit kind=control contender="$id" method=wg ok:=true peers:="$BENCH_PEERS" set_ms:="$set_ms" get_ms:="$get_ms" \
      peers_read:=$((lines - 1))
    printf '  %-12s wg setconf %d peers: %d ms, wg show dump: %d ms (%d peers)\n' "$id" "$BENCH_PEERS" "$set_ms" "$get_ms" $((lines - 1)) >&2
  fi
  # Back to no peers, then the same config through the project's client.
  timeout 600 wg setconf "$ifname" "$EMPTY_CONF" 2>/dev/null
  if [[ -f $REPO_DIR/dist/index.js ]] && out=$(timeout 600 node "$BENCH_DIR/lib/client-conf.mjs" "$REPO_DIR" "$ifname" "$PEERS_CONF" 2>"$RUN_DIR/$id-cp-js.err"); then
    emit kind=control contender="$id" method=client ok:=true peers:="$BENCH_PEERS" set_ms:="$(jq .set_ms <<<"$out")" parse_ms:="$(jq .parse_ms <<<"$out")" \
      get_ms:="$(jq .get_ms <<<"$out")" peers_read:="$(jq .peers <<<"$out")" allowed_ips_read:="$(jq .allowed_ips <<<"$out")"
    printf '  %-12s WireGuardClient setConf: %.0f ms, device(): %.0f ms\n' "$id" "$(jq .set_ms <<<"$out")" "$(jq .get_ms <<<"$out")" >&2
  else
    emit kind=control contender="$id" method=client ok:=false error="$(tail -1 "$RUN_DIR/$id-cp-js.err" 2>/dev/null || echo 'dist/index.js missing')"
  fi
  stop_pid "$pid"
}

# measure_controlplane_kernel: the same config on kernel WireGuard inside the qemu guest
# (scripts/kernel-vm: Debian's kernel under TCG, so absolute times are several times a real
# kernel's; compare the two rows with each other): `wg setconf` / `wg show dump`, then
# WireGuardClient over generic netlink. One boot.
measure_controlplane_kernel() {
  local dir="$CACHE_DIR/kernel-cp" out line method
  mkdir -p "$dir" && cp "$PEERS_CONF" "$dir/peers.conf" || { emit kind=control contender=kernel-guest method=wg ok:=false error="no config"; return 1; }
  if ! out=$(cd "$REPO_DIR" && timeout 900 bash scripts/kernel-vm/run.sh --timeout 870 -- \
    node benchmark/lib/kernel-conf.mjs "$REPO_DIR" "$dir/peers.conf" 2>"$RUN_DIR/kernel-cp.err"); then
    emit kind=control contender=kernel-guest method=wg ok:=false error="guest: $(tail -1 "$RUN_DIR/kernel-cp.err")"
    rm -rf "$dir"
    return 1
  fi
  rm -rf "$dir"
  while IFS= read -r line; do
    [[ $line == '{'* ]] || continue
    method=$(jq -r .method <<<"$line")
    emit kind=control contender=kernel-guest method="$method" ok:=true peers:="$BENCH_PEERS" \
      set_ms:="$(jq .set_ms <<<"$line")" parse_ms:="$(jq '.parse_ms // null' <<<"$line")" get_ms:="$(jq .get_ms <<<"$line")" peers_read:="$(jq .peers <<<"$line")"
    printf '  %-12s %s: apply %.0f ms, read %.0f ms (%d peers)\n' kernel-guest "$method" "$(jq .set_ms <<<"$line")" \
      "$(jq .get_ms <<<"$line")" "$(jq .peers <<<"$line")" >&2
  done <<<"$out"
}
