#!/usr/bin/env bash
# Measure Cloakroom on several nodes sharing one NATS JetStream server, the
# way docs/PERFORMANCE.md ("Several nodes (NATS JetStream)") reports it.
# Each run starts a fresh nats-server (-js, memory storage unless -storage
# file) and fresh nodes on free loopback ports, all sharing one master key,
# runs cmd/cloakload against them and stops everything (also on ^C or an
# error). Every run's JSON line goes to a results file, printed on stdout
# as well; a table per measurement follows (median [range]).
#
#   loadtest/nodes.sh [-quick] [-reps N] [-out FILE] [-storage memory|file] [-no-pin] [STEP...]
#
#   -quick      one rep of short runs, to check that everything works
#   -reps N     runs of each step (default 3)
#   -out F      the results file (default: under the cache directory)
#   -storage S  the nodes' --nats-storage (default memory)
#   -no-pin     do not pin: by default every server process (NATS and the
#               nodes) shares CPU 1 and cloakload has CPU 0, as compare.sh
#               does, so adding nodes adds no CPU and the figures show
#               what sharing a room costs
#   STEP        any of (default: all, each rep in this order):
#     posts1 posts2 posts3  closed-loop posts into ONE room from 1, 2, 3
#                           nodes, 8 connections per node (503s and any
#                           cloakroom_nats_* counters are recorded)
#     rooms100              closed-loop posts over 100 rooms, 3 nodes, 24
#                           connections spread over them
#     cross                 1000 posts/s over 5 rooms posted on node 1, 10
#                           readers per room on nodes 2 and 3: latency from
#                           the scheduled send to receipt
#     resume                a room filled with 1000 messages on node 1;
#                           50 fresh readers, one after another, on nodes 2
#                           and 3 resume with Last-Event-ID = newest − 1000
#     memory                RSS of NATS and 3 nodes: idle, with 3000 idle
#                           streams (1000 per node), and after the other
#                           steps of the rep on the same cluster
#
# Needs Go (builds nats-server from the module pinned in go.mod, Cloakroom
# and cloakload from this tree) and, for pinning, taskset.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${CLOAKLOAD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cloakroom-load}
ALL=(posts1 posts2 posts3 rooms100 cross resume memory)

reps=3 quick=0 out="" storage=memory pin=1
steps=()
while [ $# -gt 0 ]; do
	case $1 in
	-quick) quick=1 reps=1 ;;
	-reps) reps=${2:?-reps needs a number}; shift ;;
	-out) out=${2:?-out needs a file}; shift ;;
	-storage) storage=${2:?-storage needs memory or file}; shift ;;
	-no-pin) pin=0 ;;
	-h | -help | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	-*) echo "nodes.sh: unknown option $1" >&2; exit 2 ;;
	*) steps+=("$1") ;;
	esac
	shift
