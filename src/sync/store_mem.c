/*
 * store_mem.c: an in-memory sync store (sync.h) for tests and the simulator: raw records
 * in a hash table by id, checked by rec_decode, the mesh id, the time window and
 * rec_verify only, and "highest seq wins" for a signer's ENDPOINTS. It never
 * authorizes, never materializes: the registry (store_registry.c) is the real thing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "meshname/sync.h"

struct entry {
	uint8_t id[REC_ID_SIZE];
	uint8_t *buf; /* NULL once superseded */
	uint16_t len;
	uint8_t type;
	uint64_t issued_at, expires_at;
	uint64_t seq;
	uint8_t signer[REC_KEY_SIZE];
};

struct mem {
	struct sync_store st; /* first: the store handed out is this struct */
	uint8_t mesh_id[REC_ID_SIZE];
	struct entry *e;
	size_t n, cap, alive;
	uint32_t *by_id;     /* open addressing: entry index + 1, 0 = empty */
	uint32_t *by_signer; /* current ENDPOINTS per signer, the same way */
	size_t slots;        /* a power of two, at least twice n */
};

static size_t hash(const uint8_t *key, size_t slots)
{
	uint64_t h;

	memcpy(&h, key, sizeof(h)); /* ids are hashes, keys are random points */
	return (size_t)(h & (slots - 1));
}

static struct entry *find_id(const struct mem *m, const uint8_t id[REC_ID_SIZE])
{
	if (m->slots == 0)
		return NULL;
	for (size_t i = hash(id, m->slots);; i = (i + 1) & (m->slots - 1)) {
		uint32_t v = m->by_id[i];

		if (v == 0)
			return NULL;
		if (memcmp(m->e[v - 1].id, id, REC_ID_SIZE) == 0)
			return &m->e[v - 1];
	}
}

static uint32_t *signer_slot(const struct mem *m, const uint8_t key[REC_KEY_SIZE])
{
	for (size_t i = hash(key, m->slots);; i = (i + 1) & (m->slots - 1)) {
		uint32_t v = m->by_signer[i];

		if (v == 0 || memcmp(m->e[v - 1].signer, key, REC_KEY_SIZE) == 0)
			return &m->by_signer[i];
	}
}

static void index_entry(struct mem *m, size_t k)
{
	size_t i = hash(m->e[k].id, m->slots);

	while (m->by_id[i] != 0)
		i = (i + 1) & (m->slots - 1);
	m->by_id[i] = (uint32_t)(k + 1);
	if (m->e[k].type == REC_ENDPOINTS && m->e[k].buf != NULL)
		*signer_slot(m, m->e[k].signer) = (uint32_t)(k + 1);
}

static int grow(struct mem *m)
{
	size_t slots = m->slots == 0 ? 64 : m->slots * 2;
	uint32_t *by_id, *by_signer;
	struct entry *e;

	if (m->n + 1 <= m->cap && (m->n + 1) * 2 <= m->slots)
		return 0;
	if (m->n + 1 > m->cap) {
		size_t cap = m->cap == 0 ? 32 : m->cap * 2;

		if (cap >= UINT32_MAX)
			return -ENOMEM;
		e = realloc(m->e, cap * sizeof(*e));
		if (e == NULL)
			return -ENOMEM;
		m->e = e;
		m->cap = cap;
	}
	if ((m->n + 1) * 2 <= m->slots)
		return 0;
	by_id = calloc(slots, sizeof(*by_id));
	by_signer = calloc(slots, sizeof(*by_signer));
	if (by_id == NULL || by_signer == NULL) {
		free(by_id);
		free(by_signer);
		return -ENOMEM;
	}
	free(m->by_id);
	free(m->by_signer);
	m->by_id = by_id;
	m->by_signer = by_signer;
	m->slots = slots;
	for (size_t k = 0; k < m->n; k++)
		index_entry(m, k);
	return 0;
}

static int insert(struct mem *m, const uint8_t *buf, size_t len, const uint8_t id[REC_ID_SIZE],
		  const struct rec *r)
{
	struct entry *e;
	int rc = grow(m);

	if (rc < 0)
		return rc;
	e = &m->e[m->n];
	memset(e, 0, sizeof(*e));
	e->buf = malloc(len);
	if (e->buf == NULL)
		return -ENOMEM;
	memcpy(e->buf, buf, len);
	memcpy(e->id, id, REC_ID_SIZE);
	e->len = (uint16_t)len;
	e->type = r->type;
	e->issued_at = r->issued_at;
	e->expires_at = r->expires_at;
	e->seq = r->seq;
	memcpy(e->signer, r->signer, REC_KEY_SIZE);
	index_entry(m, m->n++);
	m->alive++;
	return 0;
}

