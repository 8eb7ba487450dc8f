/*
 * gen_mesh.c: makes a realistic mesh registry for the sync benchmarks of issue 5: a state
 * directory holding registry.db with a ROOT and, per host, an admin-signed CERT and, signed
 * by the host's own key, an ENDPOINTS, an OBSERVE of the next host and custom RECORDs under
 * its name (A, AAAA, TXT, SRV, CNAME, MX): 1,000 hosts x 100 = 100,000 records by default.
 * Every record goes through the registry's full validation (registry_ingest_many) and must
 * be accepted. It also writes the admin key and host 0's keys (admin.key, host.key,
 * wg.key), so that `meshname --state DIR` can add hosts and meshnamed can run as host 0.
 * Keys come from fixed seeds (host i's host key: gen_mesh_seed(i + 1)); it touches nothing
 * outside the directory it is given, and refuses one that already holds a registry.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "meshname/keys.h"
#include "meshname/record.h"
#include "meshname/registry.h"

#define DAY 86400u
#define MAX_HOSTS 60000u
#define SIGN_THREADS 8

/* DNS types, as ldns numbers them (the registry accepts these six). */
enum { RR_A = 1, RR_CNAME = 5, RR_MX = 15, RR_TXT = 16, RR_AAAA = 28, RR_SRV = 33 };

struct options {
	const char *dir;
	uint32_t hosts;
	uint32_t per_host; /* records per host: CERT, ENDPOINTS, OBSERVE, then RECORDs */
};

/* The records of a range of hosts, packed; signed by one thread. */
struct job {
	const struct options *o;
	const struct rec *root;
	const uint8_t *mesh_id;
	const uint8_t *admin_sk;
	const uint8_t *host0_wg; /* host 0's WireGuard public key (its wg.key) */
	uint64_t now;
	uint32_t from, to; /* hosts */
	uint8_t *bytes;    /* records back to back */
	size_t used, cap;
	uint32_t *len; /* length of each record, in order */
	size_t n;
	int err;
	char what[96]; /* the record that failed */
};

/* The fixed seed of key i: 0 is the admin, i + 1 host i. Not secret: a benchmark's. */
static void gen_mesh_seed(uint32_t i, uint8_t seed[crypto_sign_SEEDBYTES])
{
	memset(seed, 0, crypto_sign_SEEDBYTES);
	memcpy(seed, "meshname-gen-mesh", 17);
	seed[28] = (uint8_t)(i >> 24);
	seed[29] = (uint8_t)(i >> 16);
	seed[30] = (uint8_t)(i >> 8);
	seed[31] = (uint8_t)i;
}

static void key_pair(uint32_t i, uint8_t pk[REC_KEY_SIZE], uint8_t sk[REC_SECRET_SIZE])
{
	uint8_t seed[crypto_sign_SEEDBYTES];

	gen_mesh_seed(i, seed);
	crypto_sign_seed_keypair(pk, sk, seed);
	sodium_memzero(seed, sizeof(seed));
}

/* A small fixed PRNG per host, so that a mesh is the same every run but for its times. */
static uint32_t mix(uint32_t a, uint32_t b)
{
	uint64_t x = (uint64_t)a << 32 | b;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdu;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53u;
	x ^= x >> 33;
	return (uint32_t)x;
}

static void root_make(struct rec *r, const uint8_t admin_pk[REC_KEY_SIZE], uint64_t now)
{
	static const uint8_t prefix6[6] = { 0xfd, 0x67, 0x65, 0x6e, 0x6d, 0x01 };
	struct rec_root *root = &r->u.root;

	memset(r, 0, sizeof(*r));
	r->type = REC_ROOT;
	r->issued_at = now - 60 * DAY;
	snprintf(root->name, sizeof(root->name), "bench");
	snprintf(root->zone, sizeof(root->zone), "mesh");
	root->ipv4[0] = 100;
	root->ipv4[1] = 80;
	root->ipv4_len = 16;
	memcpy(root->ipv6, prefix6, sizeof(prefix6));
	root->max_cert_lifetime = 400 * DAY;
	root->threshold = 1;
	root->n_admins = 1;
	memcpy(root->admins[0], admin_pk, REC_KEY_SIZE);
}

