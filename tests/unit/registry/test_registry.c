/*
 * test_registry.c: the registry engine through include/meshname/registry.h: the
 * validation order and its error codes, the conflict rules as a reader of the
 * snapshot sees them, pending records, revocation, allocation, batches, a full disk,
 * and order independence. Fixed keys, a fixed clock, registries in mkdtemp dirs.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "fixtures.h"
#include "meshname/registry.h"
#include "meshname/snapshot.h"
#include "registry/store.h" /* store_test_max_pages: the full-disk hook */

#define NOW ((uint64_t)FIXTURE_NOW)
#define DAY ((uint64_t)FIXTURE_DAY)

/* Key numbers: fixture_key(n) is the same key on every run. */
#define K_ADMIN 1
#define K_OTHER_ADMIN 2
#define K_HOST 10 /* hosts are K_HOST + i */
#define K_ADMISSION 60

struct fx {
	char dir[64];
	char path[96];
	struct registry *reg;
	uint8_t admin[REC_SECRET_SIZE];
	uint8_t mesh_id[REC_ID_SIZE];
	struct rec root;
};

/* ---- helpers -------------------------------------------------------------------------- */

static void fx_paths(struct fx *f, const char *base)
{
	snprintf(f->dir, sizeof(f->dir), "%s/meshname-reg-XXXXXX", base);
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/registry.db", f->dir);
}

static void fx_remove(struct fx *f)
{
	char p[128];
	static const char *const suffix[] = { "", "-wal", "-shm", "-journal" };

	for (size_t i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s%s", f->path, suffix[i]);
		unlink(p);
	}
	assert_int_equal(rmdir(f->dir), 0);
}

static size_t sign(struct rec *r, const uint8_t *sk, uint8_t *buf)
{
	size_t len = 0;

	assert_int_equal(rec_sign(r, sk, buf, REC_MAX_SIZE, &len), 0);
	return len;
}

/* A fresh registry with the fixture ROOT under base (a directory). */
static struct fx *fx_new_in(const char *base)
{
	struct fx *f = calloc(1, sizeof(*f));
	uint8_t buf[REC_MAX_SIZE];
	size_t len;

	assert_non_null(f);
	fx_paths(f, base);
	assert_int_equal(registry_open(f->path, &f->reg), 0);
	fixture_key(K_ADMIN, f->admin);
	fixture_root(&f->root, f->admin);
	len = sign(&f->root, f->admin, buf);
	assert_int_equal(registry_create(f->reg, buf, len, NOW), 0);
	rec_id(buf, len, f->mesh_id);
	return f;
}

static struct fx *fx_new(void)
{
	return fx_new_in("/tmp");
}

static int setup(void **state)
{
	*state = fx_new();
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	registry_close(f->reg);
	fx_remove(f);
	free(f);
	return 0;
}

/* Signs r with sk and ingests it at now: the return code, and *res if given. */
static int ingest_at(struct fx *f, struct rec *r, const uint8_t *sk, uint64_t now,
		     enum ingest_result *res)
{
	uint8_t buf[REC_MAX_SIZE];
	enum ingest_result dummy;
	size_t len = sign(r, sk, buf);

	return registry_ingest(f->reg, buf, len, now, res != NULL ? res : &dummy);
}

static int ingest(struct fx *f, struct rec *r, const uint8_t *sk, enum ingest_result *res)
{
	return ingest_at(f, r, sk, NOW, res);
}

static void host_key(int i, uint8_t sk[REC_SECRET_SIZE])
{
	fixture_key(K_HOST + i, sk);
}

/* CERT for host i named name at 100.70.0.octet, signed by the admin. */
static void cert(struct fx *f, struct rec *r, int i, const char *name, uint8_t octet)
{
	uint8_t sk[REC_SECRET_SIZE];

	host_key(i, sk);
	fixture_cert(r, f->mesh_id, name, sk, octet);
}

static void endpoints(struct fx *f, struct rec *r, uint64_t seq, uint16_t port, uint8_t last_octet)
{
	memset(r, 0, sizeof(*r));
	r->type = REC_ENDPOINTS;
	memcpy(r->mesh_id, f->mesh_id, REC_ID_SIZE);
	r->seq = seq;
	r->issued_at = NOW;
	r->expires_at = NOW + DAY;
	r->u.endpoints.listen_port = 51820;
	r->u.endpoints.n = 1;
	r->u.endpoints.ep[0].kind = EP_LAN;
	r->u.endpoints.ep[0].family = 4;
	r->u.endpoints.ep[0].addr[0] = 192;
	r->u.endpoints.ep[0].addr[1] = 168;
	r->u.endpoints.ep[0].addr[2] = 1;
	r->u.endpoints.ep[0].addr[3] = last_octet;
	r->u.endpoints.ep[0].port = port;
}

static void admit(struct fx *f, struct rec *r, const uint8_t *admission_sk, const char *name,
		  uint8_t octet)
{
	memset(r, 0, sizeof(*r));
	r->type = REC_ADMIT;
	memcpy(r->mesh_id, f->mesh_id, REC_ID_SIZE);
	r->seq = 1;
	r->issued_at = NOW;
	r->expires_at = NOW + DAY;
	memcpy(r->u.admit.admission_key, fixture_pk(admission_sk), REC_KEY_SIZE);
	snprintf(r->u.admit.name, sizeof(r->u.admit.name), "%s", name);
	r->u.admit.ipv4[0] = 100;
	r->u.admit.ipv4[1] = 70;
	r->u.admit.ipv4[3] = octet;
	r->u.admit.cert_lifetime = (uint32_t)DAY;
}

static void revoke_rec(struct fx *f, struct rec *r, const uint8_t *target, uint8_t octet)
{
	memset(r, 0, sizeof(*r));
	r->type = REC_REVOKE;
	memcpy(r->mesh_id, f->mesh_id, REC_ID_SIZE);
	r->seq = 1;
	r->issued_at = NOW;
	memcpy(r->u.revoke.target, target, REC_KEY_SIZE);
	if (octet != 0) {
		r->u.revoke.ipv4[0] = 100;
		r->u.revoke.ipv4[1] = 70;
		r->u.revoke.ipv4[3] = octet;
	}
}

/* A custom TXT record at owner whose text is one character-string. */
static void txt(struct fx *f, struct rec *r, uint8_t op, uint64_t seq, const char *owner,
		const char *text)
{
	size_t n = strlen(text);

	memset(r, 0, sizeof(*r));
	r->type = REC_RECORD;
	memcpy(r->mesh_id, f->mesh_id, REC_ID_SIZE);
	r->seq = seq;
	r->issued_at = NOW;
	r->expires_at = NOW + DAY;
	r->u.record.op = op;
	snprintf(r->u.record.owner, sizeof(r->u.record.owner), "%s", owner);
	r->u.record.rrtype = 16; /* TXT */
	r->u.record.ttl = 300;
	r->u.record.rdlen = (uint16_t)(n + 1);
	r->u.record.rdata[0] = (uint8_t)n;
	memcpy(r->u.record.rdata + 1, text, n);
}

static struct snapshot *snap(struct fx *f)
{
	struct snapshot *s = NULL;

	assert_int_equal(registry_snapshot(f->reg, &s), 0);
	return s;
}

static const struct snapshot_host *lookup(struct snapshot *s, const char *name)
{
	return snapshot_lookup_name(s, name, strlen(name));
}

static struct registry_counts counts(struct fx *f)
{
	struct registry_counts c;

	assert_int_equal(registry_counts(f->reg, &c), 0);
	return c;
}

struct alert_count {
	const char *want;
	int n;
};

static int count_alerts_cb(void *arg, uint64_t at, const char *message)
{
	struct alert_count *c = arg;

	assert_true(at >= NOW);
	if (c->want == NULL || strstr(message, c->want) != NULL)
		c->n++;
	return 0;
}

/* Number of alerts whose sentence contains want (all if NULL). */
static int alerts_with(struct fx *f, const char *want)
{
	struct alert_count c = { want, 0 };

	assert_int_equal(registry_foreach_alert(f->reg, count_alerts_cb, &c), 0);
	return c.n;
}

static void id_of(struct rec *r, const uint8_t *sk, uint8_t id[REC_ID_SIZE])
{
	uint8_t buf[REC_MAX_SIZE];
	size_t len = sign(r, sk, buf);

	rec_id(buf, len, id);
}

/* ---- basics ----------------------------------------------------------------------------- */

static void a_cert_signed_by_the_admin_makes_the_host_resolvable(void **state)
{
	struct fx *f = *state;
	struct rec r;
	enum ingest_result res;
	struct snapshot *s;
	const struct snapshot_host *h;

	cert(f, &r, 0, "nas", 5);
	assert_int_equal(ingest(f, &r, f->admin, &res), 0);
	assert_int_equal(res, INGEST_ACCEPTED);
	s = snap(f);
	h = lookup(s, "nas");
	assert_non_null(h);
	assert_int_equal(h->ipv4[3], 5);
	assert_memory_equal(h->host_key, r.u.cert.host_key, REC_KEY_SIZE);
	assert_int_equal(h->endpoints_seq, 0);
	snapshot_unref(s);
	assert_int_equal(counts(f).hosts, 1);
	assert_true(registry_name_taken(f->reg, NOW, "nas"));
	assert_false(registry_name_taken(f->reg, NOW, "laptop"));
}

static void the_same_record_twice_is_a_duplicate(void **state)
{
	struct fx *f = *state;
	struct rec r;
	enum ingest_result res;

	cert(f, &r, 0, "nas", 5);
	assert_int_equal(ingest(f, &r, f->admin, &res), 0);
	assert_int_equal(ingest(f, &r, f->admin, &res), 0);
	assert_int_equal(res, INGEST_DUPLICATE);
	assert_int_equal(counts(f).records, 2); /* the ROOT and the CERT */
}

static void the_root_sent_back_is_a_duplicate_and_another_root_is_another_mesh(void **state)
{
	struct fx *f = *state;
	uint8_t buf[REC_MAX_SIZE], other[REC_SECRET_SIZE];
	size_t len = sizeof(buf);
	enum ingest_result res;
	struct rec r;

	assert_int_equal(registry_root_raw(f->reg, buf, &len), 0);
	assert_int_equal(registry_ingest(f->reg, buf, len, NOW, &res), 0);
	assert_int_equal(res, INGEST_DUPLICATE);
	fixture_key(K_OTHER_ADMIN, other);
	fixture_root(&r, other);
	len = sign(&r, other, buf);
	assert_int_equal(registry_ingest(f->reg, buf, len, NOW, &res), -EXDEV);
	assert_int_equal(registry_create(f->reg, buf, len, NOW), -EEXIST);
}

static void a_registry_without_a_mesh_refuses_records(void **state)
{
	struct fx g;
	struct rec r;
	uint8_t buf[REC_MAX_SIZE], mesh_id[REC_ID_SIZE], admin[REC_SECRET_SIZE];
	enum ingest_result res;
	size_t len;

	(void)state;
	memset(&g, 0, sizeof(g));
	fx_paths(&g, "/tmp");
	assert_int_equal(registry_open(g.path, &g.reg), 0);
	assert_int_equal(registry_root(g.reg, NULL, mesh_id), -ENOENT);
	memset(mesh_id, 7, sizeof(mesh_id));
	fixture_key(K_HOST, admin);
	fixture_cert(&r, mesh_id, "nas", admin, 5);
	len = sign(&r, admin, buf);
	assert_int_equal(registry_ingest(g.reg, buf, len, NOW, &res), -ENOENT);

	/* A ROOT signed by a key that is not among its admins is no mesh. */
	fixture_key(K_ADMIN, admin);
	fixture_root(&r, admin);
	{
		uint8_t other[REC_SECRET_SIZE];

		fixture_key(K_OTHER_ADMIN, other);
		len = sign(&r, other, buf);
	}
	assert_int_equal(registry_create(g.reg, buf, len, NOW), -EPERM);
	/* Nor one whose signature is broken. */
	fixture_root(&r, admin);
	len = sign(&r, admin, buf);
	buf[len - 1] ^= 1;
	assert_int_equal(registry_create(g.reg, buf, len, NOW), -EKEYREJECTED);
	buf[len - 1] ^= 1;
	assert_int_equal(registry_create(g.reg, buf, len, NOW), 0);
	assert_int_equal(registry_root(g.reg, &r, mesh_id), 0);
	assert_string_equal(r.u.root.zone, "mesh");
	registry_close(g.reg);
	fx_remove(&g);
}

/* ---- the adversarial matrix ---------------------------------------------------------------- */

static void a_batch_checks_signatures_up_front_and_rejects_like_one_by_one(void **state)
{
	struct fx *f = *state;
	enum { N = 200 };
	static uint8_t buf[N][REC_MAX_SIZE];
	struct registry_item items[N];
	enum ingest_result res[N];
	int err[N];
	struct rec r;
	char name[16];

	/* Enough records to use every core: N certs, two of them forged, one forged and
	 * from another mesh as well. */
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "h%d", i);
		cert(f, &r, i, name, (uint8_t)(i + 2));
		items[i].buf = buf[i];
		items[i].len = sign(&r, f->admin, buf[i]);
	}
	buf[17][items[17].len - 3] ^= 0x40;    /* forged signature */
	buf[150][items[150].len - 60] ^= 0x01; /* forged signature */
	buf[99][items[99].len - 5] ^= 0x08;    /* forged ... */
	buf[99][6] ^= 0xff;                    /* ... and another mesh's: the cheaper check wins */

	assert_int_equal(registry_ingest_many(f->reg, items, N, NOW, res, err), 0);
	for (int i = 0; i < N; i++) {
		if (i == 17 || i == 150)
			assert_int_equal(err[i], -EKEYREJECTED);
		else if (i == 99)
			assert_int_equal(err[i], -EXDEV);
		else {
			assert_int_equal(err[i], 0);
			assert_int_equal(res[i], INGEST_ACCEPTED);
		}
	}
	assert_int_equal(counts(f).hosts, N - 3);
	struct snapshot *s = snap(f);
	assert_non_null(lookup(s, "h16"));
	assert_null(lookup(s, "h17"));
	snapshot_unref(s);

	/* The same batch again: every good record is a duplicate now. */
	assert_int_equal(registry_ingest_many(f->reg, items, N, NOW, res, err), 0);
	assert_int_equal(err[0], 0);
	assert_int_equal(res[0], INGEST_DUPLICATE);
	assert_int_equal(err[17], -EKEYREJECTED);
}

