/*
 * rtnl.c: the mesh interface's link over rtnetlink: creating and deleting a kernel
 * WireGuard interface (kind "wireguard"), its link kind, and what `manage yes` puts on
 * any WireGuard link (also wireguard-go's tun): up, this host's addresses, the mesh
 * prefix routes. One socket per call; never logs; touches no other interface.
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
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "meshname/wg.h"

#define RTNL_BUF 8192
#define RTNL_TIMEOUT_S 5 /* the kernel answers at once; this only bounds a bug */

struct rtnl {
	struct mnl_socket *sock;
	uint32_t portid;
	uint32_t seq;
	char buf[RTNL_BUF];
};

static int rtnl_open(struct rtnl *nl)
{
	struct timeval tv = { RTNL_TIMEOUT_S, 0 };

	nl->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (nl->sock == NULL)
		return -errno;
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    setsockopt(mnl_socket_get_fd(nl->sock), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		int r = -errno;

		mnl_socket_close(nl->sock);
		nl->sock = NULL;
		return r;
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = (uint32_t)time(NULL);
	return 0;
}

static void rtnl_close(struct rtnl *nl)
{
	if (nl->sock != NULL)
		mnl_socket_close(nl->sock);
	nl->sock = NULL;
}

static struct nlmsghdr *rtnl_msg(struct rtnl *nl, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh;

	memset(nl->buf, 0, sizeof(nl->buf));
	nlh = mnl_nlmsg_put_header(nl->buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
	nlh->nlmsg_seq = ++nl->seq;
	return nlh;
}

/* Sends nlh and runs cb (may be NULL) on the reply until the kernel's acknowledgement. */
static int rtnl_talk(struct rtnl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	ssize_t n;
	int r;

	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		n = mnl_socket_recvfrom(nl->sock, nl->buf, sizeof(nl->buf));
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		r = mnl_cb_run(nl->buf, (size_t)n, nl->seq, nl->portid, cb, data);
	} while (r > MNL_CB_STOP);
	return r < 0 ? -errno : 0;
}

static int ifname_index(const char *ifname, unsigned *index)
{
	size_t n = ifname != NULL ? strlen(ifname) : 0;

	if (n == 0 || n >= IFNAMSIZ)
		return -EINVAL;
	*index = if_nametoindex(ifname);
	return *index == 0 ? -ENODEV : 0;
}

int wg_rtnl_link_create(const char *ifname)
{
	struct rtnl nl = { 0 };
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	struct nlattr *info;
	size_t n = ifname != NULL ? strlen(ifname) : 0;
	int r;

	if (n == 0 || n >= IFNAMSIZ)
		return -EINVAL;
	if ((r = rtnl_open(&nl)) < 0)
		return r;
	nlh = rtnl_msg(&nl, RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname);
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "wireguard");
	mnl_attr_nest_end(nlh, info);
	r = rtnl_talk(&nl, nlh, NULL, NULL);
	rtnl_close(&nl);
	return r;
}

int wg_rtnl_link_delete(const char *ifname)
{
	struct rtnl nl = { 0 };
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	unsigned index;
	int r;

	if ((r = ifname_index(ifname, &index)) < 0)
		return r;
	if ((r = rtnl_open(&nl)) < 0)
		return r;
	nlh = rtnl_msg(&nl, RTM_DELLINK, NLM_F_ACK);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)index;
	r = rtnl_talk(&nl, nlh, NULL, NULL);
	rtnl_close(&nl);
	return r;
}

struct link_kind {
	char *kind;
	size_t size;
	bool seen;
};

