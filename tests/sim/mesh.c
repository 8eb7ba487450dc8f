/*
 * mesh.c: the simulator's mesh (a ROOT and N CERTs, really signed, made once and shared
 * by every node) and the in-memory store a simulated node syncs from. Validation here
 * is real (decode, mesh id, window, authorization, replay, signature); it is not the
 * registry's (no conflict rules, no materialized view), which the simulation does not need.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "sim.h"

#define CERT_LIFETIME (365 * 86400ULL)

static int cmp_rec_id(const void *a, const void *b)
{
	return memcmp(((const struct sim_rec *)a)->id, ((const struct sim_rec *)b)->id,
		      REC_ID_SIZE);
}

static int cmp_key(const void *a, const void *b)
{
	return memcmp(a, b, REC_KEY_SIZE);
}

/* Deterministic keys: the seed of key i is BLAKE2b(seed || i || label). */
static void derive_keypair(uint64_t seed, uint64_t i, uint8_t label, uint8_t pk[REC_KEY_SIZE],
			   uint8_t sk[REC_SECRET_SIZE])
{
	uint8_t in[17], s[crypto_sign_SEEDBYTES];

	memcpy(in, &seed, 8);
	memcpy(in + 8, &i, 8);
	in[16] = label;
	crypto_generichash(s, sizeof(s), in, sizeof(in), NULL, 0);
	crypto_sign_seed_keypair(pk, sk, s);
	sodium_memzero(s, sizeof(s));
}

static int rec_keep(struct sim_rec *out, const struct rec *r, const uint8_t *buf, size_t len)
{
	out->buf = malloc(len);
	if (out->buf == NULL)
		return -ENOMEM;
	memcpy(out->buf, buf, len);
	out->len = len;
	out->issued_at = r->issued_at;
	out->expires_at = r->expires_at;
	out->type = r->type;
	out->seq = r->seq;
	memcpy(out->signer, r->signer, REC_KEY_SIZE);
	rec_id(buf, len, out->id);
	return 0;
}

int sim_mesh_new(size_t n, uint64_t seed, uint64_t now, struct sim_mesh **out)
{
	struct sim_mesh *m;
	uint8_t admin_sk[REC_SECRET_SIZE], buf[REC_MAX_SIZE], prefix6[16];
	struct rec r;
	size_t len;
	int err = -ENOMEM;

	*out = NULL;
	if (n == 0 || n > 65000)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	m->now = now;
	m->n_hosts = n;
	m->host_pk = calloc(n, sizeof(*m->host_pk));
	m->host_sk = calloc(n, sizeof(*m->host_sk));
	m->sorted_pk = calloc(n, sizeof(*m->sorted_pk));
	m->rec = calloc(n + 1, sizeof(*m->rec));
	if (m->host_pk == NULL || m->host_sk == NULL || m->sorted_pk == NULL || m->rec == NULL)
		goto out;
	derive_keypair(seed, 0, 'a', m->admin_pk, admin_sk);

	memset(&r, 0, sizeof(r));
	memset(prefix6, 0, sizeof(prefix6));
	prefix6[0] = 0xfd;
	prefix6[1] = 0x5e;
	r.type = REC_ROOT;
	r.issued_at = now - 86400;
	snprintf(r.u.root.name, sizeof(r.u.root.name), "sim");
	snprintf(r.u.root.zone, sizeof(r.u.root.zone), "mesh");
	r.u.root.ipv4[0] = 100;
	r.u.root.ipv4[1] = 64;
	r.u.root.ipv4_len = 16;
	memcpy(r.u.root.ipv6, prefix6, 16);
	r.u.root.max_cert_lifetime = (uint32_t)(2 * CERT_LIFETIME);
	r.u.root.threshold = 1;
	r.u.root.n_admins = 1;
	memcpy(r.u.root.admins[0], m->admin_pk, REC_KEY_SIZE);
	err = rec_sign(&r, admin_sk, buf, sizeof(buf), &len);
	if (err < 0)
		goto out;
	err = rec_keep(&m->rec[0], &r, buf, len);
	if (err < 0)
		goto out;
	memcpy(m->mesh_id, m->rec[0].id, REC_ID_SIZE);
	m->n_rec = 1;

	for (size_t i = 0; i < n; i++) {
		uint8_t wg_seed[REC_KEY_SIZE];

		derive_keypair(seed, i, 'h', m->host_pk[i], m->host_sk[i]);
		memset(&r, 0, sizeof(r));
		r.type = REC_CERT;
		memcpy(r.mesh_id, m->mesh_id, REC_ID_SIZE);
		r.seq = 1;
		r.issued_at = now - 3600;
		r.expires_at = now + CERT_LIFETIME;
		snprintf(r.u.cert.name, sizeof(r.u.cert.name), "h%zu", i);
		memcpy(r.u.cert.host_key, m->host_pk[i], REC_KEY_SIZE);
		/* Any 32 bytes do for a WireGuard key here: nothing in the simulation uses it. */
		crypto_generichash(wg_seed, sizeof(wg_seed), m->host_pk[i], REC_KEY_SIZE, NULL, 0);
		memcpy(r.u.cert.wg_key, wg_seed, REC_KEY_SIZE);
		r.u.cert.ipv4[0] = 100;
		r.u.cert.ipv4[1] = 64;
		r.u.cert.ipv4[2] = (uint8_t)((i + 1) >> 8);
		r.u.cert.ipv4[3] = (uint8_t)(i + 1);
		rec_ipv6_for_host(prefix6, m->host_pk[i], r.u.cert.ipv6);
		err = rec_sign(&r, admin_sk, buf, sizeof(buf), &len);
		if (err < 0)
			goto out;
		err = rec_keep(&m->rec[m->n_rec], &r, buf, len);
		if (err < 0)
			goto out;
		m->n_rec++;
	}
	memcpy(m->sorted_pk, m->host_pk, n * sizeof(*m->host_pk));
	qsort(m->sorted_pk, n, sizeof(*m->sorted_pk), cmp_key);
	qsort(m->rec, m->n_rec, sizeof(*m->rec), cmp_rec_id);
	*out = m;
	m = NULL;
	err = 0;
out:
	sodium_memzero(admin_sk, sizeof(admin_sk));
	sim_mesh_free(m);
	return err;
}

