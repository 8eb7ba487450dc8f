/*
 * publish.c: meshnamed publishes this host's ENDPOINTS record by itself: the addresses of
 * its interfaces, the `endpoint` lines of meshnamed.conf (names resolved with evdns, never
 * blocking), the pinned list of `meshname endpoint add`, and the reflexive endpoint when
 * the NAT is open. Owns an rtnetlink socket, its timers and the lookups; never speaks for
 * another host, never republishes an unchanged set, never retries in a tight loop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <sodium.h>

#include "common/addr.h"
#include "common/log.h"
#include "daemon/publish.h"
#include "meshname/endpoints.h"
#include "meshname/keys.h"
#include "meshname/registry.h"
#include "meshname/wgmanager.h"

#define DEBOUNCE_MS 1000       /* address notifications come in bursts */
#define TICK_S 10              /* fallback recheck, lapses, retries */
#define RESOLVE_INTERVAL_S 300 /* `endpoint NAME:PORT` looked up again */
#define RESOLVE_RETRY_S 60     /* ... sooner while it does not resolve */
#define BACKOFF_MIN_S 30       /* after a failed publish, doubling */
#define BACKOFF_MAX_S 600
#define BURST_WINDOW_S 600 /* at most BURST_MAX publishes in this window */
#define BURST_MAX 20
#define NAME_ADDRS 4 /* addresses kept per configured name */
#define MAX_ADDRS 256
#define STARTUP_WAIT_S 5 /* for the first lookup of the configured names */

/* IPv6 address flags of /proc/net/if_inet6 (linux/if_addr.h). */
#define IF6_TEMPORARY 0x01
#define IF6_DADFAILED 0x08
#define IF6_DEPRECATED 0x20
#define IF6_TENTATIVE 0x40

/* ---- the pure part ------------------------------------------------------------------ */

const char *publish_source_name(uint8_t source)
{
	switch (source) {
	case PUBLISH_SRC_PINNED:
		return "pinned";
	case PUBLISH_SRC_CONFIG:
		return "config";
	case PUBLISH_SRC_REFLEXIVE:
		return "reflexive";
	case PUBLISH_SRC_INTERFACE:
		return "interface";
	default:
		return "unknown";
	}
}

static bool in_prefix(uint8_t family, const uint8_t addr[16], const struct config_prefix *pf)
{
	return (family == 4 ? AF_INET : AF_INET6) == pf->family &&
	       addr_prefix_match(addr, pf->addr, pf->len);
}

static bool in_any(uint8_t family, const uint8_t addr[16], const struct config_prefix *list,
		   size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (in_prefix(family, addr, &list[i]))
			return true;
	return false;
}

static bool v4_in(const uint8_t a[16], uint8_t b0, uint8_t b1, unsigned len)
{
	struct config_prefix pf = { .family = AF_INET, .len = (uint8_t)len, .addr = { b0, b1 } };

	return in_prefix(4, a, &pf);
}

uint8_t publish_classify(uint8_t family, const uint8_t addr[16], const struct config_prefix *lan,
			 size_t n_lan, const struct config_prefix *mesh, size_t n_mesh)
{
	static const uint8_t zero[16];

	if (family == 4) {
		if (addr[0] == 0 || addr[0] == 127 || addr[0] >= 224 || v4_in(addr, 169, 254, 16))
			return 0; /* this network, loopback, multicast/reserved/broadcast, link-local */
	} else if (family == 6) {
		static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

		if (memcmp(addr, zero, 15) == 0 || addr[0] == 0xff ||
		    (addr[0] == 0xfe && (addr[1] & 0xc0) == 0x80) || memcmp(addr, mapped, 12) == 0)
			return 0; /* unspecified, loopback, multicast, link-local, v4-mapped */
	} else {
		return 0;
	}
	/* The mesh's own prefixes first: the IPv4 one lies inside 100.64.0.0/10. */
	if (in_any(family, addr, mesh, n_mesh))
		return 0;
	if (in_any(family, addr, lan, n_lan))
		return EP_LAN;
	if (family == 4) {
		/* RFC 1918, and RFC 6598's shared space, which carriers and Tailscale-like
		 * overlays use inside: neither is reachable from the internet. */
		if (addr[0] == 10 || v4_in(addr, 172, 16, 12) || v4_in(addr, 192, 168, 16) ||
		    v4_in(addr, 100, 64, 10))
			return EP_LAN;
		return EP_PUBLIC;
	}
	if ((addr[0] & 0xfe) == 0xfc) /* RFC 4193 unique local */
		return EP_LAN;
	if ((addr[0] & 0xe0) == 0x20) /* RFC 4291 2.4: global unicast */
		return EP_IPV6;
	return 0;
}

struct builder {
	struct rec_endpoints cand;
	uint8_t source[REC_MAX_ENDPOINTS];
	size_t dropped;
};

static void take(struct builder *b, const struct rec_endpoint *ep, uint8_t source)
{
	if (ep->kind == 0 || ep->port == 0 || endpoints_find(&b->cand, ep) >= 0)
		return;
	if (b->cand.n == REC_MAX_ENDPOINTS) {
		b->dropped++;
		return;
	}
	b->source[b->cand.n] = source;
	b->cand.ep[b->cand.n++] = *ep;
}

