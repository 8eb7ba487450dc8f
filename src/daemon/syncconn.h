/*
 * syncconn.h: one sync connection of meshnamed (doc/sync.md "meshnamed"): a bufferevent
 * carrying one libsync session, over transport A (the sync frames as they are: WireGuard
 * vouches for the peer) or transport B (the session.h handshake, then the frames inside
 * sealed messages; every message on the stream is a u32 big-endian length and its bytes).
 * Owns the session, the transport B state and the connection's deadlines; its owner
 * (syncd.c) decides who the peer is, what it may do and what its result means. Never
 * blocks, never logs, and does bounded work per callback.
 */
#ifndef MESHNAME_DAEMON_SYNCCONN_H
#define MESHNAME_DAEMON_SYNCCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "meshname/record.h"
#include "meshname/sync.h"

struct bufferevent;
struct event_base;
struct evbuffer;
struct syncconn;

enum syncconn_transport {
	SYNCCONN_A = 1, /* plain TCP over WireGuard */
	SYNCCONN_B = 2, /* the authenticated, encrypted session of session.h */
};

/* Deadlines and bounds. */
#define SYNCCONN_CONNECT_MS 5000    /* a connect must complete in this */
#define SYNCCONN_HANDSHAKE_MS 10000 /* transport B: from the TCP connection to established */
#define SYNCCONN_LINGER_MS 3000     /* after our end: the peer's end of stream, at most this */
#define SYNCCONN_TICK_MS 1000       /* sync_session_tick this often */
#define SYNCCONN_READ_BUDGET (256u * 1024u) /* input bytes handled per callback */
#define SYNCCONN_READ_HIGH (256u * 1024u)   /* input kept before reading from the socket stops */
#define SYNCCONN_OUT_HIGH (256u * 1024u)    /* output queued before the session keeps the rest */
#define SYNCCONN_PUSH_MAX 256               /* records pushed at the start of one session */

/* ---- transport B's framing (pure, over evbuffers) -------------------------------- */

#define SYNCCONN_LEN_SIZE 4

/* Appends len bytes as one message: its u32 big-endian length, then the bytes.
 * 0, -EMSGSIZE (len 0 or over SESSION_MAX_MESSAGE), -ENOMEM. */
int syncconn_frame_add(struct evbuffer *out, const uint8_t *msg, size_t len);

/* The next whole message of in: 1 and its bytes moved into buf (*len of them); 0 while it
 * has not all arrived (nothing taken); -EBADMSG when its length is 0 or over max (a
 * stream that must end: max is at most the size of buf). */
int syncconn_frame_take(struct evbuffer *in, uint8_t *buf, size_t max, size_t *len);

/* ---- a connection ------------------------------------------------------------------- */

/* How a connection ended, for its owner's log, strike table and syncnode. */
struct syncconn_result {
	int result;           /* 0: the session completed; else -errno (see below) */
	int reason;           /* enum sync_reason if the session failed, else 0 */
	bool strike;          /* the peer misbehaved: count a strike against it */
	bool remote;          /* the peer sent ERROR */
	bool connect_failed;  /* the TCP connection never came up (result: the socket's error) */
	bool established;     /* transport B: the handshake completed */
	bool had_session;     /* a sync session ran: stats holds its counters */
	bool peer_restricted; /* the peer's HELLO asked for the restricted set */
	bool peer_push_only;  /* the peer's HELLO said it only pushes (no set: no word on us) */
	const char *detail;   /* one phrase for the log (static storage) */
	struct sync_stats stats;
};
/* result: -ETIMEDOUT (connect, handshake or the session's idle time), -ECONNREFUSED,
 * -ECONNRESET (the stream ended or broke before the session did), -EKEYREJECTED (transport
 * B: a bad signature or not the pinned key), -EXDEV (another mesh), -EPROTO (the peer broke
 * a protocol), -EIO (our store failed), -EAGAIN (a rate or bound of ours cut it), or the
 * socket's own error. */

struct syncconn_callbacks {
	/* Transport B server: the handshake proved the peer's host key. Return 0 after
	 * setting sc->peer_role and sc->rate (the session starts), or -errno to close it:
	 * -EACCES (banned: the peer is told so by an ERROR BANNED), -EBUSY, ... */
	int (*identified)(void *arg, struct syncconn *c, const uint8_t key[REC_KEY_SIZE],
			  struct sync_config *sc);
	/* Transport B, both sides, as the session starts: ids of records to push at once
	 * (at most SYNCCONN_PUSH_MAX; *n of them), e.g. this host's own CERT to a peer that
	 * may not know it yet. May be NULL. */
	void (*own_records)(void *arg, struct syncconn *c, uint8_t (*ids)[REC_ID_SIZE], size_t *n);
	/* A record from the peer was stored (SYNC_EV_ACCEPTED). */
	void (*accepted)(void *arg, struct syncconn *c, const struct sync_event *ev);
	/* The connection's session is over (or never began): called once. The connection
	 * still flushes and closes after this. */
	void (*ended)(void *arg, struct syncconn *c, const struct syncconn_result *r);
	/* The connection is closed: the owner frees it now (syncconn_free; nothing of c is
	 * touched after this call returns). Called once, after ended. */
	void (*closed)(void *arg, struct syncconn *c);
};

struct syncconn_params {
	enum syncconn_transport transport;
	bool client; /* we opened it: transport B's client and the sync initiator */
	/* The session's config: store, mesh_id, mode, roles, send_key, self_key, limits,
	 * rate. initiator = client; event and event_arg are syncconn's. A transport B server
	 * gets peer_role and rate from identified(). */
	struct sync_config sync;
	/* Transport B: this host's Ed25519 secret (copied, wiped with the connection) and,
	 * for a client, the server's host key it must have (NULL: any). */
	const uint8_t *host_sk;
	const uint8_t *pin;
	/* Records to push (mode SYNC_MODE_PUSH: the whole session; read from the store when
	 * the session starts; ids gone by then are skipped). Copied. */
	const uint8_t (*push)[REC_ID_SIZE];
	size_t n_push;
	/* NULL: bev is connected already (accepted, or a socketpair in tests); else the
	 * address to connect bev's new socket to, within SYNCCONN_CONNECT_MS. */
	const struct sockaddr *connect_to;
	socklen_t connect_len;
	const struct syncconn_callbacks *cb;
	void *arg;
};

/* Takes bev (freed with the connection, whatever happens) and starts. On error (-ENOMEM,
 * -EINVAL, the session's own error) bev is freed and no callback will come. A connect that
 * fails at once is reported through ended and closed from the loop, not here. */
int syncconn_new(struct event_base *base, struct bufferevent *bev, const struct syncconn_params *p,
		 struct syncconn **out);
void syncconn_free(struct syncconn *c); /* NULL is a no-op; no callback */

bool syncconn_in_session(const struct syncconn *c); /* a sync session is running */
/* The peer's host key once known (transport A: given; B: after the handshake). */
bool syncconn_peer_key(const struct syncconn *c, uint8_t key[REC_KEY_SIZE]);
enum syncconn_transport syncconn_transport(const struct syncconn *c);

/* Unix time in milliseconds, as sessions want it. */
uint64_t syncconn_unix_ms(void);

#endif
