/*
 * test_store_registry.c: the registry store of sync.h on its own: batches committed with
 * the registry's view recomputed at once (the default) or left to the caller's refresh
 * (sync_store_registry_defer_view), and in both modes a batch holding a forged record
 * rolled back whole; the sync set gives each record's type (a restricted set reads no
 * record). Fixed keys and clock, registries in mkdtemp dirs.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "../registry/fixtures.h"
#include "meshname/registry.h"
#include "meshname/sync.h"

#define NOW ((uint64_t)FIXTURE_NOW)
#define K_ADMIN 1
#define K_HOST 10

struct fx {
	char dir[64];
	char path[96];
	struct registry *reg;
	struct sync_store *store;
	uint8_t admin[REC_SECRET_SIZE];
	uint8_t mesh_id[REC_ID_SIZE];
	/* a batch of signed CERTs */
	uint8_t buf[3][REC_MAX_SIZE];
	struct registry_item items[3];
	enum ingest_result res[3];
	int err[3];
};

static size_t sign(struct rec *r, const uint8_t *sk, uint8_t *buf)
{
	size_t len = 0;

	assert_int_equal(rec_sign(r, sk, buf, REC_MAX_SIZE, &len), 0);
	return len;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	uint8_t buf[REC_MAX_SIZE];
	struct rec root;
	size_t len;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/meshname-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/registry.db", f->dir);
	assert_int_equal(registry_open(f->path, &f->reg), 0);
	fixture_key(K_ADMIN, f->admin);
	fixture_root(&root, f->admin);
	len = sign(&root, f->admin, buf);
	assert_int_equal(registry_create(f->reg, buf, len, NOW), 0);
	rec_id(buf, len, f->mesh_id);
	assert_int_equal(sync_store_registry_new(f->reg, &f->store), 0);
	/* hosts 1..3, admin-signed */
	for (int i = 0; i < 3; i++) {
		uint8_t sk[REC_SECRET_SIZE];
		char name[16];
		struct rec r;

		fixture_key(K_HOST + i, sk);
		snprintf(name, sizeof(name), "host%d", i + 1);
		fixture_cert(&r, f->mesh_id, name, sk, (uint8_t)(i + 1));
		f->items[i].buf = f->buf[i];
		f->items[i].len = sign(&r, f->admin, f->buf[i]);
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	static const char *const suffix[] = { "", "-wal", "-shm", "-journal" };
	struct fx *f = *state;
	char p[128];

	sync_store_registry_free(f->store);
	registry_close(f->reg);
	for (size_t i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s%s", f->path, suffix[i]);
		unlink(p);
	}
	assert_int_equal(rmdir(f->dir), 0);
	free(f);
	return 0;
}

static struct registry_counts counts(struct fx *f)
{
	struct registry_counts c;

	assert_int_equal(registry_counts(f->reg, &c), 0);
	return c;
}

static int ingest(struct fx *f, size_t n)
{
	return f->store->ingest(f->store->arg, f->items, n, NOW, f->res, f->err);
}

static void by_default_a_batch_is_in_the_view_when_ingest_returns(void **state)
{
	struct fx *f = *state;

	assert_int_equal(ingest(f, 2), 0);
	assert_int_equal(f->err[0], 0);
	assert_int_equal(f->res[1], INGEST_ACCEPTED);
	assert_int_equal(counts(f).records, 3);
	assert_int_equal(counts(f).hosts, 2);
}

static void a_deferred_store_stores_at_once_and_the_refresh_publishes(void **state)
{
	struct fx *f = *state;

	sync_store_registry_defer_view(f->store, true);
	assert_int_equal(ingest(f, 2), 0);
	assert_int_equal(f->res[0], INGEST_ACCEPTED);
	assert_int_equal(f->res[1], INGEST_ACCEPTED);
	assert_int_equal(counts(f).records, 3);
	assert_int_equal(counts(f).hosts, 0);
	f->items[0] = f->items[2];
	assert_int_equal(ingest(f, 1), 0);
	assert_int_equal(counts(f).records, 4);
	assert_int_equal(counts(f).hosts, 0);
	assert_int_equal(registry_refresh(f->reg, NOW), 0);
	assert_int_equal(counts(f).hosts, 3);

	/* and back to the default: the next batch is in the view at once */
	sync_store_registry_defer_view(f->store, false);
	assert_int_equal(ingest(f, 1), 0);
	assert_int_equal(f->res[0], INGEST_DUPLICATE);
	assert_int_equal(counts(f).hosts, 3);
}

static void a_batch_with_a_forged_record_is_rolled_back_whole_in_both_modes(void **state)
{
	struct fx *f = *state;

	f->buf[1][f->items[1].len - 1] ^= 1; /* the second CERT's signature */
	for (int defer = 0; defer < 2; defer++) {
		sync_store_registry_defer_view(f->store, defer == 1);
		assert_int_equal(ingest(f, 3), 0);
		assert_int_equal(f->err[0], 0);
		assert_int_equal(f->err[1], -EKEYREJECTED);
		assert_true(sync_err_is_malicious(f->err[1]));
		assert_int_equal(counts(f).records, 1); /* the ROOT only */
		assert_int_equal(registry_refresh(f->reg, NOW), 0);
		assert_int_equal(counts(f).hosts, 0);
	}
}

struct typed {
	struct fx *f;
	size_t n, roots, certs;
};

static int check_type_cb(void *arg, uint64_t timestamp, const uint8_t id[REC_ID_SIZE], uint8_t type)
{
	struct typed *t = arg;
	uint8_t buf[REC_MAX_SIZE];
	size_t len = 0;

	(void)timestamp;
	assert_int_equal(registry_get(t->f->reg, id, buf, sizeof(buf), &len), 0);
	assert_int_equal(type, buf[4]); /* the type the record itself says */
	t->n++;
	t->roots += type == REC_ROOT;
	t->certs += type == REC_CERT;
	return 0;
}

static void the_sync_set_gives_each_records_type(void **state)
{
	struct fx *f = *state;
	struct typed t = { f, 0, 0, 0 };

	assert_int_equal(ingest(f, 3), 0);
	assert_int_equal(f->store->foreach_item(f->store->arg, NOW, check_type_cb, &t), 0);
	assert_int_equal(t.n, 4);
	assert_int_equal(t.roots, 1);
	assert_int_equal(t.certs, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(by_default_a_batch_is_in_the_view_when_ingest_returns),
		T(a_deferred_store_stores_at_once_and_the_refresh_publishes),
		T(a_batch_with_a_forged_record_is_rolled_back_whole_in_both_modes),
		T(the_sync_set_gives_each_records_type),
#undef T
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
