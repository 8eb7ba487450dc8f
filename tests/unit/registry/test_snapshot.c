/*
 * test_snapshot.c: unit tests of the in-memory snapshot (src/registry/snapshot.c):
 * lookups by every key, copies that outlive the caller's buffers, rr ordering, the
 * refusal of duplicates and bad input, reference counting and allocation failures.
 * Run under SANITIZE=address,undefined, the leak and use-after-free checks are real.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "meshname/snapshot.h"

/* The fault-injection hook of snapshot.c: not part of the interface. */
void snapshot_test_fail_alloc_after(unsigned n);

static const uint8_t test_mesh_id[REC_ID_SIZE] = { 0xaa, 0xbb, 0xcc };

static void test_root(struct rec_root *root)
{
	memset(root, 0, sizeof(*root));
	snprintf(root->name, sizeof(root->name), "lab");
	snprintf(root->zone, sizeof(root->zone), "mesh");
	root->ipv4[0] = 100;
	root->ipv4[1] = 64;
	root->ipv4_len = 16;
	root->ipv6[0] = 0xfd;
	root->max_cert_lifetime = 86400;
	root->threshold = 1;
	root->n_admins = 1;
	root->admins[0][0] = 7;
}

static struct snapshot_builder *new_builder_or_null(void)
{
	struct rec_root root;

	test_root(&root);
	return snapshot_builder_new(&root, test_mesh_id, 42);
}

static struct snapshot_builder *new_builder(void)
{
	struct snapshot_builder *b = new_builder_or_null();

	assert_non_null(b);
	return b;
}

/* Host number i: distinct name, addresses and keys derived from i. */
static void host_fill(struct snapshot_host *h, char *name, size_t name_size, uint32_t i)
{
	memset(h, 0, sizeof(*h));
	snprintf(name, name_size, "host%u", i);
	h->name = name;
	h->ipv4[0] = 100;
	h->ipv4[1] = 64;
	h->ipv4[2] = (uint8_t)(i >> 8);
	h->ipv4[3] = (uint8_t)i;
	h->ipv6[0] = 0xfd;
	h->ipv6[12] = (uint8_t)(i >> 24);
	h->ipv6[13] = (uint8_t)(i >> 16);
	h->ipv6[14] = (uint8_t)(i >> 8);
	h->ipv6[15] = (uint8_t)i;
	h->host_key[0] = 1;
	memcpy(h->host_key + 28, &i, sizeof(i));
	h->wg_key[0] = 2;
	memcpy(h->wg_key + 28, &i, sizeof(i));
	h->serial = 1;
	h->not_before = 1000;
	h->not_after = 2000;
}

static void add_host_number(struct snapshot_builder *b, uint32_t i)
{
	struct snapshot_host h;
	char name[32];

	host_fill(&h, name, sizeof(name), i);
	assert_int_equal(snapshot_builder_add_host(b, &h), 0);
}

static void add_named_host(struct snapshot_builder *b, const char *name, uint32_t i)
{
	struct snapshot_host h;
	char unused[32];

	host_fill(&h, unused, sizeof(unused), i);
	h.name = name;
	assert_int_equal(snapshot_builder_add_host(b, &h), 0);
}

static struct snapshot *finish(struct snapshot_builder *b)
{
	struct snapshot *s = NULL;

	assert_int_equal(snapshot_builder_finish(b, &s), 0);
	assert_non_null(s);
	return s;
}

static void lookup_by_name_ignores_case(void **state)
{
	struct snapshot_builder *b = new_builder();
	struct snapshot *s;
	const struct snapshot_host *h;

	(void)state;
	add_named_host(b, "nas", 1);
	add_named_host(b, "Laptop", 2);
	s = finish(b);

	h = snapshot_lookup_name(s, "NaS", 3);
	assert_non_null(h);
	assert_string_equal(h->name, "nas");
	assert_int_equal(h->ipv4[3], 1);
	/* Stored lowercase, whatever case the caller gave. */
	h = snapshot_lookup_name(s, "laptop", 6);
	assert_non_null(h);
	assert_string_equal(h->name, "laptop");
	/* len counts: the bytes after it are not part of the name. */
	h = snapshot_lookup_name(s, "nasXYZ", 3);
	assert_non_null(h);
	assert_string_equal(h->name, "nas");
	snapshot_unref(s);
}

