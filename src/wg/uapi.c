/*
 * uapi.c: the cross-platform userspace API of wireguard-go and boringtun
 * (https://www.wireguard.com/xplatform/): a pure codec for "set=1" requests and
 * "get=1" replies, and a client for DIR/IFACE.sock, one request per connection.
 * Never logs, never reads past the length it is given, never leaves a private key in
 * a buffer it frees.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "meshname/wg.h"

#define HEX_KEY_LEN (2 * WG_KEY_LEN)
/* The longest line a reply may hold: a key with 64 hex digits is 80 bytes, an endpoint
 * [IPv6%zone]:port under 80; anything much longer is not this protocol. */
#define LINE_MAX_LEN 256
/* A reply is read whole: about 400 bytes a peer, so this is some 40,000 peers. */
#define REPLY_MAX (16u << 20)
#define ERRNO_MAX 4095 /* errno values are small; Linux's are below 4096 */

/* ---- Writing a set request ---------------------------------------------------------- */

/* Output that first only counts (p == NULL), then writes into a buffer of that size. */
struct out {
	char *p;
	size_t len, cap;
};

static void emit(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->p != NULL ? o->p + o->len : NULL, o->p != NULL ? o->cap - o->len : 0, fmt,
		      ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n;
}

static void emit_key(struct out *o, const char *name, const uint8_t key[WG_KEY_LEN])
{
	char hex[HEX_KEY_LEN + 1];

	sodium_bin2hex(hex, sizeof(hex), key, WG_KEY_LEN); /* lowercase */
	emit(o, "%s=%s\n", name, hex);
	sodium_memzero(hex, sizeof(hex));
}

