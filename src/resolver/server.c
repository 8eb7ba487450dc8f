/*
 * server.c: the resolver's listeners (resolver.h): UDP and TCP sockets on the configured
 * addresses, RFC 7766 connection handling, and the dispatch of each query to the answer
 * engine (dns.h) or the forwarder (forward.h). Owns no DNS logic of its own; never binds
 * an address it was not given and never touches a file.
 *
 * Choices:
 * - UDP: up to UDP_BATCH datagrams per readiness event, read with one recvmmsg and
 *   answered with one sendmmsg from buffers made once; the authoritative path makes no
 *   allocation and no other syscall.
 * - TCP (RFC 7766): 2-byte framing, any number of queries per connection, each answered
 *   as soon as it can be (forwarded ones may complete out of order, section 6.2.1.1).
 *   A zero length closes the connection. A connection with no query in flight that stays
 *   silent for tcp_idle_ms is closed (section 6.2.3); while queries are in flight it stays.
 *   A connection whose client does not read its answers stops being read once
 *   TCP_OUTPUT_HIGH bytes wait, and is closed if nothing drains for tcp_idle_ms.
 * - Connection limit (section 6.2.2): at tcp_max_clients, a new connection closes the
 *   least recently active idle one (no query in flight, nothing left to write); if every
 *   connection is busy, the new one is closed at once and counted as dropped. When
 *   accept itself fails (out of file descriptors) the listener stops for
 *   ACCEPT_PAUSE_MS instead of spinning on a socket that stays readable.
 * - Without a snapshot every query gets SERVFAIL (we cannot tell our zones from others).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <ldns/ldns.h>

#include "common/addr.h"
#include "common/log.h"
#include "meshname/dns.h"
#include "meshname/resolver.h"
#include "meshname/snapshot.h"
#include "resolver/forward.h"

#define UDP_BATCH 64 /* datagrams read per readiness event */
#define UDP_BUF \
	2048 /* a query larger than this is cut (and gets FORMERR); an
			       * answer is at most DNS_DEFAULT_EDNS_PAYLOAD over UDP */
#define TCP_BACKLOG 128
#define TCP_OUTPUT_HIGH (256u * 1024) /* bytes waiting before we stop reading */
#define ACCEPT_PAUSE_MS 1000 /* after an accept error (out of descriptors): stop this long */

struct listener {
	struct resolver *r;
	uint64_t id; /* forwarded queries find their listener by id: it may be gone */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	bool tcp;
	int fd;
	int error;
	struct event *ev;           /* UDP */
	struct evconnlistener *lev; /* TCP */
	struct event *pause;        /* TCP: accepting again after an accept error */
};

struct tcp_conn {
	struct resolver *r;
	struct bufferevent *bev; /* NULL once closed */
	struct tcp_conn *prev;   /* on r's active list (least recently active first) or, */
	struct tcp_conn *next;   /* once closed with queries in flight, on the closed list */
	unsigned pending;        /* forwarded queries in flight */
	bool eof;                /* the client has half-closed: answer what is in flight */
};

/* recvmmsg/sendmmsg buffers: one set, as only one listener reads at a time. */
struct udp_batch {
	struct mmsghdr in_msg[UDP_BATCH];
	struct mmsghdr out_msg[UDP_BATCH];
	struct iovec in_iov[UDP_BATCH];
	struct iovec out_iov[UDP_BATCH];
	struct sockaddr_storage from[UDP_BATCH];
	uint8_t in[UDP_BATCH][UDP_BUF];
	uint8_t out[UDP_BATCH][UDP_BUF];
};

struct conn_list {
	struct tcp_conn *head;
	struct tcp_conn *tail;
};

struct resolver {
	struct event_base *base;
	struct resolver_config cfg;
	struct dns_config dcfg;
	struct snapshot *snap;
	struct listener *listeners[2 * RESOLVER_MAX_LISTEN];
	size_t n_listeners;
	uint64_t next_listener_id;
	struct conn_list active;
	struct conn_list closed; /* kept until their forwarded queries come back */
	struct forwarder *fwd;
	struct resolver_stats stats;
	struct udp_batch batch;
	uint8_t tcp_in[DNS_TCP_MAX];  /* the TCP query being answered */
	uint8_t tcp_out[DNS_TCP_MAX]; /* and its answer */
};

