/*
 * payload.c: the three one-line texts that move between hosts by copy and paste:
 * invites ("mn1-invite:"), join requests ("mn1-request:") and signed certificates
 * ("mn1-cert:"). Each is a prefix and the base64url (no padding) of a small binary
 * payload whose integers are big-endian and whose records are raw and length-prefixed:
 *
 *   invite   version (1), admission seed (32), ROOT, ADMIT, inviter's CERT (each a
 *            2-byte length and the raw record; the CERT may be empty), bootstrap
 *            endpoint count (1, at most CLI_INVITE_BOOTSTRAP_MAX) and that many
 *            strings (1-byte length, "host:port" as seeds_parse_hostport takes it, no
 *            two for the same host and port)
 *   request  version (1), name (1-byte length + label), host key (32), WireGuard key
 *            (32), Ed25519 signature by the host key over CLI_REQUEST_CONTEXT and
 *            every byte before it (proof of possession)
 *   cert     version (1), ROOT, CERT, the signing admin host's CERT (may be empty)
 *
 * The decoders check structure and bootstrap strings; records are verified by the
 * registry. An invite
 * holds a secret: every buffer that held one is wiped before it is freed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli/cli.h"

/* The longest invite we write, and the longest text we accept. */
#define BOOTSTRAP_STR_MAX 255
#define INVITE_MAX \
	(1 + 32 + 3 * (2 + REC_MAX_SIZE) + 1 + CLI_INVITE_BOOTSTRAP_MAX * (1 + BOOTSTRAP_STR_MAX))
#define TEXT_MAX (128u * 1024u)

struct out {
	uint8_t *p;
	size_t len, size;
	bool overflow;
};

static void put(struct out *o, const void *src, size_t n)
{
	if (o->overflow || n > o->size - o->len) {
		o->overflow = true;
		return;
	}
	if (n > 0) /* an empty record may come as NULL */
		memcpy(o->p + o->len, src, n);
	o->len += n;
}

static void put_u8(struct out *o, uint8_t v)
{
	put(o, &v, 1);
}

static void put_rec(struct out *o, const uint8_t *rec, size_t len)
{
	uint8_t l[2] = { (uint8_t)(len >> 8), (uint8_t)len };

	if (len > REC_MAX_SIZE) {
		o->overflow = true;
		return;
	}
	put(o, l, 2);
	put(o, rec, len);
}

