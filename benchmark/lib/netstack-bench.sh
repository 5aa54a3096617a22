# The netstack section: userspace-stack tunnels (no TUN on the near side) against one far
# WireGuard peer on a TUN device, all in the same run. Contenders, each its own peer of the far
# device: wgkit-proxy (Rust relay, -L/-U/--socks5), a JS forward on wgkit's TunnelSocket,
# wireguard-go's tun/netstack (gVisor; benchmark/netstack-go) and onetun (smoltcp + boringtun).
# Namespaces nsb-<id>-near (contenders, clients, a counting "host resolver" on 127.0.0.1:53)
# and nsb-<id>-far (the far device, stream/HTTP/UDP-echo/DNS servers on 10.77.0.1), joined by
# veth 192.0.2.0/24. Raw records go to $NSB_RAW; report/netstack.mjs renders results/netstack.*.

: "${NSB_FAR:=wgkit}"          # far peer: wgkit (wgkit-userspace) or wggo-debian (/usr/bin/wireguard-go)
NSB_IDS=(wgkit-proxy wgkit-js wggo-netstack onetun)
declare -A NSB_LABEL=(
  [wgkit-proxy]="wgkit-proxy (Rust relay)" [wgkit-js]="wgkit TunnelSocket (JS forward)"
  [wggo-netstack]="wireguard-go tun/netstack (gVisor)" [onetun]="onetun (smoltcp)"
)
declare -A NSB_STATUS NSB_REASON NSB_VERSION NSB_PID
NSB_NEAR="" NSB_FAR_NS="" NSB_ETC=""
NSB_TOOL="$CACHE_DIR/netstack-go/bin/nsbtool"
NSB_WGGO="$CACHE_DIR/netstack-go/bin/wggo-netstack"
NSB_ONETUN="$CACHE_DIR/onetun/bin/onetun"
NSB_FAR_IP=10.77.0.1

nsb_index() { local i; for i in "${!NSB_IDS[@]}"; do [[ ${NSB_IDS[$i]} == "$1" ]] && { echo "$i"; return; }; done; }
nsb_port() { echo $((21000 + 10 * $(nsb_index "$1") + $2)); } # +1 stream -L, +2 HTTP -L, +3 SOCKS5, +4 UDP -U
nsb_ip() { echo "10.77.0.$((11 + $(nsb_index "$1")))"; }
nsb_usable() { [[ ${NSB_STATUS[$1]:-} == ok ]]; }
nsb_fail() { NSB_STATUS[$1]=failed NSB_REASON[$1]=$2; warn "netstack $1: $2"; }
in_near() { ip netns exec "$NSB_NEAR" "$@"; }
in_far() { ip netns exec "$NSB_FAR_NS" "$@"; }
nsb_load() { cut -d" " -f1-3 /proc/loadavg; }
nsb_emit() { emit "$@" loadavg="$(nsb_load)"; }

# /etc/netns/NAME is not a namespace: removed here (run from the EXIT trap, before cleanup()).
nsb_cleanup() { [[ -n $NSB_ETC && -d $NSB_ETC ]] && rm -rf "$NSB_ETC"; NSB_ETC=""; }

nsb_setup_namespaces() {
  NSB_NEAR="nsb-${RUN_ID}-near" NSB_FAR_NS="nsb-${RUN_ID}-far"
  ip netns add "$NSB_NEAR" && track_netns "$NSB_NEAR" || return 1
  ip netns add "$NSB_FAR_NS" && track_netns "$NSB_FAR_NS" || return 1
  # The near side's host resolver is a counting DNS server on its loopback (ip netns exec
  # bind-mounts /etc/netns/NAME/resolv.conf over /etc/resolv.conf).
  NSB_ETC="/etc/netns/$NSB_NEAR"
  mkdir -p "$NSB_ETC" && echo "nameserver 127.0.0.1" >"$NSB_ETC/resolv.conf"
  ip link add "nsb${RUN_ID}n" netns "$NSB_NEAR" type veth peer name "nsb${RUN_ID}f" netns "$NSB_FAR_NS" || return 1
  in_near ip addr add 192.0.2.1/24 dev "nsb${RUN_ID}n" && in_far ip addr add 192.0.2.2/24 dev "nsb${RUN_ID}f" || return 1
  in_near ip link set lo up && in_far ip link set lo up
  in_near ip link set "nsb${RUN_ID}n" up && in_far ip link set "nsb${RUN_ID}f" up
  wait_for "in_near ping -c1 -W1 192.0.2.2 >/dev/null 2>&1" 5 || { warn "netstack: veth does not answer"; return 1; }
}

