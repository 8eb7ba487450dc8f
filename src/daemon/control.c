/*
 * control.c: meshnamed's control socket: the listening socket and its lock, one request
 * line per connection, the privilege check by peer credentials, and the JSON of the
 * replies. Never acts on a request itself (the daemon's handler does), never logs, never
 * blocks the loop on a client: clients are non-blocking, bounded and timed out.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <sodium.h>

#include "daemon/config.h"
#include "daemon/control.h"
#include "daemon/publish.h"
#include "daemon/resolved.h"
#include "daemon/syncd.h"
#include "meshname/certstate.h"
#include "meshname/registry.h"
#include "meshname/resolver.h"
#include "meshname/snapshot.h"
#include "meshname/wgmanager.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59 /* Linux 4.13; older headers lack it */
#endif

#define CONTROL_BACKLOG 16
#define CONTROL_MAX_PEER_GROUPS 65536 /* NGROUPS_MAX on Linux */

/* The verbs; anything else is an unknown request. */
static const struct control_verb {
	const char *name;
	bool privileged;
} control_verbs[] = {
	{ "status", false },
	{ "ls", false },
	{ "reload", true },
	{ "publish", true }, /* `meshname endpoint add|rm`: publish this host's endpoints now */
};

struct control_client {
	struct control *ctl;
	struct bufferevent *bev;
	struct control_client *prev, *next;
	uid_t uid;
	pid_t pid;
	bool privileged;
	bool replied; /* reading is over; the client is freed once the reply is written */
};

struct control {
	struct event_base *base;
	struct evconnlistener *listener;
	control_handler_fn fn;
	void *arg;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev; /* of the socket this control bound: close unlinks only that one */
	ino_t ino;
	int lock_fd;
	bool have_group;
	gid_t group;
	char group_text[CONFIG_GROUP_MAX];
	struct control_client *clients;
	unsigned n_clients;
};

/* --- privileges ------------------------------------------------------------------- */

bool control_privileged(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups, bool have_group,
			gid_t group)
{
	if (uid == 0)
		return true;
	if (!have_group)
		return false;
	if (gid == group)
		return true;
	for (size_t i = 0; i < n_groups; i++)
		if (groups[i] == group)
			return true;
	return false;
}

static bool all_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/* "" -> no group; digits -> that gid; else the group's name through getgrnam_r. */
static int resolve_group(const char *text, bool *have, gid_t *gid)
{
	struct group grp, *found = NULL;
	char *buf = NULL;
	size_t size = 1024;
	int r;

	*have = false;
	if (*text == '\0')
		return 0;
	if (all_digits(text)) {
		unsigned long v;

		errno = 0;
		v = strtoul(text, NULL, 10);
		if (errno != 0 || v >= (gid_t)-1)
			return -EINVAL;
		*gid = (gid_t)v;
		*have = true;
		return 0;
	}
	for (;;) {
		char *nbuf = realloc(buf, size);

		if (nbuf == NULL) {
			r = -ENOMEM;
			goto out;
		}
		buf = nbuf;
		r = getgrnam_r(text, &grp, buf, size, &found);
		if (r != ERANGE || size >= 1024 * 1024)
			break;
		size *= 4;
	}
	if (r != 0) {
		r = -r;
		goto out;
	}
	if (found == NULL) {
		r = -ENOENT;
		goto out;
	}
	*gid = grp.gr_gid;
	*have = true;
out:
	free(buf);
	return r;
}

int control_set_group(struct control *c, const char *group)
{
	bool have;
	gid_t gid = 0;
	int r;

	if ((size_t)snprintf(NULL, 0, "%s", group) >= sizeof(c->group_text))
		return -ENAMETOOLONG;
	r = resolve_group(group, &have, &gid);
	if (r < 0)
		return r;
	c->have_group = have;
	c->group = gid;
	snprintf(c->group_text, sizeof(c->group_text), "%s", group);
	return 0;
}

/* The peer's supplementary groups as the kernel saw them at connect (SO_PEERGROUPS).
 * Returns a malloc'd array (caller frees) or NULL with *n 0 when there are none or the
 * kernel cannot tell: then only the primary gid counts. */
static gid_t *peer_groups(int fd, size_t *n)
{
	socklen_t len = 64 * sizeof(gid_t);
	gid_t *groups = NULL;

	*n = 0;
	for (;;) {
		gid_t *ng = realloc(groups, len);

		if (ng == NULL)
			break;
		groups = ng;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
			*n = len / sizeof(gid_t);
			return groups;
		}
		/* ERANGE sets len to the size needed. */
		if (errno != ERANGE || len > CONTROL_MAX_PEER_GROUPS * sizeof(gid_t))
			break;
	}
	free(groups);
	return NULL;
}

