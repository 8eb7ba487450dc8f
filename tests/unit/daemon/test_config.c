/*
 * test_config.c: meshnamed.conf(5) parsing: every keyword, every error with its exact
 * "file:line: message", limits, the print/parse round trip and config_load on real files.
 * Links only config.o: the parser must need nothing else.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "daemon/config.h"

#define FILENAME "test.conf"

/* ---- helpers ----------------------------------------------------------------------- */

/* Feeds text line by line (each with its "\n", the last one maybe without) and finishes.
 * Returns the first error; err gets the parser's message. *out is set only on success. */
static int parse_text(const char *text, size_t len, struct config **out, char *err, size_t errlen)
{
	struct config_parser *p = config_parser_new(FILENAME);
	const char *line = text, *end = text + len;
	int r = 0;

	assert_non_null(p);
	*out = NULL;
	while (r == 0 && line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t n = nl != NULL ? (size_t)(nl - line) + 1 : (size_t)(end - line);

		r = config_parser_line(p, line, n);
		line += n;
	}
	if (r == 0)
		r = config_parser_finish(p, out);
	snprintf(err, errlen, "%s", config_parser_error(p));
	config_parser_free(p);
	if (r == 0)
		assert_non_null(*out);
	else
		assert_null(*out);
	return r;
}

static struct config *parse_ok(const char *text)
{
	char err[CONFIG_ERROR_MAX];
	struct config *cfg;
	int r = parse_text(text, strlen(text), &cfg, err, sizeof(err));

	if (r != 0)
		fail_msg("unexpected error: %s", err);
	assert_string_equal(err, "");
	return cfg;
}

static void assert_parse_error_len(const char *text, size_t len, const char *expected)
{
	char err[CONFIG_ERROR_MAX];
	struct config *cfg;

	assert_int_equal(parse_text(text, len, &cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, expected);
}

static void assert_parse_error(const char *text, const char *expected)
{
	assert_parse_error_len(text, strlen(text), expected);
}

static const char *addr(const struct sockaddr_storage *ss)
{
	static char buf[CONFIG_ADDR_STRLEN];

	return config_addr_str(ss, buf, sizeof(buf));
}

static void assert_config_equal(const struct config *a, const struct config *b)
{
	assert_string_equal(a->state, b->state);
	assert_string_equal(a->control, b->control);
	assert_string_equal(a->control_group, b->control_group);
	assert_int_equal(a->n_listen, b->n_listen);
	for (size_t i = 0; i < a->n_listen; i++)
		assert_memory_equal(&a->listen[i], &b->listen[i], sizeof(a->listen[i]));
	assert_int_equal(a->listen_mesh, b->listen_mesh);
	assert_int_equal(a->n_upstream, b->n_upstream);
	for (size_t i = 0; i < a->n_upstream; i++)
		assert_memory_equal(&a->upstream[i], &b->upstream[i], sizeof(a->upstream[i]));
	assert_int_equal(a->forward, b->forward);
	assert_int_equal(a->ttl, b->ttl);
	assert_int_equal(a->negative_ttl, b->negative_ttl);
	assert_int_equal(a->cache_size, b->cache_size);
	assert_int_equal(a->serve_stale, b->serve_stale);
	assert_string_equal(a->interface, b->interface);
	assert_int_equal(a->manage, b->manage);
	assert_int_equal(a->on_exit, b->on_exit);
	assert_string_equal(a->userspace, b->userspace);
	assert_int_equal(a->n_endpoint, b->n_endpoint);
	for (size_t i = 0; i < a->n_endpoint; i++) {
		assert_string_equal(a->endpoint[i].host, b->endpoint[i].host);
		assert_int_equal(a->endpoint[i].port, b->endpoint[i].port);
	}
	assert_int_equal(a->listen_port, b->listen_port);
	assert_int_equal(a->publish_endpoints, b->publish_endpoints);
	assert_int_equal(a->n_lan_prefix, b->n_lan_prefix);
	assert_memory_equal(a->lan_prefix, b->lan_prefix, sizeof(a->lan_prefix));
	assert_int_equal(a->sync, b->sync);
	assert_int_equal(a->sync_port, b->sync_port);
	assert_int_equal(a->sync_beacon, b->sync_beacon);
}

/* config_print into a string; caller frees. */
static char *print_to_string(const struct config *cfg)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *fp = open_memstream(&buf, &size);

	assert_non_null(fp);
	config_print(cfg, fp);
	assert_false(ferror(fp));
	assert_int_equal(fclose(fp), 0);
	return buf;
}

static void assert_round_trip(const struct config *cfg)
{
	char *text = print_to_string(cfg), *again;
	struct config *parsed = parse_ok(text);

	assert_config_equal(cfg, parsed);
	again = print_to_string(parsed);
	assert_string_equal(text, again);
	free(again);
	free(text);
	config_free(parsed);
}

/* A line "KEYWORD VALUE" parsed alone; returns the config (caller frees). */
static struct config *parse_one(const char *keyword, const char *value)
{
	char text[CONFIG_LINE_MAX + 2];

	snprintf(text, sizeof(text), "%s %s\n", keyword, value);
	return parse_ok(text);
}

/* ---- defaults and syntax ----------------------------------------------------------- */

static void defaults_are_the_documented_ones(void **state)
{
	struct config *cfg = config_new_defaults();

	(void)state;
	assert_non_null(cfg);
	assert_string_equal(cfg->state, "/var/lib/meshname");
	assert_string_equal(cfg->control, "/run/meshname/control.sock");
	assert_string_equal(cfg->control_group, "");
	assert_int_equal(cfg->n_listen, 1);
	assert_string_equal(addr(&cfg->listen[0]), "127.0.0.153:53");
	assert_true(cfg->listen_mesh);
	assert_int_equal(cfg->n_upstream, 0);
	assert_true(cfg->forward);
	assert_int_equal(cfg->ttl, 30);
	assert_int_equal(cfg->negative_ttl, 5);
	assert_int_equal(cfg->cache_size, 10000);
	assert_true(cfg->serve_stale);
	assert_string_equal(cfg->interface, "mesh0");
	assert_int_equal(cfg->manage, CONFIG_MANAGE_YES);
	assert_int_equal(cfg->on_exit, CONFIG_ON_EXIT_KEEP);
	assert_string_equal(cfg->userspace, "");
	assert_int_equal(cfg->n_endpoint, 0);
	assert_int_equal(cfg->listen_port, 51820);
	config_free(cfg);
}

static void empty_file_gives_the_defaults(void **state)
{
	struct config *defaults = config_new_defaults(), *cfg = parse_ok("");

	(void)state;
	assert_config_equal(cfg, defaults);
	config_free(cfg);
	config_free(defaults);
}

