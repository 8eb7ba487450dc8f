/*
 * syncconn.c: one sync connection (syncconn.h): connect, transport B's handshake and
 * framing, the sync session fed from and drained into a bufferevent, and an orderly end
 * (our last bytes, transport B's FINAL, a half-close, the peer's end of stream). It never
 * decides who the peer is or what it may do (syncd.c does), never logs, never blocks:
 * input is handled at most SYNCCONN_READ_BUDGET bytes per callback and output is queued
 * only while the socket keeps up.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <sodium.h>

#include "daemon/syncconn.h"
#include "meshname/session.h"

enum conn_state {
	ST_CONNECTING = 1, /* waiting for the TCP connection */
	ST_HANDSHAKE,      /* transport B: the three handshake messages */
	ST_SESSION,        /* the sync session runs */
	ST_CLOSING,        /* our end is queued: flushing, then waiting for the peer's end */
	ST_CLOSED,
};

struct syncconn {
	struct event_base *base;
	struct bufferevent *bev;
	struct event *timer; /* deadlines and session ticks */
	struct event *work;  /* input left over when a callback's budget ran out */
	struct syncconn_params p;
	struct sync_config sc;
	enum conn_state state;
	uint64_t deadline; /* monotonic ms: connect, handshake or linger */

	uint8_t host_sk[REC_SECRET_SIZE];
	uint8_t pin[REC_KEY_SIZE];
	bool pinned;
	uint8_t (*push)[REC_ID_SIZE];
	size_t n_push;

	struct session ses;       /* transport B */
	uint8_t *rx_msg, *tx_msg; /* one sealed message each way (SESSION_MAX_MESSAGE) */
	uint8_t *plain;           /* an opened message the session has not consumed all of */
	size_t plain_off, plain_len;

	struct sync_session *s;
	uint8_t peer_key[REC_KEY_SIZE];
	bool have_peer_key;
	bool peer_eof;     /* the peer's end of stream (or an error) came */
	bool broken;       /* nothing can be sent any more */
	bool shut;         /* our write side is shut */
	bool ended;        /* ended() was called */
	int connect_error; /* the connect failed at once: reported from the loop */
	struct syncconn_result res;
	/* A transport fault under a running session (transport B), which the session only
	 * sees as the end of its stream: it overrides the session's own reason. */
	bool transport_fault;
	int fault_result;
	bool fault_strike;
	const char *fault_detail;
};

/* ---- framing -------------------------------------------------------------------------- */

int syncconn_frame_add(struct evbuffer *out, const uint8_t *msg, size_t len)
{
	uint8_t hdr[SYNCCONN_LEN_SIZE];

	if (len == 0 || len > SESSION_MAX_MESSAGE)
		return -EMSGSIZE;
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	if (evbuffer_expand(out, SYNCCONN_LEN_SIZE + len) < 0 ||
	    evbuffer_add(out, hdr, sizeof(hdr)) < 0 || evbuffer_add(out, msg, len) < 0)
		return -ENOMEM;
	return 0;
}

int syncconn_frame_take(struct evbuffer *in, uint8_t *buf, size_t max, size_t *len)
{
	uint8_t hdr[SYNCCONN_LEN_SIZE];
	uint32_t n;

	*len = 0;
	if (evbuffer_copyout(in, hdr, sizeof(hdr)) < (ev_ssize_t)sizeof(hdr))
		return 0;
	n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	/* Judged by the header alone: a peer cannot make us wait for 4 GiB. */
	if (n == 0 || n > max)
		return -EBADMSG;
	if (evbuffer_get_length(in) < SYNCCONN_LEN_SIZE + (size_t)n)
		return 0;
	evbuffer_drain(in, SYNCCONN_LEN_SIZE);
	if (evbuffer_remove(in, buf, n) != (int)n)
		return -EBADMSG;
	*len = n;
	return 1;
}

/* ---- time ------------------------------------------------------------------------------ */

uint64_t syncconn_unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- endings ---------------------------------------------------------------------------- */

static void report_ended(struct syncconn *c)
{
	if (c->ended)
		return;
	c->ended = true;
	if (c->res.detail == NULL)
		c->res.detail = c->res.result == 0 ? "completed" : "failed";
	c->p.cb->ended(c->p.arg, c, &c->res);
}

