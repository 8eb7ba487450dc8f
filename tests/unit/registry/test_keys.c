/*
 * test_keys.c: key files of src/registry/keys.c: round trips, file modes, refusals
 * of unsafe or malformed files, known-answer keys from RFC 8032 and RFC 7748.
 * Every test works in its own mkdtemp directory, removed afterwards.
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

#include "fixtures.h"
#include "meshname/keys.h"

/* RFC 8032 section 7.1, TEST 1 */
#define ED25519_SEED_HEX "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
#define ED25519_PK_HEX "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
/* RFC 7748 section 6.1, Alice */
#define X25519_SK_HEX "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
#define X25519_PK_HEX "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"

static int setup_dir(void **state)
{
	static char dir[64];

	snprintf(dir, sizeof(dir), "/tmp/meshname-test-keys-XXXXXX");
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

/* Writes content to dir/file with the given mode (exactly, whatever the umask). */
static void write_file(const char *dir, const char *file, const char *content, mode_t mode)
{
	char path[PATH_MAX];
	int fd;

	path_of(path, dir, file);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

/* The base64 line of a 32-byte value given in hex, as `wg genkey` writes it. */
static void key_line(const char *hex, char line[64])
{
	uint8_t bin[32];

	assert_int_equal(fixture_unhex(hex, bin, sizeof(bin)), 32);
	sodium_bin2base64(line, 64, bin, sizeof(bin), sodium_base64_VARIANT_ORIGINAL);
	strcat(line, "\n");
}

static bool exists(const char *dir, const char *file)
{
	char path[PATH_MAX];

	path_of(path, dir, file);
	return access(path, F_OK) == 0;
}

static void ed25519_generate_then_load_gives_the_same_key(void **state)
{
	const char *dir = *state;
	uint8_t pk[REC_KEY_SIZE], sk[REC_SECRET_SIZE], msg_sig[crypto_sign_BYTES];

	assert_int_equal(keys_ed25519_generate(dir, KEYS_HOST, pk), 0);
	assert_int_equal(keys_ed25519_load(dir, KEYS_HOST, sk), 0);
	assert_memory_equal(sk + 32, pk, REC_KEY_SIZE);
	/* and the loaded secret really signs for that public key */
	crypto_sign_detached(msg_sig, NULL, (const uint8_t *)"x", 1, sk);
	assert_int_equal(crypto_sign_verify_detached(msg_sig, (const uint8_t *)"x", 1, pk), 0);
	sodium_memzero(sk, sizeof(sk));
}

static void two_generated_keys_differ(void **state)
{
	const char *dir = *state;
	uint8_t a[REC_KEY_SIZE], b[REC_KEY_SIZE];

	assert_int_equal(keys_ed25519_generate(dir, KEYS_HOST, a), 0);
	assert_int_equal(keys_ed25519_generate(dir, KEYS_ADMIN, b), 0);
	assert_memory_not_equal(a, b, REC_KEY_SIZE);
}

static void key_file_is_0600_one_base64_line_whatever_the_umask(void **state)
{
	const char *dir = *state;
	char path[PATH_MAX], text[128];
	uint8_t pk[REC_KEY_SIZE], seed[32];
	size_t bin_len = 0;
	struct stat st;
	mode_t old = umask(0);
	ssize_t n;
	int fd;

	assert_int_equal(keys_ed25519_generate(dir, KEYS_HOST, pk), 0);
	umask(old);
	path_of(path, dir, KEYS_HOST);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, text, sizeof(text));
	close(fd);
	assert_int_equal(n, 45);
	assert_int_equal(text[44], '\n');
	assert_int_equal(sodium_base642bin(seed, sizeof(seed), text, 44, NULL, &bin_len, NULL,
					   sodium_base64_VARIANT_ORIGINAL),
			 0);
	assert_int_equal(bin_len, 32);
	/* the file holds the seed of the key whose public half was returned */
	{
		uint8_t pk2[32], sk2[64];

		crypto_sign_seed_keypair(pk2, sk2, seed);
		assert_memory_equal(pk2, pk, 32);
		sodium_memzero(sk2, sizeof(sk2));
	}
	sodium_memzero(seed, sizeof(seed));
	assert_false(exists(dir, "." KEYS_HOST ".tmp"));
}

static void generate_refuses_an_existing_file_and_leaves_it_alone(void **state)
{
	const char *dir = *state;
	uint8_t pk[REC_KEY_SIZE], sk[REC_SECRET_SIZE], x[REC_KEY_SIZE];

	assert_int_equal(keys_ed25519_generate(dir, KEYS_HOST, pk), 0);
	assert_int_equal(keys_ed25519_generate(dir, KEYS_HOST, x), -EEXIST);
	assert_int_equal(keys_x25519_generate(dir, KEYS_HOST, x), -EEXIST);
	assert_int_equal(keys_ed25519_load(dir, KEYS_HOST, sk), 0);
	assert_memory_equal(sk + 32, pk, REC_KEY_SIZE);
	sodium_memzero(sk, sizeof(sk));
}

static void stale_temporary_file_does_not_block_generate(void **state)
{
	const char *dir = *state;
	uint8_t pk[REC_KEY_SIZE];

	write_file(dir, "." KEYS_WG ".tmp", "left by a crash", 0600);
	assert_int_equal(keys_x25519_generate(dir, KEYS_WG, pk), 0);
	assert_false(exists(dir, "." KEYS_WG ".tmp"));
	assert_true(exists(dir, KEYS_WG));
}

static void load_of_a_missing_file_is_enoent(void **state)
{
	const char *dir = *state;
	uint8_t sk[REC_SECRET_SIZE], x[REC_KEY_SIZE], pk[REC_KEY_SIZE];

	assert_int_equal(keys_ed25519_load(dir, KEYS_HOST, sk), -ENOENT);
	assert_int_equal(keys_x25519_load(dir, KEYS_WG, x, pk), -ENOENT);
}

static void load_refuses_a_file_group_or_others_can_access(void **state)
{
	static const mode_t modes[] = { 0644, 0640, 0604, 0601, 0610, 0660 };
	const char *dir = *state;
	uint8_t sk[REC_SECRET_SIZE];
	char line[64];

	key_line(ED25519_SEED_HEX, line);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		write_file(dir, KEYS_HOST, line, modes[i]);
		if (keys_ed25519_load(dir, KEYS_HOST, sk) != -EPERM)
			fail_msg("mode %o was accepted", (unsigned)modes[i]);
	}
	/* control: the same file, owner only, loads */
	write_file(dir, KEYS_HOST, line, 0400);
	assert_int_equal(keys_ed25519_load(dir, KEYS_HOST, sk), 0);
	sodium_memzero(sk, sizeof(sk));
}