void sim_mesh_free(struct sim_mesh *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n_rec; i++)
		free(m->rec[i].buf);
	if (m->host_sk != NULL)
		sodium_memzero(m->host_sk, m->n_hosts * sizeof(*m->host_sk));
	free(m->rec);
	free(m->host_pk);
	free(m->host_sk);
	free(m->sorted_pk);
	free(m);
}

long sim_mesh_host(const struct sim_mesh *m, const uint8_t pk[REC_KEY_SIZE])
{
	for (size_t i = 0; i < m->n_hosts; i++)
		if (memcmp(m->host_pk[i], pk, REC_KEY_SIZE) == 0)
			return (long)i;
	return -1;
}

static bool is_host_key(const struct sim_mesh *m, const uint8_t pk[REC_KEY_SIZE])
{
	return bsearch(pk, m->sorted_pk, m->n_hosts, sizeof(*m->sorted_pk), cmp_key) != NULL;
}

static const struct sim_rec *mesh_find(const struct sim_mesh *m, const uint8_t id[REC_ID_SIZE])
{
	struct sim_rec key;

	memcpy(key.id, id, REC_ID_SIZE);
	return bsearch(&key, m->rec, m->n_rec, sizeof(*m->rec), cmp_rec_id);
}

static const struct sim_rec *store_find(const struct sim_store *st, const uint8_t id[REC_ID_SIZE])
{
	const struct sim_rec *r = mesh_find(st->mesh, id);

	if (r != NULL)
		return r;
	for (size_t i = 0; i < st->n_own; i++)
		if (memcmp(st->own[i].id, id, REC_ID_SIZE) == 0)
			return &st->own[i];
	return NULL;
}

bool sim_store_has(const struct sim_store *st, const uint8_t id[REC_ID_SIZE])
{
	return store_find(st, id) != NULL;
}

static bool expired(const struct sim_rec *x, uint64_t now)
{
	return x->expires_at != 0 && x->expires_at <= now;
}

/* Every record a peer could still accept at now: the expired ones are left out. */
static int store_foreach(void *arg, uint64_t now, sync_item_fn fn, void *fn_arg)
{
	const struct sim_store *st = arg;
	int r;

	for (size_t i = 0; i < st->mesh->n_rec; i++) {
		const struct sim_rec *x = &st->mesh->rec[i];

		if (expired(x, now))
			continue;
		r = fn(fn_arg, x->issued_at, x->id, x->type);
		if (r != 0)
			return r;
	}
	for (size_t i = 0; i < st->n_own; i++) {
		if (expired(&st->own[i], now))
			continue;
		r = fn(fn_arg, st->own[i].issued_at, st->own[i].id, st->own[i].type);
		if (r != 0)
			return r;
	}
	return 0;
}

static int store_get(void *arg, const uint8_t id[REC_ID_SIZE], uint8_t *buf, size_t *len)
{
	const struct sim_rec *x = store_find(arg, id);

	if (x == NULL)
		return -ENOENT;
	memcpy(buf, x->buf, x->len);
	*len = x->len;
	return 0;
}

/* The newest ENDPOINTS of signer among our own records, or NULL. */
static struct sim_rec *own_endpoints(struct sim_store *st, const uint8_t signer[REC_KEY_SIZE])
{
	for (size_t i = 0; i < st->n_own; i++)
		if (st->own[i].type == REC_ENDPOINTS &&
		    memcmp(st->own[i].signer, signer, REC_KEY_SIZE) == 0)
			return &st->own[i];
	return NULL;
}

/* The checks of DESIGN.md section 4 that a store without conflict rules can make,
 * cheapest first. */
static int check_one(struct sim_store *st, const uint8_t *buf, size_t len, uint64_t now,
		     struct rec *r)
{
	const struct sim_rec *old;
	int err;

