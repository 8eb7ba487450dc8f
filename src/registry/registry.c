/*
 * registry.c: the registry engine of include/meshname/registry.h: validates records in
 * the order of doc/records.md (cheapest first, the signature last), stores them with
 * store.c, parks records whose authorizer is missing, purges on REVOKE, and writes the
 * view materialize.c computes. It never logs and never reads the clock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "meshname/registry.h"
#include "registry/materialize.h"
#include "registry/store.h"

#define OFF_TYPE 4
#define OFF_MESH_ID 6
#define STATE_HASH_CONTEXT "meshname-state-v1"
#define OBSERVE_KEY_CONTEXT "meshname-observe-key"

/* What step 5 of the validation decided. */
enum auth {
	AUTH_OK,
	AUTH_PENDING, /* the authorizer is not stored yet: wait for wait_key */
};

/* A row of the host table (or a host about to become one) as a snapshot_host, with
 * the storage its pointers point into. */
struct host_view {
	struct snapshot_host h;
	char name[REC_NAME_MAX + 1];
	char group_buf[REC_MAX_GROUPS][REC_NAME_MAX + 1];
	const char *groups[REC_MAX_GROUPS];
	struct rec_endpoint ep[REC_MAX_ENDPOINTS];
	struct snapshot_observation obs[SNAPSHOT_MAX_OBSERVATIONS];
};

static int ingest_one(struct registry *reg, const uint8_t *buf, size_t len, uint64_t now,
		      bool verified, enum ingest_result *res);

/* ---- small helpers ----------------------------------------------------------------- */

bool registry_is_storage_error(int r)
{
	return r == -ENOSPC || r == -EIO || r == -ENOMEM || r == -EBUSY || r == -EACCES;
}

static uint32_t ipv4_u32(const uint8_t a[4])
{
	return (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* Inside the mesh prefix and neither its network nor its broadcast address. */
static bool ipv4_usable(const struct rec_root *root, const uint8_t a[4])
{
	uint32_t host_mask = UINT32_MAX >> root->ipv4_len;
	uint32_t net = ipv4_u32(root->ipv4), addr = ipv4_u32(a);

	if ((addr & ~host_mask) != net)
		return false;
	return (addr & host_mask) != 0 && (addr & host_mask) != host_mask;
}

static bool is_admin(const struct registry *reg, const uint8_t key[REC_KEY_SIZE])
{
	const struct rec_root *root = &reg->root.u.root;

	for (size_t i = 0; i < root->n_admins; i++)
		if (sodium_memcmp(root->admins[i], key, REC_KEY_SIZE) == 0)
			return true;
	return false;
}

/* A single-row "SELECT 1 ..." with one blob parameter: 1 found, 0 not, < 0 error. */
static int exists_blob(struct registry *reg, enum store_stmt which, const uint8_t *p, size_t n)
{
	sqlite3_stmt *st = store_stmt(reg, which);
	int rc, r;

	r = store_bind_blob(st, 1, p, n);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_errno(rc);
}

typedef int (*row_fn)(void *ctx, sqlite3_stmt *st);

/*
 * Steps st (prepared and bound) to its end and hands each row to row, stopping at the
 * first non-zero value, which it returns; a storage error as -errno, 0 at the end. The
 * caller resets or finalizes st.
 */
static int step_rows(sqlite3_stmt *st, row_fn row, void *ctx)
{
	int rc, r;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = row(ctx, st);
		if (r != 0)
			return r;
	}
	return rc == SQLITE_DONE ? 0 : store_errno(rc);
}

static int revoked(struct registry *reg, const uint8_t key[REC_KEY_SIZE])
{
	return exists_blob(reg, ST_REVOKED, key, REC_KEY_SIZE);
}

static void groups_join(const struct rec_groups *g, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < g->n && used < size; i++) {
		int n = snprintf(out + used, size - used, "%s%s", i > 0 ? "," : "", g->name[i]);

		if (n < 0)
			break;
		used += (size_t)n;
	}
}

static bool groups_equal(const struct rec_groups *a, const struct rec_groups *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->name[i], b->name[i]) != 0)
			return false;
	return true;
}

static void endpoint_wire(const struct rec_endpoint *ep, uint8_t out[MAT_ENDPOINT_WIRE])
{
	out[0] = ep->kind;
	out[1] = ep->family;
	memcpy(out + 2, ep->addr, 16);
	out[18] = (uint8_t)(ep->port >> 8);
	out[19] = (uint8_t)ep->port;
}

static void endpoint_unwire(const uint8_t in[MAT_ENDPOINT_WIRE], struct rec_endpoint *ep)
{
	ep->kind = in[0];
	ep->family = in[1];
	memcpy(ep->addr, in + 2, 16);
	ep->port = (uint16_t)(in[18] << 8 | in[19]);
}

/* Splits "a,b,c" into v; -EIO if it does not fit (the table was not written by us). */
static int groups_split(struct host_view *v, const char *text)
{
	const char *p = text;

	v->h.n_groups = 0;
	while (*p != '\0') {
		size_t n = strcspn(p, ",");

		if (v->h.n_groups == REC_MAX_GROUPS || n == 0 || n > REC_NAME_MAX)
			return -EIO;
		memcpy(v->group_buf[v->h.n_groups], p, n);
		v->group_buf[v->h.n_groups][n] = '\0';
		v->groups[v->h.n_groups] = v->group_buf[v->h.n_groups];
		v->h.n_groups++;
		p += n;
		if (*p == ',')
			p++;
	}
	v->h.groups = v->groups;
	return 0;
}

/* ---- state hash: one serialization of the view, from memory or from the tables ----- */

static void hash_u64(crypto_generichash_state *st, uint64_t v)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (56 - 8 * i));
	crypto_generichash_update(st, b, sizeof(b));
}

static void hash_str(crypto_generichash_state *st, const char *s)
{
	size_t n = strlen(s);

	hash_u64(st, n);
	crypto_generichash_update(st, (const uint8_t *)s, n);
}

static void hash_host(crypto_generichash_state *st, const struct snapshot_host *h)
{
	uint8_t w[MAT_ENDPOINT_WIRE];

	crypto_generichash_update(st, (const uint8_t *)"H", 1);
	hash_str(st, h->name);
	crypto_generichash_update(st, h->ipv4, sizeof(h->ipv4));
	crypto_generichash_update(st, h->ipv6, sizeof(h->ipv6));
	crypto_generichash_update(st, h->host_key, sizeof(h->host_key));
	crypto_generichash_update(st, h->wg_key, sizeof(h->wg_key));
	crypto_generichash_update(st, h->cert_id, sizeof(h->cert_id));
	hash_u64(st, h->serial);
	hash_u64(st, h->not_before);
	hash_u64(st, h->not_after);
	hash_u64(st, h->n_groups);
	for (size_t i = 0; i < h->n_groups; i++)
		hash_str(st, h->groups[i]);
	hash_u64(st, h->endpoints_seq);
	hash_u64(st, h->endpoints_expires);
	hash_u64(st, h->listen_port);
	hash_u64(st, h->n_endpoints);
	for (size_t i = 0; i < h->n_endpoints; i++) {
		endpoint_wire(&h->endpoints[i], w);
		crypto_generichash_update(st, w, sizeof(w));
	}
	/* Only when there are some, so that a view without any hashes as it always did. */
	if (h->n_observations > 0) {
		crypto_generichash_update(st, (const uint8_t *)"O", 1);
		hash_u64(st, h->n_observations);
	}
	for (size_t i = 0; i < h->n_observations; i++) {
		const struct snapshot_observation *o = &h->observations[i];

		crypto_generichash_update(st, o->observer, sizeof(o->observer));
		hash_u64(st, o->seq);
		hash_u64(st, o->issued_at);
		hash_u64(st, o->expires_at);
		endpoint_wire(&o->seen, w);
		crypto_generichash_update(st, w, sizeof(w));
	}
}

static void hash_rr(crypto_generichash_state *st, const struct snapshot_rr *rr)
{
	crypto_generichash_update(st, (const uint8_t *)"R", 1);
	hash_str(st, rr->owner);
	hash_u64(st, rr->rrtype);
	hash_u64(st, rr->ttl);
	hash_u64(st, rr->rdlen);
	crypto_generichash_update(st, rr->rdata, rr->rdlen);
}

static void hash_begin(crypto_generichash_state *st)
{
	crypto_generichash_init(st, NULL, 0, 32);
	crypto_generichash_update(st, (const uint8_t *)STATE_HASH_CONTEXT,
				  sizeof(STATE_HASH_CONTEXT) - 1);
}

/* ---- reading the view tables --------------------------------------------------------- */

