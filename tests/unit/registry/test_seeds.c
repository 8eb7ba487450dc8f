/*
 * test_seeds.c: STATE/seeds (src/registry/seeds.c): the lines it takes, every kind of
 * line it refuses with the line's number and reason, a missing file, SEEDS_MAX, and
 * atomic saves that read back as they were written, and seeds_parse reading text as
 * seeds_load reads the file. Each test has its own mkdtemp directory, removed afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "meshname/seeds.h"

/* Two keys in standard base64 (32 bytes: 0x00.., and 0x01 0x02 ... 0x20). */
#define KEY_A "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define KEY_B "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="

static int setup_dir(void **state)
{
	static char dir[64];

	snprintf(dir, sizeof(dir), "/tmp/meshname-test-seeds-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	*state = dir;
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown_dir(void **state)
{
	return nftw(*state, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void path_of(char path[PATH_MAX], const char *dir, const char *file)
{
	int n = snprintf(path, PATH_MAX, "%s/%s", dir, file);

	assert_true(n > 0 && n < PATH_MAX);
}

static void write_seeds(const char *dir, const char *content, size_t len)
{
	char path[PATH_MAX];
	int fd;

	path_of(path, dir, SEEDS_FILE);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void key_of(const char *b64, uint8_t key[REC_KEY_SIZE])
{
	size_t len = 0;

	assert_int_equal(sodium_base642bin(key, REC_KEY_SIZE, b64, strlen(b64), NULL, &len, NULL,
					   sodium_base64_VARIANT_ORIGINAL),
			 0);
	assert_int_equal(len, REC_KEY_SIZE);
}

static void good_lines_load_in_order(void **state)
{
	static const char text[] =
		"# bootstrap peers\n"
		"\n" KEY_A " 192.0.2.1:51821\n"
		"   \t" KEY_A "\t[2001:DB8:0:0::1]:51821   # the same host by v6\n" KEY_B
		" Seed-1.Example.ORG:4000\r\n" KEY_B " [::ffff:192.0.2.9]:1\n" KEY_B
		" a:65535"; /* no final newline */
	struct seed s[SEEDS_MAX];
	uint8_t a[REC_KEY_SIZE], b[REC_KEY_SIZE];
	char err[128];
	size_t n = 99;

	write_seeds(*state, text, strlen(text));
	assert_int_equal(seeds_load(*state, s, SEEDS_MAX, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 5);
	key_of(KEY_A, a);
	key_of(KEY_B, b);
	assert_memory_equal(s[0].key, a, REC_KEY_SIZE);
	assert_string_equal(s[0].host, "192.0.2.1");
	assert_int_equal(s[0].port, 51821);
	assert_memory_equal(s[1].key, a, REC_KEY_SIZE);
	assert_string_equal(s[1].host, "2001:db8::1"); /* canonical, without brackets */
	assert_memory_equal(s[2].key, b, REC_KEY_SIZE);
	assert_string_equal(s[2].host, "seed-1.example.org"); /* names in lower case */
	assert_int_equal(s[2].port, 4000);
	assert_string_equal(s[3].host, "::ffff:192.0.2.9");
	assert_int_equal(s[3].port, 1);
	assert_string_equal(s[4].host, "a");
	assert_int_equal(s[4].port, 65535);
}

static void missing_file_is_no_seeds(void **state)
{
	struct seed s[2];
	char err[128];
	size_t n = 99;

	assert_int_equal(seeds_load(*state, s, 2, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
}

static void empty_and_comment_only_files_are_no_seeds(void **state)
{
	struct seed s[2];
	char err[128];
	size_t n = 99;

	write_seeds(*state, "", 0);
	assert_int_equal(seeds_load(*state, s, 2, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	write_seeds(*state, "# nothing\n\n  # here\n", 20);
	assert_int_equal(seeds_load(*state, s, 2, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
}

/* A file whose line 3 is bad: its error must be exactly want. */
static void refused(const char *dir, const char *bad_line, const char *want)
{
	char text[2048], err[256];
	struct seed s[SEEDS_MAX];
	size_t n = 99;
	int len;

	len = snprintf(text, sizeof(text), "# a comment\n" KEY_A " 192.0.2.1:51821\n%s\n",
		       bad_line);
	assert_true(len > 0 && (size_t)len < sizeof(text));
	write_seeds(dir, text, (size_t)len);
	memset(err, 0, sizeof(err));
	if (seeds_load(dir, s, SEEDS_MAX, &n, err, sizeof(err)) != -EINVAL)
		fail_msg("line '%s' was not refused", bad_line);
	assert_int_equal(n, 0);
	if (strcmp(err, want) != 0)
		fail_msg("line '%s': got \"%s\", want \"%s\"", bad_line, err, want);
}

static void bad_keys_are_refused(void **state)
{
	static const char want[] = "seeds:3: not a host key (44 characters of standard base64, "
				   "as meshname show prints it)";

	/* 43 characters, 45 characters, unpadded, URL-safe alphabet, stray bits in the
	 * last character, 33 bytes' worth, a hex key, no key, bytes outside ASCII. */
	refused(*state, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= 192.0.2.1:1", want);
	refused(*state, KEY_A "A 192.0.2.1:1", want);
	refused(*state, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA 192.0.2.1:1", want);
	refused(*state, "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHy-= 192.0.2.1:1", want);
	refused(*state, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB= 192.0.2.1:1", want);
	refused(*state,
		"0001020304050607080910111213141516171819202122232425262728293031 192.0.2.1:1",
		want);
	refused(*state, "192.0.2.1:51821", want);
	/* libsodium 1.0.18 reads a byte from 0x80 up as '/' (63). */
	refused(*state,
		"AAAAA\xdf"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= 192.0.2.1:1",
		want);
	refused(*state,
		"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH\x80"
		"A= 192.0.2.1:1",
		want);
}

static void lines_with_missing_or_extra_fields_are_refused(void **state)
{
	refused(*state, KEY_A, "seeds:3: a host key without HOST:PORT after it");
	refused(*state, KEY_A "   # only a comment after the key",
		"seeds:3: a host key without HOST:PORT after it");
	refused(*state, KEY_A " 192.0.2.1:51821 192.0.2.2:51821",
		"seeds:3: more than a host key and HOST:PORT on the line");
	refused(*state, KEY_A " 192.0.2.1 51821",
		"seeds:3: more than a host key and HOST:PORT on the line");
}

static void bad_ports_are_refused(void **state)
{
	static const char want[] = "seeds:3: a port that is not a number from 1 to 65535";

	refused(*state, KEY_A " 192.0.2.1:0", want);
	refused(*state, KEY_A " 192.0.2.1:65536", want);
	refused(*state, KEY_A " 192.0.2.1:051821", want);
	refused(*state, KEY_A " 192.0.2.1:+5", want);
	refused(*state, KEY_A " 192.0.2.1:5x", want);
	refused(*state, KEY_A " 192.0.2.1:", want);
	refused(*state, KEY_A " [2001:db8::1]:", want);
	refused(*state, KEY_A " [2001:db8::1]:99999", want);
	refused(*state, KEY_A " 192.0.2.1", "seeds:3: no :PORT after the host");
	refused(*state, KEY_A " [2001:db8::1]", "seeds:3: no :PORT after the IPv6 address");
	refused(*state, KEY_A " [2001:db8::1]51821", "seeds:3: no :PORT after the IPv6 address");
}

static void bad_addresses_are_refused(void **state)
{
	static const char v4[] =
		"seeds:3: not an IPv4 address (four numbers 0 to 255, no leading zeros)";
	static const char v6[] = "seeds:3: not an IPv6 address between the brackets";

	refused(*state, KEY_A " 256.0.2.1:1", v4);
	refused(*state, KEY_A " 192.0.2:1", v4);
	refused(*state, KEY_A " 192.0.2.1.5:1", v4);
	refused(*state, KEY_A " 192.0.2.01:1", v4);
	refused(*state, KEY_A " 1:1", v4);
	refused(*state, KEY_A " 2001:db8::1:51821",
		"seeds:3: an IPv6 address without brackets (write [ADDRESS]:PORT)");
	refused(*state, KEY_A " [2001:db8::1:51821",
		"seeds:3: an IPv6 address without its closing bracket");
	refused(*state, KEY_A " [2001:db8::g]:1", v6);
	refused(*state, KEY_A " []:1", v6);
	refused(*state, KEY_A " [192.0.2.1]:1", v6);
	refused(*state, KEY_A " [fe80::1%eth0]:1", v6);
	refused(*state, KEY_A " :1", "seeds:3: no host before :PORT");
}

static void bad_names_are_refused(void **state)
{
	static const char want[] = "seeds:3: not an IPv4 address, [IPv6] address or DNS name "
				   "(labels of a-z, 0-9 and -, no final dot)";
	char line[400], label64[65], name254[255];

	refused(*state, KEY_A " -seed.example:1", want);
	refused(*state, KEY_A " seed-.example:1", want);
	refused(*state, KEY_A " seed..example:1", want);
	refused(*state, KEY_A " .example:1", want);
	refused(*state, KEY_A " seed.example.:1", want);
	refused(*state, KEY_A " seed_1.example:1", want);
	refused(*state, KEY_A " s\xc3\xa9\x65\x64.example:1", want);
	memset(label64, 'a', 64);
	label64[64] = '\0';
	snprintf(line, sizeof(line), KEY_A " %s.example:1", label64);
	refused(*state, line, want);
	/* 254 bytes: 63-byte labels, too long as a whole (253 is the most). */
	memset(name254, 'b', 254);
	name254[63] = name254[127] = name254[191] = '.';
	name254[254] = '\0';
	snprintf(line, sizeof(line), KEY_A " %s:1", name254);
	refused(*state, line, "seeds:3: a host name longer than 253 bytes");
}

static void a_long_line_and_a_nul_byte_are_refused(void **state)
{
	static const char nul[] = KEY_A " 192.0.2.1:1\n" KEY_A " 192.0.2.2:1 #\0\n";
	char line[600];
	struct seed s[4];
	char err[128];
	size_t n = 99;

	/* 511 bytes is still a line (a long comment), 512 is not. */
	memset(line, ' ', 510);
	line[0] = '#';
	line[510] = '\0';
	snprintf(line + 510, sizeof(line) - 510, "x");
	write_seeds(*state, line, strlen(line));
	assert_int_equal(seeds_load(*state, s, 4, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	memset(line, ' ', 512);
	line[0] = '#';
	line[512] = '\0';
	refused(*state, line, "seeds:3: a line longer than 511 bytes");
	write_seeds(*state, nul, sizeof(nul) - 1);
	assert_int_equal(seeds_load(*state, s, 4, &n, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "seeds:2: a NUL byte in the line");
	assert_int_equal(n, 0);
}

static void duplicate_lines_are_refused(void **state)
{
	static const char want[] = "seeds:3: the same seed as an earlier line";

	refused(*state, KEY_A " 192.0.2.1:51821", want);
	refused(*state, KEY_A "\t192.0.2.1:51821 # again, other blanks", want);
}

static void duplicates_are_found_whatever_the_spelling(void **state)
{
	static const char v6[] = KEY_B " [2001:db8::1]:9\n" KEY_B " [2001:0DB8:0::1]:9\n";
	static const char name[] = KEY_B " Seed.Example:9\n" KEY_B " seed.example:9\n";
	static const char other[] = KEY_A " seed.example:9\n" KEY_B " seed.example:9\n" KEY_B
					  " seed.example:10\n";
	struct seed s[4];
	char err[128];
	size_t n;

	write_seeds(*state, v6, sizeof(v6) - 1);
	assert_int_equal(seeds_load(*state, s, 4, &n, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "seeds:2: the same seed as an earlier line");
	write_seeds(*state, name, sizeof(name) - 1);
	assert_int_equal(seeds_load(*state, s, 4, &n, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "seeds:2: the same seed as an earlier line");
	/* Another key or another port is another seed. */
	write_seeds(*state, other, sizeof(other) - 1);
	assert_int_equal(seeds_load(*state, s, 4, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 3);
}

/* n seed lines KEY_A 192.0.2.I:51821 (I from 1), a comment every 5 lines. */
static size_t many_lines(char *text, size_t size, unsigned n)
{
	size_t len = 0;

	for (unsigned i = 1; i <= n; i++) {
		int k = snprintf(text + len, size - len, "%s" KEY_A " 192.0.2.%u:51821\n",
				 i % 5 == 0 ? "# five\n" : "", i);

		assert_true(k > 0 && (size_t)k < size - len);
		len += (size_t)k;
	}
	return len;
}

static void seeds_max_lines_load_and_one_more_is_refused(void **state)
{
	struct seed s[SEEDS_MAX + 1];
	char text[8192], err[128];
	size_t n, len;

	len = many_lines(text, sizeof(text), SEEDS_MAX);
	write_seeds(*state, text, len);
	assert_int_equal(seeds_load(*state, s, SEEDS_MAX, &n, err, sizeof(err)), 0);
	assert_int_equal(n, SEEDS_MAX);
	assert_string_equal(s[SEEDS_MAX - 1].host, "192.0.2.32");

	len = many_lines(text, sizeof(text), SEEDS_MAX + 1);
	write_seeds(*state, text, len);
	/* Even with room for more: SEEDS_MAX is the file's limit. */
	assert_int_equal(seeds_load(*state, s, SEEDS_MAX + 1, &n, err, sizeof(err)), -EINVAL);
	assert_int_equal(n, 0);
	/* 33 seed lines and 6 comment lines before the 33rd. */
	assert_string_equal(err, "seeds:39: more than 32 seeds");
}

static void a_smaller_max_is_the_limit(void **state)
{
	struct seed s[3];
	char text[1024], err[128];
	size_t n, len;

	len = many_lines(text, sizeof(text), 4);
	write_seeds(*state, text, len);
	assert_int_equal(seeds_load(*state, s, 3, &n, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "seeds:4: more than 3 seeds");
	assert_int_equal(n, 0);
	assert_int_equal(seeds_load(*state, s, 0, &n, NULL, 0), -EINVAL); /* err may be NULL */
}

static void a_directory_or_fifo_is_refused_without_blocking(void **state)
{
	char path[PATH_MAX], err[PATH_MAX + 64], want[PATH_MAX + 64];
	struct seed s[2];
	size_t n = 99;

	path_of(path, *state, SEEDS_FILE);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(seeds_load(*state, s, 2, &n, err, sizeof(err)), -EISDIR);
	snprintf(want, sizeof(want), "seeds: %s is not a regular file", path);
	assert_string_equal(err, want);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(mkfifo(path, 0644), 0);
	assert_int_equal(seeds_load(*state, s, 2, &n, err, sizeof(err)), -ENXIO);
	assert_string_equal(err, want);
	assert_int_equal(n, 0);
}

static void an_unreadable_state_dir_is_an_errno(void **state)
{
	char dir[PATH_MAX], err[PATH_MAX + 64];
	struct seed s[2];
	size_t n = 99;
	int fd;

	/* A state "directory" that is a file: open gives ENOTDIR. */
	path_of(dir, *state, "plain");
	fd = open(dir, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(seeds_load(dir, s, 2, &n, err, sizeof(err)), -ENOTDIR);
	assert_true(strncmp(err, "seeds: cannot open ", 19) == 0);
	assert_non_null(strstr(err, "Not a directory"));
}

static void saves_read_back_the_same(void **state)
{
	struct seed in[4], out[SEEDS_MAX];
	char path[PATH_MAX], err[128], text[1024];
	struct stat st;
	size_t n = 0;
	FILE *fp;

	memset(in, 0, sizeof(in));
	key_of(KEY_A, in[0].key);
	snprintf(in[0].host, sizeof(in[0].host), "192.0.2.1");
	in[0].port = 51821;
	key_of(KEY_A, in[1].key);
	snprintf(in[1].host, sizeof(in[1].host), "2001:db8::1");
	in[1].port = 51821;
	key_of(KEY_B, in[2].key);
	snprintf(in[2].host, sizeof(in[2].host), "seed.example.org");
	in[2].port = 1;
	key_of(KEY_B, in[3].key);
	memset(in[3].host, 'c', 253); /* the longest name: 63+1+63+1+63+1+61 */
	in[3].host[63] = in[3].host[127] = in[3].host[191] = '.';
	in[3].port = 65535;

	umask(077);
	assert_int_equal(seeds_save(*state, in, 4), 0);
	umask(022);
	path_of(path, *state, SEEDS_FILE);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(seeds_load(*state, out, SEEDS_MAX, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 4);
	assert_memory_equal(in, out, sizeof(in));

	/* The file reads as documented: brackets around IPv6, nothing else left over. */
	fp = fopen(path, "r");
	assert_non_null(fp);
	n = fread(text, 1, sizeof(text) - 1, fp);
	text[n] = '\0';
	fclose(fp);
	assert_non_null(strstr(text, "\n" KEY_A " 192.0.2.1:51821\n" KEY_A
				     " [2001:db8::1]:51821\n" KEY_B " seed.example.org:1\n"));
	path_of(path, *state, "." SEEDS_FILE ".tmp");
	assert_int_equal(access(path, F_OK), -1);

	/* A second save replaces the list; an empty one leaves no seeds. */
	assert_int_equal(seeds_save(*state, &in[2], 1), 0);
	assert_int_equal(seeds_load(*state, out, SEEDS_MAX, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_memory_equal(&in[2], &out[0], sizeof(out[0]));
	assert_int_equal(seeds_save(*state, NULL, 0), 0);
	assert_int_equal(seeds_load(*state, out, SEEDS_MAX, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
}

static void seeds_max_round_trips(void **state)
{
	struct seed in[SEEDS_MAX + 1], out[SEEDS_MAX];
	char err[128];
	size_t n = 0;

	memset(in, 0, sizeof(in));
	for (unsigned i = 0; i <= SEEDS_MAX; i++) {
		key_of(KEY_B, in[i].key);
		snprintf(in[i].host, sizeof(in[i].host), "198.51.100.%u", i + 1);
		in[i].port = (uint16_t)(1000 + i);
	}
	assert_int_equal(seeds_save(*state, in, SEEDS_MAX), 0);
	assert_int_equal(seeds_load(*state, out, SEEDS_MAX, &n, err, sizeof(err)), 0);
	assert_int_equal(n, SEEDS_MAX);
	assert_memory_equal(in, out, sizeof(out));
	assert_int_equal(seeds_save(*state, in, SEEDS_MAX + 1), -E2BIG);
}

static void a_save_that_would_not_load_is_refused_and_changes_nothing(void **state)
{
	struct seed good, bad, out[4];
	char err[128];
	size_t n = 0;

	memset(&good, 0, sizeof(good));
	key_of(KEY_A, good.key);
	snprintf(good.host, sizeof(good.host), "192.0.2.1");
	good.port = 51821;
	assert_int_equal(seeds_save(*state, &good, 1), 0);

	bad = good;
	bad.port = 0;
	assert_int_equal(seeds_save(*state, &bad, 1), -EINVAL);
	bad = good;
	snprintf(bad.host, sizeof(bad.host), "not a name");
	assert_int_equal(seeds_save(*state, &bad, 1), -EINVAL);
	bad = good;
	snprintf(bad.host, sizeof(bad.host), "[2001:db8::1]"); /* brackets are not kept */
	assert_int_equal(seeds_save(*state, &bad, 1), -EINVAL);
	bad = good;
	snprintf(bad.host, sizeof(bad.host), "2001:DB8::1"); /* not the canonical spelling */
	assert_int_equal(seeds_save(*state, &bad, 1), -EINVAL);
	bad = good;
	memset(bad.host, 'a', sizeof(bad.host)); /* no terminator */
	assert_int_equal(seeds_save(*state, &bad, 1), -EINVAL);
	{
		struct seed two[2] = { good, good };

		assert_int_equal(seeds_save(*state, two, 2), -EINVAL);
	}
	assert_int_equal(seeds_load(*state, out, 4, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_memory_equal(&out[0], &good, sizeof(good));
	assert_int_equal(seeds_save("/nonexistent-meshname-dir", &good, 1), -ENOENT);
}

static void hostports_parse_alone(void **state)
{
	struct seed s;

	(void)state;
	assert_int_equal(seeds_parse_hostport("192.0.2.1:51821", &s), 0);
	assert_string_equal(s.host, "192.0.2.1");
	assert_int_equal(s.port, 51821);
	assert_int_equal(seeds_parse_hostport("[2001:DB8::a]:443", &s), 0);
	assert_string_equal(s.host, "2001:db8::a");
	assert_int_equal(s.port, 443);
	assert_int_equal(seeds_parse_hostport("Host-1.Mesh.Example:2", &s), 0);
	assert_string_equal(s.host, "host-1.mesh.example");
	assert_int_equal(s.port, 2);

	assert_int_equal(seeds_parse_hostport("", &s), -EINVAL);
	assert_int_equal(seeds_parse_hostport("192.0.2.1", &s), -EINVAL);
	assert_int_equal(seeds_parse_hostport("192.0.2.1:0", &s), -EINVAL);
	assert_int_equal(seeds_parse_hostport("192.0.2.1:51821 ", &s), -EINVAL);
	assert_int_equal(seeds_parse_hostport(" 192.0.2.1:51821", &s), -EINVAL);
	assert_int_equal(seeds_parse_hostport("2001:db8::1:80", &s), -EINVAL);
	assert_int_equal(seeds_parse_hostport("[2001:db8::1]:80x", &s), -EINVAL);
	assert_int_equal(seeds_parse_hostport("[2001:db8::1]x:80", &s), -EINVAL);
	assert_int_equal(seeds_parse_hostport("host.example.:80", &s), -EINVAL);
	assert_int_equal(seeds_parse_hostport("host name:80", &s), -EINVAL);
	assert_int_equal(seeds_parse_hostport("300.1.1.1:80", &s), -EINVAL);
}

/* seeds_load of a file holding text and seeds_parse of text: rc, seeds and error alike;
 * on failure the first `wiped` entries (the seeds taken before the bad line) are zero. */
static void parses_as_loaded(const char *dir, const char *text, size_t len, size_t max, int want_rc,
			     size_t want_n, const char *want_err, size_t wiped)
{
	static const struct seed zero;
	struct seed loaded[SEEDS_MAX], parsed[SEEDS_MAX];
	char err_loaded[128], err_parsed[128];
	size_t n_loaded = 99, n_parsed = 99;

	memset(loaded, 0xa5, sizeof(loaded));
	memset(parsed, 0xa5, sizeof(parsed));
	write_seeds(dir, text, len);
	assert_int_equal(seeds_load(dir, loaded, max, &n_loaded, err_loaded, sizeof(err_loaded)),
			 want_rc);
	assert_int_equal(seeds_parse(text, len, parsed, max, &n_parsed, err_parsed,
				     sizeof(err_parsed)),
			 want_rc);
	assert_int_equal(n_loaded, want_n);
	assert_int_equal(n_parsed, want_n);
	assert_string_equal(err_loaded, want_err);
	assert_string_equal(err_parsed, want_err);
	assert_memory_equal(loaded, parsed, sizeof(parsed));
	for (size_t i = 0; i < wiped; i++)
		assert_memory_equal(&parsed[i], &zero, sizeof(zero));
}

static void text_parses_as_the_file_loads(void **state)
{
	static const char good[] = KEY_A " 192.0.2.1:51821\n# c\n\n" KEY_B " [2001:DB8::1]:1\r\n"
					 "  " KEY_B " Seed.Example:9 # end";
	static const char nul[] = KEY_A " 192.0.2.1:1\n" KEY_A " 192.0.2.2:1 #\0\n";
	static const char dup[] = KEY_A " 192.0.2.1:1\n" KEY_A " 192.0.2.1:1\n";
	static const char bad[] = KEY_A " 192.0.2.1:1\n\n" KEY_A " 192.0.2.1:0\n";
	char line[700];

	parses_as_loaded(*state, good, sizeof(good) - 1, SEEDS_MAX, 0, 3, "seeds: no error", 0);
	parses_as_loaded(*state, "", 0, SEEDS_MAX, 0, 0, "seeds: no error", 0);
	parses_as_loaded(*state, "\n\n", 2, SEEDS_MAX, 0, 0, "seeds: no error", 0);
	parses_as_loaded(*state, good, sizeof(good) - 1, 2, -EINVAL, 0,
			 "seeds:5: more than 2 seeds", 2);
	parses_as_loaded(*state, nul, sizeof(nul) - 1, SEEDS_MAX, -EINVAL, 0,
			 "seeds:2: a NUL byte in the line", 1);
	parses_as_loaded(*state, dup, sizeof(dup) - 1, SEEDS_MAX, -EINVAL, 0,
			 "seeds:2: the same seed as an earlier line", 1);
	parses_as_loaded(*state, bad, sizeof(bad) - 1, SEEDS_MAX, -EINVAL, 0,
			 "seeds:3: a port that is not a number from 1 to 65535", 1);
	/* 511 bytes are a line, 512 are not; a NUL within the first 512 bytes is found
	 * first, one after them is past the end of a line already too long. */
	memset(line, '#', sizeof(line));
	parses_as_loaded(*state, line, 511, SEEDS_MAX, 0, 0, "seeds: no error", 0);
	parses_as_loaded(*state, line, 512, SEEDS_MAX, -EINVAL, 0,
			 "seeds:1: a line longer than 511 bytes", 0);
	line[511] = '\0';
	parses_as_loaded(*state, line, sizeof(line), SEEDS_MAX, -EINVAL, 0,
			 "seeds:1: a NUL byte in the line", 0);
	line[511] = '#';
	line[512] = '\0';
	parses_as_loaded(*state, line, sizeof(line), SEEDS_MAX, -EINVAL, 0,
			 "seeds:1: a line longer than 511 bytes", 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_dir, teardown_dir)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(good_lines_load_in_order),
		T(missing_file_is_no_seeds),
		T(empty_and_comment_only_files_are_no_seeds),
		T(bad_keys_are_refused),
		T(lines_with_missing_or_extra_fields_are_refused),
		T(bad_ports_are_refused),
		T(bad_addresses_are_refused),
		T(bad_names_are_refused),
		T(a_long_line_and_a_nul_byte_are_refused),
		T(duplicate_lines_are_refused),
		T(duplicates_are_found_whatever_the_spelling),
		T(seeds_max_lines_load_and_one_more_is_refused),
		T(a_smaller_max_is_the_limit),
		T(a_directory_or_fifo_is_refused_without_blocking),
		T(an_unreadable_state_dir_is_an_errno),
		T(saves_read_back_the_same),
		T(seeds_max_round_trips),
		T(a_save_that_would_not_load_is_refused_and_changes_nothing),
		cmocka_unit_test(hostports_parse_alone),
		T(text_parses_as_the_file_loads),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
