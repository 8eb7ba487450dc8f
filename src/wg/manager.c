/*
 * manager.c: the WireGuard peer manager's dispatch (include/meshname/wgmanager.h): every
 * second and on every new snapshot it gets the device (wg_backend_get: userspace socket,
 * else kernel), runs the engines (reconcile.c, endpoint.c), sets only the change set and
 * verifies it with a second get. It never blocks longer than a UAPI timeout (netlink
 * answers at once), never touches a peer the engines left out, and never logs a secret.
 */
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/event.h>
#include <sodium.h>

#include "common/log.h"
#include "meshname/keys.h"
#include "meshname/wg.h"
#include "meshname/wgmanage.h"
#include "meshname/wgmanager.h"

#define MANAGER_TICK_S 1
#define MANAGER_UAPI_TIMEOUT_MS 500
#define MANAGER_MAX_LOCAL 64       /* local on-link prefixes considered */
#define MANAGER_NAME_MAX 64        /* a host name label and its NUL */
#define MANAGER_CHILD_WAIT_MS 2000 /* how long a stopping wireguard-go is given */
#define MANAGER_RESTART_S 10       /* a wireguard-go that died is started again after this */

/* One peer we manage, kept across ticks: its endpoint state machine and its name (for
 * the log line when it goes). */
struct manager_peer {
	uint8_t wg_key[WG_KEY_LEN];
	char name[MANAGER_NAME_MAX];
	struct wg_ep_state ep;
	bool seen; /* desired in this tick */
};

struct wg_manager {
	struct event_base *base;
	struct event *ev_tick;
	char ifname[WG_IFNAME_MAX];
	char uapi_dir[256];
	char userspace[1024];
	bool manage_interface;
	bool remove_on_exit;
	uint16_t listen_port;
	uint8_t self_host_key[REC_KEY_SIZE];
	bool have_self_host_key;
	uint8_t wg_sk[WG_KEY_LEN];
	uint8_t wg_pk[WG_KEY_LEN];
	bool have_wg_key;
	struct snapshot *snap;

	enum wg_backend backend; /* which one answered the last get */
	bool kernel_lacks_wg;    /* creating one said the kernel has no WireGuard: not again */
	bool warned_create;      /* "cannot create the interface" said once */
	pid_t child;             /* the wireguard-go we started, 0: none */
	int64_t child_started;   /* when: one that dies is restarted at most this often */
	bool link_configured;    /* manage yes: addresses, routes and up done */
	bool warned_missing;     /* "no UAPI socket" said once until it comes */
	bool warned_key;         /* "our WG key is not the registry's" said once */
	char state_dir[1024];    /* wg.key and wg.key.next (key rotation) */
	bool warned_next;        /* "cannot use wg.key.next" said once */

	struct manager_peer *peers;
	size_t n_peers;
	struct wg_device last; /* the last get, private key wiped: for status */
	bool have_last;
	bool verify_pending;    /* a set was made: the next tick (at once) checks it */
	size_t verify_deferred; /* what that set's reconcile left for later */

	/* Valid during one tick, for the endpoint callback. */
	const struct wg_device *cur;
	struct wg_local_net local;
	int64_t now;
};

/* ---- local addresses --------------------------------------------------------------- */

static uint8_t mask_len(const uint8_t *mask, size_t n)
{
	uint8_t len = 0;

	for (size_t i = 0; i < n; i++)
		len = (uint8_t)(len + __builtin_popcount(mask[i]));
	return len;
}