/* --- JSON ------------------------------------------------------------------------- */

void control_json_string(struct evbuffer *out, const char *s)
{
	evbuffer_add(out, "\"", 1);
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			evbuffer_add_printf(out, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			evbuffer_add_printf(out, "\\u%04x", ch);
		else
			evbuffer_add(out, s, 1);
	}
	evbuffer_add(out, "\"", 1);
}

void control_json_error(struct evbuffer *out, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	evbuffer_drain(out, evbuffer_get_length(out));
	evbuffer_add_printf(out, "{\"error\":");
	control_json_string(out, msg);
	evbuffer_add_printf(out, "}");
}

static void json_date(struct evbuffer *out, uint64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char date[32];

	/* The same form as `meshname ls --json` (cli_date). */
	if (gmtime_r(&tt, &tm) == NULL || strftime(date, sizeof(date), "%Y-%m-%d", &tm) == 0)
		snprintf(date, sizeof(date), "@%llu", (unsigned long long)t);
	evbuffer_add_printf(out, "\"%s\"", date);
}

static void json_host(struct evbuffer *out, const char *zone, const struct snapshot_host *h,
		      bool self)
{
	char a4[INET_ADDRSTRLEN], a6[INET6_ADDRSTRLEN], hk[45], wk[45], id[2 * REC_ID_SIZE + 1];

	inet_ntop(AF_INET, h->ipv4, a4, sizeof(a4));
	inet_ntop(AF_INET6, h->ipv6, a6, sizeof(a6));
	sodium_bin2base64(hk, sizeof(hk), h->host_key, REC_KEY_SIZE,
			  sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(wk, sizeof(wk), h->wg_key, REC_KEY_SIZE, sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2hex(id, sizeof(id), h->cert_id, REC_ID_SIZE);
	evbuffer_add_printf(out, "{\"name\":");
	control_json_string(out, h->name);
	evbuffer_add_printf(out, ",\"fqdn\":\"%s.%s\",\"self\":%s", h->name, zone,
			    self ? "true" : "false");
	evbuffer_add_printf(
		out, ",\"ipv4\":\"%s\",\"ipv6\":\"%s\",\"host_key\":\"%s\",\"wg_key\":\"%s\"", a4,
		a6, hk, wk);
	evbuffer_add_printf(out, ",\"groups\":[");
	for (unsigned i = 0; i < h->n_groups; i++) {
		if (i > 0)
			evbuffer_add(out, ",", 1);
		control_json_string(out, h->groups[i]);
	}
	evbuffer_add_printf(out,
			    "],\"serial\":%llu,\"cert_id\":\"%s\",\"not_before\":%llu,"
			    "\"not_after\":%llu,\"expires\":",
			    (unsigned long long)h->serial, id, (unsigned long long)h->not_before,
			    (unsigned long long)h->not_after);
	json_date(out, h->not_after);
	if (h->endpoints_seq != 0)
		evbuffer_add_printf(out, ",\"listen_port\":%u", h->listen_port);
	else
		evbuffer_add_printf(out, ",\"listen_port\":null");
	evbuffer_add_printf(out, ",\"endpoints\":[");
	for (unsigned i = 0; i < h->n_endpoints; i++) {
		const struct rec_endpoint *e = &h->endpoints[i];
		static const char *const kinds[] = { "unknown", "lan", "ipv6", "public",
						     "reflexive" };
		char ep[INET6_ADDRSTRLEN];

		inet_ntop(e->family == 4 ? AF_INET : AF_INET6, e->addr, ep, sizeof(ep));
		evbuffer_add_printf(out, "%s{\"kind\":\"%s\",\"address\":\"%s\",\"port\":%u}",
				    i > 0 ? "," : "", kinds[e->kind <= EP_REFLEXIVE ? e->kind : 0],
				    ep, e->port);
	}
	evbuffer_add_printf(out, "]}");
}

static bool is_self(const struct snapshot_host *h, const uint8_t *self_key)
{
	return self_key != NULL && memcmp(h->host_key, self_key, REC_KEY_SIZE) == 0;
}

void control_json_hosts(struct evbuffer *out, const struct snapshot *s, const uint8_t *self_key,
			const char *state_dir)
{
	const char *zone;
	size_t n;

	if (s == NULL) {
		control_json_error(out, "meshnamed has no registry snapshot yet");
		return;
	}
	zone = snapshot_zone(s);
	n = snapshot_host_count(s);
	evbuffer_add_printf(out, "{\"state\":");
	control_json_string(out, state_dir != NULL ? state_dir : "");
	evbuffer_add_printf(out, ",\"zone\":");
	control_json_string(out, zone);
	evbuffer_add_printf(out, ",\"generation\":%llu,\"hosts\":[",
			    (unsigned long long)snapshot_generation(s));
	for (size_t i = 0; i < n; i++) {
		const struct snapshot_host *h = snapshot_host_at(s, i);

		evbuffer_add_printf(out, i > 0 ? ",\n " : "\n ");
		json_host(out, zone, h, is_self(h, self_key));
	}
	evbuffer_add_printf(out, "]}");
}

struct alert_writer {
	struct evbuffer *out;
	unsigned n;
};

static int json_alert(void *arg, uint64_t at, const char *message)
{
	struct alert_writer *w = arg;

	evbuffer_add_printf(w->out, "%s{\"at\":%llu,\"message\":", w->n++ > 0 ? "," : "",
			    (unsigned long long)at);
	control_json_string(w->out, message);
	evbuffer_add(w->out, "}", 1);
	return 0;
}

static void json_this_host(struct evbuffer *out, const struct control_status *st)
{
	const struct snapshot_host *h = NULL;
	char a4[INET_ADDRSTRLEN], a6[INET6_ADDRSTRLEN];
	const char *state;

	if (st->self_key == NULL) {
		evbuffer_add_printf(out, "null");
		return;
	}
	if (st->snap != NULL)
		h = snapshot_lookup_host_key(st->snap, st->self_key);
	if (h == NULL) {
		/* Not active: revoked, expired, or never admitted (or not synced yet). */
		state = cert_state_word(
			cert_state_of(st->reg != NULL && registry_is_revoked(st->reg, st->self_key),
				      st->self_not_after != 0, st->self_not_after, st->now));
		evbuffer_add_printf(out, "{\"certificate\":\"%s\"", state);
		if (st->self_name != NULL) {
			evbuffer_add_printf(out, ",\"name\":");
			control_json_string(out, st->self_name);
		}
		if (st->self_not_after != 0)
			evbuffer_add_printf(out, ",\"not_after\":%llu",
					    (unsigned long long)st->self_not_after);
		evbuffer_add(out, "}", 1);
		return;
	}
	state = cert_state_word(cert_state_of(false, true, h->not_after, st->now));
	inet_ntop(AF_INET, h->ipv4, a4, sizeof(a4));
	inet_ntop(AF_INET6, h->ipv6, a6, sizeof(a6));
	evbuffer_add_printf(out, "{\"name\":");
	control_json_string(out, h->name);
	evbuffer_add_printf(out,
			    ",\"ipv4\":\"%s\",\"ipv6\":\"%s\",\"not_after\":%llu,"
			    "\"certificate\":\"%s\"}",
			    a4, a6, (unsigned long long)h->not_after, state);
}

static void json_mesh(struct evbuffer *out, const struct snapshot *s)
{
	const struct rec_root *root = snapshot_root(s);
	char id[2 * REC_ID_SIZE + 1], p4[INET_ADDRSTRLEN], p6[INET6_ADDRSTRLEN];

	sodium_bin2hex(id, sizeof(id), snapshot_mesh_id(s), REC_ID_SIZE);
	inet_ntop(AF_INET, root->ipv4, p4, sizeof(p4));
	inet_ntop(AF_INET6, root->ipv6, p6, sizeof(p6));
	evbuffer_add_printf(out, ",\"mesh\":");
	control_json_string(out, root->name);
	evbuffer_add_printf(out, ",\"mesh_id\":\"%s\",\"zone\":", id);
	control_json_string(out, root->zone);
	evbuffer_add_printf(out,
			    ",\"ipv4_prefix\":\"%s/%u\",\"ipv6_prefix\":\"%s/%u\","
			    "\"generation\":%llu,\"hosts\":%zu,\"custom_records\":%zu",
			    p4, root->ipv4_len, p6, REC_IPV6_PREFIX_LEN,
			    (unsigned long long)snapshot_generation(s), snapshot_host_count(s),
			    snapshot_rr_count(s));
}

/* "wireguard":{...}: the interface and each peer as the manager's last tick saw them. */
static void json_wireguard(struct evbuffer *out, const struct wg_manager_status *wg)
{
	char buf[INET6_ADDRSTRLEN];

	evbuffer_add_printf(out, ",\"wireguard\":{\"interface\":");
	control_json_string(out, wg->ifname);
	evbuffer_add_printf(out, ",\"backend\":\"%s\",\"device\":%s", wg->backend,
			    wg->device ? "true" : "false");
	if (wg->device)
		evbuffer_add_printf(out, ",\"listen_port\":%u", (unsigned)wg->listen_port);
	evbuffer_add_printf(out, ",\"peers\":[");
	for (size_t i = 0; i < wg->n_peers; i++) {
		const struct wg_manager_peer_status *p = &wg->peers[i];
		char addr[CONFIG_ADDR_STRLEN];

		evbuffer_add_printf(out, "%s{\"name\":", i > 0 ? "," : "");
		control_json_string(out, p->name);
		evbuffer_add_printf(out, ",\"ipv4\":\"%s\"",
				    inet_ntop(AF_INET, p->ipv4, buf, sizeof(buf)));
		evbuffer_add_printf(out, ",\"ipv6\":\"%s\",\"endpoint\":",
				    inet_ntop(AF_INET6, p->ipv6, buf, sizeof(buf)));
		if (p->endpoint.ss_family == AF_INET || p->endpoint.ss_family == AF_INET6)
			evbuffer_add_printf(out, "\"%s\"",
					    config_addr_str(&p->endpoint, addr, sizeof(addr)));
		else
			evbuffer_add_printf(out, "null");
		evbuffer_add_printf(out,
				    ",\"endpoint_kind\":\"%s\",\"latest_handshake\":%lld,"
				    "\"rx_bytes\":%llu,\"tx_bytes\":%llu}",
				    p->endpoint_kind != NULL ? p->endpoint_kind : "none",
				    (long long)p->last_handshake, (unsigned long long)p->rx_bytes,
				    (unsigned long long)p->tx_bytes);
	}
	evbuffer_add_printf(out, "]}");
}

/* "endpoints":{...}: what this host publishes in its ENDPOINTS record, and why not. */
static void json_endpoints(struct evbuffer *out, const struct publish_status *e)
{
	char addr[INET6_ADDRSTRLEN];

	evbuffer_add_printf(out, ",\"endpoints\":{\"publishing\":%s,\"member\":%s",
			    e->enabled ? "true" : "false", e->member ? "true" : "false");
	if (e->seq != 0)
		evbuffer_add_printf(out, ",\"seq\":%llu,\"expires\":%llu,\"listen_port\":%u",
				    (unsigned long long)e->seq, (unsigned long long)e->expires,
				    (unsigned)e->published.listen_port);
	else
		evbuffer_add_printf(out, ",\"seq\":null,\"expires\":null,\"listen_port\":null");
	if (e->last_publish != 0)
		evbuffer_add_printf(out, ",\"last_publish\":%llu",
				    (unsigned long long)e->last_publish);
	else
		evbuffer_add_printf(out, ",\"last_publish\":null");
	evbuffer_add_printf(out, ",\"published\":[");
	for (unsigned i = 0; i < e->published.n; i++) {
		const struct rec_endpoint *ep = &e->published.ep[i];

		inet_ntop(ep->family == 4 ? AF_INET : AF_INET6, ep->addr, addr, sizeof(addr));
		evbuffer_add_printf(out,
				    "%s{\"kind\":\"%s\",\"address\":\"%s\",\"port\":%u,"
				    "\"source\":\"%s\"}",
				    i > 0 ? "," : "", rec_ep_kind_name(ep->kind), addr,
				    (unsigned)ep->port,
				    e->source[i] != NULL ? e->source[i] : "unknown");
	}
	evbuffer_add_printf(out, "],\"dropped\":%zu,\"nat\":", e->n_dropped);
	control_json_string(out, e->nat != NULL ? e->nat : "unknown");
	evbuffer_add_printf(out, ",\"unresolved\":[");
	for (size_t i = 0; i < e->n_unresolved; i++) {
		if (i > 0)
			evbuffer_add(out, ",", 1);
		control_json_string(out, e->unresolved[i]);
	}
	evbuffer_add_printf(out, "],\"error\":");
	if (e->error[0] != '\0')
		control_json_string(out, e->error);
	else
		evbuffer_add_printf(out, "null");
	evbuffer_add(out, "}", 1);
}

/* "resolved":{...}: meshnamed's registration with systemd-resolved, and why it is not. */
static void json_resolved(struct evbuffer *out, const struct resolved_status *r)
{
	char addr[CONFIG_ADDR_STRLEN];

	evbuffer_add_printf(out, ",\"resolved\":{\"mode\":");
	control_json_string(out, r->mode);
	evbuffer_add_printf(out, ",\"state\":");
	control_json_string(out, r->state);
	evbuffer_add_printf(out, ",\"error\":");
	if (r->reason[0] != '\0')
		control_json_string(out, r->reason);
	else
		evbuffer_add_printf(out, "null");
	evbuffer_add_printf(out, ",\"interface\":");
	if (r->link.ifname[0] != '\0')
		control_json_string(out, r->link.ifname);
	else
		evbuffer_add_printf(out, "null");
	evbuffer_add_printf(out, ",\"ifindex\":%u,\"servers\":[", r->ifindex);
	for (size_t i = 0; i < r->link.n_servers; i++)
		evbuffer_add_printf(out, "%s\"%s\"", i > 0 ? "," : "",
				    config_addr_str(&r->link.servers[i], addr, sizeof(addr)));
	evbuffer_add_printf(out, "],\"domains\":[");
	for (size_t i = 0; i < r->link.n_domains; i++) {
		char d[RESOLVED_DOMAIN_MAX + 1];

		snprintf(d, sizeof(d), "~%s", r->link.domains[i]);
		if (i > 0)
			evbuffer_add(out, ",", 1);
		control_json_string(out, d);
	}
	evbuffer_add_printf(out, "],\"registrations\":%llu}", (unsigned long long)r->registrations);
}

/* A unix time, or null for 0 (never). */
static void json_time(struct evbuffer *out, const char *key, uint64_t t)
{
	if (t != 0)
		evbuffer_add_printf(out, ",\"%s\":%llu", key, (unsigned long long)t);
	else
		evbuffer_add_printf(out, ",\"%s\":null", key);
}

/* A fixed-size text field of the daemon's structs: at most size bytes, a JSON string, or
 * null when empty. */
static void json_text_field(struct evbuffer *out, const char *key, const char *text, size_t size)
{
	char buf[256];

	evbuffer_add_printf(out, ",\"%s\":", key);
	snprintf(buf, sizeof(buf), "%.*s", (int)strnlen(text, size), text);
	if (buf[0] != '\0')
		control_json_string(out, buf);
	else
		evbuffer_add_printf(out, "null");
}

static void json_sync_neighbour(struct evbuffer *out, const struct snapshot *snap,
				const struct syncd_neighbour *n)
{
	static const struct {
		unsigned flag;
		const char *name;
	} sources[] = { { SYNCNODE_LAN, "lan" },
			{ SYNCNODE_SEED, "seed" },
			{ SYNCNODE_MEMBER, "member" } };
	const struct snapshot_host *h = snap != NULL ? snapshot_lookup_host_key(snap, n->key) :
						       NULL;
	char key[45];
	bool first = true;

	sodium_bin2base64(key, sizeof(key), n->key, REC_KEY_SIZE, sodium_base64_VARIANT_ORIGINAL);
	evbuffer_add_printf(out, "{\"name\":");
	if (h != NULL)
		control_json_string(out, h->name);
	else
		evbuffer_add_printf(out, "null");
	evbuffer_add_printf(out, ",\"host_key\":\"%s\",\"source\":[", key);
	for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++)
		if (n->flags & sources[i].flag) {
			evbuffer_add_printf(out, "%s\"%s\"", first ? "" : ",", sources[i].name);
			first = false;
		}
	evbuffer_add(out, "]", 1);
	json_text_field(out, "via", n->via, sizeof(n->via));
	json_time(out, "last_ok", n->last_ok);
	json_time(out, "last_fail", n->last_fail);
	evbuffer_add_printf(out, ",\"failures\":%u", n->failures);
	json_time(out, "backoff_until", n->backoff_until);
	evbuffer_add_printf(out, ",\"in_session\":%s,\"banned\":%s}",
			    n->in_session ? "true" : "false", n->banned ? "true" : "false");
}

/* "sync":{...}: peer-to-peer registry sync, its neighbours and counters. parked: the
 * registry's pending records (waiting for the record that authorizes them), or NULL. */
static void json_sync(struct evbuffer *out, const struct syncd_status *sy,
		      const struct snapshot *snap, const uint64_t *parked)
{
	size_t n;

	if (sy == NULL || !sy->enabled) {
		evbuffer_add_printf(out, ",\"sync\":{\"enabled\":false}");
		return;
	}
	evbuffer_add_printf(out, ",\"sync\":{\"enabled\":true,\"port\":%u,\"beacons\":%s",
			    (unsigned)sy->port, sy->beacons ? "true" : "false");
	json_time(out, "last_ok", sy->last_ok);
	json_time(out, "next_ae", sy->next_ae);
	evbuffer_add_printf(out, ",\"pending_push\":%zu", sy->pending_push);
	if (parked != NULL)
		evbuffer_add_printf(out, ",\"parked\":%llu", (unsigned long long)*parked);
	evbuffer_add_printf(out,
			    ",\"sessions_in\":%zu,\"sessions_out\":%zu,\"sessions_ok\":%llu,"
			    "\"sessions_failed\":%llu,\"records_in\":%llu,\"records_out\":%llu,"
			    "\"bytes_in\":%llu,\"bytes_out\":%llu,\"accepted\":%llu,"
			    "\"strikes\":%llu,\"banned\":%zu,\"beacons_sent\":%llu,"
			    "\"beacons_heard\":%llu",
			    sy->sessions_in, sy->sessions_out, (unsigned long long)sy->sessions_ok,
			    (unsigned long long)sy->sessions_failed,
			    (unsigned long long)sy->records_in, (unsigned long long)sy->records_out,
			    (unsigned long long)sy->bytes_in, (unsigned long long)sy->bytes_out,
			    (unsigned long long)sy->accepted, (unsigned long long)sy->strikes,
			    sy->banned, (unsigned long long)sy->beacons_sent,
			    (unsigned long long)sy->beacons_heard);
	json_text_field(out, "error", sy->error, sizeof(sy->error));
	evbuffer_add_printf(out, ",\"neighbours\":[");
	n = sy->n_neighbours < SYNCNODE_MAX_NEIGHBOURS ? sy->n_neighbours : SYNCNODE_MAX_NEIGHBOURS;
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			evbuffer_add(out, ",", 1);
		json_sync_neighbour(out, snap, &sy->nb[i]);
	}
	evbuffer_add_printf(out, "]}");
}

