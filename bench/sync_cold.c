/*
 * sync_cold.c: the byte and cold-start figures of issue 5 over the real stack: sync.h
 * sessions on real registries (sync_store_registry_new), over TCP on 127.0.0.1, each side
 * in a process of its own (so that the initiator's peak RSS is its own). The responder is a
 * copy of a gen_mesh state directory (100,000 records); the initiator is a host that has
 * just joined with an invite (ROOT, the inviter's CERT, the ADMIT, its own CERT), as
 * `meshname join` leaves it. It measures the cold start (sessions until a session finds
 * both sides agreeing), then the exchange between agreeing peers and one change in the
 * 100,000-record set, and compares the cold start with `meshname import` of the same
 * records (registry_ingest_many in one batch) and with copying the sqlite file. It prints
 * a table and never fails on speed; it exits non-zero only when it cannot set up or when
 * the peers do not converge.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "meshname/keys.h"
#include "meshname/record.h"
#include "meshname/registry.h"
#include "meshname/sync.h"

#define MAX_SESSIONS 16 /* per stage: a cold start needs 1 and a confirming one */
#define MAX_RUNS 15
#define IO_BUF (256 * 1024)
#define STAGE_TIMEOUT 600 /* seconds: a child that runs longer is killed */

/* ---- small helpers ------------------------------------------------------------------ */

static char tmp_dir[PATH_MAX];
static pid_t parent_pid;

static void cleanup(void);
static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sync_cold: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	if (getpid() == parent_pid)
		cleanup();
	exit(1);
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The sessions' clock: unix milliseconds (records are checked against it). */
static uint64_t unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* VmHWM (peak) of this process in KiB; 0 if unknown. */
static unsigned long peak_rss_kb(void)
{
	char line[256];
	unsigned long hwm = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmHWM:", 6) == 0)
			hwm = strtoul(line + 6, NULL, 10);
	fclose(f);
	return hwm;
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(const double *v, size_t n)
{
	double s[MAX_RUNS];

	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), compare_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static void path_in(char *out, const char *name)
{
	if ((size_t)snprintf(out, PATH_MAX, "%s/%s", tmp_dir, name) >= PATH_MAX)
		die("%s/%s: the path is too long", tmp_dir, name);
}

/* Copies a file; with sync, fsyncs the copy (what a durable copy costs). Seconds. */
static double copy_file(const char *from, const char *to, bool sync)
{
	static uint8_t buf[1 << 20];
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	double t0 = mono();
	ssize_t n;

	if (in < 0)
		die("%s: %s", from, strerror(errno));
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0)
		die("%s: %s", to, strerror(errno));
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));

			if (w < 0)
				die("%s: %s", to, strerror(errno));
			off += w;
		}
	}
	if (n < 0)
		die("%s: %s", from, strerror(errno));
	if (sync && fsync(out) < 0)
		die("%s: %s", to, strerror(errno));
	close(in);
	close(out);
	return mono() - t0;
}

/* Removes a registry database and its sqlite companions, if there. */
static void db_remove(const char *path)
{
	static const char *const suffix[] = { "", "-wal", "-shm", "-journal" };
	char p[PATH_MAX + 16];

	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
		unlink(p);
	}
}

/* Copies a closed registry database (its WAL is checkpointed on close). */
static void db_copy(const char *from, const char *to)
{
	db_remove(to);
	copy_file(from, to, false);
}

static struct registry *db_open(const char *path)
{
	struct registry *reg;
	int rc = registry_open(path, &reg);

	if (rc < 0)
		die("%s: %s", path, registry_strerror(rc));
	return reg;
}

static void ingest_one(struct registry *reg, const uint8_t *buf, size_t len, const char *what)
{
	enum ingest_result res;
	int rc = registry_ingest(reg, buf, len, (uint64_t)time(NULL), &res);

	if (rc < 0)
		die("%s refused: %s", what, registry_strerror(rc));
	if (res != INGEST_ACCEPTED && res != INGEST_DUPLICATE)
		die("%s not accepted (parked as pending)", what);
}

static size_t sign(struct rec *r, const uint8_t sk[REC_SECRET_SIZE], uint8_t *buf, const char *what)
{
	size_t len;
	int rc = rec_sign(r, sk, buf, REC_MAX_SIZE, &len);

	if (rc < 0)
		die("cannot sign %s: %s", what, strerror(-rc));
	return len;
}

/* ---- a store that times what the session asks of the registry -------------------------- */

/* --per-batch: the store recomputes the registry's view after every batch (its default)
 * instead of leaving it to one registry_refresh after each session. */
static bool per_batch_view;
/* --cold-only: the cold start alone, no references and no changes afterwards. */
static bool cold_only;
/* --rtt MS: a relay between the two adds MS / 2 of delay to every byte each way. */
static unsigned rtt_ms;

struct timed_store {
	struct sync_store st; /* first: handed to the session */
	struct sync_store *inner;
	struct registry *reg;
	double t_foreach, t_get, t_ingest;
	uint64_t n_get, n_ingest, n_records;
};

static int timed_foreach(void *arg, uint64_t now, sync_item_fn fn, void *fn_arg)
{
	struct timed_store *t = arg;
	double t0 = mono();
	int rc = t->inner->foreach_item(t->inner->arg, now, fn, fn_arg);

	t->t_foreach += mono() - t0;
	return rc;
}

static int timed_get(void *arg, const uint8_t id[REC_ID_SIZE], uint8_t *buf, size_t *len)
{
	struct timed_store *t = arg;
	double t0 = mono();
	int rc = t->inner->get(t->inner->arg, id, buf, len);

	t->t_get += mono() - t0;
	t->n_get++;
	return rc;
}

static int timed_ingest(void *arg, const struct registry_item *items, size_t n, uint64_t now,
			enum ingest_result *res, int *err)
{
	struct timed_store *t = arg;
	double t0 = mono();
	int rc = t->inner->ingest(t->inner->arg, items, n, now, res, err);

	t->t_ingest += mono() - t0;
	t->n_ingest++;
	t->n_records += n;
	return rc;
}

static void timed_store_init(struct timed_store *t, struct registry *reg)
{
	int rc;

	memset(t, 0, sizeof(*t));
	t->reg = reg;
	rc = sync_store_registry_new(reg, &t->inner);
	if (rc < 0)
		die("sync store: %s", strerror(-rc));
	sync_store_registry_defer_view(t->inner, !per_batch_view);
	t->st.arg = t;
	t->st.foreach_item = timed_foreach;
	t->st.get = timed_get;
	t->st.ingest = timed_ingest;
}

/* ---- one session over a socket ---------------------------------------------------------- */

/* What one side saw of one session. */
struct session_result {
	int state; /* enum sync_state */
	int reason;
	struct sync_stats st;
	uint64_t wire_out, wire_in; /* bytes written to and read from the socket */
	uint64_t flights;           /* times we sent after hearing from the peer */
	uint64_t frames_out[SYNC_MSG_ERROR + 1], frame_bytes_out[SYNC_MSG_ERROR + 1];
	double seconds;
};

/* Counts the frames of our outgoing stream by type, however the writes split it. */
struct frame_scan {
	uint8_t head[SYNC_FRAME_HEADER];
	size_t head_len;
	uint64_t left; /* payload bytes of the current frame still to come */
};

