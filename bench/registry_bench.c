/*
 * registry_bench.c: the figures of issue 2 for the registry and the snapshot: ingest of
 * signed records, snapshot rebuild for 10,000 hosts, lookups per second, RSS.
 * It prints a table and never fails on speed: it is a measurement, not a test. It only
 * exits non-zero when it cannot set up what it measures.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "meshname/record.h"
#include "meshname/registry.h"
#include "meshname/snapshot.h"

#define QUERY_COUNT (1u << 16) /* pre-made lookup keys, reused round robin */
#define MAX_ROWS 24

struct row {
	char figure[64];
	char target[24];
	char measured[32];
	const char *verdict; /* "ok", "over", or "" when there is no target */
};

static struct row rows[MAX_ROWS];
static size_t n_rows;

static void add_row(const char *figure, const char *target, const char *verdict, const char *fmt,
		    ...) __attribute__((format(printf, 4, 5)));

static void add_row(const char *figure, const char *target, const char *verdict, const char *fmt,
		    ...)
{
	struct row *r;
	va_list ap;

	if (n_rows == MAX_ROWS)
		return;
	r = &rows[n_rows++];
	snprintf(r->figure, sizeof(r->figure), "%s", figure);
	snprintf(r->target, sizeof(r->target), "%s", target);
	va_start(ap, fmt);
	vsnprintf(r->measured, sizeof(r->measured), fmt, ap);
	va_end(ap);
	r->verdict = verdict;
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), compare_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* VmHWM (peak) and VmRSS (current) of this process, in KiB; 0 if unknown. */
static void read_rss(unsigned long *hwm, unsigned long *rss)
{
	char line[256];
	FILE *f;

	*hwm = *rss = 0;
	f = fopen("/proc/self/status", "r");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmHWM:", 6) == 0)
			*hwm = strtoul(line + 6, NULL, 10);
		else if (strncmp(line, "VmRSS:", 6) == 0)
			*rss = strtoul(line + 6, NULL, 10);
	}
	fclose(f);
}

static void add_rss_row(const char *phase)
{
	unsigned long hwm, rss;
	char figure[64];

	read_rss(&hwm, &rss);
	snprintf(figure, sizeof(figure), "RSS after %s", phase);
	add_row(figure, "", "", "%.1f MB (peak %.1f)", (double)rss / 1024, (double)hwm / 1024);
}

/* Bytes malloc has handed out and not yet taken back (glibc). */
static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/* --- the synthetic mesh: hosts as the registry would publish them --------------- */

struct bench_host {
	char name[REC_NAME_MAX + 1];
	struct snapshot_host h;
	const char *groups[2];
	struct rec_endpoint endpoints[3];
};

static const char *const group_names[] = { "admins", "desktops", "servers", "storage" };

static void host_make(struct bench_host *bh, uint32_t i, const struct rec_root *root)
{
	struct snapshot_host *h = &bh->h;
	uint32_t addr = (uint32_t)root->ipv4[0] << 24 | (uint32_t)root->ipv4[1] << 16;
	uint8_t n;

	memset(bh, 0, sizeof(*bh));
	snprintf(bh->name, sizeof(bh->name), "host%05u", i);
	h->name = bh->name;
	addr += i + 1; /* skip the network address */
	h->ipv4[0] = (uint8_t)(addr >> 24);
	h->ipv4[1] = (uint8_t)(addr >> 16);
	h->ipv4[2] = (uint8_t)(addr >> 8);
	h->ipv4[3] = (uint8_t)addr;
	randombytes_buf(h->host_key, sizeof(h->host_key));
	randombytes_buf(h->wg_key, sizeof(h->wg_key));
	randombytes_buf(h->cert_id, sizeof(h->cert_id));
	/* The mesh /48 and 80 bits that look like the hash of the host key. */
	memcpy(h->ipv6, root->ipv6, 6);
	randombytes_buf(h->ipv6 + 6, 10);
	h->serial = 1;
	h->not_before = 1700000000;
	h->not_after = 1700000000 + 365 * 86400;
	/* None, one or two groups, sorted as in a CERT. */
	n = (uint8_t)(i % 3);
	if (n == 1)
		bh->groups[0] = group_names[i % 4];
	if (n == 2) {
		bh->groups[0] = group_names[0];
		bh->groups[1] = group_names[1 + i % 3];
	}
	h->n_groups = n;
	h->groups = n ? bh->groups : NULL;
	h->endpoints_seq = 9;
	h->endpoints_expires = 1700000000 + 86400;
	h->listen_port = 51820;
	bh->endpoints[0] =
		(struct rec_endpoint){ .kind = EP_LAN,
				       .family = 4,
				       .addr = { 192, 168, (uint8_t)(i >> 8), (uint8_t)i },
				       .port = 51820 };
	bh->endpoints[1] =
		(struct rec_endpoint){ .kind = EP_IPV6,
				       .family = 6,
				       .addr = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0,
						 0, (uint8_t)(i >> 8), (uint8_t)i },
				       .port = 51820 };
	bh->endpoints[2] = (struct rec_endpoint){ .kind = EP_PUBLIC,
						  .family = 4,
						  .addr = { 203, 0, 113, (uint8_t)i },
						  .port = (uint16_t)(40000 + i % 20000) };
	h->n_endpoints = (uint8_t)(1 + i % 3);
	h->endpoints = bh->endpoints;
}