void control_json_status(struct evbuffer *out, const struct control_status *st)
{
	struct registry_counts counts;
	bool have_counts = false;

	evbuffer_add_printf(out, "{\"daemon\":\"running\",\"pid\":%ld,\"started\":%llu,\"state\":",
			    (long)getpid(), (unsigned long long)st->started);
	control_json_string(out, st->state_dir != NULL ? st->state_dir : "");
	if (st->snap != NULL)
		json_mesh(out, st->snap);
	evbuffer_add_printf(out, ",\"host\":");
	json_this_host(out, st);
	if (st->reg != NULL) {
		struct alert_writer w = { out, 0 };

		if (registry_counts(st->reg, &counts) == 0) {
			have_counts = true;
			evbuffer_add_printf(out, ",\"records\":%llu,\"pending\":%llu",
					    (unsigned long long)counts.records,
					    (unsigned long long)counts.pending);
		}
		evbuffer_add_printf(out, ",\"alerts\":[");
		registry_foreach_alert(st->reg, json_alert, &w);
		evbuffer_add_printf(out, "]");
	}
	evbuffer_add_printf(out, ",\"listeners\":[");
	for (size_t i = 0; i < st->n_listeners; i++) {
		const struct resolver_listener *l = &st->listeners[i];
		char addr[CONFIG_ADDR_STRLEN];

		config_addr_str(&l->addr, addr, sizeof(addr));
		evbuffer_add_printf(
			out, "%s{\"address\":\"%s\",\"proto\":\"%s\",\"bound\":%s,\"error\":",
			i > 0 ? "," : "", addr, l->tcp ? "tcp" : "udp",
			l->error == 0 ? "true" : "false");
		if (l->error == 0)
			evbuffer_add_printf(out, "null}");
		else {
			control_json_string(out, strerror(l->error));
			evbuffer_add(out, "}", 1);
		}
	}
	evbuffer_add_printf(out, "]");
	if (st->stats != NULL)
		evbuffer_add_printf(out,
				    ",\"resolver\":{\"queries\":%llu,\"answered\":%llu,"
				    "\"forwarded\":%llu,\"cache_hits\":%llu,\"stale_served\":%llu,"
				    "\"servfail\":%llu,\"dropped\":%llu,\"tcp_clients\":%llu}",
				    (unsigned long long)st->stats->queries,
				    (unsigned long long)st->stats->answered,
				    (unsigned long long)st->stats->forwarded,
				    (unsigned long long)st->stats->cache_hits,
				    (unsigned long long)st->stats->stale_served,
				    (unsigned long long)st->stats->servfail,
				    (unsigned long long)st->stats->dropped,
				    (unsigned long long)st->stats->tcp_clients);
	if (st->wg != NULL)
		json_wireguard(out, st->wg);
	if (st->endpoints != NULL)
		json_endpoints(out, st->endpoints);
	if (st->resolved != NULL)
		json_resolved(out, st->resolved);
	json_sync(out, st->sync, st->snap, have_counts ? &counts.pending : NULL);
	evbuffer_add_printf(out, "}");
}

