/*
 * sync_peer.c: a deliberately misbehaving sync peer for the integration tests
 * (tests/integration/test_sync_abuse.sh): connects to a meshnamed's sync port by transport
 * A (plain TCP, meant to run inside a member's network namespace, over WireGuard) or B
 * (session.h's handshake with a host key file, every handshake and sealed message framed
 * as a u32 big-endian length and the message), says HELLO as a push-only initiator and
 * pushes what it is told: raw records from files as they are, records whose signature it
 * breaks, a record over REC_MAX_SIZE, or a frame header announcing more than 64 KiB. It
 * never validates what it sends; it prints what the daemon answered, one line each, and
 * last "outcome: done", "outcome: error REASON", "outcome: closed" or "outcome: timeout".
 * A test tool only: never installed, never built into meshnamed.
 */
#include <arpa/inet.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "meshname/keys.h"
#include "meshname/record.h"
#include "meshname/session.h"
#include "meshname/sync.h"
#include "sync/proto.h"

#define MAX_RECORDS 64
#define OVERSIZE_FRAME 70000 /* announced in a frame header: over SYNC_FRAME_MAX */

static const char *const reason_names[] = {
	"ok",    "protocol", "frame",   "record",  "forbidden", "replay", "rate",
	"limit", "mesh",     "version", "timeout", "internal",  "banned", "closed",
};

static const char *reason_name(unsigned r)
{
	return r < sizeof(reason_names) / sizeof(reason_names[0]) ? reason_names[r] : "unknown";
}

struct peer {
	int fd;
	bool transport_b;
	struct session sess;
	/* Sync bytes from the daemon (opened from sealed messages on transport B). */
	uint8_t *in;
	size_t in_len;
	/* Transport B: the raw TCP bytes not yet a whole sealed message. */
	uint8_t *raw;
	size_t raw_len;
	bool eof;
	bool got_final; /* transport B: the daemon's FINAL message was opened */
	bool said_final;
	bool got_done;
	int error; /* reason of the daemon's ERROR, -1 if none */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void send_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			/* The daemon may have cut us off already: what it said is still to read. */
			printf("send failed: %s\n", strerror(errno));
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

/* Blocking read of exactly n bytes (the handshake only). false on EOF or error. */
static bool recv_all(int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = recv(fd, p, n, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p += r;
		n -= (size_t)r;
	}
	return true;
}

/* One length-prefixed message on the TCP stream. */
static void send_message(int fd, const uint8_t *p, size_t n)
{
	uint8_t hdr[4];

	put_u32(hdr, (uint32_t)n);
	send_all(fd, hdr, sizeof(hdr));
	send_all(fd, p, n);
}

/* Sync bytes to the daemon: as they are (A) or in one sealed message (B). */
static void send_sync(struct peer *pr, const uint8_t *p, size_t n)
{
	static uint8_t ct[SESSION_MAX_MESSAGE];
	size_t ct_len;

	if (!pr->transport_b) {
		send_all(pr->fd, p, n);
		return;
	}
	while (n > 0) {
		size_t take = n > SESSION_MAX_PLAINTEXT ? SESSION_MAX_PLAINTEXT : n;

		if (session_seal(&pr->sess, p, take, false, ct, sizeof(ct), &ct_len) < 0)
			errx(1, "cannot seal a message");
		send_message(pr->fd, ct, ct_len);
		p += take;
		n -= take;
	}
}

static void send_final(struct peer *pr)
{
	uint8_t ct[SESSION_OVERHEAD];
	size_t ct_len;

	if (!pr->transport_b)
		return;
	if (session_seal(&pr->sess, NULL, 0, true, ct, sizeof(ct), &ct_len) < 0)
		errx(1, "cannot seal the final message");
	send_message(pr->fd, ct, ct_len);
}

static void append(uint8_t **buf, size_t *len, const uint8_t *p, size_t n)
{
	uint8_t *b = realloc(*buf, *len + n);

	if (b == NULL)
		err(1, "realloc");
	memcpy(b + *len, p, n);
	*buf = b;
	*len += n;
}

static void consume(uint8_t *buf, size_t *len, size_t n)
{
	memmove(buf, buf + n, *len - n);
	*len -= n;
}

/* Transport B: opens every whole sealed message in raw into in. */
static void open_messages(struct peer *pr)
{
	static uint8_t pt[SESSION_MAX_MESSAGE];

	while (pr->raw_len >= 4) {
		size_t n = get_u32(pr->raw), pt_len;
		bool final;
		int rc;

		if (n > SESSION_MAX_MESSAGE) {
			printf("received a message of %zu bytes: over 64 KiB\n", n);
			pr->eof = true;
			return;
		}
		if (pr->raw_len < 4 + n)
			return;
		rc = session_open(&pr->sess, pr->raw + 4, n, pt, sizeof(pt), &pt_len, &final);
		if (rc < 0) {
			printf("received a message that does not open: %s\n", strerror(-rc));
			pr->eof = true;
			return;
		}
		append(&pr->in, &pr->in_len, pt, pt_len);
		consume(pr->raw, &pr->raw_len, 4 + n);
		if (final)
			pr->got_final = true;
	}
}

/* Prints and consumes the whole frames the daemon sent. */
static void read_frames(struct peer *pr)
{
	struct proto_frame f;
	size_t frame_len;
	int rc;

	while ((rc = proto_frame_parse(pr->in, pr->in_len, &f, &frame_len)) == 0) {
		switch (f.type) {
		case SYNC_MSG_HELLO:
			printf("received HELLO\n");
			break;
		case SYNC_MSG_DONE:
			printf("received DONE\n");
			pr->got_done = true;
			break;
		case SYNC_MSG_ERROR:
			pr->error = f.len == 1 ? f.payload[0] : SYNC_ERR_PROTOCOL;
			printf("received ERROR %s\n", reason_name((unsigned)pr->error));
			break;
		default:
			printf("received frame type %u (%zu bytes)\n", f.type, f.len);
			break;
		}
		consume(pr->in, &pr->in_len, frame_len);
	}
	if (rc != -EAGAIN) {
		printf("received a malformed frame\n");
		pr->eof = true;
	}
	/* After the frames it carried. */
	if (pr->got_final && !pr->said_final) {
		printf("received FINAL (the daemon's end of stream)\n");
		pr->said_final = true;
	}
}

/* Reads what arrives within timeout_ms, or until stop() holds. */
static void pump(struct peer *pr, int timeout_ms, bool (*stop)(const struct peer *))
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	uint8_t buf[16384];

