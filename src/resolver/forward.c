/*
 * forward.c: the forwarder (forward.h): upstream queries from a pool of pre-bound UDP
 * sockets, TCP on truncation, answer checks, failover, cache and serve-stale. Dispatch
 * code: the rules live in upstream.c (whom to ask, how long to wait) and cache.c (what
 * to keep); this file never reads the snapshot and never writes a file.
 *
 * Choices:
 * - Each upstream query gets a random 16-bit ID (randombytes_uniform) and goes out on one
 *   of that upstream's FWD_SOCKETS sockets picked at random, each connected once to the
 *   upstream from a kernel-chosen (random) ephemeral port: a random source port per
 *   query without a new socket per query. Connected, because then the kernel drops
 *   datagrams from any other source, picks a specific source address (no wildcard
 *   socket) and reports ICMP errors: a stopped upstream fails over at once instead of
 *   after its timeout. An ID is never in use twice on one socket.
 * - An answer is accepted only from the upstream's address and port, with an ID in
 *   flight on that socket and the question asked (name case-insensitively, type, class);
 *   anything else is counted as dropped and the query keeps waiting (RFC 5452).
 * - Upstream queries are the client's question with RD, and an OPT (payload
 *   DNS_DEFAULT_EDNS_PAYLOAD, DO clear) whatever the client sent: the cache (cache.h)
 *   needs one EDNS setting for all. So DNSSEC records are never asked for.
 * - After each upstream's RTO (upstream.c) the next one is tried. SERVFAIL, REFUSED and
 *   NOTIMP also move on to the next. When all have been tried: a stale cache entry if
 *   serve-stale is on (RFC 8767), else SERVFAIL.
 * - TC=1 over UDP: the same query over TCP to the same upstream, with FWD_TCP_TIMEOUT_MS.
 * - At max_outstanding queries in flight, a new one gets SERVFAIL at once (counted as
 *   dropped): the client retries, and memory stays bounded.
 * - The client's answer is the upstream's rewritten by cache_relay (cache.h): the client's
 *   ID and question case, the upstream's OPT replaced by ours only if the client sent
 *   one, header and question with TC=1 if larger than the client may receive.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <ldns/ldns.h>
#include <sodium.h>

#include "common/addr.h"
#include "common/log.h"
#include "meshname/dns.h"
#include "meshname/resolver.h"
#include "resolver/cache.h"
#include "resolver/forward.h"
#include "resolver/resolvconf.h"
#include "resolver/upstream.h"
#include "resolver/wire.h"

#define FWD_SOCKETS 32           /* per upstream */
#define FWD_BATCH 64             /* datagrams read per readiness event */
#define FWD_TCP_TIMEOUT_MS 2000u /* connect, send and answer over TCP */
#define FWD_QUESTION_MAX (DNS_NAME_MAX + 4)
#define FWD_CACHE_BYTES_PER_ENTRY 420u /* cache_size entries -> bytes (4 MB for 10,000) */
#define FWD_CACHE_MIN_BYTES (64u * 1024)
#define FWD_NO_SOCKET (-1)

#define FLAG_QR 0x8000u
#define FLAG_TC 0x0200u
#define FLAG_RD 0x0100u
#define OPT_RR_SIZE 11

struct fwd_socket {
	struct forwarder *f;
	int fd;
	int index; /* pool * FWD_SOCKETS + its place in the pool: the hash key */
	struct event *ev;
};

/* The sockets connected to one upstream. */
struct pool {
	struct sockaddr_storage addr;
	struct fwd_socket s[FWD_SOCKETS];
};

/* One client query in flight upstream. */
struct pending {
	struct forwarder *f;
	struct pending *hash_next; /* in f->buckets; on the free list, the next free one */
	struct pending *prev;      /* on f's list of queries in flight */
	struct pending *next;
	struct event *timer;     /* made once, kept on the free list */
	struct bufferevent *tcp; /* the TCP retry after TC=1 */
	struct forward_client client;
	struct dns_query q; /* the client's */
	enum dns_transport transport;
	uint8_t query[DNS_HEADER_SIZE + FWD_QUESTION_MAX]; /* the client's header, question */
	int sock; /* FWD_NO_SOCKET unless hashed under (sock, id) */
	uint16_t id;
	uint16_t tried;
	int upstream;
	uint64_t generation; /* of f's upstream set when upstream was picked */
	struct sockaddr_storage up_addr;
	socklen_t up_len;
	uint64_t sent_ms;
};

