#!/bin/bash
# tests/kernel/fetch.sh [CACHE]: makes sure Debian's kernel package (the one
# linux-image-amd64 depends on now) is in CACHE (default build/kernel/cache), downloaded
# with `apt-get download`: never installed, only unpacked later by tests/kernel/build.sh.
# Prints the .deb's path. Any linux-image-6.1.*-amd64 .deb already there is reused.
set -euo pipefail
cd "$(dirname "$0")/../.."
cache=${1:-build/kernel/cache} # one copy for every BUILD (build, build/san)
mkdir -p "$cache"

deb=$(ls "$cache"/linux-image-6.1.*-amd64_*_amd64.deb 2>/dev/null | sort -V | tail -n 1 || true)
if [ -n "$deb" ]; then
	echo "$deb"
	exit 0
fi
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
	sed -n 's/^ *Depends: \(linux-image-6\.1\.[^ ]*-amd64\)$/\1/p' | head -n 1)
if [ -z "$pkg" ]; then
	echo "fetch.sh: apt-cache knows no linux-image-6.1.*-amd64 (run apt-get update)" >&2
	exit 1
fi
# apt-get download writes into the current directory; _apt cannot write into a root-owned
# one, so the download runs unsandboxed there (apt says so on stderr; harmless).
(cd "$cache" && apt-get download -qq "$pkg" 2>&1 | grep -v 'unsandboxed' >&2) || true
deb=$(ls "$cache"/linux-image-6.1.*-amd64_*_amd64.deb 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$deb" ]; then
	echo "fetch.sh: apt-get download $pkg failed" >&2
	exit 1
fi
echo "$deb"