static void host_name(uint32_t i, char *out, size_t size)
{
	snprintf(out, size, "host%05u", i);
}

/* When host i got its certificate: spread over the 40 days before `now - 20 days`. */
static uint64_t cert_time(const struct job *j, uint32_t i)
{
	return j->now - 60 * DAY + (uint64_t)i * (40 * DAY) / j->o->hosts;
}

/* Appends a signed record; false (and j->err, j->what) if it cannot be made. */
static bool emit(struct job *j, struct rec *r, const uint8_t *sk, const char *what, uint32_t host)
{
	size_t len;
	int err;

	if (j->cap - j->used < REC_MAX_SIZE) {
		size_t cap = j->cap * 2 + 16 * REC_MAX_SIZE;
		uint8_t *p = realloc(j->bytes, cap);

		if (p == NULL) {
			j->err = -ENOMEM;
			snprintf(j->what, sizeof(j->what), "memory for the records");
			return false;
		}
		j->bytes = p;
		j->cap = cap;
	}
	err = rec_sign(r, sk, j->bytes + j->used, REC_MAX_SIZE, &len);
	if (err < 0) {
		j->err = err;
		snprintf(j->what, sizeof(j->what), "the %s of host%05u", what, host);
		return false;
	}
	j->used += len;
	j->len[j->n++] = (uint32_t)len;
	return true;
}

static void cert_make(const struct job *j, struct rec *r, uint32_t i,
		      const uint8_t host_pk[REC_KEY_SIZE])
{
	static const char *const groups[] = { "desktops", "servers", "storage" };
	const struct rec_root *root = &j->root->u.root;
	uint32_t addr = ((uint32_t)root->ipv4[0] << 24 | (uint32_t)root->ipv4[1] << 16) + i + 1;
	struct rec_cert *c = &r->u.cert;

	memset(r, 0, sizeof(*r));
	r->type = REC_CERT;
	memcpy(r->mesh_id, j->mesh_id, REC_ID_SIZE);
	r->seq = 1;
	r->issued_at = cert_time(j, i);
	r->expires_at = r->issued_at + 365 * DAY;
	host_name(i, c->name, sizeof(c->name));
	memcpy(c->host_key, host_pk, REC_KEY_SIZE);
	if (i == 0)
		memcpy(c->wg_key, j->host0_wg, REC_KEY_SIZE);
	else /* any 32 bytes do for a WireGuard key nobody uses; unique per host */
		crypto_generichash(c->wg_key, REC_KEY_SIZE, host_pk, REC_KEY_SIZE, NULL, 0);
	c->ipv4[0] = (uint8_t)(addr >> 24);
	c->ipv4[1] = (uint8_t)(addr >> 16);
	c->ipv4[2] = (uint8_t)(addr >> 8);
	c->ipv4[3] = (uint8_t)addr;
	rec_ipv6_for_host(root->ipv6, host_pk, c->ipv6);
	/* none, one or two groups, sorted by strcmp */
	if (i % 3 == 1) {
		c->groups.n = 1;
		snprintf(c->groups.name[0], sizeof(c->groups.name[0]), "%s", groups[i % 3]);
	} else if (i % 3 == 2) {
		c->groups.n = 2;
		snprintf(c->groups.name[0], sizeof(c->groups.name[0]), "admins");
		snprintf(c->groups.name[1], sizeof(c->groups.name[1]), "%s", groups[i % 3]);
	}
}

/* What a host publishes: LAN, global IPv6, public; seq 1, issued in the last hour. */
static void endpoints_make(const struct job *j, struct rec *r, uint32_t i)
{
	struct rec_endpoints *e = &r->u.endpoints;

	memset(r, 0, sizeof(*r));
	r->type = REC_ENDPOINTS;
	memcpy(r->mesh_id, j->mesh_id, REC_ID_SIZE);
	r->seq = 1;
	r->issued_at = j->now - 3600 + mix(i, 1) % 3000;
	r->expires_at = r->issued_at + 7 * DAY;
	e->listen_port = 51820;
	e->n = 3;
	/* sorted by wire bytes: kind first */
	e->ep[0] = (struct rec_endpoint){ .kind = EP_LAN,
					  .family = 4,
					  .addr = { 192, 168, (uint8_t)(i >> 8), (uint8_t)i },
					  .port = 51820 };
	e->ep[1] = (struct rec_endpoint){ .kind = EP_IPV6,
					  .family = 6,
					  .addr = { 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0,
						    0, 0, (uint8_t)(i >> 8), (uint8_t)i },
					  .port = 51820 };
	e->ep[2] = (struct rec_endpoint){ .kind = EP_PUBLIC,
					  .family = 4,
					  .addr = { 203, 0, 113, (uint8_t)(1 + i % 254) },
					  .port = (uint16_t)(40000 + i % 20000) };
}