static void load_refuses_anything_but_one_base64_key_line(void **state)
{
	static const char *const bad[] = {
		"",
		"\n",
		"nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=",     /* no newline */
		"nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=\n\n", /* two */
		"nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=\r\n",
		" nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=\n",
		"nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\n",  /* no padding */
		"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=\n", /* URL-safe alphabet */
		"nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf*A=\n",
		"nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2B=\n", /* non-zero pad bits */
		"nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyu==\n",   /* 31 bytes */
		"nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=\nnWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=\n",
	};
	const char *dir = *state;
	uint8_t sk[REC_SECRET_SIZE], x[REC_KEY_SIZE], pk[REC_KEY_SIZE];
	char line[64];

	/* control: the good line is exactly the RFC 8032 seed */
	key_line(ED25519_SEED_HEX, line);
	assert_string_equal(line, "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=\n");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(dir, KEYS_HOST, bad[i], 0600);
		if (keys_ed25519_load(dir, KEYS_HOST, sk) != -EBADMSG)
			fail_msg("bad key file %zu was accepted", i);
		if (keys_x25519_load(dir, KEYS_HOST, x, pk) != -EBADMSG)
			fail_msg("bad key file %zu was accepted as X25519", i);
	}
}

/* Writes the n bytes of content to dir/file, mode 0600 (content may hold a NUL). */
static void write_bytes(const char *dir, const char *file, const char *content, size_t n)
{
	char path[PATH_MAX];
	int fd;

	path_of(path, dir, file);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, n), (ssize_t)n);
	assert_int_equal(close(fd), 0);
}

