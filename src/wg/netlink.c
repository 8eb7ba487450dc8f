/*
 * netlink.c: Linux's kernel WireGuard over generic netlink (family "wireguard",
 * include/uapi/linux/wireguard.h): a pure codec (struct wg_device <-> messages, a large
 * set split over several) and a client, one socket per call. Never logs, never reads
 * past a length it was given, never frees a buffer that held a private key unwiped.
 */
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/wireguard.h>
#include <sodium.h>

#include "meshname/wg.h"

/* The smallest buffer a set request is written into: header, ifname and one peer with one
 * allowed IP always fit, so every message makes progress. */
#define NL_MSG_MIN 256
#define NL_RECV_MAX (64u << 10) /* a dump message is at most a page or two; room to spare */
#define NL_TIMEOUT_S 5          /* the kernel answers at once; this only bounds a bug */
#define NL_DUMP_RETRIES 5       /* a dump interrupted by a change is asked again */

typedef int (*attr_cb)(const struct nlattr *attr, void *data);

/* ---- reading attributes strictly ------------------------------------------------------ */

/*
 * Calls cb for every attribute in [payload, payload + len). Unlike mnl_attr_parse, a
 * truncated attribute or trailing bytes are an error, not the end of the list.
 */
static int attrs_each(const void *payload, size_t len, attr_cb cb, void *data)
{
	const struct nlattr *attr = payload;
	int r;

	if (len > INT32_MAX)
		return -EBADMSG;
	while (len >= sizeof(struct nlattr)) {
		size_t step;

		if (!mnl_attr_ok(attr, (int)len))
			return -EBADMSG;
		if ((r = cb(attr, data)) < 0)
			return r;
		step = MNL_ALIGN(attr->nla_len);
		if (step >= len)
			return 0; /* the last one, its padding perhaps cut off */
		len -= step;
		attr = (const struct nlattr *)(const void *)((const char *)attr + step);
	}
	return len == 0 ? 0 : -EBADMSG;
}

static int attrs_nested(const struct nlattr *attr, attr_cb cb, void *data)
{
	return attrs_each(mnl_attr_get_payload(attr), mnl_attr_get_payload_len(attr), cb, data);
}

/* The payload of attr when it is exactly len bytes, else NULL. */
static const void *attr_exact(const struct nlattr *attr, size_t len)
{
	return mnl_attr_get_payload_len(attr) == len ? mnl_attr_get_payload(attr) : NULL;
}

static int attr_u16(const struct nlattr *attr, uint16_t *v)
{
	const void *p = attr_exact(attr, sizeof(*v));

	if (p == NULL)
		return -EBADMSG;
	memcpy(v, p, sizeof(*v));
	return 0;
}

static int attr_u32(const struct nlattr *attr, uint32_t *v)
{
	const void *p = attr_exact(attr, sizeof(*v));

	if (p == NULL)
		return -EBADMSG;
	memcpy(v, p, sizeof(*v));
	return 0;
}

static int attr_u64(const struct nlattr *attr, uint64_t *v)
{
	const void *p = attr_exact(attr, sizeof(*v));

	if (p == NULL)
		return -EBADMSG;
	memcpy(v, p, sizeof(*v));
	return 0;
}

static int attr_key(const struct nlattr *attr, uint8_t key[WG_KEY_LEN])
{
	const void *p = attr_exact(attr, WG_KEY_LEN);

	if (p == NULL)
		return -EBADMSG;
	memcpy(key, p, WG_KEY_LEN);
	return 0;
}

/* ---- parsing a get reply -------------------------------------------------------------- */

struct parse_peer {
	bool have_key;
	uint8_t key[WG_KEY_LEN];
};

/* An allowed IP as the kernel sends it: family, address of the family's length, mask. */
struct parse_aip {
	uint16_t family;
	uint8_t addr[16];
	size_t addr_len;
	int cidr; /* -1: absent */
};

