/*
 * rr.c: `meshname record`: custom DNS data under the mesh zone as RECORD records
 * (A, AAAA, CNAME, TXT, SRV, MX). ldns parses the presentation form into the canonical
 * rdata the record format wants and prints it back; nothing else here knows DNS.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ldns/ldns.h>
#include <sodium.h>

#include "cli/cli.h"
#include "meshname/certstate.h"
#include "meshname/keys.h"

#define DEFAULT_TTL 300
#define MAX_TTL 604800 /* the record format's limit: one week */
/* A RECORD must expire; custom data lasts until it is removed, so make that far. */
#define RECORD_LIFETIME (10ull * 366 * CLI_DAY)

const char cli_help_record[] =
	"Usage: meshname record add NAME TYPE VALUE [--ttl SECONDS]\n"
	"       meshname record rm NAME TYPE VALUE\n"
	"       meshname record ls [--json]\n"
	"\n"
	"Custom DNS records under the mesh zone, served by every host's meshnamed.\n"
	"NAME is relative to the zone (www, _ssh._tcp.nas), or absolute with the zone as its\n"
	"suffix (www.mesh or www.mesh.), or @ for the zone apex. TYPE is one of A, AAAA,\n"
	"CNAME, TXT, SRV, MX. VALUE is the record data as in a zone file; names in it that do\n"
	"not end in a dot are relative to the zone. Quote a TXT value as one argument,\n"
	"with its own double quotes: '\"hello world\"'.\n"
	"\n"
	"An admin host signs any record with admin.key. Any other host may add and remove\n"
	"records under its own name only (NAME or anything.NAME), signed with its host key.\n"
	"Records last until removed (they are signed for ten years); a later change wins.\n"
	"\n"
	"Options:\n"
	"  --ttl SECONDS   the record's TTL, 0 to 604800 (default: 300)\n"
	"  --json          for ls: a JSON array of objects with name (absolute, no final\n"
	"                  dot), owner (relative to the zone), type, ttl and value\n";

static const char *const rr_types[] = { "A", "AAAA", "CNAME", "TXT", "SRV", "MX", NULL };

static void fqdn_of(const char *zone, const char *owner, char *out, size_t size)
{
	snprintf(out, size, "%s%s%s", owner, *owner != '\0' ? "." : "", zone);
}

/* An ldns rr from the registry's form; NULL if ldns cannot read the rdata. */
static ldns_rr *rr_from_wire(const char *zone, const struct snapshot_rr *r)
{
	char fqdn[REC_OWNER_MAX + REC_ZONE_MAX + 3];
	uint8_t buf[2 + REC_RDATA_MAX];
	ldns_rdf *owner;
	ldns_rr *rr;
	size_t pos = 0;

	if (r->rdlen > REC_RDATA_MAX)
		return NULL;
	fqdn_of(zone, r->owner, fqdn, sizeof(fqdn));
	strcat(fqdn, ".");
	owner = ldns_dname_new_frm_str(fqdn);
	rr = ldns_rr_new();
	if (owner == NULL || rr == NULL) {
		ldns_rdf_deep_free(owner);
		ldns_rr_free(rr);
		return NULL;
	}
	ldns_rr_set_owner(rr, owner);
	ldns_rr_set_type(rr, (ldns_rr_type)r->rrtype);
	ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
	ldns_rr_set_ttl(rr, r->ttl);
	/* ldns_wire2rdf reads RDLENGTH and then the rdata, RFC 1035 section 3.2.1. */
	buf[0] = (uint8_t)(r->rdlen >> 8);
	buf[1] = (uint8_t)r->rdlen;
	memcpy(buf + 2, r->rdata, r->rdlen);
	if (ldns_wire2rdf(rr, buf, 2u + r->rdlen, &pos) != LDNS_STATUS_OK) {
		ldns_rr_free(rr);
		return NULL;
	}
	return rr;
}

char *cli_rr_str(const char *zone, const struct snapshot_rr *r)
{
	ldns_rr *rr = rr_from_wire(zone, r);
	char *s;

	if (rr == NULL)
		return NULL;
	s = ldns_rr2str(rr);
	ldns_rr_free(rr);
	return s;
}