static int view_from_row(struct host_view *v, sqlite3_stmt *st)
{
	const unsigned char *name = sqlite3_column_text(st, 0);
	const unsigned char *groups = sqlite3_column_text(st, 9);
	const uint8_t *eps;
	size_t eps_len;
	static const int key_cols[] = { 1, 2, 3, 4, 5 };
	static const size_t key_sizes[] = { 4, 16, REC_KEY_SIZE, REC_KEY_SIZE, REC_ID_SIZE };
	uint8_t *key_dst[5];

	memset(v, 0, sizeof(*v));
	key_dst[0] = v->h.ipv4;
	key_dst[1] = v->h.ipv6;
	key_dst[2] = v->h.wg_key;
	key_dst[3] = v->h.host_key;
	key_dst[4] = v->h.cert_id;
	if (name == NULL || groups == NULL || strlen((const char *)name) > REC_NAME_MAX)
		return -EIO;
	snprintf(v->name, sizeof(v->name), "%s", (const char *)name);
	v->h.name = v->name;
	for (size_t i = 0; i < 5; i++) {
		if ((size_t)sqlite3_column_bytes(st, key_cols[i]) != key_sizes[i])
			return -EIO;
		memcpy(key_dst[i], sqlite3_column_blob(st, key_cols[i]), key_sizes[i]);
	}
	v->h.serial = (uint64_t)sqlite3_column_int64(st, 6);
	v->h.not_before = (uint64_t)sqlite3_column_int64(st, 7);
	v->h.not_after = (uint64_t)sqlite3_column_int64(st, 8);
	if (groups_split(v, (const char *)groups) < 0)
		return -EIO;
	v->h.endpoints_seq = (uint64_t)sqlite3_column_int64(st, 10);
	v->h.endpoints_expires = (uint64_t)sqlite3_column_int64(st, 11);
	v->h.listen_port = (uint16_t)sqlite3_column_int(st, 12);
	eps = sqlite3_column_blob(st, 13);
	eps_len = (size_t)sqlite3_column_bytes(st, 13);
	if (eps_len % MAT_ENDPOINT_WIRE != 0 || eps_len / MAT_ENDPOINT_WIRE > REC_MAX_ENDPOINTS)
		return -EIO;
	v->h.n_endpoints = (uint8_t)(eps_len / MAT_ENDPOINT_WIRE);
	for (size_t i = 0; i < v->h.n_endpoints; i++)
		endpoint_unwire(eps + i * MAT_ENDPOINT_WIRE, &v->ep[i]);
	v->h.endpoints = v->ep;
	return 0;
}

static int rr_from_row(struct snapshot_rr *rr, sqlite3_stmt *st)
{
	const unsigned char *owner = sqlite3_column_text(st, 0);
	int rdlen = sqlite3_column_bytes(st, 3);

	if (owner == NULL || rdlen < 0 || rdlen > REC_RDATA_MAX)
		return -EIO;
	rr->owner = (const char *)owner;
	rr->rrtype = (uint16_t)sqlite3_column_int(st, 1);
	rr->ttl = (uint32_t)sqlite3_column_int64(st, 2);
	rr->rdlen = (uint16_t)rdlen;
	rr->rdata = sqlite3_column_blob(st, 3);
	if (rr->rdata == NULL)
		rr->rdata = (const uint8_t *)"";
	return 0;
}

/* The observation rows of v's host, in rank order (newest first). */
static int view_load_observations(struct registry *reg, struct host_view *v)
{
	sqlite3_stmt *st = store_stmt(reg, ST_OBS_OF);
	int rc, r;

	r = store_bind_blob(st, 1, v->h.host_key, REC_KEY_SIZE);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct snapshot_observation *o = &v->obs[v->h.n_observations];

		if (v->h.n_observations == SNAPSHOT_MAX_OBSERVATIONS ||
		    sqlite3_column_bytes(st, 0) != REC_KEY_SIZE ||
		    sqlite3_column_bytes(st, 4) != MAT_ENDPOINT_WIRE) {
			r = -EIO;
			goto out;
		}
		memcpy(o->observer, sqlite3_column_blob(st, 0), REC_KEY_SIZE);
		o->seq = (uint64_t)sqlite3_column_int64(st, 1);
		o->issued_at = (uint64_t)sqlite3_column_int64(st, 2);
		o->expires_at = (uint64_t)sqlite3_column_int64(st, 3);
		endpoint_unwire(sqlite3_column_blob(st, 4), &o->seen);
		v->h.n_observations++;
	}
	if (rc != SQLITE_DONE)
		r = store_errno(rc);
out:
	sqlite3_reset(st);
	v->h.observations = v->obs;
	return r;
}

typedef int (*host_row_fn)(void *arg, const struct snapshot_host *h);
typedef int (*rr_row_fn)(void *arg, const struct snapshot_rr *rr);

struct view_walk {
	struct registry *reg;
	host_row_fn host_fn;
	rr_row_fn rr_fn;
	void *arg;
};

static int host_row(void *ctx, sqlite3_stmt *st)
{
	const struct view_walk *w = ctx;
	struct host_view v;
	int r = view_from_row(&v, st);

	if (r == 0)
		r = view_load_observations(w->reg, &v);
	return r == 0 ? w->host_fn(w->arg, &v.h) : r;
}

static int rr_row(void *ctx, sqlite3_stmt *st)
{
	const struct view_walk *w = ctx;
	struct snapshot_rr rr;
	int r = rr_from_row(&rr, st);

	return r == 0 ? w->rr_fn(w->arg, &rr) : r;
}

/* Calls host_fn for every host row (name order), then rr_fn for every rr row; both return
 * 0 or -errno. */
static int view_foreach(struct registry *reg, host_row_fn host_fn, rr_row_fn rr_fn, void *arg)
{
	struct view_walk w = { reg, host_fn, rr_fn, arg };
	sqlite3_stmt *st = store_stmt(reg, ST_HOST_ALL);
	int r = step_rows(st, host_row, &w);

	sqlite3_reset(st);
	if (r < 0)
		return r;
	st = store_stmt(reg, ST_RR_ALL);
	r = step_rows(st, rr_row, &w);
	sqlite3_reset(st);
	return r;
}

static int hash_host_cb(void *arg, const struct snapshot_host *h)
{
	hash_host(arg, h);
	return 0;
}

static int hash_rr_cb(void *arg, const struct snapshot_rr *rr)
{
	hash_rr(arg, rr);
	return 0;
}

static int tables_hash(struct registry *reg, uint8_t out[32])
{
	crypto_generichash_state st;
	int r;

	hash_begin(&st);
	r = view_foreach(reg, hash_host_cb, hash_rr_cb, &st);
	if (r < 0)
		return r;
	crypto_generichash_final(&st, out, 32);
	return 0;
}

/* ---- materialization ------------------------------------------------------------------ */

static void view_from_mat(struct host_view *v, const struct mat_cert *c,
			  const struct mat_endpoints *e)
{
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", c->name);
	v->h.name = v->name;
	memcpy(v->h.ipv4, c->ipv4, 4);
	memcpy(v->h.ipv6, c->ipv6, 16);
	memcpy(v->h.host_key, c->host_key, REC_KEY_SIZE);
	memcpy(v->h.wg_key, c->wg_key, REC_KEY_SIZE);
	memcpy(v->h.cert_id, c->id, REC_ID_SIZE);
	v->h.serial = c->serial;
	v->h.not_before = c->not_before;
	v->h.not_after = c->not_after;
	/* The groups text came from groups_join of a decoded CERT: it always splits. */
	(void)groups_split(v, c->groups);
	if (e != NULL) {
		v->h.endpoints_seq = e->seq;
		v->h.endpoints_expires = e->expires_at;
		v->h.listen_port = e->listen_port;
		v->h.n_endpoints = e->n;
		for (size_t i = 0; i < e->n; i++)
			endpoint_unwire(e->wire + i * MAT_ENDPOINT_WIRE, &v->ep[i]);
	}
	v->h.endpoints = v->ep;
	v->h.observations = v->obs;
}

/* Host h of out's observations into v (view_from_mat ran first). */
static void view_obs_from_mat(struct host_view *v, const struct mat_input *in,
			      const struct mat_output *out, size_t h)
{
	for (size_t i = out->obs_first[h]; i < out->obs_first[h + 1]; i++) {
		const struct mat_observe *m = &in->observes[out->obs[i]];
		struct snapshot_observation *o = &v->obs[v->h.n_observations++];

		memcpy(o->observer, m->observer, REC_KEY_SIZE);
		o->seq = m->seq;
		o->issued_at = m->issued_at;
		o->expires_at = m->expires_at;
		endpoint_unwire(m->seen, &o->seen);
	}
}

static void rr_from_mat(struct snapshot_rr *rr, const struct mat_record *m)
{
	rr->owner = m->owner;
	rr->rrtype = m->rrtype;
	rr->ttl = m->ttl;
	rr->rdlen = m->rdlen;
	rr->rdata = m->rdata;
}

/* Grows *v (of *cap elements of size sz) so that one more fits. */
static int grow(void **v, size_t *cap, size_t n, size_t sz)
{
	void *p;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap != 0 ? 2 * *cap : 64;
	p = realloc(*v, ncap * sz);
	if (p == NULL)
		return -ENOMEM;
	memset((uint8_t *)p + *cap * sz, 0, (ncap - *cap) * sz);
	*v = p;
	*cap = ncap;
	return 0;
}

