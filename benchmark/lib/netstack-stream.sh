#!/usr/bin/env bash
# One TCP stream through wgkit's in-process TCP/IP stack (netstack) against a real Linux TCP
# stack: the far WireGuard peer runs on a TUN interface in a network namespace, and its
# programs (iperf3, a Node server) use the kernel's TCP. Prints Gbit/s per path and direction:
#   forward  `wgkit-proxy -L` (iperf3 client -> local forward -> tunnel -> iperf3 server)
#   js       a JS TunnelSocket of a netstack tunnel (netstack-stream-client.mjs)
#   socks5   `wgkit-proxy --socks5` with a small SOCKS5 client (netstack-stream-client.mjs)
# "up" is towards the far peer (the netstack sends), "down" is from it (the netstack receives).
#
# Topology (all traffic stays inside two namespaces made here, deleted on exit or failure):
#   nst-XXXXa: the netstack side (wgkit-proxy or the JS client), underlay 192.0.2.1
#   nst-XXXXb: the far peer (wireguard-go or wgkit-userspace) on TUN nstXXXXg, 10.97.0.2,
#              with iperf3 -s and netstack-stream-server.mjs; underlay 192.0.2.2
#
# Environment:
#   WGKIT_STREAM_PEERS    far peers to try: "wireguard-go wgkit" (default both)
#   WGKIT_STREAM_PATHS    "forward js socks5" (default all)
#   WGKIT_STREAM_SECONDS  iperf3 duration for the forward path (default 8)
#   WGKIT_STREAM_BYTES    bytes per JS/SOCKS5 transfer (default 536870912)
#   WGKIT_STREAM_RUNS     runs per measurement, the median is printed (default 1)
#   WGKIT_STREAM_SS=1     after each forward run, print `ss -ti` of the far peer's side
#   WGKIT_STREAM_CAPTURE=PREFIX  capture the forward runs on the far TUN (PREFIX-PEER-DIR.pcap)
#   WGKIT_STREAM_ONLY=1   print only the result lines (for folding into another benchmark)
# Result lines: `netstack-stream peer=P path=X dir=up|down gbits=G`
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PEERS=${WGKIT_STREAM_PEERS:-wireguard-go wgkit}
PATHS=${WGKIT_STREAM_PATHS:-forward js socks5}
SECONDS_RUN=${WGKIT_STREAM_SECONDS:-8}
BYTES=${WGKIT_STREAM_BYTES:-536870912}
RUNS=${WGKIT_STREAM_RUNS:-1}
ONLY=${WGKIT_STREAM_ONLY:-0}

say() { [[ $ONLY == 1 ]] || printf '[netstack-stream] %s\n' "$*" >&2; }
die() { printf '[netstack-stream] error: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "needs root (network namespaces and TUN)"
for tool in ip wg iperf3 node; do command -v "$tool" >/dev/null || die "$tool is not installed (scripts/setup.sh)"; done
[[ -f $REPO/dist/cli/wgkit-proxy.js ]] || die "dist/ is not built: run npm run build"

ID=$(printf '%04x' $((RANDOM % 65536)))
NS_A="nst-${ID}a" NS_B="nst-${ID}b" WG_IF="nst${ID}g"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/nst-${ID}.XXXXXX")
PIDS=()

cleanup() {
  local rc=$? pid i
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for i in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  ip netns del "$NS_A" 2>/dev/null || true
  ip netns del "$NS_B" 2>/dev/null || true
  rm -f "/var/run/wireguard/$WG_IF.sock"
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts "$@" in the background and records its pid for the cleanup.
bg() { "$@" & PIDS+=($!); }
# Stops one recorded process.
stop() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 30); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}
wait_until() {
  local i
  for i in $(seq $(($2 * 20))); do eval "$1" && return 0; sleep 0.05; done
  return 1
}
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# ---- underlay ----
ip netns add "$NS_A"
ip netns add "$NS_B"
ip link add "nst${ID}a" netns "$NS_A" type veth peer name "nst${ID}b" netns "$NS_B"
ip -n "$NS_A" addr add 192.0.2.1/24 dev "nst${ID}a"
ip -n "$NS_B" addr add 192.0.2.2/24 dev "nst${ID}b"
for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; done
ip -n "$NS_A" link set "nst${ID}a" up
ip -n "$NS_B" link set "nst${ID}b" up