/* The rdata alone, fields separated by spaces. Caller frees. */
static char *rdata_str(const char *zone, const struct snapshot_rr *r)
{
	ldns_rr *rr = rr_from_wire(zone, r);
	ldns_buffer *b;
	char *s = NULL;

	if (rr == NULL)
		return NULL;
	b = ldns_buffer_new(256);
	if (b != NULL) {
		for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
			if (i > 0)
				ldns_buffer_printf(b, " ");
			ldns_rdf2buffer_str(b, ldns_rr_rdf(rr, i));
		}
		s = ldns_buffer_export2str(b);
		ldns_buffer_free(b);
	}
	ldns_rr_free(rr);
	return s;
}

/* NAME as the user wrote it into an owner relative to the zone; -EINVAL if it is not
 * a name under this zone. */
static int parse_owner(const char *zone, const char *name, char out[REC_OWNER_MAX + 1])
{
	char buf[512];
	size_t n, zl = strlen(zone);

	if (snprintf(buf, sizeof(buf), "%s", name) >= (int)sizeof(buf))
		return -EINVAL;
	for (char *p = buf; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	n = strlen(buf);
	if (strcmp(buf, "@") == 0) {
		buf[0] = '\0';
	} else if (n > 0 && buf[n - 1] == '.') {
		/* Absolute: it must be the zone or end in ".zone.". */
		buf[--n] = '\0';
		if (strcmp(buf, zone) == 0)
			buf[0] = '\0';
		else if (n > zl + 1 && buf[n - zl - 1] == '.' && strcmp(buf + n - zl, zone) == 0)
			buf[n - zl - 1] = '\0';
		else
			return -EINVAL;
	} else if (strcmp(buf, zone) == 0) {
		buf[0] = '\0';
	} else if (n > zl + 1 && buf[n - zl - 1] == '.' && strcmp(buf + n - zl, zone) == 0) {
		buf[n - zl - 1] = '\0';
	}
	if (strlen(buf) > REC_OWNER_MAX || !rec_domain_valid(buf, true))
		return -EINVAL;
	snprintf(out, REC_OWNER_MAX + 1, "%s", buf);
	return 0;
}

/* TYPE VALUE into canonical rdata (RFC 4034 section 6.2: lowercase names) with ldns. */
static int parse_rdata(const char *zone, const char *owner, const char *type, const char *value,
		       uint32_t ttl, struct rec_record *r)
{
	char text[2048], fqdn[REC_OWNER_MAX + REC_ZONE_MAX + 3], origin_str[REC_ZONE_MAX + 2];
	ldns_rdf *origin = NULL;
	ldns_rr *rr = NULL;
	ldns_buffer *b = NULL;
	int rc = -EINVAL;
	size_t i;

	for (i = 0; rr_types[i] != NULL; i++)
		if (strcasecmp(type, rr_types[i]) == 0)
			break;
	if (rr_types[i] == NULL)
		return -EPROTONOSUPPORT;
	fqdn_of(zone, owner, fqdn, sizeof(fqdn));
	snprintf(origin_str, sizeof(origin_str), "%s.", zone);
	if (snprintf(text, sizeof(text), "%s. %u IN %s %s", fqdn, ttl, rr_types[i], value) >=
	    (int)sizeof(text))
		return -EINVAL;
	origin = ldns_dname_new_frm_str(origin_str);
	if (origin == NULL)
		goto out;
	if (ldns_rr_new_frm_str(&rr, text, 0, origin, NULL) != LDNS_STATUS_OK || rr == NULL)
		goto out;
	ldns_rr2canonical(rr);
	b = ldns_buffer_new(REC_RDATA_MAX);
	if (b == NULL || ldns_rr_rdata2buffer_wire(b, rr) != LDNS_STATUS_OK ||
	    ldns_buffer_position(b) > REC_RDATA_MAX)
		goto out;
	r->rrtype = (uint16_t)ldns_rr_get_type(rr);
	r->rdlen = (uint16_t)ldns_buffer_position(b);
	memcpy(r->rdata, ldns_buffer_begin(b), r->rdlen);
	rc = 0;
out:
	ldns_buffer_free(b);
	ldns_rr_free(rr);
	ldns_rdf_deep_free(origin);
	return rc;
}

/* True if owner is this host's name or under it. */
static bool owner_is_under(const char *owner, const char *host)
{
	size_t n = strlen(owner), h = strlen(host);

	return strcmp(owner, host) == 0 ||
	       (n > h + 1 && owner[n - h - 1] == '.' && strcmp(owner + n - h, host) == 0);
}

/* Microseconds since the epoch from one read of the real clock, so that a later change
 * gets a higher seq and wins. Seconds and microseconds must come from the same read:
 * mixing `now` (read at start, or faked by MESHNAME_NOW) with a later sub-second
 * reading can go backwards across a second boundary. */
static uint64_t record_seq(const struct cli *c)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) < 0 || ts.tv_sec < 0)
		return c->now * 1000000u;
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The signing key: admin.key if this machine holds one, else the host key when the
 * owner is under this host's own name. Returns an exit code. */
