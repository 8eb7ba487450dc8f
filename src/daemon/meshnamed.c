/*
 * meshnamed.c: the daemon's start-up, event loop, reload and shutdown. Owns the
 * libevent base, the signals, the configuration and the current snapshot; the
 * registry, resolver and (later) WireGuard engines are driven from here and never own
 * the loop. Must never exit because of outside input: only start-up errors are fatal.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <sodium.h>

#include "common/addr.h"
#include "common/log.h"
#include "daemon/config.h"
#include "daemon/control.h"
#include "daemon/publish.h"
#include "daemon/resolved.h"
#include "daemon/syncd.h"
#include "meshname/certstate.h"
#include "meshname/keys.h"
#include "meshname/registry.h"
#include "meshname/resolver.h"
#include "meshname/snapshot.h"
#include "meshname/wgmanager.h"

/* How often the registry is checked for commits by other processes (the CLI; sync calls
 * back at once): a change is visible in DNS within this time. */
#define WATCH_INTERVAL_MS 200
/* How often the view is recomputed even without a change: certificates expire. */
#define REFRESH_INTERVAL_S 60
/* How often (in watch ticks) local addresses are checked for this host's mesh
 * addresses, so that the resolver listens on them once the interface has them. */
#define MESH_ADDR_TICKS 10
#define MESH_DNS_PORT 53

struct daemon {
	struct event_base *base;
	struct config *cfg;
	char state_dir[PATH_MAX]; /* absolute: the state in use until restart */
	uint8_t self_key[REC_KEY_SIZE];
	bool have_self_key;
	uint64_t started;
	struct control *control;
	char reload_error[CONFIG_ERROR_MAX]; /* why the last reload failed, for the client */
	/* This host's mesh addresses (port 53) the resolver listens on besides the
	 * configured ones: only those that are assigned to a local interface now. */
	struct sockaddr_storage mesh_listen[2];
	size_t n_mesh_listen;
	unsigned watch_ticks;
	const char *config_path;    /* NULL: the default path, optional */
	const char *state_override; /* -s or $MESHNAME_STATE: wins over `state` */
	struct registry *reg;
	struct snapshot *snap; /* the current one; the resolver holds its own reference */
	struct resolver *resolver;
	struct wg_manager *wg;     /* NULL with `manage no` */
	struct publish *pub;       /* this host's ENDPOINTS record (publish.c) */
	struct resolved *resolved; /* systemd-resolved registration; NULL with resolved no */
	struct syncd *sync;        /* peer sync; NULL with sync no */
	uint64_t links_hash;       /* of the local interfaces' addresses: a change wakes sync */
	uint64_t last_refresh;
	uint64_t next_lapse;          /* when something of the current view expires: rebuild then */
	struct cert_watch cert_watch; /* this host's certificate, as the log last said it */
	uint64_t self_not_after;      /* of this host's certificate when last active; 0: unknown */
	char self_name[REC_NAME_MAX + 1];
	struct event *ev_watch;
};

static void usage(void)
{
	fprintf(stderr,
		"usage: meshnamed [-dhnv] [-f file] [-s state-dir]\n"
		"  -d   stay in the foreground, log to stderr (how systemd runs it)\n"
		"  -f   configuration file (default %s, optional)\n"
		"  -n   check the configuration, print it as it will be used, and exit\n"
		"  -s   state directory (overrides `state` in the file and $MESHNAME_STATE)\n"
		"  -v   debug logging\n",
		CONFIG_DEFAULT_PATH);
}

static int daemon_load_config(struct daemon *d, struct config **out)
{
	char err[CONFIG_ERROR_MAX];
	const char *path = d->config_path != NULL ? d->config_path : CONFIG_DEFAULT_PATH;
	unsigned flags = d->config_path != NULL ? 0 : CONFIG_OPTIONAL;
	int r;

	r = config_load(path, flags, out, err, sizeof(err));
	if (r < 0) {
		log_warnx("%s", err);
		snprintf(d->reload_error, sizeof(d->reload_error), "%s", err);
		return r;
	}
	if (d->state_override != NULL) {
		if ((size_t)snprintf((*out)->state, sizeof((*out)->state), "%s",
				     d->state_override) >= sizeof((*out)->state)) {
			log_warnx("state directory path is too long: %s", d->state_override);
			config_free(*out);
			*out = NULL;
			return -ENAMETOOLONG;
		}
	}
	return 0;
}

static bool daemon_is_mesh_listener(const struct daemon *d, const struct sockaddr_storage *ss)
{
	for (size_t i = 0; i < d->n_mesh_listen; i++)
		if (addr_equal(&d->mesh_listen[i], ss))
			return true;
	return false;
}

