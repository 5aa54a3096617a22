#!/usr/bin/env bash
# The crate's unsafe code under the nightly sanitizers, outside CI (it takes a while):
#  1. AddressSanitizer (std rebuilt with it) over the device::, uapi:: and netlink:: unit
#     tests and tests/netstack_pair.rs: the batch/mmsg, TUN, netns, UDP, UAPI socket and
#     netstack link code (the AEAD assembly is covered by its own tests against ring).
#  2. Miri over the pure modules: allowed IPs, the UAPI parsers and writers, keys, model.
#   scripts/sanitizers.sh [asan|miri]   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."

which="${1:-both}"
host="$(rustc -vV | sed -n 's/^host: //p')"

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
for c in rust-src miri; do
  rustup +nightly component list --installed 2>/dev/null | grep -q "^$c" || rustup +nightly component add "$c"
done

if [ "$which" = both ] || [ "$which" = asan ]; then
  echo "== AddressSanitizer ($host)"
  start=$SECONDS
  # Leaks are not memory errors, and a device's threads outlive some tests on purpose.
  export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
  export CARGO_TARGET_DIR=target/sanitizer-address
  RUSTFLAGS="-Zsanitizer=address" RUSTDOCFLAGS="-Zsanitizer=address" \
    cargo +nightly test -Zbuild-std --target "$host" -p wgkit --lib -- device:: uapi:: netlink::
  RUSTFLAGS="-Zsanitizer=address" RUSTDOCFLAGS="-Zsanitizer=address" \
    cargo +nightly test -Zbuild-std --target "$host" -p wgkit --test netstack_pair
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
