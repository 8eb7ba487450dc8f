/*
 * config.c: parses meshnamed.conf(5) into a struct config, line by line, and prints a
 * config back in the same syntax. Owns only the syntax and the checks of values: it never
 * logs, never exits, never resolves names or groups, never opens anything but the file
 * config_load is given. Every line comes from a file the admin wrote, but the parser is
 * fuzzed as if it came from anyone: it must never read outside [line, line + len).
 *
 * A line is `keyword value [# comment]`: words split on spaces and tabs, a word that
 * begins with '#' starts a comment, so a '#' inside a value is kept. One value per line;
 * values never contain whitespace, which is what makes config_print's output parse back
 * into the same config.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "daemon/config.h"

#define DEFAULT_DNS_PORT 53
#define DEFAULT_TTL 30
#define DEFAULT_NEGATIVE_TTL 5
#define DEFAULT_CACHE_SIZE 10000
#define DEFAULT_LISTEN_PORT 51820
#define TTL_MAX 86400           /* one day: mesh answers must stay fresh */
#define CACHE_SIZE_MAX 10000000 /* bounds the resolver's memory */
#define QUOTE_MAX 64            /* bytes of a user's word quoted in a message */
#define CONTROL_PATH_MAX (sizeof(((struct sockaddr_un *)NULL)->sun_path))
#define DNS_NAME_MAX 253 /* RFC 1035 2.3.4, as text without the final dot */
#define DNS_LABEL_MAX 63

struct config_parser;
typedef int (*keyword_fn)(struct config_parser *p, const char *kw, char *value);

struct keyword {
	const char *name;
	keyword_fn parse;
	bool repeatable;
};

enum {
	KW_STATE,
	KW_CONTROL,
	KW_CONTROL_GROUP,
	KW_LISTEN,
	KW_LISTEN_MESH,
	KW_UPSTREAM,
	KW_FORWARD,
	KW_TTL,
	KW_NEGATIVE_TTL,
	KW_CACHE_SIZE,
	KW_SERVE_STALE,
	KW_RESOLVED,
	KW_INTERFACE,
	KW_MANAGE,
	KW_ON_EXIT,
	KW_USERSPACE,
	KW_ENDPOINT,
	KW_LISTEN_PORT,
	KW_PUBLISH_ENDPOINTS,
	KW_LAN_PREFIX,
	KW_SYNC,
	KW_SYNC_PORT,
	KW_SYNC_BEACON,
	KW_COUNT
};

struct config_parser {
	char *filename;
	struct config *cfg;           /* NULL once handed out by config_parser_finish */
	unsigned long line;           /* number of the line being parsed, from 1 */
	unsigned long seen[KW_COUNT]; /* line a keyword first appeared on, 0 = never */
	int error;                    /* first error, sticky */
	char errmsg[CONFIG_ERROR_MAX];
};

/* ---- messages ---------------------------------------------------------------------- */