static int link_info_cb(const struct nlattr *attr, void *data)
{
	struct link_kind *k = data;

	if (mnl_attr_get_type(attr) == IFLA_INFO_KIND) {
		if (mnl_attr_validate(attr, MNL_TYPE_STRING) < 0)
			return MNL_CB_ERROR;
		if ((size_t)snprintf(k->kind, k->size, "%s", mnl_attr_get_str(attr)) >= k->size)
			return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

static int link_attr_cb(const struct nlattr *attr, void *data)
{
	if (mnl_attr_get_type(attr) == IFLA_LINKINFO)
		return mnl_attr_parse_nested(attr, link_info_cb, data);
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_kind *k = data;

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return MNL_CB_OK;
	k->seen = true;
	return mnl_attr_parse(nlh, sizeof(struct ifinfomsg), link_attr_cb, data);
}

int wg_rtnl_link_kind(const char *ifname, char *kind, size_t size)
{
	struct rtnl nl = { 0 };
	struct link_kind k = { kind, size, false };
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	unsigned index;
	int r;

	if (size == 0)
		return -EINVAL;
	kind[0] = '\0';
	if ((r = ifname_index(ifname, &index)) < 0)
		return r;
	if ((r = rtnl_open(&nl)) < 0)
		return r;
	nlh = rtnl_msg(&nl, RTM_GETLINK, NLM_F_ACK);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)index;
	r = rtnl_talk(&nl, nlh, link_cb, &k);
	rtnl_close(&nl);
	if (r == 0 && !k.seen)
		r = -EBADMSG;
	return r;
}

static int link_up(struct rtnl *nl, unsigned index)
{
	struct nlmsghdr *nlh = rtnl_msg(nl, RTM_NEWLINK, NLM_F_ACK);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)index;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	return rtnl_talk(nl, nlh, NULL, NULL);
}

/* `ip address replace ADDR/(32|128) dev IF`. */
static int address_replace(struct rtnl *nl, unsigned index, uint8_t family, const uint8_t *addr)
{
	struct nlmsghdr *nlh = rtnl_msg(nl, RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	size_t len = family == AF_INET ? 4 : 16;

	ifa->ifa_family = family;
	ifa->ifa_prefixlen = (uint8_t)(len * 8);
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = index;
	mnl_attr_put(nlh, IFA_LOCAL, len, addr);
	mnl_attr_put(nlh, IFA_ADDRESS, len, addr);
	if (family == AF_INET6) /* no duplicate address detection on a point-to-point mesh */
		mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
	return rtnl_talk(nl, nlh, NULL, NULL);
}

/* `ip route replace PREFIX/LEN dev IF` (main table, scope link, proto boot). */
static int route_replace(struct rtnl *nl, unsigned index, uint8_t family, const uint8_t *prefix,
			 uint8_t prefix_len)
{
	struct nlmsghdr *nlh = rtnl_msg(nl, RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	size_t len = family == AF_INET ? 4 : 16;

	rtm->rtm_family = family;
	rtm->rtm_dst_len = prefix_len;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_BOOT;
	rtm->rtm_scope = RT_SCOPE_LINK;
	rtm->rtm_type = RTN_UNICAST;
	mnl_attr_put(nlh, RTA_DST, len, prefix);
	mnl_attr_put_u32(nlh, RTA_OIF, index);
	return rtnl_talk(nl, nlh, NULL, NULL);
}

int wg_rtnl_link_configure(const char *ifname, const struct wg_link_config *cfg, const char **step)
{
	struct rtnl *nl = NULL;
	const char *what = "up";
	unsigned index;
	int r;

	if (cfg->prefix4_len > 32 || cfg->prefix6_len > 128) {
		r = -EINVAL;
		goto out;
	}
	if ((r = ifname_index(ifname, &index)) < 0)
		goto out;
	if ((nl = calloc(1, sizeof(*nl))) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = rtnl_open(nl)) < 0)
		goto out;
	/* Up first: the kernel drops an IPv6 prefix route on a link that is down. */
	if ((r = link_up(nl, index)) < 0)
		goto out;
	what = "IPv4 address";
	if ((r = address_replace(nl, index, AF_INET, cfg->addr4)) < 0)
		goto out;
	what = "IPv6 address";
	if ((r = address_replace(nl, index, AF_INET6, cfg->addr6)) < 0)
		goto out;
	what = "IPv4 route";
	if ((r = route_replace(nl, index, AF_INET, cfg->prefix4, cfg->prefix4_len)) < 0)
		goto out;
	what = "IPv6 route";
	r = route_replace(nl, index, AF_INET6, cfg->prefix6, cfg->prefix6_len);
out:
	if (nl != NULL) {
		rtnl_close(nl);
		free(nl);
	}
	if (step != NULL)
		*step = r < 0 ? what : NULL;
	return r;
}