struct forwarder {
	struct event_base *base;
	const struct resolver_config *cfg;
	const struct dns_config *dcfg;
	struct resolver_stats *stats;
	forward_reply_fn *reply;
	void *reply_arg;
	struct upstream_set ups;
	uint64_t generation;
	struct cache *cache;
	struct pool *pools[UPSTREAM_MAX]; /* pools[i] is connected to ups.u[i], or NULL */
	struct pending **buckets;
	size_t mask;
	struct pending *in_flight; /* list head */
	struct pending *free_list;
	size_t n_in_flight;
	uint8_t out[DNS_TCP_MAX]; /* the client's answer is built here */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the client's answer ---- */

static size_t client_limit(const struct forwarder *f, const struct dns_query *q,
			   enum dns_transport transport, size_t out_size)
{
	size_t limit = DNS_TCP_MAX;

	if (transport == DNS_UDP) {
		limit = DNS_UDP_MIN;
		if (q->edns) {
			limit = q->edns_payload < f->dcfg->edns_payload ? q->edns_payload :
									  f->dcfg->edns_payload;
			if (limit < DNS_UDP_MIN)
				limit = DNS_UDP_MIN;
		}
	}
	return limit < out_size ? limit : out_size;
}

/* ---- queries in flight ---- */

static size_t bucket_of(const struct forwarder *f, int sock, uint16_t id)
{
	return ((size_t)id ^ ((size_t)sock * 0x9e37u)) & f->mask;
}

static struct pending *hash_find(const struct forwarder *f, int sock, uint16_t id)
{
	struct pending *p;

	for (p = f->buckets[bucket_of(f, sock, id)]; p != NULL; p = p->hash_next)
		if (p->sock == sock && p->id == id)
			return p;
	return NULL;
}

static void hash_remove(struct pending *p)
{
	struct forwarder *f = p->f;
	struct pending **pp;

	if (p->sock == FWD_NO_SOCKET)
		return;
	for (pp = &f->buckets[bucket_of(f, p->sock, p->id)]; *pp != NULL; pp = &(*pp)->hash_next) {
		if (*pp == p) {
			*pp = p->hash_next;
			break;
		}
	}
	p->hash_next = NULL;
	p->sock = FWD_NO_SOCKET;
}

/* Hashes p under a random socket of its upstream's pool and a random free ID. */
static int hash_insert(struct pending *p)
{
	struct forwarder *f = p->f;
	struct pool *pool = f->pools[p->upstream];
	int sock, tries;
	uint16_t id;
	size_t b;

	if (pool == NULL)
		return -ENOTCONN;
	for (tries = 0; tries < 16; tries++) {
		sock = p->upstream * FWD_SOCKETS + (int)randombytes_uniform(FWD_SOCKETS);
		id = (uint16_t)randombytes_uniform(65536);
		if (hash_find(f, sock, id) != NULL)
			continue;
		p->sock = sock;
		p->id = id;
		b = bucket_of(f, sock, id);
		p->hash_next = f->buckets[b];
		f->buckets[b] = p;
		return 0;
	}
	return -EAGAIN;
}

static void pending_release(struct pending *p)
{
	struct forwarder *f = p->f;

	hash_remove(p);
	evtimer_del(p->timer);
	if (p->tcp != NULL) {
		bufferevent_free(p->tcp);
		p->tcp = NULL;
	}
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		f->in_flight = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	p->prev = p->next = NULL;
	f->n_in_flight--;
	p->hash_next = f->free_list;
	f->free_list = p;
}

static void pending_destroy(struct pending *p)
{
	if (p->tcp != NULL)
		bufferevent_free(p->tcp);
	event_free(p->timer);
	free(p);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg);

static struct pending *pending_get(struct forwarder *f)
{
	struct pending *p = f->free_list;

