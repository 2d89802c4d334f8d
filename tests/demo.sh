#!/bin/sh
# tests/demo.sh: `make demo`: http and echo capsules serve curl and nc; a counter capsule goes to disk and comes back with its TCP connection.
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

# wait_file FILE WHAT: wait (up to 20 s) for FILE to appear.
wait_file() {
	i=0
	until [ -e "$1" ]; do
		if [ $i -ge 400 ]; then echo "demo: timed out waiting for $2" >&2; exit 1; fi
		sleep 0.05
		i=$((i + 1))
	done
}

say "Stopping both capsules"
for p in $pids; do stop_pid "$p"; done
pids=""

# --- Act 2: a capsule goes to disk and comes back with its TCP connection ---
export CAPSULE_RUN_DIR="$tmp/run"
say "Starting the counter capsule: each line it receives gets the next number of one count"
start_capsule counter 198.18.0.4

# One client, one TCP connection, kept open across the snapshot.
python3 - "$tmp" <<'PYEOF' &
import os, socket, sys, time
tmp = sys.argv[1]
s = socket.create_connection(("198.18.0.4", 9000), timeout=30)
f = s.makefile("rwb", buffering=0)
def ask(n):
    out = []
    for _ in range(n):
        f.write(b"next\n")
        out.append(f.readline().decode().strip())
    return " ".join(out)
port = s.getsockname()[1]
print("   client (local port %d) asks 3 times ->  %s" % (port, ask(3)), flush=True)
open(os.path.join(tmp, "phase1"), "w").close()
while not os.path.exists(os.path.join(tmp, "go")):
    time.sleep(0.02)
print("   the SAME client connection (local port %d) asks again ->  %s" % (port, ask(3)), flush=True)
PYEOF
client=$!
pids="$pids $client"
wait_file "$tmp/phase1" "the client's first answers"

say "Snapshot: freeze the capsule at its safe point and write it to disk (it stops)"
printf '   $ capctl snapshot counter -o counter.snap\n   '
build/bin/capctl snapshot counter -o "$tmp/counter.snap"
printf '   what the file holds (capctl inspect):\n'
build/bin/capctl inspect "$tmp/counter.snap" |
	grep -E "^  (capsule|frozen at|file) |^  [0-9]+ +(current|blocked) |LISTEN|ESTABLISHED|snd_una" |
	sed 's/^ */     /'

say "The capsule is now only a file; no process serves 198.18.0.4. Wait 2 s, then resume it"
sleep 2
printf '   $ caprun counter.snap\n'
log=$tmp/counter-resumed.log
build/bin/caprun "$tmp/counter.snap" >"$log" 2>&1 &
pids="$pids $!"
i=0
until grep -q "running at" "$log"; do
	if [ $i -ge 200 ]; then echo "demo: resume failed:" >&2; sed 's/^/    /' "$log" >&2; exit 1; fi
	sleep 0.05
	i=$((i + 1))
done
sed 's/^/   | /' "$log"
touch "$tmp/go"
wait "$client"

say "Stopping"
cleanup
echo "   done: no capsule, TUN device or route is left (they lived in this demo's namespace)"