static int parse_aip_attr(const struct nlattr *attr, void *data)
{
	struct parse_aip *a = data;
	const uint8_t *p;

	switch (mnl_attr_get_type(attr)) {
	case WGALLOWEDIP_A_FAMILY:
		return attr_u16(attr, &a->family);
	case WGALLOWEDIP_A_IPADDR:
		a->addr_len = mnl_attr_get_payload_len(attr);
		if (a->addr_len != 4 && a->addr_len != 16)
			return -EBADMSG;
		memcpy(a->addr, mnl_attr_get_payload(attr), a->addr_len);
		return 0;
	case WGALLOWEDIP_A_CIDR_MASK:
		if ((p = attr_exact(attr, 1)) == NULL)
			return -EBADMSG;
		a->cidr = *p;
		return 0;
	default:
		return 0;
	}
}

static int parse_allowedips(const struct nlattr *attr, void *data)
{
	struct wg_peer *peer = data;
	struct parse_aip a = { .cidr = -1 };
	int r;

	if ((r = attrs_nested(attr, parse_aip_attr, &a)) < 0)
		return r;
	if (!((a.family == AF_INET && a.addr_len == 4 && a.cidr >= 0 && a.cidr <= 32) ||
	      (a.family == AF_INET6 && a.addr_len == 16 && a.cidr >= 0 && a.cidr <= 128)))
		return -EBADMSG;
	if (wg_peer_add_allowedip(peer, (uint8_t)a.family, a.addr, (uint8_t)a.cidr) == NULL)
		return -ENOMEM;
	return 0;
}

/* First pass over a peer: only its key, to know whether it continues the previous one. */
static int parse_peer_key(const struct nlattr *attr, void *data)
{
	struct parse_peer *pp = data;

	if (mnl_attr_get_type(attr) != WGPEER_A_PUBLIC_KEY)
		return 0;
	if (attr_key(attr, pp->key) < 0)
		return -EBADMSG;
	pp->have_key = true;
	return 0;
}

static int parse_endpoint(const struct nlattr *attr, struct wg_peer *peer)
{
	const void *p = mnl_attr_get_payload(attr);
	size_t len = mnl_attr_get_payload_len(attr);
	sa_family_t family;

	if (len < sizeof(family))
		return -EBADMSG;
	memcpy(&family, p, sizeof(family));
	if ((family == AF_INET && len != sizeof(struct sockaddr_in)) ||
	    (family == AF_INET6 && len != sizeof(struct sockaddr_in6)))
		return -EBADMSG;
	if (family != AF_INET && family != AF_INET6)
		return 0; /* the kernel sends none without an endpoint; be lenient */
	memset(&peer->endpoint, 0, sizeof(peer->endpoint));
	memcpy(&peer->endpoint, p, len);
	peer->flags |= WG_PEER_HAS_ENDPOINT;
	return 0;
}

static int parse_peer_attr(const struct nlattr *attr, void *data)
{
	struct wg_peer *peer = data;
	const int64_t *ts;
	uint32_t u32;
	int64_t sec;

	switch (mnl_attr_get_type(attr)) {
	case WGPEER_A_PRESHARED_KEY:
		/* Checked, not kept: meshname uses none, and a secret is best not copied. */
		return attr_exact(attr, WG_KEY_LEN) != NULL ? 0 : -EBADMSG;
	case WGPEER_A_FLAGS:
	case WGPEER_A_PROTOCOL_VERSION:
		return attr_u32(attr, &u32);
	case WGPEER_A_ENDPOINT:
		return parse_endpoint(attr, peer);
	case WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL:
		if (attr_u16(attr, &peer->persistent_keepalive) < 0)
			return -EBADMSG;
		peer->flags |= WG_PEER_HAS_KEEPALIVE;
		return 0;
	case WGPEER_A_LAST_HANDSHAKE_TIME:
		/* struct __kernel_timespec: two 64-bit fields, seconds first. */
		if ((ts = attr_exact(attr, 2 * sizeof(int64_t))) == NULL)
			return -EBADMSG;
		memcpy(&sec, ts, sizeof(sec));
		if (sec < 0)
			return -EBADMSG;
		peer->last_handshake_sec = sec;
		return 0;
	case WGPEER_A_RX_BYTES:
		return attr_u64(attr, &peer->rx_bytes);
	case WGPEER_A_TX_BYTES:
		return attr_u64(attr, &peer->tx_bytes);
	case WGPEER_A_ALLOWEDIPS:
		return attrs_nested(attr, parse_allowedips, peer);
	default:
		return 0; /* the key (first pass) and a newer kernel's additions */
	}
}