static int load_one(struct registry *reg, struct mat_input *in, size_t caps[4], const uint8_t *id,
		    const uint8_t *raw, size_t len)
{
	struct rec r;
	char groups[REC_MAX_GROUPS * (REC_NAME_MAX + 1) + 1];

	if (rec_decode(raw, len, &r) < 0)
		return -EIO; /* only valid records are ever stored */
	if (r.type == REC_CERT) {
		struct mat_cert *c;

		if (grow((void **)&in->certs, &caps[0], in->n_certs, sizeof(*c)) < 0)
			return -ENOMEM;
		c = &in->certs[in->n_certs];
		memcpy(c->id, id, REC_ID_SIZE);
		memcpy(c->signer, r.signer, REC_KEY_SIZE);
		c->by_admin = is_admin(reg, r.signer);
		memcpy(c->name, r.u.cert.name, sizeof(c->name));
		memcpy(c->host_key, r.u.cert.host_key, REC_KEY_SIZE);
		memcpy(c->wg_key, r.u.cert.wg_key, REC_KEY_SIZE);
		memcpy(c->ipv4, r.u.cert.ipv4, 4);
		memcpy(c->ipv6, r.u.cert.ipv6, 16);
		c->serial = r.seq;
		c->not_before = r.issued_at;
		c->not_after = r.expires_at;
		groups_join(&r.u.cert.groups, groups, sizeof(groups));
		c->groups = strdup(groups);
		if (c->groups == NULL)
			return -ENOMEM;
		in->n_certs++;
	} else if (r.type == REC_ENDPOINTS) {
		struct mat_endpoints *e;

		if (grow((void **)&in->endpoints, &caps[1], in->n_endpoints, sizeof(*e)) < 0)
			return -ENOMEM;
		e = &in->endpoints[in->n_endpoints];
		memcpy(e->id, id, REC_ID_SIZE);
		memcpy(e->host_key, r.signer, REC_KEY_SIZE);
		e->seq = r.seq;
		e->expires_at = r.expires_at;
		e->listen_port = r.u.endpoints.listen_port;
		e->n = r.u.endpoints.n;
		for (size_t i = 0; i < e->n; i++)
			endpoint_wire(&r.u.endpoints.ep[i], e->wire + i * MAT_ENDPOINT_WIRE);
		in->n_endpoints++;
	} else if (r.type == REC_RECORD) {
		struct mat_record *m;

		if (grow((void **)&in->records, &caps[2], in->n_records, sizeof(*m)) < 0)
			return -ENOMEM;
		m = &in->records[in->n_records];
		memcpy(m->id, id, REC_ID_SIZE);
		mat_record_key(&r.u.record, m->key);
		memcpy(m->signer, r.signer, REC_KEY_SIZE);
		m->by_admin = is_admin(reg, r.signer);
		m->seq = r.seq;
		m->expires_at = r.expires_at;
		m->op = r.u.record.op;
		m->rrtype = r.u.record.rrtype;
		m->ttl = r.u.record.ttl;
		m->rdlen = r.u.record.rdlen;
		m->owner = strdup(r.u.record.owner);
		m->rdata = malloc(m->rdlen + 1u);
		in->n_records++; /* counted now so that mat_input_free frees both */
		if (m->owner == NULL || m->rdata == NULL)
			return -ENOMEM;
		memcpy(m->rdata, r.u.record.rdata, m->rdlen);
	} else if (r.type == REC_OBSERVE) {
		struct mat_observe *o;

		if (grow((void **)&in->observes, &caps[3], in->n_observes, sizeof(*o)) < 0)
			return -ENOMEM;
		o = &in->observes[in->n_observes];
		memcpy(o->id, id, REC_ID_SIZE);
		memcpy(o->observer, r.signer, REC_KEY_SIZE);
		memcpy(o->subject, r.u.observe.subject, REC_KEY_SIZE);
		o->seq = r.seq;
		o->issued_at = r.issued_at;
		o->expires_at = r.expires_at;
		endpoint_wire(&r.u.observe.seen, o->seen);
		in->n_observes++;
	}
	return 0;
}

static int load_input(struct registry *reg, uint64_t now, struct mat_input *in)
{
	static const uint8_t types[] = { REC_CERT, REC_ENDPOINTS, REC_RECORD, REC_OBSERVE };
	size_t caps[4] = { 0, 0, 0, 0 };
	int r = 0;

	memset(in, 0, sizeof(*in));
	in->now = now;
	for (size_t t = 0; t < sizeof(types) && r == 0; t++) {
		sqlite3_stmt *st = store_stmt(reg, ST_REC_OF_TYPE);
		int rc;

		sqlite3_bind_int(st, 1, types[t]);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			int id_len = sqlite3_column_bytes(st, 0);
			int raw_len = sqlite3_column_bytes(st, 1);

			if (id_len != REC_ID_SIZE || raw_len <= 0) {
				r = -EIO;
				break;
			}
			r = load_one(reg, in, caps, sqlite3_column_blob(st, 0),
				     sqlite3_column_blob(st, 1), (size_t)raw_len);
			if (r < 0)
				break;
		}
		if (r == 0 && rc != SQLITE_DONE)
			r = store_errno(rc);
		sqlite3_reset(st);
	}
	if (r < 0)
		mat_input_free(in);
	return r;
}

/* A view row that could not be written: a full disk or no memory is passed on as it is,
 * any other failure is -EIO (a UNIQUE violation here is a bug in materialize.c, never a
 * reason to drop a row). */
static int view_write_result(int r)
{
	return r == -ENOSPC || r == -ENOMEM ? r : (r < 0 ? -EIO : 0);
}

static int insert_host(struct registry *reg, const struct snapshot_host *h)
{
	sqlite3_stmt *st = store_stmt(reg, ST_HOST_INSERT);
	char groups[REC_MAX_GROUPS * (REC_NAME_MAX + 1) + 1];
	uint8_t eps[REC_MAX_ENDPOINTS * MAT_ENDPOINT_WIRE];
	size_t used = 0;
	int r = 0;

	groups[0] = '\0';
	for (size_t i = 0; i < h->n_groups; i++) {
		int n = snprintf(groups + used, sizeof(groups) - used, "%s%s", i > 0 ? "," : "",
				 h->groups[i]);

		if (n < 0 || (size_t)n >= sizeof(groups) - used)
			return -EIO;
		used += (size_t)n;
	}
	for (size_t i = 0; i < h->n_endpoints; i++)
		endpoint_wire(&h->endpoints[i], eps + i * MAT_ENDPOINT_WIRE);
	r = store_bind_text(st, 1, h->name);
	if (r == 0)
		r = store_bind_blob(st, 2, h->ipv4, 4);
	if (r == 0)
		r = store_bind_blob(st, 3, h->ipv6, 16);
	if (r == 0)
		r = store_bind_blob(st, 4, h->wg_key, REC_KEY_SIZE);
	if (r == 0)
		r = store_bind_blob(st, 5, h->host_key, REC_KEY_SIZE);
	if (r == 0)
		r = store_bind_blob(st, 6, h->cert_id, REC_ID_SIZE);
	if (r == 0)
		r = store_bind_u64(st, 7, h->serial);
	if (r == 0)
		r = store_bind_u64(st, 8, h->not_before);
	if (r == 0)
		r = store_bind_u64(st, 9, h->not_after);
	if (r == 0)
		r = store_bind_text(st, 10, groups);
	if (r == 0)
		r = store_bind_u64(st, 11, h->endpoints_seq);
	if (r == 0)
		r = store_bind_u64(st, 12, h->endpoints_expires);
	if (r == 0)
		r = store_bind_u64(st, 13, h->listen_port);
	if (r == 0)
		r = store_bind_blob(st, 14, eps, (size_t)h->n_endpoints * MAT_ENDPOINT_WIRE);
	if (r == 0)
		r = store_run(st);
	return view_write_result(r);
}

static int insert_observations(struct registry *reg, const struct snapshot_host *h)
{
	uint8_t seen[MAT_ENDPOINT_WIRE];
	int r = 0;

	for (size_t i = 0; i < h->n_observations && r == 0; i++) {
		const struct snapshot_observation *o = &h->observations[i];
		sqlite3_stmt *st = store_stmt(reg, ST_OBS_INSERT);

		endpoint_wire(&o->seen, seen);
		r = store_bind_blob(st, 1, h->host_key, REC_KEY_SIZE);
		if (r == 0)
			r = store_bind_blob(st, 2, o->observer, REC_KEY_SIZE);
		if (r == 0)
			r = store_bind_u64(st, 3, o->seq);
		if (r == 0)
			r = store_bind_u64(st, 4, o->issued_at);
		if (r == 0)
			r = store_bind_u64(st, 5, o->expires_at);
		if (r == 0)
			r = store_bind_blob(st, 6, seen, sizeof(seen));
		if (r == 0)
			r = store_bind_u64(st, 7, i);
		if (r == 0)
			r = store_run(st);
	}
	return view_write_result(r);
}

static int insert_rr(struct registry *reg, const struct snapshot_rr *rr,
		     const uint8_t id[REC_ID_SIZE])
{
	sqlite3_stmt *st = store_stmt(reg, ST_RR_INSERT);
	int r;

	r = store_bind_text(st, 1, rr->owner);
	if (r == 0)
		r = store_bind_u64(st, 2, rr->rrtype);
	if (r == 0)
		r = store_bind_u64(st, 3, rr->ttl);
	if (r == 0)
		r = store_bind_blob(st, 4, rr->rdata, rr->rdlen);
	if (r == 0)
		r = store_bind_blob(st, 5, id, REC_ID_SIZE);
	if (r == 0)
		r = store_run(st);
	return view_write_result(r);
}

static int write_alerts(struct registry *reg, const struct mat_output *out, uint64_t now)
{
	for (size_t i = 0; i < out->n_alerts; i++) {
		sqlite3_stmt *st = store_stmt(reg, ST_ALERT_INSERT);
		int r = store_bind_text(st, 1, out->alerts[i]);

		if (r == 0)
			r = store_bind_u64(st, 2, now);
		if (r == 0)
			r = store_run(st);
		if (r < 0)
			return r;
	}
	return 0;
}

static void output_hash(const struct mat_input *in, const struct mat_output *out, uint8_t hash[32])
{
	crypto_generichash_state st;
	struct host_view v;
	struct snapshot_rr rr;

	hash_begin(&st);
	for (size_t i = 0; i < out->n_hosts; i++) {
		view_from_mat(&v, &in->certs[out->hosts[i]],
			      out->host_eps[i] >= 0 ? &in->endpoints[out->host_eps[i]] : NULL);
		view_obs_from_mat(&v, in, out, i);
		hash_host(&st, &v.h);
	}
	for (size_t i = 0; i < out->n_rrs; i++) {
		rr_from_mat(&rr, &in->records[out->rrs[i]]);
		hash_rr(&st, &rr);
	}
	crypto_generichash_final(&st, hash, 32);
}

/*
 * Recomputes the view at now and, if it changed, rewrites the host and rr tables and
 * bumps the generation. Runs inside the caller's transaction.
 */
