/*
 * session.c: transport B's handshake and secretstreams (include/meshname/session.h,
 * doc/sync.md). Pure: bytes in, bytes out, randomness from libsodium. Must never read the
 * registry, touch a socket or keep a secret longer than the step that needs it.
 */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "meshname/session.h"

#define X25519_SIZE crypto_scalarmult_BYTES
#define HASH_SIZE 32
#define KEY_SIZE crypto_secretstream_xchacha20poly1305_KEYBYTES

/* Offsets inside the messages (after the 5-byte header). */
#define CH_MESH SESSION_HEADER_SIZE
#define CH_EPH (CH_MESH + REC_ID_SIZE)
#define CH_NONCE (CH_EPH + X25519_SIZE)
#define CH_HOST (CH_NONCE + SESSION_NONCE_SIZE)
#define SH_EPH SESSION_HEADER_SIZE
#define SH_HOST (SH_EPH + X25519_SIZE)
#define SH_STREAM (SH_HOST + REC_KEY_SIZE)
#define SH_SIG (SH_STREAM + SESSION_STREAM_HEADER_SIZE)
#define CF_STREAM SESSION_HEADER_SIZE
#define CF_SIG (CF_STREAM + SESSION_STREAM_HEADER_SIZE)

_Static_assert(CH_HOST + REC_KEY_SIZE == SESSION_CLIENT_HELLO_SIZE, "client hello layout");
_Static_assert(SH_SIG + REC_SIG_SIZE == SESSION_SERVER_HELLO_SIZE, "server hello layout");
_Static_assert(CF_SIG + REC_SIG_SIZE == SESSION_CLIENT_FINISH_SIZE, "client finish layout");
_Static_assert(X25519_SIZE == sizeof(((struct session *)0)->eph_sk), "X25519 size");
_Static_assert(KEY_SIZE == sizeof(((struct session *)0)->rx_key), "stream key size");

/* Ends the session: nothing of it survives, and every later call is -EPROTO. */
static int session_fail(struct session *s, int rc)
{
	sodium_memzero(s, sizeof(*s));
	return rc;
}

static void put_header(uint8_t *out, enum session_msg type)
{
	memcpy(out, SESSION_MAGIC, 3);
	out[3] = SESSION_VERSION;
	out[4] = (uint8_t)type;
}

/*
 * Checks magic, version, type and size, in that order: a message of another version is
 * -EPROTO whatever its length, so that a future version is told apart from garbage.
 */
static int check_header(const uint8_t *in, size_t len, enum session_msg want, size_t size)
{
	if (len < SESSION_HEADER_SIZE || memcmp(in, SESSION_MAGIC, 3) != 0)
		return -EBADMSG;
	if (in[3] != SESSION_VERSION)
		return -EPROTO;
	if (in[4] < SESSION_CLIENT_HELLO || in[4] > SESSION_CLIENT_FINISH)
		return -EBADMSG;
	if (in[4] != want)
		return -EPROTO;
	if (len != size)
		return -EBADMSG;
	return 0;
}

/* label || BLAKE2b-256(transcript): what a side signs. */
static void signed_message(const char *label, const uint8_t *transcript, size_t len, uint8_t *msg,
			   size_t *msg_len)
{
	size_t n = strlen(label);

	memcpy(msg, label, n);
	crypto_generichash(msg + n, HASH_SIZE, transcript, len, NULL, 0);
	*msg_len = n + HASH_SIZE;
}

#define SIGNED_MAX (sizeof(SESSION_SIG_SERVER) + HASH_SIZE)
_Static_assert(sizeof(SESSION_SIG_CLIENT) == sizeof(SESSION_SIG_SERVER), "label sizes");

static void sign_transcript(struct session *s, const char *label, uint8_t sig[REC_SIG_SIZE])
{
	uint8_t msg[SIGNED_MAX];
	size_t msg_len;

	signed_message(label, s->transcript, s->transcript_len, msg, &msg_len);
	crypto_sign_detached(sig, NULL, msg, msg_len, s->host_sk);
	/* The long-term secret has done its one job in this session. */
	sodium_memzero(s->host_sk, sizeof(s->host_sk));
}