	if (p != NULL) {
		f->free_list = p->hash_next;
	} else {
		p = calloc(1, sizeof(*p));
		if (p == NULL)
			return NULL;
		p->f = f;
		p->timer = evtimer_new(f->base, on_timeout, p);
		if (p->timer == NULL) {
			free(p);
			return NULL;
		}
	}
	p->hash_next = NULL;
	p->tcp = NULL;
	p->sock = FWD_NO_SOCKET;
	p->tried = 0;
	p->upstream = -1;
	p->prev = NULL;
	p->next = f->in_flight;
	if (f->in_flight != NULL)
		f->in_flight->prev = p;
	f->in_flight = p;
	f->n_in_flight++;
	return p;
}

static void arm_timer(struct pending *p, uint32_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

	evtimer_add(p->timer, &tv);
}

/* The upstream query: the question with RD, and our OPT. */
static size_t build_upstream_query(const struct pending *p, uint8_t *buf)
{
	size_t len = DNS_HEADER_SIZE + p->q.question_len;

	memset(buf, 0, DNS_HEADER_SIZE);
	set16(buf, p->id);
	set16(buf + 2, FLAG_RD);
	set16(buf + 4, 1);
	set16(buf + 10, 1);
	memcpy(buf + DNS_HEADER_SIZE, p->query + DNS_HEADER_SIZE, p->q.question_len);
	buf[len] = 0;
	set16(buf + len + 1, LDNS_RR_TYPE_OPT);
	set16(buf + len + 3, DNS_DEFAULT_EDNS_PAYLOAD);
	memset(buf + len + 5, 0, 6);
	return len + OPT_RR_SIZE;
}

static void report_success(struct pending *p)
{
	struct forwarder *f = p->f;
	uint64_t now = now_ms();

	if (p->generation == f->generation)
		upstream_success(&f->ups, (size_t)p->upstream, (uint32_t)(now - p->sent_ms), now);
}

static void report_failure(struct pending *p)
{
	struct forwarder *f = p->f;

	if (p->generation == f->generation)
		upstream_failure(&f->ups, (size_t)p->upstream, now_ms());
}

/* Every upstream failed: serve stale if allowed, else SERVFAIL. Releases p. */
static void finish_failed(struct pending *p)
{
	struct forwarder *f = p->f;
	size_t limit = client_limit(f, &p->q, p->transport, sizeof(f->out)), len = 0;
	struct forward_client client = p->client;

	if (f->cfg->serve_stale && f->cache != NULL &&
	    cache_lookup(f->cache, f->dcfg, p->query, &p->q, CACHE_STALE, now_ms() / 1000, f->out,
			 limit, &len) == 0) {
		f->stats->stale_served++;
	} else {
		f->stats->servfail++;
		if (dns_answer_rcode(f->dcfg, &p->q, p->query, LDNS_RCODE_SERVFAIL, f->out, limit,
				     &len) < 0)
			len = 0;
	}
	pending_release(p);
	/* Also with len 0: the server counts its queries in flight. */
	f->reply(f->reply_arg, &client, f->out, len);
}

/* Sends p to the next upstream that will take it, or finishes it. */
static void attempt(struct pending *p)
{
	struct forwarder *f = p->f;
	uint8_t buf[DNS_HEADER_SIZE + FWD_QUESTION_MAX + OPT_RR_SIZE];
	size_t len;
	int i;

	if (p->generation != f->generation) {
		/* The upstreams changed while this query waited: start over with them. */
		p->tried = 0;
		p->generation = f->generation;
	}
	for (;;) {
		i = upstream_pick(&f->ups, &p->tried, now_ms());
		if (i < 0) {
			finish_failed(p);
			return;
		}
		p->upstream = i;
		memcpy(&p->up_addr, &f->ups.u[i].addr, sizeof(p->up_addr));
		p->up_len = f->ups.u[i].addr_len;
		if (hash_insert(p) < 0) {
			report_failure(p);
			continue;
		}
		len = build_upstream_query(p, buf);
		p->sent_ms = now_ms();
		if (send(f->pools[p->upstream]->s[p->sock % FWD_SOCKETS].fd, buf, len, 0) < 0) {
			hash_remove(p);
			report_failure(p);
			continue;
		}
		arm_timer(p, upstream_timeout(&f->ups, (size_t)i));
		return;
	}
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg;

	(void)fd;
	(void)what;
	hash_remove(p);
	if (p->tcp != NULL) {
		bufferevent_free(p->tcp);
		p->tcp = NULL;
	}
	report_failure(p);
	attempt(p);
}

/* True if resp's header and question answer p's question. */
static bool answers_question(const struct pending *p, const uint8_t *resp, size_t len)
{
	const uint8_t *asked = p->query + DNS_HEADER_SIZE;
	size_t i;

	if (len < DNS_HEADER_SIZE + p->q.question_len || !(get16(resp + 2) & FLAG_QR) ||
	    (get16(resp + 2) >> 11 & 0x0fu) != 0 || get16(resp + 4) != 1)
		return false;
	for (i = 0; i < p->q.question_len; i++)
		if (lower(resp[DNS_HEADER_SIZE + i]) != lower(asked[i]))
			return false;
	return true;
}

static void start_tcp(struct pending *p);

/*
 * An answer that passed the checks. Returns false if it is malformed (over UDP the
 * query keeps waiting for a good one).
 */
static bool handle_answer(struct pending *p, const uint8_t *resp, size_t len, bool over_tcp)
{
	struct forwarder *f = p->f;
	uint8_t rcode = resp[3] & 0x0fu;
	size_t limit, out_len = 0;
	struct forward_client client;

	if ((get16(resp + 2) & FLAG_TC) && !over_tcp) {
		report_success(p);
		hash_remove(p);
		evtimer_del(p->timer);
		start_tcp(p);
		return true;
	}
	if (rcode == LDNS_RCODE_SERVFAIL || rcode == LDNS_RCODE_REFUSED ||
	    rcode == LDNS_RCODE_NOTIMPL) {
		/* SERVFAIL: the server lives, the name fails there; the others: it will not
		 * recurse for us (upstream.h). Either way, ask the next one. */
		if (rcode == LDNS_RCODE_SERVFAIL)
			report_success(p);
		else
			report_failure(p);
		hash_remove(p);
		evtimer_del(p->timer);
		if (p->tcp != NULL) {
			/* resp points into it: not read below. */
			bufferevent_free(p->tcp);
			p->tcp = NULL;
		}
		attempt(p);
		return true;
	}
	limit = client_limit(f, &p->q, p->transport, sizeof(f->out));
	/* Rewritten for the client as a cache hit would be (cache.h), and checked on the way. */
	if (cache_relay(f->dcfg, p->query, &p->q, resp, len, f->out, limit, &out_len) < 0)
		return false;
	report_success(p);
	if (f->cache != NULL)
		(void)cache_store(f->cache, p->query + DNS_HEADER_SIZE, p->q.qname_len, p->q.qtype,
				  p->q.qclass, resp, len, now_ms() / 1000);
	client = p->client;
	pending_release(p);
	f->reply(f->reply_arg, &client, f->out, out_len);
	return true;
}

/*
 * An ICMP error on a connected socket (nothing listens on the upstream's port, or no
 * route): every query waiting on that socket fails over now instead of at its timeout.
 */
static void fail_socket(struct forwarder *f, int sock)
{
	struct pending *p;

	for (;;) {
		for (p = f->in_flight; p != NULL && p->sock != sock; p = p->next)
			;
		if (p == NULL)
			return;
		hash_remove(p); /* p->sock changes: the search ends */
		evtimer_del(p->timer);
		report_failure(p);
		attempt(p);
	}
}

static void on_upstream_udp(evutil_socket_t fd, short what, void *arg)
{
	struct fwd_socket *s = arg;
	struct forwarder *f = s->f;
	uint8_t buf[DNS_TCP_MAX];
	struct sockaddr_storage from;
	socklen_t from_len;
	struct pending *p;
	ssize_t n;
	int i;

	(void)what;
	for (i = 0; i < FWD_BATCH; i++) {
		from_len = sizeof(from);
		n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &from_len);
		if (n < 0) {
			if (errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH)
				fail_socket(f, s->index);
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			continue; /* the error is cleared: read on */
		}
		if (n < DNS_HEADER_SIZE) {
			f->stats->dropped++;
			continue;
		}
		p = hash_find(f, s->index, get16(buf));
		if (p == NULL || !addr_equal(&from, &p->up_addr) ||
		    !answers_question(p, buf, (size_t)n) ||
		    !handle_answer(p, buf, (size_t)n, false))
			f->stats->dropped++; /* spoofed, late or malformed: keep waiting */
	}
}

