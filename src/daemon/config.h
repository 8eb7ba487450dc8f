/*
 * config.h: meshnamed's configuration (meshnamed.conf(5)): the parsed struct, a streaming
 * parser (new/line/finish, fuzzable) and a file loader. Pure: no logging, no exit, no
 * name resolution; a failed parse never hands out a partial struct.
 */
#ifndef MESHNAME_DAEMON_CONFIG_H
#define MESHNAME_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "meshname/sync.h"

#define CONFIG_DEFAULT_PATH "/etc/meshname/meshnamed.conf"
#define CONFIG_DEFAULT_STATE "/var/lib/meshname"
#define CONFIG_DEFAULT_CONTROL "/run/meshname/control.sock"
#define CONFIG_DEFAULT_LISTEN "127.0.0.153" /* port 53 */
#define CONFIG_DEFAULT_INTERFACE "mesh0"
#define CONFIG_DEFAULT_SYNC_PORT SYNC_DEFAULT_PORT /* TCP sync, UDP beacons */

#define CONFIG_LINE_MAX 1024 /* bytes of one line, without its newline */
#define CONFIG_PATH_MAX 1024 /* any value fits: a value is shorter than a line */
#define CONFIG_GROUP_MAX 256
#define CONFIG_IFNAME_MAX 16 /* IFNAMSIZ, with the NUL */
#define CONFIG_HOST_MAX 254  /* a 253-byte DNS name and its NUL */
#define CONFIG_MAX_LISTEN 16
#define CONFIG_MAX_UPSTREAM 16
#define CONFIG_MAX_ENDPOINT 16
#define CONFIG_MAX_LAN_PREFIX 16
#define CONFIG_ERROR_MAX 1280 /* "file:line: message", long enough for any message */

enum config_manage {
	CONFIG_MANAGE_YES,   /* create and configure the interface, manage its peers */
	CONFIG_MANAGE_PEERS, /* the interface belongs to someone else; only its peers are ours */
	CONFIG_MANAGE_NO,    /* never touch WireGuard */
};

enum config_on_exit {
	CONFIG_ON_EXIT_KEEP,   /* leave the interface as configured (tunnels survive a restart) */
	CONFIG_ON_EXIT_REMOVE, /* delete the interface meshnamed created */
};

enum config_resolved {
	CONFIG_RESOLVED_AUTO, /* register with systemd-resolved when it is on the system bus */
	CONFIG_RESOLVED_YES,  /* the same, and warn when it cannot */
	CONFIG_RESOLVED_NO,   /* never talk to systemd-resolved */
};

/* A public endpoint: host is a DNS name (as written, resolved by the daemon), or an
 * IPv4 or IPv6 address (without brackets) in inet_ntop's form. */
struct config_endpoint {
	char host[CONFIG_HOST_MAX];
	uint16_t port;
};

/* An address prefix (lan-prefix), host bits zero. */
struct config_prefix {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t len;    /* 0..32 or 0..128 */
	uint8_t addr[16];
};

/* Every string is NUL-terminated; an empty string means "not set". Addresses are zeroed
 * sockaddr_storage holding a sockaddr_in or sockaddr_in6 with the port set. */
struct config {
	char state[CONFIG_PATH_MAX];
	char control[CONFIG_PATH_MAX];
	char control_group[CONFIG_GROUP_MAX]; /* name or gid, resolved by the daemon */

	struct sockaddr_storage listen[CONFIG_MAX_LISTEN];
	size_t n_listen;  /* >= 1: the default when none is given */
	bool listen_mesh; /* also listen on this host's mesh addresses */
	struct sockaddr_storage upstream[CONFIG_MAX_UPSTREAM];
	size_t n_upstream; /* 0: read resolv.conf */
	bool forward;
	uint32_t ttl;          /* seconds, positive answers */
	uint32_t negative_ttl; /* seconds, NXDOMAIN/NODATA */
	uint32_t cache_size;   /* entries; 0 disables the cache */
	bool serve_stale;
	enum config_resolved resolved; /* register the mesh link with systemd-resolved */

	char interface[CONFIG_IFNAME_MAX];
	enum config_manage manage;
	enum config_on_exit on_exit;
	char userspace[CONFIG_PATH_MAX]; /* wireguard-go: absolute path or a name in $PATH */
	struct config_endpoint endpoint[CONFIG_MAX_ENDPOINT];
	size_t n_endpoint;
	uint16_t listen_port;   /* WireGuard UDP port */
	bool publish_endpoints; /* publish this host's ENDPOINTS record (src/daemon/publish.c) */
	struct config_prefix lan_prefix[CONFIG_MAX_LAN_PREFIX]; /* published as LAN */
	size_t n_lan_prefix;

	bool sync;          /* peer-to-peer registry sync (src/daemon/syncd.c) */
	uint16_t sync_port; /* TCP for sync sessions, UDP for LAN beacons */
	bool sync_beacon;   /* send and hear LAN beacons */
};

struct config_parser;

/* A config holding every default. Caller frees with config_free. NULL when out of memory. */
struct config *config_new_defaults(void);
void config_free(struct config *cfg);

/* filename is only used in error messages ("file:line: message"); it is copied. */
struct config_parser *config_parser_new(const char *filename);
/* One line, with or without its trailing "\n" (a "\r\n" ending is accepted too). Returns
 * 0 or -EINVAL; after an error every later call returns the same error. */
int config_parser_line(struct config_parser *p, const char *line, size_t len);
/* Runs the checks between keywords. On success *out is the new config (caller frees) and
 * the parser keeps nothing; on error *out is NULL. Either way, then config_parser_free. */
int config_parser_finish(struct config_parser *p, struct config **out);
/* "file:line: message" of the first error, or "" when there was none. */
const char *config_parser_error(const struct config_parser *p);
void config_parser_free(struct config_parser *p);

/* With CONFIG_OPTIONAL a file that does not exist gives the defaults (for the default
 * path); without it, a missing file is an error (for an explicit -f FILE). */
#define CONFIG_OPTIONAL 0x1u

/* Reads and parses path. On success *out is the config (caller frees); on error *out is
 * NULL, the return is -errno and err holds one line ("file:line: message", or
 * "file: reason" when the file cannot be read). err may be NULL when errlen is 0. */
int config_load(const char *path, unsigned flags, struct config **out, char *err, size_t errlen);

/* Prints the effective config in meshnamed.conf syntax, every keyword, defaults too;
 * parsing the output gives an equal config. Check ferror(fp) for I/O errors. */
void config_print(const struct config *cfg, FILE *fp);

/* "auto", "yes" or "no", as the resolved keyword spells it. */
const char *config_resolved_name(enum config_resolved m);

/* "127.0.0.153:53" or "[::1]:53" into buf; returns buf. buf must hold CONFIG_ADDR_STRLEN. */
#define CONFIG_ADDR_STRLEN 56 /* INET6_ADDRSTRLEN + brackets, ':' and a port, rounded up */
const char *config_addr_str(const struct sockaddr_storage *ss, char *buf, size_t len);

#endif
