#!/usr/bin/env bash
# Compare Cloakroom with Centrifugo under the same load, the way
# docs/PERFORMANCE.md describes: each scenario runs Cloakroom and Centrifugo
# in turn (ABAB…), a fresh server process per run pinned to CPU 1, the load
# tool (cmd/cloakload) pinned to CPU 0. Every run's JSON line goes to a
# results file; a table per scenario follows (median [range] per server,
# ratio of the medians).
#
#   loadtest/compare.sh [-quick] [-reps N] [-out FILE] [-cloakroom BIN] [SCENARIO...]
#
#   -quick          one rep of short runs, to check that everything works
#   -reps N         runs per server and scenario (default 3)
#   -out F          the results file (default: under the cache directory)
#   -cloakroom BIN  measure this Cloakroom binary (another build, an older
#                   commit) instead of building the working tree
#   SCENARIO names from `go run ./cmd/cloakload -h` (default: all)
#
# Centrifugo is built once with `go install` into the cache directory,
# ${CLOAKLOAD_CACHE:-${XDG_CACHE_HOME:-~/.cache}/cloakroom-load}; if it cannot
# be built, its runs are skipped and only Cloakroom's figures appear.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CENTRIFUGO_VERSION=v6.9.1
CACHE=${CLOAKLOAD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cloakroom-load}
ALL=(fanout100 fanout200 rooms big big-frozen idle1k idle5k posts
	stuck-300 stuck-4k stuck-16k stuck-300-defrcv stuck-4k-defrcv stuck-16k-defrcv)

reps=3 quick=0 out="" cloakroom_bin=""
scenarios=()
while [ $# -gt 0 ]; do
	case $1 in
	-quick) quick=1 reps=1 ;;
	-reps) reps=${2:?-reps needs a number}; shift ;;
	-out) out=${2:?-out needs a file}; shift ;;
	-cloakroom) cloakroom_bin=${2:?-cloakroom needs a binary}; shift ;;
	-h | -help | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	-*) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
	*) scenarios+=("$1") ;;
	esac
	shift
done
[ ${#scenarios[@]} -gt 0 ] || scenarios=("${ALL[@]}")

say() { printf '%s\n' "$*" | tee -a "$log" >&2; }

# The server gets CPU 1 and the tool CPU 0, so neither steals the other's
# time; on a machine with one CPU both share it (and the figures say less).
if [ "$(nproc --all)" -ge 2 ] && command -v taskset >/dev/null; then
	pin_server=(taskset -c 1) pin_tool=(taskset -c 0)
else
	pin_server=() pin_tool=()
	echo "compare.sh: fewer than 2 CPUs or no taskset: the server and the tool are not pinned" >&2
fi

mkdir -p "$CACHE/results"
work=$(mktemp -d)
server_pid=""
cleanup() {
	if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
results=${out:-$CACHE/results/compare-$(date -u +%Y%m%dT%H%M%SZ).jsonl}
log=${results%.jsonl}.log
: >>"$results"

if [ -n "$cloakroom_bin" ]; then
	say "measuring Cloakroom $cloakroom_bin; building cloakload from $ROOT"
	cp "$cloakroom_bin" "$work/cloakroom"
	(cd "$ROOT" && go build -o "$work/cloakload" ./cmd/cloakload)
else
	say "building Cloakroom and cloakload from $ROOT ($(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo "not a git tree"))"
	(cd "$ROOT" && go build -o "$work/cloakroom" . && go build -o "$work/cloakload" ./cmd/cloakload)
fi

centrifugo=$CACHE/centrifugo-$CENTRIFUGO_VERSION/centrifugo
if [ ! -x "$centrifugo" ]; then
	say "building Centrifugo $CENTRIFUGO_VERSION into $CACHE (once; a few minutes)"
	# As its release builds: no cgo, the version stamped in.
	if ! (cd "$CACHE" && CGO_ENABLED=0 GOBIN="$CACHE/centrifugo-$CENTRIFUGO_VERSION" go install \
		-ldflags "-X github.com/centrifugal/centrifugo/v6/internal/build.Version=${CENTRIFUGO_VERSION#v}" \
		"github.com/centrifugal/centrifugo/v6@$CENTRIFUGO_VERSION"); then
		centrifugo=""
		say "Centrifugo $CENTRIFUGO_VERSION could not be built: its runs are skipped"
	fi
fi
servers=(cloakroom)
[ -z "$centrifugo" ] || servers+=(centrifugo)

say "results: $results"
say "machine: $(nproc --all) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), Linux $(uname -r), $(go version | cut -d' ' -f3)"
say "scenarios: ${scenarios[*]}; $reps rep(s); servers: ${servers[*]}"

# start_server NAME starts a fresh server; sets server_pid, url and args.
start_server() {
	: >"$work/server.log"
	case $1 in
	cloakroom)
		# Every per-client limit off: all the load comes from one address.
		# Through the environment, which a build older than the limits
		# (-cloakroom BIN) ignores, where it would refuse the flags.
		CLOAKROOM_CLIENT_STREAMS=0 CLOAKROOM_CLIENT_JOINS=0 \
			CLOAKROOM_MEMBER_POST_RATE=0 CLOAKROOM_CLIENT_POST_RATE=0 \
			"${pin_server[@]}" "$work/cloakroom" --addr 127.0.0.1:0 --log-level warn >"$work/server.log" 2>&1 &
		server_pid=$!
		url=""
		for _ in $(seq 100); do
			url=$(sed -n 's/^Cloakroom is listening on //p' "$work/server.log")
			[ -z "$url" ] || break
			sleep 0.1
		done
		args=()
		;;
	centrifugo)
		local port key
		port=$("$work/cloakload" -free-port)
		key=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
		sed -e "s/@PORT@/$port/" -e "s/@API_KEY@/$key/" "$ROOT/loadtest/centrifugo.yaml" >"$work/centrifugo.yaml"
		"${pin_server[@]}" "$centrifugo" -c "$work/centrifugo.yaml" >"$work/server.log" 2>&1 &
		server_pid=$!
		url=""
		for _ in $(seq 100); do
			if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
				url=http://127.0.0.1:$port
				break
			fi
			sleep 0.1
		done
		args=(-api-key "$key")
		;;
	esac
	if [ -z "$url" ]; then
		say "$1 did not start:"
		cat "$work/server.log" >&2
		return 1
	fi
}

stop_server() {
	kill -TERM "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=""
}

for scenario in "${scenarios[@]}"; do
	flags=()
	if [ "$quick" = 1 ]; then
		case $scenario in
		stuck-*) flags=(-warmup 1s -duration 15s) ;;
		*) flags=(-warmup 1s -duration 5s -drain 5s -settle 2s) ;;
		esac
	fi
	for rep in $(seq "$reps"); do
		for server in "${servers[@]}"; do
			say "== $scenario rep $rep/$reps $server; $(uptime)"
			start_server "$server" || { stop_server; continue; }
			"${pin_tool[@]}" "$work/cloakload" -target "$server" -url "$url" "${args[@]}" \
				-scenario "$scenario" -server-pid "$server_pid" -json "${flags[@]}" \
				>>"$results" 2> >(tee -a "$log" >&2) || say "   (the run failed; its line records why)"
			stop_server
			if grep -q -i -E 'panic|fatal' "$work/server.log"; then
				say "   $server's log:"
				tee -a "$log" <"$work/server.log" >&2
			fi
		done
	done
done

"$work/cloakload" -summarize "$results" | tee -a "$log"
say "results: $results; log: $log"
