/*
 * test_manager.c: unit tests of the peer manager's dispatch (src/wg/manager.c) against a
 * fake userspace API: a thread serving scripted replies on IFACE.sock in a temporary
 * directory and keeping every request. Checks what is set (only the change, with the
 * private key and listen port), that nothing is written when nothing changed, that a
 * refused set and a set that did not stick are logged, that a missing socket is reported
 * once, and the status. The log (stderr) is captured into a file and read back.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <sodium.h>

#include "common/log.h"
#include "meshname/keys.h"
#include "meshname/snapshot.h"
#include "meshname/wg.h"
#include "meshname/wgmanager.h"

#define IFNAME "mnt0"
#define MAX_SCRIPT 8

static const uint8_t test_mesh_id[REC_ID_SIZE] = { 0xaa, 0xbb, 0xcc };

/* ---- the fake UAPI server ------------------------------------------------------------ */

struct fake {
	int fd;
	pthread_t thread;
	size_t n_replies;
	const char *replies[MAX_SCRIPT];
	size_t n_requests;
	char *requests[MAX_SCRIPT];
};

static void *fake_serve(void *arg)
{
	struct fake *f = arg;

	for (size_t i = 0; i < f->n_replies; i++) {
		char buf[8192];
		size_t len = 0;
		int c = accept(f->fd, NULL, NULL);

		if (c < 0)
			break; /* the accept timeout: fewer requests than scripted */
		while (len < sizeof(buf) - 1) {
			ssize_t n = read(c, buf + len, sizeof(buf) - 1 - len);

			if (n <= 0)
				break;
			len += (size_t)n;
			buf[len] = '\0';
			if (strstr(buf, "\n\n") != NULL)
				break;
		}
		buf[len] = '\0';
		f->requests[f->n_requests++] = strdup(buf);
		if (write(c, f->replies[i], strlen(f->replies[i])) < 0)
			break;
		close(c);
	}
	return NULL;
}

/* Serves replies (NULL-terminated) in order on dir/IFNAME.sock, one per connection. */
static void fake_start(struct fake *f, const char *dir, const char *const *replies)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { 1, 0 };

	memset(f, 0, sizeof(*f));
	for (; replies[f->n_replies] != NULL; f->n_replies++)
		f->replies[f->n_replies] = replies[f->n_replies];
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s.sock", dir, IFNAME);
	unlink(sun.sun_path);
	f->fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(f->fd >= 0);
	assert_int_equal(bind(f->fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(f->fd, 8), 0);
	assert_int_equal(setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_serve, f), 0);
}

/* Waits for the script to end (or time out) and removes the socket. */
static void fake_stop(struct fake *f, const char *dir)
{
	char path[256];

	pthread_join(f->thread, NULL);
	close(f->fd);
	snprintf(path, sizeof(path), "%s/%s.sock", dir, IFNAME);
	unlink(path);
}

static void fake_free(struct fake *f)
{
	for (size_t i = 0; i < f->n_requests; i++)
		free(f->requests[i]);
}

/* ---- fixtures ------------------------------------------------------------------------ */

struct fixture {
	char dir[64];     /* the UAPI dir and the state dir */
	char logpath[96]; /* stderr goes here during a test */
	int saved_stderr;
	struct event_base *base;
	uint8_t self[REC_KEY_SIZE];
	uint8_t wg_sk[WG_KEY_LEN], wg_pk[WG_KEY_LEN];
};

static void host_fill(struct snapshot_host *h, char *name, size_t size, uint8_t i)
{
	memset(h, 0, sizeof(*h));
	snprintf(name, size, "host%u", i);
	h->name = name;
	h->ipv4[0] = 100;
	h->ipv4[1] = 64;
	h->ipv4[3] = i;
	h->ipv6[0] = 0xfd;
	h->ipv6[15] = i;
	h->host_key[0] = 1;
	h->host_key[31] = i;
	h->wg_key[0] = 2;
	h->wg_key[31] = i;
	h->serial = 1;
	h->not_before = 1000;
	h->not_after = 2000;
}

