/*
 * test_resolvconf.c: unit tests of the resolv.conf reader (src/resolver/resolvconf.c):
 * what counts as a nameserver, what is skipped to avoid forwarding loops, which file is
 * read, and that the file is never changed. Files live in a fresh temporary directory.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "resolver/resolvconf.h"

static struct resolvconf rc;

static void parse(const char *text, const struct sockaddr_storage *own, size_t n_own)
{
	resolvconf_parse(text, strlen(text), own, n_own, &rc);
}

/* Address i of rc as text ("a.b.c.d" or "x::y%scope"), and checks its port is 53. */
static const char *addr_text(size_t i)
{
	static char buf[INET6_ADDRSTRLEN + 16];

	assert_true(i < rc.n);
	if (rc.addr[i].ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)&rc.addr[i];

		assert_int_equal(rc.addr_len[i], sizeof(*s));
		assert_int_equal(ntohs(s->sin_port), 53);
		assert_non_null(inet_ntop(AF_INET, &s->sin_addr, buf, sizeof(buf)));
	} else {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&rc.addr[i];
		size_t len;

		assert_int_equal(rc.addr[i].ss_family, AF_INET6);
		assert_int_equal(rc.addr_len[i], sizeof(*s));
		assert_int_equal(ntohs(s->sin6_port), 53);
		assert_non_null(inet_ntop(AF_INET6, &s->sin6_addr, buf, sizeof(buf)));
		len = strlen(buf);
		if (s->sin6_scope_id != 0)
			snprintf(buf + len, sizeof(buf) - len, "%%%u", s->sin6_scope_id);
	}
	return buf;
}

/* An own (listen) address from text and port. */
static struct sockaddr_storage own_addr(const char *text, uint16_t port)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':') == NULL) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, text, &s->sin_addr), 1);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, text, &s->sin6_addr), 1);
	}
	return ss;
}

/* ---- Parsing ---- */

static void nameserver_lines_give_ipv4_and_ipv6_upstreams_on_port_53(void **state)
{
	(void)state;
	parse("nameserver 192.0.2.1\nnameserver 2001:db8::53\n", NULL, 0);
	assert_int_equal(rc.n, 2);
	assert_string_equal(addr_text(0), "192.0.2.1");
	assert_string_equal(addr_text(1), "2001:db8::53");
	assert_int_equal(rc.skipped, 0);
	assert_int_equal(rc.ignored, 0);

	/* No final newline, tabs, CRLF, a trailing comment. */
	parse("nameserver\t192.0.2.2 # primary\r\nnameserver 192.0.2.3;x", NULL, 0);
	assert_int_equal(rc.n, 2);
	assert_string_equal(addr_text(0), "192.0.2.2");
	assert_string_equal(addr_text(1), "192.0.2.3");
}

static void comments_other_keywords_and_garbage_are_ignored(void **state)
{
	static const char text[] = "# nameserver 192.0.2.9\n"
				   "; nameserver 192.0.2.8\n"
				   "search example.com\n"
				   "options edns0 trust-ad\n"
				   "nameserverx 192.0.2.7\n"
				   "  nameserver 192.0.2.6\n"
				   "nameserver\n"
				   "nameserver    \n"
				   "nameserver not-an-address\n"
				   "nameserver 192.0.2.300\n"
				   "nameserver 192.0.2.1:53\n"
				   "\n"
				   "\x01\xff garbage\n"
				   "nameserver 192.0.2.5\n";
	static const char with_nul[] = "nameserver 192.0\0.2.1\nnameserver 192.0.2.4\n";

	(void)state;
	parse(text, NULL, 0);
	assert_int_equal(rc.n, 1);
	assert_string_equal(addr_text(0), "192.0.2.5");
	assert_int_equal(rc.ignored, 4); /* blank, not-an-address, .300, with a port */
	assert_int_equal(rc.skipped, 0);

	/* A NUL inside the buffer does not end or confuse parsing. */
	resolvconf_parse(with_nul, sizeof(with_nul) - 1, NULL, 0, &rc);
	assert_int_equal(rc.n, 1);
	assert_string_equal(addr_text(0), "192.0.2.4");

	parse("", NULL, 0);
	assert_int_equal(rc.n, 0);
}