/* Every up interface's address but the mesh interface's, loopback's and link-local ones. */
static size_t manager_local_prefixes(const struct wg_manager *m, struct wg_local_prefix *out,
				     size_t max)
{
	struct ifaddrs *ifa = NULL, *i;
	size_t n = 0;

	if (getifaddrs(&ifa) < 0)
		return 0;
	for (i = ifa; i != NULL && n < max; i = i->ifa_next) {
		struct wg_local_prefix *p = &out[n];

		if (i->ifa_addr == NULL || i->ifa_netmask == NULL || !(i->ifa_flags & IFF_UP) ||
		    (i->ifa_flags & IFF_LOOPBACK) || strcmp(i->ifa_name, m->ifname) == 0)
			continue;
		memset(p, 0, sizeof(*p));
		if (i->ifa_addr->sa_family == AF_INET) {
			const struct sockaddr_in *a =
				(const struct sockaddr_in *)(void *)i->ifa_addr;
			const struct sockaddr_in *k =
				(const struct sockaddr_in *)(void *)i->ifa_netmask;

			memcpy(p->addr, &a->sin_addr, 4);
			if (p->addr[0] == 169 && p->addr[1] == 254)
				continue;
			p->family = AF_INET;
			p->len = mask_len((const uint8_t *)&k->sin_addr, 4);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			const struct sockaddr_in6 *a =
				(const struct sockaddr_in6 *)(void *)i->ifa_addr;
			const struct sockaddr_in6 *k =
				(const struct sockaddr_in6 *)(void *)i->ifa_netmask;

			if (IN6_IS_ADDR_LINKLOCAL(&a->sin6_addr))
				continue;
			memcpy(p->addr, &a->sin6_addr, 16);
			p->family = AF_INET6;
			p->len = mask_len((const uint8_t *)&k->sin6_addr, 16);
		} else {
			continue;
		}
		n++;
	}
	freeifaddrs(ifa);
	return n;
}

/* ---- the interface (manage yes) ------------------------------------------------------ */

/* Starts `userspace -f IFNAME` as our child; its socket appears a moment later. */
static int manager_start_userspace(struct wg_manager *m)
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		static char flag_f[] = "-f";
		char *argv[] = { m->userspace, flag_f, m->ifname, NULL };

		/* Not our DNS sockets nor the registry: they must not outlive us in the child. */
		close_range(3, ~0u, 0);
		signal(SIGPIPE, SIG_DFL);
		setenv("WG_PROCESS_FOREGROUND", "1", 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	m->child = pid;
	log_info("started %s for interface %s (pid %ld)", m->userspace, m->ifname, (long)pid);
	return 0;
}

/* Reaps our wireguard-go if it died (it is not restarted in a loop: the next tick
 * starts a new one only if the socket is gone). */
