/*
 * status.c: the WireGuard part of `meshname status` from the daemon's status reply: the
 * interface, one aligned line per peer (like `wg show` and `tailscale status`), the
 * endpoints this host publishes, its NAT, its systemd-resolved registration, and peer
 * sync (a summary line and one line per sync neighbour). It reads
 * only the parsed reply: members it does not know are ignored, members that are missing
 * are not printed, so the daemon can grow its reply without this file changing first.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* A JSON scalar as text: strings as they are, numbers, yes/no, "-" for null. */
static void scalar_str(const struct cli_json *v, char *out, size_t size)
{
	switch (v->type) {
	case CLI_JSON_STRING:
		snprintf(out, size, "%s", v->str);
		break;
	case CLI_JSON_NUMBER:
		if (v->is_u64)
			snprintf(out, size, "%llu", (unsigned long long)v->u64);
		else
			snprintf(out, size, "?");
		break;
	case CLI_JSON_BOOL:
		snprintf(out, size, "%s", v->boolean ? "yes" : "no");
		break;
	case CLI_JSON_NULL:
		snprintf(out, size, "-");
		break;
	default:
		out[0] = '\0';
	}
}

static bool is_scalar(const struct cli_json *v)
{
	return v->type != CLI_JSON_ARRAY && v->type != CLI_JSON_OBJECT;
}

/* A member this file does not know the shape of: a string or scalar as it is, an object
 * as "key value, key value" of its scalar members (arrays of scalars joined by blanks). */
static void print_generic(const struct cli_json *v)
{
	char buf[256];
	bool first = true;

	if (is_scalar(v)) {
		scalar_str(v, buf, sizeof(buf));
		printf("%s\n", buf);
		return;
	}
	for (const struct cli_json *m = v->child; m != NULL; m = m->next) {
		if (v->type == CLI_JSON_OBJECT && m->type == CLI_JSON_ARRAY) {
			printf("%s%s", first ? "" : ", ", m->key);
			for (const struct cli_json *e = m->child; e != NULL; e = e->next)
				if (is_scalar(e)) {
					scalar_str(e, buf, sizeof(buf));
					printf(" %s", buf);
				}
			if (m->child == NULL)
				printf(" none");
			first = false;
			continue;
		}
		if (!is_scalar(m))
			continue;
		scalar_str(m, buf, sizeof(buf));
		if (v->type == CLI_JSON_OBJECT)
			printf("%s%s %s", first ? "" : ", ", m->key, buf);
		else
			printf("%s%s", first ? "" : " ", buf);
		first = false;
	}
	printf("%s\n", first ? "-" : "");
}

/* --- peers ----------------------------------------------------------------------------- */

static int peer_cmp(const void *a, const void *b)
{
	const char *na = cli_json_text(*(const struct cli_json *const *)a, "name");
	const char *nb = cli_json_text(*(const struct cli_json *const *)b, "name");

	/* Peers the registry does not know (no name) last. */
	if (na == NULL || na[0] == '\0')
		return nb == NULL || nb[0] == '\0' ? 0 : 1;
	if (nb == NULL || nb[0] == '\0')
		return -1;
	return strcmp(na, nb);
}

static void print_peers(const struct cli *c, const struct cli_json *peers)
{
	const struct cli_json **sorted = NULL;
	struct cli_table t;
	size_t n = 0, i = 0;
	int rc;

	for (const struct cli_json *p = peers->child; p != NULL; p = p->next)
		if (p->type == CLI_JSON_OBJECT)
			n++;
	if (n == 0) {
		printf("  no peers (no other active host in the registry)\n");
		return;
	}
	sorted = calloc(n, sizeof(*sorted));
	if (sorted == NULL || cli_table_init(&t, 7, 1u << 5 | 1u << 6) < 0) {
		free(sorted);
		printf("  (out of memory listing %zu peers)\n", n);
		return;
	}
	for (const struct cli_json *p = peers->child; p != NULL; p = p->next)
		if (p->type == CLI_JSON_OBJECT)
			sorted[i++] = p;
	qsort(sorted, n, sizeof(*sorted), peer_cmp);
	rc = cli_table_add(&t, (const char *const[]){ "PEER", "MESH IPV4", "ENDPOINT", "KIND",
						      "HANDSHAKE", "RX", "TX" });
	for (i = 0; i < n && rc == 0; i++) {
		const struct cli_json *p = sorted[i];
		const char *name = cli_json_text(p, "name"), *ipv4 = cli_json_text(p, "ipv4");
		const char *ep = cli_json_text(p, "endpoint"),
			   *kind = cli_json_text(p, "endpoint_kind");
		const struct cli_json *hs = cli_json_get(p, "latest_handshake");
		char ago[32], rx[32] = "?", tx[32] = "?";
		uint64_t v;

		if (hs != NULL && hs->type == CLI_JSON_NUMBER && hs->is_u64)
			cli_fmt_ago((int64_t)c->now, (int64_t)hs->u64, ago, sizeof(ago));
		else
			snprintf(ago, sizeof(ago), "?");
		if (cli_json_u64(p, "rx_bytes", &v))
			cli_fmt_bytes(v, rx, sizeof(rx));
		if (cli_json_u64(p, "tx_bytes", &v))
			cli_fmt_bytes(v, tx, sizeof(tx));
		rc = cli_table_add(
			&t, (const char *const[]){
				    name != NULL && name[0] != '\0' ? name : "(not in registry)",
				    ipv4 != NULL ? ipv4 : "-", ep != NULL ? ep : "-",
				    kind != NULL ? kind : "none", ago, rx, tx });
	}
	if (rc < 0)
		printf("  (out of memory listing %zu peers)\n", n);
	else
		cli_table_print(&t, stdout, "  ");
	cli_table_clear(&t);
	free(sorted);
}

