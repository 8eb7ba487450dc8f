/*
 * snapshot.c: builds and serves the immutable in-memory view of the registry that the
 * resolver and the WireGuard manager read on every query (include/meshname/snapshot.h).
 * It never touches sqlite, never logs, and never changes a snapshot once it is finished.
 *
 * Layout: every string, group list, endpoint list and observation list lives in an arena
 * of a few large chunks owned by the snapshot; hosts are sorted by name, rrs by (owner,
 * rrtype, rdata); four open-addressing hash tables (power-of-two size, load <= 0.5,
 * linear probing) map name, IPv4, IPv6 and host key to host indexes. Each slot keeps the
 * key's hash (or the IPv4 address itself) next to the index, so a miss rarely touches a
 * host.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "meshname/snapshot.h"

#define ARENA_FIRST_CHUNK 4096u
#define ARENA_MAX_CHUNK (1024u * 1024u)
#define SLOT_EMPTY UINT32_MAX
/* Host indexes are uint32 in the tables; SLOT_EMPTY is never an index. */
#define SNAPSHOT_MAX_HOSTS (UINT32_MAX / 4u)

struct arena_chunk {
	struct arena_chunk *next;
	size_t used;
	size_t size;
	max_align_t data[]; /* size bytes */
};

struct arena {
	struct arena_chunk *head; /* the chunk being filled; older chunks follow */
	size_t next_size;
};

/* hash: the key's hash (name, IPv6, host key) or the IPv4 address in host order. */
struct slot {
	uint32_t hash;
	uint32_t index;
};

struct table {
	struct slot *slots;
	uint32_t mask; /* slot count - 1 */
};

struct snapshot {
	unsigned refs;
	uint64_t generation;
	struct rec_root root;
	uint8_t mesh_id[REC_ID_SIZE];
	struct snapshot_host *hosts;
	size_t n_hosts;
	struct snapshot_rr *rrs;
	size_t n_rrs;
	struct slot *slots; /* one allocation holding the four tables */
	struct table by_name;
	struct table by_ipv4;
	struct table by_ipv6;
	struct table by_key;
	struct arena arena;
};

struct snapshot_builder {
	struct snapshot *s; /* becomes the snapshot; hosts and rrs grow here */
	size_t hosts_cap;
	size_t rrs_cap;
};

/*
 * Fault injection for the unit tests, not part of the interface: when non-zero, the
 * allocation that brings the count down to zero fails. Declared here because no other
 * module may call it.
 */
void snapshot_test_fail_alloc_after(unsigned n);
static unsigned fail_alloc_after;

void snapshot_test_fail_alloc_after(unsigned n)
{
	fail_alloc_after = n;
}

static bool alloc_should_fail(void)
{
	if (fail_alloc_after == 0)
		return false;
	return --fail_alloc_after == 0;
}

static void *mem_alloc(size_t size)
{
	if (alloc_should_fail())
		return NULL;
	return malloc(size);
}

static void *mem_calloc(size_t n, size_t size)
{
	if (alloc_should_fail())
		return NULL;
	return calloc(n, size);
}

static void *mem_realloc_array(void *p, size_t n, size_t size)
{
	if (alloc_should_fail())
		return NULL;
	return reallocarray(p, n, size);
}

/* ASCII only: names are DNS labels, and the locale must not change what matches. */
static inline unsigned char lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

static void *arena_alloc(struct arena *a, size_t size, size_t align)
{
	struct arena_chunk *c = a->head;
	uintptr_t base, at;

	if (c != NULL) {
		base = (uintptr_t)c->data;
		at = (base + c->used + align - 1) & ~(uintptr_t)(align - 1);
		if (at - base <= c->size && size <= c->size - (at - base)) {
			c->used = at - base + size;
			return (void *)at;
		}
	}
	/* A new chunk: data is max_align_t aligned, so any smaller alignment holds. */
	size_t chunk = a->next_size ? a->next_size : ARENA_FIRST_CHUNK;
	if (chunk < size)
		chunk = size;
	if (chunk > SIZE_MAX - sizeof(*c))
		return NULL;
	c = mem_alloc(sizeof(*c) + chunk);
	if (c == NULL)
		return NULL;
	c->size = chunk;
	c->used = size;
	/* Keep the old head first only if it still has more room than the new one. */
	if (a->head != NULL && a->head->size - a->head->used > chunk - size) {
		c->next = a->head->next;
		a->head->next = c;
	} else {
		c->next = a->head;
		a->head = c;
	}
	if (a->next_size < ARENA_MAX_CHUNK)
		a->next_size = a->next_size ? a->next_size * 2 : ARENA_FIRST_CHUNK * 2;
	return c->data;
}

