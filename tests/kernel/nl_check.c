/*
 * nl_check.c: run inside the test VM (tests/kernel/vm-test.sh): the kernel backend's
 * split set and multi-message dump against the real kernel, with more peers than one
 * message holds. Creates IFNAME, sets N peers (wg_kernel_set), reads them back with a
 * raw dump whose messages it counts and with wg_kernel_get, removes every other peer,
 * deletes IFNAME. Prints PASS/FAIL lines, figures as "# " lines, and with --hex the raw
 * bytes of the kernel's first dump message (how test_netlink.c's vectors were checked).
 * A test tool: never installed, never run outside the VM.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <netinet/in.h>
#include <sodium.h>

#include "meshname/wg.h"

static int failures;

static void result(bool ok, const char *what)
{
	printf("%s: %s\n", ok ? "PASS" : "FAIL", what);
	if (!ok)
		failures++;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Peer i: a key from i, endpoint 192.0.2.(i % 250 + 1):(10000 + i), keepalive 25,
 * allowed IPs 10.(i >> 8).(i & 255).1/32 and fd00::i/128. */
static int make_device(struct wg_device *dev, const char *ifname, size_t n)
{
	snprintf(dev->name, sizeof(dev->name), "%s", ifname);
	randombytes_buf(dev->private_key, WG_KEY_LEN);
	/* Clamped as `wg genkey` does: the kernel stores (and returns) the key clamped. */
	dev->private_key[0] &= 248;
	dev->private_key[31] = (uint8_t)((dev->private_key[31] & 127) | 64);
	dev->listen_port = 51900;
	dev->flags = WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_LISTEN_PORT;
	for (size_t i = 0; i < n; i++) {
		uint8_t key[WG_KEY_LEN] = { 0 }, a4[4] = { 10, (uint8_t)(i >> 8), (uint8_t)i, 1 };
		uint8_t a6[16] = { 0xfd };
		struct sockaddr_in *sin;
		struct wg_peer *p;

		crypto_generichash(key, sizeof(key), (const uint8_t *)&i, sizeof(i), NULL, 0);
		if ((p = wg_device_add_peer(dev, key)) == NULL)
			return -ENOMEM;
		sin = (struct sockaddr_in *)&p->endpoint;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)(10000 + i));
		sin->sin_addr.s_addr = htonl(0xc0000200u + (uint32_t)(i % 250 + 1));
		p->persistent_keepalive = 25;
		p->flags = WG_PEER_HAS_ENDPOINT | WG_PEER_HAS_KEEPALIVE |
			   WG_PEER_REPLACE_ALLOWEDIPS;
		memcpy(a6 + 8, &i, sizeof(i));
		if (wg_peer_add_allowedip(p, AF_INET, a4, 32) == NULL ||
		    wg_peer_add_allowedip(p, AF_INET6, a6, 128) == NULL)
			return -ENOMEM;
	}
	return 0;
}

static const struct wg_peer *find_peer(const struct wg_device *dev, const uint8_t *key)
{
	for (size_t i = 0; i < dev->n_peers; i++)
		if (memcmp(dev->peers[i].public_key, key, WG_KEY_LEN) == 0)
			return &dev->peers[i];
	return NULL;
}

/* Every peer of want is in got with the same endpoint, keepalive and allowed IPs. */
static bool same_peers(const struct wg_device *want, const struct wg_device *got)
{
	if (want->n_peers != got->n_peers)
		return false;
	for (size_t i = 0; i < want->n_peers; i++) {
		const struct wg_peer *w = &want->peers[i], *g = find_peer(got, w->public_key);

		if (g == NULL ||
		    memcmp(&w->endpoint, &g->endpoint, sizeof(struct sockaddr_in)) != 0 ||
		    g->persistent_keepalive != w->persistent_keepalive ||
		    g->n_allowedips != w->n_allowedips ||
		    memcmp(g->allowedips, w->allowedips, w->n_allowedips * sizeof(*w->allowedips)))
			return false;
	}
	return true;
}

static int family_cb(const struct nlattr *attr, void *data)
{
	if (mnl_attr_get_type(attr) == CTRL_ATTR_FAMILY_ID)
		*(uint16_t *)data = mnl_attr_get_u16(attr);
	return MNL_CB_OK;
}

static int family_msg_cb(const struct nlmsghdr *nlh, void *data)
{
	return mnl_attr_parse(nlh, GENL_HDRLEN, family_cb, data);
}