static void comments_blank_lines_and_whitespace_are_ignored(void **state)
{
	struct config *cfg = parse_ok("# a comment\n"
				      "\n"
				      "   \t \n"
				      "\t# indented comment\n"
				      "  ttl\t 60  \t\n"
				      "forward no # trailing comment\n"
				      "cache-size 7 #glued comment\n");

	(void)state;
	assert_int_equal(cfg->ttl, 60);
	assert_false(cfg->forward);
	assert_int_equal(cfg->cache_size, 7);
	config_free(cfg);
}

static void a_hash_inside_a_value_is_part_of_it(void **state)
{
	struct config *cfg = parse_ok("state /var/lib/mesh#1 # the second mesh\n");

	(void)state;
	assert_string_equal(cfg->state, "/var/lib/mesh#1");
	config_free(cfg);
	assert_parse_error("serve-stale no#comment\n",
			   "test.conf:1: serve-stale must be yes or no, not \"no#comment\"");
}

static void crlf_line_endings_are_accepted(void **state)
{
	struct config *cfg = parse_ok("ttl 60\r\nforward no\r\n# comment\r\n\r\n");

	(void)state;
	assert_int_equal(cfg->ttl, 60);
	assert_false(cfg->forward);
	config_free(cfg);
}

static void a_carriage_return_inside_a_line_is_rejected(void **state)
{
	(void)state;
	assert_parse_error("ttl 6\r0\n", "test.conf:1: control character 0x0d in column 6");
}

static void control_characters_and_nul_are_rejected(void **state)
{
	(void)state;
	assert_parse_error_len("ttl 30\nttl\0 30\n", 15,
			       "test.conf:2: control character 0x00 in column 4");
	assert_parse_error("state /a\x1b[31m\n", "test.conf:1: control character 0x1b in column 9");
	assert_parse_error("state /a\x7f\n", "test.conf:1: control character 0x7f in column 9");
}

static void a_last_line_without_newline_is_parsed(void **state)
{
	struct config *cfg = parse_ok("forward yes\nttl 42");

	(void)state;
	assert_int_equal(cfg->ttl, 42);
	config_free(cfg);
}

static void a_line_of_1024_bytes_is_accepted_and_1025_is_not(void **state)
{
	char line[CONFIG_LINE_MAX + 3];
	struct config *cfg;

	(void)state;
	memcpy(line, "state /", 7);
	memset(line + 7, 'a', CONFIG_LINE_MAX - 7);
	line[CONFIG_LINE_MAX] = '\n';
	line[CONFIG_LINE_MAX + 1] = '\0';
	cfg = parse_ok(line);
	assert_int_equal(strlen(cfg->state), CONFIG_LINE_MAX - 6);
	config_free(cfg);

	line[CONFIG_LINE_MAX] = 'a';
	line[CONFIG_LINE_MAX + 1] = '\n';
	line[CONFIG_LINE_MAX + 2] = '\0';
	assert_parse_error(line, "test.conf:1: line too long (more than 1024 bytes)");
}

static void unknown_keyword_is_an_error(void **state)
{
	(void)state;
	assert_parse_error("ttl 30\n\nfoo bar\n", "test.conf:3: unknown keyword \"foo\"");
	/* Keywords are lower case, like the man page writes them. */
	assert_parse_error("TTL 30\n", "test.conf:1: unknown keyword \"TTL\"");
}

static void a_long_word_is_cut_in_the_message(void **state)
{
	char line[200];

	(void)state;
	memset(line, 'k', 100);
	memcpy(line + 100, " 1\n", 4);
	assert_parse_error(
		line, "test.conf:1: unknown keyword "
		      "\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...\"");
}

static void a_keyword_without_value_is_an_error(void **state)
{
	(void)state;
	assert_parse_error("ttl\n", "test.conf:1: missing value for \"ttl\"");
	assert_parse_error("ttl   # 30\n", "test.conf:1: missing value for \"ttl\"");
}

static void extra_words_after_the_value_are_an_error(void **state)
{
	(void)state;
	assert_parse_error("listen 127.0.0.1 127.0.0.2\n",
			   "test.conf:1: unexpected \"127.0.0.2\" after the value of \"listen\"");
	assert_parse_error("state /var/lib/my mesh\n",
			   "test.conf:1: unexpected \"mesh\" after the value of \"state\"");
}

static void a_single_valued_keyword_twice_is_an_error(void **state)
{
	(void)state;
	assert_parse_error("ttl 30\nforward yes\nttl 30\n",
			   "test.conf:3: duplicate keyword \"ttl\" (first set on line 1)");
	assert_parse_error("# x\nmanage yes\nmanage no\n",
			   "test.conf:3: duplicate keyword \"manage\" (first set on line 2)");
}

/* ---- every keyword ----------------------------------------------------------------- */

static const char full_text[] = "state /srv/meshname\n"
				"control /run/mesh/ctl.sock\n"
				"control-group meshadm\n"
				"listen 127.0.0.153:5353\n"
				"listen [::1]:53\n"
				"listen 10.0.0.1\n"
				"listen-mesh no\n"
				"upstream 192.0.2.53\n"
				"upstream [2001:db8::53]:5300\n"
				"forward yes\n"
				"ttl 120\n"
				"negative-ttl 0\n"
				"cache-size 500\n"
				"serve-stale no\n"
				"resolved yes\n"
				"interface wg-mesh\n"
				"manage yes\n"
				"on-exit remove\n"
				"userspace /usr/local/bin/wireguard-go\n"
				"endpoint 203.0.113.7:51820\n"
				"endpoint vpn.example.org:4500\n"
				"endpoint [2001:db8::7]:51820\n"
				"listen-port 4500\n";

static void every_keyword_sets_its_field(void **state)
{
	struct config *cfg = parse_ok(full_text);

	(void)state;
	assert_string_equal(cfg->state, "/srv/meshname");
	assert_string_equal(cfg->control, "/run/mesh/ctl.sock");
	assert_string_equal(cfg->control_group, "meshadm");
	assert_int_equal(cfg->n_listen, 3);
	assert_string_equal(addr(&cfg->listen[0]), "127.0.0.153:5353");
	assert_string_equal(addr(&cfg->listen[1]), "[::1]:53");
	assert_string_equal(addr(&cfg->listen[2]), "10.0.0.1:53");
	assert_false(cfg->listen_mesh);
	assert_int_equal(cfg->n_upstream, 2);
	assert_string_equal(addr(&cfg->upstream[0]), "192.0.2.53:53");
	assert_string_equal(addr(&cfg->upstream[1]), "[2001:db8::53]:5300");
	assert_true(cfg->forward);
	assert_int_equal(cfg->ttl, 120);
	assert_int_equal(cfg->negative_ttl, 0);
	assert_int_equal(cfg->cache_size, 500);
	assert_false(cfg->serve_stale);
	assert_int_equal(cfg->resolved, CONFIG_RESOLVED_YES);
	assert_string_equal(cfg->interface, "wg-mesh");
	assert_int_equal(cfg->manage, CONFIG_MANAGE_YES);
	assert_int_equal(cfg->on_exit, CONFIG_ON_EXIT_REMOVE);
	assert_string_equal(cfg->userspace, "/usr/local/bin/wireguard-go");
	assert_int_equal(cfg->n_endpoint, 3);
	assert_string_equal(cfg->endpoint[0].host, "203.0.113.7");
	assert_int_equal(cfg->endpoint[0].port, 51820);
	assert_string_equal(cfg->endpoint[1].host, "vpn.example.org");
	assert_int_equal(cfg->endpoint[1].port, 4500);
	assert_string_equal(cfg->endpoint[2].host, "2001:db8::7");
	assert_int_equal(cfg->endpoint[2].port, 51820);
	assert_int_equal(cfg->listen_port, 4500);
	config_free(cfg);
}