static void scan_out(struct frame_scan *f, struct session_result *r, const uint8_t *p, size_t n)
{
	while (n > 0) {
		if (f->left > 0) {
			size_t k = n < f->left ? n : (size_t)f->left;

			f->left -= k;
			p += k;
			n -= k;
			continue;
		}
		f->head[f->head_len++] = *p++;
		n--;
		if (f->head_len == SYNC_FRAME_HEADER) {
			uint32_t len = (uint32_t)f->head[0] << 24 | (uint32_t)f->head[1] << 16 |
				       (uint32_t)f->head[2] << 8 | f->head[3];
			uint8_t type = f->head[4];

			if (type <= SYNC_MSG_ERROR) {
				r->frames_out[type]++;
				r->frame_bytes_out[type] += 4 + (uint64_t)len;
			}
			f->left = len - 1;
			f->head_len = 0;
		}
	}
}

static void on_event(void *arg, const struct sync_event *ev)
{
	(void)arg;
	(void)ev;
}

/*
 * Runs one session on a connected socket until it ends and its last bytes are written.
 * The engine's output is written as soon as the socket takes it, and input is fed as it
 * comes (the engine stops taking input while its output is over out_high).
 */
static void run_session(int fd, const struct sync_config *c, struct session_result *r)
{
	static uint8_t in[IO_BUF];
	struct sync_session *s = NULL;
	struct frame_scan scan = { .head_len = 0 };
	size_t in_len = 0;
	bool heard = true, eof = false; /* our HELLO is the first flight */
	double t0 = mono();
	int rc;

	memset(r, 0, sizeof(*r));
	rc = sync_session_new(c, unix_ms(), &s);
	if (rc < 0)
		die("session: %s", strerror(-rc));
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = 0 };
		const uint8_t *out;
		size_t out_len;

		out = sync_session_output(s, &out_len);
		if (sync_session_state(s) != SYNC_RUNNING && (out_len == 0 || eof))
			break;
		if (out_len > 0)
			pfd.events |= POLLOUT;
		if (!eof && in_len < sizeof(in))
			pfd.events |= POLLIN;
		if (pfd.events == 0) {
			/* the engine holds back input until its output drains: cannot happen
			 * with out_len 0, so this is a broken stream */
			sync_session_eof(s, unix_ms());
			continue;
		}
		if (poll(&pfd, 1, 1000) < 0) {
			if (errno == EINTR)
				continue;
			die("poll: %s", strerror(errno));
		}
		if (pfd.revents & POLLOUT) {
			ssize_t w = send(fd, out, out_len, MSG_NOSIGNAL);

			if (w > 0) {
				if (heard)
					r->flights++;
				heard = false;
				scan_out(&scan, r, out, (size_t)w);
				r->wire_out += (uint64_t)w;
				sync_session_sent(s, (size_t)w);
			} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
				eof = true;
				sync_session_eof(s, unix_ms());
			}
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = recv(fd, in + in_len, sizeof(in) - in_len, 0);

			if (n > 0) {
				in_len += (size_t)n;
				r->wire_in += (uint64_t)n;
				heard = true;
			} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				eof = true;
			}
		}
		if (in_len > 0 && sync_session_state(s) == SYNC_RUNNING) {
			size_t used = sync_session_feed(s, in, in_len, unix_ms());

			memmove(in, in + used, in_len - used);
			in_len -= used;
			if (sync_session_state(s) != SYNC_RUNNING)
				in_len = 0;
		}
		if (eof && in_len == 0 && sync_session_state(s) == SYNC_RUNNING)
			sync_session_eof(s, unix_ms());
		sync_session_tick(s, unix_ms());
	}
	r->seconds = mono() - t0;
	r->state = (int)sync_session_state(s);
	r->reason = sync_session_reason(s);
	sync_session_stats(s, &r->st);
	sync_session_free(s);
}

static void config_fill(struct sync_config *c, const struct sync_store *st,
			const uint8_t mesh_id[REC_ID_SIZE], bool initiator)
{
	memset(c, 0, sizeof(*c));
	c->store = st;
	memcpy(c->mesh_id, mesh_id, REC_ID_SIZE);
	c->initiator = initiator;
	c->mode = SYNC_MODE_RECONCILE;
	c->self_role = SYNC_ROLE_MEMBER;
	c->peer_role = SYNC_ROLE_MEMBER;
	sync_limits_default(&c->limits);
	c->event = on_event;
}

static void socket_tune(int fd)
{
	int one = 1;

	/* Frames are request and answer: Nagle would hold a short WANT for an ACK. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* ---- a relay that delays every byte (--rtt) ------------------------------------------------ */

struct chunk {
	struct chunk *next;
	double due;
	size_t len, off;
	uint8_t data[];
};

/* One direction: bytes read from `from` are written to `to` once `due`. */
struct lane {
	int from, to;
	struct chunk *head, *tail;
	bool eof, shut;
};

static void lane_free(struct lane *l)
{
	while (l->head != NULL) {
		struct chunk *c = l->head;

		l->head = c->next;
		free(c);
	}
}

/* Moves one connection's bytes both ways with delay seconds each way until both ends
 * closed their side (or one failed). */
static void relay_conn(int a, int b, double delay)
{
	struct lane lane[2] = { { .from = a, .to = b }, { .from = b, .to = a } };

	for (;;) {
		struct pollfd pfd[4];
		double now = mono(), wait = -1;
		int n = 0, timeout;
		bool broken = false;

		for (int i = 0; i < 2; i++) {
			struct lane *l = &lane[i];

			while (l->head != NULL && l->head->due <= now) {
				struct chunk *c = l->head;
				ssize_t w = send(l->to, c->data + c->off, c->len - c->off,
						 MSG_NOSIGNAL);

				if (w < 0 && (errno == EAGAIN || errno == EINTR))
					break;
				if (w < 0) {
					broken = true;
					break;
				}
				c->off += (size_t)w;
				if (c->off < c->len)
					break;
				l->head = c->next;
				if (l->head == NULL)
					l->tail = NULL;
				free(c);
			}
			if (l->head == NULL && l->eof && !l->shut) {
				shutdown(l->to, SHUT_WR);
				l->shut = true;
			}
			if (l->head != NULL && (wait < 0 || l->head->due - now < wait))
				wait = l->head->due > now ? l->head->due - now : 0;
		}
		if (broken || (lane[0].shut && lane[1].shut))
			break;
		for (int i = 0; i < 2; i++) {
			struct lane *l = &lane[i];

			if (!l->eof)
				pfd[n++] = (struct pollfd){ .fd = l->from, .events = POLLIN };
			if (l->head != NULL && l->head->due <= now)
				pfd[n++] = (struct pollfd){ .fd = l->to, .events = POLLOUT };
		}
		timeout = wait < 0 ? 1000 : (int)(wait * 1000) + 1;
		if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR)
			break;
		now = mono();
		for (int i = 0; i < 2; i++) {
			struct lane *l = &lane[i];
			struct chunk *c;
			ssize_t r;

			if (l->eof)
				continue;
			c = malloc(sizeof(*c) + IO_BUF);
			if (c == NULL)
				_exit(3);
			r = recv(l->from, c->data, IO_BUF, 0);
			if (r <= 0) {
				free(c);
				if (r == 0 || (errno != EAGAIN && errno != EINTR))
					l->eof = true;
				continue;
			}
			c->next = NULL;
			c->due = now + delay;
			c->len = (size_t)r;
			c->off = 0;
			if (l->tail != NULL)
				l->tail->next = c;
			else
				l->head = c;
			l->tail = c;
		}
	}
	lane_free(&lane[0]);
	lane_free(&lane[1]);
}