/* The record's order (kind, family, address, port), as endpoints_sort sorts. */
static int ep_order(const struct rec_endpoint *a, const struct rec_endpoint *b)
{
	int c;

	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	c = memcmp(a->addr, b->addr, 16);
	if (c != 0)
		return c;
	return a->port < b->port ? -1 : a->port > b->port ? 1 : 0;
}

size_t publish_build(const struct publish_input *in, struct rec_endpoints *out,
		     uint8_t source[REC_MAX_ENDPOINTS])
{
	static const uint8_t kinds[] = { EP_PUBLIC, EP_IPV6, EP_LAN };
	struct builder b;
	struct rec_endpoint ep;
	size_t i;

	memset(&b, 0, sizeof(b));
	for (i = 0; i < in->n_pinned; i++)
		take(&b, &in->pinned[i], PUBLISH_SRC_PINNED);
	for (i = 0; i < in->n_configured; i++) {
		ep = in->configured[i];
		ep.kind = publish_classify(ep.family, ep.addr, in->lan, in->n_lan, in->mesh,
					   in->n_mesh);
		take(&b, &ep, PUBLISH_SRC_CONFIG);
	}
	if (in->reflexive != NULL) {
		ep = *in->reflexive;
		ep.kind = EP_REFLEXIVE;
		take(&b, &ep, PUBLISH_SRC_REFLEXIVE);
	}
	for (size_t k = 0; k < sizeof(kinds); k++) {
		for (i = 0; i < in->n_addrs; i++) {
			const struct publish_ifaddr *a = &in->addrs[i];

			if (!a->up || a->loopback || a->unstable ||
			    (in->mesh_ifname != NULL && strcmp(a->ifname, in->mesh_ifname) == 0))
				continue;
			memset(&ep, 0, sizeof(ep));
			ep.family = a->family;
			memcpy(ep.addr, a->addr, 16);
			ep.port = in->listen_port;
			ep.kind = publish_classify(a->family, a->addr, in->lan, in->n_lan, in->mesh,
						   in->n_mesh);
			if (ep.kind == kinds[k])
				take(&b, &ep, PUBLISH_SRC_INTERFACE);
		}
	}
	/* Sort with the sources alongside: insertion sort, at most 16 entries. */
	for (i = 1; i < b.cand.n; i++) {
		for (size_t j = i; j > 0 && ep_order(&b.cand.ep[j], &b.cand.ep[j - 1]) < 0; j--) {
			struct rec_endpoint t = b.cand.ep[j];
			uint8_t s = b.source[j];

			b.cand.ep[j] = b.cand.ep[j - 1];
			b.source[j] = b.source[j - 1];
			b.cand.ep[j - 1] = t;
			b.source[j - 1] = s;
		}
	}
	b.cand.listen_port = in->listen_port;
	*out = b.cand;
	if (source != NULL)
		memcpy(source, b.source, sizeof(b.source));
	return b.dropped;
}

uint64_t publish_expiry(uint64_t not_after, uint64_t now)
{
	return now + PUBLISH_LIFETIME < not_after ? now + PUBLISH_LIFETIME : not_after;
}

enum publish_why publish_due(const struct rec_endpoints *want, const struct rec_endpoints *current,
			     uint64_t current_seq, uint64_t current_expires, uint64_t not_after,
			     uint64_t now)
{
	if (current_seq == 0)
		return want->n > 0 ? PUBLISH_FIRST : PUBLISH_NONE;
	if (!endpoints_equal(want, current))
		return PUBLISH_CHANGED;
	if (current_expires < now + PUBLISH_REFRESH_LEFT &&
	    publish_expiry(not_after, now) > current_expires)
		return PUBLISH_REFRESH;
	return PUBLISH_NONE;
}

bool publish_observation(const struct sockaddr_storage *endpoint, int64_t last_handshake,
			 const struct snapshot_host *peer, const struct wg_local_net *local,
			 int64_t now, struct rec_endpoint *seen)
{
	memset(seen, 0, sizeof(*seen));
	if (last_handshake <= 0 || now - last_handshake >= WG_EP_FRESH)
		return false;
	if (endpoint->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)endpoint;

		seen->family = 4;
		memcpy(seen->addr, &sin->sin_addr, 4);
		seen->port = ntohs(sin->sin_port);
	} else if (endpoint->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)endpoint;

		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			seen->family = 4;
			memcpy(seen->addr, sin6->sin6_addr.s6_addr + 12, 4);
		} else {
			seen->family = 6;
			memcpy(seen->addr, &sin6->sin6_addr, 16);
		}
		seen->port = ntohs(sin6->sin6_port);
	} else {
		return false;
	}
	seen->kind = EP_REFLEXIVE;
	if (seen->port == 0 || wg_local_on_link(local, seen->family, seen->addr))
		return false;
	for (unsigned i = 0; i < peer->n_endpoints; i++) {
		const struct rec_endpoint *e = &peer->endpoints[i];

		if (e->kind != EP_REFLEXIVE && e->family == seen->family &&
		    memcmp(e->addr, seen->addr, 16) == 0)
			return false;
	}
	return true;
}

bool publish_observe_due(const struct rec_endpoint *seen, const struct rec_endpoint *prev,
			 uint64_t prev_issued, uint64_t prev_expires, uint64_t last_attempt,
			 uint64_t now)
{
	if (last_attempt != 0 && now < last_attempt + PUBLISH_OBSERVE_MIN_INTERVAL)
		return false;
	if (prev == NULL || prev_expires <= now)
		return true;
	if (prev->family != seen->family || prev->port != seen->port ||
	    memcmp(prev->addr, seen->addr, 16) != 0)
		return true;
	return now >= prev_issued + (prev_expires - prev_issued) / 2;
}

