/*
 * assert_rrs.h: a cmocka assertion shared by the resolver's tests: the rrs of a
 * section, as ldns prints them (tabs, no final newline), in order.
 */
#ifndef MESHNAME_TEST_ASSERT_RRS_H
#define MESHNAME_TEST_ASSERT_RRS_H

#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

static inline void assert_rrs(const ldns_rr_list *list, const char *const *expected, size_t n)
{
	size_t i;

	assert_int_equal(ldns_rr_list_rr_count(list), n);
	for (i = 0; i < n; i++) {
		char *text = ldns_rr2str(ldns_rr_list_rr(list, i));
		size_t len = strlen(text);

		if (len > 0 && text[len - 1] == '\n')
			text[len - 1] = '\0';
		assert_string_equal(text, expected[i]);
		free(text);
	}
}

#define ASSERT_RRS(list, ...)                                                          \
	do {                                                                           \
		const char *const expected_[] = { __VA_ARGS__ };                       \
		assert_rrs(list, expected_, sizeof(expected_) / sizeof(expected_[0])); \
	} while (0)

#endif
