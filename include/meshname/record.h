/*
 * record.h: the signed record format of the registry (DESIGN.md section 4).
 * Encoding, canonical decoding, signing and signature checks: pure functions over
 * buffers and structs. No I/O, no clock, no knowledge of other records.
 *
 * Wire layout, every integer big-endian, every list sorted and unique:
 *
 *   off  size  field
 *     0     3  magic "MNR"
 *     3     1  version (1)
 *     4     1  type (enum rec_type)
 *     5     1  reserved, zero
 *     6    32  mesh_id (all zero in ROOT: the mesh id is the hash of the ROOT)
 *    38     8  seq          (CERT: serial)
 *    46     8  issued_at    (unix seconds; CERT: not-before)
 *    54     8  expires_at   (unix seconds; CERT: not-after; ROOT, REVOKE: 0 = never;
 *                            ADMIT: the deadline for redeeming the invite)
 *    62    32  signer (Ed25519 public key)
 *    94     2  body length n
 *    96     n  body (type specific, see rec_encode in record.c)
 *  96+n    64  Ed25519 signature over REC_SIG_CONTEXT || bytes [0, 96+n)
 *
 * A string is a one-byte length and that many bytes, no terminator. A record is at
 * most REC_MAX_SIZE bytes. The record id is BLAKE2b-256 of the whole record.
 */
#ifndef MESHNAME_RECORD_H
#define MESHNAME_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REC_MAGIC "MNR"
#define REC_VERSION 1
#define REC_MAX_SIZE 1024
#define REC_HEADER_SIZE 96
#define REC_SIG_CONTEXT "meshname-record-v1"

#define REC_KEY_SIZE 32    /* Ed25519 or X25519 public key */
#define REC_SECRET_SIZE 64 /* libsodium Ed25519 secret key (seed || public) */
#define REC_SIG_SIZE 64
#define REC_ID_SIZE 32
#define REC_NAME_MAX 63   /* host, mesh and group names: one DNS label */
#define REC_ZONE_MAX 253  /* the mesh zone, presentation form, no final dot */
#define REC_OWNER_MAX 200 /* custom record owner, relative to the zone */
#define REC_RDATA_MAX 512
#define REC_MAX_GROUPS 16
#define REC_MAX_ENDPOINTS 16
#define REC_MAX_ADMINS 8

/* Future skew tolerated on issued_at (DESIGN.md section 4). */
#define REC_MAX_FUTURE 300

enum rec_type {
	REC_ROOT = 1,      /* the mesh: name, zone, prefixes, admin keys */
	REC_CERT = 2,      /* membership certificate of one host */
	REC_ADMIT = 3,     /* an admin authorizes an admission key to sign one CERT */
	REC_ENDPOINTS = 4, /* a host's WireGuard endpoints, signed by the host */
	REC_REVOKE = 5,    /* a key loses every right, for good */
	REC_RECORD = 6,    /* custom DNS data under the zone */
	REC_RENEW = 7,     /* a host asks for a new certificate */
	REC_OBSERVE = 8,   /* a host saw another host's public address (its WireGuard endpoint) */
};
#define REC_TYPE_MIN REC_ROOT
#define REC_TYPE_MAX REC_OBSERVE

enum ep_kind {
	EP_LAN = 1,
	EP_IPV6 = 2,
	EP_PUBLIC = 3,
	EP_REFLEXIVE = 4,
};

enum rec_record_op {
	REC_OP_ADD = 1,
	REC_OP_DELETE = 2, /* a tombstone: removes the same (owner, rrtype, rdata) */
};

struct rec_groups {
	uint8_t n;
	char name[REC_MAX_GROUPS][REC_NAME_MAX + 1]; /* sorted, unique labels */
};

struct rec_root {
	char name[REC_NAME_MAX + 1]; /* mesh name, one label */
	char zone[REC_ZONE_MAX + 1]; /* lowercase, no final dot, e.g. "mesh" */
	uint8_t ipv4[4];             /* network address of the IPv4 prefix */
	uint8_t ipv4_len;            /* 8..30 */
	uint8_t ipv6[16];            /* ULA /48, low 80 bits zero */
	uint32_t max_cert_lifetime;  /* seconds */
	uint8_t threshold;           /* admin signatures needed; only 1 is supported */
	uint8_t n_admins;            /* 1..REC_MAX_ADMINS */
	uint8_t admins[REC_MAX_ADMINS][REC_KEY_SIZE]; /* sorted, unique */
};
#define REC_IPV6_PREFIX_LEN 48

struct rec_cert {
	char name[REC_NAME_MAX + 1];
	uint8_t host_key[REC_KEY_SIZE];
	uint8_t wg_key[REC_KEY_SIZE];
	uint8_t ipv4[4];
	uint8_t ipv6[16]; /* must equal rec_ipv6_for_host(root prefix, host_key) */
	struct rec_groups groups;
};

struct rec_admit {
	uint8_t admission_key[REC_KEY_SIZE];
	char name[REC_NAME_MAX + 1];
	uint8_t ipv4[4];
	uint32_t cert_lifetime; /* seconds the redeemed CERT may last */
	struct rec_groups groups;
};

