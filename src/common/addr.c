/*
 * addr.c: socket address helpers (addr.h). Pure functions; never resolves names.
 */
#include "common/addr.h"

#include <netinet/in.h>
#include <string.h>

bool addr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)(const void *)a;
		const struct sockaddr_in *y = (const struct sockaddr_in *)(const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)(const void *)a;
		const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)(const void *)b;

		return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

bool addr_prefix_match(const uint8_t *addr, const uint8_t *prefix, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(addr, prefix, full) != 0)
		return false;
	return rest == 0 || ((addr[full] ^ prefix[full]) & (uint8_t)(0xffu << (8 - rest))) == 0;
}
