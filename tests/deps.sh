#!/bin/bash
# tests/deps.sh MODE: installs the Debian packages that MODE (build, test, bench, demo)
# needs, only those missing, and says what it installs. Never installs systemd-resolved
# (its postinst points /etc/resolv.conf at a stub that needs the daemon: TESTING.md).
set -euo pipefail

usage() {
	echo "usage: tests/deps.sh build|test|bench|demo" >&2
	exit 2
}

# One package a line; add new ones to the list of the mode that first needs them.
BUILD_PKGS=(
	gcc make pkg-config
	libldns-dev      # DNS wire format
	libevent-dev     # event loop
	libsqlite3-dev   # registry store
	libsodium-dev    # Ed25519, X25519, BLAKE2b, AEAD
	libsystemd-dev   # sd-bus: meshnamed registers with systemd-resolved over D-Bus
	libcmocka-dev    # unit tests
	libmnl-dev       # netlink helpers for the kernel WireGuard backend (as iproute2 uses)
)
TEST_PKGS=(
	"${BUILD_PKGS[@]}"
	jq sqlite3 mandoc # CLI --json checks, store checks, man page lint
	clang-format cppcheck # make format-check and make lint (CI)
	iproute2          # network namespaces
	bind9-dnsutils    # dig
	knot-dnsutils     # kdig
	ldnsutils         # drill
	unbound           # the resolver test's upstream servers (see BENCH_PKGS on its service)
	python3           # the resolver test's fake upstream and TCP client
	wireguard-go wireguard-tools socat # test_uapi.sh: a real userspace WireGuard (no recommends)
	nftables iputils-ping # test_wg_nat.sh: the NAT router's masquerade, a broken link; ping
	qemu-system-x86 busybox-static # test_kernel_wg.sh: Debian's kernel in a VM, busybox inside
	dbus              # test_resolved.sh: a private system bus (dbus-daemon, dbus-send)
)
# unbound, knot and dnsmasq start a daemon on port 53 from their postinst (invoke-rc.d)
# when nothing stops them; the install below runs under a policy-rc.d that forbids service
# starts. dnsmasq-base is the binary without the service; unbound and knot have no such split,
# so on a machine with systemd their services stay enabled for the next boot: disable
# them by hand (`systemctl disable --now unbound knot`) if that machine needs its port 53.
BENCH_PKGS=(
	"${BUILD_PKGS[@]}"
	dnsperf unbound dnsmasq-base
	knot             # bench/dns_bench.sh: knotd serves the same zone side by side
	wireguard-go wireguard-tools iproute2 nftables iputils-ping python3 # bench/wg_bench.sh
	bind9-dnsutils sqlite3 jq # bench/sync_cold.sh: dig, record counts, status --json
)
# demo/run.sh: what it builds, and the tools it runs inside its namespaces.
DEMO_PKGS=(
	"${BUILD_PKGS[@]}"
	wireguard-go wireguard-tools # wireguard-tools recommends a kernel: no recommends
	iproute2 nftables            # namespaces, veths, the NAT router's masquerade
	iputils-ping bind9-dnsutils  # ping and dig NAME.mesh
	jq                           # reads meshname's --json output for the checks
)

[ $# -eq 1 ] || usage
case "$1" in
build) wanted=("${BUILD_PKGS[@]}") ;;
test) wanted=("${TEST_PKGS[@]}") ;;
bench) wanted=("${BENCH_PKGS[@]}") ;;
demo) wanted=("${DEMO_PKGS[@]}") ;;
*) usage ;;
esac

missing=()
for pkg in "${wanted[@]}"; do
	case " ${missing[*]:-} " in *" $pkg "*) continue ;; esac
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$pkg")
done
# test mode also keeps Debian's kernel package for test_kernel_wg.sh in build/kernel/cache
# (downloaded with apt-get download, never installed: tests/kernel/fetch.sh).
fetch_kernel() { [ "$1" != test ] || "$(dirname "$0")/kernel/fetch.sh" >/dev/null; }
# test mode also keeps systemd-resolved and its library for test_resolved.sh in
# build/resolved/debs, downloaded, never installed: its postinst takes over /etc/resolv.conf.
fetch_resolved() {
	local dir="$(dirname "$0")/../build/resolved/debs" pkg get=()
	[ "$1" = test ] || return 0
	for pkg in systemd-resolved libsystemd-shared; do
		ls "$dir/${pkg}"_*.deb >/dev/null 2>&1 || get+=("$pkg")
	done
	[ ${#get[@]} -eq 0 ] && return 0
	mkdir -p "$dir"
	# apt-get download writes into the current directory; as root it warns that _apt
	# cannot write there, which is harmless.
	if ! (cd "$dir" && apt-get download -qq "${get[@]}" >/dev/null 2>&1); then
		echo "deps.sh: cannot download ${get[*]} into $dir (apt-get update first?)" >&2
		exit 1
	fi
	echo "deps.sh: downloaded ${get[*]} into $dir (not installed)"
}
if [ ${#missing[@]} -eq 0 ]; then
	fetch_kernel "$1"
	fetch_resolved "$1"
	exit 0
fi

echo "deps.sh: installing missing packages for '$1': ${missing[*]}"

as_root=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		as_root=(sudo)
	else
		echo "deps.sh: not root and no sudo; as root, run:" >&2
		echo "  apt-get install --no-install-recommends ${missing[*]}" >&2
		exit 1
	fi
fi

# Forbid service starts during the install (see BENCH_PKGS) unless the machine already
# has a policy of its own; ours is removed again however the install ends.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	trap '"${as_root[@]}" rm -f "$policy"' EXIT
	printf '#!/bin/sh\n# meshname tests/deps.sh: no service starts while installing\nexit 101\n' |
		"${as_root[@]}" tee "$policy" >/dev/null
	"${as_root[@]}" chmod 0755 "$policy"
fi

# libsystemd-dev at the version of the installed libsystemd0: a newer one would pull
# libsystemd0, and with it systemd itself, to the archive's newest version (an upgrade
# of the machine's init system is not a build dependency). Unpinned if the archive no
# longer has that version.
pin_libsystemd() {
	local i ver
	ver=$(dpkg-query -W -f='${Version}' libsystemd0 2>/dev/null) || return 0
	apt-cache show "libsystemd-dev=$ver" >/dev/null 2>&1 || return 0
	for i in "${!missing[@]}"; do
		if [ "${missing[$i]}" = libsystemd-dev ]; then
			missing[$i]="libsystemd-dev=$ver"
		fi
	done
}

# apt's and dpkg's chatter is shown only when something goes wrong.
log=$(mktemp)
if ! { "${as_root[@]}" apt-get update -qq && pin_libsystemd &&
	"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		-o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
	cat "$log" >&2
	rm -f "$log"
	echo "deps.sh: installing ${missing[*]} failed" >&2
	exit 1
fi
rm -f "$log"
echo "deps.sh: installed ${missing[*]}"
fetch_kernel "$1"
fetch_resolved "$1"
