# meshname: one non-recursive GNU Makefile.
#   make                      build meshname and meshnamed into $(BUILD)
#   make check                install missing test packages, build, run every test
#   make check SANITIZE=address,undefined   the same suite under sanitizers
#   make demo                 four hosts in network namespaces reach each other by name (root)
#   make bench                benchmarks (print figures, never fail on speed)
#   WERROR=1                  warnings are errors (CI)   V=1  show commands

PREFIX ?= /usr/local
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
CC ?= gcc
CFLAGS ?= -O2 -g
SANITIZE ?=
WERROR ?=

# libmnl: netlink message helpers for the kernel WireGuard backend (src/wg/netlink.c, rtnl.c).
PKGS := ldns libevent sqlite3 libsodium libmnl

ifeq ($(SANITIZE),)
BUILD ?= build
HARDEN := -fstack-protector-strong -D_FORTIFY_SOURCE=3
else
BUILD ?= build/san
# _FORTIFY_SOURCE and the sanitizers check the same calls twice and disagree on some.
HARDEN := -fstack-protector-strong -fsanitize=$(SANITIZE) -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
endif

WARN := -Wall -Wextra -Wformat=2 -Wshadow -Wpointer-arith -Wcast-qual \
	-Wstrict-prototypes -Wmissing-prototypes -Wwrite-strings -Wvla -Wundef \
	-Wimplicit-fallthrough -Wnull-dereference -Wconversion
ifneq ($(WERROR),)
WARN += -Werror
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_CFLAGS := $(shell pkg-config --cflags cmocka 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)
# sd-bus, for meshnamed's systemd-resolved registration only (src/daemon/resolved.c).
SYSTEMD_CFLAGS := $(shell pkg-config --cflags libsystemd 2>/dev/null)
SYSTEMD_LIBS := $(shell pkg-config --libs libsystemd 2>/dev/null)

ALL_CFLAGS := -std=c11 -D_GNU_SOURCE -pthread $(WARN) $(HARDEN) -fPIE -Iinclude -Isrc \
	$(PKG_CFLAGS) $(CFLAGS) -MMD -MP
# -pthread: the registry checks a batch's signatures on every core.
ALL_LDFLAGS := -pthread -pie -Wl,-z,relro,-z,now $(if $(SANITIZE),-fsanitize=$(SANITIZE)) $(LDFLAGS)

ifeq ($(V),)
Q := @
say = @printf '  %-6s %s\n' $(1) $(2);
else
Q :=
say =
endif