static int connect_to(uint16_t port);

/* The relay role: each connection to listen_fd is relayed to 127.0.0.1:port. */
static void relay_main(int listen_fd, int stop_fd, uint16_t port, unsigned rtt)
{
	for (;;) {
		struct pollfd pfd[2] = { { .fd = listen_fd, .events = POLLIN },
					 { .fd = stop_fd, .events = POLLIN } };
		int a, b;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents != 0)
			break;
		a = accept(listen_fd, NULL, NULL);
		if (a < 0)
			continue;
		b = connect_to(port);
		if (b >= 0) {
			socket_tune(a);
			relay_conn(a, b, (double)rtt / 2000);
			close(b);
		}
		close(a);
	}
	_exit(0);
}

/* ---- a stage: a responder process and an initiator process -------------------------- */

/* What one side reports to the parent at the end of a stage. */
struct side_report {
	bool ok;
	char error[160];
	size_t n_sessions;
	struct session_result s[MAX_SESSIONS];
	bool converged; /* the last session found both sides agreeing at HELLO */
	double seconds; /* initiator: registry open to the end of the last session that moved
	                 * anything (the time to converge) */
	double confirm_seconds;
	double cpu;
	unsigned long hwm_kb;
	double t_open, t_foreach, t_get, t_ingest, t_refresh;
	uint64_t n_get, n_ingest, n_records;
	uint64_t records; /* registry_counts at the end */
};

static bool session_agreed(const struct session_result *r)
{
	return r->state == SYNC_DONE && r->st.neg_rounds == 0 && r->st.records_in == 0 &&
	       r->st.records_out == 0 && r->frames_out[SYNC_MSG_NEG] == 0;
}

static void write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t w = write(fd, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(3);
		b += w;
		n -= (size_t)w;
	}
}

static bool read_all(int fd, void *p, size_t n)
{
	uint8_t *b = p;

	while (n > 0) {
		ssize_t r = read(fd, b, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		b += r;
		n -= (size_t)r;
	}
	return true;
}

static void report_fill_store(struct side_report *rep, const struct timed_store *t)
{
	rep->t_foreach = t->t_foreach;
	rep->t_get = t->t_get;
	rep->t_ingest = t->t_ingest;
	rep->n_get = t->n_get;
	rep->n_ingest = t->n_ingest;
	rep->n_records = t->n_records;
}

static void report_records(struct side_report *rep, struct registry *reg)
{
	struct registry_counts c;

	if (registry_counts(reg, &c) == 0)
		rep->records = c.records;
}

/* The responder: serves one session per connection until the parent closes stop_fd. */
static void responder_main(int listen_fd, int stop_fd, int report_fd, const char *db,
			   const uint8_t mesh_id[REC_ID_SIZE])
{
	static struct side_report rep;
	struct timed_store ts;
	struct sync_config c;
	struct registry *reg;
	double t0 = mono();

	reg = db_open(db);
	rep.t_open = mono() - t0;
	timed_store_init(&ts, reg);
	config_fill(&c, &ts.st, mesh_id, false);
	for (;;) {
		struct pollfd pfd[2] = { { .fd = listen_fd, .events = POLLIN },
					 { .fd = stop_fd, .events = POLLIN } };
		int fd;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents != 0)
			break;
		fd = accept(listen_fd, NULL, NULL);
		if (fd < 0)
			continue;
		socket_tune(fd);
		if (rep.n_sessions < MAX_SESSIONS)
			run_session(fd, &c, &rep.s[rep.n_sessions++]);
		close(fd);
		t0 = mono();
		if (registry_refresh(reg, (uint64_t)time(NULL)) < 0)
			break;
		rep.t_refresh += mono() - t0;
	}
	rep.ok = true;
	rep.cpu = cpu_seconds();
	rep.hwm_kb = peak_rss_kb();
	report_fill_store(&rep, &ts);
	report_records(&rep, reg);
	sync_store_registry_free(ts.inner);
	registry_close(reg);
	write_all(report_fd, &rep, sizeof(rep));
	_exit(0);
}

static int connect_to(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -1;
	socket_tune(fd);
	return fd;
}

/* The initiator: sessions until one finds both sides agreeing (or MAX_SESSIONS). */
static void initiator_main(uint16_t port, int report_fd, const char *db,
			   const uint8_t mesh_id[REC_ID_SIZE])
{
	static struct side_report rep;
	struct timed_store ts;
	struct sync_config c;
	struct registry *reg;
	double t0 = mono(), t1;
	int rc;

	reg = db_open(db);
	rep.t_open = mono() - t0;
	timed_store_init(&ts, reg);
	config_fill(&c, &ts.st, mesh_id, true);
	while (rep.n_sessions < MAX_SESSIONS) {
		struct session_result *r = &rep.s[rep.n_sessions];
		int fd = connect_to(port);

		if (fd < 0) {
			snprintf(rep.error, sizeof(rep.error), "cannot connect to 127.0.0.1:%u: %s",
				 port, strerror(errno));
			break;
		}
		run_session(fd, &c, r);
		close(fd);
		rep.n_sessions++;
		t1 = mono();
		rc = registry_refresh(reg, (uint64_t)time(NULL));
		if (rc < 0) {
			snprintf(rep.error, sizeof(rep.error), "registry refresh: %s",
				 registry_strerror(rc));
			break;
		}
		rep.t_refresh += mono() - t1;
		t1 = mono();
		if (r->state != SYNC_DONE) {
			snprintf(rep.error, sizeof(rep.error), "session %zu failed: %s",
				 rep.n_sessions, sync_reason_str(r->reason));
			break;
		}
		if (session_agreed(r)) {
			rep.converged = true;
			rep.confirm_seconds = r->seconds;
			break;
		}
		rep.seconds = t1 - t0;
	}
	rep.ok = rep.error[0] == '\0';
	rep.cpu = cpu_seconds();
	rep.hwm_kb = peak_rss_kb();
	report_fill_store(&rep, &ts);
	report_records(&rep, reg);
	sync_store_registry_free(ts.inner);
	registry_close(reg);
	write_all(report_fd, &rep, sizeof(rep));
	_exit(0);
}

static pid_t spawn(int *report_read)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		close(p[0]);
		alarm(STAGE_TIMEOUT);
		*report_read = p[1]; /* the child's end, for writing */
		return 0;
	}
	close(p[1]);
	*report_read = p[0];
	return pid;
}

/*
 * In a child of spawn: runs this program again as a child role, so that the role starts
 * from a fresh address space (its peak RSS is its own, not the parent's at the fork).
 * keep: descriptors the role inherits; args: the role's arguments after "--child".
 */
