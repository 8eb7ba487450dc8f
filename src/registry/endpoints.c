/*
 * endpoints.c: this host's own ENDPOINTS record for the CLI and the daemon alike: the
 * canonical order, signing the next record, and the pinned list file in the state
 * directory. Never ingests (the caller does, and reports), never logs; the host key is
 * wiped on every path.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "meshname/endpoints.h"
#include "meshname/keys.h"

#define EP_WIRE_SIZE 20
#define PINNED_LINE_MAX 256

/* The 20 bytes the record format sorts endpoints by (doc/records.md). */
static void ep_wire(const struct rec_endpoint *e, uint8_t out[EP_WIRE_SIZE])
{
	out[0] = e->kind;
	out[1] = e->family;
	memcpy(out + 2, e->addr, 16);
	out[18] = (uint8_t)(e->port >> 8);
	out[19] = (uint8_t)e->port;
}

static int ep_cmp(const void *a, const void *b)
{
	uint8_t wa[EP_WIRE_SIZE], wb[EP_WIRE_SIZE];

	ep_wire(a, wa);
	ep_wire(b, wb);
	return memcmp(wa, wb, sizeof(wa));
}

void endpoints_sort(struct rec_endpoints *e)
{
	qsort(e->ep, e->n, sizeof(e->ep[0]), ep_cmp);
}

bool endpoints_same_address(const struct rec_endpoint *a, const struct rec_endpoint *b)
{
	return a->family == b->family && a->port == b->port && memcmp(a->addr, b->addr, 16) == 0;
}

int endpoints_find(const struct rec_endpoints *e, const struct rec_endpoint *ep)
{
	for (int i = 0; i < e->n; i++)
		if (endpoints_same_address(&e->ep[i], ep))
			return i;
	return -1;
}

void endpoints_of_host(const struct snapshot_host *h, struct rec_endpoints *out)
{
	memset(out, 0, sizeof(*out));
	if (h->endpoints_seq == 0)
		return;
	out->listen_port = h->listen_port;
	out->n = h->n_endpoints <= REC_MAX_ENDPOINTS ? h->n_endpoints : REC_MAX_ENDPOINTS;
	if (out->n > 0) /* h->endpoints is NULL when there are none */
		memcpy(out->ep, h->endpoints, out->n * sizeof(out->ep[0]));
}

bool endpoints_equal(const struct rec_endpoints *a, const struct rec_endpoints *b)
{
	if (a->listen_port != b->listen_port || a->n != b->n)
		return false;
	for (unsigned i = 0; i < a->n; i++)
		if (ep_cmp(&a->ep[i], &b->ep[i]) != 0)
			return false;
	return true;
}

int endpoints_sign(const char *state_dir, const uint8_t mesh_id[REC_ID_SIZE],
		   const struct rec_endpoints *set, uint64_t seq, uint64_t now, uint64_t expires,
		   uint8_t *buf, size_t *len)
{
	uint8_t sk[REC_SECRET_SIZE];
	struct rec r;
	int rc;

	memset(&r, 0, sizeof(r));
	r.type = REC_ENDPOINTS;
	memcpy(r.mesh_id, mesh_id, REC_ID_SIZE);
	r.seq = seq;
	r.issued_at = now;
	r.expires_at = expires;
	r.u.endpoints = *set;
	endpoints_sort(&r.u.endpoints);
	rc = keys_ed25519_load(state_dir, KEYS_HOST, sk);
	if (rc == 0)
		rc = rec_sign(&r, sk, buf, REC_MAX_SIZE, len);
	sodium_memzero(sk, sizeof(sk));
	return rc == -EMSGSIZE ? -EINVAL : rc;
}

/* ---- the pinned list ---------------------------------------------------------------- */

