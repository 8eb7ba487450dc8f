/*
 * device.c: the in-memory WireGuard device (struct wg_device) that every backend fills
 * and reads: growing its peer and allowed-IP arrays, freeing them, wiping the private
 * key. No I/O, never logs.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "meshname/wg.h"

void wg_device_clear(struct wg_device *dev)
{
	if (dev == NULL)
		return;
	for (size_t i = 0; i < dev->n_peers; i++)
		free(dev->peers[i].allowedips);
	free(dev->peers);
	/* The whole struct: the private key, and no dangling peers pointer for a reuse. */
	sodium_memzero(dev, sizeof(*dev));
}

/*
 * One more element, realloc'd: no capacity field in the structs, and glibc's realloc
 * grows large blocks in place (mremap), which keeps thousands of peers cheap.
 */
static void *grow(void *array, size_t n, size_t size)
{
	if (n >= SIZE_MAX / size - 1)
		return NULL;
	return realloc(array, (n + 1) * size);
}

struct wg_peer *wg_device_add_peer(struct wg_device *dev, const uint8_t key[WG_KEY_LEN])
{
	struct wg_peer *peers = grow(dev->peers, dev->n_peers, sizeof(*peers));
	struct wg_peer *peer;

	if (peers == NULL)
		return NULL;
	dev->peers = peers;
	peer = &peers[dev->n_peers++];
	memset(peer, 0, sizeof(*peer));
	memcpy(peer->public_key, key, WG_KEY_LEN);
	return peer;
}

struct wg_allowedip *wg_peer_add_allowedip(struct wg_peer *peer, uint8_t family,
					   const uint8_t *addr, uint8_t cidr)
{
	size_t addr_len = family == AF_INET ? 4 : 16;
	struct wg_allowedip *ips, *ip;

	if ((family != AF_INET && family != AF_INET6) || cidr > addr_len * 8)
		return NULL;
	ips = grow(peer->allowedips, peer->n_allowedips, sizeof(*ips));
	if (ips == NULL)
		return NULL;
	peer->allowedips = ips;
	ip = &ips[peer->n_allowedips++];
	memset(ip, 0, sizeof(*ip));
	ip->family = family;
	ip->cidr = cidr;
	memcpy(ip->addr, addr, addr_len);
	/* Host bits cleared, as wireguard-go and the kernel store them (198.51.100.5/24 reads
	 * back as 198.51.100.0/24): desired and actual states then compare equal. */
	for (size_t bit = cidr; bit < addr_len * 8; bit++)
		ip->addr[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
	return ip;
}
