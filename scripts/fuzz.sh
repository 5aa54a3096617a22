#!/usr/bin/env bash
# Runs every fuzz target in crate/fuzz (cargo fuzz, libFuzzer) for SECONDS_PER_TARGET seconds
# (default 20), one after the other, and prints the executions each one ran. A crash stops
# the script with the target's output; the crashing input is in crate/fuzz/artifacts/<target>/.
# Needs the nightly toolchain; installs cargo-fuzz from crates.io when it is missing.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-20}"
shift || true

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

cd crate/fuzz
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
cargo +nightly fuzz build -O

failed=0
for t in "${targets[@]}"; do
  corpus="corpus/$t"
  mkdir -p "$corpus"
  # Found inputs go to a scratch directory: the committed corpus stays the small seed set.
  scratch="$(mktemp -d)"
  log="$(mktemp)"
  if cargo +nightly fuzz run -O "$t" "$scratch" "$corpus" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 >"$log" 2>&1; then
    execs="$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)"
    echo "fuzz: $t: $execs executions in ${seconds}s, $cov, no crash"
  else
    echo "fuzz: $t: FAILED"
    tail -60 "$log"
    failed=1
  fi
  rm -rf "$scratch" "$log"
done
exit "$failed"
