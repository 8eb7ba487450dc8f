/*
 * test_server.c: unit tests of the resolver's dispatch (server.c, forward.c) in one
 * process: the resolver on a libevent base, a client socket and fake upstream sockets
 * on loopback (127.0.0.159-162) driven by the test. Covers the
 * config checks, bind failures, the snapshot-less and `forward no` answers, the answer
 * checks on upstream replies, cache, failover, limits and reconfiguration.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <ldns/ldns.h>

#include "meshname/dns.h"
#include "meshname/resolver.h"
#include "zone_fixture.h"

#define SERVER_ADDR "127.0.0.159"
#define UP1_ADDR "127.0.0.160"
#define UP2_ADDR "127.0.0.161"

/* From a base picked per run (below the ephemeral range), so two runs at once do not
 * collide: the server's port, the fake upstreams' port, and one where nothing listens
 * (ICMP port unreachable). */
static uint16_t SERVER_PORT, UP_PORT, CLOSED_PORT;

struct ctx {
	struct event_base *base;
	struct resolver *r;
	struct snapshot *snap;
	struct resolver_config cfg;
	int client; /* UDP, connected to the resolver */
};

static void addr_set(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	in->sin_family = AF_INET;
	in->sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, ip, &in->sin_addr), 1);
}

static int udp_socket(const char *ip, uint16_t port, bool do_bind)
{
	struct sockaddr_storage ss;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;

	assert_true(fd >= 0);
	addr_set(&ss, ip, port);
	if (do_bind) {
		assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
		assert_int_equal(bind(fd, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)), 0);
	} else {
		assert_int_equal(connect(fd, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)),
				 0);
	}
	return fd;
}

/* A query for name (dotted, no final dot) with RD, no EDNS. */
static size_t query_make(uint8_t *b, uint16_t id, const char *name, uint16_t qtype)
{
	size_t len = DNS_HEADER_SIZE, label = 0, i, n = strlen(name);

	memset(b, 0, DNS_HEADER_SIZE);
	b[0] = (uint8_t)(id >> 8);
	b[1] = (uint8_t)id;
	b[2] = 0x01;
	b[5] = 1;
	for (i = 0; i <= n; i++) {
		if (i == n || name[i] == '.') {
			b[len++] = (uint8_t)(i - label);
			memcpy(b + len, name + label, i - label);
			len += i - label;
			label = i + 1;
		}
	}
	b[len++] = 0;
	b[len++] = (uint8_t)(qtype >> 8);
	b[len++] = (uint8_t)qtype;
	b[len++] = 0;
	b[len++] = 1;
	return len;
}

/* Runs the loop until fd has a datagram (returns its length) or 3 s pass (-1). */
static ssize_t pump_recv(struct ctx *c, int fd, uint8_t *buf, size_t size,
			 struct sockaddr_storage *from)
{
	socklen_t from_len = sizeof(*from);
	int i;

	for (i = 0; i < 3000; i++) {
		ssize_t n;

		event_base_loop(c->base, EVLOOP_NONBLOCK);
		n = recvfrom(fd, buf, size, MSG_DONTWAIT, (struct sockaddr *)from, &from_len);
		if (n >= 0)
			return n;
		usleep(1000);
	}
	return -1;
}