/* Host i saw host i + 1 (mod hosts) at a reflexive address; valid for a day. */
static void observe_make(const struct job *j, struct rec *r, uint32_t i,
			 const uint8_t subject_pk[REC_KEY_SIZE])
{
	uint32_t s = (i + 1) % j->o->hosts;

	memset(r, 0, sizeof(*r));
	r->type = REC_OBSERVE;
	memcpy(r->mesh_id, j->mesh_id, REC_ID_SIZE);
	r->seq = 1;
	r->issued_at = j->now - 3600 + mix(i, 2) % 3000;
	r->expires_at = r->issued_at + REC_OBSERVE_MAX_LIFETIME;
	memcpy(r->u.observe.subject, subject_pk, REC_KEY_SIZE);
	r->u.observe.seen = (struct rec_endpoint){ .kind = EP_REFLEXIVE,
						   .family = 4,
						   .addr = { 198, 51, 100, (uint8_t)(1 + s % 254) },
						   .port = (uint16_t)(30000 + s % 30000) };
}

/* An uncompressed absolute name "label.host.mesh." in DNS wire form; its length. */
static size_t wire_name(uint8_t *out, const char *label, const char *host)
{
	size_t n = 0, l;

	if (label != NULL) {
		l = strlen(label);
		out[n++] = (uint8_t)l;
		memcpy(out + n, label, l);
		n += l;
	}
	l = strlen(host);
	out[n++] = (uint8_t)l;
	memcpy(out + n, host, l);
	n += l;
	out[n++] = 4;
	memcpy(out + n, "mesh", 4);
	n += 4;
	out[n++] = 0;
	return n;
}

/*
 * Custom record k of host i, owned by a name under the host (each (owner, type, rdata)
 * once, so nothing supersedes anything): mostly A and AAAA of services, then TXT, SRV,
 * CNAME and MX, as a host's own records might be.
 */
