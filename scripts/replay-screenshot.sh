#!/usr/bin/env bash
# A screenshot of replay mode for the README: plays stolen-credentials on the simulated lab with
# the analyst bot (seed 7) into a record, then opens it with `bulkhead replay --screenshot`,
# held 80 s into the live phase. Needs a Vulkan driver (Debian: mesa-vulkan-drivers renders
# without a GPU); builds the debug binary first unless BULKHEAD names one.
#
#   scripts/replay-screenshot.sh [OUT_PNG]     (default assets/screenshots/replay.png)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-assets/screenshots/replay.png}"
mkdir -p "$(dirname "$out")"

bin="${BULKHEAD:-}"
if [ -z "$bin" ]; then
  cargo build --quiet --bin bulkhead
  bin="$PWD/target/debug/bulkhead"
fi
export BULKHEAD_DATA="$PWD" NO_COLOR=1
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$bin" run stolen-credentials --backend sim --seed 7 --record "$work/session.jsonl" >/dev/null
"$bin" replay "$work/session.jsonl" --screenshot "$PWD/$out" --after 200 2>/dev/null
echo "wrote $out"