static bool verify_transcript(const struct session *s, const char *label,
			      const uint8_t sig[REC_SIG_SIZE], const uint8_t key[REC_KEY_SIZE])
{
	uint8_t msg[SIGNED_MAX];
	size_t msg_len;

	signed_message(label, s->transcript, s->transcript_len, msg, &msg_len);
	return crypto_sign_verify_detached(sig, msg, msg_len, key) == 0;
}

/*
 * The two stream keys from q and the transcript so far, which is the client hello and
 * the server hello up to the server's host key (session.h says why not crypto_kx).
 * Wipes the ephemeral secret. -EBADMSG if the peer's ephemeral is a low-order point.
 */
static int derive_keys(struct session *s, const uint8_t peer_eph[X25519_SIZE],
		       uint8_t c2s[KEY_SIZE], uint8_t s2c[KEY_SIZE])
{
	crypto_generichash_state h;
	uint8_t q[X25519_SIZE], okm[2 * KEY_SIZE];
	int rc = 0;

	if (crypto_scalarmult(q, s->eph_sk, peer_eph) != 0) {
		rc = -EBADMSG;
		goto out;
	}
	crypto_generichash_init(&h, NULL, 0, sizeof(okm));
	crypto_generichash_update(&h, (const uint8_t *)SESSION_KDF_LABEL,
				  strlen(SESSION_KDF_LABEL));
	crypto_generichash_update(&h, q, sizeof(q));
	crypto_generichash_update(&h, s->transcript, SESSION_CLIENT_HELLO_SIZE + SH_STREAM);
	crypto_generichash_final(&h, okm, sizeof(okm));
	memcpy(c2s, okm, KEY_SIZE);
	memcpy(s2c, okm + KEY_SIZE, KEY_SIZE);
out:
	sodium_memzero(s->eph_sk, sizeof(s->eph_sk));
	sodium_memzero(q, sizeof(q));
	sodium_memzero(okm, sizeof(okm));
	sodium_memzero(&h, sizeof(h));
	return rc;
}

static void new_ephemeral(struct session *s, uint8_t pk[X25519_SIZE])
{
	randombytes_buf(s->eph_sk, sizeof(s->eph_sk));
	crypto_scalarmult_base(pk, s->eph_sk);
}

static void start(struct session *s, const uint8_t mesh_id[REC_ID_SIZE],
		  const uint8_t host_sk[REC_SECRET_SIZE])
{
	sodium_memzero(s, sizeof(*s));
	memcpy(s->mesh_id, mesh_id, REC_ID_SIZE);
	memcpy(s->host_sk, host_sk, REC_SECRET_SIZE);
}

int session_client_init(struct session *s, const uint8_t mesh_id[REC_ID_SIZE],
			const uint8_t host_sk[REC_SECRET_SIZE],
			const uint8_t expected_server[REC_KEY_SIZE], uint8_t *out, size_t size,
			size_t *out_len)
{
	uint8_t *m = s->transcript;

	*out_len = 0;
	if (size < SESSION_CLIENT_HELLO_SIZE)
		return -EMSGSIZE;
	start(s, mesh_id, host_sk);
	s->client = true;
	if (expected_server != NULL) {
		s->pinned = true;
		memcpy(s->peer_key, expected_server, REC_KEY_SIZE);
	}
	put_header(m, SESSION_CLIENT_HELLO);
	memcpy(m + CH_MESH, mesh_id, REC_ID_SIZE);
	new_ephemeral(s, m + CH_EPH);
	randombytes_buf(m + CH_NONCE, SESSION_NONCE_SIZE);
	/* libsodium's secret key is seed || public key. */
	memcpy(m + CH_HOST, host_sk + crypto_sign_SEEDBYTES, REC_KEY_SIZE);
	s->transcript_len = SESSION_CLIENT_HELLO_SIZE;
	memcpy(out, m, SESSION_CLIENT_HELLO_SIZE);
	*out_len = SESSION_CLIENT_HELLO_SIZE;
	s->state = SESSION_CLIENT_WAIT_HELLO;
	return 0;
}

void session_server_init(struct session *s, const uint8_t mesh_id[REC_ID_SIZE],
			 const uint8_t host_sk[REC_SECRET_SIZE])
{
	start(s, mesh_id, host_sk);
	s->state = SESSION_SERVER_WAIT_HELLO;
}

