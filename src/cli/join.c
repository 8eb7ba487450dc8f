/*
 * join.c: `meshname join`: a new host enters a mesh with an invite (it signs its own
 * CERT with the invite's one-time admission key) or with a certificate an admin signed
 * for its join request. It makes its own keys and never needs the admin's private key;
 * the admission key is wiped on every path and never stored.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli/cli.h"
#include "meshname/keys.h"

const char cli_help_join[] =
	"Usage: meshname join INVITE\n"
	"       meshname join --request [--host NAME]\n"
	"       meshname join CERT\n"
	"\n"
	"Joins this machine to a mesh; the state directory must not belong to a mesh yet.\n"
	"INVITE and CERT are the mn1-invite: or mn1-cert: line itself, a file holding it, or\n"
	"- to read it from standard input.\n"
	"\n"
	"With an invite (from `meshname add HOST` on an admin host), makes this host's keys\n"
	"and signs its certificate with the invite's one-time admission key: the name,\n"
	"address and groups are those the admin chose.\n"
	"\n"
	"With --request, makes this host's keys and prints a join request (a line starting\n"
	"with mn1-request:) for an admin to sign with `meshname add NAME --request REQUEST`.\n"
	"Running it again prints a request for the same keys. The admin's answer, a line\n"
	"starting with mn1-cert:, is then imported with `meshname join CERT`.\n"
	"\n"
	"An invite names bootstrap endpoints of the host that made it: join writes them to\n"
	"STATE/seeds with that host's key, and meshnamed announces this host to them and\n"
	"fetches the mesh when it starts. With a certificate, or an invite without bootstrap\n"
	"endpoints, nothing is written: add a line \"HOSTKEY HOST:PORT\" to STATE/seeds by\n"
	"hand (see meshname(8)), or move a bundle: `meshname export` here and\n"
	"`meshname import` on a peer.\n"
	"\n"
	"Options:\n"
	"  --request     print a join request instead of redeeming an invite\n"
	"  --host NAME   the name the request asks for (default: this machine's hostname)\n";

/* Structure, signature and mesh checks on what an invite or cert message carries, so
 * that nothing is written for a message that cannot work. */
static bool valid_root(const uint8_t *buf, size_t len, struct rec *root,
		       uint8_t mesh_id[REC_ID_SIZE])
{
	if (rec_decode(buf, len, root) < 0 || root->type != REC_ROOT || !rec_verify(buf, len))
		return false;
	rec_mesh_id(buf, len, mesh_id);
	return true;
}

static bool valid_member(const uint8_t *buf, size_t len, uint8_t type,
			 const uint8_t mesh_id[REC_ID_SIZE], struct rec *r)
{
	return rec_decode(buf, len, r) == 0 && r->type == type && rec_verify(buf, len) &&
	       memcmp(r->mesh_id, mesh_id, REC_ID_SIZE) == 0;
}

/*
 * What to do next. seeds (n of them) are what join wrote to STATE/seeds; peer is the
 * inviter's or signing admin host's CERT (NULL: none), whose key a seeds line needs.
 */
static void print_joined(struct cli *c, const struct rec *cert, const struct seed *seeds, size_t n,
			 const struct rec *peer)
{
	char a4[16], a6[46], date[32], key[45];

	cli_ipv4_str(cert->u.cert.ipv4, a4);
	cli_ipv6_str(cert->u.cert.ipv6, a6);
	cli_date(cert->expires_at, date);
	printf("joined the mesh '%s' as %s.%s (%s, %s), certificate valid until %s\n",
	       c->root.u.root.name, cert->u.cert.name, c->root.u.root.zone, a4, a6, date);
	if (n > 0) {
		printf("next: start meshnamed here: it announces this host to the mesh through %s "
		       "at",
		       peer->u.cert.name);
		for (size_t k = 0; k < n; k++)
			printf(strchr(seeds[k].host, ':') != NULL ? "%s [%s]:%u" : "%s %s:%u",
			       k > 0 ? "," : "", seeds[k].host, (unsigned)seeds[k].port);
		printf(" (the bootstrap peers in %s/%s)\n", c->state, SEEDS_FILE);
		return;
	}
	printf("next: no bootstrap peer is known, so meshnamed cannot announce this host by "
	       "itself: run meshname export here and meshname import on a peer");
	if (peer != NULL) {
		cli_key_b64(peer->u.cert.host_key, key);
		printf(", or write \"%s HOST:PORT\" (%s's address and sync port) to %s/%s and "
		       "start meshnamed",
		       key, peer->u.cert.name, c->state, SEEDS_FILE);
	}
	printf("\n");
}