	while (!pr->eof && !stop(pr)) {
		uint64_t now = now_ms();
		struct pollfd pfd = { .fd = pr->fd, .events = POLLIN };
		ssize_t r;

		if (now >= end)
			return;
		if (poll(&pfd, 1, (int)(end - now)) <= 0)
			continue;
		r = recv(pr->fd, buf, sizeof(buf), 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			printf("connection %s\n", errno == ECONNRESET ? "reset" : strerror(errno));
			pr->eof = true;
		} else if (r == 0) {
			printf("connection closed by the daemon\n");
			pr->eof = true;
		} else if (pr->transport_b) {
			append(&pr->raw, &pr->raw_len, buf, (size_t)r);
			open_messages(pr);
		} else {
			append(&pr->in, &pr->in_len, buf, (size_t)r);
		}
		read_frames(pr);
	}
}

static bool stop_on_error(const struct peer *pr)
{
	return pr->error >= 0;
}

static bool stop_on_end(const struct peer *pr)
{
	return pr->error >= 0 || pr->got_done;
}

static int connect_to(const char *hostport)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST };
	struct addrinfo *ai;
	size_t hl;
	int fd, rc;

	if (colon == NULL || colon == hostport)
		errx(2, "%s: expected ADDRESS:PORT", hostport);
	hl = (size_t)(colon - hostport);
	if (hostport[0] == '[' && hl >= 2 && hostport[hl - 1] == ']') {
		hostport++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		errx(2, "%s: address too long", hostport);
	memcpy(host, hostport, hl);
	host[hl] = '\0';
	rc = getaddrinfo(host, colon + 1, &hints, &ai);
	if (rc != 0)
		errx(2, "%s: %s", hostport, gai_strerror(rc));
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0)
		err(1, "socket");
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		printf("outcome: connect failed: %s\n", strerror(errno));
		exit(1);
	}
	freeaddrinfo(ai);
	return fd;
}

