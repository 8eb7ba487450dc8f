/*
 * lanbeacon.c: meshnamed's LAN beacon I/O (lanbeacon.h, doc/sync.md "LAN beacon"): two UDP
 * sockets, the interface scan, the send timer and the replay window. Owns the host secret
 * only to sign beacons (wiped on free); never blocks, never exits, never trusts a datagram
 * before beacon_decode has checked it, never sends on loopback or the mesh interface.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <sodium.h>

#include "common/log.h"
#include "daemon/lanbeacon.h"

/* Each interval is BEACON_INTERVAL +- this much, so that hosts started together do not
 * stay in step. */
#define JITTER_PERCENT 10
#define FIRST_WITHIN_MS 1000
#define RECV_BURST 64 /* datagrams read per callback: a flood cannot starve DNS */
#define MAX_TARGETS (2 * LANBEACON_MAX_IFS)

/* ---- the pure parts ----------------------------------------------------------------- */

bool lanbeacon_interface_usable(int family, unsigned flags, const char *name,
				const char *mesh_ifname)
{
	size_t len;

	if ((flags & IFF_UP) == 0 || (flags & IFF_RUNNING) == 0 || (flags & IFF_LOOPBACK) != 0)
		return false;
	if (family == AF_INET && (flags & IFF_BROADCAST) == 0)
		return false;
	if (family == AF_INET6 && (flags & IFF_MULTICAST) == 0)
		return false;
	if (family != AF_INET && family != AF_INET6)
		return false;
	if (mesh_ifname == NULL || mesh_ifname[0] == '\0')
		return true;
	/* getifaddrs names an IPv4 address with a label "eth0:1": its device is eth0. */
	len = strcspn(name, ":");
	return !(strlen(mesh_ifname) == len && strncmp(name, mesh_ifname, len) == 0);
}

static bool same_beacon(const struct lanbeacon_seen *s, const struct beacon *b)
{
	return s->timestamp == b->timestamp && s->port == b->port &&
	       s->endpoints_seq == b->endpoints_seq &&
	       memcmp(s->fingerprint, b->fingerprint, BEACON_FINGERPRINT_SIZE) == 0;
}

static void remember(struct lanbeacon_seen *s, const struct beacon *b)
{
	s->used = true;
	memcpy(s->key, b->host_key, REC_KEY_SIZE);
	s->timestamp = b->timestamp;
	s->endpoints_seq = b->endpoints_seq;
	s->port = b->port;
	memcpy(s->fingerprint, b->fingerprint, BEACON_FINGERPRINT_SIZE);
}

enum lanbeacon_verdict lanbeacon_window_check(struct lanbeacon_window *w, const struct beacon *b)
{
	struct lanbeacon_seen *slot = NULL;
	size_t i;

	for (i = 0; i < LANBEACON_WINDOW_SIZE; i++) {
		struct lanbeacon_seen *s = &w->seen[i];

		if (!s->used || memcmp(s->key, b->host_key, REC_KEY_SIZE) != 0)
			continue;
		if (b->timestamp > s->timestamp) {
			remember(s, b);
			return LANBEACON_NEW;
		}
		return same_beacon(s, b) ? LANBEACON_DUPLICATE : LANBEACON_REPLAY;
	}
	/* A key we do not hold may have been forgotten: its beacons up to the floor may
	 * have been accepted already. */
	if (b->timestamp <= w->floor)
		return LANBEACON_REPLAY;
	for (i = 0; i < LANBEACON_WINDOW_SIZE; i++) {
		struct lanbeacon_seen *s = &w->seen[i];

		if (!s->used) {
			slot = s;
			break;
		}
		if (slot == NULL || s->timestamp < slot->timestamp)
			slot = s;
	}
	if (slot->used && slot->timestamp > w->floor)
		w->floor = slot->timestamp;
	remember(slot, b);
	return LANBEACON_NEW;
}

/* ---- the sockets and the loop ------------------------------------------------------- */

/* One datagram a send round sends: IPv4 to a broadcast address, IPv6 to the group. */
struct target {
	unsigned ifindex;
	int family;
	struct in_addr broadcast; /* AF_INET */
};