static void forged_signature_is_rejected_and_nothing_is_stored(void **state)
{
	struct fx *f = *state;
	struct rec r;
	uint8_t buf[REC_MAX_SIZE];
	enum ingest_result res;
	size_t len;

	cert(f, &r, 0, "nas", 5);
	len = sign(&r, f->admin, buf);
	buf[len - 10] ^= 0x20; /* inside the signature */
	assert_int_equal(registry_ingest(f->reg, buf, len, NOW, &res), -EKEYREJECTED);
	assert_int_equal(counts(f).records, 1);
	assert_int_equal(counts(f).pending, 0);
	assert_string_equal(registry_strerror(-EKEYREJECTED), "the signature does not verify");

	/* A forged record whose authorizer is unknown is not parked either. */
	{
		uint8_t stranger[REC_SECRET_SIZE];

		fixture_key(K_ADMISSION, stranger);
		cert(f, &r, 1, "laptop", 6);
		len = sign(&r, stranger, buf);
		buf[len - 1] ^= 1;
		assert_int_equal(registry_ingest(f->reg, buf, len, NOW, &res), -EKEYREJECTED);
		assert_int_equal(counts(f).pending, 0);
	}
}

static void endpoints_signed_by_one_host_never_change_another_host(void **state)
{
	struct fx *f = *state;
	uint8_t a[REC_SECRET_SIZE], b[REC_SECRET_SIZE];
	struct rec r;
	struct snapshot *s;

	host_key(0, a);
	host_key(1, b);
	cert(f, &r, 0, "alpha", 5);
	assert_int_equal(ingest(f, &r, f->admin, NULL), 0);
	cert(f, &r, 1, "beta", 6);
	assert_int_equal(ingest(f, &r, f->admin, NULL), 0);
	endpoints(f, &r, 1, 1111, 6);
	assert_int_equal(ingest(f, &r, b, NULL), 0);

	/* ENDPOINTS have no target field: they always describe the signer's own host,
	 * so the most A can do is publish A's endpoints, even with B's address in them. */
	endpoints(f, &r, 99, 6666, 66);
	assert_int_equal(ingest(f, &r, a, NULL), 0);
	s = snap(f);
	assert_int_equal(lookup(s, "beta")->endpoints_seq, 1);
	assert_int_equal(lookup(s, "beta")->endpoints[0].port, 1111);
	assert_int_equal(lookup(s, "alpha")->endpoints_seq, 99);
	assert_int_equal(lookup(s, "alpha")->endpoints[0].port, 6666);
	snapshot_unref(s);
}

static void endpoints_from_a_key_without_a_cert_wait_and_apply_when_it_comes(void **state)
{
	struct fx *f = *state;
	uint8_t a[REC_SECRET_SIZE];
	struct rec r;
	enum ingest_result res;
	struct snapshot *s;

	host_key(0, a);
	endpoints(f, &r, 3, 4444, 7);
	assert_int_equal(ingest(f, &r, a, &res), 0);
	assert_int_equal(res, INGEST_PENDING);
	assert_int_equal(counts(f).pending, 1);
	assert_int_equal(ingest(f, &r, a, &res), 0); /* again: still pending, once */
	assert_int_equal(res, INGEST_PENDING);
	assert_int_equal(counts(f).pending, 1);
	cert(f, &r, 0, "alpha", 5);
	assert_int_equal(ingest(f, &r, f->admin, NULL), 0);
	assert_int_equal(counts(f).pending, 0);
	s = snap(f);
	assert_int_equal(lookup(s, "alpha")->endpoints[0].port, 4444);
	snapshot_unref(s);
}

static void cert_signed_by_an_unknown_key_stays_pending_and_never_active(void **state)
{
	struct fx *f = *state;
	uint8_t stranger[REC_SECRET_SIZE];
	struct rec r;
	enum ingest_result res;
	struct snapshot *s;

	fixture_key(K_ADMISSION, stranger);
	cert(f, &r, 0, "nas", 5);
	assert_int_equal(ingest(f, &r, stranger, &res), 0);
	assert_int_equal(res, INGEST_PENDING);
	s = snap(f);
	assert_null(lookup(s, "nas"));
	snapshot_unref(s);
	assert_int_equal(counts(f).hosts, 0);
	assert_int_equal(counts(f).pending, 1);
	assert_int_equal(counts(f).records, 1);
}

static void admit_not_signed_by_an_admin_is_refused(void **state)
{
	struct fx *f = *state;
	uint8_t stranger[REC_SECRET_SIZE], admission[REC_SECRET_SIZE];
	struct rec r;

	fixture_key(K_HOST, stranger);
	fixture_key(K_ADMISSION, admission);
	admit(f, &r, admission, "laptop", 9);
	assert_int_equal(ingest(f, &r, stranger, NULL), -EPERM);
	assert_string_equal(registry_strerror(-EPERM),
			    "the signer is not allowed to sign this record");
}

static void cert_before_its_admit_becomes_active_when_the_admit_arrives(void **state)
{
	struct fx *f = *state;
	uint8_t admission[REC_SECRET_SIZE];
	struct rec c, a;
	enum ingest_result res;
	struct snapshot *s;

	fixture_key(K_ADMISSION, admission);
	cert(f, &c, 0, "laptop", 9);
	assert_int_equal(ingest(f, &c, admission, &res), 0);
	assert_int_equal(res, INGEST_PENDING);
	assert_int_equal(counts(f).hosts, 0);
	admit(f, &a, admission, "laptop", 9);
	assert_int_equal(ingest(f, &a, f->admin, &res), 0);
	assert_int_equal(res, INGEST_ACCEPTED);
	s = snap(f);
	assert_non_null(lookup(s, "laptop"));
	snapshot_unref(s);
	assert_int_equal(counts(f).pending, 0);
	assert_int_equal(counts(f).hosts, 1);
}

static void cert_for_another_name_or_address_than_its_admit_is_refused(void **state)
{
	struct fx *f = *state;
	uint8_t admission[REC_SECRET_SIZE];
	struct rec r;

	fixture_key(K_ADMISSION, admission);
	admit(f, &r, admission, "laptop", 9);
	assert_int_equal(ingest(f, &r, f->admin, NULL), 0);
	cert(f, &r, 0, "server", 9);
	assert_int_equal(ingest(f, &r, admission, NULL), -EPERM);
	cert(f, &r, 0, "laptop", 10);
	assert_int_equal(ingest(f, &r, admission, NULL), -EPERM);
	cert(f, &r, 0, "laptop", 9);
	r.expires_at = NOW + 2 * DAY; /* longer than the ADMIT allows */
	assert_int_equal(ingest(f, &r, admission, NULL), -EPERM);
	cert(f, &r, 0, "laptop", 9);
	r.seq = 2; /* an invite signs the first cert only */
	assert_int_equal(ingest(f, &r, admission, NULL), -EPERM);
	assert_int_equal(counts(f).hosts, 0);
	cert(f, &r, 0, "laptop", 9);
	assert_int_equal(ingest(f, &r, admission, NULL), 0);
	assert_int_equal(counts(f).hosts, 1);
}

static void pending_cert_refused_by_its_admit_is_dropped(void **state)
{
	struct fx *f = *state;
	uint8_t admission[REC_SECRET_SIZE];
	struct rec r;
	enum ingest_result res;

	fixture_key(K_ADMISSION, admission);
	cert(f, &r, 0, "server", 9);
	assert_int_equal(ingest(f, &r, admission, &res), 0);
	assert_int_equal(res, INGEST_PENDING);
	admit(f, &r, admission, "laptop", 9);
	assert_int_equal(ingest(f, &r, f->admin, NULL), 0);
	assert_int_equal(counts(f).pending, 0);
	assert_int_equal(counts(f).hosts, 0);
}

static void second_cert_from_one_admission_key_loses_to_the_lower_id_with_an_alert(void **state)
{
	struct fx *f = *state;
	uint8_t admission[REC_SECRET_SIZE], id0[REC_ID_SIZE], id1[REC_ID_SIZE];
	struct rec a, c0, c1;
	struct snapshot *s;
	const struct snapshot_host *h;

	fixture_key(K_ADMISSION, admission);
	admit(f, &a, admission, "laptop", 9);
	assert_int_equal(ingest(f, &a, f->admin, NULL), 0);
	cert(f, &c0, 0, "laptop", 9);
	cert(f, &c1, 1, "laptop", 9);
	id_of(&c0, admission, id0);
	id_of(&c1, admission, id1);
	assert_int_equal(ingest(f, &c0, admission, NULL), 0);
	assert_int_equal(ingest(f, &c1, admission, NULL), 0);
	s = snap(f);
	h = lookup(s, "laptop");
	assert_non_null(h);
	assert_memory_equal(h->cert_id, memcmp(id0, id1, REC_ID_SIZE) < 0 ? id0 : id1, REC_ID_SIZE);
	snapshot_unref(s);
	assert_int_equal(alerts_with(f, "signed more than one certificate"), 1);
	assert_int_equal(counts(f).records, 4); /* both CERTs stay stored */
}

/* Two certs claim one name (or one address): the winner must not depend on order. */
static void claimed_twice(struct rec *c0, struct rec *c1, const char *alert)
{
	uint8_t winner[2][REC_ID_SIZE];
	struct snapshot *s;

	for (int order = 0; order < 2; order++) {
		struct fx *f = fx_new();
		struct rec *first = order == 0 ? c0 : c1, *second = order == 0 ? c1 : c0;
		const struct snapshot_host *h;

		memcpy(c0->mesh_id, f->mesh_id, REC_ID_SIZE);
		memcpy(c1->mesh_id, f->mesh_id, REC_ID_SIZE);
		assert_int_equal(ingest(f, first, f->admin, NULL), 0);
		assert_int_equal(ingest(f, second, f->admin, NULL), 0);
		s = snap(f);
		assert_int_equal(snapshot_host_count(s), 1);
		h = snapshot_host_at(s, 0);
		memcpy(winner[order], h->cert_id, REC_ID_SIZE);
		snapshot_unref(s);
		assert_int_equal(alerts_with(f, alert), 1);
		registry_close(f->reg);
		fx_remove(f);
		free(f);
	}
	assert_memory_equal(winner[0], winner[1], REC_ID_SIZE);
}

static void name_claimed_by_two_certs_has_one_winner_whatever_the_order(void **state)
{
	struct fx *f = *state;
	struct rec c0, c1;
	uint8_t id0[REC_ID_SIZE], id1[REC_ID_SIZE];

	cert(f, &c0, 0, "nas", 5);
	cert(f, &c1, 1, "nas", 6);
	claimed_twice(&c0, &c1, "name nas is claimed by two certificates");

	/* With equal serials and not-befores the lower id wins. */
	memcpy(c0.mesh_id, f->mesh_id, REC_ID_SIZE);
	memcpy(c1.mesh_id, f->mesh_id, REC_ID_SIZE);
	id_of(&c0, f->admin, id0);
	id_of(&c1, f->admin, id1);
	assert_int_equal(ingest(f, &c0, f->admin, NULL), 0);
	assert_int_equal(ingest(f, &c1, f->admin, NULL), 0);
	{
		struct snapshot *s = snap(f);

		assert_memory_equal(lookup(s, "nas")->cert_id,
				    memcmp(id0, id1, REC_ID_SIZE) < 0 ? id0 : id1, REC_ID_SIZE);
		snapshot_unref(s);
	}

	/* A higher serial beats a lower id. */
	cert(f, &c1, 1, "nas", 6);
	c1.seq = 2;
	assert_int_equal(ingest(f, &c1, f->admin, NULL), 0);
	{
		struct snapshot *s = snap(f);

		assert_int_equal(lookup(s, "nas")->serial, 2);
		assert_int_equal(lookup(s, "nas")->ipv4[3], 6);
		snapshot_unref(s);
	}
}

static void address_claimed_by_two_certs_has_one_winner_whatever_the_order(void **state)
{
	struct fx *f = *state;
	struct rec c0, c1;

	cert(f, &c0, 0, "nas", 5);
	cert(f, &c1, 1, "printer", 5);
	c1.issued_at = NOW - 60; /* the later not-before wins: c0 */
	claimed_twice(&c0, &c1, "address 100.70.0.5 is claimed by two certificates");
	cert(f, &c0, 0, "nas", 5);
	assert_int_equal(ingest(f, &c0, f->admin, NULL), 0);
	assert_int_equal(ingest(f, &c1, f->admin, NULL), 0);
	{
		struct snapshot *s = snap(f);

		assert_non_null(lookup(s, "nas"));
		assert_null(lookup(s, "printer"));
		snapshot_unref(s);
	}
}

