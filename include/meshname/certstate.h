/*
 * certstate.h: where a host's certificate stands, said the same way by `meshname status`,
 * meshnamed's status and meshnamed's log: valid, expiring (within CERT_WARN_DAYS), expired,
 * revoked, or none (no certificate in the registry: not admitted, or not synced yet).
 */
#ifndef MESHNAME_CERTSTATE_H
#define MESHNAME_CERTSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meshname/record.h"

struct registry;

#define CERT_WARN_DAYS 30 /* a certificate this close to its end is "expiring" */
#define CERT_DAY 86400u

enum cert_state { CERT_NONE, CERT_VALID, CERT_EXPIRING, CERT_EXPIRED, CERT_REVOKED };

/* A revocation comes first (it deletes the host's certificates), then the certificate's
 * own times against now (unix seconds). */
enum cert_state cert_state_of(bool revoked, bool have_cert, uint64_t expires_at, uint64_t now);

/* "valid", "expiring", "expired", "revoked" or "none". */
const char *cert_state_word(enum cert_state s);

/*
 * When a daemon says its own certificate's state in its log: on a change of state (valid
 * at the first look is not said, nor none: a joining host has no certificate until sync
 * brings it), and again every CERT_DAY while expiring or expired, so that a headless
 * machine's log says it daily until someone renews it. Zero-initialise.
 */
struct cert_watch {
	bool looked;
	enum cert_state last;
	uint64_t said_at;
};

/* true: say state s now (and it counts as said). */
bool cert_watch_due(struct cert_watch *w, enum cert_state s, uint64_t now);

/*
 * The certificate of host_key that wins in the registry (the highest serial, then the later
 * issue), whatever its times: decoded into *cert and, if raw is not NULL, its bytes into
 * raw (REC_MAX_SIZE bytes) with *raw_len. A scan of the whole registry. -ENOENT: none;
 * other errors -errno.
 */
int registry_find_cert(struct registry *reg, const uint8_t host_key[REC_KEY_SIZE], struct rec *cert,
		       uint8_t *raw, size_t *raw_len);

#endif
