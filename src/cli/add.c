/*
 * add.c: `meshname add`: an admin admits a host, either with an invite (an ADMIT
 * record and a one-time admission key handed over in one line) or by signing a CERT
 * for keys that the new host made itself (a join request). Needs admin.key; the
 * admission secret is wiped as soon as the invite is written out.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli/cli.h"
#include "meshname/certstate.h"
#include "meshname/keys.h"
#include "meshname/sync.h"

#define INVITE_DAYS 7
#define DEFAULT_CERT_DAYS 365
#define BOOTSTRAP_LEN 256 /* an invite's "host:port" is at most 255 bytes */

const char cli_help_add[] =
	"Usage: meshname add HOST [--ipv4 ADDR] [--group GROUP]... [--expires DAYS]\n"
	"                         [--bootstrap HOST:PORT]... [-o FILE]\n"
	"       meshname add HOST --request REQUEST [--ipv4 ADDR] [--group GROUP]...\n"
	"                          [--expires DAYS]\n"
	"\n"
	"Admits the host HOST to the mesh. Runs on an admin host (one that holds admin.key).\n"
	"\n"
	"Without --request, prints an invite: one line starting with mn1-invite: that the new\n"
	"host redeems with `meshname join INVITE`. The invite holds a one-time admission key\n"
	"that may sign exactly one certificate, for HOST and its address, within 7 days.\n"
	"Treat it like a password until it is used; it is never stored on this machine.\n"
	"\n"
	"The invite also names bootstrap endpoints: addresses of this host's sync port, where\n"
	"the new host's meshnamed announces itself and fetches the mesh, checking this host's\n"
	"key from its certificate in the invite. By default they are the LAN, public and IPv6\n"
	"addresses this host publishes (meshname endpoint ls), up to 8, each with port 51821,\n"
	"meshnamed's default sync-port. Give --bootstrap when meshnamed.conf sets another\n"
	"sync-port, when this host publishes no endpoints, or to name other addresses; without\n"
	"any, the new host learns of the mesh only from a bundle (meshname export, import).\n"
	"\n"
	"With --request, signs a certificate for a host that made its own keys with\n"
	"`meshname join --request` and prints it as one line starting with mn1-cert:, which\n"
	"that host imports with `meshname join CERT`. The request's name must be HOST.\n"
	"\n"
	"Options:\n"
	"  --ipv4 ADDR        the host's mesh IPv4 address (default: the lowest free one)\n"
	"  --group GROUP      put the host in GROUP (a DNS label); may be repeated, up to 16\n"
	"  --expires DAYS     how long the host's certificate lasts (default: 365, at most\n"
	"                     the mesh's maximum lifetime)\n"
	"  --bootstrap HOST:PORT\n"
	"                     an address of this host's sync port for the invite (IPv4,\n"
	"                     [IPv6] or a DNS name); may be repeated, up to 8; replaces\n"
	"                     the default list\n"
	"  -o, --output FILE  write the invite to FILE (mode 0600) instead of printing it\n"
	"  --request REQUEST  a join request: the mn1-request: line itself, a file holding\n"
	"                     it, or - for standard input\n";

struct add_opts {
	const char *host;
	char bootstrap[CLI_INVITE_BOOTSTRAP_MAX][BOOTSTRAP_LEN]; /* canonical "host:port" */
	size_t n_bootstrap;
	const char *ipv4;
	const char *output;
	const char *request;
	struct rec_groups groups;
	uint64_t lifetime; /* seconds */
};