# The far peer: one TUN device in the far namespace with every contender as a peer.
nsb_start_far() {
  local ifname="nsb${RUN_ID}w" cmd id
  case $NSB_FAR in
    wgkit) cmd="node $REPO_DIR/bin/wgkit-userspace.js -f $ifname"; NSB_FAR_LABEL="$(node "$REPO_DIR/bin/wgkit-userspace.js" --version 2>&1 | head -1) on a TUN" ;;
    wggo-debian) cmd="/usr/bin/wireguard-go -f $ifname"; NSB_FAR_LABEL="Debian wireguard-go $(/usr/bin/wireguard-go --version 2>&1 | head -1) on a TUN" ;;
    *) warn "NSB_FAR=$NSB_FAR: expected wgkit or wggo-debian"; return 1 ;;
  esac
  # Started with ip netns exec itself (not a shell function) so that $! is the program's PID.
  # shellcheck disable=SC2086
  ip netns exec "$NSB_FAR_NS" $cmd >"$RUN_DIR/nsb-far.log" 2>&1 &
  NSB_FAR_PID=$!
  track_pid "$NSB_FAR_PID"
  wait_for "[[ -S /var/run/wireguard/$ifname.sock ]]" 30 || { warn "netstack: far device did not start: $(tail -2 "$RUN_DIR/nsb-far.log")"; return 1; }
  local mask; mask=$(umask); umask 077
  wg genkey >"$RUN_DIR/nsb-far.key"
  NSB_FAR_PUB=$(wg pubkey <"$RUN_DIR/nsb-far.key")
  local args=(set "$ifname" listen-port 51820 private-key "$RUN_DIR/nsb-far.key")
  for id in "${NSB_IDS[@]}"; do
    wg genkey >"$RUN_DIR/nsb-$id.key"
    args+=(peer "$(wg pubkey <"$RUN_DIR/nsb-$id.key")" allowed-ips "$(nsb_ip "$id")/32")
  done
  umask "$mask"
  in_far wg "${args[@]}" && in_far ip addr add "$NSB_FAR_IP/24" dev "$ifname" && in_far ip link set "$ifname" mtu 1420 up || return 1
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  ip netns exec "$NSB_FAR_NS" "$NSB_TOOL" serve -addr "$NSB_FAR_IP" -stream 5300 -http 8080 -udpecho 7 -dns 53 -dns-answer "$NSB_FAR_IP" >"$RUN_DIR/nsb-far-serve.log" 2>&1 &
  track_pid $!
  ip netns exec "$NSB_NEAR" "$NSB_TOOL" serve -addr 127.0.0.1 -dns 53 -dns-answer 192.0.2.2 >"$RUN_DIR/nsb-near-dns.log" 2>&1 &
  track_pid $!
  wait_for "grep -q ready $RUN_DIR/nsb-far-serve.log && grep -q ready $RUN_DIR/nsb-near-dns.log" 10 || { warn "netstack: servers did not start"; return 1; }
  log "netstack: far peer $NSB_FAR_LABEL ($NSB_FAR_IP, 192.0.2.2:51820); servers on $NSB_FAR_IP"
}

nsb_config() { # nsb_config ID: the contender's wg-quick file
  local id=$1 f="$RUN_DIR/nsb-$1.conf"
  printf '[Interface]\nPrivateKey = %s\nAddress = %s/32\nDNS = %s\nMTU = 1420\n\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.77.0.0/24\nEndpoint = 192.0.2.2:51820\n' \
    "$(cat "$RUN_DIR/nsb-$id.key")" "$(nsb_ip "$id")" "$NSB_FAR_IP" "$NSB_FAR_PUB" >"$f"
  echo "$f"
}

