# Idempotent installs and cached builds under .cache/bench (sourced by run.sh).
# Each install_<id> returns non-zero with a message on stderr when the contender can't be used.

GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
CARGO=${CARGO:-$(command -v cargo || echo /root/.cargo/bin/cargo)}

# Tools the suite itself needs (Debian package names).
install_tools() {
  local missing=() bin pkg
  for bin in ip:iproute2 iperf3:iperf3 ping:iputils-ping wg:wireguard-tools jq:jq node:nodejs curl:curl; do
    command -v "${bin%%:*}" >/dev/null || missing+=("${bin#*:}")
  done
  ((${#missing[@]} == 0)) && return 0
  log "apt-get install ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

install_veth() { :; }

install_wggo-debian() {
  [[ -x /usr/bin/wireguard-go ]] && return 0
  log "apt-get install wireguard-go"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wireguard-go; } >&2 \
    || { echo "apt-get install wireguard-go failed" >&2; return 1; }
}

# Latest wireguard-go from the Go module proxy; rebuilt when the proxy's @latest changes.
install_wggo-latest() {
  [[ -x $GO ]] || { echo "go toolchain not found (set GO=/path/to/go)" >&2; return 1; }
  local gocache="$CACHE_DIR/go" latest
  mkdir -p "$gocache/path" "$gocache/cache" "$gocache/bin"
  local -x GOPATH="$gocache/path" GOCACHE="$gocache/cache" GOBIN="$gocache/bin" GOFLAGS=-modcacherw GOTOOLCHAIN=local
  latest=$("$GO" list -m -f '{{.Version}}' golang.zx2c4.com/wireguard@latest 2>/dev/null) || latest=""
  if [[ -x $gocache/bin/wireguard && ( -z $latest || $(cat "$gocache/version" 2>/dev/null) == "$latest" ) ]]; then
    return 0
  fi
  [[ -n $latest ]] || { echo "Go module proxy unreachable and no cached build" >&2; return 1; }
  log "go install golang.zx2c4.com/wireguard@$latest"
  "$GO" install "golang.zx2c4.com/wireguard@$latest" >&2 || { echo "go install golang.zx2c4.com/wireguard@$latest failed" >&2; return 1; }
  printf '%s\n' "$latest" >"$gocache/version"
}

# boringtun-cli from crates.io; cargo install is itself idempotent (no-op when up to date).
install_boringtun() {
  [[ -x $CARGO ]] || { echo "cargo not found (set CARGO=/path/to/cargo)" >&2; return 1; }
  [[ -x $CACHE_DIR/boringtun/bin/boringtun-cli ]] && return 0
  log "cargo install boringtun-cli (a few minutes on 2 cores)"
  "$CARGO" install --locked boringtun-cli --root "$CACHE_DIR/boringtun" >"$CACHE_DIR/boringtun-install.log" 2>&1 \
    || "$CARGO" install boringtun-cli --root "$CACHE_DIR/boringtun" >"$CACHE_DIR/boringtun-install.log" 2>&1 \
    || { echo "cargo install boringtun-cli failed (see .cache/bench/boringtun-install.log)" >&2; return 1; }
}

# wgkit: the TypeScript build (dist/) and the native addon, rebuilt only when sources are newer.
newer_than() { # newer_than TARGET PATH...: true when a source under PATH is newer than TARGET
  [[ -e $1 ]] || return 0
  local t=$1; shift
  [[ -n $(find "$@" -newer "$t" -type f \( -name '*.rs' -o -name '*.ts' -o -name Cargo.toml \) -print -quit 2>/dev/null) ]]
}

install_wgkit() {
  [[ -f $REPO_DIR/bin/wgkit-userspace.js ]] || { echo "bin/wgkit-userspace.js is not in this tree yet" >&2; return 1; }
  build_wgkit
}

build_wgkit() {
  local addon
  addon=$(ls "$REPO_DIR"/lib/wgkit.*.node 2>/dev/null | head -1)
  if [[ -z $addon ]] || newer_than "$addon" "$REPO_DIR/crate/src" "$REPO_DIR/crate/Cargo.toml"; then
    log "building the wgkit native addon (release)"
    (cd "$REPO_DIR" && npm run -s build:native) >&2 || { echo "npm run build:native failed" >&2; return 1; }
  fi
  if [[ ! -f $REPO_DIR/dist/index.js ]] || newer_than "$REPO_DIR/dist/index.js" "$REPO_DIR/lib"; then
    log "building wgkit TypeScript (dist/)"
    (cd "$REPO_DIR" && npm run -s build:ts) >&2 || { echo "npm run build:ts failed" >&2; return 1; }
  fi
}

# The in-process handshake benchmark (benchmark/handshake, its own Cargo workspace).
HANDSHAKE_BIN="$CACHE_DIR/handshake-target/release/wgkit-handshake-bench"
build_handshake() {
  [[ -x $CARGO ]] || { echo "cargo not found" >&2; return 1; }
  if [[ -x $HANDSHAKE_BIN ]] && ! newer_than "$HANDSHAKE_BIN" "$BENCH_DIR/handshake"; then return 0; fi
  log "building benchmark/handshake"
  (cd "$BENCH_DIR/handshake" && CARGO_TARGET_DIR="$CACHE_DIR/handshake-target" "$CARGO" build --release --locked -q) >&2 \
    || { echo "cargo build of benchmark/handshake failed" >&2; return 1; }
}

# install_all: every contender gets a status; failures are recorded, never fatal.
install_all() {
  local id fn err
  mkdir -p "$CACHE_DIR"
  install_tools || { warn "could not install the suite's tools"; return 1; }
  for id in "${C_IDS[@]}"; do
    fn="install_$id"
    if ! declare -F "$fn" >/dev/null; then mark_failed "$id" "no installer (install_$id) in benchmark/lib/install.sh"; continue; fi
    log "checking/installing $id"
    if "$fn" >/dev/null 2>"$RUN_DIR/install-$id.err"; then
      C_STATUS[$id]=ok
      C_VERSION[$id]=$(version_of "$id")
    else
      cat "$RUN_DIR/install-$id.err" >&2
      mark_failed "$id" "install: $(grep -v '^\s*$' "$RUN_DIR/install-$id.err" | tail -1)"
    fi
  done
}

version_of() {
  local out
  out=$(timeout 10 ${C_VERCMD[$1]} 2>&1 | grep -v '^\s*$' | head -1) || true
  if [[ $1 == wggo-latest && -f $CACHE_DIR/go/version ]]; then out="$out (module $(cat "$CACHE_DIR/go/version"))"; fi
  printf '%s' "$out"
}

# The netstack section's Go programs (benchmark/netstack-go: the wireguard-go tun/netstack
# harness and nsbtool), built into .cache/bench/netstack-go/bin when a source is newer.
install_netstack_go() {
  [[ -x $GO ]] || { echo "go toolchain not found (set GO=/path/to/go)" >&2; return 1; }
  local d="$CACHE_DIR/netstack-go" src="$BENCH_DIR/netstack-go"
  if [[ -x $d/bin/wggo-netstack && -x $d/bin/nsbtool && -z $(find "$src" -newer "$d/bin/nsbtool" -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print -quit) ]]; then
    return 0
  fi
  mkdir -p "$d/path" "$d/cache" "$d/bin"
  log "building benchmark/netstack-go (wireguard-go tun/netstack harness, nsbtool)"
  (cd "$src" && GOPATH="$d/path" GOCACHE="$d/cache" GOFLAGS="-mod=mod -modcacherw" GOTOOLCHAIN=local \
     "$GO" build -o "$d/bin/" ./cmd/wggo-netstack ./cmd/nsbtool) >&2 \
    || { echo "go build of benchmark/netstack-go failed" >&2; return 1; }
  (cd "$src" && GOPATH="$d/path" GOFLAGS="-mod=mod" GOTOOLCHAIN=local "$GO" list -m -f '{{.Version}}' golang.zx2c4.com/wireguard) >"$d/version"
}

# onetun from crates.io (its Cargo.lock), like boringtun-cli.
install_onetun() {
  [[ -x $CARGO ]] || { echo "cargo not found (set CARGO=/path/to/cargo)" >&2; return 1; }
  [[ -x $CACHE_DIR/onetun/bin/onetun ]] && return 0
  log "cargo install --locked onetun (a few minutes on 2 cores)"
  "$CARGO" install --locked onetun --root "$CACHE_DIR/onetun" >"$CACHE_DIR/onetun-install.log" 2>&1 \
    || { echo "cargo install --locked onetun failed (see .cache/bench/onetun-install.log)" >&2; return 1; }
}