/* ---- TCP after TC=1 ---- */

static void tcp_fail(struct pending *p)
{
	bufferevent_free(p->tcp);
	p->tcp = NULL;
	evtimer_del(p->timer);
	report_failure(p);
	attempt(p);
}

static void on_tcp_read(struct bufferevent *bev, void *arg)
{
	struct pending *p = arg;
	struct forwarder *f = p->f;
	struct evbuffer *input = bufferevent_get_input(bev);
	uint8_t frame[2], *resp;
	size_t len;

	if (evbuffer_copyout(input, frame, 2) < 2)
		return;
	len = (size_t)frame[0] << 8 | frame[1];
	if (evbuffer_get_length(input) < len + 2)
		return;
	resp = evbuffer_pullup(input, (ev_ssize_t)(len + 2));
	if (resp == NULL || len < DNS_HEADER_SIZE || get16(resp + 2) != p->id ||
	    !answers_question(p, resp + 2, len)) {
		f->stats->dropped++;
		tcp_fail(p);
		return;
	}
	/* resp points into bev's buffer: handle_answer releases p (and frees bev) only
	 * after it has copied what it needs. */
	if (!handle_answer(p, resp + 2, len, true)) {
		f->stats->dropped++;
		tcp_fail(p);
	}
}

static void on_tcp_event(struct bufferevent *bev, short what, void *arg)
{
	struct pending *p = arg;
	uint8_t buf[2 + DNS_HEADER_SIZE + FWD_QUESTION_MAX + OPT_RR_SIZE];
	size_t len;

	if (what & BEV_EVENT_CONNECTED) {
		len = build_upstream_query(p, buf + 2);
		set16(buf, (uint16_t)len);
		if (bufferevent_write(bev, buf, len + 2) < 0 ||
		    bufferevent_enable(bev, EV_READ) < 0)
			tcp_fail(p);
		return;
	}
	tcp_fail(p); /* error, or closed before the answer */
}