static void listen_forms_give_the_right_address_and_port(void **state)
{
	static const struct {
		const char *written, *parsed;
		int family;
	} cases[] = {
		{ "127.0.0.153", "127.0.0.153:53", AF_INET },
		{ "127.0.0.153:5353", "127.0.0.153:5353", AF_INET },
		{ "[::1]:53", "[::1]:53", AF_INET6 },
		{ "[::1]", "[::1]:53", AF_INET6 },
		{ "::1", "[::1]:53", AF_INET6 },
		{ "[2001:db8::1]:65535", "[2001:db8::1]:65535", AF_INET6 },
		{ "fd00:6d65:7368::1", "[fd00:6d65:7368::1]:53", AF_INET6 },
		{ "[::ffff:192.0.2.1]:1", "[::ffff:192.0.2.1]:1", AF_INET6 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *cfg = parse_one("listen", cases[i].written);

		assert_int_equal(cfg->n_listen, 1);
		assert_int_equal(cfg->listen[0].ss_family, cases[i].family);
		assert_string_equal(addr(&cfg->listen[0]), cases[i].parsed);
		config_free(cfg);
	}
}

static void the_first_listen_replaces_the_default_listener(void **state)
{
	struct config *cfg = parse_ok("listen 127.0.0.2\nlisten 127.0.0.3:54\n");

	(void)state;
	assert_int_equal(cfg->n_listen, 2);
	assert_string_equal(addr(&cfg->listen[0]), "127.0.0.2:53");
	assert_string_equal(addr(&cfg->listen[1]), "127.0.0.3:54");
	assert_true(cfg->listen_mesh);
	config_free(cfg);
}

static void a_wildcard_listen_is_accepted_when_written(void **state)
{
	struct config *cfg = parse_ok("listen 0.0.0.0\nlisten [::]:53\n");

	(void)state;
	assert_string_equal(addr(&cfg->listen[0]), "0.0.0.0:53");
	assert_string_equal(addr(&cfg->listen[1]), "[::]:53");
	config_free(cfg);
}

static void ports_0_and_65536_are_rejected(void **state)
{
	(void)state;
	assert_parse_error("listen 127.0.0.1:0\n", "test.conf:1: listen: invalid port \"0\" in "
						   "\"127.0.0.1:0\" (1 to 65535)");
	assert_parse_error("listen [::1]:65536\n", "test.conf:1: listen: invalid port \"65536\" in "
						   "\"[::1]:65536\" (1 to 65535)");
	assert_parse_error("upstream 192.0.2.1:0\n", "test.conf:1: upstream: invalid port \"0\" "
						     "in \"192.0.2.1:0\" (1 to 65535)");
	assert_parse_error("upstream 192.0.2.1:+53\n", "test.conf:1: upstream: invalid port "
						       "\"+53\" in \"192.0.2.1:+53\" (1 to "
						       "65535)");
	assert_parse_error("listen-port 0\n",
			   "test.conf:1: listen-port must be a number from 1 to 65535, not \"0\"");
	assert_parse_error("listen-port 65536\n", "test.conf:1: listen-port must be a number from "
						  "1 to 65535, not \"65536\"");
	assert_parse_error("endpoint 192.0.2.1:0\n", "test.conf:1: endpoint: invalid port \"0\" "
						     "in \"192.0.2.1:0\" (1 to 65535)");
}

static void bad_addresses_are_rejected(void **state)
{
	static const char *const bad[] = {
		"[127.0.0.1]:53", /* brackets are for IPv6 */
		"[::1",           /* no closing bracket */
		"[::1]53",        /* no ':' after the bracket */
		"[::1]:",         /* empty port */
		"[]:53",          /* empty address */
		"127.0.0.1:",     /* empty port */
		"127.1",          /* inet_aton would take it; we do not */
		"localhost",      /* names would need the resolver itself */
		"fe80::1%eth0",   /* scoped addresses are not supported */
		"1.2.3.4.5",      "::1::2",
	};
	char text[256], expected[512];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "listen %s\n", bad[i]);
		snprintf(expected, sizeof(expected),
			 "test.conf:1: listen: invalid address \"%s\" (an IPv4 or IPv6 address, "
			 "optionally with a port: 192.0.2.1:53, [2001:db8::1]:53)",
			 bad[i]);
		assert_parse_error(text, expected);
	}
	/* "1.2.3.4:53:53": two colons, so a bare IPv6 address, which it is not. */
	assert_parse_error("upstream 1.2.3.4:53:53\n",
			   "test.conf:1: upstream: invalid address \"1.2.3.4:53:53\" (an IPv4 or "
			   "IPv6 address, optionally with a port: 192.0.2.1:53, [2001:db8::1]:53)");
}

static void duplicate_addresses_are_rejected_whatever_the_spelling(void **state)
{
	(void)state;
	assert_parse_error("listen ::1\nlisten [0::1]:53\n",
			   "test.conf:2: duplicate listen address [::1]:53");
	assert_parse_error("upstream 192.0.2.1\nupstream 192.0.2.1:53\n",
			   "test.conf:2: duplicate upstream address 192.0.2.1:53");
	/* Same address, another port: two listeners. */
	struct config *cfg = parse_ok("listen 127.0.0.1\nlisten 127.0.0.1:5353\n");

	assert_int_equal(cfg->n_listen, 2);
	config_free(cfg);
}

