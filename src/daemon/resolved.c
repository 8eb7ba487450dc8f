/*
 * resolved.c: registers this meshnamed with systemd-resolved for the mesh interface, over the
 * system bus with sd-bus driven by the daemon's libevent loop (sd_bus_get_fd/events/timeout).
 * Owns the bus connection and the link settings it made; asynchronous calls only, except the
 * RevertLink at exit. Never touches resolv.conf, never activates resolved when it is not running.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <systemd/sd-bus.h>

#include "common/addr.h"
#include "common/log.h"
#include "daemon/resolved.h"
#include "meshname/record.h"

#define RESOLVE1 "org.freedesktop.resolve1"
#define RESOLVE1_PATH "/org/freedesktop/resolve1"
#define RESOLVE1_MANAGER "org.freedesktop.resolve1.Manager"
#define NO_SUCH_LINK "org.freedesktop.resolve1.NoSuchLink"
#define NAME_HAS_NO_OWNER "org.freedesktop.DBus.Error.NameHasNoOwner"
#define OWNER_MATCH                                                                 \
	"type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus'," \
	"interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='" RESOLVE1 "'"
#define DNS_PORT 53
#define CALL_TIMEOUT_US (5ULL * 1000 * 1000)
#define MAX_CALLS 8      /* the calls of one registration */
#define PROCESS_BATCH 64 /* sd_bus_process rounds before the loop gets a turn */
#define OWNER_MAX 256    /* a unique bus name */

enum resolved_state {
	ST_NO_BUS,
	ST_CONNECTING,
	ST_NOT_RUNNING,
	ST_WAITING,
	ST_REGISTERING,
	ST_REVERTING,
	ST_REGISTERED,
	ST_FAILED,
};

static const char *const state_names[] = {
	[ST_NO_BUS] = "no system bus",    [ST_CONNECTING] = "connecting",
	[ST_NOT_RUNNING] = "not running", [ST_WAITING] = "waiting",
	[ST_REGISTERING] = "registering", [ST_REVERTING] = "reverting",
	[ST_REGISTERED] = "registered",   [ST_FAILED] = "failed",
};

struct resolved_call {
	sd_bus_slot *slot;
	const char *member;
};

struct resolved {
	struct event_base *base;
	bool required;
	sd_bus *bus;              /* NULL: not connected */
	struct event *ev;         /* the bus fd and sd-bus's own timeout */
	sd_bus_slot *match;       /* NameOwnerChanged for resolve1 */
	sd_bus_slot *owner_query; /* GetNameOwner in flight */
	bool owner_known;
	char owner[OWNER_MAX]; /* resolved's unique name; "" when it is not running */
	uint64_t now;
	uint64_t next_connect;

	struct resolved_link want; /* what the daemon asked for last */
	unsigned want_ifindex;
	/* What the current round sets (or set) on the current resolved: a new resolved, a new
	 * link or a revert clears it. touched: some Set call for applied_ifindex was sent. */
	struct resolved_link applied;
	unsigned applied_ifindex;
	bool touched;
	struct resolved_call calls[MAX_CALLS];
	size_t n_calls;
	char round_error[RESOLVED_REASON_MAX];
	uint64_t retry_at;

	enum resolved_state state;
	char reason[RESOLVED_REASON_MAX];
	char warned[RESOLVED_REASON_MAX]; /* the last reason logged, so it is logged once */
	uint64_t registrations;
};

static void resolved_apply(struct resolved *r);

static uint64_t monotonic_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static bool link_equal(const struct resolved_link *a, const struct resolved_link *b)
{
	size_t i;

	if (strcmp(a->ifname, b->ifname) != 0 || a->n_servers != b->n_servers ||
	    a->n_domains != b->n_domains)
		return false;
	for (i = 0; i < a->n_servers; i++)
		if (!addr_equal(&a->servers[i], &b->servers[i]))
			return false;
	for (i = 0; i < a->n_domains; i++)
		if (strcmp(a->domains[i], b->domains[i]) != 0)
			return false;
	return true;
}

/* The state and why; a reason worth a warning is logged once until it changes (with
 * `resolved yes` also when resolved or the bus is missing: the administrator asked). */
