#!/usr/bin/env bash
# How many Docker labs one host holds: for each N given (default 1 5 10 20), start N headless
# sessions at once (stolen-credentials, idle defender, real time), wait until every lab is up
# and in its warm-up (benign traffic running), then read the whole host's CPU (from /proc/stat:
# dockerd, containerd, the shims, the labs and the bulkhead processes alike) and memory over a
# window, and stop them. Prints one line per N. With -l, it then measures alert latency on one
# more lab while the N run (the `latency` example: a login from a new source, the log path; a
# CPU hog, the metrics path), so the N at which a latency target breaks shows.
# Needs Docker and a built bulkhead (and the latency example for -l). -B swarm places the labs
# on Docker Swarm (a manager whose node takes labs: scripts/one-node-swarm.sh up).
# Usage: scripts/density.sh [-b path/to/bulkhead] [-B docker|swarm] [-w window_seconds]
#        [-l path/to/latency] [N...]
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/release/bulkhead
window=20
latency=""
backend=docker
while getopts "b:B:w:l:" opt; do
  case $opt in
    b) bin=$OPTARG ;;
    B) backend=$OPTARG ;;
    w) window=$OPTARG ;;
    l) latency=$OPTARG ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
counts=("$@")
[ ${#counts[@]} -eq 0 ] && counts=(1 5 10 20)
cores=$(nproc)

# Busy and total jiffies of the whole host.
cpu_now() { awk '/^cpu /{busy=$2+$3+$4+$7+$8; total=busy+$5+$6; print busy, total}' /proc/stat; }
used_mib() { awk '/MemTotal/{t=$2} /MemAvailable/{a=$2} END{printf "%.0f", (t-a)/1024}' /proc/meminfo; }

read -r b0 t0 < <(cpu_now); sleep 5; read -r b1 t1 < <(cpu_now)
idle_cores=$(awk -v b=$((b1-b0)) -v t=$((t1-t0)) -v c="$cores" 'BEGIN{printf "%.3f", b/t*c}')
base_mem=$(used_mib)
echo "host: $cores cores, $(($(awk '/MemTotal/{print $2}' /proc/meminfo)/1024)) MiB; idle $idle_cores cores, $base_mem MiB used"

# Sessions still running when this script stops early (a failed latency run, say) are ended,
# so their labs do not stay up and skew whatever runs next.
pids=()
trap '[ ${#pids[@]} -gt 0 ] && kill -TERM "${pids[@]}" 2>/dev/null; true' EXIT

for n in "${counts[@]}"; do
  dir=$(mktemp -d)
  pids=()
  for i in $(seq 1 "$n"); do
    "$bin" run stolen-credentials --backend "$backend" --defender idle --seed "$i" --json \
      >"$dir/$i.json" 2>"$dir/$i.err" &
    pids+=($!)
  done
  # Wait until N labs' containers all run (7 containers per lab here), or a session gave up.
  want=$((n * 7))
  started=$(date +%s.%N)
  failed=0
  for _ in $(seq 1 600); do
    running=$(docker ps -q --filter label=bulkhead.session | wc -l)
    [ "$running" -ge "$want" ] && break
    failed=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || failed=$((failed + 1)); done
    [ "$failed" -gt 0 ] && break
    sleep 0.5
  done
  if [ "$failed" -gt 0 ]; then
    echo "N=$n: $failed session(s) ended before their lab was up:" >&2
    cat "$dir"/*.err | grep -v '^$' | sort | uniq -c | head -5 >&2
  fi
  up_s=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}')
  sleep 5 # let readiness checks settle
  read -r b0 t0 < <(cpu_now); sleep "$window"; read -r b1 t1 < <(cpu_now)
  mem=$(used_mib)
  cores_used=$(awk -v b=$((b1-b0)) -v t=$((t1-t0)) -v c="$cores" 'BEGIN{printf "%.3f", b/t*c}')
  per_lab=$(awk -v u="$cores_used" -v i="$idle_cores" -v n="$n" 'BEGIN{printf "%.3f", (u-i)/n}')
  mem_lab=$(awk -v m="$mem" -v b="$base_mem" -v n="$n" 'BEGIN{printf "%.0f", (m-b)/n}')
  echo "N=$n: $running containers up after ${up_s}s; host CPU $cores_used cores ($per_lab per lab above idle); memory $mem_lab MiB per lab"
  if [ -n "$latency" ]; then
    swarm_flag=""
    [ "$backend" = swarm ] && swarm_flag=--swarm
    "$latency" --runs 5 $swarm_flag 2>/dev/null | sed "s/^/N=$n: /"
  fi
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  rm -rf "$dir"
  sleep 3
done
