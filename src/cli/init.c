/*
 * init.c: `meshname init`: a new mesh in an empty state directory: the admin key, the
 * genesis ROOT, this host's keys and its CERT signed by the admin key. It never
 * touches a directory that already belongs to a mesh.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli/cli.h"
#include "meshname/keys.h"

#define DEFAULT_LIFETIME_DAYS 365
#define MAX_LIFETIME_DAYS 3650

const char cli_help_init[] =
	"Usage: meshname init [--name MESH] [--host NAME] [--domain ZONE] [--ipv4 PREFIX]\n"
	"                     [--ipv6 PREFIX] [--lifetime DAYS]\n"
	"\n"
	"Creates a new mesh in the state directory, with this machine as its first host and\n"
	"its admin: makes the admin key (admin.key), the mesh's genesis ROOT record, this\n"
	"host's keys (host.key, wg.key) and its certificate. Refuses a state directory that\n"
	"already belongs to a mesh.\n"
	"\n"
	"Options:\n"
	"  --name MESH      the mesh's name, one DNS label (default: mesh)\n"
	"  --host NAME      this host's name, one DNS label (default: this machine's\n"
	"                   hostname, lowercased, up to the first dot)\n"
	"  --domain ZONE    the DNS zone of the mesh (default: mesh, so hosts are NAME.mesh)\n"
	"  --ipv4 PREFIX    the mesh's IPv4 prefix, e.g. 10.77.0.0/16, length 8 to 30\n"
	"                   (default: a random /16 inside 100.64.0.0/10 that avoids\n"
	"                   100.100.0.0/16 and 100.115.92.0/23)\n"
	"  --ipv6 PREFIX    the mesh's IPv6 /48, e.g. fd12:3456:789a::/48 (default: a random\n"
	"                   RFC 4193 unique local /48)\n"
	"  --lifetime DAYS  the longest certificate the mesh accepts, 1 to 3650 days\n"
	"                   (default: 365); this host's certificate gets that long\n";

static int parse_prefix4(const char *s, struct rec_root *root)
{
	char addr[32];
	const char *slash = strchr(s, '/');
	uint64_t len;
	uint32_t a, mask;

	if (slash == NULL || (size_t)(slash - s) >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	if (cli_parse_ipv4(addr, root->ipv4) < 0 || cli_parse_u64(slash + 1, 8, 30, &len) < 0)
		return -EINVAL;
	a = (uint32_t)root->ipv4[0] << 24 | (uint32_t)root->ipv4[1] << 16 |
	    (uint32_t)root->ipv4[2] << 8 | root->ipv4[3];
	mask = ~0u << (32 - len);
	if ((a & ~mask) != 0)
		return -EDOM;
	root->ipv4_len = (uint8_t)len;
	return 0;
}

static int parse_prefix6(const char *s, struct rec_root *root)
{
	char addr[64];
	const char *slash = strchr(s, '/');
	size_t n = slash == NULL ? strlen(s) : (size_t)(slash - s);

	if (n >= sizeof(addr) || (slash != NULL && strcmp(slash, "/48") != 0))
		return -EINVAL;
	memcpy(addr, s, n);
	addr[n] = '\0';
	if (inet_pton(AF_INET6, addr, root->ipv6) != 1)
		return -EINVAL;
	for (size_t i = REC_IPV6_PREFIX_LEN / 8; i < 16; i++)
		if (root->ipv6[i] != 0)
			return -EDOM;
	return 0;
}

/* DESIGN.md section 3: a random /16 of the shared address space (RFC 6598), away from
 * the blocks Tailscale (100.100.0.0/16) and ChromeOS (100.115.92.0/23) use. */
static void random_prefix4(struct rec_root *root)
{
	uint8_t second;

	do
		second = (uint8_t)(64 + randombytes_uniform(64));
	while (second == 100 || second == 115);
	root->ipv4[0] = 100;
	root->ipv4[1] = second;
	root->ipv4[2] = 0;
	root->ipv4[3] = 0;
	root->ipv4_len = 16;
}