done
[ ${#steps[@]} -gt 0 ] || steps=("${ALL[@]}")

if [ "$pin" = 1 ] && [ "$(nproc --all)" -ge 2 ] && command -v taskset >/dev/null; then
	pin_server=(taskset -c 1) pin_tool=(taskset -c 0)
else
	pin_server=() pin_tool=()
	[ "$pin" = 0 ] || echo "nodes.sh: fewer than 2 CPUs or no taskset: nothing is pinned" >&2
fi

mkdir -p "$CACHE/results"
work=$(mktemp -d)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
results=${out:-$CACHE/results/nodes-$(date -u +%Y%m%dT%H%M%SZ).jsonl}
log=${results%.jsonl}.log
: >>"$results"
say() { printf '%s\n' "$*" | tee -a "$log" >&2; }

say "building nats-server (the module's pinned version), Cloakroom and cloakload from $ROOT ($(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo "not a git tree"))"
(cd "$ROOT" && go build -o "$work/nats-server" github.com/nats-io/nats-server/v2 &&
	go build -o "$work/cloakroom" . && go build -o "$work/cloakload" ./cmd/cloakload)
"$work/cloakroom" keygen "$work/master.key" >/dev/null
say "results: $results"
say "machine: $(nproc --all) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), Linux $(uname -r), $(go version | cut -d' ' -f3), $("$work/nats-server" --version)"
say "steps: ${steps[*]}; $reps rep(s); storage $storage; pinned: $([ ${#pin_server[@]} -gt 0 ] && echo yes || echo no)"

# start_cluster N starts nats-server and N nodes; sets nats_pid, node_urls,
# metrics_urls and procs (name=pid,… for cloakload).
start_cluster() {
	local n=$1 port i url murl pid
	rm -rf "$work/js" && mkdir -p "$work/js"
	port=$("$work/cloakload" -free-port)
	"${pin_server[@]}" "$work/nats-server" -js -a 127.0.0.1 -p "$port" -sd "$work/js" >"$work/nats.log" 2>&1 &
	nats_pid=$!
	pids+=("$nats_pid")
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
		sleep 0.1
	done
	node_urls=() metrics_urls=() procs="nats=$nats_pid"
	for i in $(seq "$n"); do
		: >"$work/node$i.log"
		# Every per-client limit off: all the load comes from one address.
		CLOAKROOM_CLIENT_STREAMS=0 CLOAKROOM_CLIENT_JOINS=0 \
			CLOAKROOM_MEMBER_POST_RATE=0 CLOAKROOM_CLIENT_POST_RATE=0 \
			"${pin_server[@]}" "$work/cloakroom" --addr 127.0.0.1:0 --metrics-addr 127.0.0.1:0 \
			--nats "nats://127.0.0.1:$port" --nats-storage "$storage" --master-key-file "$work/master.key" \
			--node "n$i" --log-level warn >"$work/node$i.log" 2>&1 &
		pid=$!
		pids+=("$pid")
		url="" murl=""
		for _ in $(seq 100); do
			url=$(sed -n 's/^Cloakroom is listening on //p' "$work/node$i.log")
			murl=$(sed -n 's/^Metrics are served on //p' "$work/node$i.log")
			[ -z "$url" ] || [ -z "$murl" ] || break
			sleep 0.1
		done
		if [ -z "$url" ] || [ -z "$murl" ]; then
			say "node $i did not start:"
			cat "$work/node$i.log" >&2
			return 1
		fi
		node_urls+=("$url") metrics_urls+=("$murl")
		procs+=",n$i=$pid"
	done
}

stop_cluster() {
	# The nodes first, while NATS is still there for them to leave through.
	local p
	for p in "${pids[@]:1}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]:1}"; do wait "$p" 2>/dev/null || true; done
	say "   nodes stopped $(date +%T.%N | cut -c1-12)"
	kill -TERM "${pids[0]}" 2>/dev/null || true
	wait "${pids[0]}" 2>/dev/null || true
	pids=()
	if grep -q -i -E 'panic|fatal' "$work"/node*.log "$work/nats.log"; then
		say "   a process's log shows a panic or fatal error:"
		grep -i -E -A5 'panic|fatal' "$work"/node*.log "$work/nats.log" | tee -a "$log" >&2
	fi
}

join() { local IFS=,; echo "$*"; }

# load NAME ARGS… runs cloakload once against the cluster, recorded as NAME.
load() {
	local name=$1
	shift
	say "== $name rep $rep/$reps; $(uptime)"
	"${pin_tool[@]}" "$work/cloakload" -name "$name" -url "${node_urls[0]}" -procs "$procs" \
		-metrics-urls "$(join "${metrics_urls[@]}")" -json "$@" \
		> >(tee -a "$results") 2> >(tee -a "$log" >&2) || say "   (the run failed; its line records why)"
}

if [ "$quick" = 1 ]; then
	window=(-warmup 1s -duration 4s) drain=(-drain 3s) tries=10 settle=1s
else
	window=(-warmup 3s -duration 10s) drain=(-drain 5s) tries=50 settle=3s
fi

for rep in $(seq "$reps"); do
	cluster3=0
	for step in "${steps[@]}"; do
		case $step in
		posts1 | posts2 | posts3)
			n=${step#posts}
			start_cluster "$n"
			load "posts-1room-${n}nodes" -scenario posts -rooms 1 -conns $((8 * n)) \
				-post-urls "$(join "${node_urls[@]}")" "${window[@]}"
			stop_cluster
			continue
			;;
		esac
		# The other steps share one 3-node cluster per rep, in order.
		if [ "$cluster3" = 0 ]; then
			start_cluster 3
			cluster3=1
			load "memory-idle-3nodes" -scenario memory
		fi
		case $step in
		rooms100)
			load "posts-100rooms-3nodes" -scenario posts100 -post-urls "$(join "${node_urls[@]}")" "${window[@]}"
			;;
		cross)
			load "cross-1000msgs-3nodes" -scenario cross -post-urls "${node_urls[0]}" \
				-read-urls "$(join "${node_urls[@]:1}")" "${window[@]}" "${drain[@]}"
			;;
		resume)
			load "resume-1000-3nodes" -scenario resume -tries "$tries" -post-urls "${node_urls[0]}" \
				-read-urls "$(join "${node_urls[@]:1}")"
			;;
		memory)
			load "memory-3000streams-3nodes" -scenario idle1k -readers 3000 -rooms 10 -settle "$settle" \
				-read-urls "$(join "${node_urls[@]}")"
			;;
		*) say "unknown step $step"; exit 2 ;;
		esac
	done
	if [ "$cluster3" = 1 ]; then
		load "memory-after-3nodes" -scenario memory
		stop_cluster
	fi
done

"$work/cloakload" -summarize "$results" | tee -a "$log" >&2
say "results: $results; log: $log"