/* Runs the loop for ms milliseconds. */
static void pump_for(struct ctx *c, int ms)
{
	int i;

	for (i = 0; i < ms; i++) {
		event_base_loop(c->base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

/* A response to query q (qlen bytes): id, question as given, one A 192.0.2.<last>. */
static size_t answer_make(uint8_t *out, const uint8_t *q, size_t qlen, uint16_t id, uint8_t last,
			  uint32_t ttl)
{
	static const uint8_t rr_head[] = { 0xc0, 0x0c, 0, 1, 0, 1 };
	size_t len = qlen;

	memcpy(out, q, qlen);
	out[0] = (uint8_t)(id >> 8);
	out[1] = (uint8_t)id;
	out[2] = 0x81; /* QR RD */
	out[3] = 0x80; /* RA */
	out[7] = 1;    /* ANCOUNT */
	out[11] = 0;   /* no OPT back */
	/* Our upstream query ends with an OPT: cut it, the question ends 11 bytes before. */
	len = qlen - 11;
	memcpy(out + len, rr_head, sizeof(rr_head));
	len += sizeof(rr_head);
	out[len++] = (uint8_t)(ttl >> 24);
	out[len++] = (uint8_t)(ttl >> 16);
	out[len++] = (uint8_t)(ttl >> 8);
	out[len++] = (uint8_t)ttl;
	out[len++] = 0;
	out[len++] = 4;
	out[len++] = 192;
	out[len++] = 0;
	out[len++] = 2;
	out[len++] = last;
	return len;
}

static uint8_t rcode_of(const uint8_t *resp)
{
	return resp[3] & 0x0f;
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->base = event_base_new();
	assert_non_null(c->base);
	c->snap = zone_fixture();
	assert_non_null(c->snap);
	resolver_config_default(&c->cfg);
	addr_set(&c->cfg.listen[0], SERVER_ADDR, SERVER_PORT);
	c->cfg.n_listen = 1;
	addr_set(&c->cfg.upstream[0], UP1_ADDR, UP_PORT);
	c->cfg.n_upstream = 1;
	c->client = -1;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	resolver_free(c->r);
	snapshot_unref(c->snap);
	if (c->client >= 0)
		close(c->client);
	event_base_free(c->base);
	free(c);
	return 0;
}

/* Starts the resolver with c->cfg and the fixture snapshot, and the client socket. */
static void start(struct ctx *c)
{
	assert_int_equal(resolver_new(c->base, &c->cfg, &c->r), 0);
	resolver_set_snapshot(c->r, c->snap);
	c->client = udp_socket(SERVER_ADDR, SERVER_PORT, false);
}

static void ask(struct ctx *c, uint16_t id, const char *name, uint16_t qtype)
{
	uint8_t q[512];
	size_t len = query_make(q, id, name, qtype);

	assert_int_equal(send(c->client, q, len, 0), (ssize_t)len);
}

static void defaults_are_documented(void **state)
{
	struct resolver_config cfg;

	(void)state;
	resolver_config_default(&cfg);
	assert_int_equal(cfg.n_listen, 0);
	assert_true(cfg.forward);
	assert_int_equal(cfg.ttl, 30);
	assert_int_equal(cfg.negative_ttl, 10);
	assert_int_equal(cfg.cache_size, 10000);
	assert_true(cfg.serve_stale);
	assert_int_equal(cfg.tcp_max_clients, 128);
	assert_int_equal(cfg.tcp_idle_ms, 10000);
	assert_int_equal(cfg.max_outstanding, 1024);
}

static void bad_configs_are_einval(void **state)
{
	struct ctx *c = *state;
	struct resolver_config cfg = c->cfg;

	cfg.n_listen = RESOLVER_MAX_LISTEN + 1;
	assert_int_equal(resolver_new(c->base, &cfg, &c->r), -EINVAL);
	assert_null(c->r);
	cfg = c->cfg;
	cfg.listen[0].ss_family = AF_UNIX;
	assert_int_equal(resolver_new(c->base, &cfg, &c->r), -EINVAL);
	cfg = c->cfg;
	cfg.upstream[0].ss_family = AF_UNSPEC;
	assert_int_equal(resolver_new(c->base, &cfg, &c->r), -EINVAL);
	cfg = c->cfg;
	cfg.tcp_max_clients = 0;
	assert_int_equal(resolver_new(c->base, &cfg, &c->r), -EINVAL);
	cfg = c->cfg;
	cfg.max_outstanding = 0;
	assert_int_equal(resolver_new(c->base, &cfg, &c->r), -EINVAL);
	assert_int_equal(resolver_new(NULL, &c->cfg, &c->r), -EINVAL);
}

static void a_bind_failure_is_kept_per_listener(void **state)
{
	struct ctx *c = *state;
	struct resolver_listener l[4];

	/* 192.0.2.1 is not ours: the bind fails, the other address serves. */
	addr_set(&c->cfg.listen[1], "192.0.2.1", SERVER_PORT);
	c->cfg.n_listen = 2;
	start(c);
	assert_int_equal(resolver_listeners(c->r, l, 4), 4);
	assert_int_equal(l[0].error, 0);
	assert_false(l[0].tcp);
	assert_int_equal(l[1].error, 0);
	assert_true(l[1].tcp);
	assert_int_equal(l[2].error, EADDRNOTAVAIL);
	assert_int_equal(l[3].error, EADDRNOTAVAIL);
	/* Asking for fewer fills fewer and still says how many there are. */
	assert_int_equal(resolver_listeners(c->r, l, 1), 4);
}

static void mesh_names_are_answered_over_udp(void **state)
{
	struct ctx *c = *state;
	struct sockaddr_storage from;
	struct resolver_stats st;
	uint8_t buf[2048];
	ssize_t n;

	start(c);
	ask(c, 0x4242, "NaS.mesh", LDNS_RR_TYPE_A);
	n = pump_recv(c, c->client, buf, sizeof(buf), &from);
	assert_true(n > DNS_HEADER_SIZE);
	assert_int_equal(buf[0], 0x42);
	assert_int_equal(buf[1], 0x42);
	assert_int_equal(buf[2] & 0x04, 0x04); /* AA */
	assert_int_equal(rcode_of(buf), LDNS_RCODE_NOERROR);
	assert_memory_equal(buf + DNS_HEADER_SIZE, "\3NaS\4mesh", 9);
	resolver_stats(c->r, &st);
	assert_int_equal(st.queries, 1);
	assert_int_equal(st.answered, 1);
	assert_int_equal(st.forwarded, 0);
}

static void without_a_snapshot_everything_is_servfail(void **state)
{
	struct ctx *c = *state;
	struct sockaddr_storage from;
	uint8_t buf[2048];

	start(c);
	resolver_set_snapshot(c->r, NULL);
	ask(c, 1, "nas.mesh", LDNS_RR_TYPE_A);
	assert_true(pump_recv(c, c->client, buf, sizeof(buf), &from) > 0);
	assert_int_equal(rcode_of(buf), LDNS_RCODE_SERVFAIL);
	/* And a new snapshot answers again. */
	resolver_set_snapshot(c->r, c->snap);
	ask(c, 2, "nas.mesh", LDNS_RR_TYPE_A);
	assert_true(pump_recv(c, c->client, buf, sizeof(buf), &from) > 0);
	assert_int_equal(rcode_of(buf), LDNS_RCODE_NOERROR);
}

static void forward_no_refuses_other_names(void **state)
{
	struct ctx *c = *state;
	struct sockaddr_storage from;
	uint8_t buf[2048];

	c->cfg.forward = false;
	start(c);
	ask(c, 1, "www.example.test", LDNS_RR_TYPE_A);
	assert_true(pump_recv(c, c->client, buf, sizeof(buf), &from) > 0);
	assert_int_equal(rcode_of(buf), LDNS_RCODE_REFUSED);
	assert_int_equal(buf[2] & 0x04, 0); /* not authoritative */
}

/*
 * The forwarder's query reaches the upstream with a fresh ID; forged answers (wrong
 * ID, wrong source port, wrong question, a truncated packet) are dropped; the real one
 * reaches the client with the client's ID and case; the next ask is a cache hit.
 */
static void forwarded_answers_are_checked_and_cached(void **state)
{
	struct ctx *c = *state;
	struct sockaddr_storage from, peer;
	struct resolver_stats st;
	uint8_t q[512], resp[512], buf[2048];
	int up = udp_socket(UP1_ADDR, UP_PORT, true);
	int other = udp_socket(UP1_ADDR, (uint16_t)(UP_PORT + 5), true);
	ssize_t n, qlen;
	size_t len;
	uint16_t id;

	start(c);
	ask(c, 0x7777, "WWW.example.test", LDNS_RR_TYPE_A);
	qlen = pump_recv(c, up, q, sizeof(q), &peer);
	assert_true(qlen > DNS_HEADER_SIZE);
	id = (uint16_t)(q[0] << 8 | q[1]);
	/* Our OPT goes upstream whatever the client sent. */
	assert_int_equal(q[11], 1);

	len = answer_make(resp, q, (size_t)qlen, (uint16_t)(id + 1), 9, 300);
	assert_int_equal(sendto(up, resp, len, 0, (struct sockaddr *)&peer,
				sizeof(struct sockaddr_in)),
			 (ssize_t)len);
	len = answer_make(resp, q, (size_t)qlen, id, 9, 300);
	assert_int_equal(sendto(other, resp, len, 0, (struct sockaddr *)&peer,
				sizeof(struct sockaddr_in)),
			 (ssize_t)len);
	len = answer_make(resp, q, (size_t)qlen, id, 9, 300);
	resp[DNS_HEADER_SIZE + 1] = 'x'; /* xWW.example.test */
	assert_int_equal(sendto(up, resp, len, 0, (struct sockaddr *)&peer,
				sizeof(struct sockaddr_in)),
			 (ssize_t)len);
	len = answer_make(resp, q, (size_t)qlen, id, 9, 300);
	assert_int_equal(sendto(up, resp, len - 5, 0, (struct sockaddr *)&peer,
				sizeof(struct sockaddr_in)),
			 (ssize_t)(len - 5));
	pump_for(c, 50);
	assert_int_equal(recv(c->client, buf, sizeof(buf), MSG_DONTWAIT), -1);

	len = answer_make(resp, q, (size_t)qlen, id, 7, 300);
	assert_int_equal(sendto(up, resp, len, 0, (struct sockaddr *)&peer,
				sizeof(struct sockaddr_in)),
			 (ssize_t)len);
	n = pump_recv(c, c->client, buf, sizeof(buf), &from);
	assert_true(n > DNS_HEADER_SIZE);
	assert_int_equal(buf[0], 0x77);
	assert_int_equal(buf[1], 0x77);
	assert_memory_equal(buf + DNS_HEADER_SIZE, "\3WWW\7example\4test", 18);
	assert_int_equal(buf[n - 1], 7);
	assert_int_equal(buf[11], 0); /* no OPT: the client sent none */
	resolver_stats(c->r, &st);
	assert_int_equal(st.forwarded, 1);
	/* Wrong ID, wrong question, truncated; the wrong port never reaches us at all: the
	 * upstream sockets are connected, so the kernel drops it. */
	assert_int_equal(st.dropped, 3);

	ask(c, 0x8888, "www.EXAMPLE.test", LDNS_RR_TYPE_A);
	n = pump_recv(c, c->client, buf, sizeof(buf), &from);
	assert_true(n > DNS_HEADER_SIZE);
	assert_int_equal(buf[n - 1], 7);
	assert_memory_equal(buf + DNS_HEADER_SIZE, "\3www\7EXAMPLE\4test", 18);
	resolver_stats(c->r, &st);
	assert_int_equal(st.cache_hits, 1);
	assert_int_equal(st.forwarded, 1);
	assert_int_equal(recv(up, q, sizeof(q), MSG_DONTWAIT), -1); /* nothing went upstream */
	close(up);
	close(other);
}

/* Upstream 1's port is closed: the ICMP error fails over to upstream 2 at once. */
static void a_closed_upstream_fails_over_at_once(void **state)
{
	struct ctx *c = *state;
	struct sockaddr_storage from, peer;
	uint8_t q[512], resp[512], buf[2048];
	int up2 = udp_socket(UP2_ADDR, UP_PORT, true);
	struct timespec t0, t1;
	ssize_t qlen;
	size_t len;

	addr_set(&c->cfg.upstream[0], UP1_ADDR, CLOSED_PORT);
	addr_set(&c->cfg.upstream[1], UP2_ADDR, UP_PORT);
	c->cfg.n_upstream = 2;
	start(c);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ask(c, 5, "a.example.test", LDNS_RR_TYPE_A);
	qlen = pump_recv(c, up2, q, sizeof(q), &peer);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(qlen > 0);
	/* Well before the 400 ms initial timeout. */
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 300);
	len = answer_make(resp, q, (size_t)qlen, (uint16_t)(q[0] << 8 | q[1]), 2, 60);
	assert_int_equal(sendto(up2, resp, len, 0, (struct sockaddr *)&peer,
				sizeof(struct sockaddr_in)),
			 (ssize_t)len);
	assert_true(pump_recv(c, c->client, buf, sizeof(buf), &from) > 0);
	assert_int_equal(rcode_of(buf), LDNS_RCODE_NOERROR);
	close(up2);
}

/* A silent upstream: SERVFAIL after its timeout; an answer seen before is served stale. */
static void a_silent_upstream_gives_servfail(void **state)
{
	struct ctx *c = *state;
	struct sockaddr_storage from, peer;
	struct resolver_stats st;
	uint8_t q[512], buf[2048];
	int up = udp_socket(UP1_ADDR, UP_PORT, true);

	start(c);
	ask(c, 6, "silent.example.test", LDNS_RR_TYPE_A);
	assert_true(pump_recv(c, up, q, sizeof(q), &peer) > 0);
	assert_true(pump_recv(c, c->client, buf, sizeof(buf), &from) > 0);
	assert_int_equal(rcode_of(buf), LDNS_RCODE_SERVFAIL);
	resolver_stats(c->r, &st);
	assert_int_equal(st.servfail, 1);
	close(up);
}

static void too_many_in_flight_get_servfail_at_once(void **state)
{
	struct ctx *c = *state;
	struct sockaddr_storage from, peer;
	struct resolver_stats st;
	uint8_t q[512], buf[2048];
	int up = udp_socket(UP1_ADDR, UP_PORT, true);

	c->cfg.max_outstanding = 1;
	start(c);
	ask(c, 1, "one.example.test", LDNS_RR_TYPE_A);
	assert_true(pump_recv(c, up, q, sizeof(q), &peer) > 0);
	ask(c, 2, "two.example.test", LDNS_RR_TYPE_A);
	assert_true(pump_recv(c, c->client, buf, sizeof(buf), &from) > 0);
	assert_int_equal(buf[1], 2);
	assert_int_equal(rcode_of(buf), LDNS_RCODE_SERVFAIL);
	resolver_stats(c->r, &st);
	assert_int_equal(st.dropped, 1);
	close(up);
}

/* No upstream in the config and none usable in resolv.conf: SERVFAIL, not a hang. */
static void no_upstream_at_all_is_servfail(void **state)
{
	struct ctx *c = *state;
	struct sockaddr_storage from;
	char path[] = "/tmp/test_server_resolv_XXXXXX";
	uint8_t buf[2048];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "nameserver 127.0.0.53\n", 22), 22);
	close(fd);
	c->cfg.n_upstream = 0;
	c->cfg.resolv_conf = path;
	start(c);
	unlink(path);
	ask(c, 3, "x.example.test", LDNS_RR_TYPE_A);
	assert_true(pump_recv(c, c->client, buf, sizeof(buf), &from) > 0);
	assert_int_equal(rcode_of(buf), LDNS_RCODE_SERVFAIL);
}