static void lookup_by_ipv4_ipv6_and_host_key_finds_the_host(void **state)
{
	struct snapshot_builder *b = new_builder();
	struct snapshot_host want;
	struct snapshot *s;
	const struct snapshot_host *h;
	char name[32];
	uint32_t i;

	(void)state;
	for (i = 1; i <= 50; i++)
		add_host_number(b, i);
	s = finish(b);

	host_fill(&want, name, sizeof(name), 17);
	h = snapshot_lookup_ipv4(s, want.ipv4);
	assert_non_null(h);
	assert_string_equal(h->name, "host17");
	h = snapshot_lookup_ipv6(s, want.ipv6);
	assert_non_null(h);
	assert_string_equal(h->name, "host17");
	h = snapshot_lookup_host_key(s, want.host_key);
	assert_non_null(h);
	assert_string_equal(h->name, "host17");
	assert_memory_equal(h->wg_key, want.wg_key, REC_KEY_SIZE);
	assert_int_equal(h->serial, 1);
	assert_int_equal(h->not_after, 2000);
	snapshot_unref(s);
}

static void lookups_of_missing_keys_return_null(void **state)
{
	struct snapshot_builder *b = new_builder();
	struct snapshot_host miss;
	struct snapshot *s;
	char name[32];
	uint32_t i;

	(void)state;
	for (i = 1; i <= 50; i++)
		add_host_number(b, i);
	add_named_host(b, "nas", 51);
	s = finish(b);

	assert_null(snapshot_lookup_name(s, "printer", 7));
	assert_null(snapshot_lookup_name(s, "na", 2));   /* a prefix of a name */
	assert_null(snapshot_lookup_name(s, "nass", 4)); /* a name is a prefix of it */
	assert_null(snapshot_lookup_name(s, "", 0));
	assert_null(snapshot_lookup_name(s, "n\0s", 3));
	host_fill(&miss, name, sizeof(name), 999);
	assert_null(snapshot_lookup_ipv4(s, miss.ipv4));
	assert_null(snapshot_lookup_ipv6(s, miss.ipv6));
	assert_null(snapshot_lookup_host_key(s, miss.host_key));
	/* An address of the right host but another family's bytes is still a miss. */
	miss.ipv6[0] = 0xfe;
	assert_null(snapshot_lookup_ipv6(s, miss.ipv6));
	snapshot_unref(s);
}

