#!/bin/sh
# tests/bench/bench.sh: `make bench`: capsule vs. the same app built natively, then snapshot/resume, live-migration, through-caphostd, processes (fork, pipe) and 1,000-capsule memory figures, measured in one run.
#
# Runs inside a network namespace it creates (unshare -n), so the capsule's
# TUN device and the native baseline's loopback traffic stay private.
# Benchmarks never gate tests: this prints numbers, it asserts nothing.
set -eu
export PYTHONDONTWRITEBYTECODE=1
cd "$(dirname "$0")/../.."

native=build/bench/native
mkdir -p "$native"
# Baseline: the very same source, compiled by gcc for Linux (glibc, kernel TCP on loopback).
gcc -std=c11 -Wall -Wextra -Werror -O2 -o "$native/echo" images/echo/echo.c
gcc -std=c11 -Wall -Wextra -Werror -O2 -o "$native/bulk" images/bulk/bulk.c
# hostbench's client, the same source as the pingpong capsule.
gcc -std=c11 -Wall -Wextra -Werror -O2 -o "$native/pingpong" images/pingpong/pingpong.c
# procbench's baseline: the processes image's source (fork, wait, a pipe) for Linux.
gcc -std=c11 -Wall -Wextra -Werror -O2 -o "$native/procs" images/procs/procs.c

# The migration stream alone (256 MiB, memfd -> loopback TCP -> memfd) beside plain TCP.
echo
echo "migration stream, 256 MiB, medians of 5 rounds (tests/bench/streambench.c)"
unshare -n sh -c 'ip link set lo up && exec build/bench/streambench 256 5'

# Then snapshot / resume figures (tests/bench/snapbench.py), live migration between
# two hosts (tests/bench/migbench.py: its host namespaces and bridge inside this one), the
# directory over SQLite against over etcd (tests/bench/dirbench.py), Redis in a capsule
# against the same Redis built natively (tests/bench/redisbench.py), round trips and
# throughput through caphostd (tests/bench/hostbench.py: two hosts, a gateway, beside
# loopback and a plain veth pair), fork + exit + wait and a pipe between two processes
# of a capsule against the same program natively (tests/bench/procbench.py), a TCP connection
# a forked child serves against one pid 1 serves (tests/bench/relaybench.py), UDP round trips
# to a server in a forked child against one in pid 1 (tests/bench/udprelaybench.py), and host memory for MANY_CAPSULES idle echo capsules
# attached to one caphostd (tests/bench/manybench.py, default 1000).
exec unshare -n sh -c 'ip link set lo up && python3 -u tests/bench/bench.py "$@" &&
	python3 -u tests/bench/snapbench.py &&
	python3 -u tests/bench/migbench.py &&
	python3 -u tests/bench/dirbench.py &&
	python3 -u tests/bench/redisbench.py &&
	python3 -u tests/bench/hostbench.py &&
	python3 -u tests/bench/procbench.py --native build/bench/native/procs &&
	python3 -u tests/bench/relaybench.py &&
	python3 -u tests/bench/udprelaybench.py &&
	exec python3 -u tests/bench/manybench.py --count "${MANY_CAPSULES:-1000}"' sh --native "$native/echo" "$@"