static void sixteen_listeners_fit_and_a_seventeenth_does_not(void **state)
{
	char text[2048];
	size_t n = 0;
	struct config *cfg;

	(void)state;
	for (int i = 1; i <= CONFIG_MAX_LISTEN; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "listen 127.0.0.%d\n", i);
	cfg = parse_ok(text);
	assert_int_equal(cfg->n_listen, CONFIG_MAX_LISTEN);
	config_free(cfg);
	snprintf(text + n, sizeof(text) - n, "listen 127.0.0.99\n");
	assert_parse_error(text, "test.conf:17: too many listen addresses (at most 16)");

	n = 0;
	for (int i = 1; i <= CONFIG_MAX_UPSTREAM; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "upstream 192.0.2.%d\n", i);
	cfg = parse_ok(text);
	assert_int_equal(cfg->n_upstream, CONFIG_MAX_UPSTREAM);
	config_free(cfg);
	snprintf(text + n, sizeof(text) - n, "upstream 192.0.2.99\n");
	assert_parse_error(text, "test.conf:17: too many upstream addresses (at most 16)");

	n = 0;
	for (int i = 1; i <= CONFIG_MAX_ENDPOINT; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "endpoint 192.0.2.%d:51820\n", i);
	cfg = parse_ok(text);
	assert_int_equal(cfg->n_endpoint, CONFIG_MAX_ENDPOINT);
	config_free(cfg);
	snprintf(text + n, sizeof(text) - n, "endpoint 192.0.2.99:51820\n");
	assert_parse_error(text, "test.conf:17: too many endpoint entries (at most 16)");
}

static void a_wildcard_upstream_is_rejected(void **state)
{
	(void)state;
	assert_parse_error("upstream 0.0.0.0\n",
			   "test.conf:1: upstream 0.0.0.0:53 is a wildcard address, not a server");
	assert_parse_error("upstream [::]:5353\n",
			   "test.conf:1: upstream [::]:5353 is a wildcard address, not a server");
}

static void numbers_are_checked_for_range_and_form(void **state)
{
	static const struct {
		const char *keyword, *value, *range;
	} bad[] = {
		{ "ttl", "0", "1 to 86400" },
		{ "ttl", "86401", "1 to 86400" },
		{ "ttl", "-1", "1 to 86400" },
		{ "ttl", "+5", "1 to 86400" },
		{ "ttl", "0x10", "1 to 86400" },
		{ "ttl", "30s", "1 to 86400" },
		{ "ttl", "99999999999999999999999", "1 to 86400" },
		{ "negative-ttl", "86401", "0 to 86400" },
		{ "negative-ttl", "five", "0 to 86400" },
		{ "cache-size", "10000001", "0 to 10000000" },
		{ "cache-size", "1e4", "0 to 10000000" },
	};
	char text[128], expected[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "%s %s\n", bad[i].keyword, bad[i].value);
		snprintf(expected, sizeof(expected),
			 "test.conf:1: %s must be a number from %s, not \"%s\"", bad[i].keyword,
			 bad[i].range, bad[i].value);
		assert_parse_error(text, expected);
	}
}

static void numbers_at_their_limits_are_accepted(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = parse_ok("ttl 1\nnegative-ttl 0\ncache-size 0\nlisten-port 1\n");
	assert_int_equal(cfg->ttl, 1);
	assert_int_equal(cfg->negative_ttl, 0);
	assert_int_equal(cfg->cache_size, 0);
	assert_int_equal(cfg->listen_port, 1);
	config_free(cfg);
	cfg = parse_ok("ttl 86400\nnegative-ttl 86400\ncache-size 10000000\nlisten-port 65535\n");
	assert_int_equal(cfg->ttl, 86400);
	assert_int_equal(cfg->negative_ttl, 86400);
	assert_int_equal(cfg->cache_size, 10000000);
	assert_int_equal(cfg->listen_port, 65535);
	config_free(cfg);
	cfg = parse_ok("ttl 0060\n");
	assert_int_equal(cfg->ttl, 60);
	config_free(cfg);
}

static void yes_and_no_are_strict(void **state)
{
	static const char *const keywords[] = { "forward", "serve-stale", "listen-mesh" };
	static const char *const bad[] = { "Yes", "NO", "true", "1", "on", "y" };
	char text[64], expected[128];

	(void)state;
	for (size_t k = 0; k < 3; k++) {
		struct config *cfg = parse_one(keywords[k], "no");

		config_free(cfg);
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			snprintf(text, sizeof(text), "%s %s\n", keywords[k], bad[i]);
			snprintf(expected, sizeof(expected),
				 "test.conf:1: %s must be yes or no, not \"%s\"", keywords[k],
				 bad[i]);
			assert_parse_error(text, expected);
		}
	}
}

static void paths_must_be_absolute(void **state)
{
	(void)state;
	assert_parse_error("state var/lib/meshname\n",
			   "test.conf:1: state must be an absolute path, not \"var/lib/meshname\"");
	assert_parse_error("control control.sock\n",
			   "test.conf:1: control must be an absolute path, not \"control.sock\"");
}

static void the_control_socket_path_must_fit_sun_path(void **state)
{
	char text[256];
	struct config *cfg;

	(void)state;
	memcpy(text, "control /", 9);
	memset(text + 9, 's', 106); /* 107 bytes of path */
	memcpy(text + 115, "\n", 2);
	cfg = parse_ok(text);
	assert_int_equal(strlen(cfg->control), 107);
	config_free(cfg);
	memcpy(text + 115, "s\n", 3);
	assert_parse_error(text, "test.conf:1: control: a socket path has at most 107 bytes");
}

static void control_group_takes_a_name_or_a_gid(void **state)
{
	struct config *cfg = parse_one("control-group", "1000");

	(void)state;
	assert_string_equal(cfg->control_group, "1000");
	config_free(cfg);
	cfg = parse_one("control-group", "mesh_admins");
	assert_string_equal(cfg->control_group, "mesh_admins");
	config_free(cfg);
	assert_parse_error("control-group -wheel\n",
			   "test.conf:1: control-group: invalid group \"-wheel\"");
	assert_parse_error("control-group a:b\n",
			   "test.conf:1: control-group: invalid group \"a:b\"");
	assert_parse_error("control-group 4294967295\n",
			   "test.conf:1: control-group: invalid group \"4294967295\"");
}

static void interface_names_follow_the_kernel_rules(void **state)
{
	struct config *cfg = parse_one("interface", "abcdefghijklmno"); /* 15 bytes */

	(void)state;
	assert_string_equal(cfg->interface, "abcdefghijklmno");
	config_free(cfg);
	assert_parse_error(
		"interface abcdefghijklmnop\n",
		"test.conf:1: interface: invalid interface name \"abcdefghijklmnop\" (1 to "
		"15 bytes, no '/' or ':')");
	assert_parse_error("interface wg/0\n", "test.conf:1: interface: invalid interface name "
					       "\"wg/0\" (1 to 15 bytes, no '/' or ':')");
	assert_parse_error("interface ..\n", "test.conf:1: interface: invalid interface name "
					     "\"..\" (1 to 15 bytes, no '/' or ':')");
}

static void manage_and_on_exit_take_their_words(void **state)
{
	struct config *cfg = parse_one("manage", "peers");

	(void)state;
	assert_int_equal(cfg->manage, CONFIG_MANAGE_PEERS);
	config_free(cfg);
	cfg = parse_one("manage", "no");
	assert_int_equal(cfg->manage, CONFIG_MANAGE_NO);
	config_free(cfg);
	cfg = parse_one("on-exit", "keep");
	assert_int_equal(cfg->on_exit, CONFIG_ON_EXIT_KEEP);
	config_free(cfg);
	assert_parse_error("manage all\n",
			   "test.conf:1: manage must be yes, peers or no, not \"all\"");
	assert_parse_error("on-exit delete\n",
			   "test.conf:1: on-exit must be keep or remove, not \"delete\"");
}

