/*
 * mkregistry.c: makes the registry that bench/dns_bench.sh serves: a state directory
 * holding registry.db with one ROOT (zone "mesh") and N admin-signed CERTs named
 * host00000, host00001, ... from fixed seeds, so that every run serves the same hosts.
 * It writes no host keys (meshnamed runs fine without them) and never touches anything
 * outside the directory it is given. Every error is printed where it happens. The zone for the other servers comes from
 * `meshname --state DIR export-zone`, so that every server answers the same data.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "meshname/record.h"
#include "meshname/registry.h"

/* A fixed seed for key number i (0 is the admin, i + 1 host i). */
static void seed_make(uint32_t i, uint8_t seed[crypto_sign_SEEDBYTES])
{
	memset(seed, 0, crypto_sign_SEEDBYTES);
	memcpy(seed, "meshname-bench", 14);
	seed[28] = (uint8_t)(i >> 24);
	seed[29] = (uint8_t)(i >> 16);
	seed[30] = (uint8_t)(i >> 8);
	seed[31] = (uint8_t)i;
}

static void root_make(struct rec *r, const uint8_t admin_pk[REC_KEY_SIZE], uint64_t now)
{
	struct rec_root *root = &r->u.root;
	static const uint8_t prefix6[6] = { 0xfd, 0x6d, 0x65, 0x73, 0x68, 0x01 };

	memset(r, 0, sizeof(*r));
	r->type = REC_ROOT;
	r->issued_at = now - 7200;
	snprintf(root->name, sizeof(root->name), "bench");
	snprintf(root->zone, sizeof(root->zone), "mesh");
	root->ipv4[0] = 100;
	root->ipv4[1] = 80;
	root->ipv4_len = 16;
	memcpy(root->ipv6, prefix6, sizeof(prefix6));
	root->max_cert_lifetime = 400 * 86400;
	root->threshold = 1;
	root->n_admins = 1;
	memcpy(root->admins[0], admin_pk, REC_KEY_SIZE);
}

static void cert_make(struct rec *r, uint32_t i, const struct rec_root *root,
		      const uint8_t mesh_id[REC_ID_SIZE], const uint8_t host_pk[REC_KEY_SIZE],
		      uint64_t now)
{
	uint32_t addr = ((uint32_t)root->ipv4[0] << 24 | (uint32_t)root->ipv4[1] << 16) + i + 1;

	memset(r, 0, sizeof(*r));
	r->type = REC_CERT;
	memcpy(r->mesh_id, mesh_id, REC_ID_SIZE);
	r->seq = 1;
	r->issued_at = now - 3600;
	r->expires_at = now + 30 * 86400;
	snprintf(r->u.cert.name, sizeof(r->u.cert.name), "host%05u", i);
	memcpy(r->u.cert.host_key, host_pk, REC_KEY_SIZE);
	/* Any 32 bytes do for a WireGuard key nobody uses. */
	crypto_generichash(r->u.cert.wg_key, REC_KEY_SIZE, host_pk, REC_KEY_SIZE, NULL, 0);
	r->u.cert.ipv4[0] = (uint8_t)(addr >> 24);
	r->u.cert.ipv4[1] = (uint8_t)(addr >> 16);
	r->u.cert.ipv4[2] = (uint8_t)(addr >> 8);
	r->u.cert.ipv4[3] = (uint8_t)addr;
	rec_ipv6_for_host(root->ipv6, host_pk, r->u.cert.ipv6);
}

