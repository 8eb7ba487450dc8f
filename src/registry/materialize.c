/*
 * materialize.c: the CRDT conflict rules of doc/records.md over arrays: which CERTs
 * are active, which ENDPOINTS each active host publishes, which RECORDs are live, which
 * OBSERVEs each active host has, and an alert sentence for every conflict. Pure and deterministic: every choice is made
 * by sorting on record content, never by array position; no sqlite, no clock, no I/O.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "registry/materialize.h"

#define RECORD_KEY_CONTEXT "meshname-record-key"

/* The five uniqueness keys a CERT competes on. */
enum cert_key { CK_NAME, CK_IPV4, CK_IPV6, CK_HOST_KEY, CK_WG_KEY, CK_COUNT };

struct alerts {
	char **v;
	size_t n, cap;
	bool failed;
};

struct sort_ctx {
	const struct mat_input *in;
	enum cert_key key;
};

void mat_hex_prefix(const uint8_t *p, char out[17])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < 8; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[16] = '\0';
}

void mat_record_key(const struct rec_record *rr, uint8_t key[REC_ID_SIZE])
{
	crypto_generichash_state st;
	uint8_t owner_len = (uint8_t)strlen(rr->owner);
	uint8_t rrtype[2] = { (uint8_t)(rr->rrtype >> 8), (uint8_t)rr->rrtype };
	uint8_t rdlen[2] = { (uint8_t)(rr->rdlen >> 8), (uint8_t)rr->rdlen };

	/* Lengths are hashed too, so no two (owner, rrtype, rdata) share an input. */
	crypto_generichash_init(&st, NULL, 0, REC_ID_SIZE);
	crypto_generichash_update(&st, (const uint8_t *)RECORD_KEY_CONTEXT,
				  sizeof(RECORD_KEY_CONTEXT) - 1);
	crypto_generichash_update(&st, &owner_len, 1);
	crypto_generichash_update(&st, (const uint8_t *)rr->owner, owner_len);
	crypto_generichash_update(&st, rrtype, sizeof(rrtype));
	crypto_generichash_update(&st, rdlen, sizeof(rdlen));
	crypto_generichash_update(&st, rr->rdata, rr->rdlen);
	crypto_generichash_final(&st, key, REC_ID_SIZE);
}

static void alert_add(struct alerts *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void alert_add(struct alerts *a, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	if (a->failed)
		return;
	if (a->n == a->cap) {
		size_t cap = a->cap != 0 ? 2 * a->cap : 16;
		char **v = realloc(a->v, cap * sizeof(*v));

		if (v == NULL) {
			a->failed = true;
			return;
		}
		a->v = v;
		a->cap = cap;
	}
	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		a->failed = true;
		return;
	}
	a->v[a->n++] = s;
}

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Highest serial, then later not-before, then lower id: < 0 if a ranks first. */
static int cert_rank(const struct mat_cert *a, const struct mat_cert *b)
{
	if (a->serial != b->serial)
		return a->serial > b->serial ? -1 : 1;
	if (a->not_before != b->not_before)
		return a->not_before > b->not_before ? -1 : 1;
	return memcmp(a->id, b->id, REC_ID_SIZE);
}

static int cert_key_cmp(const struct mat_cert *a, const struct mat_cert *b, enum cert_key key)
{
	switch (key) {
	case CK_NAME:
		return strcmp(a->name, b->name);
	case CK_IPV4:
		return memcmp(a->ipv4, b->ipv4, sizeof(a->ipv4));
	case CK_IPV6:
		return memcmp(a->ipv6, b->ipv6, sizeof(a->ipv6));
	case CK_HOST_KEY:
		return memcmp(a->host_key, b->host_key, REC_KEY_SIZE);
	case CK_WG_KEY:
	default:
		return memcmp(a->wg_key, b->wg_key, REC_KEY_SIZE);
	}
}

static int cmp_cert_by_key(const void *pa, const void *pb, void *arg)
{
	const struct sort_ctx *ctx = arg;
	const struct mat_cert *a = &ctx->in->certs[*(const size_t *)pa];
	const struct mat_cert *b = &ctx->in->certs[*(const size_t *)pb];
	int c = cert_key_cmp(a, b, ctx->key);

	return c != 0 ? c : cert_rank(a, b);
}