# Modules: each folder under src/ is one static library.
COMMON_SRC := $(wildcard src/common/*.c)
REGISTRY_SRC := $(wildcard src/registry/*.c)
RESOLVER_SRC := $(wildcard src/resolver/*.c)
WG_SRC := $(wildcard src/wg/*.c)
SYNC_SRC := $(wildcard src/sync/*.c)
CLI_SRC := $(wildcard src/cli/*.c)
DAEMON_SRC := $(wildcard src/daemon/*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))
LIB_COMMON := $(BUILD)/libcommon.a
LIB_REGISTRY := $(BUILD)/libregistry.a
LIB_RESOLVER := $(BUILD)/libresolver.a
LIB_WG := $(BUILD)/libwg.a
LIB_SYNC := $(BUILD)/libsync.a

MESHNAME := $(BUILD)/meshname
MESHNAMED := $(BUILD)/meshnamed

UNIT_REGISTRY_SRC := $(wildcard tests/unit/registry/test_*.c)
UNIT_REGISTRY := $(patsubst tests/unit/registry/%.c,$(BUILD)/tests/unit/registry/%,$(UNIT_REGISTRY_SRC))
UNIT_DAEMON_SRC := $(wildcard tests/unit/daemon/test_*.c)
UNIT_DAEMON := $(patsubst tests/unit/daemon/%.c,$(BUILD)/tests/unit/daemon/%,$(UNIT_DAEMON_SRC))
UNIT_RESOLVER_SRC := $(wildcard tests/unit/resolver/test_*.c)
UNIT_RESOLVER := $(patsubst tests/unit/resolver/%.c,$(BUILD)/tests/unit/resolver/%,$(UNIT_RESOLVER_SRC))
UNIT_WG_SRC := $(wildcard tests/unit/wg/test_*.c)
UNIT_WG := $(patsubst tests/unit/wg/%.c,$(BUILD)/tests/unit/wg/%,$(UNIT_WG_SRC))
UNIT_CLI_SRC := $(wildcard tests/unit/cli/test_*.c)
UNIT_CLI := $(patsubst tests/unit/cli/%.c,$(BUILD)/tests/unit/cli/%,$(UNIT_CLI_SRC))
UNIT_SYNC_SRC := $(wildcard tests/unit/sync/test_*.c)
UNIT_SYNC := $(patsubst tests/unit/sync/%.c,$(BUILD)/tests/unit/sync/%,$(UNIT_SYNC_SRC))
UNIT_TESTS := $(UNIT_REGISTRY) $(UNIT_DAEMON) $(UNIT_RESOLVER) $(UNIT_WG) $(UNIT_CLI) $(UNIT_SYNC)
# Fuzz targets, built without libFuzzer (tests/fuzz/standalone.c replays files), so
# that they compile in every CI run and replay tests/fuzz/seeds/TARGET/.
FUZZERS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
BENCH_SRC := $(wildcard bench/*.c)
BENCHES := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

.SECONDARY:
.PHONY: all check unit integration deps bench demo install clean format format-check lint man-lint
all: $(MESHNAME) $(if $(DAEMON_SRC),$(MESHNAMED))

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB_COMMON): $(call obj,$(COMMON_SRC))
	$(call say,AR,$@)rm -f $@ && ar rcs $@ $^
$(LIB_REGISTRY): $(call obj,$(REGISTRY_SRC))
	$(call say,AR,$@)rm -f $@ && ar rcs $@ $^
$(LIB_WG): $(call obj,$(WG_SRC))
	$(call say,AR,$@)rm -f $@ && ar rcs $@ $^
$(LIB_RESOLVER): $(call obj,$(RESOLVER_SRC))
	$(call say,AR,$@)rm -f $@ && ar rcs $@ $^
$(LIB_SYNC): $(call obj,$(SYNC_SRC))
	$(call say,AR,$@)rm -f $@ && ar rcs $@ $^

$(MESHNAME): $(call obj,$(CLI_SRC)) $(LIB_REGISTRY) $(LIB_COMMON)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

# libsync: the LAN beacon (lanbeacon.c) and peer-to-peer sync.
$(MESHNAMED): $(call obj,$(DAEMON_SRC) $(RESOLVER_SRC) $(WG_SRC)) $(LIB_SYNC) $(LIB_REGISTRY) \
		$(LIB_COMMON)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(SYSTEMD_LIBS)
$(BUILD)/src/daemon/resolved.o: ALL_CFLAGS += $(SYSTEMD_CFLAGS)

# Unit tests link only their module (and common).
$(BUILD)/tests/unit/registry/%: $(BUILD)/tests/unit/registry/%.o $(LIB_REGISTRY) $(LIB_COMMON)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CMOCKA_LIBS)
# The resolver's tests also need the registry: the snapshot lives there.
# The WireGuard module's tests link libwg and the registry (the peer manager reads the
# snapshot), nothing of DNS.
$(BUILD)/tests/unit/wg/%: $(BUILD)/tests/unit/wg/%.o $(LIB_WG) $(LIB_REGISTRY) $(LIB_COMMON)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CMOCKA_LIBS)
# Peer-to-peer sync (issue 5): its tests link libsync and the registry it feeds.
$(BUILD)/tests/unit/sync/%: $(BUILD)/tests/unit/sync/%.o $(LIB_SYNC) $(LIB_REGISTRY) $(LIB_COMMON)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CMOCKA_LIBS)
$(BUILD)/tests/unit/resolver/%: $(BUILD)/tests/unit/resolver/%.o $(LIB_RESOLVER) $(LIB_REGISTRY) $(LIB_COMMON)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CMOCKA_LIBS)
# The daemon's tests link the config parser and the control socket (which reads the
# snapshot, so the registry comes too), not meshnamed.c.
$(BUILD)/tests/unit/daemon/%: $(BUILD)/tests/unit/daemon/%.o $(BUILD)/src/daemon/config.o \
		$(BUILD)/src/daemon/control.o $(LIB_REGISTRY) $(LIB_COMMON)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CMOCKA_LIBS)
# The publisher's test also links it and what it asks (the peer manager's status).
$(BUILD)/tests/unit/daemon/test_publish: $(BUILD)/tests/unit/daemon/test_publish.o \
		$(BUILD)/src/daemon/publish.o $(BUILD)/src/daemon/config.o $(LIB_WG) $(LIB_REGISTRY) \
		$(LIB_COMMON)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CMOCKA_LIBS)
# The LAN beacon's test links it, the beacon codec (libsync) and libevent.
$(BUILD)/tests/unit/daemon/test_lanbeacon: $(BUILD)/tests/unit/daemon/test_lanbeacon.o \
		$(BUILD)/src/daemon/lanbeacon.o $(LIB_SYNC) $(LIB_REGISTRY) $(LIB_COMMON)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CMOCKA_LIBS)
# The sync connection's test runs it over bufferevent pairs on real registries.
$(BUILD)/tests/unit/daemon/test_syncconn: $(BUILD)/tests/unit/daemon/test_syncconn.o \
		$(BUILD)/src/daemon/syncconn.o $(LIB_SYNC) $(LIB_REGISTRY) $(LIB_COMMON)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CMOCKA_LIBS)
# The command line's tests link only the pure output helpers (format.c).
$(BUILD)/tests/unit/cli/%: $(BUILD)/tests/unit/cli/%.o $(BUILD)/src/cli/format.o
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS)
# The invite codec's test links it, the base64 helpers of util.c and what they use.
$(BUILD)/tests/unit/cli/test_payload: $(BUILD)/tests/unit/cli/test_payload.o \
		$(BUILD)/src/cli/payload.o $(BUILD)/src/cli/util.o $(LIB_REGISTRY) $(LIB_COMMON)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CMOCKA_LIBS)
# The systemd-resolved registration's test links it and sd-bus.
$(BUILD)/tests/unit/daemon/test_resolved: $(BUILD)/tests/unit/daemon/test_resolved.o \
		$(BUILD)/src/daemon/resolved.o $(LIB_COMMON)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(SYSTEMD_LIBS) \
		$(CMOCKA_LIBS)
$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(ALL_CFLAGS) $(CMOCKA_CFLAGS) -c -o $@ $<

FUZZ_MAIN := $(BUILD)/tests/fuzz/standalone.o
$(BUILD)/tests/fuzz/fuzz_answer.o: ALL_CFLAGS += -Itests/unit/resolver
$(BUILD)/fuzz/fuzz_record: $(BUILD)/tests/fuzz/fuzz_record.o $(FUZZ_MAIN) $(LIB_REGISTRY) \
		$(LIB_COMMON)
$(BUILD)/fuzz/fuzz_answer: $(BUILD)/tests/fuzz/fuzz_answer.o $(FUZZ_MAIN) $(LIB_RESOLVER) \
		$(LIB_REGISTRY) $(LIB_COMMON)
$(BUILD)/fuzz/fuzz_config: $(BUILD)/tests/fuzz/fuzz_config.o $(FUZZ_MAIN) \
		$(BUILD)/src/daemon/config.o $(LIB_COMMON)
$(BUILD)/fuzz/fuzz_uapi: $(BUILD)/tests/fuzz/fuzz_uapi.o $(FUZZ_MAIN) $(LIB_WG) $(LIB_REGISTRY) \
		$(LIB_COMMON)
# Transport B's session and the LAN beacon: pure codecs, their objects alone.
$(BUILD)/fuzz/fuzz_session: $(BUILD)/tests/fuzz/fuzz_session.o $(FUZZ_MAIN) \
		$(BUILD)/src/sync/session.o
$(BUILD)/fuzz/fuzz_beacon: $(BUILD)/tests/fuzz/fuzz_beacon.o $(FUZZ_MAIN) $(BUILD)/src/sync/beacon.o
$(BUILD)/fuzz/fuzz_negentropy: $(BUILD)/tests/fuzz/fuzz_negentropy.o $(FUZZ_MAIN) \
		$(BUILD)/src/sync/negentropy.o
$(BUILD)/fuzz/fuzz_sync: $(BUILD)/tests/fuzz/fuzz_sync.o $(FUZZ_MAIN) $(LIB_SYNC) $(LIB_REGISTRY) \
		$(LIB_COMMON)
# STATE/seeds (seeds_save/seeds_load write and read a private directory) and the CLI's
# pasted payloads (invites, join requests, certs) with the base64 helpers of util.c.
$(BUILD)/fuzz/fuzz_seeds: $(BUILD)/tests/fuzz/fuzz_seeds.o $(FUZZ_MAIN) $(BUILD)/src/registry/seeds.o \
		$(BUILD)/src/registry/fileio.o
$(BUILD)/fuzz/fuzz_payload: $(BUILD)/tests/fuzz/fuzz_payload.o $(FUZZ_MAIN) \
		$(BUILD)/src/cli/payload.o $(BUILD)/src/cli/util.o $(LIB_REGISTRY) $(LIB_COMMON)
$(FUZZERS):
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

.PHONY: fuzz-replay
fuzz-replay: $(FUZZERS)
	$(Q)for f in $(FUZZERS); do \
		seeds=tests/fuzz/seeds/$${f##*/}; \
		ls $$seeds/* >/dev/null 2>&1 || { echo "$$seeds: no seed inputs"; exit 1; }; \
		$$f $$seeds/* || { echo "$${f##*/}: FAILED on a seed"; exit 1; }; \
		echo "  $${f##*/}: $$(ls $$seeds | wc -l) seeds replayed"; \
	done

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIB_REGISTRY) $(LIB_COMMON)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)
# The WireGuard benchmark drives the peer manager's engines and the UAPI client.
$(BUILD)/bench/wg_bench: $(BUILD)/bench/wg_bench.o $(LIB_WG) $(LIB_REGISTRY) $(LIB_COMMON)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)
# The reconciliation benchmark drives libsync's negentropy and reads a registry.
$(BUILD)/bench/sync_bench: $(BUILD)/bench/sync_bench.o $(LIB_SYNC) $(LIB_REGISTRY) $(LIB_COMMON)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)
# The cold-start benchmark runs libsync's sessions on registries over loopback TCP.
$(BUILD)/bench/sync_cold: $(BUILD)/bench/sync_cold.o $(LIB_SYNC) $(LIB_REGISTRY) $(LIB_COMMON)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)
# The sync simulator: N hosts on a virtual clock and network running libsync's node logic
# and session engine (tests/integration/test_sync_sim.sh, bench/sync_sim.sh).
SYNC_SIM := $(BUILD)/tests/sim/sync_sim
$(SYNC_SIM): $(call obj,$(wildcard tests/sim/*.c)) $(LIB_SYNC) $(LIB_REGISTRY) $(LIB_COMMON)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm
# A misbehaving sync peer (forged, replayed, oversized pushes) for test_sync_abuse.sh.
SYNC_PEER := $(BUILD)/tests/tools/sync_peer
$(SYNC_PEER): $(BUILD)/tests/tools/sync_peer.o $(LIB_SYNC) $(LIB_REGISTRY) $(LIB_COMMON)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)
# A lanbeacon in a loop, and a beacon capturer and sender, for test_lanbeacon.sh.
BEACON_PROBE := $(BUILD)/tests/tools/beacon_probe
$(BEACON_PROBE): $(BUILD)/tests/tools/beacon_probe.o $(BUILD)/src/daemon/lanbeacon.o $(LIB_SYNC) \
		$(LIB_REGISTRY) $(LIB_COMMON)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

# `make check`: deps first (in a sub-make, so pkg-config above sees what was just
# installed), then everything, then one summary line over all suites.
check:
	$(Q)tests/deps.sh test
	$(Q)$(MAKE) --no-print-directory all-tests
	$(Q)BUILD=$(BUILD) SANITIZE=$(SANITIZE) tests/run.sh

.PHONY: all-tests
all-tests: all $(UNIT_TESTS) $(BENCHES) $(FUZZERS) $(SYNC_SIM) $(SYNC_PEER) $(BEACON_PROBE)

deps:
	$(Q)tests/deps.sh build

demo:
	$(Q)tests/deps.sh demo
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) demo/run.sh

bench:
	$(Q)tests/deps.sh bench
	$(Q)$(MAKE) --no-print-directory all $(BENCHES) $(SYNC_SIM)
	$(Q)BUILD=$(BUILD) bench/run.sh

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(MESHNAME) $(DESTDIR)$(BINDIR)/meshname
	install -m 0755 $(MESHNAMED) $(DESTDIR)$(SBINDIR)/meshnamed
	install -m 0644 man/meshname.8 man/meshnamed.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 man/meshnamed.conf.5 $(DESTDIR)$(MANDIR)/man5/

format:
	clang-format -i $(shell git ls-files '*.c' '*.h')

# Fails when a file is not as .clang-format wants it (CI runs this).
format-check:
	$(Q)clang-format --dry-run --Werror $(shell git ls-files '*.c' '*.h')

lint: man-lint
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
		-Iinclude -Isrc src include
man-lint:
	mandoc -Tlint -Wwarning man/*.[0-9]

clean:
	rm -rf build

# -type f: build/resolved/ (test_resolved.sh's unpacked packages) holds directories named *.d.
-include $(shell find $(BUILD) -name '*.d' -type f 2>/dev/null)
