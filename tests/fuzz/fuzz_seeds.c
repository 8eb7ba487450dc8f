/* Build: clang -std=c11 -D_GNU_SOURCE -g -fsanitize=fuzzer,address,undefined -Iinclude tests/fuzz/fuzz_seeds.c src/registry/seeds.c $(pkg-config --cflags --libs libsodium) -o fuzz_seeds
 *
 * fuzz_seeds.c: feeds arbitrary bytes to the STATE/seeds parser as the text of the file
 * (written by meshname join or by hand). Checked: only 0 or -EINVAL comes back; a refusal
 * returns no seeds, wipes those taken and says "seeds:LINE: reason"; seeds_load of a file
 * holding the same bytes agrees to the byte (rc, seeds, message); parsed seeds are in
 * their one spelling (each key as its line writes it), so their lines written as seeds.h
 * documents them parse to the same seeds, seeds_save takes them and seeds_load reads them
 * back; one fewer seed allowed is "more than". Every line, and the whole input, also goes
 * to seeds_parse_hostport, whose hosts must write back and parse alike. The file lives in
 * a private directory under /dev/shm (else $TMPDIR or /tmp), removed at exit (a crash
 * leaves it, with the input that crashed).
 * Seeds: tests/fuzz/seeds/fuzz_seeds/: two files meshname join wrote from invites, ones
 * by hand (every spelling, 32 seeds, the longest name) and broken ones (33 seeds, a repeat
 * in another spelling, a 512-byte line, a NUL, bad keys incl. non-ASCII, IPv6 without
 * brackets, an extra field, a final dot).
 * Without libFuzzer: `make fuzz-replay` builds $(BUILD)/fuzz/fuzz_seeds with
 * tests/fuzz/standalone.c, and `build/fuzz/fuzz_seeds FILE...` replays inputs.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "meshname/seeds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[PATH_MAX], file[PATH_MAX];

static void remove_dir(void)
{
	unlink(file);
	rmdir(dir);
}

/* A private directory for STATE/seeds, on tmpfs when there is one. */
static void make_dir(void)
{
	struct stat st;
	const char *base = getenv("TMPDIR");

	if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
		base = "/dev/shm";
	else if (base == NULL || *base == '\0')
		base = "/tmp";
	if (snprintf(dir, sizeof(dir), "%s/fuzz_seeds.XXXXXX", base) >= (int)sizeof(dir) ||
	    mkdtemp(dir) == NULL ||
	    snprintf(file, sizeof(file), "%s/%s", dir, SEEDS_FILE) >= (int)sizeof(file))
		abort();
	atexit(remove_dir);
}

static void write_file(const uint8_t *data, size_t size)
{
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		abort();
	while (size > 0) {
		ssize_t w = write(fd, data, size);

		if (w <= 0)
			abort();
		data += w;
		size -= (size_t)w;
	}
	if (close(fd) != 0)
		abort();
}

/* "seeds:LINE: reason" with LINE a number from 1. */
static int names_a_line(const char *err)
{
	const char *p = err + 6;

	if (strncmp(err, "seeds:", 6) != 0 || *p < '1' || *p > '9')
		return 0;
	while (*p >= '0' && *p <= '9')
		p++;
	return p[0] == ':' && p[1] == ' ' && p[2] != '\0';
}

/* "HOST:PORT" for s as seeds.h writes it: IPv6 in brackets. */
static void hostport(const struct seed *s, char *buf, size_t size)
{
	int n = snprintf(buf, size, strchr(s->host, ':') != NULL ? "[%s]:%u" : "%s:%u", s->host,
			 (unsigned)s->port);

	if (n < 0 || (size_t)n >= size)
		abort();
}

/* A seed as parsed: a NUL-terminated host in its one spelling, a port, nothing after. */
static void check_seed(const struct seed *s)
{
	char text[SEEDS_HOST_MAX + 16];
	struct seed again;
	const char *nul = memchr(s->host, '\0', sizeof(s->host));

	if (nul == NULL || nul == s->host || s->port == 0 ||
	    !sodium_is_zero((const unsigned char *)nul, sizeof(s->host) - (size_t)(nul - s->host)))
		abort();
	hostport(s, text, sizeof(text));
	memcpy(again.key, s->key, sizeof(again.key));
	if (seeds_parse_hostport(text, &again) != 0 || memcmp(&again, s, sizeof(again)) != 0)
		abort(); /* not written back as it reads */
}

/* The lines of a seeds file for s[0..n), as seeds_save writes them. */
static size_t format(const struct seed *s, size_t n, char *buf, size_t size)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		char key[sodium_base64_ENCODED_LEN(REC_KEY_SIZE, sodium_base64_VARIANT_ORIGINAL)];
		char hp[SEEDS_HOST_MAX + 16];
		int k;

		sodium_bin2base64(key, sizeof(key), s[i].key, sizeof(s[i].key),
				  sodium_base64_VARIANT_ORIGINAL);
		hostport(&s[i], hp, sizeof(hp));
		k = snprintf(buf + len, size - len, "%s %s\n", key, hp);
		if (k < 0 || (size_t)k >= size - len)
			abort();
		len += (size_t)k;
	}
	return len;
}