static int fail_at(struct config_parser *p, unsigned long line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records "file:line: message" as the parser's error; returns -EINVAL. A long file name
 * cuts the message short, which still leaves one line. */
static int fail_at(struct config_parser *p, unsigned long line, const char *fmt, ...)
{
	size_t size = sizeof(p->errmsg), n;
	va_list ap;
	int w;

	w = snprintf(p->errmsg, size, "%s:%lu: ", p->filename, line);
	n = w < 0 ? 0 : (size_t)w >= size ? size - 1 : (size_t)w;
	va_start(ap, fmt);
	vsnprintf(p->errmsg + n, size - n, fmt, ap);
	va_end(ap);
	p->error = -EINVAL;
	return p->error;
}

/* A user's word for a message: at most QUOTE_MAX bytes, "..." when cut. The parser has
 * refused control characters before any word reaches a message. */
static const char *quote(char buf[QUOTE_MAX + 4], const char *s)
{
	size_t n = strlen(s);

	if (n <= QUOTE_MAX)
		return s;
	memcpy(buf, s, QUOTE_MAX);
	memcpy(buf + QUOTE_MAX, "...", 4);
	return buf;
}

/* ---- values ------------------------------------------------------------------------ */

static bool is_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* Digits only (strtoul alone takes spaces, signs and "0x"), all of them, within range. */
static bool parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	unsigned long v;
	char *end;

	if (!is_digits(s))
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static int set_number(struct config_parser *p, const char *kw, const char *value, unsigned long min,
		      unsigned long max, uint32_t *out)
{
	char q[QUOTE_MAX + 4];
	unsigned long v;

	if (!parse_ulong(value, min, max, &v))
		return fail_at(p, p->line, "%s must be a number from %lu to %lu, not \"%s\"", kw,
			       min, max, quote(q, value));
	*out = (uint32_t)v;
	return 0;
}

static int set_bool(struct config_parser *p, const char *kw, const char *value, bool *out)
{
	char q[QUOTE_MAX + 4];

	if (strcmp(value, "yes") == 0)
		*out = true;
	else if (strcmp(value, "no") == 0)
		*out = false;
	else
		return fail_at(p, p->line, "%s must be yes or no, not \"%s\"", kw, quote(q, value));
	return 0;
}

static int set_string(struct config_parser *p, const char *kw, const char *value, char *dst,
		      size_t size)
{
	if ((size_t)snprintf(dst, size, "%s", value) >= size)
		return fail_at(p, p->line, "%s is too long (at most %zu bytes)", kw, size - 1);
	return 0;
}

static int set_absolute_path(struct config_parser *p, const char *kw, const char *value, char *dst,
			     size_t size)
{
	char q[QUOTE_MAX + 4];

	/* The daemon runs from "/", so a relative path would not mean what it says. */
	if (value[0] != '/')
		return fail_at(p, p->line, "%s must be an absolute path, not \"%s\"", kw,
			       quote(q, value));
	return set_string(p, kw, value, dst, size);
}

/*
 * Splits "HOST", "HOST:PORT", "[HOST]", "[HOST]:PORT" and a bare IPv6 address (more than
 * one ':', so no port) in place. *port is NULL when there is none. Returns false on a
 * malformed bracket or an empty part.
 */
static bool split_host_port(char *s, char **host, char **port, bool *bracketed)
{
	char *colon;

	*port = NULL;
	*bracketed = s[0] == '[';
	if (*bracketed) {
		char *close = strchr(s, ']');

		if (close == NULL || close == s + 1)
			return false;
		*close = '\0';
		*host = s + 1;
		if (close[1] == ':')
			*port = close + 2;
		else if (close[1] != '\0')
			return false;
	} else {
		*host = s;
		colon = strchr(s, ':');
		if (colon != NULL && strchr(colon + 1, ':') == NULL) {
			*colon = '\0';
			*port = colon + 1;
		}
	}
	return **host != '\0' && (*port == NULL || **port != '\0');
}

static bool parse_port(const char *s, uint16_t *out)
{
	unsigned long v;

	if (!parse_ulong(s, 1, 65535, &v))
		return false;
	*out = (uint16_t)v;
	return true;
}

static bool is_wildcard(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

static bool addr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a;
		const struct sockaddr_in *y = (const struct sockaddr_in *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
	const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;

	return x->sin6_port == y->sin6_port &&
	       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

/* "ADDR[:PORT]" with an IP address (never a name: the resolver must not need itself to
 * start); port 53 when none is given. */
static int parse_addr(struct config_parser *p, const char *kw, char *value,
		      struct sockaddr_storage *out)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)out;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
	char written[CONFIG_LINE_MAX + 1], q[QUOTE_MAX + 4];
	char *host, *port_str;
	uint16_t port = DEFAULT_DNS_PORT;
	bool bracketed;

	snprintf(written, sizeof(written), "%s", value);
	memset(out, 0, sizeof(*out));
	if (!split_host_port(value, &host, &port_str, &bracketed))
		goto bad;
	if (port_str != NULL && !parse_port(port_str, &port))
		return fail_at(p, p->line, "%s: invalid port \"%s\" in \"%s\" (1 to 65535)", kw,
			       port_str, quote(q, written));

	if (!bracketed && inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		return 0;
	}
	if ((bracketed || strchr(host, ':') != NULL) &&
	    inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		return 0;
	}
bad:
	return fail_at(p, p->line,
		       "%s: invalid address \"%s\" (an IPv4 or IPv6 address, optionally with a "
		       "port: 192.0.2.1:53, [2001:db8::1]:53)",
		       kw, quote(q, written));
}

static int add_addr(struct config_parser *p, const char *kw, char *value,
		    struct sockaddr_storage *list, size_t *n, size_t max)
{
	struct sockaddr_storage ss;
	char text[CONFIG_ADDR_STRLEN];
	int r;

	if (*n == max)
		return fail_at(p, p->line, "too many %s addresses (at most %zu)", kw, max);
	r = parse_addr(p, kw, value, &ss);
	if (r < 0)
		return r;
	for (size_t i = 0; i < *n; i++)
		if (addr_equal(&list[i], &ss))
			return fail_at(p, p->line, "duplicate %s address %s", kw,
				       config_addr_str(&ss, text, sizeof(text)));
	list[(*n)++] = ss;
	return 0;
}

/* A DNS host name: LDH labels of 1 to 63 bytes, 253 bytes at most, and a last label that
 * is not all digits (RFC 3696 section 2), so that "192.0.2" is not taken for a name. */
static bool is_host_name(const char *s)
{
	size_t len = strlen(s), label = 0;
	const char *last = s;

	if (len == 0 || len > DNS_NAME_MAX)
		return false;
	for (const char *c = s;; c++) {
		if (*c == '.' || *c == '\0') {
			if (label == 0 || c[-1] == '-')
				return false;
			if (*c == '\0')
				break;
			label = 0;
			last = c + 1;
			continue;
		}
		bool ldh = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			   (*c >= '0' && *c <= '9') || *c == '-';

		if (!ldh || (label == 0 && *c == '-') || ++label > DNS_LABEL_MAX)
			return false;
	}
	return !is_digits(last);
}

/* ---- keywords ---------------------------------------------------------------------- */

static int kw_state(struct config_parser *p, const char *kw, char *value)
{
	return set_absolute_path(p, kw, value, p->cfg->state, sizeof(p->cfg->state));
}

static int kw_control(struct config_parser *p, const char *kw, char *value)
{
	if (value[0] == '/' && strlen(value) >= CONTROL_PATH_MAX)
		return fail_at(p, p->line, "%s: a socket path has at most %zu bytes", kw,
			       CONTROL_PATH_MAX - 1);
	return set_absolute_path(p, kw, value, p->cfg->control, sizeof(p->cfg->control));
}

static int kw_control_group(struct config_parser *p, const char *kw, char *value)
{
	char q[QUOTE_MAX + 4];
	unsigned long gid;

	/* Only what cannot be a group anywhere: the daemon looks the name up itself. */
	if (value[0] == '-' || strchr(value, ':') != NULL || strchr(value, ',') != NULL ||
	    strchr(value, '/') != NULL ||
	    (is_digits(value) && !parse_ulong(value, 0, UINT32_MAX - 1, &gid)))
		return fail_at(p, p->line, "%s: invalid group \"%s\"", kw, quote(q, value));
	return set_string(p, kw, value, p->cfg->control_group, sizeof(p->cfg->control_group));
}

static int kw_listen(struct config_parser *p, const char *kw, char *value)
{
	/* The first listen replaces the default listener. */
	if (p->seen[KW_LISTEN] == p->line)
		p->cfg->n_listen = 0;
	return add_addr(p, kw, value, p->cfg->listen, &p->cfg->n_listen, CONFIG_MAX_LISTEN);
}

static int kw_listen_mesh(struct config_parser *p, const char *kw, char *value)
{
	return set_bool(p, kw, value, &p->cfg->listen_mesh);
}

static int kw_upstream(struct config_parser *p, const char *kw, char *value)
{
	struct config *cfg = p->cfg;
	char text[CONFIG_ADDR_STRLEN];
	int r;

	r = add_addr(p, kw, value, cfg->upstream, &cfg->n_upstream, CONFIG_MAX_UPSTREAM);
	if (r < 0)
		return r;
	if (is_wildcard(&cfg->upstream[cfg->n_upstream - 1])) {
		cfg->n_upstream--;
		return fail_at(p, p->line, "upstream %s is a wildcard address, not a server",
			       config_addr_str(&cfg->upstream[cfg->n_upstream], text,
					       sizeof(text)));
	}
	return 0;
}

static int kw_forward(struct config_parser *p, const char *kw, char *value)
{
	return set_bool(p, kw, value, &p->cfg->forward);
}

static int kw_ttl(struct config_parser *p, const char *kw, char *value)
{
	return set_number(p, kw, value, 1, TTL_MAX, &p->cfg->ttl);
}

static int kw_negative_ttl(struct config_parser *p, const char *kw, char *value)
{
	return set_number(p, kw, value, 0, TTL_MAX, &p->cfg->negative_ttl);
}

static int kw_cache_size(struct config_parser *p, const char *kw, char *value)
{
	return set_number(p, kw, value, 0, CACHE_SIZE_MAX, &p->cfg->cache_size);
}

static int kw_serve_stale(struct config_parser *p, const char *kw, char *value)
{
	return set_bool(p, kw, value, &p->cfg->serve_stale);
}

/* What Linux accepts as a device name (dev_valid_name in net/core/dev.c). */
static int kw_interface(struct config_parser *p, const char *kw, char *value)
{
	char q[QUOTE_MAX + 4];

	if (strlen(value) >= CONFIG_IFNAME_MAX || strcmp(value, ".") == 0 ||
	    strcmp(value, "..") == 0 || strchr(value, '/') != NULL || strchr(value, ':') != NULL)
		return fail_at(p, p->line,
			       "%s: invalid interface name \"%s\" (1 to %d bytes, no '/' or ':')",
			       kw, quote(q, value), CONFIG_IFNAME_MAX - 1);
	return set_string(p, kw, value, p->cfg->interface, sizeof(p->cfg->interface));
}

static int kw_manage(struct config_parser *p, const char *kw, char *value)
{
	char q[QUOTE_MAX + 4];

	if (strcmp(value, "yes") == 0)
		p->cfg->manage = CONFIG_MANAGE_YES;
	else if (strcmp(value, "peers") == 0)
		p->cfg->manage = CONFIG_MANAGE_PEERS;
	else if (strcmp(value, "no") == 0)
		p->cfg->manage = CONFIG_MANAGE_NO;
	else
		return fail_at(p, p->line, "%s must be yes, peers or no, not \"%s\"", kw,
			       quote(q, value));
	return 0;
}

static int kw_resolved(struct config_parser *p, const char *kw, char *value)
{
	char q[QUOTE_MAX + 4];

	if (strcmp(value, "auto") == 0)
		p->cfg->resolved = CONFIG_RESOLVED_AUTO;
	else if (strcmp(value, "yes") == 0)
		p->cfg->resolved = CONFIG_RESOLVED_YES;
	else if (strcmp(value, "no") == 0)
		p->cfg->resolved = CONFIG_RESOLVED_NO;
	else
		return fail_at(p, p->line, "%s must be auto, yes or no, not \"%s\"", kw,
			       quote(q, value));
	return 0;
}

static int kw_on_exit(struct config_parser *p, const char *kw, char *value)
{
	char q[QUOTE_MAX + 4];

	if (strcmp(value, "keep") == 0)
		p->cfg->on_exit = CONFIG_ON_EXIT_KEEP;
	else if (strcmp(value, "remove") == 0)
		p->cfg->on_exit = CONFIG_ON_EXIT_REMOVE;
	else
		return fail_at(p, p->line, "%s must be keep or remove, not \"%s\"", kw,
			       quote(q, value));
	return 0;
}

static int kw_userspace(struct config_parser *p, const char *kw, char *value)
{
	char q[QUOTE_MAX + 4];

	/* A bare name is looked up in $PATH; "bin/wireguard-go" would depend on the cwd. */
	if (value[0] != '/' && strchr(value, '/') != NULL)
		return fail_at(p, p->line,
			       "%s must be an absolute path or a command name, not \"%s\"", kw,
			       quote(q, value));
	return set_string(p, kw, value, p->cfg->userspace, sizeof(p->cfg->userspace));
}

/* Literal addresses are stored in inet_ntop's form and names as written, so that two
 * spellings of one endpoint are seen as duplicates (names compared without case). */
static int kw_endpoint(struct config_parser *p, const char *kw, char *value)
{
	struct config *cfg = p->cfg;
	struct config_endpoint ep = { .port = 0 };
	char written[CONFIG_LINE_MAX + 1], q[QUOTE_MAX + 4];
	char *host, *port_str;
	unsigned char addr[sizeof(struct in6_addr)];
	bool bracketed;

	if (cfg->n_endpoint == CONFIG_MAX_ENDPOINT)
		return fail_at(p, p->line, "too many %s entries (at most %d)", kw,
			       CONFIG_MAX_ENDPOINT);
	snprintf(written, sizeof(written), "%s", value);
	if (!split_host_port(value, &host, &port_str, &bracketed))
		goto bad;
	if (port_str == NULL)
		return fail_at(p, p->line, "%s \"%s\" needs a port (HOST:PORT or [IPv6]:PORT)", kw,
			       quote(q, written));
	if (!parse_port(port_str, &ep.port))
		return fail_at(p, p->line, "%s: invalid port \"%s\" in \"%s\" (1 to 65535)", kw,
			       port_str, quote(q, written));
	if (bracketed) {
		if (inet_pton(AF_INET6, host, addr) != 1)
			goto bad;
		inet_ntop(AF_INET6, addr, ep.host, sizeof(ep.host));
	} else if (inet_pton(AF_INET, host, addr) == 1) {
		inet_ntop(AF_INET, addr, ep.host, sizeof(ep.host));
	} else if (is_host_name(host)) {
		memcpy(ep.host, host, strlen(host) + 1); /* at most DNS_NAME_MAX bytes */
	} else {
		goto bad;
	}
	for (size_t i = 0; i < cfg->n_endpoint; i++)
		if (cfg->endpoint[i].port == ep.port &&
		    strcasecmp(cfg->endpoint[i].host, ep.host) == 0)
			return fail_at(p, p->line, "duplicate %s %s", kw, quote(q, written));
	cfg->endpoint[cfg->n_endpoint++] = ep;
	return 0;
bad:
	return fail_at(p, p->line,
		       "%s: invalid endpoint \"%s\" (HOST:PORT with an IPv4 address, a DNS name "
		       "or [IPv6])",
		       kw, quote(q, written));
}

static int kw_listen_port(struct config_parser *p, const char *kw, char *value)
{
	char q[QUOTE_MAX + 4];

	if (!parse_port(value, &p->cfg->listen_port))
		return fail_at(p, p->line, "%s must be a number from 1 to 65535, not \"%s\"", kw,
			       quote(q, value));
	return 0;
}

static int kw_publish_endpoints(struct config_parser *p, const char *kw, char *value)
{
	return set_bool(p, kw, value, &p->cfg->publish_endpoints);
}

/* "ADDR/LEN"; host bits must be zero, so that the prefix means what it says. */
static int kw_lan_prefix(struct config_parser *p, const char *kw, char *value)
{
	struct config *cfg = p->cfg;
	struct config_prefix pf = { .family = AF_INET };
	char written[CONFIG_LINE_MAX + 1], q[QUOTE_MAX + 4];
	char *slash = strchr(value, '/');
	unsigned long len, max;

	if (cfg->n_lan_prefix == CONFIG_MAX_LAN_PREFIX)
		return fail_at(p, p->line, "too many %s entries (at most %d)", kw,
			       CONFIG_MAX_LAN_PREFIX);
	snprintf(written, sizeof(written), "%s", value);
	if (slash == NULL)
		goto bad;
	*slash = '\0';
	if (inet_pton(AF_INET, value, pf.addr) != 1) {
		if (inet_pton(AF_INET6, value, pf.addr) != 1)
			goto bad;
		pf.family = AF_INET6;
	}
	max = pf.family == AF_INET ? 32 : 128;
	if (!parse_ulong(slash + 1, 0, max, &len))
		goto bad;
	pf.len = (uint8_t)len;
	for (unsigned i = pf.len; i < max; i++)
		if (pf.addr[i / 8] & (0x80u >> (i % 8)))
			return fail_at(p, p->line,
				       "%s %s has bits set after the prefix length (write the "
				       "network address)",
				       kw, quote(q, written));
	for (size_t i = 0; i < cfg->n_lan_prefix; i++)
		if (memcmp(&cfg->lan_prefix[i], &pf, sizeof(pf)) == 0)
			return fail_at(p, p->line, "duplicate %s %s", kw, quote(q, written));
	cfg->lan_prefix[cfg->n_lan_prefix++] = pf;
	return 0;
bad:
	return fail_at(p, p->line,
		       "%s: invalid prefix \"%s\" (ADDRESS/LENGTH: 198.51.100.0/24, "
		       "2001:db8:1::/48)",
		       kw, quote(q, written));
}

static int kw_sync(struct config_parser *p, const char *kw, char *value)
{
	return set_bool(p, kw, value, &p->cfg->sync);
}

static int kw_sync_port(struct config_parser *p, const char *kw, char *value)
{
	char q[QUOTE_MAX + 4];

	if (!parse_port(value, &p->cfg->sync_port))
		return fail_at(p, p->line, "%s must be a number from 1 to 65535, not \"%s\"", kw,
			       quote(q, value));
	return 0;
}

static int kw_sync_beacon(struct config_parser *p, const char *kw, char *value)
{
	return set_bool(p, kw, value, &p->cfg->sync_beacon);
}

/* Indexed by KW_*; also the order config_print writes. */
static const struct keyword keywords[KW_COUNT] = {
	[KW_STATE] = { "state", kw_state, false },
	[KW_CONTROL] = { "control", kw_control, false },
	[KW_CONTROL_GROUP] = { "control-group", kw_control_group, false },
	[KW_LISTEN] = { "listen", kw_listen, true },
	[KW_LISTEN_MESH] = { "listen-mesh", kw_listen_mesh, false },
	[KW_UPSTREAM] = { "upstream", kw_upstream, true },
	[KW_FORWARD] = { "forward", kw_forward, false },
	[KW_TTL] = { "ttl", kw_ttl, false },
	[KW_NEGATIVE_TTL] = { "negative-ttl", kw_negative_ttl, false },
	[KW_CACHE_SIZE] = { "cache-size", kw_cache_size, false },
	[KW_SERVE_STALE] = { "serve-stale", kw_serve_stale, false },
	[KW_RESOLVED] = { "resolved", kw_resolved, false },
	[KW_INTERFACE] = { "interface", kw_interface, false },
	[KW_MANAGE] = { "manage", kw_manage, false },
	[KW_ON_EXIT] = { "on-exit", kw_on_exit, false },
	[KW_USERSPACE] = { "userspace", kw_userspace, false },
	[KW_ENDPOINT] = { "endpoint", kw_endpoint, true },
	[KW_LISTEN_PORT] = { "listen-port", kw_listen_port, false },
	[KW_PUBLISH_ENDPOINTS] = { "publish-endpoints", kw_publish_endpoints, false },
	[KW_LAN_PREFIX] = { "lan-prefix", kw_lan_prefix, true },
	[KW_SYNC] = { "sync", kw_sync, false },
	[KW_SYNC_PORT] = { "sync-port", kw_sync_port, false },
	[KW_SYNC_BEACON] = { "sync-beacon", kw_sync_beacon, false },
};

/* ---- the parser -------------------------------------------------------------------- */

struct config *config_new_defaults(void)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	struct sockaddr_in *sin;

	if (cfg == NULL)
		return NULL;
	memcpy(cfg->state, CONFIG_DEFAULT_STATE, sizeof(CONFIG_DEFAULT_STATE));
	memcpy(cfg->control, CONFIG_DEFAULT_CONTROL, sizeof(CONFIG_DEFAULT_CONTROL));
	sin = (struct sockaddr_in *)&cfg->listen[0];
	sin->sin_family = AF_INET;
	sin->sin_port = htons(DEFAULT_DNS_PORT);
	inet_pton(AF_INET, CONFIG_DEFAULT_LISTEN, &sin->sin_addr);
	cfg->n_listen = 1;
	cfg->listen_mesh = true;
	cfg->forward = true;
	cfg->ttl = DEFAULT_TTL;
	cfg->negative_ttl = DEFAULT_NEGATIVE_TTL;
	cfg->cache_size = DEFAULT_CACHE_SIZE;
	cfg->serve_stale = true;
	cfg->resolved = CONFIG_RESOLVED_AUTO;
	memcpy(cfg->interface, CONFIG_DEFAULT_INTERFACE, sizeof(CONFIG_DEFAULT_INTERFACE));
	cfg->manage = CONFIG_MANAGE_YES;
	cfg->on_exit = CONFIG_ON_EXIT_KEEP;
	cfg->listen_port = DEFAULT_LISTEN_PORT;
	cfg->publish_endpoints = true;
	cfg->sync = true;
	cfg->sync_port = CONFIG_DEFAULT_SYNC_PORT;
	cfg->sync_beacon = true;
	return cfg;
}

