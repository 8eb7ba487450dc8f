/*
 * keys.c: this host's private keys on disk, one base64 value and a newline per file
 * like `wg genkey` output (the Ed25519 seed, or the clamped X25519 private key).
 * Never prints or logs a key, never leaves a secret in a buffer it owns, never
 * replaces an existing key file (but in keys_replace, the WireGuard key rotation), never
 * reads a key file that others could read.
 * Callers must have called sodium_init() once at start up.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "meshname/keys.h"
#include "registry/base64.h"
#include "registry/fileio.h"

#define KEY_BYTES 32
#define KEY_B64_LEN 44                 /* base64 of 32 bytes with padding, no newline */
#define KEY_FILE_LEN (KEY_B64_LEN + 1) /* and the newline */

/* dir/name into path; -EINVAL for a name that is not one plain file name. */
static int join_path(char path[PATH_MAX], const char *dir, const char *prefix, const char *name,
		     const char *suffix)
{
	int n;

	if (name[0] == '\0' || strchr(name, '/') != NULL || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return -EINVAL;
	n = snprintf(path, PATH_MAX, "%s/%s%s%s", dir, prefix, name, suffix);
	if (n < 0 || n >= PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * Writes key as dir/file, mode 0600, never replacing an existing file (-EEXIST).
 * The key goes to dir/.file.tmp first, is synced, and is then linked to its name:
 * link(2) fails if the name exists, so two writers cannot both win, and a crash
 * leaves either no key file or a whole one. A stale temporary file (from a crash) is
 * removed once.
 */
static int write_key_file(const char *dir, const char *file, const uint8_t key[KEY_BYTES])
{
	char path[PATH_MAX], tmp[PATH_MAX], text[KEY_B64_LEN + 1];
	int fd = -1, rc;
	bool tmp_made = false;

	if ((rc = join_path(path, dir, "", file, "")) < 0 ||
	    (rc = join_path(tmp, dir, ".", file, ".tmp")) < 0)
		return rc;
	if (access(path, F_OK) == 0)
		return -EEXIST; /* early and clear; link() below is the real guard */

	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST && unlink(tmp) == 0)
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	tmp_made = true;
	/* 0600 whatever the umask: the mode is what keys_*_load checks. */
	if (fchmod(fd, 0600) < 0) {
		rc = -errno;
		goto out;
	}
	sodium_bin2base64(text, sizeof(text), key, KEY_BYTES, sodium_base64_VARIANT_ORIGINAL);
	text[KEY_B64_LEN] = '\n'; /* replaces the terminator: the file has no NUL */
	if ((rc = file_write_all(fd, text, KEY_FILE_LEN)) < 0)
		goto out;
	if (fsync(fd) < 0) {
		rc = -errno;
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = -errno;
		goto out;
	}
	fd = -1;
	if (link(tmp, path) < 0) {
		rc = -errno;
		goto out;
	}
	rc = file_fsync_dir(dir);
out:
	sodium_memzero(text, sizeof(text));
	if (fd >= 0)
		close(fd);
	if (tmp_made)
		unlink(tmp);
	return rc;
}

/*
 * Reads dir/file into key. Refuses symlinks (-ELOOP), anything but a regular file
 * (-EBADMSG), a file group or others may access (-EPERM), and any content but exactly
 * 44 characters of standard base64 and a newline (-EBADMSG): a byte from 0x80 up too,
 * which libsodium alone would read as '/' (see base64.h).
 */
static int read_key_file(const char *dir, const char *file, uint8_t key[KEY_BYTES])
{
	char path[PATH_MAX], text[KEY_FILE_LEN + 1];
	size_t got = 0, bin_len = 0;
	struct stat st;
	int fd, rc;

	if ((rc = join_path(path, dir, "", file, "")) < 0)
		return rc;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EBADMSG;
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		rc = -EPERM;
		goto out;
	}
	/* One byte more than a key file holds, to see a longer file as bad. */
	while (got < sizeof(text)) {
		ssize_t r = read(fd, text + got, sizeof(text) - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	rc = -EBADMSG;
	if (got != KEY_FILE_LEN || text[KEY_B64_LEN] != '\n')
		goto out;
	if (base64_decode_strict(text, KEY_B64_LEN, key, KEY_BYTES, &bin_len,
				 sodium_base64_VARIANT_ORIGINAL) < 0 ||
	    bin_len != KEY_BYTES)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		sodium_memzero(key, KEY_BYTES);
	sodium_memzero(text, sizeof(text));
	close(fd);
	return rc;
}

int keys_dir_prepare(const char *dir)
{
	struct stat st;

	/* Only the last component: a missing parent is the caller's mistake (-ENOENT),
	 * not something to paper over with directories of the wrong owner or mode. */
	if (mkdir(dir, 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	if (stat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	return 0;
}

int keys_ed25519_generate(const char *dir, const char *file, uint8_t pk[REC_KEY_SIZE])
{
	uint8_t seed[crypto_sign_SEEDBYTES], sk[crypto_sign_SECRETKEYBYTES];
	int rc;

	randombytes_buf(seed, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
	rc = write_key_file(dir, file, seed);
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(sk, sizeof(sk));
	return rc;
}

int keys_ed25519_load(const char *dir, const char *file, uint8_t sk[REC_SECRET_SIZE])
{
	uint8_t seed[crypto_sign_SEEDBYTES], pk[crypto_sign_PUBLICKEYBYTES];
	int rc;

	rc = read_key_file(dir, file, seed);
	if (rc == 0)
		crypto_sign_seed_keypair(pk, sk, seed);
	sodium_memzero(seed, sizeof(seed));
	return rc;
}

int keys_ed25519_store(const char *dir, const char *file, const uint8_t sk[REC_SECRET_SIZE])
{
	uint8_t pk[crypto_sign_PUBLICKEYBYTES], check[crypto_sign_SECRETKEYBYTES];
	int rc = -EINVAL;

	/* Only the seed is stored: refuse a secret whose public half does not match it,
	 * rather than store a key that loads as a different one. */
	crypto_sign_seed_keypair(pk, check, sk);
	if (sodium_memcmp(check, sk, crypto_sign_SECRETKEYBYTES) == 0)
		rc = write_key_file(dir, file, sk);
	sodium_memzero(check, sizeof(check));
	return rc;
}

int keys_x25519_generate(const char *dir, const char *file, uint8_t pk[REC_KEY_SIZE])
{
	uint8_t sk[crypto_scalarmult_SCALARBYTES];
	int rc;

	randombytes_buf(sk, sizeof(sk));
	/* Clamp as `wg genkey` does (RFC 7748 section 5), so the file reads the same. */
	sk[0] &= 248;
	sk[31] &= 127;
	sk[31] |= 64;
	rc = crypto_scalarmult_base(pk, sk) == 0 ? 0 : -EINVAL;
	if (rc == 0)
		rc = write_key_file(dir, file, sk);
	sodium_memzero(sk, sizeof(sk));
	return rc;
}

int keys_x25519_load(const char *dir, const char *file, uint8_t sk[REC_KEY_SIZE],
		     uint8_t pk[REC_KEY_SIZE])
{
	int rc;

	rc = read_key_file(dir, file, sk);
	if (rc == 0 && crypto_scalarmult_base(pk, sk) != 0) {
		sodium_memzero(sk, REC_KEY_SIZE);
		rc = -EBADMSG;
	}
	return rc;
}

/* Overwrites the whole file open as fd with zeros and syncs it. */
static int wipe_fd(int fd)
{
	static const uint8_t zeros[512];
	struct stat st;
	int rc = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	/* Zeros over every byte, so the key does not linger in blocks the file system
	 * hands out again (as far as it rewrites in place). */
	if (lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	for (off_t left = st.st_size; left > 0 && rc == 0;) {
		size_t n = left < (off_t)sizeof(zeros) ? (size_t)left : sizeof(zeros);

		rc = file_write_all(fd, zeros, n);
		left -= (off_t)n;
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	return rc;
}

int keys_replace(const char *dir, const char *from, const char *to)
{
	char src[PATH_MAX], dst[PATH_MAX];
	struct stat st;
	int old, rc;

	if ((rc = join_path(src, dir, "", from, "")) < 0 ||
	    (rc = join_path(dst, dir, "", to, "")) < 0)
		return rc;
	if (lstat(src, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	/* The replaced key stays reachable through this descriptor after the rename, so
	 * it can be wiped once the new one is in place (and not before: a crash in
	 * between must leave a usable key). */
	old = open(dst, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (old < 0 && errno != ENOENT)
		return -errno;
	if (rename(src, dst) < 0) {
		rc = -errno;
		goto out;
	}
	rc = file_fsync_dir(dir);
	if (rc == 0 && old >= 0)
		rc = wipe_fd(old);
out:
	if (old >= 0)
		close(old);
	return rc;
}

int keys_remove(const char *dir, const char *file)
{
	static const uint8_t zeros[512];
	char path[PATH_MAX];
	struct stat st;
	int fd, rc;

	if ((rc = join_path(path, dir, "", file, "")) < 0)
		return rc;
	fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (!S_ISREG(st.st_mode))
		rc = -EINVAL;
	/* Zeros over every byte before the unlink, so the key does not linger in
	 * blocks the file system hands out again (as far as it rewrites in place). */
	for (off_t left = rc == 0 ? st.st_size : 0; left > 0 && rc == 0;) {
		size_t n = left < (off_t)sizeof(zeros) ? (size_t)left : sizeof(zeros);

		rc = file_write_all(fd, zeros, n);
		left -= (off_t)n;
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	if (rc < 0)
		return rc;
	if (unlink(path) < 0)
		return errno == ENOENT ? 0 : -errno;
	return file_fsync_dir(dir);
}

const char *keys_strerror(int err)
{
	switch (err) {
	case -ENOENT:
		return "the key file is missing";
	case -EPERM:
		return "the key file is readable by group or others (chmod 600 it)";
	case -ELOOP:
		return "the key file is a symbolic link, which is refused";
	case -EBADMSG:
		return "the key file does not hold one base64 key (a line of 44 characters, as "
		       "wg genkey writes)";
	default:
		return strerror(-err);
	}
}
