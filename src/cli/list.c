/*
 * list.c: the read-only views of the registry: `status` (also bare `meshname`), `ls`,
 * `show`, `hosts` and `export-zone`. They read a snapshot and the stored records and
 * never write; public keys are shown, secret keys never.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli/cli.h"

#define WARN_DAYS 30
#define ZONE_TTL 300

const char cli_help_status[] =
	"Usage: meshname status [--json]\n"
	"       meshname\n"
	"\n"
	"Shows the mesh (name, id, zone, prefixes), this host (name, addresses, certificate\n"
	"expiry), what the registry holds and any alerts (conflicts the registry resolved).\n"
	"This is an offline view of the local registry; meshnamed is not consulted yet.\n"
	"Warns when this host's certificate expires within 30 days.\n"
	"\n"
	"Options:\n"
	"  --json   the same as one JSON object\n"
	"\n"
	"Exit status: 0, or 1 when this host's certificate expired or was revoked (or the\n"
	"state directory holds no mesh).\n";

const char cli_help_ls[] =
	"Usage: meshname ls [--json]\n"
	"\n"
	"Lists the active hosts of the mesh in name order: name, mesh IPv4 and IPv6\n"
	"addresses, host key fingerprint (the first 8 bytes in hex), WireGuard public key\n"
	"(base64, as wg(8) shows it), endpoints and certificate expiry. This host is marked\n"
	"with *.\n"
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

const char cli_help_hosts[] =
	"Usage: meshname hosts\n"
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

static void
json_host(const struct cli *c, const struct snapshot_host *h, bool self, FILE *f)
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
	fprintf(f, ",\"fqdn\":\"%s.%s\",\"self\":%s", h->name, c->root.u.root.zone,
		self ? "true" : "false");
	fprintf(f, ",\"ipv4\":\"%s\",\"ipv6\":\"%s\",\"host_key\":\"%s\",\"wg_key\":\"%s\"", a4,
		a6, hk, wk);
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
			cli_ep_kind_name(e->kind), ep, e->port);
	}
	fputs("]}", f);
}

static char *
endpoints_text(const struct snapshot_host *h)
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
static int
open_snapshot(struct cli *c, struct snapshot **s, uint8_t self[REC_KEY_SIZE], bool *have_self)
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

static bool
is_self(const struct snapshot_host *h, const uint8_t self[REC_KEY_SIZE], bool have_self)
{
	return have_self && memcmp(h->host_key, self, REC_KEY_SIZE) == 0;
}

/* Parses a lone --json; returns -1 on a usage error. */
static int
parse_json_flag(int argc, char **argv, bool *json, int *first_arg)
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

int
cmd_ls(struct cli *c, int argc, char **argv)
{
	uint8_t self[REC_KEY_SIZE];
	struct snapshot *s = NULL;
	bool json, have_self;
	int first, ret;
	size_t n, w_name = 4, w_v6 = 4, w_ep = 9;

	if (parse_json_flag(argc, argv, &json, &first) < 0)
		return cli_bad_option("ls", argv);
	if (first != argc)
		return cli_usage("ls", "ls takes no arguments");
	ret = open_snapshot(c, &s, self, &have_self);
	if (ret != CLI_OK)
		return ret;
	n = snapshot_host_count(s);
	if (json) {
		fputs("[", stdout);
		for (size_t i = 0; i < n; i++) {
			const struct snapshot_host *h = snapshot_host_at(s, i);

			fputs(i > 0 ? ",\n " : "\n ", stdout);
			json_host(c, h, is_self(h, self, have_self), stdout);
		}
		fputs(n > 0 ? "\n]\n" : "]\n", stdout);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct snapshot_host *h = snapshot_host_at(s, i);
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
	for (size_t i = 0; i < n; i++) {
		const struct snapshot_host *h = snapshot_host_at(s, i);
		char a4[16], a6[46], hk[17], wk[45], date[32], in[32], *ep = endpoints_text(h);
		uint64_t left = h->not_after > c->now ? h->not_after - c->now : 0;
		const char *colour = left < WARN_DAYS * CLI_DAY ? cli_yellow(c) : "";

		cli_ipv4_str(h->ipv4, a4);
		cli_ipv6_str(h->ipv6, a6);
		cli_key_short(h->host_key, hk);
		cli_key_b64(h->wg_key, wk);
		cli_date(h->not_after, date);
		cli_in_days(c->now, h->not_after, in);
		printf("%s %-*s  %-15s  %-*s  %-16s  %-44s  %-*s  %s%s (%s)%s\n",
		       is_self(h, self, have_self) ? "*" : " ", (int)w_name, h->name, a4,
		       (int)w_v6, a6, hk, wk, (int)w_ep, ep != NULL ? ep : "-", colour, date, in,
		       *colour != '\0' ? cli_reset(c) : "");
		free(ep);
	}
out:
	snapshot_unref(s);
	cli_close(c, false);
	return CLI_OK;
}

int
cmd_show(struct cli *c, int argc, char **argv)
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
		json_host(c, h, is_self(h, self, have_self), stdout);
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
		printf("  %s (%s)\n", ep, cli_ep_kind_name(h->endpoints[i].kind));
	}