void config_free(struct config *cfg)
{
	free(cfg);
}

struct config_parser *config_parser_new(const char *filename)
{
	struct config_parser *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->filename = strdup(filename != NULL ? filename : "-");
	p->cfg = config_new_defaults();
	if (p->filename == NULL || p->cfg == NULL) {
		config_parser_free(p);
		return NULL;
	}
	return p;
}

void config_parser_free(struct config_parser *p)
{
	if (p == NULL)
		return;
	config_free(p->cfg);
	free(p->filename);
	free(p);
}

const char *config_parser_error(const struct config_parser *p)
{
	return p->errmsg;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Cuts the next word out of *s in place; NULL at the end of the line or at a comment. */
static char *next_word(char **s)
{
	char *c = *s, *word;

	while (is_blank(*c))
		c++;
	if (*c == '\0' || *c == '#')
		return NULL;
	word = c;
	while (*c != '\0' && !is_blank(*c))
		c++;
	if (*c != '\0')
		*c++ = '\0';
	*s = c;
	return word;
}

int config_parser_line(struct config_parser *p, const char *line, size_t len)
{
	char buf[CONFIG_LINE_MAX + 1], q[QUOTE_MAX + 4];
	char *rest = buf, *kw, *value, *extra;
	const struct keyword *k = NULL;
	size_t i;

	if (p->error != 0)
		return p->error;
	if (p->cfg == NULL)
		return fail_at(p, p->line, "line given after the end of the file");
	p->line++;
	if (len > 0 && line[len - 1] == '\n')
		len--;
	/* Files edited on Windows end lines with "\r\n"; a '\r' anywhere else is refused. */
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len > CONFIG_LINE_MAX)
		return fail_at(p, p->line, "line too long (more than %d bytes)", CONFIG_LINE_MAX);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail_at(p, p->line, "control character 0x%02x in column %zu", c,
				       i + 1);
	}
	memcpy(buf, line, len);
	buf[len] = '\0';

	kw = next_word(&rest);
	if (kw == NULL)
		return 0; /* empty or comment */
	for (i = 0; i < KW_COUNT; i++) {
		if (strcmp(keywords[i].name, kw) == 0) {
			k = &keywords[i];
			break;
		}
	}
	if (k == NULL)
		return fail_at(p, p->line, "unknown keyword \"%s\"", quote(q, kw));
	value = next_word(&rest);
	if (value == NULL)
		return fail_at(p, p->line, "missing value for \"%s\"", kw);
	extra = next_word(&rest);
	if (extra != NULL)
		return fail_at(p, p->line, "unexpected \"%s\" after the value of \"%s\"",
			       quote(q, extra), kw);
	if (p->seen[i] != 0 && !k->repeatable)
		return fail_at(p, p->line, "duplicate keyword \"%s\" (first set on line %lu)", kw,
			       p->seen[i]);
	if (p->seen[i] == 0)
		p->seen[i] = p->line;
	return k->parse(p, kw, value);
}