/* --- clients ---------------------------------------------------------------------- */

static void client_free(struct control_client *cl)
{
	struct control *c = cl->ctl;

	if (cl->prev != NULL)
		cl->prev->next = cl->next;
	else
		c->clients = cl->next;
	if (cl->next != NULL)
		cl->next->prev = cl->prev;
	c->n_clients--;
	bufferevent_free(cl->bev); /* closes the socket */
	free(cl);
}

static const struct control_verb *find_verb(const char *name)
{
	for (size_t i = 0; i < sizeof(control_verbs) / sizeof(control_verbs[0]); i++)
		if (strcmp(control_verbs[i].name, name) == 0)
			return &control_verbs[i];
	return NULL;
}

/* One request line (no newline) into its reply in out. */
static void handle_request(struct control *c, struct control_client *cl, char *line,
			   struct evbuffer *out)
{
	const struct control_verb *v;
	char *arg_text;
	size_t len = strlen(line);
	int r;

	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] == 0x7f) {
			control_json_error(
				out, "malformed request: control character in column %zu", i + 1);
			return;
		}
	arg_text = strchr(line, ' ');
	if (arg_text != NULL)
		*arg_text++ = '\0';
	else
		arg_text = line + len;
	if (*line == '\0') {
		control_json_error(out, "empty request: send a verb such as \"status\"");
		return;
	}
	v = find_verb(line);
	if (v == NULL) {
		control_json_error(out, "unknown request \"%.64s\"", line);
		return;
	}
	if (v->privileged && !cl->privileged) {
		if (c->have_group)
			control_json_error(
				out,
				"permission denied: %s needs root or group %s (you are uid %lu)",
				v->name, c->group_text, (unsigned long)cl->uid);
		else
			control_json_error(out,
					   "permission denied: %s needs root (you are uid %lu)",
					   v->name, (unsigned long)cl->uid);
		return;
	}
	r = c->fn(c->arg, v->name, arg_text, cl->privileged, out);
	if (r < 0) {
		static const char prefix[] = "{\"error\":";
		char head[sizeof(prefix)] = "";

		/* Keep the handler's own error; replace anything else (perhaps half written). */
		evbuffer_copyout(out, head, sizeof(prefix) - 1);
		if (memcmp(head, prefix, sizeof(prefix) - 1) != 0)
			control_json_error(out, "%s failed: %s", v->name, strerror(-r));
	} else if (evbuffer_get_length(out) == 0) {
		evbuffer_add_printf(out, "{\"ok\":true}");
	}
}