static int parse_peers(const struct nlattr *attr, void *data)
{
	struct wg_device *dev = data;
	struct parse_peer pp = { 0 };
	struct wg_peer *peer;
	int r;

	if ((r = attrs_nested(attr, parse_peer_key, &pp)) < 0)
		return r;
	if (!pp.have_key)
		return -EBADMSG;
	/* The kernel continues a long allowed-IP list in the next message under the same key. */
	if (dev->n_peers > 0 &&
	    memcmp(dev->peers[dev->n_peers - 1].public_key, pp.key, WG_KEY_LEN) == 0)
		peer = &dev->peers[dev->n_peers - 1];
	else if ((peer = wg_device_add_peer(dev, pp.key)) == NULL)
		return -ENOMEM;
	return attrs_nested(attr, parse_peer_attr, peer);
}

static int parse_device_attr(const struct nlattr *attr, void *data)
{
	struct wg_device *dev = data;
	uint32_t u32;
	size_t len;

	switch (mnl_attr_get_type(attr)) {
	case WGDEVICE_A_IFINDEX:
		return attr_u32(attr, &u32);
	case WGDEVICE_A_IFNAME:
		len = mnl_attr_get_payload_len(attr);
		if (len == 0 || len > sizeof(dev->name) ||
		    memchr(mnl_attr_get_payload(attr), '\0', len) == NULL)
			return -EBADMSG;
		memcpy(dev->name, mnl_attr_get_payload(attr), len);
		return 0;
	case WGDEVICE_A_PRIVATE_KEY:
		if (attr_key(attr, dev->private_key) < 0)
			return -EBADMSG;
		dev->flags |= WG_DEVICE_HAS_PRIVATE_KEY;
		return 0;
	case WGDEVICE_A_PUBLIC_KEY:
		return attr_key(attr, dev->public_key);
	case WGDEVICE_A_FLAGS:
		return attr_u32(attr, &u32);
	case WGDEVICE_A_LISTEN_PORT:
		if (attr_u16(attr, &dev->listen_port) < 0)
			return -EBADMSG;
		dev->flags |= WG_DEVICE_HAS_LISTEN_PORT;
		return 0;
	case WGDEVICE_A_FWMARK:
		if (attr_u32(attr, &dev->fwmark) < 0)
			return -EBADMSG;
		if (dev->fwmark != 0)
			dev->flags |= WG_DEVICE_HAS_FWMARK;
		return 0;
	case WGDEVICE_A_PEERS:
		return attrs_nested(attr, parse_peers, dev);
	default:
		return 0;
	}
}

/* The error of an NLMSG_ERROR message (0 for an acknowledgement), or -EBADMSG. */
static int parse_error(const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *e;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
		return -EBADMSG;
	e = mnl_nlmsg_get_payload(nlh);
	if (e->error > 0 || e->error < -4095)
		return -EBADMSG;
	return e->error;
}

/*
 * Calls each for every message in buf; stops at NLMSG_DONE (*done) or an error message.
 * A message of another sequence number or one cut off is -EBADMSG.
 */
static int messages_each(const void *buf, size_t len, uint32_t seq,
			 int (*each)(const struct nlmsghdr *nlh, void *data), void *data,
			 bool *done)
{
	const struct nlmsghdr *nlh = buf;
	int left, r;

	*done = false;
	if (len > INT32_MAX)
		return -EBADMSG;
	left = (int)len;
	if (left == 0)
		return -EBADMSG;
	while (left > 0) {
		if (!mnl_nlmsg_ok(nlh, left) || nlh->nlmsg_seq != seq)
			return -EBADMSG;
		switch (nlh->nlmsg_type) {
		case NLMSG_NOOP:
			break;
		case NLMSG_DONE:
			*done = true;
			/* A dump's DONE carries an int: nonzero when the dump failed. */
			if (nlh->nlmsg_len >= mnl_nlmsg_size(sizeof(int))) {
				int err;

				memcpy(&err, mnl_nlmsg_get_payload(nlh), sizeof(err));
				if (err < -4095 || err > 0)
					return -EBADMSG;
				return err;
			}
			return 0;
		case NLMSG_ERROR:
			*done = true;
			return parse_error(nlh);
		default:
			if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
				return -EINTR;
			if ((r = each(nlh, data)) < 0)
				return r;
			break;
		}
		nlh = mnl_nlmsg_next(nlh, &left);
	}
	return left == 0 ? 0 : -EBADMSG;
}

