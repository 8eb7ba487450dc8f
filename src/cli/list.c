/*
 * list.c: the read-only views of the registry: `status` (also bare `meshname`), `ls`,
 * `show`, `hosts` and `export-zone`. They read a snapshot and the stored records and
 * never write; public keys are shown, secret keys never.
 */
#include <arpa/inet.h>
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli/cli.h"
#include "meshname/certstate.h"
#include "meshname/keys.h"

#define ZONE_TTL 300u

const char cli_help_status[] =
	"Usage: meshname status [--json]\n"
	"       meshname\n"
	"\n"
	"Shows the mesh (name, id, zone, prefixes), this host (name, addresses, certificate\n"
	"expiry), what the registry holds and any alerts (conflicts the registry resolved).\n"
	"Asks the running meshnamed first (see --control in meshname --help): then it also\n"
	"shows the daemon's pid, its DNS listeners (bound or FAILED), resolver counters, the\n"
	"WireGuard interface (backend, listen port) with one line per peer (mesh IPv4,\n"
	"endpoint in use and its kind: lan, ipv6, public, reflexive or none; latest\n"
	"handshake; bytes received and sent), and the endpoints this host publishes.\n"
	"When no daemon answers, or it serves another state directory, it shows the local\n"
	"registry and says \"daemon: not running (offline view)\".\n"
	"Warns when this host's certificate expires within 30 days.\n"
	"\n"
	"Options:\n"
	"  --json   the same as one JSON object (the daemon's has \"daemon\":\"running\",\n"
	"           pid, listeners, resolver counters, \"wireguard\" and \"endpoints\", and\n"
	"           no \"admin\"; see meshname(8))\n"
	"\n"
	"Exit status: 0, or 1 when this host's certificate expired or was revoked (or the\n"
	"state directory holds no mesh).\n";

const char cli_help_ls[] =
	"Usage: meshname ls [--json]\n"
	"\n"
	"Lists the active hosts of the mesh in name order: name, mesh IPv4 and IPv6\n"
	"addresses, host key fingerprint (the first 8 bytes in hex), WireGuard public key\n"
	"(base64, as wg(8) shows it), endpoints and certificate expiry. This host is marked\n"
	"with *. The list comes from the running meshnamed when it serves this state\n"
	"directory (what DNS answers from), else from the local registry; both look the same.\n"
	"\n"
	"Options:\n"
	"  --json   a JSON array with one object per host: name, fqdn, self, ipv4, ipv6,\n"
	"           host_key and wg_key (base64), groups, serial, cert_id (hex), not_before\n"
	"           and not_after (unix seconds), expires (date), listen_port (or null) and\n"
	"           endpoints (kind, address, port)\n";

const char cli_help_show[] =
	"Usage: meshname show HOST [--json]\n"
	"\n"
	"Shows everything the registry holds about one active host: addresses, full host\n"
	"and WireGuard public keys, groups, certificate serial, id and validity, endpoints.\n"
	"\n"
	"Options:\n"
	"  --json   one JSON object, with the fields of `meshname ls --json`\n";

const char cli_help_hosts[] = "Usage: meshname hosts\n"
			      "\n"
			      "Prints hosts(5) lines for every active host, IPv4 and IPv6:\n"
			      "ADDRESS<TAB>NAME.ZONE NAME\n";

const char cli_help_export_zone[] =
	"Usage: meshname export-zone\n"
	"\n"
	"Prints the mesh as an RFC 1035 zone file: $ORIGIN, an SOA and NS record naming this\n"
	"host, A and AAAA records for every active host and the custom records (see\n"
	"meshname record). For publishing the names in public DNS, if you want to.\n";

/* --- one host ------------------------------------------------------------------------ */

/* The "s" of a count's noun: "1 host", "2 hosts". */
static const char *plural(unsigned long long n)
{
	return n == 1 ? "" : "s";
}

static void json_host(const char *zone, const struct snapshot_host *h, bool self, FILE *f)
{
	char a4[16], a6[46], hk[45], wk[45], id[2 * REC_ID_SIZE + 1], date[32], ep[64];

	cli_ipv4_str(h->ipv4, a4);
	cli_ipv6_str(h->ipv6, a6);
	cli_key_b64(h->host_key, hk);
	cli_key_b64(h->wg_key, wk);
	cli_hex(h->cert_id, REC_ID_SIZE, id);
	cli_date(h->not_after, date);
	fputs("{\"name\":", f);
	cli_json_str(f, h->name);
	fprintf(f, ",\"fqdn\":\"%s.%s\",\"self\":%s", h->name, zone, self ? "true" : "false");
	fprintf(f, ",\"ipv4\":\"%s\",\"ipv6\":\"%s\",\"host_key\":\"%s\",\"wg_key\":\"%s\"", a4, a6,
		hk, wk);
	fputs(",\"groups\":[", f);
	for (unsigned i = 0; i < h->n_groups; i++) {
		if (i > 0)
			fputc(',', f);
		cli_json_str(f, h->groups[i]);
	}
	fprintf(f, "],\"serial\":%llu,\"cert_id\":\"%s\",\"not_before\":%llu,\"not_after\":%llu",
		(unsigned long long)h->serial, id, (unsigned long long)h->not_before,
		(unsigned long long)h->not_after);
	fprintf(f, ",\"expires\":\"%s\"", date);
	if (h->endpoints_seq != 0)
		fprintf(f, ",\"listen_port\":%u", h->listen_port);
	else
		fputs(",\"listen_port\":null", f);
	fputs(",\"endpoints\":[", f);
	for (unsigned i = 0; i < h->n_endpoints; i++) {
		const struct rec_endpoint *e = &h->endpoints[i];

		if (e->family == 4)
			cli_ipv4_str(e->addr, ep);
		else
			cli_ipv6_str(e->addr, ep);
		fprintf(f, "%s{\"kind\":\"%s\",\"address\":\"%s\",\"port\":%u}", i > 0 ? "," : "",
			rec_ep_kind_name(e->kind), ep, e->port);
	}
	fputs("]}", f);
}