static void manager_reap_child(struct wg_manager *m)
{
	int status;

	if (m->child > 0 && waitpid(m->child, &status, WNOHANG) == m->child) {
		log_warnx("%s for interface %s (pid %ld) exited with status %d", m->userspace,
			  m->ifname, (long)m->child, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		m->child = 0;
		m->link_configured = false;
	}
}

/*
 * This host's mesh /32 and /128, the mesh prefix routes, link up, over rtnetlink (the
 * same for a kernel interface and wireguard-go's tun). Every step replaces what is
 * there, so a retry after a failure is harmless.
 */
static void manager_configure_link(struct wg_manager *m)
{
	const struct snapshot_host *self;
	const struct rec_root *root;
	struct wg_link_config link = { 0 };
	char a4[INET6_ADDRSTRLEN], a6[INET6_ADDRSTRLEN], p4[INET6_ADDRSTRLEN], p6[INET6_ADDRSTRLEN];
	const char *step = NULL;
	int r;

	if (!m->manage_interface || m->link_configured || m->snap == NULL || !m->have_self_host_key)
		return;
	self = snapshot_lookup_host_key(m->snap, m->self_host_key);
	if (self == NULL)
		return;
	root = snapshot_root(m->snap);
	memcpy(link.addr4, self->ipv4, sizeof(link.addr4));
	memcpy(link.addr6, self->ipv6, sizeof(link.addr6));
	memcpy(link.prefix4, root->ipv4, sizeof(link.prefix4));
	link.prefix4_len = root->ipv4_len;
	memcpy(link.prefix6, root->ipv6, sizeof(link.prefix6));
	link.prefix6_len = REC_IPV6_PREFIX_LEN;
	inet_ntop(AF_INET, link.addr4, a4, sizeof(a4));
	inet_ntop(AF_INET6, link.addr6, a6, sizeof(a6));
	inet_ntop(AF_INET, link.prefix4, p4, sizeof(p4));
	inet_ntop(AF_INET6, link.prefix6, p6, sizeof(p6));
	r = wg_rtnl_link_configure(m->ifname, &link, &step);
	if (r < 0) {
		log_warnx("%s: cannot set the %s (%s/32, %s/128, routes %s/%u and %s/%u): %s",
			  m->ifname, step, a4, a6, p4, (unsigned)link.prefix4_len, p6,
			  (unsigned)link.prefix6_len, strerror(-r));
		return;
	}
	m->link_configured = true;
	log_info("%s: up with %s/32 and %s/128, routes %s/%u and %s/%u", m->ifname, a4, a6, p4,
		 (unsigned)link.prefix4_len, p6, (unsigned)link.prefix6_len);
}

/*
 * manage yes and no interface: a kernel WireGuard interface over rtnetlink when the kernel
 * has WireGuard, else our wireguard-go when `userspace` is configured, else say why, once.
 * True when a kernel interface was just created (the caller reads it at once).
 */
static bool manager_create_interface(struct wg_manager *m)
{
	int64_t now = (int64_t)time(NULL);
	int r = -EOPNOTSUPP;

	if (m->child != 0)
		return false; /* our wireguard-go is starting: its socket comes */
	if (!m->kernel_lacks_wg) {
		r = wg_rtnl_link_create(m->ifname);
		if (r == 0) {
			log_info("%s: created a kernel WireGuard interface", m->ifname);
			m->warned_create = false;
			return true;
		}
		if (r == -EOPNOTSUPP)
			m->kernel_lacks_wg = true;
	}
	if (m->userspace[0] != '\0') {
		if (m->child_started == 0 || now >= m->child_started + MANAGER_RESTART_S) {
			m->child_started = now;
			if (manager_start_userspace(m) < 0)
				log_warn("cannot start %s", m->userspace);
		}
		return false;
	}
	if (!m->warned_create) {
		if (r == -EOPNOTSUPP)
			log_warnx(
				"%s: cannot create the interface: the kernel has no WireGuard and "
				"no `userspace` (e.g. wireguard-go) is configured",
				m->ifname);
		else
			log_warnx("%s: cannot create a kernel WireGuard interface: %s", m->ifname,
				  strerror(-r));
		m->warned_create = true;
	}
	return false;
}

/* ---- peers and their endpoint state -------------------------------------------------- */

static struct manager_peer *manager_find_peer(struct wg_manager *m, const uint8_t *key)
{
	for (size_t i = 0; i < m->n_peers; i++)
		if (sodium_memcmp(m->peers[i].wg_key, key, WG_KEY_LEN) == 0)
			return &m->peers[i];
	return NULL;
}

static struct manager_peer *manager_add_peer(struct wg_manager *m, const uint8_t *key,
					     const char *name)
{
	struct manager_peer *p = realloc(m->peers, (m->n_peers + 1) * sizeof(*p));

	if (p == NULL)
		return NULL;
	m->peers = p;
	p = &m->peers[m->n_peers++];
	memset(p, 0, sizeof(*p));
	memcpy(p->wg_key, key, WG_KEY_LEN);
	snprintf(p->name, sizeof(p->name), "%s", name);
	wg_ep_init(&p->ep);
	return p;
}

static const struct wg_peer *device_find_peer(const struct wg_device *dev, const uint8_t *key)
{
	for (size_t i = 0; dev != NULL && i < dev->n_peers; i++)
		if (memcmp(dev->peers[i].public_key, key, WG_KEY_LEN) == 0)
			return &dev->peers[i];
	return NULL;
}

/* The endpoint callback of wg_desired_from_snapshot: one step of the peer's state
 * machine per tick. */
static bool manager_endpoint_for(void *ctx, const struct snapshot_host *host,
				 struct sockaddr_storage *endpoint)
{
	struct wg_manager *m = ctx;
	struct manager_peer *p = manager_find_peer(m, host->wg_key);
	const struct wg_peer *dp = device_find_peer(m->cur, host->wg_key);
	struct wg_ep_seen seen = { 0 };

	if (p == NULL && (p = manager_add_peer(m, host->wg_key, host->name)) == NULL)
		return false; /* out of memory: leave the device's endpoint */
	p->seen = true;
	if (dp != NULL) {
		seen.last_handshake = dp->last_handshake_sec;
		seen.tx_bytes = dp->tx_bytes;
		seen.rx_bytes = dp->rx_bytes;
		if (dp->flags & WG_PEER_HAS_ENDPOINT)
			seen.endpoint = &dp->endpoint;
	}
	wg_ep_update(&p->ep, host->endpoints, host->n_endpoints, &m->local, m->now, &seen,
		     endpoint);
	return endpoint->ss_family != AF_UNSPEC;
}

static const char *peer_name(struct wg_manager *m, const uint8_t *key, char *buf, size_t size)
{
	struct manager_peer *p = manager_find_peer(m, key);
	char b64[sodium_base64_ENCODED_LEN(WG_KEY_LEN, sodium_base64_VARIANT_ORIGINAL)];

	if (p != NULL)
		return p->name;
	sodium_bin2base64(b64, sizeof(b64), key, WG_KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
	snprintf(buf, size, "(not in the registry: %s)", b64);
	return buf;
}

static void manager_log_changes(struct wg_manager *m, const struct wg_device *changes)
{
	char buf[96];

	for (size_t i = 0; i < changes->n_peers; i++) {
		const struct wg_peer *c = &changes->peers[i];

		if (c->flags & WG_PEER_REMOVE)
			log_info("%s: removing peer %s", m->ifname,
				 peer_name(m, c->public_key, buf, sizeof(buf)));
		else if (!(c->flags & WG_PEER_UPDATE_ONLY))
			log_info("%s: adding peer %s", m->ifname,
				 peer_name(m, c->public_key, buf, sizeof(buf)));
		else
			log_debug("%s: updating peer %s", m->ifname,
				  peer_name(m, c->public_key, buf, sizeof(buf)));
	}
}

/* Drops the endpoint state of peers that were not desired in this tick. */
static void manager_prune_peers(struct wg_manager *m)
{
	size_t i = 0;

	while (i < m->n_peers) {
		if (!m->peers[i].seen) {
			m->peers[i] = m->peers[--m->n_peers];
			continue;
		}
		m->peers[i++].seen = false;
	}
}

/* Our private key and listen port into changes, where the device's differ. */
static void manager_device_settings(const struct wg_manager *m, const struct wg_device *cur,
				    struct wg_device *changes)
{
	if (m->have_wg_key && (!(cur->flags & WG_DEVICE_HAS_PRIVATE_KEY) ||
			       sodium_memcmp(cur->public_key, m->wg_pk, WG_KEY_LEN) != 0)) {
		memcpy(changes->private_key, m->wg_sk, WG_KEY_LEN);
		changes->flags |= WG_DEVICE_HAS_PRIVATE_KEY;
	}
	if (m->listen_port != 0 && cur->listen_port != m->listen_port) {
		changes->listen_port = m->listen_port;
		changes->flags |= WG_DEVICE_HAS_LISTEN_PORT;
	}
}

/* Keeps a copy of what a get returned (without the private key) for status. */
static void manager_keep_last(struct wg_manager *m, const struct wg_device *cur)
{
	wg_device_clear(&m->last);
	memset(&m->last, 0, sizeof(m->last));
	m->have_last = false;
	memcpy(m->last.name, cur->name, sizeof(m->last.name));
	m->last.listen_port = cur->listen_port;
	for (size_t i = 0; i < cur->n_peers; i++) {
		const struct wg_peer *src = &cur->peers[i];
		struct wg_peer *dst = wg_device_add_peer(&m->last, src->public_key);

		if (dst == NULL)
			goto fail;
		dst->flags = src->flags;
		dst->endpoint = src->endpoint;
		dst->persistent_keepalive = src->persistent_keepalive;
		dst->last_handshake_sec = src->last_handshake_sec;
		dst->rx_bytes = src->rx_bytes;
		dst->tx_bytes = src->tx_bytes;
	}
	m->have_last = true;
	return;
fail:
	wg_device_clear(&m->last);
	memset(&m->last, 0, sizeof(m->last));
}

/*
 * The tick after a set (run at once): its get must show what was asked, since a UAPI set
 * is not atomic. Anything to remove, any device setting, or more additions and changes
 * than the cap deferred means the set did not stick: said, and left to the next timer
 * tick rather than retried in a loop. Returns true when the device is as asked.
 */
static bool manager_verified(struct wg_manager *m, const struct wg_device *changes,
			     const struct wg_reconcile_result *res)
{
	m->verify_pending = false;
	if (res->n_removed == 0 && res->n_added + res->n_changed <= m->verify_deferred &&
	    changes->flags == 0)
		return true;
	/* Endpoints roam on their own; anything else is a set that did not stick. */
	log_warnx("%s: the device differs from what was just set (%zu to remove, %zu to add, "
		  "%zu to change%s): will retry",
		  m->ifname, res->n_removed, res->n_added, res->n_changed,
		  changes->flags & WG_DEVICE_HAS_PRIVATE_KEY ? ", private key not this host's" :
							       "");
	return false;
}

/*
 * Key rotation (doc/records.md "Key rotation"): once this host's active certificate names
 * the public key of wg.key.next, that file becomes wg.key and its key the one
 * manager_device_settings gives the interface. Before that, wg.key stays: peers accept
 * only the key of the certificate they hold.
 */
static void manager_rotate_key(struct wg_manager *m, const struct snapshot_host *self)
{
	uint8_t sk[WG_KEY_LEN], pk[WG_KEY_LEN];
	int r;

	if (self == NULL ||
	    (m->have_wg_key && sodium_memcmp(self->wg_key, m->wg_pk, WG_KEY_LEN) == 0))
		return;
	r = keys_x25519_load(m->state_dir, KEYS_WG_NEXT, sk, pk);
	if (r == 0 && sodium_memcmp(pk, self->wg_key, WG_KEY_LEN) != 0)
		goto out; /* a request not granted (yet): the mismatch warning says the rest */
	if (r == 0)
		r = keys_replace(m->state_dir, KEYS_WG_NEXT, KEYS_WG);
	if (r < 0) {
		if (r != -ENOENT && !m->warned_next)
			log_warnx(
				"this host's certificate has a new WireGuard key but %s/%s cannot "
				"be used: %s",
				m->state_dir, KEYS_WG_NEXT, strerror(-r));
		m->warned_next = r != -ENOENT;
		goto out;
	}
	memcpy(m->wg_sk, sk, WG_KEY_LEN);
	memcpy(m->wg_pk, pk, WG_KEY_LEN);
	m->have_wg_key = true;
	m->warned_key = false;
	m->warned_next = false;
	log_info("%s: this host's certificate names the key of %s: it is now %s, the "
		 "interface's private key follows",
		 m->ifname, KEYS_WG_NEXT, KEYS_WG);
out:
	sodium_memzero(sk, sizeof(sk));
}

static void manager_tick(struct wg_manager *m)
{
	struct wg_local_prefix prefixes[MANAGER_MAX_LOCAL];
	struct wg_device cur = { 0 }, desired = { 0 }, changes = { 0 };
	struct wg_reconcile_result res = { 0 };
	bool computed = false;
	int r;

	manager_reap_child(m);
	r = wg_backend_get(m->uapi_dir, m->ifname, MANAGER_UAPI_TIMEOUT_MS, &cur, &m->backend);
	if (r == -ENOENT && m->manage_interface && manager_create_interface(m))
		r = wg_backend_get(m->uapi_dir, m->ifname, MANAGER_UAPI_TIMEOUT_MS, &cur,
				   &m->backend);
	if (r == -ENOENT || r == -ECONNREFUSED) {
		if (!m->manage_interface && !m->warned_missing && m->child == 0) {
			log_warnx("%s: no userspace WireGuard socket in %s: waiting for the "
				  "interface (the kernel has none either)",
				  m->ifname, m->uapi_dir);
			m->warned_missing = true;
		}
		m->link_configured = false; /* a new interface needs its addresses again */
		m->have_last = false;
		goto out;
	}
	if (r < 0) {
		log_warnx("%s: cannot read the device: %s", m->ifname, strerror(-r));
		m->have_last = false;
		goto out;
	}
	m->warned_missing = false;
	manager_configure_link(m);
	manager_keep_last(m, &cur);
	if (m->snap == NULL)
		goto out;
	if (m->have_self_host_key)
		manager_rotate_key(m, snapshot_lookup_host_key(m->snap, m->self_host_key));
	if (m->have_self_host_key && m->have_wg_key && !m->warned_key) {
		const struct snapshot_host *self =
			snapshot_lookup_host_key(m->snap, m->self_host_key);

		if (self != NULL && memcmp(self->wg_key, m->wg_pk, WG_KEY_LEN) != 0) {
			log_warnx("this host's wg.key is not the WireGuard key in its registry "
				  "certificate: peers will not accept it");
			m->warned_key = true;
		}
	}

	m->cur = &cur;
	m->local.prefixes = prefixes;
	m->local.n = manager_local_prefixes(m, prefixes, MANAGER_MAX_LOCAL);
	m->now = (int64_t)time(NULL);
	/* The self key is all zeros when unknown: no host has it, so every host is a peer. */
	r = wg_desired_from_snapshot(m->snap, m->self_host_key, manager_endpoint_for, m, &desired);
	m->cur = NULL;
	computed = true; /* the endpoint states were visited (also on failure) */
	if (r < 0) {
		log_warnx("%s: cannot compute the desired peers: %s", m->ifname, strerror(-r));
		goto out;
	}
	r = wg_reconcile(&cur, &desired, WG_RECONCILE_MAX_CHANGES, &changes, &res);
	if (r == -EADDRINUSE) {
		log_warnx("%s: refusing the registry's peers: an allowed IP would belong to two "
			  "peers",
			  m->ifname);
		goto out;
	}
	if (r < 0) {
		log_warnx("%s: cannot reconcile the peers: %s", m->ifname, strerror(-r));
		goto out;
	}
	manager_device_settings(m, &cur, &changes);
	if (m->verify_pending && !manager_verified(m, &changes, &res))
		goto out;
	if (changes.n_peers == 0 && changes.flags == 0)
		goto out; /* nothing to do: the device is never written */
	manager_log_changes(m, &changes);
	if (changes.flags & WG_DEVICE_HAS_PRIVATE_KEY)
		log_info("%s: setting this host's private key", m->ifname);
	if (changes.flags & WG_DEVICE_HAS_LISTEN_PORT)
		log_info("%s: setting listen port %u", m->ifname, (unsigned)m->listen_port);
	r = wg_backend_set(m->uapi_dir, m->ifname, MANAGER_UAPI_TIMEOUT_MS, &changes, NULL);
	if (r < 0)
		log_warnx("%s: setting the device failed: %s (will retry)", m->ifname,
			  strerror(-r));
	/* The next tick, at once, verifies this set and applies what the cap deferred; the
	 * event loop (DNS) runs in between. */
	m->verify_pending = true;
	m->verify_deferred = res.n_deferred;
	event_active(m->ev_tick, EV_TIMEOUT, 0);
out:
	if (computed)
		manager_prune_peers(m);
	wg_device_clear(&changes);
	wg_device_clear(&desired);
	wg_device_clear(&cur);
}

static void on_tick(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	manager_tick(arg);
}

/* ---- lifetime --------------------------------------------------------------------------- */

static int copy_str(char *dst, size_t size, const char *src)
{
	if (src == NULL)
		src = "";
	return (size_t)snprintf(dst, size, "%s", src) >= size ? -EINVAL : 0;
}

int wg_manager_new(struct event_base *base, const struct wg_manager_config *cfg,
		   struct wg_manager **out)
{
	struct timeval tick = { MANAGER_TICK_S, 0 };
	struct wg_manager *m;
	int r;

	*out = NULL;
	if (cfg->ifname == NULL || cfg->ifname[0] == '\0' || cfg->state_dir == NULL)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	m->base = base;
	if (copy_str(m->ifname, sizeof(m->ifname), cfg->ifname) < 0 ||
	    copy_str(m->uapi_dir, sizeof(m->uapi_dir),
		     cfg->uapi_dir != NULL ? cfg->uapi_dir : WG_UAPI_DIR) < 0 ||
	    copy_str(m->userspace, sizeof(m->userspace), cfg->userspace) < 0 ||
	    copy_str(m->state_dir, sizeof(m->state_dir), cfg->state_dir) < 0) {
		r = -EINVAL;
		goto fail;
	}
	m->manage_interface = cfg->manage_interface;
	m->remove_on_exit = cfg->remove_on_exit;
	m->listen_port = cfg->listen_port;
	if (cfg->self_host_key != NULL) {
		memcpy(m->self_host_key, cfg->self_host_key, REC_KEY_SIZE);
		m->have_self_host_key = true;
	}
	r = keys_x25519_load(cfg->state_dir, KEYS_WG, m->wg_sk, m->wg_pk);
	if (r == 0)
		m->have_wg_key = true;
	else
		log_warnx("cannot load %s/%s (%s): the interface's private key is left alone",
			  cfg->state_dir, KEYS_WG, keys_strerror(r));
	m->ev_tick = event_new(base, -1, EV_PERSIST, on_tick, m);
	if (m->ev_tick == NULL || event_add(m->ev_tick, &tick) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	event_active(m->ev_tick, EV_TIMEOUT, 0);
	log_info("managing WireGuard peers on %s%s", m->ifname,
		 m->manage_interface ? " (and the interface)" : "");
	*out = m;
	return 0;
fail:
	wg_manager_free(m);
	return r;
}

void wg_manager_set_snapshot(struct wg_manager *m, struct snapshot *s)
{
	if (m == NULL || s == m->snap)
		return;
	snapshot_unref(m->snap);
	m->snap = snapshot_ref(s);
	manager_tick(m);
}

/* Stops our wireguard-go: SIGTERM, then SIGKILL after MANAGER_CHILD_WAIT_MS. */
static void manager_stop_child(struct wg_manager *m)
{
	int status;

	if (m->child <= 0)
		return;
	kill(m->child, SIGTERM);
	for (int waited = 0; waited < MANAGER_CHILD_WAIT_MS; waited += 20) {
		if (waitpid(m->child, &status, WNOHANG) == m->child) {
			log_info("stopped %s (pid %ld): interface %s removed", m->userspace,
				 (long)m->child, m->ifname);
			m->child = 0;
			return;
		}
		usleep(20 * 1000);
	}
	log_warnx("%s (pid %ld) did not stop: killing it", m->userspace, (long)m->child);
	kill(m->child, SIGKILL);
	waitpid(m->child, &status, 0);
	m->child = 0;
}

void wg_manager_free(struct wg_manager *m)
{
	if (m == NULL)
		return;
	if (m->ev_tick != NULL)
		event_free(m->ev_tick);
	if (m->remove_on_exit)
		manager_stop_child(m);
	if (m->remove_on_exit && m->manage_interface && m->backend == WG_BACKEND_KERNEL) {
		int r = wg_rtnl_link_delete(m->ifname);

		if (r == 0)
			log_info("deleted kernel interface %s: on-exit remove", m->ifname);
		else if (r != -ENODEV)
			log_warnx("cannot delete interface %s: %s", m->ifname, strerror(-r));
	} else if (!m->remove_on_exit && m->child > 0)
		log_info("leaving %s (pid %ld) running: on-exit keep", m->userspace,
			 (long)m->child);
	snapshot_unref(m->snap);
	free(m->peers);
	wg_device_clear(&m->last);
	sodium_memzero(m->wg_sk, sizeof(m->wg_sk));
	free(m);
}

/* ---- status ------------------------------------------------------------------------------ */

int wg_manager_status(const struct wg_manager *m, struct wg_manager_status *st)
{
	memset(st, 0, sizeof(*st));
	memcpy(st->ifname, m->ifname, sizeof(st->ifname));
	st->backend = wg_backend_name(m->backend);
	st->device = m->have_last;
	if (!m->have_last)
		return 0;
	st->listen_port = m->last.listen_port;
	if (m->last.n_peers > 0) {
		st->peers = calloc(m->last.n_peers, sizeof(*st->peers));
		if (st->peers == NULL)
			return -ENOMEM;
	}
	for (size_t i = 0; i < m->last.n_peers; i++) {
		const struct wg_peer *dp = &m->last.peers[i];
		struct wg_manager_peer_status *ps = &st->peers[st->n_peers++];
		const struct manager_peer *mp = NULL;

		for (size_t k = 0; k < m->n_peers && mp == NULL; k++)
			if (memcmp(m->peers[k].wg_key, dp->public_key, WG_KEY_LEN) == 0)
				mp = &m->peers[k];
		for (size_t k = 0; m->snap != NULL && k < snapshot_host_count(m->snap); k++) {
			const struct snapshot_host *h = snapshot_host_at(m->snap, k);

			if (memcmp(h->wg_key, dp->public_key, WG_KEY_LEN) == 0) {
				snprintf(ps->name, sizeof(ps->name), "%s", h->name);
				memcpy(ps->ipv4, h->ipv4, sizeof(ps->ipv4));
				memcpy(ps->ipv6, h->ipv6, sizeof(ps->ipv6));
				break;
			}
		}
		if (dp->flags & WG_PEER_HAS_ENDPOINT)
			ps->endpoint = dp->endpoint;
		ps->endpoint_kind = rec_ep_kind_name(mp != NULL ? wg_ep_kind(&mp->ep) : 0);
		ps->last_handshake = dp->last_handshake_sec;
		ps->rx_bytes = dp->rx_bytes;
		ps->tx_bytes = dp->tx_bytes;
	}
	return 0;
}

void wg_manager_status_clear(struct wg_manager_status *st)
{
	free(st->peers);
	memset(st, 0, sizeof(*st));
}