struct rec_endpoint {
	uint8_t kind;     /* enum ep_kind */
	uint8_t family;   /* 4 or 6 */
	uint8_t addr[16]; /* IPv4 in the first 4 bytes, rest zero */
	uint16_t port;
};

struct rec_endpoints {
	uint16_t listen_port;
	uint8_t n;
	struct rec_endpoint ep[REC_MAX_ENDPOINTS]; /* sorted by wire bytes, unique */
};

struct rec_revoke {
	uint8_t target[REC_KEY_SIZE]; /* a host key or an admission key */
	uint8_t ipv4[4];              /* the address it held, never reused; 0 if none */
};

struct rec_record {
	uint8_t op;                    /* enum rec_record_op */
	char owner[REC_OWNER_MAX + 1]; /* relative to the zone, lowercase; "" = apex */
	uint16_t rrtype;               /* A, AAAA, CNAME, TXT, SRV, MX */
	uint32_t ttl;
	uint16_t rdlen;
	uint8_t rdata[REC_RDATA_MAX]; /* DNS wire format, names uncompressed, lowercase */
};

/* RENEW, signed by the host key of the certificate it names. Body: cert id (32), lifetime
 * (4), new WireGuard key (32). A non-zero new_wg_key asks for a key rotation: the new
 * certificate carries it instead of the current one (doc/records.md "Key rotation"). */
struct rec_renew {
	uint8_t cert_id[REC_ID_SIZE];     /* the certificate to renew */
	uint32_t lifetime;                /* seconds asked for */
	uint8_t new_wg_key[REC_KEY_SIZE]; /* all zero: keep the current WireGuard key */
};

/* OBSERVE, signed by the observer's host key: "my WireGuard shows subject's endpoint as
 * seen". seen.kind is EP_REFLEXIVE; expires_at is at most REC_OBSERVE_MAX_LIFETIME after
 * issued_at (doc/records.md). Body: subject (32), seen (20 bytes, as in ENDPOINTS). */
struct rec_observe {
	uint8_t subject[REC_KEY_SIZE]; /* host key of the observed host, not the signer */
	struct rec_endpoint seen;
};
#define REC_OBSERVE_MAX_LIFETIME 86400

struct rec {
	uint8_t type;
	uint8_t mesh_id[REC_ID_SIZE];
	uint64_t seq;
	uint64_t issued_at;
	uint64_t expires_at;
	uint8_t signer[REC_KEY_SIZE];
	union {
		struct rec_root root;
		struct rec_cert cert;
		struct rec_admit admit;
		struct rec_endpoints endpoints;
		struct rec_revoke revoke;
		struct rec_record record;
		struct rec_renew renew;
		struct rec_observe observe;
	} u;
	uint8_t sig[REC_SIG_SIZE];
};

/*
 * Encodes r, sets r->signer to the public half of sk, signs, and writes the whole
 * record to buf. Returns 0 or -EINVAL (r breaks a rule rec_decode enforces) or
 * -EMSGSIZE (longer than size or than REC_MAX_SIZE). *len gets the record length.
 */
int rec_sign(struct rec *r, const uint8_t sk[REC_SECRET_SIZE], uint8_t *buf, size_t size,
	     size_t *len);

/*
 * Decodes one record, structure only: magic, version, type, lengths, field syntax,
 * sorted lists, reserved bits; then re-encodes and compares, so that exactly one byte
 * string decodes to a given struct. Does not check the signature.
 * Returns 0, -EMSGSIZE (over REC_MAX_SIZE), -EPROTONOSUPPORT (bad magic, version or
 * type) or -EBADMSG (malformed or non-canonical).
 */
int rec_decode(const uint8_t *buf, size_t len, struct rec *r);

/* True if the signature of the well-formed record buf matches its signer field. */
bool rec_verify(const uint8_t *buf, size_t len);

/* BLAKE2b-256 of the whole record. */
void rec_id(const uint8_t *buf, size_t len, uint8_t id[REC_ID_SIZE]);

/* mesh_id: the id of the genesis ROOT record. */
#define rec_mesh_id rec_id

/* The mesh IPv6 address of a host: prefix /48 followed by 80 bits of
 * BLAKE2b("meshname-ipv6" || host_key). */
void rec_ipv6_for_host(const uint8_t prefix[16], const uint8_t host_key[REC_KEY_SIZE],
		       uint8_t out[16]);

/* "lan", "ipv6", "public", "reflexive" (as status output and the CLI spell them), or
 * "none" for anything else (0 = no endpoint chosen). */
const char *rec_ep_kind_name(uint8_t kind);

/* "ROOT", "CERT", ... or NULL for an unknown type. */
const char *rec_type_name(uint8_t type);

/* A host, mesh or group name: 1..63 of [a-z0-9-], not starting or ending with '-'. */
bool rec_label_valid(const char *s);

/* A zone or custom-record owner: dot-separated labels of [a-z0-9_-], lowercase. */
bool rec_domain_valid(const char *s, bool allow_empty);

#endif