static void renewed_cert_of_the_same_host_replaces_the_old_one_without_an_alert(void **state)
{
	struct fx *f = *state;
	struct rec r;
	struct snapshot *s;

	cert(f, &r, 0, "nas", 5);
	assert_int_equal(ingest(f, &r, f->admin, NULL), 0);
	cert(f, &r, 0, "nas", 5);
	r.seq = 2;
	r.issued_at = NOW + 10;
	r.expires_at = NOW + 10 + DAY;
	assert_int_equal(ingest(f, &r, f->admin, NULL), 0);
	s = snap(f);
	assert_int_equal(lookup(s, "nas")->serial, 2);
	snapshot_unref(s);
	assert_int_equal(alerts_with(f, NULL), 0);
}

static void replayed_older_endpoints_are_stale(void **state)
{
	struct fx *f = *state;
	uint8_t a[REC_SECRET_SIZE];
	struct rec r, old;
	struct snapshot *s;

	host_key(0, a);
	cert(f, &r, 0, "nas", 5);
	assert_int_equal(ingest(f, &r, f->admin, NULL), 0);
	endpoints(f, &old, 4, 1000, 5);
	assert_int_equal(ingest(f, &old, a, NULL), 0);
	endpoints(f, &r, 5, 2000, 5);
	assert_int_equal(ingest(f, &r, a, NULL), 0);
	assert_int_equal(counts(f).records, 3); /* the seq 4 one was deleted */
	assert_int_equal(ingest(f, &old, a, NULL), -ESTALE);
	s = snap(f);
	assert_int_equal(lookup(s, "nas")->endpoints_seq, 5);
	assert_int_equal(lookup(s, "nas")->endpoints[0].port, 2000);
	snapshot_unref(s);
}

static void expired_records_are_refused(void **state)
{
	struct fx *f = *state;
	struct rec r;

	cert(f, &r, 0, "nas", 5);
	r.issued_at = NOW - 2 * DAY;
	r.expires_at = NOW - DAY;
	assert_int_equal(ingest(f, &r, f->admin, NULL), -EKEYEXPIRED);
	cert(f, &r, 0, "nas", 5);
	r.issued_at = NOW - 10;
	r.expires_at = NOW; /* expires_at must be after now */
	assert_int_equal(ingest(f, &r, f->admin, NULL), -EKEYEXPIRED);
	assert_int_equal(counts(f).hosts, 0);
}

static void cert_drops_out_of_the_view_when_it_expires(void **state)
{
	struct fx *f = *state;
	struct rec r;
	struct snapshot *s;
	uint64_t gen;

	cert(f, &r, 0, "nas", 5);
	assert_int_equal(ingest(f, &r, f->admin, NULL), 0);
	s = snap(f);
	gen = snapshot_generation(s);
	snapshot_unref(s);
	assert_int_equal(registry_refresh(f->reg, NOW + DAY - 1), 0);
	assert_int_equal(counts(f).hosts, 1);
	assert_int_equal(registry_refresh(f->reg, NOW + DAY), 0);
	assert_int_equal(counts(f).hosts, 0);
	s = snap(f);
	assert_null(lookup(s, "nas"));
	assert_true(snapshot_generation(s) > gen);
	snapshot_unref(s);
}

static void revoked_cert_reinjected_after_its_revocation_is_refused(void **state)
{
	struct fx *f = *state;
	uint8_t a[REC_SECRET_SIZE];
	struct rec c, e, rv;
	struct snapshot *s;

	host_key(0, a);
	cert(f, &c, 0, "nas", 5);
	assert_int_equal(ingest(f, &c, f->admin, NULL), 0);
	endpoints(f, &e, 1, 1000, 5);
	assert_int_equal(ingest(f, &e, a, NULL), 0);
	revoke_rec(f, &rv, fixture_pk(a), 5);
	assert_int_equal(ingest(f, &rv, f->admin, NULL), 0);
	assert_int_equal(counts(f).records, 2); /* the ROOT and the REVOKE */
	assert_true(registry_is_revoked(f->reg, fixture_pk(a)));
	assert_int_equal(ingest(f, &c, f->admin, NULL), -EKEYREVOKED);
	assert_int_equal(ingest(f, &e, a, NULL), -EKEYREVOKED);
	s = snap(f);
	assert_null(lookup(s, "nas"));
	snapshot_unref(s);
	/* A fresh cert for the same key is refused as well. */
	cert(f, &c, 0, "nas", 6);
	c.seq = 7;
	assert_int_equal(ingest(f, &c, f->admin, NULL), -EKEYREVOKED);
	assert_int_equal(counts(f).hosts, 0);
}

static void revoking_an_admin_keeps_its_revocations_whatever_the_order(void **state)
{
	struct fx *f = *state, *g;
	uint8_t a[REC_SECRET_SIZE], hash[2][32];
	struct rec rv_host, rv_admin;

	host_key(0, a);
	revoke_rec(f, &rv_host, fixture_pk(a), 5);
	revoke_rec(f, &rv_admin, fixture_pk(f->admin), 0);

	/* Order 1: the host's revocation, then the admin's own. */
	assert_int_equal(ingest(f, &rv_host, f->admin, NULL), 0);
	assert_int_equal(ingest(f, &rv_admin, f->admin, NULL), 0);
	assert_true(registry_is_revoked(f->reg, fixture_pk(a)));
	assert_int_equal(counts(f).records, 3); /* the ROOT and both REVOKEs */
	assert_int_equal(registry_state_hash(f->reg, hash[0]), 0);

	/* Order 2, in a fresh registry of the same mesh: the admin is revoked first, and
	 * the revocation it signed before still counts. */
	g = fx_new();
	assert_int_equal(ingest(g, &rv_admin, g->admin, NULL), 0);
	assert_int_equal(ingest(g, &rv_host, g->admin, NULL), 0);
	assert_true(registry_is_revoked(g->reg, fixture_pk(a)));
	assert_int_equal(counts(g).records, 3);
	assert_int_equal(registry_state_hash(g->reg, hash[1]), 0);
	assert_memory_equal(hash[0], hash[1], 32);
	teardown((void **)&g);
}

static void a_host_may_revoke_itself_but_not_another(void **state)
{
	struct fx *f = *state;
	uint8_t a[REC_SECRET_SIZE], b[REC_SECRET_SIZE];
	struct rec r;

	host_key(0, a);
	host_key(1, b);
	cert(f, &r, 0, "alpha", 5);
	assert_int_equal(ingest(f, &r, f->admin, NULL), 0);
	cert(f, &r, 1, "beta", 6);
	assert_int_equal(ingest(f, &r, f->admin, NULL), 0);
	revoke_rec(f, &r, fixture_pk(b), 6);
	assert_int_equal(ingest(f, &r, a, NULL), -EPERM);
	revoke_rec(f, &r, fixture_pk(a), 5);
	assert_int_equal(ingest(f, &r, a, NULL), 0);
	assert_int_equal(counts(f).hosts, 1);
	assert_true(registry_is_revoked(f->reg, fixture_pk(a)));
	assert_false(registry_is_revoked(f->reg, fixture_pk(b)));
}

static void revoking_an_admission_key_removes_its_admit_and_its_cert(void **state)
{
	struct fx *f = *state;
	uint8_t admission[REC_SECRET_SIZE];
	struct rec a, c, rv;

	fixture_key(K_ADMISSION, admission);
	admit(f, &a, admission, "laptop", 9);
	assert_int_equal(ingest(f, &a, f->admin, NULL), 0);
	cert(f, &c, 0, "laptop", 9);
	assert_int_equal(ingest(f, &c, admission, NULL), 0);
	assert_int_equal(counts(f).hosts, 1);
	revoke_rec(f, &rv, fixture_pk(admission), 0);
	assert_int_equal(ingest(f, &rv, f->admin, NULL), 0);
	assert_int_equal(counts(f).hosts, 0);
	assert_int_equal(counts(f).records, 2);
	assert_int_equal(ingest(f, &a, f->admin, NULL), -EKEYREVOKED);
	assert_int_equal(ingest(f, &c, admission, NULL), -EKEYREVOKED);
}

static void endpoints_equivocation_keeps_both_and_the_lower_id_wins_with_an_alert(void **state)
{
	struct fx *f = *state;
	uint8_t a[REC_SECRET_SIZE], id0[REC_ID_SIZE], id1[REC_ID_SIZE];
	struct rec c, e0, e1;
	struct snapshot *s;

	host_key(0, a);
	cert(f, &c, 0, "nas", 5);
	assert_int_equal(ingest(f, &c, f->admin, NULL), 0);
	endpoints(f, &e0, 3, 1000, 5);
	endpoints(f, &e1, 3, 2000, 5);
	id_of(&e0, a, id0);
	id_of(&e1, a, id1);
	assert_int_equal(ingest(f, &e0, a, NULL), 0);
	assert_int_equal(ingest(f, &e1, a, NULL), 0);
	assert_int_equal(counts(f).records, 4);
	s = snap(f);
	assert_int_equal(lookup(s, "nas")->endpoints[0].port,
			 memcmp(id0, id1, REC_ID_SIZE) < 0 ? 1000 : 2000);
	snapshot_unref(s);
	assert_int_equal(alerts_with(f, "signed two different ENDPOINTS with sequence 3"), 1);
	/* The alert is stored once, however often the view is recomputed. */
	assert_int_equal(registry_refresh(f->reg, NOW + 5), 0);
	endpoints(f, &e0, 2, 1000, 5);
	assert_int_equal(ingest(f, &e0, a, NULL), -ESTALE);
	assert_int_equal(alerts_with(f, NULL), 1);
}

static void records_dated_too_far_in_the_future_are_refused(void **state)
{
	struct fx *f = *state;
	struct rec r;

	cert(f, &r, 0, "nas", 5);
	r.issued_at = NOW + REC_MAX_FUTURE + 1;
	r.expires_at = NOW + DAY;
	assert_int_equal(ingest(f, &r, f->admin, NULL), -ERANGE);
	cert(f, &r, 0, "nas", 5);
	r.issued_at = NOW + REC_MAX_FUTURE; /* within the tolerated skew */
	assert_int_equal(ingest(f, &r, f->admin, NULL), 0);
}

static void oversized_and_malformed_input_is_refused(void **state)
{
	struct fx *f = *state;
	uint8_t buf[REC_MAX_SIZE + 1];
	enum ingest_result res;
	struct rec r;
	size_t len;

	memset(buf, 0, sizeof(buf));
	memcpy(buf, "MNR\x01\x02", 5);
	assert_int_equal(registry_ingest(f->reg, buf, sizeof(buf), NOW, &res), -EMSGSIZE);
	assert_int_equal(registry_ingest(f->reg, (const uint8_t *)"GIF89a", 6, NOW, &res),
			 -EPROTONOSUPPORT);
	cert(f, &r, 0, "nas", 5);
	len = sign(&r, f->admin, buf);
	buf[4] = 9; /* unknown type */
	assert_int_equal(registry_ingest(f->reg, buf, len, NOW, &res), -EPROTONOSUPPORT);
	cert(f, &r, 0, "nas", 5);
	len = sign(&r, f->admin, buf);
	buf[5] = 1; /* reserved byte */
	assert_int_equal(registry_ingest(f->reg, buf, len, NOW, &res), -EBADMSG);
	assert_int_equal(registry_ingest(f->reg, buf, 20, NOW, &res), -EBADMSG);
	assert_int_equal(counts(f).records, 1);
}

static void a_record_of_another_mesh_is_refused(void **state)
{
	struct fx *f = *state;
	struct rec r;

	cert(f, &r, 0, "nas", 5);
	r.mesh_id[0] ^= 1;
	assert_int_equal(ingest(f, &r, f->admin, NULL), -EXDEV);
	assert_string_equal(registry_strerror(-EXDEV), "the record belongs to another mesh");
}

static void cert_breaking_the_mesh_rules_is_refused(void **state)
{
	struct fx *f = *state;
	struct rec r;

	cert(f, &r, 0, "nas", 5);
	r.u.cert.ipv4[1] = 71; /* outside 100.70.0.0/16 */
	assert_int_equal(ingest(f, &r, f->admin, NULL), -EINVAL);
	cert(f, &r, 0, "nas", 0);
	r.u.cert.ipv4[2] = 0; /* the network address */
	assert_int_equal(ingest(f, &r, f->admin, NULL), -EINVAL);
	cert(f, &r, 0, "nas", 255);
	r.u.cert.ipv4[2] = 255; /* the broadcast address */
	assert_int_equal(ingest(f, &r, f->admin, NULL), -EINVAL);
	cert(f, &r, 0, "nas", 5);
	r.u.cert.ipv6[15] ^= 1; /* not derived from the host key */
	assert_int_equal(ingest(f, &r, f->admin, NULL), -EINVAL);
	cert(f, &r, 0, "nas", 5);
	r.expires_at = NOW + 365 * DAY + 1; /* longer than max_cert_lifetime */
	assert_int_equal(ingest(f, &r, f->admin, NULL), -EINVAL);
	cert(f, &r, 0, "nas", 5);
	r.expires_at = NOW + 365 * DAY; /* exactly the maximum */
	assert_int_equal(ingest(f, &r, f->admin, NULL), 0);
	assert_int_equal(counts(f).hosts, 1);
}

/* ---- custom records ------------------------------------------------------------------------ */