nsb_start() { # nsb_start ID
  local id=$1 conf p1 p2 p3 p4 fwd_s fwd_h cmd=()
  conf=$(nsb_config "$id")
  p1=$(nsb_port "$id" 1) p2=$(nsb_port "$id" 2) p3=$(nsb_port "$id" 3) p4=$(nsb_port "$id" 4)
  fwd_s="127.0.0.1:$p1:$NSB_FAR_IP:5300" fwd_h="127.0.0.1:$p2:$NSB_FAR_IP:8080"
  case $id in
    wgkit-proxy) cmd=(node "$REPO_DIR/bin/wgkit-proxy.js" "$conf" -L "$fwd_s" -L "$fwd_h" --socks5 "127.0.0.1:$p3" -U "127.0.0.1:$p4:$NSB_FAR_IP:7") ;;
    wgkit-js) cmd=(node "$BENCH_DIR/lib/netstack-js-forward.mjs" "$REPO_DIR" "$conf" "$fwd_s" "$fwd_h") ;;
    wggo-netstack) cmd=("$NSB_WGGO" -config "$conf" -L "$fwd_s" -L "$fwd_h" -socks5 "127.0.0.1:$p3" -U "127.0.0.1:$p4:$NSB_FAR_IP:7") ;;
    onetun) cmd=("$NSB_ONETUN" --private-key-file "$RUN_DIR/nsb-$id.key" --endpoint-public-key "$NSB_FAR_PUB" --endpoint-addr 192.0.2.2:51820
                 --source-peer-ip "$(nsb_ip "$id")" --max-transmission-unit 1420 --log warn "$fwd_s:TCP" "$fwd_h:TCP" "127.0.0.1:$p4:$NSB_FAR_IP:7:UDP") ;;
  esac
  ip netns exec "$NSB_NEAR" "${cmd[@]}" >"$RUN_DIR/nsb-$id.log" 2>&1 &
  NSB_PID[$id]=$!
  track_pid "${NSB_PID[$id]}"
  # Ready when an HTTP request through the forward comes back (the tunnel's first handshake included).
  if ! wait_for "in_near curl -s -m 5 -o /dev/null -w '%{http_code}' http://127.0.0.1:$p2/ 2>/dev/null | grep -q 200 || ! kill -0 ${NSB_PID[$id]} 2>/dev/null" 40 \
     || ! kill -0 "${NSB_PID[$id]}" 2>/dev/null; then
    nsb_fail "$id" "no HTTP reply through its forward within 40 s ($(tail -2 "$RUN_DIR/nsb-$id.log" | tr '\n' ' '))"
    stop_pid "${NSB_PID[$id]}"
    return 1
  fi
  NSB_STATUS[$id]=ok
  log "netstack: $id up (pid ${NSB_PID[$id]}, ${cmd[0]##*/})"
}

nsb_has_socks() { [[ $1 == wgkit-proxy || $1 == wggo-netstack ]]; }
nsb_has_udp_forward() { [[ $1 != wgkit-js ]]; }

# nsb_stream ID via(forward|socks5) dir(up|down) run
nsb_stream() {
  local id=$1 via=$2 dir=$3 run=$4 out args
  if [[ $via == forward ]]; then args=(-connect "127.0.0.1:$(nsb_port "$id" 1)"); else args=(-socks5 "127.0.0.1:$(nsb_port "$id" 3)" -target "$NSB_FAR_IP:5300"); fi
  local load; load=$(nsb_load)
  if out=$(in_near timeout $((NSB_SECONDS + 150)) "$NSB_TOOL" stream "${args[@]}" -dir "$dir" -seconds "$NSB_SECONDS" 2>&1) && jq -e .bits_per_second <<<"$out" >/dev/null 2>&1; then
    emit kind=ns_stream contender="$id" via="$via" dir="$dir" run:="$run" ok:=true result:="$out" loadavg="$load"
    printf '  %-14s %-7s %-4s run %d: %6.3f Gbit/s (load %s)\n' "$id" "$via" "$dir" "$run" "$(jq '.bits_per_second / 1e9' <<<"$out")" "$load" >&2
  else
    emit kind=ns_stream contender="$id" via="$via" dir="$dir" run:="$run" ok:=false error="$(tail -1 <<<"$out")" loadavg="$load"
    warn "netstack $id $via $dir run $run failed: $(tail -1 <<<"$out")"
  fi
}

nsb_http() {
  local id=$1 run=$2 out load; load=$(nsb_load)
  if out=$(in_near timeout 120 "$NSB_TOOL" httpload -url "http://127.0.0.1:$(nsb_port "$id" 2)/" -requests 1000 -concurrency 1000 2>&1) && jq -e .ok <<<"$out" >/dev/null 2>&1; then
    emit kind=ns_http contender="$id" run:="$run" ok:=true result:="$out" loadavg="$load"
    printf '  %-14s http    run %d: %s req/s, p99 %s ms, %s failures\n' "$id" "$run" "$(jq '.requests_per_second|round' <<<"$out")" "$(jq '.p99_ms*10|round/10' <<<"$out")" "$(jq .failures <<<"$out")" >&2
  else
    emit kind=ns_http contender="$id" run:="$run" ok:=false error="$(tail -1 <<<"$out")" loadavg="$load"
    warn "netstack $id http run $run failed: $(tail -1 <<<"$out")"
  fi
  sleep 1
}