static void root_make(struct rec_root *root)
{
	memset(root, 0, sizeof(*root));
	snprintf(root->name, sizeof(root->name), "bench");
	snprintf(root->zone, sizeof(root->zone), "mesh");
	root->ipv4[0] = 100;
	root->ipv4[1] = 80;
	root->ipv4_len = 16;
	root->ipv6[0] = 0xfd;
	randombytes_buf(root->ipv6 + 1, 5);
	root->max_cert_lifetime = 400 * 86400;
	root->threshold = 1;
	root->n_admins = 1;
	randombytes_buf(root->admins[0], REC_KEY_SIZE);
}

static int snapshot_build(const struct rec_root *root, const struct bench_host *hosts, size_t n,
			  struct snapshot **out)
{
	static const uint8_t mesh_id[REC_ID_SIZE];
	struct snapshot_builder *b;
	size_t i;
	int err;

	b = snapshot_builder_new(root, mesh_id, 1);
	if (b == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		err = snapshot_builder_add_host(b, &hosts[i].h);
		if (err < 0) {
			snapshot_builder_free(b);
			return err;
		}
	}
	return snapshot_builder_finish(b, out);
}

/* --- lookups ---------------------------------------------------------------------- */

struct name_query {
	const char *name;
	size_t len;
};

struct lookup_keys {
	struct name_query names[QUERY_COUNT];
	char missing_names[QUERY_COUNT][16];
	uint8_t ipv4[QUERY_COUNT][4];
	uint8_t ipv6[QUERY_COUNT][16];
};

/* Half the keys exist, half do not: a resolver sees both. */
static void lookup_keys_make(struct lookup_keys *k, const struct bench_host *hosts, size_t n,
			     const struct rec_root *root)
{
	uint32_t i;

	for (i = 0; i < QUERY_COUNT; i++) {
		const struct snapshot_host *h = &hosts[randombytes_uniform((uint32_t)n)].h;

		if (randombytes_uniform(2) == 0) {
			k->names[i].name = h->name;
			memcpy(k->ipv4[i], h->ipv4, 4);
			memcpy(k->ipv6[i], h->ipv6, 16);
		} else {
			snprintf(k->missing_names[i], sizeof(k->missing_names[i]), "absent%05u",
				 randombytes_uniform(100000));
			k->names[i].name = k->missing_names[i];
			/* An address in the prefix that no host holds. */
			k->ipv4[i][0] = root->ipv4[0];
			k->ipv4[i][1] = root->ipv4[1];
			k->ipv4[i][2] = (uint8_t)(0xc0 | randombytes_uniform(64));
			k->ipv4[i][3] = (uint8_t)randombytes_uniform(256);
			memcpy(k->ipv6[i], root->ipv6, 6);
			randombytes_buf(k->ipv6[i] + 6, 10);
		}
		k->names[i].len = strlen(k->names[i].name);
	}
}

enum lookup_kind { LOOKUP_NAME, LOOKUP_IPV4, LOOKUP_IPV6 };

/* Runs n lookups of one kind; returns lookups per second, *hits how many found. */
static double lookups_run(const struct snapshot *s, const struct lookup_keys *k,
			  enum lookup_kind kind, uint64_t n, uint64_t *hits)
{
	const struct snapshot_host *h = NULL;
	uint64_t i, found = 0;
	double t0, t1;