static void groups_and_endpoints_survive_the_callers_buffers(void **state)
{
	struct snapshot_builder *b = new_builder();
	struct snapshot_host h;
	struct snapshot *s;
	const struct snapshot_host *got;
	char *name = malloc(16);
	char *g1 = malloc(16), *g2 = malloc(16);
	const char **groups = malloc(2 * sizeof(*groups));
	struct rec_endpoint *eps = calloc(2, sizeof(*eps));

	(void)state;
	assert_non_null(name);
	assert_non_null(g1);
	assert_non_null(g2);
	assert_non_null(groups);
	assert_non_null(eps);
	host_fill(&h, name, 16, 5);
	snprintf(name, 16, "nas");
	snprintf(g1, 16, "admins");
	snprintf(g2, 16, "servers");
	groups[0] = g1;
	groups[1] = g2;
	h.n_groups = 2;
	h.groups = groups;
	eps[0] = (struct rec_endpoint){
		.kind = EP_LAN, .family = 4, .addr = { 192, 168, 1, 5 }, .port = 51820
	};
	eps[1] = (struct rec_endpoint){
		.kind = EP_PUBLIC, .family = 4, .addr = { 203, 0, 113, 9 }, .port = 4500
	};
	h.n_endpoints = 2;
	h.endpoints = eps;
	h.endpoints_seq = 7;
	h.endpoints_expires = 5000;
	h.listen_port = 51820;
	assert_int_equal(snapshot_builder_add_host(b, &h), 0);

	/* Scribble over everything, then free it: the snapshot must hold its own copies. */
	memset(name, 'x', 16);
	memset(g1, 'y', 16);
	memset(g2, 'z', 16);
	memset(eps, 0xee, 2 * sizeof(*eps));
	free(name);
	free(g1);
	free(g2);
	free(groups);
	free(eps);
	s = finish(b);

	got = snapshot_lookup_name(s, "nas", 3);
	assert_non_null(got);
	assert_int_equal(got->n_groups, 2);
	assert_string_equal(got->groups[0], "admins");
	assert_string_equal(got->groups[1], "servers");
	assert_int_equal(got->n_endpoints, 2);
	assert_int_equal(got->endpoints[0].kind, EP_LAN);
	assert_int_equal(got->endpoints[0].addr[3], 5);
	assert_int_equal(got->endpoints[0].port, 51820);
	assert_int_equal(got->endpoints[1].kind, EP_PUBLIC);
	assert_int_equal(got->endpoints[1].addr[0], 203);
	assert_int_equal(got->endpoints[1].port, 4500);
	assert_int_equal(got->endpoints_seq, 7);
	assert_int_equal(got->endpoints_expires, 5000);
	assert_int_equal(got->listen_port, 51820);
	snapshot_unref(s);
}

static void observations_survive_the_callers_buffers_and_are_bounded(void **state)
{
	struct snapshot_builder *b = new_builder();
	struct snapshot_host h;
	struct snapshot *s;
	const struct snapshot_host *got;
	struct snapshot_observation *obs = calloc(SNAPSHOT_MAX_OBSERVATIONS + 1, sizeof(*obs));
	char name[16];

	(void)state;
	assert_non_null(obs);
	for (size_t i = 0; i <= SNAPSHOT_MAX_OBSERVATIONS; i++) {
		obs[i].observer[0] = (uint8_t)(i + 1);
		obs[i].seen = (struct rec_endpoint){ .kind = EP_REFLEXIVE,
						     .family = 4,
						     .addr = { 198, 51, 100, (uint8_t)i },
						     .port = (uint16_t)(40000 + i) };
		obs[i].seq = i;
		obs[i].issued_at = 1000 - i;
		obs[i].expires_at = 2000 + i;
	}
	host_fill(&h, name, sizeof(name), 1);
	h.observations = obs;
	h.n_observations = SNAPSHOT_MAX_OBSERVATIONS + 1;
	assert_int_equal(snapshot_builder_add_host(b, &h), -EINVAL);
	h.observations = NULL;
	h.n_observations = 1;
	assert_int_equal(snapshot_builder_add_host(b, &h), -EINVAL);
	h.observations = obs;
	h.n_observations = SNAPSHOT_MAX_OBSERVATIONS;
	assert_int_equal(snapshot_builder_add_host(b, &h), 0);
	host_fill(&h, name, sizeof(name), 2); /* a host nobody observed */
	assert_int_equal(snapshot_builder_add_host(b, &h), 0);
	memset(obs, 0xee, (SNAPSHOT_MAX_OBSERVATIONS + 1) * sizeof(*obs));
	free(obs);
	s = finish(b);

	got = snapshot_lookup_name(s, "host1", 5);
	assert_non_null(got);
	assert_int_equal(got->n_observations, SNAPSHOT_MAX_OBSERVATIONS);
	for (size_t i = 0; i < SNAPSHOT_MAX_OBSERVATIONS; i++) {
		assert_int_equal(got->observations[i].observer[0], i + 1);
		assert_int_equal(got->observations[i].seen.kind, EP_REFLEXIVE);
		assert_int_equal(got->observations[i].seen.addr[3], i);
		assert_int_equal(got->observations[i].seen.port, 40000 + i);
		assert_int_equal(got->observations[i].seq, i);
		assert_int_equal(got->observations[i].issued_at, 1000 - i);
		assert_int_equal(got->observations[i].expires_at, 2000 + i);
	}
	got = snapshot_lookup_name(s, "host2", 5);
	assert_int_equal(got->n_observations, 0);
	assert_null(got->observations);
	snapshot_unref(s);
}