/* Server: client hello in, server hello out. */
static int server_hello(struct session *s, const uint8_t *in, size_t len, uint8_t *out,
			size_t *out_len)
{
	uint8_t c2s[KEY_SIZE], s2c[KEY_SIZE];
	uint8_t *m = s->transcript + SESSION_CLIENT_HELLO_SIZE;
	int rc;

	rc = check_header(in, len, SESSION_CLIENT_HELLO, SESSION_CLIENT_HELLO_SIZE);
	if (rc < 0)
		return rc;
	if (memcmp(in + CH_MESH, s->mesh_id, REC_ID_SIZE) != 0)
		return -EXDEV;
	memcpy(s->transcript, in, len);
	memcpy(s->peer_key, in + CH_HOST, REC_KEY_SIZE);
	put_header(m, SESSION_SERVER_HELLO);
	new_ephemeral(s, m + SH_EPH);
	memcpy(m + SH_HOST, s->host_sk + crypto_sign_SEEDBYTES, REC_KEY_SIZE);
	rc = derive_keys(s, in + CH_EPH, c2s, s2c);
	if (rc < 0)
		goto out;
	crypto_secretstream_xchacha20poly1305_init_push(&s->tx, m + SH_STREAM, s2c);
	memcpy(s->rx_key, c2s, KEY_SIZE);
	s->transcript_len = SESSION_CLIENT_HELLO_SIZE + SH_SIG;
	sign_transcript(s, SESSION_SIG_SERVER, m + SH_SIG);
	s->transcript_len = SESSION_CLIENT_HELLO_SIZE + SESSION_SERVER_HELLO_SIZE;
	memcpy(out, m, SESSION_SERVER_HELLO_SIZE);
	*out_len = SESSION_SERVER_HELLO_SIZE;
	s->state = SESSION_SERVER_WAIT_FINISH;
out:
	sodium_memzero(c2s, sizeof(c2s));
	sodium_memzero(s2c, sizeof(s2c));
	return rc;
}

/* Client: server hello in, client finish out; established. */
static int client_finish(struct session *s, const uint8_t *in, size_t len, uint8_t *out,
			 size_t *out_len)
{
	uint8_t c2s[KEY_SIZE], s2c[KEY_SIZE];
	uint8_t *m = s->transcript + SESSION_CLIENT_HELLO_SIZE + SESSION_SERVER_HELLO_SIZE;
	int rc;

	rc = check_header(in, len, SESSION_SERVER_HELLO, SESSION_SERVER_HELLO_SIZE);
	if (rc < 0)
		return rc;
	/* The pin first: a server we did not ask for is rejected whatever it signed. */
	if (s->pinned && sodium_memcmp(s->peer_key, in + SH_HOST, REC_KEY_SIZE) != 0)
		return -EKEYREJECTED;
	memcpy(s->transcript + SESSION_CLIENT_HELLO_SIZE, in, len);
	s->transcript_len = SESSION_CLIENT_HELLO_SIZE + SH_SIG;
	if (!verify_transcript(s, SESSION_SIG_SERVER, in + SH_SIG, in + SH_HOST))
		return -EKEYREJECTED;
	memcpy(s->peer_key, in + SH_HOST, REC_KEY_SIZE);
	rc = derive_keys(s, in + SH_EPH, c2s, s2c);
	if (rc < 0)
		goto out;
	if (crypto_secretstream_xchacha20poly1305_init_pull(&s->rx, in + SH_STREAM, s2c) != 0) {
		rc = -EBADMSG;
		goto out;
	}
	put_header(m, SESSION_CLIENT_FINISH);
	crypto_secretstream_xchacha20poly1305_init_push(&s->tx, m + CF_STREAM, c2s);
	s->transcript_len = SESSION_CLIENT_HELLO_SIZE + SESSION_SERVER_HELLO_SIZE + CF_SIG;
	sign_transcript(s, SESSION_SIG_CLIENT, m + CF_SIG);
	memcpy(out, m, SESSION_CLIENT_FINISH_SIZE);
	*out_len = SESSION_CLIENT_FINISH_SIZE;
	sodium_memzero(s->transcript, sizeof(s->transcript));
	s->transcript_len = 0;
	s->state = SESSION_ESTABLISHED;
out:
	sodium_memzero(c2s, sizeof(c2s));
	sodium_memzero(s2c, sizeof(s2c));
	return rc;
}

