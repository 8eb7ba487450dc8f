/*
 * cli.h: private interface of the meshname command line (src/cli). The commands work
 * offline on the local registry of one state directory. Nothing here ever prints a
 * secret key; every secret is wiped with sodium_memzero on every path.
 */
#ifndef MESHNAME_CLI_H
#define MESHNAME_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "meshname/record.h"
#include "meshname/registry.h"
#include "meshname/seeds.h"
#include "meshname/snapshot.h"

#ifndef MESHNAME_VERSION
#define MESHNAME_VERSION "0.1.0"
#endif

#define CLI_DEFAULT_STATE "/var/lib/meshname"
#define CLI_DEFAULT_CONTROL "/run/meshname/control.sock"
#define CLI_CONTROL_TIMEOUT_MS 5000
#define CLI_DB "registry.db"
#define CLI_DAY 86400u

/* Exit codes: they mean something (STYLE.md "Command line"). */
#define CLI_OK 0
#define CLI_FAIL 1  /* the command could not do what was asked */
#define CLI_USAGE 2 /* the command line itself is wrong */

/* Text forms exchanged between hosts. */
#define CLI_INVITE_PREFIX "mn1-invite:"
#define CLI_REQUEST_PREFIX "mn1-request:"
#define CLI_CERT_PREFIX "mn1-cert:"
#define CLI_BUNDLE_HEADER "meshname-bundle 1"
#define CLI_PAYLOAD_VERSION 1
/* Domain separation for join-request proofs of possession: never a record signature. */
#define CLI_REQUEST_CONTEXT "meshname-join-request-v1"

struct cli {
	const char *state;        /* state directory */
	const char *control;      /* meshnamed's control socket */
	uint64_t now;             /* read once per command (MESHNAME_NOW overrides, tests only) */
	bool color;               /* stdout is a terminal and NO_COLOR is unset */
	const char *no_mesh_hint; /* what cli_open says to do when there is no mesh */
	struct registry *reg;
	struct rec root;
	uint8_t root_raw[REC_MAX_SIZE];
	size_t root_len;
	uint8_t mesh_id[REC_ID_SIZE];
};

struct cli_command {
	const char *name;
	int (*run)(struct cli *c, int argc, char **argv);
	const char *summary; /* one line for `meshname --help` */
	const char *help;    /* the whole text of `meshname CMD --help` */
};

/* Commands, one function each (init.c, add.c, join.c, list.c, change.c, record.c,
 * endpoint.c, bundle.c). argv[0] is the command name. Each returns an exit code. */
int cmd_init(struct cli *c, int argc, char **argv);
int cmd_add(struct cli *c, int argc, char **argv);
int cmd_join(struct cli *c, int argc, char **argv);
int cmd_ls(struct cli *c, int argc, char **argv);
int cmd_show(struct cli *c, int argc, char **argv);
int cmd_status(struct cli *c, int argc, char **argv);
int cmd_hosts(struct cli *c, int argc, char **argv);
int cmd_export_zone(struct cli *c, int argc, char **argv);
int cmd_revoke(struct cli *c, int argc, char **argv);
int cmd_renew(struct cli *c, int argc, char **argv);
int cmd_record(struct cli *c, int argc, char **argv);
int cmd_endpoint(struct cli *c, int argc, char **argv);
int cmd_export(struct cli *c, int argc, char **argv);
int cmd_import(struct cli *c, int argc, char **argv);
int cmd_reload(struct cli *c, int argc, char **argv);

extern const char cli_help_init[], cli_help_add[], cli_help_join[], cli_help_ls[], cli_help_show[],
	cli_help_status[], cli_help_hosts[], cli_help_export_zone[], cli_help_revoke[],
	cli_help_renew[], cli_help_record[], cli_help_endpoint[], cli_help_export[],
	cli_help_import[], cli_help_reload[];

/* --- util.c ------------------------------------------------------------------- */

/* Prints "meshname: <message>" and returns CLI_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The usage error for the option getopt just refused; argv is the command's. */
int cli_bad_option(const char *cmd, char **argv);
/* Prints "meshname: <message>" and returns CLI_FAIL. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Opens the registry of an existing mesh: a clear error when the state directory is
 * unreadable or holds no mesh. Returns an exit code (CLI_OK on success). */
int cli_open(struct cli *c);
/* For init and join: prepares the state directory and opens (creating) the registry;
 * refuses a directory that already belongs to a mesh. Returns an exit code. */
