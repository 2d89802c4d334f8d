#!/bin/sh
# build-program.sh: build a real program from its Debian 12 source package, unmodified, as a capsule (capcc) or natively (gcc).
#
#   sh mk/build-program.sh redis|busybox cap|native   (after make; root the first time, see mk/fetch-sources.sh)
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
busybox) VERSION=1.35.0 ;;
*) echo "build-program: $NAME: no recipe (known: redis, busybox)" >&2; exit 2 ;;
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
busybox)
	# Its own Kconfig, from allnoconfig: ash with the applets run as a multi-call program
	# (FEATURE_SH_STANDALONE: the shell execs /proc/self/exe for an applet) and the text
	# tools a pipeline uses.  The capsule's sysroot has no Linux kernel headers, which most
	# other applets want.  kbuild links its partial objects with LD (plain ld -r: capcc
	# makes only images); main lives in an archive (libbb), which capcc's --wrap=main
	# would leave unreferenced until the runtime's start: -u main pulls it in.
	applets="ASH SH_IS_ASH ASH_ECHO ASH_PRINTF ASH_TEST ASH_BASH_COMPAT FEATURE_SH_STANDALONE
	         FEATURE_PREFER_APPLETS BUSYBOX CAT ECHO TR WC SORT HEAD TAIL GREP SED SEQ UNIQ CUT
	         TEE REV EXPR PRINTF TRUE FALSE YES BASENAME TEST"
	( cd "$WORK" && make allnoconfig && for o in $applets; do
		sed -i "s/^# CONFIG_$o is not set\$/CONFIG_$o=y/" .config; done &&
	  yes "" | make oldconfig ) >"$LOG" 2>&1 || fail
	if [ "$KIND" = cap ]; then
		( cd "$WORK" && CAPCC_KEEP_ELF=1 make -j"$jobs" CC="$CC" HOSTCC=gcc LD=ld SKIP_STRIP=y \
			EXTRA_LDFLAGS="-Wl,-u,main" busybox &&
		  "$BUILD/bin/capctl" pack --name busybox busybox_unstripped.elf busybox &&
		  chmod 755 busybox ) >>"$LOG" 2>&1 || fail   # as capcc leaves an image: executable
	else
		( cd "$WORK" && make -j"$jobs" CC="$CC" HOSTCC=gcc SKIP_STRIP=y busybox ) >>"$LOG" 2>&1 || fail
	fi
	cp "$WORK/busybox" "$OUT/busybox.tmp" && mv "$OUT/busybox.tmp" "$OUT/busybox" ;;
esac
rm -rf "$WORK"
echo "build-program: $NAME $VERSION ($KIND) -> $OUT"
