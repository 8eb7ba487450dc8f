/*
 * endpoint.c: `meshname endpoint`: this host's WireGuard endpoints, published as an
 * ENDPOINTS record signed with this host's key and re-signed with the next seq on
 * every change. It only ever speaks for this host.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli/cli.h"
#include "meshname/keys.h"

#define DEFAULT_LISTEN_PORT 51820

const char cli_help_endpoint[] =
	"Usage: meshname endpoint add ADDR:PORT [--kind lan|public] [--listen-port PORT]\n"
	"       meshname endpoint rm ADDR:PORT\n"
	"       meshname endpoint ls [--json]\n"
	"\n"
	"The addresses where other hosts can reach this host's WireGuard interface, up to 16,\n"
	"published in a record signed with this host's key. Write IPv6 endpoints as\n"
	"[ADDR]:PORT. A global IPv6 address (2000::/3) is of kind ipv6; any other address is\n"
	"lan unless --kind public says it is reachable from the internet.\n"
	"\n"
	"Options:\n"
	"  --kind lan|public    the kind of an IPv4 or non-global IPv6 endpoint (default: lan)\n"
	"  --listen-port PORT   the WireGuard listen port to publish (default: the one\n"
	"                       published before, else 51820)\n"
	"  --json               for ls: an object with listen_port and endpoints (kind,\n"
	"                       address, port)\n";

/* The 20 bytes the record format sorts endpoints by (doc/records.md). */
static void ep_wire(const struct rec_endpoint *e, uint8_t out[20])
{
	out[0] = e->kind;
	out[1] = e->family;
	memcpy(out + 2, e->addr, 16);
	out[18] = (uint8_t)(e->port >> 8);
	out[19] = (uint8_t)e->port;
}

static int ep_cmp(const void *a, const void *b)
{
	uint8_t wa[20], wb[20];

	ep_wire(a, wa);
	ep_wire(b, wb);
	return memcmp(wa, wb, sizeof(wa));
}

static bool same_address(const struct rec_endpoint *a, const struct rec_endpoint *b)
{
	return a->family == b->family && a->port == b->port && memcmp(a->addr, b->addr, 16) == 0;
}

/* This host as the snapshot has it; prints why not and returns an exit code. */
static int this_host(struct cli *c, struct snapshot **s, const struct snapshot_host **h)
{
	uint8_t pk[REC_KEY_SIZE];
	int rc;

	if (cli_host_pk(c, pk) < 0)
		return cli_fail("this machine has no host key in %s: run meshname join first",
				c->state);
	rc = registry_snapshot(c->reg, s);
	if (rc < 0)
		return cli_fail("cannot read the registry: %s", strerror(-rc));
	*h = snapshot_lookup_host_key(*s, pk);
	if (*h == NULL)
		return cli_fail("this host is not an active member of the mesh (its certificate "
				"expired or was revoked): see meshname status");
	return CLI_OK;
}