	t0 = now_seconds();
	for (i = 0; i < n; i++) {
		uint32_t q = (uint32_t)(i & (QUERY_COUNT - 1));

		switch (kind) {
		case LOOKUP_NAME:
			h = snapshot_lookup_name(s, k->names[q].name, k->names[q].len);
			break;
		case LOOKUP_IPV4:
			h = snapshot_lookup_ipv4(s, k->ipv4[q]);
			break;
		case LOOKUP_IPV6:
			h = snapshot_lookup_ipv6(s, k->ipv6[q]);
			break;
		}
		found += h != NULL;
	}
	t1 = now_seconds();
	*hits = found;
	return (double)n / (t1 - t0);
}

/* --- phases ----------------------------------------------------------------------- */

struct options {
	uint32_t hosts;
	uint32_t records;
	uint64_t lookups;
	unsigned runs;
	bool ingest;
};

static int bench_snapshot(const struct options *o, struct snapshot **out)
{
	static const char *const kind_names[] = { "name", "ipv4", "ipv6" };
	struct bench_host *hosts = NULL;
	struct lookup_keys *keys = NULL;
	struct rec_root root;
	struct snapshot *s = NULL;
	double *times = NULL, t0, ms;
	uint64_t hits;
	unsigned r;
	int err = -ENOMEM;

	*out = NULL;
	root_make(&root);
	hosts = calloc(o->hosts, sizeof(*hosts));
	keys = calloc(1, sizeof(*keys));
	times = calloc(o->runs, sizeof(*times));
	if (hosts == NULL || keys == NULL || times == NULL)
		goto out;
	for (uint32_t i = 0; i < o->hosts; i++)
		host_make(&hosts[i], i, &root);

	for (r = 0; r < o->runs; r++) {
		snapshot_unref(s);
		s = NULL;
		t0 = now_seconds();
		err = snapshot_build(&root, hosts, o->hosts, &s);
		times[r] = now_seconds() - t0;
		if (err < 0) {
			fprintf(stderr, "registry_bench: snapshot build: %s\n", strerror(-err));
			goto out;
		}
	}
	ms = median(times, o->runs) * 1000;
	{
		char figure[64];

		snprintf(figure, sizeof(figure), "snapshot_builder, %u hosts (median)", o->hosts);
		add_row(figure, "<= 50 ms", ms <= 50 ? "ok" : "over", "%.2f ms", ms);
	}
	{
		size_t before;

		snapshot_unref(s);
		s = NULL;
		before = heap_in_use();
		err = snapshot_build(&root, hosts, o->hosts, &s);
		if (err < 0)
			goto out;
		add_row("snapshot heap, same hosts", "", "", "%.2f MB",
			(double)(heap_in_use() - before) / (1024 * 1024));
	}
	add_rss_row("snapshot build");

	lookup_keys_make(keys, hosts, o->hosts, &root);
	for (int kind = LOOKUP_NAME; kind <= LOOKUP_IPV6; kind++) {
		double rate = lookups_run(s, keys, (enum lookup_kind)kind, o->lookups, &hits) / 1e6;
		char figure[64];

		snprintf(figure, sizeof(figure), "lookup by %s (%.0f%% hits)", kind_names[kind],
			 100.0 * (double)hits / (double)o->lookups);
		add_row(figure, ">= 5 M/s", rate >= 5 ? "ok" : "over", "%.1f M/s", rate);
	}
	add_rss_row("lookups");
	*out = s;
	s = NULL;
	err = 0;
out:
	snapshot_unref(s);
	free(hosts);
	free(keys);
	free(times);
	return err;
}

/* --- ingest: signed records into a fresh registry -------------------------------- */

/* Every record signed ahead of time, back to back in one buffer. */
struct record_set {
	uint8_t *bytes;
	size_t len, cap;
	size_t *end; /* record i is [end[i - 1], end[i]) */
	size_t n;
};

static int record_set_add(struct record_set *set, struct rec *r, const uint8_t *sk)
{
	uint8_t buf[REC_MAX_SIZE];
	size_t len;
	int err;

	err = rec_sign(r, sk, buf, sizeof(buf), &len);
	if (err < 0)
		return err;
	if (set->len + len > set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 1u << 20;
		uint8_t *p = realloc(set->bytes, cap);

		if (p == NULL)
			return -ENOMEM;
		set->bytes = p;
		set->cap = cap;
	}
	memcpy(set->bytes + set->len, buf, len);
	set->len += len;
	set->end[set->n++] = set->len;
	return 0;
}

static void record_set_free(struct record_set *set)
{
	free(set->bytes);
	free(set->end);
	memset(set, 0, sizeof(*set));
}

