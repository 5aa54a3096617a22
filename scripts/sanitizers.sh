#!/usr/bin/env bash
# The crate's unsafe code under the nightly sanitizers, outside CI (it takes a while):
#  1. AddressSanitizer (std rebuilt with it, -Zbuild-std) over the crate's lib tests (all of
#     them but two timing tests that an ASan build on a loaded machine misses: scale_tests,
#     100,000 peers against the UAPI client's reply deadline, and the UAPI server's
#     tricklers_are_cut_off_at_the_deadline, which expects a 20,000-peer reply formatted within
#     6.5 s; neither has unsafe code of its own) and two tunnels: tests/netstack_pair.rs (two
#     in-process netstacks through two devices) and tests/device_wgkit.rs (two devices on TUN
#     in network namespaces: GSO/GRO offloads, roaming, hub routing). The lib and device tests
#     need root (network namespaces, TUN), as in scripts/test.sh.
#     The AEAD needs no exclusion: the AVX-512 batch code is Rust (core::arch intrinsics) and
#     is instrumented like the rest; ring's assembly is not instrumented (ASan cannot see into
#     it) but is only ever handed buffers the instrumented Rust code bounds-checked. Set
#     WGKIT_AEAD=ring to run everything on ring's path instead.
#  2. Miri over the pure modules: allowed IPs, the UAPI parsers and writers, keys, model.
#   scripts/sanitizers.sh [asan|miri]   (default: both)
# It installs what it needs: the nightly toolchain, its rust-src (for -Zbuild-std) and miri.
# On a shared machine: CARGO_BUILD_JOBS=1 nice -n 10 scripts/sanitizers.sh asan (about 15 min
# on 2 cores); results are recorded in benchmark/results/sanitizers.md.
set -euo pipefail
cd "$(dirname "$0")/.."

which="${1:-both}"
host="$(rustc -vV | sed -n 's/^host: //p')"

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
comps=(rust-src)
[ "$which" = asan ] || comps+=(miri)
for c in "${comps[@]}"; do
  rustup +nightly component list --installed 2>/dev/null | grep -q "^$c" || rustup +nightly component add "$c"
done

if [ "$which" = both ] || [ "$which" = asan ]; then
  echo "== AddressSanitizer ($host)"
  start=$SECONDS
  # Leaks are not memory errors, and a device's threads outlive some tests on purpose.
  export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
  export CARGO_TARGET_DIR=target/sanitizer-address
  RUSTFLAGS="-Zsanitizer=address" RUSTDOCFLAGS="-Zsanitizer=address" \
    cargo +nightly test -Zbuild-std --target "$host" -p wgkit --lib -- --skip scale_tests --skip tricklers_are_cut_off_at_the_deadline
  RUSTFLAGS="-Zsanitizer=address" RUSTDOCFLAGS="-Zsanitizer=address" \
    cargo +nightly test -Zbuild-std --target "$host" -p wgkit --test netstack_pair --test device_wgkit
  unset CARGO_TARGET_DIR
  echo "== AddressSanitizer: clean in $((SECONDS - start)) s"
fi

if [ "$which" = both ] || [ "$which" = miri ]; then
  echo "== Miri"
  start=$SECONDS
  # Skipped: the allowed-IPs randomized test (thousands of operations: hours in Miri; the
  # allowed_ips fuzz target checks the same property natively) and the endpoint test, which
  # resolves interface names through libc (`if_nametoindex`, a foreign call Miri cannot run).
  cargo +nightly miri test -p wgkit --lib -- \
    device::allowed_ips uapi::set_parser uapi::set_request uapi::get_reply uapi::get_writer \
    uapi::value uapi::lines uapi::errno uapi::name keys:: model:: \
    --skip randomized_against_brute_force --skip uapi::value::tests::endpoints
  echo "== Miri: clean in $((SECONDS - start)) s"
fi
