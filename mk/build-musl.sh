#!/bin/sh
# build-musl.sh: build musl 1.2.3 with the capsule's syscall overlay into a sysroot.
# usage: build-musl.sh SRC OVERLAY SYSROOT
# The overlay (runtime/musl-arch) replaces every file that executes a raw
# `syscall` instruction, so libc's system calls land in the capsule runtime.
set -eu
SRC=$1 OVERLAY=$2 SYSROOT=$3
WORK=$(dirname "$SYSROOT")/musl-build
rm -rf "$WORK"
cp -a "$SRC" "$WORK"
cp "$OVERLAY/syscall_arch.h"      "$WORK/arch/x86_64/syscall_arch.h"
cp "$OVERLAY/__set_thread_area.s" "$WORK/src/thread/x86_64/__set_thread_area.s"
cp "$OVERLAY/__unmapself.s"       "$WORK/src/thread/x86_64/__unmapself.s"
cp "$OVERLAY/clone.s"             "$WORK/src/thread/x86_64/clone.s"
cp "$OVERLAY/syscall_cp.s"        "$WORK/src/thread/x86_64/syscall_cp.s"
cp "$OVERLAY/vfork.s"             "$WORK/src/process/x86_64/vfork.s"
cp "$OVERLAY/restore.s"           "$WORK/src/signal/x86_64/restore.s"
SYSROOT_ABS=$(mkdir -p "$SYSROOT" && cd "$SYSROOT" && pwd)
cd "$WORK"
./configure --prefix="$SYSROOT_ABS" --disable-shared CC=gcc \
	CFLAGS="-O2 -g" >/dev/null
make -j"$(nproc)" >/dev/null
make install >/dev/null
raw=$(objdump -d "$SYSROOT_ABS/lib/libc.a" | grep -cP '\tsyscall\s*$' || true)
echo "build-musl: libc.a built; raw syscall instructions left: $raw"
