#!/usr/bin/env bash
# Make this machine's Docker engine a one-node swarm fit for labs, and put it back.
#
#   scripts/one-node-swarm.sh up     no-new-privileges on (daemon option), then `swarm init`
#   scripts/one-node-swarm.sh down   leave the swarm and restore the daemon as it was
#
# Labs on Swarm need the daemon's no-new-privileges option: services cannot ask for it on API
# 1.41, and labd refuses to run without it. `up` keeps the daemon's configuration as it found
# it (in daemon.json.bulkhead-saved) and `down` puts it back, restarting dockerd each time, so
# run `down` even when what ran in between failed (CI does, from a trap). Needs root.
set -euo pipefail

config=/etc/docker/daemon.json
saved=/etc/docker/daemon.json.bulkhead-saved
log=/var/log/dockerd-bulkhead.log

restart_dockerd() {
	local pid
	pid=$(cat /var/run/docker.pid 2>/dev/null || pidof dockerd || true)
	if [ -n "$pid" ]; then
		kill -TERM "$pid"
		for _ in $(seq 1 150); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
	fi
	if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
		systemctl start docker
	else
		setsid /usr/sbin/dockerd >>"$log" 2>&1 </dev/null &
	fi
	for _ in $(seq 1 150); do
		docker info >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	echo "dockerd did not come back; see $log" >&2
	return 1
}

case "${1:-}" in
up)
	if [ ! -e "$saved" ]; then
		if [ -e "$config" ]; then cp -p "$config" "$saved"; else echo '{}' >"$saved.absent"; echo '{}' >"$saved"; fi
	fi
	python3 - "$saved" "$config" <<'EOF'
import json, sys
with open(sys.argv[1]) as f:
    settings = json.load(f)
settings["no-new-privileges"] = True
with open(sys.argv[2], "w") as f:
    json.dump(settings, f)
EOF
	restart_dockerd
	if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
		docker swarm init --advertise-addr 127.0.0.1 >/dev/null
	fi
	echo "one-node swarm up: $(docker info --format '{{.Swarm.NodeID}}'), no-new-privileges on"
	;;
down)
	docker swarm leave --force >/dev/null 2>&1 || true
	docker network rm docker_gwbridge >/dev/null 2>&1 || true
	if [ -e "$saved" ]; then
		if [ -e "$saved.absent" ]; then rm -f "$config" "$saved.absent"; else cp -p "$saved" "$config"; fi
		rm -f "$saved"
		restart_dockerd
	fi
	echo "swarm left, daemon restored"
	;;
*)
	echo "usage: $0 up|down" >&2
	exit 2
	;;
esac