/* Loads an Ed25519 host key file, or makes one (0600) if it does not exist. */
static void load_key(const char *path, uint8_t sk[REC_SECRET_SIZE])
{
	char *d = strdup(path), *b = strdup(path);
	const char *dir, *file;
	uint8_t pk[REC_KEY_SIZE];
	int rc;

	if (d == NULL || b == NULL)
		err(1, "strdup");
	/* Once each: dirname and basename may change their argument. */
	dir = dirname(d);
	file = basename(b);
	rc = keys_ed25519_load(dir, file, sk);
	if (rc == -ENOENT) {
		rc = keys_ed25519_generate(dir, file, pk);
		if (rc == 0)
			rc = keys_ed25519_load(dir, file, sk);
	}
	if (rc < 0)
		errx(1, "%s: cannot load or make a host key: %s", path, strerror(-rc));
	free(d);
	free(b);
}

/* Transport B's handshake as the client; exits if the daemon refuses it. */
static void handshake(struct peer *pr, const uint8_t mesh_id[REC_ID_SIZE],
		      const uint8_t sk[REC_SECRET_SIZE])
{
	uint8_t msg[SESSION_HANDSHAKE_MAX], reply[SESSION_HANDSHAKE_MAX], hdr[4];
	size_t len, n;
	char b64[sodium_base64_ENCODED_LEN(REC_KEY_SIZE, sodium_base64_VARIANT_ORIGINAL)];
	int rc;

	rc = session_client_init(&pr->sess, mesh_id, sk, NULL, msg, sizeof(msg), &len);
	if (rc < 0)
		errx(1, "session_client_init: %s", strerror(-rc));
	send_message(pr->fd, msg, len);
	if (!recv_all(pr->fd, hdr, 4)) {
		printf("outcome: closed during the handshake\n");
		exit(0);
	}
	n = get_u32(hdr);
	if (n == 2 && recv_all(pr->fd, reply, n) && reply[0] == SYNC_MSG_ERROR) {
		/* A refusal before any handshake (a banned peer): an ERROR frame in clear. */
		printf("received ERROR %s (in clear, instead of a server hello)\n",
		       reason_name(reply[1]));
		printf("outcome: error %s\n", reason_name(reply[1]));
		exit(0);
	}
	if (n == 2) {
		printf("outcome: handshake failed: the daemon sent 2 bytes, not a server hello\n");
		exit(0);
	}
	if (n > sizeof(reply)) {
		/* Not a server hello: perhaps sync frames (a refusal) on a plain stream. */
		printf("outcome: handshake failed: the daemon sent %zu bytes, not a server hello\n",
		       n);
		exit(0);
	}
	if (!recv_all(pr->fd, reply, n)) {
		printf("outcome: closed during the handshake\n");
		exit(0);
	}
	rc = session_handshake(&pr->sess, reply, n, msg, sizeof(msg), &len);
	if (rc < 0) {
		printf("outcome: handshake failed: %s\n", strerror(-rc));
		exit(0);
	}
	send_message(pr->fd, msg, len);
	sodium_bin2base64(b64, sizeof(b64), session_peer_key(&pr->sess), REC_KEY_SIZE,
			  sodium_base64_VARIANT_ORIGINAL);
	printf("handshake done: the daemon's host key is %s\n", b64);
}

static size_t read_file(const char *path, uint8_t *buf, size_t size)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (f == NULL)
		err(1, "%s", path);
	n = fread(buf, 1, size, f);
	if (ferror(f))
		err(1, "%s", path);
	if (n == size && fgetc(f) != EOF)
		errx(1, "%s: longer than %zu bytes", path, size);
	fclose(f);
	return n;
}