	if (len > REC_MAX_SIZE)
		return -EMSGSIZE;
	err = rec_decode(buf, len, r);
	if (err < 0)
		return err;
	if (r->type == REC_ROOT || memcmp(r->mesh_id, st->mesh->mesh_id, REC_ID_SIZE) != 0)
		return -EXDEV;
	if (r->issued_at > now + REC_MAX_FUTURE)
		return -ERANGE;
	if (r->expires_at != 0 && r->expires_at <= now)
		return -EKEYEXPIRED;
	switch (r->type) {
	case REC_ENDPOINTS:
	case REC_OBSERVE:
	case REC_RENEW:
		if (!is_host_key(st->mesh, r->signer))
			return -EPERM;
		break;
	default:
		if (memcmp(r->signer, st->mesh->admin_pk, REC_KEY_SIZE) != 0)
			return -EPERM;
		break;
	}
	if (r->type == REC_ENDPOINTS) {
		old = own_endpoints(st, r->signer);
		if (old != NULL && old->seq > r->seq)
			return -ESTALE;
	}
	st->verified++;
	if (!rec_verify(buf, len))
		return -EKEYREJECTED;
	return 0;
}

static int store_add(struct sim_store *st, const struct rec *r, const uint8_t *buf, size_t len)
{
	struct sim_rec *old;

	if (r->type == REC_ENDPOINTS) {
		/* A higher seq replaces the stored one (same seq: equivocation, both kept). */
		old = own_endpoints(st, r->signer);
		if (old != NULL && old->seq < r->seq) {
			free(old->buf);
			*old = st->own[--st->n_own];
		}
	}
	if (st->n_own == st->cap_own) {
		size_t cap = st->cap_own ? 2 * st->cap_own : 8;
		struct sim_rec *p = realloc(st->own, cap * sizeof(*p));

		if (p == NULL)
			return -ENOMEM;
		st->own = p;
		st->cap_own = cap;
	}
	if (rec_keep(&st->own[st->n_own], r, buf, len) < 0)
		return -ENOMEM;
	st->n_own++;
	return 0;
}

static int store_ingest(void *arg, const struct registry_item *items, size_t n, uint64_t now,
			enum ingest_result *res, int *err)
{
	struct sim_store *st = arg;
	bool malicious = false;
	struct rec r;

	for (size_t i = 0; i < n; i++) {
		uint8_t id[REC_ID_SIZE];

		res[i] = 0;
		rec_id(items[i].buf, items[i].len, id);
		if (items[i].len <= REC_MAX_SIZE && store_find(st, id) != NULL) {
			err[i] = 0;
			res[i] = INGEST_DUPLICATE;
			continue;
		}
		err[i] = check_one(st, items[i].buf, items[i].len, now, &r);
		if (err[i] < 0 && sync_err_is_malicious(err[i]))
			malicious = true;
	}
	if (malicious)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int e;

		if (err[i] < 0 || res[i] == INGEST_DUPLICATE)
			continue;
		/* Decoded again: the batch may hold two versions of one signer's record. */
		if (rec_decode(items[i].buf, items[i].len, &r) < 0)
			continue;
		e = store_add(st, &r, items[i].buf, items[i].len);
		if (e < 0)
			return e;
		res[i] = INGEST_ACCEPTED;
	}
	return 0;
}

void sim_store_init(struct sim_store *st, const struct sim_mesh *m)
{
	memset(st, 0, sizeof(*st));
	st->mesh = m;
	st->ops.arg = st;
	st->ops.foreach_item = store_foreach;
	st->ops.get = store_get;
	st->ops.ingest = store_ingest;
}

void sim_store_fini(struct sim_store *st)
{
	for (size_t i = 0; i < st->n_own; i++)
		free(st->own[i].buf);
	free(st->own);
	memset(st, 0, sizeof(*st));
}

int sim_endpoints_record(const struct sim_mesh *m, size_t h, uint64_t seq, uint64_t now,
			 uint8_t *buf, size_t *len)
{
	struct rec r;

	memset(&r, 0, sizeof(r));
	r.type = REC_ENDPOINTS;
	memcpy(r.mesh_id, m->mesh_id, REC_ID_SIZE);
	r.seq = seq;
	r.issued_at = now;
	r.expires_at = now + 86400;
	r.u.endpoints.listen_port = 51820;
	r.u.endpoints.n = 1;
	r.u.endpoints.ep[0].kind = EP_PUBLIC;
	r.u.endpoints.ep[0].family = 4;
	r.u.endpoints.ep[0].addr[0] = 203;
	r.u.endpoints.ep[0].addr[1] = 0;
	r.u.endpoints.ep[0].addr[2] = 113;
	r.u.endpoints.ep[0].addr[3] = (uint8_t)(1 + seq % 250);
	r.u.endpoints.ep[0].port = (uint16_t)(1024 + h % 60000);
	return rec_sign(&r, m->host_sk[h], buf, REC_MAX_SIZE, len);
}