static int parse_device_message(const struct nlmsghdr *nlh, void *data)
{
	const struct genlmsghdr *genl;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*genl)))
		return -EBADMSG;
	genl = mnl_nlmsg_get_payload(nlh);
	if (genl->cmd != WG_CMD_GET_DEVICE)
		return -EBADMSG;
	return attrs_each((const char *)genl + GENL_HDRLEN,
			  nlh->nlmsg_len - mnl_nlmsg_size(GENL_HDRLEN), parse_device_attr, data);
}

int wg_nl_parse_get(const void *buf, size_t len, uint32_t seq, struct wg_device *dev, bool *done)
{
	return messages_each(buf, len, seq, parse_device_message, dev, done);
}

static int not_expected(const struct nlmsghdr *nlh, void *data)
{
	(void)nlh;
	(void)data;
	return -EBADMSG;
}

int wg_nl_parse_ack(const void *buf, size_t len, uint32_t seq)
{
	bool done;
	int r = messages_each(buf, len, seq, not_expected, NULL, &done);

	return r == 0 && !done ? -EBADMSG : r;
}

/* ---- writing requests ---------------------------------------------------------------- */

static struct nlmsghdr *put_genl_header(void *buf, uint16_t family, uint16_t flags, uint32_t seq,
					uint8_t cmd)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *genl;

	nlh->nlmsg_type = family;
	nlh->nlmsg_flags = flags;
	nlh->nlmsg_seq = seq;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = cmd;
	genl->version = WG_GENL_VERSION;
	return nlh;
}

static bool ifname_ok(const char *ifname)
{
	size_t n = ifname != NULL ? strlen(ifname) : 0;

	return n > 0 && n < IFNAMSIZ;
}

int wg_nl_format_get(const char *ifname, uint16_t family, uint32_t seq, void *buf, size_t size,
		     size_t *len)
{
	struct nlmsghdr *nlh;

	*len = 0;
	if (!ifname_ok(ifname))
		return -EINVAL;
	if (size < NL_MSG_MIN)
		return -EMSGSIZE;
	memset(buf, 0, NL_MSG_MIN);
	nlh = put_genl_header(buf, family, NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP, seq,
			      WG_CMD_GET_DEVICE);
	mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, ifname);
	*len = nlh->nlmsg_len;
	return 0;
}

static bool put_device(struct nlmsghdr *nlh, size_t size, const struct wg_device *dev)
{
	if ((dev->flags & WG_DEVICE_HAS_PRIVATE_KEY) &&
	    !mnl_attr_put_check(nlh, size, WGDEVICE_A_PRIVATE_KEY, WG_KEY_LEN, dev->private_key))
		return false;
	if ((dev->flags & WG_DEVICE_HAS_LISTEN_PORT) &&
	    !mnl_attr_put_u16_check(nlh, size, WGDEVICE_A_LISTEN_PORT, dev->listen_port))
		return false;
	if ((dev->flags & WG_DEVICE_HAS_FWMARK) &&
	    !mnl_attr_put_u32_check(nlh, size, WGDEVICE_A_FWMARK, dev->fwmark))
		return false;
	if ((dev->flags & WG_DEVICE_REPLACE_PEERS) &&
	    !mnl_attr_put_u32_check(nlh, size, WGDEVICE_A_FLAGS, WGDEVICE_F_REPLACE_PEERS))
		return false;
	return true;
}

static int endpoint_len(const struct wg_peer *peer, size_t *len)
{
	switch (peer->endpoint.ss_family) {
	case AF_INET:
		*len = sizeof(struct sockaddr_in);
		return 0;
	case AF_INET6:
		*len = sizeof(struct sockaddr_in6);
		return 0;
	default:
		return -EINVAL;
	}
}

/*
 * The peer's head: key, flags, and (in its first part only) endpoint and keepalive.
 * first: this is the first part of the peer (no allowed IP of it sent yet).
 */