static void root_record_make(struct rec *r, const uint8_t admin_pk[REC_KEY_SIZE], uint64_t now)
{
	memset(r, 0, sizeof(*r));
	r->type = REC_ROOT;
	r->issued_at = now - 7200;
	root_make(&r->u.root);
	memcpy(r->u.root.admins[0], admin_pk, REC_KEY_SIZE);
}

/*
 * One admin-signed CERT per host, then ENDPOINTS updates signed by the hosts, round
 * robin with increasing seq: what a node receives when it syncs a busy mesh's history.
 */
static int records_make(const struct options *o, const struct rec_root *root,
			const uint8_t mesh_id[REC_ID_SIZE], const uint8_t *admin_sk, uint64_t now,
			struct record_set *set)
{
	uint8_t(*host_sk)[REC_SECRET_SIZE] = NULL;
	struct bench_host bh;
	struct rec r;
	uint32_t i, hosts = o->hosts < o->records ? o->hosts : o->records;
	int err = -ENOMEM;

	set->end = calloc(o->records, sizeof(*set->end));
	host_sk = calloc(hosts, sizeof(*host_sk));
	if (set->end == NULL || host_sk == NULL)
		goto out;
	for (i = 0; i < hosts; i++) {
		uint8_t pk[REC_KEY_SIZE];

		crypto_sign_keypair(pk, host_sk[i]);
		host_make(&bh, i, root);
		memset(&r, 0, sizeof(r));
		r.type = REC_CERT;
		memcpy(r.mesh_id, mesh_id, REC_ID_SIZE);
		r.seq = 1;
		r.issued_at = now - 3600;
		r.expires_at = now + 30 * 86400;
		snprintf(r.u.cert.name, sizeof(r.u.cert.name), "%s", bh.name);
		memcpy(r.u.cert.host_key, pk, REC_KEY_SIZE);
		memcpy(r.u.cert.wg_key, bh.h.wg_key, REC_KEY_SIZE);
		memcpy(r.u.cert.ipv4, bh.h.ipv4, 4);
		rec_ipv6_for_host(root->ipv6, pk, r.u.cert.ipv6);
		r.u.cert.groups.n = bh.h.n_groups;
		for (uint8_t g = 0; g < bh.h.n_groups; g++)
			snprintf(r.u.cert.groups.name[g], sizeof(r.u.cert.groups.name[g]), "%s",
				 bh.h.groups[g]);
		err = record_set_add(set, &r, admin_sk);
		if (err < 0)
			goto out;
	}
	for (i = 0; i < o->records - hosts; i++) {
		uint32_t host = i % hosts;
		uint64_t seq = i / hosts + 1;

		host_make(&bh, host, root);
		memset(&r, 0, sizeof(r));
		r.type = REC_ENDPOINTS;
		memcpy(r.mesh_id, mesh_id, REC_ID_SIZE);
		r.seq = seq;
		r.issued_at = now - 3600 + seq;
		r.expires_at = now + 86400;
		r.u.endpoints.listen_port = bh.h.listen_port;
		r.u.endpoints.n = bh.h.n_endpoints;
		memcpy(r.u.endpoints.ep, bh.endpoints, bh.h.n_endpoints * sizeof(bh.endpoints[0]));
		/* A host that moves: its public port changes with every update. */
		if (bh.h.n_endpoints == 3)
			r.u.endpoints.ep[2].port = (uint16_t)(20000 + seq);
		err = record_set_add(set, &r, host_sk[host]);
		if (err < 0)
			goto out;
	}
	err = 0;
out:
	if (host_sk != NULL) {
		sodium_memzero(host_sk, hosts * sizeof(*host_sk));
		free(host_sk);
	}
	return err;
}

/* Removes the registry's files (database, WAL, shared memory) and the directory. */
static void dir_remove(const char *path)
{
	struct dirent *e;
	DIR *d;
	int fd;

	d = opendir(path);
	if (d != NULL) {
		fd = dirfd(d);
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
				unlinkat(fd, e->d_name, 0);
		}
		closedir(d);
	}
	rmdir(path);
}

static const char *ingest_result_name(enum ingest_result res)
{
	switch (res) {
	case INGEST_ACCEPTED:
		return "accepted";
	case INGEST_DUPLICATE:
		return "duplicate";
	case INGEST_PENDING:
		return "pending";
	}
	return "?";
}

