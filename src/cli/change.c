/*
 * change.c: `meshname revoke` and `meshname renew`: the commands that end or extend a
 * host's membership. An admin signs with admin.key; a host without it may only act on
 * itself (revoke itself, or ask for renewal with a RENEW record).
 */
#include <errno.h>
#include <getopt.h>
#include <string.h>

#include <sodium.h>

#include "cli/cli.h"
#include "meshname/keys.h"

const char cli_help_revoke[] =
	"Usage: meshname revoke HOST\n"
	"\n"
	"Revokes HOST for good: its host key loses every right, its certificate and records\n"
	"are dropped everywhere the revocation reaches, and its IPv4 address is never given\n"
	"out again. There is no undo: to bring the machine back, admit it again with new\n"
	"keys. Needs admin.key, except that a host may always revoke itself (signed with\n"
	"its own host key).\n";

const char cli_help_renew[] =
	"Usage: meshname renew HOST [--expires DAYS]\n"
	"\n"
	"On an admin host: signs a new certificate for HOST with the next serial, the same\n"
	"keys, name, addresses and groups, valid from now.\n"
	"On HOST itself without admin.key: stores a renewal request (a RENEW record) that an\n"
	"admin host signs once it gets it (by export and import until sync exists).\n"
	"\n"
	"Options:\n"
	"  --expires DAYS   the new certificate's lifetime (default: 365, at most the\n"
	"                   mesh's maximum)\n";

#define DEFAULT_DAYS 365

struct by_name {
	struct cli *c;
	const char *name;
	struct rec *cert;
	bool found;
};

static int by_name_cb(void *arg, const uint8_t *buf, size_t len)
{
	struct by_name *b = arg;
	struct rec r;

	if (rec_decode(buf, len, &r) < 0 || r.type != REC_CERT ||
	    strcmp(r.u.cert.name, b->name) != 0 ||
	    registry_is_revoked(b->c->reg, r.u.cert.host_key))
		return 0;
	if (!b->found || r.seq > b->cert->seq ||
	    (r.seq == b->cert->seq && r.issued_at > b->cert->issued_at)) {
		*b->cert = r;
		b->found = true;
	}
	return 0;
}

/* Finds HOST among the active hosts, or else among the stored, unrevoked certificates
 * (an expired host can still be renewed or revoked). */
static int find_host(struct cli *c, const char *name, struct rec *cert)
{
	struct by_name b = { c, name, cert, false };
	struct snapshot *s = NULL;
	const struct snapshot_host *h;
	int rc;

	rc = registry_snapshot(c->reg, &s);
	if (rc < 0)
		return cli_fail("cannot read the registry: %s", strerror(-rc));
	h = snapshot_lookup_name(s, name, strlen(name));
	rc = h != NULL ? cli_find_cert(c, h->host_key, cert, NULL, NULL) : -ENOENT;
	snapshot_unref(s);
	if (rc < 0 && (rc = registry_foreach(c->reg, by_name_cb, &b)) == 0 && !b.found)
		rc = -ENOENT;
	if (rc < 0)
		return cli_fail("no host named %s in this mesh: see meshname ls", name);
	return CLI_OK;
}

static bool is_self(struct cli *c, const struct rec *cert)
{
	uint8_t pk[REC_KEY_SIZE];

	return cli_host_pk(c, pk) == 0 && memcmp(pk, cert->u.cert.host_key, REC_KEY_SIZE) == 0;
}

int cmd_revoke(struct cli *c, int argc, char **argv)
{
	uint8_t sk[REC_SECRET_SIZE];
	struct rec cert, r;
	int ret, rc;

	if (argc != 2 || argv[1][0] == '-')
		return cli_usage("revoke", "revoke takes one host name");
	memset(sk, 0, sizeof(sk));
	ret = cli_open(c);
	if (ret != CLI_OK)
		return ret;
	ret = find_host(c, argv[1], &cert);
	if (ret != CLI_OK)
		goto out;
	if (cli_have_admin(c)) {
		ret = cli_load_admin(c, sk);
	} else if (is_self(c, &cert)) {
		/* A key may always give up its own rights (doc/records.md). */
		rc = keys_ed25519_load(c->state, KEYS_HOST, sk);
		ret = rc < 0 ? cli_fail("cannot read this host's key: %s", strerror(-rc)) : CLI_OK;
	} else {
		ret = cli_fail("this machine holds no admin key: run meshname revoke on an admin "
			       "host (a host can only revoke itself)");
	}
	if (ret != CLI_OK)
		goto out;
	memset(&r, 0, sizeof(r));
	r.type = REC_REVOKE;
	memcpy(r.mesh_id, c->mesh_id, REC_ID_SIZE);
	r.issued_at = c->now;
	memcpy(r.u.revoke.target, cert.u.cert.host_key, REC_KEY_SIZE);
	memcpy(r.u.revoke.ipv4, cert.u.cert.ipv4, 4);
	ret = cli_sign_ingest(c, &r, sk, NULL, NULL);
	if (ret == CLI_OK)
		printf("revoked %s.%s; its address is retired for good\n", cert.u.cert.name,
		       c->root.u.root.zone);
out:
	sodium_memzero(sk, sizeof(sk));
	cli_close(c, false);
	return ret;
}