/* hosts 0..n-1, 0 being this host. */
static struct snapshot *make_snapshot(uint8_t n, uint64_t generation)
{
	struct snapshot_builder *b;
	struct snapshot *s = NULL;
	struct rec_root root = { 0 };

	snprintf(root.name, sizeof(root.name), "lab");
	snprintf(root.zone, sizeof(root.zone), "mesh");
	root.ipv4[0] = 100;
	root.ipv4[1] = 64;
	root.ipv4_len = 10;
	root.ipv6[0] = 0xfd;
	root.max_cert_lifetime = 86400;
	root.threshold = 1;
	root.n_admins = 1;
	b = snapshot_builder_new(&root, test_mesh_id, generation);
	assert_non_null(b);
	for (uint8_t i = 0; i < n; i++) {
		struct snapshot_host h;
		char name[16];

		host_fill(&h, name, sizeof(name), i);
		assert_int_equal(snapshot_builder_add_host(b, &h), 0);
	}
	assert_int_equal(snapshot_builder_finish(b, &s), 0);
	return s;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	int fd;

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/mn-manager-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->logpath, sizeof(fx->logpath), "%s/log", fx->dir);
	fx->base = event_base_new();
	assert_non_null(fx->base);
	fx->self[0] = 1; /* host 0's key */
	fflush(stderr);
	fx->saved_stderr = dup(STDERR_FILENO);
	fd = open(fx->logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	dup2(fd, STDERR_FILENO);
	close(fd);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];

	fflush(stderr);
	dup2(fx->saved_stderr, STDERR_FILENO);
	close(fx->saved_stderr);
	event_base_free(fx->base);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	assert_int_equal(system(cmd), 0);
	sodium_memzero(fx->wg_sk, sizeof(fx->wg_sk));
	free(fx);
	return 0;
}

static void with_wg_key(struct fixture *fx)
{
	assert_int_equal(keys_x25519_generate(fx->dir, KEYS_WG, fx->wg_pk), 0);
	assert_int_equal(keys_x25519_load(fx->dir, KEYS_WG, fx->wg_sk, fx->wg_pk), 0);
}

static struct wg_manager *manager(struct fixture *fx, uint16_t listen_port)
{
	struct wg_manager_config cfg = { 0 };
	struct wg_manager *m = NULL;

	cfg.ifname = IFNAME;
	cfg.listen_port = listen_port;
	cfg.state_dir = fx->dir;
	cfg.uapi_dir = fx->dir;
	cfg.self_host_key = fx->self;
	assert_int_equal(wg_manager_new(fx->base, &cfg, &m), 0);
	return m;
}

