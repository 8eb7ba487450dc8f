/*
 * negentropy.c: range-based set reconciliation, protocol version 1 (0x61) of the
 * negentropy reference (include/meshname/negentropy.h): the sorted set, fingerprints,
 * and the message codec and state of one session. Pure: never does I/O, never reads the
 * clock, never logs; every byte of a peer's message is checked before it is used.
 * Callers must have called sodium_init() once at start up.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "meshname/negentropy.h"

enum {
	MODE_SKIP = 0,
	MODE_FINGERPRINT = 1,
	MODE_IDLIST = 2,
};

/* As the reference: a range of fewer than 2 * BUCKETS items is sent as its ids,
 * a larger one as BUCKETS fingerprints. */
#define BUCKETS 16
/* As the reference: stop adding ranges once a message is within this many bytes of the
 * frame limit, which leaves room for the closing (infinity, fingerprint) range and for
 * the range being written (a bound of at most 44 bytes, one id of 32). */
#define FRAME_MARGIN 200
#define VARINT_MAX 10

struct negentropy_set {
	struct negentropy_item *items;
	size_t n, cap;
	bool sealed;
	/* sum[i]: the sum of the ids of items [0, i) mod 2^256, little-endian 64-bit limbs,
	 * so that a range's sum is one subtraction. */
	uint64_t (*sum)[4];
};

enum role { ROLE_NONE, ROLE_INITIATOR, ROLE_RESPONDER };

struct negentropy {
	const struct negentropy_set *set;
	size_t frame_limit;
	enum role role;
	uint64_t last_in, last_out; /* timestamp deltas, reset with each message */
	/* Every id reported in have or need so far, sorted: under a frame limit a range can
	 * be resolved twice (the reference then reports its ids twice), this one once. */
	struct negentropy_ids seen;
};

/* A bound: timestamp and id prefix, the rest of id zero. */
struct bound {
	uint64_t timestamp;
	uint8_t id[NEGENTROPY_ID_SIZE];
	size_t len;
};

struct buf {
	uint8_t *p;
	size_t len, cap;
	bool failed; /* an allocation failed: the content is incomplete */
};

struct reader {
	const uint8_t *p;
	size_t len;
};

/* ---- buffers and varints ---------------------------------------------------------- */