/* What is remembered about an interface from one scan to the next. */
struct ifstate {
	unsigned ifindex;
	char name[IF_NAMESIZE];
	bool joined;       /* to LANBEACON_GROUP on the IPv6 socket */
	bool join_failing; /* a failed join was logged */
	bool failing[2];   /* [0] IPv4, [1] IPv6: a send failure was logged, no success since */
	bool failed_now[2], sent_now[2]; /* in the current send round */
};

struct lanbeacon {
	struct event_base *base;
	uint8_t mesh_id[REC_ID_SIZE];
	uint8_t host_sk[REC_SECRET_SIZE];
	uint8_t host_pk[REC_KEY_SIZE];
	uint16_t port, sync_port;
	char mesh_ifname[IF_NAMESIZE];
	unsigned mesh_ifindex; /* as of the last scan, 0: none */
	lanbeacon_heard_fn heard;
	void *arg;

	uint64_t endpoints_seq;
	uint8_t fingerprint[BEACON_FINGERPRINT_SIZE];

	int fd4, fd6; /* -1: that family is not available */
	struct event *ev4, *ev6, *ev_send;
	uint64_t last_sent; /* timestamp of the last beacon: one per second at most */

	struct ifstate ifs[LANBEACON_MAX_IFS];
	size_t n_ifs;
	struct target targets[MAX_TARGETS];
	size_t n_targets;
	bool too_many_logged, scan_failing;

	struct lanbeacon_window window;
	struct lanbeacon_stats st;
};

static const char *family_text(int family)
{
	return family == AF_INET ? "IPv4 broadcast" : "IPv6 multicast";
}

static const char *addr_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, (unsigned)ntohs(sin->sin_port));
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s%%%u]:%u", host, (unsigned)sin6->sin6_scope_id,
			 (unsigned)ntohs(sin6->sin6_port));
	}
	return buf;
}

static int set_int(int fd, int level, int name, int value)
{
	return setsockopt(fd, level, name, &value, sizeof(value)) < 0 ? -errno : 0;
}

/* SO_REUSEADDR: several processes in one network namespace (two daemons under test, a
 * diagnostic listener) can all bind the port; broadcast and multicast datagrams reach
 * every one of them. Nothing is sent unicast to this port, so no one can steal it. */
static int open_socket(int family, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd, r;

	memset(&ss, 0, sizeof(ss));
	fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		/* TTL 1: a beacon is for this link only, even should a router forward it. */
		if (r == 0)
			r = set_int(fd, SOL_SOCKET, SO_BROADCAST, 1);
		if (r == 0)
			r = set_int(fd, IPPROTO_IP, IP_TTL, 1);
		if (r == 0)
			r = set_int(fd, IPPROTO_IP, IP_PKTINFO, 1);
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		sslen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		if (r == 0)
			r = set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
		if (r == 0)
			r = set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 1);
		if (r == 0)
			r = set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0);
		if (r == 0)
			r = set_int(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
#ifdef IPV6_MULTICAST_ALL
		/* Only the groups this socket joined, not every group some other program on
		 * the host joined (Linux delivers those by default). Older kernels lack it. */
		if (r == 0)
			(void)set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_ALL, 0);
