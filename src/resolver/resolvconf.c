/*
 * resolvconf.c: nameserver addresses from resolv.conf (resolvconf.h). Opens the file
 * O_RDONLY and only reads it: it must never write, create, truncate or lock it, since
 * the system (or systemd-resolved) owns it. It never logs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "resolver/resolvconf.h"

#define DNS_PORT 53
#define KEYWORD "nameserver"
#define KEYWORD_LEN (sizeof(KEYWORD) - 1)
#define TOKEN_MAX (INET6_ADDRSTRLEN + 1 + IF_NAMESIZE)

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes a plain sockaddr_in. */
static void unmap(struct sockaddr_storage *ss)
{
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;

	if (ss->ss_family != AF_INET6)
		return;
	memcpy(&s6, ss, sizeof(s6));
	if (!IN6_IS_ADDR_V4MAPPED(&s6.sin6_addr))
		return;
	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	s4.sin_port = s6.sin6_port;
	memcpy(&s4.sin_addr, &s6.sin6_addr.s6_addr[12], 4);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &s4, sizeof(s4));
}

/* Parses "ADDR" or "ADDR%SCOPE" (IPv6 only) into ss with port 53. */
static bool address_parse(const char *token, struct sockaddr_storage *ss, socklen_t *len)
{
	char buf[TOKEN_MAX + 1];
	char *scope;
	struct sockaddr_in s4;
	struct sockaddr_in6 s6;
	size_t n = strlen(token);

	if (n == 0 || n > TOKEN_MAX)
		return false;
	memcpy(buf, token, n + 1);
	memset(ss, 0, sizeof(*ss));
	scope = strchr(buf, '%');
	if (scope != NULL)
		*scope++ = '\0';
	memset(&s4, 0, sizeof(s4));
	if (scope == NULL && inet_pton(AF_INET, buf, &s4.sin_addr) == 1) {
		s4.sin_family = AF_INET;
		s4.sin_port = htons(DNS_PORT);
		memcpy(ss, &s4, sizeof(s4));
		*len = sizeof(s4);
		return true;
	}
	memset(&s6, 0, sizeof(s6));
	if (inet_pton(AF_INET6, buf, &s6.sin6_addr) != 1)
		return false;
	s6.sin6_family = AF_INET6;
	s6.sin6_port = htons(DNS_PORT);
	if (scope != NULL) {
		char *end;
		unsigned long v;

		if (*scope == '\0')
			return false;
		if (*scope >= '0' && *scope <= '9') {
			errno = 0;
			v = strtoul(scope, &end, 10);
			if (errno != 0 || *end != '\0' || v == 0 || v > UINT32_MAX)
				return false;
			s6.sin6_scope_id = (uint32_t)v;
		} else {
			s6.sin6_scope_id = if_nametoindex(scope);
			if (s6.sin6_scope_id == 0)
				return false;
		}
	}
	memcpy(ss, &s6, sizeof(s6));
	*len = sizeof(s6);
	unmap(ss);
	if (ss->ss_family == AF_INET)
		*len = sizeof(struct sockaddr_in);
	return true;
}

static in_port_t port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)(const void *)ss)->sin6_port);
}

static bool is_wildcard(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)(const void *)ss)->sin_addr.s_addr ==
		       htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr);
}

/* Loopback, or the unspecified address, which as a nameserver means this host. */
static bool is_local(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		uint32_t a = ntohl(((const struct sockaddr_in *)(const void *)ss)->sin_addr.s_addr);

		return (a >> 24) == 127 || a == INADDR_ANY;
	}
	return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr) ||
	       is_wildcard(ss);
}

/* Same family and address (and scope, when both have one); ports are not compared. */
static bool same_address(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)(const void *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)(const void *)b)->sin_addr.s_addr;
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)(const void *)a;
		const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)(const void *)b;

		if (x->sin6_scope_id != 0 && y->sin6_scope_id != 0 &&
		    x->sin6_scope_id != y->sin6_scope_id)
			return false;
		return memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

static bool is_resolved_stub(const struct sockaddr_storage *ss)
{
	uint32_t a;

	if (ss->ss_family != AF_INET)
		return false;
	a = ntohl(((const struct sockaddr_in *)(const void *)ss)->sin_addr.s_addr);
	return a == 0x7f000035u || a == 0x7f000036u; /* 127.0.0.53, 127.0.0.54 */
}

