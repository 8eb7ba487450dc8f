/*
 * endpoint.c: `meshname endpoint`: this host's WireGuard endpoints, published as an
 * ENDPOINTS record signed with this host's key and re-signed with the next seq on
 * every change. It only ever speaks for this host.
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "meshname/endpoints.h"

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
	"A running meshnamed publishes this host's interface addresses and the endpoint\n"
	"lines of meshnamed.conf by itself. add and rm keep a list of endpoints added by\n"
	"hand (endpoints.pinned in the state directory) that meshnamed publishes next to\n"
	"them; without a daemon, they change the published record directly.\n"
	"\n"
	"Options:\n"
	"  --kind lan|public    the kind of an IPv4 or non-global IPv6 endpoint (default: lan)\n"
	"  --listen-port PORT   the WireGuard listen port to publish when no meshnamed runs\n"
	"                       (default: the one published before, else 51820)\n"
	"  --json               for ls: an object with listen_port and endpoints (kind,\n"
	"                       address, port)\n";

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

/*
 * Asks a meshnamed running for this state directory to publish now (the pinned list has
 * changed). Returns 1 when it did (*res filled), 0 when it is up to this command: no
 * daemon, a daemon of another state directory, publish-endpoints no, or a daemon that
 * does not see this host yet.
 */
struct daemon_reply {
	uint64_t seq, n, listen_port;
};

static bool same_dir(const char *a, const char *b)
{
	char *ra = realpath(a, NULL), *rb = realpath(b, NULL);
	bool same = ra != NULL && rb != NULL && strcmp(ra, rb) == 0;

	free(ra);
	free(rb);
	return same;
}

static int ask_daemon(struct cli *c, struct daemon_reply *res)
{
	struct cli_json *doc = NULL;
	char *raw = NULL;
	const char *state;
	size_t len;
	int ret = 0;

	if (cli_control_request(c->control, "publish", &raw, &len) < 0)
		return 0;
	if (cli_json_parse(raw, len, &doc) == 0 && (state = cli_json_text(doc, "state")) != NULL &&
	    same_dir(state, c->state) && cli_json_u64(doc, "seq", &res->seq) &&
	    cli_json_u64(doc, "endpoints", &res->n) &&
	    cli_json_u64(doc, "listen_port", &res->listen_port))
		ret = 1;
	cli_json_free(doc);
	free(raw);
	return ret;
}

/* Whether this host's record, as the registry holds it now (after the daemon's publish),
 * lists ep. Replaces *s with the fresh snapshot. */
static bool still_published(struct cli *c, struct snapshot **s, const struct rec_endpoint *ep)
{
	const struct snapshot_host *h;
	struct rec_endpoints now;
	uint8_t pk[REC_KEY_SIZE];
	bool changed;

	if (registry_changed(c->reg, &changed) < 0 || registry_refresh(c->reg, c->now) < 0 ||
	    cli_host_pk(c, pk) < 0)
		return false;
	snapshot_unref(*s);
	*s = NULL;
	if (registry_snapshot(c->reg, s) < 0)
		return false;
	h = snapshot_lookup_host_key(*s, pk);
	if (h == NULL)
		return false;
	endpoints_of_host(h, &now);
	return endpoints_find(&now, ep) >= 0;
}

/* Publishes set without a daemon: the next seq, until the certificate ends (nothing
 * would sign it again before). */
static int publish_here(struct cli *c, const struct snapshot_host *h, struct rec_endpoints *set)
{
	uint8_t buf[REC_MAX_SIZE];
	size_t len;
	int rc;

	endpoints_sort(set);
	rc = endpoints_sign(c->state, c->mesh_id, set, h->endpoints_seq + 1, c->now, h->not_after,
			    buf, &len);
	if (rc == -EINVAL)
		return cli_fail("cannot sign the ENDPOINTS record: it breaks a rule of the record "
				"format");
	if (rc < 0)
		return cli_fail("cannot sign with this host's key: %s", strerror(-rc));
	return cli_ingest(c, buf, len, "the new ENDPOINTS");
}

