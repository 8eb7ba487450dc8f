/* Build: clang -std=c11 -D_GNU_SOURCE -g -fsanitize=fuzzer,address,undefined -Iinclude tests/fuzz/fuzz_beacon.c src/sync/beacon.c $(pkg-config --cflags --libs libsodium) -o fuzz_beacon
 *
 * fuzz_beacon.c: feeds arbitrary datagrams to the LAN beacon decoder, as anyone on the LAN
 * can. Decodes twice: against a fixed mesh and clock, and against the mesh id and
 * timestamp the input itself claims, so that the signature check is reached too. Only the
 * documented errors may come back, a failed decode leaves a zeroed struct, and a beacon
 * that decodes must carry exactly its bytes. Seeds: tests/fuzz/seeds/fuzz_beacon/.
 * Without libFuzzer: `make fuzz-replay` builds $(BUILD)/fuzz/fuzz_beacon with
 * tests/fuzz/standalone.c, and `build/fuzz/fuzz_beacon FILE...` replays inputs.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "meshname/beacon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode(const uint8_t *data, size_t size, const uint8_t *mesh, uint64_t now)
{
	struct beacon b;
	int rc = beacon_decode(data, size, mesh, now, &b);

	if (rc != 0) {
		if (rc != -EBADMSG && rc != -EPROTONOSUPPORT && rc != -EXDEV && rc != -ESTALE &&
		    rc != -EKEYREJECTED)
			abort(); /* only the documented errors */
		if (!sodium_is_zero((const unsigned char *)&b, sizeof(b)))
			abort();
		return;
	}
	if (size != BEACON_SIZE || memcmp(b.mesh_id, data + 4, REC_ID_SIZE) != 0 ||
	    memcmp(b.host_key, data + 36, REC_KEY_SIZE) != 0 || b.port == 0 ||
	    b.port != (data[68] << 8 | data[69]) ||
	    memcmp(b.fingerprint, data + 78, BEACON_FINGERPRINT_SIZE) != 0)
		abort(); /* decoding is a function of the bytes */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t mesh[REC_ID_SIZE] = { 0xa0, 0xa1, 0xa2, 0xa3, [31] = 0xbf };
	static int ready;
	uint64_t claimed = 0;

	if (!ready) {
		if (sodium_init() < 0)
			abort();
		ready = 1;
	}
	decode(data, size, mesh, 1700000000u);
	if (size >= BEACON_SIGNED_SIZE) {
		for (int i = 0; i < 8; i++)
			claimed = claimed << 8 | data[94 + i];
		decode(data, size, data + 4, claimed);
	}
	return 0;
}