/* True if a query sent to ns (port 53) could reach one of own. */
static bool is_own(const struct sockaddr_storage *ns, const struct sockaddr_storage *own,
		   size_t n_own)
{
	size_t i;

	for (i = 0; i < n_own; i++) {
		struct sockaddr_storage o = own[i];
		in_port_t port;

		if (o.ss_family != AF_INET && o.ss_family != AF_INET6)
			continue;
		unmap(&o);
		port = port_of(&o);
		if (port != 0 && port != DNS_PORT)
			continue;
		if (same_address(ns, &o) || (is_wildcard(&o) && is_local(ns)))
			return true;
	}
	return false;
}

/* One line (without its newline). */
static void line_parse(const char *p, size_t len, const struct sockaddr_storage *own, size_t n_own,
		       struct resolvconf *rc)
{
	char token[TOKEN_MAX + 1];
	struct sockaddr_storage ss;
	socklen_t ss_len;
	size_t i = KEYWORD_LEN, start, j;

	if (len <= KEYWORD_LEN || memcmp(p, KEYWORD, KEYWORD_LEN) != 0 ||
	    (p[i] != ' ' && p[i] != '\t'))
		return;
	while (i < len && is_blank(p[i]))
		i++;
	start = i;
	while (i < len && !is_blank(p[i]) && p[i] != '#' && p[i] != ';')
		i++;
	if (i - start == 0 || i - start > TOKEN_MAX || memchr(p + start, '\0', i - start)) {
		rc->ignored++;
		return;
	}
	memcpy(token, p + start, i - start);
	token[i - start] = '\0';
	if (!address_parse(token, &ss, &ss_len)) {
		rc->ignored++;
		return;
	}
	if (is_resolved_stub(&ss) || is_own(&ss, own, n_own)) {
		rc->skipped++;
		return;
	}
	for (j = 0; j < rc->n; j++) {
		if (same_address(&rc->addr[j], &ss)) {
			rc->ignored++;
			return;
		}
	}
	if (rc->n == RESOLVCONF_MAX) {
		rc->ignored++;
		return;
	}
	rc->addr[rc->n] = ss;
	rc->addr_len[rc->n] = ss_len;
	rc->n++;
}

void resolvconf_parse(const char *text, size_t len, const struct sockaddr_storage *own,
		      size_t n_own, struct resolvconf *rc)
{
	size_t off = 0;

	memset(rc, 0, sizeof(*rc));
	while (off < len) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t line_len = nl != NULL ? (size_t)(nl - (text + off)) : len - off;

		/* Comment lines start with # or ; and never reach line_parse's keyword test. */
		line_parse(text + off, line_len, own, n_own, rc);
		off += line_len + 1;
	}
}

int resolvconf_load(const char *const *paths, size_t n_paths, const struct sockaddr_storage *own,
		    size_t n_own, struct resolvconf *rc, size_t *used)
{
	struct stat st;
	char *buf = NULL;
	size_t i, len = 0;
	int fd = -1, r = -ENOENT;

	memset(rc, 0, sizeof(*rc));
	for (i = 0; i < n_paths; i++) {
		/* O_NONBLOCK: a FIFO planted at the path must not hang us; refused below. */
		fd = open(paths[i], O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (fd >= 0)
			break;
		if (errno != ENOENT && errno != ENOTDIR)
			return -errno;
	}
	if (fd < 0)
		return -ENOENT;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto out;
	}
	if (st.st_size > RESOLVCONF_FILE_MAX) {
		r = -EFBIG;
		goto out;
	}
	buf = malloc(RESOLVCONF_FILE_MAX + 1);
	if (buf == NULL) {
		r = -ENOMEM;
		goto out;
	}
	/* Read to the end: the file may have grown since fstat. */
	for (;;) {
		ssize_t n = read(fd, buf + len, RESOLVCONF_FILE_MAX + 1 - len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > RESOLVCONF_FILE_MAX) {
			r = -EFBIG;
			goto out;
		}
	}
	resolvconf_parse(buf, len, own, n_own, rc);
	if (used != NULL)
		*used = i;
	r = 0;
out:
	free(buf);
	close(fd);
	return r;
}
