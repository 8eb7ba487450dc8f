/*
 * resolvconf.h: upstream servers from resolv.conf, private to src/resolver. Reads the
 * file (O_RDONLY, never writes or creates it) and parses nameserver lines; no logging.
 *
 * The rules:
 * - Only `nameserver ADDR` lines count, as glibc reads them: the keyword at the start of
 *   the line, then blanks, then the address up to a blank, '#' or ';' (anything after
 *   it is ignored). Lines starting with '#' or ';' are comments; other lines, and
 *   addresses that do not parse, are ignored. IPv4, IPv6, and IPv6 with %scope (an
 *   interface name or number) are accepted; the port is always 53.
 * - Skipped: 127.0.0.53 and 127.0.0.54 (systemd-resolved's stubs: they would send mesh
 *   queries back to us), every address the caller lists as its own (its listen
 *   addresses, the mesh addresses among them: /run/systemd/resolve/resolv.conf lists
 *   those when resolved uses us as the link DNS), duplicates, and more than
 *   RESOLVCONF_MAX. An own address with port 0 matches any port; a wildcard own address
 *   (0.0.0.0, ::) also matches every loopback nameserver (and 0.0.0.0 or :: as a
 *   nameserver, which means this host). IPv4-mapped IPv6 addresses are taken as IPv4.
 * - Which file: the first of the paths that exists; the daemon passes
 *   RESOLVCONF_RESOLVED_PATH then RESOLVCONF_ETC_PATH (the former lists resolved's real
 *   upstreams, the latter then only its stub).
 */
#ifndef MESHNAME_RESOLVER_RESOLVCONF_H
#define MESHNAME_RESOLVER_RESOLVCONF_H

#include <stddef.h>
#include <sys/socket.h>

#define RESOLVCONF_MAX 16
#define RESOLVCONF_FILE_MAX 65536 /* a longer file is refused */
#define RESOLVCONF_RESOLVED_PATH "/run/systemd/resolve/resolv.conf"
#define RESOLVCONF_ETC_PATH "/etc/resolv.conf"

struct resolvconf {
	struct sockaddr_storage addr[RESOLVCONF_MAX];
	socklen_t addr_len[RESOLVCONF_MAX];
	size_t n;
	size_t skipped; /* stubs and own addresses left out: worth a log line */
	size_t ignored; /* nameserver lines that did not parse, duplicates, beyond the max */
};

/*
 * Parses text (len bytes, need not end in NUL) into rc, leaving out own[0..n_own)
 * (listen addresses, sockaddr_in or sockaddr_in6) and the rules above. Cannot fail.
 */
void resolvconf_parse(const char *text, size_t len, const struct sockaddr_storage *own,
		      size_t n_own, struct resolvconf *rc);

/*
 * Reads the first of paths[0..n_paths) that exists and parses it as above; *used (if
 * not NULL) gets its index. Returns 0; -ENOENT if none exists; -EINVAL if the one that
 * exists is not a regular file; -EFBIG if it is longer than RESOLVCONF_FILE_MAX; or the
 * -errno of open or read.
 */
int resolvconf_load(const char *const *paths, size_t n_paths, const struct sockaddr_storage *own,
		    size_t n_own, struct resolvconf *rc, size_t *used);

#endif