static void arena_free(struct arena *a)
{
	struct arena_chunk *c = a->head, *next;

	for (; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	a->head = NULL;
}

/* A lowercase copy of s (min..max bytes) in the arena, or NULL and *err set. */
static const char *arena_label(struct arena *a, const char *s, size_t min, size_t max, int *err)
{
	size_t len, i;
	char *copy;

	if (s == NULL) {
		*err = -EINVAL;
		return NULL;
	}
	len = strnlen(s, max + 1);
	if (len < min || len > max) {
		*err = -EINVAL;
		return NULL;
	}
	copy = arena_alloc(a, len + 1, 1);
	if (copy == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	for (i = 0; i < len; i++)
		copy[i] = (char)lower((unsigned char)s[i]);
	copy[len] = '\0';
	return copy;
}

/* FNV-1a over the lowercased bytes, then a finalizer so that the low bits mix well. */
static uint32_t hash_name(const char *name, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= lower((unsigned char)name[i]);
		h *= 16777619u;
	}
	h ^= h >> 16;
	h *= 0x7feb352du;
	h ^= h >> 15;
	return h;
}

static uint64_t mix64(uint64_t x)
{
	/* splitmix64's finalizer: every input bit reaches every output bit. */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static uint64_t load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t load_ipv4(const uint8_t a[4])
{
	return (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
}

/* Addresses are handed out in sequence: without mixing, linear probing would build
 * one long run and a miss would walk it. */
static uint32_t hash_ipv4(uint32_t a)
{
	return (uint32_t)mix64(a);
}

static uint32_t hash_ipv6(const uint8_t a[16])
{
	return (uint32_t)mix64(load64(a) ^ mix64(load64(a + 8)));
}

static uint32_t hash_key(const uint8_t k[REC_KEY_SIZE])
{
	/* Public keys look random, but tests and careless callers need not give such keys. */
	uint64_t h = mix64(load64(k));

	h = mix64(h ^ load64(k + 8));
	h = mix64(h ^ load64(k + 16));
	return (uint32_t)mix64(h ^ load64(k + 24));
}

/* True if name (len bytes, any case) equals the lowercase NUL-terminated label. */
static bool name_equal(const char *label, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (label[i] == '\0' || label[i] != (char)lower((unsigned char)name[i]))
			return false;
	}
	return label[len] == '\0';
}

/*
 * Compares the query (len bytes, any case) with the lowercase owner: <0, 0, >0 in the
 * order rrs are sorted (bytewise, a prefix first).
 */
static int owner_compare(const char *query, size_t len, const char *owner)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char q = lower((unsigned char)query[i]);
		unsigned char o = (unsigned char)owner[i];

		if (o == '\0')
			return 1;
		if (q != o)
			return q < o ? -1 : 1;
	}
	return owner[len] == '\0' ? 0 : -1;
}

static int host_compare(const void *a, const void *b)
{
	const struct snapshot_host *x = a, *y = b;

	return strcmp(x->name, y->name);
}

static int rr_compare(const void *a, const void *b)
{
	const struct snapshot_rr *x = a, *y = b;
	size_t n;
	int c;

	c = strcmp(x->owner, y->owner);
	if (c != 0)
		return c;
	if (x->rrtype != y->rrtype)
		return x->rrtype < y->rrtype ? -1 : 1;
	/* RFC 4034 section 6.3: rdata as left-justified octet strings, shorter first. */
	n = x->rdlen < y->rdlen ? x->rdlen : y->rdlen;
	if (n > 0) {
		c = memcmp(x->rdata, y->rdata, n);
		if (c != 0)
			return c;
	}
	if (x->rdlen != y->rdlen)
		return x->rdlen < y->rdlen ? -1 : 1;
	return 0;
}

static void snapshot_free(struct snapshot *s)
{
	if (s == NULL)
		return;
	arena_free(&s->arena);
	free(s->hosts);
	free(s->rrs);
	free(s->slots);
	free(s);
}

struct snapshot_builder *snapshot_builder_new(const struct rec_root *root,
					      const uint8_t mesh_id[REC_ID_SIZE],
					      uint64_t generation)
{
	struct snapshot_builder *b;

	b = mem_calloc(1, sizeof(*b));
	if (b == NULL)
		return NULL;
	b->s = mem_calloc(1, sizeof(*b->s));
	if (b->s == NULL) {
		free(b);
		return NULL;
	}
	b->s->refs = 1;
	b->s->generation = generation;
	/* A registry without a mesh yet publishes an empty snapshot with a zero root. */
	if (root != NULL)
		b->s->root = *root;
	if (mesh_id != NULL)
		memcpy(b->s->mesh_id, mesh_id, REC_ID_SIZE);
	return b;
}