void resolver_config_default(struct resolver_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->forward = true;
	cfg->ttl = DNS_DEFAULT_TTL;
	cfg->negative_ttl = DNS_DEFAULT_NEGATIVE_TTL;
	cfg->cache_size = 10000;
	cfg->serve_stale = true;
	cfg->tcp_max_clients = 128;
	cfg->tcp_idle_ms = 10000;
	cfg->max_outstanding = 1024;
	cfg->resolv_conf = NULL;
}

static socklen_t addr_len_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (socklen_t)sizeof(struct sockaddr_in);
	if (ss->ss_family == AF_INET6)
		return (socklen_t)sizeof(struct sockaddr_in6);
	return 0;
}

static int config_check(const struct resolver_config *cfg)
{
	size_t i;

	if (cfg->n_listen > RESOLVER_MAX_LISTEN || cfg->n_upstream > RESOLVER_MAX_UPSTREAM ||
	    cfg->tcp_max_clients == 0 || cfg->tcp_idle_ms == 0 || cfg->max_outstanding == 0)
		return -EINVAL;
	for (i = 0; i < cfg->n_listen; i++)
		if (addr_len_of(&cfg->listen[i]) == 0)
			return -EINVAL;
	for (i = 0; i < cfg->n_upstream; i++)
		if (addr_len_of(&cfg->upstream[i]) == 0)
			return -EINVAL;
	return 0;
}

static void dns_config_from(struct dns_config *d, const struct resolver_config *cfg)
{
	dns_config_default(d);
	d->ttl = cfg->ttl;
	d->negative_ttl = cfg->negative_ttl;
}

/* ---- TCP connections ---- */

static void list_unlink(struct conn_list *l, struct tcp_conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		l->head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		l->tail = c->prev;
	c->prev = c->next = NULL;
}

static void list_append(struct conn_list *l, struct tcp_conn *c)
{
	c->prev = l->tail;
	c->next = NULL;
	if (l->tail != NULL)
		l->tail->next = c;
	else
		l->head = c;
	l->tail = c;
}

/* Closes the socket; the struct lives on while forwarded queries refer to it. */
static void conn_close(struct tcp_conn *c)
{
	struct resolver *r = c->r;

	list_unlink(&r->active, c);
	bufferevent_free(c->bev);
	c->bev = NULL;
	r->stats.tcp_clients--;
	if (c->pending > 0)
		list_append(&r->closed, c);
	else
		free(c);
}

static void conn_touch(struct tcp_conn *c)
{
	struct resolver *r = c->r;

	if (r->active.tail != c) {
		list_unlink(&r->active, c);
		list_append(&r->active, c);
	}
}

static bool conn_idle(const struct tcp_conn *c)
{
	return c->pending == 0 && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0;
}

static void conn_send(struct tcp_conn *c, const uint8_t *resp, size_t len)
{
	uint8_t frame[2] = { (uint8_t)(len >> 8), (uint8_t)len };
	struct evbuffer *output = bufferevent_get_output(c->bev);

	if (evbuffer_add(output, frame, 2) < 0 || evbuffer_add(output, resp, len) < 0)
		c->r->stats.dropped++;
}