static int materialize(struct registry *reg, uint64_t now)
{
	struct mat_input in;
	struct mat_output out;
	struct host_view v;
	struct snapshot_rr rr;
	uint8_t hash[32];
	sqlite3_stmt *st;
	int r;

	if (!reg->has_root)
		return -ENOENT;
	r = load_input(reg, now, &in);
	if (r < 0)
		return r;
	r = mat_compute(&in, &out);
	if (r < 0) {
		mat_input_free(&in);
		return r;
	}
	r = write_alerts(reg, &out, now);
	if (r < 0)
		goto out;
	if (!reg->view_hash_known) {
		r = tables_hash(reg, reg->view_hash);
		if (r < 0)
			goto out;
		reg->view_hash_known = true;
	}
	output_hash(&in, &out, hash);
	if (memcmp(hash, reg->view_hash, sizeof(hash)) != 0) {
		r = store_run(store_stmt(reg, ST_HOST_CLEAR));
		if (r == 0)
			r = store_run(store_stmt(reg, ST_RR_CLEAR));
		if (r == 0)
			r = store_run(store_stmt(reg, ST_OBS_CLEAR));
		for (size_t i = 0; i < out.n_hosts && r == 0; i++) {
			view_from_mat(&v, &in.certs[out.hosts[i]],
				      out.host_eps[i] >= 0 ? &in.endpoints[out.host_eps[i]] : NULL);
			view_obs_from_mat(&v, &in, &out, i);
			r = insert_host(reg, &v.h);
			if (r == 0)
				r = insert_observations(reg, &v.h);
		}
		for (size_t i = 0; i < out.n_rrs && r == 0; i++) {
			rr_from_mat(&rr, &in.records[out.rrs[i]]);
			r = insert_rr(reg, &rr, in.records[out.rrs[i]].id);
		}
		if (r == 0) {
			st = store_stmt(reg, ST_META_SET_GEN);
			r = store_bind_u64(st, 1, reg->generation + 1);
			if (r == 0)
				r = store_run(st);
		}
		if (r < 0)
			goto out;
		reg->generation++;
		memcpy(reg->view_hash, hash, sizeof(hash));
	}
	reg->dirty = false;
	reg->view_valid = true;
	reg->view_now = now;
	reg->view_until = out.valid_until;
out:
	mat_output_free(&out);
	mat_input_free(&in);
	return r;
}

/* ---- transactions ------------------------------------------------------------------------ */

/* After a rollback the in-memory view state may describe writes that are gone. */
static void forget_view(struct registry *reg)
{
	sqlite3_stmt *st = store_stmt(reg, ST_META_GET);

	if (sqlite3_step(st) == SQLITE_ROW)
		reg->generation = (uint64_t)sqlite3_column_int64(st, 2);
	sqlite3_reset(st);
	reg->dirty = false;
	reg->view_valid = false;
	reg->view_hash_known = false;
}

static int txn_begin(struct registry *reg)
{
	return store_run(store_stmt(reg, ST_BEGIN));
}

static void txn_rollback(struct registry *reg)
{
	/* sqlite may already have rolled back on its own (SQLITE_FULL, IOERR). */
	if (!sqlite3_get_autocommit(reg->db))
		store_run(store_stmt(reg, ST_ROLLBACK));
	forget_view(reg);
}

static int txn_commit(struct registry *reg)
{
	int r = store_run(store_stmt(reg, ST_COMMIT));

	if (r < 0)
		txn_rollback(reg);
	return r;
}

/* Ends the transaction txn_begin started: commits it when r is 0, else rolls it back.
 * Returns r, or the commit's error. */
static int txn_end(struct registry *reg, int r)
{
	if (r == 0)
		return txn_commit(reg);
	txn_rollback(reg);
	return r;
}

/* ---- validation ------------------------------------------------------------------------- */

/* Step 5, rules of the mesh: checks on the record alone against the ROOT. */
static int check_mesh_rules(const struct registry *reg, const struct rec *r)
{
	const struct rec_root *root = &reg->root.u.root;
	uint8_t ipv6[16];

	switch (r->type) {
	case REC_CERT:
		if (!ipv4_usable(root, r->u.cert.ipv4))
			return -EINVAL;
		rec_ipv6_for_host(root->ipv6, r->u.cert.host_key, ipv6);
		if (memcmp(ipv6, r->u.cert.ipv6, sizeof(ipv6)) != 0)
			return -EINVAL;
		if (r->expires_at - r->issued_at > root->max_cert_lifetime)
			return -EINVAL;
		break;
	case REC_ADMIT:
		if (!ipv4_usable(root, r->u.admit.ipv4) ||
		    r->u.admit.cert_lifetime > root->max_cert_lifetime)
			return -EINVAL;
		break;
	case REC_REVOKE:
		if (!all_zero(r->u.revoke.ipv4, 4) && !ipv4_usable(root, r->u.revoke.ipv4))
			return -EINVAL;
		break;
	case REC_RENEW:
		if (r->u.renew.lifetime > root->max_cert_lifetime)
			return -EINVAL;
		break;
	case REC_OBSERVE:
		/* A host cannot vouch for its own public address. */
		if (memcmp(r->u.observe.subject, r->signer, REC_KEY_SIZE) == 0)
			return -EINVAL;
		break;
	default:
		break;
	}
	return 0;
}

/* May this ADMIT (raw) authorize the CERT r, signed by its admission key? */
static bool admit_covers(const uint8_t *raw, size_t len, const struct rec *r)
{
	struct rec a;

	if (rec_decode(raw, len, &a) < 0 || a.type != REC_ADMIT)
		return false;
	return strcmp(a.u.admit.name, r->u.cert.name) == 0 &&
	       memcmp(a.u.admit.ipv4, r->u.cert.ipv4, 4) == 0 &&
	       groups_equal(&a.u.admit.groups, &r->u.cert.groups) && a.expires_at >= r->issued_at &&
	       a.u.admit.cert_lifetime >= r->expires_at - r->issued_at && r->seq == 1;
}

/* May a host whose stored CERT (raw) is this sign the RECORD r? */
static bool cert_covers_owner(const uint8_t *raw, size_t len, const struct rec *r)
{
	struct rec c;
	size_t lo, ln;

	if (rec_decode(raw, len, &c) < 0 || c.type != REC_CERT)
		return false;
	lo = strlen(r->u.record.owner);
	ln = strlen(c.u.cert.name);
	if (lo == ln)
		return strcmp(r->u.record.owner, c.u.cert.name) == 0;
	return lo > ln + 1 && r->u.record.owner[lo - ln - 1] == '.' &&
	       strcmp(r->u.record.owner + lo - ln, c.u.cert.name) == 0;
}

typedef bool (*covers_fn)(const uint8_t *raw, size_t len, const struct rec *r);

/*
 * Looks at the stored records of (type, key): 1 if one of them covers r, 0 if some
 * exist but none covers it, -ENOENT if there are none.
 */