/* SIGHUP: a kept address keeps its socket, a new one is bound, a removed one closed. */
static void reconfigure_diffs_listeners(void **state)
{
	struct ctx *c = *state;
	struct resolver_config cfg;
	struct resolver_listener l[8];
	struct sockaddr_storage from;
	uint8_t buf[2048];
	size_t len;
	int client2;

	start(c);
	cfg = c->cfg;
	addr_set(&cfg.listen[1], "127.0.0.162", SERVER_PORT);
	cfg.n_listen = 2;
	assert_int_equal(resolver_reconfigure(c->r, &cfg), 0);
	assert_int_equal(resolver_listeners(c->r, l, 8), 4);
	assert_int_equal(l[2].error, 0);
	ask(c, 1, "nas.mesh", LDNS_RR_TYPE_A);
	assert_true(pump_recv(c, c->client, buf, sizeof(buf), &from) > 0);
	client2 = udp_socket("127.0.0.162", SERVER_PORT, false);
	len = query_make(buf, 9, "nas.mesh", LDNS_RR_TYPE_A);
	assert_int_equal(send(client2, buf, len, 0), (ssize_t)len);
	assert_true(pump_recv(c, client2, buf, sizeof(buf), &from) > 0);
	assert_int_equal(buf[1], 9);
	close(client2);

	cfg.listen[0] = cfg.listen[1];
	cfg.n_listen = 1;
	cfg.forward = false;
	assert_int_equal(resolver_reconfigure(c->r, &cfg), 0);
	assert_int_equal(resolver_listeners(c->r, l, 8), 2);
	ask(c, 2, "nas.mesh", LDNS_RR_TYPE_A);
	pump_for(c, 20);
	/* The old address is closed: the client's datagram met a closed port. */
	assert_int_equal(recv(c->client, buf, sizeof(buf), MSG_DONTWAIT), -1);
	cfg.n_listen = RESOLVER_MAX_LISTEN + 1;
	assert_int_equal(resolver_reconfigure(c->r, &cfg), -EINVAL);
	assert_int_equal(resolver_listeners(c->r, l, 8), 2);
}

