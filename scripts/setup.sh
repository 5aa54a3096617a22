#!/usr/bin/env bash
# Installs everything the demo and the tests need, then builds the package.
# Idempotent, and quick when everything is already present.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: real WireGuard peers (wg, wg-quick, wireguard-go), traffic tools, and
# qemu for the kernel-WireGuard guest; python3 replays captured datagrams in the interop tests;
# nftables and openresolv for wg-quick's default-route firewall and DNS (openresolv has no
# install scripts: nothing changes /etc/resolv.conf until resolvconf is run, and the tests run
# it only in a private mount namespace with their own resolvconf.conf); openssl makes the test CA
# of the netstack HTTPS tests.
APT_PACKAGES=(
  wireguard-tools wireguard-go iproute2 iputils-ping iperf3 socat netcat-openbsd tcpdump
  qemu-system-x86 kmod cpio xz-utils ca-certificates python3 nftables openresolv util-linux curl
  openssl
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Go, for wgctrl-go's integration suite (__test__/conformance-wgctrl.spec.ts builds it with
# scripts/wgctrl-suite.sh from the Go module proxy). Machines of this project's kind have a
# recent Go in /usr/local/go; elsewhere Debian's golang-go (1.19 on Debian 12) is enough: the
# suite needs Go >= 1.20, so scripts/wgctrl-suite.sh then fetches the Go toolchain as the
# module golang.org/toolchain with that go and builds with it.
if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
  echo "setup: installing Debian's golang-go"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends golang-go >/dev/null
fi

# Rust components used by the checks.
if command -v rustup >/dev/null 2>&1; then
  for c in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
  done
fi

# npm dependencies; `prepare` builds the addon (release) and the TypeScript. `npm install`
# rather than `npm ci`: npm 11 cannot record the optional platform packages of one of
# @napi-rs/cli's dependencies in the lock, so `npm ci` refuses the lock it wrote itself.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm install --no-audit --no-fund
else
  npm run build --silent
fi
