/*
 * seeds.h: STATE/seeds, the peers a host syncs with by transport B before it has any
 * working WireGuard peer: the bootstrap endpoints of the invite it joined with (written by
 * `meshname join`), and any added by hand. Read by meshnamed at start.
 *
 * Format: text, one seed per line, '#' starts a comment, blank lines ignored:
 *
 *     HOSTKEY HOST:PORT
 *
 * HOSTKEY is the seed's Ed25519 host key in standard base64 (44 characters, as `meshname
 * show` prints keys): transport B pins it, so a seed's address can be anyone's without
 * harm. HOST is an IPv4 address, a bracketed IPv6 address or a DNS name; PORT its sync
 * port. One key may appear on several lines (several addresses). At most SEEDS_MAX lines.
 */
#ifndef MESHNAME_SEEDS_H
#define MESHNAME_SEEDS_H

#include <stddef.h>
#include <stdint.h>

#include "meshname/record.h"

#define SEEDS_FILE "seeds"
#define SEEDS_MAX 32
#define SEEDS_HOST_MAX 254 /* a 253-byte DNS name and its NUL */

struct seed {
	uint8_t key[REC_KEY_SIZE];
	char host[SEEDS_HOST_MAX]; /* without brackets */
	uint16_t port;
};

/*
 * Reads STATE/seeds into out (at most max entries, *n of them). A missing file is 0 with
 * *n = 0. A malformed line is -EINVAL and err holds "seeds:LINE: reason"; nothing is
 * returned then. Other errors are -errno ("seeds: reason"), -EISDIR or -ENXIO for a
 * directory or anything else that is not a regular file. Hosts come back in one spelling
 * (IPv6 compressed, names in lower case); a line longer than 511 bytes, a repeated seed
 * and more than max or SEEDS_MAX seeds are malformed. err may be NULL.
 */
int seeds_load(const char *state_dir, struct seed *out, size_t max, size_t *n, char *err,
	       size_t errlen);

/*
 * The text of a seeds file (len bytes; it need not end in a newline, and NUL bytes in it
 * are refused as seeds_load refuses them) parsed as seeds_load parses STATE/seeds: the
 * same seeds, the same limits, and on a malformed line -EINVAL with the same "seeds:LINE:
 * reason", *n = 0 and out wiped. 0 or -EINVAL. err may be NULL.
 */
int seeds_parse(const char *text, size_t len, struct seed *out, size_t max, size_t *n, char *err,
		size_t errlen);

/* Writes the n seeds to STATE/seeds atomically (temporary file, fsync, rename), mode
 * 0644. 0 or -errno: -E2BIG over SEEDS_MAX, -EINVAL for a seed seeds_load would refuse or
 * read back otherwise (a host not in its one spelling, port 0, a repeat). */
int seeds_save(const char *state_dir, const struct seed *s, size_t n);

/* One "HOST:PORT" (HOST: IPv4, [IPv6] or a DNS name; port 1..65535) into seed's host and
 * port. 0 or -EINVAL. */
int seeds_parse_hostport(const char *text, struct seed *out);

#endif