static bool put_peer_head(struct nlmsghdr *nlh, size_t size, const struct wg_peer *peer, bool first)
{
	uint32_t flags = 0;
	size_t len;

	/* In wireguard-tools' order: key, endpoint, keepalive, flags. */
	if (!mnl_attr_put_check(nlh, size, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, peer->public_key))
		return false;
	if (first && (peer->flags & WG_PEER_HAS_ENDPOINT) && endpoint_len(peer, &len) == 0 &&
	    !mnl_attr_put_check(nlh, size, WGPEER_A_ENDPOINT, len, &peer->endpoint))
		return false;
	if (first && (peer->flags & WG_PEER_HAS_KEEPALIVE) &&
	    !mnl_attr_put_u16_check(nlh, size, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL,
				    peer->persistent_keepalive))
		return false;
	if (peer->flags & WG_PEER_REMOVE)
		flags |= WGPEER_F_REMOVE_ME;
	if (peer->flags & WG_PEER_UPDATE_ONLY)
		flags |= WGPEER_F_UPDATE_ONLY;
	/* Replacing again in a continuation would drop the first part's allowed IPs. */
	if (first && (peer->flags & WG_PEER_REPLACE_ALLOWEDIPS))
		flags |= WGPEER_F_REPLACE_ALLOWEDIPS;
	return flags == 0 || mnl_attr_put_u32_check(nlh, size, WGPEER_A_FLAGS, flags);
}

static bool put_allowedip(struct nlmsghdr *nlh, size_t size, const struct wg_allowedip *a)
{
	struct nlattr *nest = mnl_attr_nest_start_check(nlh, size, 0);

	if (nest == NULL)
		return false;
	if (!mnl_attr_put_u16_check(nlh, size, WGALLOWEDIP_A_FAMILY, a->family) ||
	    !mnl_attr_put_check(nlh, size, WGALLOWEDIP_A_IPADDR, a->family == AF_INET ? 4 : 16,
				a->addr) ||
	    !mnl_attr_put_u8_check(nlh, size, WGALLOWEDIP_A_CIDR_MASK, a->cidr)) {
		mnl_attr_nest_cancel(nlh, nest);
		return false;
	}
	mnl_attr_nest_end(nlh, nest);
	return true;
}

static int check_device(const struct wg_device *dev)
{
	size_t len;

	if (!ifname_ok(dev->name))
		return -EINVAL;
	for (size_t i = 0; i < dev->n_peers; i++) {
		const struct wg_peer *p = &dev->peers[i];

		if ((p->flags & WG_PEER_HAS_ENDPOINT) && endpoint_len(p, &len) < 0)
			return -EINVAL;
		for (size_t k = 0; k < p->n_allowedips; k++) {
			const struct wg_allowedip *a = &p->allowedips[k];

			if (!((a->family == AF_INET && a->cidr <= 32) ||
			      (a->family == AF_INET6 && a->cidr <= 128)))
				return -EINVAL;
		}
	}
	return 0;
}

/*
 * Adds peers from the cursor on until the message is full. Returns 0 (*progress: some
 * peer or allowed IP went in), or -EMSGSIZE when not even one did.
 */
static int put_peers(struct nlmsghdr *nlh, size_t size, const struct wg_device *dev,
		     struct wg_nl_cursor *cur)
{
	struct nlattr *peers = mnl_attr_nest_start_check(nlh, size, WGDEVICE_A_PEERS);
	bool progress = false;