static int tcp_connect(void)
{
	struct sockaddr_storage ss;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	addr_set(&ss, SERVER_ADDR, SERVER_PORT);
	assert_int_equal(connect(fd, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)), 0);
	return fd;
}

/* True if the server closed fd within ms milliseconds of running the loop. */
static bool closed_within(struct ctx *c, int fd, int ms)
{
	uint8_t b[64];
	int i;

	for (i = 0; i < ms; i++) {
		ssize_t n;

		event_base_loop(c->base, EVLOOP_NONBLOCK);
		n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (n == 0)
			return true;
		usleep(1000);
	}
	return false;
}

/*
 * RFC 7766 section 6.2.3: an idle connection is closed after tcp_idle_ms; one with a
 * forwarded query in flight is not idle. Freeing the resolver with that query still
 * out frees everything (ASan checks).
 */
static void idle_tcp_connections_are_closed(void **state)
{
	struct ctx *c = *state;
	struct sockaddr_storage peer;
	struct resolver_stats st;
	uint8_t q[512];
	int up = udp_socket(UP1_ADDR, UP_PORT, true), idle, busy;
	size_t len;

	c->cfg.tcp_idle_ms = 100;
	start(c);
	idle = tcp_connect();
	busy = tcp_connect();
	len = query_make(q + 2, 3, "busy.example.test", LDNS_RR_TYPE_A);
	q[0] = 0;
	q[1] = (uint8_t)len;
	assert_int_equal(send(busy, q, len + 2, 0), (ssize_t)(len + 2));
	assert_true(pump_recv(c, up, q, sizeof(q), &peer) > 0);
	resolver_stats(c->r, &st);
	assert_int_equal(st.tcp_clients, 2);
	assert_true(closed_within(c, idle, 300));
	/* The upstream stays silent for its 400 ms timeout: busy is kept past 100 ms. */
	assert_false(closed_within(c, busy, 150));
	resolver_stats(c->r, &st);
	assert_int_equal(st.tcp_clients, 1);
	close(idle);
	close(busy);
	close(up);
}