/* The dump, by hand: counts the messages the kernel sends. */
static int raw_get(const char *ifname, struct wg_device *dev, size_t *n_messages, size_t *n_bytes,
		   bool hex)
{
	static char buf[1 << 16];
	struct mnl_socket *nl = mnl_socket_open(NETLINK_GENERIC);
	struct nlmsghdr *nlh;
	uint16_t family = 0;
	uint32_t seq = 1;
	size_t len;
	bool done = false;
	ssize_t n;
	int r = -EIO;

	*n_messages = *n_bytes = 0;
	if (nl == NULL || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		goto out;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = GENL_ID_CTRL;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = seq;
	((struct genlmsghdr *)mnl_nlmsg_put_extra_header(nlh, GENL_HDRLEN))->cmd =
		CTRL_CMD_GETFAMILY;
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, "wireguard");
	if (mnl_socket_sendto(nl, buf, nlh->nlmsg_len) < 0 ||
	    (n = mnl_socket_recvfrom(nl, buf, sizeof(buf))) < 0 ||
	    mnl_cb_run(buf, (size_t)n, seq, mnl_socket_get_portid(nl), family_msg_cb, &family) < 0)
		goto out;
	if ((r = wg_nl_format_get(ifname, family, ++seq, buf, sizeof(buf), &len)) < 0)
		goto out;
	if (mnl_socket_sendto(nl, buf, len) < 0) {
		r = -errno;
		goto out;
	}
	wg_device_clear(dev);
	while (!done) {
		if ((n = mnl_socket_recvfrom(nl, buf, sizeof(buf))) < 0) {
			r = -errno;
			goto out;
		}
		int left = (int)n;

		for (const struct nlmsghdr *m = (const void *)buf; mnl_nlmsg_ok(m, left);
		     m = mnl_nlmsg_next(m, &left)) {
			if (m->nlmsg_type < NLMSG_MIN_TYPE)
				continue;
			(*n_messages)++;
			*n_bytes += m->nlmsg_len;
			if (hex && *n_messages == 1) {
				printf("HEX:");
				for (size_t i = 0; i < m->nlmsg_len; i++)
					printf(" %02x", ((const uint8_t *)m)[i]);
				printf("\n");
			}
		}
		if ((r = wg_nl_parse_get(buf, (size_t)n, seq, dev, &done)) < 0)
			goto out;
	}
	r = 0;
out:
	if (nl != NULL)
		mnl_socket_close(nl);
	sodium_memzero(buf, sizeof(buf));
	return r;
}

int main(int argc, char **argv)
{
	struct wg_device want = { 0 }, got = { 0 }, removal = { 0 };
	size_t n, n_set = 0, n_msgs = 0, n_bytes = 0, n_remove_msgs = 0;
	const char *ifname;
	bool hex = argc == 4 && strcmp(argv[3], "--hex") == 0;
	double t0, t1;
	char what[160];
	int r;

	if (argc < 3 || sodium_init() < 0) {
		fprintf(stderr, "usage: nl_check IFNAME N [--hex]\n");
		return 2;
	}
	ifname = argv[1];
	n = strtoul(argv[2], NULL, 10);
	r = wg_rtnl_link_create(ifname);
	result(r == 0, "nl_check: a fresh kernel WireGuard interface over rtnetlink");
	if (r < 0 || make_device(&want, ifname, n) < 0)
		return 1;

	t0 = now_s();
	r = wg_kernel_set(ifname, &want, &n_set);
	t1 = now_s();
	snprintf(what, sizeof(what), "nl_check: %zu peers set over genetlink in %zu messages", n,
		 n_set);
	result(r == 0 && n_set >= 1, what);
	printf("# set of %zu peers: %zu messages, %.0f ms\n", n, n_set, (t1 - t0) * 1e3);

	r = raw_get(ifname, &got, &n_msgs, &n_bytes, hex);
	snprintf(what, sizeof(what),
		 "nl_check: the dump of %zu peers (%zu messages) reads back "
		 "what was set",
		 n, n_msgs);
	result(r == 0 && same_peers(&want, &got), what);
	printf("# dump of %zu peers: %zu messages, %zu bytes\n", n, n_msgs, n_bytes);

	t0 = now_s();
	r = wg_kernel_get(ifname, &got);
	t1 = now_s();
	result(r == 0 && same_peers(&want, &got) && got.listen_port == 51900 &&
		       (got.flags & WG_DEVICE_HAS_PRIVATE_KEY) &&
		       memcmp(got.private_key, want.private_key, WG_KEY_LEN) == 0,
	       "nl_check: wg_kernel_get agrees, with private key and listen port");
	printf("# wg_kernel_get of %zu peers: %.0f ms\n", n, (t1 - t0) * 1e3);

	/* Every other peer removed: the rest stays as it was. */
	snprintf(removal.name, sizeof(removal.name), "%s", ifname);
	for (size_t i = 0; i < want.n_peers; i += 2) {
		struct wg_peer *p = wg_device_add_peer(&removal, want.peers[i].public_key);

		if (p == NULL)
			return 1;
		p->flags = WG_PEER_REMOVE;
	}
	r = wg_kernel_set(ifname, &removal, &n_remove_msgs);
	if (r == 0)
		r = wg_kernel_get(ifname, &got);
	snprintf(what, sizeof(what), "nl_check: removing %zu peers (%zu messages) leaves %zu",
		 removal.n_peers, n_remove_msgs, want.n_peers - removal.n_peers);
	result(r == 0 && got.n_peers == want.n_peers - removal.n_peers &&
		       find_peer(&got, want.peers[0].public_key) == NULL &&
		       (want.n_peers < 2 || find_peer(&got, want.peers[1].public_key) != NULL),
	       what);

	r = wg_kernel_get("nosuchif0", &got);
	result(r == -ENODEV, "nl_check: get of a missing interface is -ENODEV");
	r = wg_kernel_get("lo", &got);
	result(r == -EOPNOTSUPP, "nl_check: get of lo (not WireGuard) is -EOPNOTSUPP");
	r = wg_rtnl_link_create(ifname);
	result(r == -EEXIST, "nl_check: creating it again is -EEXIST");
	r = wg_rtnl_link_delete(ifname);
	result(r == 0 && wg_rtnl_link_delete(ifname) == -ENODEV,
	       "nl_check: deleted over rtnetlink (then -ENODEV)");
	wg_device_clear(&want);
	wg_device_clear(&got);
	wg_device_clear(&removal);
	return failures == 0 ? 0 : 1;
}