static char *endpoints_text(const struct snapshot_host *h)
{
	size_t size = (size_t)h->n_endpoints * 64 + 2, len = 0;
	char *s = malloc(size), ep[64];

	if (s == NULL)
		return NULL;
	s[0] = '\0';
	for (unsigned i = 0; i < h->n_endpoints; i++) {
		cli_endpoint_str(&h->endpoints[i], ep);
		len += (size_t)snprintf(s + len, size - len, "%s%s", i > 0 ? "," : "", ep);
	}
	if (len == 0)
		snprintf(s, size, "-");
	return s;
}

/* Opens the registry and takes a snapshot; returns an exit code. */
static int open_snapshot(struct cli *c, struct snapshot **s, uint8_t self[REC_KEY_SIZE],
			 bool *have_self)
{
	int ret = cli_open(c), rc;

	if (ret != CLI_OK)
		return ret;
	rc = registry_snapshot(c->reg, s);
	if (rc < 0) {
		cli_close(c, false);
		return cli_fail("cannot read the registry: %s", strerror(-rc));
	}
	*have_self = cli_host_pk(c, self) == 0;
	return CLI_OK;
}

static bool is_self(const struct snapshot_host *h, const uint8_t self[REC_KEY_SIZE], bool have_self)
{
	return have_self && memcmp(h->host_key, self, REC_KEY_SIZE) == 0;
}

/* Parses a lone --json; returns -1 on a usage error. */
static int parse_json_flag(int argc, char **argv, bool *json, int *first_arg)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	*json = false;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 'j')
			return -1;
		*json = true;
	}
	*first_arg = optind;
	return 0;
}

/* --- asking meshnamed ----------------------------------------------------------------- */

/* True when a and b name the same directory (or, when either cannot be resolved, are
 * spelled the same). */
static bool same_dir(const char *a, const char *b)
{
	char *ra = realpath(a, NULL), *rb = realpath(b, NULL);
	bool same = ra != NULL && rb != NULL ? strcmp(ra, rb) == 0 : strcmp(a, b) == 0;

	free(ra);
	free(rb);
	return same;
}

/*
 * Asks the daemon at c->control. Returns 1 when it answered for this state directory
 * (*doc is the parsed reply, *raw its text: caller frees both), 0 when the local registry
 * has to do (why says why, for status: "not running", ...), or -1 after printing the
 * daemon's error.
 */
static int ask_daemon(struct cli *c, const char *verb, char **raw, struct cli_json **doc, char *why,
		      size_t why_size)
{
	size_t len;
	const char *error, *state;
	int rc;

	*doc = NULL;
	rc = cli_control_request(c->control, verb, raw, &len);
	if (rc == -ENOENT || rc == -ECONNREFUSED) {
		snprintf(why, why_size, "not running");
		return 0;
	}
	if (rc < 0) {
		snprintf(why, why_size, "not answering on %s (%s)", c->control, strerror(-rc));
		warnx("cannot ask meshnamed on %s: %s; showing the local registry", c->control,
		      strerror(-rc));
		return 0;
	}
	rc = cli_json_parse(*raw, len, doc);
	if (rc < 0 || (*doc)->type != CLI_JSON_OBJECT) {
		snprintf(why, why_size, "sent a malformed reply on %s", c->control);
		warnx("meshnamed on %s sent a malformed reply; showing the local registry",
		      c->control);
		goto fallback;
	}
	error = cli_json_text(*doc, "error");
	if (error != NULL) {
		warnx("meshnamed: %s", error);
		cli_json_free(*doc);
		*doc = NULL;
		free(*raw);
		*raw = NULL;
		return -1;
	}
	/* A daemon serving another state directory (say, the system's while a test or a
	 * second mesh uses --state) is not the one asked about. */
	state = cli_json_text(*doc, "state");
	if (state == NULL || !same_dir(state, c->state)) {
		snprintf(why, why_size, "running for another state directory (%s)",
			 state != NULL ? state : "?");
		goto fallback;
	}
	return 1;
fallback:
	cli_json_free(*doc);
	*doc = NULL;
	free(*raw);
	*raw = NULL;
	return 0;
}

/* --- ls -------------------------------------------------------------------------------- */

/* The hosts to list: from a local snapshot, or from meshnamed's "ls" reply converted
 * into the same structs, so that both print through print_hosts. */
struct host_list {
	const char *zone;
	size_t n;
	const struct snapshot_host **hosts;
	bool *self;
	/* Only for a list read from meshnamed: what hosts point into. */
	struct snapshot_host *own;
	const char **group_names;
	struct rec_endpoint *endpoints;
};

