#!/bin/sh
# deps.sh: install the Debian packages the build, tests and demos need (idempotent; root).
set -eu
PKGS="build-essential dpkg-dev pkg-config musl-tools autoconf automake libtool libseccomp-dev libsodium-dev libxxhash-dev libgcrypt20-dev libcmocka-dev libbsd-dev
libsqlite3-dev sqlite3 clang libclang-rt-14-dev iproute2 nftables netcat-openbsd
curl iperf redis-tools python3 python3-xxhash xxhash procps psmisc kmod qemu-system-x86 busybox-static libmemcached-tools tshark wrk
libcurl4-openssl-dev libcjson-dev etcd-server etcd-client scdoc systemd openssl strace"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages:$missing (run as root, or install them)" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# tshark's wireshark-common asks whether non-root users may capture: no (we read files only)
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