static int bench_ingest(const struct options *o)
{
	char dir[] = "/tmp/meshname-bench.XXXXXX", path[sizeof(dir) + 16];
	uint8_t admin_pk[REC_KEY_SIZE], admin_sk[REC_SECRET_SIZE], mesh_id[REC_ID_SIZE];
	uint8_t root_buf[REC_MAX_SIZE];
	struct record_set set = { 0 };
	struct registry *reg = NULL;
	struct registry_counts counts;
	struct snapshot *s = NULL;
	struct rec root;
	double t0, seconds, verify_seconds, *times = NULL, ms;
	uint64_t now = (uint64_t)time(NULL), by_result[4] = { 0 }, rejected = 0;
	size_t root_len, i;
	struct registry_item *items = NULL;
	enum ingest_result *results = NULL;
	int err, first_err = 0, *errors = NULL;
	char figure[64];
	bool made_dir = false;

	crypto_sign_keypair(admin_pk, admin_sk);
	root_record_make(&root, admin_pk, now);
	err = rec_sign(&root, admin_sk, root_buf, sizeof(root_buf), &root_len);
	if (err < 0) {
		fprintf(stderr, "registry_bench: signing the ROOT: %s\n", strerror(-err));
		goto out;
	}
	rec_mesh_id(root_buf, root_len, mesh_id);

	fprintf(stderr, "registry_bench: signing %u records (not timed)...\n", o->records);
	t0 = now_seconds();
	err = records_make(o, &root.u.root, mesh_id, admin_sk, now, &set);
	if (err < 0) {
		fprintf(stderr, "registry_bench: making records: %s\n", strerror(-err));
		goto out;
	}
	fprintf(stderr, "registry_bench: signed %zu records (%.1f MB) in %.1f s\n", set.n,
		(double)set.len / (1024 * 1024), now_seconds() - t0);
	add_rss_row("signing (records in memory)");

	/* The floor under ingest: decoding and checking every signature, nothing stored. */
	t0 = now_seconds();
	for (i = 0; i < set.n; i++) {
		size_t start = i ? set.end[i - 1] : 0;
		struct rec r;

		if (rec_decode(set.bytes + start, set.end[i] - start, &r) < 0 ||
		    !rec_verify(set.bytes + start, set.end[i] - start))
			rejected++;
	}
	verify_seconds = now_seconds() - t0;
	if (rejected > 0) {
		fprintf(stderr, "registry_bench: %llu of our own records do not verify\n",
			(unsigned long long)rejected);
		err = -EBADMSG;
		goto out;
	}

	if (mkdtemp(dir) == NULL) {
		err = -errno;
		fprintf(stderr, "registry_bench: mkdtemp: %s\n", strerror(errno));
		goto out;
	}
	made_dir = true;
	snprintf(path, sizeof(path), "%s/registry.db", dir);
	err = registry_open(path, &reg);
	if (err == 0)
		err = registry_create(reg, root_buf, root_len, now);
	if (err < 0) {
		fprintf(stderr, "registry_bench: creating the registry in %s: %s\n", dir,
			strerror(-err));
		goto out;
	}

	fprintf(stderr, "registry_bench: ingesting %zu records...\n", set.n);
	/* registry_ingest_many is what bundle imports (and sync) use: signatures are
	 * checked on every core first, then stored in one transaction. */
	items = calloc(set.n, sizeof(*items));
	results = calloc(set.n, sizeof(*results));
	errors = calloc(set.n, sizeof(*errors));
	if (items == NULL || results == NULL || errors == NULL) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < set.n; i++) {
		size_t start = i ? set.end[i - 1] : 0;

		items[i].buf = set.bytes + start;
		items[i].len = set.end[i] - start;
	}
	t0 = now_seconds();
	err = registry_ingest_many(reg, items, set.n, now, results, errors);
	seconds = now_seconds() - t0;
	if (err < 0) {
		fprintf(stderr, "registry_bench: ingest batch: %s\n", strerror(-err));
		goto out;
	}
	for (i = 0; i < set.n; i++) {
		if (errors[i] < 0) {
			if (first_err == 0)
				first_err = errors[i];
			rejected++;
		} else if (results[i] >= INGEST_ACCEPTED && results[i] <= INGEST_PENDING) {
			by_result[results[i]]++;
		}
	}
	snprintf(figure, sizeof(figure), "ingest %zu records (verify + store)", set.n);
	add_row(figure, "<= 10 s", seconds <= 10 ? "ok" : "over", "%.2f s (%.0f/s)", seconds,
		(double)set.n / seconds);
	add_row("  one core, rec_decode + rec_verify only", "", "", "%.2f s", verify_seconds);
	for (int r = INGEST_ACCEPTED; r <= INGEST_PENDING; r++) {
		if (by_result[r] == 0)
			continue;
		snprintf(figure, sizeof(figure), "  records %s", ingest_result_name(r));
		add_row(figure, "", "", "%llu", (unsigned long long)by_result[r]);
	}
	if (rejected > 0) {
		add_row("  records rejected", "", "", "%llu", (unsigned long long)rejected);
		fprintf(stderr, "registry_bench: %llu records rejected, the first: %s\n",
			(unsigned long long)rejected, registry_strerror(first_err));
	}
	add_rss_row("ingest");
	record_set_free(&set);

	err = registry_counts(reg, &counts);
	if (err < 0) {
		fprintf(stderr, "registry_bench: registry_counts: %s\n", strerror(-err));
		goto out;
	}
	times = calloc(o->runs, sizeof(*times));
	if (times == NULL) {
		err = -ENOMEM;
		goto out;
	}
	for (unsigned r = 0; r < o->runs; r++) {
		snapshot_unref(s);
		s = NULL;
		t0 = now_seconds();
		err = registry_snapshot(reg, &s);
		times[r] = now_seconds() - t0;
		if (err < 0) {
			fprintf(stderr, "registry_bench: registry_snapshot: %s\n", strerror(-err));
			goto out;
		}
	}
	ms = median(times, o->runs) * 1000;
	snprintf(figure, sizeof(figure), "registry_snapshot, %zu hosts (median)",
		 snapshot_host_count(s));
	add_row(figure, "<= 50 ms", ms <= 50 ? "ok" : "over", "%.2f ms", ms);
	add_rss_row("registry_snapshot");
	if (snapshot_host_count(s) != counts.hosts ||
	    counts.hosts != (o->hosts < o->records ? o->hosts : o->records))
		fprintf(stderr,
			"registry_bench: expected %u active hosts, counts say %llu, "
			"the snapshot has %zu\n",
			o->hosts, (unsigned long long)counts.hosts, snapshot_host_count(s));
	if (rejected > 0)
		err = -EBADMSG;