static void userspace_is_an_absolute_path_or_a_command_name(void **state)
{
	struct config *cfg = parse_one("userspace", "wireguard-go");

	(void)state;
	assert_string_equal(cfg->userspace, "wireguard-go");
	config_free(cfg);
	cfg = parse_one("userspace", "/usr/bin/boringtun-cli");
	assert_string_equal(cfg->userspace, "/usr/bin/boringtun-cli");
	config_free(cfg);
	assert_parse_error("userspace bin/wireguard-go\n",
			   "test.conf:1: userspace must be an absolute path or a command name, not "
			   "\"bin/wireguard-go\"");
}

static void endpoints_need_a_port_and_a_valid_host(void **state)
{
	static const char *const bad[] = {
		"-vpn.example.org:1",  "vpn-.example.org:1", "vpn..example.org:1",
		"vpn_1.example.org:1", "192.0.2:51820",      "[vpn.example.org]:1",
		"vpn.example.org.:1",
	};
	char text[128], expected[256];
	struct config *cfg;

	(void)state;
	cfg = parse_one("endpoint", "a-1.b2.example:65535");
	assert_string_equal(cfg->endpoint[0].host, "a-1.b2.example");
	assert_int_equal(cfg->endpoint[0].port, 65535);
	config_free(cfg);
	cfg = parse_one("endpoint", "[2001:0db8:0::0:7]:01");
	assert_string_equal(cfg->endpoint[0].host, "2001:db8::7");
	assert_int_equal(cfg->endpoint[0].port, 1);
	config_free(cfg);
	assert_parse_error("endpoint vpn.example.org\n",
			   "test.conf:1: endpoint \"vpn.example.org\" needs a port (HOST:PORT or "
			   "[IPv6]:PORT)");
	assert_parse_error("endpoint 2001:db8::1\n",
			   "test.conf:1: endpoint \"2001:db8::1\" needs a "
			   "port (HOST:PORT or [IPv6]:PORT)");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "endpoint %s\n", bad[i]);
		snprintf(expected, sizeof(expected),
			 "test.conf:1: endpoint: invalid endpoint \"%s\" (HOST:PORT with an IPv4 "
			 "address, a DNS name or [IPv6])",
			 bad[i]);
		assert_parse_error(text, expected);
	}
	assert_parse_error("endpoint 192.0.2.1:51820\nendpoint 192.0.2.1:51820\n",
			   "test.conf:2: duplicate endpoint 192.0.2.1:51820");
	/* One endpoint however it is spelled; another port is another endpoint. */
	assert_parse_error("endpoint vpn.example.org:1\nendpoint VPN.Example.org:1\n",
			   "test.conf:2: duplicate endpoint VPN.Example.org:1");
	assert_parse_error("endpoint [2001:db8::1]:1\nendpoint [2001:0db8:0::1]:001\n",
			   "test.conf:2: duplicate endpoint [2001:0db8:0::1]:001");
	cfg = parse_ok("endpoint vpn.example.org:1\nendpoint vpn.example.org:2\n");
	assert_int_equal(cfg->n_endpoint, 2);
	config_free(cfg);
}

static void lan_prefixes_and_publish_endpoints_parse_and_print_back(void **state)
{
	struct config *cfg, *back;
	char *text;

	(void)state;
	cfg = parse_ok("publish-endpoints no\nlan-prefix 198.51.100.0/24\n"
		       "lan-prefix 2001:db8:1::/48\nlan-prefix 0.0.0.0/0\n");
	assert_false(cfg->publish_endpoints);
	assert_int_equal(cfg->n_lan_prefix, 3);
	assert_int_equal(cfg->lan_prefix[0].family, AF_INET);
	assert_int_equal(cfg->lan_prefix[0].len, 24);
	assert_int_equal(cfg->lan_prefix[0].addr[0], 198);
	assert_int_equal(cfg->lan_prefix[1].family, AF_INET6);
	assert_int_equal(cfg->lan_prefix[1].len, 48);
	text = print_to_string(cfg);
	assert_non_null(strstr(text, "publish-endpoints no\nlan-prefix 198.51.100.0/24\n"
				     "lan-prefix 2001:db8:1::/48\nlan-prefix 0.0.0.0/0\n"));
	back = parse_ok(text);
	assert_config_equal(cfg, back);
	free(text);
	config_free(back);
	config_free(cfg);
	assert_parse_error("lan-prefix 198.51.100.1/24\n",
			   "test.conf:1: lan-prefix 198.51.100.1/24 has bits set after the prefix "
			   "length (write the network address)");
	assert_parse_error(
		"lan-prefix 198.51.100.0\n",
		"test.conf:1: lan-prefix: invalid prefix \"198.51.100.0\" (ADDRESS/LENGTH: "
		"198.51.100.0/24, 2001:db8:1::/48)");
	assert_parse_error("lan-prefix 198.51.100.0/33\n",
			   "test.conf:1: lan-prefix: invalid prefix \"198.51.100.0/33\" "
			   "(ADDRESS/LENGTH: 198.51.100.0/24, 2001:db8:1::/48)");
	assert_parse_error("lan-prefix 2001:db8::/129\n",
			   "test.conf:1: lan-prefix: invalid prefix \"2001:db8::/129\" "
			   "(ADDRESS/LENGTH: 198.51.100.0/24, 2001:db8:1::/48)");
	assert_parse_error("lan-prefix 10.0.0.0/8\nlan-prefix 10.0.0.0/8\n",
			   "test.conf:2: duplicate lan-prefix 10.0.0.0/8");
	assert_parse_error("publish-endpoints maybe\n",
			   "test.conf:1: publish-endpoints must be yes or no, not \"maybe\"");
	assert_parse_error("resolved maybe\n",
			   "test.conf:1: resolved must be auto, yes or no, not \"maybe\"");
}

static void sync_keywords_parse_and_print_back(void **state)
{
	struct config *cfg, *back;
	char *text;

	(void)state;
	cfg = parse_ok("");
	assert_true(cfg->sync);
	assert_int_equal(cfg->sync_port, 51821);
	assert_true(cfg->sync_beacon);
	config_free(cfg);
	cfg = parse_ok("sync yes\nsync-port 4000\nsync-beacon no # LAN discovery off\n");
	assert_true(cfg->sync);
	assert_int_equal(cfg->sync_port, 4000);
	assert_false(cfg->sync_beacon);
	text = print_to_string(cfg);
	assert_non_null(strstr(text, "sync yes\nsync-port 4000\nsync-beacon no\n"));
	back = parse_ok(text);
	assert_config_equal(cfg, back);
	free(text);
	config_free(back);
	config_free(cfg);
	/* sync no: the other two are written as comments, and the text parses back. */
	cfg = parse_ok("sync no\n");
	assert_false(cfg->sync);
	text = print_to_string(cfg);
	assert_non_null(strstr(text, "sync no\n# sync-port 51821\n# sync-beacon yes\n"));
	back = parse_ok(text);
	assert_config_equal(cfg, back);
	free(text);
	config_free(back);
	config_free(cfg);
}