static void record_make(const struct job *j, struct rec *r, uint32_t i, uint32_t k)
{
	struct rec_record *rr = &r->u.record;
	char name[REC_NAME_MAX + 1], other[REC_NAME_MAX + 1], label[32];
	uint32_t x = mix(i, 100 + k);
	uint64_t t0 = cert_time(j, i) + 600;

	memset(r, 0, sizeof(*r));
	r->type = REC_RECORD;
	memcpy(r->mesh_id, j->mesh_id, REC_ID_SIZE);
	r->seq = 1;
	/* issued some time between the host's certificate and an hour ago */
	r->issued_at = t0 + (uint64_t)x % (j->now - 3600 - t0);
	r->expires_at = r->issued_at + 180 * DAY;
	host_name(i, name, sizeof(name));
	host_name((i + 1 + x % 7) % j->o->hosts, other, sizeof(other));
	rr->op = REC_OP_ADD;
	rr->ttl = 300;
	switch (k % 10) {
	case 0:
	case 1:
	case 2:
	case 3:
		snprintf(label, sizeof(label), "svc%u", k);
		rr->rrtype = RR_A;
		rr->rdlen = 4;
		rr->rdata[0] = 10;
		rr->rdata[1] = (uint8_t)(i >> 8);
		rr->rdata[2] = (uint8_t)i;
		rr->rdata[3] = (uint8_t)k;
		break;
	case 4:
	case 5:
		snprintf(label, sizeof(label), "svc%u", k);
		rr->rrtype = RR_AAAA;
		rr->rdlen = 16;
		rr->rdata[0] = 0x20;
		rr->rdata[1] = 0x01;
		rr->rdata[2] = 0x0d;
		rr->rdata[3] = 0xb8;
		rr->rdata[12] = (uint8_t)(i >> 8);
		rr->rdata[13] = (uint8_t)i;
		rr->rdata[15] = (uint8_t)k;
		break;
	case 6:
	case 7: {
		/* one character-string: "v=meshname-bench; host=...; item=...; x=..." */
		int n;

		snprintf(label, sizeof(label), "_meta%u", k);
		rr->rrtype = RR_TXT;
		n = snprintf((char *)rr->rdata + 1, REC_RDATA_MAX - 1,
			     "v=meshname-bench; host=%s; item=%u; token=%08x%08x", name, k, x,
			     mix(x, k));
		rr->rdata[0] = (uint8_t)n;
		rr->rdlen = (uint16_t)(n + 1);
		break;
	}
	case 8:
		snprintf(label, sizeof(label), "_svc%u._tcp", k);
		rr->rrtype = RR_SRV;
		rr->rdata[0] = 0;
		rr->rdata[1] = 10; /* priority */
		rr->rdata[2] = 0;
		rr->rdata[3] = 5; /* weight */
		rr->rdata[4] = (uint8_t)((8000 + k) >> 8);
		rr->rdata[5] = (uint8_t)(8000 + k);
		rr->rdlen = (uint16_t)(6 + wire_name(rr->rdata + 6, NULL, name));
		break;
	default:
		if (k % 20 == 9) {
			snprintf(label, sizeof(label), "alias%u", k);
			rr->rrtype = RR_CNAME;
			rr->rdlen = (uint16_t)wire_name(rr->rdata, NULL, other);
		} else {
			snprintf(label, sizeof(label), "mail%u", k);
			rr->rrtype = RR_MX;
			rr->rdata[0] = 0;
			rr->rdata[1] = 10;
			rr->rdlen = (uint16_t)(2 + wire_name(rr->rdata + 2, "mx", other));
		}
		break;
	}
	snprintf(rr->owner, sizeof(rr->owner), "%s.%s", label, name);
}

