/*
 * test_control.c: the control socket through a real unix socket on a real event loop:
 * framing, verbs, privileges, the stale-socket and second-daemon rules, and the JSON
 * the replies are made of. The client runs in this process (or a forked child with
 * other credentials) while the loop is turned by hand.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "daemon/control.h"
#include "daemon/syncd.h"
#include "meshname/registry.h"
#include "meshname/resolver.h"
#include "meshname/snapshot.h"

struct fixture {
	char dir[64];
	char path[100];
	struct event_base *base;
	struct control *ctl;
	/* what the handler saw */
	unsigned calls;
	char verb[32];
	char arg[CONTROL_REQUEST_MAX];
	bool privileged;
	int handler_result;        /* returned by the handler */
	const char *handler_reply; /* written by the handler when not NULL */
	bool handler_own_error;
};

static int handler(void *arg, const char *verb, const char *arg_text, bool privileged,
		   struct evbuffer *out)
{
	struct fixture *f = arg;

	f->calls++;
	snprintf(f->verb, sizeof(f->verb), "%s", verb);
	snprintf(f->arg, sizeof(f->arg), "%s", arg_text);
	f->privileged = privileged;
	if (f->handler_reply != NULL)
		evbuffer_add_printf(out, "%s", f->handler_reply);
	if (f->handler_own_error)
		control_json_error(out, "config line 3: bad \"x\"");
	return f->handler_result;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/mn-control-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(chmod(f->dir, 0755), 0);
	/* A subdirectory that does not exist yet: control_open makes it. */
	snprintf(f->path, sizeof(f->path), "%s/run/control.sock", f->dir);
	f->base = event_base_new();
	assert_non_null(f->base);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[160];

	control_close(f->ctl);
	event_base_free(f->base);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void open_control(struct fixture *f, const char *group)
{
	assert_int_equal(control_open(f->base, f->path, group, handler, f, &f->ctl), 0);
}

static int connect_to(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

static void send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);

		if (w < 0)
			return; /* the daemon closed early: the reply tells */
		buf += w;
		len -= (size_t)w;
	}
}

