/*
 * fuzz_uapi.c: feeds arbitrary bytes to the userspace API's get-reply parser (and the
 * set-reply parser). Besides memory errors it checks: a refused reply leaves the device
 * empty; a reply that parses formats to a set request which, read back as a get reply,
 * gives the same device (formatting again gives the same bytes).
 *
 *   clang -g -fsanitize=fuzzer,address,undefined -Iinclude -Isrc tests/fuzz/fuzz_uapi.c \
 *         src/wg/uapi.c src/wg/device.c -lsodium -o fuzz_uapi
 * Without libFuzzer: `make fuzz-replay` builds $(BUILD)/fuzz/fuzz_uapi with
 * tests/fuzz/standalone.c, and `build/fuzz/fuzz_uapi FILE...` replays inputs.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "meshname/wg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The set request's lines without "set=1", ended by errno: a get reply. Caller frees. */
static char *as_get_reply(const struct wg_device *dev, size_t *len)
{
	char *set, *reply;
	size_t set_len;

	if (wg_uapi_format_set(dev, &set, &set_len) != 0)
		abort(); /* a parsed device always formats */
	if (set_len < 7 || memcmp(set, "set=1\n", 6) != 0 || set[set_len - 1] != '\n')
		abort();
	reply = malloc(set_len + 16);
	if (reply == NULL)
		abort();
	*len = (size_t)sprintf(reply, "%.*serrno=0\n\n", (int)(set_len - 7), set + 6);
	sodium_memzero(set, set_len);
	free(set);
	return reply;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct wg_device zero;
	struct wg_device dev = { 0 }, again = { 0 };
	char *text, *text_again;
	size_t len, len_again;
	int r;

	if (sodium_init() < 0)
		abort();
	(void)wg_uapi_parse_set_reply((const char *)data, size);
	r = wg_uapi_parse_get((const char *)data, size, &dev);
	if (r != 0) {
		if (r > 0 || memcmp(&dev, &zero, sizeof(zero)) != 0)
			abort();
		return 0;
	}
	text = as_get_reply(&dev, &len);
	if (wg_uapi_parse_get(text, len, &again) != 0)
		abort(); /* we wrote something we refuse to read */
	text_again = as_get_reply(&again, &len_again);
	if (len != len_again || memcmp(text, text_again, len) != 0 ||
	    memcmp(dev.private_key, again.private_key, WG_KEY_LEN) != 0 ||
	    again.n_peers != dev.n_peers)
		abort();
	sodium_memzero(text, len);
	sodium_memzero(text_again, len_again);
	free(text);
	free(text_again);
	wg_device_clear(&again);
	wg_device_clear(&dev);
	return 0;
}