static void set_state(struct resolved *r, enum resolved_state st, bool warn, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void set_state(struct resolved *r, enum resolved_state st, bool warn, const char *fmt, ...)
{
	va_list ap;

	r->state = st;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	if (r->reason[0] == '\0') {
		r->warned[0] = '\0';
		return;
	}
	if (strcmp(r->reason, r->warned) == 0)
		return;
	snprintf(r->warned, sizeof(r->warned), "%s", r->reason);
	if (warn)
		log_warnx("cannot register mesh DNS with systemd-resolved: %s", r->reason);
	else
		log_debug("systemd-resolved: %s", r->reason);
}

/* Forgets the calls in flight: their replies will not be seen. */
static void cancel_calls(struct resolved *r)
{
	for (size_t i = 0; i < r->n_calls; i++)
		sd_bus_slot_unref(r->calls[i].slot);
	r->n_calls = 0;
}

static void forget_applied(struct resolved *r)
{
	cancel_calls(r);
	memset(&r->applied, 0, sizeof(r->applied));
	r->applied_ifindex = 0;
	r->touched = false;
	r->retry_at = 0;
}

/* ---- the bus in the event loop ---------------------------------------------------------- */

static void on_bus_event(evutil_socket_t fd, short what, void *arg);

static void bus_drop(struct resolved *r, const char *why)
{
	forget_applied(r);
	r->match = sd_bus_slot_unref(r->match);
	r->owner_query = sd_bus_slot_unref(r->owner_query);
	if (r->ev != NULL) {
		event_free(r->ev);
		r->ev = NULL;
	}
	r->bus = sd_bus_flush_close_unref(r->bus);
	r->owner_known = false;
	r->owner[0] = '\0';
	r->next_connect = r->now + RESOLVED_RETRY_S;
	set_state(r, ST_NO_BUS, r->required, "%s", why);
}

/* Waits for what sd-bus wants next: readable, writable (a queued message) or its timeout
 * (a call's deadline, or 0 when messages wait to be processed). */
static void bus_arm(struct resolved *r)
{
	struct timeval tv, *tvp = NULL;
	uint64_t until = UINT64_MAX, now;
	short what = 0;
	int events, fd;

	if (r->bus == NULL)
		return;
	fd = sd_bus_get_fd(r->bus);
	events = sd_bus_get_events(r->bus);
	if (fd < 0 || events < 0) {
		bus_drop(r, "the system bus connection closed");
		return;
	}
	if (events & POLLIN)
		what |= EV_READ;
	if (events & POLLOUT)
		what |= EV_WRITE;
	if (sd_bus_get_timeout(r->bus, &until) >= 0 && until != UINT64_MAX) {
		now = monotonic_usec();
		until = until > now ? until - now : 0;
		tv.tv_sec = (time_t)(until / 1000000u);
		tv.tv_usec = (suseconds_t)(until % 1000000u);
		tvp = &tv;
	}
	event_del(r->ev);
	if (event_assign(r->ev, r->base, fd, what, on_bus_event, r) < 0 ||
	    event_add(r->ev, tvp) < 0)
		bus_drop(r, "cannot watch the system bus connection");
}

static void on_bus_event(evutil_socket_t fd, short what, void *arg)
{
	struct resolved *r = arg;
	int k = 0;

	(void)fd;
	(void)what;
	for (int i = 0; i < PROCESS_BATCH; i++) {
		k = sd_bus_process(r->bus, NULL);
		if (k <= 0)
			break;
	}
	if (k < 0 || sd_bus_is_open(r->bus) <= 0) {
		bus_drop(r, "the system bus connection closed");
		return;
	}
	bus_arm(r);
}

/* ---- resolved coming and going ---------------------------------------------------------- */

static void owner_changed(struct resolved *r, const char *owner)
{
	bool was_registered = r->registrations > 0 && r->owner[0] != '\0';

	forget_applied(r);
	r->owner_known = true;
	snprintf(r->owner, sizeof(r->owner), "%s", owner);
	if (owner[0] == '\0' && was_registered)
		log_info("systemd-resolved left the system bus: mesh DNS is registered again when "
			 "it returns");
	resolved_apply(r);
}

static int on_owner_signal(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct resolved *r = userdata;
	const char *name, *old_owner, *new_owner;

	(void)ret_error;
	if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 ||
	    strcmp(name, RESOLVE1) != 0)
		return 0;
	owner_changed(r, new_owner);
	return 0;
}