/* The connection is over: the owner frees c inside closed(). Callers return at once. */
static void conn_close(struct syncconn *c)
{
	/* A socket's peer learns of the close from the kernel; a pair's (tests) from this. */
	if (!c->shut && c->state != ST_CONNECTING && bufferevent_getfd(c->bev) < 0)
		bufferevent_flush(c->bev, EV_WRITE, BEV_FINISHED);
	report_ended(c);
	c->state = ST_CLOSED;
	c->p.cb->closed(c->p.arg, c);
}

/* A failure before any session ran (connect, handshake, refusal). Closes c. */
static void fail_early(struct syncconn *c, int result, bool strike, const char *detail)
{
	c->res.result = result;
	c->res.strike = strike;
	c->res.detail = detail;
	conn_close(c);
}

static int result_of_reason(int reason)
{
	switch (reason) {
	case SYNC_OK:
		return 0;
	case SYNC_ERR_TIMEOUT:
		return -ETIMEDOUT;
	case SYNC_ERR_INTERNAL:
		return -EIO;
	case SYNC_ERR_CLOSED:
		return -ECONNRESET;
	case SYNC_ERR_RATE:
	case SYNC_ERR_LIMIT:
		return -EAGAIN;
	case SYNC_ERR_MESH:
		return -EXDEV;
	default:
		return -EPROTO;
	}
}

/* ---- output ------------------------------------------------------------------------------ */

/* Moves the session's output to the socket: while the socket keeps up (all: everything,
 * at the end). false on a fault (out of memory, sealing): the caller ends the session. */
static bool pump(struct syncconn *c, bool all)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	for (;;) {
		const uint8_t *p;
		size_t len, n, mlen;

		if (!all && evbuffer_get_length(out) >= SYNCCONN_OUT_HIGH)
			return true;
		p = sync_session_output(c->s, &len);
		if (len == 0)
			return true;
		if (c->broken) {
			sync_session_sent(c->s, len); /* nobody to send it to */
			continue;
		}
		if (c->p.transport == SYNCCONN_A) {
			n = len < SYNC_FRAME_MAX ? len : SYNC_FRAME_MAX;
			if (evbuffer_add(out, p, n) < 0)
				return false;
		} else {
			n = len < SESSION_MAX_PLAINTEXT ? len : SESSION_MAX_PLAINTEXT;
			if (session_seal(&c->ses, p, n, false, c->tx_msg, SESSION_MAX_MESSAGE,
					 &mlen) < 0 ||
			    syncconn_frame_add(out, c->tx_msg, mlen) < 0)
				return false;
		}
		sync_session_sent(c->s, n);
	}
}

/* Our write side is done once everything queued is sent; the peer's end closes c. Returns
 * true if c was closed. */
static bool maybe_shutdown(struct syncconn *c)
{
	evutil_socket_t fd;

	if (c->state != ST_CLOSING)
		return false;
	if (!c->shut && (c->broken || evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)) {
		c->shut = true;
		fd = bufferevent_getfd(c->bev);
		if (c->broken)
			; /* nothing to say */
		else if (fd >= 0)
			shutdown(fd, SHUT_WR);
		else
			bufferevent_flush(c->bev, EV_WRITE, BEV_FINISHED); /* a pair (tests) */
	}
	if (c->shut && (c->peer_eof || c->broken)) {
		conn_close(c);
		return true;
	}
	return false;
}

/* The session is over: report it, queue what it still has to say (and transport B's
 * FINAL), and close once that is sent and the peer has ended too. Returns true if c was
 * closed. */
static bool finish_session(struct syncconn *c)
{
	struct syncconn_result *r = &c->res;
	bool ok;

	r->had_session = true;
	sync_session_stats(c->s, &r->stats);
	r->peer_restricted = sync_session_peer_restricted(c->s);
	r->peer_push_only = sync_session_peer_push_only(c->s);
	r->reason = sync_session_state(c->s) == SYNC_DONE ? SYNC_OK : sync_session_reason(c->s);
	r->result = result_of_reason(r->reason);
	if (c->transport_fault) {
		r->result = c->fault_result;
		r->strike = c->fault_strike;
		r->detail = c->fault_detail;
	} else if (r->detail == NULL) {
		r->detail = r->result == 0 ? "completed" : sync_reason_str(r->reason);
	}
	ok = pump(c, true);
	if (ok && c->p.transport == SYNCCONN_B && !c->broken) {
		size_t mlen;

		ok = session_seal(&c->ses, NULL, 0, true, c->tx_msg, SESSION_MAX_MESSAGE, &mlen) ==
			     0 &&
		     syncconn_frame_add(bufferevent_get_output(c->bev), c->tx_msg, mlen) == 0;
	}
	if (!ok)
		c->broken = true;
	c->state = ST_CLOSING;
	c->deadline = mono_ms() + SYNCCONN_LINGER_MS;
	/* The write callback must come when everything is sent, not at a low mark. */
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	report_ended(c);
	return maybe_shutdown(c);
}