out:
	snapshot_unref(s);
	registry_close(reg);
	if (made_dir)
		dir_remove(dir);
	record_set_free(&set);
	free(times);
	free(items);
	free(results);
	free(errors);
	sodium_memzero(admin_sk, sizeof(admin_sk));
	return err;
}

static void print_table(void)
{
	size_t i;

	printf("%-44s %-10s %-26s %s\n", "figure", "target", "measured", "");
	printf("%-44s %-10s %-26s %s\n", "------", "------", "--------", "");
	for (i = 0; i < n_rows; i++)
		printf("%-44s %-10s %-26s %s\n", rows[i].figure, rows[i].target, rows[i].measured,
		       rows[i].verdict);
}

static void usage(void)
{
	fprintf(stderr, "usage: registry_bench [--hosts N] [--records N] [--lookups N] [--runs N] "
			"[--no-ingest]\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "hosts", required_argument, NULL, 'h' },
		{ "records", required_argument, NULL, 'n' },
		{ "lookups", required_argument, NULL, 'l' },
		{ "no-ingest", no_argument, NULL, 'I' },
		{ "runs", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	struct options o = {
		.hosts = 10000, .records = 100000, .lookups = 20000000, .runs = 11, .ingest = true
	};
	struct snapshot *s = NULL;
	int c, err;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		unsigned long long v;
		char *end;

		if (c == 'I') {
			o.ingest = false;
			continue;
		}
		if (c == '?' || optarg == NULL) {
			usage();
			return 2;
		}
		errno = 0;
		v = strtoull(optarg, &end, 10);
		if (errno != 0 || *end != '\0' || v == 0) {
			usage();
			return 2;
		}
		switch (c) {
		case 'h':
			o.hosts = v > 60000 ? 60000 : (uint32_t)v; /* fits one /16 */
			break;
		case 'n':
			o.records = v > 10000000 ? 10000000 : (uint32_t)v;
			break;
		case 'l':
			o.lookups = v;
			break;
		case 'r':
			o.runs = v > 1000 ? 1000 : (unsigned)v;
			break;
		}
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "registry_bench: libsodium failed to initialize\n");
		return 1;
	}
	add_rss_row("start");
	err = bench_snapshot(&o, &s);
	snapshot_unref(s);
	if (err == 0 && o.ingest)
		err = bench_ingest(&o);
	print_table();
	return err < 0 ? 1 : 0;
}
