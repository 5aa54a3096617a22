# Soak (bash benchmark/run.sh soak; sourced by run.sh): WGKIT_SOAK_SECONDS (default 1800) of
# traffic both ways through a wgkit userspace device while its peers churn, the far side roams
# and the sessions rekey. Writes benchmark/results/soak.{jsonl,svg,md} (or soak-NAME.* with
# WGKIT_SOAK_RESULTS=NAME) and returns non-zero when a pass criterion fails.
#
#   soak-<id>a: wgkit-userspace (the embedded device on TUN), 192.0.2.1, tunnel 10.77.0.1
#   soak-<id>b: Debian wireguard-go (the real far peer), 192.0.2.2 (moves to .3, .4 and back),
#               listen port 51830 (rebinds to 51831, 51832 and back), tunnel 10.77.0.2
# Traffic (lib/soak-traffic.mjs): TCP transfers of random 8-64 MiB blobs, one loop each way, each
# loop held to WGKIT_SOAK_MBITS Mbit/s (default 40), SHA-256 checked by the receiver.
# Control (lib/soak-driver.mjs): peer churn over UAPI every second, a roam every
# WGKIT_SOAK_ROAM_SECONDS (default 20), a sample every 5 s. Report: lib/soak-report.mjs.

SOAK_NET=10.77.0
SOAK_FAR_ADDRS=(192.0.2.2 192.0.2.3 192.0.2.4)
SOAK_FAR_PORTS=(51830 51831 51832)
SOAK_NEAR_PORT=51820
SOAK_TCP_PORT=5301

# soak_start_device NS IFNAME LOG CMD...: sets START_PID once the UAPI socket is there.
soak_start_device() {
  local ns=$1 ifname=$2 logf=$3 pid
  shift 3
  START_PID=""
  ip netns exec "$ns" "$@" >"$logf" 2>&1 &
  pid=$!
  track_pid "$pid"
  if ! wait_for "[[ -S /var/run/wireguard/$ifname.sock ]] || ! kill -0 $pid 2>/dev/null" 30 || ! kill -0 "$pid" 2>/dev/null; then
    warn "soak: $ifname did not start: $(tail -3 "$logf" | tr '\n' ' ')"
    return 1
  fi
  START_PID=$pid
}

