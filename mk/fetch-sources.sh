#!/bin/sh
# fetch-sources.sh: fetch Debian source packages (default lwIP 2.1.3 and musl 1.2.3) into DIR/PKG.
# A fresh Debian 12 has no deb-src entry, so we add our own (bookworm, main).
#   fetch-sources.sh DIR [PKG VERSION-PREFIX]...   (mk/sysroot-lib.sh, tests: hello, zlib, libevent, memcached, nginx)
set -eu
DIR=${1:?usage: fetch-sources.sh DIR [PKG VERSION-PREFIX]...}
shift
[ $# -gt 0 ] || set -- lwip 2.1.3 musl 1.2.3
LIST=/etc/apt/sources.list.d/capsule-src.sources
want() { [ -f "$DIR/$1/.fetched" ]; }
all=1 odd=1
for a do   # every package (odd argument) fetched already: nothing to do, no root needed
	[ -n "$odd" ] && ! want "$a" && all=
	odd=$([ -n "$odd" ] || echo 1)
done
[ -n "$all" ] && exit 0
if [ ! -f "$LIST" ]; then
	[ "$(id -u)" = 0 ] || { echo "fetch-sources: need root to add $LIST" >&2; exit 1; }
	cat > "$LIST" <<'EOS'
# added by mk/fetch-sources.sh (the capsule runtime's build); make distclean removes it
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOS
	apt-get update -qq
fi
mkdir -p "$DIR"
fetch() { # fetch PKG VERSION-PREFIX
	pkg=$1 ver=$2
	want "$pkg" && return 0
	tmp=$(mktemp -d "$DIR/.fetch-$pkg.XXXXXX")
	( cd "$tmp" && apt-get source -qq --download-only "$pkg" >/dev/null 2>&1 ) || {
		apt-get update -qq
		( cd "$tmp" && apt-get source -qq --download-only "$pkg" >/dev/null )
	}
	dsc=$(ls "$tmp"/"${pkg}"_*.dsc)
	case "$dsc" in *"_${ver}"*) ;; *) echo "fetch-sources: $dsc is not $pkg $ver" >&2; exit 1;; esac
	dpkg-source --no-check -x "$dsc" "$tmp/src" >/dev/null
	rm -rf "${DIR:?}/$pkg"
	mv "$tmp/src" "$DIR/$pkg"
	rm -rf "$tmp"
	touch "$DIR/$pkg/.fetched"
	echo "fetch-sources: $pkg $ver -> $DIR/$pkg"
}
while [ $# -ge 2 ]; do
	fetch "$1" "$2"
	shift 2
done
