#!/bin/sh
# tests/bench/bench.sh: `make bench`: capsule vs. the same app built natively, then snapshot/resume and live-migration figures, measured in one run.
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

# The migration stream alone (256 MiB, memfd -> loopback TCP -> memfd) beside plain TCP.
echo
echo "migration stream, 256 MiB, medians of 5 rounds (tests/bench/streambench.c)"
unshare -n sh -c 'ip link set lo up && exec build/bench/streambench 256 5'

# Then snapshot / resume figures (tests/bench/snapbench.py), live migration between
# two hosts (tests/bench/migbench.py: its host namespaces and bridge inside this one), the
# directory over SQLite against over etcd (tests/bench/dirbench.py), and
# Redis in a capsule against the same Redis built natively (tests/bench/redisbench.py).
exec unshare -n sh -c 'ip link set lo up && python3 -u tests/bench/bench.py "$@" &&
	python3 -u tests/bench/snapbench.py &&
	python3 -u tests/bench/migbench.py &&
	python3 -u tests/bench/dirbench.py &&
	exec python3 -u tests/bench/redisbench.py' sh --native "$native/echo" "$@"