struct in {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

static const uint8_t *get(struct in *i, size_t n)
{
	const uint8_t *p;

	if (i->bad || n > i->len - i->off) {
		i->bad = true;
		return NULL;
	}
	p = i->p + i->off;
	i->off += n;
	return p;
}

static uint8_t get_u8(struct in *i)
{
	const uint8_t *p = get(i, 1);

	return p == NULL ? 0 : *p;
}

static const uint8_t *get_rec(struct in *i, size_t *len, bool may_be_empty)
{
	const uint8_t *l = get(i, 2);

	if (l == NULL)
		return NULL;
	*len = (size_t)l[0] << 8 | l[1];
	if (*len > REC_MAX_SIZE || (*len == 0 && !may_be_empty)) {
		i->bad = true;
		return NULL;
	}
	return get(i, *len);
}

/* prefix + base64url(buf); caller frees and, for secrets, wipes. */
static char *to_text(const char *prefix, const uint8_t *buf, size_t len)
{
	char *b64 = cli_b64url_encode(buf, len), *s = NULL;
	size_t n;

	if (b64 == NULL)
		return NULL;
	n = strlen(prefix) + strlen(b64) + 1;
	s = malloc(n);
	if (s != NULL)
		snprintf(s, n, "%s%s", prefix, b64);
	sodium_memzero(b64, strlen(b64));
	free(b64);
	return s;
}

/* Decodes the base64url after prefix into a malloc'd buffer. */
static int from_text(const char *text, const char *prefix, uint8_t **buf, size_t *len)
{
	size_t plen = strlen(prefix), size;
	long n;

	*buf = NULL;
	if (strncmp(text, prefix, plen) != 0)
		return -EBADMSG;
	text += plen;
	if (strlen(text) > TEXT_MAX)
		return -EBADMSG;
	size = strlen(text) / 4 * 3 + 3;
	*buf = malloc(size);
	if (*buf == NULL)
		return -ENOMEM;
	n = cli_b64url_decode(text, *buf, size);
	if (n < 1) {
		sodium_memzero(*buf, size);
		free(*buf);
		*buf = NULL;
		return -EBADMSG;
	}
	*len = (size_t)n;
	return 0;
}

/* ---- invite ------------------------------------------------------------------------ */

/* The k-th bootstrap string (len bytes) into list[k]; false when it does not parse, is
 * empty or too long, or names the same host and port as an earlier one. */
static bool bootstrap_add(struct seed *list, size_t k, const char *text, size_t len)
{
	char str[BOOTSTRAP_STR_MAX + 1];

	if (len == 0 || len > BOOTSTRAP_STR_MAX || memchr(text, '\0', len) != NULL)
		return false;
	memcpy(str, text, len);
	str[len] = '\0';
	memset(&list[k], 0, sizeof(list[k]));
	if (seeds_parse_hostport(str, &list[k]) < 0)
		return false;
	for (size_t j = 0; j < k; j++)
		if (list[j].port == list[k].port && strcmp(list[j].host, list[k].host) == 0)
			return false;
	return true;
}

char *cli_invite_encode(const uint8_t seed[32], const uint8_t *root, size_t root_len,
			const uint8_t *admit, size_t admit_len, const uint8_t *inviter,
			size_t inviter_len, const char *const *bootstrap, size_t n_bootstrap)
{
	uint8_t buf[INVITE_MAX];
	struct seed check[CLI_INVITE_BOOTSTRAP_MAX];
	struct out o = { buf, 0, sizeof(buf), false };
	char *s = NULL;

	if (n_bootstrap > CLI_INVITE_BOOTSTRAP_MAX)
		return NULL;
	put_u8(&o, CLI_PAYLOAD_VERSION);
	put(&o, seed, 32);
	put_rec(&o, root, root_len);
	put_rec(&o, admit, admit_len);
	put_rec(&o, inviter, inviter_len);
	put_u8(&o, (uint8_t)n_bootstrap);
	for (size_t k = 0; k < n_bootstrap; k++) {
		size_t len = strlen(bootstrap[k]);

		/* Never write what cli_invite_decode would refuse. */
		if (!bootstrap_add(check, k, bootstrap[k], len)) {
			o.overflow = true;
			break;
		}
		put_u8(&o, (uint8_t)len);
		put(&o, bootstrap[k], len);
	}
	if (!o.overflow)
		s = to_text(CLI_INVITE_PREFIX, buf, o.len);
	sodium_memzero(buf, sizeof(buf));
	return s;
}

int cli_invite_decode(const char *text, struct cli_invite *inv)
{
	struct in i;
	const uint8_t *seed;
	int rc;

	memset(inv, 0, sizeof(*inv));
	rc = from_text(text, CLI_INVITE_PREFIX, &inv->buf, &inv->buf_len);
	if (rc < 0)
		return rc;
	i = (struct in){ inv->buf, inv->buf_len, 0, false };
	if (get_u8(&i) != CLI_PAYLOAD_VERSION)
		goto bad;
	seed = get(&i, 32);
	inv->root = get_rec(&i, &inv->root_len, false);
	inv->admit = get_rec(&i, &inv->admit_len, false);
	inv->inviter = get_rec(&i, &inv->inviter_len, true);
	inv->n_bootstrap = get_u8(&i);
	if (inv->n_bootstrap > CLI_INVITE_BOOTSTRAP_MAX)
		goto bad;
	for (unsigned k = 0; k < inv->n_bootstrap; k++) {
		size_t len = get_u8(&i);
		const uint8_t *str = get(&i, len);

		if (str == NULL || !bootstrap_add(inv->bootstrap, k, (const char *)str, len))
			goto bad;
	}
	if (i.bad || seed == NULL || i.off != i.len)
		goto bad;
	memcpy(inv->seed, seed, 32);
	return 0;
bad:
	cli_invite_free(inv);
	return -EBADMSG;
}

void cli_invite_free(struct cli_invite *inv)
{
	if (inv->buf != NULL) {
		sodium_memzero(inv->buf, inv->buf_len);
		free(inv->buf);
	}
	sodium_memzero(inv, sizeof(*inv));
}

/* ---- request ----------------------------------------------------------------------- */

/* CLI_REQUEST_CONTEXT || payload: what the proof of possession signs. */
static void request_message(const uint8_t *payload, size_t len, uint8_t *msg, size_t *msg_len)
{
	size_t clen = sizeof(CLI_REQUEST_CONTEXT) - 1;

	memcpy(msg, CLI_REQUEST_CONTEXT, clen);
	memcpy(msg + clen, payload, len);
	*msg_len = clen + len;
}

char *cli_request_encode(const struct cli_request *req, const uint8_t sk[REC_SECRET_SIZE])
{
	uint8_t buf[1 + 1 + REC_NAME_MAX + 2 * REC_KEY_SIZE + REC_SIG_SIZE];
	uint8_t msg[sizeof(CLI_REQUEST_CONTEXT) + sizeof(buf)];
	struct out o = { buf, 0, sizeof(buf), false };
	size_t name_len = strlen(req->name), msg_len;

	if (name_len == 0 || name_len > REC_NAME_MAX)
		return NULL;
	put_u8(&o, CLI_PAYLOAD_VERSION);
	put_u8(&o, (uint8_t)name_len);
	put(&o, req->name, name_len);
	put(&o, req->host_key, REC_KEY_SIZE);
	put(&o, req->wg_key, REC_KEY_SIZE);
	request_message(buf, o.len, msg, &msg_len);
	crypto_sign_detached(buf + o.len, NULL, msg, msg_len, sk);
	o.len += REC_SIG_SIZE;
	return to_text(CLI_REQUEST_PREFIX, buf, o.len);
}

int cli_request_decode(const char *text, struct cli_request *req)
{
	uint8_t *buf, msg[sizeof(CLI_REQUEST_CONTEXT) + 256];
	const uint8_t *name, *hk, *wk, *sig;
	size_t len, msg_len, name_len, signed_len;
	struct in i;
	int rc;

	memset(req, 0, sizeof(*req));
	rc = from_text(text, CLI_REQUEST_PREFIX, &buf, &len);
	if (rc < 0)
		return rc;
	i = (struct in){ buf, len, 0, false };
	rc = -EBADMSG;
	if (get_u8(&i) != CLI_PAYLOAD_VERSION)
		goto out;
	name_len = get_u8(&i);
	name = get(&i, name_len);
	hk = get(&i, REC_KEY_SIZE);
	wk = get(&i, REC_KEY_SIZE);
	signed_len = i.off;
	sig = get(&i, REC_SIG_SIZE);
	/* A NUL in the name would make it read shorter than what was signed. */
	if (i.bad || i.off != len || name_len == 0 || name_len > REC_NAME_MAX || name == NULL ||
	    memchr(name, '\0', name_len) != NULL || hk == NULL || wk == NULL || sig == NULL)
		goto out;
	memcpy(req->name, name, name_len);
	req->name[name_len] = '\0';
	if (!rec_label_valid(req->name))
		goto out;
	memcpy(req->host_key, hk, REC_KEY_SIZE);
	memcpy(req->wg_key, wk, REC_KEY_SIZE);
	request_message(buf, signed_len, msg, &msg_len);
	rc = crypto_sign_verify_detached(sig, msg, msg_len, req->host_key) == 0 ? 0 : -EKEYREJECTED;
out:
	free(buf);
	return rc;
}

/* ---- cert -------------------------------------------------------------------------- */

char *cli_certmsg_encode(const uint8_t *root, size_t root_len, const uint8_t *cert, size_t cert_len,
			 const uint8_t *admin_cert, size_t admin_cert_len)
{
	uint8_t buf[1 + 3 * (2 + REC_MAX_SIZE)];
	struct out o = { buf, 0, sizeof(buf), false };

	put_u8(&o, CLI_PAYLOAD_VERSION);
	put_rec(&o, root, root_len);
	put_rec(&o, cert, cert_len);
	put_rec(&o, admin_cert, admin_cert_len);
	return o.overflow ? NULL : to_text(CLI_CERT_PREFIX, buf, o.len);
}

int cli_certmsg_decode(const char *text, struct cli_certmsg *m)
{
	struct in i;
	size_t len;
	int rc;

	memset(m, 0, sizeof(*m));
	rc = from_text(text, CLI_CERT_PREFIX, &m->buf, &len);
	if (rc < 0)
		return rc;
	i = (struct in){ m->buf, len, 0, false };
	if (get_u8(&i) != CLI_PAYLOAD_VERSION)
		goto bad;
	m->root = get_rec(&i, &m->root_len, false);
	m->cert = get_rec(&i, &m->cert_len, false);
	m->admin_cert = get_rec(&i, &m->admin_cert_len, true);
	if (i.bad || i.off != len)
		goto bad;
	return 0;
bad:
	cli_certmsg_free(m);
	return -EBADMSG;
}

void cli_certmsg_free(struct cli_certmsg *m)
{
	free(m->buf);
	memset(m, 0, sizeof(*m));
}