static void custom_records_follow_the_highest_seq_and_deletes_remove_them(void **state)
{
	struct fx *f = *state;
	struct rec add, del, other;
	struct snapshot *s;
	const struct snapshot_rr *rr;

	txt(f, &add, REC_OP_ADD, 1, "www", "hello");
	assert_int_equal(ingest(f, &add, f->admin, NULL), 0);
	txt(f, &other, REC_OP_ADD, 1, "", "apex");
	assert_int_equal(ingest(f, &other, f->admin, NULL), 0);
	s = snap(f);
	assert_int_equal(snapshot_rr_count(s), 2);
	assert_int_equal(snapshot_rr_find(s, "www", 3, &rr), 1);
	assert_int_equal(rr->rrtype, 16);
	assert_memory_equal(rr->rdata, "\x05hello", 6);
	snapshot_unref(s);

	txt(f, &del, REC_OP_DELETE, 2, "www", "hello");
	assert_int_equal(ingest(f, &del, f->admin, NULL), 0);
	assert_int_equal(ingest(f, &add, f->admin, NULL), -ESTALE);
	s = snap(f);
	assert_int_equal(snapshot_rr_find(s, "www", 3, &rr), 0);
	assert_int_equal(snapshot_rr_count(s), 1);
	snapshot_unref(s);
	assert_int_equal(counts(f).rrs, 1);
	txt(f, &add, REC_OP_ADD, 3, "www", "hello");
	assert_int_equal(ingest(f, &add, f->admin, NULL), 0);
	assert_int_equal(counts(f).rrs, 2);
	assert_int_equal(counts(f).records, 3); /* ROOT, apex, the seq 3 www */
}

static void a_host_publishes_records_only_under_its_own_name(void **state)
{
	struct fx *f = *state;
	uint8_t a[REC_SECRET_SIZE], stranger[REC_SECRET_SIZE];
	struct rec r;
	enum ingest_result res;
	struct snapshot *s;
	const struct snapshot_rr *rr;

	host_key(0, a);
	cert(f, &r, 0, "nas", 5);
	assert_int_equal(ingest(f, &r, f->admin, NULL), 0);
	txt(f, &r, REC_OP_ADD, 1, "_ssh._tcp.nas", "x");
	assert_int_equal(ingest(f, &r, a, NULL), 0);
	txt(f, &r, REC_OP_ADD, 1, "nas", "y");
	assert_int_equal(ingest(f, &r, a, NULL), 0);
	txt(f, &r, REC_OP_ADD, 1, "www", "z");
	assert_int_equal(ingest(f, &r, a, NULL), -EPERM);
	txt(f, &r, REC_OP_ADD, 1, "xnas", "z");
	assert_int_equal(ingest(f, &r, a, NULL), -EPERM);
	fixture_key(K_HOST + 5, stranger);
	txt(f, &r, REC_OP_ADD, 1, "www", "z");
	assert_int_equal(ingest(f, &r, stranger, &res), 0);
	assert_int_equal(res, INGEST_PENDING);
	s = snap(f);
	assert_int_equal(snapshot_rr_count(s), 2);
	assert_int_equal(snapshot_rr_find(s, "_ssh._tcp.nas", 13, &rr), 1);
	snapshot_unref(s);
}

static void renew_waits_for_its_cert_and_must_come_from_its_host(void **state)
{
	struct fx *f = *state;
	uint8_t a[REC_SECRET_SIZE], b[REC_SECRET_SIZE];
	struct rec c, rn;
	enum ingest_result res;

	host_key(0, a);
	host_key(1, b);
	cert(f, &c, 0, "nas", 5);
	memset(&rn, 0, sizeof(rn));
	rn.type = REC_RENEW;
	memcpy(rn.mesh_id, f->mesh_id, REC_ID_SIZE);
	rn.seq = 1;
	rn.issued_at = NOW;
	rn.expires_at = NOW + DAY;
	id_of(&c, f->admin, rn.u.renew.cert_id);
	rn.u.renew.lifetime = (uint32_t)DAY;
	assert_int_equal(ingest(f, &rn, a, &res), 0);
	assert_int_equal(res, INGEST_PENDING);
	assert_int_equal(ingest(f, &c, f->admin, NULL), 0);
	assert_int_equal(counts(f).pending, 0);
	assert_int_equal(counts(f).records, 3);
	rn.seq = 2;
	assert_int_equal(ingest(f, &rn, b, NULL), -EPERM);
}

/* A RENEW that asks for a new WireGuard key (doc/records.md "Key rotation"). */
static void renew_with_a_new_wg_key_refuses_the_current_key_and_another_hosts(void **state)
{
	struct fx *f = *state;
	uint8_t a[REC_SECRET_SIZE];
	struct rec c, other, rn, rv;
	enum ingest_result res;
	size_t before;

	host_key(0, a);
	cert(f, &c, 0, "nas", 5);    /* WireGuard key 32 x 0x45 */
	cert(f, &other, 1, "pi", 6); /* WireGuard key 32 x 0x46 */
	assert_int_equal(ingest(f, &c, f->admin, NULL), 0);
	assert_int_equal(ingest(f, &other, f->admin, NULL), 0);
	memset(&rn, 0, sizeof(rn));
	rn.type = REC_RENEW;
	memcpy(rn.mesh_id, f->mesh_id, REC_ID_SIZE);
	rn.seq = 1;
	rn.issued_at = NOW;
	rn.expires_at = NOW + DAY;
	id_of(&c, f->admin, rn.u.renew.cert_id);
	rn.u.renew.lifetime = (uint32_t)DAY;
	before = counts(f).records;

	memcpy(rn.u.renew.new_wg_key, other.u.cert.wg_key, REC_KEY_SIZE);
	assert_int_equal(ingest(f, &rn, a, NULL), -EINVAL); /* pi's key */
	memcpy(rn.u.renew.new_wg_key, c.u.cert.wg_key, REC_KEY_SIZE);
	assert_int_equal(ingest(f, &rn, a, NULL), -EINVAL); /* "keep" is all zero */
	assert_int_equal(counts(f).records, before);

	memset(rn.u.renew.new_wg_key, 0x99, REC_KEY_SIZE);
	assert_int_equal(ingest(f, &rn, a, &res), 0);
	assert_int_equal(res, INGEST_ACCEPTED);
	assert_int_equal(counts(f).records, before + 1);

	/* Revoking the new key drops the request, and a copy of it stays out. */
	revoke_rec(f, &rv, rn.u.renew.new_wg_key, 0);
	assert_int_equal(ingest(f, &rv, f->admin, NULL), 0);
	assert_int_equal(counts(f).records, before + 1); /* the REVOKE, not the RENEW */
	assert_int_equal(ingest(f, &rn, a, NULL), -EKEYREVOKED);
}

/* The check waits for the cert like the rest of a RENEW: pending, then judged. */
static void pending_renew_with_another_hosts_wg_key_is_dropped_when_its_cert_arrives(void **state)
{
	struct fx *f = *state;
	uint8_t a[REC_SECRET_SIZE];
	struct rec c, other, rn;
	enum ingest_result res;

	host_key(0, a);
	cert(f, &c, 0, "nas", 5);
	cert(f, &other, 1, "pi", 6);
	assert_int_equal(ingest(f, &other, f->admin, NULL), 0);
	memset(&rn, 0, sizeof(rn));
	rn.type = REC_RENEW;
	memcpy(rn.mesh_id, f->mesh_id, REC_ID_SIZE);
	rn.seq = 1;
	rn.issued_at = NOW;
	rn.expires_at = NOW + DAY;
	id_of(&c, f->admin, rn.u.renew.cert_id);
	rn.u.renew.lifetime = (uint32_t)DAY;
	memcpy(rn.u.renew.new_wg_key, other.u.cert.wg_key, REC_KEY_SIZE);
	assert_int_equal(ingest(f, &rn, a, &res), 0);
	assert_int_equal(res, INGEST_PENDING);
	assert_int_equal(ingest(f, &c, f->admin, NULL), 0);
	assert_int_equal(counts(f).pending, 0);
	assert_int_equal(counts(f).records, 3); /* ROOT and two CERTs: the RENEW was refused */
}

/* ---- allocation ------------------------------------------------------------------------------ */

static void allocation_takes_the_lowest_free_address_and_never_a_revoked_one(void **state)
{
	struct fx *f = *state;
	uint8_t addr[4], a[REC_SECRET_SIZE], admission[REC_SECRET_SIZE];
	struct rec r;

	assert_int_equal(registry_alloc_ipv4(f->reg, NOW, addr), 0);
	assert_memory_equal(addr, ((uint8_t[]){ 100, 70, 0, 1 }), 4); /* not .0 */
	cert(f, &r, 0, "one", 1);
	assert_int_equal(ingest(f, &r, f->admin, NULL), 0);
	cert(f, &r, 1, "three", 3);
	assert_int_equal(ingest(f, &r, f->admin, NULL), 0);
	assert_int_equal(registry_alloc_ipv4(f->reg, NOW, addr), 0);
	assert_int_equal(addr[3], 2);
	assert_true(registry_ipv4_taken(f->reg, NOW, (uint8_t[]){ 100, 70, 0, 3 }));
	assert_false(registry_ipv4_taken(f->reg, NOW, (uint8_t[]){ 100, 70, 0, 2 }));

	/* An ADMIT reserves its address and name until its deadline. */
	fixture_key(K_ADMISSION, admission);
	admit(f, &r, admission, "invited", 2);
	assert_int_equal(ingest(f, &r, f->admin, NULL), 0);
	assert_int_equal(registry_alloc_ipv4(f->reg, NOW, addr), 0);
	assert_int_equal(addr[3], 4);
	assert_true(registry_name_taken(f->reg, NOW, "invited"));
	assert_false(registry_name_taken(f->reg, NOW + DAY, "invited"));
	assert_int_equal(registry_alloc_ipv4(f->reg, NOW + DAY, addr), 0);
	assert_int_equal(addr[3], 2);

	/* A revoked host's address is retired for good. */
	host_key(0, a);
	revoke_rec(f, &r, fixture_pk(a), 1);
	assert_int_equal(ingest(f, &r, f->admin, NULL), 0);
	assert_true(registry_ipv4_taken(f->reg, NOW, (uint8_t[]){ 100, 70, 0, 1 }));
	assert_int_equal(registry_alloc_ipv4(f->reg, NOW + DAY, addr), 0);
	assert_int_equal(addr[3], 2);
	assert_int_equal(registry_alloc_ipv4(f->reg, NOW, addr), 0);
	assert_int_equal(addr[3], 4);
}

static void allocation_in_a_full_prefix_says_no_space(void **state)
{
	struct fx g;
	struct rec r;
	uint8_t buf[REC_MAX_SIZE], admin[REC_SECRET_SIZE], addr[4];
	size_t len;

	(void)state;
	memset(&g, 0, sizeof(g));
	fx_paths(&g, "/tmp");
	assert_int_equal(registry_open(g.path, &g.reg), 0);
	fixture_key(K_ADMIN, admin);
	fixture_root(&r, admin);
	r.u.root.ipv4_len = 30; /* .1 and .2 only */
	len = sign(&r, admin, buf);
	assert_int_equal(registry_create(g.reg, buf, len, NOW), 0);
	rec_id(buf, len, g.mesh_id);
	for (uint8_t octet = 1; octet <= 2; octet++) {
		uint8_t sk[REC_SECRET_SIZE];
		char name[8];

		assert_int_equal(registry_alloc_ipv4(g.reg, NOW, addr), 0);
		assert_int_equal(addr[3], octet);
		host_key(octet, sk);
		snprintf(name, sizeof(name), "h%u", octet);
		fixture_cert(&r, g.mesh_id, name, sk, octet);
		len = sign(&r, admin, buf);
		{
			enum ingest_result res;

			assert_int_equal(registry_ingest(g.reg, buf, len, NOW, &res), 0);
		}
	}
	assert_int_equal(registry_alloc_ipv4(g.reg, NOW, addr), -ENOSPC);
	registry_close(g.reg);
	fx_remove(&g);
}

/* ---- batches, reopening, storage failures -------------------------------------------------- */

static void a_batch_is_invisible_until_commit_and_gone_after_rollback(void **state)
{
	struct fx *f = *state;
	struct rec r;
	enum ingest_result res;

	assert_int_equal(registry_begin(f->reg), 0);
	assert_int_equal(registry_begin(f->reg), -EBUSY);
	cert(f, &r, 0, "nas", 5);
	assert_int_equal(ingest(f, &r, f->admin, &res), 0);
	assert_int_equal(res, INGEST_ACCEPTED);
	assert_int_equal(counts(f).hosts, 0); /* not materialized yet */
	registry_rollback(f->reg);
	assert_int_equal(counts(f).records, 1);

	assert_int_equal(registry_begin(f->reg), 0);
	assert_int_equal(ingest(f, &r, f->admin, &res), 0);
	cert(f, &r, 1, "printer", 6);
	assert_int_equal(ingest(f, &r, f->admin, &res), 0);
	assert_int_equal(ingest(f, &r, f->admin, &res), 0);
	assert_int_equal(res, INGEST_DUPLICATE);
	assert_int_equal(registry_commit(f->reg, NOW), 0);
	assert_int_equal(counts(f).hosts, 2);
	assert_int_equal(registry_commit(f->reg, NOW), -EINVAL);
}

/* registry_commit_deferred: the records are stored and durable at once, the view (hosts,
 * custom records, the snapshot) follows at the next refresh, in this handle or another. */