static void broken_sync_lines_are_refused_with_their_line(void **state)
{
	(void)state;
	assert_parse_error("sync maybe\n", "test.conf:1: sync must be yes or no, not \"maybe\"");
	assert_parse_error("sync\n", "test.conf:1: missing value for \"sync\"");
	assert_parse_error("sync yes no\n",
			   "test.conf:1: unexpected \"no\" after the value of \"sync\"");
	assert_parse_error("sync yes\nsync no\n",
			   "test.conf:2: duplicate keyword \"sync\" (first set on line 1)");
	assert_parse_error("sync-port 0\n",
			   "test.conf:1: sync-port must be a number from 1 to 65535, not \"0\"");
	assert_parse_error(
		"sync-port 65536\n",
		"test.conf:1: sync-port must be a number from 1 to 65535, not \"65536\"");
	assert_parse_error("sync-port -1\n",
			   "test.conf:1: sync-port must be a number from 1 to 65535, not \"-1\"");
	assert_parse_error("sync-port 0x51\n",
			   "test.conf:1: sync-port must be a number from 1 to 65535, not \"0x51\"");
	assert_parse_error("sync-beacon often\n",
			   "test.conf:1: sync-beacon must be yes or no, not \"often\"");
	/* Settings that would mean nothing are refused, at the later of the two lines. */
	assert_parse_error("sync-port 4000\n\nsync no\n",
			   "test.conf:3: sync-port applies only with sync yes, but sync is no "
			   "(line 3)");
	assert_parse_error("sync no\nsync-beacon no\n",
			   "test.conf:2: sync-beacon applies only with sync yes, but sync is no "
			   "(line 1)");
	/* WireGuard's UDP port and the beacons' must differ (TCP sync alone does not mind). */
	assert_parse_error("listen-port 51821\n",
			   "test.conf:1: listen-port and sync-port are both 51821: WireGuard and "
			   "the LAN beacons would share that UDP port (set another sync-port, or "
			   "sync-beacon no)");
	assert_parse_error("sync-port 4000\n\nlisten-port 4000\n",
			   "test.conf:3: listen-port and sync-port are both 4000: WireGuard and "
			   "the LAN beacons would share that UDP port (set another sync-port, or "
			   "sync-beacon no)");
	config_free(parse_ok("listen-port 51821\nsync-beacon no\n"));
	config_free(parse_ok("listen-port 51821\nsync no\n"));
	config_free(parse_ok("listen-port 51821\nmanage no\n"));
}

static void an_endpoint_name_longer_than_253_bytes_is_rejected(void **state)
{
	char name[300], text[400], expected[512];
	struct config *cfg;

	(void)state;
	/* Four labels of 62 bytes and dots: 251 bytes, then "a.b" makes 253 ... or more. */
	memset(name, 'a', sizeof(name));
	for (int i = 62; i < 250; i += 63)
		name[i] = '.';
	memcpy(name + 251, ".b", 3); /* 253 bytes */
	snprintf(text, sizeof(text), "endpoint %s:1\n", name);
	cfg = parse_ok(text);
	assert_int_equal(strlen(cfg->endpoint[0].host), 253);
	config_free(cfg);
	memcpy(name + 251, ".bc", 4); /* 254 bytes */
	snprintf(text, sizeof(text), "endpoint %s:1\n", name);
	snprintf(expected, sizeof(expected),
		 "test.conf:1: endpoint: invalid endpoint \"%.64s...\" (HOST:PORT with an IPv4 "
		 "address, a DNS name or [IPv6])",
		 name);
	assert_parse_error(text, expected);
}

/* ---- checks between keywords ------------------------------------------------------- */

static void upstreams_with_forward_no_are_an_error(void **state)
{
	(void)state;
	assert_parse_error("upstream 192.0.2.1\nttl 5\nforward no\n",
			   "test.conf:3: upstream is set (line 1) but forward is no (line 3)");
	assert_parse_error("forward no\nupstream 192.0.2.1\nupstream 192.0.2.2\n",
			   "test.conf:2: upstream is set (line 2) but forward is no (line 1)");
}

static void serve_stale_needs_a_cache(void **state)
{
	struct config *cfg;

	(void)state;
	assert_parse_error(
		"serve-stale yes\ncache-size 0\n",
		"test.conf:2: serve-stale yes needs a cache, but cache-size is 0 (line 2)");
	/* Left at its default, serve-stale follows the cache. */
	cfg = parse_ok("cache-size 0\n");
	assert_false(cfg->serve_stale);
	config_free(cfg);
	cfg = parse_ok("cache-size 0\nserve-stale no\n");
	assert_false(cfg->serve_stale);
	config_free(cfg);
}

static void on_exit_and_userspace_need_manage_yes(void **state)
{
	(void)state;
	assert_parse_error("on-exit remove\nmanage peers\n",
			   "test.conf:2: on-exit applies only with manage yes, but manage is peers "
			   "(line 2)");
	assert_parse_error("manage no\n\nuserspace wireguard-go\n",
			   "test.conf:3: userspace applies only with manage yes, but manage is no "
			   "(line 1)");
}

/* ---- parser life cycle ------------------------------------------------------------- */

static void a_broken_line_in_the_middle_leaves_no_config(void **state)
{
	struct config_parser *p = config_parser_new("/etc/meshname/meshnamed.conf");
	struct config *cfg = (struct config *)&cfg; /* must be overwritten with NULL */

	(void)state;
	assert_non_null(p);
	assert_string_equal(config_parser_error(p), "");
	assert_int_equal(config_parser_line(p, "ttl 60\n", 7), 0);
	assert_int_equal(config_parser_line(p, "ttl sixty\n", 10), -EINVAL);
	/* Sticky: later lines, good or bad, neither run nor change the message. */
	assert_int_equal(config_parser_line(p, "forward no\n", 11), -EINVAL);
	assert_int_equal(config_parser_line(p, "bogus\n", 6), -EINVAL);
	assert_int_equal(config_parser_finish(p, &cfg), -EINVAL);
	assert_null(cfg);
	assert_string_equal(config_parser_error(p),
			    "/etc/meshname/meshnamed.conf:2: duplicate keyword \"ttl\" (first set "
			    "on line 1)");
	config_parser_free(p);
}