static void on_client_event(struct bufferevent *bev, short what, void *arg);

static void on_client_written(struct bufferevent *bev, void *arg)
{
	struct control_client *cl = arg;

	(void)bev;
	client_free(cl);
}

/* Runs the request line (NULL: replies error instead), queues the reply, and frees the
 * client once it is written. */
static void reply(struct control_client *cl, char *line, const char *error)
{
	/* A buffer of our own: the front of a bufferevent's output is frozen, so an error
	 * could not replace what the handler wrote there. */
	struct evbuffer *out = evbuffer_new();

	cl->replied = true;
	bufferevent_disable(cl->bev, EV_READ);
	if (out == NULL) {
		client_free(cl);
		return;
	}
	if (line == NULL)
		control_json_error(out, "%s", error != NULL ? error : "malformed request");
	else
		handle_request(cl->ctl, cl, line, out);
	evbuffer_add(out, "\n", 1);
	bufferevent_write_buffer(cl->bev, out);
	evbuffer_free(out);
	/* The write callback runs when the output is empty: then the reply is out. */
	bufferevent_setcb(cl->bev, NULL, on_client_written, on_client_event, cl);
	bufferevent_enable(cl->bev, EV_WRITE);
}

static void on_client_read(struct bufferevent *bev, void *arg)
{
	struct control_client *cl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr eol;
	char line[CONTROL_REQUEST_MAX];
	size_t len;

	if (cl->replied)
		return;
	eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
	if (eol.pos < 0) {
		if (evbuffer_get_length(in) >= CONTROL_REQUEST_MAX)
			reply(cl, NULL, "request longer than 4096 bytes");
		return;
	}
	len = (size_t)eol.pos;
	if (len >= CONTROL_REQUEST_MAX) {
		reply(cl, NULL, "request longer than 4096 bytes");
		return;
	}
	evbuffer_remove(in, line, len + 1);
	line[len] = '\0';
	if (memchr(line, '\0', len) != NULL) {
		reply(cl, NULL, "malformed request: NUL byte");
		return;
	}
	reply(cl, line, NULL);
}