static void host_list_free(struct host_list *l)
{
	free(l->hosts);
	free(l->self);
	free(l->own);
	free(l->group_names);
	free(l->endpoints);
}

static int host_list_alloc(struct host_list *l, size_t n)
{
	l->n = n;
	l->hosts = calloc(n + 1, sizeof(*l->hosts));
	l->self = calloc(n + 1, sizeof(*l->self));
	return l->hosts != NULL && l->self != NULL ? 0 : -ENOMEM;
}

static int host_list_from_snapshot(struct host_list *l, const struct snapshot *s, const char *zone,
				   const uint8_t self[REC_KEY_SIZE], bool have_self)
{
	l->zone = zone;
	if (host_list_alloc(l, snapshot_host_count(s)) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < l->n; i++) {
		l->hosts[i] = snapshot_host_at(s, i);
		l->self[i] = is_self(l->hosts[i], self, have_self);
	}
	return 0;
}

static size_t json_count(const struct cli_json *v)
{
	size_t n = 0;

	if (v != NULL && (v->type == CLI_JSON_ARRAY || v->type == CLI_JSON_OBJECT))
		for (const struct cli_json *m = v->child; m != NULL; m = m->next)
			n++;
	return n;
}

static bool json_key(const struct cli_json *o, const char *key, uint8_t out[REC_KEY_SIZE])
{
	const char *s = cli_json_text(o, key);

	return s != NULL && cli_b64_decode(s, out, REC_KEY_SIZE) == REC_KEY_SIZE;
}

static int endpoint_from_json(const struct cli_json *o, struct rec_endpoint *ep)
{
	static const char *const kinds[] = { "lan", "ipv6", "public", "reflexive" };
	const char *kind = cli_json_text(o, "kind"), *addr = cli_json_text(o, "address");
	uint64_t port;

	memset(ep, 0, sizeof(*ep));
	if (kind == NULL || addr == NULL || !cli_json_u64(o, "port", &port) || port > 65535)
		return -EBADMSG;
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		if (strcmp(kind, kinds[k]) == 0)
			ep->kind = (uint8_t)(EP_LAN + k);
	ep->port = (uint16_t)port;
	if (inet_pton(AF_INET, addr, ep->addr) == 1)
		ep->family = 4;
	else if (inet_pton(AF_INET6, addr, ep->addr) == 1)
		ep->family = 6;
	return ep->kind != 0 && ep->family != 0 ? 0 : -EBADMSG;
}

/* One host object of the reply (the fields of `ls --json`) into h. */
static int host_from_json(const struct cli_json *o, struct snapshot_host *h, const char **names,
			  struct rec_endpoint *eps)
{
	const struct cli_json *groups = cli_json_get(o, "groups");
	const struct cli_json *endpoints = cli_json_get(o, "endpoints");
	const struct cli_json *port = cli_json_get(o, "listen_port");
	const char *a4 = cli_json_text(o, "ipv4"), *a6 = cli_json_text(o, "ipv6");
	const char *id = cli_json_text(o, "cert_id");
	size_t i = 0;

	h->name = cli_json_text(o, "name");
	if (h->name == NULL || a4 == NULL || a6 == NULL || id == NULL ||
	    inet_pton(AF_INET, a4, h->ipv4) != 1 || inet_pton(AF_INET6, a6, h->ipv6) != 1 ||
	    !json_key(o, "host_key", h->host_key) || !json_key(o, "wg_key", h->wg_key) ||
	    sodium_hex2bin(h->cert_id, REC_ID_SIZE, id, strlen(id), NULL, NULL, NULL) != 0 ||
	    !cli_json_u64(o, "serial", &h->serial) ||
	    !cli_json_u64(o, "not_before", &h->not_before) ||
	    !cli_json_u64(o, "not_after", &h->not_after) || groups == NULL ||
	    groups->type != CLI_JSON_ARRAY || json_count(groups) > REC_MAX_GROUPS ||
	    endpoints == NULL || endpoints->type != CLI_JSON_ARRAY ||
	    json_count(endpoints) > REC_MAX_ENDPOINTS || port == NULL)
		return -EBADMSG;
	for (const struct cli_json *g = groups->child; g != NULL; g = g->next) {
		if (g->type != CLI_JSON_STRING)
			return -EBADMSG;
		names[i++] = g->str;
	}
	h->n_groups = (uint8_t)i;
	h->groups = names;
	i = 0;
	for (const struct cli_json *e = endpoints->child; e != NULL; e = e->next)
		if (endpoint_from_json(e, &eps[i++]) < 0)
			return -EBADMSG;
	h->n_endpoints = (uint8_t)i;
	h->endpoints = eps;
	/* listen_port null: the host published no ENDPOINTS record. */
	if (port->type == CLI_JSON_NUMBER) {
		if (!port->is_u64 || port->u64 > 65535)
			return -EBADMSG;
		h->listen_port = (uint16_t)port->u64;
		h->endpoints_seq = 1;
	} else if (port->type != CLI_JSON_NULL) {
		return -EBADMSG;
	}
	return 0;
}

