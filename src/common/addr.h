/*
 * addr.h: small helpers on socket addresses shared by the daemon's modules. Pure; no
 * name resolution, no I/O.
 */
#ifndef MESHNAME_COMMON_ADDR_H
#define MESHNAME_COMMON_ADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* Same family, address, port and (IPv6) scope. Anything but AF_INET/AF_INET6 is
 * never equal. */
bool addr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

/* True if the first bits bits of addr (network order) equal those of prefix. */
bool addr_prefix_match(const uint8_t *addr, const uint8_t *prefix, unsigned bits);

#endif
