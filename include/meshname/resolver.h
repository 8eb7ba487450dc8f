/*
 * resolver.h: the stub resolver as the daemon sees it (DESIGN.md section 6): UDP and
 * TCP listeners on one libevent base, answers for the mesh zones from the current
 * snapshot (dns.h), everything else forwarded upstream with a cache. It reads only the
 * snapshot, never the registry, and never writes /etc/resolv.conf or /etc/hosts.
 */
#ifndef MESHNAME_RESOLVER_H
#define MESHNAME_RESOLVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct snapshot;
struct resolver;

#define RESOLVER_MAX_LISTEN 32 /* configured addresses plus the mesh addresses */
#define RESOLVER_MAX_UPSTREAM 16

struct resolver_config {
	struct sockaddr_storage listen[RESOLVER_MAX_LISTEN]; /* UDP and TCP on each */
	size_t n_listen;
	struct sockaddr_storage upstream[RESOLVER_MAX_UPSTREAM];
	size_t n_upstream;        /* 0: read resolv.conf (read only), skipping our own
	                             * listen addresses and 127.0.0.53/54 */
	bool forward;             /* false: names outside our zones get REFUSED */
	uint32_t ttl;             /* positive answers for host records */
	uint32_t negative_ttl;    /* NXDOMAIN/NODATA (SOA minimum) */
	uint32_t cache_size;      /* entries; 0 disables the cache */
	bool serve_stale;         /* RFC 8767 when every upstream fails */
	unsigned tcp_max_clients; /* concurrent TCP connections (RFC 7766 section 6.2.2) */
	unsigned tcp_idle_ms;     /* idle timeout of a TCP connection */
	unsigned max_outstanding; /* forwarded queries in flight */
	const char *resolv_conf;  /* NULL: /run/systemd/resolve/resolv.conf, else
	                             * /etc/resolv.conf (tests pass their own) */
};

/* Fills the defaults: no listeners, forward on, ttl 30, negative 10, cache 10000,
 * serve-stale on, 128 TCP clients, 10 s idle, 1024 outstanding. */
void resolver_config_default(struct resolver_config *cfg);

/*
 * Creates the resolver and binds every listener (UDP and TCP, SO_REUSEADDR, IPv6 with
 * IPV6_V6ONLY). A listener that cannot be bound is not fatal here: its error is kept
 * for resolver_listeners(); the caller decides (meshnamed refuses to start when none,
 * or when a configured one, is bound). Returns 0, -ENOMEM or -EINVAL.
 */
int resolver_new(struct event_base *base, const struct resolver_config *cfg, struct resolver **out);
/* Closes every socket, cancels every query in flight; NULL is a no-op. */
void resolver_free(struct resolver *r);

/* Swaps in a new snapshot (takes its own reference, drops the old one). Queries in
 * flight keep the snapshot they started with. NULL: answer SERVFAIL for our zones. */
void resolver_set_snapshot(struct resolver *r, struct snapshot *s);

/* Applies a new configuration (SIGHUP): rebinds listeners that changed, keeps the
 * others open (no query is dropped), replaces upstreams, keeps the cache. */
int resolver_reconfigure(struct resolver *r, const struct resolver_config *cfg);

struct resolver_listener {
	struct sockaddr_storage addr;
	bool tcp;  /* false: UDP */
	int error; /* 0: bound and serving; else the errno of the failed bind */
};
/* Fills up to max entries; returns how many listeners exist (2 per address). */
size_t resolver_listeners(const struct resolver *r, struct resolver_listener *out, size_t max);

struct resolver_stats {
	uint64_t queries;   /* every query received */
	uint64_t answered;  /* from the snapshot */
	uint64_t forwarded; /* sent upstream (cache misses) */
	uint64_t cache_hits;
	uint64_t stale_served;
	uint64_t servfail;    /* forwarded queries that no upstream answered */
	uint64_t dropped;     /* malformed, spoofed or over a limit */
	uint64_t tcp_clients; /* currently connected */
};
void resolver_stats(const struct resolver *r, struct resolver_stats *out);

#endif
