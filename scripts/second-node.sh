#!/usr/bin/env bash
# Add a second Swarm node on this machine, for tests and for trying labs across nodes without a
# second machine, and take it away again.
#
#   scripts/second-node.sh up     a second Docker engine joins this machine's swarm as a worker
#   scripts/second-node.sh down   the second node leaves, and nothing of it is left
#
# The second node is a real, separate Docker engine (its own dockerd, containerd, data and
# iptables) in its own network namespace (`bh-node2`, 10.213.0.2, by a veth from 10.213.0.1)
# and hostname (`bh-node2`), with no-new-privileges on. Its lab bridges live in that namespace,
# so the server here cannot route to them, exactly as with a second machine: labs there are
# driven through the node's Docker API, whose socket is /run/bh-node2.sock. Pass it to the
# server with `--node unix:///run/bh-node2.sock`.
#
# Needs root and this machine's engine a swarm manager (scripts/one-node-swarm.sh up). A swarm
# that advertises 127.0.0.1 (as one-node-swarm.sh makes it) is made again advertising
# 10.213.0.1, which the second node can reach; a swarm with other nodes is left alone, and then
# it must already advertise an address the namespace reaches. Run `down` even when what ran in
# between failed (CI does, from a trap).
set -euo pipefail

netns=bh-node2
# Not `bh-…`: the host shield refuses new connections from interfaces named so (lab bridges).
host_if=bknode2-h
node_if=bknode2-n
host_addr=10.213.0.1
node_addr=10.213.0.2
sock=/run/bh-node2.sock
data=/var/lib/bh-node2
exec_root=/run/bh-node2
log=/var/log/dockerd-bh-node2.log
node2() { docker -H "unix://$sock" "$@"; }

up() {
	if [ "$(docker info --format '{{.Swarm.ControlAvailable}}')" != true ]; then
		echo "this engine is no swarm manager: run scripts/one-node-swarm.sh up first" >&2
		exit 2
	fi
	if ! ip netns list | grep -qw "$netns"; then
		ip netns add "$netns"
		ip link add "$host_if" type veth peer name "$node_if"
		ip link set "$node_if" netns "$netns"
		ip addr add "$host_addr/24" dev "$host_if"
		ip link set "$host_if" up
		ip netns exec "$netns" ip addr add "$node_addr/24" dev "$node_if"
		ip netns exec "$netns" ip link set "$node_if" up
		ip netns exec "$netns" ip link set lo up
	fi
	# The host shield, as on any node: lab bridges (`bh-*`) may not open connections to the
	# node's own services (its Swarm ports listen on every address). bulkhead adds this rule on
	# its own machine; on another node, its operator does.
	shield=(INPUT -i 'bh-+' -m conntrack --ctstate NEW -j REJECT)
	ip netns exec "$netns" iptables -C "${shield[@]}" 2>/dev/null ||
		ip netns exec "$netns" iptables -I "${shield[@]}"
	if [ "$(docker info --format '{{.Swarm.NodeAddr}}')" = 127.0.0.1 ]; then
		if [ "$(docker node ls -q | wc -l)" != 1 ]; then
			echo "the swarm advertises 127.0.0.1 and has other nodes: not remaking it" >&2
			exit 2
		fi
		docker swarm leave --force >/dev/null
		docker swarm init --advertise-addr "$host_addr" >/dev/null
	fi
	if ! node2 info >/dev/null 2>&1; then
		mkdir -p "$data" "$exec_root"
		echo '{"no-new-privileges": true}' >"$exec_root/daemon.json"
		# nsenter, not `ip netns exec`: that remounts /sys, hiding the cgroup mounts dockerd needs.
		nsenter --net="/run/netns/$netns" unshare --uts sh -c "hostname $netns && exec dockerd \
			--config-file $exec_root/daemon.json --data-root $data --exec-root $exec_root \
			--pidfile $exec_root/dockerd.pid -H unix://$sock --cgroup-parent $netns \
			--bridge none" >>"$log" 2>&1 </dev/null &
		for _ in $(seq 1 150); do
			node2 info >/dev/null 2>&1 && break
			sleep 0.2
		done
		node2 info >/dev/null 2>&1 || { echo "the second dockerd did not start; see $log" >&2; exit 1; }
	fi
	if [ "$(node2 info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
		node2 swarm join --token "$(docker swarm join-token -q worker)" \
			--advertise-addr "$node_addr" "$(docker info --format '{{.Swarm.NodeAddr}}'):2377" >/dev/null
	fi
	echo "second node up: $(node2 info --format '{{.Swarm.NodeID}}') at $node_addr; its engine: unix://$sock"
}

down() {
	local id pid
	id=$(node2 info --format '{{.Swarm.NodeID}}' 2>/dev/null || true)
	node2 swarm leave --force >/dev/null 2>&1 || true
	pid=$(cat "$exec_root/dockerd.pid" 2>/dev/null || true)
	if [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; then
		for _ in $(seq 1 150); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
	fi
	if [ -n "$id" ]; then docker node rm --force "$id" >/dev/null 2>&1 || true; fi
	ip link del "$host_if" 2>/dev/null || true
	ip netns del "$netns" 2>/dev/null || true
	rm -rf "$data" "$exec_root" "$sock"
	echo "second node gone"
}

case "${1:-}" in
up) up ;;
down) down ;;
*)
	echo "usage: $0 up|down" >&2
	exit 2
	;;
esac
