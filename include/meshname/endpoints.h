/*
 * endpoints.h: this host's own ENDPOINTS record, shared by `meshname endpoint` and by
 * meshnamed's publisher (src/daemon/publish.c): the record's order of endpoints, the next
 * record signed with the host key, and the list of endpoints added by hand (the pinned
 * list, STATE/endpoints.pinned). Never ingests, never logs, never keeps a secret.
 */
#ifndef MESHNAME_ENDPOINTS_H
#define MESHNAME_ENDPOINTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meshname/record.h"
#include "meshname/snapshot.h"

#define ENDPOINTS_PINNED "endpoints.pinned"

/* Sorts e->ep as the record format wants (by the 20 encoded bytes: kind, family, address,
 * port). */
void endpoints_sort(struct rec_endpoints *e);

/* Same family, address and port; the kind does not count. */
bool endpoints_same_address(const struct rec_endpoint *a, const struct rec_endpoint *b);

/* The index of the entry of e with ep's address and port, or -1. */
int endpoints_find(const struct rec_endpoints *e, const struct rec_endpoint *ep);

/* What h publishes now (its listen port and endpoints; n = 0 without a record). */
void endpoints_of_host(const struct snapshot_host *h, struct rec_endpoints *out);

/* Same listen port and the same entries (both sorted). */
bool endpoints_equal(const struct rec_endpoints *a, const struct rec_endpoints *b);

/*
 * Signs this host's next ENDPOINTS record: set (sorted here), seq, issued at now, expiring
 * at expires (the caller caps it at the certificate's not-after), with the host key read
 * from state_dir and wiped before return. Writes the record to buf (REC_MAX_SIZE bytes).
 * Returns 0, the error of keys_ed25519_load (-ENOENT, -EPERM, -EBADMSG), or -EINVAL when
 * the set breaks a rule of the record format (a port 0, a duplicate, over 16 entries).
 */
int endpoints_sign(const char *state_dir, const uint8_t mesh_id[REC_ID_SIZE],
		   const struct rec_endpoints *set, uint64_t seq, uint64_t now, uint64_t expires,
		   uint8_t *buf, size_t *len);

/*
 * The pinned list: endpoints added by hand with `meshname endpoint add`, which meshnamed
 * publishes next to the ones it finds. One "KIND ADDRESS PORT" line each (kind lan, ipv6
 * or public; IPv6 without brackets), '#' comments. listen_port is not kept (0).
 * load: a missing file is an empty list; -EBADMSG for a line that does not parse (*line
 * gets its number when line is not NULL), -E2BIG over REC_MAX_ENDPOINTS, or -errno.
 * save: written 0644 through a temporary file and rename; 0 or -errno.
 */
int endpoints_pinned_load(const char *state_dir, struct rec_endpoints *out, unsigned *line);
int endpoints_pinned_save(const char *state_dir, const struct rec_endpoints *e);

#endif