run_soak() {
  local seconds=${WGKIT_SOAK_SECONDS:-1800} mbits=${WGKIT_SOAK_MBITS:-40} roam=${WGKIT_SOAK_ROAM_SECONDS:-20}
  local name=soak${WGKIT_SOAK_RESULTS:+-$WGKIT_SOAK_RESULTS}
  local ns_a="soak-${RUN_ID}a" ns_b="soak-${RUN_ID}b" va="soak${RUN_ID}va" vb="soak${RUN_ID}vb"
  local wk="soak${RUN_ID}w" wg="soak${RUN_ID}g" wk_pid wg_pid srv_pid cli_pid drv_pid
  [[ $seconds =~ ^[0-9]+$ ]] && ((seconds >= 60)) || { warn "WGKIT_SOAK_SECONDS must be a whole number of seconds >= 60"; return 2; }
  install_tools || return 1
  install_wgkit >/dev/null || { warn "soak: building wgkit failed"; return 1; }
  install_wggo-debian >/dev/null || { warn "soak: wireguard-go is not installed"; return 1; }

  ip netns add "$ns_a" && track_netns "$ns_a" || return 1
  ip netns add "$ns_b" && track_netns "$ns_b" || return 1
  ip link add "$va" netns "$ns_a" type veth peer name "$vb" netns "$ns_b" || return 1
  ip netns exec "$ns_b" sysctl -qw "net.ipv4.conf.all.promote_secondaries=1" "net.ipv4.conf.$vb.promote_secondaries=1"
  ip -n "$ns_a" addr add 192.0.2.1/24 dev "$va"
  ip -n "$ns_b" addr add "${SOAK_FAR_ADDRS[0]}/24" dev "$vb"
  ip -n "$ns_a" link set lo up; ip -n "$ns_b" link set lo up
  ip -n "$ns_a" link set "$va" up; ip -n "$ns_b" link set "$vb" up

  (umask 077 && wg genkey >"$RUN_DIR/soak-a.key" && wg genkey >"$RUN_DIR/soak-b.key") || return 1
  soak_start_device "$ns_a" "$wk" "$RUN_DIR/soak-wgkit.log" node "$REPO_DIR/bin/wgkit-userspace.js" -f "$wk" || return 1
  wk_pid=$START_PID
  soak_start_device "$ns_b" "$wg" "$RUN_DIR/soak-wggo.log" /usr/bin/wireguard-go -f "$wg" || return 1
  wg_pid=$START_PID
  local pub_a pub_b
  pub_a=$(wg pubkey <"$RUN_DIR/soak-a.key") pub_b=$(wg pubkey <"$RUN_DIR/soak-b.key")
  ip netns exec "$ns_a" wg set "$wk" listen-port "$SOAK_NEAR_PORT" private-key "$RUN_DIR/soak-a.key" \
    peer "$pub_b" allowed-ips "$SOAK_NET.2/32" endpoint "${SOAK_FAR_ADDRS[0]}:${SOAK_FAR_PORTS[0]}" || return 1
  ip netns exec "$ns_b" wg set "$wg" listen-port "${SOAK_FAR_PORTS[0]}" private-key "$RUN_DIR/soak-b.key" \
    peer "$pub_a" allowed-ips "$SOAK_NET.1/32" endpoint "192.0.2.1:$SOAK_NEAR_PORT" || return 1
  ip -n "$ns_a" addr add "$SOAK_NET.1/24" dev "$wk" && ip -n "$ns_b" addr add "$SOAK_NET.2/24" dev "$wg" || return 1
  ip -n "$ns_a" link set "$wk" mtu 1420 up && ip -n "$ns_b" link set "$wg" mtu 1420 up || return 1
  wait_for "ip netns exec $ns_a ping -c1 -W1 $SOAK_NET.2 >/dev/null 2>&1" 15 || { warn "soak: no ping through the tunnel"; return 1; }
  log "soak: $ns_a (wgkit $wk, pid $wk_pid) <-> $ns_b (wireguard-go $wg, pid $wg_pid): ${seconds} s, ${mbits} Mbit/s each way, a roam every ${roam} s"

  ip netns exec "$ns_b" node "$BENCH_DIR/lib/soak-traffic.mjs" server "$SOAK_TCP_PORT" >"$RUN_DIR/soak-server.log" 2>&1 &
  srv_pid=$!; track_pid "$srv_pid"
  wait_for "grep -q listening $RUN_DIR/soak-server.log" 10 || { warn "soak: traffic server did not start: $(cat "$RUN_DIR/soak-server.log")"; return 1; }

  local raw="$RUN_DIR/soak-driver.jsonl" transfers="$RUN_DIR/soak-transfers.jsonl" cfg="$RUN_DIR/soak-driver.json"
  : >"$raw"; : >"$transfers"
  jq -n --argjson seconds "$seconds" --arg out "$raw" --arg wgkitSock "/var/run/wireguard/$wk.sock" --argjson wgkitPid "$wk_pid" \
    --arg farSock "/var/run/wireguard/$wg.sock" --argjson farPid "$wg_pid" --arg farNs "$ns_b" --arg farDev "$vb" \
    --arg trafficPeer "$(base64 -d <<<"$pub_b" | od -An -tx1 -v | tr -d ' \n')" --arg trafficAllowed "$SOAK_NET.2/32" \
     --arg nearPeer "$(base64 -d <<<"$pub_a" | od -An -tx1 -v | tr -d ' \n')" --arg nearEndpoint "192.0.2.1:$SOAK_NEAR_PORT" --argjson roamSeconds "$roam" --argjson farAddresses "$(printf '%s\n' "${SOAK_FAR_ADDRS[@]}" | jq -R . | jq -s .)" \
    --argjson farPorts "$(printf '%s\n' "${SOAK_FAR_PORTS[@]}" | jq -s .)" '$ARGS.named' >"$cfg"
  local started
  started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  node "$BENCH_DIR/lib/soak-driver.mjs" "$cfg" >"$RUN_DIR/soak-driver.log" 2>&1 &
  drv_pid=$!; track_pid "$drv_pid"
  ip netns exec "$ns_a" node "$BENCH_DIR/lib/soak-traffic.mjs" client "$SOAK_NET.2" "$SOAK_TCP_PORT" "$seconds" "$mbits" "$transfers" >"$RUN_DIR/soak-client.log" 2>&1 &
  cli_pid=$!; track_pid "$cli_pid"

  # Progress on the console every minute, from the driver's last sample.
  local next=60 rc_drv rc_cli
  while kill -0 "$drv_pid" 2>/dev/null || kill -0 "$cli_pid" 2>/dev/null; do
    sleep 5
    if ((SECONDS >= next)); then
      next=$((SECONDS + 60))
      jq -rs --argjson n "$(grep -c '"ok":true' "$transfers")" --argjson f "$(grep -c '"ok":false' "$transfers")" \
        --argjson m "$(grep -c '"match":false' "$transfers")" \
        'map(select(.kind == "sample")) | last // {} |
         "  t=\(.t // 0) s: rss \((.rss_kb // 0) / 1024 | floor) MiB, fds \(.fds), peers \(.peers), handshakes \(.handshakes), roams \(.roams_seen)/\(.roams), rx \(.rx_mbits) tx \(.tx_mbits) Mbit/s; transfers \($n) ok, \($f) failed, \($m) mismatched"' \
        "$raw" >&2
    fi
  done
  wait "$drv_pid"; rc_drv=$?
  wait "$cli_pid"; rc_cli=$?
  ((rc_drv)) && warn "soak: driver exited with $rc_drv: $(tail -3 "$RUN_DIR/soak-driver.log")"
  ((rc_cli)) && warn "soak: traffic client exited with $rc_cli: $(tail -3 "$RUN_DIR/soak-client.log")"
  local alive_wk=true alive_wg=true
  kill -0 "$wk_pid" 2>/dev/null || alive_wk=false
  kill -0 "$wg_pid" 2>/dev/null || alive_wg=false

  mkdir -p "$RESULTS_DIR"
  {
    jq -cn --argjson seconds "$seconds" --argjson mbits "$mbits" --argjson roam "$roam" --arg started "$started" \
      --arg finished "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg loadavg "$(cut -d' ' -f1-3 /proc/loadavg)" \
      --arg wgkit "$(node "$REPO_DIR/bin/wgkit-userspace.js" --version | head -1)" --arg wggo "$(/usr/bin/wireguard-go --version | head -1)" \
      --arg commit "$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null)" --argjson wgkit_alive "$alive_wk" --argjson far_alive "$alive_wg" \
      --argjson driver_rc "$rc_drv" --argjson client_rc "$rc_cli" \
      '{kind: "settings", seconds: $seconds, mbits_each_way: $mbits, roam_seconds: $roam, started: $started, finished: $finished,
        loadavg_end: $loadavg, wgkit: $wgkit, far: $wggo, commit: $commit, wgkit_alive_at_end: $wgkit_alive,
        far_alive_at_end: $far_alive, driver_rc: $driver_rc, client_rc: $client_rc}'
    cat "$raw" "$transfers"
  } >"$RESULTS_DIR/$name.jsonl"
  grep -v '^listening' "$RUN_DIR/soak-server.log" | head -50 | jq -Rc '{kind: "server_log", line: .}' >>"$RESULTS_DIR/$name.jsonl"
  tail -50 "$RUN_DIR/soak-wgkit.log" | jq -Rc '{kind: "wgkit_log", line: .}' >>"$RESULTS_DIR/$name.jsonl"
  node "$BENCH_DIR/lib/soak-report.mjs" "$RESULTS_DIR/$name.jsonl" "$RESULTS_DIR" "$name"
}