static int endpoint_change(struct cli *c, bool add, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kind", required_argument, NULL, 'k' },
		{ "listen-port", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	uint8_t sk[REC_SECRET_SIZE];
	struct snapshot *s = NULL;
	const struct snapshot_host *h = NULL;
	struct rec_endpoint ep;
	struct rec r;
	const char *kind = NULL;
	uint64_t port = 0;
	int ch, ret, rc;
	unsigned found = UINT8_MAX;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'k' && add)
			kind = optarg;
		else if (ch == 'p' && add && cli_parse_u64(optarg, 1, 65535, &port) == 0)
			continue;
		else if (ch == 'p' && add)
			return cli_usage("endpoint",
					 "--listen-port must be a port from 1 to 65535");
		else
			return cli_bad_option("endpoint", argv);
	}
	if (argc - optind != 1)
		return cli_usage("endpoint", "endpoint %s takes one ADDR:PORT", add ? "add" : "rm");
	if (cli_parse_endpoint(argv[optind], &ep) < 0)
		return cli_usage("endpoint", "'%s' is not ADDR:PORT (IPv6 as [ADDR]:PORT)",
				 argv[optind]);
	if (kind != NULL && strcmp(kind, "lan") != 0 && strcmp(kind, "public") != 0)
		return cli_usage("endpoint", "--kind must be lan or public");
	/* 2000::/3 is global unicast (RFC 4291 section 2.4). */
	if (ep.family == 6 && (ep.addr[0] & 0xe0) == 0x20)
		ep.kind = EP_IPV6;
	else
		ep.kind = kind != NULL && strcmp(kind, "public") == 0 ? EP_PUBLIC : EP_LAN;

	memset(sk, 0, sizeof(sk));
	ret = cli_open(c);
	if (ret != CLI_OK)
		return ret;
	ret = this_host(c, &s, &h);
	if (ret != CLI_OK)
		goto out;
	memset(&r, 0, sizeof(r));
	r.u.endpoints.n = h->n_endpoints;
	if (h->n_endpoints > 0) /* endpoints is NULL when there are none */
		memcpy(r.u.endpoints.ep, h->endpoints, h->n_endpoints * sizeof(h->endpoints[0]));
	for (unsigned i = 0; i < r.u.endpoints.n; i++)
		if (same_address(&r.u.endpoints.ep[i], &ep))
			found = i;
	if (found != UINT8_MAX) {
		/* Removing it first makes add a change of kind, and rm a removal. */
		memmove(&r.u.endpoints.ep[found], &r.u.endpoints.ep[found + 1],
			(r.u.endpoints.n - found - 1) * sizeof(ep));
		r.u.endpoints.n--;
	} else if (!add) {
		ret = cli_fail("%s is not an endpoint of this host: see meshname endpoint ls",
			       argv[optind]);
		goto out;
	}
	if (add) {
		if (r.u.endpoints.n >= REC_MAX_ENDPOINTS) {
			ret = cli_fail("this host already has %d endpoints: remove one first",
				       REC_MAX_ENDPOINTS);
			goto out;
		}
		r.u.endpoints.ep[r.u.endpoints.n++] = ep;
	}
	qsort(r.u.endpoints.ep, r.u.endpoints.n, sizeof(ep), ep_cmp);
	r.u.endpoints.listen_port = (uint16_t)(port != 0             ? port :
					       h->endpoints_seq != 0 ? h->listen_port :
								       DEFAULT_LISTEN_PORT);
	r.type = REC_ENDPOINTS;
	memcpy(r.mesh_id, c->mesh_id, REC_ID_SIZE);
	r.seq = h->endpoints_seq + 1;
	r.issued_at = c->now;
	/* Endpoints are worth nothing once the certificate is gone. */
	r.expires_at = h->not_after;
	rc = keys_ed25519_load(c->state, KEYS_HOST, sk);
	if (rc < 0) {
		ret = cli_fail("cannot read this host's key: %s", strerror(-rc));
		goto out;
	}
	ret = cli_sign_ingest(c, &r, sk, NULL, NULL);
	if (ret == CLI_OK)
		printf("%s %s (%s); %u endpoint%s now, listen port %u\n",
		       add ? "published" : "removed", argv[optind], rec_ep_kind_name(ep.kind),
		       r.u.endpoints.n, r.u.endpoints.n == 1 ? "" : "s", r.u.endpoints.listen_port);
out:
	sodium_memzero(sk, sizeof(sk));
	snapshot_unref(s);
	cli_close(c, false);
	return ret;
}

static int endpoint_ls(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct snapshot *s = NULL;
	const struct snapshot_host *h = NULL;
	bool json = false;
	int ch, ret;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 'j')
			return cli_bad_option("endpoint", argv);
		json = true;
	}
	if (optind != argc)
		return cli_usage("endpoint", "endpoint ls takes no arguments");
	ret = cli_open(c);
	if (ret != CLI_OK)
		return ret;
	ret = this_host(c, &s, &h);
	if (ret != CLI_OK)
		goto out;
	if (json) {
		if (h->endpoints_seq != 0)
			printf("{\"listen_port\":%u,\"endpoints\":[", h->listen_port);
		else
			printf("{\"listen_port\":null,\"endpoints\":[");
	} else {
		if (h->endpoints_seq != 0)
			printf("listen port %u\n", h->listen_port);
		else
			printf("listen port - (none published yet)\n");
		printf("%s%-47s  %s%s\n", cli_bold(c), "ENDPOINT", "KIND", cli_reset(c));
	}
	for (unsigned i = 0; i < h->n_endpoints; i++) {
		const struct rec_endpoint *e = &h->endpoints[i];
		char text[64], addr[46];

		if (json) {
			if (e->family == 4)
				cli_ipv4_str(e->addr, addr);
			else
				cli_ipv6_str(e->addr, addr);
			printf("%s{\"kind\":\"%s\",\"address\":\"%s\",\"port\":%u}",
			       i > 0 ? "," : "", rec_ep_kind_name(e->kind), addr, e->port);
		} else {
			cli_endpoint_str(e, text);
			printf("%-47s  %s\n", text, rec_ep_kind_name(e->kind));
		}
	}
	if (json)
		printf("]}\n");
out:
	snapshot_unref(s);
	cli_close(c, false);
	return ret;
}

int cmd_endpoint(struct cli *c, int argc, char **argv)
{
	if (argc < 2)
		return cli_usage("endpoint", "endpoint needs add, rm or ls");
	if (strcmp(argv[1], "add") == 0)
		return endpoint_change(c, true, argc - 1, argv + 1);
	if (strcmp(argv[1], "rm") == 0)
		return endpoint_change(c, false, argc - 1, argv + 1);
	if (strcmp(argv[1], "ls") == 0)
		return endpoint_ls(c, argc - 1, argv + 1);
	return cli_usage("endpoint", "unknown endpoint command '%s': use add, rm or ls", argv[1]);
}