static char *read_log(struct fixture *fx)
{
	static char buf[16384];
	FILE *fp;
	size_t n;

	fflush(stderr);
	fp = fopen(fx->logpath, "r");
	assert_non_null(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

static void hex(const uint8_t *key, char out[2 * WG_KEY_LEN + 1])
{
	sodium_bin2hex(out, 2 * WG_KEY_LEN + 1, key, WG_KEY_LEN);
}

/* The device text of a get: private key (NULL: none), port, peers 1..n with their mesh
 * addresses and keepalive 25 (these hosts have no ENDPOINTS: behind NAT). */
static char *device_text(const uint8_t *sk, uint16_t port, uint8_t n)
{
	static char buf[4096];
	char h[2 * WG_KEY_LEN + 1];
	size_t len = 0;

	if (sk != NULL) {
		hex(sk, h);
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "private_key=%s\n", h);
	}
	len += (size_t)snprintf(buf + len, sizeof(buf) - len, "listen_port=%u\n", port);
	for (uint8_t i = 1; i <= n; i++) {
		uint8_t key[WG_KEY_LEN] = { 2, [31] = i };

		hex(key, h);
		len += (size_t)snprintf(buf + len, sizeof(buf) - len,
					"public_key=%s\npersistent_keepalive_interval=25\n"
					"allowed_ip=100.64.0.%u/32\nallowed_ip=fd00::%u/128\n",
					h, i, i);
	}
	snprintf(buf + len, sizeof(buf) - len, "errno=0\n\n");
	return strdup(buf);
}

/* ---- tests --------------------------------------------------------------------------- */

static void empty_device_gets_key_port_and_every_other_host_then_is_verified(void **state)
{
	struct fixture *fx = *state;
	struct snapshot *s = make_snapshot(3, 1);
	char *after = NULL, h[2 * WG_KEY_LEN + 1];
	const char *replies[4] = { "listen_port=0\nerrno=0\n\n", "errno=0\n\n", NULL, NULL };
	struct wg_manager_status st;
	struct wg_manager *m;
	struct fake f;

	with_wg_key(fx);
	after = device_text(fx->wg_sk, 51820, 2);
	replies[2] = after;
	fake_start(&f, fx->dir, replies);
	m = manager(fx, 51820);
	wg_manager_set_snapshot(m, s);
	event_base_loop(fx->base, EVLOOP_NONBLOCK); /* the tick after a set verifies it */
	fake_stop(&f, fx->dir);

	assert_int_equal(f.n_requests, 3);
	assert_string_equal(f.requests[0], "get=1\n\n");
	assert_string_equal(f.requests[2], "get=1\n\n");
	hex(fx->wg_sk, h);
	assert_non_null(strstr(f.requests[1], h)); /* the private key, in the set only */
	assert_non_null(strstr(f.requests[1], "listen_port=51820\n"));
	assert_non_null(strstr(f.requests[1], "allowed_ip=100.64.0.1/32\n"));
	assert_non_null(strstr(f.requests[1], "allowed_ip=fd00::2/128\n"));
	assert_null(strstr(f.requests[1], "allowed_ip=100.64.0.0/32")); /* not self */
	assert_int_equal(count(f.requests[1], "public_key="), 2);
	assert_int_equal(count(read_log(fx), "adding peer host"), 2);
	assert_null(strstr(read_log(fx), h)); /* the secret is never logged */
	assert_null(strstr(read_log(fx), "differs"));

	assert_int_equal(wg_manager_status(m, &st), 0);
	assert_true(st.device);
	assert_string_equal(st.backend, "userspace");
	assert_int_equal(st.listen_port, 51820);
	assert_int_equal(st.n_peers, 2);
	assert_string_equal(st.peers[0].name, "host1");
	assert_int_equal(st.peers[1].ipv4[3], 2);
	assert_string_equal(st.peers[0].endpoint_kind, "none");
	wg_manager_status_clear(&st);

	wg_manager_free(m);
	snapshot_unref(s);
	fake_free(&f);
	free(after);
}

static void device_already_right_is_never_written(void **state)
{
	struct fixture *fx = *state;
	struct snapshot *s = make_snapshot(3, 1);
	char *dev = device_text(NULL, 40000, 2);
	const char *replies[] = { dev, "errno=0\n\n", NULL };
	struct wg_manager *m;
	struct fake f;

	/* No wg.key and no listen-port: only peers are managed. */
	fake_start(&f, fx->dir, replies);
	m = manager(fx, 0);
	wg_manager_set_snapshot(m, s);
	fake_stop(&f, fx->dir);
	assert_int_equal(f.n_requests, 1); /* the get; no set, no verify */
	assert_non_null(strstr(read_log(fx), "cannot load"));
	assert_null(strstr(read_log(fx), "adding peer"));
	wg_manager_free(m);
	snapshot_unref(s);
	fake_free(&f);
	free(dev);
}

static void removed_host_is_removed_and_logged_by_name(void **state)
{
	struct fixture *fx = *state;
	struct snapshot *s = make_snapshot(3, 1), *s2 = make_snapshot(2, 2);
	char *dev2 = device_text(NULL, 40000, 2), *dev1 = device_text(NULL, 40000, 1);
	char *dev2b = device_text(NULL, 40000, 2);
	const char *replies[] = { dev2, dev2b, "errno=0\n\n", dev1, NULL };
	struct wg_manager *m;
	struct fake f;
	char h[2 * WG_KEY_LEN + 1];
	uint8_t key2[WG_KEY_LEN] = { 2, [31] = 2 };

	fake_start(&f, fx->dir, replies);
	m = manager(fx, 0);
	wg_manager_set_snapshot(m, s);  /* nothing to do: learns the names */
	wg_manager_set_snapshot(m, s2); /* host2 is gone */
	event_base_loop(fx->base, EVLOOP_NONBLOCK);
	fake_stop(&f, fx->dir);
	assert_int_equal(f.n_requests, 4);
	hex(key2, h);
	assert_non_null(strstr(f.requests[2], h));
	assert_non_null(strstr(f.requests[2], "remove=true"));
	assert_int_equal(count(f.requests[2], "public_key="), 1); /* host1 untouched */
	assert_non_null(strstr(read_log(fx), "removing peer host2"));
	wg_manager_free(m);
	snapshot_unref(s);
	snapshot_unref(s2);
	fake_free(&f);
	free(dev2);
	free(dev2b);
	free(dev1);
}

static void refused_set_and_a_set_that_did_not_stick_are_logged(void **state)
{
	struct fixture *fx = *state;
	struct snapshot *s = make_snapshot(3, 1);
	const char *replies[] = { "listen_port=1\nerrno=0\n\n", "errno=-22\n\n",
				  "listen_port=1\nerrno=0\n\n", NULL };
	struct wg_manager *m;
	struct fake f;

	fake_start(&f, fx->dir, replies);
	m = manager(fx, 0);
	wg_manager_set_snapshot(m, s);
	event_base_loop(fx->base, EVLOOP_NONBLOCK);
	fake_stop(&f, fx->dir);
	assert_int_equal(f.n_requests, 3); /* no retry in a loop: the next is the timer's */
	assert_non_null(strstr(read_log(fx), "setting the device failed: Invalid argument"));
	assert_non_null(strstr(read_log(fx), "differs from what was just set (0 to remove, 2 "
					     "to add"));
	wg_manager_free(m);
	snapshot_unref(s);
	fake_free(&f);
}

static void missing_socket_is_reported_once_and_status_says_no_device(void **state)
{
	struct fixture *fx = *state;
	struct snapshot *s = make_snapshot(3, 1), *s2 = make_snapshot(3, 2);
	struct wg_manager_status st;
	struct wg_manager *m = manager(fx, 0);

	wg_manager_set_snapshot(m, s);
	wg_manager_set_snapshot(m, s2);
	assert_int_equal(count(read_log(fx), "no userspace WireGuard socket"), 1);
	assert_int_equal(wg_manager_status(m, &st), 0);
	assert_false(st.device);
	assert_string_equal(st.ifname, IFNAME);
	assert_int_equal(st.n_peers, 0);
	wg_manager_status_clear(&st);
	wg_manager_free(m);
	snapshot_unref(s);
	snapshot_unref(s2);
}

static void bad_configuration_is_refused(void **state)
{
	struct fixture *fx = *state;
	struct wg_manager_config cfg = { 0 };
	struct wg_manager *m = (struct wg_manager *)1;

	cfg.state_dir = fx->dir;
	assert_int_equal(wg_manager_new(fx->base, &cfg, &m), -EINVAL); /* no interface */
	assert_null(m);
	cfg.ifname = "an-interface-name-far-too-long";
	assert_int_equal(wg_manager_new(fx->base, &cfg, &m), -EINVAL);
	assert_null(m);
	wg_manager_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			empty_device_gets_key_port_and_every_other_host_then_is_verified, setup,
			teardown),
		cmocka_unit_test_setup_teardown(device_already_right_is_never_written, setup,
						teardown),
		cmocka_unit_test_setup_teardown(removed_host_is_removed_and_logged_by_name, setup,
						teardown),
		cmocka_unit_test_setup_teardown(refused_set_and_a_set_that_did_not_stick_are_logged,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			missing_socket_is_reported_once_and_status_says_no_device, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_configuration_is_refused, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	log_init("test", true, false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
