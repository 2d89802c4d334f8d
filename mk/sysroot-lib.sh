#!/bin/sh
# sysroot-lib.sh: build a C library from its Debian 12 source package with capcc, statically, into the capsule sysroot.
#
#   sh mk/sysroot-lib.sh zlib|libevent     (after make; root the first time, see mk/fetch-sources.sh)
#
# Then `capcc app.c -lz` / `-levent` link it.  A library is built once per
# version and recipe: build/sysroot/lib/.sysroot-lib-NAME-VERSION[-rN] says it is there.
# Libraries are configured as a cross build (--host): their configure needs
# nothing from the host, not even the binfmt handler (docs/RUNNING.md).
set -eu
cd "$(dirname "$0")/.."
NAME=${1:?usage: sysroot-lib.sh zlib|libevent}
BUILD=$(pwd)/build
SYSROOT=$BUILD/sysroot
CAPCC=$BUILD/bin/capcc
case $NAME in
zlib)     VERSION=1.2.13 ;;
libevent) VERSION=2.1.12-r2 ;;   # -rN: the recipe changed (r2: with eventfd and timerfd)
*) echo "sysroot-lib: $NAME: no recipe (known: zlib libevent)" >&2; exit 2 ;;
esac
STAMP=$SYSROOT/lib/.sysroot-lib-$NAME-$VERSION
if [ -f "$STAMP" ]; then
	exit 0
fi
if [ ! -x "$CAPCC" ] || [ ! -f "$SYSROOT/lib/libcaprt.a" ]; then
	echo "sysroot-lib: $CAPCC or the runtime is missing: run make first" >&2
	exit 1
fi
sh mk/fetch-sources.sh "$BUILD/src" "$NAME" "${VERSION%-r*}"
WORK=$BUILD/sysroot-lib/$NAME
rm -rf "$WORK"
mkdir -p "$BUILD/sysroot-lib"
cp -a "$BUILD/src/$NAME" "$WORK"
cd "$WORK"
LOG=$WORK/build.log
jobs=$(nproc)
fail() { echo "sysroot-lib: building $NAME failed; see $LOG" >&2; tail -20 "$LOG" >&2; exit 1; }
case $NAME in
zlib)
	# zlib's own configure script (not autoconf): CC from the environment.
	{ CC=$CAPCC CFLAGS="-O2 -g" ./configure --static --prefix="$SYSROOT" &&
	  make -j"$jobs" libz.a; } >"$LOG" 2>&1 || fail
	cp libz.a "$SYSROOT/lib/libz.a.tmp" && mv "$SYSROOT/lib/libz.a.tmp" "$SYSROOT/lib/libz.a"
	cp zlib.h zconf.h "$SYSROOT/include/"
	;;
libevent)
	# Debian's patches touched Makefile.am: make the generated files newer again, or make
	# would want automake (which the package's release tarball exists to spare us).
	find . -exec touch -h -d '2020-01-01 00:00' {} +
	touch -d '2020-01-01 00:01' aclocal.m4
	touch -d '2020-01-01 00:02' configure config.h.in
	find . -name Makefile.in -exec touch -d '2020-01-01 00:03' {} +
	# configure finds eventfd and timerfd in musl, and libevent uses them at run time (an
	# eventfd to wake its loop, a timerfd for epoll's timeouts): the runtime serves both.
	# --build as well as --host: with --host alone autoconf only guesses it is a cross build
	# and tries a test program, which a binfmt entry for capsules (test_capcc registers one
	# while hello configures, beside this build) would run: then every AC_RUN test starts a
	# capsule, and the build takes many minutes.
	{ ./configure CC="$CAPCC" --build="$(gcc -dumpmachine)" --host=x86_64-linux-musl \
		--prefix="$SYSROOT" \
		--disable-shared --enable-static --disable-openssl \
		--disable-samples --disable-libevent-regress --disable-debug-mode &&
	  make -j"$jobs" && make install; } >"$LOG" 2>&1 || fail
	;;
esac
rm -f "$SYSROOT/lib/.sysroot-lib-$NAME-"*   # an older recipe's stamp
touch "$STAMP"
echo "sysroot-lib: $NAME $VERSION -> $SYSROOT"