static int record_signer(struct cli *c, const char *owner, uint8_t sk[REC_SECRET_SIZE])
{
	uint8_t pk[REC_KEY_SIZE];
	struct rec cert;
	int rc;

	if (cli_have_admin(c))
		return cli_load_admin(c, sk);
	if (cli_host_pk(c, pk) < 0 || registry_find_cert(c->reg, pk, &cert, NULL, NULL) < 0)
		return cli_fail("this machine holds no admin key: run meshname record on an admin "
				"host");
	if (!owner_is_under(owner, cert.u.cert.name))
		return cli_fail("this machine holds no admin key, and a host may only sign records "
				"under its own name (%s or NAME.%s): run this on an admin host",
				cert.u.cert.name, cert.u.cert.name);
	rc = keys_ed25519_load(c->state, KEYS_HOST, sk);
	if (rc < 0)
		return cli_fail("cannot read this host's key: %s", keys_strerror(rc));
	return CLI_OK;
}

static bool same_rr(const struct snapshot_rr *a, const struct rec_record *b)
{
	return strcmp(a->owner, b->owner) == 0 && a->rrtype == b->rrtype && a->rdlen == b->rdlen &&
	       memcmp(a->rdata, b->rdata, b->rdlen) == 0;
}

static int record_change(struct cli *c, bool add, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ttl", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = add ? "record add" : "record rm";
	uint8_t sk[REC_SECRET_SIZE];
	struct snapshot *s = NULL;
	struct rec r;
	uint64_t ttl = DEFAULT_TTL;
	bool found = false;
	int ch, ret, rc;

	memset(sk, 0, sizeof(sk));
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 't' && add && cli_parse_u64(optarg, 0, MAX_TTL, &ttl) == 0)
			continue;
		if (ch == 't' && add)
			return cli_usage("record", "--ttl must be a number of seconds from 0 to %u",
					 MAX_TTL);
		return cli_bad_option("record", argv);
	}
	if (argc - optind != 3)
		return cli_usage("record", "%s takes NAME TYPE VALUE", cmd);
	ret = cli_open(c);
	if (ret != CLI_OK)
		return ret;
	ret = CLI_FAIL;
	memset(&r, 0, sizeof(r));
	r.type = REC_RECORD;
	r.u.record.op = add ? REC_OP_ADD : REC_OP_DELETE;
	r.u.record.ttl = (uint32_t)ttl;
	if (parse_owner(c->root.u.root.zone, argv[optind], r.u.record.owner) < 0) {
		ret = cli_usage("record",
				"'%s' is not a name under the zone %s: give it relative "
				"to the zone, with the zone as suffix, or @ for the apex",
				argv[optind], c->root.u.root.zone);
		goto out;
	}
	rc = parse_rdata(c->root.u.root.zone, r.u.record.owner, argv[optind + 1], argv[optind + 2],
			 (uint32_t)ttl, &r.u.record);
	if (rc == -EPROTONOSUPPORT) {
		ret = cli_usage("record",
				"unsupported record type '%s': use A, AAAA, CNAME, TXT, "
				"SRV or MX",
				argv[optind + 1]);
		goto out;
	}
	if (rc < 0) {
		ret = cli_usage("record", "'%s' is not valid %s data", argv[optind + 2],
				argv[optind + 1]);
		goto out;
	}
	if (!add) {
		/* A tombstone for something that is not there would only confuse. */
		rc = registry_snapshot(c->reg, &s);
		if (rc < 0) {
			cli_fail("cannot read the registry: %s", strerror(-rc));
			goto out;
		}
		for (size_t i = 0; i < snapshot_rr_count(s) && !found; i++) {
			const struct snapshot_rr *x = snapshot_rr_at(s, i);

			if (same_rr(x, &r.u.record)) {
				found = true;
				r.u.record.ttl = x->ttl;
			}
		}
		if (!found) {
			cli_fail("there is no such record in this mesh: see meshname record ls");
			goto out;
		}
	}
	ret = record_signer(c, r.u.record.owner, sk);
	if (ret != CLI_OK)
		goto out;
	memcpy(r.mesh_id, c->mesh_id, REC_ID_SIZE);
	r.seq = record_seq(c);
	r.issued_at = c->now;
	r.expires_at = c->now + RECORD_LIFETIME;
	ret = cli_sign_ingest(c, &r, sk, NULL, NULL);
	if (ret == CLI_OK) {
		char fqdn[REC_OWNER_MAX + REC_ZONE_MAX + 3];

		fqdn_of(c->root.u.root.zone, r.u.record.owner, fqdn, sizeof(fqdn));
		printf("%s %s %s %s\n", add ? "added" : "removed", fqdn, argv[optind + 1],
		       argv[optind + 2]);
	}