static void resolved_stubs_and_our_own_addresses_are_skipped(void **state)
{
	struct sockaddr_storage own[4];
	static const char text[] = "nameserver 127.0.0.53\n"
				   "nameserver 127.0.0.54\n"
				   "nameserver 127.0.0.153\n"
				   "nameserver 100.64.0.1\n"
				   "nameserver fd12:3456:789a::1\n"
				   "nameserver 127.0.0.1\n"
				   "nameserver 192.0.2.1\n"
				   "nameserver ::ffff:127.0.0.53\n";

	(void)state;
	own[0] = own_addr("127.0.0.153", 53);
	own[1] = own_addr("100.64.0.1", 0); /* any port */
	own[2] = own_addr("fd12:3456:789a::1", 53);
	own[3] = own_addr("::ffff:192.0.2.77", 53);
	parse(text, own, 4);
	assert_int_equal(rc.n, 2);
	assert_string_equal(addr_text(0), "127.0.0.1");
	assert_string_equal(addr_text(1), "192.0.2.1");
	assert_int_equal(rc.skipped, 6);

	/* Listening on another port, 127.0.0.153:53 is not us; the stubs are always out. */
	own[0] = own_addr("127.0.0.153", 5353);
	parse(text, own, 1);
	assert_int_equal(rc.n, 5);
	assert_string_equal(addr_text(0), "127.0.0.153");
	assert_int_equal(rc.skipped, 3);

	/* An own IPv4-mapped address catches the plain IPv4 nameserver. */
	parse("nameserver 192.0.2.77\n", &own[3], 1);
	assert_int_equal(rc.n, 0);
	assert_int_equal(rc.skipped, 1);
}

static void wildcard_listen_address_skips_every_loopback_nameserver(void **state)
{
	struct sockaddr_storage own[1];
	static const char text[] = "nameserver 127.0.0.1\n"
				   "nameserver 127.1.2.3\n"
				   "nameserver ::1\n"
				   "nameserver 0.0.0.0\n"
				   "nameserver 192.0.2.1\n";

	(void)state;
	own[0] = own_addr("0.0.0.0", 53);
	parse(text, own, 1);
	assert_int_equal(rc.n, 1);
	assert_string_equal(addr_text(0), "192.0.2.1");
	assert_int_equal(rc.skipped, 4);
	own[0] = own_addr("::", 0);
	parse(text, own, 1);
	assert_int_equal(rc.n, 1);
}

static void ipv6_scope_is_kept_and_bad_scopes_are_ignored(void **state)
{
	char expected[64];
	unsigned lo = if_nametoindex("lo");

	(void)state;
	assert_true(lo > 0);
	parse("nameserver fe80::1%2\n"
	      "nameserver fe80::2%lo\n"
	      "nameserver fe80::3%no-such-if0\n"
	      "nameserver fe80::4%\n"
	      "nameserver 192.0.2.1%1\n"
	      "nameserver fe80::5%0\n"
	      "nameserver fe80::6%99999999999\n",
	      NULL, 0);
	assert_int_equal(rc.n, 2);
	assert_string_equal(addr_text(0), "fe80::1%2");
	snprintf(expected, sizeof(expected), "fe80::2%%%u", lo);
	assert_string_equal(addr_text(1), expected);
	assert_int_equal(rc.ignored, 5);
}

static void mapped_addresses_become_ipv4(void **state)
{
	(void)state;
	parse("nameserver ::ffff:192.0.2.9\n", NULL, 0);
	assert_int_equal(rc.n, 1);
	assert_int_equal(rc.addr[0].ss_family, AF_INET);
	assert_string_equal(addr_text(0), "192.0.2.9");
}

static void duplicates_and_more_than_16_are_ignored(void **state)
{
	char text[2048];
	size_t len = 0, i;

	(void)state;
	for (i = 0; i < 20; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "nameserver 192.0.2.%zu\n",
					i + 1);
	len += (size_t)snprintf(text + len, sizeof(text) - len, "nameserver 192.0.2.1\n");
	resolvconf_parse(text, len, NULL, 0, &rc);
	assert_int_equal(rc.n, RESOLVCONF_MAX);
	assert_string_equal(addr_text(15), "192.0.2.16");
	assert_int_equal(rc.ignored, 5);
}

/* ---- Files ---- */

struct files {
	char dir[64];
	char run[128]; /* stands for /run/systemd/resolve/resolv.conf */
	char etc[128]; /* stands for /etc/resolv.conf */
};

static int files_setup(void **state)
{
	struct files *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/meshname-resolvconf-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->run, sizeof(f->run), "%s/run-resolv.conf", f->dir);
	snprintf(f->etc, sizeof(f->etc), "%s/etc-resolv.conf", f->dir);
	*state = f;
	return 0;
}

