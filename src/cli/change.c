/*
 * change.c: `meshname revoke` and `meshname renew`: the commands that end or extend a
 * host's membership. An admin signs with admin.key; a host without it may only act on
 * itself (revoke itself, or ask for renewal with a RENEW record).
 */
#include <errno.h>
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/cli.h"
#include "meshname/certstate.h"
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
	"Usage: meshname renew [HOST] [--expires DAYS] [--new-wg-key]\n"
	"\n"
	"On an admin host: signs a new certificate for HOST with the next serial, the same\n"
	"name, addresses and groups, valid from now. When HOST stored a renewal request for\n"
	"its current certificate, the newest one gives the lifetime and, if it asks for one,\n"
	"the new WireGuard key.\n"
	"On HOST itself without admin.key: stores a renewal request (a RENEW record) that an\n"
	"admin host signs once it gets it (by export and import until sync exists).\n"
	"HOST defaults to this host.\n"
	"\n"
	"Options:\n"
	"  --expires DAYS   the new certificate's lifetime (default: what the request asks\n"
	"                   for, else 365; at most the mesh's maximum)\n"
	"  --new-wg-key     rotate this host's WireGuard key: makes a new key as\n"
	"                   STATE/wg.key.next (or reuses the one an earlier run made) and\n"
	"                   asks for it; on an admin renewing itself, the new certificate\n"
	"                   carries it at once. meshnamed switches the interface to it when\n"
	"                   the new certificate is active. Only for this host.\n";

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
	rc = h != NULL ? registry_find_cert(c->reg, h->host_key, cert, NULL, NULL) : -ENOENT;
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
		ret = rc < 0 ? cli_fail("cannot read this host's key: %s", keys_strerror(rc)) :
			       CLI_OK;
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

/* The newest unexpired RENEW for the certificate cert_id (highest seq, then the later
 * issued_at, then the lower id: doc/records.md "Key rotation"), and the highest seq of
 * any stored RENEW for it. */
struct renew_search {
	const uint8_t *cert_id;
	uint64_t now;
	struct rec *best;
	uint8_t best_id[REC_ID_SIZE];
	bool found;
	uint64_t max_seq;
};

static int renew_search_cb(void *arg, const uint8_t *buf, size_t len)
{
	struct renew_search *rs = arg;
	uint8_t id[REC_ID_SIZE];
	struct rec r;

	if (rec_decode(buf, len, &r) < 0 || r.type != REC_RENEW ||
	    memcmp(r.u.renew.cert_id, rs->cert_id, REC_ID_SIZE) != 0)
		return 0;
	if (r.seq > rs->max_seq)
		rs->max_seq = r.seq;
	if (r.expires_at <= rs->now)
		return 0;
	rec_id(buf, len, id);
	if (rs->found && (r.seq < rs->best->seq ||
			  (r.seq == rs->best->seq && (r.issued_at < rs->best->issued_at ||
						      (r.issued_at == rs->best->issued_at &&
						       memcmp(id, rs->best_id, REC_ID_SIZE) > 0)))))
		return 0;
	*rs->best = r;
	memcpy(rs->best_id, id, REC_ID_SIZE);
	rs->found = true;
	return 0;
}

/* Another host's stored CERT that carries wg_key. */
struct wg_key_owner {
	const uint8_t *wg_key;
	const uint8_t *host_key; /* this host: its own older certs do not count */
	char name[REC_NAME_MAX + 1];
	bool found;
};

static int wg_key_owner_cb(void *arg, const uint8_t *buf, size_t len)
{
	struct wg_key_owner *o = arg;
	struct rec r;

	if (rec_decode(buf, len, &r) < 0 || r.type != REC_CERT ||
	    memcmp(r.u.cert.wg_key, o->wg_key, REC_KEY_SIZE) != 0 ||
	    memcmp(r.u.cert.host_key, o->host_key, REC_KEY_SIZE) == 0)
		return 0;
	snprintf(o->name, sizeof(o->name), "%s", r.u.cert.name);
	o->found = true;
	return 0;
}

/* Makes STATE/wg.key.next, or reuses the one an earlier --new-wg-key made (its RENEW
 * may be on its way to an admin already: a second key would orphan the first). */
static int next_wg_key(struct cli *c, uint8_t pk[REC_KEY_SIZE], bool *reused)
{
	uint8_t sk[REC_KEY_SIZE];
	int rc;

	*reused = false;
	rc = keys_x25519_generate(c->state, KEYS_WG_NEXT, pk);
	if (rc == -EEXIST) {
		rc = keys_x25519_load(c->state, KEYS_WG_NEXT, sk, pk);
		sodium_memzero(sk, sizeof(sk));
		*reused = rc == 0;
	}
	if (rc < 0)
		return cli_fail("cannot %s %s/%s: %s", rc == -EPERM ? "use" : "make", c->state,
				KEYS_WG_NEXT,
				rc == -EPERM ? "others may read it (chmod 600 it or remove it)" :
					       strerror(-rc));
	return CLI_OK;
}

