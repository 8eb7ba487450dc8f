/*
 * beacon_probe.c: drives src/daemon/lanbeacon.c for tests/integration/test_lanbeacon.sh.
 *
 *   beacon_probe listen --mesh NAME --host NAME --port P --sync-port S [--mesh-if IF] [--seq N]
 *     runs one lanbeacon in a libevent loop; prints "key HEX" (its host key), then one line
 *     per beacon heard: "heard key=HEX addr=ADDR port=P if=IF scope=IF seq=N"; SIGUSR1 sends
 *     a beacon now (lanbeacon_send_now), SIGUSR2 prints a "stats ..." line, SIGTERM prints it
 *     and exits 0 after freeing everything.
 *   beacon_probe capture --port P --from ADDR --out FILE [--timeout S]
 *     binds UDP 0.0.0.0:P (SO_REUSEADDR, next to a lanbeacon) and writes the first datagram
 *     of BEACON_SIZE bytes from ADDR to FILE; exit 1 after S seconds (default 5) without one.
 *   beacon_probe send --in FILE --to ADDR --port P [--if IF] [--flip OFFSET]
 *     sends FILE's bytes once to ADDR:P (a broadcast or, with --if, a link-local group),
 *     with the byte at OFFSET inverted first if asked (a forgery).
 *
 * Keys and mesh ids are derived from names (BLAKE2b), so that a test needs no key files.
 * A test tool only: never installed, never built into meshnamed.
 */
#include <arpa/inet.h>
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <sodium.h>

#include "common/log.h"
#include "daemon/lanbeacon.h"

static void derive(const char *what, const char *name, uint8_t out[32])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, (const unsigned char *)what, strlen(what));
	crypto_generichash_update(&st, (const unsigned char *)name, strlen(name));
	crypto_generichash_final(&st, out, 32);
}

static void print_hex(const char *label, const uint8_t *p, size_t n)
{
	char hex[2 * REC_KEY_SIZE + 1];

	sodium_bin2hex(hex, sizeof(hex), p, n < REC_KEY_SIZE ? n : REC_KEY_SIZE);
	printf("%s%s", label, hex);
}

static uint16_t parse_port(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (*end != '\0' || v == 0 || v > 65535)
		errx(2, "not a port: %s", s);
	return (uint16_t)v;
}

/* ---- listen ------------------------------------------------------------------------- */

struct probe {
	struct event_base *base;
	struct lanbeacon *lb;
};

static void print_stats(const struct lanbeacon *lb)
{
	struct lanbeacon_stats st;

	lanbeacon_stats(lb, &st);
	printf("stats sent=%llu send_errors=%llu heard=%llu rejected=%llu own=%llu "
	       "duplicates=%llu replayed=%llu forged=%llu other_mesh=%llu\n",
	       (unsigned long long)st.sent, (unsigned long long)st.send_errors,
	       (unsigned long long)st.heard, (unsigned long long)st.rejected,
	       (unsigned long long)st.own, (unsigned long long)st.duplicates,
	       (unsigned long long)st.replayed, (unsigned long long)st.forged,
	       (unsigned long long)st.other_mesh);
}

static void on_heard(void *arg, const struct beacon *b, const struct sockaddr_storage *from,
		     unsigned ifindex)
{
	char addr[INET6_ADDRSTRLEN] = "?", ifname[IF_NAMESIZE] = "?", scope[IF_NAMESIZE] = "-";
	unsigned port;

	(void)arg;
	if (from->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)from;

		inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof(addr));
		port = ntohs(sin->sin_port);
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)from;

		inet_ntop(AF_INET6, &sin6->sin6_addr, addr, sizeof(addr));
		port = ntohs(sin6->sin6_port);
		if (sin6->sin6_scope_id != 0 && if_indextoname(sin6->sin6_scope_id, scope) == NULL)
			snprintf(scope, sizeof(scope), "%u", sin6->sin6_scope_id);
	}
	if (if_indextoname(ifindex, ifname) == NULL)
		snprintf(ifname, sizeof(ifname), "%u", ifindex);
	print_hex("heard key=", b->host_key, REC_KEY_SIZE);
	printf(" addr=%s port=%u if=%s scope=%s seq=%llu\n", addr, port, ifname, scope,
	       (unsigned long long)b->endpoints_seq);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct probe *p = arg;

	(void)what;
	if (sig == SIGUSR1) {
		lanbeacon_send_now(p->lb);
	} else if (sig == SIGUSR2) {
		print_stats(p->lb);
	} else {
		print_stats(p->lb);
		event_base_loopexit(p->base, NULL);
	}
}