static void a_deferred_commit_stores_records_and_the_refresh_publishes_them(void **state)
{
	struct fx *f = *state;
	struct registry *other;
	struct snapshot *snap;
	struct rec r;
	enum ingest_result res;
	uint8_t hash[2][32];

	assert_int_equal(registry_commit_deferred(f->reg), -EINVAL); /* no batch */
	assert_int_equal(registry_begin(f->reg), 0);
	cert(f, &r, 0, "nas", 5);
	assert_int_equal(ingest(f, &r, f->admin, &res), 0);
	assert_int_equal(res, INGEST_ACCEPTED);
	assert_int_equal(registry_commit_deferred(f->reg), 0);
	assert_int_equal(counts(f).records, 2);
	assert_int_equal(counts(f).hosts, 0); /* the view is the one from before */
	assert_int_equal(registry_snapshot(f->reg, &snap), 0);
	assert_null(snapshot_lookup_name(snap, "nas", 3));
	snapshot_unref(snap);

	/* a second deferred batch, then a rolled-back one: neither loses the first */
	assert_int_equal(registry_begin(f->reg), 0);
	cert(f, &r, 1, "printer", 6);
	assert_int_equal(ingest(f, &r, f->admin, &res), 0);
	assert_int_equal(registry_commit_deferred(f->reg), 0);
	assert_int_equal(registry_begin(f->reg), 0);
	cert(f, &r, 2, "scanner", 7);
	assert_int_equal(ingest(f, &r, f->admin, &res), 0);
	registry_rollback(f->reg);

	/* another handle (another process) recomputes the view itself */
	assert_int_equal(registry_open(f->path, &other), 0);
	assert_int_equal(registry_refresh(other, NOW), 0);
	assert_int_equal(registry_state_hash(other, hash[0]), 0);
	registry_close(other);

	assert_int_equal(registry_refresh(f->reg, NOW), 0);
	assert_int_equal(counts(f).records, 3);
	assert_int_equal(counts(f).hosts, 2);
	assert_int_equal(registry_snapshot(f->reg, &snap), 0);
	assert_non_null(snapshot_lookup_name(snap, "nas", 3));
	assert_non_null(snapshot_lookup_name(snap, "printer", 7));
	assert_null(snapshot_lookup_name(snap, "scanner", 7));
	snapshot_unref(snap);
	assert_int_equal(registry_state_hash(f->reg, hash[1]), 0);
	assert_memory_equal(hash[0], hash[1], 32);

	/* a later commit that materializes also brings the deferred view up to date */
	assert_int_equal(registry_begin(f->reg), 0);
	cert(f, &r, 2, "scanner", 7);
	assert_int_equal(ingest(f, &r, f->admin, &res), 0);
	assert_int_equal(registry_commit_deferred(f->reg), 0);
	assert_int_equal(registry_begin(f->reg), 0);
	assert_int_equal(registry_commit(f->reg, NOW), 0);
	assert_int_equal(counts(f).hosts, 3);
}

struct collect {
	size_t n;
	uint8_t types[16];
};

static int collect_cb(void *arg, const uint8_t *buf, size_t len)
{
	struct collect *c = arg;

	assert_true(len > 5);
	if (c->n < sizeof(c->types))
		c->types[c->n] = buf[4];
	c->n++;
	return 0;
}

static void a_reopened_registry_holds_everything_committed(void **state)
{
	struct fx *f = *state;
	struct rec r;
	uint8_t before[32], after[32];
	struct collect c = { 0 };
	struct snapshot *s;

	cert(f, &r, 0, "nas", 5);
	assert_int_equal(ingest(f, &r, f->admin, NULL), 0);
	txt(f, &r, REC_OP_ADD, 1, "www", "hello");
	r.issued_at = NOW - 10;
	assert_int_equal(ingest(f, &r, f->admin, NULL), 0);
	assert_int_equal(registry_state_hash(f->reg, before), 0);
	registry_close(f->reg);
	assert_int_equal(registry_open(f->path, &f->reg), 0);
	assert_int_equal(registry_state_hash(f->reg, after), 0);
	assert_memory_equal(before, after, 32);
	assert_int_equal(registry_foreach(f->reg, collect_cb, &c), 0);
	assert_int_equal(c.n, 3);
	/* (issued_at, id) order: the RECORD is older than the ROOT and the CERT. */
	assert_int_equal(c.types[0], REC_RECORD);
	s = snap(f);
	assert_non_null(lookup(s, "nas"));
	assert_string_equal(snapshot_zone(s), "mesh");
	snapshot_unref(s);
}

static void a_file_that_is_not_a_database_is_an_io_error(void **state)
{
	struct fx g;
	struct registry *reg = (struct registry *)1;
	FILE *fp;

	(void)state;
	memset(&g, 0, sizeof(g));
	fx_paths(&g, "/tmp");
	fp = fopen(g.path, "w");
	assert_non_null(fp);
	for (int i = 0; i < 512; i++)
		fputs("this is not an sqlite database, just text. ", fp);
	fclose(fp);
	assert_int_equal(registry_open(g.path, &reg), -EIO);
	assert_null(reg);
	/* A directory where the file should be. */
	unlink(g.path);
	assert_int_equal(mkdir(g.path, 0700), 0);
	assert_true(registry_open(g.path, &reg) < 0);
	assert_int_equal(rmdir(g.path), 0);
	fx_remove(&g);
}

/* As root, permissions only bind after giving root up: the open runs in a child. */
static void a_database_this_user_may_not_read_is_access_denied(void **state)
{
	struct fx *f = *state;
	int status;
	pid_t pid;

	registry_close(f->reg);
	f->reg = NULL;
	assert_int_equal(chmod(f->path, 0600), 0);
	assert_int_equal(chmod(f->dir, 0755), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct registry *reg = NULL;
		int rc;

		if (geteuid() == 0) {
			if (setgid(65534) != 0 || setuid(65534) != 0)
				_exit(10);
		} else if (chmod(f->path, 0) != 0) {
			_exit(11);
		}
		rc = registry_open(f->path, &reg);
		_exit(rc == -EACCES && reg == NULL ? 0 : 12);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(chmod(f->path, 0600), 0);
	assert_int_equal(registry_open(f->path, &f->reg), 0);
	assert_string_equal(registry_strerror(-EACCES),
			    "the registry database is not readable and writable by this user");
}

static void a_database_cut_in_half_is_an_io_error(void **state)
{
	struct fx *f = *state;
	struct registry *reg = NULL;
	struct stat st;
	struct rec r;
	int i;

	for (i = 0; i < 40; i++) {
		char name[16];

		snprintf(name, sizeof(name), "h%d", i);
		cert(f, &r, i, name, (uint8_t)(i + 1));
		assert_int_equal(ingest(f, &r, f->admin, NULL), 0);
	}
	registry_close(f->reg);
	f->reg = NULL;
	{
		/* Fold the WAL in, then cut the file. */
		sqlite3 *db;

		assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL,
					      NULL),
				 SQLITE_OK);
		sqlite3_close(db);
	}
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(truncate(f->path, st.st_size / 2), 0);
	assert_int_equal(registry_open(f->path, &reg), -EIO);
	/* Leave a fresh registry for teardown. */
	assert_int_equal(unlink(f->path), 0);
	assert_int_equal(registry_open(f->path, &f->reg), 0);
}

static void a_full_disk_stores_nothing_and_the_registry_recovers(void **state)
{
	struct fx *f = *state;
	struct rec r;
	uint8_t hash[32], hash2[32];
	enum ingest_result res;
	struct registry_counts before;
	int i, r_ok = 0, failed = 0;

	/* Cap the database just above its current size. */
	{
		sqlite3_stmt *st;
		int pages;

		assert_int_equal(sqlite3_prepare_v2(f->reg->db, "PRAGMA page_count", -1, &st, NULL),
				 SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		pages = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
		assert_int_equal(store_test_max_pages(f->reg, (unsigned)pages + 2), 0);
	}
	for (i = 0; i < 200 && failed == 0; i++) {
		char name[16];
		int rc;

		snprintf(name, sizeof(name), "host%d", i);
		cert(f, &r, i, name, (uint8_t)(i + 1));
		before = counts(f);
		assert_int_equal(registry_state_hash(f->reg, hash), 0);
		rc = ingest(f, &r, f->admin, &res);
		if (rc == 0) {
			r_ok++;
			continue;
		}
		assert_int_equal(rc, -ENOSPC);
		failed = i;
	}
	assert_true(failed > 0);
	assert_string_equal(registry_strerror(-ENOSPC), "the disk is full: nothing was stored");
	/* Nothing of the failed record, everything before it. */
	assert_int_equal(counts(f).records, before.records);
	assert_int_equal(counts(f).hosts, before.hosts);
	assert_int_equal(counts(f).hosts, (uint64_t)r_ok);
	assert_int_equal(registry_state_hash(f->reg, hash2), 0);
	assert_memory_equal(hash, hash2, 32);

	/* The same inside a batch: the batch fails as a whole, earlier commits stay. */
	assert_int_equal(registry_begin(f->reg), 0);
	{
		int rc = 0;

		for (i = failed; i < 250 && rc == 0; i++) {
			char name[16];

			snprintf(name, sizeof(name), "host%d", i);
			cert(f, &r, i, name, (uint8_t)(i + 1));
			rc = ingest(f, &r, f->admin, &res);
		}
		assert_int_equal(rc, -ENOSPC);
	}
	{
		int rc = registry_commit(f->reg, NOW);

		assert_true(rc == 0 || rc == -ENOSPC);
	}
	assert_int_equal(counts(f).hosts, (uint64_t)r_ok);

	/* Room again: the record that failed goes in. */
	assert_int_equal(store_test_max_pages(f->reg, 0), 0);
	cert(f, &r, failed, "late", (uint8_t)(failed + 1));
	assert_int_equal(ingest(f, &r, f->admin, &res), 0);
	assert_int_equal(res, INGEST_ACCEPTED);
	assert_int_equal(counts(f).hosts, (uint64_t)r_ok + 1);
	{
		struct snapshot *s = snap(f);

		assert_non_null(lookup(s, "late"));
		assert_non_null(lookup(s, "host0"));
		snapshot_unref(s);
	}
}

static int strerror_cb(int err)
{
	const char *s = registry_strerror(err);
	size_t n = strlen(s);

	assert_true(n > 5);
	assert_true(s[n - 1] != '.');
	return 0;
}

static void every_error_has_a_sentence(void **state)
{
	static const int errs[] = { EMSGSIZE,     EPROTONOSUPPORT, EBADMSG, EXDEV,       ERANGE,
				    EKEYEXPIRED,  EPERM,           EINVAL,  EKEYREVOKED, ESTALE,
				    EKEYREJECTED, ENOENT,          EIO,     ENOSPC };

	(void)state;
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		strerror_cb(-errs[i]);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(registry_strerror(-errs[i]),
						registry_strerror(-errs[j]));
	}
}

/* ---- observations (OBSERVE) --------------------------------------------------------------- */

/* An OBSERVE: "I saw subject at 203.0.113.octet:port", issued at issued for an hour. */
static void observe(struct fx *f, struct rec *r, uint64_t seq, const uint8_t *subject_sk,
		    uint8_t octet, uint16_t port, uint64_t issued)
{
	memset(r, 0, sizeof(*r));
	r->type = REC_OBSERVE;
	memcpy(r->mesh_id, f->mesh_id, REC_ID_SIZE);
	r->seq = seq;
	r->issued_at = issued;
	r->expires_at = issued + 3600;
	memcpy(r->u.observe.subject, fixture_pk(subject_sk), REC_KEY_SIZE);
	r->u.observe.seen.kind = EP_REFLEXIVE;
	r->u.observe.seen.family = 4;
	r->u.observe.seen.addr[0] = 203;
	r->u.observe.seen.addr[1] = 0;
	r->u.observe.seen.addr[2] = 113;
	r->u.observe.seen.addr[3] = octet;
	r->u.observe.seen.port = port;
}

/* Hosts 0..n-1 named h0.. at 100.70.0.1.. */
static void members(struct fx *f, int n)
{
	struct rec r;

	for (int i = 0; i < n; i++) {
		char name[8];

		snprintf(name, sizeof(name), "h%d", i);
		cert(f, &r, i, name, (uint8_t)(i + 1));
		assert_int_equal(ingest(f, &r, f->admin, NULL), 0);
	}
}

static void an_observation_by_one_member_of_another_is_in_the_subjects_snapshot(void **state)
{
	struct fx *f = *state;
	uint8_t a[REC_SECRET_SIZE], b[REC_SECRET_SIZE], before[32], after[32];
	struct rec r;
	enum ingest_result res;
	struct snapshot *s;
	const struct snapshot_host *h;
	uint64_t gen;

	host_key(0, a);
	host_key(1, b);
	members(f, 2);
	observe(f, &r, 1, b, 7, 41641, NOW - 10);
	assert_int_equal(ingest(f, &r, a, &res), 0);
	assert_int_equal(res, INGEST_ACCEPTED);
	s = snap(f);
	h = lookup(s, "h1");
	assert_int_equal(h->n_observations, 1);
	assert_memory_equal(h->observations[0].observer, fixture_pk(a), REC_KEY_SIZE);
	assert_int_equal(h->observations[0].seen.kind, EP_REFLEXIVE);
	assert_int_equal(h->observations[0].seen.family, 4);
	assert_memory_equal(h->observations[0].seen.addr, "\xcb\x00\x71\x07", 4);
	assert_int_equal(h->observations[0].seen.port, 41641);
	assert_int_equal(h->observations[0].seq, 1);
	assert_int_equal(h->observations[0].issued_at, NOW - 10);
	assert_int_equal(h->observations[0].expires_at, NOW - 10 + 3600);
	assert_int_equal(lookup(s, "h0")->n_observations, 0); /* about h1, not by it */
	gen = snapshot_generation(s);
	snapshot_unref(s);

	/* Read back from the tables by a reopened registry: the same view, no new generation. */
	assert_int_equal(registry_state_hash(f->reg, before), 0);
	registry_close(f->reg);
	assert_int_equal(registry_open(f->path, &f->reg), 0);
	assert_int_equal(registry_state_hash(f->reg, after), 0);
	assert_memory_equal(before, after, 32);
	assert_int_equal(registry_refresh(f->reg, NOW + 1), 0);
	s = snap(f);
	assert_int_equal(snapshot_generation(s), gen);
	assert_int_equal(lookup(s, "h1")->n_observations, 1);
	assert_int_equal(lookup(s, "h1")->observations[0].seen.port, 41641);
	snapshot_unref(s);
}