static void add_rr_bytes(struct snapshot_builder *b, const char *owner, uint16_t rrtype,
			 const char *rdata, size_t rdlen)
{
	struct snapshot_rr rr = {
		.owner = owner,
		.rrtype = rrtype,
		.ttl = 300,
		.rdlen = (uint16_t)rdlen,
		.rdata = (const uint8_t *)rdata,
	};

	assert_int_equal(snapshot_builder_add_rr(b, &rr), 0);
}

/* rdata is a string literal; its bytes may include NULs. */
#define add_rr(b, owner, rrtype, rdata) add_rr_bytes(b, owner, rrtype, rdata, sizeof(rdata) - 1)

static void rr_find_returns_every_rr_of_an_owner_and_only_those(void **state)
{
	struct snapshot_builder *b = new_builder();
	const struct snapshot_rr *first;
	struct snapshot *s;
	char owner[16];
	size_t n, i;

	(void)state;
	/* Given out of order, with owners that are prefixes of one another. */
	add_rr(b, "www", 16, "zz");
	add_rr(b, "ww", 1, "\x0a\x00\x00\x01");
	add_rr(b, "", 16, "apex");
	add_rr(b, "WWW", 1, "\x0a\x00\x00\x03");
	add_rr(b, "www.a", 1, "\x0a\x00\x00\x04");
	add_rr(b, "www", 1, "\x0a\x00\x00\x02");
	add_rr(b, "www", 16, "a");
	add_rr(b, "www", 16, "ab");
	add_rr(b, "wwwx", 1, "\x0a\x00\x00\x05");
	s = finish(b);
	assert_int_equal(snapshot_rr_count(s), 9);

	/* Copy the query into a buffer that does not end after the owner. */
	snprintf(owner, sizeof(owner), "wWwxyz");
	n = snapshot_rr_find(s, owner, 3, &first);
	assert_int_equal(n, 5);
	assert_non_null(first);
	for (i = 0; i < n; i++)
		assert_string_equal(first[i].owner, "www");
	/* (rrtype, rdata) order inside the owner; a shorter rdata sorts first. */
	assert_int_equal(first[0].rrtype, 1);
	assert_memory_equal(first[0].rdata, "\x0a\x00\x00\x02", 4);
	assert_int_equal(first[1].rrtype, 1);
	assert_memory_equal(first[1].rdata, "\x0a\x00\x00\x03", 4);
	assert_int_equal(first[2].rrtype, 16);
	assert_int_equal(first[2].rdlen, 1);
	assert_int_equal(first[3].rdlen, 2);
	assert_memory_equal(first[3].rdata, "ab", 2);
	assert_int_equal(first[4].rdlen, 2);
	assert_memory_equal(first[4].rdata, "zz", 2);
	assert_int_equal(first[0].ttl, 300);

	n = snapshot_rr_find(s, "", 0, &first);
	assert_int_equal(n, 1);
	assert_memory_equal(first->rdata, "apex", 4);
	n = snapshot_rr_find(s, "ww", 2, &first);
	assert_int_equal(n, 1);
	n = snapshot_rr_find(s, "www.a", 5, &first);
	assert_int_equal(n, 1);
	n = snapshot_rr_find(s, "wwwx", 4, &first);
	assert_int_equal(n, 1);

	first = (const struct snapshot_rr *)s; /* must be reset */
	assert_int_equal(snapshot_rr_find(s, "w", 1, &first), 0);
	assert_null(first);
	assert_int_equal(snapshot_rr_find(s, "wwwa", 4, &first), 0);
	assert_int_equal(snapshot_rr_find(s, "zzz", 3, &first), 0);
	assert_int_equal(snapshot_rr_find(s, "a", 1, &first), 0);
	assert_null(first);

	/* snapshot_rr_at walks the same global order. */
	assert_string_equal(snapshot_rr_at(s, 0)->owner, "");
	assert_string_equal(snapshot_rr_at(s, 1)->owner, "ww");
	assert_string_equal(snapshot_rr_at(s, 7)->owner, "www.a");
	assert_string_equal(snapshot_rr_at(s, 8)->owner, "wwwx");
	assert_null(snapshot_rr_at(s, 9));
	snapshot_unref(s);
}