/* One framed query: answer it, forward it, or (for a response) ignore it. */
static void conn_query(struct tcp_conn *c, const uint8_t *query, size_t qlen)
{
	struct resolver *r = c->r;
	uint8_t *out = r->tcp_out;
	size_t out_size = sizeof(r->tcp_out), out_len = 0;
	struct dns_query q;
	struct forward_client client;
	int d;

	r->stats.queries++;
	if (r->snap == NULL) {
		if (dns_query_parse(query, qlen, &q) < 0 ||
		    dns_answer_rcode(&r->dcfg, &q, query, LDNS_RCODE_SERVFAIL, out, out_size,
				     &out_len) < 0) {
			r->stats.dropped++;
			return;
		}
		conn_send(c, out, out_len);
		return;
	}
	d = dns_answer(r->snap, &r->dcfg, DNS_TCP, query, qlen, out, out_size, &out_len, &q);
	if (d == DNS_ANSWERED) {
		r->stats.answered++;
		conn_send(c, out, out_len);
		return;
	}
	if (d != DNS_FORWARD) {
		r->stats.dropped++;
		return;
	}
	memset(&client, 0, sizeof(client));
	client.conn = c;
	/* Counted first: the forwarder may answer through forward_reply at once. */
	c->pending++;
	if (forward_query(r->fwd, query, qlen, &q, DNS_TCP, &client, out, out_size, &out_len) ==
	    FORWARD_PENDING)
		return;
	c->pending--;
	conn_send(c, out, out_len);
}

static void conn_read(struct bufferevent *bev, void *arg)
{
	struct tcp_conn *c = arg;
	struct resolver *r = c->r;
	struct evbuffer *input = bufferevent_get_input(bev);
	uint8_t frame[2];
	size_t len;

	conn_touch(c);
	while (evbuffer_get_length(input) >= 2) {
		evbuffer_copyout(input, frame, 2);
		len = (size_t)frame[0] << 8 | frame[1];
		if (len == 0) {
			/* RFC 7766 leaves it open; a zero-length message is no query. */
			r->stats.dropped++;
			conn_close(c);
			return;
		}
		if (evbuffer_get_length(input) < len + 2)
			break;
		evbuffer_drain(input, 2);
		if (evbuffer_remove(input, r->tcp_in, len) != (int)len) {
			conn_close(c);
			return;
		}
		conn_query(c, r->tcp_in, len);
		if (evbuffer_get_length(bufferevent_get_output(bev)) > TCP_OUTPUT_HIGH) {
			/* The client does not read: stop reading until it does. */
			bufferevent_disable(bev, EV_READ);
			break;
		}
	}
}

/* Called when the output is drained. */
static void conn_write(struct bufferevent *bev, void *arg)
{
	struct tcp_conn *c = arg;

	if (c->eof) {
		if (c->pending == 0)
			conn_close(c);
		return;
	}
	/* Read again if a client that did not read had stopped us. */
	if (!(bufferevent_get_enabled(bev) & EV_READ))
		bufferevent_enable(bev, EV_READ);
}

static void conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct tcp_conn *c = arg;

	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) && c->pending > 0) {
		/* Not idle: a forwarded query is still out (RFC 7766 section 6.2.3). */
		bufferevent_enable(bev, EV_READ);
		return;
	}
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) && !conn_idle(c)) {
		/* Half-closed by the client: the answers in flight still go out. */
		c->eof = true;
		bufferevent_disable(bev, EV_READ);
		return;
	}
	conn_close(c);
}

/* At the limit: make room by closing the least recently active idle connection. */
static bool conn_make_room(struct resolver *r)
{
	struct tcp_conn *c;

	if (r->stats.tcp_clients < r->cfg.tcp_max_clients)
		return true;
	for (c = r->active.head; c != NULL; c = c->next) {
		if (conn_idle(c)) {
			conn_close(c);
			return true;
		}
	}
	return false;
}

