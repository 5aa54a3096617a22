#!/usr/bin/env bash
# The main job: a demo of wgkit. Installs what it needs first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
exec node scripts/demo.mjs "$@"