static int any_covers(struct registry *reg, uint8_t type, const uint8_t *key, size_t key_len,
		      covers_fn covers, const struct rec *r)
{
	sqlite3_stmt *st = store_stmt(reg, ST_REC_BY_KEY);
	int rc, found = -ENOENT;

	sqlite3_bind_int(st, 1, type);
	rc = store_bind_blob(st, 2, key, key_len);
	if (rc < 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const uint8_t *raw = sqlite3_column_blob(st, 2);
		int len = sqlite3_column_bytes(st, 2);

		found = 0;
		if (covers == NULL || (raw != NULL && len > 0 && covers(raw, (size_t)len, r))) {
			found = 1;
			break;
		}
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		found = store_errno(rc);
	sqlite3_reset(st);
	return found;
}

/*
 * Step 5 for a RENEW that asks for a new WireGuard key (cert: the one it renews): the key
 * must differ from the current one (all zero says "keep", so that is the one spelling of
 * it) and no stored CERT of another host may carry it, or the renewed cert would take
 * that host's key. 0, -EINVAL, or a storage error. This only looks at what is stored
 * now; the admin looks again before signing the new CERT, and materialize.c settles a
 * CERT that still collides (see doc/records.md "Key rotation").
 */
static int check_renew_key(struct registry *reg, const struct rec *r, const struct rec *cert)
{
	sqlite3_stmt *st;
	int rc;

	if (all_zero(r->u.renew.new_wg_key, REC_KEY_SIZE))
		return 0;
	if (memcmp(r->u.renew.new_wg_key, cert->u.cert.wg_key, REC_KEY_SIZE) == 0)
		return -EINVAL;
	st = store_stmt(reg, ST_CERT_BY_WG_KEY);
	rc = store_bind_blob(st, 1, r->u.renew.new_wg_key, REC_KEY_SIZE);
	if (rc < 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const uint8_t *host = sqlite3_column_blob(st, 0);

		if (host == NULL || sqlite3_column_bytes(st, 0) != REC_KEY_SIZE ||
		    memcmp(host, cert->u.cert.host_key, REC_KEY_SIZE) != 0) {
			sqlite3_reset(st);
			return -EINVAL;
		}
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_errno(rc);
}

/* Step 5, the signer: 0 and *auth, or -EPERM, or a storage error. */
static int authorize(struct registry *reg, const struct rec *r, enum auth *auth,
		     uint8_t wait_key[32])
{
	const uint8_t *st_raw;
	sqlite3_stmt *st;
	struct rec c;
	int found, rc;

	*auth = AUTH_OK;
	switch (r->type) {
	case REC_ADMIT:
		return is_admin(reg, r->signer) ? 0 : -EPERM;
	case REC_REVOKE:
		/* A key may always give up its own rights. */
		if (memcmp(r->signer, r->u.revoke.target, REC_KEY_SIZE) == 0)
			return 0;
		return is_admin(reg, r->signer) ? 0 : -EPERM;
	case REC_CERT:
		if (is_admin(reg, r->signer))
			return 0;
		found = any_covers(reg, REC_ADMIT, r->signer, REC_KEY_SIZE, admit_covers, r);
		break;
	case REC_RECORD:
		if (is_admin(reg, r->signer))
			return 0;
		found = any_covers(reg, REC_CERT, r->signer, REC_KEY_SIZE, cert_covers_owner, r);
		break;
	case REC_ENDPOINTS:
		/* Always about the signer's own host: nobody can sign for another. */
		found = any_covers(reg, REC_CERT, r->signer, REC_KEY_SIZE, NULL, r);
		break;
	case REC_OBSERVE:
		/* The observer is a host, and so is the subject: wait for whichever CERT is
		 * missing (the observer's first; retry_pending comes back for the other). */
		found = any_covers(reg, REC_CERT, r->signer, REC_KEY_SIZE, NULL, r);
		if (found == 1) {
			found = any_covers(reg, REC_CERT, r->u.observe.subject, REC_KEY_SIZE, NULL,
					   r);
			if (found == -ENOENT) {
				*auth = AUTH_PENDING;
				memcpy(wait_key, r->u.observe.subject, REC_KEY_SIZE);
				return 0;
			}
		}
		break;
	case REC_RENEW:
		st = store_stmt(reg, ST_REC_RAW);
		rc = store_bind_blob(st, 1, r->u.renew.cert_id, REC_ID_SIZE);
		if (rc < 0)
			return rc;
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE ||
		    (rc == SQLITE_ROW && sqlite3_column_int(st, 0) != REC_CERT)) {
			sqlite3_reset(st);
			*auth = AUTH_PENDING;
			memcpy(wait_key, r->u.renew.cert_id, REC_ID_SIZE);
			return 0;
		}
		if (rc != SQLITE_ROW) {
			sqlite3_reset(st);
			return store_errno(rc);
		}
		st_raw = sqlite3_column_blob(st, 1);
		rc = rec_decode(st_raw, (size_t)sqlite3_column_bytes(st, 1), &c);
		sqlite3_reset(st);
		if (rc < 0)
			return -EIO;
		if (memcmp(c.u.cert.host_key, r->signer, REC_KEY_SIZE) != 0)
			return -EPERM;
		return check_renew_key(reg, r, &c);
	default:
		return -EPERM;
	}
	if (found == -ENOENT) {
		*auth = AUTH_PENDING;
		memcpy(wait_key, r->signer, REC_KEY_SIZE);
		return 0;
	}
	if (found < 0)
		return found;
	return found == 1 ? 0 : -EPERM;
}

/* Step 6: -EKEYREVOKED if a key this record stands on was revoked. */
static int check_revoked(struct registry *reg, const struct rec *r)
{
	const uint8_t *keys[3] = { r->signer, NULL, NULL };
	int rc;

	/* A REVOKE only takes rights away, so it stands even when its signer was revoked
	 * since: otherwise revoking an admin would undo its revocations, or not, depending
	 * on the order they arrive in. */
	if (r->type == REC_REVOKE)
		return 0;
	if (r->type == REC_CERT) {
		keys[1] = r->u.cert.host_key;
		keys[2] = r->u.cert.wg_key;
	} else if (r->type == REC_ADMIT) {
		keys[1] = r->u.admit.admission_key;
	} else if (r->type == REC_OBSERVE) {
		keys[1] = r->u.observe.subject;
	} else if (r->type == REC_RENEW && !all_zero(r->u.renew.new_wg_key, REC_KEY_SIZE)) {
		keys[1] = r->u.renew.new_wg_key;
	}
	for (size_t i = 0; i < 3; i++) {
		if (keys[i] == NULL)
			continue;
		rc = revoked(reg, keys[i]);
		if (rc != 0)
			return rc > 0 ? -EKEYREVOKED : rc;
	}
	return 0;
}

/* An OBSERVE competes per (observer, subject): BLAKE2b-256 of both keys. */
static void observe_key(const uint8_t observer[REC_KEY_SIZE], const uint8_t subject[REC_KEY_SIZE],
			uint8_t key[32])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, (const uint8_t *)OBSERVE_KEY_CONTEXT,
				  sizeof(OBSERVE_KEY_CONTEXT) - 1);
	crypto_generichash_update(&st, observer, REC_KEY_SIZE);
	crypto_generichash_update(&st, subject, REC_KEY_SIZE);
	crypto_generichash_final(&st, key, 32);
}

/* The conflict key of a record (see the record table in store.c). */
static void conflict_key(const struct rec *r, const uint8_t id[REC_ID_SIZE], uint8_t key[32])
{
	switch (r->type) {
	case REC_CERT:
		memcpy(key, r->u.cert.host_key, REC_KEY_SIZE);
		break;
	case REC_ADMIT:
		memcpy(key, r->u.admit.admission_key, REC_KEY_SIZE);
		break;
	case REC_ENDPOINTS:
		memcpy(key, r->signer, REC_KEY_SIZE);
		break;
	case REC_REVOKE:
		memcpy(key, r->u.revoke.target, REC_KEY_SIZE);
		break;
	case REC_RECORD:
		mat_record_key(&r->u.record, key);
		break;
	case REC_RENEW:
		memcpy(key, r->u.renew.cert_id, REC_ID_SIZE);
		break;
	case REC_OBSERVE:
		observe_key(r->signer, r->u.observe.subject, key);
		break;
	case REC_ROOT:
	default:
		memcpy(key, id, REC_ID_SIZE);
		break;
	}
}

/*
 * Step 7 for ENDPOINTS, OBSERVE and RECORD: -ESTALE if a stored record of the same key
 * beats r. With delete set (after the signature checked out), deletes the ones r beats.
 */
static int supersede(struct registry *reg, const struct rec *r, const uint8_t id[REC_ID_SIZE],
		     const uint8_t key[32], bool delete)
{
	uint8_t(*ids)[REC_ID_SIZE] = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st;
	int rc, ret = 0;

	if (r->type != REC_ENDPOINTS && r->type != REC_OBSERVE && r->type != REC_RECORD)
		return 0;
	st = store_stmt(reg, ST_REC_BY_KEY);
	sqlite3_bind_int(st, 1, r->type);
	ret = store_bind_blob(st, 2, key, REC_ID_SIZE);
	if (ret < 0)
		return ret;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const uint8_t *sid = sqlite3_column_blob(st, 0);
		uint64_t seq = (uint64_t)sqlite3_column_int64(st, 1);
		bool beats_r, r_beats;

		if (sid == NULL || sqlite3_column_bytes(st, 0) != REC_ID_SIZE) {
			ret = -EIO;
			goto out;
		}
		/* ENDPOINTS, OBSERVE: same seq is equivocation, both kept. RECORD: lower id
		 * wins. */
		if (r->type == REC_ENDPOINTS || r->type == REC_OBSERVE) {
			beats_r = seq > r->seq;
			r_beats = seq < r->seq;
		} else {
			beats_r = seq > r->seq ||
				  (seq == r->seq && memcmp(sid, id, REC_ID_SIZE) < 0);
			r_beats = !beats_r;
		}
		if (beats_r) {
			ret = -ESTALE;
			goto out;
		}
		if (delete &&r_beats) {
			if (grow((void **)&ids, &cap, n, sizeof(*ids)) < 0) {
				ret = -ENOMEM;
				goto out;
			}
			memcpy(ids[n++], sid, REC_ID_SIZE);
		}
	}
	if (rc != SQLITE_DONE) {
		ret = store_errno(rc);
		goto out;
	}
	sqlite3_reset(st);
	for (size_t i = 0; i < n && ret == 0; i++) {
		st = store_stmt(reg, ST_REC_DELETE);
		ret = store_bind_blob(st, 1, ids[i], REC_ID_SIZE);
		if (ret == 0)
			ret = store_run(st);
	}
out:
	sqlite3_reset(st);
	free(ids);
	return ret;
}

/* Accepting a REVOKE: every right of the target goes, and the records that carry it. */
static int purge(struct registry *reg, const uint8_t target[REC_KEY_SIZE])
{
	sqlite3_stmt *st;
	int r;

	st = store_stmt(reg, ST_PURGE_SIGNER);
	r = store_bind_blob(st, 1, target, REC_KEY_SIZE);
	if (r == 0)
		r = store_run(st);
	for (int type = REC_CERT; type <= REC_ADMIT && r == 0; type++) {
		st = store_stmt(reg, ST_PURGE_KEY);
		sqlite3_bind_int(st, 1, type);
		r = store_bind_blob(st, 2, target, REC_KEY_SIZE);
		if (r == 0)
			r = store_run(st);
	}
	if (r == 0) {
		st = store_stmt(reg, ST_PURGE_KEY2);
		r = store_bind_blob(st, 1, target, REC_KEY_SIZE);
		if (r == 0)
			r = store_run(st);
	}
	if (r == 0)
		reg->dirty = true;
	return r;
}