static void hosts_come_back_in_name_order(void **state)
{
	static const char *const given[] = { "nas", "alpha", "Zeta", "a", "alpha2", "b-1", "b" };
	static const char *const sorted[] = { "a", "alpha", "alpha2", "b", "b-1", "nas", "zeta" };
	struct snapshot_builder *b = new_builder();
	struct snapshot *s;
	uint32_t i;

	(void)state;
	for (i = 0; i < 7; i++)
		add_named_host(b, given[i], i + 1);
	s = finish(b);
	assert_int_equal(snapshot_host_count(s), 7);
	for (i = 0; i < 7; i++)
		assert_string_equal(snapshot_host_at(s, i)->name, sorted[i]);
	assert_null(snapshot_host_at(s, 7));
	/* Lookups still land on the right host after the sort moved them. */
	assert_int_equal(snapshot_lookup_name(s, "nas", 3)->ipv4[3], 1);
	assert_int_equal(snapshot_lookup_name(s, "b", 1)->ipv4[3], 7);
	snapshot_unref(s);
}

enum dup_key { DUP_NAME, DUP_NAME_OTHER_CASE, DUP_IPV4, DUP_IPV6, DUP_HOST_KEY };

static void assert_duplicate_refused(enum dup_key which)
{
	struct snapshot_builder *b = new_builder();
	struct snapshot_host h;
	struct snapshot *s = (struct snapshot *)b; /* must be reset */
	char name[32];
	uint32_t i;

	for (i = 1; i <= 20; i++)
		add_host_number(b, i);
	host_fill(&h, name, sizeof(name), 100);
	switch (which) {
	case DUP_NAME:
		h.name = "host7";
		break;
	case DUP_NAME_OTHER_CASE:
		h.name = "HOST7";
		break;
	case DUP_IPV4:
		h.ipv4[2] = 0;
		h.ipv4[3] = 7;
		break;
	case DUP_IPV6:
		h.ipv6[15] = 7;
		break;
	case DUP_HOST_KEY: {
		uint32_t seven = 7;

		memcpy(h.host_key + 28, &seven, sizeof(seven));
		break;
	}
	}
	assert_int_equal(snapshot_builder_add_host(b, &h), 0);
	/* The builder is freed by finish, also on failure: ASan checks nothing leaks. */
	assert_int_equal(snapshot_builder_finish(b, &s), -EEXIST);
	assert_null(s);
}

static void duplicate_name_is_refused(void **state)
{
	(void)state;
	assert_duplicate_refused(DUP_NAME);
	assert_duplicate_refused(DUP_NAME_OTHER_CASE);
}

static void duplicate_addresses_are_refused(void **state)
{
	(void)state;
	assert_duplicate_refused(DUP_IPV4);
	assert_duplicate_refused(DUP_IPV6);
}

static void duplicate_host_key_is_refused(void **state)
{
	(void)state;
	assert_duplicate_refused(DUP_HOST_KEY);
}

