/*
 * meshnamed.c: the daemon's start-up, event loop and shutdown. Owns the libevent base,
 * signals and the current snapshot; the registry, resolver and WireGuard engines are
 * called from here and never own the loop. Must never exit because of outside input.
 *
 * This is the start of the daemon (issue 2): it opens the registry, publishes a
 * snapshot, rebuilds it on SIGHUP and exits cleanly on SIGTERM/SIGINT. The resolver,
 * the control socket and the WireGuard manager plug in here in later issues.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <sodium.h>

#include "common/log.h"
#include "meshname/registry.h"
#include "meshname/snapshot.h"

#define MESHNAMED_DEFAULT_STATE "/var/lib/meshname"

struct daemon {
	struct event_base *base;
	struct registry *reg;
	struct snapshot *snap; /* the current one; readers take a reference */
	char db_path[PATH_MAX];
};

static void usage(void)
{
	fprintf(stderr, "usage: meshnamed [-dhv] [-s state-dir]\n"
			"  -d   stay in the foreground, log to stderr (how systemd runs it)\n"
			"  -s   state directory (default %s, or $MESHNAME_STATE)\n"
			"  -v   debug logging\n",
		MESHNAMED_DEFAULT_STATE);
}

/* Builds a new snapshot and swaps it in; the old one lives on while referenced. */
static int daemon_publish(struct daemon *d)
{
	struct snapshot *snap = NULL;
	int r;

	r = registry_refresh(d->reg, (uint64_t)time(NULL));
	if (r == 0)
		r = registry_snapshot(d->reg, &snap);
	if (r < 0) {
		log_warnx("cannot rebuild the registry snapshot: %s", strerror(-r));
		return r;
	}
	snapshot_unref(d->snap);
	d->snap = snap;
	log_info("mesh %s (zone %s): %zu active hosts, generation %llu",
		 snapshot_root(snap)->name, snapshot_zone(snap), snapshot_host_count(snap),
		 (unsigned long long)snapshot_generation(snap));
	return 0;
}

static void on_terminate(evutil_socket_t sig, short events, void *arg)
{
	struct daemon *d = arg;

	(void)events;
	log_info("received signal %d, exiting", (int)sig);
	event_base_loopexit(d->base, NULL);
}

static void on_hangup(evutil_socket_t sig, short events, void *arg)
{
	(void)sig;
	(void)events;
	daemon_publish(arg);
}

int main(int argc, char *argv[])
{
	struct daemon d = { 0 };
	struct event *ev_term = NULL, *ev_int = NULL, *ev_hup = NULL;
	const char *state = getenv("MESHNAME_STATE");
	bool foreground = false, debug = false;
	int ch, r, status = 1;

	while ((ch = getopt(argc, argv, "dhs:v")) != -1) {
		switch (ch) {
		case 'd':
			foreground = true;
			break;
		case 's':
			state = optarg;
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
	if (state == NULL || *state == '\0')
		state = MESHNAMED_DEFAULT_STATE;

	log_init("meshnamed", foreground, debug);
	if (sodium_init() < 0)
		fatalx("libsodium failed to initialize");
	if ((size_t)snprintf(d.db_path, sizeof(d.db_path), "%s/registry.db", state) >=
	    sizeof(d.db_path))
		fatalx("state directory path is too long: %s", state);
	if (access(d.db_path, R_OK | W_OK) != 0)
		fatal("cannot open the registry %s (run `meshname init` or `meshname join` first)",
		      d.db_path);

	r = registry_open(d.db_path, &d.reg);
	if (r < 0) {
		log_warnx("cannot open the registry %s: %s", d.db_path, strerror(-r));
		goto out;
	}
	if (daemon_publish(&d) < 0)
		goto out;

	d.base = event_base_new();
	if (d.base == NULL) {
		log_warnx("cannot create the event loop");
		goto out;
	}
	ev_term = evsignal_new(d.base, SIGTERM, on_terminate, &d);
	ev_int = evsignal_new(d.base, SIGINT, on_terminate, &d);
	ev_hup = evsignal_new(d.base, SIGHUP, on_hangup, &d);
	if (ev_term == NULL || ev_int == NULL || ev_hup == NULL || evsignal_add(ev_term, NULL) ||
	    evsignal_add(ev_int, NULL) || evsignal_add(ev_hup, NULL)) {
		log_warnx("cannot install signal handlers");
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
	if (d.base != NULL)
		event_base_free(d.base);
	snapshot_unref(d.snap);
	registry_close(d.reg);
	return status;
}