#endif
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		sin6->sin6_addr = in6addr_any;
		sslen = sizeof(*sin6);
	}
	if (r == 0 && bind(fd, (struct sockaddr *)&ss, sslen) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* The state of ifindex in the scan being built (new), carried over from the last scan
 * (old) when it was there. NULL when LANBEACON_MAX_IFS interfaces are taken already. */
static struct ifstate *ifstate_for(const struct lanbeacon *lb, struct ifstate *new, size_t *n_new,
				   unsigned ifindex, const char *name)
{
	struct ifstate *st;
	size_t i;

	for (i = 0; i < *n_new; i++)
		if (new[i].ifindex == ifindex)
			return &new[i];
	if (*n_new == LANBEACON_MAX_IFS)
		return NULL;
	st = &new[(*n_new)++];
	memset(st, 0, sizeof(*st));
	for (i = 0; i < lb->n_ifs; i++)
		if (lb->ifs[i].ifindex == ifindex && strcmp(lb->ifs[i].name, name) == 0)
			*st = lb->ifs[i];
	st->ifindex = ifindex;
	snprintf(st->name, sizeof(st->name), "%s", name);
	return st;
}

static struct ifstate *ifstate_find(struct lanbeacon *lb, unsigned ifindex)
{
	for (size_t i = 0; i < lb->n_ifs; i++)
		if (lb->ifs[i].ifindex == ifindex)
			return &lb->ifs[i];
	return NULL;
}

static bool have_target(const struct lanbeacon *lb, const struct target *t)
{
	for (size_t i = 0; i < lb->n_targets; i++) {
		const struct target *o = &lb->targets[i];

		if (o->ifindex == t->ifindex && o->family == t->family &&
		    (t->family == AF_INET6 || o->broadcast.s_addr == t->broadcast.s_addr))
			return true;
	}
	return false;
}

/* The IPv4 broadcast address of one getifaddrs entry; one derived from the netmask when
 * the address was added without one (`ip addr add` without `brd`). False: none. */
static bool broadcast_of(const struct ifaddrs *i, struct in_addr *out)
{
	const struct sockaddr_in *addr = (const struct sockaddr_in *)i->ifa_addr;
	const struct sockaddr_in *mask = (const struct sockaddr_in *)i->ifa_netmask;
	const struct sockaddr_in *brd = (const struct sockaddr_in *)i->ifa_broadaddr;
	uint32_t m;

	if (brd != NULL && brd->sin_family == AF_INET && brd->sin_addr.s_addr != 0) {
		*out = brd->sin_addr;
		return true;
	}
	if (mask == NULL || mask->sin_family != AF_INET)
		return false;
	m = ntohl(mask->sin_addr.s_addr);
	if (m >= 0xfffffffeU) /* /31 and /32 have no broadcast address (RFC 3021) */
		return false;
	out->s_addr = htonl(ntohl(addr->sin_addr.s_addr) | ~m);
	return true;
}

static void join_group(struct lanbeacon *lb, struct ifstate *st)
{
	struct ipv6_mreq mreq;

	memset(&mreq, 0, sizeof(mreq));
	inet_pton(AF_INET6, LANBEACON_GROUP, &mreq.ipv6mr_multiaddr);
	mreq.ipv6mr_interface = st->ifindex;
	/* EADDRINUSE: joined already (an interface that left and came back under the same
	 * index, which this socket still holds). */
	if (setsockopt(lb->fd6, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mreq, sizeof(mreq)) == 0 ||
	    errno == EADDRINUSE) {
		st->joined = true;
		st->join_failing = false;
		return;
	}
	if (!st->join_failing)
		log_warn("LAN beacon: cannot join %s on %s (beacons from there go unheard; "
			 "retried with every beacon)",
			 LANBEACON_GROUP, st->name);
	st->join_failing = true;
}

/* Lists the interfaces beacons go out on and joins the group on the new ones. Keeps the
 * previous list when the interfaces cannot be listed. */
static void scan(struct lanbeacon *lb)
{
	struct ifstate new[LANBEACON_MAX_IFS];
	struct ifaddrs *ifa, *i;
	size_t n_new = 0;
	bool too_many = false;

	if (getifaddrs(&ifa) < 0) {
		if (!lb->scan_failing)
			log_warn("LAN beacon: cannot list the interfaces (sending where it did "
				 "before)");
		lb->scan_failing = true;
		return;
	}
	lb->scan_failing = false;
	lb->mesh_ifindex = lb->mesh_ifname[0] != '\0' ? if_nametoindex(lb->mesh_ifname) : 0;
	lb->n_targets = 0;
	for (i = ifa; i != NULL; i = i->ifa_next) {
		char name[IF_NAMESIZE];
		struct ifstate *st;
		struct target t;
		int family;

		if (i->ifa_addr == NULL)
			continue;
		family = i->ifa_addr->sa_family;
		if ((family == AF_INET && lb->fd4 < 0) || (family == AF_INET6 && lb->fd6 < 0) ||
		    !lanbeacon_interface_usable(family, i->ifa_flags, i->ifa_name, lb->mesh_ifname))
			continue;
		memset(&t, 0, sizeof(t));
		t.family = family;
		if (family == AF_INET && !broadcast_of(i, &t.broadcast))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(i->ifa_name, ":"), i->ifa_name);
		t.ifindex = if_nametoindex(name);
		if (t.ifindex == 0) /* gone since getifaddrs */
			continue;
		st = ifstate_for(lb, new, &n_new, t.ifindex, name);
		if (st == NULL || lb->n_targets == MAX_TARGETS) {
			too_many = true;
			continue;
		}
		if (!have_target(lb, &t))
			lb->targets[lb->n_targets++] = t;
	}
	freeifaddrs(ifa);
	if (too_many && !lb->too_many_logged)
		log_warnx("LAN beacon: more than %d interfaces: the others get no beacons",
			  LANBEACON_MAX_IFS);
	lb->too_many_logged = too_many;
	memcpy(lb->ifs, new, n_new * sizeof(new[0]));
	lb->n_ifs = n_new;
	for (size_t k = 0; k < lb->n_targets; k++) {
		struct ifstate *st = ifstate_find(lb, lb->targets[k].ifindex);

		if (lb->targets[k].family == AF_INET6 && st != NULL && !st->joined)
			join_group(lb, st);
	}
}

