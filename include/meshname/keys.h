/*
 * keys.h: this host's private keys on disk (DESIGN.md section 3). Files are written
 * 0600 through a temporary file and rename, hold one base64 key like `wg genkey`
 * output, and are refused when others can read them. Secrets handed out here are the
 * caller's to wipe with sodium_memzero. Nothing here prints or logs a key.
 */
#ifndef MESHNAME_KEYS_H
#define MESHNAME_KEYS_H

#include <stdint.h>

#include "meshname/record.h"

#define KEYS_HOST "host.key" /* Ed25519: signs this host's records */
#define KEYS_WG "wg.key"     /* X25519: the WireGuard private key */
/* X25519: the next WireGuard key, asked for by `meshname renew --new-wg-key`; meshnamed
 * renames it over wg.key once this host's active CERT names its public key. */
#define KEYS_WG_NEXT "wg.key.next"
#define KEYS_ADMIN "admin.key" /* Ed25519: only on admin machines */

/* Makes dir (mode 0700) if missing. -EACCES, -ENOTDIR as the system says. */
int keys_dir_prepare(const char *dir);

/* New random Ed25519 key in dir/file; -EEXIST if the file exists. */
int keys_ed25519_generate(const char *dir, const char *file, uint8_t pk[REC_KEY_SIZE]);
/* Loads dir/file. -ENOENT missing, -EPERM readable by group or others, -ELOOP a
 * symbolic link, -EBADMSG bad (not one line of 44 characters of standard base64). */
int keys_ed25519_load(const char *dir, const char *file, uint8_t sk[REC_SECRET_SIZE]);

/* Same for the X25519 WireGuard key (clamped like `wg genkey`). */
int keys_x25519_generate(const char *dir, const char *file, uint8_t pk[REC_KEY_SIZE]);
int keys_x25519_load(const char *dir, const char *file, uint8_t sk[REC_KEY_SIZE],
		     uint8_t pk[REC_KEY_SIZE]);

/* Stores an Ed25519 secret made elsewhere (an invite's admission key) 0600. */
int keys_ed25519_store(const char *dir, const char *file, const uint8_t sk[REC_SECRET_SIZE]);

/* One sentence for an error of a key file's load, e.g. for -EBADMSG "it does not hold
 * one base64 key (a line of 44 characters, as wg genkey writes)"; strerror otherwise. */
const char *keys_strerror(int err);

/*
 * Renames dir/from over dir/to in one step (rename(2): a crash leaves one or the other,
 * never neither) and then overwrites the replaced key's bytes with zeros. The one place
 * an existing key file is replaced. -ENOENT when from is missing.
 */
int keys_replace(const char *dir, const char *from, const char *to);

/* Removes dir/file after overwriting it with zeros. Missing is not an error. */
int keys_remove(const char *dir, const char *file);

#endif
