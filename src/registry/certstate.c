/*
 * certstate.c: a host's certificate state, one rule for the CLI and the daemon.
 */
#include <errno.h>
#include <string.h>

#include "meshname/certstate.h"
#include "meshname/registry.h"

enum cert_state cert_state_of(bool revoked, bool have_cert, uint64_t expires_at, uint64_t now)
{
	if (revoked)
		return CERT_REVOKED;
	if (!have_cert)
		return CERT_NONE;
	if (expires_at <= now)
		return CERT_EXPIRED;
	if (expires_at - now < (uint64_t)CERT_WARN_DAYS * CERT_DAY)
		return CERT_EXPIRING;
	return CERT_VALID;
}

const char *cert_state_word(enum cert_state s)
{
	switch (s) {
	case CERT_VALID:
		return "valid";
	case CERT_EXPIRING:
		return "expiring";
	case CERT_EXPIRED:
		return "expired";
	case CERT_REVOKED:
		return "revoked";
	case CERT_NONE:
		break;
	}
	return "none";
}

bool cert_watch_due(struct cert_watch *w, enum cert_state s, uint64_t now)
{
	bool changed = !w->looked ? s != CERT_VALID && s != CERT_NONE : s != w->last;
	bool again = w->looked && s == w->last && (s == CERT_EXPIRING || s == CERT_EXPIRED) &&
		     now >= w->said_at + CERT_DAY;

	w->looked = true;
	w->last = s;
	if (!changed && !again)
		return false;
	w->said_at = now;
	return true;
}

struct find_cert {
	const uint8_t *host_key;
	struct rec *cert;
	uint8_t *raw;
	size_t *raw_len;
	bool found;
};

static int find_cert_cb(void *arg, const uint8_t *buf, size_t len)
{
	struct find_cert *fc = arg;
	struct rec r;

	if (rec_decode(buf, len, &r) < 0 || r.type != REC_CERT)
		return 0;
	if (memcmp(r.u.cert.host_key, fc->host_key, REC_KEY_SIZE) != 0)
		return 0;
	if (fc->found && (r.seq < fc->cert->seq ||
			  (r.seq == fc->cert->seq && r.issued_at <= fc->cert->issued_at)))
		return 0;
	*fc->cert = r;
	if (fc->raw != NULL) {
		memcpy(fc->raw, buf, len);
		*fc->raw_len = len;
	}
	fc->found = true;
	return 0;
}

int registry_find_cert(struct registry *reg, const uint8_t host_key[REC_KEY_SIZE], struct rec *cert,
		       uint8_t *raw, size_t *raw_len)
{
	struct find_cert fc = { host_key, cert, raw, raw_len, false };
	int r = registry_foreach(reg, find_cert_cb, &fc);

	if (r < 0)
		return r;
	return fc.found ? 0 : -ENOENT;
}