void snapshot_builder_free(struct snapshot_builder *b)
{
	if (b == NULL)
		return;
	snapshot_free(b->s);
	free(b);
}

/* Makes room for one more element of a growing array: the array (perhaps moved), or
 * NULL with the old array untouched. */
static void *grow(void *array, size_t *cap, size_t n, size_t size)
{
	size_t new_cap;
	void *p;

	if (n < *cap)
		return array;
	new_cap = *cap ? *cap * 2 : 16;
	p = mem_realloc_array(array, new_cap, size);
	if (p == NULL)
		return NULL;
	*cap = new_cap;
	return p;
}

int snapshot_builder_add_host(struct snapshot_builder *b, const struct snapshot_host *h)
{
	struct snapshot *s = b->s;
	struct snapshot_host *copy;
	const char **groups = NULL;
	struct rec_endpoint *endpoints = NULL;
	struct snapshot_observation *observations = NULL;
	int err = 0;
	size_t i;

	if (h->n_groups > REC_MAX_GROUPS || h->n_endpoints > REC_MAX_ENDPOINTS ||
	    h->n_observations > SNAPSHOT_MAX_OBSERVATIONS ||
	    (h->n_groups > 0 && h->groups == NULL) ||
	    (h->n_endpoints > 0 && h->endpoints == NULL) ||
	    (h->n_observations > 0 && h->observations == NULL))
		return -EINVAL;
	if (s->n_hosts >= SNAPSHOT_MAX_HOSTS)
		return -E2BIG;
	copy = grow(s->hosts, &b->hosts_cap, s->n_hosts, sizeof(*s->hosts));
	if (copy == NULL)
		return -ENOMEM;
	s->hosts = copy;

	copy = &s->hosts[s->n_hosts];
	*copy = *h;
	copy->name = arena_label(&s->arena, h->name, 1, REC_NAME_MAX, &err);
	if (copy->name == NULL)
		return err;
	if (h->n_groups > 0) {
		groups = arena_alloc(&s->arena, h->n_groups * sizeof(*groups), _Alignof(char *));
		if (groups == NULL)
			return -ENOMEM;
		for (i = 0; i < h->n_groups; i++) {
			groups[i] = arena_label(&s->arena, h->groups[i], 1, REC_NAME_MAX, &err);
			if (groups[i] == NULL)
				return err;
		}
	}
	copy->groups = groups;
	if (h->n_endpoints > 0) {
		endpoints = arena_alloc(&s->arena, h->n_endpoints * sizeof(*endpoints),
					_Alignof(struct rec_endpoint));
		if (endpoints == NULL)
			return -ENOMEM;
		memcpy(endpoints, h->endpoints, h->n_endpoints * sizeof(*endpoints));
	}
	copy->endpoints = endpoints;
	if (h->n_observations > 0) {
		observations = arena_alloc(&s->arena, h->n_observations * sizeof(*observations),
					   _Alignof(struct snapshot_observation));
		if (observations == NULL)
			return -ENOMEM;
		memcpy(observations, h->observations, h->n_observations * sizeof(*observations));
	}
	copy->observations = observations;
	/* Only now is the host counted: a failure above leaves the builder as it was,
	 * apart from arena bytes that are freed with it. */
	s->n_hosts++;
	return 0;
}

int snapshot_builder_add_rr(struct snapshot_builder *b, const struct snapshot_rr *rr)
{
	struct snapshot *s = b->s;
	struct snapshot_rr *copy;
	uint8_t *rdata = NULL;
	int err = 0;

	if (rr->rdlen > REC_RDATA_MAX || (rr->rdlen > 0 && rr->rdata == NULL))
		return -EINVAL;
	copy = grow(s->rrs, &b->rrs_cap, s->n_rrs, sizeof(*s->rrs));
	if (copy == NULL)
		return -ENOMEM;
	s->rrs = copy;

	copy = &s->rrs[s->n_rrs];
	*copy = *rr;
	copy->owner = arena_label(&s->arena, rr->owner, 0, REC_OWNER_MAX, &err);
	if (copy->owner == NULL)
		return err;
	if (rr->rdlen > 0) {
		rdata = arena_alloc(&s->arena, rr->rdlen, 1);
		if (rdata == NULL)
			return -ENOMEM;
		memcpy(rdata, rr->rdata, rr->rdlen);
	}
	copy->rdata = rdata;
	s->n_rrs++;
	return 0;
}