static int endpoint_change(struct cli *c, bool add, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kind", required_argument, NULL, 'k' },
		{ "listen-port", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	struct snapshot *s = NULL;
	const struct snapshot_host *h = NULL;
	struct rec_endpoints pinned, set;
	struct rec_endpoint ep;
	struct daemon_reply dr = { 0 };
	const char *kind = NULL;
	uint64_t port = 0;
	unsigned line;
	int ch, ret, rc, at;
	bool was_pinned;

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

	ret = cli_open(c);
	if (ret != CLI_OK)
		return ret;
	ret = this_host(c, &s, &h);
	if (ret != CLI_OK)
		goto out;
	rc = endpoints_pinned_load(c->state, &pinned, &line);
	if (rc < 0) {
		if (line > 0)
			ret = cli_fail("%s/%s line %u is not KIND ADDRESS PORT: fix or remove it",
				       c->state, ENDPOINTS_PINNED, line);
		else
			ret = cli_fail("cannot read %s/%s: %s", c->state, ENDPOINTS_PINNED,
				       strerror(-rc));
		goto out;
	}
	endpoints_of_host(h, &set);
	at = endpoints_find(&pinned, &ep);
	was_pinned = at >= 0;
	if (at >= 0) { /* removing it first makes add a change of kind, and rm a removal */
		memmove(&pinned.ep[at], &pinned.ep[at + 1],
			(size_t)(pinned.n - at - 1) * sizeof(ep));
		pinned.n--;
	} else if (!add && endpoints_find(&set, &ep) < 0) {
		ret = cli_fail("%s is not an endpoint of this host: see meshname endpoint ls",
			       argv[optind]);
		goto out;
	}
	if (add) {
		if (pinned.n >= REC_MAX_ENDPOINTS) {
			ret = cli_fail(
				"this host already has %d endpoints added by hand: remove one "
				"first",
				REC_MAX_ENDPOINTS);
			goto out;
		}
		pinned.ep[pinned.n++] = ep;
	}
	rc = endpoints_pinned_save(c->state, &pinned);
	if (rc < 0) {
		ret = cli_fail("cannot write %s/%s: %s", c->state, ENDPOINTS_PINNED, strerror(-rc));
		goto out;
	}

	/* A running meshnamed merges the pinned list with what it finds; without one, the
	 * record changes by this one endpoint, as it always did. */
	if (ask_daemon(c, &dr) == 1) {
		if (port != 0 && port != dr.listen_port)
			warnx("--listen-port is ignored: meshnamed publishes the port its interface "
			      "listens on (%llu; listen-port in meshnamed.conf)",
			      (unsigned long long)dr.listen_port);
		if (!add && still_published(c, &s, &ep)) {
			if (was_pinned) {
				printf("removed %s from the endpoints added by hand; meshnamed still "
				       "publishes it because it found it (an interface address or "
				       "an endpoint line in meshnamed.conf)\n",
				       argv[optind]);
				goto out;
			}
			ret = cli_fail("%s was not added with meshname endpoint add: meshnamed "
				       "publishes it because it found it (an interface address or "
				       "an endpoint line in meshnamed.conf)",
				       argv[optind]);
			goto out;
		}
		printf("%s %s (%s); %llu endpoint%s now, listen port %llu (published by "
		       "meshnamed)\n",
		       add ? "published" : "removed", argv[optind], rec_ep_kind_name(ep.kind),
		       (unsigned long long)dr.n, dr.n == 1 ? "" : "s",
		       (unsigned long long)dr.listen_port);
		goto out;
	}
	at = endpoints_find(&set, &ep);
	if (at >= 0) {
		memmove(&set.ep[at], &set.ep[at + 1], (size_t)(set.n - at - 1) * sizeof(ep));
		set.n--;
	}
	if (add) {
		if (set.n >= REC_MAX_ENDPOINTS) {
			ret = cli_fail("this host already has %d endpoints: remove one first",
				       REC_MAX_ENDPOINTS);
			goto out;
		}
		set.ep[set.n++] = ep;
	}
	set.listen_port = (uint16_t)(port != 0             ? port :
				     h->endpoints_seq != 0 ? h->listen_port :
							     DEFAULT_LISTEN_PORT);
	ret = publish_here(c, h, &set);
	if (ret == CLI_OK)
		printf("%s %s (%s); %u endpoint%s now, listen port %u\n",
		       add ? "published" : "removed", argv[optind], rec_ep_kind_name(ep.kind),
		       set.n, set.n == 1 ? "" : "s", set.listen_port);
out:
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
