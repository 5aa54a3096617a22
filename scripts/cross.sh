#!/usr/bin/env bash
# Builds the addon for one Rust target triple on this Linux machine and writes it to
# npm/<platform>/wgkit.<platform>.node (napi-rs naming), e.g.
#   bash scripts/cross.sh aarch64-apple-darwin   ->  npm/darwin-arm64/wgkit.darwin-arm64.node
#
# Uses plain `cargo zigbuild` (zig as the C compiler and linker; the napi CLI refuses gnu
# Windows targets on Linux hosts) and installs what it needs itself: the Rust target
# (rustup), zig and cargo-zigbuild (PyPI, in a venv under ~/.cache/wgkit-cross).
# Cargo's output goes to target/cross (or $WGKIT_CROSS_TARGET_DIR) so the host build in target/
# is left alone.
#
# Windows is built for x86_64-pc-windows-gnu (MSVC's CRT and SDK are not reachable from
# here). The addon resolves every napi_* function from the host process at run time
# (napi-sys `dyn-symbols`), so it needs no import library for node.exe; scripts/platform-tests.sh
# loads it in the official node.exe under wine, which is what lets it stand in for the
# win32-x64-msvc package.
set -euo pipefail
cd "$(dirname "$0")/.."

triple="${1:-}"
case "$triple" in
  x86_64-unknown-linux-gnu) platform=linux-x64-gnu ;;
  x86_64-unknown-linux-musl) platform=linux-x64-musl ;;
  aarch64-unknown-linux-gnu) platform=linux-arm64-gnu ;;
  aarch64-unknown-linux-musl) platform=linux-arm64-musl ;;
  x86_64-apple-darwin) platform=darwin-x64 ;;
  aarch64-apple-darwin) platform=darwin-arm64 ;;
  x86_64-pc-windows-gnu) platform=win32-x64-msvc ;;
  *)
    echo "usage: bash scripts/cross.sh TRIPLE" >&2
    echo "TRIPLE: x86_64-unknown-linux-{gnu,musl} aarch64-unknown-linux-{gnu,musl}" >&2
    echo "        {x86_64,aarch64}-apple-darwin x86_64-pc-windows-gnu" >&2
    exit 2
    ;;
esac

# shellcheck source=scripts/cross-toolchain.sh
source scripts/cross-toolchain.sh
cross_toolchain "$triple"

export CARGO_TARGET_DIR="${WGKIT_CROSS_TARGET_DIR:-$PWD/target/cross}"
zig_target="$triple"
case "$triple" in
  # glibc 2.17, the floor napi-rs's own cross toolchain uses.
  *-linux-gnu) zig_target="$triple.2.17" ;;
  # A dynamically linked musl library (a static one cannot be dlopen()ed by Node).
  x86_64-unknown-linux-musl) export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C target-feature=-crt-static" ;;
  aarch64-unknown-linux-musl) export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C target-feature=-crt-static" ;;
  # napi-build links windows-gnu addons against a MinGW Node's libnode.dll; with dyn-symbols
  # nothing is imported from it, so an empty archive satisfies `-lnode` and the DLL imports
  # nothing but system libraries (platform-tests.sh checks).
  *-windows-gnu) export LIBNODE_PATH="$WGKIT_CROSS_HOME/libnode-none" ;;
esac

cargo zigbuild --release --target "$zig_target" -p wgkit

case "$triple" in
  *-apple-darwin) built="libwgkit.dylib" ;;
  *-windows-*) built="wgkit.dll" ;;
  *) built="libwgkit.so" ;;
esac
out="npm/$platform/wgkit.$platform.node"
cp "$CARGO_TARGET_DIR/$triple/release/$built" "$out"
echo "cross: $triple -> $out"