static void exec_role(const int *keep, size_t n_keep, const char *const *args, size_t n_args)
{
	char *argv[12];

	if (n_args + 3 > sizeof(argv) / sizeof(argv[0]))
		_exit(127);
	for (size_t i = 0; i < n_keep; i++)
		fcntl(keep[i], F_SETFD, 0);
	argv[0] = (char *)(uintptr_t) "sync_cold";
	argv[1] = (char *)(uintptr_t) "--child";
	for (size_t i = 0; i < n_args; i++)
		argv[2 + i] = (char *)(uintptr_t)args[i];
	argv[2 + n_args] = NULL;
	execv("/proc/self/exe", argv);
	fprintf(stderr, "sync_cold: cannot run /proc/self/exe: %s\n", strerror(errno));
	_exit(127);
}

static void hex_of(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static void reap(pid_t pid, const char *who)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("the %s process failed (status %d)", who, status);
}

/* Syncs init_db from resp_db: a responder and an initiator process, then their reports. */
static void stage(const char *resp_db, const char *init_db, const uint8_t mesh_id[REC_ID_SIZE],
		  struct side_report *ini, struct side_report *resp)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int lfd, stop[2], rfd, ifd, relay_stop[2] = { -1, -1 }, xfd_report = -1;
	char mesh_hex[2 * REC_ID_SIZE + 1], fds[3][16];
	pid_t rpid, ipid, xpid = 0;
	uint16_t port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 4) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) < 0)
		die("cannot listen on 127.0.0.1: %s", strerror(errno));
	if (pipe2(stop, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	hex_of(mesh_id, REC_ID_SIZE, mesh_hex);
	rpid = spawn(&rfd);
	if (rpid == 0) {
		int keep[3] = { lfd, stop[0], rfd };

		snprintf(fds[0], sizeof(fds[0]), "%d", lfd);
		snprintf(fds[1], sizeof(fds[1]), "%d", stop[0]);
		snprintf(fds[2], sizeof(fds[2]), "%d", rfd);
		{
			const char *args[] = { "responder",
					       fds[0],
					       fds[1],
					       fds[2],
					       resp_db,
					       mesh_hex,
					       per_batch_view ? "per-batch" : "deferred" };

			close(stop[1]);
			exec_role(keep, 3, args, 7);
		}
	}
	close(stop[0]);
	port = ntohs(a.sin_port);
	if (rtt_ms > 0) {
		/* the initiator connects to the relay, the relay to the responder */
		int xfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		a.sin_port = 0;
		alen = sizeof(a);
		if (xfd < 0 || bind(xfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    listen(xfd, 4) < 0 || getsockname(xfd, (struct sockaddr *)&a, &alen) < 0)
			die("cannot listen on 127.0.0.1: %s", strerror(errno));
		if (pipe2(relay_stop, O_CLOEXEC) < 0)
			die("pipe: %s", strerror(errno));
		xpid = spawn(&xfd_report);
		if (xpid == 0) {
			int keep[2] = { xfd, relay_stop[0] };
			char rtt_s[16];
			const char *args[] = { "relay", fds[0], fds[1], fds[2], rtt_s };

			snprintf(fds[0], sizeof(fds[0]), "%d", xfd);
			snprintf(fds[1], sizeof(fds[1]), "%d", relay_stop[0]);
			snprintf(fds[2], sizeof(fds[2]), "%u", port);
			snprintf(rtt_s, sizeof(rtt_s), "%u", rtt_ms);
			close(relay_stop[1]);
			close(lfd);
			close(stop[1]);
			exec_role(keep, 2, args, 5);
		}
		close(relay_stop[0]);
		close(xfd);
		close(xfd_report);
		port = ntohs(a.sin_port);
	}
	ipid = spawn(&ifd);
	if (ipid == 0) {
		snprintf(fds[0], sizeof(fds[0]), "%u", port);
		snprintf(fds[1], sizeof(fds[1]), "%d", ifd);
		{
			const char *args[] = {
				"initiator", fds[0],   fds[1],
				init_db,     mesh_hex, per_batch_view ? "per-batch" : "deferred"
			};

			close(lfd);
			close(stop[1]);
			exec_role(&ifd, 1, args, 6);
		}
	}
	close(lfd);
	if (!read_all(ifd, ini, sizeof(*ini)))
		die("the initiator process ended without a report");
	reap(ipid, "initiator");
	if (xpid > 0) {
		close(relay_stop[1]);
		reap(xpid, "relay");
	}
	close(stop[1]); /* the responder ends */
	if (!read_all(rfd, resp, sizeof(*resp)))
		die("the responder process ended without a report");
	reap(rpid, "responder");
	close(ifd);
	close(rfd);
	if (!ini->ok)
		die("%s", ini->error);
	if (!ini->converged)
		die("the peers did not converge in %d sessions", MAX_SESSIONS);
}

/* ---- the setup: a responder with 100,000 records, a host that has just joined --------- */

struct setup {
	char mesh_db[PATH_MAX]; /* gen_mesh's registry, read only */
	char resp_db[PATH_MAX]; /* the responder's template: mesh_db + the new host's ADMIT */
	char join_db[PATH_MAX]; /* the joiner's template */
	char resp_run[PATH_MAX], join_run[PATH_MAX], copy_db[PATH_MAX], import_db[PATH_MAX];
	uint8_t mesh_id[REC_ID_SIZE];
	uint8_t host0_sk[REC_SECRET_SIZE]; /* the inviter (gen_mesh's host 0) */
	uint8_t new_sk[REC_SECRET_SIZE];   /* the joined host */
	uint64_t resp_records, join_records;
	uint64_t record_bytes; /* of the records the joiner lacks */
};

struct find_cert {
	const uint8_t *key;
	uint8_t buf[REC_MAX_SIZE];
	size_t len;
};

static int find_cert_cb(void *arg, const uint8_t *buf, size_t len)
{
	struct find_cert *f = arg;
	struct rec r;

	if (rec_decode(buf, len, &r) == 0 && r.type == REC_CERT &&
	    memcmp(r.u.cert.host_key, f->key, REC_KEY_SIZE) == 0) {
		memcpy(f->buf, buf, len);
		f->len = len;
		return 1;
	}
	return 0;
}

static uint64_t count_records(struct registry *reg)
{
	struct registry_counts c;
	int rc = registry_counts(reg, &c);

	if (rc < 0)
		die("registry counts: %s", registry_strerror(rc));
	return c.records;
}

/*
 * As `meshname add newhost` on host 0 (an ADMIT in its registry) and `meshname join` on
 * the new host (ROOT, the inviter's CERT, the ADMIT, its own CERT signed with the
 * admission key).
 */
static void setup_make(struct setup *su, const char *state)
{
	uint8_t admin_sk[REC_SECRET_SIZE], adm_pk[REC_KEY_SIZE], adm_sk[REC_SECRET_SIZE];
	uint8_t new_pk[REC_KEY_SIZE], wg_pk[REC_KEY_SIZE], root_buf[REC_MAX_SIZE];
	uint8_t admit_buf[REC_MAX_SIZE], cert_buf[REC_MAX_SIZE];
	struct find_cert inviter;
	struct registry *reg;
	struct rec root, admit, cert;
	uint64_t now = (uint64_t)time(NULL);
	size_t root_len = sizeof(root_buf), admit_len, cert_len;
	int rc;

	if ((size_t)snprintf(su->mesh_db, PATH_MAX, "%s/registry.db", state) >= PATH_MAX)
		die("%s: the path is too long", state);
	if (access(su->mesh_db, R_OK) < 0)
		die("%s: %s (make it with gen_mesh)", su->mesh_db, strerror(errno));
	rc = keys_ed25519_load(state, KEYS_ADMIN, admin_sk);
	if (rc == 0)
		rc = keys_ed25519_load(state, KEYS_HOST, su->host0_sk);
	if (rc < 0)
		die("cannot read the keys in %s: %s (make it with gen_mesh)", state, strerror(-rc));
	path_in(su->resp_db, "responder.db");
	path_in(su->join_db, "joiner.db");
	path_in(su->resp_run, "responder-run.db");
	path_in(su->join_run, "joiner-run.db");
	path_in(su->copy_db, "copy.db");
	path_in(su->import_db, "import.db");

	db_copy(su->mesh_db, su->resp_db);
	reg = db_open(su->resp_db);
	rc = registry_root(reg, &root, su->mesh_id);
	if (rc == 0)
		rc = registry_root_raw(reg, root_buf, &root_len);
	if (rc < 0)
		die("%s: %s", su->resp_db, registry_strerror(rc));
	inviter.key = su->host0_sk + 32;
	inviter.len = 0;
	rc = registry_foreach(reg, find_cert_cb, &inviter);
	if (rc < 0 || inviter.len == 0)
		die("%s holds no CERT for the host key in %s/%s", su->mesh_db, state, KEYS_HOST);

	/* the ADMIT: name, address, lifetime the admin chose; a one-time admission key */
	crypto_sign_keypair(adm_pk, adm_sk);
	memset(&admit, 0, sizeof(admit));
	admit.type = REC_ADMIT;
	memcpy(admit.mesh_id, su->mesh_id, REC_ID_SIZE);
	admit.seq = 1;
	admit.issued_at = now;
	admit.expires_at = now + 7 * 86400;
	memcpy(admit.u.admit.admission_key, adm_pk, REC_KEY_SIZE);
	snprintf(admit.u.admit.name, sizeof(admit.u.admit.name), "newhost");
	admit.u.admit.ipv4[0] = root.u.root.ipv4[0];
	admit.u.admit.ipv4[1] = root.u.root.ipv4[1];
	admit.u.admit.ipv4[2] = 250;
	admit.u.admit.ipv4[3] = 1;
	admit.u.admit.cert_lifetime = 365 * 86400;
	admit_len = sign(&admit, admin_sk, admit_buf, "the ADMIT");
	ingest_one(reg, admit_buf, admit_len, "the ADMIT");
	su->resp_records = count_records(reg);
	registry_close(reg);

	/* the joined host */
	crypto_sign_keypair(new_pk, su->new_sk);
	randombytes_buf(wg_pk, sizeof(wg_pk));
	memset(&cert, 0, sizeof(cert));
	cert.type = REC_CERT;
	memcpy(cert.mesh_id, su->mesh_id, REC_ID_SIZE);
	cert.seq = 1;
	cert.issued_at = now;
	cert.expires_at = now + admit.u.admit.cert_lifetime;
	snprintf(cert.u.cert.name, sizeof(cert.u.cert.name), "newhost");
	memcpy(cert.u.cert.host_key, new_pk, REC_KEY_SIZE);
	memcpy(cert.u.cert.wg_key, wg_pk, REC_KEY_SIZE);
	memcpy(cert.u.cert.ipv4, admit.u.admit.ipv4, 4);
	rec_ipv6_for_host(root.u.root.ipv6, new_pk, cert.u.cert.ipv6);
	cert_len = sign(&cert, adm_sk, cert_buf, "the new host's CERT");
	db_remove(su->join_db);
	reg = db_open(su->join_db);
	rc = registry_create(reg, root_buf, root_len, now);
	if (rc < 0)
		die("%s: %s", su->join_db, registry_strerror(rc));
	ingest_one(reg, inviter.buf, inviter.len, "the inviter's CERT");
	ingest_one(reg, admit_buf, admit_len, "the ADMIT (joiner)");
	ingest_one(reg, cert_buf, cert_len, "the new host's CERT");
	su->join_records = count_records(reg);
	registry_close(reg);
	sodium_memzero(admin_sk, sizeof(admin_sk));
	sodium_memzero(adm_sk, sizeof(adm_sk));
}

/* A new custom record of a host (host key sk, its name), as `meshname rr add` signs it. */
static size_t txt_record(const struct setup *su, const uint8_t sk[REC_SECRET_SIZE],
			 const char *host, const char *label, uint8_t *buf)
{
	struct rec r;
	uint64_t now = (uint64_t)time(NULL);
	int n;

	memset(&r, 0, sizeof(r));
	r.type = REC_RECORD;
	memcpy(r.mesh_id, su->mesh_id, REC_ID_SIZE);
	r.seq = 1;
	r.issued_at = now;
	r.expires_at = now + 30 * 86400;
	r.u.record.op = REC_OP_ADD;
	snprintf(r.u.record.owner, sizeof(r.u.record.owner), "%s.%s", label, host);
	r.u.record.rrtype = 16; /* TXT */
	r.u.record.ttl = 300;
	n = snprintf((char *)r.u.record.rdata + 1, REC_RDATA_MAX - 1, "changed at %llu",
		     (unsigned long long)now);
	r.u.record.rdata[0] = (uint8_t)n;
	r.u.record.rdlen = (uint16_t)(n + 1);
	return sign(&r, sk, buf, "a new RECORD");
}

/* Host 0's next ENDPOINTS (a new public port): replaces the one stored. */
static size_t endpoints_record(const struct setup *su, uint64_t seq, uint8_t *buf)
{
	struct rec r;
	uint64_t now = (uint64_t)time(NULL);

	memset(&r, 0, sizeof(r));
	r.type = REC_ENDPOINTS;
	memcpy(r.mesh_id, su->mesh_id, REC_ID_SIZE);
	r.seq = seq;
	r.issued_at = now;
	r.expires_at = now + 7 * 86400;
	r.u.endpoints.listen_port = 51820;
	r.u.endpoints.n = 2;
	r.u.endpoints.ep[0] = (struct rec_endpoint){
		.kind = EP_LAN, .family = 4, .addr = { 192, 168, 0, 0 }, .port = 51820
	};
	r.u.endpoints.ep[1] = (struct rec_endpoint){
		.kind = EP_PUBLIC, .family = 4, .addr = { 203, 0, 113, 1 }, .port = 41234
	};
	return sign(&r, su->host0_sk, buf, "host 0's new ENDPOINTS");
}

static void db_add(const char *db, const uint8_t *buf, size_t len, const char *what)
{
	struct registry *reg = db_open(db);

	ingest_one(reg, buf, len, what);
	registry_close(reg);
}

/* ---- references ---------------------------------------------------------------------- */

struct collect {
	uint8_t *bytes;
	size_t used, cap;
	struct registry_item *items;
	size_t n, cap_items;
};

static int collect_cb(void *arg, const uint8_t *buf, size_t len)
{
	struct collect *c = arg;

	if (c->used + len > c->cap) {
		size_t cap = c->cap * 2 + (1 << 20);
		uint8_t *p = realloc(c->bytes, cap);

		if (p == NULL)
			return -ENOMEM;
		c->bytes = p;
		c->cap = cap;
	}
	if (c->n == c->cap_items) {
		size_t cap = c->cap_items * 2 + 1024;
		struct registry_item *p = realloc(c->items, cap * sizeof(*p));

		if (p == NULL)
			return -ENOMEM;
		c->items = p;
		c->cap_items = cap;
	}
	memcpy(c->bytes + c->used, buf, len);
	c->items[c->n].buf = (const uint8_t *)(uintptr_t)c->used; /* an offset until the end */
	c->items[c->n++].len = len;
	c->used += len;
	return 0;
}

struct import_report {
	double seconds, cpu;
	unsigned long hwm_kb;
	uint64_t records, accepted;
};

/* The import role: see import_ref. */
static void import_main(int fd, const char *resp_db, const char *join_db, const char *import_db)
{
	struct import_report rep = { 0 };
	struct collect c = { 0 };
	struct registry *reg = db_open(resp_db);
	enum ingest_result *res;
	int *err, rc;
	double t0;

	rc = registry_foreach(reg, collect_cb, &c);
	registry_close(reg);
	if (rc < 0)
		die("reading %s: %s", resp_db, strerror(-rc));
	for (size_t i = 0; i < c.n; i++)
		c.items[i].buf = c.bytes + (uintptr_t)c.items[i].buf;
	res = calloc(c.n, sizeof(*res));
	err = calloc(c.n, sizeof(*err));
	if (res == NULL || err == NULL)
		die("%s", strerror(ENOMEM));
	db_copy(join_db, import_db);
	t0 = mono();
	reg = db_open(import_db);
	rc = registry_ingest_many(reg, c.items, c.n, (uint64_t)time(NULL), res, err);
	if (rc < 0)
		die("import: %s", registry_strerror(rc));
	rep.seconds = mono() - t0;
	for (size_t i = 0; i < c.n; i++)
		rep.accepted += err[i] == 0 && res[i] == INGEST_ACCEPTED;
	rep.records = count_records(reg);
	registry_close(reg);
	rep.cpu = cpu_seconds();
	rep.hwm_kb = peak_rss_kb();
	write_all(fd, &rep, sizeof(rep));
	_exit(0);
}

/*
 * `meshname import` of every record of the responder into the joined host's registry:
 * registry_ingest_many in one batch (signatures on every core, one transaction), the
 * records read from the responder before the clock starts. In a process of its own.
 */
static void import_ref(const struct setup *su, struct import_report *out)
{
	int fd;
	pid_t pid = spawn(&fd);

	if (pid == 0) {
		char fd_s[16];
		const char *args[] = { "import", fd_s, su->resp_db, su->join_db, su->import_db };

		snprintf(fd_s, sizeof(fd_s), "%d", fd);
		exec_role(&fd, 1, args, 5);
	}
	if (!read_all(fd, out, sizeof(*out)))
		die("the import process ended without a report");
	reap(pid, "import");
	close(fd);
}

/* The secretstream that transport B adds: seal and open n bytes in 64 KiB messages. */
static double transport_b_seconds(uint64_t n)
{
	static uint8_t plain[SYNC_FRAME_MAX], sealed[SYNC_FRAME_MAX + 17], back[SYNC_FRAME_MAX];
	crypto_secretstream_xchacha20poly1305_state tx, rx;
	uint8_t key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
	uint8_t header[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
	unsigned long long slen, blen;
	double t0;

	randombytes_buf(key, sizeof(key));
	randombytes_buf(plain, sizeof(plain));
	crypto_secretstream_xchacha20poly1305_init_push(&tx, header, key);
	crypto_secretstream_xchacha20poly1305_init_pull(&rx, header, key);
	t0 = mono();
	for (uint64_t done = 0; done < n; done += sizeof(plain)) {
		size_t k = n - done < sizeof(plain) ? (size_t)(n - done) : sizeof(plain);

		crypto_secretstream_xchacha20poly1305_push(&tx, sealed, &slen, plain, k, NULL, 0,
							   0);
		if (crypto_secretstream_xchacha20poly1305_pull(&rx, back, &blen, NULL, sealed, slen,
							       NULL, 0) != 0)
			die("secretstream failed");
	}
	return mono() - t0;
}

/* ---- the figures ---------------------------------------------------------------------- */

struct run {
	struct side_report cold_i, cold_r;
	struct side_report agree_i, agree_r;
	struct side_report add_i, add_r;   /* a new RECORD on the responder */
	struct side_report repl_i, repl_r; /* host 0's ENDPOINTS replaced on the responder */
	struct side_report push_i, push_r; /* a new RECORD on the initiator */
	double copy_seconds;
	struct import_report import;
	uint64_t resp_after, join_after;
	size_t add_len, repl_len, push_len; /* the changed records */
	bool same_set;
};

struct set_collect {
	uint8_t (*id)[REC_ID_SIZE];
	uint64_t *ts;
	size_t n, cap;
};

static int set_cb(void *arg, uint64_t issued_at, const uint8_t id[REC_ID_SIZE])
{
	struct set_collect *c = arg;

	if (c->n == c->cap) {
		size_t cap = c->cap * 2 + 4096;
		void *a = realloc(c->id, cap * REC_ID_SIZE), *b;

		if (a == NULL)
			return -ENOMEM;
		c->id = a;
		b = realloc(c->ts, cap * sizeof(*c->ts));
		if (b == NULL)
			return -ENOMEM;
		c->ts = b;
		c->cap = cap;
	}
	memcpy(c->id[c->n], id, REC_ID_SIZE);
	c->ts[c->n++] = issued_at;
	return 0;
}

/* True if both registries hold the same sync set and the same materialized view. */
static bool same_registries(const char *a, const char *b, uint64_t *na, uint64_t *nb)
{
	struct set_collect ca = { 0 }, cb = { 0 };
	uint8_t ha[32], hb[32];
	struct registry *ra = db_open(a), *rb = db_open(b);
	uint64_t now = (uint64_t)time(NULL);
	bool same;

	*na = count_records(ra);
	*nb = count_records(rb);
	/* a view left stale by a deferred commit is recomputed here, as any reader does */
	if (registry_refresh(ra, now) < 0 || registry_refresh(rb, now) < 0)
		return false;
	same = registry_foreach_item(ra, now, set_cb, &ca) == 0 &&
	       registry_foreach_item(rb, now, set_cb, &cb) == 0 && ca.n == cb.n &&
	       memcmp(ca.id, cb.id, ca.n * REC_ID_SIZE) == 0 &&
	       memcmp(ca.ts, cb.ts, ca.n * sizeof(*ca.ts)) == 0 &&
	       registry_state_hash(ra, ha) == 0 && registry_state_hash(rb, hb) == 0 &&
	       memcmp(ha, hb, sizeof(ha)) == 0;
	free(ca.id);
	free(ca.ts);
	free(cb.id);
	free(cb.ts);
	registry_close(ra);
	registry_close(rb);
	return same;
}

static void one_run(struct setup *su, struct run *r, unsigned k)
{
	uint8_t buf[REC_MAX_SIZE];
	char label[32];
	size_t len;

	if (!cold_only) {
		/* the floor: a durable copy of the responder's database file */
		db_remove(su->copy_db);
		r->copy_seconds = copy_file(su->resp_db, su->copy_db, true);
		db_remove(su->copy_db);
		import_ref(su, &r->import);
		db_remove(su->import_db);
	}

	db_copy(su->resp_db, su->resp_run);
	db_copy(su->join_db, su->join_run);
	stage(su->resp_run, su->join_run, su->mesh_id, &r->cold_i, &r->cold_r);
	r->same_set = same_registries(su->resp_run, su->join_run, &r->resp_after, &r->join_after);
	if (!r->same_set)
		die("after the cold start the two registries differ (%llu and %llu records)",
		    (unsigned long long)r->resp_after, (unsigned long long)r->join_after);
	if (cold_only)
		return;
	stage(su->resp_run, su->join_run, su->mesh_id, &r->agree_i, &r->agree_r);

	snprintf(label, sizeof(label), "change%u", k);
	len = r->add_len = txt_record(su, su->host0_sk, "host00000", label, buf);
	db_add(su->resp_run, buf, len, "a new RECORD");
	stage(su->resp_run, su->join_run, su->mesh_id, &r->add_i, &r->add_r);

	len = r->repl_len = endpoints_record(su, 2, buf);
	db_add(su->resp_run, buf, len, "host 0's new ENDPOINTS");
	stage(su->resp_run, su->join_run, su->mesh_id, &r->repl_i, &r->repl_r);

	len = r->push_len = txt_record(su, su->new_sk, "newhost", label, buf);
	db_add(su->join_run, buf, len, "the new host's RECORD");
	stage(su->resp_run, su->join_run, su->mesh_id, &r->push_i, &r->push_r);
	if (!same_registries(su->resp_run, su->join_run, &r->resp_after, &r->join_after))
		die("after the changes the two registries differ");
}

static uint64_t both_ways(const struct session_result *s)
{
	return s->wire_out + s->wire_in;
}

/* Sums over the sessions of a stage that moved anything (all but the agreeing last). */
struct sums {
	uint64_t out, in, flights, accepted, pending, records_in;
	uint64_t neg, want, offer;
};

static void sums_of(const struct side_report *rep, struct sums *m)
{
	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i + 1 < rep->n_sessions; i++) {
		const struct session_result *s = &rep->s[i];

		m->out += s->wire_out;
		m->in += s->wire_in;
		m->flights += s->flights;
		m->accepted += s->st.accepted;
		m->pending += s->st.pending;
		m->records_in += s->st.records_in;
		m->neg += s->frames_out[SYNC_MSG_NEG];
		m->want += s->frames_out[SYNC_MSG_WANT];
		m->offer += s->frames_out[SYNC_MSG_OFFER];
	}
}

static void row(const char *figure, const char *target, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void row(const char *figure, const char *target, const char *fmt, ...)
{
	va_list ap;

	printf("%-56s %-9s ", figure, target);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* Medians over the runs of the figures that vary from run to run. */
struct medians {
	double cold, ingest, refresh, open_i, open_r, set, get, cpu_i, cpu_r, hwm, imp, imp_hwm;
	double copy;
};

static void medians_of(const struct run *runs, unsigned n, struct medians *md)
{
	double v[13][MAX_RUNS];

	for (unsigned k = 0; k < n; k++) {
		const struct run *r = &runs[k];

		v[0][k] = r->cold_i.seconds;
		v[1][k] = r->cold_i.t_ingest;
		v[2][k] = r->cold_i.t_refresh;
		v[3][k] = r->cold_i.t_open;
		v[4][k] = r->cold_r.t_open;
		v[5][k] = r->cold_r.t_foreach;
		v[6][k] = r->cold_r.t_get;
		v[7][k] = r->cold_i.cpu;
		v[8][k] = r->cold_r.cpu;
		v[9][k] = (double)r->cold_i.hwm_kb / 1024;
		v[10][k] = r->import.seconds;
		v[11][k] = (double)r->import.hwm_kb / 1024;
		v[12][k] = r->copy_seconds;
	}
	md->cold = median(v[0], n);
	md->ingest = median(v[1], n);
	md->refresh = median(v[2], n);
	md->open_i = median(v[3], n);
	md->open_r = median(v[4], n);
	md->set = median(v[5], n);
	md->get = median(v[6], n);
	md->cpu_i = median(v[7], n);
	md->cpu_r = median(v[8], n);
	md->hwm = median(v[9], n);
	md->imp = median(v[10], n);
	md->imp_hwm = median(v[11], n);
	md->copy = median(v[12], n);
}

static void print_change(const char *what, const struct side_report *ini, size_t rec_len)
{
	const struct session_result *s = &ini->s[0];
	uint64_t total = both_ways(s), over = total - rec_len;

	row(what, "",
	    "%llu B: %llu B HELLO+NEG, %zu B the record, %llu B the rest; %llu "
	    "round trips, %.0f ms",
	    (unsigned long long)total, (unsigned long long)s->st.recon_bytes, rec_len,
	    (unsigned long long)(total - s->st.recon_bytes - rec_len),
	    (unsigned long long)s->flights, s->seconds * 1e3);
	row("    beyond the record", "<= 4 KB", "%llu B %s%s", (unsigned long long)over,
	    over <= 4096 ? "ok" : "over",
	    ini->n_sessions == 2 && ini->converged ? "" : " (the next session did not agree)");
}

static void print_figures(const struct setup *su, struct run *runs, unsigned n)
{
	const struct run *r0 = &runs[0];
	struct medians md;
	struct sums m;
	double cold;

	medians_of(runs, n, &md);
	cold = md.cold;
	sums_of(&r0->cold_i, &m);
	printf("responder: %llu records (gen_mesh and the new host's ADMIT); new host: %llu "
	       "records (ROOT, the inviter's CERT, the ADMIT, its own CERT), as after meshname "
	       "join; TCP over 127.0.0.1",
	       (unsigned long long)su->resp_records, (unsigned long long)su->join_records);
	if (rtt_ms > 0)
		printf(" through a relay that adds %u ms of round trip", rtt_ms);
	printf(", one process each; the registry's view %s\n",
	       per_batch_view ? "recomputed after every batch (--per-batch)" :
				"refreshed once after each session");
	printf("\n%-56s %-9s %s\n", "figure", "target", "measured");
	printf("%-56s %-9s ", "cold start: new host converged, view refreshed", "<= 10 s");
	printf("%.2f s (", cold);
	for (unsigned k = 0; k < n; k++)
		printf("%s%.2f", k > 0 ? ", " : "", runs[k].cold_i.seconds);
	printf(") %s\n", cold <= 10 ? "ok" : "over");
	row("  records stored", "", "%llu in %.0f records/s (%llu parked as pending first)",
	    (unsigned long long)(m.accepted + m.pending), (double)(m.accepted + m.pending) / cold,
	    (unsigned long long)m.pending);
	row("  sessions", "", "%zu, then 1 that found both sides agreeing (%.0f ms)",
	    r0->cold_i.n_sessions - 1, r0->cold_i.confirm_seconds * 1e3);
	row("  bytes to the new host / from it", "", "%.2f MB / %.2f MB (%.2f MB of records)",
	    (double)m.in / 1e6, (double)m.out / 1e6,
	    (double)r0->cold_r.s[0].frame_bytes_out[SYNC_MSG_RECORDS] / 1e6);
	row("  round trips (the new host's flights)", "",
	    "%llu: HELLO, %llu NEG, %llu WANT, %llu OFFER, DONE", (unsigned long long)m.flights,
	    (unsigned long long)m.neg, (unsigned long long)m.want, (unsigned long long)m.offer);
	row("  new host: registry open / store ingest / refresh", "",
	    "%.2f / %.2f (%llu batches of %.0f records) / %.2f s", md.open_i, md.ingest,
	    (unsigned long long)r0->cold_i.n_ingest,
	    r0->cold_i.n_ingest ? (double)r0->cold_i.n_records / (double)r0->cold_i.n_ingest : 0.0,
	    md.refresh);
	row("  new host: the rest (network, reconciliation, waiting)", "", "%.2f s",
	    cold - md.open_i - md.ingest - md.refresh);
	row("  responder: open / building the set / reading records", "", "%.2f / %.2f / %.2f s",
	    md.open_r, md.set, md.get);
	row("  CPU new host / responder", "", "%.2f / %.2f s", md.cpu_i, md.cpu_r);
	row("  new host's peak RSS", "", "%.1f MB", md.hwm);
	if (!cold_only) {
		uint64_t bytes = m.in + m.out;

		row("reference: import of the same records, one batch", "",
		    "%.2f s, peak RSS %.1f MB; cold start / import = %.2f", md.imp, md.imp_hwm,
		    cold / md.imp);
		row("reference: copying the registry file, fsync (floor)", "",
		    "%.2f s; cold start / copy = %.0f", md.copy, cold / md.copy);
		row("transport B would add (secretstream, both sides)", "",
		    "%.0f ms of CPU for the %.1f MB (not in the figure above)",
		    transport_b_seconds(bytes) * 1e3, (double)bytes / 1e6);
	}
	if (cold_only)
		return;
	{
		const struct session_result *a = &r0->agree_i.s[0];

		row("agreeing peers: a whole exchange", "<= 100 B",
		    "%llu B (HELLO %llu + %llu), %llu round trip, %.0f ms %s",
		    (unsigned long long)both_ways(a),
		    (unsigned long long)a->frame_bytes_out[SYNC_MSG_HELLO],
		    (unsigned long long)r0->agree_r.s[0].frame_bytes_out[SYNC_MSG_HELLO],
		    (unsigned long long)a->flights, a->seconds * 1e3,
		    both_ways(a) <= 100 ? "ok" : "over");
	}
	printf("one change in %llu records, the session that carries it:\n",
	       (unsigned long long)r0->resp_after);
	print_change("  a new RECORD on the responder", &r0->add_i, r0->add_len);
	print_change("  host 0's ENDPOINTS replaced on the responder", &r0->repl_i, r0->repl_len);
	print_change("  a new RECORD on the new host (offered)", &r0->push_i, r0->push_len);
}

static void cleanup(void)
{
	static const char *const dbs[] = { "responder.db",  "joiner.db", "responder-run.db",
					   "joiner-run.db", "copy.db",   "import.db" };
	char p[PATH_MAX];

	if (tmp_dir[0] == '\0')
		return;
	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		path_in(p, dbs[i]);
		db_remove(p);
	}
	rmdir(tmp_dir);
}

static bool parse_hex(const char *hex, uint8_t *out, size_t n)
{
	if (strlen(hex) != 2 * n)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return false;
		out[i] = (uint8_t)v;
	}
	return true;
}

/* argv after "--child": a role that stage() or import_ref() started; never returns. */
static void child_main(int argc, char **argv)
{
	uint8_t mesh_id[REC_ID_SIZE];

	if (argc == 7 && strcmp(argv[0], "responder") == 0 && parse_hex(argv[5], mesh_id, 32)) {
		per_batch_view = strcmp(argv[6], "per-batch") == 0;
		responder_main(atoi(argv[1]), atoi(argv[2]), atoi(argv[3]), argv[4], mesh_id);
	}
	if (argc == 6 && strcmp(argv[0], "initiator") == 0 && parse_hex(argv[4], mesh_id, 32)) {
		per_batch_view = strcmp(argv[5], "per-batch") == 0;
		initiator_main((uint16_t)atoi(argv[1]), atoi(argv[2]), argv[3], mesh_id);
	}
	if (argc == 5 && strcmp(argv[0], "relay") == 0)
		relay_main(atoi(argv[1]), atoi(argv[2]), (uint16_t)atoi(argv[3]),
			   (unsigned)atoi(argv[4]));
	if (argc == 5 && strcmp(argv[0], "import") == 0)
		import_main(atoi(argv[1]), argv[2], argv[3], argv[4]);
	fprintf(stderr, "sync_cold: --child is for sync_cold itself\n");
	_exit(2);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: sync_cold [--runs N] [--per-batch] [--cold-only] [--rtt MS] STATE-DIR\n"
		"  STATE-DIR    a state directory made by gen_mesh (read only)\n"
		"  --runs N     cold starts to take the median of (3)\n"
		"  --per-batch  the store recomputes the registry's view after every batch\n"
		"  --cold-only  no references and no changes after the cold start\n"
		"  --rtt MS     a relay delays every byte by MS / 2 each way (no bandwidth limit)\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "runs", required_argument, NULL, 'r' },
		{ "per-batch", no_argument, NULL, 'p' },
		{ "cold-only", no_argument, NULL, 'c' },
		{ "rtt", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	static struct run runs[MAX_RUNS];
	static struct setup su;
	const char *base = getenv("TMPDIR");
	unsigned n = 3;
	int c;

	if (argc >= 2 && strcmp(argv[1], "--child") == 0) {
		if (sodium_init() < 0)
			die("libsodium failed to start");
		signal(SIGPIPE, SIG_IGN);
		child_main(argc - 2, argv + 2);
	}
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 't') {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);

			if (*end != '\0' || end == optarg || v > 10000) {
				fprintf(stderr, "sync_cold: --rtt must be 0 to 10000 (ms)\n");
				return 2;
			}
			rtt_ms = (unsigned)v;
		} else if (c == 'c') {
			cold_only = true;
		} else if (c == 'p') {
			per_batch_view = true;
		} else if (c == 'r') {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);

			if (*end != '\0' || v < 1 || v > MAX_RUNS) {
				fprintf(stderr, "sync_cold: --runs must be 1 to %d\n", MAX_RUNS);
				return 2;
			}
			n = (unsigned)v;
		} else {
			usage();
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage();
		return 2;
	}
	parent_pid = getpid();
	if (sodium_init() < 0)
		die("libsodium failed to start");
	signal(SIGPIPE, SIG_IGN);
	snprintf(tmp_dir, sizeof(tmp_dir), "%s/sync_cold.XXXXXX",
		 base != NULL && base[0] != '\0' ? base : "/tmp");
	if (mkdtemp(tmp_dir) == NULL) {
		fprintf(stderr, "sync_cold: cannot make a directory in %s: %s\n",
			base != NULL ? base : "/tmp", strerror(errno));
		return 1;
	}
	setup_make(&su, argv[optind]);
	for (unsigned k = 0; k < n; k++)
		one_run(&su, &runs[k], k);
	print_figures(&su, runs, n);
	sodium_memzero(&su, sizeof(su));
	cleanup();
	return 0;
}