out:
	sodium_memzero(sk, sizeof(sk));
	snapshot_unref(s);
	cli_close(c, false);
	return ret;
}

static int record_ls(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct snapshot *s = NULL;
	bool json = false;
	const char *zone;
	size_t w = 4;
	int ch, ret, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 'j')
			return cli_bad_option("record", argv);
		json = true;
	}
	if (optind != argc)
		return cli_usage("record", "record ls takes no arguments");
	ret = cli_open(c);
	if (ret != CLI_OK)
		return ret;
	rc = registry_snapshot(c->reg, &s);
	if (rc < 0) {
		ret = cli_fail("cannot read the registry: %s", strerror(-rc));
		goto out;
	}
	zone = c->root.u.root.zone;
	for (size_t i = 0; i < snapshot_rr_count(s); i++) {
		const struct snapshot_rr *r = snapshot_rr_at(s, i);
		size_t n = strlen(r->owner) + strlen(zone) + 1;

		if (n > w)
			w = n;
	}
	if (json)
		fputs("[", stdout);
	else
		printf("%s%-*s  %-6s  %-5s  %s%s\n", cli_bold(c), (int)w, "NAME", "TTL", "TYPE",
		       "VALUE", cli_reset(c));
	for (size_t i = 0; i < snapshot_rr_count(s); i++) {
		const struct snapshot_rr *r = snapshot_rr_at(s, i);
		char fqdn[REC_OWNER_MAX + REC_ZONE_MAX + 3], *value = rdata_str(zone, r);
		char *type = ldns_rr_type2str((ldns_rr_type)r->rrtype);

		if (value == NULL || type == NULL) {
			free(value);
			free(type);
			ret = cli_fail("cannot print a custom record of the mesh");
			break;
		}
		fqdn_of(zone, r->owner, fqdn, sizeof(fqdn));
		if (json) {
			fputs(i > 0 ? ",\n {\"name\":" : "\n {\"name\":", stdout);
			cli_json_str(stdout, fqdn);
			fputs(",\"owner\":", stdout);
			cli_json_str(stdout, r->owner);
			printf(",\"type\":\"%s\",\"ttl\":%u,\"value\":", type, r->ttl);
			cli_json_str(stdout, value);
			fputs("}", stdout);
		} else {
			printf("%-*s  %-6u  %-5s  %s\n", (int)w, fqdn, r->ttl, type, value);
		}
		free(value);
		free(type);
	}
	if (json)
		fputs(snapshot_rr_count(s) > 0 ? "\n]\n" : "]\n", stdout);
out:
	snapshot_unref(s);
	cli_close(c, false);
	return ret;
}

int cmd_record(struct cli *c, int argc, char **argv)
{
	if (argc < 2)
		return cli_usage("record", "record needs add, rm or ls");
	/* The subcommand's own options start after its name. */
	if (strcmp(argv[1], "add") == 0)
		return record_change(c, true, argc - 1, argv + 1);
	if (strcmp(argv[1], "rm") == 0)
		return record_change(c, false, argc - 1, argv + 1);
	if (strcmp(argv[1], "ls") == 0)
		return record_ls(c, argc - 1, argv + 1);
	return cli_usage("record", "unknown record command '%s': use add, rm or ls", argv[1]);
}