nsb_udp() { # nsb_udp ID forward|socks5
  local id=$1 via=$2 out load args; load=$(nsb_load)
  if [[ $via == forward ]]; then args=(-connect "127.0.0.1:$(nsb_port "$id" 4)"); else args=(-socks5 "127.0.0.1:$(nsb_port "$id" 3)" -target "$NSB_FAR_IP:7"); fi
  if out=$(in_near timeout 120 "$NSB_TOOL" udprt "${args[@]}" -n 1000 2>&1) && jq -e .round_trips <<<"$out" >/dev/null 2>&1; then
    emit kind=ns_udp contender="$id" via="$via" ok:=true result:="$out" loadavg="$load"
    printf '  %-14s udp %-7s: %s round trips/s, p99 %s ms, %s lost\n' "$id" "$via" "$(jq '.round_trips_per_second|round' <<<"$out")" "$(jq '.p99_ms*1000|round/1000' <<<"$out")" "$(jq .lost <<<"$out")" >&2
  else
    emit kind=ns_udp contender="$id" via="$via" ok:=false error="$(tail -1 <<<"$out")" loadavg="$load"
    warn "netstack $id udp $via failed: $(tail -1 <<<"$out")"
  fi
}

# DNS leak check: 20 requests through SOCKS5 with names (curl --socks5-hostname); count the
# queries that reached the tunnel's DNS server (far) and the near side's host resolver.
nsb_dns() {
  local id=$1 i ok=0 n=20 far near
  for i in $(seq $n); do
    in_near curl -s -m 10 -o /dev/null -w '%{http_code}' --socks5-hostname "127.0.0.1:$(nsb_port "$id" 3)" "http://leak-$id-$i.nsb.test:8080/" 2>/dev/null | grep -q 200 && ok=$((ok + 1))
  done
  sleep 0.5
  far=$(grep -c "dns-query leak-$id-" "$RUN_DIR/nsb-far-serve.log")
  near=$(grep -c "dns-query leak-$id-" "$RUN_DIR/nsb-near-dns.log")
  nsb_emit kind=ns_dns contender="$id" requests:="$n" ok_requests:="$ok" tunnel_dns_queries:="$far" host_resolver_queries:="$near"
  printf '  %-14s dns: %d/%d requests ok, %d queries to the tunnel DNS, %d to the host resolver\n' "$id" "$ok" "$n" "$far" "$near" >&2
}

nsb_rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# Resident memory per idle connection: 1,000 connections through the forward, each confirmed
# end to end; (VmRSS 2 s after they are open - VmRSS before) / 1000.
nsb_idle() {
  local id=$1 pid=${NSB_PID[$1]} fifo="$RUN_DIR/nsb-idle-$1.fifo" out="$RUN_DIR/nsb-idle-$1.json" r0 r1 hp
  mkfifo "$fifo"
  sleep 1
  r0=$(nsb_rss_kb "$pid")
  ip netns exec "$NSB_NEAR" "$NSB_TOOL" idle -connect "127.0.0.1:$(nsb_port "$id" 1)" -n 1000 <"$fifo" >"$out" 2>&1 &
  hp=$!
  track_pid "$hp"
  exec 9>"$fifo"
  if ! wait_for "[[ -s $out ]]" 120; then
    exec 9>&-; stop_pid "$hp"
    nsb_emit kind=ns_idle contender="$id" ok:=false error="1000 connections not open within 120 s"
    return 1
  fi
  sleep 2
  r1=$(nsb_rss_kb "$pid")
  local open; open=$(jq .open "$out")
  exec 9>&-
  wait "$hp" 2>/dev/null
  nsb_emit kind=ns_idle contender="$id" ok:=true rss_before_kb:="$r0" rss_after_kb:="$r1" result:="$(cat "$out")" \
    bytes_per_connection:=$(( open > 0 ? (r1 - r0) * 1024 / open : 0 ))
  printf '  %-14s idle: %s of 1000 open, RSS %d -> %d KiB, %d B per connection\n' "$id" "$open" "$r0" "$r1" $(( open > 0 ? (r1 - r0) * 1024 / open : 0 )) >&2
  sleep 2
}

