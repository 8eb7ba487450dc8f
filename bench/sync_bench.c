/*
 * sync_bench.c: what range-based set reconciliation (src/sync/negentropy.c) costs in
 * bytes, rounds and CPU for the cases of issue 5: agreeing peers, a few changes in a
 * 100,000-item set, and a cold start, in 64 KiB frames as the sync protocol uses them.
 * With a registry database as argument (e.g. from bench/mkregistry), it also times
 * building the sync set from it (registry_foreach_item), which every session does.
 * Sets are made from a fixed PRNG; it never fails on speed.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "meshname/negentropy.h"
#include "meshname/registry.h"

#define FRAME 65536
#define SET_SIZE 100000

struct result {
	size_t bytes, rounds, have, need;
	double cpu_ms;
};

static uint64_t rng_state = 0x6d65736862656e63u;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1du;
}

static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "sync_bench: %s: %s\n", what, strerror(-rc));
	exit(1);
}

static void random_item(struct negentropy_item *it)
{
	/* issued_at over 30 days, as a registry's records might be */
	it->timestamp = 1700000000 + rng() % (30 * 86400);
	for (size_t i = 0; i < NEGENTROPY_ID_SIZE; i += 8) {
		uint64_t v = rng();

		memcpy(it->id + i, &v, 8);
	}
}

/* a: n shared items less drop_a; b: the same less drop_b; both sealed. */
static void make_sets(size_t n, size_t drop_a, size_t drop_b, struct negentropy_set **a,
		      struct negentropy_set **b)
{
	int rc;

	if ((rc = negentropy_set_new(a)) != 0 || (rc = negentropy_set_new(b)) != 0)
		die("set", rc);
	for (size_t i = 0; i < n; i++) {
		struct negentropy_item it;

		random_item(&it);
		/* spread the differences over the set */
		if (!(drop_a && i % (n / drop_a) == 0 && i / (n / drop_a) < drop_a) &&
		    (rc = negentropy_set_add(*a, it.timestamp, it.id)) != 0)
			die("add", rc);
		if (!(drop_b && i % (n / drop_b) == 1 && i / (n / drop_b) < drop_b) &&
		    (rc = negentropy_set_add(*b, it.timestamp, it.id)) != 0)
			die("add", rc);
	}
	if ((rc = negentropy_set_seal(*a)) != 0 || (rc = negentropy_set_seal(*b)) != 0)
		die("seal", rc);
}

static void run(const struct negentropy_set *a_set, const struct negentropy_set *b_set,
		bool one_fingerprint, struct result *res)
{
	struct negentropy_ids have = { 0 }, need = { 0 };
	struct negentropy *a, *b;
	uint8_t *msg, *reply;
	size_t len, reply_len;
	double t0 = cpu_ms();
	int rc;

	memset(res, 0, sizeof(*res));
	if ((rc = negentropy_new(a_set, FRAME, &a)) != 0 ||
	    (rc = negentropy_new(b_set, FRAME, &b)) != 0)
		die("session", rc);
	rc = one_fingerprint ? negentropy_initiate_fingerprint(a, &msg, &len) :
			       negentropy_initiate(a, &msg, &len);
	if (rc != 0)
		die("initiate", rc);
	while (msg != NULL) {
		res->bytes += len;
		if ((rc = negentropy_respond(b, msg, len, &reply, &reply_len)) != 0)
			die("respond", rc);
		free(msg);
		res->bytes += reply_len;
		res->rounds++;
		rc = negentropy_reconcile(a, reply, reply_len, &msg, &len, &have, &need);
		free(reply);
		if (rc != 0)
			die("reconcile", rc);
	}
	res->cpu_ms = cpu_ms() - t0;
	res->have = have.count;
	res->need = need.count;
	negentropy_ids_free(&have);
	negentropy_ids_free(&need);
	negentropy_free(a);
	negentropy_free(b);
}

