# The underlay: two network namespaces joined by one veth pair (192.0.2.0/24, TEST-NET-1).
# All benchmark traffic stays inside these namespaces; they are deleted at exit (common.sh).

NS_A="" NS_B="" UNDER_A=192.0.2.1 UNDER_B=192.0.2.2
IPERF_PORT=5201

setup_underlay() {
  NS_A="wkb${RUN_ID}a" NS_B="wkb${RUN_ID}b"
  ip netns add "$NS_A" && track_netns "$NS_A"
  ip netns add "$NS_B" && track_netns "$NS_B"
  ip link add "v${RUN_ID}a" netns "$NS_A" type veth peer name "v${RUN_ID}b" netns "$NS_B"
  ip -n "$NS_A" addr add "$UNDER_A/24" dev "v${RUN_ID}a"
  ip -n "$NS_B" addr add "$UNDER_B/24" dev "v${RUN_ID}b"
  local ns
  for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; done
  ip -n "$NS_A" link set "v${RUN_ID}a" up
  ip -n "$NS_B" link set "v${RUN_ID}b" up
  wait_for "ip netns exec $NS_A ping -c1 -W1 $UNDER_B >/dev/null 2>&1" 5 || { warn "underlay veth does not answer"; return 1; }
  # One iperf3 server for every contender (it listens on all addresses of NS_B).
  ip netns exec "$NS_B" iperf3 -s -p "$IPERF_PORT" >"$RUN_DIR/iperf3-server.log" 2>&1 &
  track_pid $!
  wait_for "ip netns exec $NS_B ss -ltn 2>/dev/null | grep -q ':$IPERF_PORT '" 5 || { warn "iperf3 server did not start"; return 1; }
  log "underlay: $NS_A ($UNDER_A) <-veth-> $NS_B ($UNDER_B)"
}

in_a() { ip netns exec "$NS_A" "$@"; }
in_b() { ip netns exec "$NS_B" "$@"; }