/* The checks both ways share: name free, address inside the prefix and free. */
static int check_host(struct cli *c, const struct add_opts *o, uint8_t ipv4[4])
{
	char p4[32];
	int rc;

	if (registry_name_taken(c->reg, c->now, o->host))
		return cli_fail("the name %s is already taken in this mesh: choose another name",
				o->host);
	if (o->ipv4 == NULL) {
		rc = registry_alloc_ipv4(c->reg, c->now, ipv4);
		if (rc == -ENOSPC)
			return cli_fail(
				"every IPv4 address of the mesh is in use: revoke a host first");
		if (rc < 0)
			return cli_fail("cannot allocate an IPv4 address: %s", strerror(-rc));
		return CLI_OK;
	}
	if (cli_parse_ipv4(o->ipv4, ipv4) < 0)
		return cli_usage("add", "'%s' is not an IPv4 address", o->ipv4);
	if (!cli_ipv4_in_prefix(&c->root.u.root, ipv4)) {
		cli_prefix4_str(&c->root.u.root, p4);
		return cli_fail("%s is outside the mesh prefix %s: choose a host address inside it",
				o->ipv4, p4);
	}
	if (registry_ipv4_taken(c->reg, c->now, ipv4))
		return cli_fail("%s is already in use in this mesh (or retired by a revocation): "
				"choose another or leave --ipv4 out",
				o->ipv4);
	return CLI_OK;
}

/* This host's own CERT, raw, so that the new host knows one peer; none is fine. */
static void own_cert(struct cli *c, uint8_t *raw, size_t *len)
{
	uint8_t pk[REC_KEY_SIZE];
	struct rec cert;

	*len = 0;
	if (cli_host_pk(c, pk) < 0 || registry_find_cert(c->reg, pk, &cert, raw, len) < 0)
		*len = 0;
}

/* The canonical "host:port" of s (brackets around IPv6); false when it is longer than an
 * invite allows. */
static bool bootstrap_str(const struct seed *s, char out[BOOTSTRAP_LEN])
{
	int n = snprintf(out, BOOTSTRAP_LEN, strchr(s->host, ':') != NULL ? "[%s]:%u" : "%s:%u",
			 s->host, (unsigned)s->port);

	return n > 0 && n < BOOTSTRAP_LEN;
}

/* Appends s to o's bootstrap list unless it is there already; -E2BIG when full,
 * -ENAMETOOLONG when too long for an invite. */
static int bootstrap_add(struct add_opts *o, const struct seed *s)
{
	char str[BOOTSTRAP_LEN];

	if (!bootstrap_str(s, str))
		return -ENAMETOOLONG;
	for (size_t k = 0; k < o->n_bootstrap; k++)
		if (strcmp(o->bootstrap[k], str) == 0)
			return 0;
	if (o->n_bootstrap == CLI_INVITE_BOOTSTRAP_MAX)
		return -E2BIG;
	memcpy(o->bootstrap[o->n_bootstrap++], str, BOOTSTRAP_LEN);
	return 0;
}

/* One --bootstrap: checked, canonical, into o's list. Returns an exit code. */
static int add_bootstrap_option(struct add_opts *o, const char *arg)
{
	struct seed s;
	int rc;

	if (arg[0] != '[' && strchr(arg, ':') != strrchr(arg, ':'))
		return cli_usage("add",
				 "'%s' is not a bootstrap endpoint: write an IPv6 address in "
				 "brackets, [ADDRESS]:PORT",
				 arg);
	if (seeds_parse_hostport(arg, &s) < 0)
		return cli_usage("add",
				 "'%s' is not a bootstrap endpoint: write HOST:PORT with an IPv4 "
				 "address, [IPv6] address or DNS name and a port from 1 to 65535",
				 arg);
	rc = bootstrap_add(o, &s);
	if (rc == -ENAMETOOLONG)
		return cli_usage("add",
				 "'%s' is too long for an invite, which takes HOST:PORT of up to "
				 "255 bytes",
				 arg);
	if (rc < 0)
		return cli_usage("add", "an invite names at most %d bootstrap endpoints",
				 CLI_INVITE_BOOTSTRAP_MAX);
	return CLI_OK;
}

/*
 * The default bootstrap endpoints: the addresses of this host's ENDPOINTS record, public
 * ones first (the new host may be anywhere), then IPv6, then LAN, each with the default
 * sync port. Reflexive endpoints are left out: they are a NAT's mapping of the WireGuard
 * UDP port, which says nothing of a TCP port behind the same NAT.
 */
