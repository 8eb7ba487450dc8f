/* Build: clang -std=c11 -D_GNU_SOURCE -g -fsanitize=fuzzer,address,undefined -Iinclude tests/fuzz/fuzz_negentropy.c src/sync/negentropy.c $(pkg-config --cflags --libs libsodium) -o fuzz_negentropy
 *
 * fuzz_negentropy.c: feeds arbitrary bytes to a negentropy responder and to an
 * initiator, as a sync peer would. Neither may crash, read out of bounds or leak; an
 * error must be one of the documented ones; an answer must start with the version byte
 * and fit in the frame limit. The set is 200 items (ids SHA-256("meshname negentropy
 * test N"), three per timestamp from 1000), as negentropy_ref.py's item().
 * Without libFuzzer: `make fuzz-replay` replays tests/fuzz/seeds/fuzz_negentropy/.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "meshname/negentropy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct negentropy_set *fuzz_set;

static void build_set(void)
{
	if (sodium_init() < 0 || negentropy_set_new(&fuzz_set) != 0)
		abort();
	for (unsigned k = 0; k < 200; k++) {
		uint8_t id[NEGENTROPY_ID_SIZE];
		char s[64];
		int n = snprintf(s, sizeof(s), "meshname negentropy test %u", k);

		crypto_hash_sha256(id, (const uint8_t *)s, (unsigned long long)n);
		if (negentropy_set_add(fuzz_set, 1000 + k / 3, id) != 0)
			abort();
	}
	if (negentropy_set_seal(fuzz_set) != 0)
		abort();
}

static void check_answer(int rc, uint8_t *msg, size_t len, size_t limit)
{
	if (rc != 0)
		return;
	if (msg == NULL)
		return; /* an initiator with nothing left to ask */
	if (len == 0 || msg[0] != NEGENTROPY_PROTOCOL_VERSION || (limit && len > limit))
		abort();
	free(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t limits[] = { 0, NEGENTROPY_FRAME_LIMIT_MIN };
	struct negentropy_ids have = { 0 }, need = { 0 };

	if (fuzz_set == NULL)
		build_set();
	for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
		struct negentropy *ne;
		uint8_t *msg = NULL;
		size_t len = 0;
		int rc;

		if (negentropy_new(fuzz_set, limits[l], &ne) != 0)
			abort();
		rc = negentropy_respond(ne, data, size, &msg, &len);
		if (rc != 0 && rc != -EBADMSG)
			abort();
		check_answer(rc, msg, len, limits[l]);
		negentropy_free(ne);

		if (negentropy_new(fuzz_set, limits[l], &ne) != 0 ||
		    negentropy_initiate(ne, &msg, &len) != 0)
			abort();
		free(msg);
		msg = NULL;
		rc = negentropy_reconcile(ne, data, size, &msg, &len, &have, &need);
		if (rc != 0 && rc != -EBADMSG && rc != -EPROTO)
			abort();
		check_answer(rc, msg, len, limits[l]);
		/* have and need only ever hold ids, each once */
		for (size_t i = 1; i < need.count; i++)
			if (memcmp(need.id[i - 1], need.id[i], NEGENTROPY_ID_SIZE) == 0)
				abort();
		negentropy_ids_free(&have);
		negentropy_ids_free(&need);
		negentropy_free(ne);
	}
	return 0;
}