	if (peers == NULL)
		return -EMSGSIZE;
	for (; cur->peer < dev->n_peers; cur->peer++, cur->allowedip = 0) {
		const struct wg_peer *p = &dev->peers[cur->peer];
		struct nlattr *peer = mnl_attr_nest_start_check(nlh, size, 0), *ips;
		size_t first_ip = cur->allowedip;

		if (peer == NULL)
			break;
		if (!put_peer_head(nlh, size, p, cur->allowedip == 0)) {
			mnl_attr_nest_cancel(nlh, peer);
			break;
		}
		if (cur->allowedip < p->n_allowedips) {
			ips = mnl_attr_nest_start_check(nlh, size, WGPEER_A_ALLOWEDIPS);
			if (ips == NULL) {
				mnl_attr_nest_cancel(nlh, peer);
				break;
			}
			while (cur->allowedip < p->n_allowedips &&
			       put_allowedip(nlh, size, &p->allowedips[cur->allowedip]))
				cur->allowedip++;
			if (cur->allowedip == first_ip) {
				/* Not one fitted: the whole peer goes into the next message. */
				mnl_attr_nest_cancel(nlh, peer);
				break;
			}
			mnl_attr_nest_end(nlh, ips);
			mnl_attr_nest_end(nlh, peer);
			progress = true;
			if (cur->allowedip < p->n_allowedips)
				break; /* the rest of this peer's list goes into the next message */
			continue;
		}
		mnl_attr_nest_end(nlh, peer);
		progress = true;
	}
	mnl_attr_nest_end(nlh, peers);
	return progress ? 0 : -EMSGSIZE;
}

int wg_nl_format_set(const struct wg_device *dev, uint16_t family, uint32_t seq,
		     struct wg_nl_cursor *cur, void *buf, size_t size, size_t *len)
{
	struct nlmsghdr *nlh;
	int r;

	*len = 0;
	if ((r = check_device(dev)) < 0)
		return r;
	if (size < NL_MSG_MIN)
		return -EMSGSIZE;
	if (cur->started && cur->peer >= dev->n_peers)
		return 0; /* all written */
	if (size > UINT32_MAX)
		size = UINT32_MAX;
	memset(buf, 0, NL_MSG_MIN);
	nlh = put_genl_header(buf, family, NLM_F_REQUEST | NLM_F_ACK, seq, WG_CMD_SET_DEVICE);
	mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, dev->name);
	if (!cur->started) {
		if (!put_device(nlh, size, dev))
			return -EMSGSIZE;
		cur->started = true;
	}
	if (cur->peer < dev->n_peers && (r = put_peers(nlh, size, dev, cur)) < 0)
		return r;
	*len = nlh->nlmsg_len;
	return 0;
}

/* ---- the client ------------------------------------------------------------------------ */

struct nl {
	struct mnl_socket *sock;
	uint32_t portid;
	uint32_t seq;
	uint16_t family; /* the "wireguard" family's id */
	char *buf;       /* NL_RECV_MAX bytes, wiped before it is freed */
};

static void nl_close(struct nl *nl)
{
	if (nl->buf != NULL) {
		sodium_memzero(nl->buf, NL_RECV_MAX);
		free(nl->buf);
	}
	if (nl->sock != NULL)
		mnl_socket_close(nl->sock);
	memset(nl, 0, sizeof(*nl));
}

static int nl_send(struct nl *nl, size_t len)
{
	return mnl_socket_sendto(nl->sock, nl->buf, len) < 0 ? -errno : 0;
}

static int nl_recv(struct nl *nl, size_t *len)
{
	ssize_t n = mnl_socket_recvfrom(nl->sock, nl->buf, NL_RECV_MAX);

	if (n < 0)
		return errno == EAGAIN ? -ETIMEDOUT : -errno;
	*len = (size_t)n;
	return 0;
}

/* The family id from a CTRL_CMD_GETFAMILY reply. */
static int parse_family_attr(const struct nlattr *attr, void *data)
{
	if (mnl_attr_get_type(attr) == CTRL_ATTR_FAMILY_ID)
		return attr_u16(attr, data);
	return 0;
}

static int parse_family_message(const struct nlmsghdr *nlh, void *data)
{
	if (nlh->nlmsg_len < mnl_nlmsg_size(GENL_HDRLEN))
		return -EBADMSG;
	return attrs_each((const char *)mnl_nlmsg_get_payload(nlh) + GENL_HDRLEN,
			  nlh->nlmsg_len - mnl_nlmsg_size(GENL_HDRLEN), parse_family_attr, data);
}