static void buf_put(struct buf *b, const void *p, size_t n)
{
	if (b->failed || n == 0)
		return;
	if (b->cap - b->len < n) {
		size_t cap = b->cap ? b->cap : 256;
		uint8_t *q;

		while (cap - b->len < n)
			cap *= 2;
		q = realloc(b->p, cap);
		if (q == NULL) {
			b->failed = true;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void buf_byte(struct buf *b, uint8_t c)
{
	buf_put(b, &c, 1);
}

/* Base-128 digits, most significant first, the high bit set on all but the last. */
static size_t varint_encode(uint64_t v, uint8_t out[VARINT_MAX])
{
	uint8_t tmp[VARINT_MAX];
	size_t n = 0;

	do {
		tmp[n++] = (uint8_t)(v & 0x7f);
		v >>= 7;
	} while (v != 0);
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(tmp[n - 1 - i] | (i + 1 < n ? 0x80 : 0));
	return n;
}

static void buf_varint(struct buf *b, uint64_t v)
{
	uint8_t tmp[VARINT_MAX];

	buf_put(b, tmp, varint_encode(v, tmp));
}

static int read_bytes(struct reader *r, size_t n, const uint8_t **out)
{
	if (r->len < n)
		return -EBADMSG;
	*out = r->p;
	r->p += n;
	r->len -= n;
	return 0;
}

/* Refuses what the reference's encoder never makes: a leading zero digit (not the
 * shortest form) and values over 64 bits, which the reference would silently wrap. */
static int read_varint(struct reader *r, uint64_t *out)
{
	uint64_t v = 0;

	for (size_t i = 0;; i++) {
		uint8_t c;

		if (r->len == 0)
			return -EBADMSG;
		c = *r->p++;
		r->len--;
		if (i == 0 && c == 0x80)
			return -EBADMSG;
		if (v > UINT64_MAX >> 7)
			return -EBADMSG;
		v = v << 7 | (c & 0x7f);
		if (!(c & 0x80))
			break;
	}
	*out = v;
	return 0;
}

/* ---- ids as 256-bit integers ------------------------------------------------------ */

static void id_to_limbs(const uint8_t id[NEGENTROPY_ID_SIZE], uint64_t out[4])
{
	for (size_t l = 0; l < 4; l++) {
		uint64_t v = 0;

		for (size_t k = 8; k-- > 0;)
			v = v << 8 | id[l * 8 + k];
		out[l] = v;
	}
}

static void limbs_add(uint64_t acc[4], const uint64_t x[4])
{
	uint64_t carry = 0;

	for (size_t l = 0; l < 4; l++) {
		uint64_t s = acc[l] + carry;

		carry = s < carry;
		s += x[l];
		carry += s < x[l];
		acc[l] = s;
	}
}

static void limbs_sub(const uint64_t a[4], const uint64_t b[4], uint64_t out[4])
{
	uint64_t borrow = 0;

	for (size_t l = 0; l < 4; l++) {
		uint64_t d = a[l] - b[l];
		uint64_t borrow_next = a[l] < b[l];

		borrow_next |= d < borrow;
		out[l] = d - borrow;
		borrow = borrow_next;
	}
}

/* ---- the set ---------------------------------------------------------------------- */

int negentropy_set_new(struct negentropy_set **out)
{
	struct negentropy_set *set = calloc(1, sizeof(*set));

	if (set == NULL)
		return -ENOMEM;
	*out = set;
	return 0;
}

void negentropy_set_free(struct negentropy_set *set)
{
	if (set == NULL)
		return;
	free(set->items);
	free(set->sum);
	free(set);
}

int negentropy_set_add(struct negentropy_set *set, uint64_t timestamp,
		       const uint8_t id[NEGENTROPY_ID_SIZE])
{
	if (set->sealed)
		return -EINVAL;
	if (timestamp == NEGENTROPY_TIMESTAMP_MAX)
		return -ERANGE;
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 64;
		struct negentropy_item *p;

		if (cap > SIZE_MAX / sizeof(*p))
			return -ENOMEM;
		p = realloc(set->items, cap * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		set->items = p;
		set->cap = cap;
	}
	set->items[set->n].timestamp = timestamp;
	memcpy(set->items[set->n].id, id, NEGENTROPY_ID_SIZE);
	set->n++;
	return 0;
}

static int item_cmp(const struct negentropy_item *a, const struct negentropy_item *b)
{
	if (a->timestamp != b->timestamp)
		return a->timestamp < b->timestamp ? -1 : 1;
	return memcmp(a->id, b->id, NEGENTROPY_ID_SIZE);
}

static int item_qsort_cmp(const void *a, const void *b)
{
	return item_cmp(a, b);
}

int negentropy_set_seal(struct negentropy_set *set)
{
	bool sorted = true;
	uint64_t limbs[4];

	if (set->sealed)
		return -EINVAL;
	/* The registry hands items over in order: then sorting is a scan. */
	for (size_t i = 1; i < set->n && sorted; i++)
		sorted = item_cmp(&set->items[i - 1], &set->items[i]) < 0;
	if (!sorted)
		qsort(set->items, set->n, sizeof(*set->items), item_qsort_cmp);
	for (size_t i = 1; i < set->n; i++)
		if (item_cmp(&set->items[i - 1], &set->items[i]) == 0)
			return -EEXIST;
	if (set->n >= SIZE_MAX / sizeof(*set->sum))
		return -ENOMEM;
	set->sum = calloc(set->n + 1, sizeof(*set->sum));
	if (set->sum == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < set->n; i++) {
		memcpy(set->sum[i + 1], set->sum[i], sizeof(set->sum[i]));
		id_to_limbs(set->items[i].id, limbs);
		limbs_add(set->sum[i + 1], limbs);
	}
	set->sealed = true;
	return 0;
}

size_t negentropy_set_size(const struct negentropy_set *set)
{
	return set->n;
}

const struct negentropy_item *negentropy_set_item(const struct negentropy_set *set, size_t i)
{
	if (!set->sealed || i >= set->n)
		return NULL;
	return &set->items[i];
}

static void fingerprint(const struct negentropy_set *set, size_t begin, size_t end,
			uint8_t out[NEGENTROPY_FINGERPRINT_SIZE])
{
	uint8_t input[NEGENTROPY_ID_SIZE + VARINT_MAX];
	uint8_t hash[crypto_hash_sha256_BYTES];
	uint64_t acc[4];
	size_t n;

	limbs_sub(set->sum[end], set->sum[begin], acc);
	for (size_t l = 0; l < 4; l++)
		for (size_t k = 0; k < 8; k++)
			input[l * 8 + k] = (uint8_t)(acc[l] >> (8 * k));
	n = varint_encode((uint64_t)(end - begin), input + NEGENTROPY_ID_SIZE);
	crypto_hash_sha256(hash, input, NEGENTROPY_ID_SIZE + n);
	memcpy(out, hash, NEGENTROPY_FINGERPRINT_SIZE);
}

int negentropy_set_fingerprint(const struct negentropy_set *set, size_t begin, size_t end,
			       uint8_t out[NEGENTROPY_FINGERPRINT_SIZE])
{
	if (!set->sealed || begin > end || end > set->n)
		return -EINVAL;
	fingerprint(set, begin, end, out);
	return 0;
}

static int bound_cmp_item(const struct bound *b, const struct negentropy_item *it)
{
	if (b->timestamp != it->timestamp)
		return b->timestamp < it->timestamp ? -1 : 1;
	return memcmp(b->id, it->id, NEGENTROPY_ID_SIZE);
}

static int bound_cmp(const struct bound *a, const struct bound *b)
{
	if (a->timestamp != b->timestamp)
		return a->timestamp < b->timestamp ? -1 : 1;
	return memcmp(a->id, b->id, NEGENTROPY_ID_SIZE);
}

/* The first item in [from, n) that is not below b. */
static size_t lower_bound(const struct negentropy_set *set, size_t from, const struct bound *b)
{
	size_t lo = from, hi = set->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (bound_cmp_item(b, &set->items[mid]) > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- id lists --------------------------------------------------------------------- */

void negentropy_ids_free(struct negentropy_ids *ids)
{
	if (ids == NULL)
		return;
	free(ids->id);
	memset(ids, 0, sizeof(*ids));
}

static int ids_add(struct negentropy_ids *ids, const uint8_t id[NEGENTROPY_ID_SIZE])
{
	if (ids->count == ids->cap) {
		size_t cap = ids->cap ? ids->cap * 2 : 16;
		uint8_t(*p)[NEGENTROPY_ID_SIZE];

		if (cap > SIZE_MAX / NEGENTROPY_ID_SIZE)
			return -ENOMEM;
		p = realloc(ids->id, cap * NEGENTROPY_ID_SIZE);
		if (p == NULL)
			return -ENOMEM;
		ids->id = p;
		ids->cap = cap;
	}
	memcpy(ids->id[ids->count++], id, NEGENTROPY_ID_SIZE);
	return 0;
}

static int id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, NEGENTROPY_ID_SIZE);
}

static void ids_sort_unique(struct negentropy_ids *ids)
{
	size_t w = 0;

	if (ids->count == 0)
		return;
	qsort(ids->id, ids->count, NEGENTROPY_ID_SIZE, id_cmp);
	for (size_t i = 1; i < ids->count; i++)
		if (memcmp(ids->id[w], ids->id[i], NEGENTROPY_ID_SIZE) != 0)
			memcpy(ids->id[++w], ids->id[i], NEGENTROPY_ID_SIZE);
	ids->count = w + 1;
}

static bool ids_contains(const struct negentropy_ids *sorted, const uint8_t *id)
{
	return sorted->count &&
	       bsearch(id, sorted->id, sorted->count, NEGENTROPY_ID_SIZE, id_cmp) != NULL;
}

/*
 * Hands the ids found in one message to the caller's list, without those reported
 * before, and remembers them. fresh is sorted and unique. Nothing changes on -ENOMEM.
 */
static int report(struct negentropy *ne, const struct negentropy_ids *fresh,
		  struct negentropy_ids *out)
{
	struct negentropy_ids merged = { 0 };
	size_t before = out->count, i = 0, j = 0;
	int rc = 0;

	for (size_t k = 0; k < fresh->count; k++) {
		if (ids_contains(&ne->seen, fresh->id[k]))
			continue;
		if ((rc = ids_add(out, fresh->id[k])) != 0)
			goto out;
	}
	/* seen := seen + fresh, kept sorted by a merge */
	while (i < ne->seen.count || j < fresh->count) {
		const uint8_t *next;

		if (j == fresh->count ||
		    (i < ne->seen.count && id_cmp(ne->seen.id[i], fresh->id[j]) <= 0))
			next = ne->seen.id[i++];
		else
			next = fresh->id[j++];
		if (merged.count &&
		    memcmp(merged.id[merged.count - 1], next, NEGENTROPY_ID_SIZE) == 0)
			continue;
		if ((rc = ids_add(&merged, next)) != 0)
			goto out;
	}
	negentropy_ids_free(&ne->seen);
	ne->seen = merged;
	merged = (struct negentropy_ids){ 0 };
out:
	if (rc != 0)
		out->count = before;
	negentropy_ids_free(&merged);
	return rc;
}

/* ---- sessions ----------------------------------------------------------------------- */

int negentropy_new(const struct negentropy_set *set, size_t frame_limit, struct negentropy **out)
{
	struct negentropy *ne;

	if (!set->sealed || (frame_limit != 0 && frame_limit < NEGENTROPY_FRAME_LIMIT_MIN))
		return -EINVAL;
	ne = calloc(1, sizeof(*ne));
	if (ne == NULL)
		return -ENOMEM;
	ne->set = set;
	ne->frame_limit = frame_limit;
	*out = ne;
	return 0;
}

void negentropy_free(struct negentropy *ne)
{
	if (ne == NULL)
		return;
	negentropy_ids_free(&ne->seen);
	free(ne);
}

static bool exceeded(const struct negentropy *ne, size_t n)
{
	return ne->frame_limit != 0 && n > ne->frame_limit - FRAME_MARGIN;
}

/* The infinity timestamp is 0; any other is 1 + its distance from the previous one. */
static void put_bound(struct negentropy *ne, struct buf *b, const struct bound *bound)
{
	if (bound->timestamp == NEGENTROPY_TIMESTAMP_MAX) {
		buf_varint(b, 0);
		ne->last_out = NEGENTROPY_TIMESTAMP_MAX;
	} else {
		buf_varint(b, bound->timestamp - ne->last_out + 1);
		ne->last_out = bound->timestamp;
	}
	buf_varint(b, bound->len);
	buf_put(b, bound->id, bound->len);
}

static int read_bound(struct negentropy *ne, struct reader *r, struct bound *out)
{
	const uint8_t *prefix;
	uint64_t v, len;
	int rc;

	if ((rc = read_varint(r, &v)) != 0)
		return rc;
	v = v == 0 ? NEGENTROPY_TIMESTAMP_MAX : v - 1;
	/* saturates at infinity, as the reference */
	out->timestamp = v > NEGENTROPY_TIMESTAMP_MAX - ne->last_in ? NEGENTROPY_TIMESTAMP_MAX :
								      v + ne->last_in;
	ne->last_in = out->timestamp;
	if ((rc = read_varint(r, &len)) != 0)
		return rc;
	if (len > NEGENTROPY_ID_SIZE)
		return -EBADMSG;
	if ((rc = read_bytes(r, (size_t)len, &prefix)) != 0)
		return rc;
	memset(out->id, 0, sizeof(out->id));
	memcpy(out->id, prefix, (size_t)len);
	out->len = (size_t)len;
	return 0;
}

static void item_bound(const struct negentropy_item *it, struct bound *out)
{
	out->timestamp = it->timestamp;
	memcpy(out->id, it->id, NEGENTROPY_ID_SIZE);
	out->len = NEGENTROPY_ID_SIZE;
}

/* The shortest bound above prev and not above curr. */
static void minimal_bound(const struct negentropy_item *prev, const struct negentropy_item *curr,
			  struct bound *out)
{
	size_t shared = 0;

	memset(out, 0, sizeof(*out));
	out->timestamp = curr->timestamp;
	if (curr->timestamp != prev->timestamp)
		return;
	while (shared < NEGENTROPY_ID_SIZE && curr->id[shared] == prev->id[shared])
		shared++;
	out->len = shared + 1; /* shared < 32: the items differ */
	memcpy(out->id, curr->id, out->len);
}

/* Items [lo, hi) up to upper: their ids if fewer than 2 * BUCKETS, else BUCKETS
 * fingerprints of near-equal buckets. */
static void split_range(struct negentropy *ne, struct buf *o, size_t lo, size_t hi,
			const struct bound *upper)
{
	const struct negentropy_set *set = ne->set;
	size_t n = hi - lo, per, extra, curr = lo;
	uint8_t fp[NEGENTROPY_FINGERPRINT_SIZE];

	if (n < 2 * BUCKETS) {
		put_bound(ne, o, upper);
		buf_varint(o, MODE_IDLIST);
		buf_varint(o, n);
		for (size_t i = lo; i < hi; i++)
			buf_put(o, set->items[i].id, NEGENTROPY_ID_SIZE);
		return;
	}
	per = n / BUCKETS;
	extra = n % BUCKETS;
	for (size_t b = 0; b < BUCKETS; b++) {
		struct bound next;
		size_t size = per + (b < extra ? 1 : 0);

		fingerprint(set, curr, curr + size, fp);
		curr += size;
		if (curr == hi)
			next = *upper;
		else
			minimal_bound(&set->items[curr - 1], &set->items[curr], &next);
		put_bound(ne, o, &next);
		buf_varint(o, MODE_FINGERPRINT);
		buf_put(o, fp, sizeof(fp));
	}
}

/* Initiator: have += our ids in [lower, upper) not among theirs, need += theirs not
 * among ours. */
static int compare_ids(const struct negentropy *ne, const uint8_t *theirs, size_t count,
		       size_t lower, size_t upper, struct negentropy_ids *have,
		       struct negentropy_ids *need)
{
	struct negentropy_ids sorted = { 0 }, ours = { 0 };
	int rc = 0;

	for (size_t i = 0; i < count; i++)
		if ((rc = ids_add(&sorted, theirs + i * NEGENTROPY_ID_SIZE)) != 0)
			goto out;
	ids_sort_unique(&sorted);
	for (size_t i = lower; i < upper; i++) {
		const uint8_t *id = ne->set->items[i].id;

		if (!ids_contains(&sorted, id))
			rc = ids_add(have, id);
		else
			rc = ids_add(&ours, id);
		if (rc != 0)
			goto out;
	}
	ids_sort_unique(&ours);
	for (size_t i = 0; i < sorted.count; i++)
		if (!ids_contains(&ours, sorted.id[i]) && (rc = ids_add(need, sorted.id[i])) != 0)
			goto out;
out:
	negentropy_ids_free(&sorted);
	negentropy_ids_free(&ours);
	return rc;
}

/* Skipped ranges are merged and written only before a range that says something. */
static void flush_skip(struct negentropy *ne, struct buf *o, bool *skip, const struct bound *prev)
{
	if (!*skip)
		return;
	*skip = false;
	put_bound(ne, o, prev);
	buf_varint(o, MODE_SKIP);
}

/*
 * Responder, an id list received for [lower, upper) up to curr: o (holding a pending
 * skip, if any) and our ids for the range go to full, as many ids as the frame limit
 * lets through; the range then ends before the first id left out, which the closing
 * fingerprint covers. (As the reference: the ids count against the limit, the pending
 * skip does not; the margin has room for it.) Returns the new upper.
 */
static size_t answer_ids(struct negentropy *ne, struct buf *full, struct buf *o, size_t lower,
			 size_t upper, const struct bound *curr)
{
	const struct negentropy_set *set = ne->set;
	struct bound end = *curr;
	size_t sent = lower;

	while (sent < upper && !exceeded(ne, full->len + (sent - lower) * NEGENTROPY_ID_SIZE))
		sent++;
	if (sent < upper) {
		item_bound(&set->items[sent], &end);
		upper = sent;
	}
	put_bound(ne, o, &end);
	buf_varint(o, MODE_IDLIST);
	buf_varint(o, upper - lower);
	for (size_t i = lower; i < upper; i++)
		buf_put(o, set->items[i].id, NEGENTROPY_ID_SIZE);
	buf_put(full, o->p, o->len);
	o->len = 0;
	return upper;
}

/*
 * One message in, one out: the reference's reconcileAux. have and need are only
 * touched by the initiator.
 */
static int process(struct negentropy *ne, const uint8_t *in, size_t in_len, struct buf *full,
		   struct negentropy_ids *have, struct negentropy_ids *need)
{
	const struct negentropy_set *set = ne->set;
	struct reader r = { in, in_len };
	struct bound prev_bound = { 0 }, curr;
	struct buf o = { 0 };
	size_t prev_index = 0, written_index = 0;
	bool skip = false;
	const uint8_t *version;
	int rc;

	ne->last_in = ne->last_out = 0;
	buf_byte(full, NEGENTROPY_PROTOCOL_VERSION);
	if ((rc = read_bytes(&r, 1, &version)) != 0)
		goto out;
	if (*version < 0x60 || *version > 0x6f) {
		rc = -EBADMSG;
		goto out;
	}
	if (*version != NEGENTROPY_PROTOCOL_VERSION) {
		/* a responder names its version so that the initiator may downgrade */
		rc = ne->role == ROLE_INITIATOR ? -EPROTO : 0;
		goto out;
	}
	while (r.len > 0) {
		uint8_t fp[NEGENTROPY_FINGERPRINT_SIZE];
		const uint8_t *theirs;
		uint64_t mode, count;
		size_t lower, upper;

		o.len = 0;
		/* Nothing may follow the range that reaches infinity, and ranges ascend. */
		if (prev_bound.timestamp == NEGENTROPY_TIMESTAMP_MAX) {
			rc = -EBADMSG;
			goto out;
		}
		if ((rc = read_bound(ne, &r, &curr)) != 0 || (rc = read_varint(&r, &mode)) != 0)
			goto out;
		if (bound_cmp(&curr, &prev_bound) < 0) {
			rc = -EBADMSG;
			goto out;
		}
		lower = prev_index;
		upper = lower_bound(set, prev_index, &curr);

		switch (mode) {
		case MODE_SKIP:
			skip = true;
			break;
		case MODE_FINGERPRINT:
			if ((rc = read_bytes(&r, NEGENTROPY_FINGERPRINT_SIZE, &theirs)) != 0)
				goto out;
			fingerprint(set, lower, upper, fp);
			if (memcmp(theirs, fp, sizeof(fp)) == 0) {
				skip = true;
				break;
			}
			flush_skip(ne, &o, &skip, &prev_bound);
			split_range(ne, &o, lower, upper, &curr);
			break;
		case MODE_IDLIST:
			if ((rc = read_varint(&r, &count)) != 0)
				goto out;
			if (count > r.len / NEGENTROPY_ID_SIZE) {
				rc = -EBADMSG;
				goto out;
			}
			if ((rc = read_bytes(&r, (size_t)count * NEGENTROPY_ID_SIZE, &theirs)) != 0)
				goto out;
			if (ne->role == ROLE_INITIATOR) {
				rc = compare_ids(ne, theirs, (size_t)count, lower, upper, have,
						 need);
				if (rc != 0)
					goto out;
				skip = true;
				break;
			}
			flush_skip(ne, &o, &skip, &prev_bound);
			upper = answer_ids(ne, full, &o, lower, upper, &curr);
			written_index = upper;
			break;
		default:
			rc = -EBADMSG;
			goto out;
		}

		if (exceeded(ne, full->len + o.len)) {
			/* The rest of this message is left for the next round: close with the
			 * fingerprint of everything after the last range written (the
			 * reference starts at this range's end, leaving out a skipped range
			 * and this one; see negentropy_ref.py). */
			struct bound inf = { .timestamp = NEGENTROPY_TIMESTAMP_MAX };

			fingerprint(set, written_index, set->n, fp);
			put_bound(ne, full, &inf);
			buf_varint(full, MODE_FINGERPRINT);
			buf_put(full, fp, sizeof(fp));
			break;
		}
		if (o.len > 0) {
			buf_put(full, o.p, o.len);
			written_index = upper;
		}
		prev_index = upper;
		prev_bound = curr;
	}
	rc = 0;
out:
	free(o.p);
	if (rc == 0 && (o.failed || full->failed))
		rc = -ENOMEM;
	return rc;
}

static int initiate(struct negentropy *ne, bool one_fingerprint, uint8_t **msg, size_t *len)
{
	struct bound inf = { .timestamp = NEGENTROPY_TIMESTAMP_MAX };
	struct buf b = { 0 };

	if (ne->role != ROLE_NONE)
		return -EINVAL;
	ne->last_out = 0;
	buf_byte(&b, NEGENTROPY_PROTOCOL_VERSION);
	if (one_fingerprint) {
		uint8_t fp[NEGENTROPY_FINGERPRINT_SIZE];

		fingerprint(ne->set, 0, ne->set->n, fp);
		put_bound(ne, &b, &inf);
		buf_varint(&b, MODE_FINGERPRINT);
		buf_put(&b, fp, sizeof(fp));
	} else {
		split_range(ne, &b, 0, ne->set->n, &inf);
	}
	if (b.failed) {
		free(b.p);
		return -ENOMEM;
	}
	ne->role = ROLE_INITIATOR;
	*msg = b.p;
	*len = b.len;
	return 0;
}

int negentropy_initiate(struct negentropy *ne, uint8_t **msg, size_t *len)
{
	return initiate(ne, false, msg, len);
}

int negentropy_initiate_fingerprint(struct negentropy *ne, uint8_t **msg, size_t *len)
{
	return initiate(ne, true, msg, len);
}

int negentropy_reconcile(struct negentropy *ne, const uint8_t *in, size_t in_len, uint8_t **msg,
			 size_t *len, struct negentropy_ids *have, struct negentropy_ids *need)
{
	struct negentropy_ids found_have = { 0 }, found_need = { 0 };
	size_t have_before = have->count;
	struct buf b = { 0 };
	int rc;

	if (ne->role != ROLE_INITIATOR)
		return -EINVAL;
	if ((rc = process(ne, in, in_len, &b, &found_have, &found_need)) != 0)
		goto out;
	ids_sort_unique(&found_have);
	ids_sort_unique(&found_need);
	if ((rc = report(ne, &found_have, have)) != 0)
		goto out;
	if ((rc = report(ne, &found_need, need)) != 0) {
		/* the haves just added are forgotten by the caller's list, not by seen:
		 * the session is dead after an error anyway */
		have->count = have_before;
		goto out;
	}
	if (b.len == 1) { /* only the version byte: nothing left to ask */
		free(b.p);
		*msg = NULL;
		*len = 0;
	} else {
		*msg = b.p;
		*len = b.len;
	}
	b.p = NULL;
out:
	free(b.p);
	negentropy_ids_free(&found_have);
	negentropy_ids_free(&found_need);
	return rc;
}

int negentropy_respond(struct negentropy *ne, const uint8_t *in, size_t in_len, uint8_t **msg,
		       size_t *len)
{
	struct buf b = { 0 };
	int rc;

	if (ne->role == ROLE_INITIATOR)
		return -EINVAL;
	ne->role = ROLE_RESPONDER;
	if ((rc = process(ne, in, in_len, &b, NULL, NULL)) != 0) {
		free(b.p);
		return rc;
	}
	*msg = b.p;
	*len = b.len;
	return 0;
}
