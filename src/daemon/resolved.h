/*
 * resolved.h: meshnamed's registration with systemd-resolved (org.freedesktop.resolve1 on the
 * system bus, through sd-bus): the mesh interface's DNS servers and routing-only domains, so
 * that resolved sends mesh names, and only those, to this meshnamed. Owns the bus connection;
 * re-registers when the interface, its servers or resolved change, reverts on exit. Never
 * writes resolv.conf and never blocks the loop: only the revert at exit waits for a reply.
 */
#ifndef MESHNAME_DAEMON_RESOLVED_H
#define MESHNAME_DAEMON_RESOLVED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct rec_root;
struct resolved;

#define RESOLVED_IFNAME_MAX 16 /* IFNAMSIZ, with the NUL */
#define RESOLVED_MAX_SERVERS 4
#define RESOLVED_MAX_DOMAINS 3  /* the zone, its in-addr.arpa and its ip6.arpa zone */
#define RESOLVED_DOMAIN_MAX 256 /* a 253-byte name and its NUL */
#define RESOLVED_REASON_MAX 512
#define RESOLVED_RETRY_S 5      /* after a refusal, or without a bus, try again this late */
#define RESOLVED_REVERT_MS 1000 /* the revert at exit waits this long at most */

/* What should be registered for the mesh link. */
struct resolved_link {
	char ifname[RESOLVED_IFNAME_MAX]; /* "" or an interface that does not exist: nothing */
	struct sockaddr_storage servers[RESOLVED_MAX_SERVERS];   /* AF_INET/AF_INET6, port set */
	size_t n_servers;                                        /* 0: nothing to register yet */
	char domains[RESOLVED_MAX_DOMAINS][RESOLVED_DOMAIN_MAX]; /* routing-only, no "~" */
	size_t n_domains;
};

/* Plain data for the control socket's status (control.c reads it without linking us). */
struct resolved_status {
	const char *mode;  /* "auto", "yes" or "no" */
	const char *state; /* "off", "no system bus", "connecting", "not running", "waiting",
			      "registering", "registered", "failed" */
	char reason[RESOLVED_REASON_MAX]; /* why not registered; "" when registered or off */
	unsigned ifindex;                 /* of the link registered (or being), 0: none */
	struct resolved_link link;        /* what is (being) registered */
	uint64_t registrations;           /* completed registrations since start */
};

/*
 * required: `resolved yes` (warn whenever it cannot register), else `resolved auto` (say
 * nothing while there is no bus or no resolved). Connects to the system bus at the first
 * resolved_sync. Returns 0 or -ENOMEM.
 */
int resolved_new(struct event_base *base, bool required, struct resolved **out);

/*
 * What should be registered now; now in seconds (any clock that only goes forward). Cheap:
 * meshnamed calls it on every address check. Looks up the interface's index, and when it,
 * the servers or the domains differ from what resolved has, sends the calls (SetLinkDNS or
 * SetLinkDNSEx when a port is not 53, SetLinkDomains, SetLinkDefaultRoute false, and DNSSEC,
 * DNSOverTLS, LLMNR, MulticastDNS "no" for the link); without servers it reverts what it set.
 * Without a bus it tries to connect again every RESOLVED_RETRY_S, and after a refusal it
 * tries again as late. Results arrive later, through the event loop.
 */
void resolved_sync(struct resolved *r, const struct resolved_link *want, uint64_t now);

void resolved_status(const struct resolved *r, struct resolved_status *st);

/* RevertLink for the link when this process set anything on it (waiting at most
 * RESOLVED_REVERT_MS), then closes the bus. NULL is a no-op. */
void resolved_free(struct resolved *r);

/* The routing-only domains meshnamed answers for, as the resolver serves them: the zone,
 * the in-addr.arpa zone at the octet boundary covering the IPv4 prefix (none for a prefix
 * shorter than /8) and the ip6.arpa zone of the /48. Sets l->domains and l->n_domains. */
void resolved_link_domains(const struct rec_root *root, struct resolved_link *l);

#endif