static int cmd_listen(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mesh", required_argument, NULL, 'm' },
		{ "host", required_argument, NULL, 'h' },
		{ "port", required_argument, NULL, 'p' },
		{ "sync-port", required_argument, NULL, 's' },
		{ "mesh-if", required_argument, NULL, 'i' },
		{ "seq", required_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	const int sigs[] = { SIGUSR1, SIGUSR2, SIGTERM, SIGINT };
	struct event *ev[4] = { NULL };
	struct lanbeacon_params lp;
	uint8_t seed[32], pk[REC_KEY_SIZE], fingerprint[BEACON_FINGERPRINT_SIZE] = { 0 };
	const char *mesh = NULL, *host = NULL;
	uint64_t seq = 0;
	struct probe p;
	int c, r, rc = 1;

	memset(&lp, 0, sizeof(lp));
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			mesh = optarg;
			break;
		case 'h':
			host = optarg;
			break;
		case 'p':
			lp.port = parse_port(optarg);
			break;
		case 's':
			lp.sync_port = parse_port(optarg);
			break;
		case 'i':
			lp.mesh_ifname = optarg;
			break;
		case 'q':
			seq = strtoull(optarg, NULL, 10);
			break;
		default:
			return 2;
		}
	}
	if (mesh == NULL || host == NULL || lp.port == 0 || lp.sync_port == 0)
		errx(2, "listen needs --mesh, --host, --port and --sync-port");
	derive("mesh:", mesh, lp.mesh_id);
	derive("host:", host, seed);
	crypto_sign_seed_keypair(pk, lp.host_sk, seed);
	lp.heard = on_heard;
	p.base = event_base_new();
	if (p.base == NULL)
		errx(1, "cannot create the event loop");
	r = lanbeacon_new(p.base, &lp, &p.lb);
	sodium_memzero(lp.host_sk, sizeof(lp.host_sk));
	if (r < 0) {
		warnx("cannot start the LAN beacon on port %u: %s", lp.port, strerror(-r));
		goto out;
	}
	memset(fingerprint, 0x5a, sizeof(fingerprint));
	lanbeacon_update(p.lb, seq, fingerprint);
	for (size_t i = 0; i < 4; i++) {
		ev[i] = evsignal_new(p.base, sigs[i], on_signal, &p);
		if (ev[i] == NULL || event_add(ev[i], NULL) < 0)
			errx(1, "cannot install the signal handlers");
	}
	print_hex("key ", pk, REC_KEY_SIZE);
	printf("\n");
	if (event_base_dispatch(p.base) < 0)
		warnx("event loop failed");
	else
		rc = 0;
out:
	for (size_t i = 0; i < 4; i++)
		if (ev[i] != NULL)
			event_free(ev[i]);
	lanbeacon_free(p.lb);
	event_base_free(p.base);
	return rc;
}

/* ---- capture and send ---------------------------------------------------------------- */