static int blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

/* In a file that parsed, every line holding more than blanks and a comment is a seed's, in
 * order, and its first field is the seed's key in the one base64 spelling. */
static void check_keys_as_written(const char *data, size_t size, const struct seed *s, size_t n)
{
	size_t k = 0, off = 0;

	while (off < size) {
		const char *line = data + off, *nl = memchr(line, '\n', size - off);
		size_t len = nl != NULL ? (size_t)(nl - line) : size - off, i = 0, start;
		const char *hash = memchr(line, '#', len);
		char key[sodium_base64_ENCODED_LEN(REC_KEY_SIZE, sodium_base64_VARIANT_ORIGINAL)];

		off += len + 1;
		if (hash != NULL)
			len = (size_t)(hash - line);
		while (i < len && blank(line[i]))
			i++;
		if (i == len)
			continue;
		for (start = i; i < len && !blank(line[i]); i++)
			;
		if (k == n)
			abort(); /* a seed line the parser did not count */
		sodium_bin2base64(key, sizeof(key), s[k].key, sizeof(s[k].key),
				  sodium_base64_VARIANT_ORIGINAL);
		if (i - start != strlen(key) || memcmp(line + start, key, i - start) != 0)
			abort(); /* one key, two spellings */
		k++;
	}
	if (k != n)
		abort();
}

static void fuzz_hostport(const char *text)
{
	struct seed s;

	memset(&s, 0, sizeof(s));
	if (seeds_parse_hostport(text, &s) == 0)
		check_seed(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct seed out[SEEDS_MAX], loaded[SEEDS_MAX], again[SEEDS_MAX];
	static char text[SEEDS_MAX * 320];
	char err[128], err_loaded[128];
	size_t n = 99, n_loaded = 99, n_again = 99, len;
	char *copy;
	int rc;

	if (dir[0] == '\0') {
		if (sodium_init() < 0)
			abort();
		make_dir();
	}
	memset(out, 0, sizeof(out));
	rc = seeds_parse((const char *)data, size, out, SEEDS_MAX, &n, err, sizeof(err));
	if (rc != 0 && rc != -EINVAL)
		abort(); /* only the documented errors */
	if (rc != 0 && (n != 0 || !sodium_is_zero((const unsigned char *)out, sizeof(out)) ||
			!names_a_line(err)))
		abort(); /* a refusal returns nothing, wipes what it took and names a line */
	if (rc == 0 && (n > SEEDS_MAX || strcmp(err, "seeds: no error") != 0))
		abort();

	/* The file reads as the text parses. */
	write_file(data, size);
	memset(loaded, 0, sizeof(loaded));
	if (seeds_load(dir, loaded, SEEDS_MAX, &n_loaded, err_loaded, sizeof(err_loaded)) != rc ||
	    n_loaded != n || memcmp(loaded, out, sizeof(out)) != 0 || strcmp(err, err_loaded) != 0)
		abort();

	if (rc == 0) {
		for (size_t i = 0; i < n; i++)
			check_seed(&out[i]);
		check_keys_as_written((const char *)data, size, out, n);
		/* The seeds' lines parse to the same seeds. */
		len = format(out, n, text, sizeof(text));
		memset(again, 0, sizeof(again));
		if (seeds_parse(text, len, again, SEEDS_MAX, &n_again, NULL, 0) != 0 ||
		    n_again != n || memcmp(again, out, sizeof(out)) != 0)
			abort();
		/* One fewer allowed: refused at the last seed's line. */
		if (n > 0 && (seeds_parse((const char *)data, size, again, n - 1, &n_again, err,
					  sizeof(err)) != -EINVAL ||
			      n_again != 0 || strstr(err, ": more than ") == NULL))
			abort();
		/* seeds_save writes what seeds_load reads back. */
		if (seeds_save(dir, out, n) != 0)
			abort();
		memset(loaded, 0, sizeof(loaded));
		if (seeds_load(dir, loaded, SEEDS_MAX, &n_loaded, NULL, 0) != 0 || n_loaded != n ||
		    memcmp(loaded, out, sizeof(out)) != 0)
			abort();
	}

	/* seeds_parse_hostport: the whole input and each of its lines as strings. */
	copy = malloc(size + 1);
	if (copy == NULL)
		abort();
	memcpy(copy, data, size);
	copy[size] = '\0';
	fuzz_hostport(copy);
	for (char *line = copy, *nl; line != NULL; line = nl != NULL ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl != NULL)
			*nl = '\0';
		fuzz_hostport(line);
	}
	free(copy);
	return 0;
}