static int on_owner_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct resolved *r = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(m);
	const char *owner = "";

	(void)ret_error;
	r->owner_query = sd_bus_slot_unref(r->owner_query);
	if (e != NULL && !sd_bus_error_has_name(e, NAME_HAS_NO_OWNER))
		log_debug("systemd-resolved: GetNameOwner: %s", e->message);
	else if (e == NULL && sd_bus_message_read(m, "s", &owner) < 0)
		owner = "";
	/* A NameOwnerChanged that came first knows better. */
	if (!r->owner_known)
		owner_changed(r, owner);
	return 0;
}

/* The match first: the bus handles both in order, so no change slips between them. */
static void bus_connect(struct resolved *r)
{
	int k;

	r->next_connect = r->now + RESOLVED_RETRY_S;
	k = sd_bus_open_system(&r->bus);
	if (k < 0) {
		r->bus = NULL;
		set_state(r, ST_NO_BUS, r->required, "cannot connect to the system bus: %s",
			  strerror(-k));
		return;
	}
	r->ev = event_new(r->base, -1, 0, on_bus_event, r);
	if (r->ev == NULL) {
		bus_drop(r, "out of memory");
		return;
	}
	k = sd_bus_add_match_async(r->bus, &r->match, OWNER_MATCH, on_owner_signal, NULL, r);
	if (k >= 0)
		k = sd_bus_call_method_async(r->bus, &r->owner_query, "org.freedesktop.DBus",
					     "/org/freedesktop/DBus", "org.freedesktop.DBus",
					     "GetNameOwner", on_owner_reply, r, "s", RESOLVE1);
	if (k < 0) {
		char why[RESOLVED_REASON_MAX];

		snprintf(why, sizeof(why), "cannot ask the system bus for systemd-resolved: %s",
			 strerror(-k));
		bus_drop(r, why);
		return;
	}
	set_state(r, ST_CONNECTING, false, "asking the system bus whether systemd-resolved runs");
}

/* ---- the calls ---------------------------------------------------------------------------- */

static void round_done(struct resolved *r)
{
	char servers[RESOLVED_MAX_SERVERS * 64] = "", domains[RESOLVED_MAX_DOMAINS * 260] = "";
	size_t i, o;

	if (r->state == ST_REVERTING) {
		if (r->round_error[0] != '\0')
			log_warnx("systemd-resolved: cannot revert the settings of %s: %s",
				  r->applied.ifname, r->round_error);
		else
			log_info("systemd-resolved: reverted the DNS settings of %s",
				 r->applied.ifname);
		forget_applied(r);
		r->state = ST_WAITING;
		resolved_apply(r);
		return;
	}
	if (r->round_error[0] != '\0') {
		r->retry_at = r->now + RESOLVED_RETRY_S;
		set_state(r, ST_FAILED, true, "%s (again in %d s)", r->round_error,
			  RESOLVED_RETRY_S);
		return;
	}
	for (i = 0, o = 0; i < r->applied.n_servers; i++) {
		char a[INET6_ADDRSTRLEN + 8];
		const struct sockaddr_storage *ss = &r->applied.servers[i];
		unsigned port;

		if (ss->ss_family == AF_INET) {
			inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, a,
				  sizeof(a));
			port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
		} else {
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, a,
				  sizeof(a));
			port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
		}
		o += (size_t)snprintf(servers + o, sizeof(servers) - o, "%s%s", i > 0 ? " " : "",
				      a);
		if (port != DNS_PORT && o < sizeof(servers))
			o += (size_t)snprintf(servers + o, sizeof(servers) - o, " port %u", port);
		if (o >= sizeof(servers))
			break;
	}
	for (i = 0, o = 0; i < r->applied.n_domains && o < sizeof(domains); i++)
		o += (size_t)snprintf(domains + o, sizeof(domains) - o, "%s~%s", i > 0 ? " " : "",
				      r->applied.domains[i]);
	r->registrations++;
	set_state(r, ST_REGISTERED, false, "%s", "");
	log_info("registered with systemd-resolved: %s (ifindex %u) DNS %s, domains %s",
		 r->applied.ifname, r->applied_ifindex, servers, domains);
	/* The daemon may have asked for something else meanwhile. */
	resolved_apply(r);
}