static void start_tcp(struct pending *p)
{
	struct forwarder *f = p->f;

	p->tcp = bufferevent_socket_new(f->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (p->tcp == NULL) {
		report_failure(p);
		attempt(p);
		return;
	}
	bufferevent_setcb(p->tcp, on_tcp_read, NULL, on_tcp_event, p);
	p->sent_ms = now_ms();
	arm_timer(p, FWD_TCP_TIMEOUT_MS);
	if (bufferevent_socket_connect(p->tcp, (struct sockaddr *)&p->up_addr, (int)p->up_len) <
	    0) {
		bufferevent_free(p->tcp);
		p->tcp = NULL;
		evtimer_del(p->timer);
		report_failure(p);
		attempt(p);
	}
}

/* ---- setup ---- */

static void pool_free(struct pool *pool)
{
	int i;

	if (pool == NULL)
		return;
	for (i = 0; i < FWD_SOCKETS; i++) {
		if (pool->s[i].ev != NULL)
			event_free(pool->s[i].ev);
		if (pool->s[i].fd >= 0)
			close(pool->s[i].fd);
	}
	free(pool);
}

/* FWD_SOCKETS UDP sockets connected to addr; -errno (logged) on failure. */
static int pool_new(struct forwarder *f, const struct upstream *u, struct pool **out)
{
	struct pool *pool;
	int i, e;

	pool = calloc(1, sizeof(*pool));
	if (pool == NULL)
		return -ENOMEM;
	pool->addr = u->addr;
	for (i = 0; i < FWD_SOCKETS; i++)
		pool->s[i].fd = -1;
	for (i = 0; i < FWD_SOCKETS; i++) {
		struct fwd_socket *s = &pool->s[i];

		s->f = f;
		/* connect() binds a random ephemeral port and the route's source address. */
		s->fd = socket(u->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (s->fd < 0 || connect(s->fd, (const struct sockaddr *)&u->addr, u->addr_len) < 0)
			goto fail;
		s->ev = event_new(f->base, s->fd, EV_READ | EV_PERSIST, on_upstream_udp, s);
		if (s->ev == NULL || event_add(s->ev, NULL) < 0)
			goto fail;
	}
	*out = pool;
	return 0;
fail:
	e = errno != 0 ? -errno : -ENOMEM;
	pool_free(pool);
	return e;
}

/* Gives every upstream of f->ups its pool, keeping those of upstreams that stay. */
static void pools_update(struct forwarder *f)
{
	struct pool *fresh[UPSTREAM_MAX] = { NULL };
	size_t i, j;
	int k, e;

	for (i = 0; i < f->ups.n; i++) {
		for (j = 0; j < UPSTREAM_MAX; j++) {
			if (f->pools[j] != NULL &&
			    addr_equal(&f->pools[j]->addr, &f->ups.u[i].addr)) {
				fresh[i] = f->pools[j];
				f->pools[j] = NULL;
				break;
			}
		}
		if (fresh[i] == NULL) {
			e = pool_new(f, &f->ups.u[i], &fresh[i]);
			if (e < 0)
				log_warnx("upstream %zu: cannot open sockets to it: %s", i + 1,
					  strerror(-e));
		}
		for (k = 0; fresh[i] != NULL && k < FWD_SOCKETS; k++)
			fresh[i]->s[k].index = (int)i * FWD_SOCKETS + k;
	}
	/* Queries still hashed under a socket that moves or closes time out and fail over. */
	for (j = 0; j < UPSTREAM_MAX; j++) {
		pool_free(f->pools[j]);
		f->pools[j] = fresh[j];
	}
}

static void upstreams_load(struct forwarder *f, const struct resolver_config *cfg)
{
	struct upstream_set old = f->ups;
	struct resolvconf rc;
	size_t i, j;

	upstream_set_init(&f->ups, NULL);
	if (cfg->n_upstream > 0) {
		for (i = 0; i < cfg->n_upstream; i++) {
			const struct sockaddr_storage *ss = &cfg->upstream[i];
			socklen_t len = ss->ss_family == AF_INET6 ?
						(socklen_t)sizeof(struct sockaddr_in6) :
						(socklen_t)sizeof(struct sockaddr_in);

			(void)upstream_add(&f->ups, (const struct sockaddr *)ss, len);
		}
	} else if (cfg->forward) {
		/* With `forward no` nothing is ever sent upstream: no resolv.conf to read. */
		const char *paths[2] = { RESOLVCONF_RESOLVED_PATH, RESOLVCONF_ETC_PATH };
		size_t n_paths = 2, used = 0;
		int e;

		if (cfg->resolv_conf != NULL) {
			paths[0] = cfg->resolv_conf;
			n_paths = 1;
		}
		e = resolvconf_load(paths, n_paths, cfg->listen, cfg->n_listen, &rc, &used);
		if (e < 0) {
			log_warnx("no upstream servers: cannot read %s%s: %s", paths[0],
				  n_paths > 1 ? " or " RESOLVCONF_ETC_PATH : "", strerror(-e));
		} else {
			for (i = 0; i < rc.n; i++)
				(void)upstream_add(&f->ups, (const struct sockaddr *)&rc.addr[i],
						   rc.addr_len[i]);
			log_info("%zu upstream servers from %s (%zu of our own or stubs skipped)",
				 f->ups.n, paths[used], rc.skipped);
		}
	}
	/* Keep what was learnt about upstreams that stay. */
	for (i = 0; i < f->ups.n; i++)
		for (j = 0; j < old.n; j++)
			if (addr_equal(&f->ups.u[i].addr, &old.u[j].addr))
				f->ups.u[i] = old.u[j];
	f->generation++;
	pools_update(f);
}

static int cache_apply(struct forwarder *f, const struct resolver_config *cfg)
{
	struct cache_config cc;
	uint64_t bytes;

	if (cfg->cache_size == 0) {
		cache_free(f->cache);
		f->cache = NULL;
		return 0;
	}
	if (f->cache != NULL)
		return 0; /* kept across a reload, entries and all */
	cache_config_default(&cc);
	bytes = (uint64_t)cfg->cache_size * FWD_CACHE_BYTES_PER_ENTRY;
	cc.max_bytes = bytes < FWD_CACHE_MIN_BYTES ? FWD_CACHE_MIN_BYTES : (size_t)bytes;
	return cache_new(&cc, &f->cache);
}

int forward_new(struct event_base *base, const struct resolver_config *cfg,
		const struct dns_config *dcfg, struct resolver_stats *stats,
		forward_reply_fn *reply, void *reply_arg, struct forwarder **out)
{
	struct forwarder *f;
	size_t buckets = 64;
	int e;

	*out = NULL;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -ENOMEM;
	f->base = base;
	f->cfg = cfg;
	f->dcfg = dcfg;
	f->stats = stats;
	f->reply = reply;
	f->reply_arg = reply_arg;
	while (buckets < 2 * (size_t)cfg->max_outstanding && buckets < 65536)
		buckets *= 2;
	f->buckets = calloc(buckets, sizeof(*f->buckets));
	if (f->buckets == NULL) {
		e = -ENOMEM;
		goto fail;
	}
	f->mask = buckets - 1;
	e = cache_apply(f, cfg);
	if (e < 0)
		goto fail;
	upstream_set_init(&f->ups, NULL);
	upstreams_load(f, cfg);
	*out = f;
	return 0;
fail:
	forward_free(f);
	return e;
}

void forward_free(struct forwarder *f)
{
	struct pending *p;
	int i;

	if (f == NULL)
		return;
	while ((p = f->in_flight) != NULL) {
		f->in_flight = p->next;
		pending_destroy(p);
	}
	while ((p = f->free_list) != NULL) {
		f->free_list = p->hash_next;
		pending_destroy(p);
	}
	for (i = 0; i < UPSTREAM_MAX; i++)
		pool_free(f->pools[i]);
	cache_free(f->cache);
	free(f->buckets);
	free(f);
}

int forward_reconfigure(struct forwarder *f, const struct resolver_config *cfg)
{
	int e = cache_apply(f, cfg);

	if (e < 0)
		return e;
	upstreams_load(f, cfg);
	return 0;
}

size_t forward_upstreams(const struct forwarder *f, struct sockaddr_storage *out, size_t max)
{
	size_t i;

	for (i = 0; i < f->ups.n && i < max; i++)
		out[i] = f->ups.u[i].addr;
	return f->ups.n;
}

int forward_query(struct forwarder *f, const uint8_t *query, size_t qlen, const struct dns_query *q,
		  enum dns_transport transport, const struct forward_client *client, uint8_t *out,
		  size_t out_size, size_t *out_len)
{
	size_t limit = client_limit(f, q, transport, out_size);
	struct pending *p;
	uint8_t rcode = LDNS_RCODE_SERVFAIL;

	(void)qlen;
	if (!f->cfg->forward) {
		rcode = LDNS_RCODE_REFUSED;
		goto answer;
	}
	if (f->cache != NULL && cache_lookup(f->cache, f->dcfg, query, q, CACHE_FRESH,
					     now_ms() / 1000, out, limit, out_len) == 0) {
		f->stats->cache_hits++;
		return FORWARD_DONE;
	}
	if (q->question_len == 0 || q->question_len > FWD_QUESTION_MAX)
		goto answer;
	if (f->n_in_flight >= f->cfg->max_outstanding) {
		f->stats->dropped++;
		goto answer;
	}
	p = pending_get(f);
	if (p == NULL)
		goto answer;
	p->client = *client;
	p->q = *q;
	p->transport = transport;
	memcpy(p->query, query, DNS_HEADER_SIZE + q->question_len);
	p->generation = f->generation;
	f->stats->forwarded++;
	if (f->ups.n == 0) {
		/* Nobody to ask: stale or SERVFAIL through the usual path. */
		finish_failed(p);
		return FORWARD_PENDING;
	}
	attempt(p);
	return FORWARD_PENDING;
answer:
	if (dns_answer_rcode(f->dcfg, q, query, rcode, out, limit, out_len) < 0)
		*out_len = 0;
	return FORWARD_DONE;
}