static bool next_wg_key_exists(const struct cli *c)
{
	char path[4096];

	return (size_t)snprintf(path, sizeof(path), "%s/%s", c->state, KEYS_WG_NEXT) <
		       sizeof(path) &&
	       access(path, F_OK) == 0;
}

/* The admin side: sign the next certificate of cert's host. */
static int renew_sign(struct cli *c, struct rec *cert, const uint8_t *cert_raw, size_t cert_len,
		      uint64_t days, bool new_key)
{
	static const uint8_t zero[REC_KEY_SIZE];
	uint8_t sk[REC_SECRET_SIZE], key[REC_KEY_SIZE], cert_id[REC_ID_SIZE];
	struct rec req;
	struct renew_search rs = { cert_id, c->now, &req, { 0 }, false, 0 };
	struct wg_key_owner owner = { key, cert->u.cert.host_key, "", false };
	uint64_t lifetime;
	char date[32], b64[45];
	bool reused, rotate = false;
	int ret, rc;

	memset(sk, 0, sizeof(sk));
	rec_id(cert_raw, cert_len, cert_id);
	rc = registry_foreach(c->reg, renew_search_cb, &rs);
	if (rc < 0)
		return cli_fail("cannot read the registry: %s", strerror(-rc));
	memcpy(key, zero, sizeof(key));
	if (rs.found)
		memcpy(key, req.u.renew.new_wg_key, REC_KEY_SIZE);
	if (new_key) {
		ret = next_wg_key(c, key, &reused);
		if (ret != CLI_OK)
			return ret;
	}
	rotate = memcmp(key, zero, REC_KEY_SIZE) != 0 &&
		 memcmp(key, cert->u.cert.wg_key, REC_KEY_SIZE) != 0;
	if (rotate) {
		/* The registry checked the request when it came; the mesh may have moved on. */
		rc = registry_foreach(c->reg, wg_key_owner_cb, &owner);
		if (rc < 0)
			return cli_fail("cannot read the registry: %s", strerror(-rc));
		if (owner.found)
			return cli_fail("the new WireGuard key %s asks for is already %s's: ask "
					"%s for a new request (meshname renew --new-wg-key there)",
					cert->u.cert.name, owner.name, cert->u.cert.name);
		if (registry_is_revoked(c->reg, key))
			return cli_fail("the new WireGuard key %s asks for has been revoked: ask "
					"%s for a new request (meshname renew --new-wg-key there)",
					cert->u.cert.name, cert->u.cert.name);
	}

	if (days != 0)
		lifetime = days * CLI_DAY;
	else if (rs.found)
		lifetime = req.u.renew.lifetime;
	else
		lifetime = DEFAULT_DAYS * CLI_DAY;
	if (lifetime > c->root.u.root.max_cert_lifetime)
		lifetime = c->root.u.root.max_cert_lifetime; /* --expires was checked already */

	ret = cli_load_admin(c, sk);
	if (ret != CLI_OK)
		goto out;
	/* The same binding with the next serial wins over the old one everywhere. */
	cert->seq++;
	cert->issued_at = c->now;
	cert->expires_at = c->now + lifetime;
	if (rotate)
		memcpy(cert->u.cert.wg_key, key, REC_KEY_SIZE);
	ret = cli_sign_ingest(c, cert, sk, NULL, NULL);
	if (ret != CLI_OK)
		goto out;
	cli_date(cert->expires_at, date);
	printf("renewed %s.%s: serial %llu, valid until %s\n", cert->u.cert.name,
	       c->root.u.root.zone, (unsigned long long)cert->seq, date);
	if (rs.found)
		printf("following %s's renewal request (number %llu)\n", cert->u.cert.name,
		       (unsigned long long)req.seq);
	if (rotate) {
		cli_key_b64(key, b64);
		printf("new WireGuard key: %s\n", b64);
		if (new_key)
			printf("meshnamed here switches to %s/%s once it sees the new "
			       "certificate\n",
			       c->state, KEYS_WG_NEXT);
		else
			printf("bring the new certificate to %s and its peers (meshname export "
			       "here, meshname import there)\n",
			       cert->u.cert.name);
	}
out:
	sodium_memzero(sk, sizeof(sk));
	return ret;
}

