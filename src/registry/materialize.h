/*
 * materialize.h: the conflict rules of doc/records.md as one pure function, private to
 * src/registry: stored CERTs, ENDPOINTS, RECORDs and OBSERVEs in, active hosts, published
 * rrs, the observations of each host and alert sentences out. No sqlite, no clock, no I/O: the same input set gives the
 * same output whatever the order of the arrays.
 */
#ifndef MESHNAME_REGISTRY_MATERIALIZE_H
#define MESHNAME_REGISTRY_MATERIALIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meshname/record.h"

#define MAT_ENDPOINT_WIRE 20 /* kind, family, address (16), port (2) */

struct mat_cert {
	uint8_t id[REC_ID_SIZE];
	uint8_t signer[REC_KEY_SIZE];
	bool by_admin; /* signed by an admin of the ROOT, else by an admission key */
	char name[REC_NAME_MAX + 1];
	uint8_t host_key[REC_KEY_SIZE];
	uint8_t wg_key[REC_KEY_SIZE];
	uint8_t ipv4[4];
	uint8_t ipv6[16];
	uint64_t serial;
	uint64_t not_before;
	uint64_t not_after;
	char *groups; /* comma-separated sorted labels, "" for none; owned by the input */
};

struct mat_endpoints {
	uint8_t id[REC_ID_SIZE];
	uint8_t host_key[REC_KEY_SIZE]; /* the signer */
	uint64_t seq;
	uint64_t expires_at;
	uint16_t listen_port;
	uint8_t n;
	uint8_t wire[REC_MAX_ENDPOINTS * MAT_ENDPOINT_WIRE]; /* n endpoints, record order */
};

struct mat_record {
	uint8_t id[REC_ID_SIZE];
	uint8_t key[REC_ID_SIZE]; /* hash of (owner, rrtype, rdata) */
	uint8_t signer[REC_KEY_SIZE];
	bool by_admin;
	uint64_t seq;
	uint64_t expires_at;
	uint8_t op;
	char *owner; /* owned by the input */
	uint16_t rrtype;
	uint32_t ttl;
	uint16_t rdlen;
	uint8_t *rdata; /* owned by the input */
};

struct mat_observe {
	uint8_t id[REC_ID_SIZE];
	uint8_t observer[REC_KEY_SIZE]; /* the signer */
	uint8_t subject[REC_KEY_SIZE];
	uint64_t seq;
	uint64_t issued_at;
	uint64_t expires_at;
	uint8_t seen[MAT_ENDPOINT_WIRE];
};

/* Observations about one host kept in the view at most (SNAPSHOT_MAX_OBSERVATIONS). */
#define MAT_MAX_OBSERVATIONS 16

struct mat_input {
	uint64_t now;
	struct mat_cert *certs;
	size_t n_certs;
	struct mat_endpoints *endpoints;
	size_t n_endpoints;
	struct mat_record *records;
	size_t n_records;
	struct mat_observe *observes;
	size_t n_observes;
};

struct mat_output {
	size_t n_hosts;
	size_t *hosts;       /* indexes into certs, in name order */
	ptrdiff_t *host_eps; /* per host: index into endpoints, or -1 */
	size_t n_rrs;
	size_t *rrs; /* indexes into records, in (owner, rrtype, rdata) order */
	/* Observations of host h: observes[obs[obs_first[h]]] .. observes[obs[obs_first[h + 1]
	 * - 1]], newest issued_at first, then observer key; at most MAT_MAX_OBSERVATIONS. */
	size_t *obs_first; /* n_hosts + 1 entries */
	size_t *obs;       /* indexes into observes */
	size_t n_alerts;
	char **alerts;        /* sentences, sorted, unique */
	uint64_t valid_until; /* the first expiry after now that may change the result;
	                        * UINT64_MAX if none */
};

/* Computes the view. Returns 0 or -ENOMEM; out is then freed with mat_output_free. */
int mat_compute(const struct mat_input *in, struct mat_output *out);
void mat_output_free(struct mat_output *out);
/* Frees the strings the input owns and the arrays, and zeroes it. */
void mat_input_free(struct mat_input *in);

/* The key a RECORD competes on: BLAKE2b-256 of owner, rrtype and rdata. */
void mat_record_key(const struct rec_record *rr, uint8_t key[REC_ID_SIZE]);

/* The first 8 bytes of an id or key as 16 hex digits, for alert sentences. */
void mat_hex_prefix(const uint8_t *p, char out[17]);

#endif