static int registry_make(const char *dir, uint32_t n)
{
	uint8_t admin_pk[REC_KEY_SIZE], admin_sk[REC_SECRET_SIZE], seed[crypto_sign_SEEDBYTES];
	uint8_t mesh_id[REC_ID_SIZE], buf[REC_MAX_SIZE];
	struct registry_item *items = NULL;
	enum ingest_result *res = NULL;
	struct registry *reg = NULL;
	uint8_t *bytes = NULL;
	char path[PATH_MAX];
	uint64_t now = (uint64_t)time(NULL);
	struct rec root, r;
	size_t len, used = 0;
	int *errs = NULL, err;

	if ((size_t)snprintf(path, sizeof(path), "%s/registry.db", dir) >= sizeof(path)) {
		fprintf(stderr, "mkregistry: %s: %s\n", dir, strerror(ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		err = -errno;
		fprintf(stderr, "mkregistry: %s: %s\n", dir, strerror(-err));
		return err;
	}
	seed_make(0, seed);
	crypto_sign_seed_keypair(admin_pk, admin_sk, seed);
	root_make(&root, admin_pk, now);
	err = rec_sign(&root, admin_sk, buf, sizeof(buf), &len);
	if (err < 0) {
		fprintf(stderr, "mkregistry: cannot sign the ROOT: %s\n", strerror(-err));
		goto out;
	}
	rec_mesh_id(buf, len, mesh_id);
	err = registry_open(path, &reg);
	if (err < 0) {
		fprintf(stderr, "mkregistry: %s: %s\n", path, registry_strerror(err));
		goto out;
	}
	err = registry_create(reg, buf, len, now);
	if (err < 0) {
		fprintf(stderr, "mkregistry: %s: %s\n", path, registry_strerror(err));
		goto out;
	}

	err = -ENOMEM;
	bytes = malloc((size_t)n * REC_MAX_SIZE);
	items = calloc(n, sizeof(*items));
	res = calloc(n, sizeof(*res));
	errs = calloc(n, sizeof(*errs));
	if (n > 0 && (bytes == NULL || items == NULL || res == NULL || errs == NULL)) {
		fprintf(stderr, "mkregistry: %s\n", strerror(ENOMEM));
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint8_t pk[REC_KEY_SIZE], sk[REC_SECRET_SIZE];

		seed_make(i + 1, seed);
		crypto_sign_seed_keypair(pk, sk, seed);
		sodium_memzero(sk, sizeof(sk));
		cert_make(&r, i, &root.u.root, mesh_id, pk, now);
		err = rec_sign(&r, admin_sk, bytes + used, REC_MAX_SIZE, &len);
		if (err < 0) {
			fprintf(stderr, "mkregistry: cannot sign the CERT of host%05u: %s\n", i,
				strerror(-err));
			goto out;
		}
		items[i].buf = bytes + used;
		items[i].len = len;
		used += len;
	}
	err = registry_ingest_many(reg, items, n, now, res, errs);
	if (err < 0) {
		fprintf(stderr, "mkregistry: %s: %s\n", path, registry_strerror(err));
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (errs[i] < 0) {
			fprintf(stderr, "mkregistry: CERT of host%05u refused: %s\n", i,
				registry_strerror(errs[i]));
			err = errs[i];
			goto out;
		}
		if (res[i] != INGEST_ACCEPTED) {
			fprintf(stderr, "mkregistry: CERT of host%05u not accepted (%d)\n", i,
				(int)res[i]);
			err = -EINVAL;
			goto out;
		}
	}
	err = 0;
out:
	sodium_memzero(admin_sk, sizeof(admin_sk));
	sodium_memzero(seed, sizeof(seed));
	registry_close(reg);
	free(bytes);
	free(items);
	free(res);
	free(errs);
	return err;
}

int main(int argc, char **argv)
{
	unsigned long n;
	char *end;

	if (argc != 3) {
		fprintf(stderr, "usage: mkregistry STATE-DIR HOSTS\n");
		return 2;
	}
	errno = 0;
	n = strtoul(argv[2], &end, 10);
	if (errno != 0 || *end != '\0' || end == argv[2] || n > 60000) {
		fprintf(stderr, "mkregistry: HOSTS must be a number from 0 to 60000\n");
		return 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "mkregistry: libsodium failed to start\n");
		return 1;
	}
	/* registry_make has said what went wrong. */
	return registry_make(argv[1], (uint32_t)n) < 0 ? 1 : 0;
}