out:
	snapshot_unref(s);
	cli_close(c, false);
	return ret;
}

int
cmd_hosts(struct cli *c, int argc, char **argv)
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

int
cmd_export_zone(struct cli *c, int argc, char **argv)
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

static int
print_alert(void *arg, uint64_t at, const char *message)
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

static int
json_alert(void *arg, uint64_t at, const char *message)
{
	struct json_alerts *ja = arg;

	if (ja->n++ > 0)
		fputc(',', stdout);
	return print_alert(&ja->json, at, message);
}

int
cmd_status(struct cli *c, int argc, char **argv)
{
	uint8_t self[REC_KEY_SIZE], raw[REC_MAX_SIZE];
	struct registry_counts counts;
	struct rec cert;
	size_t raw_len;
	bool json, have_self, have_cert = false, revoked = false, admin;
	char id[2 * REC_ID_SIZE + 1], p4[32], p6[64], a4[16], a6[46], date[32], in[32];
	int first, ret, rc;
	const char *state_word;

	if (parse_json_flag(argc, argv, &json, &first) < 0)
		return cli_bad_option("status", argv);
	if (first != argc)
		return cli_usage("status", "status takes no arguments");
	ret = cli_open(c);
	if (ret != CLI_OK)
		return ret;
	have_self = cli_host_pk(c, self) == 0;
	if (have_self) {
		have_cert = cli_find_cert(c, self, &cert, raw, &raw_len) == 0;
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
	if (revoked)
		state_word = "revoked";
	else if (!have_cert)
		state_word = "none";
	else if (cert.expires_at <= c->now)
		state_word = "expired";
	else if (cert.expires_at - c->now < WARN_DAYS * CLI_DAY)
		state_word = "expiring";
	else
		state_word = "valid";
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
		       "\"daemon\":\"not running\",\"alerts\":[",
		       (unsigned long long)counts.records, (unsigned long long)counts.pending,
		       (unsigned long long)counts.hosts, (unsigned long long)counts.rrs);
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
	} else if (!have_cert) {
		printf("this host:   no certificate in this registry\n");
	} else {
		const char *colour = strcmp(state_word, "valid") == 0      ? ""
				     : strcmp(state_word, "expiring") == 0 ? cli_yellow(c)
									   : cli_red(c);

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
			       strcmp(state_word, "expiring") == 0 ? ": renew it soon (meshname renew)"
								     : "");
	}
	printf("registry:    %llu hosts, %llu custom records, %llu records stored, %llu pending\n",
	       (unsigned long long)counts.hosts, (unsigned long long)counts.rrs,
	       (unsigned long long)counts.records, (unsigned long long)counts.pending);
	printf("alerts:      %llu\n", (unsigned long long)counts.alerts);
	rc = registry_foreach_alert(c->reg, print_alert, &json);
	printf("daemon:      not running (offline view)\n");
out:
	(void)rc;
	cli_close(c, false);
	return ret;
}