int cli_open_fresh(struct cli *c, const char *what);
/* Closes the registry and, when discard is set, removes the database files that a
 * failed init or join created, so that the command can simply be run again. */
void cli_close(struct cli *c, bool discard);
/* Reloads c->root and friends after registry_create. */
int cli_load_root(struct cli *c);

/* Loads the admin key; prints the right sentence and returns an exit code when this
 * machine holds none, or when it is not an admin of this mesh. */
int cli_load_admin(struct cli *c, uint8_t sk[REC_SECRET_SIZE]);
/* True if this machine holds an admin key of this mesh. */
bool cli_have_admin(struct cli *c);
/* Makes this host's host and WireGuard keys, or loads them when a previous join
 * --request made them. Prints a sentence on failure. Returns an exit code. */
int cli_make_host_keys(struct cli *c, uint8_t host_pk[REC_KEY_SIZE], uint8_t wg_pk[REC_KEY_SIZE]);
/* This machine's hostname, lowercased, up to the first dot (not yet checked). */
int cli_default_host_name(char *out, size_t size);
/* This host's public host key; -ENOENT when there is none. */
int cli_host_pk(struct cli *c, uint8_t pk[REC_KEY_SIZE]);

/* Signs r with sk, ingests it, and on success copies it to out (when not NULL).
 * Prints a sentence on failure. Returns an exit code. */
int cli_sign_ingest(struct cli *c, struct rec *r, const uint8_t sk[REC_SECRET_SIZE], uint8_t *out,
		    size_t *out_len);
/* Ingests one raw record and prints why it was refused. Returns an exit code. */
int cli_ingest(struct cli *c, const uint8_t *buf, size_t len, const char *what);

/* Looks HOST up in s; prints "no host named X in this mesh" when missing. */
const struct snapshot_host *cli_lookup_host(const struct snapshot *s, const char *name);

/* Sorts and checks a group list as the record format wants it. */
int cli_groups_add(struct rec_groups *g, const char *name);
void cli_groups_sort(struct rec_groups *g);

/* base64url without padding (invites, requests, certs) and standard base64 (keys,
 * bundles). Encoders return a malloc'd string (caller frees) or NULL. Decoders return
 * the length or -1. */
char *cli_b64url_encode(const uint8_t *buf, size_t len);
long cli_b64url_decode(const char *s, uint8_t *out, size_t size);
char *cli_b64_encode(const uint8_t *buf, size_t len);
long cli_b64_decode(const char *s, uint8_t *out, size_t size);
/* Standard base64 of a 32-byte key into out (45 bytes). */
void cli_key_b64(const uint8_t key[REC_KEY_SIZE], char out[45]);
/* First 8 bytes of a key in hex (17 bytes). */
void cli_key_short(const uint8_t key[REC_KEY_SIZE], char out[17]);
void cli_hex(const uint8_t *buf, size_t len, char *out); /* out: 2*len+1 */

/* Reads a text argument: itself when it starts with prefix, stdin for "-", else the
 * named file. Trailing white space is removed. Returns a malloc'd string or NULL
 * (errno set; ENOENT when it is neither a file nor prefixed). Caller frees. */
char *cli_read_arg(const char *arg, const char *const *prefixes);
/* Reads a whole file ("-" = stdin). Caller frees. */
char *cli_read_file(const char *path, size_t *len);
/* Writes text to path, mode 0600, through a temporary file and rename. */
int cli_write_file(const char *path, const char *text, mode_t mode);

/* Time: "2025-03-01" (UTC) and "in 12 days" / "EXPIRED" / "today". */
void cli_date(uint64_t t, char out[32]);
void cli_in_days(uint64_t now, uint64_t t, char out[32]);

/* Addresses. */
int cli_parse_ipv4(const char *s, uint8_t out[4]);
bool cli_ipv4_in_prefix(const struct rec_root *root, const uint8_t a[4]);
void cli_ipv4_str(const uint8_t a[4], char out[16]);
void cli_ipv6_str(const uint8_t a[16], char out[46]);
void cli_prefix4_str(const struct rec_root *root, char out[32]);
void cli_prefix6_str(const struct rec_root *root, char out[64]);
/* "1.2.3.4:51820" or "[v6]:port" of an endpoint; out 64 bytes. */
void cli_endpoint_str(const struct rec_endpoint *ep, char out[64]);
/* Parses "ADDR:PORT" / "[ADDR]:PORT". 0 or -EINVAL. */
int cli_parse_endpoint(const char *s, struct rec_endpoint *ep);
/* A number in [min, max]; 0 or -EINVAL. */
int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* --- rr.c: custom DNS records through ldns --- */
/* One zone-file line (absolute owner, TTL, IN, type, rdata) ending in a newline, or
 * NULL. Caller frees. */