/* Admission-key CERTs by signer, then id: the first of each signer is its only one. */
static int cmp_cert_by_signer(const void *pa, const void *pb, void *arg)
{
	const struct mat_input *in = arg;
	const struct mat_cert *a = &in->certs[*(const size_t *)pa];
	const struct mat_cert *b = &in->certs[*(const size_t *)pb];
	int c = memcmp(a->signer, b->signer, REC_KEY_SIZE);

	return c != 0 ? c : memcmp(a->id, b->id, REC_ID_SIZE);
}

static int cmp_cert_by_name(const void *pa, const void *pb, void *arg)
{
	const struct mat_input *in = arg;

	return strcmp(in->certs[*(const size_t *)pa].name, in->certs[*(const size_t *)pb].name);
}

static int cmp_cert_by_host_key(const void *pa, const void *pb, void *arg)
{
	const struct mat_input *in = arg;

	return memcmp(in->certs[*(const size_t *)pa].host_key,
		      in->certs[*(const size_t *)pb].host_key, REC_KEY_SIZE);
}

/* ENDPOINTS by host key, then highest seq, then lower id. */
static int cmp_eps(const void *pa, const void *pb, void *arg)
{
	const struct mat_input *in = arg;
	const struct mat_endpoints *a = &in->endpoints[*(const size_t *)pa];
	const struct mat_endpoints *b = &in->endpoints[*(const size_t *)pb];
	int c = memcmp(a->host_key, b->host_key, REC_KEY_SIZE);

	if (c != 0)
		return c;
	if (a->seq != b->seq)
		return a->seq > b->seq ? -1 : 1;
	return memcmp(a->id, b->id, REC_ID_SIZE);
}

/* RECORDs by key, then highest seq, then lower id. */
static int cmp_records(const void *pa, const void *pb, void *arg)
{
	const struct mat_input *in = arg;
	const struct mat_record *a = &in->records[*(const size_t *)pa];
	const struct mat_record *b = &in->records[*(const size_t *)pb];
	int c = memcmp(a->key, b->key, REC_ID_SIZE);

	if (c != 0)
		return c;
	if (a->seq != b->seq)
		return a->seq > b->seq ? -1 : 1;
	return memcmp(a->id, b->id, REC_ID_SIZE);
}

/* (owner, rrtype, rdata) as sqlite orders TEXT and BLOB: bytes, then length. */
static int cmp_rrs(const void *pa, const void *pb, void *arg)
{
	const struct mat_input *in = arg;
	const struct mat_record *a = &in->records[*(const size_t *)pa];
	const struct mat_record *b = &in->records[*(const size_t *)pb];
	size_t n = a->rdlen < b->rdlen ? a->rdlen : b->rdlen;
	int c = strcmp(a->owner, b->owner);

	if (c != 0)
		return c;
	if (a->rrtype != b->rrtype)
		return a->rrtype < b->rrtype ? -1 : 1;
	c = n != 0 ? memcmp(a->rdata, b->rdata, n) : 0;
	if (c != 0)
		return c;
	return a->rdlen == b->rdlen ? 0 : (a->rdlen < b->rdlen ? -1 : 1);
}

static void describe_key(const struct mat_cert *c, enum cert_key key, char *out, size_t size)
{
	char hex[17], v6[INET6_ADDRSTRLEN];

	switch (key) {
	case CK_NAME:
		snprintf(out, size, "name %s", c->name);
		break;
	case CK_IPV4:
		snprintf(out, size, "address %u.%u.%u.%u", c->ipv4[0], c->ipv4[1], c->ipv4[2],
			 c->ipv4[3]);
		break;
	case CK_IPV6:
		if (inet_ntop(AF_INET6, c->ipv6, v6, sizeof(v6)) == NULL)
			snprintf(v6, sizeof(v6), "?");
		snprintf(out, size, "address %s", v6);
		break;
	case CK_HOST_KEY:
		mat_hex_prefix(c->host_key, hex);
		snprintf(out, size, "host key %s", hex);
		break;
	case CK_WG_KEY:
	default:
		mat_hex_prefix(c->wg_key, hex);
		snprintf(out, size, "WireGuard key %s", hex);
		break;
	}
}

/*
 * Marks out admission-key CERTs that are not the lowest id of their signer: they are
 * never candidates. Decided over every stored CERT, expired or not, so that the
 * answer does not depend on the clock as well as on the set.
 */