static int files_teardown(void **state)
{
	struct files *f = *state;

	unlink(f->run);
	unlink(f->etc);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

static void resolved_file_is_preferred_then_etc(void **state)
{
	struct files *f = *state;
	const char *paths[2] = { f->run, f->etc };
	char below_file[256];
	size_t used = 99;

	assert_int_equal(resolvconf_load(paths, 2, NULL, 0, &rc, &used), -ENOENT);
	write_file(f->etc, "nameserver 127.0.0.53\noptions edns0\n");
	assert_int_equal(resolvconf_load(paths, 2, NULL, 0, &rc, &used), 0);
	assert_int_equal(used, 1);
	assert_int_equal(rc.n, 0);
	assert_int_equal(rc.skipped, 1);
	assert_int_equal(access(f->run, F_OK), -1); /* looking for it did not create it */

	write_file(f->run, "nameserver 192.0.2.1\nnameserver 2001:db8::1\n");
	assert_int_equal(resolvconf_load(paths, 2, NULL, 0, &rc, &used), 0);
	assert_int_equal(used, 0);
	assert_int_equal(rc.n, 2);
	assert_string_equal(addr_text(0), "192.0.2.1");

	/* A path below a file that is no directory counts as missing. */
	snprintf(below_file, sizeof(below_file), "%s/resolv.conf", f->etc);
	paths[0] = below_file;
	assert_int_equal(resolvconf_load(paths, 2, NULL, 0, &rc, NULL), 0);
	assert_int_equal(rc.skipped, 1);
}

static void file_is_never_modified(void **state)
{
	struct files *f = *state;
	const char *paths[2] = { f->run, f->etc };
	static const char text[] = "# generated\nnameserver 192.0.2.1\nnameserver 127.0.0.53\n";
	struct stat before, after;
	char buf[256];
	ssize_t n;
	int fd;

	write_file(f->etc, text);
	assert_int_equal(chmod(f->etc, 0444), 0);
	assert_int_equal(stat(f->etc, &before), 0);
	assert_int_equal(resolvconf_load(paths, 2, NULL, 0, &rc, NULL), 0);
	assert_int_equal(rc.n, 1);
	assert_int_equal(stat(f->etc, &after), 0);
	assert_int_equal(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
	assert_int_equal(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
	assert_int_equal(before.st_ctim.tv_sec, after.st_ctim.tv_sec);
	assert_int_equal(before.st_ctim.tv_nsec, after.st_ctim.tv_nsec);
	assert_int_equal(before.st_size, after.st_size);
	assert_int_equal(before.st_mode, after.st_mode);
	assert_int_equal(before.st_ino, after.st_ino);
	fd = open(f->etc, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(n, (ssize_t)strlen(text));
	assert_memory_equal(buf, text, strlen(text));
	assert_int_equal(access(f->run, F_OK), -1);
}

static void directory_fifo_and_oversized_files_are_refused(void **state)
{
	struct files *f = *state;
	const char *paths[1];
	char *big;
	FILE *fp;

	paths[0] = f->dir;
	assert_int_equal(resolvconf_load(paths, 1, NULL, 0, &rc, NULL), -EINVAL);

	/* A FIFO must not make us wait for a writer. */
	assert_int_equal(mkfifo(f->run, 0600), 0);
	paths[0] = f->run;
	assert_int_equal(resolvconf_load(paths, 1, NULL, 0, &rc, NULL), -EINVAL);

	big = malloc(RESOLVCONF_FILE_MAX + 1);
	assert_non_null(big);
	memset(big, '#', RESOLVCONF_FILE_MAX + 1);
	fp = fopen(f->etc, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(big, 1, RESOLVCONF_FILE_MAX, fp), RESOLVCONF_FILE_MAX);
	assert_int_equal(fclose(fp), 0);
	paths[0] = f->etc;
	assert_int_equal(resolvconf_load(paths, 1, NULL, 0, &rc, NULL), 0); /* exactly the max */
	fp = fopen(f->etc, "a");
	assert_non_null(fp);
	assert_int_equal(fputc('#', fp), '#');
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(resolvconf_load(paths, 1, NULL, 0, &rc, NULL), -EFBIG);
	free(big);

	assert_int_equal(resolvconf_load(paths, 0, NULL, 0, &rc, NULL), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(nameserver_lines_give_ipv4_and_ipv6_upstreams_on_port_53),
		cmocka_unit_test(comments_other_keywords_and_garbage_are_ignored),
		cmocka_unit_test(resolved_stubs_and_our_own_addresses_are_skipped),
		cmocka_unit_test(wildcard_listen_address_skips_every_loopback_nameserver),
		cmocka_unit_test(ipv6_scope_is_kept_and_bad_scopes_are_ignored),
		cmocka_unit_test(mapped_addresses_become_ipv4),
		cmocka_unit_test(duplicates_and_more_than_16_are_ignored),
		cmocka_unit_test_setup_teardown(resolved_file_is_preferred_then_etc, files_setup,
						files_teardown),
		cmocka_unit_test_setup_teardown(file_is_never_modified, files_setup,
						files_teardown),
		cmocka_unit_test_setup_teardown(directory_fifo_and_oversized_files_are_refused,
						files_setup, files_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