static int on_call_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct resolved *r = userdata;
	sd_bus_slot *slot = sd_bus_get_current_slot(sd_bus_message_get_bus(m));
	const sd_bus_error *e = sd_bus_message_get_error(m);
	const char *member = "?";
	size_t i;

	(void)ret_error;
	for (i = 0; i < r->n_calls && r->calls[i].slot != slot; i++)
		;
	if (i == r->n_calls)
		return 0; /* not ours any more */
	member = r->calls[i].member;
	sd_bus_slot_unref(slot);
	r->calls[i] = r->calls[--r->n_calls];
	/* A link that is already gone has nothing left to revert. */
	if (e != NULL && r->round_error[0] == '\0' &&
	    !(r->state == ST_REVERTING && sd_bus_error_has_name(e, NO_SUCH_LINK)))
		snprintf(r->round_error, sizeof(r->round_error), "%s: %s", member,
			 e->message != NULL ? e->message : e->name);
	if (r->n_calls == 0)
		round_done(r);
	return 0;
}

static int call_new(struct resolved *r, const char *member, sd_bus_message **m)
{
	int k;

	k = sd_bus_message_new_method_call(r->bus, m, RESOLVE1, RESOLVE1_PATH, RESOLVE1_MANAGER,
					   member);
	/* Never start resolved: when it is not running, the host does not use it. */
	if (k >= 0)
		k = sd_bus_message_set_auto_start(*m, 0);
	if (k >= 0)
		k = sd_bus_message_append(*m, "i", (int)r->applied_ifindex);
	return k;
}

/* Sends m (and drops it) with its reply expected by on_call_reply. */
static int call_send(struct resolved *r, const char *member, sd_bus_message *m)
{
	struct resolved_call *c = &r->calls[r->n_calls];
	int k;

	if (r->n_calls >= MAX_CALLS) {
		sd_bus_message_unref(m);
		return -ENOBUFS;
	}
	k = sd_bus_call_async(r->bus, &c->slot, m, on_call_reply, r, CALL_TIMEOUT_US);
	sd_bus_message_unref(m);
	if (k < 0)
		return k;
	c->member = member;
	r->n_calls++;
	r->touched = true;
	return 0;
}

static int call_string(struct resolved *r, const char *member, const char *value)
{
	sd_bus_message *m = NULL;
	int k = call_new(r, member, &m);

	if (k >= 0)
		k = sd_bus_message_append(m, "s", value);
	if (k < 0) {
		sd_bus_message_unref(m);
		return k;
	}
	return call_send(r, member, m);
}

/* SetLinkDNS takes addresses for port 53 only; SetLinkDNSEx (resolved 246) also a port. */
static int call_dns(struct resolved *r)
{
	const struct resolved_link *l = &r->applied;
	const char *member = "SetLinkDNS";
	sd_bus_message *m = NULL;
	bool ex = false;
	size_t i;
	int k;

	for (i = 0; i < l->n_servers; i++) {
		const struct sockaddr_storage *ss = &l->servers[i];
		uint16_t port = ss->ss_family == AF_INET ?
					ntohs(((const struct sockaddr_in *)ss)->sin_port) :
					ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);

		ex |= port != DNS_PORT;
	}
	if (ex)
		member = "SetLinkDNSEx";
	k = call_new(r, member, &m);
	if (k >= 0)
		k = sd_bus_message_open_container(m, 'a', ex ? "(iayqs)" : "(iay)");
	for (i = 0; k >= 0 && i < l->n_servers; i++) {
		const struct sockaddr_storage *ss = &l->servers[i];
		const void *addr;
		size_t len;
		uint16_t port;

		if (ss->ss_family == AF_INET) {
			addr = &((const struct sockaddr_in *)ss)->sin_addr;
			len = 4;
			port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
		} else {
			addr = &((const struct sockaddr_in6 *)ss)->sin6_addr;
			len = 16;
			port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
		}
		k = sd_bus_message_open_container(m, 'r', ex ? "iayqs" : "iay");
		if (k >= 0)
			k = sd_bus_message_append(m, "i", (int)ss->ss_family);
		if (k >= 0)
			k = sd_bus_message_append_array(m, 'y', addr, len);
		if (k >= 0 && ex)
			k = sd_bus_message_append(m, "qs", port, "");
		if (k >= 0)
			k = sd_bus_message_close_container(m);
	}
	if (k >= 0)
		k = sd_bus_message_close_container(m);
	if (k < 0) {
		sd_bus_message_unref(m);
		return k;
	}
	return call_send(r, member, m);
}