static void default_bootstrap(struct cli *c, struct add_opts *o)
{
	static const uint8_t order[] = { EP_PUBLIC, EP_IPV6, EP_LAN };
	const struct snapshot_host *h;
	struct snapshot *snap = NULL;
	uint8_t pk[REC_KEY_SIZE];

	if (cli_host_pk(c, pk) < 0 || registry_snapshot(c->reg, &snap) < 0)
		return;
	h = snapshot_lookup_host_key(snap, pk);
	for (size_t k = 0; h != NULL && k < sizeof(order); k++) {
		for (unsigned i = 0; i < h->n_endpoints; i++) {
			const struct rec_endpoint *ep = &h->endpoints[i];
			struct seed s;

			if (ep->kind != order[k])
				continue;
			memset(&s, 0, sizeof(s));
			if (inet_ntop(ep->family == 4 ? AF_INET : AF_INET6, ep->addr, s.host,
				      sizeof(s.host)) == NULL)
				continue;
			s.port = SYNC_DEFAULT_PORT; /* meshnamed's default sync-port */
			if (bootstrap_add(o, &s) == -E2BIG)
				goto out;
		}
	}
out:
	snapshot_unref(snap);
}

/* "192.0.2.1:51821, [2001:db8::1]:51821" into out. */
static void bootstrap_list(const struct add_opts *o, char *out, size_t size)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t k = 0; k < o->n_bootstrap && len < size; k++) {
		int n = snprintf(out + len, size - len, "%s%s", k > 0 ? ", " : "", o->bootstrap[k]);

		if (n < 0)
			break;
		len += (size_t)n;
	}
}

static int add_invite(struct cli *c, struct add_opts *o, const uint8_t admin_sk[REC_SECRET_SIZE])
{
	uint8_t adm_pk[REC_KEY_SIZE], adm_sk[REC_SECRET_SIZE];
	uint8_t admit_raw[REC_MAX_SIZE], inviter[REC_MAX_SIZE];
	size_t admit_len, inviter_len;
	char *invite = NULL, date[32], a4[16],
	     peers[CLI_INVITE_BOOTSTRAP_MAX * (BOOTSTRAP_LEN + 2)];
	const char *boot[CLI_INVITE_BOOTSTRAP_MAX];
	struct rec admit;
	int ret, rc;

	memset(&admit, 0, sizeof(admit));
	ret = check_host(c, o, admit.u.admit.ipv4);
	if (ret != CLI_OK)
		return ret;
	/* An endpoint is of use to the new host only with a key to check it by: this host's
	 * CERT. Checked before the ADMIT is stored, so that a refusal leaves nothing behind. */
	own_cert(c, inviter, &inviter_len);
	if (inviter_len == 0 && o->n_bootstrap > 0)
		return cli_fail("--bootstrap needs this host's certificate, which pins its key in "
				"the invite, and this host has none: run meshname add on a member "
				"host");
	if (o->n_bootstrap == 0 && inviter_len > 0)
		default_bootstrap(c, o);
	for (size_t k = 0; k < o->n_bootstrap; k++)
		boot[k] = o->bootstrap[k];
	bootstrap_list(o, peers, sizeof(peers));
	ret = CLI_FAIL;
	crypto_sign_keypair(adm_pk, adm_sk);
	admit.type = REC_ADMIT;
	memcpy(admit.mesh_id, c->mesh_id, REC_ID_SIZE);
	admit.issued_at = c->now;
	admit.expires_at = c->now + INVITE_DAYS * CLI_DAY;
	memcpy(admit.u.admit.admission_key, adm_pk, REC_KEY_SIZE);
	snprintf(admit.u.admit.name, sizeof(admit.u.admit.name), "%s", o->host);
	admit.u.admit.cert_lifetime = (uint32_t)o->lifetime;
	admit.u.admit.groups = o->groups;
	if (cli_sign_ingest(c, &admit, admin_sk, admit_raw, &admit_len) != CLI_OK)
		goto out;
	/* libsodium's secret key is seed || public key: the invite carries the seed. */
	invite = cli_invite_encode(adm_sk, c->root_raw, c->root_len, admit_raw, admit_len, inviter,
				   inviter_len, boot, o->n_bootstrap);
	if (invite == NULL) {
		cli_fail("cannot encode the invite: it would be too large");
		goto out;
	}
	cli_date(admit.expires_at, date);
	cli_ipv4_str(admit.u.admit.ipv4, a4);
	if (o->output != NULL) {
		rc = cli_write_file(o->output, invite, 0600);
		if (rc < 0) {
			cli_fail("cannot write the invite to %s: %s", o->output, strerror(-rc));
			goto out;
		}
		printf("wrote the invite for %s.%s (%s) to %s; it can be used until %s\n", o->host,
		       c->root.u.root.zone, a4, o->output, date);
	} else {
		printf("%s\n", invite);
		fprintf(stderr,
			"meshname: invite for %s.%s (%s), usable once until %s: run "
			"meshname join INVITE on that host\n",
			o->host, c->root.u.root.zone, a4, date);
	}
	if (o->n_bootstrap > 0)
		fprintf(stderr, "meshname: bootstrap endpoints in the invite: %s\n", peers);
	else
		fprintf(stderr,
			"meshname: note: the invite names no bootstrap endpoint (%s): the new host "
			"will need a bundle (meshname export here, meshname import there)%s\n",
			inviter_len == 0 ? "this host has no certificate" :
					   "this host publishes no endpoints",
			inviter_len == 0 ? "" :
					   ", or make a new invite with --bootstrap HOST:PORT");
	ret = CLI_OK;
out:
	sodium_memzero(adm_sk, sizeof(adm_sk));
	if (invite != NULL) {
		sodium_memzero(invite, strlen(invite));
		free(invite);
	}
	return ret;
}

