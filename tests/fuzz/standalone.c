/*
 * standalone.c: a main() for the fuzz targets without libFuzzer (the role of
 * libFuzzer's StandaloneFuzzTargetMain.c): replays each file given on the command line
 * through LLVMFuzzerTestOneInput, e.g. a crash a fuzzer found. `make fuzz-replay`
 * builds every target with it and replays tests/fuzz/seeds/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char *argv[])
{
	for (int i = 1; i < argc; i++) {
		FILE *fp = fopen(argv[i], "rb");
		uint8_t *buf = NULL;
		size_t cap = 0, len = 0, n;

		if (fp == NULL) {
			perror(argv[i]);
			return 1;
		}
		do {
			if (len == cap) {
				uint8_t *bigger = realloc(buf, cap = cap * 2 + 4096);

				if (bigger == NULL)
					abort();
				buf = bigger;
			}
			n = fread(buf + len, 1, cap - len, fp);
			len += n;
		} while (n > 0);
		fclose(fp);
		LLVMFuzzerTestOneInput(buf, len);
		free(buf);
	}
	return 0;
}
