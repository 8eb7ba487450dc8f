#!/bin/sh
# Run by test_resolved.sh inside a new mount namespace (unshare --mount, private
# propagation): makes this simulated host's own /run/dbus, /run/systemd, user
# systemd-resolve and /etc/resolv.conf, so that a real systemd-resolved and dbus-daemon
# run here without touching the machine's. Never writes outside DIR and the tmpfs mounts.
# usage: host-setup.sh DIR UPSTREAM (the global DNS server, an address in the namespace)
set -eu
dir=$1
upstream=$2

mount -t tmpfs -o mode=0755 meshname-test /run/dbus
mount -t tmpfs -o mode=0755 meshname-test /run/systemd
mkdir -p /run/systemd/resolved.conf.d /run/systemd/netif/links

# systemd-resolved drops privileges to this user; dbus lets only it own resolve1. A uid
# and gid that the machine does not use, unless it has the user already.
cp /etc/passwd "$dir/passwd"
cp /etc/group "$dir/group"
if ! grep -q '^systemd-resolve:' /etc/passwd; then
	id=990
	while cut -d: -f3 /etc/passwd /etc/group | grep -qx "$id"; do id=$((id - 1)); done
	echo "systemd-resolve:x:$id:$id:systemd Resolver (meshname test):/:/usr/sbin/nologin" >>"$dir/passwd"
	grep -q '^systemd-resolve:' /etc/group || echo "systemd-resolve:x:$id:" >>"$dir/group"
fi
mount --bind "$dir/passwd" /etc/passwd
mount --bind "$dir/group" /etc/group

# glibc's stub resolver asks resolved, as on a host where resolved owns DNS.
echo 'nameserver 127.0.0.53' >"$dir/resolv.conf"
mount --bind "$dir/resolv.conf" /etc/resolv.conf

# The test's upstream as the global server; no compiled-in public fallback, nothing
# multicast, no cache: every query reaches a server the test watches.
cat >/run/systemd/resolved.conf.d/meshname-test.conf <<CONF
[Resolve]
DNS=$upstream
FallbackDNS=
LLMNR=no
MulticastDNS=no
DNSSEC=no
DNSOverTLS=no
Cache=no
DNSStubListener=yes
CONF