static void row(const char *what, const struct negentropy_set *a, const struct negentropy_set *b)
{
	static const char *const opening[] = { "16 fingerprints", "1 fingerprint" };

	for (int one = 0; one <= 1; one++) {
		struct result r;

		run(a, b, one, &r);
		printf("%-34s %-16s %9zu %7zu %7zu %7zu %9.2f\n", what, opening[one], r.bytes,
		       r.rounds, r.have, r.need, r.cpu_ms);
	}
}

static int add_item_cb(void *arg, uint64_t issued_at, const uint8_t id[REC_ID_SIZE])
{
	return negentropy_set_add(arg, issued_at, id);
}

static int registry_set(const char *path)
{
	struct registry *reg;
	struct negentropy_set *set;
	uint8_t fp[NEGENTROPY_FINGERPRINT_SIZE];
	struct timespec w0, w1;
	double t0;
	int rc;

	if ((rc = registry_open(path, &reg)) != 0) {
		fprintf(stderr, "sync_bench: %s: %s\n", path, strerror(-rc));
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &w0);
	t0 = cpu_ms();
	if ((rc = negentropy_set_new(&set)) != 0 ||
	    (rc = registry_foreach_item(reg, (uint64_t)time(NULL), add_item_cb, set)) != 0 ||
	    (rc = negentropy_set_seal(set)) != 0 ||
	    (rc = negentropy_set_fingerprint(set, 0, negentropy_set_size(set), fp)) != 0)
		die("sync set from the registry", rc);
	clock_gettime(CLOCK_MONOTONIC, &w1);
	printf("\nsync set from %s: %zu records, %.1f ms CPU, %.1f ms wall\n", path,
	       negentropy_set_size(set), cpu_ms() - t0,
	       (double)(w1.tv_sec - w0.tv_sec) * 1e3 + (double)(w1.tv_nsec - w0.tv_nsec) / 1e6);
	negentropy_set_free(set);
	registry_close(reg);
	return 0;
}

int main(int argc, char **argv)
{
	static const size_t changes[] = { 1, 10, 100, 1000 };
	struct negentropy_set *a, *b, *empty;
	char what[64];
	double t0;
	int rc;

	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: sync_bench [REGISTRY-DB]\n");
		return 2;
	}
	if (sodium_init() < 0)
		return 1;
	printf("negentropy v1, %d-byte frames, sets of %d items (issued_at over 30 days)\n", FRAME,
	       SET_SIZE);
	t0 = cpu_ms();
	make_sets(SET_SIZE, 0, 0, &a, &b);
	printf("two sets filled and sealed: %.1f ms CPU\n\n", cpu_ms() - t0);
	printf("%-34s %-16s %9s %7s %7s %7s %9s\n", "case", "opening", "bytes", "rounds", "have",
	       "need", "CPU ms");
	row("agreeing peers", a, b);
	negentropy_set_free(a);
	negentropy_set_free(b);
	for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
		make_sets(SET_SIZE, changes[i], 0, &a, &b);
		snprintf(what, sizeof(what), "%zu change%s, responder has", changes[i],
			 changes[i] > 1 ? "s" : "");
		row(what, a, b);
		snprintf(what, sizeof(what), "%zu change%s, initiator has", changes[i],
			 changes[i] > 1 ? "s" : "");
		row(what, b, a);
		negentropy_set_free(a);
		negentropy_set_free(b);
	}
	make_sets(SET_SIZE, 0, 0, &a, &b);
	if ((rc = negentropy_set_new(&empty)) != 0 || (rc = negentropy_set_seal(empty)) != 0)
		die("set", rc);
	row("cold start (initiator empty)", empty, a);
	row("cold start (responder empty)", a, empty);
	negentropy_set_free(a);
	negentropy_set_free(b);
	negentropy_set_free(empty);
	return argc == 2 ? registry_set(argv[1]) : 0;
}