/* Opens the socket and asks the kernel for the "wireguard" family's id. */
static int nl_open(struct nl *nl)
{
	struct timeval tv = { NL_TIMEOUT_S, 0 };
	struct nlmsghdr *nlh;
	uint16_t id = 0;
	size_t len = 0;
	bool done;
	int r;

	memset(nl, 0, sizeof(*nl));
	if ((nl->buf = calloc(1, NL_RECV_MAX)) == NULL)
		return -ENOMEM;
	if ((nl->sock = mnl_socket_open2(NETLINK_GENERIC, SOCK_CLOEXEC)) == NULL ||
	    mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    setsockopt(mnl_socket_get_fd(nl->sock), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		r = -errno;
		goto fail;
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = (uint32_t)time(NULL);
	nlh = mnl_nlmsg_put_header(nl->buf);
	nlh->nlmsg_type = GENL_ID_CTRL;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = ++nl->seq;
	((struct genlmsghdr *)mnl_nlmsg_put_extra_header(nlh, GENL_HDRLEN))->cmd =
		CTRL_CMD_GETFAMILY;
	((struct genlmsghdr *)mnl_nlmsg_get_payload(nlh))->version = 1;
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, WG_GENL_NAME);
	if ((r = nl_send(nl, nlh->nlmsg_len)) < 0)
		goto fail;
	do {
		if ((r = nl_recv(nl, &len)) < 0)
			goto fail;
		r = messages_each(nl->buf, len, nl->seq, parse_family_message, &id, &done);
	} while (r == 0 && !done);
	if (r == -ENOENT)
		r = -EPROTONOSUPPORT; /* no such family: the kernel has no WireGuard */
	if (r == 0 && id == 0)
		r = -EBADMSG;
	if (r < 0)
		goto fail;
	nl->family = id;
	return 0;
fail:
	nl_close(nl);
	return r;
}

static int kernel_get_once(struct nl *nl, const char *ifname, struct wg_device *dev)
{
	size_t len = 0;
	bool done = false;
	int r;

	wg_device_clear(dev);
	if ((r = wg_nl_format_get(ifname, nl->family, ++nl->seq, nl->buf, NL_RECV_MAX, &len)) < 0)
		return r;
	if ((r = nl_send(nl, len)) < 0)
		return r;
	while (!done) {
		if ((r = nl_recv(nl, &len)) < 0)
			return r;
		if ((r = wg_nl_parse_get(nl->buf, len, nl->seq, dev, &done)) < 0)
			return r;
	}
	return 0;
}

int wg_kernel_get(const char *ifname, struct wg_device *dev)
{
	struct nl nl;
	int r;

	wg_device_clear(dev);
	if (!ifname_ok(ifname))
		return -EINVAL;
	if ((r = nl_open(&nl)) < 0)
		return r;
	for (int tries = 0; tries < NL_DUMP_RETRIES; tries++) {
		r = kernel_get_once(&nl, ifname, dev);
		if (r != -EINTR)
			break;
		/* The dump was interrupted by a change: what we have may be inconsistent. The
		 * rest of that dump may still be queued: a new socket starts clean. */
		nl_close(&nl);
		if ((r = nl_open(&nl)) < 0)
			break;
		r = -EINTR;
	}
	nl_close(&nl);
	if (r < 0)
		wg_device_clear(dev);
	else
		snprintf(dev->name, sizeof(dev->name), "%s", ifname);
	return r;
}

int wg_kernel_set(const char *ifname, const struct wg_device *dev, size_t *n_messages)
{
	struct wg_nl_cursor cur = { 0 };
	struct wg_device named = *dev; /* the same peers, under ifname */
	struct nl nl;
	size_t len, n = 0;
	int r;

	if (n_messages != NULL)
		*n_messages = 0;
	if (!ifname_ok(ifname))
		return -EINVAL;
	snprintf(named.name, sizeof(named.name), "%s", ifname);
	if ((r = nl_open(&nl)) < 0)
		goto out;
	for (;;) {
		r = wg_nl_format_set(&named, nl.family, ++nl.seq, &cur, nl.buf, WG_NL_MSG_MAX,
				     &len);
		if (r < 0 || len == 0)
			break;
		if ((r = nl_send(&nl, len)) < 0)
			break;
		n++;
		/* Each part is acknowledged before the next: an error stops the rest. */
		if ((r = nl_recv(&nl, &len)) < 0 || (r = wg_nl_parse_ack(nl.buf, len, nl.seq)) < 0)
			break;
	}
	nl_close(&nl);
out:
	sodium_memzero(named.private_key, sizeof(named.private_key));
	if (n_messages != NULL)
		*n_messages = n;
	return r;
}