/*
 * libsodium 1.0.18 alone reads a byte from 0x80 up as '/': the RFC 8032 seed's line with
 * 0xff for its '/' loaded as that very seed. Every such byte, anywhere in the line, and
 * every other byte outside the alphabet, is refused, for `wg genkey` keys and host keys
 * alike, and the good lines still load.
 */
static void load_refuses_a_key_line_with_a_byte_from_0x80_up_or_outside_base64(void **state)
{
	static const unsigned char odd[] = { 0x80, 0xaf, 0xc3, 0xff, 0x00,
					     0x01, '\t', '-',  '.',  0x7f };
	const char *dir = *state;
	uint8_t sk[REC_SECRET_SIZE], x[REC_KEY_SIZE], pk[REC_KEY_SIZE], want[REC_KEY_SIZE];
	char good[64], line[64];

	key_line(X25519_SK_HEX, good);
	assert_string_equal(good, "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=\n");
	for (size_t pos = 0; pos < 44; pos++) {
		for (size_t i = 0; i < sizeof(odd); i++) {
			memcpy(line, good, 45);
			line[pos] = (char)odd[i];
			write_bytes(dir, KEYS_WG, line, 45);
			memset(x, 0xaa, sizeof(x));
			if (keys_x25519_load(dir, KEYS_WG, x, pk) != -EBADMSG)
				fail_msg("byte 0x%02x at %zu of a WireGuard key was accepted",
					 odd[i], pos);
			/* nothing of the key is left in the caller's buffer */
			memset(want, 0, sizeof(want));
			assert_memory_equal(x, want, sizeof(x));
			write_bytes(dir, KEYS_HOST, line, 45);
			if (keys_ed25519_load(dir, KEYS_HOST, sk) != -EBADMSG)
				fail_msg("byte 0x%02x at %zu of a host key was accepted", odd[i],
					 pos);
		}
	}
	/* the good line loads as the RFC 7748 key */
	write_bytes(dir, KEYS_WG, good, 45);
	assert_int_equal(keys_x25519_load(dir, KEYS_WG, x, pk), 0);
	fixture_unhex(X25519_SK_HEX, want, sizeof(want));
	assert_memory_equal(x, want, sizeof(want));
	fixture_unhex(X25519_PK_HEX, want, sizeof(want));
	assert_memory_equal(pk, want, sizeof(want));
	sodium_memzero(x, sizeof(x));
	/* the RFC 8032 seed's line loads, and with 0xff for its '/' it does not */
	key_line(ED25519_SEED_HEX, good);
	assert_int_equal(good[6], '/');
	write_bytes(dir, KEYS_HOST, good, 45);
	assert_int_equal(keys_ed25519_load(dir, KEYS_HOST, sk), 0);
	fixture_unhex(ED25519_PK_HEX, want, sizeof(want));
	assert_memory_equal(sk + 32, want, sizeof(want));
	good[6] = (char)0xff;
	write_bytes(dir, KEYS_HOST, good, 45);
	assert_int_equal(keys_ed25519_load(dir, KEYS_HOST, sk), -EBADMSG);
	sodium_memzero(sk, sizeof(sk));
}

