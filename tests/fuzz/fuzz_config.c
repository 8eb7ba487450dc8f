/*
 * fuzz_config.c: feeds arbitrary bytes, split on newlines, to the meshnamed.conf parser.
 * Besides memory errors it checks two properties: a failed parse hands out no config and
 * leaves a "file:line: " message, and a config that parses prints to text that parses to
 * a config printing the same text (config_print's promise).
 *
 *   clang -g -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
 *         tests/fuzz/fuzz_config.c src/daemon/config.c -o fuzz_config
 * Without libFuzzer: `make fuzz-replay` builds $(BUILD)/fuzz/fuzz_config with
 * tests/fuzz/standalone.c, and `build/fuzz/fuzz_config FILE...` replays inputs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parses [data, data + size) line by line; *out is the config or NULL. */
static int parse(const char *data, size_t size, struct config **out)
{
	struct config_parser *p = config_parser_new("fuzz");
	const char *line = data, *end = data + size;
	int r = 0;

	*out = NULL;
	if (p == NULL)
		return -1;
	while (r == 0 && line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t n = nl != NULL ? (size_t)(nl - line) + 1 : (size_t)(end - line);

		r = config_parser_line(p, line, n);
		line += n;
	}
	if (r == 0)
		r = config_parser_finish(p, out);
	if (r != 0 && (*out != NULL || strncmp(config_parser_error(p), "fuzz:", 5) != 0))
		abort();
	config_parser_free(p);
	return r;
}

static char *print(const struct config *cfg, size_t *len)
{
	char *buf = NULL;
	FILE *fp = open_memstream(&buf, len);

	if (fp == NULL)
		abort();
	config_print(cfg, fp);
	if (fclose(fp) != 0)
		abort();
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg, *again;
	char *text, *text_again;
	size_t len, len_again;

	if (parse((const char *)data, size, &cfg) != 0)
		return 0;
	text = print(cfg, &len);
	if (parse(text, len, &again) != 0)
		abort(); /* config_print wrote something the parser refuses */
	text_again = print(again, &len_again);
	if (len != len_again || memcmp(text, text_again, len) != 0)
		abort();
	free(text_again);
	free(text);
	config_free(again);
	config_free(cfg);
	return 0;
}