/* A zero-length message closes the connection; a query framed in pieces is answered. */
static void tcp_framing(void **state)
{
	struct ctx *c = *state;
	uint8_t q[512], b[512];
	size_t len;
	ssize_t n = -1;
	int fd, i;

	start(c);
	fd = tcp_connect();
	len = query_make(q + 2, 0x0102, "nas.mesh", LDNS_RR_TYPE_A);
	q[0] = 0;
	q[1] = (uint8_t)len;
	/* Two queries, the second one split mid-header across sends. */
	assert_int_equal(send(fd, q, len + 2, 0), (ssize_t)(len + 2));
	assert_int_equal(send(fd, q, 5, 0), 5);
	pump_for(c, 10);
	assert_int_equal(send(fd, q + 5, len - 3, 0), (ssize_t)(len - 3));
	for (i = 0; i < 2; i++) {
		size_t got = 0, want = 2;
		int k;

		for (k = 0; k < 1000 && got < want; k++) {
			event_base_loop(c->base, EVLOOP_NONBLOCK);
			n = recv(fd, b + got, want - got, MSG_DONTWAIT);
			if (n > 0)
				got += (size_t)n;
			if (got == 2 && want == 2)
				want = 2 + (size_t)(b[0] << 8 | b[1]);
			if (got < want)
				usleep(1000);
		}
		assert_int_equal(got, want);
		assert_int_equal(b[2], 0x01);
		assert_int_equal(b[3], 0x02);
	}
	assert_int_equal(send(fd, "\0\0", 2, 0), 2);
	assert_true(closed_within(c, fd, 300));
	close(fd);
}

