# In-process handshake benchmark (benchmark/handshake, boringtun noise::Tunn, one thread).
measure_handshakes() {
  local out
  out=$(taskset -c 0 "$HANDSHAKE_BIN" --seconds "$BENCH_HS_SECONDS" 2>"$RUN_DIR/handshake.err") \
    || { warn "handshake benchmark failed: $(tail -1 "$RUN_DIR/handshake.err")"; emit kind=handshake ok:=false; return 1; }
  jq -c '{kind: "handshake", ok: true} + .' <<<"$out" >>"$RAW"
  jq -r '"  handshakes: \(.full.per_second|floor)/s full, responder \(.responder.per_second|floor)/s, flood: \(.flood.verified_per_second|floor) verified/s + \(.flood.cookie_replies_per_second|floor) cookie replies/s"' <<<"$out" >&2
}