static int call_domains(struct resolved *r)
{
	sd_bus_message *m = NULL;
	int k = call_new(r, "SetLinkDomains", &m);

	if (k >= 0)
		k = sd_bus_message_open_container(m, 'a', "(sb)");
	/* true: routing-only (`~mesh`), used to choose the link, never to complete names. */
	for (size_t i = 0; k >= 0 && i < r->applied.n_domains; i++)
		k = sd_bus_message_append(m, "(sb)", r->applied.domains[i], 1);
	if (k >= 0)
		k = sd_bus_message_close_container(m);
	if (k < 0) {
		sd_bus_message_unref(m);
		return k;
	}
	return call_send(r, "SetLinkDomains", m);
}

static int call_default_route(struct resolved *r)
{
	sd_bus_message *m = NULL;
	int k = call_new(r, "SetLinkDefaultRoute", &m);

	if (k >= 0)
		k = sd_bus_message_append(m, "b", 0);
	if (k < 0) {
		sd_bus_message_unref(m);
		return k;
	}
	return call_send(r, "SetLinkDefaultRoute", m);
}

/*
 * One registration: all calls at once, resolved applies them in order. Link DNSSEC is off:
 * the mesh zone is private and unsigned, and a host with DNSSEC=yes would otherwise refuse
 * every answer (contrib/networkd/mesh.negative is the static equivalent). DNS over TLS is
 * off (meshnamed does not speak it), and so are LLMNR and mDNS on the tunnel.
 */
static int round_register(struct resolved *r)
{
	int k;

	r->applied = r->want;
	r->applied_ifindex = r->want_ifindex;
	r->round_error[0] = '\0';
	k = call_dns(r);
	if (k >= 0)
		k = call_domains(r);
	if (k >= 0)
		k = call_default_route(r);
	if (k >= 0)
		k = call_string(r, "SetLinkDNSSEC", "no");
	if (k >= 0)
		k = call_string(r, "SetLinkDNSOverTLS", "no");
	if (k >= 0)
		k = call_string(r, "SetLinkLLMNR", "no");
	if (k >= 0)
		k = call_string(r, "SetLinkMulticastDNS", "no");
	return k;
}

static int round_revert(struct resolved *r)
{
	sd_bus_message *m = NULL;
	int k;

	r->round_error[0] = '\0';
	k = call_new(r, "RevertLink", &m);
	if (k < 0) {
		sd_bus_message_unref(m);
		return k;
	}
	return call_send(r, "RevertLink", m);
}

/* Compares what the daemon wants with what resolved has, and starts the calls that close
 * the gap. Called after every change on either side; a round in flight finishes first. */
static void resolved_apply(struct resolved *r)
{
	const struct resolved_link *w = &r->want;
	int k;

	if (r->bus == NULL || r->n_calls > 0)
		return;
	if (!r->owner_known)
		return;
	if (r->owner[0] == '\0') {
		set_state(r, ST_NOT_RUNNING, r->required,
			  "systemd-resolved is not running on the system bus");
		return;
	}
	if (r->touched &&
	    (r->want_ifindex != r->applied_ifindex || w->n_servers == 0 || w->n_domains == 0)) {
		/* Another interface under the name: resolved dropped the old link with it. */
		if (r->want_ifindex != r->applied_ifindex) {
			forget_applied(r);
		} else {
			r->state = ST_REVERTING;
			k = round_revert(r);
			if (k < 0) {
				cancel_calls(r);
				log_warnx("systemd-resolved: cannot revert the settings of %s: %s",
					  r->applied.ifname, strerror(-k));
				forget_applied(r);
			}
			if (r->n_calls > 0)
				return;
		}
	}
	if (w->ifname[0] == '\0' || r->want_ifindex == 0) {
		set_state(r, ST_WAITING, false, "the interface %s does not exist",
			  w->ifname[0] != '\0' ? w->ifname : "(none)");
		return;
	}
	if (w->n_domains == 0) {
		set_state(r, ST_WAITING, false, "no registry snapshot yet");
		return;
	}
	if (w->n_servers == 0) {
		set_state(r, ST_WAITING, false,
			  "meshnamed does not listen on this host's mesh addresses on %s yet",
			  w->ifname);
		return;
	}
	if (r->applied_ifindex == r->want_ifindex && link_equal(&r->applied, w)) {
		if (r->state == ST_REGISTERED)
			return;
		if (r->state == ST_FAILED && r->now < r->retry_at)
			return;
	}
	r->state = ST_REGISTERING;
	k = round_register(r);
	if (k < 0) {
		cancel_calls(r);
		r->retry_at = r->now + RESOLVED_RETRY_S;
		set_state(r, ST_FAILED, true, "cannot send the calls to systemd-resolved: %s",
			  strerror(-k));
	}
}

