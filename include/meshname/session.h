/*
 * session.h: transport B's authenticated, encrypted session (DESIGN.md section 5): the
 * handshake state machine and the per-direction secretstreams, over opaque byte messages
 * that the caller frames and carries. No sockets, no clock, no registry: after the
 * handshake the caller learns the peer's host key and decides its role itself.
 *
 * Wire format (doc/sync.md "Transport B session"); every message starts with magic "MNS",
 * version 1 and a type byte:
 *
 *   client hello  (1) 133 bytes: mesh_id (32), client ephemeral X25519 (32), nonce (32),
 *                      client host key (32)
 *   server hello  (2) 157 bytes: server ephemeral X25519 (32), server host key (32),
 *                      server->client secretstream header (24), signature (64)
 *   client finish (3)  93 bytes: client->server secretstream header (24), signature (64)
 *
 * Signatures (Ed25519, host keys) are over SESSION_SIG_SERVER or SESSION_SIG_CLIENT
 * followed by BLAKE2b-256 of every handshake byte before the signature (the transcript):
 * the server signs client hello || server hello up to its signature, the client signs
 * client hello || server hello || client finish up to its signature. So each signature
 * binds the mesh id, the version, both ephemerals, the nonce, both host keys and both
 * stream headers (against a man in the middle and downgrade), each role signs its own
 * label (a server's signature never passes as a client's: reflection), and both sides'
 * ephemerals are fresh (a recorded handshake replayed into a new session fails).
 *
 * Keys: q = X25519(own ephemeral, peer ephemeral); BLAKE2b-512(SESSION_KDF_LABEL || q ||
 * client hello || server hello bytes 0..69 (header, server ephemeral, server host key))
 * gives the client->server key (first 32 bytes) and the server->client key (last 32).
 * Not crypto_kx: that hashes q with the two ephemerals only; hashing the transcript too
 * binds both host keys, the mesh id and the version into the keys, so a session whose
 * sides disagree about any of them cannot even decrypt. The same BLAKE2b-over-X25519
 * construction otherwise. Ephemeral secrets are wiped as soon as the keys exist (forward
 * secrecy: a stolen host key does not open recorded sessions), the host secret as soon as
 * it has signed.
 *
 * The client's host key is in its hello, not in its finish: the server's signature then
 * covers both identities and the keys depend on both, which rules out identity misbinding
 * (an attacker re-signing the client's finish with its own key so that the server credits
 * it with the client's messages: the attack SIGMA's MAC exists for).
 *
 * Flow: client session_client_init -> hello; server session_server_init, then
 * session_handshake(client hello) -> server hello; client session_handshake(server hello)
 * -> client finish, established; server session_handshake(client finish) -> nothing,
 * established. Then session_seal / session_open, at most SESSION_MAX_MESSAGE bytes a
 * message. Each side ends its stream with a FINAL message (session_seal(final = true)); a
 * stream that stops without one was truncated (session_peer_finished says so).
 *
 * Every error except -EMSGSIZE (the caller's buffer or plaintext is too big) ends the
 * session: all of the struct is wiped to zero, and every later call returns -EPROTO.
 * Errors: -EBADMSG malformed message or failed decryption (tampered, reordered, replayed),
 * -EKEYREJECTED bad signature or a server host key other than the pinned one, -EPROTO
 * message out of turn, unsupported version or a call in the wrong state, -EXDEV client
 * hello for another mesh. libsodium must be initialised (sodium_init) by the caller.
 */
#ifndef MESHNAME_SESSION_H
#define MESHNAME_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "meshname/record.h"

#define SESSION_MAGIC "MNS"
#define SESSION_VERSION 1
#define SESSION_SIG_SERVER "meshname-session-v1 server"
#define SESSION_SIG_CLIENT "meshname-session-v1 client"
#define SESSION_KDF_LABEL "meshname-session-v1 keys"

enum session_msg {
	SESSION_CLIENT_HELLO = 1,
	SESSION_SERVER_HELLO = 2,
	SESSION_CLIENT_FINISH = 3,
};

#define SESSION_HEADER_SIZE 5 /* magic, version, type */
#define SESSION_NONCE_SIZE 32
#define SESSION_STREAM_HEADER_SIZE crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define SESSION_CLIENT_HELLO_SIZE (SESSION_HEADER_SIZE + REC_ID_SIZE + 32 + 32 + REC_KEY_SIZE)
#define SESSION_SERVER_HELLO_SIZE \
	(SESSION_HEADER_SIZE + 32 + REC_KEY_SIZE + SESSION_STREAM_HEADER_SIZE + REC_SIG_SIZE)
