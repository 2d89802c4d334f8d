#!/bin/sh
# tests/demo.sh: `make demo`: an http capsule answers curl, an echo capsule answers nc, then both stop.
#
# The demo runs in a network namespace of its own (unshare -n): the capsules'
# TUN devices and routes exist only there, so nothing can leak onto a real
# network, and everything vanishes when the demo ends.
set -eu
cd "$(dirname "$0")/.."

if [ -z "${CAPDEMO_IN_NETNS:-}" ]; then
	exec env CAPDEMO_IN_NETNS=1 unshare -n sh "$0" "$@"
fi
ip link set lo up

CAPRUN=build/bin/caprun
IMAGES=build/images
tmp=$(mktemp -d "${TMPDIR:-/tmp}/capdemo.XXXXXX")
pids=""

# Stop one caprun we started: SIGTERM, then SIGKILL if it lingers.
stop_pid() {
	kill -TERM "$1" 2>/dev/null || return 0
	i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt 60 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

cleanup() {
	for p in $pids; do stop_pid "$p"; done
	pids=""
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n== %s\n' "$*"; }

# start_capsule NAME IP: run NAME.cap at IP; wait (up to 10 s) for caprun's "running" line.
start_capsule() {
	log=$tmp/$1.log
	"$CAPRUN" --ip "$2" --name "$1" "$IMAGES/$1.cap" >"$log" 2>&1 &
	pid=$!
	pids="$pids $pid"
	i=0
	until grep -q "running at" "$log"; do
		if ! kill -0 "$pid" 2>/dev/null || [ $i -ge 200 ]; then
			echo "demo: capsule $1 did not start; its output:" >&2
			sed 's/^/    /' "$log" >&2
			exit 1
		fi
		sleep 0.05
		i=$((i + 1))
	done
	sed 's/^/   | /' "$log"
}

say "Starting the http capsule: $IMAGES/http.cap (app + musl + runtime + lwIP in one image)"
start_capsule http 198.18.0.2

say "curl http://198.18.0.2/ three times: the count lives in the capsule's own memory"
for _ in 1 2 3; do
	printf '   $ curl http://198.18.0.2/  ->  '
	curl -sS --max-time 5 http://198.18.0.2/
done

say "The host kernel has no listening socket on port 80: the capsule's TCP lives in the capsule"
printf '   $ ss -ltn  ->  %s\n' "$(ss -H -ltn | wc -l) listening TCP sockets on the host"

say "Starting the echo capsule at a second address"
start_capsule echo 198.18.0.3

say "Talking to it with nc"
for msg in "hello, capsule" "every byte of my state lives in one memfd"; do
	printf '   > %s\n' "$msg"
	printf '%s\n' "$msg" | nc -N -w 5 198.18.0.3 7 | sed 's/^/   < /'
done

say "Stopping both capsules"
cleanup
echo "   done: no capsule, TUN device or route is left (they lived in this demo's namespace)"