char *cli_rr_str(const char *zone, const struct snapshot_rr *rr);

/* JSON string with escapes. */
void cli_json_str(FILE *f, const char *s);

/* Terminal colour: the escape when c->color, "" otherwise. */
const char *cli_bold(const struct cli *c);
const char *cli_red(const struct cli *c);
const char *cli_yellow(const struct cli *c);
const char *cli_reset(const struct cli *c);

/* True if argv holds -h or --help before "--". */
bool cli_wants_help(int argc, char **argv);

/* --- format.c: pure helpers for human output (unit-tested) ------------------------- */

/* A span of seconds in its two largest units: "12s", "3m12s", "2h5m", "3d2h". */
void cli_fmt_duration(uint64_t seconds, char *out, size_t size);
/* "12s ago", "3m12s ago", "2h5m ago", "3d2h ago"; "never" when then <= 0 (unix seconds);
 * "in the future" when then > now. */
void cli_fmt_ago(int64_t now, int64_t then, char *out, size_t size);

/* One sync neighbour as the daemon's status reports it; times unix seconds, 0 = never. */
struct cli_sync_peer {
	uint64_t last_ok, last_fail, backoff_until;
	unsigned failures; /* in a row */
	bool in_session, banned;
};
/* Its STATE cell at now: "banned", "syncing" (a session is open), "backed off 30s" (no
 * session before then), "failing 3" (failures in a row, no back-off left), "ok" (its last
 * session succeeded), "new" (never tried). */
void cli_fmt_sync_state(uint64_t now, const struct cli_sync_peer *p, char *out, size_t size);
/* The totals for the summary line of the sync section. */
struct cli_sync_summary {
	uint64_t port, neighbours, last_ok, pending, parked, banned;
	bool have_parked; /* parked is known */
	bool beacons;
};
/* "port 51821, 4 neighbours, last sync 12s ago, 0 records pending (3 parked)", then
 * ", 2 banned" and ", LAN beacons off" when so; "(N parked)" only when N > 0. */
void cli_fmt_sync_summary(uint64_t now, const struct cli_sync_summary *s, char *out, size_t size);
/* "0 B" .. "1023 B", then one decimal in binary units: "1.5 KiB", "12.0 MiB", up to EiB. */
void cli_fmt_bytes(uint64_t n, char *out, size_t size);

/* An aligned table: cells are copied; columns separated by two blanks, each as wide as
 * its widest cell (bytes: the cells are ASCII), left-aligned unless its bit in right is
 * set; the last left-aligned column is not padded (no trailing blanks). */
#define CLI_TABLE_MAX_COLS 16
struct cli_table {
	size_t n_cols, n_rows, cap;
	unsigned right; /* bit i: column i right-aligned (numbers) */
	char **cells;   /* n_rows * n_cols, row by row */
};
/* 0, or -EINVAL for 0 or more than CLI_TABLE_MAX_COLS columns. */
int cli_table_init(struct cli_table *t, size_t n_cols, unsigned right);
/* Appends a row of n_cols cells (NULL: empty). 0 or -ENOMEM (the table is unchanged). */
int cli_table_add(struct cli_table *t, const char *const *cells);
/* Prints every row, each after indent (NULL: none). */
void cli_table_print(const struct cli_table *t, FILE *f, const char *indent);
void cli_table_clear(struct cli_table *t);

/* --- status.c: the daemon's WireGuard and endpoint view in `meshname status` ---------- */

struct cli_json;
/* Prints what doc (the daemon's status reply) says of WireGuard, published endpoints,
 * NAT, systemd-resolved and peer sync, each only when present; unknown members are
 * ignored. */
void cli_status_wireguard(const struct cli *c, const struct cli_json *doc);

/* --- control.c: asking a running meshnamed ---------------------------------------- */

/* Sends "request\n" to the control socket at path and reads the whole reply (caller
 * frees, NUL-terminated). -ENOENT or -ECONNREFUSED: no daemon; -ETIMEDOUT, -EMSGSIZE,
 * -EPROTO (empty reply), or another -errno. */