static void on_client_event(struct bufferevent *bev, short what, void *arg)
{
	struct control_client *cl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	char line[CONTROL_REQUEST_MAX];

	/* A client that half-closes after "status" without a newline still gets a reply. */
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) && !cl->replied && len > 0 &&
	    len < CONTROL_REQUEST_MAX) {
		evbuffer_remove(in, line, len);
		line[len] = '\0';
		if (memchr(line, '\0', len) != NULL)
			reply(cl, NULL, "malformed request: NUL byte");
		else
			reply(cl, line, NULL);
		return;
	}
	/* EOF with nothing asked, an error, or a timeout (also while writing): drop it. */
	client_free(cl);
}

/* Replies busy without a bufferevent: the reply is short and the socket buffer empty. */
static void refuse_busy(int fd)
{
	static const char busy[] = "{\"error\":\"busy: too many control clients, try again\"}\n";
	ssize_t w = write(fd, busy, sizeof(busy) - 1);

	(void)w;
	close(fd);
}

static void on_accept(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	struct control *c = arg;
	struct control_client *cl = NULL;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct timeval tv = { CONTROL_TIMEOUT_MS / 1000, (CONTROL_TIMEOUT_MS % 1000) * 1000 };
	gid_t *groups = NULL;
	size_t n_groups = 0;

	(void)listener;
	(void)sa;
	(void)salen;
	if (c->n_clients >= CONTROL_MAX_CLIENTS) {
		refuse_busy(fd);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof(cred)) {
		close(fd);
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (cl == NULL) {
		close(fd);
		return;
	}
	cl->ctl = c;
	cl->uid = cred.uid;
	cl->pid = cred.pid;
	if (cred.uid != 0 && c->have_group && cred.gid != c->group)
		groups = peer_groups(fd, &n_groups);
	cl->privileged =
		control_privileged(cred.uid, cred.gid, groups, n_groups, c->have_group, c->group);
	free(groups);
	cl->bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (cl->bev == NULL) {
		close(fd);
		free(cl);
		return;
	}
	cl->next = c->clients;
	if (c->clients != NULL)
		c->clients->prev = cl;
	c->clients = cl;
	c->n_clients++;
	bufferevent_setcb(cl->bev, on_client_read, NULL, on_client_event, cl);
	bufferevent_set_timeouts(cl->bev, &tv, &tv);
	if (bufferevent_enable(cl->bev, EV_READ) != 0)
		client_free(cl);
}

/* --- the socket ------------------------------------------------------------------- */

/* Makes the socket's directory (one level, 0755) when it is missing. */
static int make_parent(const char *path)
{
	char dir[PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Removes path if it is a socket nobody answers on (left by a daemon that died). */
static int remove_stale(const char *path, const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, r = 0;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0)
		r = -EADDRINUSE;
	else if (errno != ECONNREFUSED)
		r = -errno;
	close(fd);
	if (r == 0 && unlink(path) != 0 && errno != ENOENT)
		r = -errno;
	return r;
}

/* Two daemons must not share a control socket (nor the state behind it): the lock is
 * held for the life of the control and released by the kernel when the process dies. */
static int take_lock(const char *path, int *out)
{
	char lock[PATH_MAX];
	int fd;

	if ((size_t)snprintf(lock, sizeof(lock), "%s.lock", path) >= sizeof(lock))
		return -ENAMETOOLONG;
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;

		close(fd);
		return e == EWOULDBLOCK ? -EADDRINUSE : -e;
	}
	*out = fd;
	return 0;
}

int control_open(struct event_base *base, const char *path, const char *group,
		 control_handler_fn fn, void *arg, struct control **out)
{
	struct control *c;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd = -1, r;
	bool bound = false;

	*out = NULL;
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path) >=
	    sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->base = base;
	c->fn = fn;
	c->arg = arg;
	c->lock_fd = -1;
	snprintf(c->path, sizeof(c->path), "%s", path);
	r = control_set_group(c, group);
	if (r < 0)
		goto out;
	r = make_parent(path);
	if (r < 0)
		goto out;
	r = take_lock(path, &c->lock_fd);
	if (r < 0)
		goto out;
	r = remove_stale(path, &sun);
	if (r < 0)
		goto out;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		r = -errno;
		goto out;
	}
	bound = true;
	/* Everyone may connect: status is public, privileged verbs are checked per request. */
	if (chmod(path, 0666) != 0 || lstat(path, &st) != 0 || listen(fd, CONTROL_BACKLOG) != 0) {
		r = -errno;
		goto out;
	}
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	c->listener = evconnlistener_new(base, on_accept, c, LEV_OPT_CLOSE_ON_FREE, 0, fd);
	if (c->listener == NULL) {
		r = -ENOMEM;
		goto out;
	}
	fd = -1;
	*out = c;
	return 0;
out:
	if (bound)
		unlink(path);
	if (fd >= 0)
		close(fd);
	if (c->lock_fd >= 0)
		close(c->lock_fd);
	free(c);
	return r;
}

void control_close(struct control *c)
{
	struct stat st;

	if (c == NULL)
		return;
	while (c->clients != NULL)
		client_free(c->clients);
	evconnlistener_free(c->listener);
	/* Only the socket this control made: never one that replaced it. */
	if (lstat(c->path, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino)
		unlink(c->path);
	close(c->lock_fd);
	free(c);
}