static int insert_record(struct registry *reg, const struct rec *r, const uint8_t id[REC_ID_SIZE],
			 const uint8_t key[32], const uint8_t *buf, size_t len)
{
	sqlite3_stmt *st = store_stmt(reg, ST_REC_INSERT);
	const uint8_t *ipv4 = NULL;
	const char *name = NULL;
	int rc;

	if (r->type == REC_CERT) {
		ipv4 = r->u.cert.ipv4;
		name = r->u.cert.name;
	} else if (r->type == REC_ADMIT) {
		ipv4 = r->u.admit.ipv4;
		name = r->u.admit.name;
	} else if (r->type == REC_REVOKE && !all_zero(r->u.revoke.ipv4, 4)) {
		ipv4 = r->u.revoke.ipv4;
	}
	rc = store_bind_blob(st, 1, id, REC_ID_SIZE);
	if (rc == 0)
		rc = store_errno(sqlite3_bind_int(st, 2, r->type));
	if (rc == 0)
		rc = store_bind_blob(st, 3, r->signer, REC_KEY_SIZE);
	if (rc == 0)
		rc = store_bind_u64(st, 4, r->seq);
	if (rc == 0)
		rc = store_bind_u64(st, 5, r->issued_at);
	if (rc == 0)
		rc = store_bind_u64(st, 6, r->expires_at);
	if (rc == 0)
		rc = store_bind_blob(st, 7, key, REC_ID_SIZE);
	if (rc == 0 && r->type == REC_CERT)
		rc = store_bind_blob(st, 8, r->u.cert.wg_key, REC_KEY_SIZE);
	if (rc == 0 && r->type == REC_OBSERVE)
		rc = store_bind_blob(st, 8, r->u.observe.subject, REC_KEY_SIZE);
	if (rc == 0 && r->type == REC_RENEW && !all_zero(r->u.renew.new_wg_key, REC_KEY_SIZE))
		rc = store_bind_blob(st, 8, r->u.renew.new_wg_key, REC_KEY_SIZE);
	if (rc == 0 && ipv4 != NULL)
		rc = store_bind_u64(st, 9, ipv4_u32(ipv4));
	if (rc == 0 && name != NULL)
		rc = store_bind_text(st, 10, name);
	if (rc == 0)
		rc = store_bind_blob(st, 11, buf, len);
	if (rc == 0)
		rc = store_run(st);
	return rc;
}

static int park(struct registry *reg, const uint8_t id[REC_ID_SIZE], const uint8_t *buf, size_t len,
		uint64_t now, const uint8_t wait_key[32])
{
	sqlite3_stmt *st = store_stmt(reg, ST_PENDING_INSERT);
	int r;

	r = store_bind_blob(st, 1, id, REC_ID_SIZE);
	if (r == 0)
		r = store_bind_blob(st, 2, buf, len);
	if (r == 0)
		r = store_bind_u64(st, 3, now);
	if (r == 0)
		r = store_bind_blob(st, 4, wait_key, 32);
	if (r == 0)
		r = store_run(st);
	if (r == 0)
		r = store_run(store_stmt(reg, ST_PENDING_TRIM));
	return r;
}

/*
 * Retries the pending records that wait for key (an admission key, a host key or a
 * cert id) now that it arrived. Looking them up by key keeps this linear: a record is
 * only retried when the very thing it waits for was accepted.
 */
static int retry_pending(struct registry *reg, const uint8_t key[32], uint64_t now)
{
	struct waiting {
		uint8_t id[REC_ID_SIZE];
		size_t len;
		uint8_t raw[REC_MAX_SIZE];
	} *w = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st = store_stmt(reg, ST_PENDING_BY_WAIT);
	enum ingest_result res;
	int rc, r;

	r = store_bind_blob(st, 1, key, 32);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int id_len = sqlite3_column_bytes(st, 0), len = sqlite3_column_bytes(st, 1);

		if (id_len != REC_ID_SIZE || len <= 0 || len > REC_MAX_SIZE)
			continue;
		if (grow((void **)&w, &cap, n, sizeof(*w)) < 0) {
			r = -ENOMEM;
			goto out;
		}
		memcpy(w[n].id, sqlite3_column_blob(st, 0), REC_ID_SIZE);
		memcpy(w[n].raw, sqlite3_column_blob(st, 1), (size_t)len);
		w[n].len = (size_t)len;
		n++;
	}
	if (rc != SQLITE_DONE) {
		r = store_errno(rc);
		goto out;
	}
	sqlite3_reset(st);
	for (size_t i = 0; i < n; i++) {
		st = store_stmt(reg, ST_PENDING_DELETE);
		r = store_bind_blob(st, 1, w[i].id, REC_ID_SIZE);
		if (r == 0)
			r = store_run(st);
		if (r < 0)
			goto out;
		/* Its signature was checked before it was parked. A record that is now
		 * refused is simply dropped; only a storage failure stops the retry. */
		r = ingest_one(reg, w[i].raw, w[i].len, now, true, &res);
		if (r < 0 && !registry_is_storage_error(r))
			r = 0;
		if (r < 0)
			goto out;
	}
out:
	sqlite3_reset(st);
	free(w);
	return r;
}

/* Stores an accepted record and applies what accepting it means. */
static int accept_record(struct registry *reg, const struct rec *r, const uint8_t id[REC_ID_SIZE],
			 const uint8_t key[32], const uint8_t *buf, size_t len, uint64_t now)
{
	int rc = 0;

	if (r->type == REC_REVOKE)
		rc = purge(reg, r->u.revoke.target);
	if (rc == 0)
		rc = supersede(reg, r, id, key, true);
	/* No pending row to delete: ingest_one answers INGEST_PENDING for a parked id, and
	 * retry_pending deletes the row before it retries it. */
	if (rc == 0)
		rc = insert_record(reg, r, id, key, buf, len);
	if (rc < 0)
		return rc;
	reg->dirty = true;
	/* What this record may authorize: CERTs of an admission key; ENDPOINTS, RECORDs,
	 * RENEWs and OBSERVEs of a host, and OBSERVEs about it. */
	if (r->type == REC_ADMIT)
		rc = retry_pending(reg, r->u.admit.admission_key, now);
	if (r->type == REC_CERT) {
		rc = retry_pending(reg, r->u.cert.host_key, now);
		if (rc == 0)
			rc = retry_pending(reg, id, now);
	}
	return rc;
}

/* Steps 1 to 8 of doc/records.md on one record; stores it if it passes. */
static int ingest_one(struct registry *reg, const uint8_t *buf, size_t len, uint64_t now,
		      bool verified, enum ingest_result *res)
{
	struct rec r;
	uint8_t id[REC_ID_SIZE], key[32], wait_key[32];
	enum auth auth;
	int rc;

	/* 1. size, magic, version, type. */
	if (len > REC_MAX_SIZE)
		return -EMSGSIZE;
	if (len < REC_HEADER_SIZE + REC_SIG_SIZE) {
		rc = rec_decode(buf, len, &r);
		return rc < 0 ? rc : -EBADMSG;
	}
	if (memcmp(buf, REC_MAGIC, 3) != 0 || buf[3] != REC_VERSION ||
	    buf[OFF_TYPE] < REC_TYPE_MIN || buf[OFF_TYPE] > REC_TYPE_MAX)
		return -EPROTONOSUPPORT;

	/* 2. this mesh. A ROOT comes only through registry_create: here it can only be
	 * the one we hold, sent back by a peer or an export bundle. */
	if (!reg->has_root)
		return -ENOENT;
	if (buf[OFF_TYPE] == REC_ROOT) {
		rec_id(buf, len, id);
		if (sodium_memcmp(id, reg->mesh_id, REC_ID_SIZE) != 0)
			return -EXDEV;
		*res = INGEST_DUPLICATE;
		return 0;
	}
	if (memcmp(buf + OFF_MESH_ID, reg->mesh_id, REC_ID_SIZE) != 0)
		return -EXDEV;

	/* 3. canonical parse. */
	rc = rec_decode(buf, len, &r);
	if (rc < 0)
		return rc;
	rec_id(buf, len, id);
	rc = exists_blob(reg, ST_REC_EXISTS, id, REC_ID_SIZE);
	if (rc != 0) {
		*res = INGEST_DUPLICATE;
		return rc > 0 ? 0 : rc;
	}
	if (!verified) {
		rc = exists_blob(reg, ST_PENDING_EXISTS, id, REC_ID_SIZE);
		if (rc != 0) {
			*res = INGEST_PENDING;
			return rc > 0 ? 0 : rc;
		}
	}

	/* 4. time. */
	if (r.issued_at > now + REC_MAX_FUTURE)
		return -ERANGE;
	if (r.type != REC_REVOKE && r.type != REC_ADMIT && r.expires_at <= now)
		return -EKEYEXPIRED;

	/* 5. rules of the mesh, then the signer. */
	rc = check_mesh_rules(reg, &r);
	if (rc < 0)
		return rc;
	rc = authorize(reg, &r, &auth, wait_key);
	if (rc < 0)
		return rc;

	/* 6. revoked: checked for pending records too, so that they are not parked. */
	rc = check_revoked(reg, &r);
	if (rc < 0)
		return rc;

	/* 7. newer than what is stored. */
	conflict_key(&r, id, key);
	if (auth == AUTH_OK) {
		rc = supersede(reg, &r, id, key, false);
		if (rc < 0)
			return rc;
	}

	/* 8. signature, the most expensive check, last. */
	if (!verified && !rec_verify(buf, len))
		return -EKEYREJECTED;

	if (auth == AUTH_PENDING) {
		rc = park(reg, id, buf, len, now, wait_key);
		*res = INGEST_PENDING;
		return rc;
	}
	rc = accept_record(reg, &r, id, key, buf, len, now);
	*res = INGEST_ACCEPTED;
	return rc;
}

/* ---- the interface ------------------------------------------------------------------------ */

int registry_open(const char *path, struct registry **out)
{
	struct registry *reg;
	int r;

	*out = NULL;
	reg = calloc(1, sizeof(*reg));
	if (reg == NULL)
		return -ENOMEM;
	r = store_open(reg, path);
	if (r < 0) {
		free(reg);
		return r;
	}
	*out = reg;
	return 0;
}

void registry_close(struct registry *reg)
{
	if (reg == NULL)
		return;
	if (reg->in_batch && !sqlite3_get_autocommit(reg->db))
		store_run(store_stmt(reg, ST_ROLLBACK));
	store_close(reg);
	free(reg);
}