/* --- this host's endpoints, NAT, resolved ------------------------------------------------ */

static void print_endpoints(const struct cli_json *e)
{
	const struct cli_json *pub = cli_json_get(e, "published");
	const struct cli_json *unresolved = cli_json_get(e, "unresolved");
	const char *error = cli_json_text(e, "error");
	uint64_t seq = 0, expires = 0, dropped = 0;
	char date[32];
	bool first = true;

	printf("endpoints:   ");
	if (cli_json_get(e, "publishing") != NULL && !cli_json_true(e, "publishing"))
		printf("not published (publishing is off)");
	else if (cli_json_get(e, "member") != NULL && !cli_json_true(e, "member"))
		printf("not published (this host is not an active member)");
	else if (!cli_json_u64(e, "seq", &seq))
		printf("not published yet");
	else {
		printf("seq %llu", (unsigned long long)seq);
		if (cli_json_u64(e, "expires", &expires)) {
			cli_date(expires, date);
			printf(", until %s", date);
		}
	}
	if (pub != NULL && pub->type == CLI_JSON_ARRAY)
		for (const struct cli_json *p = pub->child; p != NULL; p = p->next) {
			const char *addr = cli_json_text(p, "address"),
				   *kind = cli_json_text(p, "kind");
			const char *source = cli_json_text(p, "source");
			uint64_t port = 0;
			bool v6 = addr != NULL && strchr(addr, ':') != NULL;

			cli_json_u64(p, "port", &port);
			printf("%s%s%s%s:%llu %s", first ? ": " : ", ", v6 ? "[" : "",
			       addr != NULL ? addr : "?", v6 ? "]" : "", (unsigned long long)port,
			       kind != NULL ? kind : "?");
			if (source != NULL)
				printf(" (%s)", source);
			first = false;
		}
	if (cli_json_u64(e, "dropped", &dropped) && dropped > 0)
		printf("; %llu more left out (a record holds %d)", (unsigned long long)dropped,
		       REC_MAX_ENDPOINTS);
	if (unresolved != NULL && unresolved->type == CLI_JSON_ARRAY && unresolved->child != NULL) {
		printf("; cannot resolve");
		for (const struct cli_json *u = unresolved->child; u != NULL; u = u->next)
			if (u->type == CLI_JSON_STRING)
				printf(" %s", u->str);
	}
	if (error != NULL)
		printf("; error: %s", error);
	printf("\n");
}

static const char *nat_explained(const char *nat)
{
	if (strcmp(nat, "none") == 0)
		return "none (directly reachable: a public or global IPv6 endpoint)";
	if (strcmp(nat, "open") == 0)
		return "open (one mapping seen by two observers: the reflexive endpoint is "
		       "published)";
	if (strcmp(nat, "symmetric") == 0)
		return "symmetric (observers disagree: no reflexive endpoint is published)";
	if (strcmp(nat, "unknown") == 0)
		return "unknown (not enough observations yet)";
	return nat;
}

/* The NAT verdict, wherever the daemon put it: top level, under endpoints or wireguard. */
static void print_nat(const struct cli_json *doc)
{
	static const char *const parents[] = { NULL, "endpoints", "wireguard" };

	for (size_t i = 0; i < sizeof(parents) / sizeof(parents[0]); i++) {
		const struct cli_json *where = parents[i] == NULL ? doc :
								    cli_json_get(doc, parents[i]);
		const struct cli_json *nat = cli_json_get(where, "nat");

		if (nat == NULL)
			continue;
		printf("nat:         ");
		if (nat->type == CLI_JSON_STRING)
			printf("%s\n", nat_explained(nat->str));
		else
			print_generic(nat);
		return;
	}
}