/* Slot count for n keys: a power of two, at least 2n (load <= 0.5), at least 8. */
static uint32_t table_size(size_t n)
{
	uint32_t size = 8;

	while (size < 2 * n)
		size *= 2;
	return size;
}

/*
 * Inserts host i into t at the probe start pos_hash, tagged tag (the key's hash, or the
 * IPv4 address); -EEXIST if an equal key is there already. same() compares two hosts
 * on the table's key.
 */
static int table_insert(struct table *t, const struct snapshot *s, uint32_t pos_hash, uint32_t tag,
			uint32_t i,
			bool (*same)(const struct snapshot_host *, const struct snapshot_host *))
{
	uint32_t pos = pos_hash & t->mask;

	while (t->slots[pos].index != SLOT_EMPTY) {
		if (t->slots[pos].hash == tag && same(&s->hosts[t->slots[pos].index], &s->hosts[i]))
			return -EEXIST;
		pos = (pos + 1) & t->mask;
	}
	t->slots[pos].hash = tag;
	t->slots[pos].index = i;
	return 0;
}

static bool same_name(const struct snapshot_host *a, const struct snapshot_host *b)
{
	return strcmp(a->name, b->name) == 0;
}

static bool same_ipv4(const struct snapshot_host *a, const struct snapshot_host *b)
{
	return memcmp(a->ipv4, b->ipv4, sizeof(a->ipv4)) == 0;
}

static bool same_ipv6(const struct snapshot_host *a, const struct snapshot_host *b)
{
	return memcmp(a->ipv6, b->ipv6, sizeof(a->ipv6)) == 0;
}

static bool same_key(const struct snapshot_host *a, const struct snapshot_host *b)
{
	return memcmp(a->host_key, b->host_key, sizeof(a->host_key)) == 0;
}

static int build_tables(struct snapshot *s)
{
	uint32_t size = table_size(s->n_hosts), i;
	int err;

	/* Four tables in one allocation: fewer mallocs, and freed in one call. */
	s->slots = mem_alloc(4 * (size_t)size * sizeof(*s->slots));
	if (s->slots == NULL)
		return -ENOMEM;
	memset(s->slots, 0xff, 4 * (size_t)size * sizeof(*s->slots));
	s->by_name = (struct table){ s->slots, size - 1 };
	s->by_ipv4 = (struct table){ s->slots + size, size - 1 };
	s->by_ipv6 = (struct table){ s->slots + 2 * (size_t)size, size - 1 };
	s->by_key = (struct table){ s->slots + 3 * (size_t)size, size - 1 };

	for (i = 0; i < s->n_hosts; i++) {
		const struct snapshot_host *h = &s->hosts[i];
		uint32_t v4 = load_ipv4(h->ipv4), hash;

		hash = hash_name(h->name, strlen(h->name));
		err = table_insert(&s->by_name, s, hash, hash, i, same_name);
		if (err < 0)
			return err;
		/* The IPv4 table tags slots with the address itself: a lookup compares no host. */
		err = table_insert(&s->by_ipv4, s, hash_ipv4(v4), v4, i, same_ipv4);
		if (err < 0)
			return err;
		hash = hash_ipv6(h->ipv6);
		err = table_insert(&s->by_ipv6, s, hash, hash, i, same_ipv6);
		if (err < 0)
			return err;
		hash = hash_key(h->host_key);
		err = table_insert(&s->by_key, s, hash, hash, i, same_key);
		if (err < 0)
			return err;
	}
	return 0;
}

int snapshot_builder_finish(struct snapshot_builder *b, struct snapshot **out)
{
	struct snapshot *s = b->s;
	void *p;
	int err;

	*out = NULL;
	if (s->n_hosts > 1)
		qsort(s->hosts, s->n_hosts, sizeof(*s->hosts), host_compare);
	if (s->n_rrs > 1)
		qsort(s->rrs, s->n_rrs, sizeof(*s->rrs), rr_compare);
	/* Give back the spare capacity; keeping the larger block is harmless. */
	if (s->n_hosts > 0 && s->n_hosts < b->hosts_cap) {
		p = realloc(s->hosts, s->n_hosts * sizeof(*s->hosts));
		if (p != NULL)
			s->hosts = p;
	}
	if (s->n_rrs > 0 && s->n_rrs < b->rrs_cap) {
		p = realloc(s->rrs, s->n_rrs * sizeof(*s->rrs));
		if (p != NULL)
			s->rrs = p;
	}
	err = build_tables(s);
	if (err < 0)
		goto out;
	*out = s;
	b->s = NULL;
out:
	snapshot_builder_free(b);
	return err;
}