static int admission_rule(const struct mat_input *in, bool *excluded, struct alerts *alerts)
{
	size_t *v, n = 0;
	char key_hex[17], win_hex[17], lose_hex[17];

	v = malloc((in->n_certs + 1) * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < in->n_certs; i++)
		if (!in->certs[i].by_admin)
			v[n++] = i;
	qsort_r(v, n, sizeof(*v), cmp_cert_by_signer, (void *)(uintptr_t)in);
	for (size_t i = 1, f = 0; i < n; i++) {
		const struct mat_cert *first = &in->certs[v[f]];

		if (memcmp(first->signer, in->certs[v[i]].signer, REC_KEY_SIZE) != 0) {
			f = i;
			continue;
		}
		excluded[v[i]] = true;
		mat_hex_prefix(first->signer, key_hex);
		mat_hex_prefix(first->id, win_hex);
		mat_hex_prefix(in->certs[v[i]].id, lose_hex);
		alert_add(alerts,
			  "admission key %s signed more than one certificate; %s (%s) counts, "
			  "%s (%s) is ignored",
			  key_hex, win_hex, first->name, lose_hex, in->certs[v[i]].name);
	}
	free(v);
	return 0;
}

/* The five-key rule: a candidate is active only if it wins on every key. */
static int five_key_rule(const struct mat_input *in, const size_t *cand, size_t n_cand, bool *lost,
			 struct alerts *alerts)
{
	struct sort_ctx ctx = { .in = in };
	size_t *v;
	char what[96], win_hex[17], lose_hex[17];

	v = malloc((n_cand + 1) * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	for (int k = 0; k < CK_COUNT; k++) {
		size_t first = 0;

		ctx.key = (enum cert_key)k;
		memcpy(v, cand, n_cand * sizeof(*v));
		qsort_r(v, n_cand, sizeof(*v), cmp_cert_by_key, &ctx);
		for (size_t i = 1; i < n_cand; i++) {
			const struct mat_cert *w = &in->certs[v[first]];
			const struct mat_cert *c = &in->certs[v[i]];

			if (cert_key_cmp(w, c, ctx.key) != 0) {
				first = i;
				continue;
			}
			lost[v[i]] = true;
			/* An older cert of the same host is the normal course of renewal. */
			if (memcmp(w->host_key, c->host_key, REC_KEY_SIZE) == 0)
				continue;
			describe_key(c, ctx.key, what, sizeof(what));
			mat_hex_prefix(w->id, win_hex);
			mat_hex_prefix(c->id, lose_hex);
			alert_add(alerts,
				  "%s is claimed by two certificates; %s (%s) wins over %s (%s)",
				  what, win_hex, w->name, lose_hex, c->name);
		}
	}
	free(v);
	return 0;
}

static void note_expiry(uint64_t *until, uint64_t now, uint64_t expires_at)
{
	if (expires_at > now && expires_at < *until)
		*until = expires_at;
}

/* Index of the first element of sorted v (by cmp on host key) equal to key, or n. */
static size_t find_eps(const struct mat_input *in, const size_t *v, size_t n, const uint8_t *key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(in->endpoints[v[mid]].host_key, key, REC_KEY_SIZE) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < n && memcmp(in->endpoints[v[lo]].host_key, key, REC_KEY_SIZE) == 0)
		return lo;
	return n;
}