/* ---- the interface ------------------------------------------------------------------------ */

int resolved_new(struct event_base *base, bool required, struct resolved **out)
{
	struct resolved *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (r == NULL)
		return -ENOMEM;
	r->base = base;
	r->required = required;
	r->state = ST_NO_BUS;
	snprintf(r->reason, sizeof(r->reason), "not connected yet");
	*out = r;
	return 0;
}

void resolved_sync(struct resolved *r, const struct resolved_link *want, uint64_t now)
{
	r->now = now;
	r->want = *want;
	r->want_ifindex = want->ifname[0] != '\0' ? if_nametoindex(want->ifname) : 0;
	if (r->bus == NULL) {
		if (now < r->next_connect)
			return;
		bus_connect(r);
	} else {
		resolved_apply(r);
	}
	bus_arm(r);
}

void resolved_status(const struct resolved *r, struct resolved_status *st)
{
	memset(st, 0, sizeof(*st));
	st->mode = r->required ? "yes" : "auto";
	st->state = state_names[r->state];
	snprintf(st->reason, sizeof(st->reason), "%s", r->reason);
	if (r->state == ST_REGISTERED || r->state == ST_REGISTERING || r->state == ST_FAILED) {
		st->ifindex = r->applied_ifindex;
		st->link = r->applied;
	}
	st->registrations = r->registrations;
}

void resolved_free(struct resolved *r)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	sd_bus_message *m = NULL;
	int k;

	if (r == NULL)
		return;
	cancel_calls(r);
	/* Whatever this process set stays in resolved (and in its state files) otherwise, and
	 * resolved would keep sending mesh names to a server that is gone. */
	if (r->bus != NULL && r->touched && r->owner[0] != '\0' && sd_bus_is_open(r->bus) > 0) {
		k = call_new(r, "RevertLink", &m);
		if (k >= 0)
			k = sd_bus_call(r->bus, m, RESOLVED_REVERT_MS * 1000ULL, &error, NULL);
		if (k >= 0 || sd_bus_error_has_name(&error, NO_SUCH_LINK))
			log_info("systemd-resolved: reverted the DNS settings of %s",
				 r->applied.ifname);
		else
			log_warnx("systemd-resolved: cannot revert the DNS settings of %s: %s",
				  r->applied.ifname,
				  error.message != NULL ? error.message : strerror(-k));
		sd_bus_error_free(&error);
		sd_bus_message_unref(m);
	}
	sd_bus_slot_unref(r->match);
	sd_bus_slot_unref(r->owner_query);
	if (r->ev != NULL)
		event_free(r->ev);
	sd_bus_flush_close_unref(r->bus);
	free(r);
}

void resolved_link_domains(const struct rec_root *root, struct resolved_link *l)
{
	static const char hex[] = "0123456789abcdef";
	size_t octets = root->ipv4_len / 8u, i, o;
	char *d;

	l->n_domains = 0;
	snprintf(l->domains[l->n_domains++], RESOLVED_DOMAIN_MAX, "%s", root->zone);
	/* The same zones as the resolver's answer.c: octet and /48 boundaries. */
	if (octets >= 1 && octets <= 3) {
		d = l->domains[l->n_domains++];
		for (i = octets, o = 0; i-- > 0;)
			o += (size_t)snprintf(d + o, RESOLVED_DOMAIN_MAX - o, "%u.",
					      (unsigned)root->ipv4[i]);
		snprintf(d + o, RESOLVED_DOMAIN_MAX - o, "in-addr.arpa");
	}
	d = l->domains[l->n_domains++];
	for (i = REC_IPV6_PREFIX_LEN / 8, o = 0; i-- > 0;) {
		d[o++] = hex[root->ipv6[i] & 0x0fu];
		d[o++] = '.';
		d[o++] = hex[root->ipv6[i] >> 4];
		d[o++] = '.';
	}
	snprintf(d + o, RESOLVED_DOMAIN_MAX - o, "ip6.arpa");
}