static int emit_endpoint(struct out *o, const struct sockaddr_storage *ss)
{
	char ip[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		emit(o, "endpoint=%s:%u\n", ip, ntohs(sin->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		if (sin6->sin6_scope_id != 0)
			emit(o, "endpoint=[%s%%%u]:%u\n", ip, sin6->sin6_scope_id,
			     ntohs(sin6->sin6_port));
		else
			emit(o, "endpoint=[%s]:%u\n", ip, ntohs(sin6->sin6_port));
	} else {
		return -EINVAL;
	}
	return 0;
}

static int emit_allowedip(struct out *o, const struct wg_allowedip *a)
{
	char ip[INET6_ADDRSTRLEN];

	if ((a->family != AF_INET && a->family != AF_INET6) ||
	    a->cidr > (a->family == AF_INET ? 32 : 128))
		return -EINVAL;
	inet_ntop(a->family, a->addr, ip, sizeof(ip));
	emit(o, "allowed_ip=%s/%u\n", ip, a->cidr);
	return 0;
}

static int emit_set(struct out *o, const struct wg_device *dev)
{
	int r;

	emit(o, "set=1\n");
	if (dev->flags & WG_DEVICE_HAS_PRIVATE_KEY)
		emit_key(o, "private_key", dev->private_key);
	if (dev->flags & WG_DEVICE_HAS_LISTEN_PORT)
		emit(o, "listen_port=%u\n", dev->listen_port);
	if (dev->flags & WG_DEVICE_HAS_FWMARK)
		emit(o, "fwmark=%u\n", dev->fwmark);
	if (dev->flags & WG_DEVICE_REPLACE_PEERS)
		emit(o, "replace_peers=true\n");
	for (size_t i = 0; i < dev->n_peers; i++) {
		const struct wg_peer *peer = &dev->peers[i];

		emit_key(o, "public_key", peer->public_key);
		if (peer->flags & WG_PEER_REMOVE) {
			emit(o, "remove=true\n");
			continue; /* nothing else means anything for a peer that goes */
		}
		/* Right after public_key: wireguard-go creates the peer on that line and only
		 * update_only, next, takes the creation back. */
		if (peer->flags & WG_PEER_UPDATE_ONLY)
			emit(o, "update_only=true\n");
		if ((peer->flags & WG_PEER_HAS_ENDPOINT) &&
		    (r = emit_endpoint(o, &peer->endpoint)) < 0)
			return r;
		if (peer->flags & WG_PEER_HAS_KEEPALIVE)
			emit(o, "persistent_keepalive_interval=%u\n", peer->persistent_keepalive);
		/* Before the allowed_ip lines, or it would drop them. */
		if (peer->flags & WG_PEER_REPLACE_ALLOWEDIPS)
			emit(o, "replace_allowed_ips=true\n");
		for (size_t j = 0; j < peer->n_allowedips; j++)
			if ((r = emit_allowedip(o, &peer->allowedips[j])) < 0)
				return r;
	}
	emit(o, "\n");
	return 0;
}

int wg_uapi_format_set(const struct wg_device *dev, char **out, size_t *len)
{
	struct out o = { 0 };
	int r;

	*out = NULL;
	*len = 0;
	if ((r = emit_set(&o, dev)) < 0)
		return r;
	o.cap = o.len + 1;
	o.len = 0;
	if ((o.p = malloc(o.cap)) == NULL)
		return -ENOMEM;
	emit_set(&o, dev);
	*out = o.p;
	*len = o.len;
	return 0;
}

/* ---- Reading replies ---------------------------------------------------------------- */

/* Decimal digits only (no sign, no space), at most max. */
static int parse_u64(const char *s, uint64_t max, uint64_t *v)
{
	uint64_t n = 0;

	if (*s == '\0')
		return -EBADMSG;
	for (; *s != '\0'; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (d > 9 || n > (max - d) / 10)
			return -EBADMSG;
		n = n * 10 + d;
	}
	*v = n;
	return 0;
}

/* "errno=N": wireguard-go writes N negative (-22), the protocol text positive; both
 * mean -|N| to us. */
static int parse_errno(const char *s, int *err)
{
	uint64_t v;
	int r;

	if ((r = parse_u64(s[0] == '-' ? s + 1 : s, ERRNO_MAX, &v)) < 0)
		return r;
	*err = -(int)v;
	return 0;
}

/* Exactly 64 hex digits (wg accepts either case; implementations write lowercase). */
static int parse_key(const char *s, uint8_t key[WG_KEY_LEN])
{
	size_t n = strlen(s);

	if (n != HEX_KEY_LEN || strspn(s, "0123456789abcdefABCDEF") != n)
		return -EBADMSG;
	if (sodium_hex2bin(key, WG_KEY_LEN, s, n, NULL, NULL, NULL) != 0)
		return -EBADMSG;
	return 0;
}

static int parse_port(const char *s, uint16_t *port)
{
	uint64_t v;

	if (parse_u64(s, UINT16_MAX, &v) < 0)
		return -EBADMSG;
	*port = (uint16_t)v;
	return 0;
}

/* IP:PORT or [IPv6]:PORT or [IPv6%zone]:PORT, numeric only (a reply never holds names). */
static int parse_endpoint(char *s, struct sockaddr_storage *ss)
{
	char *host = s, *port, *zone;
	uint16_t p;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			return -EBADMSG;
		*close = '\0';
		host = s + 1;
		port = close + 2;
		if ((zone = strchr(host, '%')) != NULL) {
			uint64_t index;

			*zone++ = '\0';
			if (parse_u64(zone, UINT32_MAX, &index) == 0)
				sin6->sin6_scope_id = (uint32_t)index;
			else if ((sin6->sin6_scope_id = if_nametoindex(zone)) == 0)
				return -EBADMSG;
		}
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1 || parse_port(port, &p) < 0)
			return -EBADMSG;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(p);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		if ((port = strchr(s, ':')) == NULL)
			return -EBADMSG;
		*port++ = '\0';
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1 || parse_port(port, &p) < 0)
			return -EBADMSG;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(p);
	}
	return 0;
}

/* ADDR/CIDR; host bits are accepted, as wg and wireguard-go accept them. */
static int parse_allowedip(char *s, struct wg_peer *peer)
{
	char *slash = strchr(s, '/');
	uint8_t addr[16];
	uint8_t family;
	uint64_t cidr;

	if (slash == NULL)
		return -EBADMSG;
	*slash = '\0';
	family = strchr(s, ':') != NULL ? AF_INET6 : AF_INET;
	if (inet_pton(family, s, addr) != 1 ||
	    parse_u64(slash + 1, family == AF_INET ? 32 : 128, &cidr) < 0)
		return -EBADMSG;
	if (wg_peer_add_allowedip(peer, family, addr, (uint8_t)cidr) == NULL)
		return -ENOMEM;
	return 0;
}