/* Prints the scalar strings of array arr after label, blank-separated. */
static void print_list(const char *label, const struct cli_json *arr)
{
	if (arr == NULL || arr->type != CLI_JSON_ARRAY || arr->child == NULL)
		return;
	printf("%s", label);
	for (const struct cli_json *m = arr->child; m != NULL; m = m->next)
		if (m->type == CLI_JSON_STRING)
			printf("%s%s", m == arr->child ? "" : " ", m->str);
}

/* "resolved: registered on wg0: DNS 198.51.100.1:53, domains ~mesh (mode auto)". */
static void print_resolved(const struct cli_json *r)
{
	const char *state = cli_json_text(r, "state"), *mode = cli_json_text(r, "mode");
	const char *ifname = cli_json_text(r, "interface"), *error = cli_json_text(r, "error");

	printf("resolved:    ");
	if (r->type != CLI_JSON_OBJECT || state == NULL) {
		print_generic(r); /* a shape this meshname does not know */
		return;
	}
	printf("%s", state);
	if (ifname != NULL)
		printf(" on %s", ifname);
	print_list(": DNS ", cli_json_get(r, "servers"));
	print_list(", domains ", cli_json_get(r, "domains"));
	if (mode != NULL)
		printf(" (mode %s)", mode);
	if (error != NULL)
		printf("; %s", error);
	printf("\n");
}

/* --- peer sync --------------------------------------------------------------------------- */

/* A neighbour's time member: unix seconds, 0 when null or missing (never). */
static uint64_t json_time(const struct cli_json *o, const char *key)
{
	uint64_t v = 0;

	return cli_json_u64(o, key, &v) ? v : 0;
}

/* "lan,seed,member" from the neighbour's source array, "-" when empty. */
static void sync_source(const struct cli_json *nb, char *out, size_t size)
{
	const struct cli_json *src = cli_json_get(nb, "source");
	size_t len = 0;

	out[0] = '\0';
	if (src != NULL && src->type == CLI_JSON_ARRAY)
		for (const struct cli_json *m = src->child; m != NULL; m = m->next) {
			int n;

			if (m->type != CLI_JSON_STRING || len >= size)
				continue;
			n = snprintf(out + len, size - len, "%s%s", len > 0 ? "," : "", m->str);
			len += n > 0 ? (size_t)n : 0;
		}
	if (out[0] == '\0')
		snprintf(out, size, "-");
}

/* NAME: the member's name, or the start of its host key when the registry does not know
 * it (a LAN peer not admitted yet): enough to tell two strangers apart. */
static void sync_name(const struct cli_json *nb, char *out, size_t size)
{
	const char *name = cli_json_text(nb, "name"), *key = cli_json_text(nb, "host_key");

	if (name != NULL && name[0] != '\0')
		snprintf(out, size, "%s", name);
	else
		snprintf(out, size, "(key %.8s)", key != NULL ? key : "?");
}

static int sync_peer_cmp(const void *a, const void *b)
{
	const struct cli_json *pa = *(const struct cli_json *const *)a;
	const struct cli_json *pb = *(const struct cli_json *const *)b;
	const char *na = cli_json_text(pa, "name"), *nb = cli_json_text(pb, "name");
	const char *ka = cli_json_text(pa, "host_key"), *kb = cli_json_text(pb, "host_key");

	/* Members by name, then the peers the registry does not know, by key. */
	if (na != NULL && nb != NULL)
		return strcmp(na, nb);
	if (na != NULL || nb != NULL)
		return na != NULL ? -1 : 1;
	return strcmp(ka != NULL ? ka : "", kb != NULL ? kb : "");
}

static void print_sync_neighbours(const struct cli *c, const struct cli_json *nbs, size_t n)
{
	const struct cli_json **sorted = calloc(n, sizeof(*sorted));
	struct cli_table t;
	size_t i = 0;
	int rc;

	if (sorted == NULL || cli_table_init(&t, 5, 0) < 0) {
		free(sorted);
		printf("  (out of memory listing %zu sync neighbours)\n", n);
		return;
	}
	for (const struct cli_json *p = nbs->child; p != NULL; p = p->next)
		if (p->type == CLI_JSON_OBJECT)
			sorted[i++] = p;
	qsort(sorted, n, sizeof(*sorted), sync_peer_cmp);
	rc = cli_table_add(&t,
			   (const char *const[]){ "NAME", "VIA", "SOURCE", "LAST SYNC", "STATE" });
	for (i = 0; i < n && rc == 0; i++) {
		const struct cli_json *p = sorted[i];
		const char *via = cli_json_text(p, "via");
		struct cli_sync_peer peer = {
			.last_ok = json_time(p, "last_ok"),
			.last_fail = json_time(p, "last_fail"),
			.backoff_until = json_time(p, "backoff_until"),
			.in_session = cli_json_true(p, "in_session"),
			.banned = cli_json_true(p, "banned"),
		};
		char name[64], source[32], ago[32], state[48];
		uint64_t failures = 0;

		if (cli_json_u64(p, "failures", &failures))
			peer.failures = failures > UINT32_MAX ? UINT32_MAX : (unsigned)failures;
		sync_name(p, name, sizeof(name));
		sync_source(p, source, sizeof(source));
		cli_fmt_ago((int64_t)c->now, (int64_t)peer.last_ok, ago, sizeof(ago));
		cli_fmt_sync_state(c->now, &peer, state, sizeof(state));
		rc = cli_table_add(&t, (const char *const[]){ name, via != NULL ? via : "-", source,
							      ago, state });
	}
	if (rc < 0)
		printf("  (out of memory listing %zu sync neighbours)\n", n);
	else
		cli_table_print(&t, stdout, "  ");
	cli_table_clear(&t);
	free(sorted);
}