static void an_observation_by_a_non_member_waits_and_applies_when_its_cert_comes(void **state)
{
	struct fx *f = *state;
	uint8_t a[REC_SECRET_SIZE], b[REC_SECRET_SIZE];
	struct rec r, o;
	enum ingest_result res;
	struct snapshot *s;

	host_key(0, a);
	host_key(1, b);
	cert(f, &r, 1, "h1", 2);
	assert_int_equal(ingest(f, &r, f->admin, NULL), 0);
	observe(f, &o, 1, b, 7, 41641, NOW);
	assert_int_equal(ingest(f, &o, a, &res), 0);
	assert_int_equal(res, INGEST_PENDING);
	s = snap(f);
	assert_int_equal(lookup(s, "h1")->n_observations, 0);
	snapshot_unref(s);
	cert(f, &r, 0, "h0", 1);
	assert_int_equal(ingest(f, &r, f->admin, NULL), 0);
	s = snap(f);
	assert_int_equal(lookup(s, "h1")->n_observations, 1);
	snapshot_unref(s);
	assert_int_equal(counts(f).pending, 0);
}

static void an_observation_of_an_unknown_host_waits_and_of_itself_is_refused(void **state)
{
	struct fx *f = *state;
	uint8_t a[REC_SECRET_SIZE], b[REC_SECRET_SIZE];
	struct rec r, o;
	enum ingest_result res;
	struct snapshot *s;

	host_key(0, a);
	host_key(1, b);
	cert(f, &r, 0, "h0", 1);
	assert_int_equal(ingest(f, &r, f->admin, NULL), 0);
	observe(f, &o, 1, a, 7, 41641, NOW);
	assert_int_equal(ingest(f, &o, a, NULL), -EINVAL); /* nobody vouches for itself */
	observe(f, &o, 1, b, 7, 41641, NOW);
	assert_int_equal(ingest(f, &o, a, &res), 0);
	assert_int_equal(res, INGEST_PENDING);
	assert_int_equal(counts(f).pending, 1);
	cert(f, &r, 1, "h1", 2);
	assert_int_equal(ingest(f, &r, f->admin, NULL), 0);
	assert_int_equal(counts(f).pending, 0);
	s = snap(f);
	assert_int_equal(lookup(s, "h1")->n_observations, 1);
	assert_int_equal(lookup(s, "h0")->n_observations, 0);
	snapshot_unref(s);
}

static void a_replayed_older_observation_is_stale(void **state)
{
	struct fx *f = *state;
	uint8_t a[REC_SECRET_SIZE], b[REC_SECRET_SIZE], c[REC_SECRET_SIZE];
	struct rec old, r;
	struct snapshot *s;

	host_key(0, a);
	host_key(1, b);
	host_key(2, c);
	members(f, 3);
	observe(f, &old, 4, b, 7, 1000, NOW);
	assert_int_equal(ingest(f, &old, a, NULL), 0);
	observe(f, &r, 5, b, 7, 2000, NOW);
	assert_int_equal(ingest(f, &r, a, NULL), 0);
	assert_int_equal(counts(f).records, 1 + 3 + 1); /* seq 4 was deleted */
	assert_int_equal(ingest(f, &old, a, NULL), -ESTALE);
	/* Another subject, or another observer, is another key: not stale. */
	observe(f, &r, 1, c, 7, 3000, NOW);
	assert_int_equal(ingest(f, &r, a, NULL), 0);
	observe(f, &r, 1, b, 8, 4000, NOW);
	assert_int_equal(ingest(f, &r, c, NULL), 0);
	s = snap(f);
	assert_int_equal(lookup(s, "h1")->n_observations, 2);
	for (size_t i = 0; i < 2; i++) {
		const struct snapshot_observation *o = &lookup(s, "h1")->observations[i];

		if (memcmp(o->observer, fixture_pk(a), REC_KEY_SIZE) == 0)
			assert_int_equal(o->seen.port, 2000);
		else
			assert_int_equal(o->seen.port, 4000);
	}
	snapshot_unref(s);
}

static void expired_observations_are_refused_and_drop_out_when_they_expire(void **state)
{
	struct fx *f = *state;
	uint8_t a[REC_SECRET_SIZE], b[REC_SECRET_SIZE];
	struct rec r;
	struct snapshot *s;
	uint64_t gen;

	host_key(0, a);
	host_key(1, b);
	members(f, 2);
	observe(f, &r, 1, b, 7, 41641, NOW - 3600); /* expires at NOW */
	assert_int_equal(ingest(f, &r, a, NULL), -EKEYEXPIRED);
	observe(f, &r, 2, b, 7, 41641, NOW - 3000); /* expires at NOW + 600 */
	assert_int_equal(ingest(f, &r, a, NULL), 0);
	s = snap(f);
	gen = snapshot_generation(s);
	assert_int_equal(lookup(s, "h1")->n_observations, 1);
	snapshot_unref(s);
	assert_int_equal(registry_refresh(f->reg, NOW + 599), 0);
	s = snap(f);
	assert_int_equal(lookup(s, "h1")->n_observations, 1);
	snapshot_unref(s);
	assert_int_equal(registry_refresh(f->reg, NOW + 600), 0);
	s = snap(f);
	assert_int_equal(lookup(s, "h1")->n_observations, 0);
	assert_true(snapshot_generation(s) > gen);
	snapshot_unref(s);
}

static void revoking_the_observer_or_the_subject_purges_the_observation(void **state)
{
	struct fx *f = *state;
	uint8_t k[3][REC_SECRET_SIZE];
	struct rec r, by0, of2, rv;
	struct snapshot *s;

	for (int i = 0; i < 3; i++)
		host_key(i, k[i]);
	members(f, 3);
	observe(f, &by0, 1, k[1], 7, 1000, NOW); /* h0 saw h1 */
	assert_int_equal(ingest(f, &by0, k[0], NULL), 0);
	observe(f, &of2, 1, k[2], 9, 3000, NOW); /* h1 saw h2 */
	assert_int_equal(ingest(f, &of2, k[1], NULL), 0);
	observe(f, &r, 1, k[1], 7, 1000, NOW); /* h2 saw h1 */
	assert_int_equal(ingest(f, &r, k[2], NULL), 0);
	assert_int_equal(counts(f).records, 1 + 3 + 3);

	/* h0 is revoked: what it said goes. */
	revoke_rec(f, &rv, fixture_pk(k[0]), 1);
	assert_int_equal(ingest(f, &rv, f->admin, NULL), 0);
	assert_int_equal(ingest(f, &by0, k[0], NULL), -EKEYREVOKED);
	s = snap(f);
	assert_int_equal(lookup(s, "h1")->n_observations, 1);
	assert_memory_equal(lookup(s, "h1")->observations[0].observer, fixture_pk(k[2]),
			    REC_KEY_SIZE);
	snapshot_unref(s);

	/* h2 gives up: what it said and what was said about it go. */
	revoke_rec(f, &rv, fixture_pk(k[2]), 3);
	assert_int_equal(ingest(f, &rv, k[2], NULL), 0);
	assert_int_equal(counts(f).records, 1 + 1 + 2); /* ROOT, h1's CERT, two REVOKEs */
	assert_int_equal(ingest(f, &of2, k[1], NULL), -EKEYREVOKED);
	s = snap(f);
	assert_int_equal(snapshot_host_count(s), 1);
	assert_int_equal(lookup(s, "h1")->n_observations, 0);
	snapshot_unref(s);
}

static void observation_equivocation_keeps_both_and_the_lower_id_wins_with_an_alert(void **state)
{
	struct fx *f = *state;
	uint8_t a[REC_SECRET_SIZE], b[REC_SECRET_SIZE], id0[REC_ID_SIZE], id1[REC_ID_SIZE];
	struct rec o0, o1;
	struct snapshot *s;

	host_key(0, a);
	host_key(1, b);
	members(f, 2);
	observe(f, &o0, 3, b, 7, 1000, NOW);
	observe(f, &o1, 3, b, 7, 2000, NOW);
	id_of(&o0, a, id0);
	id_of(&o1, a, id1);
	assert_int_equal(ingest(f, &o0, a, NULL), 0);
	assert_int_equal(ingest(f, &o1, a, NULL), 0);
	assert_int_equal(counts(f).records, 1 + 2 + 2);
	s = snap(f);
	assert_int_equal(lookup(s, "h1")->n_observations, 1);
	assert_int_equal(lookup(s, "h1")->observations[0].seen.port,
			 memcmp(id0, id1, REC_ID_SIZE) < 0 ? 1000 : 2000);
	snapshot_unref(s);
	assert_int_equal(alerts_with(f, "signed two different OBSERVE records"), 1);
}

static void a_snapshot_keeps_the_16_newest_observations_of_a_host(void **state)
{
	struct fx *f = *state;
	uint8_t k[19][REC_SECRET_SIZE];
	struct rec r;
	struct snapshot *s;
	const struct snapshot_host *h;

	for (int i = 0; i < 19; i++)
		host_key(i, k[i]);
	members(f, 19);
	/* h1..h18 all saw h0; h<i> at NOW - 100 * i: h1 newest, h17 and h18 the oldest */
	for (int i = 1; i < 19; i++) {
		observe(f, &r, 1, k[0], (uint8_t)i, 1000, NOW - 100 * (uint64_t)i);
		assert_int_equal(ingest(f, &r, k[i], NULL), 0);
	}
	s = snap(f);
	h = lookup(s, "h0");
	assert_int_equal(h->n_observations, SNAPSHOT_MAX_OBSERVATIONS);
	for (int i = 0; i < SNAPSHOT_MAX_OBSERVATIONS; i++) {
		assert_memory_equal(h->observations[i].observer, fixture_pk(k[i + 1]),
				    REC_KEY_SIZE);
		assert_int_equal(h->observations[i].issued_at, NOW - 100 * (uint64_t)(i + 1));
	}
	snapshot_unref(s);
}

static void a_database_made_before_observations_gets_their_table_when_opened(void **state)
{
	struct fx *f = *state;
	uint8_t a[REC_SECRET_SIZE], b[REC_SECRET_SIZE];
	struct rec r;
	struct snapshot *s;
	sqlite3 *db;

	host_key(0, a);
	host_key(1, b);
	members(f, 2);
	registry_close(f->reg);
	/* What a database of the first schema 1 looks like: no observation table. */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE observation", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(registry_open(f->path, &f->reg), 0);
	observe(f, &r, 1, b, 7, 41641, NOW);
	assert_int_equal(ingest(f, &r, a, NULL), 0);
	s = snap(f);
	assert_int_equal(lookup(s, "h1")->n_observations, 1);
	snapshot_unref(s);
}

/* ---- order independence ------------------------------------------------------------------------ */

struct raw {
	uint8_t buf[REC_MAX_SIZE];
	size_t len;
};

static void add_raw(struct raw *set, size_t *n, struct rec *r, const uint8_t *sk)
{
	set[*n].len = sign(r, sk, set[*n].buf);
	(*n)++;
}

