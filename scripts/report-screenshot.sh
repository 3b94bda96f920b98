#!/usr/bin/env bash
# A screenshot of an after-action report for the README: plays stolen-credentials on the
# simulated lab with the analyst bot (seed 7), writes its report with `bulkhead report --html`,
# and saves what headless chromium shows of the page's top (score card and timeline) as a PNG.
# Needs chromium (Debian: apt-get install chromium); builds the debug binary first unless
# BULKHEAD names one.
#
#   scripts/report-screenshot.sh [OUT_PNG]     (default assets/screenshots/report.png)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-assets/screenshots/report.png}"
mkdir -p "$(dirname "$out")"
command -v chromium >/dev/null || { echo "error: no chromium on PATH (apt-get install chromium)" >&2; exit 1; }

bin="${BULKHEAD:-}"
if [ -z "$bin" ]; then
  cargo build --quiet --bin bulkhead
  bin="$PWD/target/debug/bulkhead"
fi
export BULKHEAD_DATA="$PWD" NO_COLOR=1
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$bin" run stolen-credentials --backend sim --seed 7 --record "$work/session.jsonl" >/dev/null
"$bin" report "$work/session.jsonl" --html "$work/report.html" >/dev/null
# Its own profile, so a running chromium is not reused; as root chromium needs --no-sandbox.
timeout 90 chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars \
  --user-data-dir="$work/profile" --window-size=1280,1500 \
  --screenshot="$PWD/$out" "file://$work/report.html" 2>/dev/null
echo "wrote $out"