static void usage(void)
{
	fprintf(stderr,
		"Usage: sync_peer --mesh-id HEX (-a ADDR:PORT | -b ADDR:PORT --key FILE)\n"
		"                 [--role member|nonmember] [--wait MS]\n"
		"                 [--oversize-frame | --oversize-record N | [--forge FILE]... [FILE]...]\n"
		"\n"
		"Pushes, in one PUSH frame and in the order given, the raw records in FILE (as they\n"
		"are) and in each --forge FILE (with one bit of its signature flipped); or sends a\n"
		"frame header announcing %d bytes (--oversize-frame); or pushes one record\n"
		"of N bytes (--oversize-record N). Then waits --wait ms (default 2000) for the\n"
		"daemon's verdict before its DONE.\n",
		OVERSIZE_FRAME);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mesh-id", required_argument, NULL, 'm' },
		{ "key", required_argument, NULL, 'k' },
		{ "role", required_argument, NULL, 'r' },
		{ "forge", required_argument, NULL, 'f' },
		{ "oversize-frame", no_argument, NULL, 'F' },
		{ "oversize-record", required_argument, NULL, 'R' },
		{ "wait", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	const char *addr = NULL, *key_path = NULL;
	bool transport_b = false, oversize_frame = false;
	const char *files[MAX_RECORDS];
	bool forged[MAX_RECORDS];
	size_t n_files = 0, oversize_record = 0;
	uint8_t mesh_id[REC_ID_SIZE], sk[REC_SECRET_SIZE];
	bool have_mesh = false;
	int role = SYNC_ROLE_MEMBER, wait_ms = 2000, c;
	struct peer pr = { .fd = -1, .error = -1 };
	struct proto_out out = { .open_frame = SIZE_MAX };
	struct proto_hello h = { .version = SYNC_VERSION, .flags = PROTO_HELLO_PUSH_ONLY };
	uint8_t hello[PROTO_HELLO_SIZE + REC_KEY_SIZE];

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* "-": records given as plain arguments come as 1, in order with the --forge ones. */
	while ((c = getopt_long(argc, argv, "-a:b:", opts, NULL)) != -1) {
		switch (c) {
		case 1:
			if (n_files == MAX_RECORDS)
				errx(2, "at most %d records", MAX_RECORDS);
			forged[n_files] = false;
			files[n_files++] = optarg;
			break;
		case 'a':
		case 'b':
			addr = optarg;
			transport_b = c == 'b';
			break;
		case 'm':
			have_mesh = sodium_hex2bin(mesh_id, sizeof(mesh_id), optarg, strlen(optarg),
						   NULL, NULL, NULL) == 0 &&
				    strlen(optarg) == 2 * REC_ID_SIZE;
			if (!have_mesh)
				errx(2, "--mesh-id: expected 64 hex digits");
			break;
		case 'k':
			key_path = optarg;
			break;
		case 'r':
			if (strcmp(optarg, "member") == 0)
				role = SYNC_ROLE_MEMBER;
			else if (strcmp(optarg, "nonmember") == 0)
				role = SYNC_ROLE_NONMEMBER;
			else
				usage();
			break;
		case 'f':
			if (n_files == MAX_RECORDS)
				errx(2, "at most %d records", MAX_RECORDS);
			forged[n_files] = true;
			files[n_files++] = optarg;
			break;
		case 'F':
			oversize_frame = true;
			break;
		case 'R':
			oversize_record = strtoul(optarg, NULL, 10);
			if (oversize_record <= REC_MAX_SIZE || oversize_record > 65000)
				errx(2, "--oversize-record: %d < N <= 65000", REC_MAX_SIZE);
			break;
		case 'w':
			wait_ms = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (addr == NULL || !have_mesh || (transport_b && key_path == NULL) ||
	    (n_files == 0 && !oversize_frame && oversize_record == 0))
		usage();
	if (sodium_init() < 0)
		errx(1, "libsodium cannot be initialised");
	if (transport_b)
		load_key(key_path, sk);

	pr.fd = connect_to(addr);
	pr.transport_b = transport_b;
	printf("connected to %s by transport %s\n", addr, transport_b ? "B" : "A");
	if (transport_b) {
		handshake(&pr, mesh_id, sk);
		sodium_memzero(sk, sizeof(sk));
	}

	/* HELLO: a push-only initiator, no set (count 0, fingerprint zero). */
	h.role = (uint8_t)role;
	memcpy(h.mesh_tag, mesh_id, SYNC_MESH_TAG_SIZE);
	if (proto_out_frame(&out, SYNC_MSG_HELLO, hello, proto_hello_encode(&h, hello)) < 0)
		errx(1, "out of memory");
	printf("sent HELLO (push-only, %s)\n", role == SYNC_ROLE_MEMBER ? "member" : "non-member");

	if (oversize_frame) {
		uint8_t hdr[SYNC_FRAME_HEADER];

		/* The header alone: the daemon must refuse it before reading any payload. */
		put_u32(hdr, OVERSIZE_FRAME - 4);
		hdr[4] = SYNC_MSG_PUSH;
		send_sync(&pr, out.data + out.off, proto_out_pending(&out));
		proto_out_consume(&out, proto_out_pending(&out));
		send_sync(&pr, hdr, sizeof(hdr));
		printf("sent a frame header announcing %d bytes\n", OVERSIZE_FRAME);
	} else if (oversize_record > 0) {
		uint8_t *big = calloc(1, oversize_record + 2);

		if (big == NULL)
			err(1, "calloc");
		big[0] = (uint8_t)(oversize_record >> 8);
		big[1] = (uint8_t)oversize_record;
		memcpy(big + 2, REC_MAGIC, 3);
		big[5] = REC_VERSION;
		big[6] = REC_RECORD;
		memcpy(big + 8, mesh_id, REC_ID_SIZE);
		if (proto_out_frame(&out, SYNC_MSG_PUSH, big, oversize_record + 2) < 0)
			errx(1, "out of memory");
		free(big);
		printf("sent PUSH of one record of %zu bytes\n", oversize_record);
	} else {
		static uint8_t payload[PROTO_PAYLOAD_MAX];
		size_t plen = 0;

		for (size_t i = 0; i < n_files; i++) {
			uint8_t rec[REC_MAX_SIZE];
			size_t n = read_file(files[i], rec, sizeof(rec));

			if (n < REC_HEADER_SIZE + REC_SIG_SIZE)
				errx(1, "%s: not a record (%zu bytes)", files[i], n);
			if (forged[i])
				rec[n - 1] ^= 0x01; /* the last byte of the signature */
			if (plen + 2 + n > sizeof(payload))
				errx(1, "the records do not fit in one frame");
			payload[plen++] = (uint8_t)(n >> 8);
			payload[plen++] = (uint8_t)n;
			memcpy(payload + plen, rec, n);
			plen += n;
			printf("pushing %s record %s (%zu bytes, %s)\n",
			       rec_type_name(rec[4]) ? rec_type_name(rec[4]) : "unknown", files[i],
			       n, forged[i] ? "signature broken" : "as it is");
		}
		if (proto_out_frame(&out, SYNC_MSG_PUSH, payload, plen) < 0)
			errx(1, "out of memory");
		printf("sent PUSH of %zu records\n", n_files);
	}
	send_sync(&pr, out.data + out.off, proto_out_pending(&out));
	proto_out_consume(&out, proto_out_pending(&out));

	/* The daemon's verdict on what we sent, before we say DONE (so that its ERROR is
	 * not lost to a reset for bytes it never read). */
	pump(&pr, wait_ms, stop_on_error);
	if (pr.error < 0 && !pr.eof) {
		if (proto_out_frame(&out, SYNC_MSG_DONE, NULL, 0) < 0)
			errx(1, "out of memory");
		send_sync(&pr, out.data + out.off, proto_out_pending(&out));
		proto_out_consume(&out, proto_out_pending(&out));
		send_final(&pr);
		printf("sent DONE\n");
		pump(&pr, 10000, stop_on_end);
	}
	if (pr.error >= 0)
		printf("outcome: error %s\n", reason_name((unsigned)pr.error));
	else if (pr.got_done)
		printf("outcome: done\n");
	else if (pr.eof)
		printf("outcome: closed\n");
	else
		printf("outcome: timeout\n");
	proto_out_free(&out);
	free(pr.in);
	free(pr.raw);
	session_clear(&pr.sess);
	close(pr.fd);
	return 0;
}