static int send_one(struct lanbeacon *lb, const struct target *t, const uint8_t *buf)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd;

	memset(&ss, 0, sizeof(ss));
	if (t->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(lb->port);
		sin->sin_addr = t->broadcast;
		sslen = sizeof(*sin);
		fd = lb->fd4;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		int ifindex = (int)t->ifindex;

		if (setsockopt(lb->fd6, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex,
			       sizeof(ifindex)) < 0)
			return -errno;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(lb->port);
		inet_pton(AF_INET6, LANBEACON_GROUP, &sin6->sin6_addr);
		sin6->sin6_scope_id = t->ifindex;
		sslen = sizeof(*sin6);
		fd = lb->fd6;
	}
	if (t->family == AF_INET) {
		/* The broadcast address alone does not say which interface when two share a
		 * prefix: IP_PKTINFO names it. */
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
		} ctl;
		struct iovec iov = { .iov_base = (void *)(uintptr_t)buf, .iov_len = BEACON_SIZE };
		struct msghdr msg;
		struct cmsghdr *c;
		struct in_pktinfo pi;

		memset(&ctl, 0, sizeof(ctl));
		memset(&msg, 0, sizeof(msg));
		memset(&pi, 0, sizeof(pi));
		msg.msg_name = &ss;
		msg.msg_namelen = sslen;
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		pi.ipi_ifindex = (int)t->ifindex;
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		return sendmsg(fd, &msg, 0) < 0 ? -errno : 0;
	}
	return sendto(fd, buf, BEACON_SIZE, 0, (struct sockaddr *)&ss, sslen) < 0 ? -errno : 0;
}

static void send_round(struct lanbeacon *lb, uint64_t now)
{
	struct beacon b;
	uint8_t buf[BEACON_SIZE];
	size_t i;

	memset(&b, 0, sizeof(b));
	memcpy(b.mesh_id, lb->mesh_id, REC_ID_SIZE);
	b.port = lb->sync_port;
	b.endpoints_seq = lb->endpoints_seq;
	memcpy(b.fingerprint, lb->fingerprint, BEACON_FINGERPRINT_SIZE);
	b.timestamp = now;
	if (beacon_sign(&b, lb->host_sk, buf) < 0) /* sync_port was checked by lanbeacon_new */
		return;
	lb->last_sent = now;
	for (i = 0; i < lb->n_ifs; i++) {
		memset(lb->ifs[i].failed_now, 0, sizeof(lb->ifs[i].failed_now));
		memset(lb->ifs[i].sent_now, 0, sizeof(lb->ifs[i].sent_now));
	}
	for (i = 0; i < lb->n_targets; i++) {
		const struct target *t = &lb->targets[i];
		struct ifstate *st = ifstate_find(lb, t->ifindex);
		int f = t->family == AF_INET ? 0 : 1;
		int r = send_one(lb, t, buf);

		if (r == 0) {
			lb->st.sent++;
			if (st != NULL)
				st->sent_now[f] = true;
			continue;
		}
		lb->st.send_errors++;
		if (st == NULL)
			continue;
		if (!st->failing[f]) {
			char to[INET_ADDRSTRLEN] = LANBEACON_GROUP;

			if (t->family == AF_INET)
				inet_ntop(AF_INET, &t->broadcast, to, sizeof(to));
			log_warnx("LAN beacon: cannot send on %s (%s to %s): %s (said once until "
				  "it works again)",
				  st->name, family_text(t->family), to, strerror(-r));
		}
		st->failing[f] = true;
		st->failed_now[f] = true;
	}
	for (i = 0; i < lb->n_ifs; i++) {
		struct ifstate *st = &lb->ifs[i];

		for (int f = 0; f < 2; f++) {
			if (st->failing[f] && st->sent_now[f] && !st->failed_now[f]) {
				log_info("LAN beacon: sending on %s (%s) works again", st->name,
					 family_text(f == 0 ? AF_INET : AF_INET6));
				st->failing[f] = false;
			}
		}
	}
}