/* STATE/seeds for an invite: each bootstrap endpoint with the inviter CERT's host key.
 * Nothing without an inviter CERT or endpoints. Returns the number written or -errno. */
static int write_seeds(struct cli *c, struct cli_invite *inv, const struct rec *inviter)
{
	int rc;

	if (inv->inviter_len == 0 || inv->n_bootstrap == 0)
		return 0;
	for (unsigned k = 0; k < inv->n_bootstrap; k++)
		memcpy(inv->bootstrap[k].key, inviter->u.cert.host_key, REC_KEY_SIZE);
	rc = seeds_save(c->state, inv->bootstrap, inv->n_bootstrap);
	return rc < 0 ? rc : inv->n_bootstrap;
}

/* Creates the registry from root and stores the inviter's or admin host's CERT, which
 * may fail without harm (it only tells us about one peer). */
static int start_registry(struct cli *c, const uint8_t *root, size_t root_len, const uint8_t *peer,
			  size_t peer_len)
{
	enum ingest_result res;
	int rc;

	rc = registry_create(c->reg, root, root_len, c->now);
	if (rc < 0)
		return cli_fail("cannot create the mesh here: %s", registry_strerror(rc));
	rc = cli_load_root(c);
	if (rc < 0)
		return cli_fail("cannot read back the mesh: %s", strerror(-rc));
	if (peer_len > 0) {
		rc = registry_ingest(c->reg, peer, peer_len, c->now, &res);
		if (rc < 0)
			fprintf(stderr,
				"meshname: the peer certificate in this message was refused "
				"(%s); going on without it\n",
				registry_strerror(rc));
	}
	return CLI_OK;
}