static void load_refuses_a_symlink_and_a_directory(void **state)
{
	const char *dir = *state;
	char target[PATH_MAX], link_path[PATH_MAX], line[64];
	uint8_t sk[REC_SECRET_SIZE];

	key_line(ED25519_SEED_HEX, line);
	write_file(dir, "real.key", line, 0600);
	path_of(target, dir, "real.key");
	path_of(link_path, dir, KEYS_HOST);
	assert_int_equal(symlink(target, link_path), 0);
	assert_int_equal(keys_ed25519_load(dir, KEYS_HOST, sk), -ELOOP);

	path_of(link_path, dir, KEYS_ADMIN);
	assert_int_equal(mkdir(link_path, 0700), 0);
	assert_int_equal(keys_ed25519_load(dir, KEYS_ADMIN, sk), -EBADMSG);
}

static void ed25519_load_matches_rfc8032_test_1(void **state)
{
	const char *dir = *state;
	uint8_t sk[REC_SECRET_SIZE], want[32];
	char line[64];

	key_line(ED25519_SEED_HEX, line);
	write_file(dir, KEYS_ADMIN, line, 0600);
	assert_int_equal(keys_ed25519_load(dir, KEYS_ADMIN, sk), 0);
	fixture_unhex(ED25519_PK_HEX, want, sizeof(want));
	assert_memory_equal(sk + 32, want, 32);
	fixture_unhex(ED25519_SEED_HEX, want, sizeof(want));
	assert_memory_equal(sk, want, 32);
	sodium_memzero(sk, sizeof(sk));
}

static void x25519_load_matches_rfc7748_alice(void **state)
{
	const char *dir = *state;
	uint8_t sk[REC_KEY_SIZE], pk[REC_KEY_SIZE], want[32];
	char line[64];

	key_line(X25519_SK_HEX, line);
	write_file(dir, KEYS_WG, line, 0600);
	assert_int_equal(keys_x25519_load(dir, KEYS_WG, sk, pk), 0);
	fixture_unhex(X25519_PK_HEX, want, sizeof(want));
	assert_memory_equal(pk, want, 32);
	fixture_unhex(X25519_SK_HEX, want, sizeof(want));
	assert_memory_equal(sk, want, 32);
	sodium_memzero(sk, sizeof(sk));
}

static void x25519_generate_makes_a_clamped_key_for_its_public_key(void **state)
{
	const char *dir = *state;
	uint8_t pk[REC_KEY_SIZE], sk[REC_KEY_SIZE], pk2[REC_KEY_SIZE], base[REC_KEY_SIZE];

	assert_int_equal(keys_x25519_generate(dir, KEYS_WG, pk), 0);
	assert_int_equal(keys_x25519_load(dir, KEYS_WG, sk, pk2), 0);
	assert_memory_equal(pk, pk2, REC_KEY_SIZE);
	assert_int_equal(crypto_scalarmult_base(base, sk), 0);
	assert_memory_equal(base, pk, REC_KEY_SIZE);
	/* RFC 7748 section 5 clamping, as `wg genkey` writes it */
	assert_int_equal(sk[0] & 7, 0);
	assert_int_equal(sk[31] & 0xc0, 0x40);
	sodium_memzero(sk, sizeof(sk));
}

static void store_then_load_gives_the_stored_secret(void **state)
{
	const char *dir = *state;
	uint8_t sk[REC_SECRET_SIZE], back[REC_SECRET_SIZE];

	fixture_key(7, sk);
	assert_int_equal(keys_ed25519_store(dir, "invite.key", sk), 0);
	assert_int_equal(keys_ed25519_load(dir, "invite.key", back), 0);
	assert_memory_equal(sk, back, REC_SECRET_SIZE);
	assert_int_equal(keys_ed25519_store(dir, "invite.key", sk), -EEXIST);
	sodium_memzero(back, sizeof(back));
}

static void store_refuses_a_secret_whose_halves_disagree(void **state)
{
	const char *dir = *state;
	uint8_t sk[REC_SECRET_SIZE];

	fixture_key(7, sk);
	sk[40] ^= 1; /* the public half no longer belongs to the seed */
	assert_int_equal(keys_ed25519_store(dir, "invite.key", sk), -EINVAL);
	assert_false(exists(dir, "invite.key"));
}