static void arm(struct lanbeacon *lb, uint32_t ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (suseconds_t)(ms % 1000) * 1000 };

	evtimer_add(lb->ev_send, &tv);
}

static uint32_t next_interval_ms(void)
{
	uint32_t base = BEACON_INTERVAL * 1000 * (100 - JITTER_PERCENT) / 100;

	return base + randombytes_uniform(BEACON_INTERVAL * 1000 * 2 * JITTER_PERCENT / 100);
}

/* Sends unless a beacon went out in this very second: receivers take only a newer
 * timestamp, so a second beacon in the same second would be dropped by all of them. Then
 * it goes out at the start of the next second. */
static void send_due(struct lanbeacon *lb)
{
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec;
	if (now == lb->last_sent) {
		arm(lb, (uint32_t)(1000 - ts.tv_nsec / 1000000) + 10);
		return;
	}
	send_round(lb, now);
	arm(lb, next_interval_ms());
}

static void on_send_timer(evutil_socket_t fd, short what, void *arg)
{
	struct lanbeacon *lb = arg;

	(void)fd;
	(void)what;
	scan(lb);
	send_due(lb);
}

void lanbeacon_send_now(struct lanbeacon *lb)
{
	scan(lb);
	send_due(lb);
}

static unsigned pktinfo_ifindex(struct msghdr *msg)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			return (unsigned)pi.ipi_ifindex;
		}
		if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			return pi.ipi6_ifindex;
		}
	}
	return 0;
}

static void receive(struct lanbeacon *lb, const uint8_t *buf, size_t len,
		    struct sockaddr_storage *from, unsigned ifindex)
{
	char text[INET6_ADDRSTRLEN + 16];
	struct beacon b;
	int r;

	if (from->ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)from;

		/* A link-local address means nothing without its link. */
		if (IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr) && sin6->sin6_scope_id == 0)
			sin6->sin6_scope_id = ifindex;
	} else if (from->ss_family != AF_INET) {
		lb->st.rejected++;
		return;
	}
	/* Beacons are for the LAN: the mesh interface neither sends nor hears them. */
	if (ifindex != 0 && ifindex == lb->mesh_ifindex) {
		lb->st.rejected++;
		log_debug("LAN beacon from %s refused: it came over the mesh interface %s",
			  addr_text(from, text, sizeof(text)), lb->mesh_ifname);
		return;
	}
	r = beacon_decode(buf, len, lb->mesh_id, (uint64_t)time(NULL), &b);
	if (r < 0) {
		lb->st.rejected++;
		if (r == -EXDEV)
			lb->st.other_mesh++;
		else if (r == -EKEYREJECTED)
			lb->st.forged++;
		log_debug("LAN beacon from %s refused: %s", addr_text(from, text, sizeof(text)),
			  strerror(-r));
		return;
	}
	if (memcmp(b.host_key, lb->host_pk, REC_KEY_SIZE) == 0) {
		lb->st.own++;
		return;
	}
	switch (lanbeacon_window_check(&lb->window, &b)) {
	case LANBEACON_NEW:
		break;
	case LANBEACON_DUPLICATE:
		lb->st.duplicates++;
		return;
	case LANBEACON_REPLAY:
	default:
		lb->st.rejected++;
		lb->st.replayed++;
		log_debug("LAN beacon from %s refused: not newer than the last from its key",
			  addr_text(from, text, sizeof(text)));
		return;
	}
	if (from->ss_family == AF_INET)
		((struct sockaddr_in *)from)->sin_port = htons(b.port);
	else
		((struct sockaddr_in6 *)from)->sin6_port = htons(b.port);
	lb->st.heard++;
	lb->heard(lb->arg, &b, from, ifindex);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct lanbeacon *lb = arg;
	/* One byte more than a beacon: a longer datagram is seen to be too long. */
	uint8_t buf[BEACON_SIZE + 1];

	(void)what;
	for (int i = 0; i < RECV_BURST; i++) {
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) +
				 CMSG_SPACE(sizeof(struct in_pktinfo))];
		} ctl;
		struct sockaddr_storage from;
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
		struct msghdr msg;
		ssize_t n;

		memset(&from, 0, sizeof(from));
		memset(&msg, 0, sizeof(msg));
		msg.msg_name = &from;
		msg.msg_namelen = sizeof(from);
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		n = recvmsg(fd, &msg, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_debug("LAN beacon: receiving failed: %s", strerror(errno));
			return;
		}
		receive(lb, buf, (msg.msg_flags & MSG_TRUNC) != 0 ? sizeof(buf) : (size_t)n, &from,
			pktinfo_ifindex(&msg));
	}
}