#define SESSION_CLIENT_FINISH_SIZE (SESSION_HEADER_SIZE + SESSION_STREAM_HEADER_SIZE + REC_SIG_SIZE)
#define SESSION_HANDSHAKE_MAX SESSION_SERVER_HELLO_SIZE
#define SESSION_TRANSCRIPT_MAX \
	(SESSION_CLIENT_HELLO_SIZE + SESSION_SERVER_HELLO_SIZE + SESSION_CLIENT_FINISH_SIZE)

/* A sealed message is at most one 64 KiB frame; it is the plaintext plus the overhead. */
#define SESSION_MAX_MESSAGE 65536
#define SESSION_OVERHEAD crypto_secretstream_xchacha20poly1305_ABYTES
#define SESSION_MAX_PLAINTEXT (SESSION_MAX_MESSAGE - SESSION_OVERHEAD)

enum session_state {
	SESSION_NONE = 0, /* never started, failed or cleared: the struct is all zero */
	SESSION_CLIENT_WAIT_HELLO,
	SESSION_SERVER_WAIT_HELLO,
	SESSION_SERVER_WAIT_FINISH,
	SESSION_ESTABLISHED,
};

/*
 * One session. The caller owns the memory (embed it or allocate it); the fields are
 * session.c's alone and public only so that it can be embedded and its wiping checked.
 * After session_clear or any fatal error every byte is zero.
 */
struct session {
	uint8_t state; /* enum session_state */
	bool client;
	bool pinned;     /* client: peer_key holds the expected server host key */
	bool sent_final; /* our stream is closed */
	bool peer_final; /* the peer's stream ended with a FINAL message */
	size_t transcript_len;
	uint8_t mesh_id[REC_ID_SIZE];
	uint8_t host_sk[REC_SECRET_SIZE]; /* only until this side has signed */
	uint8_t eph_sk[32];               /* only until the keys are derived */
	uint8_t rx_key[32];               /* server: until the client's stream header arrives */
	uint8_t peer_key[REC_KEY_SIZE];
	uint8_t transcript[SESSION_TRANSCRIPT_MAX]; /* only during the handshake */
	crypto_secretstream_xchacha20poly1305_state tx, rx;
};

/*
 * Starts a client session for mesh_id with this host's Ed25519 secret and writes the
 * client hello (SESSION_CLIENT_HELLO_SIZE bytes) to out. expected_server, if not NULL,
 * pins the server's host key (an invite's bootstrap key): any other is -EKEYREJECTED.
 * -EMSGSIZE if size is too small (nothing changed).
 */
int session_client_init(struct session *s, const uint8_t mesh_id[REC_ID_SIZE],
			const uint8_t host_sk[REC_SECRET_SIZE],
			const uint8_t expected_server[REC_KEY_SIZE], uint8_t *out, size_t size,
			size_t *out_len);

/* Starts a server session for mesh_id with this host's Ed25519 secret. */
void session_server_init(struct session *s, const uint8_t mesh_id[REC_ID_SIZE],
			 const uint8_t host_sk[REC_SECRET_SIZE]);

/*
 * Feeds the next handshake message from the peer. Writes the reply to out (*out_len 0
 * if there is none: the server after the client finish). out needs
 * SESSION_HANDSHAKE_MAX bytes, else -EMSGSIZE (nothing changed). Errors as above.
 */
int session_handshake(struct session *s, const uint8_t *in, size_t len, uint8_t *out, size_t size,
		      size_t *out_len);

bool session_established(const struct session *s);

/* The peer's Ed25519 host key once established, else NULL. Points into s. */
const uint8_t *session_peer_key(const struct session *s);

/*
 * Encrypts len bytes (at most SESSION_MAX_PLAINTEXT) into out (len + SESSION_OVERHEAD
 * bytes). final = true closes our stream: nothing may be sealed after it. -EMSGSIZE if
 * len or size does not fit (nothing changed), -EPROTO if not established or closed.
 */
int session_seal(struct session *s, const uint8_t *in, size_t len, bool final, uint8_t *out,
		 size_t size, size_t *out_len);

/*
 * Decrypts the peer's next message into out (len - SESSION_OVERHEAD bytes; -EMSGSIZE if
 * size is smaller, nothing changed). *final tells whether it was the peer's FINAL
 * message. -EBADMSG for a message that is not the next one of the peer's stream
 * (tampered, reordered, replayed, too short or over SESSION_MAX_MESSAGE), -EPROTO if not
 * established or after the peer's FINAL.
 */
int session_open(struct session *s, const uint8_t *in, size_t len, uint8_t *out, size_t size,
		 size_t *out_len, bool *final);

/* True once the peer's FINAL message was opened. A transport that reaches its end
 * before that was cut short: treat what came as incomplete. */
bool session_peer_finished(const struct session *s);

/* Wipes every byte of s (sodium_memzero). NULL is a no-op. */
void session_clear(struct session *s);

#endif
