#!/usr/bin/env bash
# The whole test suite: set-up, build, Rust checks, type check, vitest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets -- -D warnings
echo "== cargo test"
cargo test --quiet
echo "== tsc (type check)"
npm run --silent typecheck
echo "== fuzz (every target briefly: scripts/fuzz.sh)"
bash scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
echo "== vitest"
npx vitest run