int lanbeacon_new(struct event_base *base, const struct lanbeacon_params *p, struct lanbeacon **out)
{
	struct lanbeacon *lb;
	int r;

	*out = NULL;
	if (p->port == 0 || p->sync_port == 0 || p->heard == NULL ||
	    (p->mesh_ifname != NULL && strlen(p->mesh_ifname) >= IF_NAMESIZE))
		return -EINVAL;
	if (sodium_init() < 0)
		return -ENOMEM;
	lb = calloc(1, sizeof(*lb));
	if (lb == NULL)
		return -ENOMEM;
	lb->base = base;
	lb->fd4 = lb->fd6 = -1;
	memcpy(lb->mesh_id, p->mesh_id, REC_ID_SIZE);
	memcpy(lb->host_sk, p->host_sk, REC_SECRET_SIZE);
	crypto_sign_ed25519_sk_to_pk(lb->host_pk, lb->host_sk);
	lb->port = p->port;
	lb->sync_port = p->sync_port;
	if (p->mesh_ifname != NULL)
		snprintf(lb->mesh_ifname, sizeof(lb->mesh_ifname), "%s", p->mesh_ifname);
	lb->heard = p->heard;
	lb->arg = p->arg;

	r = open_socket(AF_INET, p->port);
	if (r < 0)
		goto fail;
	lb->fd4 = r;
	r = open_socket(AF_INET6, p->port);
	if (r == -EAFNOSUPPORT) {
		log_warnx("LAN beacon: this host has no IPv6: beacons over IPv4 only");
	} else if (r < 0) {
		goto fail;
	} else {
		lb->fd6 = r;
	}
	lb->ev4 = event_new(base, lb->fd4, EV_READ | EV_PERSIST, on_read, lb);
	lb->ev_send = evtimer_new(base, on_send_timer, lb);
	r = -ENOMEM;
	if (lb->ev4 == NULL || lb->ev_send == NULL || event_add(lb->ev4, NULL) < 0)
		goto fail;
	if (lb->fd6 >= 0) {
		lb->ev6 = event_new(base, lb->fd6, EV_READ | EV_PERSIST, on_read, lb);
		if (lb->ev6 == NULL || event_add(lb->ev6, NULL) < 0)
			goto fail;
	}
	/* Join now, so that beacons are heard before the first one is sent. */
	scan(lb);
	arm(lb, randombytes_uniform(FIRST_WITHIN_MS));
	*out = lb;
	return 0;
fail:
	lanbeacon_free(lb);
	return r;
}

void lanbeacon_free(struct lanbeacon *lb)
{
	if (lb == NULL)
		return;
	if (lb->ev4 != NULL)
		event_free(lb->ev4);
	if (lb->ev6 != NULL)
		event_free(lb->ev6);
	if (lb->ev_send != NULL)
		event_free(lb->ev_send);
	if (lb->fd4 >= 0)
		close(lb->fd4);
	if (lb->fd6 >= 0)
		close(lb->fd6);
	sodium_memzero(lb, sizeof(*lb));
	free(lb);
}

void lanbeacon_update(struct lanbeacon *lb, uint64_t endpoints_seq,
		      const uint8_t fingerprint[BEACON_FINGERPRINT_SIZE])
{
	lb->endpoints_seq = endpoints_seq;
	memcpy(lb->fingerprint, fingerprint, BEACON_FINGERPRINT_SIZE);
}

void lanbeacon_stats(const struct lanbeacon *lb, struct lanbeacon_stats *st)
{
	*st = lb->st;
}