static void bad_hosts_and_rrs_are_refused_and_the_builder_stays_usable(void **state)
{
	struct snapshot_builder *b = new_builder();
	struct snapshot_host h;
	struct snapshot_rr rr;
	struct snapshot *s;
	char name[32], long_name[REC_NAME_MAX + 2], long_owner[REC_OWNER_MAX + 2];
	const char *groups[2] = { "ok", NULL };
	struct rec_endpoint ep = { .kind = EP_LAN, .family = 4, .port = 1 };

	(void)state;
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	memset(long_owner, 'a', sizeof(long_owner) - 1);
	long_owner[sizeof(long_owner) - 1] = '\0';

	host_fill(&h, name, sizeof(name), 1);
	h.name = NULL;
	assert_int_equal(snapshot_builder_add_host(b, &h), -EINVAL);
	h.name = "";
	assert_int_equal(snapshot_builder_add_host(b, &h), -EINVAL);
	h.name = long_name; /* 64 bytes */
	assert_int_equal(snapshot_builder_add_host(b, &h), -EINVAL);
	h.name = name;
	h.n_groups = 2;
	h.groups = groups; /* second one is NULL */
	assert_int_equal(snapshot_builder_add_host(b, &h), -EINVAL);
	h.groups = NULL;
	assert_int_equal(snapshot_builder_add_host(b, &h), -EINVAL);
	h.n_groups = REC_MAX_GROUPS + 1;
	assert_int_equal(snapshot_builder_add_host(b, &h), -EINVAL);
	h.n_groups = 0;
	h.n_endpoints = 1;
	h.endpoints = NULL;
	assert_int_equal(snapshot_builder_add_host(b, &h), -EINVAL);
	h.endpoints = &ep;
	h.n_endpoints = REC_MAX_ENDPOINTS + 1;
	assert_int_equal(snapshot_builder_add_host(b, &h), -EINVAL);

	memset(&rr, 0, sizeof(rr));
	rr.owner = NULL;
	assert_int_equal(snapshot_builder_add_rr(b, &rr), -EINVAL);
	rr.owner = long_owner;
	assert_int_equal(snapshot_builder_add_rr(b, &rr), -EINVAL);
	rr.owner = "www";
	rr.rdlen = 4;
	rr.rdata = NULL;
	assert_int_equal(snapshot_builder_add_rr(b, &rr), -EINVAL);
	rr.rdata = (const uint8_t *)"abcd";
	rr.rdlen = REC_RDATA_MAX + 1;
	assert_int_equal(snapshot_builder_add_rr(b, &rr), -EINVAL);

	/* None of the refused ones got in; the valid ones after them do. */
	h.n_endpoints = 1;
	assert_int_equal(snapshot_builder_add_host(b, &h), 0);
	rr.rdlen = 4;
	assert_int_equal(snapshot_builder_add_rr(b, &rr), 0);
	s = finish(b);
	assert_int_equal(snapshot_host_count(s), 1);
	assert_int_equal(snapshot_rr_count(s), 1);
	assert_int_equal(snapshot_host_at(s, 0)->n_endpoints, 1);
	snapshot_unref(s);
}

static void a_reference_keeps_the_snapshot_alive_after_the_builders_is_dropped(void **state)
{
	struct snapshot_builder *b = new_builder();
	struct snapshot *s, *reader;
	const struct snapshot_host *h;

	(void)state;
	add_named_host(b, "nas", 1);
	s = finish(b);
	reader = snapshot_ref(s);
	assert_ptr_equal(reader, s);
	snapshot_unref(s); /* the registry swaps in a newer one */

	/* ASan would report a use-after-free here if the count were wrong. */
	h = snapshot_lookup_name(reader, "nas", 3);
	assert_non_null(h);
	assert_string_equal(h->name, "nas");
	assert_int_equal(snapshot_generation(reader), 42);
	snapshot_unref(reader); /* and LeakSanitizer a leak if this did not free it */

	snapshot_unref(NULL);
	assert_null(snapshot_ref(NULL));
	snapshot_builder_free(NULL);
}