static void finish_hands_out_the_config_once(void **state)
{
	struct config_parser *p = config_parser_new(NULL);
	struct config *cfg, *again;

	(void)state;
	assert_non_null(p);
	assert_int_equal(config_parser_line(p, "ttl 7", 5), 0);
	assert_int_equal(config_parser_finish(p, &cfg), 0);
	assert_int_equal(cfg->ttl, 7);
	assert_int_equal(config_parser_finish(p, &again), -EINVAL);
	assert_null(again);
	assert_string_equal(config_parser_error(p), "-:1: the config was already handed out");
	assert_int_equal(config_parser_line(p, "ttl 8", 5), -EINVAL);
	config_parser_free(p);
	assert_int_equal(cfg->ttl, 7); /* the caller's config outlives the parser */
	config_free(cfg);
}

static void free_functions_accept_null(void **state)
{
	(void)state;
	config_free(NULL);
	config_parser_free(NULL);
}

/* ---- printing ---------------------------------------------------------------------- */

static void print_then_parse_gives_the_defaults_back(void **state)
{
	struct config *cfg = config_new_defaults();

	(void)state;
	assert_round_trip(cfg);
	config_free(cfg);
}

static void print_then_parse_gives_a_full_config_back(void **state)
{
	struct config *cfg = parse_ok(full_text);

	(void)state;
	assert_round_trip(cfg);
	config_free(cfg);
}

static void print_then_parse_works_without_manage_yes(void **state)
{
	struct config *cfg = parse_ok("manage peers\nforward no\ncache-size 0\ncontrol-group 0\n");
	char *text;

	(void)state;
	assert_round_trip(cfg);
	text = print_to_string(cfg);
	/* on-exit cannot be set without manage yes, so it is printed as a comment. */
	assert_non_null(strstr(text, "\n# on-exit keep\n"));
	assert_non_null(strstr(text, "\nmanage peers\n"));
	assert_non_null(strstr(text, "\nserve-stale no\n"));
	free(text);
	config_free(cfg);
}

static void print_writes_the_effective_values(void **state)
{
	struct config *cfg = config_new_defaults();
	char *text = print_to_string(cfg);

	(void)state;
	assert_string_equal(text, "state /var/lib/meshname\n"
				  "control /run/meshname/control.sock\n"
				  "# control-group: none, only root may use privileged verbs\n"
				  "listen 127.0.0.153:53\n"
				  "listen-mesh yes\n"
				  "# upstream: none, the servers in resolv.conf are used\n"
				  "forward yes\n"
				  "ttl 30\n"
				  "negative-ttl 5\n"
				  "cache-size 10000\n"
				  "serve-stale yes\n"
				  "resolved auto\n"
				  "interface mesh0\n"
				  "manage yes\n"
				  "on-exit keep\n"
				  "# userspace: none, the kernel's WireGuard\n"
				  "# endpoint: none, only the addresses found on the interfaces\n"
				  "listen-port 51820\n"
				  "publish-endpoints yes\n"
				  "# lan-prefix: none, only private ranges are published as lan\n"
				  "sync yes\n"
				  "sync-port 51821\n"
				  "sync-beacon yes\n");
	free(text);
	config_free(cfg);
}

