/*
 * store_registry.c: the sync store (sync.h) over the real registry: the sync set from
 * registry_foreach_typed_item (with each record's type), records from registry_get,
 * batches through registry_ingest_many in one transaction that is rolled back whole when
 * a record in it proves the peer wrong or could not be stored here (a full disk), committed
 * with or without recomputing the registry's view. It adds no rule of its own: every check
 * is the registry's.
 */
#include <errno.h>
#include <stdlib.h>

#include "meshname/sync.h"

struct regstore {
	struct sync_store st; /* first: the store handed out is this struct */
	struct registry *reg;
	bool defer_view; /* registry_commit_deferred: the caller refreshes the view */
};

static int reg_foreach(void *arg, uint64_t now, sync_item_fn fn, void *fn_arg)
{
	struct regstore *r = arg;

	/* The type from the record table: a restricted set reads no record to learn it. */
	return registry_foreach_typed_item(r->reg, now, fn, fn_arg);
}

static int reg_get(void *arg, const uint8_t id[REC_ID_SIZE], uint8_t *buf, size_t *len)
{
	struct regstore *r = arg;

	return registry_get(r->reg, id, buf, REC_MAX_SIZE, len);
}

static int reg_ingest(void *arg, const struct registry_item *items, size_t n, uint64_t now,
		      enum ingest_result *res, int *err)
{
	struct regstore *r = arg;
	bool malicious = false;
	int rc = registry_begin(r->reg);

	if (rc < 0)
		return rc;
	rc = registry_ingest_many(r->reg, items, n, now, res, err);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		/* When sqlite undoes only the failing statement (a full disk), the batch
		 * goes on and err[i] alone says so: the session would take it for the peer's
		 * rejected record (a strike in a push) and end as if it had it all. */
		if (registry_is_storage_error(err[i]))
			rc = err[i];
	}
	if (rc < 0) {
		registry_rollback(r->reg);
		return rc;
	}
	for (size_t i = 0; i < n; i++)
		malicious = malicious || sync_err_is_malicious(err[i]);
	if (malicious) {
		/* The peer is cut off: keep nothing it sent in this batch. */
		registry_rollback(r->reg);
		return 0;
	}
	return r->defer_view ? registry_commit_deferred(r->reg) : registry_commit(r->reg, now);
}

int sync_store_registry_new(struct registry *reg, struct sync_store **out)
{
	struct regstore *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (r == NULL)
		return -ENOMEM;
	r->reg = reg;
	r->st.arg = r;
	r->st.foreach_item = reg_foreach;
	r->st.get = reg_get;
	r->st.ingest = reg_ingest;
	*out = &r->st;
	return 0;
}

void sync_store_registry_defer_view(struct sync_store *st, bool defer)
{
	((struct regstore *)st)->defer_view = defer;
}

void sync_store_registry_free(struct sync_store *st)
{
	free(st);
}
