#!/usr/bin/env bash
# The kernel WireGuard backend against a real kernel: this machine's kernel has no
# wireguard module, so Debian's kernel boots under qemu (TCG) with a busybox initramfs
# holding wireguard.ko and its dependencies (tests/kernel/build.sh, cached under
# $BUILD/kernel/). The registry (h1 admin, h2, h3) is made here with meshname
# init/add/join; h1 and h2 run meshnamed in the VM with `manage yes` and no userspace,
# and tests/kernel/vm-test.sh checks from inside: kind wireguard, peers as the registry
# says, ping through the tunnel, revoke, on-exit remove. Its PASS/FAIL console lines are
# this test's cases. Missing tools or kernel package: a failure, never a skip.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
MESHNAME=$PWD/$BUILD/meshname
MESHNAMED=$PWD/$BUILD/meshnamed
KDIR=$PWD/$BUILD/kernel
VM_TIMEOUT=${VM_TIMEOUT:-240} # seconds; a normal run takes well under 90
passed=0
failed=0
tmp=$(mktemp -d)
vm_pid=

cleanup() {
	if [ -n "$vm_pid" ]; then
		kill -TERM "$vm_pid" 2>/dev/null && wait "$vm_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1"; failed=$((failed + 1)); }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }
bail() {
	not_ok "$1"
	echo "$passed passed, $failed failed"
	exit 1
}
mn() { local h=$1; shift; "$MESHNAME" --state "$tmp/s$h" "$@"; }

for tool in qemu-system-x86_64 jq ip wg gzip dpkg-deb; do
	command -v "$tool" >/dev/null || bail "$tool is missing (tests/deps.sh test installs it)"
done
[ -x "$MESHNAMED" ] && [ -x "$MESHNAME" ] || bail "build meshname and meshnamed first (make)"
start=$(date +%s.%N)
tests/kernel/build.sh base || bail "the VM's kernel and base initramfs (tests/kernel/build.sh)"

# ---- the registry, made outside the VM ---------------------------------------------------
mn 1 init --name t --host h1 --ipv4 198.51.100.0/24 --ipv6 fd4d:6e00:1::/48 >/dev/null ||
	bail "meshname init"
for h in 2 3; do
	inv=$(mn 1 add h$h 2>/dev/null) || bail "meshname add h$h"
	mn $h join "$inv" >/dev/null || bail "meshname join h$h"
done
for h in 1 2 3; do
	mn $h endpoint add 192.0.2.$h:5182$h --kind lan --listen-port 5182$h >/dev/null ||
		bail "meshname endpoint add on h$h"
done
for h in 2 3; do
	mn $h export -o "$tmp/b$h" && mn 1 import "$tmp/b$h" >/dev/null || bail "bundle h$h -> h1"
done
mn 1 export -o "$tmp/b1" && mn 2 import "$tmp/b1" >/dev/null || bail "bundle h1 -> h2"
for h in 1 2 3; do
	v4[$h]=$(mn 1 show h$h --json | jq -r .ipv4)
	v6[$h]=$(mn 1 show h$h --json | jq -r .ipv6)
	pub[$h]=$(mn 1 show h$h --json | jq -r .wg_key)
done
check "h2 knows the three hosts" "[ \"\$(mn 2 ls --json | jq length)\" = 3 ]"

# ---- what goes into the VM -------------------------------------------------------------
root=$tmp/root
mkdir -p "$root/test" "$root/mesh"
# "KEY<TAB>V4/32 V6/128", sorted: what `wg show IF allowed-ips | sort` must print.
peer_lines() { for o in "$@"; do printf '%s\t%s/32 %s/128\n' "${pub[$o]}" "${v4[$o]}" "${v6[$o]}"; done | sort; }
peer_lines 2 3 >"$root/test/peers1"
peer_lines 1 3 >"$root/test/peers2"
peer_lines 2 >"$root/test/peers1.revoked"
peer_lines 1 >"$root/test/peers2.revoked"
for h in 1 2; do
	cp -a "$tmp/s$h" "$root/mesh/s$h"
	cat >"$root/mesh/conf$h" <<CONF