/* ~60 records with every kind of conflict (see doc/records.md). */
static size_t build_set(struct fx *f, struct raw *set)
{
	uint8_t sk[20][REC_SECRET_SIZE], adm1[REC_SECRET_SIZE], adm2[REC_SECRET_SIZE];
	struct rec r;
	size_t n = 0;

	for (int i = 0; i < 20; i++)
		host_key(i, sk[i]);
	fixture_key(K_ADMISSION, adm1);
	fixture_key(K_ADMISSION + 1, adm2);

	for (int i = 0; i < 10; i++) {
		char name[8];

		snprintf(name, sizeof(name), "h%d", i);
		cert(f, &r, i, name, (uint8_t)(i + 1));
		add_raw(set, &n, &r, f->admin);
	}
	cert(f, &r, 10, "h0", 50); /* the name of h0 */
	add_raw(set, &n, &r, f->admin);
	cert(f, &r, 11, "x11", 2); /* the address of h1 */
	add_raw(set, &n, &r, f->admin);
	cert(f, &r, 12, "h3", 52); /* the name of h3, with a higher serial: wins */
	r.seq = 2;
	add_raw(set, &n, &r, f->admin);
	cert(f, &r, 4, "h4", 60); /* h4 renewed at a new address */
	r.seq = 3;
	add_raw(set, &n, &r, f->admin);
	cert(f, &r, 13, "x13", 70); /* about to expire */
	r.expires_at = NOW + 100;
	add_raw(set, &n, &r, f->admin);

	admit(f, &r, adm1, "inv1", 30);
	add_raw(set, &n, &r, f->admin);
	cert(f, &r, 14, "inv1", 30);
	add_raw(set, &n, &r, adm1);
	cert(f, &r, 15, "inv1", 30); /* the same invite used twice */
	add_raw(set, &n, &r, adm1);
	admit(f, &r, adm2, "inv2", 31);
	add_raw(set, &n, &r, f->admin);
	cert(f, &r, 16, "inv2", 31);
	add_raw(set, &n, &r, adm2);
	revoke_rec(f, &r, fixture_pk(adm2), 0); /* takes inv2 away */
	add_raw(set, &n, &r, f->admin);

	for (uint64_t seq = 1; seq <= 3; seq++) {
		endpoints(f, &r, seq, (uint16_t)(1000 + seq), 1);
		add_raw(set, &n, &r, sk[0]);
	}
	endpoints(f, &r, 1, 2000, 2);
	add_raw(set, &n, &r, sk[1]);
	endpoints(f, &r, 5, 3000, 3); /* equivocation */
	add_raw(set, &n, &r, sk[2]);
	endpoints(f, &r, 5, 3001, 3);
	add_raw(set, &n, &r, sk[2]);
	endpoints(f, &r, 4, 2999, 3);
	add_raw(set, &n, &r, sk[2]);
	endpoints(f, &r, 1, 4000, 4);
	add_raw(set, &n, &r, sk[14]);
	endpoints(f, &r, 1, 4001, 4);
	add_raw(set, &n, &r, sk[15]);
	endpoints(f, &r, 1, 5000, 7);
	add_raw(set, &n, &r, sk[7]);
	endpoints(f, &r, 2, 5000, 17); /* signer without any cert */
	add_raw(set, &n, &r, sk[19]);

	txt(f, &r, REC_OP_ADD, 1, "www", "a");
	add_raw(set, &n, &r, f->admin);
	txt(f, &r, REC_OP_DELETE, 2, "www", "a");
	add_raw(set, &n, &r, f->admin);
	txt(f, &r, REC_OP_ADD, 1, "www", "b");
	add_raw(set, &n, &r, f->admin);
	txt(f, &r, REC_OP_ADD, 1, "mail", "m");
	add_raw(set, &n, &r, f->admin);
	txt(f, &r, REC_OP_ADD, 1, "mail", "m"); /* same key and seq, other ttl */
	r.u.record.ttl = 60;
	add_raw(set, &n, &r, f->admin);
	txt(f, &r, REC_OP_ADD, 1, "svc.h9", "mine");
	add_raw(set, &n, &r, sk[9]);
	txt(f, &r, REC_OP_ADD, 1, "svc.h7", "revoked");
	add_raw(set, &n, &r, sk[7]);
	txt(f, &r, REC_OP_ADD, 1, "svc.h0", "loser of a name");
	add_raw(set, &n, &r, sk[10]);

	revoke_rec(f, &r, fixture_pk(sk[7]), 8); /* an admin revokes h7 */
	add_raw(set, &n, &r, f->admin);
	revoke_rec(f, &r, fixture_pk(sk[8]), 9); /* h8 gives up */
	add_raw(set, &n, &r, sk[8]);
	endpoints(f, &r, 1, 6000, 9);
	add_raw(set, &n, &r, sk[8]);

	/* Observations: a newer one replaces an older, an equivocation, one by a revoked
	 * host, one about a revoked host, one by a key without a cert, one about itself. */
	observe(f, &r, 1, sk[6], 7, 1000, NOW - 50);
	add_raw(set, &n, &r, sk[5]);
	observe(f, &r, 2, sk[6], 7, 1001, NOW - 40);
	add_raw(set, &n, &r, sk[5]);
	observe(f, &r, 1, sk[6], 8, 1002, NOW - 30);
	add_raw(set, &n, &r, sk[2]);
	observe(f, &r, 1, sk[5], 9, 2000, NOW);
	add_raw(set, &n, &r, sk[2]);
	observe(f, &r, 1, sk[5], 9, 2001, NOW);
	add_raw(set, &n, &r, sk[2]);
	observe(f, &r, 1, sk[6], 10, 3000, NOW);
	add_raw(set, &n, &r, sk[7]);
	observe(f, &r, 1, sk[7], 11, 3001, NOW);
	add_raw(set, &n, &r, sk[6]);
	observe(f, &r, 1, sk[6], 12, 3002, NOW);
	add_raw(set, &n, &r, sk[19]);
	observe(f, &r, 1, sk[9], 13, 3003, NOW);
	add_raw(set, &n, &r, sk[9]);

	/* Refused in any order: wrong signer, bad rules. */
	cert(f, &r, 17, "bad", 80);
	add_raw(set, &n, &r, sk[0]);
	cert(f, &r, 18, "bad", 80);
	r.u.cert.ipv4[1] = 1;
	add_raw(set, &n, &r, f->admin);
	return n;
}

static uint64_t prng(uint64_t *s)
{
	/* splitmix64: fixed seed, same sequence on every run. */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void ingest_all(struct fx *f, const struct raw *set, const size_t *order, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		enum ingest_result res;
		int rc = registry_ingest(f->reg, set[order[i]].buf, set[order[i]].len, NOW, &res);

		assert_true(rc == 0 || rc == -EPERM || rc == -EINVAL || rc == -ESTALE ||
			    rc == -EKEYREVOKED);
	}
}