int registry_create(struct registry *reg, const uint8_t *root, size_t len, uint64_t now)
{
	struct rec r;
	uint8_t id[REC_ID_SIZE];
	sqlite3_stmt *st;
	int rc;

	if (reg->has_root)
		return -EEXIST;
	if (reg->in_batch)
		return -EBUSY;
	rc = rec_decode(root, len, &r);
	if (rc < 0)
		return rc;
	/* rec_decode already holds a ROOT to seq 0, expiry 0 and a zero mesh id. */
	if (r.type != REC_ROOT)
		return -EINVAL;
	if (r.u.root.threshold != 1)
		return -EINVAL; /* only one admin signature per record is supported */
	if (r.issued_at > now + REC_MAX_FUTURE)
		return -ERANGE;
	reg->root = r; /* is_admin reads it */
	if (!is_admin(reg, r.signer)) {
		memset(&reg->root, 0, sizeof(reg->root));
		return -EPERM;
	}
	memset(&reg->root, 0, sizeof(reg->root));
	if (!rec_verify(root, len))
		return -EKEYREJECTED;
	rec_id(root, len, id);

	rc = txn_begin(reg);
	if (rc < 0)
		return rc;
	rc = insert_record(reg, &r, id, id, root, len);
	if (rc == 0) {
		st = store_stmt(reg, ST_META_SET_ROOT);
		rc = store_bind_blob(st, 1, id, REC_ID_SIZE);
		if (rc == 0)
			rc = store_bind_blob(st, 2, root, len);
		if (rc == 0)
			rc = store_run(st);
	}
	if (rc == 0) {
		reg->root = r;
		memcpy(reg->root_raw, root, len);
		reg->root_len = len;
		memcpy(reg->mesh_id, id, REC_ID_SIZE);
		reg->has_root = true;
		rc = materialize(reg, now);
	}
	rc = txn_end(reg, rc);
	if (rc < 0) {
		reg->has_root = false;
		memset(&reg->root, 0, sizeof(reg->root));
	}
	return rc;
}

int registry_root(struct registry *reg, struct rec *root, uint8_t mesh_id[REC_ID_SIZE])
{
	if (!reg->has_root)
		return -ENOENT;
	if (root != NULL)
		*root = reg->root;
	if (mesh_id != NULL)
		memcpy(mesh_id, reg->mesh_id, REC_ID_SIZE);
	return 0;
}

int registry_root_raw(struct registry *reg, uint8_t *buf, size_t *len)
{
	if (!reg->has_root)
		return -ENOENT;
	if (*len < reg->root_len)
		return -EMSGSIZE;
	memcpy(buf, reg->root_raw, reg->root_len);
	*len = reg->root_len;
	return 0;
}

/* One record inside a batch, in a savepoint so that a storage error undoes only it.
 * verified: the signature was already checked (registry_ingest_many). */
static int ingest_in_batch(struct registry *reg, const uint8_t *buf, size_t len, uint64_t now,
			   bool verified, enum ingest_result *res)
{
	int r;

	if (reg->batch_error < 0)
		return reg->batch_error;
	r = store_run(store_stmt(reg, ST_SAVEPOINT));
	if (r < 0)
		return r;
	r = ingest_one(reg, buf, len, now, verified, res);
	if (registry_is_storage_error(r)) {
		if (sqlite3_get_autocommit(reg->db)) {
			/* sqlite rolled the whole batch back: say so until commit. */
			reg->batch_error = r;
			forget_view(reg);
		} else {
			store_run(store_stmt(reg, ST_ROLLBACK_TO));
			store_run(store_stmt(reg, ST_RELEASE));
		}
		return r;
	}
	store_run(store_stmt(reg, ST_RELEASE));
	return r;
}

int registry_ingest(struct registry *reg, const uint8_t *buf, size_t len, uint64_t now,
		    enum ingest_result *res)
{
	int r;

	*res = 0;
	if (reg->in_batch)
		return ingest_in_batch(reg, buf, len, now, false, res);

	r = txn_begin(reg);
	if (r < 0)
		return r;
	r = ingest_one(reg, buf, len, now, false, res);
	if (r == 0 && reg->dirty)
		r = materialize(reg, now);
	r = txn_end(reg, r);
	if (r < 0)
		*res = 0;
	return r;
}

/* ---- many records at once: signatures checked on every core ------------------------------ */

#define VERIFY_MAX_THREADS 8

struct verify_job {
	const struct registry_item *items;
	bool *ok;
	size_t from, to;
};

static void *verify_range(void *arg)
{
	struct verify_job *j = arg;

	for (size_t i = j->from; i < j->to; i++)
		j->ok[i] = j->items[i].len <= REC_MAX_SIZE &&
			   j->items[i].len >= REC_HEADER_SIZE + REC_SIG_SIZE &&
			   rec_verify(j->items[i].buf, j->items[i].len);
	return NULL;
}

/* Sets ok[i] for every item whose signature verifies, spreading the work over the
 * online cores. A thread that cannot be started leaves its share to this one. */
static void verify_all(const struct registry_item *items, size_t n, bool *ok)
{
	struct verify_job job[VERIFY_MAX_THREADS];
	pthread_t tid[VERIFY_MAX_THREADS];
	bool started[VERIFY_MAX_THREADS] = { false };
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	size_t t, threads = cores > 1 ? (size_t)cores : 1;

	if (threads > VERIFY_MAX_THREADS)
		threads = VERIFY_MAX_THREADS;
	if (n < 64 * threads)
		threads = 1; /* not worth a thread */
	/* This thread's share is set on its own, not in a loop from 0: threads is at least 1,
	 * but an analyser cannot see it and took job[0] as maybe unset (cppcheck uninitvar). */
	job[0] = (struct verify_job){ items, ok, 0, n / threads };
	for (t = 1; t < threads; t++) {
		job[t] = (struct verify_job){ items, ok, n * t / threads, n * (t + 1) / threads };
		started[t] = pthread_create(&tid[t], NULL, verify_range, &job[t]) == 0;
	}
	verify_range(&job[0]);
	for (t = 1; t < threads; t++) {
		if (started[t])
			pthread_join(tid[t], NULL);
		else
			verify_range(&job[t]);
	}
}

int registry_ingest_many(struct registry *reg, const struct registry_item *items, size_t n,
			 uint64_t now, enum ingest_result *res, int *err)
{
	bool *ok = NULL, own_batch = !reg->in_batch;
	int r = 0;

	if (n == 0)
		return 0;
	ok = calloc(n, sizeof(*ok));
	if (ok == NULL)
		return -ENOMEM;
	verify_all(items, n, ok);
	if (own_batch) {
		r = registry_begin(reg);
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		res[i] = 0;
		/* A record whose signature failed goes through the whole pipeline again, so
		 * that it gets the error of its cheapest failing check, as one by one. */
		err[i] = ingest_in_batch(reg, items[i].buf, items[i].len, now, ok[i], &res[i]);
		if (registry_is_storage_error(err[i]) && reg->batch_error < 0) {
			r = err[i];
			break;
		}
	}
	if (own_batch) {
		if (r < 0)
			registry_rollback(reg);
		else
			r = registry_commit(reg, now);
	}
out:
	free(ok);
	return r;
}

const char *registry_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case 0:
		return "the record was accepted";
	case EMSGSIZE:
		return "the record is larger than 1024 bytes";
	case EPROTONOSUPPORT:
		return "the data is not a meshname record of a version this program knows";
	case EBADMSG:
		return "the record is malformed or not in canonical form";
	case EXDEV:
		return "the record belongs to another mesh";
	case ERANGE:
		return "the record is dated too far in the future";
	case EKEYEXPIRED:
		return "the record has expired";
	case EPERM:
		return "the signer is not allowed to sign this record";
	case EINVAL:
		return "the record breaks a rule of the mesh (address, key or lifetime)";
	case EKEYREVOKED:
		return "the signer or a key of the record has been revoked";
	case ESTALE:
		return "a newer version of this record is already stored";
	case EKEYREJECTED:
		return "the signature does not verify";
	case ENOENT:
		return "this registry holds no mesh yet";
	case EEXIST:
		return "this registry already holds a mesh";
	case ENOSPC:
		return "the disk is full: nothing was stored";
	case EIO:
		return "the registry database could not be read or written";
	case EACCES:
		return "the registry database is not readable and writable by this user";
	case EBUSY:
		return "the registry database is busy in another process";
	case ENOMEM:
		return "out of memory";
	default:
		return "the registry failed for an unexpected reason";
	}
}

int registry_begin(struct registry *reg)
{
	int r;

	if (reg->in_batch)
		return -EBUSY;
	r = txn_begin(reg);
	if (r < 0)
		return r;
	reg->in_batch = true;
	reg->batch_error = 0;
	return 0;
}

/*
 * Ends the batch registry_begin started: commits it, after materializing the view first if
 * with_view is set and the batch changed it, or rolls it back after a storage error in it.
 * -EINVAL outside a batch.
 */
static int batch_end(struct registry *reg, bool with_view, uint64_t now)
{
	int r;

	if (!reg->in_batch)
		return -EINVAL;
	reg->in_batch = false;
	r = reg->batch_error;
	reg->batch_error = 0;
	if (r == 0 && with_view && reg->dirty)
		r = materialize(reg, now);
	return txn_end(reg, r);
}

int registry_commit(struct registry *reg, uint64_t now)
{
	return batch_end(reg, true, now);
}

int registry_commit_deferred(struct registry *reg)
{
	/* reg->dirty stays set: the next refresh, or a commit that materializes, does it. */
	return batch_end(reg, false, 0);
}

void registry_rollback(struct registry *reg)
{
	if (!reg->in_batch)
		return;
	reg->in_batch = false;
	reg->batch_error = 0;
	txn_rollback(reg);
}

int registry_refresh(struct registry *reg, uint64_t now)
{
	int r;

	if (!reg->has_root)
		return -ENOENT;
	if (!reg->dirty && reg->view_valid && now >= reg->view_now && now < reg->view_until)
		return 0;
	if (reg->in_batch)
		return materialize(reg, now);
	r = txn_begin(reg);
	if (r < 0)
		return r;
	r = materialize(reg, now);
	return txn_end(reg, r);
}

struct snap_ctx {
	struct snapshot_builder *b;
};