int cmd_renew(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "expires", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	uint8_t sk[REC_SECRET_SIZE], raw[REC_MAX_SIZE];
	struct rec cert, r;
	uint64_t days = 0, lifetime;
	size_t raw_len;
	char date[32];
	int ch, ret, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 'e')
			return cli_bad_option("renew", argv);
		if (cli_parse_u64(optarg, 1, 36500, &days) < 0)
			return cli_usage("renew", "--expires must be a number of days");
	}
	if (argc - optind != 1)
		return cli_usage("renew", "renew takes one host name");
	memset(sk, 0, sizeof(sk));
	ret = cli_open(c);
	if (ret != CLI_OK)
		return ret;
	lifetime = (days == 0 ? DEFAULT_DAYS : days) * CLI_DAY;
	if (lifetime > c->root.u.root.max_cert_lifetime) {
		if (days != 0) {
			unsigned long long max = c->root.u.root.max_cert_lifetime / CLI_DAY;

			ret = cli_fail("this mesh allows certificates of at most %llu days: use "
				       "--expires %llu or less",
				       max, max);
			goto out;
		}
		lifetime = c->root.u.root.max_cert_lifetime;
	}
	ret = find_host(c, argv[optind], &cert);
	if (ret != CLI_OK)
		goto out;

	if (cli_have_admin(c)) {
		ret = cli_load_admin(c, sk);
		if (ret != CLI_OK)
			goto out;
		/* The same binding with the next serial wins over the old one everywhere. */
		cert.seq++;
		cert.issued_at = c->now;
		cert.expires_at = c->now + lifetime;
		ret = cli_sign_ingest(c, &cert, sk, NULL, NULL);
		if (ret == CLI_OK) {
			cli_date(cert.expires_at, date);
			printf("renewed %s.%s: serial %llu, valid until %s\n", cert.u.cert.name,
			       c->root.u.root.zone, (unsigned long long)cert.seq, date);
		}
		goto out;
	}
	if (!is_self(c, &cert)) {
		ret = cli_fail("this machine holds no admin key: run meshname renew on an admin "
			       "host (a host can only ask for its own renewal)");
		goto out;
	}
	rc = cli_find_cert(c, cert.u.cert.host_key, &cert, raw, &raw_len);
	if (rc == 0)
		rc = keys_ed25519_load(c->state, KEYS_HOST, sk);
	if (rc < 0) {
		ret = cli_fail("cannot read this host's key or certificate: %s", strerror(-rc));
		goto out;
	}
	memset(&r, 0, sizeof(r));
	r.type = REC_RENEW;
	memcpy(r.mesh_id, c->mesh_id, REC_ID_SIZE);
	r.seq = cert.seq;
	r.issued_at = c->now;
	/* The request is worth something only while the certificate could be renewed. */
	r.expires_at = c->now + 30 * CLI_DAY;
	rec_id(raw, raw_len, r.u.renew.cert_id);
	r.u.renew.lifetime = (uint32_t)lifetime;
	ret = cli_sign_ingest(c, &r, sk, NULL, NULL);
	if (ret == CLI_OK)
		printf("stored a renewal request for %s.%s: an admin host signs it once it gets "
		       "it (meshname export here, meshname import there, meshname renew %s)\n",
		       cert.u.cert.name, c->root.u.root.zone, cert.u.cert.name);
out:
	sodium_memzero(sk, sizeof(sk));
	cli_close(c, false);
	return ret;
}