/* ---- the dispatch ------------------------------------------------------------------- */

struct publish_name {
	struct publish *p;
	char host[CONFIG_HOST_MAX];
	uint16_t port;
	bool literal; /* an address in the config: never looked up */
	uint8_t n;
	struct rec_endpoint addr[NAME_ADDRS];
	bool tried;  /* a lookup finished at least once */
	bool failed; /* the last lookup failed (logged once until it resolves) */
	struct evdns_getaddrinfo_request *req;
	bool in_flight;
};

struct observed {
	uint8_t subject[REC_KEY_SIZE];
	struct rec_endpoint seen; /* what this daemon signed last */
	uint64_t seq, issued, expires;
	uint64_t last_attempt;
};

struct publish {
	struct event_base *base;
	struct registry *reg;
	const char *state_dir;
	uint8_t self_key[REC_KEY_SIZE];
	bool have_self_key;
	struct wg_manager *wg;
	publish_changed_fn changed;
	void *arg;

	/* from the config */
	bool enabled;
	char ifname[CONFIG_IFNAME_MAX];
	uint16_t listen_port;
	struct config_prefix lan[CONFIG_MAX_LAN_PREFIX];
	size_t n_lan;
	struct publish_name names[CONFIG_MAX_ENDPOINT];
	size_t n_names;

	struct snapshot *snap;
	int nl_fd;
	struct event *ev_nl, *ev_debounce, *ev_tick, *ev_resolve;
	struct evdns_base *dns;
	bool closing;
	uint64_t started;

	/* what this daemon published last (the snapshot may not show it yet) */
	struct rec_endpoints last;
	uint64_t last_seq, last_expires, last_publish;
	uint8_t source[REC_MAX_ENDPOINTS]; /* of the last build, by entry of `want` */
	struct rec_endpoints want;
	size_t n_dropped;
	bool member;
	/* errors and limits */
	uint64_t retry_after;
	unsigned backoff;
	uint64_t burst_start;
	unsigned burst;
	bool burst_logged;
	char error[256];
	enum wg_nat nat;
	/* observations: one entry per peer this daemon observed (grows, never shrinks) */
	struct observed *observed;
	size_t n_observed, cap_observed;
	size_t n_signed;
	bool observe_error_logged;
	unsigned pinned_error_line; /* logged once per broken state */
	int pinned_error;
	bool member_logged;
};

static uint64_t now_s(void)
{
	return (uint64_t)time(NULL);
}

static void schedule(struct publish *p, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	/* Not re-armed while pending: a storm of notifications waits at most one period. */
	if (!evtimer_pending(p->ev_debounce, NULL))
		evtimer_add(p->ev_debounce, &tv);
}

/* /proc/net/if_inet6: the flags getifaddrs does not give (privacy addresses change every
 * day and exist so that nobody learns them; tentative ones may fail DAD). */
static bool v6_unstable(const uint8_t addr[16])
{
	char line[256], hex[33];
	unsigned idx, plen, scope, flags;
	bool unstable = false;
	FILE *fp = fopen("/proc/net/if_inet6", "re");

	if (fp == NULL)
		return false;
	while (fgets(line, sizeof(line), fp) != NULL) {
		uint8_t a[16];

		if (sscanf(line, "%32s %x %x %x %x", hex, &idx, &plen, &scope, &flags) != 5 ||
		    strlen(hex) != 32)
			continue;
		for (int i = 0; i < 16; i++) {
			unsigned v;

			if (sscanf(hex + 2 * i, "%2x", &v) != 1)
				break;
			a[i] = (uint8_t)v;
		}
		if (memcmp(a, addr, 16) == 0) {
			unstable = (flags & (IF6_TEMPORARY | IF6_DADFAILED | IF6_DEPRECATED |
					     IF6_TENTATIVE)) != 0;
			break;
		}
	}
	fclose(fp);
	return unstable;
}