static void *sign_hosts(void *arg)
{
	struct job *j = arg;
	uint8_t pk[REC_KEY_SIZE], sk[REC_SECRET_SIZE], next_pk[REC_KEY_SIZE];
	uint8_t next_sk[REC_SECRET_SIZE];
	struct rec r;

	for (uint32_t i = j->from; i < j->to && j->err == 0; i++) {
		key_pair(i + 1, pk, sk);
		key_pair((i + 1) % j->o->hosts + 1, next_pk, next_sk);
		sodium_memzero(next_sk, sizeof(next_sk));
		cert_make(j, &r, i, pk);
		if (!emit(j, &r, j->admin_sk, "CERT", i))
			break;
		endpoints_make(j, &r, i);
		if (!emit(j, &r, sk, "ENDPOINTS", i))
			break;
		observe_make(j, &r, i, next_pk);
		if (!emit(j, &r, sk, "OBSERVE", i))
			break;
		for (uint32_t k = 0; k + 3 < j->o->per_host; k++) {
			record_make(j, &r, i, k);
			if (!emit(j, &r, sk, "RECORD", i))
				break;
		}
	}
	sodium_memzero(sk, sizeof(sk));
	return NULL;
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The registry, then the keys, so that a directory with keys always has its registry. */
static int mesh_make(const struct options *o)
{
	uint8_t admin_pk[REC_KEY_SIZE], admin_sk[REC_SECRET_SIZE], host_pk[REC_KEY_SIZE];
	uint8_t host_sk[REC_SECRET_SIZE], wg_pk[REC_KEY_SIZE], mesh_id[REC_ID_SIZE];
	uint8_t root_buf[REC_MAX_SIZE];
	struct job jobs[SIGN_THREADS];
	pthread_t tid[SIGN_THREADS];
	struct registry_item *items = NULL;
	enum ingest_result *res = NULL;
	struct registry *reg = NULL;
	struct registry_counts counts;
	char path[PATH_MAX];
	uint64_t now = (uint64_t)time(NULL), total = (uint64_t)o->hosts * o->per_host, bytes = 0;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	size_t threads = cores > 1 ? (size_t)cores : 1, n = 0;
	struct rec root;
	size_t root_len;
	double t0, t_sign, t_ingest;
	int *errs = NULL, err;
	struct stat sb;

	memset(jobs, 0, sizeof(jobs));
	if (threads > SIGN_THREADS)
		threads = SIGN_THREADS;
	if ((size_t)snprintf(path, sizeof(path), "%s/registry.db", o->dir) >= sizeof(path)) {
		fprintf(stderr, "gen_mesh: %s: the path is too long\n", o->dir);
		return -ENAMETOOLONG;
	}
	err = keys_dir_prepare(o->dir);
	if (err < 0) {
		fprintf(stderr, "gen_mesh: cannot make %s: %s\n", o->dir, strerror(-err));
		return err;
	}
	if (stat(path, &sb) == 0) {
		fprintf(stderr, "gen_mesh: %s already exists: give an empty directory\n", path);
		return -EEXIST;
	}
	/* host 0's WireGuard key is a real one (meshnamed may run as host 0) */
	err = keys_x25519_generate(o->dir, KEYS_WG, wg_pk);
	if (err < 0) {
		fprintf(stderr, "gen_mesh: cannot write %s/%s: %s\n", o->dir, KEYS_WG,
			strerror(-err));
		return err;
	}
	key_pair(0, admin_pk, admin_sk);
	root_make(&root, admin_pk, now);
	err = rec_sign(&root, admin_sk, root_buf, sizeof(root_buf), &root_len);
	if (err < 0) {
		fprintf(stderr, "gen_mesh: cannot sign the ROOT: %s\n", strerror(-err));
		goto out;
	}
	rec_mesh_id(root_buf, root_len, mesh_id);

	t0 = now_seconds();
	for (size_t t = 0; t < threads; t++) {
		struct job *j = &jobs[t];

		j->o = o;
		j->root = &root;
		j->mesh_id = mesh_id;
		j->admin_sk = admin_sk;
		j->host0_wg = wg_pk;
		j->now = now;
		j->from = (uint32_t)((uint64_t)o->hosts * t / threads);
		j->to = (uint32_t)((uint64_t)o->hosts * (t + 1) / threads);
		j->len = calloc((size_t)(j->to - j->from) * o->per_host + 1, sizeof(*j->len));
		if (j->len == NULL) {
			fprintf(stderr, "gen_mesh: %s\n", strerror(ENOMEM));
			err = -ENOMEM;
			goto out;
		}
	}
	for (size_t t = 1; t < threads; t++) {
		if (pthread_create(&tid[t], NULL, sign_hosts, &jobs[t]) != 0) {
			fprintf(stderr, "gen_mesh: cannot start a signing thread\n");
			/* the ones started must still be joined */
			for (size_t u = 1; u < t; u++)
				pthread_join(tid[u], NULL);
			err = -EAGAIN;
			goto out;
		}
	}
	sign_hosts(&jobs[0]);
	for (size_t t = 1; t < threads; t++)
		pthread_join(tid[t], NULL);
	t_sign = now_seconds() - t0;
	for (size_t t = 0; t < threads; t++) {
		if (jobs[t].err < 0) {
			fprintf(stderr, "gen_mesh: cannot sign %s: %s\n", jobs[t].what,
				strerror(-jobs[t].err));
			err = jobs[t].err;
			goto out;
		}
	}

	err = -ENOMEM;
	items = calloc(total, sizeof(*items));
	res = calloc(total, sizeof(*res));
	errs = calloc(total, sizeof(*errs));
	if (items == NULL || res == NULL || errs == NULL) {
		fprintf(stderr, "gen_mesh: %s\n", strerror(ENOMEM));
		goto out;
	}
	/* CERTs first (each host's first record), so that nothing waits as pending */
	for (size_t t = 0; t < threads; t++) {
		size_t off = 0;

		for (size_t k = 0; k < jobs[t].n; k++) {
			if (k % o->per_host == 0) {
				items[n].buf = jobs[t].bytes + off;
				items[n++].len = jobs[t].len[k];
			}
			off += jobs[t].len[k];
		}
	}
	for (size_t t = 0; t < threads; t++) {
		size_t off = 0;

		for (size_t k = 0; k < jobs[t].n; k++) {
			if (k % o->per_host != 0) {
				items[n].buf = jobs[t].bytes + off;
				items[n++].len = jobs[t].len[k];
			}
			off += jobs[t].len[k];
			bytes += jobs[t].len[k];
		}
	}

	err = registry_open(path, &reg);
	if (err == 0)
		err = registry_create(reg, root_buf, root_len, now);
	if (err < 0) {
		fprintf(stderr, "gen_mesh: %s: %s\n", path, registry_strerror(err));
		goto out;
	}
	t0 = now_seconds();
	err = registry_ingest_many(reg, items, n, now, res, errs);
	t_ingest = now_seconds() - t0;
	if (err < 0) {
		fprintf(stderr, "gen_mesh: %s: %s\n", path, registry_strerror(err));
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (errs[i] < 0 || res[i] != INGEST_ACCEPTED) {
			struct rec r;

			err = errs[i] < 0 ? errs[i] : -EINVAL;
			if (rec_decode(items[i].buf, items[i].len, &r) < 0)
				r.type = 0;
			fprintf(stderr, "gen_mesh: a %s record was not accepted: %s\n",
				rec_type_name(r.type) ? rec_type_name(r.type) : "malformed",
				errs[i] < 0 ? registry_strerror(errs[i]) : "parked as pending");
			goto out;
		}
	}
	err = registry_counts(reg, &counts);
	if (err < 0) {
		fprintf(stderr, "gen_mesh: %s: %s\n", path, registry_strerror(err));
		goto out;
	}

	key_pair(1, host_pk, host_sk);
	err = keys_ed25519_store(o->dir, KEYS_ADMIN, admin_sk);
	if (err == 0)
		err = keys_ed25519_store(o->dir, KEYS_HOST, host_sk);
	if (err < 0) {
		fprintf(stderr, "gen_mesh: cannot write the keys in %s: %s\n", o->dir,
			strerror(-err));
		goto out;
	}
	printf("gen_mesh: %s: %llu records (ROOT + %u hosts x %u: CERT, ENDPOINTS, OBSERVE, "
	       "%u RECORDs), %llu hosts and %llu custom records active, %.1f MB of records "
	       "(%.0f B average)\n",
	       path, (unsigned long long)counts.records, o->hosts, o->per_host, o->per_host - 3,
	       (unsigned long long)counts.hosts, (unsigned long long)counts.rrs,
	       (double)bytes / 1e6, (double)bytes / (double)n);
	printf("gen_mesh: signed in %.2f s on %zu threads, ingested (full validation) in %.2f s; "
	       "OBSERVEs expire in a day, ENDPOINTS in a week: regenerate after that\n",
	       t_sign, threads, t_ingest);
	err = 0;
out:
	sodium_memzero(admin_sk, sizeof(admin_sk));
	sodium_memzero(host_sk, sizeof(host_sk));
	registry_close(reg);
	for (size_t t = 0; t < threads; t++) {
		free(jobs[t].bytes);
		free(jobs[t].len);
	}
	free(items);
	free(res);
	free(errs);
	return err;
}

static void usage(void)
{
	fprintf(stderr, "usage: gen_mesh [--hosts N] [--per-host M] STATE-DIR\n"
			"  --hosts N     hosts in the mesh, 2..60000 (1000)\n"
			"  --per-host M  records per host, 3..1000: CERT, ENDPOINTS, OBSERVE and "
			"M - 3 RECORDs (100)\n");
}

static bool parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v < lo || v > hi)
		return false;
	*out = (uint32_t)v;
	return true;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "hosts", required_argument, NULL, 'h' },
		{ "per-host", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	struct options o = { NULL, 1000, 100 };
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			if (!parse_u32(optarg, 2, MAX_HOSTS, &o.hosts)) {
				fprintf(stderr, "gen_mesh: --hosts must be a number from 2 to %u\n",
					MAX_HOSTS);
				return 2;
			}
			break;
		case 'p':
			if (!parse_u32(optarg, 3, 1000, &o.per_host)) {
				fprintf(stderr,
					"gen_mesh: --per-host must be a number from 3 to 1000\n");
				return 2;
			}
			break;
		default:
			usage();
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage();
		return 2;
	}
	o.dir = argv[optind];
	if (sodium_init() < 0) {
		fprintf(stderr, "gen_mesh: libsodium failed to start\n");
		return 1;
	}
	/* mesh_make has said what went wrong */
	return mesh_make(&o) < 0 ? 1 : 0;
}