run_netstack_section() {
  local id run via dir
  NSB_SECONDS=${NSB_SECONDS:-$BENCH_SECONDS} NSB_RUNS=${NSB_RUNS:-$BENCH_RUNS}
  local saved_raw=$RAW
  RAW="$RUN_DIR/netstack.raw.jsonl"; : >"$RAW"
  nsb_emit kind=ns_settings mode="$MODE" runs:="$NSB_RUNS" seconds:="$NSB_SECONDS" started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  for id in "${NSB_IDS[@]}"; do NSB_STATUS[$id]=pending; done
  install_netstack_contenders
  if nsb_setup_namespaces && nsb_start_far; then
    nsb_emit kind=ns_far peer="$NSB_FAR_LABEL" choice="$NSB_FAR"
    for id in "${NSB_IDS[@]}"; do [[ ${NSB_STATUS[$id]} == installed ]] && nsb_start "$id"; done
    for run in $(seq "$NSB_RUNS"); do
      log "netstack run $run/$NSB_RUNS ($NSB_SECONDS s per stream)"
      for via in forward socks5; do
        for dir in up down; do
          for id in "${NSB_IDS[@]}"; do
            nsb_usable "$id" || continue
            [[ $via == socks5 ]] && ! nsb_has_socks "$id" && continue
            nsb_stream "$id" "$via" "$dir" "$run"
          done
        done
      done
    done
    # UDP, DNS and idle connections before the HTTP bursts, so that a contender a burst of
    # 1,000 connections leaves broken does not lose those results too.
    log "netstack: UDP round trips, DNS through SOCKS5, idle connections"
    for id in "${NSB_IDS[@]}"; do
      nsb_usable "$id" || continue
      nsb_has_udp_forward "$id" && nsb_udp "$id" forward
      nsb_has_socks "$id" && { nsb_udp "$id" socks5; nsb_dns "$id"; }
    done
    for id in "${NSB_IDS[@]}"; do nsb_usable "$id" && nsb_idle "$id"; done
    log "netstack: 1,000 concurrent HTTP requests through each forward ($NSB_RUNS runs)"
    for run in $(seq "$NSB_RUNS"); do
      for id in "${NSB_IDS[@]}"; do nsb_usable "$id" && nsb_http "$id" "$run"; done
    done
    for id in "${NSB_IDS[@]}"; do nsb_usable "$id" && stop_pid "${NSB_PID[$id]}"; done
  else
    warn "netstack: the namespaces or the far peer could not be set up"
  fi
  for id in "${NSB_IDS[@]}"; do
    emit kind=ns_contender id="$id" label="${NSB_LABEL[$id]}" version="${NSB_VERSION[$id]:-}" status="${NSB_STATUS[$id]}" reason="${NSB_REASON[$id]:-}"
  done
  nsb_emit kind=ns_settings_end finished="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  mkdir -p "$RESULTS_DIR"
  cp "$RAW" "$RESULTS_DIR/netstack.raw.jsonl"
  node "$BENCH_DIR/report/netstack.mjs" "$RAW" "$RESULTS_DIR" netstack
  RAW=$saved_raw
  nsb_cleanup
}

install_netstack_contenders() {
  local id fn
  for id in "${NSB_IDS[@]}"; do
    case $id in wgkit-proxy|wgkit-js) fn=install_wgkit ;; wggo-netstack) fn=install_netstack_go ;; onetun) fn=install_onetun ;; esac
    log "netstack: checking/installing $id"
    if "$fn" >/dev/null 2>"$RUN_DIR/nsb-install-$id.err"; then
      NSB_STATUS[$id]=installed
      case $id in
        wgkit-proxy|wgkit-js) NSB_VERSION[$id]="wgkit $(jq -r .version "$REPO_DIR/package.json") ($(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null))" ;;
        wggo-netstack) NSB_VERSION[$id]="golang.zx2c4.com/wireguard $(cat "$CACHE_DIR/netstack-go/version" 2>/dev/null), $(GOTOOLCHAIN=local "$GO" version | cut -d' ' -f3)" ;;
        onetun) NSB_VERSION[$id]=$("$NSB_ONETUN" --version 2>&1 | head -1) ;;
      esac
    else
      cat "$RUN_DIR/nsb-install-$id.err" >&2
      nsb_fail "$id" "install: $(grep -v '^\s*$' "$RUN_DIR/nsb-install-$id.err" | tail -1)"
    fi
  done
  [[ -x $NSB_TOOL ]] || install_netstack_go >/dev/null || return 1
}