/* Cheapest first, as the registry: structure, mesh, time, signature. */
static int check(const struct mem *m, const uint8_t *buf, size_t len, uint64_t now, struct rec *r)
{
	int rc = rec_decode(buf, len, r);

	if (rc < 0)
		return rc;
	if (r->type != REC_ROOT && memcmp(r->mesh_id, m->mesh_id, REC_ID_SIZE) != 0)
		return -EXDEV;
	if (r->issued_at > now + REC_MAX_FUTURE)
		return -ERANGE;
	if (r->expires_at != 0 && r->expires_at <= now)
		return -EKEYEXPIRED;
	if (!rec_verify(buf, len))
		return -EKEYREJECTED;
	if (r->type == REC_ROOT) {
		uint8_t id[REC_ID_SIZE];

		rec_id(buf, len, id);
		if (memcmp(id, m->mesh_id, REC_ID_SIZE) != 0)
			return -EXDEV;
	}
	return 0;
}

static int mem_ingest(void *arg, const struct registry_item *items, size_t n, uint64_t now,
		      enum ingest_result *res, int *err)
{
	struct mem *m = arg;
	struct rec r;
	bool malicious = false;

	for (size_t i = 0; i < n; i++) {
		err[i] = check(m, items[i].buf, items[i].len, now, &r);
		res[i] = INGEST_ACCEPTED;
		malicious = malicious || sync_err_is_malicious(err[i]);
	}
	if (malicious)
		return 0; /* nothing of a batch holding a malicious record is stored */
	for (size_t i = 0; i < n; i++) {
		uint8_t id[REC_ID_SIZE];
		struct entry *old;
		int rc;

		if (err[i] < 0)
			continue;
		rec_id(items[i].buf, items[i].len, id);
		old = find_id(m, id);
		if (old != NULL) {
			if (old->buf != NULL)
				res[i] = INGEST_DUPLICATE;
			else
				err[i] = -ESTALE; /* superseded here earlier */
			continue;
		}
		rc = rec_decode(items[i].buf, items[i].len, &r);
		if (rc < 0)
			return -EIO; /* checked above: cannot happen */
		if (r.type == REC_ENDPOINTS && m->slots > 0) {
			uint32_t v = *signer_slot(m, r.signer);

			if (v != 0) {
				struct entry *cur = &m->e[v - 1];

				if (cur->seq >= r.seq) {
					err[i] = -ESTALE;
					continue;
				}
				free(cur->buf);
				cur->buf = NULL;
				m->alive--;
			}
		}
		rc = insert(m, items[i].buf, items[i].len, id, &r);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int mem_foreach(void *arg, uint64_t now, sync_item_fn fn, void *fn_arg)
{
	struct mem *m = arg;

	for (size_t k = 0; k < m->n; k++) {
		const struct entry *e = &m->e[k];
		int rc;

		if (e->buf == NULL)
			continue;
		/* As registry_foreach_item: no peer would accept an expired record. */
		if (e->expires_at != 0 && e->expires_at <= now && e->type != REC_ROOT &&
		    e->type != REC_REVOKE && e->type != REC_ADMIT)
			continue;
		rc = fn(fn_arg, e->issued_at, e->id, e->type);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int mem_get(void *arg, const uint8_t id[REC_ID_SIZE], uint8_t *buf, size_t *len)
{
	const struct entry *e = find_id(arg, id);

	if (e == NULL || e->buf == NULL)
		return -ENOENT;
	memcpy(buf, e->buf, e->len);
	*len = e->len;
	return 0;
}

int sync_store_mem_new(const uint8_t mesh_id[REC_ID_SIZE], struct sync_store **out)
{
	struct mem *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (m == NULL)
		return -ENOMEM;
	memcpy(m->mesh_id, mesh_id, REC_ID_SIZE);
	m->st.arg = m;
	m->st.foreach_item = mem_foreach;
	m->st.get = mem_get;
	m->st.ingest = mem_ingest;
	*out = &m->st;
	return 0;
}

void sync_store_mem_free(struct sync_store *st)
{
	struct mem *m = (struct mem *)st;

	if (m == NULL)
		return;
	for (size_t k = 0; k < m->n; k++)
		free(m->e[k].buf);
	free(m->e);
	free(m->by_id);
	free(m->by_signer);
	free(m);
}

int sync_store_mem_add(struct sync_store *st, const uint8_t *buf, size_t len)
{
	struct mem *m = (struct mem *)st;
	uint8_t id[REC_ID_SIZE];
	struct rec r;
	int rc = rec_decode(buf, len, &r);

	if (rc < 0)
		return rc;
	rec_id(buf, len, id);
	if (find_id(m, id) != NULL)
		return -EEXIST;
	return insert(m, buf, len, id, &r);
}

size_t sync_store_mem_count(const struct sync_store *st)
{
	return ((const struct mem *)st)->alive;
}