KEY_NEAR=$(wg genkey) KEY_FAR=$(wg genkey)
PUB_NEAR=$(wg pubkey <<<"$KEY_NEAR") PUB_FAR=$(wg pubkey <<<"$KEY_FAR")
printf '%s\n' "$KEY_FAR" >"$TMP/far.key"
cat >"$TMP/near.conf" <<EOF
[Interface]
PrivateKey = $KEY_NEAR
Address = 10.97.0.1/24

[Peer]
PublicKey = $PUB_FAR
AllowedIPs = 10.97.0.2/32
Endpoint = 192.0.2.2:51820
EOF

FAR_PID=""
start_far() {
  case $1 in
    wireguard-go) bg env WG_PROCESS_FOREGROUND=1 ip netns exec "$NS_B" wireguard-go -f "$WG_IF" >"$TMP/far.log" 2>&1 ;;
    wgkit) bg env LOG_LEVEL=error ip netns exec "$NS_B" node "$REPO/bin/wgkit-userspace.js" -f "$WG_IF" >"$TMP/far.log" 2>&1 ;;
    *) die "unknown far peer $1 (wireguard-go or wgkit)" ;;
  esac
  FAR_PID=$!
  wait_until "[[ -S /var/run/wireguard/$WG_IF.sock ]]" 10 || die "the far peer $1 did not start: $(cat "$TMP/far.log")"
  wg set "$WG_IF" private-key "$TMP/far.key" listen-port 51820 peer "$PUB_NEAR" allowed-ips 10.97.0.1/32
  ip -n "$NS_B" addr add 10.97.0.2/24 dev "$WG_IF"
  ip -n "$NS_B" link set "$WG_IF" up
}
stop_far() {
  stop "$FAR_PID"
  ip -n "$NS_B" link del "$WG_IF" 2>/dev/null || true
  wait_until "[[ ! -S /var/run/wireguard/$WG_IF.sock ]]" 5 || rm -f "/var/run/wireguard/$WG_IF.sock"
}

# ---- servers on the Linux side ----
bg ip netns exec "$NS_B" iperf3 -s -p 5201 >"$TMP/iperf3-server.log" 2>&1
bg ip netns exec "$NS_B" node "$HERE/netstack-stream-server.mjs" 0.0.0.0 7001 >"$TMP/server.log" 2>&1
wait_until "ip netns exec $NS_B ss -ltn | grep -q ':7001 '" 10 || die "the stream server did not start: $(cat "$TMP/server.log")"

PROXY_PID=""
start_proxy() {
  bg ip netns exec "$NS_A" node "$REPO/bin/wgkit-proxy.js" "$TMP/near.conf" "$@" >"$TMP/proxy.log" 2>&1
  PROXY_PID=$!
  wait_until "grep -q . $TMP/proxy.log" 10 || die "wgkit-proxy did not start: $(cat "$TMP/proxy.log")"
}

# UDP datagrams dropped for a full socket receive buffer in a namespace (since its start).
udp_drops() { ip netns exec "$1" awk '/^Udp:/ {n++; if (n == 1) for (i = 1; i <= NF; i++) h[i] = $i; else for (i = 1; i <= NF; i++) if (h[i] == "RcvbufErrors") print $i}' /proc/net/snmp; }

result() { printf 'netstack-stream peer=%s path=%s dir=%s gbits=%s\n' "$1" "$2" "$3" "$4"; }