static uint8_t netmask_len(const struct sockaddr *mask)
{
	const uint8_t *b;
	size_t n;
	uint8_t len = 0;

	if (mask == NULL)
		return 0;
	if (mask->sa_family == AF_INET) {
		b = (const uint8_t *)&((const struct sockaddr_in *)(const void *)mask)->sin_addr;
		n = 4;
	} else if (mask->sa_family == AF_INET6) {
		b = ((const struct sockaddr_in6 *)(const void *)mask)->sin6_addr.s6_addr;
		n = 16;
	} else {
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		for (uint8_t bit = 0x80; bit != 0 && (b[i] & bit); bit >>= 1)
			len++;
	return len;
}

static size_t scan_addresses(struct publish_ifaddr *out, size_t max)
{
	struct ifaddrs *ifa = NULL;
	size_t n = 0;

	if (getifaddrs(&ifa) < 0) {
		log_warn("cannot list this host's addresses");
		return 0;
	}
	for (struct ifaddrs *i = ifa; i != NULL && n < max; i = i->ifa_next) {
		struct publish_ifaddr *a = &out[n];

		if (i->ifa_addr == NULL || i->ifa_name == NULL ||
		    (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
			continue;
		memset(a, 0, sizeof(*a));
		snprintf(a->ifname, sizeof(a->ifname), "%s", i->ifa_name);
		a->up = (i->ifa_flags & IFF_UP) != 0;
		a->loopback = (i->ifa_flags & IFF_LOOPBACK) != 0;
		a->prefix_len = netmask_len(i->ifa_netmask);
		if (i->ifa_addr->sa_family == AF_INET) {
			a->family = 4;
			memcpy(a->addr, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, 4);
		} else {
			a->family = 6;
			memcpy(a->addr, &((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr,
			       16);
			a->unstable = v6_unstable(a->addr);
		}
		n++;
	}
	freeifaddrs(ifa);
	return n;
}

static void mesh_prefixes(const struct snapshot *s, struct config_prefix out[2])
{
	const struct rec_root *root = snapshot_root(s);

	memset(out, 0, 2 * sizeof(out[0]));
	out[0].family = AF_INET;
	out[0].len = root->ipv4_len;
	memcpy(out[0].addr, root->ipv4, 4);
	out[1].family = AF_INET6;
	out[1].len = REC_IPV6_PREFIX_LEN;
	memcpy(out[1].addr, root->ipv6, 16);
}

static uint16_t current_listen_port(const struct publish *p)
{
	struct wg_manager_status st = { 0 };
	uint16_t port = p->listen_port;

	if (p->wg != NULL && wg_manager_status(p->wg, &st) == 0) {
		if (st.device && st.listen_port != 0)
			port = st.listen_port;
		wg_manager_status_clear(&st);
	}
	return port;
}

static void load_pinned(struct publish *p, struct rec_endpoints *pinned)
{
	unsigned line = 0;
	int r = endpoints_pinned_load(p->state_dir, pinned, &line);

	if (r < 0 && (r != p->pinned_error || line != p->pinned_error_line)) {
		if (line > 0)
			log_warnx("%s/%s:%u: not KIND ADDRESS PORT (%s): the endpoints added by "
				  "hand are left out until it is fixed",
				  p->state_dir, ENDPOINTS_PINNED, line,
				  r == -E2BIG ? "more than 16 entries" : "malformed line");
		else
			log_warnx("cannot read %s/%s: %s", p->state_dir, ENDPOINTS_PINNED,
				  strerror(-r));
	}
	p->pinned_error = r;
	p->pinned_error_line = line;
}

/* Computes p->want; returns this host's snapshot entry (NULL: not an active member). */
static const struct snapshot_host *compute(struct publish *p)
{
	struct publish_ifaddr *addrs;
	struct rec_endpoints pinned;
	struct rec_endpoint configured[CONFIG_MAX_ENDPOINT * NAME_ADDRS];
	struct config_prefix mesh[2];
	struct publish_input in = { 0 };
	struct rec_endpoint reflexive;
	const struct snapshot_host *self;
	size_t n_conf = 0;

	if (p->snap == NULL || !p->have_self_key)
		return NULL;
	self = snapshot_lookup_host_key(p->snap, p->self_key);
	p->member = self != NULL;
	if (self == NULL)
		return NULL;
	addrs = calloc(MAX_ADDRS, sizeof(*addrs));
	if (addrs == NULL) {
		log_warnx("out of memory while listing addresses");
		return NULL;
	}
	load_pinned(p, &pinned);
	for (size_t i = 0; i < p->n_names; i++)
		for (size_t k = 0; k < p->names[i].n; k++)
			configured[n_conf++] = p->names[i].addr[k];
	mesh_prefixes(p->snap, mesh);
	in.listen_port = current_listen_port(p);
	in.mesh_ifname = p->ifname;
	in.addrs = addrs;
	in.n_addrs = scan_addresses(addrs, MAX_ADDRS);
	in.lan = p->lan;
	in.n_lan = p->n_lan;
	in.mesh = mesh;
	in.n_mesh = 2;
	in.configured = configured;
	in.n_configured = n_conf;
	in.pinned = pinned.ep;
	in.n_pinned = pinned.n;
	p->nat = wg_nat_verdict(p->snap, self, (int64_t)now_s(), &reflexive);
	in.reflexive = p->nat == WG_NAT_OPEN ? &reflexive : NULL;
	p->n_dropped = publish_build(&in, &p->want, p->source);
	free(addrs);
	return self;
}

/* What is in force: the snapshot's record, or ours when the snapshot does not show it yet. */
static void in_force(const struct publish *p, const struct snapshot_host *self,
		     struct rec_endpoints *cur, uint64_t *seq, uint64_t *expires)
{
	if (p->last_seq > self->endpoints_seq) {
		*cur = p->last;
		*seq = p->last_seq;
		*expires = p->last_expires;
	} else {
		endpoints_of_host(self, cur);
		*seq = self->endpoints_seq;
		*expires = self->endpoints_expires;
	}
}

static const char *why_text(enum publish_why why)
{
	switch (why) {
	case PUBLISH_FIRST:
		return "first record";
	case PUBLISH_CHANGED:
		return "changed";
	case PUBLISH_REFRESH:
		return "refreshed before it lapses";
	default:
		return "unchanged";
	}
}

static void fail(struct publish *p, uint64_t now, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail(struct publish *p, uint64_t now, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->error, sizeof(p->error), fmt, ap);
	va_end(ap);
	p->backoff = p->backoff == 0 ? BACKOFF_MIN_S : p->backoff * 2;
	if (p->backoff > BACKOFF_MAX_S)
		p->backoff = BACKOFF_MAX_S;
	p->retry_after = now + p->backoff;
	log_warnx("cannot publish this host's endpoints: %s (next try in %u s)", p->error,
		  p->backoff);
}

/* Signs and ingests want. 0, or a -errno already logged and stored in p->error. */
static int sign_and_ingest(struct publish *p, const struct snapshot_host *self, uint64_t now,
			   uint64_t cur_seq, enum publish_why why)
{
	uint8_t buf[REC_MAX_SIZE];
	size_t len = 0;
	enum ingest_result res;
	uint64_t seq, expires = publish_expiry(self->not_after, now);
	int r;

	/* The clock as a floor keeps seq growing across restarts and lapsed records, and
	 * above what `meshname endpoint add` wrote (it counts from 1). */
	seq = cur_seq + 1 > now ? cur_seq + 1 : now;
	r = endpoints_sign(p->state_dir, snapshot_mesh_id(p->snap), &p->want, seq, now, expires,
			   buf, &len);
	if (r < 0) {
		fail(p, now, "cannot sign the record with %s/host.key: %s", p->state_dir,
		     strerror(-r));
		return r;
	}
	r = registry_ingest(p->reg, buf, len, now, &res);
	if (r == 0 && res == INGEST_PENDING)
		r = -EPERM;
	if (r < 0) {
		fail(p, now, "the registry refused it: %s", registry_strerror(r));
		return r;
	}
	p->last = p->want;
	endpoints_sort(&p->last);
	p->last_seq = seq;
	p->last_expires = expires;
	p->last_publish = now;
	p->backoff = 0;
	p->retry_after = 0;
	p->error[0] = '\0';
	log_info("published %u endpoint%s on listen port %u (seq %llu, %s)", p->want.n,
		 p->want.n == 1 ? "" : "s", p->want.listen_port, (unsigned long long)seq,
		 why_text(why));
	if (p->changed != NULL)
		p->changed(p->arg);
	return 0;
}

/* One look: compute, compare, publish when due. forced: a user asked (no limits). */
static int run(struct publish *p, uint64_t now, bool forced, struct publish_result *res)
{
	const struct snapshot_host *self;
	struct snapshot *snap;
	struct rec_endpoints cur;
	uint64_t cur_seq, cur_expires;
	enum publish_why why;
	int r = 0;

	if (!p->enabled)
		return -EOPNOTSUPP;
	/* Our own reference: an accepted publish makes the daemon swap the snapshot, and
	 * self points into this one. */
	snap = p->snap != NULL ? snapshot_ref(p->snap) : NULL;
	self = compute(p);
	if (self == NULL) {
		if (!p->member_logged && p->snap != NULL && p->have_self_key)
			log_info("this host is not an active member of the mesh: its endpoints are "
				 "not published");
		p->member_logged = p->snap != NULL && p->have_self_key;
		snapshot_unref(snap);
		return -ENOENT;
	}
	p->member_logged = false;
	in_force(p, self, &cur, &cur_seq, &cur_expires);
	why = publish_due(&p->want, &cur, cur_seq, cur_expires, self->not_after, now);
	/* At start, a record without the configured names would be replaced a moment later
	 * (or their lookup fails, and is given up to STARTUP_WAIT_S seconds). */
	if (why != PUBLISH_NONE && !forced && now < p->started + STARTUP_WAIT_S)
		for (size_t i = 0; i < p->n_names; i++)
			if (!p->names[i].tried)
				why = PUBLISH_NONE;
	if (why != PUBLISH_NONE && !forced) {
		if (now < p->retry_after)
			why = PUBLISH_NONE; /* the tick tries again after the back-off */
		if (now >= p->burst_start + BURST_WINDOW_S) {
			p->burst_start = now;
			p->burst = 0;
			p->burst_logged = false;
		}
		if (why != PUBLISH_NONE && p->burst >= BURST_MAX) {
			if (!p->burst_logged)
				log_warnx("endpoints changed %u times in %d s: waiting before "
					  "publishing again",
					  p->burst, BURST_WINDOW_S);
			p->burst_logged = true;
			why = PUBLISH_NONE;
		}
	}
	if (why != PUBLISH_NONE) {
		p->burst++;
		r = sign_and_ingest(p, self, now, cur_seq, why);
		if (r == 0) {
			cur = p->last;
			cur_seq = p->last_seq;
		}
	}
	if (res != NULL) {
		res->published = why != PUBLISH_NONE && r == 0;
		res->seq = cur_seq;
		res->n = cur.n;
		res->listen_port = cur.listen_port;
	}
	snapshot_unref(snap);
	return r;
}

/* ---- observations ------------------------------------------------------------------- */

static struct observed *observed_for(struct publish *p, const uint8_t subject[REC_KEY_SIZE])
{
	struct observed *o;

	for (size_t i = 0; i < p->n_observed; i++)
		if (memcmp(p->observed[i].subject, subject, REC_KEY_SIZE) == 0)
			return &p->observed[i];
	if (p->n_observed == p->cap_observed) {
		size_t cap = p->cap_observed != 0 ? p->cap_observed * 2 : 16;

		o = realloc(p->observed, cap * sizeof(*o));
		if (o == NULL)
			return NULL;
		p->observed = o;
		p->cap_observed = cap;
	}
	o = &p->observed[p->n_observed++];
	memset(o, 0, sizeof(*o));
	memcpy(o->subject, subject, REC_KEY_SIZE);
	return o;
}

/* What the registry holds of our own observation of peer (after a restart, this is how
 * the daemon knows it), into o when it is newer than what o says. */
static void observed_from_snapshot(const struct publish *p, const struct snapshot_host *peer,
				   struct observed *o)
{
	for (unsigned i = 0; i < peer->n_observations; i++) {
		const struct snapshot_observation *ob = &peer->observations[i];

		if (memcmp(ob->observer, p->self_key, REC_KEY_SIZE) == 0 && ob->seq > o->seq) {
			o->seen = ob->seen;
			o->seq = ob->seq;
			o->issued = ob->issued_at;
			o->expires = ob->expires_at;
		}
	}
}

static int sign_observation(struct publish *p, struct observed *o, const struct rec_endpoint *seen,
			    uint64_t now)
{
	uint8_t sk[REC_SECRET_SIZE], buf[REC_MAX_SIZE];
	enum ingest_result res;
	struct rec r;
	size_t len = 0;
	int rc;

	memset(&r, 0, sizeof(r));
	r.type = REC_OBSERVE;
	memcpy(r.mesh_id, snapshot_mesh_id(p->snap), REC_ID_SIZE);
	r.seq = o->seq + 1 > now ? o->seq + 1 : now; /* as for ENDPOINTS: survives restarts */
	r.issued_at = now;
	r.expires_at = now + PUBLISH_OBSERVE_LIFETIME;
	memcpy(r.u.observe.subject, o->subject, REC_KEY_SIZE);
	r.u.observe.seen = *seen;
	rc = keys_ed25519_load(p->state_dir, KEYS_HOST, sk);
	if (rc == 0)
		rc = rec_sign(&r, sk, buf, sizeof(buf), &len);
	sodium_memzero(sk, sizeof(sk));
	if (rc == 0)
		rc = registry_ingest(p->reg, buf, len, now, &res);
	if (rc == 0 && res == INGEST_PENDING)
		rc = -EPERM;
	if (rc < 0)
		return rc;
	o->seen = *seen;
	o->seq = r.seq;
	o->issued = r.issued_at;
	o->expires = r.expires_at;
	p->n_signed++;
	return 0;
}

/* Signs what this host's WireGuard shows of its peers, where it says something new. */
static void observe(struct publish *p, uint64_t now)
{
	struct wg_manager_status st = { 0 };
	struct publish_ifaddr *addrs = NULL;
	struct wg_local_prefix *prefixes = NULL;
	struct wg_local_net local = { 0 };
	struct snapshot *snap;
	size_t n_addrs, accepted = 0;

	if (p->wg == NULL || p->snap == NULL || !p->have_self_key ||
	    snapshot_lookup_host_key(p->snap, p->self_key) == NULL ||
	    wg_manager_status(p->wg, &st) < 0)
		return;
	snap = snapshot_ref(p->snap); /* a publish below swaps the daemon's */
	addrs = calloc(MAX_ADDRS, sizeof(*addrs));
	prefixes = calloc(MAX_ADDRS, sizeof(*prefixes));
	if (addrs == NULL || prefixes == NULL || !st.device)
		goto out;
	n_addrs = scan_addresses(addrs, MAX_ADDRS);
	for (size_t i = 0; i < n_addrs; i++) {
		prefixes[i].family = addrs[i].family == 4 ? AF_INET : AF_INET6;
		prefixes[i].len = addrs[i].prefix_len;
		memcpy(prefixes[i].addr, addrs[i].addr, 16);
	}
	local.n = n_addrs;
	local.prefixes = prefixes;
	for (size_t i = 0; i < st.n_peers; i++) {
		const struct wg_manager_peer_status *ps = &st.peers[i];
		const struct snapshot_host *peer;
		struct rec_endpoint seen;
		struct observed *o;
		int rc;

		if (ps->name[0] == '\0')
			continue;
		peer = snapshot_lookup_name(snap, ps->name, strlen(ps->name));
		if (peer == NULL || memcmp(peer->host_key, p->self_key, REC_KEY_SIZE) == 0 ||
		    !publish_observation(&ps->endpoint, ps->last_handshake, peer, &local,
					 (int64_t)now, &seen))
			continue;
		o = observed_for(p, peer->host_key);
		if (o == NULL)
			break;
		observed_from_snapshot(p, peer, o);
		if (!publish_observe_due(&seen, o->seq != 0 ? &o->seen : NULL, o->issued,
					 o->expires, o->last_attempt, now))
			continue;
		o->last_attempt = now;
		rc = sign_observation(p, o, &seen, now);
		if (rc < 0) {
			if (!p->observe_error_logged)
				log_warnx("cannot publish the observation of %s: %s", ps->name,
					  rc == -ENOENT || rc == -EPERM || rc == -EBADMSG ?
						  strerror(-rc) :
						  registry_strerror(rc));
			p->observe_error_logged = true;
			continue;
		}
		p->observe_error_logged = false;
		accepted++;
		log_debug("observed %s at its endpoint (seq %llu)", ps->name,
			  (unsigned long long)o->seq);
	}
	if (accepted > 0 && p->changed != NULL)
		p->changed(p->arg);
out:
	free(addrs);
	free(prefixes);
	snapshot_unref(snap);
	wg_manager_status_clear(&st);
}

static void on_debounce(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	run(arg, now_s(), false, NULL);
}

static void on_tick(evutil_socket_t fd, short events, void *arg)
{
	struct publish *p = arg;
	uint64_t now = now_s();

	(void)fd;
	(void)events;
	run(p, now, false, NULL);
	if (p->enabled)
		observe(p, now);
}

/* rtnetlink: any address or link message means "look again soon". */
static void on_netlink(evutil_socket_t fd, short events, void *arg)
{
	struct publish *p = arg;
	char buf[8192];
	bool any = false;

	(void)events;
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n > 0) {
			any = true;
			continue;
		}
		/* ENOBUFS: the kernel dropped messages, so something changed. */
		if (n < 0 && errno == ENOBUFS) {
			any = true;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	if (any)
		schedule(p, DEBOUNCE_MS);
}

static int open_netlink(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return -errno;
	sa.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

/* ---- configured names --------------------------------------------------------------- */

static int addr_cmp(const void *a, const void *b)
{
	const struct rec_endpoint *x = a, *y = b;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	return memcmp(x->addr, y->addr, 16);
}

static void on_resolved(int result, struct evutil_addrinfo *ai, void *arg)
{
	struct publish_name *n = arg;
	struct publish *p = n->p;
	struct rec_endpoint got[NAME_ADDRS];
	uint8_t k = 0;
	bool same;

	n->req = NULL;
	n->in_flight = false;
	if (result == EVUTIL_EAI_CANCEL || p->closing) {
		if (ai != NULL)
			evutil_freeaddrinfo(ai);
		return;
	}
	memset(got, 0, sizeof(got));
	for (struct evutil_addrinfo *i = ai; result == 0 && i != NULL && k < NAME_ADDRS;
	     i = i->ai_next) {
		struct rec_endpoint e = { .port = n->port };
		bool dup = false;

		if (i->ai_family == AF_INET) {
			e.family = 4;
			memcpy(e.addr, &((struct sockaddr_in *)(void *)i->ai_addr)->sin_addr, 4);
		} else if (i->ai_family == AF_INET6) {
			e.family = 6;
			memcpy(e.addr, &((struct sockaddr_in6 *)(void *)i->ai_addr)->sin6_addr, 16);
		} else {
			continue;
		}
		for (uint8_t j = 0; j < k; j++)
			dup |= addr_cmp(&got[j], &e) == 0;
		if (!dup)
			got[k++] = e;
	}
	if (ai != NULL)
		evutil_freeaddrinfo(ai);
	/* A look soon, also after a failure: the first record may wait for this lookup. */
	schedule(p, 0);
	n->tried = true;
	if (k == 0) {
		/* Keep what it resolved to before: a DNS outage does not unpublish it. */
		if (!n->failed)
			log_warnx("endpoint %s:%u: cannot resolve %s (%s): left out until it "
				  "resolves",
				  n->host, n->port, n->host,
				  result != 0 ? evutil_gai_strerror(result) : "no address");
		n->failed = true;
		return;
	}
	/* Sorted: a round-robin answer in another order is not a change. */
	qsort(got, k, sizeof(got[0]), addr_cmp);
	same = k == n->n && memcmp(got, n->addr, k * sizeof(got[0])) == 0;
	if (n->failed || !same)
		log_info("endpoint %s:%u resolves to %u address%s", n->host, n->port, k,
			 k == 1 ? "" : "es");
	n->failed = false;
	memcpy(n->addr, got, sizeof(got));
	n->n = k;
}

static void resolve_all(struct publish *p)
{
	struct evutil_addrinfo hints = { 0 };
	bool retry_soon = false;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_protocol = IPPROTO_UDP;
	for (size_t i = 0; i < p->n_names; i++) {
		struct publish_name *n = &p->names[i];
		struct evdns_getaddrinfo_request *req;

		if (n->literal || n->in_flight)
			continue;
		if (p->dns == NULL) {
			p->dns = evdns_base_new(p->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
								 EVDNS_BASE_DISABLE_WHEN_INACTIVE);
			if (p->dns == NULL) {
				log_warnx("cannot start the DNS client for the endpoint names");
				return;
			}
		}
		retry_soon |= n->failed || !n->tried;
		n->in_flight = true;
		req = evdns_getaddrinfo(p->dns, n->host, NULL, &hints, on_resolved, n);
		/* The callback may have run already (an /etc/hosts entry): then req is NULL. */
		if (n->in_flight)
			n->req = req;
	}
	if (p->ev_resolve != NULL) {
		struct timeval tv = { retry_soon ? RESOLVE_RETRY_S : RESOLVE_INTERVAL_S, 0 };

		evtimer_add(p->ev_resolve, &tv);
	}
}

static void on_resolve_timer(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	resolve_all(arg);
}

static void cancel_names(struct publish *p)
{
	for (size_t i = 0; i < p->n_names; i++)
		if (p->names[i].req != NULL)
			evdns_getaddrinfo_cancel(p->names[i].req); /* calls on_resolved */
}

/* Copies the names of cfg; an address keeps its place without a lookup. */
static void set_names(struct publish *p, const struct config *cfg)
{
	cancel_names(p);
	memset(p->names, 0, sizeof(p->names));
	p->n_names = 0;
	for (size_t i = 0; i < cfg->n_endpoint && i < CONFIG_MAX_ENDPOINT; i++) {
		struct publish_name *n = &p->names[p->n_names++];
		const struct config_endpoint *ce = &cfg->endpoint[i];

		n->p = p;
		n->port = ce->port;
		snprintf(n->host, sizeof(n->host), "%s", ce->host);
		n->addr[0].port = ce->port;
		if (inet_pton(AF_INET, ce->host, n->addr[0].addr) == 1) {
			n->addr[0].family = 4;
		} else if (inet_pton(AF_INET6, ce->host, n->addr[0].addr) == 1) {
			n->addr[0].family = 6;
		} else {
			memset(&n->addr[0], 0, sizeof(n->addr[0]));
			continue;
		}
		n->literal = true;
		n->tried = true;
		n->n = 1;
	}
}

/* ---- the interface ------------------------------------------------------------------ */

int publish_reconfigure(struct publish *p, const struct config *cfg)
{
	p->enabled = cfg->publish_endpoints;
	snprintf(p->ifname, sizeof(p->ifname), "%s", cfg->interface);
	p->listen_port = cfg->listen_port;
	memcpy(p->lan, cfg->lan_prefix, sizeof(p->lan));
	p->n_lan = cfg->n_lan_prefix;
	set_names(p, cfg);
	if (p->enabled)
		resolve_all(p);
	schedule(p, DEBOUNCE_MS);
	return 0;
}

int publish_new(struct event_base *base, const struct publish_params *params,
		const struct config *cfg, struct publish **out)
{
	struct publish *p;
	struct timeval tick = { TICK_S, 0 };
	int r;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	p->base = base;
	p->reg = params->reg;
	p->state_dir = params->state_dir;
	p->wg = params->wg;
	p->changed = params->changed;
	p->arg = params->arg;
	p->nl_fd = -1;
	p->started = now_s();
	if (params->self_host_key != NULL) {
		memcpy(p->self_key, params->self_host_key, REC_KEY_SIZE);
		p->have_self_key = true;
	}
	p->ev_debounce = evtimer_new(base, on_debounce, p);
	p->ev_tick = event_new(base, -1, EV_PERSIST, on_tick, p);
	p->ev_resolve = evtimer_new(base, on_resolve_timer, p);
	if (p->ev_debounce == NULL || p->ev_tick == NULL || p->ev_resolve == NULL ||
	    event_add(p->ev_tick, &tick) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	r = open_netlink();
	if (r < 0) {
		/* The tick still notices changes, only later. */
		log_warnx("cannot watch address changes (rtnetlink): %s; looking every %d s",
			  strerror(-r), TICK_S);
	} else {
		p->nl_fd = r;
		p->ev_nl = event_new(base, p->nl_fd, EV_READ | EV_PERSIST, on_netlink, p);
		if (p->ev_nl == NULL || event_add(p->ev_nl, NULL) < 0) {
			r = -ENOMEM;
			goto fail;
		}
	}
	publish_reconfigure(p, cfg);
	*out = p;
	return 0;
fail:
	publish_free(p);
	return r;
}

void publish_set_snapshot(struct publish *p, struct snapshot *s)
{
	if (p->snap == s)
		return;
	snapshot_unref(p->snap);
	p->snap = s != NULL ? snapshot_ref(s) : NULL;
	schedule(p, DEBOUNCE_MS);
}

int publish_now(struct publish *p, uint64_t now, struct publish_result *res)
{
	memset(res, 0, sizeof(*res));
	return run(p, now, true, res);
}

void publish_status(const struct publish *p, struct publish_status *st)
{
	const struct snapshot_host *self = NULL;

	memset(st, 0, sizeof(*st));
	st->enabled = p->enabled;
	st->nat = wg_nat_name(p->nat);
	st->n_observed = p->n_signed;
	if (p->snap != NULL && p->have_self_key)
		self = snapshot_lookup_host_key(p->snap, p->self_key);
	st->member = self != NULL;
	if (self != NULL)
		in_force(p, self, &st->published, &st->seq, &st->expires);
	st->last_publish = p->last_publish;
	for (unsigned i = 0; i < st->published.n; i++) {
		int k = endpoints_find(&p->want, &st->published.ep[i]);

		st->source[i] = publish_source_name(
			k >= 0 && p->want.ep[k].kind == st->published.ep[i].kind ? p->source[k] :
										   0);
	}
	st->n_dropped = p->n_dropped;
	for (size_t i = 0; i < p->n_names; i++)
		if (p->names[i].failed && st->n_unresolved < CONFIG_MAX_ENDPOINT)
			snprintf(st->unresolved[st->n_unresolved++], CONFIG_HOST_MAX, "%s",
				 p->names[i].host);
	snprintf(st->error, sizeof(st->error), "%s", p->error);
}

void publish_free(struct publish *p)
{
	if (p == NULL)
		return;
	p->closing = true;
	cancel_names(p);
	if (p->dns != NULL)
		evdns_base_free(p->dns, 1);
	if (p->ev_nl != NULL)
		event_free(p->ev_nl);
	if (p->nl_fd >= 0)
		close(p->nl_fd);
	if (p->ev_debounce != NULL)
		event_free(p->ev_debounce);
	if (p->ev_tick != NULL)
		event_free(p->ev_tick);
	if (p->ev_resolve != NULL)
		event_free(p->ev_resolve);
	snapshot_unref(p->snap);
	free(p->observed);
	free(p);
}