/* The host side: store a RENEW for this host's current certificate. */
static int renew_request(struct cli *c, const struct rec *cert, const uint8_t *cert_raw,
			 size_t cert_len, uint64_t lifetime, bool new_key)
{
	uint8_t sk[REC_SECRET_SIZE];
	struct rec r, newest;
	struct renew_search rs = { NULL, c->now, &newest, { 0 }, false, 0 };
	char b64[45];
	bool reused = false;
	int ret, rc;

	memset(sk, 0, sizeof(sk));
	memset(&r, 0, sizeof(r));
	r.type = REC_RENEW;
	memcpy(r.mesh_id, c->mesh_id, REC_ID_SIZE);
	rec_id(cert_raw, cert_len, r.u.renew.cert_id);
	rs.cert_id = r.u.renew.cert_id;
	rc = registry_foreach(c->reg, renew_search_cb, &rs);
	if (rc < 0)
		return cli_fail("cannot read the registry: %s", strerror(-rc));
	if (new_key) {
		ret = next_wg_key(c, r.u.renew.new_wg_key, &reused);
		if (ret != CLI_OK)
			return ret;
		if (memcmp(r.u.renew.new_wg_key, cert->u.cert.wg_key, REC_KEY_SIZE) == 0)
			return cli_fail("%s/%s holds the current WireGuard key: remove it and run "
					"this again",
					c->state, KEYS_WG_NEXT);
	}
	rc = keys_ed25519_load(c->state, KEYS_HOST, sk);
	if (rc < 0) {
		ret = cli_fail("cannot read this host's key: %s", keys_strerror(rc));
		goto out;
	}
	/* Requests for one certificate are numbered: the admin takes the highest. */
	r.seq = rs.max_seq + 1;
	r.issued_at = c->now;
	/* The request is worth something only while the certificate could be renewed. */
	r.expires_at = c->now + 30 * CLI_DAY;
	r.u.renew.lifetime = (uint32_t)lifetime;
	ret = cli_sign_ingest(c, &r, sk, NULL, NULL);
	if (ret != CLI_OK)
		goto out;
	printf("stored a renewal request for %s.%s: an admin host signs it once it gets it "
	       "(meshname export here, meshname import there, meshname renew %s)\n",
	       cert->u.cert.name, c->root.u.root.zone, cert->u.cert.name);
	if (new_key) {
		cli_key_b64(r.u.renew.new_wg_key, b64);
		printf("new WireGuard key: %s (%s %s/%s); meshnamed switches to it once the "
		       "new certificate is here\n",
		       b64, reused ? "the one already in" : "made as", c->state, KEYS_WG_NEXT);
	} else if (next_wg_key_exists(c)) {
		printf("note: %s/%s from an earlier --new-wg-key is not asked for by this "
		       "request: add --new-wg-key to ask for it\n",
		       c->state, KEYS_WG_NEXT);
	}
out:
	sodium_memzero(sk, sizeof(sk));
	return ret;
}

int cmd_renew(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "expires", required_argument, NULL, 'e' },
		{ "new-wg-key", no_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	uint8_t raw[REC_MAX_SIZE], self_pk[REC_KEY_SIZE];
	struct rec cert;
	uint64_t days = 0, lifetime;
	size_t raw_len = 0;
	bool new_key = false, self;
	int ch, ret, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'k') {
			new_key = true;
			continue;
		}
		if (ch != 'e')
			return cli_bad_option("renew", argv);
		if (cli_parse_u64(optarg, 1, 36500, &days) < 0)
			return cli_usage("renew", "--expires must be a number of days");
	}
	if (argc - optind > 1)
		return cli_usage("renew", "renew takes one host name");
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
	if (argc - optind == 1) {
		ret = find_host(c, argv[optind], &cert);
		if (ret != CLI_OK)
			goto out;
		self = is_self(c, &cert);
	} else if (cli_host_pk(c, self_pk) == 0 &&
		   registry_find_cert(c->reg, self_pk, &cert, NULL, NULL) == 0) {
		self = true;
	} else {
		ret = cli_usage("renew", "this machine is no host of the mesh: name the host "
					 "to renew");
		goto out;
	}
	if (new_key && !self) {
		ret = cli_usage("renew",
				"--new-wg-key makes the key on this machine: run "
				"meshname renew --new-wg-key on %s itself",
				cert.u.cert.name);
		goto out;
	}
	/* The latest stored certificate of the host and its bytes: a RENEW names it by id. */
	rc = registry_find_cert(c->reg, cert.u.cert.host_key, &cert, raw, &raw_len);
	if (rc < 0) {
		ret = cli_fail("cannot read %s's certificate: %s", cert.u.cert.name, strerror(-rc));
		goto out;
	}
	if (cli_have_admin(c))
		ret = renew_sign(c, &cert, raw, raw_len, days, new_key);
	else if (self)
		ret = renew_request(c, &cert, raw, raw_len, lifetime, new_key);
	else
		ret = cli_fail("this machine holds no admin key: run meshname renew on an admin "
			       "host (a host can only ask for its own renewal)");
out:
	cli_close(c, false);
	return ret;
}