static int snap_host_cb(void *arg, const struct snapshot_host *h)
{
	return snapshot_builder_add_host(((struct snap_ctx *)arg)->b, h);
}

static int snap_rr_cb(void *arg, const struct snapshot_rr *rr)
{
	return snapshot_builder_add_rr(((struct snap_ctx *)arg)->b, rr);
}

int registry_changed(struct registry *reg, bool *changed)
{
	sqlite3_stmt *st = NULL;
	int64_t version;
	int rc;

	*changed = false;
	rc = sqlite3_prepare_v2(reg->db, "PRAGMA data_version", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		return store_errno(rc);
	}
	version = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	/* data_version is never 0, so the first call always reports a change. */
	if (version != reg->data_version) {
		reg->data_version = version;
		forget_view(reg);
		*changed = true;
	}
	return 0;
}

int registry_snapshot(struct registry *reg, struct snapshot **out)
{
	struct snap_ctx ctx;
	int r;

	*out = NULL;
	if (!reg->has_root)
		return -ENOENT;
	ctx.b = snapshot_builder_new(&reg->root.u.root, reg->mesh_id, reg->generation);
	if (ctx.b == NULL)
		return -ENOMEM;
	r = view_foreach(reg, snap_host_cb, snap_rr_cb, &ctx);
	if (r < 0) {
		snapshot_builder_free(ctx.b);
		return r;
	}
	return snapshot_builder_finish(ctx.b, out);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int registry_alloc_ipv4(struct registry *reg, uint64_t now, uint8_t out[4])
{
	uint32_t *taken = NULL, net, host_mask, cand;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st;
	int rc, r = 0;

	if (!reg->has_root)
		return -ENOENT;
	net = ipv4_u32(reg->root.u.root.ipv4);
	host_mask = UINT32_MAX >> reg->root.u.root.ipv4_len;
	st = store_stmt(reg, ST_ADDR_TAKEN_ALL);
	r = store_bind_u64(st, 1, now);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (grow((void **)&taken, &cap, n, sizeof(*taken)) < 0) {
			r = -ENOMEM;
			break;
		}
		taken[n++] = (uint32_t)sqlite3_column_int64(st, 0);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = store_errno(rc);
	sqlite3_reset(st);
	if (r < 0)
		goto out;
	if (n > 1)
		qsort(taken, n, sizeof(*taken), cmp_u32);
	/* Skip the network address; walk the sorted taken list once. */
	cand = net + 1;
	for (size_t i = 0; i < n; i++) {
		if (taken[i] < cand)
			continue;
		if (taken[i] > cand)
			break;
		cand++;
	}
	if ((cand & ~host_mask) != net || (cand & host_mask) == host_mask) {
		r = -ENOSPC;
		goto out;
	}
	out[0] = (uint8_t)(cand >> 24);
	out[1] = (uint8_t)(cand >> 16);
	out[2] = (uint8_t)(cand >> 8);
	out[3] = (uint8_t)cand;
out:
	free(taken);
	return r;
}

bool registry_ipv4_taken(struct registry *reg, uint64_t now, const uint8_t addr[4])
{
	sqlite3_stmt *st = store_stmt(reg, ST_ADDR_TAKEN);
	bool taken;

	store_bind_u64(st, 1, ipv4_u32(addr));
	store_bind_u64(st, 2, now);
	taken = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_reset(st);
	return taken;
}

bool registry_name_taken(struct registry *reg, uint64_t now, const char *name)
{
	sqlite3_stmt *st = store_stmt(reg, ST_NAME_TAKEN);
	bool taken;

	store_bind_text(st, 1, name);
	store_bind_u64(st, 2, now);
	taken = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_reset(st);
	return taken;
}

bool registry_is_revoked(struct registry *reg, const uint8_t key[REC_KEY_SIZE])
{
	return revoked(reg, key) > 0;
}

struct record_walk {
	registry_record_fn fn;
	void *arg;
};

static int record_row(void *ctx, sqlite3_stmt *st)
{
	const struct record_walk *w = ctx;
	const uint8_t *raw = sqlite3_column_blob(st, 0);
	int len = sqlite3_column_bytes(st, 0);

	if (raw == NULL || len <= 0)
		return -EIO;
	return w->fn(w->arg, raw, (size_t)len);
}

int registry_foreach(struct registry *reg, registry_record_fn fn, void *arg)
{
	struct record_walk w = { fn, arg };
	sqlite3_stmt *st = store_stmt(reg, ST_REC_ALL);
	int r = step_rows(st, record_row, &w);

	sqlite3_reset(st);
	return r;
}

/* Rows of (issued_at, id) to fn, or of (issued_at, id, type) to typed_fn when that is set. */
struct item_walk {
	registry_item_fn fn;
	registry_typed_item_fn typed_fn;
	void *arg;
};

static int item_row(void *ctx, sqlite3_stmt *st)
{
	const struct item_walk *w = ctx;
	uint64_t issued_at = (uint64_t)sqlite3_column_int64(st, 0);
	const uint8_t *id = sqlite3_column_blob(st, 1);
	int type;

	if (id == NULL || sqlite3_column_bytes(st, 1) != REC_ID_SIZE)
		return -EIO;
	if (w->typed_fn == NULL)
		return w->fn(w->arg, issued_at, id);
	type = sqlite3_column_int(st, 2);
	if (type <= 0 || type > UINT8_MAX)
		return -EIO;
	return w->typed_fn(w->arg, issued_at, id, (uint8_t)type);
}

int registry_foreach_typed_item(struct registry *reg, uint64_t now, registry_typed_item_fn fn,
				void *arg)
{
	struct item_walk w = { NULL, fn, arg };
	sqlite3_stmt *st = store_stmt(reg, ST_REC_SYNC);
	int r;

	r = store_bind_u64(st, 1, now);
	sqlite3_bind_int(st, 2, REC_ROOT);
	sqlite3_bind_int(st, 3, REC_ADMIT);
	sqlite3_bind_int(st, 4, REC_REVOKE);
	if (r == 0)
		r = step_rows(st, item_row, &w);
	sqlite3_reset(st);
	return r;
}

struct untyped {
	registry_item_fn fn;
	void *arg;
};

static int untyped_item(void *arg, uint64_t issued_at, const uint8_t id[REC_ID_SIZE], uint8_t type)
{
	struct untyped *u = arg;

	(void)type;
	return u->fn(u->arg, issued_at, id);
}

int registry_foreach_item(struct registry *reg, uint64_t now, registry_item_fn fn, void *arg)
{
	struct untyped u = { fn, arg };

	return registry_foreach_typed_item(reg, now, untyped_item, &u);
}

int registry_foreach_since(struct registry *reg, uint64_t since, registry_item_fn fn, void *arg)
{
	/* Prepared per call, not kept with store.c's: a look every few seconds at most. */
	static const char sql[] =
		"SELECT issued_at, id FROM record WHERE issued_at >= ?1 ORDER BY issued_at, id";
	struct item_walk w = { fn, NULL, arg };
	sqlite3_stmt *st = NULL;
	int rc, r;

	if (since > INT64_MAX)
		return 0; /* nothing is issued that late: the registry refuses the future */
	rc = sqlite3_prepare_v2(reg->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_errno(rc);
	r = store_bind_u64(st, 1, since);
	if (r == 0)
		r = step_rows(st, item_row, &w);
	sqlite3_finalize(st);
	return r;
}

int registry_get(struct registry *reg, const uint8_t id[REC_ID_SIZE], uint8_t *buf, size_t size,
		 size_t *len)
{
	sqlite3_stmt *st = store_stmt(reg, ST_REC_RAW);
	const uint8_t *raw;
	int rc, n;

	rc = store_bind_blob(st, 1, id, REC_ID_SIZE);
	if (rc < 0)
		return rc;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? -ENOENT : store_errno(rc);
	}
	raw = sqlite3_column_blob(st, 1);
	n = sqlite3_column_bytes(st, 1);
	if (raw == NULL || n <= 0) {
		rc = -EIO;
	} else {
		*len = (size_t)n;
		rc = (size_t)n > size ? -EMSGSIZE : 0;
		if (rc == 0)
			memcpy(buf, raw, (size_t)n);
	}
	sqlite3_reset(st);
	return rc;
}

static int count(struct registry *reg, enum store_stmt which, uint64_t *out)
{
	sqlite3_stmt *st = store_stmt(reg, which);
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		*out = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : store_errno(rc);
}

int registry_counts(struct registry *reg, struct registry_counts *c)
{
	int r;

	memset(c, 0, sizeof(*c));
	r = count(reg, ST_COUNT_RECORDS, &c->records);
	if (r == 0)
		r = count(reg, ST_COUNT_PENDING, &c->pending);
	if (r == 0)
		r = count(reg, ST_COUNT_HOSTS, &c->hosts);
	if (r == 0)
		r = count(reg, ST_COUNT_RRS, &c->rrs);
	if (r == 0)
		r = count(reg, ST_COUNT_ALERTS, &c->alerts);
	return r;
}

struct alert_walk {
	registry_alert_fn fn;
	void *arg;
};

static int alert_row(void *ctx, sqlite3_stmt *st)
{
	const struct alert_walk *w = ctx;
	const unsigned char *msg = sqlite3_column_text(st, 1);

	return w->fn(w->arg, (uint64_t)sqlite3_column_int64(st, 0),
		     msg != NULL ? (const char *)msg : "");
}

int registry_foreach_alert(struct registry *reg, registry_alert_fn fn, void *arg)
{
	struct alert_walk w = { fn, arg };
	sqlite3_stmt *st = store_stmt(reg, ST_ALERT_ALL);
	int r = step_rows(st, alert_row, &w);

	sqlite3_reset(st);
	return r;
}

int registry_state_hash(struct registry *reg, uint8_t out[32])
{
	return tables_hash(reg, out);
}