static void resolver_config_from(const struct daemon *d, const struct config *cfg,
				 struct resolver_config *rc)
{
	size_t i;

	resolver_config_default(rc);
	for (i = 0; i < cfg->n_listen && rc->n_listen < RESOLVER_MAX_LISTEN; i++)
		rc->listen[rc->n_listen++] = cfg->listen[i];
	for (i = 0; i < d->n_mesh_listen && rc->n_listen < RESOLVER_MAX_LISTEN; i++)
		rc->listen[rc->n_listen++] = d->mesh_listen[i];
	for (i = 0; i < cfg->n_upstream && i < RESOLVER_MAX_UPSTREAM; i++)
		rc->upstream[rc->n_upstream++] = cfg->upstream[i];
	rc->forward = cfg->forward;
	rc->ttl = cfg->ttl;
	rc->negative_ttl = cfg->negative_ttl;
	rc->cache_size = cfg->cache_size;
	rc->serve_stale = cfg->serve_stale;
	rc->resolv_conf = getenv("MESHNAMED_RESOLV_CONF"); /* tests only; NULL: the system's */
}

/* This host's mesh addresses, port 53, that a local interface holds right now and that
 * are not configured listeners already (listen-mesh). Binding one that no interface
 * has would fail, and it would not be reachable anyway. */
