#!/usr/bin/env bash
# The whole test suite: set-up, build, Rust checks, type check, vitest, and the other
# platforms' builds and emulated tests (scripts/platform-tests.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

# The other platforms' cross builds and emulated tests run in the background (at low CPU
# priority, in their own process group) beside everything below; their exit status is checked
# at the end. WGKIT_PLATFORM_TESTS: "none" skips them, or a list of platforms (default: all).
# A cold run (toolchains cached in ~/.cache/wgkit-cross, no cargo cache in target/cross) took
# 25 minutes at nice 19 on 2 shared cores; a warm one about 5 (mostly the two cargo tests).
platform_log=target/platform-tests.log
platform_pid=""
if [ "${WGKIT_PLATFORM_TESTS:-}" != none ]; then
  mkdir -p target
  # shellcheck disable=SC2086 # a list of platform names
  setsid nice -n 19 bash scripts/platform-tests.sh ${WGKIT_PLATFORM_TESTS:-} >"$platform_log" 2>&1 &
  platform_pid=$!
  trap '[ -z "$platform_pid" ] || kill -- -"$platform_pid" 2>/dev/null || true' EXIT
  echo "== platform tests started in the background (log: $platform_log)"
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets -- -D warnings
echo "== cargo test"
cargo test --quiet
cargo test --quiet --manifest-path crate/vendor/smoltcp/Cargo.toml --target-dir target/smoltcp --features socket-tcp-cubic,socket-tcp-reno --lib
echo "== tsc (type check)"
npm run --silent typecheck
echo "== fuzz (every target briefly: scripts/fuzz.sh)"
bash scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
echo "== vitest"
npx vitest run

if [ -n "$platform_pid" ]; then
  echo "== platform tests (waiting for the background run)"
  platform_rc=0
  wait "$platform_pid" || platform_rc=$?
  platform_pid=""
  if [ "$platform_rc" -ne 0 ]; then
    cat "$platform_log"
    echo "platform tests failed (exit $platform_rc)"
    exit 1
  fi
  sed -n '/^== platform tests: summary/,$p' "$platform_log"
fi
