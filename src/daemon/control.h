/*
 * control.h: meshnamed's control socket (a unix stream socket, /run/meshname/control.sock):
 * one request line in, one JSON document out, then close. Owns the socket, its lock file and
 * the per-request privilege check (SO_PEERCRED, SO_PEERGROUPS); the daemon's handler does
 * the work. Never trusts the client: bounded lines, bounded clients, a timeout.
 */
#ifndef MESHNAME_DAEMON_CONTROL_H
#define MESHNAME_DAEMON_CONTROL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;
struct evbuffer;
struct registry;
struct resolver_listener;
struct resolver_stats;
struct snapshot;
struct control;

#define CONTROL_REQUEST_MAX 4096 /* bytes of one request line, with its newline */
#define CONTROL_MAX_CLIENTS 16   /* more at once get {"error":"busy ..."} */
#define CONTROL_TIMEOUT_MS 5000  /* to send the request, and to read the reply */

/*
 * Called once per request, for the verbs of the table in control.c: "status" and "ls"
 * (anyone), "reload" and "publish" (privileged only: control.c refuses the others before
 * calling).
 * arg_text is what follows "VERB " ("" when nothing). The handler appends one JSON
 * document to out and returns 0; when it appends nothing, the reply is {"ok":true}.
 * On failure it returns -errno and the reply is {"error":"VERB failed: strerror"},
 * unless it wrote its own error with control_json_error.
 */
typedef int (*control_handler_fn)(void *arg, const char *verb, const char *arg_text,
				  bool privileged, struct evbuffer *out);

/*
 * Takes the lock PATH.lock (flock, held while open), makes PATH's directory (0755) when
 * missing, removes a stale socket left by a dead daemon, binds PATH (mode 0666: everyone
 * may ask for status; privileged verbs are checked per request) and listens on base.
 * group: "" = only root may use privileged verbs, else a group name or a numeric gid
 * whose members may too. Returns 0, or:
 *   -EADDRINUSE   another meshnamed holds the lock or answers on PATH
 *   -EEXIST       PATH exists and is not a socket (never removed)
 *   -ENOENT       group does not exist
 *   -ENAMETOOLONG PATH does not fit in sun_path
 *   other -errno  from mkdir, socket, bind, listen
 * The process must ignore SIGPIPE: libevent writes replies with writev(2), and a client
 * that hangs up early would otherwise kill the daemon.
 */
int control_open(struct event_base *base, const char *path, const char *group,
		 control_handler_fn fn, void *arg, struct control **out);
/* Closes every client, unlinks the socket this control made, drops the lock. NULL: no-op. */
void control_close(struct control *c);
/* For SIGHUP: a new group (same meaning as in control_open). On error (-ENOENT, -ENOMEM)
 * the old group stays. */
int control_set_group(struct control *c, const char *group);

/*
 * The privilege rule, exported for its unit test: uid 0, or the peer's primary gid or one
 * of its supplementary groups (SO_PEERGROUPS: the groups at connect time, immune to pid
 * reuse) equals the configured group. have_group false: root only.
 */
bool control_privileged(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups, bool have_group,
			gid_t group);

/* --- JSON for the handler's replies -------------------------------------------------- */

/* s as a JSON string, quotes included: '"', '\\' and control characters escaped. */
void control_json_string(struct evbuffer *out, const char *s);
/* Empties out and writes {"error":"<message>"}. */
void control_json_error(struct evbuffer *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* What `meshname status` shows of a running daemon. Fields may be NULL/0 when unknown.
 * The WireGuard manager (issue 4) adds its interface, backend and peers here. */
struct wg_manager_status;
struct publish_status;
struct resolved_status;
struct syncd_status;

struct control_status {
	const struct snapshot *snap; /* NULL: no snapshot yet */
	struct registry *reg;        /* counts and alerts; NULL: left out */
	const uint8_t *self_key;     /* this host's public host key, or NULL */
	uint64_t self_not_after;     /* of its certificate when it is not active; 0: unknown */
	const char *self_name;       /* its name then; NULL: unknown */
	const struct resolver_listener *listeners; /* resolver_listeners() */
	size_t n_listeners;
	const struct resolver_stats *stats; /* NULL: no resolver */
	const char *state_dir;              /* absolute */
	uint64_t started;                   /* unix time the daemon started */
	uint64_t now;
	const struct wg_manager_status *wg;     /* the WireGuard peer manager; NULL: manage no */
	const struct publish_status *endpoints; /* this host's ENDPOINTS publisher; NULL: none */
	const struct resolved_status *resolved; /* systemd-resolved registration; NULL: left out */
	const struct syncd_status *sync;        /* peer sync; NULL: sync no */
};

/*
 * The reply to "status": one object with "daemon":"running", "pid", "started", "state",
 * the mesh ("mesh", "mesh_id", "zone", "ipv4_prefix", "ipv6_prefix", "generation"), "host"
 * (this host: name, ipv4, ipv6, not_after, certificate valid|expiring|revoked|none; when not
 * active only certificate (expired, revoked or none), and name and not_after if known; null when
 * self_key is NULL), "hosts", "custom_records", with reg also "records", "pending",
 * "alerts" (array of {at, message}), "listeners" (address, proto, bound, error) and
 * "resolver" (the counters of struct resolver_stats), with wg "wireguard", with endpoints
 * "endpoints" (what this host publishes: publishing, member, seq, expires, last_publish,
 * listen_port, published [{kind, address, port, source}], dropped, nat, unresolved, error),
 * with resolved "resolved" (mode, state, error, interface, ifindex, servers, domains,
 * registrations).
 * meshname(8) documents it.
 */
void control_json_status(struct evbuffer *out, const struct control_status *st);

/* The reply to "ls": {"state":..., "zone":..., "generation":N, "hosts":[...]}, each host
 * with exactly the fields of `meshname ls --json`. s NULL: {"error":...}. */
void control_json_hosts(struct evbuffer *out, const struct snapshot *s, const uint8_t *self_key,
			const char *state_dir);

#endif
