/* Build: clang -std=c11 -D_GNU_SOURCE -g -fsanitize=fuzzer,address,undefined -Iinclude tests/fuzz/fuzz_session.c src/sync/session.c $(pkg-config --cflags --libs libsodium) -o fuzz_session
 *
 * fuzz_session.c: feeds arbitrary bytes to transport B's session as a peer would. The
 * first byte picks what the rest is: 0 a client hello to a new server, 1 a server hello
 * to a client that sent its hello, 2 a client finish to a server that answered a real
 * client hello, 3 a sealed message to an established session. Only the documented errors
 * may come back, a failed session must be wiped to the last byte, and nothing may read
 * out of bounds. Seeds: tests/fuzz/seeds/fuzz_session/ (mesh id FUZZ_MESH below).
 * Without libFuzzer: `make fuzz-replay` builds $(BUILD)/fuzz/fuzz_session with
 * tests/fuzz/standalone.c, and `build/fuzz/fuzz_session FILE...` replays inputs.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "meshname/session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t mesh[REC_ID_SIZE] = { 0xa0, 0xa1, 0xa2, 0xa3, [31] = 0xbf };

static bool wiped(const struct session *s)
{
	return sodium_is_zero((const unsigned char *)s, sizeof(*s)) == 1;
}

static void check(int rc, const struct session *s)
{
	if (rc == 0)
		return;
	if (rc != -EBADMSG && rc != -EKEYREJECTED && rc != -EPROTO && rc != -EXDEV)
		abort(); /* only the documented errors */
	if (!wiped(s))
		abort(); /* every error wipes the session */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t client_sk[REC_SECRET_SIZE], server_sk[REC_SECRET_SIZE];
	static uint8_t out[SESSION_MAX_MESSAGE];
	static int ready;
	struct session c, s;
	uint8_t ch[SESSION_HANDSHAKE_MAX], sh[SESSION_HANDSHAKE_MAX], cf[SESSION_HANDSHAKE_MAX];
	size_t ch_len, sh_len, cf_len, len;
	bool final;
	int rc;

	if (!ready) {
		uint8_t pk[REC_KEY_SIZE], seed[crypto_sign_SEEDBYTES];

		if (sodium_init() < 0)
			abort();
		memset(seed, 0x11, sizeof(seed));
		crypto_sign_seed_keypair(pk, client_sk, seed);
		memset(seed, 0x22, sizeof(seed));
		crypto_sign_seed_keypair(pk, server_sk, seed);
		ready = 1;
	}
	if (size < 1)
		return 0;
	session_server_init(&s, mesh, server_sk);
	if (session_client_init(&c, mesh, client_sk, NULL, ch, sizeof(ch), &ch_len) != 0)
		abort();
	switch (data[0] % 4) {
	case 0:
		rc = session_handshake(&s, data + 1, size - 1, out, sizeof(out), &len);
		check(rc, &s);
		if (rc == 0 && len != SESSION_SERVER_HELLO_SIZE)
			abort();
		break;
	case 1:
		rc = session_handshake(&c, data + 1, size - 1, out, sizeof(out), &len);
		check(rc, &c);
		break;
	case 2:
		if (session_handshake(&s, ch, ch_len, sh, sizeof(sh), &sh_len) != 0)
			abort();
		rc = session_handshake(&s, data + 1, size - 1, out, sizeof(out), &len);
		check(rc, &s);
		break;
	default:
		if (session_handshake(&s, ch, ch_len, sh, sizeof(sh), &sh_len) != 0 ||
		    session_handshake(&c, sh, sh_len, cf, sizeof(cf), &cf_len) != 0 ||
		    session_handshake(&s, cf, cf_len, out, sizeof(out), &len) != 0)
			abort();
		rc = session_open(&s, data + 1, size - 1, out, sizeof(out), &len, &final);
		check(rc, &s);
		/* A fresh key never opens a forged message. */
		if (rc == 0)
			abort();
		break;
	}
	session_clear(&c);
	session_clear(&s);
	return 0;
}