/* A transport B fault under a running session: the session ends as if its stream had,
 * with this result. Returns true if c was closed. */
static bool transport_fault(struct syncconn *c, int result, bool strike, const char *detail)
{
	c->transport_fault = true;
	c->fault_result = result;
	c->fault_strike = strike;
	c->fault_detail = detail;
	c->broken = true; /* the stream's state is lost: nothing more can be sealed */
	sync_session_eof(c->s, syncconn_unix_ms());
	return finish_session(c);
}

/* ---- the session ---------------------------------------------------------------------- */

static void on_sync_event(void *arg, const struct sync_event *ev)
{
	struct syncconn *c = arg;

	if (ev->kind == SYNC_EV_ACCEPTED) {
		if (c->p.cb->accepted != NULL)
			c->p.cb->accepted(c->p.arg, c, ev);
	} else if (ev->kind == SYNC_EV_FAILED) {
		c->res.strike = ev->strike;
		c->res.remote = ev->remote;
		c->res.detail = ev->detail;
	}
}

static void push_ids(struct syncconn *c, const uint8_t (*ids)[REC_ID_SIZE], size_t n)
{
	uint8_t buf[REC_MAX_SIZE];
	size_t len;

	for (size_t i = 0; i < n; i++) {
		if (c->sc.store->get(c->sc.store->arg, ids[i], buf, &len) < 0)
			continue; /* replaced or gone since: nothing to push */
		if (sync_session_push(c->s, buf, len) < 0)
			break;
	}
}

/* Starts the sync session. 0 or -errno (nothing reported yet). */
static int start_session(struct syncconn *c)
{
	struct sync_config sc = c->sc;
	int r;

	sc.initiator = c->p.client;
	sc.event = on_sync_event;
	sc.event_arg = c;
	r = sync_session_new(&sc, syncconn_unix_ms(), &c->s);
	if (r < 0)
		return r;
	if (sc.mode == SYNC_MODE_PUSH) {
		push_ids(c, (const uint8_t(*)[REC_ID_SIZE])c->push, c->n_push);
		sync_session_push_end(c->s);
	} else if (c->p.transport == SYNCCONN_B && c->p.cb->own_records != NULL) {
		uint8_t ids[SYNCCONN_PUSH_MAX][REC_ID_SIZE];
		size_t n = 0;

		c->p.cb->own_records(c->p.arg, c, ids, &n);
		push_ids(c, (const uint8_t(*)[REC_ID_SIZE])ids, n < SYNCCONN_PUSH_MAX ? n : 0);
	}
	c->state = ST_SESSION;
	return 0;
}

/* ---- transport B's handshake ----------------------------------------------------------- */

/* The server refuses an identified peer: ERROR BANNED if it is banned, then FINAL, flushed
 * before the close (a peer that is only told "closed" would just try again). Returns true
 * if c was closed. */
static bool refuse(struct syncconn *c, int result)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	uint8_t frame[SYNC_FRAME_HEADER + 1];
	size_t mlen, n;
	bool ok = true;

	c->res.result = result;
	c->res.detail = result == -EACCES ? "banned" : "refused";
	if (result == -EACCES) {
		n = sync_error_frame(SYNC_ERR_BANNED, frame);
		ok = session_seal(&c->ses, frame, n, false, c->tx_msg, SESSION_MAX_MESSAGE,
				  &mlen) == 0 &&
		     syncconn_frame_add(out, c->tx_msg, mlen) == 0;
	}
	if (ok && session_seal(&c->ses, NULL, 0, true, c->tx_msg, SESSION_MAX_MESSAGE, &mlen) == 0)
		syncconn_frame_add(out, c->tx_msg, mlen);
	c->state = ST_CLOSING;
	c->deadline = mono_ms() + SYNCCONN_LINGER_MS;
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	report_ended(c);
	return maybe_shutdown(c);
}

