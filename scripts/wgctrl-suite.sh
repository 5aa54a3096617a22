#!/usr/bin/env bash
# Builds wgctrl-go's own integration tests (golang.zx2c4.com/wireguard/wgctrl, pinned below)
# into a test binary and prints its path. The binary is cached: a second run only prints it.
#
#   scripts/wgctrl-suite.sh            build (if needed) and print the binary's path
#
# The binary runs `TestIntegration*` against every WireGuard device it can see (userspace UAPI
# sockets in /var/run/wireguard, kernel devices over generic netlink) when
# WGCTRL_INTEGRATION=yesreallydoit is set: it resets and reconfigures them. Run it only in a
# mount namespace with its own /run/wireguard and in a network namespace of its own
# (__test__/conformance-wgctrl.spec.ts does).
#
# Go: the module needs Go >= 1.20. A `go` that old or older than 1.21 cannot fetch a newer
# toolchain by itself (GOTOOLCHAIN), so then the toolchain is fetched as the Go module
# golang.org/toolchain from the module proxy with that `go`, and used from the cache.
set -euo pipefail

WGCTRL_MODULE=golang.zx2c4.com/wireguard/wgctrl
WGCTRL_VERSION=v0.0.0-20241231184526-a9ab2273dd10
# Used when the installed go is older than 1.20 (Debian 12's golang-go is 1.19).
FALLBACK_TOOLCHAIN=v0.0.1-go1.22.12.linux-amd64

CACHE="${WGKIT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/wgkit}"
OUT="$CACHE/wgctrl-$WGCTRL_VERSION/wgctrl.test"

if [ -x "$OUT" ]; then
  echo "$OUT"
  exit 0
fi

# The Go of this project's machines is in /usr/local/go, not always on PATH.
command -v go >/dev/null 2>&1 || PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null 2>&1 || {
  echo "wgctrl-suite: no go on PATH (scripts/setup.sh installs Debian's golang-go)" >&2
  exit 1
}

# go version: "go version go1.19.8 linux/amd64" -> minor 19
go_minor() { "$1" version | sed -n 's/^go version go1\.\([0-9]*\).*/\1/p'; }

GO=go
if [ "$(go_minor go)" -lt 20 ]; then
  dir="$CACHE/go-toolchain-$FALLBACK_TOOLCHAIN"
  if [ ! -x "$dir/bin/go" ]; then
    echo "wgctrl-suite: $(go version) is too old; fetching golang.org/toolchain@$FALLBACK_TOOLCHAIN" >&2
    src="$(go mod download -json "golang.org/toolchain@$FALLBACK_TOOLCHAIN" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')"
    [ -n "$src" ] || { echo "wgctrl-suite: could not fetch the Go toolchain" >&2; exit 1; }
    rm -rf "$dir.tmp"
    mkdir -p "$CACHE"
    cp -r "$src" "$dir.tmp"
    # Module zips keep no file modes: the toolchain's programs must be made executable.
    chmod -R u+w "$dir.tmp"
    chmod +x "$dir.tmp"/bin/* "$dir.tmp"/pkg/tool/*/*
    mv "$dir.tmp" "$dir"
  fi
  GO="$dir/bin/go"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat >"$work/go.mod" <<EOF
module wgkit.test/wgctrl-suite

go 1.20

require $WGCTRL_MODULE $WGCTRL_VERSION
EOF
mkdir -p "$(dirname "$OUT")"
# -mod=mod records the test dependencies' sums in the temporary go.sum (checked against the
# checksum database as usual). GOTOOLCHAIN=local: build with exactly this go.
(cd "$work" && GOFLAGS=-mod=mod GOTOOLCHAIN=local "$GO" test -c -o "$OUT.tmp" "$WGCTRL_MODULE" >&2)
mv "$OUT.tmp" "$OUT"
echo "$OUT"