static void accessors_return_what_the_builder_was_given(void **state)
{
	struct snapshot_builder *b = new_builder();
	struct snapshot *s;
	struct rec_root root;

	(void)state;
	s = finish(b);
	test_root(&root);
	assert_memory_equal(snapshot_root(s), &root, sizeof(root));
	assert_memory_equal(snapshot_mesh_id(s), test_mesh_id, REC_ID_SIZE);
	assert_string_equal(snapshot_zone(s), "mesh");
	assert_int_equal(snapshot_generation(s), 42);
	snapshot_unref(s);

	/* No mesh yet: a zero root and mesh id. */
	b = snapshot_builder_new(NULL, NULL, 0);
	assert_non_null(b);
	s = finish(b);
	assert_string_equal(snapshot_zone(s), "");
	assert_int_equal(snapshot_mesh_id(s)[0], 0);
	snapshot_unref(s);
}

static void empty_snapshot_answers_every_query_with_nothing(void **state)
{
	struct snapshot_builder *b = new_builder();
	const struct snapshot_rr *first;
	struct snapshot *s;
	uint8_t addr[16] = { 0 }, key[REC_KEY_SIZE] = { 0 };

	(void)state;
	s = finish(b);
	assert_int_equal(snapshot_host_count(s), 0);
	assert_int_equal(snapshot_rr_count(s), 0);
	assert_null(snapshot_host_at(s, 0));
	assert_null(snapshot_rr_at(s, 0));
	assert_null(snapshot_lookup_name(s, "nas", 3));
	assert_null(snapshot_lookup_ipv4(s, addr));
	assert_null(snapshot_lookup_ipv6(s, addr));
	assert_null(snapshot_lookup_host_key(s, key));
	assert_int_equal(snapshot_rr_find(s, "", 0, &first), 0);
	assert_null(first);
	snapshot_unref(s);

	/* An unfinished builder can be dropped too. */
	b = new_builder();
	add_named_host(b, "nas", 1);
	add_rr(b, "www", 1, "abcd");
	snapshot_builder_free(b);
}

static void ten_thousand_hosts_are_all_found_by_every_key(void **state)
{
	struct snapshot_builder *b = new_builder();
	struct snapshot_host h;
	struct snapshot *s;
	const struct snapshot_host *got;
	char name[32];
	uint32_t i, n = 10000;

	(void)state;
	/* Added in reverse so that the sort has work to do. */
	for (i = n; i >= 1; i--)
		add_host_number(b, i);
	s = finish(b);
	assert_int_equal(snapshot_host_count(s), n);
	for (i = 1; i <= n; i++) {
		host_fill(&h, name, sizeof(name), i);
		got = snapshot_lookup_name(s, name, strlen(name));
		assert_non_null(got);
		assert_string_equal(got->name, name);
		assert_ptr_equal(snapshot_lookup_ipv4(s, h.ipv4), got);
		assert_ptr_equal(snapshot_lookup_ipv6(s, h.ipv6), got);
		assert_ptr_equal(snapshot_lookup_host_key(s, h.host_key), got);
	}
	for (i = 1; i < n; i++)
		assert_true(strcmp(snapshot_host_at(s, i - 1)->name, snapshot_host_at(s, i)->name) <
			    0);
	for (i = n + 1; i <= n + 1000; i++) {
		host_fill(&h, name, sizeof(name), i);
		assert_null(snapshot_lookup_name(s, name, strlen(name)));
		assert_null(snapshot_lookup_ipv6(s, h.ipv6));
		assert_null(snapshot_lookup_host_key(s, h.host_key));
	}
	snapshot_unref(s);
}

/* Builds a snapshot big enough to need several arena chunks, array growths and all
 * the tables; returns what the first failing call returned. */
