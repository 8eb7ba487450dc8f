/*
 * forward.h: the forwarder, private to src/resolver: sends queries for names outside our
 * zones to the upstreams (UDP from a pool of pre-bound sockets, TCP on truncation), checks
 * every answer against ID, source and question, caches, fails over and serves stale.
 * Dispatch code: owns sockets and timers on the resolver's event base; never reads the
 * snapshot and never writes a file.
 */
#ifndef MESHNAME_RESOLVER_FORWARD_H
#define MESHNAME_RESOLVER_FORWARD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "meshname/dns.h"
#include "meshname/resolver.h"

struct event_base;
struct forwarder;
struct tcp_conn;

/* Who asked: the forwarder keeps a copy and hands it back with the answer. */
struct forward_client {
	uint64_t listener_id;         /* UDP: the listener the query came in on */
	struct sockaddr_storage addr; /* UDP: the client's address */
	socklen_t addr_len;
	struct tcp_conn *conn; /* TCP: the connection (NULL for UDP) */
};

/*
 * Called once for every query that forward_query left pending, with the response to
 * send (len bytes, within the client's limit), unless forward_free comes first.
 */
typedef void forward_reply_fn(void *arg, const struct forward_client *client, const uint8_t *resp,
			      size_t len);

enum forward_result {
	FORWARD_DONE,    /* out holds the response (cache hit, SERVFAIL, REFUSED) */
	FORWARD_PENDING, /* sent upstream: the reply function gets the answer */
};

/* The resolver's config, dns config and stats must outlive the forwarder. */
int forward_new(struct event_base *base, const struct resolver_config *cfg,
		const struct dns_config *dcfg, struct resolver_stats *stats,
		forward_reply_fn *reply, void *reply_arg, struct forwarder **out);
/* Cancels every query in flight without replying; NULL is a no-op. */
void forward_free(struct forwarder *f);

/* Replaces the upstreams (re-reading resolv.conf when cfg has none) and the limits;
 * keeps the cache unless it is switched off or on. Returns 0 or -ENOMEM. */
int forward_reconfigure(struct forwarder *f, const struct resolver_config *cfg);

/*
 * Answers or forwards query (qlen bytes, q as dns_answer parsed it, q->rcode NOERROR)
 * from client. out (out_size >= DNS_UDP_MIN) gets a response at once on a cache hit,
 * when nothing can be sent (no upstream, too many in flight: SERVFAIL) or with
 * `forward no` (REFUSED). Returns a non-negative enum forward_result.
 */
int forward_query(struct forwarder *f, const uint8_t *query, size_t qlen, const struct dns_query *q,
		  enum dns_transport transport, const struct forward_client *client, uint8_t *out,
		  size_t out_size, size_t *out_len);

/* Upstream addresses in use (for status output): fills up to max, returns how many. */
size_t forward_upstreams(const struct forwarder *f, struct sockaddr_storage *out, size_t max);

#endif