/* Turns the loop until fd reads EOF; returns what was read (NUL-terminated). */
static char *read_reply(struct fixture *f, int fd)
{
	static char buf[65536];
	size_t len = 0;

	for (int i = 0; i < 4000; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		event_base_loop(f->base, EVLOOP_NONBLOCK);
		if (poll(&p, 1, 1) <= 0)
			continue;
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return buf;
}

static char *ask(struct fixture *f, const char *request)
{
	int fd = connect_to(f->path);
	char *reply;

	assert_true(fd >= 0);
	send_all(fd, request, strlen(request));
	reply = read_reply(f, fd);
	close(fd);
	return reply;
}

/* --- privileges ------------------------------------------------------------------- */

static void root_is_always_privileged(void **state)
{
	(void)state;
	assert_true(control_privileged(0, 1000, NULL, 0, false, 0));
	assert_true(control_privileged(0, 1000, NULL, 0, true, 50));
}

static void without_a_group_only_root_is_privileged(void **state)
{
	gid_t groups[] = { 0, 50 };

	(void)state;
	/* Even a member of gid 0 is not root. */
	assert_false(control_privileged(1000, 0, groups, 2, false, 0));
}

static void primary_or_supplementary_group_member_is_privileged(void **state)
{
	gid_t groups[] = { 20, 50, 60 };

	(void)state;
	assert_true(control_privileged(1000, 50, NULL, 0, true, 50));
	assert_true(control_privileged(1000, 1000, groups, 3, true, 50));
	assert_false(control_privileged(1000, 1000, groups, 3, true, 51));
	assert_false(control_privileged(1000, 1000, NULL, 0, true, 50));
}

/* --- requests ---------------------------------------------------------------------- */

static void status_reaches_the_handler_and_its_json_is_the_reply(void **state)
{
	struct fixture *f = *state;

	open_control(f, "");
	f->handler_reply = "{\"daemon\":\"running\"}";
	assert_string_equal(ask(f, "status\n"), "{\"daemon\":\"running\"}\n");
	assert_int_equal(f->calls, 1);
	assert_string_equal(f->verb, "status");
	assert_string_equal(f->arg, "");
	assert_string_equal(ask(f, "ls some thing\r\n"), "{\"daemon\":\"running\"}\n");
	assert_string_equal(f->verb, "ls");
	assert_string_equal(f->arg, "some thing");
}

static void a_request_without_newline_is_answered_at_eof(void **state)
{
	struct fixture *f = *state;
	int fd;

	open_control(f, "");
	fd = connect_to(f->path);
	assert_true(fd >= 0);
	send_all(fd, "status", 6);
	shutdown(fd, SHUT_WR);
	assert_string_equal(read_reply(f, fd), "{\"ok\":true}\n");
	close(fd);
	assert_int_equal(f->calls, 1);
}

static void an_unknown_verb_is_an_error_and_never_reaches_the_handler(void **state)
{
	struct fixture *f = *state;

	open_control(f, "");
	assert_string_equal(ask(f, "frobnicate now\n"),
			    "{\"error\":\"unknown request \\\"frobnicate\\\"\"}\n");
	assert_string_equal(ask(f, "\n"),
			    "{\"error\":\"empty request: send a verb such as \\\"status\\\"\"}\n");
	assert_int_equal(f->calls, 0);
}

static void control_characters_are_refused(void **state)
{
	struct fixture *f = *state;

	open_control(f, "");
	assert_non_null(strstr(ask(f, "sta\ttus\n"), "control character in column 4"));
	{
		int fd = connect_to(f->path);

		send_all(fd, "status", 6);
		send(fd, "\0x\n", 3, MSG_NOSIGNAL);
		assert_non_null(strstr(read_reply(f, fd), "malformed request: NUL byte"));
		close(fd);
	}
	assert_int_equal(f->calls, 0);
}

static void a_request_over_4096_bytes_is_refused(void **state)
{
	struct fixture *f = *state;
	char *big = malloc(CONTROL_REQUEST_MAX + 100);
	int fd;

	assert_non_null(big);
	open_control(f, "");
	memset(big, 'a', CONTROL_REQUEST_MAX + 99);
	big[CONTROL_REQUEST_MAX + 99] = '\0';
	/* No newline at all. */
	assert_string_equal(ask(f, big), "{\"error\":\"request longer than 4096 bytes\"}\n");
	/* The longest line that fits: 4095 bytes and its newline. */
	memcpy(big, "ls ", 3);
	big[CONTROL_REQUEST_MAX - 1] = '\n';
	big[CONTROL_REQUEST_MAX] = '\0';
	fd = connect_to(f->path);
	send_all(fd, big, CONTROL_REQUEST_MAX);
	assert_string_equal(read_reply(f, fd), "{\"ok\":true}\n");
	close(fd);
	assert_int_equal(strlen(f->arg), CONTROL_REQUEST_MAX - 4);
	/* One more byte is too long, even with its newline. */
	big[CONTROL_REQUEST_MAX - 1] = 'a';
	big[CONTROL_REQUEST_MAX] = '\n';
	big[CONTROL_REQUEST_MAX + 1] = '\0';
	assert_string_equal(ask(f, big), "{\"error\":\"request longer than 4096 bytes\"}\n");
	assert_int_equal(f->calls, 1);
	free(big);
}

static void reload_as_root_calls_the_handler_privileged(void **state)
{
	struct fixture *f = *state;

	if (geteuid() != 0)
		skip();
	open_control(f, "");
	assert_string_equal(ask(f, "reload\n"), "{\"ok\":true}\n");
	assert_int_equal(f->calls, 1);
	assert_string_equal(f->verb, "reload");
	assert_true(f->privileged);
}

static void a_failing_handler_gives_an_error_reply(void **state)
{
	struct fixture *f = *state;

	open_control(f, "");
	f->handler_result = -EIO;
	f->handler_reply = "{\"half\":";
	assert_string_equal(ask(f, "status\n"),
			    "{\"error\":\"status failed: Input/output error\"}\n");
	f->handler_reply = NULL;
	f->handler_own_error = true;
	assert_string_equal(ask(f, "status\n"), "{\"error\":\"config line 3: bad \\\"x\\\"\"}\n");
}

/* Runs request as uid 65534 with the given supplementary groups in a child; the parent
 * turns the loop. Returns the reply. */
static char *ask_as_nobody(struct fixture *f, const char *request, const gid_t *groups,
			   size_t n_groups)
{
	int pipefd[2];
	pid_t pid;
	static char reply[4096];
	size_t len = 0;
	int status;

	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd;
		char buf[4096];
		ssize_t n;

		close(pipefd[0]);
		if (setgroups(n_groups, groups) != 0 || setresgid(65534, 65534, 65534) != 0 ||
		    setresuid(65534, 65534, 65534) != 0)
			_exit(3);
		fd = connect_to(f->path);
		if (fd < 0)
			_exit(4);
		send_all(fd, request, strlen(request));
		while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
			if (write(pipefd[1], buf, (size_t)n) != n)
				_exit(5);
		_exit(0);
	}
	close(pipefd[1]);
	fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	for (int i = 0; i < 4000; i++) {
		struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
		ssize_t n;

		event_base_loop(f->base, EVLOOP_NONBLOCK);
		if (poll(&p, 1, 1) <= 0)
			continue;
		n = read(pipefd[0], reply + len, sizeof(reply) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	reply[len] = '\0';
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	return reply;
}

static void an_unprivileged_user_may_ask_status_but_not_reload(void **state)
{
	struct fixture *f = *state;

	if (geteuid() != 0)
		skip();
	open_control(f, "");
	f->handler_reply = "{\"daemon\":\"running\"}";
	assert_string_equal(ask_as_nobody(f, "status\n", NULL, 0), "{\"daemon\":\"running\"}\n");
	assert_false(f->privileged);
	f->handler_reply = NULL;
	assert_string_equal(
		ask_as_nobody(f, "reload\n", NULL, 0),
		"{\"error\":\"permission denied: reload needs root (you are uid 65534)\"}\n");
	assert_int_equal(f->calls, 1);
}

static void a_supplementary_group_member_may_reload(void **state)
{
	struct fixture *f = *state;
	gid_t member[] = { 4242 }, other[] = { 4243 };

	if (geteuid() != 0)
		skip();
	open_control(f, "4242");
	assert_string_equal(ask_as_nobody(f, "reload\n", member, 1), "{\"ok\":true}\n");
	assert_true(f->privileged);
	assert_int_equal(f->calls, 1);
	assert_string_equal(ask_as_nobody(f, "reload\n", other, 1),
			    "{\"error\":\"permission denied: reload needs root or group 4242 (you "
			    "are uid 65534)\"}\n");
	assert_int_equal(f->calls, 1);
	/* A reload may change the group: the member of the old one is refused. */
	assert_int_equal(control_set_group(f->ctl, "4243"), 0);
	assert_non_null(strstr(ask_as_nobody(f, "reload\n", member, 1), "permission denied"));
	assert_int_equal(control_set_group(f->ctl, "no-such-group-here"), -ENOENT);
	assert_string_equal(ask_as_nobody(f, "reload\n", other, 1), "{\"ok\":true}\n");
}

static void the_seventeenth_client_is_told_busy(void **state)
{
	struct fixture *f = *state;
	int fds[CONTROL_MAX_CLIENTS], extra;

	open_control(f, "");
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		fds[i] = connect_to(f->path);
		assert_true(fds[i] >= 0);
	}
	/* Let the loop accept the first 16 (they send nothing yet). */
	for (int i = 0; i < 50; i++)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
	extra = connect_to(f->path);
	assert_true(extra >= 0);
	assert_non_null(strstr(read_reply(f, extra), "busy"));
	close(extra);
	/* The others are still served. */
	send_all(fds[0], "status\n", 7);
	assert_string_equal(read_reply(f, fds[0]), "{\"ok\":true}\n");
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		close(fds[i]);
}

static void a_silent_client_is_dropped_after_the_timeout(void **state)
{
	struct fixture *f = *state;
	struct timespec start, now;
	char buf[16];
	ssize_t n = -1;
	int fd;

	open_control(f, "");
	fd = connect_to(f->path);
	assert_true(fd >= 0);
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		event_base_loop(f->base, EVLOOP_NONBLOCK);
		if (poll(&p, 1, 10) > 0) {
			n = recv(fd, buf, sizeof(buf), 0);
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec - start.tv_sec < CONTROL_TIMEOUT_MS / 1000 + 3);
	clock_gettime(CLOCK_MONOTONIC, &now);
	/* Closed without a word, and not before the timeout. */
	assert_int_equal(n, 0);
	assert_true(now.tv_sec - start.tv_sec >= CONTROL_TIMEOUT_MS / 1000 - 1);
	close(fd);
	assert_int_equal(f->calls, 0);
}

/* --- the socket -------------------------------------------------------------------- */

static void the_socket_is_mode_0666_and_close_removes_it(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	open_control(f, "");
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0666);
	control_close(f->ctl);
	f->ctl = NULL;
	assert_int_equal(lstat(f->path, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(connect_to(f->path), -ENOENT);
}

static void a_stale_socket_is_replaced(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	/* What a daemon killed with SIGKILL leaves: a socket file nobody listens on. */
	open_control(f, "");
	control_close(f->ctl);
	f->ctl = NULL;
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f->path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	assert_int_equal(connect_to(f->path), -ECONNREFUSED);
	open_control(f, "");
	assert_string_equal(ask(f, "status\n"), "{\"ok\":true}\n");
}

static void a_second_control_on_the_same_path_is_refused(void **state)
{
	struct fixture *f = *state;
	struct control *second = NULL;

	open_control(f, "");
	assert_int_equal(control_open(f->base, f->path, "", handler, f, &second), -EADDRINUSE);
	assert_null(second);
	/* The first one still answers. */
	assert_string_equal(ask(f, "status\n"), "{\"ok\":true}\n");
}

static void a_live_socket_without_the_lock_is_not_removed(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct control *c = NULL;
	int fd;
	char dir[160];

	/* Someone else listens there (an older daemon without the lock file). */
	snprintf(dir, sizeof(dir), "%s/run", f->dir);
	assert_int_equal(mkdir(dir, 0755), 0);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f->path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(control_open(f->base, f->path, "", handler, f, &c), -EADDRINUSE);
	assert_null(c);
	close(fd);
	assert_int_equal(access(f->path, F_OK), 0);
}

static void a_file_that_is_not_a_socket_is_never_removed(void **state)
{
	struct fixture *f = *state;
	struct control *c = NULL;
	char dir[160];
	int fd;

	snprintf(dir, sizeof(dir), "%s/run", f->dir);
	assert_int_equal(mkdir(dir, 0755), 0);
	fd = open(f->path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(control_open(f->base, f->path, "", handler, f, &c), -EEXIST);
	assert_null(c);
	assert_int_equal(access(f->path, F_OK), 0);
}

static void bad_paths_and_groups_are_errors(void **state)
{
	struct fixture *f = *state;
	struct control *c = NULL;
	char longpath[200];

	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(control_open(f->base, longpath, "", handler, f, &c), -ENAMETOOLONG);
	assert_int_equal(control_open(f->base, f->path, "no-such-group-here", handler, f, &c),
			 -ENOENT);
	assert_null(c);
	/* The failed open left no socket behind. */
	assert_int_equal(access(f->path, F_OK), -1);
	assert_int_equal(control_open(f->base, "/nonexistent-dir/sub/control.sock", "", handler, f,
				      &c),
			 -ENOENT);
}

/* --- JSON -------------------------------------------------------------------------- */

static char *drain(struct evbuffer *b)
{
	static char buf[65536]; /* a full sync neighbour table is about 30 KB */
	size_t n = evbuffer_get_length(b);

	assert_true(n < sizeof(buf));
	evbuffer_remove(b, buf, n);
	buf[n] = '\0';
	return buf;
}

static void json_strings_are_escaped(void **state)
{
	struct evbuffer *b = evbuffer_new();

	(void)state;
	control_json_string(b, "a\"b\\c\n\x01\x7f"
			       "é");
	assert_string_equal(drain(b), "\"a\\\"b\\\\c\\u000a\\u0001\\u007f"
				      "é\"");
	control_json_error(b, "x");
	evbuffer_add_printf(b, "junk");
	control_json_error(b, "line %d: \"%s\"", 3, "q");
	assert_string_equal(drain(b), "{\"error\":\"line 3: \\\"q\\\"\"}");
	evbuffer_free(b);
}

static struct snapshot *two_hosts(void)
{
	static const uint8_t mesh_id[REC_ID_SIZE] = { 0xab };
	static const char *const groups[] = { "admins", "servers" };
	static const struct rec_endpoint eps[] = {
		{ EP_LAN, 4, { 192, 168, 1, 5 }, 51820 },
		{ EP_IPV6, 6, { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 }, 51821 },
	};
	struct rec_root root = { .name = "demo",
				 .zone = "mesh",
				 .ipv4 = { 100, 64, 0, 0 },
				 .ipv4_len = 16,
				 .ipv6 = { 0xfd, 0x12, 0x34, 0x56, 0x78, 0x9a } };
	struct snapshot_builder *b = snapshot_builder_new(&root, mesh_id, 7);
	struct snapshot_host h = { 0 };
	struct snapshot *s = NULL;

	assert_non_null(b);
	h.name = "alpha";
	memcpy(h.ipv4, (uint8_t[]){ 100, 64, 0, 1 }, 4);
	h.ipv6[0] = 0xfd;
	h.ipv6[15] = 1;
	h.host_key[0] = 1;
	h.wg_key[0] = 2;
	h.cert_id[0] = 0xcd;
	h.serial = 3;
	h.not_before = 1700000000;
	h.not_after = 1800000000;
	h.n_groups = 2;
	h.groups = groups;
	h.endpoints_seq = 5;
	h.listen_port = 51820;
	h.n_endpoints = 2;
	h.endpoints = eps;
	assert_int_equal(snapshot_builder_add_host(b, &h), 0);
	memset(&h, 0, sizeof(h));
	h.name = "beta";
	memcpy(h.ipv4, (uint8_t[]){ 100, 64, 0, 2 }, 4);
	h.ipv6[0] = 0xfd;
	h.ipv6[15] = 2;
	h.host_key[0] = 9;
	h.wg_key[0] = 8;
	h.not_after = 1700000100;
	assert_int_equal(snapshot_builder_add_host(b, &h), 0);
	assert_int_equal(snapshot_builder_finish(b, &s), 0);
	return s;
}

static void hosts_json_has_the_fields_of_ls_json(void **state)
{
	struct snapshot *s = two_hosts();
	struct evbuffer *b = evbuffer_new();
	uint8_t self[REC_KEY_SIZE] = { 9 };
	char *j;

	(void)state;
	control_json_hosts(b, s, self, "/var/lib/meshname");
	j = drain(b);
	assert_non_null(strstr(
		j,
		"{\"state\":\"/var/lib/meshname\",\"zone\":\"mesh\","
		"\"generation\":7,\"hosts\":[\n {\"name\":\"alpha\","
		"\"fqdn\":\"alpha.mesh\",\"self\":false,\"ipv4\":\"100.64.0.1\","
		"\"ipv6\":\"fd00::1\",\"host_key\":\"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\""));
	assert_non_null(strstr(j, "\"groups\":[\"admins\",\"servers\"],\"serial\":3,"
				  "\"cert_id\":\"cd00"));
	assert_non_null(strstr(j, "\"not_before\":1700000000,\"not_after\":1800000000,"
				  "\"expires\":\"2027-01-15\",\"listen_port\":51820,"
				  "\"endpoints\":[{\"kind\":\"lan\",\"address\":\"192.168.1.5\","
				  "\"port\":51820},{\"kind\":\"ipv6\",\"address\":\"2001:db8::1\","
				  "\"port\":51821}]}"));
	assert_non_null(strstr(j, ",\n {\"name\":\"beta\",\"fqdn\":\"beta.mesh\",\"self\":true"));
	assert_non_null(strstr(j, "\"listen_port\":null,\"endpoints\":[]}]}"));
	control_json_hosts(b, NULL, NULL, "/x");
	assert_non_null(strstr(drain(b), "{\"error\":"));
	evbuffer_free(b);
	snapshot_unref(s);
}

static void status_json_shows_mesh_host_listeners_and_counters(void **state)
{
	struct snapshot *s = two_hosts();
	struct evbuffer *b = evbuffer_new();
	uint8_t self[REC_KEY_SIZE] = { 9 }, stranger[REC_KEY_SIZE] = { 77 };
	struct resolver_listener l[2] = { 0 };
	struct resolver_stats stats = {
		.queries = 10, .answered = 6, .forwarded = 4, .tcp_clients = 1
	};
	struct sockaddr_in *sin = (struct sockaddr_in *)&l[0].addr;
	struct control_status st = { .snap = s,
				     .self_key = self,
				     .listeners = l,
				     .n_listeners = 2,
				     .stats = &stats,
				     .state_dir = "/st",
				     .started = 1700000000,
				     .now = 1700000050 };
	char *j, pid[64];

	(void)state;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(5353);
	sin->sin_addr.s_addr = htonl(0x7f000099);
	l[1] = l[0];
	l[1].tcp = true;
	l[1].error = EADDRINUSE;
	control_json_status(b, &st);
	j = drain(b);
	snprintf(pid, sizeof(pid), "{\"daemon\":\"running\",\"pid\":%ld,\"started\":1700000000,",
		 (long)getpid());
	assert_non_null(strstr(j, pid));
	assert_non_null(strstr(j, "\"state\":\"/st\",\"mesh\":\"demo\",\"mesh_id\":\"ab00"));
	assert_non_null(strstr(j, "\"zone\":\"mesh\",\"ipv4_prefix\":\"100.64.0.0/16\","
				  "\"ipv6_prefix\":\"fd12:3456:789a::/48\",\"generation\":7,"
				  "\"hosts\":2,\"custom_records\":0"));
	/* beta expires 50 s from now: expiring. */
	assert_non_null(strstr(j, "\"host\":{\"name\":\"beta\",\"ipv4\":\"100.64.0.2\","
				  "\"ipv6\":\"fd00::2\",\"not_after\":1700000100,"
				  "\"certificate\":\"expiring\"}"));
	assert_non_null(strstr(j, "\"listeners\":[{\"address\":\"127.0.0.153:5353\","
				  "\"proto\":\"udp\",\"bound\":true,\"error\":null},"
				  "{\"address\":\"127.0.0.153:5353\",\"proto\":\"tcp\","
				  "\"bound\":false,\"error\":\"Address already in use\"}]"));
	assert_non_null(strstr(j, "\"resolver\":{\"queries\":10,\"answered\":6,\"forwarded\":4,"
				  "\"cache_hits\":0,\"stale_served\":0,\"servfail\":0,"
				  "\"dropped\":0,\"tcp_clients\":1},"));
	/* sync NULL (`sync no`): only that it is off, as the last member. */
	assert_non_null(strstr(j, ",\"sync\":{\"enabled\":false}}"));
	/* Not in the snapshot: no active certificate; unknown key: null. */
	st.self_key = stranger;
	control_json_status(b, &st);
	assert_non_null(strstr(drain(b), "\"host\":{\"certificate\":\"none\"}"));
	st.self_key = NULL;
	st.snap = NULL;
	st.stats = NULL;
	st.n_listeners = 0;
	control_json_status(b, &st);
	j = drain(b);
	assert_non_null(strstr(
		j,
		"\"state\":\"/st\",\"host\":null,\"listeners\":[],\"sync\":{\"enabled\":false}}"));
	assert_null(strstr(j, "\"mesh\""));
	evbuffer_free(b);
	snapshot_unref(s);
}

/* A syncd_status as meshnamed fills it: two neighbours, alpha (a member of the snapshot,
 * over the mesh, synced) and a LAN peer the snapshot does not know (failing, backed off,
 * banned, in a session), and every counter distinct so that a swapped one shows. */
static void fill_sync(struct syncd_status *sy)
{
	struct syncd_neighbour *a = &sy->nb[0], *x = &sy->nb[1];

	memset(sy, 0, sizeof(*sy));
	sy->enabled = true;
	sy->port = 51821;
	sy->beacons = true;
	sy->n_neighbours = 2;
	a->key[0] = 1; /* alpha in two_hosts() */
	a->flags = SYNCNODE_MEMBER | SYNCNODE_SEED;
	snprintf(a->via, sizeof(a->via), "mesh 100.64.0.1:51821");
	a->last_ok = 1700000040;
	x->key[0] = 0xfb;
	x->flags = SYNCNODE_LAN;
	snprintf(x->via, sizeof(x->via), "lan 192.0.2.7:51821");
	x->last_fail = 1700000045;
	x->failures = 3;
	x->backoff_until = 1700000080;
	x->in_session = true;
	x->banned = true;
	sy->last_ok = 1700000040;
	sy->next_ae = 1700000070;
	sy->pending_push = 4;
	sy->sessions_in = 1;
	sy->sessions_out = 2;
	sy->sessions_ok = 30;
	sy->sessions_failed = 5;
	sy->records_in = 6;
	sy->records_out = 7;
	sy->bytes_in = 8000;
	sy->bytes_out = 9000;
	sy->accepted = 10;
	sy->strikes = 11;
	sy->banned = 12;
	sy->beacons_sent = 13;
	sy->beacons_heard = 14;
	snprintf(sy->error, sizeof(sy->error), "cannot bind 0.0.0.0:51821: \"in use\"");
}

static void status_json_shows_sync_and_names_neighbours_from_the_snapshot(void **state)
{
	struct snapshot *s = two_hosts();
	struct evbuffer *b = evbuffer_new();
	struct syncd_status *sy = malloc(sizeof(*sy));
	struct control_status st = {
		.snap = s, .state_dir = "/st", .started = 1700000000, .now = 1700000050
	};
	char *j;

	(void)state;
	assert_non_null(sy);
	fill_sync(sy);
	st.sync = sy;
	control_json_status(b, &st);
	j = drain(b);
	assert_non_null(strstr(
		j, ",\"sync\":{\"enabled\":true,\"port\":51821,\"beacons\":true,"
		   "\"last_ok\":1700000040,\"next_ae\":1700000070,\"pending_push\":4,"
		   "\"sessions_in\":1,\"sessions_out\":2,\"sessions_ok\":30,\"sessions_failed\":5,"
		   "\"records_in\":6,\"records_out\":7,\"bytes_in\":8000,\"bytes_out\":9000,"
		   "\"accepted\":10,\"strikes\":11,\"banned\":12,\"beacons_sent\":13,"
		   "\"beacons_heard\":14,\"error\":\"cannot bind 0.0.0.0:51821: \\\"in use\\\"\","
		   "\"neighbours\":["));
	/* Sources in a fixed order (lan, seed, member) whatever the bits. */
	assert_non_null(strstr(j,
			       "\"neighbours\":[{\"name\":\"alpha\","
			       "\"host_key\":\"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
			       "\"source\":[\"seed\",\"member\"],\"via\":\"mesh 100.64.0.1:51821\","
			       "\"last_ok\":1700000040,\"last_fail\":null,\"failures\":0,"
			       "\"backoff_until\":null,\"in_session\":false,\"banned\":false},"));
	assert_non_null(
		strstr(j, "},{\"name\":null,"
			  "\"host_key\":\"+wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
			  "\"source\":[\"lan\"],\"via\":\"lan 192.0.2.7:51821\",\"last_ok\":null,"
			  "\"last_fail\":1700000045,\"failures\":3,\"backoff_until\":1700000080,"
			  "\"in_session\":true,\"banned\":true}]}}"));
	/* No registry: no parked count. */
	assert_null(strstr(j, "\"parked\""));

	/* Without a snapshot every name is null; nothing the daemon did not fill (never
	 * synced, no error, no via) is made up: nulls, not zeros or empty strings. */
	st.snap = NULL;
	sy->last_ok = 0;
	sy->next_ae = 0;
	sy->error[0] = '\0';
	sy->nb[1].via[0] = '\0';
	control_json_status(b, &st);
	j = drain(b);
	assert_null(strstr(j, "\"name\":\"alpha\""));
	assert_non_null(strstr(j, "\"last_ok\":null,\"next_ae\":null,\"pending_push\":4,"));
	assert_non_null(
		strstr(j, "\"beacons_heard\":14,\"error\":null,\"neighbours\":[{\"name\":null,"));
	assert_non_null(strstr(j, "\"source\":[\"lan\"],\"via\":null,"));

	/* A count past the table is clamped, and a text field that fills its array (no
	 * NUL) is cut at its size, never read past. */
	sy->n_neighbours = SYNCNODE_MAX_NEIGHBOURS + 5;
	memset(sy->error, 'e', sizeof(sy->error));
	control_json_status(b, &st);
	j = drain(b);
	{
		size_t n = 0;
		char want[sizeof(sy->error) + 16];

		for (const char *p = j; (p = strstr(p, "\"host_key\"")) != NULL; p++)
			n++;
		assert_int_equal(n, SYNCNODE_MAX_NEIGHBOURS);
		snprintf(want, sizeof(want), "\"error\":\"%.*s\",", (int)sizeof(sy->error),
			 sy->error);
		assert_non_null(strstr(j, want));
	}

	/* A struct that says disabled is shown as sync NULL is. */
	sy->enabled = false;
	control_json_status(b, &st);
	j = drain(b);
	assert_non_null(strstr(j, ",\"sync\":{\"enabled\":false}}"));
	evbuffer_free(b);
	free(sy);
	snapshot_unref(s);
}

/* "parked" is the registry's pending count, the same number as the top-level "pending". */
static void status_json_sync_has_the_registry_parked_count(void **state)
{
	struct evbuffer *b = evbuffer_new();
	struct syncd_status *sy = malloc(sizeof(*sy));
	struct registry *reg = NULL;
	struct control_status st = { .state_dir = "/st" };
	char dir[] = "/tmp/mn-control-reg-XXXXXX", path[64], cmd[96];
	char *j;

	(void)state;
	assert_non_null(sy);
	fill_sync(sy);
	st.sync = sy;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/registry.db", dir);
	assert_int_equal(registry_open(path, &reg), 0);
	st.reg = reg;
	control_json_status(b, &st);
	j = drain(b);
	assert_non_null(strstr(j, "\"records\":0,\"pending\":0,"));
	assert_non_null(strstr(j, "\"pending_push\":4,\"parked\":0,\"sessions_in\":1,"));
	registry_close(reg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	evbuffer_free(b);
	free(sy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(root_is_always_privileged),
		cmocka_unit_test(without_a_group_only_root_is_privileged),
		cmocka_unit_test(primary_or_supplementary_group_member_is_privileged),
		cmocka_unit_test_setup_teardown(
			status_reaches_the_handler_and_its_json_is_the_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(a_request_without_newline_is_answered_at_eof, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			an_unknown_verb_is_an_error_and_never_reaches_the_handler, setup, teardown),
		cmocka_unit_test_setup_teardown(control_characters_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(a_request_over_4096_bytes_is_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(reload_as_root_calls_the_handler_privileged, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_failing_handler_gives_an_error_reply, setup,
						teardown),
		cmocka_unit_test_setup_teardown(an_unprivileged_user_may_ask_status_but_not_reload,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_supplementary_group_member_may_reload, setup,
						teardown),
		cmocka_unit_test_setup_teardown(the_seventeenth_client_is_told_busy, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_silent_client_is_dropped_after_the_timeout, setup,
						teardown),
		cmocka_unit_test_setup_teardown(the_socket_is_mode_0666_and_close_removes_it, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_stale_socket_is_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(a_second_control_on_the_same_path_is_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_live_socket_without_the_lock_is_not_removed,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_file_that_is_not_a_socket_is_never_removed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(bad_paths_and_groups_are_errors, setup, teardown),
		cmocka_unit_test(json_strings_are_escaped),
		cmocka_unit_test(hosts_json_has_the_fields_of_ls_json),
		cmocka_unit_test(status_json_shows_mesh_host_listeners_and_counters),
		cmocka_unit_test(status_json_shows_sync_and_names_neighbours_from_the_snapshot),
		cmocka_unit_test(status_json_sync_has_the_registry_parked_count),
	};

	/* A client that went away must not kill the test with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