static void addresses_print_with_brackets_for_ipv6(void **state)
{
	struct sockaddr_storage ss;
	char buf[CONFIG_ADDR_STRLEN];

	(void)state;
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_INET6;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	inet_pton(AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", &sin6->sin6_addr);
	sin6->sin6_port = htons(65535);
	assert_string_equal(config_addr_str(&ss, buf, sizeof(buf)),
			    "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
	ss.ss_family = AF_UNIX;
	assert_string_equal(config_addr_str(&ss, buf, sizeof(buf)), "(unknown address family 1)");
}

/* ---- config_load on real files ----------------------------------------------------- */

struct dir {
	char path[64];
};

static int dir_setup(void **state)
{
	struct dir *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return -1;
	snprintf(d->path, sizeof(d->path), "/tmp/test_config.XXXXXX");
	if (mkdtemp(d->path) == NULL) {
		free(d);
		return -1;
	}
	*state = d;
	return 0;
}

static int dir_teardown(void **state)
{
	struct dir *d = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->path);
	if (system(cmd) != 0)
		return -1;
	free(d);
	return 0;
}

static const char *write_file(struct dir *d, const char *name, const char *text, size_t len)
{
	static char path[128];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", d->path, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	return path;
}

static void load_reads_a_file(void **state)
{
	static const char text[] =
		"# meshnamed.conf\nttl 90\nlisten [::1]:5353\nupstream 192.0.2.1";
	const char *path = write_file(*state, "ok.conf", text, sizeof(text) - 1);
	char err[CONFIG_ERROR_MAX];
	struct config *cfg;

	assert_int_equal(config_load(path, 0, &cfg, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(cfg->ttl, 90);
	assert_string_equal(addr(&cfg->listen[0]), "[::1]:5353");
	assert_string_equal(addr(&cfg->upstream[0]), "192.0.2.1:53");
	config_free(cfg);
}

static void load_reports_the_file_and_line_of_an_error(void **state)
{
	static const char text[] = "ttl 30\n\nlisten 127.0.0.1:99999\nttl 40\n";
	char path[128], err[CONFIG_ERROR_MAX], expected[CONFIG_ERROR_MAX];
	struct config *cfg = (struct config *)&cfg;

	snprintf(path, sizeof(path), "%s", write_file(*state, "bad.conf", text, sizeof(text) - 1));
	assert_int_equal(config_load(path, CONFIG_OPTIONAL, &cfg, err, sizeof(err)), -EINVAL);
	assert_null(cfg);
	snprintf(expected, sizeof(expected),
		 "%s:3: listen: invalid port \"99999\" in \"127.0.0.1:99999\" (1 to 65535)", path);
	assert_string_equal(err, expected);
}

static void load_rejects_a_huge_line_without_reading_it_all(void **state)
{
	size_t len = 100000;
	char *text = malloc(len);
	char path[128], err[CONFIG_ERROR_MAX], expected[CONFIG_ERROR_MAX];
	struct config *cfg;

	assert_non_null(text);
	memcpy(text, "ttl 1\n# ", 8);
	memset(text + 8, 'x', len - 9);
	text[len - 1] = '\n';
	snprintf(path, sizeof(path), "%s", write_file(*state, "long.conf", text, len));
	free(text);
	assert_int_equal(config_load(path, 0, &cfg, err, sizeof(err)), -EINVAL);
	snprintf(expected, sizeof(expected), "%s:2: line too long (more than 1024 bytes)", path);
	assert_string_equal(err, expected);
}

static void load_sees_a_nul_byte(void **state)
{
	static const char text[] = "ttl 30\0\n";
	char path[128], err[CONFIG_ERROR_MAX], expected[CONFIG_ERROR_MAX];
	struct config *cfg;

	snprintf(path, sizeof(path), "%s", write_file(*state, "nul.conf", text, sizeof(text) - 1));
	assert_int_equal(config_load(path, 0, &cfg, err, sizeof(err)), -EINVAL);
	snprintf(expected, sizeof(expected), "%s:1: control character 0x00 in column 7", path);
	assert_string_equal(err, expected);
}

static void a_missing_explicit_file_is_an_error(void **state)
{
	struct dir *d = *state;
	char path[128], err[CONFIG_ERROR_MAX], expected[CONFIG_ERROR_MAX];
	struct config *cfg = (struct config *)&cfg;

	snprintf(path, sizeof(path), "%s/missing.conf", d->path);
	assert_int_equal(config_load(path, 0, &cfg, err, sizeof(err)), -ENOENT);
	assert_null(cfg);
	snprintf(expected, sizeof(expected), "%s: No such file or directory", path);
	assert_string_equal(err, expected);
}

static void a_missing_default_file_gives_the_defaults(void **state)
{
	struct dir *d = *state;
	char path[128], err[CONFIG_ERROR_MAX];
	struct config *cfg, *defaults = config_new_defaults();

	snprintf(path, sizeof(path), "%s/missing.conf", d->path);
	assert_int_equal(config_load(path, CONFIG_OPTIONAL, &cfg, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_config_equal(cfg, defaults);
	config_free(cfg);
	config_free(defaults);
}

static void a_directory_is_not_a_config_file(void **state)
{
	struct dir *d = *state;
	char err[CONFIG_ERROR_MAX], expected[CONFIG_ERROR_MAX];
	struct config *cfg;

	assert_int_equal(config_load(d->path, CONFIG_OPTIONAL, &cfg, err, sizeof(err)), -EISDIR);
	assert_null(cfg);
	snprintf(expected, sizeof(expected), "%s: read error: Is a directory", d->path);
	assert_string_equal(err, expected);
}

static void an_unopenable_file_is_an_error_even_when_optional(void **state)
{
	char path[128], err[CONFIG_ERROR_MAX], expected[CONFIG_ERROR_MAX];
	struct config *cfg;

	/* Only a missing file falls back to the defaults; any other failure is reported. */
	snprintf(path, sizeof(path), "%s/x", write_file(*state, "plain.conf", "ttl 1\n", 6));
	assert_int_equal(config_load(path, CONFIG_OPTIONAL, &cfg, err, sizeof(err)), -ENOTDIR);
	assert_null(cfg);
	snprintf(expected, sizeof(expected), "%s: Not a directory", path);
	assert_string_equal(err, expected);
}

static void load_works_without_an_error_buffer(void **state)
{
	struct dir *d = *state;
	char path[128];
	struct config *cfg;

	snprintf(path, sizeof(path), "%s/missing.conf", d->path);
	assert_int_equal(config_load(path, 0, &cfg, NULL, 0), -ENOENT);
	assert_null(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_are_the_documented_ones),
		cmocka_unit_test(empty_file_gives_the_defaults),
		cmocka_unit_test(comments_blank_lines_and_whitespace_are_ignored),
		cmocka_unit_test(a_hash_inside_a_value_is_part_of_it),
		cmocka_unit_test(crlf_line_endings_are_accepted),
		cmocka_unit_test(a_carriage_return_inside_a_line_is_rejected),
		cmocka_unit_test(control_characters_and_nul_are_rejected),
		cmocka_unit_test(a_last_line_without_newline_is_parsed),
		cmocka_unit_test(a_line_of_1024_bytes_is_accepted_and_1025_is_not),
		cmocka_unit_test(unknown_keyword_is_an_error),
		cmocka_unit_test(a_long_word_is_cut_in_the_message),
		cmocka_unit_test(a_keyword_without_value_is_an_error),
		cmocka_unit_test(extra_words_after_the_value_are_an_error),
		cmocka_unit_test(a_single_valued_keyword_twice_is_an_error),
		cmocka_unit_test(every_keyword_sets_its_field),
		cmocka_unit_test(listen_forms_give_the_right_address_and_port),
		cmocka_unit_test(the_first_listen_replaces_the_default_listener),
		cmocka_unit_test(a_wildcard_listen_is_accepted_when_written),
		cmocka_unit_test(ports_0_and_65536_are_rejected),
		cmocka_unit_test(bad_addresses_are_rejected),
		cmocka_unit_test(duplicate_addresses_are_rejected_whatever_the_spelling),
		cmocka_unit_test(sixteen_listeners_fit_and_a_seventeenth_does_not),
		cmocka_unit_test(a_wildcard_upstream_is_rejected),
		cmocka_unit_test(numbers_are_checked_for_range_and_form),
		cmocka_unit_test(numbers_at_their_limits_are_accepted),
		cmocka_unit_test(yes_and_no_are_strict),
		cmocka_unit_test(paths_must_be_absolute),
		cmocka_unit_test(the_control_socket_path_must_fit_sun_path),
		cmocka_unit_test(control_group_takes_a_name_or_a_gid),
		cmocka_unit_test(interface_names_follow_the_kernel_rules),
		cmocka_unit_test(manage_and_on_exit_take_their_words),
		cmocka_unit_test(userspace_is_an_absolute_path_or_a_command_name),
		cmocka_unit_test(endpoints_need_a_port_and_a_valid_host),
		cmocka_unit_test(an_endpoint_name_longer_than_253_bytes_is_rejected),
		cmocka_unit_test(upstreams_with_forward_no_are_an_error),
		cmocka_unit_test(serve_stale_needs_a_cache),
		cmocka_unit_test(on_exit_and_userspace_need_manage_yes),
		cmocka_unit_test(a_broken_line_in_the_middle_leaves_no_config),
		cmocka_unit_test(finish_hands_out_the_config_once),
		cmocka_unit_test(free_functions_accept_null),
		cmocka_unit_test(print_then_parse_gives_the_defaults_back),
		cmocka_unit_test(print_then_parse_gives_a_full_config_back),
		cmocka_unit_test(print_then_parse_works_without_manage_yes),
		cmocka_unit_test(print_writes_the_effective_values),
		cmocka_unit_test(lan_prefixes_and_publish_endpoints_parse_and_print_back),
		cmocka_unit_test(sync_keywords_parse_and_print_back),
		cmocka_unit_test(broken_sync_lines_are_refused_with_their_line),
		cmocka_unit_test(addresses_print_with_brackets_for_ipv6),
		cmocka_unit_test_setup_teardown(load_reads_a_file, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(load_reports_the_file_and_line_of_an_error,
						dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(load_rejects_a_huge_line_without_reading_it_all,
						dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(load_sees_a_nul_byte, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(a_missing_explicit_file_is_an_error, dir_setup,
						dir_teardown),
		cmocka_unit_test_setup_teardown(a_missing_default_file_gives_the_defaults,
						dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(a_directory_is_not_a_config_file, dir_setup,
						dir_teardown),
		cmocka_unit_test_setup_teardown(an_unopenable_file_is_an_error_even_when_optional,
						dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(load_works_without_an_error_buffer, dir_setup,
						dir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