int cli_control_request(const char *path, const char *request, char **reply, size_t *len);

enum cli_json_type {
	CLI_JSON_NULL,
	CLI_JSON_BOOL,
	CLI_JSON_NUMBER,
	CLI_JSON_STRING,
	CLI_JSON_ARRAY,
	CLI_JSON_OBJECT,
};
/* A parsed JSON value; members of arrays and objects are chained through next. */
struct cli_json {
	enum cli_json_type type;
	char *key; /* member name inside an object, else NULL */
	char *str; /* CLI_JSON_STRING, decoded */
	bool boolean;
	bool is_u64; /* a number that is an integer in [0, 2^64) */
	uint64_t u64;
	struct cli_json *child; /* first member of an array or object */
	struct cli_json *next;
};
/* Parses one JSON document (RFC 8259; nesting up to 32; no \u0000 in strings). 0 or
 * -EBADMSG, -ENOMEM. Caller frees with cli_json_free. */
int cli_json_parse(const char *text, size_t len, struct cli_json **out);
void cli_json_free(struct cli_json *v); /* NULL is a no-op */
/* Object member lookup; NULL when obj is not an object or has no such key. */
const struct cli_json *cli_json_get(const struct cli_json *obj, const char *key);
/* The member's string, or NULL when missing or not a string. */
const char *cli_json_text(const struct cli_json *obj, const char *key);
/* The member as an unsigned integer; false when missing or not one. */
bool cli_json_u64(const struct cli_json *obj, const char *key, uint64_t *out);
/* True only when the member is the literal true. */
bool cli_json_true(const struct cli_json *obj, const char *key);

/* --- payload.c: invites, join requests and cert bundles (binary, then base64url) --- */

/* An invite names at most this many bootstrap endpoints ("host:port", where the new
 * host's meshnamed first syncs by transport B, pinning the inviter CERT's host key). */
#define CLI_INVITE_BOOTSTRAP_MAX 8

struct cli_invite {
	uint8_t seed[32];                      /* the admission secret: wipe it */
	const uint8_t *root, *admit, *inviter; /* point into the decoded buffer */
	size_t root_len, admit_len, inviter_len;
	uint8_t n_bootstrap;
	struct seed bootstrap[CLI_INVITE_BOOTSTRAP_MAX]; /* key unset: the inviter CERT's */
	uint8_t *buf; /* decoded payload, caller frees (after wiping) */
	size_t buf_len;
};
/* Encodes an invite line with n_bootstrap "host:port" strings (each as
 * seeds_parse_hostport takes it, at most 255 bytes, no two alike; n_bootstrap at most
 * CLI_INVITE_BOOTSTRAP_MAX). NULL when it breaks a rule or is too large. Caller frees (it
 * holds a secret: wipe it before free). */
char *cli_invite_encode(const uint8_t seed[32], const uint8_t *root, size_t root_len,
			const uint8_t *admit, size_t admit_len, const uint8_t *inviter,
			size_t inviter_len, const char *const *bootstrap, size_t n_bootstrap);
/* 0 or -EBADMSG (also for a bootstrap list that breaks a rule of cli_invite_encode). Fills
 * inv; call cli_invite_free. */
int cli_invite_decode(const char *text, struct cli_invite *inv);
void cli_invite_free(struct cli_invite *inv);

struct cli_request {
	char name[REC_NAME_MAX + 1];
	uint8_t host_key[REC_KEY_SIZE];
	uint8_t wg_key[REC_KEY_SIZE];
};
/* Signs a request with the host key. Caller frees. */
char *cli_request_encode(const struct cli_request *req, const uint8_t sk[REC_SECRET_SIZE]);
/* 0, -EBADMSG (malformed) or -EKEYREJECTED (proof of possession fails). */
int cli_request_decode(const char *text, struct cli_request *req);

struct cli_certmsg {
	const uint8_t *root, *cert, *admin_cert;
	size_t root_len, cert_len, admin_cert_len;
	uint8_t *buf;
};
char *cli_certmsg_encode(const uint8_t *root, size_t root_len, const uint8_t *cert, size_t cert_len,
			 const uint8_t *admin_cert, size_t admin_cert_len);
int cli_certmsg_decode(const char *text, struct cli_certmsg *m);
void cli_certmsg_free(struct cli_certmsg *m);

#endif