static int host_list_from_json(struct host_list *l, const struct cli_json *doc)
{
	const struct cli_json *hosts = cli_json_get(doc, "hosts"), *o;
	size_t i = 0;

	l->zone = cli_json_text(doc, "zone");
	if (l->zone == NULL || hosts == NULL || hosts->type != CLI_JSON_ARRAY)
		return -EBADMSG;
	if (host_list_alloc(l, json_count(hosts)) < 0)
		return -ENOMEM;
	l->own = calloc(l->n + 1, sizeof(*l->own));
	l->group_names = calloc(l->n * REC_MAX_GROUPS + 1, sizeof(*l->group_names));
	l->endpoints = calloc(l->n * REC_MAX_ENDPOINTS + 1, sizeof(*l->endpoints));
	if (l->own == NULL || l->group_names == NULL || l->endpoints == NULL)
		return -ENOMEM;
	for (o = hosts->child; o != NULL; o = o->next, i++) {
		if (host_from_json(o, &l->own[i], &l->group_names[i * REC_MAX_GROUPS],
				   &l->endpoints[i * REC_MAX_ENDPOINTS]) < 0)
			return -EBADMSG;
		l->hosts[i] = &l->own[i];
		l->self[i] = cli_json_true(o, "self");
	}
	return 0;
}

static void print_hosts(const struct cli *c, const struct host_list *l, bool json)
{
	size_t w_name = 4, w_v6 = 4, w_ep = 9;

	if (json) {
		fputs("[", stdout);
		for (size_t i = 0; i < l->n; i++) {
			fputs(i > 0 ? ",\n " : "\n ", stdout);
			json_host(l->zone, l->hosts[i], l->self[i], stdout);
		}
		fputs(l->n > 0 ? "\n]\n" : "]\n", stdout);
		return;
	}
	for (size_t i = 0; i < l->n; i++) {
		const struct snapshot_host *h = l->hosts[i];
		char a6[46], *ep = endpoints_text(h);

		cli_ipv6_str(h->ipv6, a6);
		if (strlen(h->name) > w_name)
			w_name = strlen(h->name);
		if (strlen(a6) > w_v6)
			w_v6 = strlen(a6);
		if (ep != NULL && strlen(ep) > w_ep)
			w_ep = strlen(ep);
		free(ep);
	}
	printf("%s  %-*s  %-15s  %-*s  %-16s  %-44s  %-*s  %s%s\n", cli_bold(c), (int)w_name,
	       "NAME", "IPV4", (int)w_v6, "IPV6", "HOST-KEY", "WG-KEY", (int)w_ep, "ENDPOINTS",
	       "EXPIRES", cli_reset(c));
	for (size_t i = 0; i < l->n; i++) {
		const struct snapshot_host *h = l->hosts[i];
		char a4[16], a6[46], hk[17], wk[45], date[32], in[32], *ep = endpoints_text(h);
		uint64_t left = h->not_after > c->now ? h->not_after - c->now : 0;
		const char *colour = left < CERT_WARN_DAYS * CLI_DAY ? cli_yellow(c) : "";

		cli_ipv4_str(h->ipv4, a4);
		cli_ipv6_str(h->ipv6, a6);
		cli_key_short(h->host_key, hk);
		cli_key_b64(h->wg_key, wk);
		cli_date(h->not_after, date);
		cli_in_days(c->now, h->not_after, in);
		printf("%s %-*s  %-15s  %-*s  %-16s  %-44s  %-*s  %s%s (%s)%s\n",
		       l->self[i] ? "*" : " ", (int)w_name, h->name, a4, (int)w_v6, a6, hk, wk,
		       (int)w_ep, ep != NULL ? ep : "-", colour, date, in,
		       *colour != '\0' ? cli_reset(c) : "");
		free(ep);
	}
}

int cmd_ls(struct cli *c, int argc, char **argv)
{
	uint8_t self[REC_KEY_SIZE];
	struct snapshot *s = NULL;
	struct host_list list = { 0 };
	struct cli_json *doc = NULL;
	char *raw = NULL, why[512];
	bool json, have_self, opened = false;
	int first, ret = CLI_OK, asked;

	if (parse_json_flag(argc, argv, &json, &first) < 0)
		return cli_bad_option("ls", argv);
	if (first != argc)
		return cli_usage("ls", "ls takes no arguments");
	/* The running daemon's view first: it is what DNS answers from, and it needs no
	 * access to the state directory. */
	asked = ask_daemon(c, "ls", &raw, &doc, why, sizeof(why));
	if (asked < 0)
		return CLI_FAIL;
	if (asked > 0) {
		int rc = host_list_from_json(&list, doc);

		if (rc < 0) {
			ret = cli_fail(
				"meshnamed on %s sent a host list this meshname cannot read: %s",
				c->control, strerror(-rc));
			goto out;
		}
	} else {
		ret = open_snapshot(c, &s, self, &have_self);
		if (ret != CLI_OK)
			return ret;
		opened = true;
		if (host_list_from_snapshot(&list, s, c->root.u.root.zone, self, have_self) < 0) {
			ret = cli_fail("out of memory");
			goto out;
		}
	}
	print_hosts(c, &list, json);
out:
	host_list_free(&list);
	cli_json_free(doc);
	free(raw);
	snapshot_unref(s);
	if (opened)
		cli_close(c, false);
	return ret;
}