static int begin_handshake(struct syncconn *c)
{
	uint8_t hello[SESSION_HANDSHAKE_MAX];
	size_t len;
	int r;

	c->state = ST_HANDSHAKE;
	c->deadline = mono_ms() + SYNCCONN_HANDSHAKE_MS;
	if (!c->p.client) {
		session_server_init(&c->ses, c->sc.mesh_id, c->host_sk);
		return 0;
	}
	r = session_client_init(&c->ses, c->sc.mesh_id, c->host_sk, c->pinned ? c->pin : NULL,
				hello, sizeof(hello), &len);
	if (r == 0)
		r = syncconn_frame_add(bufferevent_get_output(c->bev), hello, len);
	return r;
}

/* The connection is up: transport A starts its session, transport B its handshake. */
static int begin(struct syncconn *c)
{
	int r;

	if (c->p.transport == SYNCCONN_B)
		return begin_handshake(c);
	r = start_session(c);
	if (r == 0 && !pump(c, false))
		r = -ENOMEM;
	return r;
}

/* One handshake message. Returns true if c was closed. */
static bool on_handshake(struct syncconn *c, const uint8_t *msg, size_t len)
{
	uint8_t reply[SESSION_HANDSHAKE_MAX];
	size_t rlen = 0;
	int r = session_handshake(&c->ses, msg, len, reply, sizeof(reply), &rlen);

	switch (r) {
	case 0:
		break;
	case -EKEYREJECTED:
		/* A server whose key is not the pinned one is not malice: an address now used
		 * by another host. A client's bad signature is. */
		fail_early(c, r, !c->p.client,
			   c->p.client ?
				   "the peer is not the host expected, or its signature is bad" :
				   "the peer's handshake signature is bad");
		return true;
	case -EXDEV:
		fail_early(c, r, false, "the peer is of another mesh");
		return true;
	case -EBADMSG:
		fail_early(c, -EPROTO, true, "malformed handshake message");
		return true;
	default:
		fail_early(c, -EPROTO, false, "handshake out of turn or of another version");
		return true;
	}
	if (rlen > 0 && syncconn_frame_add(bufferevent_get_output(c->bev), reply, rlen) < 0) {
		fail_early(c, -ENOMEM, false, "out of memory");
		return true;
	}
	if (!session_established(&c->ses))
		return false;
	c->res.established = true;
	memcpy(c->peer_key, session_peer_key(&c->ses), REC_KEY_SIZE);
	c->have_peer_key = true;
	c->rx_msg = malloc(SESSION_MAX_MESSAGE);
	c->tx_msg = malloc(SESSION_MAX_MESSAGE);
	c->plain = malloc(SESSION_MAX_PLAINTEXT);
	if (c->rx_msg == NULL || c->tx_msg == NULL || c->plain == NULL) {
		fail_early(c, -ENOMEM, false, "out of memory");
		return true;
	}
	if (!c->p.client) {
		r = c->p.cb->identified(c->p.arg, c, c->peer_key, &c->sc);
		if (r < 0)
			return refuse(c, r);
	}
	r = start_session(c);
	if (r < 0) {
		fail_early(c, r, false, "cannot start a session");
		return true;
	}
	if (!pump(c, false))
		return transport_fault(c, -ENOMEM, false, "out of memory");
	return false;
}

/* ---- input ----------------------------------------------------------------------------- */

/* Feeds len bytes; *used gets what the session took. Returns true if c was closed. */
static bool feed(struct syncconn *c, const uint8_t *p, size_t len, size_t *used)
{
	*used = sync_session_feed(c->s, p, len, syncconn_unix_ms());
	if (sync_session_state(c->s) != SYNC_RUNNING)
		return finish_session(c);
	if (!pump(c, false))
		return transport_fault(c, -ENOMEM, false, "out of memory");
	return false;
}