/* Out of descriptors: accept fails, the listener pauses, then serves the waiting client. */
static void accept_errors_pause_the_listener(void **state)
{
	struct ctx *c = *state;
	struct sockaddr_storage ss;
	struct rlimit saved, low;
	int fds[1024], n = 0, fd, i;
	uint8_t q[512], b[512];
	size_t len, got = 0;

	start(c);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	low = saved;
	low.rlim_cur = 1000;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (n < 1024 && (fds[n] = dup(0)) >= 0)
		n++;
	assert_true(n < 1024); /* the table is full: accept will fail */
	addr_set(&ss, SERVER_ADDR, SERVER_PORT);
	assert_int_equal(connect(fd, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)), 0);
	pump_for(c, 50);
	while (n > 0)
		close(fds[--n]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
	len = query_make(q + 2, 0x0304, "nas.mesh", LDNS_RR_TYPE_A);
	q[0] = 0;
	q[1] = (uint8_t)len;
	assert_int_equal(send(fd, q, len + 2, 0), (ssize_t)(len + 2));
	/* Within the pause nothing is accepted (without it, libevent would retry at once and
	 * answer now); after it the waiting connection is accepted and served. */
	pump_for(c, 300);
	assert_int_equal(recv(fd, b, sizeof(b), MSG_DONTWAIT), -1);
	for (i = 0; i < 2500 && got < 4; i++) {
		ssize_t r;

		event_base_loop(c->base, EVLOOP_NONBLOCK);
		r = recv(fd, b + got, sizeof(b) - got, MSG_DONTWAIT);
		if (r > 0)
			got += (size_t)r;
		else
			usleep(1000);
	}
	assert_true(got >= 4);
	assert_int_equal(b[2], 0x03);
	assert_int_equal(b[3], 0x04);
	close(fd);
}