int cmd_show(struct cli *c, int argc, char **argv)
{
	uint8_t self[REC_KEY_SIZE];
	struct snapshot *s = NULL;
	const struct snapshot_host *h;
	bool json, have_self;
	int first, ret;
	char a4[16], a6[46], hk[45], wk[45], id[2 * REC_ID_SIZE + 1], nb[32], na[32], in[32];
	char ep[64];

	if (parse_json_flag(argc, argv, &json, &first) < 0)
		return cli_bad_option("show", argv);
	if (argc - first != 1)
		return cli_usage("show", "show takes one host name");
	ret = open_snapshot(c, &s, self, &have_self);
	if (ret != CLI_OK)
		return ret;
	h = cli_lookup_host(s, argv[first]);
	if (h == NULL) {
		ret = CLI_FAIL;
		goto out;
	}
	if (json) {
		json_host(c->root.u.root.zone, h, is_self(h, self, have_self), stdout);
		fputc('\n', stdout);
		goto out;
	}
	cli_ipv4_str(h->ipv4, a4);
	cli_ipv6_str(h->ipv6, a6);
	cli_key_b64(h->host_key, hk);
	cli_key_b64(h->wg_key, wk);
	cli_hex(h->cert_id, REC_ID_SIZE, id);
	cli_date(h->not_before, nb);
	cli_date(h->not_after, na);
	cli_in_days(c->now, h->not_after, in);
	printf("%shost%s          %s.%s%s\n", cli_bold(c), cli_reset(c), h->name,
	       c->root.u.root.zone, is_self(h, self, have_self) ? " (this host)" : "");
	printf("ipv4          %s\n", a4);
	printf("ipv6          %s\n", a6);
	printf("host key      %s\n", hk);
	printf("wireguard key %s\n", wk);
	printf("groups        ");
	for (unsigned i = 0; i < h->n_groups; i++)
		printf("%s%s", i > 0 ? " " : "", h->groups[i]);
	printf("%s\n", h->n_groups == 0 ? "-" : "");
	printf("certificate   serial %llu, id %s\n", (unsigned long long)h->serial, id);
	printf("valid         %s to %s (%s)\n", nb, na, in);
	if (h->endpoints_seq != 0)
		printf("listen port   %u\n", h->listen_port);
	else
		printf("listen port   -\n");
	printf("endpoints     %s\n", h->n_endpoints == 0 ? "-" : "");
	for (unsigned i = 0; i < h->n_endpoints; i++) {
		cli_endpoint_str(&h->endpoints[i], ep);
		printf("  %s (%s)\n", ep, rec_ep_kind_name(h->endpoints[i].kind));
	}
out:
	snapshot_unref(s);
	cli_close(c, false);
	return ret;
}

int cmd_hosts(struct cli *c, int argc, char **argv)
{
	uint8_t self[REC_KEY_SIZE];
	struct snapshot *s = NULL;
	bool have_self;
	int ret;

	(void)argv;
	if (argc != 1)
		return cli_usage("hosts", "hosts takes no arguments");
	ret = open_snapshot(c, &s, self, &have_self);
	if (ret != CLI_OK)
		return ret;
	for (size_t i = 0; i < snapshot_host_count(s); i++) {
		const struct snapshot_host *h = snapshot_host_at(s, i);
		char a4[16], a6[46];

		cli_ipv4_str(h->ipv4, a4);
		cli_ipv6_str(h->ipv6, a6);
		printf("%s\t%s.%s %s\n", a4, h->name, c->root.u.root.zone, h->name);
		printf("%s\t%s.%s %s\n", a6, h->name, c->root.u.root.zone, h->name);
	}
	snapshot_unref(s);
	cli_close(c, false);
	return CLI_OK;
}

int cmd_export_zone(struct cli *c, int argc, char **argv)
{
	uint8_t self[REC_KEY_SIZE];
	struct snapshot *s = NULL;
	const struct snapshot_host *ns = NULL;
	const char *zone;
	bool have_self;
	int ret = CLI_OK;

	(void)argv;
	if (argc != 1)
		return cli_usage("export-zone", "export-zone takes no arguments");
	ret = open_snapshot(c, &s, self, &have_self);
	if (ret != CLI_OK)
		return ret;
	zone = c->root.u.root.zone;
	if (have_self)
		ns = snapshot_lookup_host_key(s, self);
	if (ns == NULL && snapshot_host_count(s) > 0)
		ns = snapshot_host_at(s, 0);
	printf("; the mesh '%s', from the registry of %s\n", c->root.u.root.name, c->state);
	printf("$ORIGIN %s.\n$TTL %u\n", zone, ZONE_TTL);
	/* RFC 1035 section 3.3.13; the serial is the time of export (RFC 1982 arithmetic
	 * keeps working while it only grows). */
	printf("@\t%u\tIN\tSOA\t%s%s%s. hostmaster.%s. %llu 3600 600 1209600 %u\n", ZONE_TTL,
	       ns != NULL ? ns->name : "", ns != NULL ? "." : "", zone, zone,
	       (unsigned long long)(c->now & 0xffffffffu), ZONE_TTL);
	if (ns != NULL)
		printf("@\t%u\tIN\tNS\t%s.%s.\n", ZONE_TTL, ns->name, zone);
	for (size_t i = 0; i < snapshot_host_count(s); i++) {
		const struct snapshot_host *h = snapshot_host_at(s, i);
		char a4[16], a6[46];

		cli_ipv4_str(h->ipv4, a4);
		cli_ipv6_str(h->ipv6, a6);
		printf("%s\t%u\tIN\tA\t%s\n", h->name, ZONE_TTL, a4);
		printf("%s\t%u\tIN\tAAAA\t%s\n", h->name, ZONE_TTL, a6);
	}
	for (size_t i = 0; i < snapshot_rr_count(s); i++) {
		char *line = cli_rr_str(zone, snapshot_rr_at(s, i));

		if (line == NULL) {
			ret = cli_fail("cannot print a custom record of the mesh");
			break;
		}
		fputs(line, stdout);
		free(line);
	}
	snapshot_unref(s);
	cli_close(c, false);
	return ret;
}