static void remove_deletes_the_file_and_missing_is_fine(void **state)
{
	const char *dir = *state;
	uint8_t pk[REC_KEY_SIZE], sk[REC_SECRET_SIZE];

	assert_int_equal(keys_ed25519_generate(dir, KEYS_HOST, pk), 0);
	assert_int_equal(keys_remove(dir, KEYS_HOST), 0);
	assert_false(exists(dir, KEYS_HOST));
	assert_int_equal(keys_ed25519_load(dir, KEYS_HOST, sk), -ENOENT);
	assert_int_equal(keys_remove(dir, KEYS_HOST), 0);
	/* and the name can be used again */
	assert_int_equal(keys_ed25519_generate(dir, KEYS_HOST, pk), 0);
}

static void remove_refuses_a_directory(void **state)
{
	const char *dir = *state;
	char path[PATH_MAX];

	path_of(path, dir, KEYS_HOST);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(keys_remove(dir, KEYS_HOST), -EISDIR);
	assert_true(exists(dir, KEYS_HOST));
}

static void replace_puts_the_next_wg_key_in_place_and_wipes_the_old_one(void **state)
{
	const char *dir = *state;
	uint8_t pk1[REC_KEY_SIZE], pk2[REC_KEY_SIZE], sk[REC_KEY_SIZE], pk[REC_KEY_SIZE];
	char cur[PATH_MAX], spy[PATH_MAX], buf[64];
	struct stat st;
	ssize_t n;
	int fd;

	assert_int_equal(keys_x25519_generate(dir, KEYS_WG, pk1), 0);
	assert_int_equal(keys_x25519_generate(dir, KEYS_WG_NEXT, pk2), 0);
	/* a second name for the old key's inode, to see what becomes of its bytes */
	path_of(cur, dir, KEYS_WG);
	path_of(spy, dir, "spy");
	assert_int_equal(link(cur, spy), 0);

	assert_int_equal(keys_replace(dir, KEYS_WG_NEXT, KEYS_WG), 0);
	assert_int_equal(keys_x25519_load(dir, KEYS_WG, sk, pk), 0);
	assert_memory_equal(pk, pk2, REC_KEY_SIZE);
	assert_false(exists(dir, KEYS_WG_NEXT));
	assert_int_equal(stat(cur, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	fd = open(spy, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(n, 45); /* same length, every byte zero */
	for (ssize_t i = 0; i < n; i++)
		assert_int_equal(buf[i], 0);
	sodium_memzero(sk, sizeof(sk));
}

static void replace_without_a_next_key_is_enoent_and_keeps_the_current_one(void **state)
{
	const char *dir = *state;
	uint8_t pk1[REC_KEY_SIZE], sk[REC_KEY_SIZE], pk[REC_KEY_SIZE];

	assert_int_equal(keys_x25519_generate(dir, KEYS_WG, pk1), 0);
	assert_int_equal(keys_replace(dir, KEYS_WG_NEXT, KEYS_WG), -ENOENT);
	assert_int_equal(keys_x25519_load(dir, KEYS_WG, sk, pk), 0);
	assert_memory_equal(pk, pk1, REC_KEY_SIZE);
	assert_int_equal(keys_replace(dir, "../x", KEYS_WG), -EINVAL);
	sodium_memzero(sk, sizeof(sk));
}

static void file_names_with_a_slash_or_dots_are_einval(void **state)
{
	const char *dir = *state;
	uint8_t pk[REC_KEY_SIZE], sk[REC_SECRET_SIZE];

	assert_int_equal(keys_ed25519_generate(dir, "", pk), -EINVAL);
	assert_int_equal(keys_ed25519_generate(dir, "sub/host.key", pk), -EINVAL);
	assert_int_equal(keys_ed25519_generate(dir, "..", pk), -EINVAL);
	assert_int_equal(keys_ed25519_load(dir, "../host.key", sk), -EINVAL);
	assert_int_equal(keys_remove(dir, "."), -EINVAL);
}

static void missing_directory_is_enoent(void **state)
{
	char missing[PATH_MAX];
	uint8_t pk[REC_KEY_SIZE];

	path_of(missing, *state, "nope");
	assert_int_equal(keys_ed25519_generate(missing, KEYS_HOST, pk), -ENOENT);
}

static void dir_prepare_makes_a_0700_directory_once(void **state)
{
	char sub[PATH_MAX], deep[PATH_MAX];
	struct stat st;
	mode_t old = umask(0);

	path_of(sub, *state, "state");
	assert_int_equal(keys_dir_prepare(sub), 0);
	umask(old);
	assert_int_equal(stat(sub, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(keys_dir_prepare(sub), 0); /* existing is fine */

	/* only the last component is made */
	path_of(deep, sub, "a/b");
	assert_int_equal(keys_dir_prepare(deep), -ENOENT);
}

static void dir_prepare_on_a_file_is_enotdir(void **state)
{
	char path[PATH_MAX];

	write_file(*state, "plain", "x", 0600);
	path_of(path, *state, "plain");
	assert_int_equal(keys_dir_prepare(path), -ENOTDIR);
}

/* What a user reads when a key file is refused: one sentence saying what is wrong with
 * the file, not "Bad message". Each error comes from a real load. */
static void each_refusal_reads_as_a_sentence_about_the_file(void **state)
{
	uint8_t sk[64];
	char dir[PATH_MAX], target[PATH_MAX], link[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", (const char *)*state);
	assert_string_equal(keys_strerror(keys_ed25519_load(dir, "none", sk)),
			    "the key file is missing");
	write_file(dir, "open", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", 0644);
	assert_string_equal(keys_strerror(keys_ed25519_load(dir, "open", sk)),
			    "the key file is readable by group or others (chmod 600 it)");
	write_file(dir, "bad", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\xff=\n", 0600);
	assert_string_equal(keys_strerror(keys_ed25519_load(dir, "bad", sk)),
			    "the key file does not hold one base64 key (a line of 44 "
			    "characters, as wg genkey writes)");
	path_of(target, dir, "bad");
	path_of(link, dir, "link");
	assert_int_equal(symlink(target, link), 0);
	assert_string_equal(keys_strerror(keys_ed25519_load(dir, "link", sk)),
			    "the key file is a symbolic link, which is refused");
	assert_string_equal(keys_strerror(-EIO), strerror(EIO));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_dir, teardown_dir)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(ed25519_generate_then_load_gives_the_same_key),
		T(two_generated_keys_differ),
		T(key_file_is_0600_one_base64_line_whatever_the_umask),
		T(generate_refuses_an_existing_file_and_leaves_it_alone),
		T(stale_temporary_file_does_not_block_generate),
		T(load_of_a_missing_file_is_enoent),
		T(load_refuses_a_file_group_or_others_can_access),
		T(load_refuses_anything_but_one_base64_key_line),
		T(load_refuses_a_key_line_with_a_byte_from_0x80_up_or_outside_base64),
		T(load_refuses_a_symlink_and_a_directory),
		T(each_refusal_reads_as_a_sentence_about_the_file),
		T(ed25519_load_matches_rfc8032_test_1),
		T(x25519_load_matches_rfc7748_alice),
		T(x25519_generate_makes_a_clamped_key_for_its_public_key),
		T(store_then_load_gives_the_stored_secret),
		T(store_refuses_a_secret_whose_halves_disagree),
		T(remove_deletes_the_file_and_missing_is_fine),
		T(remove_refuses_a_directory),
		T(replace_puts_the_next_wg_key_in_place_and_wipes_the_old_one),
		T(replace_without_a_next_key_is_enoent_and_keeps_the_current_one),
		T(file_names_with_a_slash_or_dots_are_einval),
		T(missing_directory_is_enoent),
		T(dir_prepare_makes_a_0700_directory_once),
		T(dir_prepare_on_a_file_is_enotdir),
	};

	if (sodium_init() < 0) {
		fprintf(stderr, "sodium_init failed\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