/* One key=value line of a get reply (dev != NULL) or of a set reply (dev == NULL: only
 * errno counts). *peer is the peer the lines belong to, NULL before the first public_key. */
static int parse_line(char *key, char *value, struct wg_device *dev, struct wg_peer **peer,
		      int *err, bool *have_errno)
{
	uint8_t k[WG_KEY_LEN];
	uint64_t v;
	int r = 0;

	if (strcmp(key, "errno") == 0) {
		if ((r = parse_errno(value, err)) == 0)
			*have_errno = true;
		return r;
	}
	if (dev == NULL)
		return 0;

	/* Device keys come before the first peer. */
	if (strcmp(key, "private_key") == 0 || strcmp(key, "listen_port") == 0 ||
	    strcmp(key, "fwmark") == 0 || strcmp(key, "replace_peers") == 0) {
		if (*peer != NULL)
			return -EBADMSG;
		if (strcmp(key, "private_key") == 0) {
			if ((r = parse_key(value, dev->private_key)) < 0)
				return r;
			/* wireguard-go does not send it; X25519 of the private key is it. */
			crypto_scalarmult_curve25519_base(dev->public_key, dev->private_key);
			dev->flags |= WG_DEVICE_HAS_PRIVATE_KEY;
		} else if (strcmp(key, "listen_port") == 0) {
			if ((r = parse_port(value, &dev->listen_port)) < 0)
				return r;
			dev->flags |= WG_DEVICE_HAS_LISTEN_PORT;
		} else if (strcmp(key, "fwmark") == 0) {
			if ((r = parse_u64(value, UINT32_MAX, &v)) < 0)
				return r;
			dev->fwmark = (uint32_t)v;
			dev->flags |= WG_DEVICE_HAS_FWMARK;
		}
		return 0; /* replace_peers: a set request's word, nothing to keep */
	}
	if (strcmp(key, "public_key") == 0) {
		if ((r = parse_key(value, k)) < 0)
			return r;
		if ((*peer = wg_device_add_peer(dev, k)) == NULL)
			return -ENOMEM;
		return 0;
	}

	/* Peer keys: only after the peer's public_key. */
	if (strcmp(key, "endpoint") == 0) {
		if (*peer == NULL || (r = parse_endpoint(value, &(*peer)->endpoint)) < 0)
			return -EBADMSG;
		(*peer)->flags |= WG_PEER_HAS_ENDPOINT;
	} else if (strcmp(key, "persistent_keepalive_interval") == 0) {
		if (*peer == NULL || parse_port(value, &(*peer)->persistent_keepalive) < 0)
			return -EBADMSG;
		(*peer)->flags |= WG_PEER_HAS_KEEPALIVE;
	} else if (strcmp(key, "allowed_ip") == 0) {
		if (*peer == NULL)
			return -EBADMSG;
		return parse_allowedip(value, *peer);
	} else if (strcmp(key, "last_handshake_time_sec") == 0) {
		if (*peer == NULL || parse_u64(value, INT64_MAX, &v) < 0)
			return -EBADMSG;
		(*peer)->last_handshake_sec = (int64_t)v;
	} else if (strcmp(key, "last_handshake_time_nsec") == 0) {
		if (*peer == NULL || parse_u64(value, 999999999, &v) < 0)
			return -EBADMSG;
	} else if (strcmp(key, "rx_bytes") == 0) {
		if (*peer == NULL || parse_u64(value, UINT64_MAX, &(*peer)->rx_bytes) < 0)
			return -EBADMSG;
	} else if (strcmp(key, "tx_bytes") == 0) {
		if (*peer == NULL || parse_u64(value, UINT64_MAX, &(*peer)->tx_bytes) < 0)
			return -EBADMSG;
	} else if (strcmp(key, "preshared_key") == 0) {
		/* Checked, not kept: meshname uses none, and a secret is best not copied. */
		r = *peer == NULL ? -EBADMSG : parse_key(value, k);
	} else if (strcmp(key, "protocol_version") == 0) {
		if (*peer == NULL || parse_u64(value, UINT32_MAX, &v) < 0)
			return -EBADMSG;
	} else if (strcmp(key, "remove") == 0 || strcmp(key, "update_only") == 0 ||
		   strcmp(key, "replace_allowed_ips") == 0) {
		/* A set request's words: nothing to keep, but they belong to a peer too. */
		if (*peer == NULL)
			return -EBADMSG;
	}
	/* Any other key: a newer implementation's addition, ignored. */
	sodium_memzero(k, sizeof(k));
	return r;
}