static size_t daemon_mesh_addresses(const struct daemon *d, struct sockaddr_storage out[2])
{
	const struct snapshot_host *self;
	struct ifaddrs *ifa = NULL, *i;
	bool have4 = false, have6 = false;
	size_t n = 0;

	if (!d->cfg->listen_mesh || d->snap == NULL || !d->have_self_key)
		return 0;
	self = snapshot_lookup_host_key(d->snap, d->self_key);
	if (self == NULL || getifaddrs(&ifa) < 0)
		return 0;
	for (i = ifa; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL)
			continue;
		if (i->ifa_addr->sa_family == AF_INET &&
		    memcmp(&((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, self->ipv4, 4) ==
			    0)
			have4 = true;
		if (i->ifa_addr->sa_family == AF_INET6 &&
		    memcmp(&((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr, self->ipv6,
			   16) == 0)
			have6 = true;
	}
	freeifaddrs(ifa);
	memset(out, 0, 2 * sizeof(out[0]));
	if (have4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&out[n++];

		sin->sin_family = AF_INET;
		sin->sin_port = htons(MESH_DNS_PORT);
		memcpy(&sin->sin_addr, self->ipv4, 4);
	}
	if (have6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out[n++];

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(MESH_DNS_PORT);
		memcpy(&sin6->sin6_addr, self->ipv6, 16);
	}
	/* A mesh address the administrator configured already is not added twice. */
	for (size_t k = 0; k < n;) {
		bool configured = false;

		for (size_t c = 0; c < d->cfg->n_listen; c++)
			configured |= addr_equal(&out[k], &d->cfg->listen[c]);
		if (configured)
			out[k] = out[--n];
		else
			k++;
	}
	return n;
}

/* Every configured listener must be bound: a DNS server that says it runs while its
 * port 53 belongs to someone else is the failure users hate most. */
static int daemon_check_listeners(struct daemon *d)
{
	struct resolver_listener l[RESOLVER_MAX_LISTEN * 2];
	char addr[CONFIG_ADDR_STRLEN];
	size_t i, n;
	int r = 0;

	n = resolver_listeners(d->resolver, l, sizeof(l) / sizeof(l[0]));
	for (i = 0; i < n && i < sizeof(l) / sizeof(l[0]); i++) {
		config_addr_str(&l[i].addr, addr, sizeof(addr));
		if (l[i].error != 0) {
			log_warnx("cannot listen on %s (%s): %s", addr, l[i].tcp ? "tcp" : "udp",
				  strerror(l[i].error));
			/* A mesh address comes and goes with the interface: not fatal. */
			if (!daemon_is_mesh_listener(d, &l[i].addr))
				r = -l[i].error;
		} else {
			log_info("listening on %s (%s)", addr, l[i].tcp ? "tcp" : "udp");
		}
	}
	return r;
}

/* The first time after now at which something the view holds lapses: a certificate, an
 * ENDPOINTS record, an observation. UINT64_MAX when nothing does. */
static uint64_t next_lapse(const struct snapshot *snap, uint64_t now)
{
	uint64_t t = UINT64_MAX;

	for (size_t i = 0; i < snapshot_host_count(snap); i++) {
		const struct snapshot_host *h = snapshot_host_at(snap, i);

		if (h->not_after > now && h->not_after < t)
			t = h->not_after;
		if (h->endpoints_seq != 0 && h->endpoints_expires > now && h->endpoints_expires < t)
			t = h->endpoints_expires;
		for (size_t k = 0; k < h->n_observations; k++)
			if (h->observations[k].expires_at > now &&
			    h->observations[k].expires_at < t)
				t = h->observations[k].expires_at;
	}
	return t;
}

/* This host's certificate state at now, from the view (active: valid or expiring), else
 * from what the last view said of it or, once, from the registry (a daemon that starts
 * after its certificate expired). */
static enum cert_state daemon_self_cert(struct daemon *d, uint64_t now)
{
	const struct snapshot_host *h = snapshot_lookup_host_key(d->snap, d->self_key);
	struct rec cert;

	if (h != NULL) {
		d->self_not_after = h->not_after;
		snprintf(d->self_name, sizeof(d->self_name), "%s", h->name);
		return cert_state_of(false, true, h->not_after, now);
	}
	if (registry_is_revoked(d->reg, d->self_key))
		return CERT_REVOKED;
	if (d->self_not_after == 0 && !d->cert_watch.looked &&
	    registry_find_cert(d->reg, d->self_key, &cert, NULL, NULL) == 0) {
		d->self_not_after = cert.expires_at;
		snprintf(d->self_name, sizeof(d->self_name), "%s", cert.u.cert.name);
	}
	return cert_state_of(false, d->self_not_after != 0, d->self_not_after, now);
}

/* Says in the log, when it changes and daily while it lasts, that this host's certificate
 * expires soon or expired (USERS.md: keys that expire silently cut headless machines off). */
static void daemon_watch_cert(struct daemon *d, uint64_t now)
{
	enum cert_state s;
	char date[32] = "?";
	struct tm tm;
	time_t t;

	if (!d->have_self_key || d->snap == NULL)
		return;
	s = daemon_self_cert(d, now);
	if (!cert_watch_due(&d->cert_watch, s, now))
		return;
	t = (time_t)d->self_not_after;
	if (gmtime_r(&t, &tm) != NULL)
		strftime(date, sizeof(date), "%Y-%m-%d", &tm);
	switch (s) {
	case CERT_EXPIRING:
		log_warnx("this host's certificate (%s) expires on %s, in %llu days: renew it "
			  "before then (`meshname renew` here asks the mesh's admins; an admin "
			  "runs `meshname renew %s`)",
			  d->self_name, date,
			  (unsigned long long)((d->self_not_after - now) / CERT_DAY), d->self_name);
		break;
	case CERT_EXPIRED:
		log_warnx("this host's certificate (%s) expired on %s: the mesh no longer "
			  "resolves or reaches this host until it is renewed (`meshname renew` "
			  "here asks the mesh's admins; an admin runs `meshname renew %s`)",
			  d->self_name, date, d->self_name);
		break;
	case CERT_REVOKED:
		log_warnx("this host was revoked: it is no longer a member of the mesh");
		break;
	case CERT_VALID:
		log_info("this host's certificate (%s) is valid until %s", d->self_name, date);
		break;
	case CERT_NONE:
		log_warnx("this host's certificate is no longer in the registry");
		break;
	}
}

/* Builds a new snapshot and swaps it in; the old one lives on while referenced. */
static int daemon_publish(struct daemon *d, uint64_t now)
{
	struct snapshot *snap = NULL;
	int r;

	r = registry_refresh(d->reg, now);
	if (r == 0)
		r = registry_snapshot(d->reg, &snap);
	if (r < 0) {
		log_warnx("cannot rebuild the registry snapshot: %s", strerror(-r));
		return r;
	}
	d->last_refresh = now;
	d->next_lapse = next_lapse(snap, now);
	/* Whoever committed (the CLI, the publisher, sync itself), new records are pushed;
	 * not all of them change the view, so this comes before the generation test. */
	syncd_registry_changed(d->sync);
	if (d->snap != NULL && snapshot_generation(d->snap) == snapshot_generation(snap)) {
		snapshot_unref(snap); /* nothing changed: keep the one in use */
		daemon_watch_cert(d, now);
		return 0;
	}
	snapshot_unref(d->snap);
	d->snap = snap;
	if (d->resolver != NULL)
		resolver_set_snapshot(d->resolver, snap);
	if (d->wg != NULL)
		wg_manager_set_snapshot(d->wg, snap);
	if (d->pub != NULL)
		publish_set_snapshot(d->pub, snap);
	syncd_set_snapshot(d->sync, snap);
	log_info("mesh %s (zone %s): %zu active hosts, generation %llu", snapshot_root(snap)->name,
		 snapshot_zone(snap), snapshot_host_count(snap),
		 (unsigned long long)snapshot_generation(snap));
	daemon_watch_cert(d, now);
	return 0;
}

/* True if a listener on one of this host's mesh addresses could not be bound. */
static bool daemon_mesh_listener_failed(const struct daemon *d)
{
	struct resolver_listener l[RESOLVER_MAX_LISTEN * 2];
	size_t n = resolver_listeners(d->resolver, l, sizeof(l) / sizeof(l[0]));

	for (size_t i = 0; i < n && i < sizeof(l) / sizeof(l[0]); i++)
		if (l[i].error != 0 && daemon_is_mesh_listener(d, &l[i].addr))
			return true;
	return false;
}

/* Listens on this host's mesh addresses once an interface holds them, and stops when
 * they go away (listen-mesh). Only the difference is rebound; a mesh listener that
 * failed is tried again on every check (a new IPv6 address cannot be bound while it is
 * still tentative), and said again only when it comes up. */
static void daemon_update_mesh_listeners(struct daemon *d)
{
	struct sockaddr_storage now[2];
	struct resolver_config rc;
	size_t n = daemon_mesh_addresses(d, now), i;
	bool same = n == d->n_mesh_listen, retry;

	for (i = 0; same && i < n; i++)
		same = addr_equal(&now[i], &d->mesh_listen[i]);
	if (d->resolver == NULL)
		return;
	retry = same && daemon_mesh_listener_failed(d);
	if (same && !retry)
		return;
	memcpy(d->mesh_listen, now, sizeof(now));
	d->n_mesh_listen = n;
	resolver_config_from(d, d->cfg, &rc);
	if (resolver_reconfigure(d->resolver, &rc) < 0) {
		log_warnx("cannot change the DNS listeners for this host's mesh addresses");
		return;
	}
	if (retry && daemon_mesh_listener_failed(d))
		return; /* still failing: said already, tried again at the next check */
	log_info("this host's mesh addresses: now listening on %zu of them", n);
	daemon_check_listeners(d);
}

static bool is_self_mesh_address(const struct snapshot_host *self,
				 const struct sockaddr_storage *ss)
{
	if (self == NULL)
		return false;
	if (ss->ss_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)ss)->sin_addr, self->ipv4, 4) == 0;
	return ss->ss_family == AF_INET6 &&
	       memcmp(&((const struct sockaddr_in6 *)ss)->sin6_addr, self->ipv6, 16) == 0;
}

/*
 * What systemd-resolved should send mesh names to: the mesh interface, the zone and its
 * reverse zones, and as servers this host's mesh addresses the resolver is bound to (the
 * DESIGN's "link DNS = this host's mesh address"; none until the interface holds them).
 * With listen-mesh no, the bound configured listeners instead, a wildcard as loopback.
 */
static void daemon_resolved_link(struct daemon *d, struct resolved_link *l)
{
	struct resolver_listener ls[RESOLVER_MAX_LISTEN * 2];
	const struct snapshot_host *self = NULL;
	size_t n, i;

	memset(l, 0, sizeof(*l));
	snprintf(l->ifname, sizeof(l->ifname), "%s", d->cfg->interface);
	if (d->snap == NULL)
		return;
	resolved_link_domains(snapshot_root(d->snap), l);
	if (d->have_self_key)
		self = snapshot_lookup_host_key(d->snap, d->self_key);
	n = resolver_listeners(d->resolver, ls, sizeof(ls) / sizeof(ls[0]));
	for (i = 0; i < n && i < sizeof(ls) / sizeof(ls[0]); i++) {
		struct sockaddr_storage ss = ls[i].addr;

		if (ls[i].tcp || ls[i].error != 0 || l->n_servers == RESOLVED_MAX_SERVERS)
			continue;
		if (d->cfg->listen_mesh) {
			if (!is_self_mesh_address(self, &ss))
				continue;
		} else if (ss.ss_family == AF_INET &&
			   ((struct sockaddr_in *)&ss)->sin_addr.s_addr == htonl(INADDR_ANY)) {
			((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		} else if (ss.ss_family == AF_INET6 &&
			   IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr)) {
			((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
		}
		l->servers[l->n_servers++] = ss;
	}
}

static void daemon_sync_resolved(struct daemon *d)
{
	struct resolved_link l;

	if (d->resolved == NULL)
		return;
	daemon_resolved_link(d, &l);
	resolved_sync(d->resolved, &l, (uint64_t)time(NULL));
}

/* A hash of the addresses of the local interfaces that are up (loopback aside), so that
 * sync hears of a link or address change: anti-entropy and a beacon at once. */
static uint64_t daemon_links_hash(void)
{
	crypto_generichash_state st;
	struct ifaddrs *ifa = NULL, *i;
	uint8_t out[8];
	uint64_t h = 0;

	if (getifaddrs(&ifa) < 0)
		return 0;
	crypto_generichash_init(&st, NULL, 0, sizeof(out));
	for (i = ifa; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL || !(i->ifa_flags & IFF_UP) ||
		    (i->ifa_flags & IFF_LOOPBACK))
			continue;
		crypto_generichash_update(&st, (const uint8_t *)i->ifa_name,
					  strlen(i->ifa_name) + 1);
		if (i->ifa_addr->sa_family == AF_INET)
			crypto_generichash_update(
				&st,
				(const uint8_t *)&((struct sockaddr_in *)(void *)i->ifa_addr)
					->sin_addr,
				4);
		else if (i->ifa_addr->sa_family == AF_INET6)
			crypto_generichash_update(
				&st,
				(const uint8_t *)&((struct sockaddr_in6 *)(void *)i->ifa_addr)
					->sin6_addr,
				16);
	}
	freeifaddrs(ifa);
	crypto_generichash_final(&st, out, sizeof(out));
	for (size_t k = 0; k < sizeof(out); k++)
		h = h << 8 | out[k];
	return h;
}

static void daemon_check_links(struct daemon *d)
{
	uint64_t h;

	if (d->sync == NULL)
		return;
	h = daemon_links_hash();
	if (h != d->links_hash && d->links_hash != 0) {
		log_debug("local addresses changed: sync looks for its peers again");
		syncd_link_changed(d->sync);
	}
	d->links_hash = h;
}

static void on_watch(evutil_socket_t fd, short events, void *arg)
{
	struct daemon *d = arg;
	uint64_t now = (uint64_t)time(NULL);
	bool changed = false;
	int r;

	(void)fd;
	(void)events;
	r = registry_changed(d->reg, &changed);
	if (r < 0) {
		log_warnx("cannot check the registry for changes: %s", strerror(-r));
		return;
	}
	/* A certificate that lapses leaves DNS and WireGuard within a watch tick. */
	if (changed || now >= d->last_refresh + REFRESH_INTERVAL_S || now >= d->next_lapse)
		daemon_publish(d, now);
	if (changed || ++d->watch_ticks >= MESH_ADDR_TICKS) {
		d->watch_ticks = 0;
		daemon_update_mesh_listeners(d);
		daemon_sync_resolved(d);
		daemon_check_links(d);
	}
}

static void on_terminate(evutil_socket_t sig, short events, void *arg)
{
	struct daemon *d = arg;

	(void)events;
	log_info("received signal %d, exiting", (int)sig);
	event_base_loopexit(d->base, NULL);
}

/* SIGHUP and `meshname reload`: parse the file into a new config; swap it in only if
 * it is valid, so a broken line is reported and the running configuration stays. */
static int daemon_reload(struct daemon *d)
{
	struct resolver_config rc;
	struct config *cfg = NULL;
	int r;

	r = daemon_load_config(d, &cfg);
	if (r < 0) {
		log_warnx("reload failed: keeping the running configuration");
		return r;
	}
	if (strcmp(cfg->state, d->cfg->state) != 0 || strcmp(cfg->control, d->cfg->control) != 0)
		log_warnx("reload: a new state directory or control socket takes effect only at "
			  "restart");
	if (cfg->resolved != d->cfg->resolved)
		log_warnx("reload: a new resolved setting takes effect only at restart");
	if (cfg->sync != d->cfg->sync || cfg->sync_port != d->cfg->sync_port ||
	    cfg->sync_beacon != d->cfg->sync_beacon)
		log_warnx("reload: new sync settings take effect only at restart");
	resolver_config_from(d, cfg, &rc);
	r = resolver_reconfigure(d->resolver, &rc);
	if (r == 0)
		r = control_set_group(d->control, cfg->control_group);
	if (r < 0) {
		log_warnx("reload: cannot apply the new configuration: %s", strerror(-r));
		snprintf(d->reload_error, sizeof(d->reload_error),
			 "cannot apply the new configuration: %s", strerror(-r));
		config_free(cfg);
		return r;
	}
	daemon_check_listeners(d);
	config_free(d->cfg);
	d->cfg = cfg;
	if (d->pub != NULL)
		publish_reconfigure(d->pub, cfg);
	log_info("configuration reloaded");
	daemon_publish(d, (uint64_t)time(NULL));
	return 0;
}

static void on_hangup(evutil_socket_t sig, short events, void *arg)
{
	(void)sig;
	(void)events;
	daemon_reload(arg);
}

/* `meshname endpoint add|rm` asks for a look now (the pinned list changed). */
static int daemon_publish_endpoints(struct daemon *d, struct evbuffer *out)
{
	struct publish_result res;
	bool changed = false;
	int r;

	if (d->pub == NULL) {
		control_json_error(out, "this meshnamed does not publish endpoints");
		return -EOPNOTSUPP;
	}
	/* The CLI may have committed just now: see it before choosing the next seq. */
	if (registry_changed(d->reg, &changed) == 0 && changed)
		daemon_publish(d, (uint64_t)time(NULL));
	r = publish_now(d->pub, (uint64_t)time(NULL), &res);
	if (r == -EOPNOTSUPP) {
		control_json_error(out,
				   "publish-endpoints is no: this meshnamed publishes nothing");
		return r;
	}
	if (r == -ENOENT) {
		control_json_error(out, "this host is not an active member in meshnamed's view");
		return r;
	}
	if (r < 0)
		return r;
	evbuffer_add_printf(out, "{\"state\":");
	control_json_string(out, d->state_dir);
	evbuffer_add_printf(out,
			    ",\"published\":%s,\"seq\":%llu,\"endpoints\":%u,\"listen_port\":%u}",
			    res.published ? "true" : "false", (unsigned long long)res.seq,
			    (unsigned)res.n, (unsigned)res.listen_port);
	return 0;
}

/* The control socket's requests (control.c has checked privileges already). */
static int on_control(void *arg, const char *verb, const char *arg_text, bool privileged,
		      struct evbuffer *out)
{
	struct daemon *d = arg;
	struct resolver_listener l[RESOLVER_MAX_LISTEN * 2];
	struct resolver_stats stats;
	struct control_status st = { 0 };
	struct wg_manager_status wg = { 0 };
	struct publish_status pub;
	struct resolved_status res = { .mode = "no", .state = "off" };
	struct syncd_status sync;

	(void)arg_text;
	(void)privileged;
	if (strcmp(verb, "reload") == 0) {
		if (daemon_reload(d) < 0) {
			control_json_error(out,
					   "reload failed, the running configuration stays: %s",
					   d->reload_error);
			return -EINVAL;
		}
		return 0;
	}
	if (strcmp(verb, "publish") == 0)
		return daemon_publish_endpoints(d, out);
	if (strcmp(verb, "ls") == 0) {
		control_json_hosts(out, d->snap, d->have_self_key ? d->self_key : NULL,
				   d->state_dir);
		return 0;
	}
	/* status */
	resolver_stats(d->resolver, &stats);
	st.snap = d->snap;
	st.reg = d->reg;
	st.self_key = d->have_self_key ? d->self_key : NULL;
	st.self_not_after = d->self_not_after;
	st.self_name = d->self_name[0] != '\0' ? d->self_name : NULL;
	st.listeners = l;
	st.n_listeners = resolver_listeners(d->resolver, l, sizeof(l) / sizeof(l[0]));
	if (st.n_listeners > sizeof(l) / sizeof(l[0]))
		st.n_listeners = sizeof(l) / sizeof(l[0]);
	st.stats = &stats;
	st.state_dir = d->state_dir;
	st.started = d->started;
	st.now = (uint64_t)time(NULL);
	if (d->wg != NULL && wg_manager_status(d->wg, &wg) == 0)
		st.wg = &wg;
	if (d->pub != NULL) {
		publish_status(d->pub, &pub);
		st.endpoints = &pub;
	}
	if (d->resolved != NULL)
		resolved_status(d->resolved, &res);
	st.resolved = &res;
	if (d->sync != NULL) {
		syncd_status(d->sync, &sync);
		st.sync = &sync;
	}
	control_json_status(out, &st);
	wg_manager_status_clear(&wg);
	return 0;
}

/* This host's public host key, for marking it in status and ls; the secret is wiped
 * at once. A host without a key (a state copied for inspection) is just not marked. */
static void daemon_load_self_key(struct daemon *d)
{
	uint8_t sk[REC_SECRET_SIZE];

	if (keys_ed25519_load(d->state_dir, KEYS_HOST, sk) == 0) {
		memcpy(d->self_key, sk + REC_SECRET_SIZE - REC_KEY_SIZE, REC_KEY_SIZE);
		d->have_self_key = true;
	}
	sodium_memzero(sk, sizeof(sk));
}

/* ---- the WireGuard peer manager (src/wg/manager.c) ------------------------------------ */

/* Starts the peer manager unless `manage no`. Interface settings are read once: a reload
 * does not change them (restart). MESHNAMED_WG_UAPI_DIR: tests only, another UAPI
 * socket directory than /run/wireguard. */
static int daemon_start_wg(struct daemon *d)
{
	struct wg_manager_config wc = { 0 };
	int r;

	if (d->cfg->manage == CONFIG_MANAGE_NO)
		return 0;
	wc.ifname = d->cfg->interface;
	wc.manage_interface = d->cfg->manage == CONFIG_MANAGE_YES;
	wc.remove_on_exit = d->cfg->on_exit == CONFIG_ON_EXIT_REMOVE;
	wc.userspace = d->cfg->userspace;
	wc.listen_port = d->cfg->listen_port;
	wc.state_dir = d->state_dir;
	wc.uapi_dir = getenv("MESHNAMED_WG_UAPI_DIR");
	wc.self_host_key = d->have_self_key ? d->self_key : NULL;
	r = wg_manager_new(d->base, &wc, &d->wg);
	if (r < 0)
		log_warnx("cannot start the WireGuard peer manager: %s", strerror(-r));
	else
		wg_manager_set_snapshot(d->wg, d->snap);
	return r;
}

static void on_endpoints_published(void *arg)
{
	struct daemon *d = arg;

	daemon_publish(d, (uint64_t)time(NULL));
}

/* This host's ENDPOINTS record (publish.c); off with publish-endpoints no, but the
 * publisher still answers `meshname endpoint` so that it knows to do the work itself. */
static int daemon_start_publish(struct daemon *d)
{
	struct publish_params pp = { 0 };
	int r;

	pp.reg = d->reg;
	pp.state_dir = d->state_dir;
	pp.self_host_key = d->have_self_key ? d->self_key : NULL;
	pp.wg = d->wg;
	pp.changed = on_endpoints_published;
	pp.arg = d;
	r = publish_new(d->base, &pp, d->cfg, &d->pub);
	if (r < 0)
		log_warnx("cannot start publishing this host's endpoints: %s", strerror(-r));
	else
		publish_set_snapshot(d->pub, d->snap);
	return r;
}

/* Sync stored records: the snapshot now, not at the next watch tick. */
static void on_sync_changed(void *arg)
{
	struct daemon *d = arg;

	daemon_publish(d, (uint64_t)time(NULL));
}

/* Peer sync unless `sync no`: after the peer manager and the publisher, so that the first
 * snapshot it gets is the one they work from. Only a sync port that cannot be bound stops
 * the daemon; without a host key it runs without sync. */
static int daemon_start_sync(struct daemon *d)
{
	struct syncd_params sp = { 0 };
	int r;

	sp.reg = d->reg;
	sp.state_dir = d->state_dir;
	sp.changed = on_sync_changed;
	sp.arg = d;
	r = syncd_new(d->base, &sp, d->cfg, &d->sync);
	if (r < 0) {
		log_warnx("cannot start peer sync: %s", strerror(-r));
		return r;
	}
	syncd_set_snapshot(d->sync, d->snap);
	d->links_hash = daemon_links_hash();
	return 0;
}

int main(int argc, char *argv[])
{
	struct daemon d = { 0 };
	struct resolver_config rc;
	struct event *ev_term = NULL, *ev_int = NULL, *ev_hup = NULL;
	struct timeval watch = { 0, WATCH_INTERVAL_MS * 1000 };
	char db_path[PATH_MAX + 16];
	bool foreground = false, debug = false, check_only = false;
	bool changed;
	int ch, r, status = 1;

	d.state_override = getenv("MESHNAME_STATE");
	if (d.state_override != NULL && *d.state_override == '\0')
		d.state_override = NULL;
	while ((ch = getopt(argc, argv, "df:hns:v")) != -1) {
		switch (ch) {
		case 'd':
			foreground = true;
			break;
		case 'f':
			d.config_path = optarg;
			break;
		case 'n':
			check_only = true;
			foreground = true;
			break;
		case 's':
			d.state_override = optarg;
			break;
		case 'v':
			debug = true;
			break;
		case 'h':
			usage();
			return 0;
		default:
			usage();
			return 2;
		}
	}
	if (optind != argc) {
		usage();
		return 2;
	}

	log_init("meshnamed", foreground, debug);
	if (daemon_load_config(&d, &d.cfg) < 0)
		return 1;
	if (check_only) {
		config_print(d.cfg, stdout);
		status = fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
		config_free(d.cfg);
		return status;
	}
	if (sodium_init() < 0)
		fatalx("libsodium failed to initialize");
	if (realpath(d.cfg->state, d.state_dir) == NULL) {
		log_warn("cannot use the state directory %s (run `meshname init` or `meshname "
			 "join` first)",
			 d.cfg->state);
		goto out;
	}
	snprintf(db_path, sizeof(db_path), "%s/registry.db", d.state_dir);
	/* registry_open would create an empty database: say what to do instead. */
	if (access(db_path, R_OK | W_OK) != 0) {
		log_warn("cannot open the registry %s (run `meshname init` or `meshname join` "
			 "first)",
			 db_path);
		goto out;
	}
	d.started = (uint64_t)time(NULL);
	daemon_load_self_key(&d);
	r = registry_open(db_path, &d.reg);
	if (r < 0) {
		log_warnx("cannot open the registry %s: %s", db_path, strerror(-r));
		goto out;
	}
	if (registry_changed(d.reg, &changed) < 0 || daemon_publish(&d, (uint64_t)time(NULL)) < 0)
		goto out;

	d.base = event_base_new();
	if (d.base == NULL) {
		log_warnx("cannot create the event loop");
		goto out;
	}
	d.n_mesh_listen = daemon_mesh_addresses(&d, d.mesh_listen);
	resolver_config_from(&d, d.cfg, &rc);
	r = resolver_new(d.base, &rc, &d.resolver);
	if (r < 0) {
		log_warnx("cannot start the resolver: %s", strerror(-r));
		goto out;
	}
	resolver_set_snapshot(d.resolver, d.snap);
	if (daemon_check_listeners(&d) < 0) {
		log_warnx("not starting: a configured DNS listener could not be bound");
		goto out;
	}

	/* Before the control socket: a client that hangs up early must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	if (daemon_start_wg(&d) < 0)
		goto out;
	if (daemon_start_publish(&d) < 0)
		goto out;
	r = control_open(d.base, d.cfg->control, d.cfg->control_group, on_control, &d, &d.control);
	if (r < 0) {
		log_warnx("cannot open the control socket %s: %s%s", d.cfg->control, strerror(-r),
			  r == -EADDRINUSE ? " (another meshnamed runs on it)" : "");
		goto out;
	}
	/* After the control socket, so that a second meshnamed is told so, not that the
	 * sync port is taken. */
	if (daemon_start_sync(&d) < 0)
		goto out;
	/* After the control socket: a second meshnamed must not touch resolved's settings. */
	if (d.cfg->resolved != CONFIG_RESOLVED_NO) {
		r = resolved_new(d.base, d.cfg->resolved == CONFIG_RESOLVED_YES, &d.resolved);
		if (r < 0) {
			log_warnx("cannot start the systemd-resolved registration: %s",
				  strerror(-r));
			goto out;
		}
		daemon_sync_resolved(&d);
	}

	ev_term = evsignal_new(d.base, SIGTERM, on_terminate, &d);
	ev_int = evsignal_new(d.base, SIGINT, on_terminate, &d);
	ev_hup = evsignal_new(d.base, SIGHUP, on_hangup, &d);
	d.ev_watch = event_new(d.base, -1, EV_PERSIST, on_watch, &d);
	if (ev_term == NULL || ev_int == NULL || ev_hup == NULL || d.ev_watch == NULL ||
	    evsignal_add(ev_term, NULL) || evsignal_add(ev_int, NULL) ||
	    evsignal_add(ev_hup, NULL) || event_add(d.ev_watch, &watch)) {
		log_warnx("cannot install signal handlers and timers");
		goto out;
	}
	log_info("ready");
	if (event_base_dispatch(d.base) < 0) {
		log_warnx("event loop failed");
		goto out;
	}
	status = 0;
out:
	/* libevent's free functions do not accept NULL. */
	if (ev_term != NULL)
		event_free(ev_term);
	if (ev_int != NULL)
		event_free(ev_int);
	if (ev_hup != NULL)
		event_free(ev_hup);
	if (d.ev_watch != NULL)
		event_free(d.ev_watch);
	/* While the interface still exists: resolved reverts the link it knows. */
	resolved_free(d.resolved);
	control_close(d.control);
	syncd_free(d.sync);  /* before the registry and the snapshot it reads */
	publish_free(d.pub); /* before the manager: it asks it for the listen port */
	wg_manager_free(d.wg);
	resolver_free(d.resolver);
	if (d.base != NULL)
		event_base_free(d.base);
	snapshot_unref(d.snap);
	registry_close(d.reg);
	config_free(d.cfg);
	return status;
}