/* The later of two keywords' lines, where a check between them is reported. */
static unsigned long later(const struct config_parser *p, int a, int b)
{
	return p->seen[a] > p->seen[b] ? p->seen[a] : p->seen[b];
}

static const char *manage_name(enum config_manage m)
{
	return m == CONFIG_MANAGE_YES ? "yes" : m == CONFIG_MANAGE_PEERS ? "peers" : "no";
}

int config_parser_finish(struct config_parser *p, struct config **out)
{
	struct config *cfg = p->cfg;

	*out = NULL;
	if (p->error != 0)
		return p->error;
	if (cfg == NULL)
		return fail_at(p, p->line, "the config was already handed out");
	if (!cfg->forward && cfg->n_upstream > 0)
		return fail_at(p, later(p, KW_FORWARD, KW_UPSTREAM),
			       "upstream is set (line %lu) but forward is no (line %lu)",
			       p->seen[KW_UPSTREAM], p->seen[KW_FORWARD]);
	if (cfg->cache_size == 0) {
		/* Without a cache there is nothing stale to serve: the default follows. */
		if (p->seen[KW_SERVE_STALE] != 0 && cfg->serve_stale)
			return fail_at(p, later(p, KW_SERVE_STALE, KW_CACHE_SIZE),
				       "serve-stale yes needs a cache, but cache-size is 0 "
				       "(line %lu)",
				       p->seen[KW_CACHE_SIZE]);
		cfg->serve_stale = false;
	}
	if (cfg->manage != CONFIG_MANAGE_YES) {
		/* Both only mean something when meshnamed owns the interface. */
		int kw = p->seen[KW_ON_EXIT] != 0   ? KW_ON_EXIT :
			 p->seen[KW_USERSPACE] != 0 ? KW_USERSPACE :
						      -1;

		if (kw >= 0)
			return fail_at(p, later(p, kw, KW_MANAGE),
				       "%s applies only with manage yes, but manage is %s (line "
				       "%lu)",
				       keywords[kw].name, manage_name(cfg->manage),
				       p->seen[KW_MANAGE]);
	}
	if (cfg->sync && cfg->sync_beacon && cfg->manage != CONFIG_MANAGE_NO &&
	    cfg->listen_port == cfg->sync_port)
		/* Both UDP: WireGuard could not bind its port, or the beacons theirs. */
		return fail_at(p, later(p, KW_LISTEN_PORT, KW_SYNC_PORT),
			       "listen-port and sync-port are both %u: WireGuard and the LAN "
			       "beacons would share that UDP port (set another sync-port, or "
			       "sync-beacon no)",
			       (unsigned)cfg->listen_port);
	if (!cfg->sync) {
		/* Both only mean something when sync runs. */
		int kw = p->seen[KW_SYNC_PORT] != 0   ? KW_SYNC_PORT :
			 p->seen[KW_SYNC_BEACON] != 0 ? KW_SYNC_BEACON :
							-1;

		if (kw >= 0)
			return fail_at(p, later(p, kw, KW_SYNC),
				       "%s applies only with sync yes, but sync is no (line %lu)",
				       keywords[kw].name, p->seen[KW_SYNC]);
	}
	*out = cfg;
	p->cfg = NULL;
	return 0;
}

