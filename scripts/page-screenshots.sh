#!/usr/bin/env bash
# Screenshots of the workshop's pages for the README: starts `bulkhead serve` on the simulated
# lab with 3 seats, plays headless clients on them so that the pages have content (two sessions
# over, one live with a mentor's whisper), and saves what headless chromium shows of /,
# /scoreboard?wall=1, /facilitator and /mentor/1 as PNGs. Needs chromium (Debian: apt-get
# install chromium) and curl; builds the debug binary first.
#
#   scripts/page-screenshots.sh [OUT_DIR]     (default assets/screenshots)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-assets/screenshots}"
mkdir -p "$out"
command -v chromium >/dev/null || { echo "error: no chromium on PATH (apt-get install chromium)" >&2; exit 1; }

cargo build --quiet --bin bulkhead
bin="$PWD/target/debug/bulkhead"
export BULKHEAD_DATA="$PWD" NO_COLOR=1
work="$(mktemp -d)"
pids=()
# Whatever happens, no server or client of this script outlives it (each ended by its own pid).
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Fast enough that two sessions finish in half a minute; slow enough (a 24 s live phase) that
# the third is still live while the four screenshots are taken.
"$bin" serve --backend sim --seats 3 --time-scale 20 --seed 7 --name "Tuesday workshop" \
  --listen 127.0.0.1:0 --records "$work/records" >"$work/serve.out" 2>"$work/serve.err" &
pids+=($!)
for _ in $(seq 1 600); do grep -q '^records:' "$work/serve.out" && break; sleep 0.1; done
grep -q '^records:' "$work/serve.out" || { cat "$work/serve.err" >&2; exit 1; }
url="$(sed -n 's/^listening: \([^ ]*\).*/\1/p' "$work/serve.out")"
token="$(sed -n 's/^facilitator: .*token=\([0-9a-f]*\).*/\1/p' "$work/serve.out")"
code() { sed -n "s/^seat $1: code \([A-Z0-9]*\).*/\1/p" "$work/serve.out"; }
api() { curl -fsS -H "Authorization: Bearer $token" "$@"; }

play() { # seat scenario defender name
  "$bin" run "$2" --join "$url" --code "$(code "$1")" --defender "$3" --name "$4" --json \
    >"$work/seat$1.json" 2>"$work/seat$1.err"
}
echo "== playing seats 2 and 3 to the end"
play 2 stolen-credentials bot Grace & p2=$!
play 3 insider-access bot Linus & p3=$!
pids+=("$p2" "$p3")
wait "$p2" "$p3"

echo "== seat 1 live"
play 1 stolen-credentials idle Ada &
pids+=($!)
# Live, with a few alerts on the trainee's screen (the API's phase is lower case).
live=""
for _ in $(seq 1 600); do
  if api "$url/api/seats" | grep -Eq '"seat":1,[^}]*"phase":"live"[^}]*"alerts":([3-9]|[1-9][0-9])'; then
    live=yes
    break
  fi
  sleep 0.1
done
[ -n "$live" ] || { echo "error: seat 1 never went live with alerts" >&2; cat "$work/seat1.err" >&2; exit 1; }
key="$(api "$url/facilitator" | grep -o '/mentor/1?key=[0-9a-zA-Z]*' | head -1 | cut -d= -f2)"
[ -n "$key" ] || { echo "error: no mentor link for seat 1 on the facilitator page" >&2; exit 1; }
api -o /dev/null -X POST --data-urlencode "text=Who else logs in as alice today?" \
  --data "cost=0" "$url/mentor/1/whisper"
# A mentor already watching, as one with the page open would be: the page's first render waits
# only a moment for the seat's view, and without a watcher it may say no session is open yet
# (chromium shoots at load, before the page's stream brings the view).
curl -sSN -H "Authorization: Bearer $token" "$url/mentor/1/events" >/dev/null &
pids+=($!)

# The facilitator's and mentor's links put their secret in the URL: the page swaps it for a
# cookie and redirects (303), which chromium follows within the one invocation. Each shot has a
# profile of its own: no cookie of an earlier server (cookies ignore the port), and no other
# chromium of this user's to hand the URL to.
shot() { # file url
  chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,900 \
    --user-data-dir="$work/profile-$1" --screenshot="$out/$1" "$2" >/dev/null 2>&1
  echo "$out/$1: $(stat -c %s "$out/$1") bytes"
}
shot workshop-home.png "$url/"
shot scoreboard-wall.png "$url/scoreboard?wall=1"
shot facilitator.png "$url/facilitator?token=$token"
shot mentor.png "$url/mentor/1?key=$key"