# forward: iperf3 through `wgkit-proxy -L 127.0.0.1:5301:10.97.0.2:5201`.
run_forward() {
  local peer=$1 dir flag runs r
  start_proxy -L 127.0.0.1:5301:10.97.0.2:5201
  for dir in up down; do
    flag=""
    [[ $dir == down ]] && flag=-R
    runs=()
    for r in $(seq "$RUNS"); do
      local ss_pid="" cap_pid=""
      if [[ -n ${WGKIT_STREAM_CAPTURE:-} ]]; then
        ip netns exec "$NS_B" tcpdump -i "$WG_IF" -s 96 -w "$WGKIT_STREAM_CAPTURE-$peer-$dir.pcap" tcp port 5201 2>/dev/null &
        cap_pid=$!
        PIDS+=("$cap_pid")
        sleep 0.5
      fi
      if [[ ${WGKIT_STREAM_SS:-0} == 1 ]]; then
        (sleep $((SECONDS_RUN / 2)); ip netns exec "$NS_B" ss -tin "( sport = :5201 or dport = :5201 )" >&2) &
        ss_pid=$!
      fi
      ip netns exec "$NS_A" iperf3 -c 127.0.0.1 -p 5301 -t "$SECONDS_RUN" $flag -J >"$TMP/iperf3.json" 2>&1 ||
        die "iperf3 $dir failed: $(head -c 400 "$TMP/iperf3.json")"
      if grep -q '"error"' "$TMP/iperf3.json"; then
        die "iperf3 $dir failed: $(grep '"error"' "$TMP/iperf3.json"); wgkit-proxy: $(cat "$TMP/proxy.log"); far peer: $(wg show "$WG_IF" 2>&1)"
      fi
      [[ -z $ss_pid ]] || wait "$ss_pid"
      [[ -z $cap_pid ]] || stop "$cap_pid"
      if [[ ${WGKIT_STREAM_SS:-0} == 1 ]]; then
        say "intervals (Gbit/s): $(node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1]));console.log(j.intervals.map(i=>(i.sum.bits_per_second/1e9).toFixed(2)).join(" "))' "$TMP/iperf3.json")"
        say "UDP receive-buffer drops: near $(udp_drops "$NS_A"), far $(udp_drops "$NS_B")"
      fi
      runs+=("$(node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1]));console.log((j.end.sum_received.bits_per_second/1e9).toFixed(3))' "$TMP/iperf3.json")")
      say "$peer forward $dir run $r: ${runs[-1]} Gbit/s (retransmits at the sender: $(node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1]));console.log(j.end.sum_sent.retransmits ?? "n/a")' "$TMP/iperf3.json"))"
    done
    result "$peer" forward "$dir" "$(printf '%s\n' "${runs[@]}" | median)"
  done
  stop "$PROXY_PID"
}

# js / socks5: netstack-stream-client.mjs against netstack-stream-server.mjs.
run_client() {
  local peer=$1 path=$2 dir runs r where
  if [[ $path == socks5 ]]; then
    start_proxy --socks5 127.0.0.1:1080
    where=127.0.0.1:1080
  else
    where=$TMP/near.conf
  fi
  for dir in up down; do
    runs=()
    for r in $(seq "$RUNS"); do
      local out
      out=$(ip netns exec "$NS_A" node "$HERE/netstack-stream-client.mjs" "$path" "$where" 10.97.0.2 7001 "$dir" "$BYTES" 2>&1) ||
        die "$path $dir failed: $out"
      runs+=("${out##* }")
      say "$peer $path $dir run $r: ${runs[-1]} Gbit/s"
    done
    result "$peer" "$path" "$dir" "$(printf '%s\n' "${runs[@]}" | median)"
  done
  [[ $path == socks5 ]] && stop "$PROXY_PID"
  return 0
}

for peer in $PEERS; do
  start_far "$peer"
  say "far peer: $peer on $WG_IF in $NS_B"
  for path in $PATHS; do
    case $path in
      forward) run_forward "$peer" ;;
      js | socks5) run_client "$peer" "$path" ;;
      *) die "unknown path $path (forward, js, socks5)" ;;
    esac
  done
  stop_far
done