/* ---- files and printing ------------------------------------------------------------ */

const char *config_resolved_name(enum config_resolved m)
{
	return m == CONFIG_RESOLVED_AUTO ? "auto" : m == CONFIG_RESOLVED_YES ? "yes" : "no";
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int config_load(const char *path, unsigned flags, struct config **out, char *err, size_t errlen)
{
	/* One line and its "\r\n", plus one byte so that a longer line shows as too long. */
	char buf[CONFIG_LINE_MAX + 3];
	struct config_parser *p = NULL;
	size_t len = 0;
	FILE *fp;
	int c, r = 0;

	*out = NULL;
	set_err(err, errlen, "%s", "");
	fp = fopen(path, "re");
	if (fp == NULL) {
		r = -errno;
		if (r == -ENOENT && (flags & CONFIG_OPTIONAL)) {
			*out = config_new_defaults();
			return *out != NULL ? 0 : -ENOMEM;
		}
		set_err(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	p = config_parser_new(path);
	if (p == NULL) {
		r = -ENOMEM;
		set_err(err, errlen, "%s: %s", path, strerror(ENOMEM));
		goto out;
	}
	/* Byte by byte into a bounded buffer: a huge line costs no memory, a NUL is seen. */
	errno = 0;
	while (r == 0 && (c = getc(fp)) != EOF) {
		if (len < sizeof(buf))
			buf[len] = (char)c;
		len++;
		if (c == '\n') {
			r = config_parser_line(p, buf, len < sizeof(buf) ? len : sizeof(buf));
			len = 0;
		}
	}
	if (r == 0 && ferror(fp)) {
		r = errno != 0 ? -errno : -EIO;
		set_err(err, errlen, "%s: read error: %s", path, strerror(-r));
		goto out;
	}
	if (r == 0 && len > 0) /* a last line without its newline */
		r = config_parser_line(p, buf, len < sizeof(buf) ? len : sizeof(buf));
	if (r == 0)
		r = config_parser_finish(p, out);
	if (r < 0)
		set_err(err, errlen, "%s", config_parser_error(p));
out:
	config_parser_free(p);
	fclose(fp);
	return r;
}

const char *config_addr_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, (unsigned)ntohs(sin->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, (unsigned)ntohs(sin6->sin6_port));
	} else {
		snprintf(buf, len, "(unknown address family %d)", (int)ss->ss_family);
	}
	return buf;
}

static const char *yes_no(bool b)
{
	return b ? "yes" : "no";
}

void config_print(const struct config *cfg, FILE *fp)
{
	char text[CONFIG_ADDR_STRLEN];
	size_t i;

	fprintf(fp, "state %s\n", cfg->state);
	fprintf(fp, "control %s\n", cfg->control);
	if (cfg->control_group[0] != '\0')
		fprintf(fp, "control-group %s\n", cfg->control_group);
	else
		fprintf(fp, "# control-group: none, only root may use privileged verbs\n");
	for (i = 0; i < cfg->n_listen; i++)
		fprintf(fp, "listen %s\n", config_addr_str(&cfg->listen[i], text, sizeof(text)));
	fprintf(fp, "listen-mesh %s\n", yes_no(cfg->listen_mesh));
	for (i = 0; i < cfg->n_upstream; i++)
		fprintf(fp, "upstream %s\n",
			config_addr_str(&cfg->upstream[i], text, sizeof(text)));
	if (cfg->n_upstream == 0)
		fprintf(fp, "# upstream: none, %s\n",
			cfg->forward ? "the servers in resolv.conf are used" :
				       "nothing is forwarded");
	fprintf(fp, "forward %s\n", yes_no(cfg->forward));
	fprintf(fp, "ttl %u\n", (unsigned)cfg->ttl);
	fprintf(fp, "negative-ttl %u\n", (unsigned)cfg->negative_ttl);
	fprintf(fp, "cache-size %u\n", (unsigned)cfg->cache_size);
	fprintf(fp, "serve-stale %s\n", yes_no(cfg->serve_stale));
	fprintf(fp, "resolved %s\n", config_resolved_name(cfg->resolved));
	fprintf(fp, "interface %s\n", cfg->interface);
	fprintf(fp, "manage %s\n", manage_name(cfg->manage));
	/* Written as comments otherwise: the parser refuses them without manage yes. */
	const char *hash = cfg->manage == CONFIG_MANAGE_YES ? "" : "# ";

	fprintf(fp, "%son-exit %s\n", hash,
		cfg->on_exit == CONFIG_ON_EXIT_KEEP ? "keep" : "remove");
	if (cfg->userspace[0] != '\0')
		fprintf(fp, "%suserspace %s\n", hash, cfg->userspace);
	else
		fprintf(fp, "# userspace: none, the kernel's WireGuard\n");
	for (i = 0; i < cfg->n_endpoint; i++) {
		const struct config_endpoint *ep = &cfg->endpoint[i];
		bool v6 = strchr(ep->host, ':') != NULL;

		fprintf(fp, "endpoint %s%s%s:%u\n", v6 ? "[" : "", ep->host, v6 ? "]" : "",
			(unsigned)ep->port);
	}
	if (cfg->n_endpoint == 0)
		fprintf(fp, "# endpoint: none, only the addresses found on the interfaces\n");
	fprintf(fp, "listen-port %u\n", (unsigned)cfg->listen_port);
	fprintf(fp, "publish-endpoints %s\n", yes_no(cfg->publish_endpoints));
	for (i = 0; i < cfg->n_lan_prefix; i++) {
		const struct config_prefix *pf = &cfg->lan_prefix[i];
		char addr[INET6_ADDRSTRLEN];

		inet_ntop(pf->family, pf->addr, addr, sizeof(addr));
		fprintf(fp, "lan-prefix %s/%u\n", addr, (unsigned)pf->len);
	}
	if (cfg->n_lan_prefix == 0)
		fprintf(fp, "# lan-prefix: none, only private ranges are published as lan\n");
	fprintf(fp, "sync %s\n", yes_no(cfg->sync));
	/* Comments with sync no: the parser refuses them then. */
	hash = cfg->sync ? "" : "# ";
	fprintf(fp, "%ssync-port %u\n", hash, (unsigned)cfg->sync_port);
	fprintf(fp, "%ssync-beacon %s\n", hash, yes_no(cfg->sync_beacon));
}