static int cmd_capture(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "from", required_argument, NULL, 'f' },
		{ "out", required_argument, NULL, 'o' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct sockaddr_in sin;
	struct in_addr want;
	const char *from = NULL, *out = NULL;
	uint16_t port = 0;
	int timeout_s = 5, one = 1, c, fd;
	time_t until;
	FILE *fp;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			port = parse_port(optarg);
			break;
		case 'f':
			from = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 't':
			timeout_s = atoi(optarg);
			break;
		default:
			return 2;
		}
	}
	if (port == 0 || from == NULL || out == NULL || inet_pton(AF_INET, from, &want) != 1)
		errx(2, "capture needs --port, --from IPV4 and --out");
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		err(1, "cannot bind UDP port %u", port);
	printf("ready\n");
	fflush(stdout);
	until = time(NULL) + timeout_s;
	while (time(NULL) < until) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint8_t buf[BEACON_SIZE + 1];
		struct sockaddr_in src;
		socklen_t len = sizeof(src);
		ssize_t n;

		if (poll(&pfd, 1, 200) <= 0)
			continue;
		n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&src, &len);
		if (n != BEACON_SIZE || src.sin_addr.s_addr != want.s_addr)
			continue;
		fp = fopen(out, "wb");
		if (fp == NULL || fwrite(buf, 1, BEACON_SIZE, fp) != BEACON_SIZE || fclose(fp) != 0)
			err(1, "cannot write %s", out);
		close(fd);
		return 0;
	}
	close(fd);
	errx(1, "no beacon from %s within %d s", from, timeout_s);
}

static int cmd_send(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "in", required_argument, NULL, 'i' },   { "to", required_argument, NULL, 't' },
		{ "port", required_argument, NULL, 'p' }, { "if", required_argument, NULL, 'f' },
		{ "flip", required_argument, NULL, 'x' }, { NULL, 0, NULL, 0 },
	};
	struct sockaddr_storage ss;
	socklen_t sslen;
	uint8_t buf[BEACON_SIZE];
	const char *in = NULL, *to = NULL, *ifname = NULL;
	long flip = -1;
	uint16_t port = 0;
	int one = 1, c, fd;
	FILE *fp;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			in = optarg;
			break;
		case 't':
			to = optarg;
			break;
		case 'p':
			port = parse_port(optarg);
			break;
		case 'f':
			ifname = optarg;
			break;
		case 'x':
			flip = strtol(optarg, NULL, 10);
			break;
		default:
			return 2;
		}
	}
	if (in == NULL || to == NULL || port == 0 || flip >= BEACON_SIZE)
		errx(2, "send needs --in, --to and --port (--flip below %d)", BEACON_SIZE);
	fp = fopen(in, "rb");
	if (fp == NULL || fread(buf, 1, sizeof(buf), fp) != sizeof(buf))
		errx(1, "%s: not a %d-byte beacon", in, BEACON_SIZE);
	fclose(fp);
	if (flip >= 0)
		buf[flip] ^= 0xff;
	memset(&ss, 0, sizeof(ss));
	if (strchr(to, ':') == NULL) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		if (inet_pton(AF_INET, to, &sin->sin_addr) != 1)
			errx(2, "not an address: %s", to);
		sslen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		if (inet_pton(AF_INET6, to, &sin6->sin6_addr) != 1)
			errx(2, "not an address: %s", to);
		if (ifname != NULL && (sin6->sin6_scope_id = if_nametoindex(ifname)) == 0)
			errx(2, "no interface %s", ifname);
		sslen = sizeof(*sin6);
	}
	fd = socket(ss.ss_family, SOCK_DGRAM, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) < 0)
		err(1, "cannot open a UDP socket");
	if (sendto(fd, buf, sizeof(buf), 0, (struct sockaddr *)&ss, sslen) != (ssize_t)sizeof(buf))
		err(1, "cannot send to %s port %u", to, port);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (sodium_init() < 0)
		errx(1, "cannot initialise libsodium");
	setvbuf(stdout, NULL, _IOLBF, 0);
	log_init("beacon_probe", true, getenv("BEACON_PROBE_DEBUG") != NULL);
	if (argc >= 2 && strcmp(argv[1], "listen") == 0)
		return cmd_listen(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "capture") == 0)
		return cmd_capture(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "send") == 0)
		return cmd_send(argc - 1, argv + 1);
	fprintf(stderr,
		"usage: beacon_probe listen|capture|send ... (see tests/tools/beacon_probe.c)\n");
	return 2;
}