static void the_same_records_in_any_order_give_the_same_state(void **state)
{
	struct fx *ref = *state;
	struct raw *set = calloc(100, sizeof(*set));
	size_t order[120], n, total;
	uint8_t want[32], got[32];
	uint64_t seed = 42;
	struct snapshot *s;

	assert_non_null(set);
	n = build_set(ref, set);
	assert_true(n >= 45 && n <= 100);

	/* The reference: everything in one batch, in the order made. */
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	assert_int_equal(registry_begin(ref->reg), 0);
	ingest_all(ref, set, order, n);
	assert_int_equal(registry_commit(ref->reg, NOW), 0);
	assert_int_equal(registry_state_hash(ref->reg, want), 0);

	/* What a user would see in the reference. */
	s = snap(ref);
	assert_non_null(lookup(s, "h0"));             /* one of its two claimants */
	assert_int_equal(lookup(s, "h3")->serial, 2); /* the higher serial */
	assert_int_equal(lookup(s, "h4")->ipv4[3], 60);
	assert_int_equal(lookup(s, "h0")->endpoints_seq, lookup(s, "h0")->ipv4[3] == 1 ? 3 : 0);
	assert_int_equal(lookup(s, "h2")->endpoints_seq, 5);
	assert_null(lookup(s, "h7"));   /* revoked by the admin */
	assert_null(lookup(s, "h8"));   /* revoked itself */
	assert_null(lookup(s, "inv2")); /* its admission key was revoked */
	assert_non_null(lookup(s, "inv1"));
	assert_non_null(lookup(s, "x13"));
	{
		const struct snapshot_rr *rr;

		assert_int_equal(snapshot_rr_find(s, "www", 3, &rr), 1); /* "b"; "a" deleted */
		assert_memory_equal(rr->rdata,
				    "\x01"
				    "b",
				    2);
		assert_int_equal(snapshot_rr_find(s, "mail", 4, &rr), 1);
		assert_int_equal(snapshot_rr_find(s, "svc.h9", 6, &rr), 1);
		assert_int_equal(snapshot_rr_find(s, "svc.h7", 6, &rr), 0);
	}
	/* h6: by h5 (seq 2, the newer) and h2; not by h7 (revoked) nor the certless key. */
	assert_int_equal(lookup(s, "h6")->n_observations, 2);
	assert_int_equal(lookup(s, "h6")->observations[0].seen.port, 1002); /* newest first */
	assert_int_equal(lookup(s, "h6")->observations[1].seen.port, 1001);
	assert_int_equal(lookup(s, "h5")->n_observations, 1); /* one of the equivocation */
	assert_int_equal(lookup(s, "h9")->n_observations, 0);
	snapshot_unref(s);

	for (int round = 0; round < 50; round++) {
		struct fx *f = fx_new_in(access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");

		for (size_t i = 0; i < n; i++)
			order[i] = i;
		for (size_t i = n - 1; i > 0; i--) {
			size_t j = (size_t)(prng(&seed) % (i + 1)), t = order[i];

			order[i] = order[j];
			order[j] = t;
		}
		total = n;
		for (size_t d = 0; d < 10; d++) /* duplicates at random places */
			order[total++] = order[prng(&seed) % n];
		for (size_t i = n; i < total; i++) {
			size_t j = (size_t)(prng(&seed) % (i + 1)), t = order[i];

			order[i] = order[j];
			order[j] = t;
		}
		if (round % 2 == 0) {
			ingest_all(f, set, order, total);
		} else {
			assert_int_equal(registry_begin(f->reg), 0);
			ingest_all(f, set, order, total);
			assert_int_equal(registry_commit(f->reg, NOW), 0);
		}
		assert_int_equal(registry_state_hash(f->reg, got), 0);
		assert_memory_equal(want, got, 32);
		registry_close(f->reg);
		fx_remove(f);
		free(f);
	}

	/* The hash does see a difference: without h4's renewal (record 13) it changes. */
	{
		struct fx *f = fx_new_in("/tmp");
		size_t k = 0;

		for (size_t i = 0; i < n; i++)
			if (i != 13)
				order[k++] = i;
		ingest_all(f, set, order, k);
		assert_int_equal(registry_state_hash(f->reg, got), 0);
		assert_memory_not_equal(want, got, 32);
		registry_close(f->reg);
		fx_remove(f);
		free(f);
	}
	/* ... and without one observation (h2's of h6, the third OBSERVE) it changes too. */
	{
		struct fx *f = fx_new_in("/tmp");
		size_t k = 0, seen = 0;

		for (size_t i = 0; i < n; i++)
			if (set[i].buf[4] != REC_OBSERVE || ++seen != 3)
				order[k++] = i;
		assert_int_equal(k, n - 1);
		ingest_all(f, set, order, k);
		assert_int_equal(registry_state_hash(f->reg, got), 0);
		assert_memory_not_equal(want, got, 32);
		registry_close(f->reg);
		fx_remove(f);
		free(f);
	}
	free(set);
}

/* ---- the sync set ------------------------------------------------------------------------ */

struct sync_items {
	size_t n;
	uint64_t issued_at[128];
	uint8_t id[128][REC_ID_SIZE];
};

static int collect_item_cb(void *arg, uint64_t issued_at, const uint8_t id[REC_ID_SIZE])
{
	struct sync_items *it = arg;

	assert_true(it->n < 128);
	it->issued_at[it->n] = issued_at;
	memcpy(it->id[it->n], id, REC_ID_SIZE);
	it->n++;
	return 0;
}

static void sync_items(struct fx *f, uint64_t now, struct sync_items *it)
{
	memset(it, 0, sizeof(*it));
	assert_int_equal(registry_foreach_item(f->reg, now, collect_item_cb, it), 0);
}

static bool has_item(const struct sync_items *it, const uint8_t id[REC_ID_SIZE])
{
	for (size_t i = 0; i < it->n; i++)
		if (memcmp(it->id[i], id, REC_ID_SIZE) == 0)
			return true;
	return false;
}

static void
the_sync_set_is_the_same_whatever_the_order_and_holds_only_live_stored_records(void **state)
{
	struct fx *ref = *state, *f = fx_new_in("/tmp");
	struct raw *set = calloc(100, sizeof(*set));
	struct sync_items *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	uint8_t sk[REC_SECRET_SIZE], id[REC_ID_SIZE], buf[REC_MAX_SIZE];
	size_t order[120], n, len, never_expiring = 0;
	struct rec r;

	assert_non_null(set);
	assert_non_null(a);
	assert_non_null(b);
	n = build_set(ref, set);
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	ingest_all(ref, set, order, n);
	for (size_t i = 0; i < n; i++) /* the other registry: backwards, each twice */
		order[i] = n - 1 - i;
	ingest_all(f, set, order, n);
	ingest_all(f, set, order, n);
	sync_items(ref, NOW, a);
	sync_items(f, NOW, b);
	assert_int_equal(a->n, b->n);
	assert_memory_equal(a->issued_at, b->issued_at, a->n * sizeof(a->issued_at[0]));
	assert_memory_equal(a->id, b->id, a->n * REC_ID_SIZE);
	/* every stored record, nothing pending, in (issued_at, id) order */
	assert_int_equal(a->n, counts(ref).records);
	assert_true(counts(ref).pending > 0);
	for (size_t i = 0; i < a->n; i++) {
		struct rec d;

		if (i > 0)
			assert_true(a->issued_at[i - 1] < a->issued_at[i] ||
				    (a->issued_at[i - 1] == a->issued_at[i] &&
				     memcmp(a->id[i - 1], a->id[i], REC_ID_SIZE) < 0));
		/* the id is the record's, and registry_get gives the record back */
		assert_int_equal(registry_get(ref->reg, a->id[i], buf, sizeof(buf), &len), 0);
		rec_id(buf, len, id);
		assert_memory_equal(id, a->id[i], REC_ID_SIZE);
		assert_int_equal(rec_decode(buf, len, &d), 0);
		assert_int_equal(d.issued_at, a->issued_at[i]);
		if (d.type == REC_ROOT || d.type == REC_ADMIT || d.type == REC_REVOKE)
			never_expiring++;
	}
	assert_true(has_item(a, ref->mesh_id)); /* the ROOT */

	/* replaced records are not offered: h0's ENDPOINTS seq 1 and 2 lost to seq 3, h2's
	 * seq 4 to its two seq 5 (an equivocation: both kept) */
	host_key(0, sk);
	endpoints(ref, &r, 1, 1001, 1);
	id_of(&r, sk, id);
	assert_false(has_item(a, id));
	endpoints(ref, &r, 3, 1003, 1);
	id_of(&r, sk, id);
	assert_true(has_item(a, id));
	host_key(2, sk);
	endpoints(ref, &r, 4, 2999, 3);
	id_of(&r, sk, id);
	assert_false(has_item(a, id));
	endpoints(ref, &r, 5, 3000, 3);
	id_of(&r, sk, id);
	assert_true(has_item(a, id));
	endpoints(ref, &r, 5, 3001, 3);
	id_of(&r, sk, id);
	assert_true(has_item(a, id));
	/* a pending record (its signer has no CERT) is neither offered nor served */
	host_key(19, sk);
	endpoints(ref, &r, 2, 5000, 17);
	id_of(&r, sk, id);
	assert_false(has_item(a, id));
	assert_int_equal(registry_get(ref->reg, id, buf, sizeof(buf), &len), -ENOENT);

	/* x13's CERT expires at NOW + 100: offered until then, not after */
	cert(ref, &r, 13, "x13", 70);
	r.expires_at = NOW + 100;
	id_of(&r, ref->admin, id);
	assert_true(has_item(a, id));
	sync_items(ref, NOW + 99, b);
	assert_true(has_item(b, id));
	sync_items(ref, NOW + 100, b);
	assert_false(has_item(b, id));
	assert_int_equal(b->n, a->n - 1);
	/* long after: only what never expires (ROOT, REVOKE, ADMIT past its deadline) */
	sync_items(ref, NOW + 1000 * DAY, b);
	assert_int_equal(b->n, never_expiring);
	/* the ROOT, inv1's ADMIT (inv2's went with its revoked admission key), 3 REVOKEs */
	assert_int_equal(never_expiring, 1 + 1 + 3);

	registry_close(f->reg);
	fx_remove(f);
	free(f);
	free(set);
	free(a);
	free(b);
}

static int stop_at_third_cb(void *arg, uint64_t issued_at, const uint8_t id[REC_ID_SIZE])
{
	int *calls = arg;

	(void)issued_at;
	(void)id;
	return ++*calls == 3 ? 42 : 0;
}

static void registry_get_copies_a_stored_record_or_says_why_not(void **state)
{
	struct fx *f = *state;
	uint8_t sk[REC_SECRET_SIZE], id[REC_ID_SIZE], buf[REC_MAX_SIZE], want[REC_MAX_SIZE];
	size_t len = 0, want_len;
	int calls = 0;
	struct rec r;

	cert(f, &r, 0, "h0", 1);
	want_len = sign(&r, f->admin, want);
	rec_id(want, want_len, id);
	assert_int_equal(registry_get(f->reg, id, buf, sizeof(buf), &len), -ENOENT);
	assert_int_equal(ingest(f, &r, f->admin, NULL), 0);
	assert_int_equal(registry_get(f->reg, id, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, want_len);
	assert_memory_equal(buf, want, want_len);
	len = 0;
	assert_int_equal(registry_get(f->reg, id, buf, want_len - 1, &len), -EMSGSIZE);
	assert_int_equal(len, want_len);
	assert_int_equal(registry_get(f->reg, id, buf, want_len, &len), 0);
	/* the ROOT is a record like any other */
	assert_int_equal(registry_get(f->reg, f->mesh_id, buf, sizeof(buf), &len), 0);
	/* the callback's value stops the walk and is returned */
	host_key(0, sk);
	endpoints(f, &r, 1, 1000, 1);
	assert_int_equal(ingest(f, &r, sk, NULL), 0);
	assert_int_equal(registry_foreach_item(f->reg, NOW, stop_at_third_cb, &calls), 42);
	assert_int_equal(calls, 3);
}

static void since(struct fx *f, uint64_t t, struct sync_items *it)
{
	memset(it, 0, sizeof(*it));
	assert_int_equal(registry_foreach_since(f->reg, t, collect_item_cb, it), 0);
}

static void registry_foreach_since_lists_the_records_issued_from_a_time_on(void **state)
{
	struct fx *f = *state;
	struct sync_items *it = calloc(1, sizeof(*it));
	uint8_t a[REC_SECRET_SIZE], b[REC_SECRET_SIZE], c[REC_SECRET_SIZE];
	uint8_t id_a[REC_ID_SIZE], id_b[REC_ID_SIZE], id_cert[REC_ID_SIZE], id_c[REC_ID_SIZE];
	enum ingest_result res;
	struct rec r;
	int calls = 0;

	assert_non_null(it);
	host_key(0, a);
	host_key(1, b);
	host_key(2, c);
	cert(f, &r, 0, "alpha", 5);
	id_of(&r, f->admin, id_cert);
	assert_int_equal(ingest(f, &r, f->admin, NULL), 0);
	cert(f, &r, 1, "beta", 6);
	assert_int_equal(ingest(f, &r, f->admin, NULL), 0);
	endpoints(f, &r, 1, 1111, 5);
	r.issued_at = NOW + 10;
	id_of(&r, a, id_a);
	assert_int_equal(ingest_at(f, &r, a, NOW + 20, NULL), 0);
	endpoints(f, &r, 1, 2222, 6);
	r.issued_at = NOW + 20;
	id_of(&r, b, id_b);
	assert_int_equal(ingest_at(f, &r, b, NOW + 20, NULL), 0);
	/* pending (no CERT for its signer): not stored, not listed */
	endpoints(f, &r, 1, 3333, 7);
	r.issued_at = NOW + 30;
	id_of(&r, c, id_c);
	assert_int_equal(ingest_at(f, &r, c, NOW + 30, &res), 0);
	assert_int_equal(res, INGEST_PENDING);

	since(f, NOW + 10, it);
	assert_int_equal(it->n, 2);
	assert_int_equal(it->issued_at[0], NOW + 10);
	assert_memory_equal(it->id[0], id_a, REC_ID_SIZE);
	assert_int_equal(it->issued_at[1], NOW + 20);
	assert_memory_equal(it->id[1], id_b, REC_ID_SIZE);
	since(f, NOW + 11, it);
	assert_int_equal(it->n, 1);
	assert_memory_equal(it->id[0], id_b, REC_ID_SIZE);
	since(f, NOW + 21, it);
	assert_int_equal(it->n, 0);
	since(f, UINT64_MAX, it);
	assert_int_equal(it->n, 0);
	/* from the certificates' time on: them too, in (issued_at, id) order */
	since(f, NOW, it);
	assert_true(it->n >= 4);
	assert_true(has_item(it, id_cert));
	assert_false(has_item(it, id_c));
	for (size_t i = 1; i < it->n; i++)
		assert_true(it->issued_at[i - 1] < it->issued_at[i] ||
			    (it->issued_at[i - 1] == it->issued_at[i] &&
			     memcmp(it->id[i - 1], it->id[i], REC_ID_SIZE) < 0));
	/* the callback's value stops the walk and is returned */
	assert_int_equal(registry_foreach_since(f->reg, 0, stop_at_third_cb, &calls), 42);
	assert_int_equal(calls, 3);
	free(it);
}

/* ---- every walk: the callback's value, and rows that cannot be what they say -------------- */

static int second_record_cb(void *arg, const uint8_t *buf, size_t len)
{
	int *calls = arg;

	(void)buf;
	(void)len;
	return ++*calls == 2 ? -ECANCELED : 0;
}

static int third_typed_item_cb(void *arg, uint64_t issued_at, const uint8_t id[REC_ID_SIZE],
			       uint8_t type)
{
	int *calls = arg;

	(void)issued_at;
	(void)id;
	(void)type;
	return ++*calls == 3 ? 42 : 0;
}

static int first_alert_cb(void *arg, uint64_t at, const char *message)
{
	int *calls = arg;

	(void)at;
	(void)message;
	++*calls;
	return -ECANCELED;
}

/* UPDATE record SET set WHERE type = type, on f's database through a connection of its
 * own: a registry hurt from outside. */
static void tamper(struct fx *f, const char *set, int type)
{
	char sql[128];
	sqlite3 *db;

	snprintf(sql, sizeof(sql), "UPDATE record SET %s WHERE type = %d", set, type);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_true(sqlite3_changes(db) > 0);
	sqlite3_close(db);
}

static void
every_walk_returns_the_callbacks_first_non_zero_value_and_eio_for_a_bad_row(void **state)
{
	struct fx *f = *state;
	struct sync_items *it = calloc(1, sizeof(*it));
	uint8_t a[REC_SECRET_SIZE];
	struct rec r;
	int calls;

	assert_non_null(it);
	host_key(0, a);
	cert(f, &r, 0, "nas", 5);
	assert_int_equal(ingest(f, &r, f->admin, NULL), 0);
	/* two ENDPOINTS with one seq: an alert */
	endpoints(f, &r, 3, 1000, 5);
	assert_int_equal(ingest(f, &r, a, NULL), 0);
	endpoints(f, &r, 3, 2000, 5);
	assert_int_equal(ingest(f, &r, a, NULL), 0);
	assert_int_equal(alerts_with(f, NULL), 1);

	calls = 0;
	assert_int_equal(registry_foreach(f->reg, second_record_cb, &calls), -ECANCELED);
	assert_int_equal(calls, 2);
	calls = 0;
	assert_int_equal(registry_foreach_typed_item(f->reg, NOW, third_typed_item_cb, &calls), 42);
	assert_int_equal(calls, 3);
	calls = 0;
	assert_int_equal(registry_foreach_alert(f->reg, first_alert_cb, &calls), -ECANCELED);
	assert_int_equal(calls, 1);

	/* A type no record has: the typed walk says the table is broken; the walk since a
	 * time reads no type and goes on. */
	tamper(f, "type = 300", REC_ENDPOINTS);
	memset(it, 0, sizeof(*it));
	assert_int_equal(registry_foreach_typed_item(f->reg, NOW, third_typed_item_cb, &calls),
			 -EIO);
	assert_int_equal(registry_foreach_since(f->reg, 0, collect_item_cb, it), 0);
	assert_int_equal(it->n, 4);
	/* An id that is not 32 bytes, a record without its bytes. */
	tamper(f, "id = x'00'", REC_CERT);
	memset(it, 0, sizeof(*it));
	assert_int_equal(registry_foreach_since(f->reg, 0, collect_item_cb, it), -EIO);
	assert_int_equal(registry_foreach_item(f->reg, NOW, collect_item_cb, it), -EIO);
	tamper(f, "raw = x''", REC_CERT);
	assert_int_equal(registry_foreach(f->reg, collect_cb, &(struct collect){ 0 }), -EIO);
	free(it);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(a_cert_signed_by_the_admin_makes_the_host_resolvable),
		T(the_sync_set_is_the_same_whatever_the_order_and_holds_only_live_stored_records),
		T(registry_get_copies_a_stored_record_or_says_why_not),
		T(registry_foreach_since_lists_the_records_issued_from_a_time_on),
		T(every_walk_returns_the_callbacks_first_non_zero_value_and_eio_for_a_bad_row),
		T(the_same_record_twice_is_a_duplicate),
		T(the_root_sent_back_is_a_duplicate_and_another_root_is_another_mesh),
		cmocka_unit_test(a_registry_without_a_mesh_refuses_records),
		T(forged_signature_is_rejected_and_nothing_is_stored),
		T(endpoints_signed_by_one_host_never_change_another_host),
		T(endpoints_from_a_key_without_a_cert_wait_and_apply_when_it_comes),
		T(cert_signed_by_an_unknown_key_stays_pending_and_never_active),
		T(admit_not_signed_by_an_admin_is_refused),
		T(cert_before_its_admit_becomes_active_when_the_admit_arrives),
		T(cert_for_another_name_or_address_than_its_admit_is_refused),
		T(pending_cert_refused_by_its_admit_is_dropped),
		T(second_cert_from_one_admission_key_loses_to_the_lower_id_with_an_alert),
		T(name_claimed_by_two_certs_has_one_winner_whatever_the_order),
		T(address_claimed_by_two_certs_has_one_winner_whatever_the_order),
		T(renewed_cert_of_the_same_host_replaces_the_old_one_without_an_alert),
		T(replayed_older_endpoints_are_stale),
		T(expired_records_are_refused),
		T(cert_drops_out_of_the_view_when_it_expires),
		T(revoked_cert_reinjected_after_its_revocation_is_refused),
		T(a_host_may_revoke_itself_but_not_another),
		T(a_batch_checks_signatures_up_front_and_rejects_like_one_by_one),
		T(revoking_an_admin_keeps_its_revocations_whatever_the_order),
		T(revoking_an_admission_key_removes_its_admit_and_its_cert),
		T(endpoints_equivocation_keeps_both_and_the_lower_id_wins_with_an_alert),
		T(records_dated_too_far_in_the_future_are_refused),
		T(oversized_and_malformed_input_is_refused),
		T(a_record_of_another_mesh_is_refused),
		T(cert_breaking_the_mesh_rules_is_refused),
		T(custom_records_follow_the_highest_seq_and_deletes_remove_them),
		T(a_host_publishes_records_only_under_its_own_name),
		T(renew_waits_for_its_cert_and_must_come_from_its_host),
		T(renew_with_a_new_wg_key_refuses_the_current_key_and_another_hosts),
		T(pending_renew_with_another_hosts_wg_key_is_dropped_when_its_cert_arrives),
		T(allocation_takes_the_lowest_free_address_and_never_a_revoked_one),
		cmocka_unit_test(allocation_in_a_full_prefix_says_no_space),
		T(a_batch_is_invisible_until_commit_and_gone_after_rollback),
		T(a_deferred_commit_stores_records_and_the_refresh_publishes_them),
		T(a_reopened_registry_holds_everything_committed),
		cmocka_unit_test(a_file_that_is_not_a_database_is_an_io_error),
		T(a_database_this_user_may_not_read_is_access_denied),
		T(a_database_cut_in_half_is_an_io_error),
		T(a_full_disk_stores_nothing_and_the_registry_recovers),
		cmocka_unit_test(every_error_has_a_sentence),
		T(an_observation_by_one_member_of_another_is_in_the_subjects_snapshot),
		T(an_observation_by_a_non_member_waits_and_applies_when_its_cert_comes),
		T(an_observation_of_an_unknown_host_waits_and_of_itself_is_refused),
		T(a_replayed_older_observation_is_stale),
		T(expired_observations_are_refused_and_drop_out_when_they_expire),
		T(revoking_the_observer_or_the_subject_purges_the_observation),
		T(observation_equivocation_keeps_both_and_the_lower_id_wins_with_an_alert),
		T(a_snapshot_keeps_the_16_newest_observations_of_a_host),
		T(a_database_made_before_observations_gets_their_table_when_opened),
		T(the_same_records_in_any_order_give_the_same_state),
#undef T
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