/* RFC 4193 section 3.2: fd00::/8 and a random 40-bit global ID. */
static void random_prefix6(struct rec_root *root)
{
	memset(root->ipv6, 0, sizeof(root->ipv6));
	root->ipv6[0] = 0xfd;
	randombytes_buf(root->ipv6 + 1, 5);
}

int cmd_init(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "host", required_argument, NULL, 'H' },
		{ "domain", required_argument, NULL, 'd' },
		{ "ipv4", required_argument, NULL, '4' },
		{ "ipv6", required_argument, NULL, '6' },
		{ "lifetime", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	uint8_t admin_sk[REC_SECRET_SIZE], admin_pk[REC_KEY_SIZE];
	uint8_t host_pk[REC_KEY_SIZE], wg_pk[REC_KEY_SIZE], buf[REC_MAX_SIZE];
	char host[256] = "", p4[32], p6[64], a4[16], a6[46], id[2 * REC_ID_SIZE + 1];
	const char *name = "mesh", *zone = "mesh", *ipv4 = NULL, *ipv6 = NULL;
	uint64_t days = DEFAULT_LIFETIME_DAYS;
	struct rec root, cert;
	size_t len;
	bool created = false;
	int ch, rc, ret = CLI_FAIL;

	memset(&root, 0, sizeof(root));
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			name = optarg;
			break;
		case 'H':
			snprintf(host, sizeof(host), "%s", optarg);
			break;
		case 'd':
			zone = optarg;
			break;
		case '4':
			ipv4 = optarg;
			break;
		case '6':
			ipv6 = optarg;
			break;
		case 'l':
			if (cli_parse_u64(optarg, 1, MAX_LIFETIME_DAYS, &days) < 0)
				return cli_usage("init",
						 "--lifetime must be a number of days from "
						 "1 to %d",
						 MAX_LIFETIME_DAYS);
			break;
		default:
			return cli_bad_option("init", argv);
		}
	}
	if (optind != argc)
		return cli_usage("init", "init takes no arguments, only options");
	if (!rec_label_valid(name))
		return cli_usage("init",
				 "'%s' is not a valid mesh name: use 1 to 63 of a-z, 0-9 "
				 "and -",
				 name);
	if (!rec_domain_valid(zone, false) || strlen(zone) > REC_ZONE_MAX)
		return cli_usage("init",
				 "'%s' is not a valid zone: use lowercase labels joined by "
				 "dots, like mesh or lan.example.org",
				 zone);
	if (host[0] == '\0') {
		if (cli_default_host_name(host, sizeof(host)) < 0 || !rec_label_valid(host))
			return cli_usage("init",
					 "this machine's hostname '%s' is not a valid host "
					 "name: give one with --host NAME",
					 host);
	} else if (!rec_label_valid(host)) {
		return cli_usage("init",
				 "'%s' is not a valid host name: use 1 to 63 of a-z, 0-9 "
				 "and -",
				 host);
	}
	if (ipv4 == NULL)
		random_prefix4(&root.u.root);
	else if ((rc = parse_prefix4(ipv4, &root.u.root)) < 0)
		return cli_usage("init",
				 rc == -EDOM ? "the IPv4 prefix %s has host bits set: give "
					       "the network address" :
					       "'%s' is not an IPv4 prefix like "
					       "10.77.0.0/16 (length 8 to 30)",
				 ipv4);
	if (ipv6 == NULL)
		random_prefix6(&root.u.root);
	else if ((rc = parse_prefix6(ipv6, &root.u.root)) < 0)
		return cli_usage("init",
				 rc == -EDOM ? "the IPv6 prefix %s has bits set after the "
					       "first 48: give the /48 network address" :
					       "'%s' is not an IPv6 "
					       "/48 like fd12:3456:789a::/48",
				 ipv6);

	ret = cli_open_fresh(c, "create a new mesh");
	if (ret != CLI_OK)
		return ret;
	ret = CLI_FAIL;
	/* An admin key left by an init that failed later is simply used again. */
	rc = keys_ed25519_generate(c->state, KEYS_ADMIN, admin_pk);
	if (rc < 0 && rc != -EEXIST) {
		cli_fail("cannot make the admin key in %s: %s", c->state, strerror(-rc));
		goto out;
	}
	rc = keys_ed25519_load(c->state, KEYS_ADMIN, admin_sk);
	if (rc < 0) {
		cli_fail("cannot read the admin key in %s: %s", c->state, keys_strerror(rc));
		goto out;
	}
	memcpy(admin_pk, admin_sk + 32, REC_KEY_SIZE);

	root.type = REC_ROOT;
	root.issued_at = c->now;
	snprintf(root.u.root.name, sizeof(root.u.root.name), "%s", name);
	snprintf(root.u.root.zone, sizeof(root.u.root.zone), "%s", zone);
	root.u.root.max_cert_lifetime = (uint32_t)(days * CLI_DAY);
	root.u.root.threshold = 1;
	root.u.root.n_admins = 1;
	memcpy(root.u.root.admins[0], admin_pk, REC_KEY_SIZE);
	rc = rec_sign(&root, admin_sk, buf, sizeof(buf), &len);
	if (rc < 0) {
		cli_fail("cannot sign the ROOT record: %s", strerror(-rc));
		goto out;
	}
	rc = registry_create(c->reg, buf, len, c->now);
	if (rc < 0) {
		cli_fail("cannot create the mesh: %s", registry_strerror(rc));
		goto out;
	}
	created = true;
	rc = cli_load_root(c);
	if (rc < 0) {
		cli_fail("cannot read back the new mesh: %s", strerror(-rc));
		goto out;
	}

	if (cli_make_host_keys(c, host_pk, wg_pk) != CLI_OK)
		goto out;
	memset(&cert, 0, sizeof(cert));
	cert.type = REC_CERT;
	memcpy(cert.mesh_id, c->mesh_id, REC_ID_SIZE);
	cert.seq = 1;
	cert.issued_at = c->now;
	cert.expires_at = c->now + c->root.u.root.max_cert_lifetime;
	snprintf(cert.u.cert.name, sizeof(cert.u.cert.name), "%s", host);
	memcpy(cert.u.cert.host_key, host_pk, REC_KEY_SIZE);
	memcpy(cert.u.cert.wg_key, wg_pk, REC_KEY_SIZE);
	rc = registry_alloc_ipv4(c->reg, c->now, cert.u.cert.ipv4);
	if (rc < 0) {
		cli_fail("cannot allocate an IPv4 address: %s", strerror(-rc));
		goto out;
	}
	rec_ipv6_for_host(c->root.u.root.ipv6, host_pk, cert.u.cert.ipv6);
	if (cli_sign_ingest(c, &cert, admin_sk, NULL, NULL) != CLI_OK)
		goto out;

	cli_hex(c->mesh_id, REC_ID_SIZE, id);
	cli_prefix4_str(&c->root.u.root, p4);
	cli_prefix6_str(&c->root.u.root, p6);
	cli_ipv4_str(cert.u.cert.ipv4, a4);
	cli_ipv6_str(cert.u.cert.ipv6, a6);
	printf("created the mesh '%s' (zone %s)\n", name, zone);
	printf("  mesh id      %s\n", id);
	printf("  prefixes     %s  %s\n", p4, p6);
	printf("  this host    %s.%s  %s  %s\n", host, zone, a4, a6);
	printf("  admin key    %s/%s (back it up; it never leaves this machine)\n", c->state,
	       KEYS_ADMIN);
	printf("next: meshname add NAME prints an invite for another host\n");
	ret = CLI_OK;
out:
	sodium_memzero(admin_sk, sizeof(admin_sk));
	/* A half-made mesh would block the next init: leave the directory as it was. */
	cli_close(c, ret != CLI_OK && created);
	return ret;
}