static int pinned_path(const char *dir, const char *suffix, char path[PATH_MAX])
{
	int n = snprintf(path, PATH_MAX, "%s/%s%s", dir, ENDPOINTS_PINNED, suffix);

	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

static uint8_t kind_from_name(const char *s)
{
	for (uint8_t k = EP_LAN; k <= EP_PUBLIC; k++)
		if (strcmp(s, rec_ep_kind_name(k)) == 0)
			return k;
	return 0;
}

/* "KIND ADDRESS PORT"; 0, 1 for a blank or comment line, or -EBADMSG. */
static int pinned_parse(char *line, struct rec_endpoint *ep)
{
	char *kind, *addr, *port, *extra, *save = NULL, *end;
	unsigned long v;

	memset(ep, 0, sizeof(*ep));
	kind = strtok_r(line, " \t\r\n", &save);
	if (kind == NULL || kind[0] == '#')
		return 1;
	addr = strtok_r(NULL, " \t\r\n", &save);
	port = strtok_r(NULL, " \t\r\n", &save);
	extra = strtok_r(NULL, " \t\r\n", &save);
	if (addr == NULL || port == NULL || (extra != NULL && extra[0] != '#'))
		return -EBADMSG;
	ep->kind = kind_from_name(kind);
	if (ep->kind == 0)
		return -EBADMSG;
	if (inet_pton(AF_INET, addr, ep->addr) == 1)
		ep->family = 4;
	else if (inet_pton(AF_INET6, addr, ep->addr) == 1)
		ep->family = 6;
	else
		return -EBADMSG;
	if (port[0] < '0' || port[0] > '9')
		return -EBADMSG;
	errno = 0;
	v = strtoul(port, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0 || v > 65535)
		return -EBADMSG;
	ep->port = (uint16_t)v;
	return 0;
}

int endpoints_pinned_load(const char *state_dir, struct rec_endpoints *out, unsigned *line)
{
	char path[PATH_MAX], buf[PINNED_LINE_MAX];
	struct rec_endpoint ep;
	unsigned n = 0;
	FILE *fp;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (line != NULL)
		*line = 0;
	rc = pinned_path(state_dir, "", path);
	if (rc < 0)
		return rc;
	fp = fopen(path, "re");
	if (fp == NULL)
		return errno == ENOENT ? 0 : -errno;
	while (fgets(buf, sizeof(buf), fp) != NULL) {
		n++;
		rc = pinned_parse(buf, &ep);
		if (rc == 1) {
			rc = 0;
			continue;
		}
		if (rc == 0 && out->n == REC_MAX_ENDPOINTS)
			rc = -E2BIG;
		if (rc < 0) {
			if (line != NULL)
				*line = n;
			break;
		}
		if (endpoints_find(out, &ep) < 0)
			out->ep[out->n++] = ep;
	}
	if (rc == 0 && ferror(fp))
		rc = -EIO;
	fclose(fp);
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

int endpoints_pinned_save(const char *state_dir, const struct rec_endpoints *e)
{
	char path[PATH_MAX], tmp[PATH_MAX], addr[INET6_ADDRSTRLEN];
	FILE *fp;
	int fd, rc;

	if ((rc = pinned_path(state_dir, "", path)) < 0 ||
	    (rc = pinned_path(state_dir, ".tmp", tmp)) < 0)
		return rc;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	fp = fdopen(fd, "w");
	if (fp == NULL) {
		rc = -errno;
		close(fd);
		goto out;
	}
	fprintf(fp,
		"# Endpoints added with `meshname endpoint add`: meshnamed publishes them\n"
		"# next to the addresses it finds. KIND ADDRESS PORT; edit with the command.\n");
	for (unsigned i = 0; i < e->n; i++) {
		const struct rec_endpoint *ep = &e->ep[i];

		inet_ntop(ep->family == 4 ? AF_INET : AF_INET6, ep->addr, addr, sizeof(addr));
		fprintf(fp, "%s %s %u\n", rec_ep_kind_name(ep->kind), addr, (unsigned)ep->port);
	}
	errno = 0;
	if (fflush(fp) != 0 || ferror(fp) || fsync(fileno(fp)) != 0)
		rc = errno != 0 ? -errno : -EIO;
	if (fclose(fp) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
out:
	if (rc < 0)
		unlink(tmp);
	return rc;
}
