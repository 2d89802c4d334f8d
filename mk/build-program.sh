#!/bin/sh
# build-program.sh: build a real program from its Debian 12 source package, unmodified, as a capsule (capcc) or natively (gcc).
#
#   sh mk/build-program.sh redis cap|native      (after make; root the first time, see mk/fetch-sources.sh)
#
# The result goes to build/programs/KIND/ (redis-server, redis-cli, ...): a .cap image
# for KIND=cap, a plain executable for KIND=native (the baseline `make bench` compares
# against).  Each is built with the program's own build system and only the options
# any user would give it; build/programs/KIND/build.log keeps the build's output.
set -eu
cd "$(dirname "$0")/.."
NAME=${1:?usage: build-program.sh redis cap|native}
KIND=${2:?usage: build-program.sh redis cap|native}
BUILD=$(pwd)/build
case $NAME in
redis) VERSION=7.0.15 ;;
*) echo "build-program: $NAME: no recipe (known: redis)" >&2; exit 2 ;;
esac
case $KIND in
cap)
	CC=$BUILD/bin/capcc
	if [ ! -x "$CC" ] || [ ! -f "$BUILD/sysroot/lib/libcaprt.a" ]; then
		echo "build-program: $CC or the runtime is missing: run make first" >&2
		exit 1
	fi ;;
native) CC=gcc ;;
*) echo "build-program: $KIND: want cap or native" >&2; exit 2 ;;
esac
sh mk/fetch-sources.sh "$BUILD/src" "$NAME" "$VERSION"
OUT=$BUILD/programs/$KIND
WORK=$BUILD/programs/work/$NAME-$KIND
rm -rf "$WORK"
mkdir -p "$BUILD/programs/work" "$OUT"
cp -a "$BUILD/src/$NAME" "$WORK"
LOG=$OUT/$NAME-build.log
fail() { echo "build-program: building $NAME ($KIND) failed; see $LOG" >&2; tail -20 "$LOG" >&2; exit 1; }
jobs=$(nproc)
case $NAME in
redis)
	# Redis's own Makefile, with its bundled deps/ (Lua, hiredis, linenoise) as upstream
	# builds them.  MALLOC=libc: jemalloc is a separate autoconf build we do not need
	# (the same for both kinds, so the comparison is fair).  Debian's patches change
	# defaults in redis.conf, which we do not use.
	( cd "$WORK" && make -j"$jobs" CC="$CC" MALLOC=libc USE_SYSTEMD=no BUILD_TLS=no ) \
		>"$LOG" 2>&1 || fail
	for p in redis-server redis-cli redis-benchmark; do
		cp "$WORK/src/$p" "$OUT/$p.tmp" && mv "$OUT/$p.tmp" "$OUT/$p"
	done ;;
esac
rm -rf "$WORK"
echo "build-program: $NAME $VERSION ($KIND) -> $OUT"