struct snapshot *snapshot_ref(struct snapshot *s)
{
	if (s != NULL)
		s->refs++;
	return s;
}

void snapshot_unref(struct snapshot *s)
{
	if (s == NULL)
		return;
	if (--s->refs == 0)
		snapshot_free(s);
}

const struct rec_root *snapshot_root(const struct snapshot *s)
{
	return &s->root;
}

const uint8_t *snapshot_mesh_id(const struct snapshot *s)
{
	return s->mesh_id;
}

const char *snapshot_zone(const struct snapshot *s)
{
	return s->root.zone;
}

uint64_t snapshot_generation(const struct snapshot *s)
{
	return s->generation;
}

size_t snapshot_host_count(const struct snapshot *s)
{
	return s->n_hosts;
}

const struct snapshot_host *snapshot_host_at(const struct snapshot *s, size_t i)
{
	return i < s->n_hosts ? &s->hosts[i] : NULL;
}

const struct snapshot_host *snapshot_lookup_name(const struct snapshot *s, const char *name,
						 size_t len)
{
	const struct table *t = &s->by_name;
	uint32_t hash, pos;

	if (len == 0 || len > REC_NAME_MAX)
		return NULL;
	hash = hash_name(name, len);
	for (pos = hash & t->mask; t->slots[pos].index != SLOT_EMPTY; pos = (pos + 1) & t->mask) {
		const struct snapshot_host *h = &s->hosts[t->slots[pos].index];

		if (t->slots[pos].hash == hash && name_equal(h->name, name, len))
			return h;
	}
	return NULL;
}

const struct snapshot_host *snapshot_lookup_ipv4(const struct snapshot *s, const uint8_t a[4])
{
	const struct table *t = &s->by_ipv4;
	uint32_t v4 = load_ipv4(a), pos;

	/* The slot's hash field holds the address itself: no host is touched on a miss. */
	for (pos = hash_ipv4(v4) & t->mask; t->slots[pos].index != SLOT_EMPTY;
	     pos = (pos + 1) & t->mask) {
		if (t->slots[pos].hash == v4)
			return &s->hosts[t->slots[pos].index];
	}
	return NULL;
}

const struct snapshot_host *snapshot_lookup_ipv6(const struct snapshot *s, const uint8_t a[16])
{
	const struct table *t = &s->by_ipv6;
	uint32_t hash = hash_ipv6(a), pos;

	for (pos = hash & t->mask; t->slots[pos].index != SLOT_EMPTY; pos = (pos + 1) & t->mask) {
		const struct snapshot_host *h = &s->hosts[t->slots[pos].index];

		if (t->slots[pos].hash == hash && memcmp(h->ipv6, a, sizeof(h->ipv6)) == 0)
			return h;
	}
	return NULL;
}

const struct snapshot_host *snapshot_lookup_host_key(const struct snapshot *s,
						     const uint8_t key[REC_KEY_SIZE])
{
	const struct table *t = &s->by_key;
	uint32_t hash = hash_key(key), pos;

	for (pos = hash & t->mask; t->slots[pos].index != SLOT_EMPTY; pos = (pos + 1) & t->mask) {
		const struct snapshot_host *h = &s->hosts[t->slots[pos].index];

		if (t->slots[pos].hash == hash && memcmp(h->host_key, key, REC_KEY_SIZE) == 0)
			return h;
	}
	return NULL;
}

size_t snapshot_rr_count(const struct snapshot *s)
{
	return s->n_rrs;
}

const struct snapshot_rr *snapshot_rr_at(const struct snapshot *s, size_t i)
{
	return i < s->n_rrs ? &s->rrs[i] : NULL;
}

size_t snapshot_rr_find(const struct snapshot *s, const char *owner, size_t len,
			const struct snapshot_rr **first)
{
	size_t lo = 0, hi = s->n_rrs, end;

	*first = NULL;
	if (len > REC_OWNER_MAX)
		return 0;
	/* Lower bound: the first rr whose owner is not below the query. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (owner_compare(owner, len, s->rrs[mid].owner) > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (end = lo; end < s->n_rrs && owner_compare(owner, len, s->rrs[end].owner) == 0; end++)
		;
	if (end == lo)
		return 0;
	*first = &s->rrs[lo];
	return end - lo;
}