/* --- status ---------------------------------------------------------------------- */

static int print_alert(void *arg, uint64_t at, const char *message)
{
	bool json = *(bool *)arg;
	char date[32];

	cli_date(at, date);
	if (json) {
		printf("{\"at\":%llu,\"message\":", (unsigned long long)at);
		cli_json_str(stdout, message);
		fputs("}", stdout);
		return 0;
	}
	printf("  %s  %s\n", date, message);
	return 0;
}

struct json_alerts {
	bool json;
	unsigned n;
};

static int json_alert(void *arg, uint64_t at, const char *message)
{
	struct json_alerts *ja = arg;

	if (ja->n++ > 0)
		fputc(',', stdout);
	return print_alert(&ja->json, at, message);
}

/* The view from the local registry, when no daemon answers (why says why). */
static int offline_status(struct cli *c, bool json, const char *why)
{
	uint8_t self[REC_KEY_SIZE], raw[REC_MAX_SIZE];
	struct registry_counts counts;
	struct rec cert;
	size_t raw_len;
	bool have_self, have_cert = false, revoked = false, admin;
	char id[2 * REC_ID_SIZE + 1], p4[32], p6[64], a4[16], a6[46], date[32], in[32];
	int ret, rc, key_rc;
	const char *state_word;

	ret = cli_open(c);
	if (ret != CLI_OK)
		return ret;
	key_rc = cli_host_pk(c, self);
	have_self = key_rc == 0;
	/* A host key that is there but cannot be read is this host's problem to show. */
	if (key_rc < 0 && key_rc != -ENOENT)
		ret = CLI_FAIL;
	if (have_self) {
		have_cert = registry_find_cert(c->reg, self, &cert, raw, &raw_len) == 0;
		revoked = registry_is_revoked(c->reg, self);
	}
	admin = cli_have_admin(c);
	rc = registry_counts(c->reg, &counts);
	if (rc < 0) {
		ret = cli_fail("cannot read the registry: %s", strerror(-rc));
		goto out;
	}
	cli_hex(c->mesh_id, REC_ID_SIZE, id);
	cli_prefix4_str(&c->root.u.root, p4);
	cli_prefix6_str(&c->root.u.root, p6);
	/* A revocation deletes the host's certificates: revoked comes first. */
	state_word = cert_state_word(
		cert_state_of(revoked, have_cert, have_cert ? cert.expires_at : 0, c->now));
	/* A host that is no longer a member is a failure the caller should notice. */
	if (revoked || (have_cert && cert.expires_at <= c->now))
		ret = CLI_FAIL;
	if (have_cert) {
		cli_ipv4_str(cert.u.cert.ipv4, a4);
		cli_ipv6_str(cert.u.cert.ipv6, a6);
		cli_date(cert.expires_at, date);
		cli_in_days(c->now, cert.expires_at, in);
	}
	if (json) {
		struct json_alerts ja = { true, 0 };

		printf("{\"mesh\":");
		cli_json_str(stdout, c->root.u.root.name);
		printf(",\"mesh_id\":\"%s\",\"zone\":\"%s\",\"ipv4_prefix\":\"%s\","
		       "\"ipv6_prefix\":\"%s\",\"admin\":%s,\"host\":",
		       id, c->root.u.root.zone, p4, p6, admin ? "true" : "false");
		if (revoked && !have_cert) {
			printf("{\"certificate\":\"revoked\"}");
		} else if (have_cert) {
			printf("{\"name\":\"%s\",\"ipv4\":\"%s\",\"ipv6\":\"%s\",\"not_after\":%llu,"
			       "\"certificate\":\"%s\"}",
			       cert.u.cert.name, a4, a6, (unsigned long long)cert.expires_at,
			       state_word);
		} else {
			printf("null");
		}
		printf(",\"records\":%llu,\"pending\":%llu,\"hosts\":%llu,\"custom_records\":%llu,"
		       "\"daemon\":",
		       (unsigned long long)counts.records, (unsigned long long)counts.pending,
		       (unsigned long long)counts.hosts, (unsigned long long)counts.rrs);
		cli_json_str(stdout, why);
		printf(",\"alerts\":[");
		rc = registry_foreach_alert(c->reg, json_alert, &ja);
		printf("]}\n");
		goto out;
	}
	printf("%smesh:%s        %s (id %s)\n", cli_bold(c), cli_reset(c), c->root.u.root.name, id);
	printf("zone:        %s\n", c->root.u.root.zone);
	printf("prefixes:    %s  %s\n", p4, p6);
	if (revoked && !have_cert) {
		printf("this host:   %sREVOKED%s: this host is no longer a member of the mesh\n",
		       cli_red(c), cli_reset(c));
	} else if (key_rc < 0 && key_rc != -ENOENT) {
		printf("this host:   %scannot read its key %s/%s%s: %s\n", cli_red(c), c->state,
		       KEYS_HOST, cli_reset(c), keys_strerror(key_rc));
	} else if (!have_cert) {
		printf("this host:   no certificate in this registry\n");
	} else {
		const char *colour = strcmp(state_word, "valid") == 0    ? "" :
				     strcmp(state_word, "expiring") == 0 ? cli_yellow(c) :
									   cli_red(c);

		printf("this host:   %s.%s  %s  %s%s\n", cert.u.cert.name, c->root.u.root.zone, a4,
		       a6, admin ? "  (admin)" : "");
		if (revoked)
			printf("certificate: %sREVOKED%s: this host is no longer a member of the mesh\n",
			       colour, cli_reset(c));
		else if (cert.expires_at <= c->now)
			printf("certificate: %sEXPIRED on %s%s: ask an admin to run meshname renew %s\n",
			       colour, date, cli_reset(c), cert.u.cert.name);
		else
			printf("certificate: %svalid until %s (%s)%s%s\n", colour, date, in,
			       cli_reset(c),
			       strcmp(state_word, "expiring") == 0 ?
				       ": renew it soon (meshname renew)" :
				       "");
	}
	printf("registry:    %llu host%s, %llu custom record%s, %llu record%s stored, %llu pending\n",
	       (unsigned long long)counts.hosts, plural(counts.hosts),
	       (unsigned long long)counts.rrs, plural(counts.rrs),
	       (unsigned long long)counts.records, plural(counts.records),
	       (unsigned long long)counts.pending);
	printf("alerts:      %llu\n", (unsigned long long)counts.alerts);
	rc = registry_foreach_alert(c->reg, print_alert, &json);
	printf("daemon:      %s (offline view)\n", why);
out:
	(void)rc;
	cli_close(c, false);
	return ret;
}

