#!/bin/bash
# tests/kernel/build.sh: the small VM that tests the kernel WireGuard backend.
#   build.sh base            Debian's kernel and a base initramfs under $BUILD/kernel/ (cached:
#                            redone only when the kernel .deb, this script, busybox, ip or wg
#                            change): busybox, iproute2's ip, wireguard-tools' wg, their shared
#                            libraries, wireguard.ko with the modules it needs and veth.ko, /init.
#   build.sh add-bin ROOT BIN...   copies binaries and the shared libraries ldd names into ROOT.
#   build.sh cpio ROOT OUT   ROOT as a gzip'd newc cpio (appended to the base: Linux unpacks
#                            concatenated archives in order).
# The kernel package is only unpacked (dpkg-deb -x), never installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
KDIR=$PWD/$BUILD/kernel
BUSYBOX=${BUSYBOX:-/bin/busybox}

die() {
	echo "build.sh: $*" >&2
	exit 1
}

# add_bin ROOT BIN...: each binary under its own path, and every library ldd resolves.
add_bin() {
	local root=$1 bin lib
	shift
	for bin in "$@"; do
		[ -x "$bin" ] || die "$bin is missing"
		mkdir -p "$root$(dirname "$bin")"
		cp -L "$bin" "$root$bin"
		for lib in $(ldd "$bin" 2>/dev/null | grep -o '/[^ ]*' || true); do
			[ -e "$root$lib" ] && continue
			mkdir -p "$root$(dirname "$lib")"
			cp -L "$lib" "$root$lib"
		done
	done
}

make_cpio() {
	local root=$1 out=$2
	# busybox cpio: no need for the cpio package. Owner root, as the kernel expects.
	(cd "$root" && find . | sort | "$BUSYBOX" cpio -o -H newc 2>/dev/null | gzip -1) >"$out.tmp"
	mv "$out.tmp" "$out"
}

# mod_deps MODULE: MODULE's dependencies first, then MODULE, from modules.dep (which the
# package does not ship: busybox depmod writes it at unpack time).
mod_deps() {
	local m=$1 dep
	for dep in $(sed -n "s|^$m: *||p" "$moddir/modules.dep"); do
		mod_deps "$dep"
	done
	case " ${order[*]:-} " in *" $m "*) ;; *) order+=("$m") ;; esac
}

base() {
	local deb ver stamp_want stamp_have root
	for tool in "$BUSYBOX" ip wg dpkg-deb ldd gzip; do
		command -v "$tool" >/dev/null || die "$tool is missing (tests/deps.sh test installs it)"
	done
	"$BUSYBOX" --list | grep -x cpio >/dev/null || die "$BUSYBOX has no cpio applet"
	deb=$(tests/kernel/fetch.sh) || die "no kernel package"
	stamp_want=$(
		{
			basename "$deb"
			sha256sum "$0" "$(command -v "$BUSYBOX")" "$(command -v ip)" "$(command -v wg)"
		} | sha256sum | cut -d' ' -f1
	)
	stamp_have=$(cat "$KDIR/base.stamp" 2>/dev/null || true)
	if [ "$stamp_want" = "$stamp_have" ] && [ -f "$KDIR/base.cpio.gz" ] && [ -f "$KDIR/vmlinuz" ]; then
		return 0
	fi
	echo "build.sh: unpacking $(basename "$deb") and building the base initramfs" >&2
	rm -rf "$KDIR/unpacked" "$KDIR/base"
	mkdir -p "$KDIR/unpacked"
	dpkg-deb -x "$deb" "$KDIR/unpacked"
	ver=$(ls "$KDIR/unpacked/lib/modules")
	moddir=$KDIR/unpacked/lib/modules/$ver
	"$BUSYBOX" depmod -b "$KDIR/unpacked" "$ver"
	cp "$KDIR/unpacked/boot/vmlinuz-$ver" "$KDIR/vmlinuz"

	root=$KDIR/base
	mkdir -p "$root"/{bin,sbin,dev,proc,sys,run,tmp,etc,var,lib/modules}
	ln -s ../run "$root/var/run" # ip netns keeps its names in /var/run/netns
	cp "$(command -v "$BUSYBOX")" "$root/bin/busybox"
	for applet in $("$BUSYBOX" --list); do
		[ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
	done
	# iproute2's ip (busybox's knows no netns, veth or wireguard kinds) and wg, the
	# independent reader of what our code set.
	rm -f "$root/bin/ip"
	add_bin "$root" "$(command -v ip)" "$(command -v wg)"
	[ "$(command -v ip)" = /bin/ip ] || ln -sf "$(command -v ip)" "$root/bin/ip"
	echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd"
	echo 'root:x:0:' >"$root/etc/group"

	order=()
	mod_deps kernel/drivers/net/wireguard/wireguard.ko
	mod_deps kernel/drivers/net/veth.ko
	for m in "${order[@]}"; do
		mkdir -p "$root/lib/modules/$(dirname "$m")"
		cp "$moddir/$m" "$root/lib/modules/$m"
	done
	printf '%s\n' "${order[@]}" >"$root/lib/modules/load.order"

	cat >"$root/init" <<'INIT'
#!/bin/sh
# PID 1 of the test VM: mounts, loads the modules in dependency order, runs /test/run.sh
# (from the appended archive) and powers off. Every result is a line on the console.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
ip link set lo up
for m in $(cat /lib/modules/load.order); do
	insmod "/lib/modules/$m" || echo "FAIL: insmod $m"
done
echo "VM-BOOTED $(cut -d' ' -f1 /proc/uptime)"
if [ -f /test/run.sh ]; then
	sh /test/run.sh
else
	echo "FAIL: no /test/run.sh in the initramfs"
fi
echo "VM-END $(cut -d' ' -f1 /proc/uptime)"
sync
reboot -f
INIT
	chmod 0755 "$root/init"
	make_cpio "$root" "$KDIR/base.cpio.gz"
	echo "$ver" >"$KDIR/version"
	echo "$stamp_want" >"$KDIR/base.stamp"
	rm -rf "$KDIR/unpacked" "$root"
	echo "build.sh: $KDIR/vmlinuz ($ver), $KDIR/base.cpio.gz ($(du -h "$KDIR/base.cpio.gz" | cut -f1)), modules: ${order[*]##*/}" >&2
}

[ $# -ge 1 ] || die "usage: build.sh base | add-bin ROOT BIN... | cpio ROOT OUT"
cmd=$1
shift
case "$cmd" in
base) base ;;
add-bin) add_bin "$@" ;;
cpio) make_cpio "$@" ;;
*) die "unknown command $cmd" ;;
esac
