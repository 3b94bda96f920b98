#!/usr/bin/env bash
# Soak the Docker lab with faults: N headless sessions back to back (stolen-credentials, the bot
# defending, --time-scale 20), each with one fault injected from outside the range at a random
# moment of its live phase, then checks that each session ended as it should (exit 0, or a
# partial card for a daemon kept away past the limit: never a panic), that its record reads and
# its score card names the fault, and that nothing of it is left on the host. Prints one line per
# session and, per fault kind, the time from the fault to the record's line about it (noticed)
# and to the range running again (recovered), in wall seconds.
#
# Faults: kill (docker kill of a company container), crash (labd crashes in one, on request),
# network (a lab network disconnected and removed), daemon (dockerd stopped for 5 s and started
# again; needs root and a local dockerd with /var/run/docker.pid).
#
# Usage: scripts/soak.sh [-b path/to/bulkhead] [-n sessions] [-f kind,kind,...] [-s seed]
# With -f, the kinds are used in turn; otherwise each session draws one (seeded by -s).
# Exit 0 when every session passed, 1 otherwise. Needs Docker and a built bulkhead.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/release/bulkhead
sessions=30
kinds=""
seed=1
while getopts "b:n:f:s:" opt; do
  case $opt in
    b) bin=$OPTARG ;;
    n) sessions=$OPTARG ;;
    f) kinds=$OPTARG ;;
    s) seed=$OPTARG ;;
    *) exit 2 ;;
  esac
done
[ -x "$bin" ] || { echo "soak: no bulkhead at $bin (build it, or give -b)" >&2; exit 2; }
all_kinds=(kill crash network)
if [ "$(id -u)" = 0 ] && [ -r /var/run/docker.pid ]; then all_kinds+=(daemon); fi
IFS=, read -r -a chosen <<< "$kinds"
RANDOM=$seed
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}'; }
lab_objects() {
  echo $(($(docker ps -aq --filter label=bulkhead.session | wc -l) +
    $(docker network ls -q --filter label=bulkhead.session | wc -l)))
}
# The one lab running now: its session id (this script runs one session at a time).
lab_session() {
  docker ps --filter label=bulkhead.session --format '{{.Label "bulkhead.session"}}' | head -1
}
# Names are <session>-<service> and <session>-<zone> (labs/src/lab_up.rs).
container_of() { echo "$1-$2"; }
# Wait (up to $2 s) until the record $1 has a line matching $3; prints the wait, or "-".
wait_line() {
  local start deadline
  start=$(now)
  deadline=$(( $(date +%s) + $2 ))
  while [ "$(date +%s)" -le "$deadline" ]; do
    grep -q -- "$3" "$1" 2>/dev/null && { since "$start"; return; }
    sleep 0.05
  done
  echo "-"
}
restart_daemon() {
  local pid cmd
  pid=$(cat /var/run/docker.pid)
  cmd=$(tr '\0' ' ' < "/proc/$pid/cmdline")
  kill -TERM "$pid"
  while [ -e "/proc/$pid" ]; do sleep 0.05; done
  sleep 5
  # shellcheck disable=SC2086
  setsid $cmd > "$work/dockerd.log" 2>&1 < /dev/null &
  until docker info > /dev/null 2>&1; do sleep 0.1; done
}

failed=0
printf '%-3s %-8s %-5s %-9s %-10s %-6s %s\n' "#" fault exit noticed recovered named leftovers
for i in $(seq 1 "$sessions"); do
  if [ ${#chosen[@]} -gt 0 ] && [ -n "${chosen[0]}" ]; then
    kind=${chosen[$(( (i - 1) % ${#chosen[@]} ))]}
  else
    kind=${all_kinds[$(( RANDOM % ${#all_kinds[@]} ))]}
  fi
  record="$work/$i.jsonl"
  "$bin" run stolen-credentials --backend docker --time-scale 20 --seed "$i" \
    --record "$record" > "$work/$i.out" 2> "$work/$i.err" &
  run=$!
  # Into the live phase (2 min of warm-up: 6 s here), then a random moment of its first minute.
  wait_line "$record" 120 '"phase":"live"' > /dev/null
  sleep "$(awk -v r=$RANDOM 'BEGIN{printf "%.1f", r % 30 / 10}')"
  session=$(lab_session)
  service=$( [ $((RANDOM % 2)) = 0 ] && echo web || echo gateway )
  noticed="-" recovered="-"
  case $kind in
    kill)
      docker kill "$(container_of "$session" "$service")" > /dev/null
      noticed=$(wait_line "$record" 30 "\"service\":\"$service\",\"state\":\"Restored\"")
      recovered=$noticed ;;
    crash)
      docker exec "$(container_of "$session" "$service")" /labd ctl /crash '{}' > /dev/null 2>&1 || true
      noticed=$(wait_line "$record" 30 "\"service\":\"$service\",\"state\":\"Restored\"")
      recovered=$noticed ;;
    network)
      net="$session-data"
      for c in $(docker network inspect -f '{{range $id, $_ := .Containers}}{{$id}} {{end}}' "$net"); do
        docker network disconnect -f "$net" "$c"
      done
      docker network rm "$net" > /dev/null
      noticed=$(wait_line "$record" 30 '"kind":"network_restored"')
      recovered=$noticed ;;
    daemon)
      restart_daemon &
      restarting=$!
      noticed=$(wait_line "$record" 30 '"kind":"held"')
      back=$(wait_line "$record" 60 '"kind":"resumed"')
      recovered=$(awk -v a="$noticed" -v b="$back" 'BEGIN{ if (a == "-" || b == "-") print "-"; else printf "%.2f", a + b }')
      wait "$restarting" ;;
  esac
  status=0
  wait "$run" || status=$?
  named=$("$bin" report "$record" --json 2> /dev/null | grep -c '"faults":\[{' || true)
  left=$(lab_objects)
  printf '%-3s %-8s %-5s %-9s %-10s %-6s %s\n' "$i" "$kind" "$status" "$noticed" "$recovered" "$named" "$left"
  echo "$kind $noticed $recovered" >> "$work/figures"
  if [ "$status" != 0 ] || [ "$noticed" = "-" ] || [ "$named" != 1 ] || [ "$left" != 0 ] ||
    grep -q "panicked" "$work/$i.err"; then
    failed=$((failed + 1))
    echo "   session $i failed; its stderr:" >&2
    tail -20 "$work/$i.err" >&2
  fi
done

echo
echo "per fault: sessions, noticed mean/max s, recovered mean/max s"
awk '$2 != "-" && $3 != "-" {
  n[$1]++; ns[$1] += $2; rs[$1] += $3
  if ($2 > nm[$1]) nm[$1] = $2
  if ($3 > rm[$1]) rm[$1] = $3
} END {
  for (k in n) printf "  %-8s %3d  %.2f / %.2f  %.2f / %.2f\n", k, n[k], ns[k]/n[k], nm[k], rs[k]/n[k], rm[k]
}' "$work/figures"
echo "failed sessions: $failed of $sessions; leftovers now: $(lab_objects)"
[ "$failed" = 0 ]