static int join_invite(struct cli *c, const char *text)
{
	uint8_t adm_pk[REC_KEY_SIZE], adm_sk[REC_SECRET_SIZE], mesh_id[REC_ID_SIZE];
	uint8_t host_pk[REC_KEY_SIZE], wg_pk[REC_KEY_SIZE];
	struct cli_invite inv;
	struct rec root, admit, cert, peer;
	bool created = false;
	char date[32];
	int ret = CLI_FAIL, rc;

	memset(adm_sk, 0, sizeof(adm_sk));
	if (cli_invite_decode(text, &inv) < 0)
		return cli_fail("this is not a valid invite: copy the whole mn1-invite: line");
	crypto_sign_seed_keypair(adm_pk, adm_sk, inv.seed);
	/* Every byte of an invite is checked: a damaged one is refused whole. */
	if (!valid_root(inv.root, inv.root_len, &root, mesh_id) ||
	    !valid_member(inv.admit, inv.admit_len, REC_ADMIT, mesh_id, &admit) ||
	    memcmp(admit.u.admit.admission_key, adm_pk, REC_KEY_SIZE) != 0 ||
	    (inv.inviter_len > 0 &&
	     !valid_member(inv.inviter, inv.inviter_len, REC_CERT, mesh_id, &peer))) {
		cli_fail("this is not a valid invite: copy the whole mn1-invite: line");
		goto out;
	}
	if (admit.expires_at < c->now) {
		cli_date(admit.expires_at, date);
		cli_fail("this invite expired on %s: ask an admin for a new one", date);
		goto out;
	}
	ret = cli_open_fresh(c, "join another mesh");
	if (ret != CLI_OK)
		goto out;
	ret = CLI_FAIL;
	if (cli_make_host_keys(c, host_pk, wg_pk) != CLI_OK)
		goto out;
	ret = start_registry(c, inv.root, inv.root_len, inv.inviter, inv.inviter_len);
	created = true;
	if (ret != CLI_OK)
		goto out;
	ret = cli_ingest(c, inv.admit, inv.admit_len, "the invite's ADMIT record");
	if (ret != CLI_OK)
		goto out;

	/* The ADMIT authorizes exactly this CERT: its name, address and groups, serial 1,
	 * issued before the deadline, lasting at most its cert lifetime. */
	memset(&cert, 0, sizeof(cert));
	cert.type = REC_CERT;
	memcpy(cert.mesh_id, c->mesh_id, REC_ID_SIZE);
	cert.seq = 1;
	cert.issued_at = c->now;
	cert.expires_at = c->now + admit.u.admit.cert_lifetime;
	snprintf(cert.u.cert.name, sizeof(cert.u.cert.name), "%s", admit.u.admit.name);
	memcpy(cert.u.cert.host_key, host_pk, REC_KEY_SIZE);
	memcpy(cert.u.cert.wg_key, wg_pk, REC_KEY_SIZE);
	memcpy(cert.u.cert.ipv4, admit.u.admit.ipv4, 4);
	rec_ipv6_for_host(c->root.u.root.ipv6, host_pk, cert.u.cert.ipv6);
	cert.u.cert.groups = admit.u.admit.groups;
	ret = cli_sign_ingest(c, &cert, adm_sk, NULL, NULL);
	if (ret != CLI_OK)
		goto out;
	/* A failure here undoes the join (the registry is discarded below), so that running
	 * it again once the cause is fixed ends with the seeds in place. */
	rc = write_seeds(c, &inv, &peer);
	if (rc < 0) {
		ret = cli_fail("cannot write %s/%s: %s", c->state, SEEDS_FILE, strerror(-rc));
		goto out;
	}
	print_joined(c, &cert, inv.bootstrap, (size_t)rc, inv.inviter_len > 0 ? &peer : NULL);
out:
	sodium_memzero(adm_sk, sizeof(adm_sk));
	cli_invite_free(&inv);
	cli_close(c, ret != CLI_OK && created);
	return ret;
}

static int join_cert(struct cli *c, const char *text)
{
	uint8_t mesh_id[REC_ID_SIZE], host_pk[REC_KEY_SIZE], wg_pk[REC_KEY_SIZE];
	uint8_t wg_sk[REC_KEY_SIZE];
	struct cli_certmsg m;
	struct rec root, cert, peer;
	bool created = false;
	int ret = CLI_FAIL, rc;

	if (cli_certmsg_decode(text, &m) < 0)
		return cli_fail("this is not a valid certificate: copy the whole mn1-cert: line");
	if (!valid_root(m.root, m.root_len, &root, mesh_id) ||
	    !valid_member(m.cert, m.cert_len, REC_CERT, mesh_id, &cert) ||
	    (m.admin_cert_len > 0 &&
	     !valid_member(m.admin_cert, m.admin_cert_len, REC_CERT, mesh_id, &peer))) {
		cli_fail("this is not a valid certificate: copy the whole mn1-cert: line");
		goto out;
	}
	rc = cli_host_pk(c, host_pk);
	if (rc == 0) {
		rc = keys_x25519_load(c->state, KEYS_WG, wg_sk, wg_pk);
		sodium_memzero(wg_sk, sizeof(wg_sk));
	}
	if (rc == -ENOENT) {
		cli_fail("this machine has no keys in %s: run meshname join --request first",
			 c->state);
		goto out;
	}
	if (rc < 0) {
		cli_fail("cannot read this host's keys in %s: %s", c->state, strerror(-rc));
		goto out;
	}
	if (memcmp(cert.u.cert.host_key, host_pk, REC_KEY_SIZE) != 0 ||
	    memcmp(cert.u.cert.wg_key, wg_pk, REC_KEY_SIZE) != 0) {
		cli_fail("this certificate is for another host's keys: import it on the machine "
			 "that made the join request");
		goto out;
	}
	ret = cli_open_fresh(c, "join another mesh");
	if (ret != CLI_OK)
		goto out;
	ret = start_registry(c, m.root, m.root_len, m.admin_cert, m.admin_cert_len);
	created = true;
	if (ret != CLI_OK)
		goto out;
	ret = cli_ingest(c, m.cert, m.cert_len, "this certificate");
	if (ret != CLI_OK)
		goto out;
	/* A cert message names no endpoints of the admin host: no seeds are written. */
	print_joined(c, &cert, NULL, 0, m.admin_cert_len > 0 ? &peer : NULL);
out:
	cli_certmsg_free(&m);
	cli_close(c, ret != CLI_OK && created);
	return ret;
}