/* Lines up to "errno=N", then one empty line that ends the text. */
static int parse_reply(const char *text, size_t len, struct wg_device *dev)
{
	char line[LINE_MAX_LEN + 1];
	struct wg_peer *peer = NULL;
	bool have_errno = false, ended = false;
	size_t pos = 0;
	int err = 0, r = 0;

	while (pos < len) {
		const char *start = text + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t n;
		char *eq;

		if (nl == NULL || ended) {
			r = -EBADMSG; /* a line cut short, or bytes after the end */
			goto out;
		}
		n = (size_t)(nl - start);
		pos += n + 1;
		if (n == 0) {
			if (!have_errno) {
				r = -EBADMSG;
				goto out;
			}
			ended = true;
			continue;
		}
		if (have_errno || n > LINE_MAX_LEN || memchr(start, '\0', n) != NULL) {
			r = -EBADMSG; /* errno is the last line */
			goto out;
		}
		memcpy(line, start, n);
		line[n] = '\0';
		if ((eq = strchr(line, '=')) == NULL || eq == line) {
			r = -EBADMSG;
			goto out;
		}
		*eq = '\0';
		if ((r = parse_line(line, eq + 1, dev, &peer, &err, &have_errno)) < 0)
			goto out;
	}
	r = ended ? err : -EBADMSG;
out:
	sodium_memzero(line, sizeof(line)); /* it may have held the private key */
	if (r < 0 && dev != NULL)
		wg_device_clear(dev);
	return r;
}

int wg_uapi_parse_get(const char *text, size_t len, struct wg_device *dev)
{
	wg_device_clear(dev);
	return parse_reply(text, len, dev);
}

int wg_uapi_parse_set_reply(const char *text, size_t len)
{
	return parse_reply(text, len, NULL);
}

/* ---- The client --------------------------------------------------------------------- */

