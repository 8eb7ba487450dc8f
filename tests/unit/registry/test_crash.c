/*
 * test_crash.c: "committed means durable". A child process ingests records one by one
 * (each committed on its own) and reports each accepted id on a pipe once ingest has
 * returned; the parent kills it with SIGKILL mid-stream, then checks with sqlite itself
 * that the database is intact and with the registry that every reported id is stored.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "fixtures.h"
#include "meshname/registry.h"

#define N_RECORDS 2000
#define ROUNDS 4

struct raw {
	uint8_t buf[REC_MAX_SIZE];
	size_t len;
};

struct ids {
	size_t n;
	uint8_t (*id)[REC_ID_SIZE];
};

static int collect_cb(void *arg, const uint8_t *buf, size_t len)
{
	struct ids *s = arg;

	rec_id(buf, len, s->id[s->n++]);
	return 0;
}

static bool stored(const struct ids *s, const uint8_t id[REC_ID_SIZE])
{
	for (size_t i = 0; i < s->n; i++)
		if (memcmp(s->id[i], id, REC_ID_SIZE) == 0)
			return true;
	return false;
}

/* The child: ingest each record, then tell the parent. Never returns. */
static void child(const char *path, const struct raw *set, size_t n, int fd)
{
	struct registry *reg;
	enum ingest_result res;

	if (registry_open(path, &reg) < 0)
		_exit(2);
	for (size_t i = 0; i < n; i++) {
		uint8_t id[REC_ID_SIZE];

		if (registry_ingest(reg, set[i].buf, set[i].len, FIXTURE_NOW, &res) < 0 ||
		    res != INGEST_ACCEPTED)
			_exit(3);
		rec_id(set[i].buf, set[i].len, id);
		if (write(fd, id, sizeof(id)) != (ssize_t)sizeof(id))
			_exit(4);
	}
	registry_close(reg);
	_exit(0);
}

static char *integrity_check(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char *result = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	result = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return result;
}

static void one_round(const struct raw *root, const struct raw *set, size_t kill_after)
{
	char dir[] = "/tmp/meshname-crash-XXXXXX", path[64], p[96];
	uint8_t(*reported)[REC_ID_SIZE] = calloc(N_RECORDS, REC_ID_SIZE);
	struct ids ids = { 0, calloc(N_RECORDS + 1, REC_ID_SIZE) };
	struct registry *reg;
	size_t n_reported = 0;
	int fds[2], status;
	char *check;
	pid_t pid;

	assert_non_null(reported);
	assert_non_null(ids.id);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/registry.db", dir);
	assert_int_equal(registry_open(path, &reg), 0);
	assert_int_equal(registry_create(reg, root->buf, root->len, FIXTURE_NOW), 0);
	registry_close(reg);

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		child(path, set, N_RECORDS, fds[1]);
	}
	close(fds[1]);
	while (n_reported < kill_after) {
		ssize_t got = read(fds[0], reported[n_reported], REC_ID_SIZE);

		assert_int_equal(got, REC_ID_SIZE); /* ids are written whole, pipes keep them so */
		n_reported++;
	}
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* Whatever it reported before it died counts too. */
	while (read(fds[0], reported[n_reported], REC_ID_SIZE) == REC_ID_SIZE)
		n_reported++;
	close(fds[0]);

	check = integrity_check(path);
	assert_string_equal(check, "ok");
	free(check);

	assert_int_equal(registry_open(path, &reg), 0);
	assert_int_equal(registry_foreach(reg, collect_cb, &ids), 0);
	for (size_t i = 0; i < n_reported; i++)
		assert_true(stored(&ids, reported[i]));
	/* ROOT plus at least what was reported, at most one more record (in flight). */
	assert_true(ids.n >= n_reported + 1 && ids.n <= n_reported + 2);
	{
		struct registry_counts c;

		assert_int_equal(registry_counts(reg, &c), 0);
		assert_int_equal(c.records, ids.n);
	}
	registry_close(reg);

	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
	free(reported);
	free(ids.id);
}

static void a_killed_writer_loses_nothing_it_reported_as_stored(void **state)
{
	uint8_t admin[REC_SECRET_SIZE], mesh_id[REC_ID_SIZE];
	struct raw root, *set = calloc(N_RECORDS, sizeof(*set));
	struct rec r;

	(void)state;
	assert_non_null(set);
	fixture_key(1, admin);
	fixture_root(&r, admin);
	assert_int_equal(rec_sign(&r, admin, root.buf, sizeof(root.buf), &root.len), 0);
	rec_id(root.buf, root.len, mesh_id);
	for (size_t i = 0; i < N_RECORDS; i++) {
		uint8_t host[REC_SECRET_SIZE], pk[REC_KEY_SIZE],
			seed[crypto_sign_SEEDBYTES] = { 0 };
		char name[16];

		memcpy(seed, &i, sizeof(i));
		seed[31] = 0x5a;
		crypto_sign_seed_keypair(pk, host, seed);
		snprintf(name, sizeof(name), "h%zu", i);
		fixture_cert(&r, mesh_id, name, host, 1);
		r.u.cert.ipv4[2] = (uint8_t)(i / 250);
		r.u.cert.ipv4[3] = (uint8_t)(i % 250 + 1);
		memset(r.u.cert.wg_key, 0, sizeof(r.u.cert.wg_key));
		memcpy(r.u.cert.wg_key, &i, sizeof(i));
		assert_int_equal(rec_sign(&r, admin, set[i].buf, sizeof(set[i].buf), &set[i].len),
				 0);
	}
	for (int round = 0; round < ROUNDS; round++)
		one_round(&root, set, 20 + 15 * (size_t)round);
	free(set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_killed_writer_loses_nothing_it_reported_as_stored),
	};

	if (sodium_init() < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
