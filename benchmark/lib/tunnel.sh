# Starting a contender pair: one device in each namespace, configured with wg(8) over UAPI.

TUN_MTU=1420
declare -A T_TARGET T_PIDS T_IF   # per contender: address to test, tunnel PIDs, "ifa ifb"

# target addresses: contender k uses 10.(100+k).0.1 <-> 10.(100+k).0.2 and UDP port 51820+k.
tunnel_net() { printf '10.%d.0' $((100 + C_INDEX[$1])); }

# start_device ID NS IFNAME LOGFILE: sets START_PID; waits for the UAPI socket.
START_PID=""
start_device() {
  local id=$1 ns=$2 ifname=$3 logf=$4 cmd pid
  START_PID=""
  cmd=$(contender_command "$id" "$ifname")
  # shellcheck disable=SC2086 # the table's command is split into words on purpose
  ip netns exec "$ns" $cmd >"$logf" 2>&1 &
  pid=$!
  track_pid "$pid"
  if ! wait_for "[[ -S /var/run/wireguard/$ifname.sock ]] || ! kill -0 $pid 2>/dev/null" 30 \
     || ! kill -0 "$pid" 2>/dev/null || [[ ! -S /var/run/wireguard/$ifname.sock ]]; then
    warn "$id: no UAPI socket for $ifname; log: $(tail -3 "$logf" | tr '\n' ' ')"
    stop_pid "$pid"
    return 1
  fi
  START_PID=$pid
}

# start_pair ID: both devices up, keys set, one ping through; fills T_TARGET/T_PIDS/T_IF.
start_pair() {
  local id=$1 k=${C_INDEX[$1]} net ifa ifb pa pb port
  if ! is_tunnel "$id"; then
    T_TARGET[$id]=$UNDER_B T_PIDS[$id]="" T_IF[$id]=""
    return 0
  fi
  net=$(tunnel_net "$id") port=$((51820 + k))
  ifa="wk${RUN_ID}${k}a" ifb="wk${RUN_ID}${k}b"
  umask 077
  wg genkey >"$RUN_DIR/$id-a.key"; wg genkey >"$RUN_DIR/$id-b.key"
  start_device "$id" "$NS_A" "$ifa" "$RUN_DIR/$id-a.log" || { mark_failed "$id" "run: device did not start ($(tail -1 "$RUN_DIR/$id-a.log"))"; return 1; }
  pa=$START_PID
  start_device "$id" "$NS_B" "$ifb" "$RUN_DIR/$id-b.log" || { stop_pid "$pa"; mark_failed "$id" "run: device did not start ($(tail -1 "$RUN_DIR/$id-b.log"))"; return 1; }
  pb=$START_PID
  T_PIDS[$id]="$pa $pb" T_IF[$id]="$ifa $ifb" T_TARGET[$id]="$net.2"
  if ! in_a wg set "$ifa" listen-port "$port" private-key "$RUN_DIR/$id-a.key" \
         peer "$(wg pubkey <"$RUN_DIR/$id-b.key")" allowed-ips "$net.2/32" endpoint "$UNDER_B:$port" \
     || ! in_b wg set "$ifb" listen-port "$port" private-key "$RUN_DIR/$id-b.key" \
         peer "$(wg pubkey <"$RUN_DIR/$id-a.key")" allowed-ips "$net.1/32" endpoint "$UNDER_A:$port" \
     || ! in_a ip addr add "$net.1/24" dev "$ifa" || ! in_b ip addr add "$net.2/24" dev "$ifb" \
     || ! in_a ip link set "$ifa" mtu "$TUN_MTU" up || ! in_b ip link set "$ifb" mtu "$TUN_MTU" up; then
    stop_pair "$id"; mark_failed "$id" "run: configuring the devices with wg/ip failed"; return 1
  fi
  local t0=$SECONDS
  if ! wait_for "in_a ping -c1 -W1 $net.2 >/dev/null 2>&1" 15; then
    stop_pair "$id"; mark_failed "$id" "run: no ping through the tunnel within 15 s"; return 1
  fi
  log "$id: tunnel $ifa ($net.1) <-> $ifb ($net.2) up after $((SECONDS - t0)) s, pids ${T_PIDS[$id]}"
}

stop_pair() {
  local pid
  for pid in ${T_PIDS[$1]:-}; do stop_pid "$pid"; done
  T_PIDS[$1]=""
}

# cpu_ticks PID...: utime+stime (clock ticks) of the PIDs, their threads and all descendants.
# Only the stat files of those processes are read (a process vanishing mid-scan is skipped).
cpu_ticks() {
  [[ $# -eq 0 ]] && { echo 0; return; }
  local p all
  all=$(ps -e -o pid=,ppid= | awk -v roots="$*" '
    { ppid[$1] = $2 }
    END {
      n = split(roots, r, " "); for (i = 1; i <= n; i++) keep[r[i]] = 1
      do { c = 0; for (p in ppid) if (!(p in keep) && (ppid[p] in keep)) { keep[p] = 1; c = 1 } } while (c)
      for (p in keep) print p
    }')
  for p in $all; do cat "/proc/$p/stat" 2>/dev/null; done \
    | awk '{ sub(/^[0-9]+ \(.*\) /, ""); s += $12 + $13 } END { print s + 0 }'
}