static void on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
		      int socklen, void *arg)
{
	struct listener *l = arg;
	struct resolver *r = l->r;
	struct tcp_conn *c;
	struct timeval idle = { (time_t)(r->cfg.tcp_idle_ms / 1000),
				(suseconds_t)(r->cfg.tcp_idle_ms % 1000) * 1000 };

	(void)lev;
	(void)sa;
	(void)socklen;
	if (!conn_make_room(r)) {
		r->stats.dropped++;
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		return;
	}
	c->r = r;
	c->bev = bufferevent_socket_new(r->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		close(fd);
		free(c);
		return;
	}
	bufferevent_setcb(c->bev, conn_read, conn_write, conn_event, c);
	bufferevent_set_timeouts(c->bev, &idle, &idle);
	/* A query is at most 65537 bytes framed: no reason to buffer more of a flood. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, 2 * (DNS_TCP_MAX + 2));
	if (bufferevent_enable(c->bev, EV_READ) < 0) {
		bufferevent_free(c->bev);
		free(c);
		return;
	}
	list_append(&r->active, c);
	r->stats.tcp_clients++;
}

static void on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(l->lev);
}

static void on_accept_error(struct evconnlistener *lev, void *arg)
{
	struct listener *l = arg;
	struct timeval tv = { ACCEPT_PAUSE_MS / 1000, (ACCEPT_PAUSE_MS % 1000) * 1000 };

	log_warn("DNS over TCP: accept failed; not accepting for %d ms", ACCEPT_PAUSE_MS);
	evconnlistener_disable(lev);
	evtimer_add(l->pause, &tv);
}

/* ---- UDP ---- */

/* One datagram: the answer goes to out (*out_len), or nothing (*out_len 0). */
static void udp_query(struct listener *l, const uint8_t *query, size_t qlen,
		      const struct sockaddr_storage *from, socklen_t from_len, uint8_t *out,
		      size_t out_size, size_t *out_len)
{
	struct resolver *r = l->r;
	struct dns_query q;
	struct forward_client client;
	int d;

	*out_len = 0;
	r->stats.queries++;
	if (r->snap == NULL) {
		if (dns_query_parse(query, qlen, &q) < 0 ||
		    dns_answer_rcode(&r->dcfg, &q, query, LDNS_RCODE_SERVFAIL, out, out_size,
				     out_len) < 0)
			r->stats.dropped++;
		return;
	}
	d = dns_answer(r->snap, &r->dcfg, DNS_UDP, query, qlen, out, out_size, out_len, &q);
	if (d == DNS_ANSWERED) {
		r->stats.answered++;
		return;
	}
	*out_len = 0;
	if (d != DNS_FORWARD) {
		r->stats.dropped++;
		return;
	}
	memset(&client, 0, sizeof(client));
	client.listener_id = l->id;
	memcpy(&client.addr, from, from_len);
	client.addr_len = from_len;
	if (forward_query(r->fwd, query, qlen, &q, DNS_UDP, &client, out, out_size, out_len) ==
	    FORWARD_PENDING)
		*out_len = 0;
}

/*
 * Up to UDP_BATCH datagrams per readiness event: one recvmmsg, the answers, one
 * sendmmsg. Under load that is two syscalls per batch instead of two per query; the
 * authoritative path allocates nothing.
 */
static void udp_read(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;
	struct udp_batch *b = &l->r->batch;
	unsigned i, n_out;
	size_t out_len;
	int n;

	(void)what;
	for (i = 0; i < UDP_BATCH; i++) {
		b->in_iov[i] = (struct iovec){ b->in[i], UDP_BUF };
		b->in_msg[i].msg_hdr = (struct msghdr){ .msg_name = &b->from[i],
							.msg_namelen = sizeof(b->from[i]),
							.msg_iov = &b->in_iov[i],
							.msg_iovlen = 1 };
	}
	n = recvmmsg(fd, b->in_msg, UDP_BATCH, MSG_DONTWAIT, NULL);
	if (n <= 0)
		return; /* EAGAIN, or an ICMP error queued on the socket */
	n_out = 0;
	for (i = 0; i < (unsigned)n; i++) {
		socklen_t from_len = b->in_msg[i].msg_hdr.msg_namelen;

		udp_query(l, b->in[i], b->in_msg[i].msg_len, &b->from[i], from_len, b->out[n_out],
			  UDP_BUF, &out_len);
		if (out_len == 0)
			continue;
		b->out_iov[n_out] = (struct iovec){ b->out[n_out], out_len };
		b->out_msg[n_out].msg_hdr = (struct msghdr){ .msg_name = &b->from[i],
							     .msg_namelen = from_len,
							     .msg_iov = &b->out_iov[n_out],
							     .msg_iovlen = 1 };
		n_out++;
	}
	/* A full socket buffer loses the rest; their clients retry. */
	if (n_out > 0)
		(void)sendmmsg(fd, b->out_msg, n_out, MSG_DONTWAIT);
}

/* The forwarder's answer to a query it left pending. */
static void forward_reply(void *arg, const struct forward_client *client, const uint8_t *resp,
			  size_t len)
{
	struct resolver *r = arg;
	struct tcp_conn *c = client->conn;
	size_t i;

	if (c != NULL) {
		c->pending--;
		if (c->bev == NULL) {
			if (c->pending == 0) {
				list_unlink(&r->closed, c);
				free(c);
			}
			return;
		}
		if (len > 0)
			conn_send(c, resp, len);
		return;
	}
	if (len == 0)
		return;
	for (i = 0; i < r->n_listeners; i++) {
		struct listener *l = r->listeners[i];

		if (l->id == client->listener_id) {
			if (l->fd >= 0)
				(void)sendto(l->fd, resp, len, 0,
					     (const struct sockaddr *)&client->addr,
					     client->addr_len);
			return;
		}
	}
}

/* ---- listeners ---- */

static void listener_free(struct listener *l)
{
	if (l == NULL)
		return;
	if (l->ev != NULL)
		event_free(l->ev);
	if (l->pause != NULL)
		event_free(l->pause);
	if (l->lev != NULL)
		evconnlistener_free(l->lev); /* closes fd */
	else if (l->fd >= 0)
		close(l->fd);
	free(l);
}

/* Opens one listener; a failed bind is kept in l->error, not returned. */
static int listener_new(struct resolver *r, const struct sockaddr_storage *addr, bool tcp,
			struct listener **out)
{
	struct listener *l;
	int one = 1, type = tcp ? SOCK_STREAM : SOCK_DGRAM;

	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return -ENOMEM;
	l->r = r;
	l->id = ++r->next_listener_id;
	l->addr = *addr;
	l->addr_len = addr_len_of(addr);
	l->tcp = tcp;
	l->fd = socket(addr->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		goto fail;
	/* TCP only: a restart must not wait for TIME_WAIT. On UDP, Linux lets two
	 * processes that both set SO_REUSEADDR share a port and split its queries, so a
	 * second daemon would "start" on a port that is taken. */
	if (tcp && setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	/* An IPv6 address must not also catch IPv4 (and never become a wildcard for it). */
	if (addr->ss_family == AF_INET6 &&
	    setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	if (bind(l->fd, (const struct sockaddr *)addr, l->addr_len) < 0)
		goto fail;
	if (tcp) {
		l->pause = evtimer_new(r->base, on_accept_resume, l);
		if (l->pause == NULL)
			goto fail;
		l->lev = evconnlistener_new(r->base, on_accept, l,
					    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
					    TCP_BACKLOG, l->fd);
		if (l->lev == NULL)
			goto fail;
		evconnlistener_set_error_cb(l->lev, on_accept_error);
	} else {
		l->ev = event_new(r->base, l->fd, EV_READ | EV_PERSIST, udp_read, l);
		if (l->ev == NULL || event_add(l->ev, NULL) < 0)
			goto fail;
	}
	*out = l;
	return 0;
fail:
	l->error = errno != 0 ? errno : ENOMEM;
	if (l->ev != NULL) {
		event_free(l->ev);
		l->ev = NULL;
	}
	if (l->pause != NULL) {
		event_free(l->pause);
		l->pause = NULL;
	}
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	if (l->error == ENOMEM) {
		free(l);
		return -ENOMEM;
	}
	*out = l;
	return 0;
}

/*
 * Opens listeners for every address of cfg into out, taking over bound ones from
 * old[0..n_old) (set to NULL there). On failure (-ENOMEM) every listener taken over is
 * put back into old and the new ones are closed.
 */
static int listeners_open(struct resolver *r, const struct resolver_config *cfg,
			  struct listener **old, size_t n_old, struct listener **out, size_t *n_out)
{
	size_t from[2 * RESOLVER_MAX_LISTEN]; /* index in old, or SIZE_MAX if new */
	size_t i, j, n = 0;
	int t, e;

	for (i = 0; i < cfg->n_listen; i++) {
		for (t = 0; t < 2; t++) {
			struct listener *l = NULL;

			from[n] = SIZE_MAX;
			for (j = 0; j < n_old; j++) {
				if (old[j] != NULL && old[j]->error == 0 &&
				    old[j]->tcp == (t == 1) &&
				    addr_equal(&old[j]->addr, &cfg->listen[i])) {
					l = old[j];
					old[j] = NULL;
					from[n] = j;
					break;
				}
			}
			if (l == NULL) {
				e = listener_new(r, &cfg->listen[i], t == 1, &l);
				if (e < 0)
					goto fail;
			}
			out[n++] = l;
		}
	}
	*n_out = n;
	return 0;
fail:
	while (n > 0) {
		n--;
		if (from[n] != SIZE_MAX)
			old[from[n]] = out[n];
		else
			listener_free(out[n]);
	}
	return e;
}

int resolver_new(struct event_base *base, const struct resolver_config *cfg, struct resolver **out)
{
	struct resolver *r;
	int e;

	*out = NULL;
	if (base == NULL || config_check(cfg) < 0)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->base = base;
	r->cfg = *cfg;
	dns_config_from(&r->dcfg, cfg);
	e = forward_new(base, &r->cfg, &r->dcfg, &r->stats, forward_reply, r, &r->fwd);
	if (e < 0)
		goto fail;
	e = listeners_open(r, cfg, NULL, 0, r->listeners, &r->n_listeners);
	if (e < 0)
		goto fail;
	*out = r;
	return 0;
fail:
	resolver_free(r);
	return e;
}

void resolver_free(struct resolver *r)
{
	size_t i;

	if (r == NULL)
		return;
	/* The forwarder first: it then never calls back into a freed connection. */
	forward_free(r->fwd);
	for (i = 0; i < r->n_listeners; i++)
		listener_free(r->listeners[i]);
	while (r->active.head != NULL) {
		struct tcp_conn *c = r->active.head;

		c->pending = 0;
		conn_close(c);
	}
	while (r->closed.head != NULL) {
		struct tcp_conn *c = r->closed.head;

		list_unlink(&r->closed, c);
		free(c);
	}
	snapshot_unref(r->snap);
	free(r);
}

void resolver_set_snapshot(struct resolver *r, struct snapshot *s)
{
	if (s != NULL)
		snapshot_ref(s);
	snapshot_unref(r->snap);
	r->snap = s;
}

int resolver_reconfigure(struct resolver *r, const struct resolver_config *cfg)
{
	struct listener *fresh[2 * RESOLVER_MAX_LISTEN];
	struct resolver_config old_cfg = r->cfg;
	size_t n = 0, i;
	int e;

	if (config_check(cfg) < 0)
		return -EINVAL;
	e = listeners_open(r, cfg, r->listeners, r->n_listeners, fresh, &n);
	if (e < 0)
		return e;
	for (i = 0; i < r->n_listeners; i++)
		listener_free(r->listeners[i]); /* those not taken over */
	memcpy(r->listeners, fresh, n * sizeof(fresh[0]));
	r->n_listeners = n;
	r->cfg = *cfg;
	dns_config_from(&r->dcfg, cfg);
	e = forward_reconfigure(r->fwd, &r->cfg);
	if (e < 0) {
		r->cfg = old_cfg;
		dns_config_from(&r->dcfg, &old_cfg);
		return e;
	}
	return 0;
}

size_t resolver_listeners(const struct resolver *r, struct resolver_listener *out, size_t max)
{
	size_t i;

	for (i = 0; i < r->n_listeners && i < max; i++) {
		out[i].addr = r->listeners[i]->addr;
		out[i].tcp = r->listeners[i]->tcp;
		out[i].error = r->listeners[i]->error;
	}
	return r->n_listeners;
}

void resolver_stats(const struct resolver *r, struct resolver_stats *out)
{
	*out = r->stats;
}