/* The "status" reply of a running meshnamed (control_json_status in the daemon). */
static int daemon_status(struct cli *c, const struct cli_json *doc)
{
	const struct cli_json *host = cli_json_get(doc, "host");
	const struct cli_json *listeners = cli_json_get(doc, "listeners");
	const struct cli_json *resolver = cli_json_get(doc, "resolver");
	const struct cli_json *alerts = cli_json_get(doc, "alerts");
	const char *mesh = cli_json_text(doc, "mesh"), *zone = cli_json_text(doc, "zone");
	const char *cert_state = cli_json_text(host, "certificate");
	uint64_t pid = 0, started = 0, v = 0, not_after = 0;
	size_t w_addr = 0;
	char date[32], in[32];
	int ret = CLI_OK;

	cli_json_u64(doc, "pid", &pid);
	cli_json_u64(doc, "started", &started);
	cli_date(started, date);
	printf("%sdaemon:%s      running (pid %llu, since %s)\n", cli_bold(c), cli_reset(c),
	       (unsigned long long)pid, date);
	if (mesh != NULL && zone != NULL) {
		printf("mesh:        %s (id %s)\n", mesh,
		       cli_json_text(doc, "mesh_id") != NULL ? cli_json_text(doc, "mesh_id") : "?");
		printf("zone:        %s\n", zone);
		printf("prefixes:    %s  %s\n",
		       cli_json_text(doc, "ipv4_prefix") != NULL ?
			       cli_json_text(doc, "ipv4_prefix") :
			       "?",
		       cli_json_text(doc, "ipv6_prefix") != NULL ?
			       cli_json_text(doc, "ipv6_prefix") :
			       "?");
	} else {
		printf("mesh:        none yet (the daemon has no registry snapshot)\n");
	}
	if (host == NULL || host->type != CLI_JSON_OBJECT) {
		printf("this host:   unknown to the daemon (no host key in its state directory)\n");
	} else if (cert_state != NULL && strcmp(cert_state, "revoked") == 0) {
		printf("this host:   %sREVOKED%s: this host is no longer a member of the mesh\n",
		       cli_red(c), cli_reset(c));
		ret = CLI_FAIL;
	} else if (cert_state != NULL && strcmp(cert_state, "expired") == 0 &&
		   cli_json_text(host, "ipv4") == NULL) {
		/* Not active any more: the daemon says when it ended (control_json_status). */
		cli_json_u64(host, "not_after", &not_after);
		cli_date(not_after, date);
		printf("this host:   %s.%s  certificate %sEXPIRED on %s%s: ask an admin to run "
		       "meshname renew %s\n",
		       cli_json_text(host, "name") != NULL ? cli_json_text(host, "name") : "?",
		       zone != NULL ? zone : "?", cli_red(c), date, cli_reset(c),
		       cli_json_text(host, "name") != NULL ? cli_json_text(host, "name") : "HOST");
		ret = CLI_FAIL;
	} else if (cli_json_text(host, "name") == NULL ||
		   !cli_json_u64(host, "not_after", &not_after)) {
		printf("this host:   no active certificate in the daemon's registry (not admitted "
		       "yet, or expired)\n");
	} else {
		const char *colour = strcmp(cert_state, "valid") == 0    ? "" :
				     strcmp(cert_state, "expiring") == 0 ? cli_yellow(c) :
									   cli_red(c);

		printf("this host:   %s.%s  %s  %s\n", cli_json_text(host, "name"),
		       zone != NULL ? zone : "?",
		       cli_json_text(host, "ipv4") != NULL ? cli_json_text(host, "ipv4") : "?",
		       cli_json_text(host, "ipv6") != NULL ? cli_json_text(host, "ipv6") : "?");
		cli_date(not_after, date);
		cli_in_days(c->now, not_after, in);
		if (not_after <= c->now) {
			printf("certificate: %sEXPIRED on %s%s: ask an admin to run meshname renew %s\n",
			       colour, date, cli_reset(c), cli_json_text(host, "name"));
			ret = CLI_FAIL;
		} else {
			printf("certificate: %svalid until %s (%s)%s%s\n", colour, date, in,
			       cli_reset(c),
			       strcmp(cert_state, "expiring") == 0 ?
				       ": renew it soon (meshname renew)" :
				       "");
		}
	}
	printf("registry:    ");
	if (cli_json_u64(doc, "hosts", &v))
		printf("%llu host%s", (unsigned long long)v, plural(v));
	if (cli_json_u64(doc, "custom_records", &v))
		printf(", %llu custom record%s", (unsigned long long)v, plural(v));
	if (cli_json_u64(doc, "records", &v))
		printf(", %llu record%s stored", (unsigned long long)v, plural(v));
	if (cli_json_u64(doc, "pending", &v))
		printf(", %llu pending", (unsigned long long)v);
	if (cli_json_u64(doc, "generation", &v))
		printf(" (generation %llu)", (unsigned long long)v);
	printf("\n");
	if (alerts != NULL && alerts->type == CLI_JSON_ARRAY) {
		size_t n = 0;

		for (const struct cli_json *a = alerts->child; a != NULL; a = a->next)
			n++;
		printf("alerts:      %zu\n", n);
		for (const struct cli_json *a = alerts->child; a != NULL; a = a->next) {
			const char *m = cli_json_text(a, "message");

			cli_json_u64(a, "at", &v);
			cli_date(v, date);
			printf("  %s  %s\n", date, m != NULL ? m : "?");
		}
	}
	if (listeners != NULL && listeners->type == CLI_JSON_ARRAY) {
		for (const struct cli_json *l = listeners->child; l != NULL; l = l->next) {
			const char *a = cli_json_text(l, "address");

			if (a != NULL && strlen(a) > w_addr)
				w_addr = strlen(a);
		}
		printf("listeners:   %s\n", listeners->child == NULL ? "none" : "");
		for (const struct cli_json *l = listeners->child; l != NULL; l = l->next) {
			const char *a = cli_json_text(l, "address"),
				   *proto = cli_json_text(l, "proto");
			const char *error = cli_json_text(l, "error");

			printf("  %-*s  %-3s  ", (int)w_addr, a != NULL ? a : "?",
			       proto != NULL ? proto : "?");
			if (cli_json_true(l, "bound"))
				printf("bound\n");
			else
				printf("%sFAILED%s (%s)\n", cli_red(c), cli_reset(c),
				       error != NULL ? error : "?");
		}
	}
	if (resolver != NULL && resolver->type == CLI_JSON_OBJECT) {
		static const char *const counters[][2] = {
			{ "queries", "queries" },     { "answered", "answered" },
			{ "forwarded", "forwarded" }, { "cache_hits", "cache hits" },
			{ "stale_served", "stale" },  { "servfail", "servfail" },
			{ "dropped", "dropped" },     { "tcp_clients", "TCP clients" },
		};

		printf("resolver:    ");
		for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
			v = 0;
			cli_json_u64(resolver, counters[i][0], &v);
			printf("%s%llu %s",
			       i == 0 ? "" :
			       i == 1 ? ": " :
					", ",
			       (unsigned long long)v, counters[i][1]);
		}
		printf("\n");
	}
	cli_status_wireguard(c, doc);
	return ret;
}

int cmd_status(struct cli *c, int argc, char **argv)
{
	struct cli_json *doc = NULL;
	char *raw = NULL, why[512];
	bool json;
	int first, ret, asked;

	if (parse_json_flag(argc, argv, &json, &first) < 0)
		return cli_bad_option("status", argv);
	if (first != argc)
		return cli_usage("status", "status takes no arguments");
	asked = ask_daemon(c, "status", &raw, &doc, why, sizeof(why));
	if (asked < 0)
		return CLI_FAIL;
	if (asked == 0)
		return offline_status(c, json, why);
	if (json) {
		const char *cert = cli_json_text(cli_json_get(doc, "host"), "certificate");

		/* The daemon's document as it is: a superset of the offline one. */
		fputs(raw, stdout);
		if (raw[strlen(raw) - 1] != '\n')
			fputc('\n', stdout);
		ret = cert != NULL && (strcmp(cert, "revoked") == 0 ||
				       strcmp(cert, "expired") == 0) ?
			      CLI_FAIL :
			      CLI_OK;
	} else {
		ret = daemon_status(c, doc);
	}
	cli_json_free(doc);
	free(raw);
	return ret;
}