static int add_request(struct cli *c, const struct add_opts *o,
		       const uint8_t admin_sk[REC_SECRET_SIZE])
{
	static const char *const prefixes[] = { CLI_REQUEST_PREFIX, NULL };
	uint8_t cert_raw[REC_MAX_SIZE], admin_cert[REC_MAX_SIZE];
	size_t cert_len, admin_cert_len;
	struct cli_request req;
	struct rec cert;
	char *text, *out = NULL, a4[16];
	int rc, ret;

	text = cli_read_arg(o->request, prefixes);
	if (text == NULL)
		return cli_fail("this is not a valid join request (and no file %s can be read): "
				"copy the whole mn1-request: line",
				o->request);
	rc = cli_request_decode(text, &req);
	free(text);
	if (rc == -EKEYREJECTED)
		return cli_fail("this join request's signature does not verify: ask the host for "
				"a new request");
	if (rc < 0)
		return cli_fail(
			"this is not a valid join request: copy the whole mn1-request: line");
	if (strcmp(req.name, o->host) != 0)
		return cli_fail("this request asks for the name %s, not %s: run meshname add %s "
				"--request ...",
				req.name, o->host, req.name);
	if (registry_is_revoked(c->reg, req.host_key) || registry_is_revoked(c->reg, req.wg_key))
		return cli_fail("this request's keys were revoked: the host must make new keys in "
				"a fresh state directory");
	memset(&cert, 0, sizeof(cert));
	ret = check_host(c, o, cert.u.cert.ipv4);
	if (ret != CLI_OK)
		return ret;
	cert.type = REC_CERT;
	memcpy(cert.mesh_id, c->mesh_id, REC_ID_SIZE);
	cert.seq = 1;
	cert.issued_at = c->now;
	cert.expires_at = c->now + o->lifetime;
	snprintf(cert.u.cert.name, sizeof(cert.u.cert.name), "%s", o->host);
	memcpy(cert.u.cert.host_key, req.host_key, REC_KEY_SIZE);
	memcpy(cert.u.cert.wg_key, req.wg_key, REC_KEY_SIZE);
	rec_ipv6_for_host(c->root.u.root.ipv6, req.host_key, cert.u.cert.ipv6);
	cert.u.cert.groups = o->groups;
	ret = cli_sign_ingest(c, &cert, admin_sk, cert_raw, &cert_len);
	if (ret != CLI_OK)
		return ret;
	own_cert(c, admin_cert, &admin_cert_len);
	out = cli_certmsg_encode(c->root_raw, c->root_len, cert_raw, cert_len, admin_cert,
				 admin_cert_len);
	if (out == NULL)
		return cli_fail("cannot encode the certificate");
	cli_ipv4_str(cert.u.cert.ipv4, a4);
	printf("%s\n", out);
	fprintf(stderr,
		"meshname: signed a certificate for %s.%s (%s): run meshname join CERT "
		"on that host\n",
		o->host, c->root.u.root.zone, a4);
	free(out);
	return CLI_OK;
}

