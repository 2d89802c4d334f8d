#!/bin/sh
# build-caprun-libs.sh: caprun's libraries (libgpg-error, libgcrypt, libsodium) built with musl from their Debian 12 source packages.
#
#   build-caprun-libs.sh SRCDIR SYSROOT    (the Makefile: build/src build/caprun-sysroot)
#
# caprun is linked with musl (Debian's musl-gcc), not glibc (docs/STARTUP.md section 18),
# so the static archives it links must be built against musl too.  Each library is built
# with its own configure and flags, static only, position-independent (caprun is
# -static-pie).  SYSROOT/include also gets the kernel's headers and xxhash.h from the
# host (Debian's linux-libc-dev and libxxhash-dev; both are libc-neutral), by symbolic
# link: musl-gcc searches no glibc header directory.
set -eu
SRC=$1
mkdir -p "$2"
OUT=$(cd "$2" && pwd)
WORK=$OUT/work
sh mk/fetch-sources.sh "$SRC" libgpg-error 1.46 libgcrypt20 1.10.1 libsodium 1.0.18
command -v musl-gcc >/dev/null || { echo "build-caprun-libs: musl-gcc missing (Debian's musl-tools)" >&2; exit 1; }

rm -rf "$WORK" "$OUT/include" "$OUT/lib"
mkdir -p "$WORK" "$OUT/include"
for d in linux asm-generic; do ln -s "/usr/include/$d" "$OUT/include/$d"; done
ln -s "/usr/include/$(gcc -print-multiarch)/asm" "$OUT/include/asm"
ln -s /usr/include/xxhash.h "$OUT/include/xxhash.h"

export CC=musl-gcc CFLAGS="-O2 -g -fPIE" AR_FLAGS=cr   # libtool's default cru warns
# --build and --host differ only in the libc: configure then runs nothing it built.
CONF="--build=x86_64-pc-linux-gnu --host=x86_64-pc-linux-musl --prefix=$OUT --disable-shared --enable-static"
quiet() { # quiet CMD...: its output only if it fails (configure and libtool warn a lot)
	"$@" >"$WORK/log" 2>&1 || { tail -40 "$WORK/log" >&2; echo "build-caprun-libs: failed: $*" >&2; exit 1; }
}
build() { # build NAME: copy the fetched source (kept pristine) and enter it
	echo "build-caprun-libs: $1"
	cp -a "$SRC/$1" "$WORK/$1"
	cd "$WORK/$1"
}

(build libgpg-error
 quiet ./configure -q $CONF --disable-nls --disable-doc --disable-tests --disable-languages
 quiet make -s -j"$(nproc)"
 quiet make -s install)

# libgcrypt's library alone (its tests and documentation are not needed here).
(build libgcrypt20
 quiet ./configure -q $CONF --disable-doc --with-libgpg-error-prefix="$OUT"
 for d in compat mpi cipher random src; do quiet make -s -j"$(nproc)" -C $d; done
 quiet make -s -C src install)

# Debian's libsodium source has no configure script: its package runs autoreconf too.
(build libsodium
 quiet autoreconf -fi
 quiet ./configure -q $CONF
 quiet make -s -j"$(nproc)" -C src
 quiet make -s -C src install)

rm -rf "$WORK"
echo "build-caprun-libs: $(cd "$OUT/lib" && echo *.a) in $OUT"