/* "sync:        port 51821, 4 neighbours, last sync 12s ago, 0 records pending", its last
 * error, and the neighbour table. parked comes from the sync object, else from the
 * registry's "pending" at the top of doc (the same count). */
static void print_sync(const struct cli *c, const struct cli_json *doc, const struct cli_json *sy)
{
	const struct cli_json *nbs = cli_json_get(sy, "neighbours");
	const char *error = cli_json_text(sy, "error");
	struct cli_sync_summary sum = { .beacons = true };
	char line[256];
	size_t n = 0;

	printf("%ssync:%s        ", cli_bold(c), cli_reset(c));
	if (sy->type != CLI_JSON_OBJECT) {
		print_generic(sy); /* a shape this meshname does not know */
		return;
	}
	if (!cli_json_true(sy, "enabled")) {
		printf("off (sync no in meshnamed.conf)\n");
		return;
	}
	if (nbs != NULL && nbs->type == CLI_JSON_ARRAY)
		for (const struct cli_json *p = nbs->child; p != NULL; p = p->next)
			if (p->type == CLI_JSON_OBJECT)
				n++;
	cli_json_u64(sy, "port", &sum.port);
	sum.neighbours = n;
	sum.last_ok = json_time(sy, "last_ok");
	cli_json_u64(sy, "pending_push", &sum.pending);
	sum.have_parked = cli_json_u64(sy, "parked", &sum.parked) ||
			  cli_json_u64(doc, "pending", &sum.parked);
	cli_json_u64(sy, "banned", &sum.banned);
	if (cli_json_get(sy, "beacons") != NULL)
		sum.beacons = cli_json_true(sy, "beacons");
	cli_fmt_sync_summary(c->now, &sum, line, sizeof(line));
	printf("%s\n", line);
	if (error != NULL && error[0] != '\0')
		printf("  %serror:%s %s\n", cli_red(c), cli_reset(c), error);
	if (n == 0)
		printf("  no neighbours yet (no other member, no seed, no LAN beacon heard)\n");
	else
		print_sync_neighbours(c, nbs, n);
}

void cli_status_wireguard(const struct cli *c, const struct cli_json *doc)
{
	const struct cli_json *wg = cli_json_get(doc, "wireguard");
	const struct cli_json *endpoints = cli_json_get(doc, "endpoints");
	const struct cli_json *resolved = cli_json_get(doc, "resolved");
	const struct cli_json *sync = cli_json_get(doc, "sync");

	if (wg != NULL && wg->type == CLI_JSON_OBJECT) {
		const char *ifname = cli_json_text(wg, "interface");
		const char *backend = cli_json_text(wg, "backend");
		const struct cli_json *peers = cli_json_get(wg, "peers");
		uint64_t port;
		size_t n = 0;

		if (peers != NULL && peers->type == CLI_JSON_ARRAY)
			for (const struct cli_json *p = peers->child; p != NULL; p = p->next)
				n++;
		printf("%swireguard:%s   %s (%s)", cli_bold(c), cli_reset(c),
		       ifname != NULL ? ifname : "?", backend != NULL ? backend : "?");
		if (cli_json_get(wg, "device") != NULL && !cli_json_true(wg, "device")) {
			printf(": %scannot read the interface%s (meshnamed retries every second; "
			       "its log says why)\n",
			       cli_red(c), cli_reset(c));
		} else {
			if (cli_json_u64(wg, "listen_port", &port))
				printf(", listen port %llu", (unsigned long long)port);
			printf(", %zu peer%s\n", n, n == 1 ? "" : "s");
			if (peers != NULL && peers->type == CLI_JSON_ARRAY)
				print_peers(c, peers);
		}
	}
	if (endpoints != NULL && endpoints->type == CLI_JSON_OBJECT)
		print_endpoints(endpoints);
	print_nat(doc);
	if (resolved != NULL)
		print_resolved(resolved);
	if (sync != NULL)
		print_sync(c, doc, sync);
}
