/* Build: clang -std=c11 -D_GNU_SOURCE -g -fsanitize=fuzzer,address,undefined -Iinclude tests/fuzz/fuzz_record.c src/registry/record.c $(pkg-config --cflags --libs ldns libsodium) -o fuzz_record
 *
 * fuzz_record.c: feeds arbitrary bytes to the record decoder, as a sync peer would.
 * rec_decode and rec_verify must never read out of bounds or crash; a record that
 * decodes must also be canonical (re-signing is not possible here: no key), so its
 * id is computed and its decode repeated to check determinism.
 * Without libFuzzer: `make fuzz-replay` builds $(BUILD)/fuzz/fuzz_record with
 * tests/fuzz/standalone.c, and `build/fuzz/fuzz_record FILE...` replays inputs.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "meshname/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int sodium_ready;
	struct rec r, again;
	uint8_t id[REC_ID_SIZE];
	int rc;

	if (!sodium_ready) {
		if (sodium_init() < 0)
			abort();
		sodium_ready = 1;
	}
	rc = rec_decode(data, size, &r);
	(void)rec_verify(data, size);
	if (rc != 0) {
		if (rc != -EMSGSIZE && rc != -EPROTONOSUPPORT && rc != -EBADMSG)
			abort(); /* only the documented errors */
		return 0;
	}
	rec_id(data, size, id);
	if (rec_decode(data, size, &again) != 0 || memcmp(&r, &again, sizeof(r)) != 0)
		abort(); /* decoding is a function of the bytes */
	if (rec_type_name(r.type) == NULL)
		abort();
	return 0;
}