state /mesh/s$h
control /mesh/control$h.sock
listen 127.0.0.153:53
forward no
interface wgk$h
listen-port 5182$h
manage yes
on-exit remove
sync no # WireGuard alone here (and 51821 would be the LAN beacons' UDP port)
CONF
done
cat >"$root/test/env" <<ENV
MESHNAMED=/opt/meshname/meshnamed
MESHNAME=/opt/meshname/meshname
IP=$(command -v ip)
V4_1=${v4[1]}
V4_2=${v4[2]}
V6_1=${v6[1]}
V6_2=${v6[2]}
PUB1=${pub[1]}
PUB2=${pub[2]}
PUB3=${pub[3]}
PREFIX4=198.51.100.0/24
PREFIX6=fd4d:6e00:1::/48
ENV
cp tests/kernel/vm-test.sh "$root/test/run.sh"
# nl_check: the codec against the kernel with 1000 peers (linked with libwg as built).
${CC:-cc} -std=c11 -D_GNU_SOURCE -Iinclude -O1 ${SANITIZE:+-fsanitize=$SANITIZE} \
	-o "$root/test/nl_check" tests/kernel/nl_check.c "$BUILD/libwg.a" \
	$(pkg-config --cflags --libs libmnl libsodium) || bail "build tests/kernel/nl_check.c"
tests/kernel/build.sh add-bin "$root" "$MESHNAMED" "$MESHNAME" "$root/test/nl_check" ||
	bail "copy meshnamed into the VM"
# The binaries go to /opt/meshname in the VM: their path here may be under /tmp (a fresh
# clone in CI), which the VM's init covers with a tmpfs. Their libraries stay where ldd
# found them.
mkdir -p "$root/opt/meshname" &&
	mv "$root$MESHNAMED" "$root/opt/meshname/meshnamed" &&
	mv "$root$MESHNAME" "$root/opt/meshname/meshname" || bail "move the binaries to /opt/meshname"
tests/kernel/build.sh cpio "$root" "$tmp/test.cpio.gz" || bail "the test's initramfs part"
cat "$KDIR/base.cpio.gz" "$tmp/test.cpio.gz" >"$tmp/initrd.gz"

# ---- boot ---------------------------------------------------------------------------------
booted=$(date +%s.%N)
timeout --kill-after=5 "$VM_TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -m 512 -nographic \
	-no-reboot -net none -kernel "$KDIR/vmlinuz" -initrd "$tmp/initrd.gz" \
	-append "console=ttyS0 panic=-1 quiet loglevel=3" </dev/null >"$tmp/console" 2>&1 &
vm_pid=$!
wait "$vm_pid"
vm_rc=$?
vm_pid=
tr -d '\r' <"$tmp/console" >"$tmp/console.txt"
end=$(date +%s.%N)

while IFS= read -r line; do
	case "$line" in
	PASS:*) ok "${line#PASS: }" ;;
	FAIL:*) not_ok "${line#FAIL: }" ;;
	esac
done <"$tmp/console.txt"
check "the VM ran the whole test and powered off (qemu status $vm_rc, 124 = timeout)" \
	"grep -q '^TESTS-DONE' '$tmp/console.txt' && [ $vm_rc -eq 0 ]"
boot_s=$(sed -n 's/.*VM-BOOTED \([0-9.]*\).*/\1/p' "$tmp/console.txt")
grep -E '^# (set|dump|wg_kernel_get) ' "$tmp/console.txt"
grep '^HEX:' "$tmp/console.txt" >"$KDIR/captured-dump.hex" 2>/dev/null
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
echo "# kernel $(cat "$KDIR/version" 2>/dev/null || echo '?'): booted in ${boot_s:-?} s of VM" \
	"uptime; VM $(secs "$booted" "$end") s; whole test $(secs "$start" "$end") s"
if [ "$failed" -ne 0 ]; then
	sed 's/^/# console: /' "$tmp/console.txt"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