/* Handles what came, within the budget. Returns true if c was closed. */
static bool process_input(struct syncconn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t budget = SYNCCONN_READ_BUDGET;
	bool stalled = false, partial = false;

	while (budget > 0 && !stalled) {
		uint8_t hs[SESSION_HANDSHAKE_MAX];
		size_t len, n, used;
		bool final = false;
		int r;

		switch (c->state) {
		case ST_HANDSHAKE:
			r = syncconn_frame_take(in, hs, sizeof(hs), &len);
			if (r < 0) {
				fail_early(c, -EPROTO, true, "handshake message of a wrong size");
				return true;
			}
			if (r == 0) {
				stalled = true;
				break;
			}
			budget -= budget < len ? budget : len;
			if (on_handshake(c, hs, len))
				return true;
			break;
		case ST_SESSION:
			if (c->p.transport == SYNCCONN_A) {
				len = evbuffer_get_length(in);
				n = len < SYNC_FRAME_MAX ? len : SYNC_FRAME_MAX;
				n = n < budget ? n : budget;
				if (n == 0) {
					stalled = true;
					break;
				}
				if (feed(c, evbuffer_pullup(in, (ev_ssize_t)n), n, &used))
					return true;
				evbuffer_drain(in, used);
				budget -= used;
				stalled = used < n; /* the session's output is full: wait */
				break;
			}
			if (c->plain_off < c->plain_len) {
				n = c->plain_len - c->plain_off;
				if (feed(c, c->plain + c->plain_off, n, &used))
					return true;
				c->plain_off += used;
				budget -= used < budget ? used : budget;
				stalled = used < n;
				break;
			}
			r = syncconn_frame_take(in, c->rx_msg, SESSION_MAX_MESSAGE, &len);
			if (r < 0)
				return transport_fault(c, -EPROTO, true,
						       "sealed message of a wrong size");
			if (r == 0) {
				partial = evbuffer_get_length(in) > 0;
				stalled = true;
				break;
			}
			budget -= budget < len ? budget : len;
			r = session_open(&c->ses, c->rx_msg, len, c->plain, SESSION_MAX_PLAINTEXT,
					 &c->plain_len, &final);
			c->plain_off = 0;
			if (r < 0)
				return transport_fault(c, -EPROTO, r == -EBADMSG,
						       r == -EBADMSG ?
							       "a sealed message does not open" :
							       "a message after the peer's last");
			break;
		case ST_CLOSING:
			/* The session is over: what still comes is not read. */
			evbuffer_drain(in, evbuffer_get_length(in));
			stalled = true;
			break;
		default:
			stalled = true;
			break;
		}
	}
	/* The peer's stream ended: the session ends once what came is used up, or at once
	 * when the rest can never be (transport B: a message cut short by the end) or
	 * nothing can be sent any more (the connection broke, a reset). Else a peer that was
	 * killed mid-message was taken for silent until the idle limit (30 s). */
	if (c->state == ST_SESSION && c->peer_eof &&
	    (c->broken || partial ||
	     (evbuffer_get_length(in) == 0 && c->plain_off == c->plain_len))) {
		sync_session_eof(c->s, syncconn_unix_ms());
		return finish_session(c);
	}
	if (c->state == ST_HANDSHAKE && c->peer_eof) {
		fail_early(c, -ECONNRESET, false, "the peer closed during the handshake");
		return true;
	}
	if (budget == 0 && evbuffer_get_length(in) > 0)
		event_active(c->work, EV_TIMEOUT, 0); /* the rest after other callbacks */
	return false;
}

/* ---- libevent callbacks ------------------------------------------------------------------ */

static void on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	process_input(arg);
}

static void on_work(evutil_socket_t fd, short events, void *arg)
{
	struct syncconn *c = arg;

	(void)fd;
	(void)events;
	if (c->state == ST_CONNECTING && c->connect_error != 0) {
		c->res.connect_failed = true;
		fail_early(c, -c->connect_error, false, "cannot connect");
		return;
	}
	process_input(c);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct syncconn *c = arg;

	(void)bev;
	if (c->state == ST_SESSION) {
		if (!pump(c, false)) {
			transport_fault(c, -ENOMEM, false, "out of memory");
			return;
		}
		process_input(c); /* a session stalled on its output may go on */
		return;
	}
	maybe_shutdown(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct syncconn *c = arg;
	int err = EVUTIL_SOCKET_ERROR();

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		if (c->state != ST_CONNECTING)
			return;
		err = begin(c);
		if (err < 0)
			fail_early(c, err, false, "cannot start");
		return;
	}
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	if (c->state == ST_CONNECTING) {
		c->res.connect_failed = true;
		fail_early(c, err > 0 ? -err : -ECONNREFUSED, false, "cannot connect");
		return;
	}
	c->peer_eof = true;
	if (what & BEV_EVENT_ERROR)
		c->broken = true;
	if (c->state == ST_CLOSING) {
		maybe_shutdown(c);
		return;
	}
	process_input(c);
}