int cmd_add(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ipv4", required_argument, NULL, '4' },
		{ "group", required_argument, NULL, 'g' },
		{ "expires", required_argument, NULL, 'e' },
		{ "output", required_argument, NULL, 'o' },
		{ "request", required_argument, NULL, 'r' },
		{ "bootstrap", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	uint8_t admin_sk[REC_SECRET_SIZE];
	struct add_opts o;
	uint64_t days = 0;
	int ch, rc, ret;

	memset(&o, 0, sizeof(o));
	while ((ch = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (ch) {
		case '4':
			o.ipv4 = optarg;
			break;
		case 'g':
			rc = cli_groups_add(&o.groups, optarg);
			if (rc == -E2BIG)
				return cli_usage("add", "a host can be in at most %d groups",
						 REC_MAX_GROUPS);
			if (rc < 0)
				return cli_usage("add",
						 "'%s' is not a valid group name: use 1 to 63 "
						 "of a-z, 0-9 and -",
						 optarg);
			break;
		case 'e':
			if (cli_parse_u64(optarg, 1, 36500, &days) < 0)
				return cli_usage("add", "--expires must be a number of days");
			break;
		case 'o':
			o.output = optarg;
			break;
		case 'r':
			o.request = optarg;
			break;
		case 'b':
			ret = add_bootstrap_option(&o, optarg);
			if (ret != CLI_OK)
				return ret;
			break;
		default:
			return cli_bad_option("add", argv);
		}
	}
	if (argc - optind != 1)
		return cli_usage("add", "add takes one host name");
	o.host = argv[optind];
	if (!rec_label_valid(o.host))
		return cli_usage("add",
				 "'%s' is not a valid host name: use 1 to 63 of a-z, 0-9 "
				 "and -",
				 o.host);
	if (o.request != NULL && o.output != NULL)
		return cli_usage("add", "-o writes invites only, not certificates");
	if (o.request != NULL && o.n_bootstrap > 0)
		return cli_usage("add", "--bootstrap goes into invites only: a host that joins "
					"with a certificate writes its seeds file by hand");
	cli_groups_sort(&o.groups);

	ret = cli_open(c);
	if (ret != CLI_OK)
		return ret;
	ret = cli_load_admin(c, admin_sk);
	if (ret != CLI_OK)
		goto out;
	/* Without --expires: a year, or the mesh's maximum when that is shorter. */
	if (days == 0)
		o.lifetime = DEFAULT_CERT_DAYS * CLI_DAY;
	else
		o.lifetime = days * CLI_DAY;
	if (o.lifetime > c->root.u.root.max_cert_lifetime) {
		if (days != 0) {
			unsigned long long max = c->root.u.root.max_cert_lifetime / CLI_DAY;

			ret = cli_fail("this mesh allows certificates of at most %llu days: use "
				       "--expires %llu or less",
				       max, max);
			goto out;
		}
		o.lifetime = c->root.u.root.max_cert_lifetime;
	}
	ret = o.request != NULL ? add_request(c, &o, admin_sk) : add_invite(c, &o, admin_sk);
out:
	sodium_memzero(admin_sk, sizeof(admin_sk));
	cli_close(c, false);
	return ret;
}