static int build_everything(struct snapshot **out)
{
	struct snapshot_builder *b;
	struct snapshot_host h;
	struct snapshot_rr rr = { .owner = "www", .rrtype = 16, .ttl = 60, .rdlen = 0 };
	const char *groups[2] = { "admins", "servers" };
	struct rec_endpoint ep[2] = { { .kind = EP_LAN, .family = 4, .port = 1 },
				      { .kind = EP_PUBLIC, .family = 4, .port = 2 } };
	struct snapshot_observation obs[2] = {
		{ .seen = { .kind = EP_REFLEXIVE, .family = 4, .port = 3 }, .expires_at = 9 },
		{ .seen = { .kind = EP_REFLEXIVE, .family = 4, .port = 4 }, .expires_at = 9 },
	};
	uint8_t rdata[REC_RDATA_MAX] = { 0 };
	char name[32];
	uint32_t i;
	int err;

	*out = NULL;
	b = new_builder_or_null();
	if (b == NULL)
		return -ENOMEM;
	for (i = 0; i < 300; i++) {
		host_fill(&h, name, sizeof(name), i);
		h.n_groups = 2;
		h.groups = groups;
		h.n_endpoints = 2;
		h.endpoints = ep;
		h.n_observations = 2;
		h.observations = obs;
		err = snapshot_builder_add_host(b, &h);
		if (err < 0)
			goto fail;
		rr.rdata = rdata;
		rr.rdlen = REC_RDATA_MAX;
		rdata[0] = (uint8_t)i;
		rdata[1] = (uint8_t)(i >> 8);
		err = snapshot_builder_add_rr(b, &rr);
		if (err < 0)
			goto fail;
	}
	return snapshot_builder_finish(b, out);
fail:
	snapshot_builder_free(b);
	return err;
}

static void every_allocation_failure_gives_enomem_and_leaks_nothing(void **state)
{
	struct snapshot *s;
	unsigned n;
	int err, failures = 0;

	(void)state;
	/* Fail the 1st, 2nd, ... allocation until a build needs fewer than that. */
	for (n = 1;; n++) {
		snapshot_test_fail_alloc_after(n);
		err = build_everything(&s);
		if (err == 0)
			break;
		assert_int_equal(err, -ENOMEM);
		assert_null(s);
		failures++;
		assert_true(n < 10000);
	}
	snapshot_test_fail_alloc_after(0);
	/* The builder, the snapshot, ≥2 arena chunks, array growths and the tables. */
	assert_true(failures >= 8);
	assert_int_equal(snapshot_host_count(s), 300);
	assert_int_equal(snapshot_rr_count(s), 300);
	snapshot_unref(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lookup_by_name_ignores_case),
		cmocka_unit_test(lookup_by_ipv4_ipv6_and_host_key_finds_the_host),
		cmocka_unit_test(lookups_of_missing_keys_return_null),
		cmocka_unit_test(groups_and_endpoints_survive_the_callers_buffers),
		cmocka_unit_test(observations_survive_the_callers_buffers_and_are_bounded),
		cmocka_unit_test(rr_find_returns_every_rr_of_an_owner_and_only_those),
		cmocka_unit_test(hosts_come_back_in_name_order),
		cmocka_unit_test(duplicate_name_is_refused),
		cmocka_unit_test(duplicate_addresses_are_refused),
		cmocka_unit_test(duplicate_host_key_is_refused),
		cmocka_unit_test(bad_hosts_and_rrs_are_refused_and_the_builder_stays_usable),
		cmocka_unit_test(
			a_reference_keeps_the_snapshot_alive_after_the_builders_is_dropped),
		cmocka_unit_test(accessors_return_what_the_builder_was_given),
		cmocka_unit_test(empty_snapshot_answers_every_query_with_nothing),
		cmocka_unit_test(ten_thousand_hosts_are_all_found_by_every_key),
		cmocka_unit_test(every_allocation_failure_gives_enomem_and_leaks_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