int wg_uapi_path(const char *dir, const char *ifname, char *out, size_t size)
{
	size_t n = strlen(ifname);
	int w;

	if (n == 0 || n >= WG_IFNAME_MAX || strchr(ifname, '/') != NULL ||
	    strcmp(ifname, ".") == 0 || strcmp(ifname, "..") == 0)
		return -EINVAL;
	w = snprintf(out, size, "%s/%s.sock", dir, ifname);
	if (w < 0 || (size_t)w >= size)
		return -ENAMETOOLONG;
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A bigger buffer for a reply that may hold the private key: the old one is wiped. */
static int grow_secret(char **buf, size_t *cap, size_t len)
{
	size_t bigger = *cap < 4096 ? 4096 : *cap * 2;
	char *p;

	if (bigger > REPLY_MAX + 1)
		bigger = REPLY_MAX + 1;
	if (bigger <= *cap)
		return -EMSGSIZE;
	if ((p = malloc(bigger)) == NULL)
		return -ENOMEM;
	if (*buf != NULL) {
		memcpy(p, *buf, len);
		sodium_memzero(*buf, *cap);
		free(*buf);
	}
	*buf = p;
	*cap = bigger;
	return 0;
}

/*
 * Connects to dir/ifname.sock without waiting on a full backlog for longer than the
 * deadline. Unix sockets refuse at once when nobody listens (a stale socket file).
 */
static int connect_uapi(const char *dir, const char *ifname, int64_t deadline)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, r;

	if ((r = wg_uapi_path(dir, ifname, sun.sun_path, sizeof(sun.sun_path))) < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	while (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		struct timespec pause = { 0, 5 * 1000 * 1000 };

		if (errno == EINTR)
			continue;
		if (errno != EAGAIN || now_ms() >= deadline) {
			r = errno == EAGAIN ? -ETIMEDOUT : -errno;
			close(fd);
			return r;
		}
		nanosleep(&pause, NULL); /* the listener's backlog is full: a moment */
	}
	return fd;
}

/* The reply ends at the first empty line (after errno=N), or when the peer closes. */
static bool reply_complete(const char *buf, size_t len, size_t *end)
{
	const char *p;

	if (len > 0 && buf[0] == '\n') {
		*end = 1;
		return true;
	}
	p = len >= 2 ? memmem(buf, len, "\n\n", 2) : NULL;
	if (p == NULL)
		return false;
	*end = (size_t)(p - buf) + 2;
	return true;
}

/*
 * Sends request and reads the reply into *reply (caller wipes and frees, also on
 * error). Reads while writing: an implementation may answer an early error before it
 * has read everything, and then close.
 */
static int exchange(const char *dir, const char *ifname, int timeout_ms, const char *request,
		    size_t request_len, char **reply, size_t *reply_len, size_t *reply_cap)
{
	int64_t deadline;
	size_t sent = 0, end;
	bool eof = false;
	int fd, r = 0;

	*reply = NULL;
	*reply_len = *reply_cap = 0;
	if (timeout_ms <= 0)
		return -EINVAL;
	deadline = now_ms() + timeout_ms;
	if ((fd = connect_uapi(dir, ifname, deadline)) < 0)
		return fd;
	while (!eof && !reply_complete(*reply, *reply_len, &end)) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - now_ms();
		ssize_t n;

		if (sent < request_len)
			pfd.events |= POLLOUT;
		if (left <= 0) {
			r = -ETIMEDOUT;
			goto out;
		}
		n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			if (*reply_len + 1 >= *reply_cap &&
			    (r = grow_secret(reply, reply_cap, *reply_len)) < 0)
				goto out;
			n = recv(fd, *reply + *reply_len, *reply_cap - *reply_len - 1, 0);
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				r = -errno;
				goto out;
			}
			if (n == 0)
				eof = true;
			if (n > 0)
				*reply_len += (size_t)n;
		} else if (pfd.revents & POLLOUT) {
			n = send(fd, request + sent, request_len - sent, MSG_NOSIGNAL);
			if (n < 0 && errno == EPIPE)
				sent = request_len; /* closed early: what it said is still to read */
			else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				r = -errno;
				goto out;
			} else if (n > 0) {
				sent += (size_t)n;
			}
		}
	}
	if (reply_complete(*reply, *reply_len, &end))
		*reply_len = end; /* anything after the empty line is not ours */
	else if (*reply_len == 0)
		r = -ECONNRESET; /* closed without a word: it did not understand the request */
out:
	close(fd);
	return r;
}

static void free_secret(char *buf, size_t cap)
{
	if (buf != NULL)
		sodium_memzero(buf, cap);
	free(buf);
}

int wg_uapi_get(const char *dir, const char *ifname, int timeout_ms, struct wg_device *dev)
{
	static const char request[] = "get=1\n\n";
	size_t len, cap;
	char *reply;
	int r;

	wg_device_clear(dev);
	r = exchange(dir, ifname, timeout_ms, request, sizeof(request) - 1, &reply, &len, &cap);
	if (r == 0)
		r = wg_uapi_parse_get(reply, len, dev);
	if (r == 0)
		snprintf(dev->name, sizeof(dev->name), "%s", ifname); /* wg_uapi_path checked it */
	free_secret(reply, cap);
	return r;
}

int wg_uapi_set(const char *dir, const char *ifname, int timeout_ms, const struct wg_device *dev)
{
	char *request, *reply = NULL;
	size_t request_len, len, cap = 0;
	int r;

	if ((r = wg_uapi_format_set(dev, &request, &request_len)) < 0)
		return r;
	r = exchange(dir, ifname, timeout_ms, request, request_len, &reply, &len, &cap);
	if (r == 0)
		r = wg_uapi_parse_set_reply(reply, len);
	free_secret(request, request_len + 1);
	free_secret(reply, cap);
	return r;
}