/* The active host whose host key is key, from by_key sorted by host key, or NULL. */
static const struct mat_cert *find_host(const struct mat_input *in, const size_t *by_key, size_t n,
					const uint8_t *key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(in->certs[by_key[mid]].host_key, key, REC_KEY_SIZE);

		if (c == 0)
			return &in->certs[by_key[mid]];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* A host may publish records at its own name and below it. */
static bool owner_under(const char *owner, const char *name)
{
	size_t lo = strlen(owner), ln = strlen(name);

	if (lo == ln)
		return strcmp(owner, name) == 0;
	return lo > ln + 1 && owner[lo - ln - 1] == '.' && strcmp(owner + lo - ln, name) == 0;
}

static int choose_endpoints(const struct mat_input *in, struct mat_output *out,
			    struct alerts *alerts)
{
	size_t *v, n = 0;
	char key_hex[17], win_hex[17], lose_hex[17];

	v = malloc((in->n_endpoints + 1) * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < in->n_endpoints; i++) {
		if (in->endpoints[i].expires_at > in->now) {
			v[n++] = i;
			note_expiry(&out->valid_until, in->now, in->endpoints[i].expires_at);
		}
	}
	qsort_r(v, n, sizeof(*v), cmp_eps, (void *)(uintptr_t)in);
	for (size_t i = 1, w = 0; i < n; i++) {
		const struct mat_endpoints *a = &in->endpoints[v[w]];
		const struct mat_endpoints *b = &in->endpoints[v[i]];

		if (memcmp(a->host_key, b->host_key, REC_KEY_SIZE) != 0 || a->seq != b->seq) {
			w = i; /* the first (winning) ENDPOINTS of its (host key, seq) */
			continue;
		}
		mat_hex_prefix(b->host_key, key_hex);
		mat_hex_prefix(a->id, win_hex);
		mat_hex_prefix(b->id, lose_hex);
		alert_add(alerts,
			  "host key %s signed two different ENDPOINTS with sequence %llu; %s wins "
			  "over %s",
			  key_hex, (unsigned long long)b->seq, win_hex, lose_hex);
	}
	for (size_t h = 0; h < out->n_hosts; h++) {
		size_t at = find_eps(in, v, n, in->certs[out->hosts[h]].host_key);

		out->host_eps[h] = at < n ? (ptrdiff_t)v[at] : -1;
	}
	free(v);
	return 0;
}

static int choose_records(const struct mat_input *in, struct mat_output *out)
{
	size_t *v = NULL, *by_key = NULL, n = 0;
	int r = -ENOMEM;

	v = malloc((in->n_records + 1) * sizeof(*v));
	by_key = malloc((out->n_hosts + 1) * sizeof(*by_key));
	out->rrs = malloc((in->n_records + 1) * sizeof(*out->rrs));
	if (v == NULL || by_key == NULL || out->rrs == NULL)
		goto out;
	memcpy(by_key, out->hosts, out->n_hosts * sizeof(*by_key));
	qsort_r(by_key, out->n_hosts, sizeof(*by_key), cmp_cert_by_host_key, (void *)(uintptr_t)in);

	for (size_t i = 0; i < in->n_records; i++)
		v[n++] = i;
	qsort_r(v, n, sizeof(*v), cmp_records, (void *)(uintptr_t)in);
	for (size_t i = 0; i < n; i++) {
		const struct mat_record *rr = &in->records[v[i]];
		const struct mat_cert *host;

		if (i > 0 && memcmp(in->records[v[i - 1]].key, rr->key, REC_ID_SIZE) == 0)
			continue; /* only the first of each key counts */
		note_expiry(&out->valid_until, in->now, rr->expires_at);
		if (rr->op != REC_OP_ADD || rr->expires_at <= in->now)
			continue;
		if (!rr->by_admin) {
			/* Only while the signer is the active holder of the name. */
			host = find_host(in, by_key, out->n_hosts, rr->signer);
			if (host == NULL || !owner_under(rr->owner, host->name))
				continue;
		}
		out->rrs[out->n_rrs++] = v[i];
	}
	qsort_r(out->rrs, out->n_rrs, sizeof(*out->rrs), cmp_rrs, (void *)(uintptr_t)in);
	r = 0;
out:
	free(v);
	free(by_key);
	return r;
}

/* OBSERVEs by subject, observer, then highest seq, then lower id. */
static int cmp_observes(const void *pa, const void *pb, void *arg)
{
	const struct mat_input *in = arg;
	const struct mat_observe *a = &in->observes[*(const size_t *)pa];
	const struct mat_observe *b = &in->observes[*(const size_t *)pb];
	int c = memcmp(a->subject, b->subject, REC_KEY_SIZE);

	if (c == 0)
		c = memcmp(a->observer, b->observer, REC_KEY_SIZE);
	if (c != 0)
		return c;
	if (a->seq != b->seq)
		return a->seq > b->seq ? -1 : 1;
	return memcmp(a->id, b->id, REC_ID_SIZE);
}

/* The observations of one subject: newest issued_at first, then observer key. */
static int cmp_observes_newest(const void *pa, const void *pb, void *arg)
{
	const struct mat_input *in = arg;
	const struct mat_observe *a = &in->observes[*(const size_t *)pa];
	const struct mat_observe *b = &in->observes[*(const size_t *)pb];

	if (a->issued_at != b->issued_at)
		return a->issued_at > b->issued_at ? -1 : 1;
	return memcmp(a->observer, b->observer, REC_KEY_SIZE);
}

/* An active host's host key and its position in name order. */
struct host_pos {
	const uint8_t *key;
	size_t h;
};

static int cmp_host_pos(const void *pa, const void *pb)
{
	return memcmp(((const struct host_pos *)pa)->key, ((const struct host_pos *)pb)->key,
		      REC_KEY_SIZE);
}

/* The position of the active host whose host key is key, or SIZE_MAX. */
static size_t host_position(const struct host_pos *hp, size_t n, const uint8_t *key)
{
	struct host_pos probe = { .key = key };
	const struct host_pos *found = bsearch(&probe, hp, n, sizeof(*hp), cmp_host_pos);

	return found != NULL ? found->h : SIZE_MAX;
}

/*
 * The observations each active host keeps in the view: per (observer, subject) the
 * highest seq, then the lower id (same seq with other content: equivocation, an
 * alert), unexpired, both ends active and distinct; per subject the newest
 * MAT_MAX_OBSERVATIONS of those.
 */
static int choose_observations(const struct mat_input *in, struct mat_output *out,
			       struct alerts *alerts)
{
	struct host_pos *hp = NULL;
	size_t *v = NULL, *start = NULL, n = 0, n_win = 0;
	char key_hex[17], subj_hex[17], win_hex[17], lose_hex[17];
	int r = -ENOMEM;

	v = malloc((in->n_observes + 1) * sizeof(*v));
	hp = malloc((out->n_hosts + 1) * sizeof(*hp));
	start = malloc((out->n_hosts + 1) * sizeof(*start));
	out->obs_first = calloc(out->n_hosts + 1, sizeof(*out->obs_first));
	out->obs = malloc((in->n_observes + 1) * sizeof(*out->obs));
	if (v == NULL || hp == NULL || start == NULL || out->obs_first == NULL || out->obs == NULL)
		goto out;
	for (size_t h = 0; h < out->n_hosts; h++) {
		hp[h].key = in->certs[out->hosts[h]].host_key;
		hp[h].h = h;
	}
	qsort(hp, out->n_hosts, sizeof(*hp), cmp_host_pos);

	for (size_t i = 0; i < in->n_observes; i++) {
		if (in->observes[i].expires_at > in->now) {
			v[n++] = i;
			note_expiry(&out->valid_until, in->now, in->observes[i].expires_at);
		}
	}
	qsort_r(v, n, sizeof(*v), cmp_observes, (void *)(uintptr_t)in);
	for (size_t i = 0, w = 0; i < n; i++) {
		const struct mat_observe *o = &in->observes[v[i]];
		const struct mat_observe *first = &in->observes[v[w]];

		if (i > 0 && memcmp(first->subject, o->subject, REC_KEY_SIZE) == 0 &&
		    memcmp(first->observer, o->observer, REC_KEY_SIZE) == 0) {
			if (first->seq == o->seq) {
				mat_hex_prefix(o->observer, key_hex);
				mat_hex_prefix(o->subject, subj_hex);
				mat_hex_prefix(first->id, win_hex);
				mat_hex_prefix(o->id, lose_hex);
				alert_add(alerts,
					  "host key %s signed two different OBSERVE records about "
					  "host key %s with sequence %llu; %s wins over %s",
					  key_hex, subj_hex, (unsigned long long)o->seq, win_hex,
					  lose_hex);
			}
			continue; /* only the first of each (subject, observer) counts */
		}
		w = i;
		if (memcmp(o->subject, o->observer, REC_KEY_SIZE) == 0 ||
		    host_position(hp, out->n_hosts, o->observer) == SIZE_MAX ||
		    host_position(hp, out->n_hosts, o->subject) == SIZE_MAX)
			continue;
		v[n_win++] = v[i];
	}
	/* The winners are grouped by subject: newest first, capped, placed in host order. */
	for (size_t i = 0, j; i < n_win; i = j) {
		const uint8_t *subject = in->observes[v[i]].subject;
		size_t h = host_position(hp, out->n_hosts, subject);

		for (j = i + 1;
		     j < n_win && memcmp(in->observes[v[j]].subject, subject, REC_KEY_SIZE) == 0;
		     j++)
			;
		qsort_r(v + i, j - i, sizeof(*v), cmp_observes_newest, (void *)(uintptr_t)in);
		/* A count for now, made an offset below. */
		out->obs_first[h + 1] = j - i < MAT_MAX_OBSERVATIONS ? j - i : MAT_MAX_OBSERVATIONS;
		start[h] = i;
	}
	for (size_t h = 0; h < out->n_hosts; h++) {
		size_t count = out->obs_first[h + 1];

		out->obs_first[h + 1] = out->obs_first[h] + count;
		for (size_t k = 0; k < count; k++)
			out->obs[out->obs_first[h] + k] = v[start[h] + k];
	}
	r = 0;
out:
	free(v);
	free(hp);
	free(start);
	return r;
}

/* Sorts the alerts and drops repeats, so the output does not depend on input order. */
static void alerts_finish(struct alerts *a, struct mat_output *out)
{
	size_t n = 0;

	if (a->n > 1)
		qsort(a->v, a->n, sizeof(*a->v), cmp_str_ptr);
	for (size_t i = 0; i < a->n; i++) {
		if (n > 0 && strcmp(a->v[n - 1], a->v[i]) == 0) {
			free(a->v[i]);
			continue;
		}
		a->v[n++] = a->v[i];
	}
	out->alerts = a->v;
	out->n_alerts = n;
	a->v = NULL;
	a->n = a->cap = 0;
}

int mat_compute(const struct mat_input *in, struct mat_output *out)
{
	struct alerts alerts = { 0 };
	bool *excluded = NULL, *lost = NULL;
	size_t *cand = NULL, n_cand = 0;
	int r = -ENOMEM;

	memset(out, 0, sizeof(*out));
	out->valid_until = UINT64_MAX;
	excluded = calloc(in->n_certs + 1, sizeof(*excluded));
	lost = calloc(in->n_certs + 1, sizeof(*lost));
	cand = malloc((in->n_certs + 1) * sizeof(*cand));
	out->hosts = malloc((in->n_certs + 1) * sizeof(*out->hosts));
	out->host_eps = malloc((in->n_certs + 1) * sizeof(*out->host_eps));
	if (excluded == NULL || lost == NULL || cand == NULL || out->hosts == NULL ||
	    out->host_eps == NULL)
		goto out;

	r = admission_rule(in, excluded, &alerts);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < in->n_certs; i++) {
		if (excluded[i] || in->certs[i].not_after <= in->now)
			continue;
		cand[n_cand++] = i;
		note_expiry(&out->valid_until, in->now, in->certs[i].not_after);
	}
	r = five_key_rule(in, cand, n_cand, lost, &alerts);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < n_cand; i++)
		if (!lost[cand[i]])
			out->hosts[out->n_hosts++] = cand[i];
	qsort_r(out->hosts, out->n_hosts, sizeof(*out->hosts), cmp_cert_by_name,
		(void *)(uintptr_t)in);

	r = choose_endpoints(in, out, &alerts);
	if (r == 0)
		r = choose_records(in, out);
	if (r == 0)
		r = choose_observations(in, out, &alerts);
	if (r == 0 && alerts.failed)
		r = -ENOMEM;
	if (r == 0)
		alerts_finish(&alerts, out);
out:
	for (size_t i = 0; i < alerts.n; i++)
		free(alerts.v[i]);
	free(alerts.v);
	free(excluded);
	free(lost);
	free(cand);
	if (r < 0)
		mat_output_free(out);
	return r;
}

void mat_output_free(struct mat_output *out)
{
	free(out->hosts);
	free(out->host_eps);
	free(out->rrs);
	free(out->obs_first);
	free(out->obs);
	for (size_t i = 0; i < out->n_alerts; i++)
		free(out->alerts[i]);
	free(out->alerts);
	memset(out, 0, sizeof(*out));
}

void mat_input_free(struct mat_input *in)
{
	for (size_t i = 0; i < in->n_certs; i++)
		free(in->certs[i].groups);
	for (size_t i = 0; i < in->n_records; i++) {
		free(in->records[i].owner);
		free(in->records[i].rdata);
	}
	free(in->certs);
	free(in->endpoints);
	free(in->records);
	free(in->observes);
	memset(in, 0, sizeof(*in));
}