/* Server: client finish in; established. */
static int server_finish(struct session *s, const uint8_t *in, size_t len)
{
	int rc;

	rc = check_header(in, len, SESSION_CLIENT_FINISH, SESSION_CLIENT_FINISH_SIZE);
	if (rc < 0)
		return rc;
	memcpy(s->transcript + s->transcript_len, in, len);
	s->transcript_len += CF_SIG;
	if (!verify_transcript(s, SESSION_SIG_CLIENT, in + CF_SIG, s->peer_key))
		return -EKEYREJECTED;
	if (crypto_secretstream_xchacha20poly1305_init_pull(&s->rx, in + CF_STREAM, s->rx_key) != 0)
		return -EBADMSG;
	sodium_memzero(s->rx_key, sizeof(s->rx_key));
	sodium_memzero(s->transcript, sizeof(s->transcript));
	s->transcript_len = 0;
	s->state = SESSION_ESTABLISHED;
	return 0;
}

int session_handshake(struct session *s, const uint8_t *in, size_t len, uint8_t *out, size_t size,
		      size_t *out_len)
{
	int rc;

	*out_len = 0;
	if (size < SESSION_HANDSHAKE_MAX && s->state != SESSION_NONE)
		return -EMSGSIZE;
	switch (s->state) {
	case SESSION_SERVER_WAIT_HELLO:
		rc = server_hello(s, in, len, out, out_len);
		break;
	case SESSION_CLIENT_WAIT_HELLO:
		rc = client_finish(s, in, len, out, out_len);
		break;
	case SESSION_SERVER_WAIT_FINISH:
		rc = server_finish(s, in, len);
		break;
	default:
		rc = -EPROTO;
		break;
	}
	if (rc < 0) {
		*out_len = 0;
		return session_fail(s, rc);
	}
	return 0;
}

bool session_established(const struct session *s)
{
	return s->state == SESSION_ESTABLISHED;
}

const uint8_t *session_peer_key(const struct session *s)
{
	return s->state == SESSION_ESTABLISHED ? s->peer_key : NULL;
}

int session_seal(struct session *s, const uint8_t *in, size_t len, bool final, uint8_t *out,
		 size_t size, size_t *out_len)
{
	unsigned long long clen = 0;
	uint8_t tag = final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL :
			      crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;

	*out_len = 0;
	if (s->state != SESSION_ESTABLISHED || s->sent_final)
		return session_fail(s, -EPROTO);
	if (len > SESSION_MAX_PLAINTEXT || size < len + SESSION_OVERHEAD)
		return -EMSGSIZE;
	if (crypto_secretstream_xchacha20poly1305_push(&s->tx, out, &clen, in, len, NULL, 0, tag) !=
	    0)
		return session_fail(s, -EPROTO); /* cannot happen within the size limits */
	s->sent_final = final;
	*out_len = (size_t)clen;
	return 0;
}

int session_open(struct session *s, const uint8_t *in, size_t len, uint8_t *out, size_t size,
		 size_t *out_len, bool *final)
{
	unsigned long long mlen = 0;
	unsigned char tag = 0;

	*out_len = 0;
	*final = false;
	if (s->state != SESSION_ESTABLISHED || s->peer_final)
		return session_fail(s, -EPROTO);
	if (len < SESSION_OVERHEAD || len > SESSION_MAX_MESSAGE)
		return session_fail(s, -EBADMSG);
	if (size < len - SESSION_OVERHEAD)
		return -EMSGSIZE;
	if (crypto_secretstream_xchacha20poly1305_pull(&s->rx, out, &mlen, &tag, in, len, NULL,
						       0) != 0) {
		sodium_memzero(out, len - SESSION_OVERHEAD);
		return session_fail(s, -EBADMSG);
	}
	/* We only ever send MESSAGE and FINAL; PUSH or REKEY is not ours. */
	if (tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE &&
	    tag != crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
		sodium_memzero(out, (size_t)mlen);
		return session_fail(s, -EBADMSG);
	}
	s->peer_final = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
	*final = s->peer_final;
	*out_len = (size_t)mlen;
	return 0;
}

bool session_peer_finished(const struct session *s)
{
	return s->state == SESSION_ESTABLISHED && s->peer_final;
}

void session_clear(struct session *s)
{
	if (s != NULL)
		sodium_memzero(s, sizeof(*s));
}
