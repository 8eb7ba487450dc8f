#!/usr/bin/env bash
# The kernel WireGuard backend against a real kernel: this machine's kernel has no
# wireguard module, so Debian's kernel boots under qemu (TCG) with a busybox initramfs
# holding wireguard.ko and its dependencies (tests/kernel/build.sh, cached under
# $BUILD/kernel/). The registry (h1 admin, h2, h3) is made here with meshname
# init/add/join; h1 and h2 run meshnamed in the VM with `manage yes` and no userspace,
# and tests/kernel/vm-test.sh checks from inside: kind wireguard, peers as the registry
# says, ping through the tunnel, revoke, on-exit remove. Its PASS/FAIL console lines are
# this test's cases. Missing tools or kernel package: a failure, never a skip.
# Setup (tests/integration/lib_mesh.sh): $tmp, ok/not_ok/check, bail, mn H (meshname on
# h's state), the registry (mesh_registry), expect_peers; no namespaces here (the hosts
# run in the VM), the EXIT trap removes $tmp and stops the VM (stop_vm).
MESH_NS_PREFIX=mnk
MESH_IF_PREFIX=wgk
MESH_HOSTS=3
MESH_PORT_PREFIX=5182 # listen ports 51821-51823
MESH_EXTRA_CLEANUP=stop_vm
# shellcheck source=tests/integration/lib_mesh.sh
. "$(dirname "$0")/lib_mesh.sh"
KDIR=$BUILD/kernel
VM_TIMEOUT=${VM_TIMEOUT:-240} # seconds; a normal run takes well under 90
vm_pid=
# shellcheck disable=SC2317 # called by lib_mesh.sh's EXIT trap
stop_vm() {
	if [ -n "$vm_pid" ]; then
		kill -TERM "$vm_pid" 2>/dev/null && wait "$vm_pid" 2>/dev/null
	fi
}
# tests/kernel/build.sh takes BUILD relative to the top of the tree (lib_mesh.sh made it
# absolute).
kernel_build() { BUILD=${BUILD#"$PWD"/} tests/kernel/build.sh "$@"; }

for tool in qemu-system-x86_64 jq ip wg gzip dpkg-deb; do
	command -v "$tool" >/dev/null || bail "$tool is missing (tests/deps.sh test installs it)"
done
[ -x "$MESHNAMED" ] && [ -x "$MESHNAME" ] || bail "build meshname and meshnamed first (make)"
start=$(date +%s.%N)
kernel_build base || bail "the VM's kernel and base initramfs (tests/kernel/build.sh)"

# ---- the registry, made outside the VM ---------------------------------------------------
mesh_registry
check "h2 knows the three hosts" "[ \"\$(mn 2 ls --json | jq length)\" = 3 ]"

# ---- what goes into the VM -------------------------------------------------------------
root=$tmp/root
mkdir -p "$root/test" "$root/mesh"
# What `wg show IF allowed-ips | sort` must print (expect_peers: "KEY<TAB>V4/32 V6/128").
expect_peers 1 2 3 >"$root/test/peers1"
expect_peers 2 1 3 >"$root/test/peers2"
expect_peers 1 2 >"$root/test/peers1.revoked"
expect_peers 2 1 >"$root/test/peers2.revoked"
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
kernel_build add-bin "$root" "$MESHNAMED" "$MESHNAME" "$root/test/nl_check" ||
	bail "copy meshnamed into the VM"
# The binaries go to /opt/meshname in the VM: their path here may be under /tmp (a fresh
# clone in CI), which the VM's init covers with a tmpfs. Their libraries stay where ldd
# found them.
mkdir -p "$root/opt/meshname" &&
	mv "$root$MESHNAMED" "$root/opt/meshname/meshnamed" &&
	mv "$root$MESHNAME" "$root/opt/meshname/meshname" || bail "move the binaries to /opt/meshname"
kernel_build cpio "$root" "$tmp/test.cpio.gz" || bail "the test's initramfs part"
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