static int join_request(struct cli *c, const char *name)
{
	static const char hint[] = "meshname: give this line to an admin, who runs meshname add "
				   "%s --request REQUEST; then run meshname join CERT here\n";
	uint8_t sk[REC_SECRET_SIZE];
	struct cli_request req;
	char *text = NULL;
	int ret, rc;

	memset(&req, 0, sizeof(req));
	snprintf(req.name, sizeof(req.name), "%s", name);
	ret = cli_open_fresh(c, "join another mesh");
	if (ret != CLI_OK)
		return ret;
	ret = cli_make_host_keys(c, req.host_key, req.wg_key);
	if (ret != CLI_OK)
		goto out;
	ret = CLI_FAIL;
	rc = keys_ed25519_load(c->state, KEYS_HOST, sk);
	if (rc < 0) {
		cli_fail("cannot read this host's key in %s: %s", c->state, keys_strerror(rc));
		goto out;
	}
	text = cli_request_encode(&req, sk);
	if (text == NULL) {
		cli_fail("cannot encode the join request");
		goto out;
	}
	printf("%s\n", text);
	fprintf(stderr, hint, name);
	ret = CLI_OK;
out:
	sodium_memzero(sk, sizeof(sk));
	free(text);
	/* The empty database is of no use until a certificate arrives. */
	cli_close(c, true);
	return ret;
}

int cmd_join(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "request", no_argument, NULL, 'r' },
		{ "host", required_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const prefixes[] = { CLI_INVITE_PREFIX, CLI_CERT_PREFIX, NULL };
	char host[256] = "", *text;
	bool request = false;
	int ch, ret;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			request = true;
			break;
		case 'H':
			snprintf(host, sizeof(host), "%s", optarg);
			break;
		default:
			return cli_bad_option("join", argv);
		}
	}
	if (request) {
		if (optind != argc)
			return cli_usage("join", "join --request takes no arguments");
		if (host[0] == '\0' && cli_default_host_name(host, sizeof(host)) < 0)
			host[0] = '\0';
		if (!rec_label_valid(host))
			return cli_usage("join",
					 "'%s' is not a valid host name: give one with "
					 "--host NAME (1 to 63 of a-z, 0-9 and -)",
					 host);
		return join_request(c, host);
	}
	if (host[0] != '\0')
		return cli_usage("join", "--host goes with --request; an invite sets the name");
	if (argc - optind != 1)
		return cli_usage("join", "join takes one invite or certificate");
	text = cli_read_arg(argv[optind], prefixes);
	if (text == NULL)
		return cli_fail("this is not a valid invite (and no file %s can be read): copy the "
				"whole mn1-invite: line",
				argv[optind]);
	if (strncmp(text, CLI_CERT_PREFIX, strlen(CLI_CERT_PREFIX)) == 0)
		ret = join_cert(c, text);
	else if (strncmp(text, CLI_INVITE_PREFIX, strlen(CLI_INVITE_PREFIX)) == 0)
		ret = join_invite(c, text);
	else
		ret = cli_fail("this is not a valid invite: copy the whole mn1-invite: line");
	sodium_memzero(text, strlen(text));
	free(text);
	return ret;
}
