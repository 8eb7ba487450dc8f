/*
 * upstream.h: which upstream server the forwarder asks next, private to src/resolver.
 * Keeps per-upstream RTT estimates, timeouts and back-off; pure: no sockets, no clock
 * (time in milliseconds is a parameter), no allocation, no logging.
 *
 * The rules:
 * - RTT: RFC 6298 section 2 (the smoothing unbound's infra cache uses too): the first
 *   sample R sets SRTT = R, RTTVAR = R/2; later ones RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|,
 *   SRTT = 7/8 SRTT + 1/8 R. RTO = SRTT + 4 RTTVAR, clamped to [rto_min, rto_max].
 *   Before any sample the RTO is initial_rto.
 * - A failure (timeout, ICMP error, connection refused) doubles the RTO up to rto_max
 *   (RFC 6298 section 5.5) and counts one consecutive failure; a success clears them.
 *   From the backoff_after-th consecutive failure on, the upstream is backed off: not
 *   picked for backoff_base ms, doubling with each further failure up to backoff_max.
 * - Picking: an upstream whose back-off has ended is probed first, by one query at a
 *   time (it stays skipped for its RTO while that query waits): its RTO has grown, so by
 *   RTO alone it would never win again and could never come back. Then the
 *   lowest RTO among those not backed off, ties to the configured order; if every one
 *   is backed off, the one whose back-off ends first.
 * - Within one query, `tried` (bit i for upstream i) makes failover visit each upstream
 *   at most once.
 * - What counts: report a success (with its RTT) for any answer that passed the ID,
 *   address and question checks, SERVFAIL included (the server is alive; the caller
 *   tries the next one for the query without blaming this one). Report a failure for a
 *   timeout, a network error, or REFUSED/NOTIMP (an upstream that will not recurse for us).
 */
#ifndef MESHNAME_RESOLVER_UPSTREAM_H
#define MESHNAME_RESOLVER_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define UPSTREAM_MAX 16

#define UPSTREAM_DEFAULT_RTO_MIN 50u        /* ms */
#define UPSTREAM_DEFAULT_RTO_MAX 2000u      /* ms */
#define UPSTREAM_DEFAULT_INITIAL_RTO 400u   /* ms; unbound starts at 376 */
#define UPSTREAM_DEFAULT_BACKOFF_AFTER 2u   /* consecutive failures */
#define UPSTREAM_DEFAULT_BACKOFF_BASE 1000u /* ms */
#define UPSTREAM_DEFAULT_BACKOFF_MAX 60000u /* ms */

struct upstream_config {
	uint32_t rto_min;
	uint32_t rto_max;
	uint32_t initial_rto;
	uint32_t backoff_after;
	uint32_t backoff_base;
	uint32_t backoff_max;
};

struct upstream {
	struct sockaddr_storage addr;
	socklen_t addr_len;
	/* The rest is the engine's: read it (status output), do not write it. */
	bool measured;    /* at least one RTT sample */
	uint32_t srtt_us; /* microseconds, for precision with sub-millisecond RTTs */
	uint32_t rttvar_us;
	uint32_t rto;           /* ms */
	uint32_t failures;      /* consecutive */
	uint64_t backoff_until; /* ms; 0: not backed off (a probe in flight counts as one) */
	uint64_t successes;
	uint64_t total_failures;
};

struct upstream_set {
	struct upstream_config cfg;
	struct upstream u[UPSTREAM_MAX];
	size_t n;
};

/* Fills cfg with the defaults above. */
void upstream_config_default(struct upstream_config *cfg);

/* Empties s and sets its config (cfg NULL: the defaults). */
void upstream_set_init(struct upstream_set *s, const struct upstream_config *cfg);

/*
 * Adds an IPv4 or IPv6 address (with its port). Returns its index (>= 0), -ENOSPC when
 * UPSTREAM_MAX are there, -EEXIST if it is there already, -EAFNOSUPPORT, or -EINVAL
 * for a length that does not fit the family.
 */
int upstream_add(struct upstream_set *s, const struct sockaddr *sa, socklen_t len);

/*
 * The upstream to ask next for a query at now: the best one not in *tried, which it
 * then adds. Start each query with *tried = 0; call again after a failure to fail over.
 * Returns the index, or -ENOENT when every upstream has been tried (or there is none).
 */
int upstream_pick(struct upstream_set *s, uint16_t *tried, uint64_t now);

/* How long to wait for upstream i before failing over: its RTO in ms. */
uint32_t upstream_timeout(const struct upstream_set *s, size_t i);

/* Upstream i answered after rtt ms. */
void upstream_success(struct upstream_set *s, size_t i, uint32_t rtt, uint64_t now);

/* Upstream i timed out or failed at now. */
void upstream_failure(struct upstream_set *s, size_t i, uint64_t now);

/* True if upstream i is backed off at now. */
bool upstream_backed_off(const struct upstream_set *s, size_t i, uint64_t now);

#endif