static void on_timer(evutil_socket_t fd, short events, void *arg)
{
	struct syncconn *c = arg;
	uint64_t now = mono_ms();

	(void)fd;
	(void)events;
	switch (c->state) {
	case ST_CONNECTING:
		if (now >= c->deadline) {
			c->res.connect_failed = true;
			fail_early(c, -ETIMEDOUT, false, "cannot connect");
		}
		break;
	case ST_HANDSHAKE:
		if (now >= c->deadline)
			fail_early(c, -ETIMEDOUT, false, "handshake timed out");
		break;
	case ST_SESSION:
		sync_session_tick(c->s, syncconn_unix_ms());
		if (sync_session_state(c->s) != SYNC_RUNNING)
			finish_session(c);
		else if (!pump(c, false))
			transport_fault(c, -ENOMEM, false, "out of memory");
		break;
	case ST_CLOSING:
		if (now >= c->deadline)
			conn_close(c); /* the peer did not end its stream: enough */
		break;
	default:
		break;
	}
}

/* ---- the API ------------------------------------------------------------------------------ */

int syncconn_new(struct event_base *base, struct bufferevent *bev, const struct syncconn_params *p,
		 struct syncconn **out)
{
	struct timeval tick = { SYNCCONN_TICK_MS / 1000, (SYNCCONN_TICK_MS % 1000) * 1000 };
	struct syncconn *c;
	int r = -ENOMEM;

	*out = NULL;
	if (p->cb == NULL || p->cb->ended == NULL || p->cb->closed == NULL ||
	    (p->transport != SYNCCONN_A && p->transport != SYNCCONN_B) ||
	    (p->transport == SYNCCONN_B && p->host_sk == NULL) ||
	    (p->transport == SYNCCONN_B && !p->client && p->cb->identified == NULL) ||
	    p->n_push > SYNCCONN_PUSH_MAX) {
		bufferevent_free(bev);
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		bufferevent_free(bev);
		return -ENOMEM;
	}
	c->base = base;
	c->bev = bev;
	c->p = *p;
	c->sc = p->sync;
	if (p->host_sk != NULL)
		memcpy(c->host_sk, p->host_sk, REC_SECRET_SIZE);
	c->p.host_sk = NULL;
	if (p->pin != NULL) {
		memcpy(c->pin, p->pin, REC_KEY_SIZE);
		c->pinned = true;
	}
	c->p.pin = NULL;
	if (p->n_push > 0) {
		c->push = malloc(p->n_push * sizeof(*c->push));
		if (c->push == NULL)
			goto fail;
		memcpy(c->push, p->push, p->n_push * sizeof(*c->push));
		c->n_push = p->n_push;
	}
	c->p.push = NULL;
	c->p.connect_to = NULL;
	c->timer = event_new(base, -1, EV_PERSIST, on_timer, c);
	c->work = event_new(base, -1, 0, on_work, c);
	if (c->timer == NULL || c->work == NULL || event_add(c->timer, &tick) < 0)
		goto fail;
	bufferevent_setcb(bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(bev, EV_READ, 0, SYNCCONN_READ_HIGH);
	bufferevent_setwatermark(bev, EV_WRITE, SYNCCONN_OUT_HIGH / 4, 0);
	if (bufferevent_enable(bev, EV_READ | EV_WRITE) < 0)
		goto fail;
	if (p->connect_to != NULL) {
		c->state = ST_CONNECTING;
		c->deadline = mono_ms() + SYNCCONN_CONNECT_MS;
		/* Some immediate failures come back through on_event, others only as the
		 * return value: those are reported from the loop too (on_work). */
		if (bufferevent_socket_connect(bev, p->connect_to, (int)p->connect_len) < 0) {
			c->connect_error = errno > 0 ? errno : ECONNREFUSED;
			event_active(c->work, EV_TIMEOUT, 0);
		}
	} else {
		r = begin(c);
		if (r < 0)
			goto fail;
	}
	*out = c;
	return 0;
fail:
	syncconn_free(c);
	return r;
}

void syncconn_free(struct syncconn *c)
{
	if (c == NULL)
		return;
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->work != NULL)
		event_free(c->work);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	sync_session_free(c->s);
	session_clear(&c->ses);
	sodium_memzero(c->host_sk, sizeof(c->host_sk));
	free(c->rx_msg);
	free(c->tx_msg);
	if (c->plain != NULL)
		sodium_memzero(c->plain, SESSION_MAX_PLAINTEXT);
	free(c->plain);
	free(c->push);
	free(c);
}

bool syncconn_in_session(const struct syncconn *c)
{
	return c->state == ST_SESSION;
}

bool syncconn_peer_key(const struct syncconn *c, uint8_t key[REC_KEY_SIZE])
{
	if (!c->have_peer_key)
		return false;
	memcpy(key, c->peer_key, REC_KEY_SIZE);
	return true;
}

enum syncconn_transport syncconn_transport(const struct syncconn *c)
{
	return c->p.transport;
}