int main(void)
{
	uint16_t base = (uint16_t)(10000 + (getpid() % 2000) * 10);

	SERVER_PORT = base;
	UP_PORT = (uint16_t)(base + 1);
	CLOSED_PORT = (uint16_t)(base + 2);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_are_documented),
		cmocka_unit_test_setup_teardown(bad_configs_are_einval, setup, teardown),
		cmocka_unit_test_setup_teardown(a_bind_failure_is_kept_per_listener, setup,
						teardown),
		cmocka_unit_test_setup_teardown(mesh_names_are_answered_over_udp, setup, teardown),
		cmocka_unit_test_setup_teardown(without_a_snapshot_everything_is_servfail, setup,
						teardown),
		cmocka_unit_test_setup_teardown(forward_no_refuses_other_names, setup, teardown),
		cmocka_unit_test_setup_teardown(forwarded_answers_are_checked_and_cached, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_closed_upstream_fails_over_at_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_silent_upstream_gives_servfail, setup, teardown),
		cmocka_unit_test_setup_teardown(too_many_in_flight_get_servfail_at_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(no_upstream_at_all_is_servfail, setup, teardown),
		cmocka_unit_test_setup_teardown(reconfigure_diffs_listeners, setup, teardown),
		cmocka_unit_test_setup_teardown(idle_tcp_connections_are_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(tcp_framing, setup, teardown),
		cmocka_unit_test_setup_teardown(accept_errors_pause_the_listener, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
