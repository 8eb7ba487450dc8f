/*
 * util.c: what the meshname commands share: opening the state directory, keys,
 * sign-and-ingest, text encodings, addresses, dates and JSON. It prints error
 * sentences for the commands but never prints a key that is secret.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/cli.h"
#include "meshname/keys.h"
#include "registry/base64.h"

int cli_usage(const char *cmd, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (cmd != NULL)
		warnx("%s: see meshname %s --help", msg, cmd);
	else
		warnx("%s: see meshname --help", msg);
	return CLI_USAGE;
}

int cli_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarnx(fmt, ap);
	va_end(ap);
	return CLI_FAIL;
}

int cli_bad_option(const char *cmd, char **argv)
{
	/* getopt has moved past the offending word (opterr is off: we say it once). */
	const char *word = optind > 0 ? argv[optind - 1] : "?";

	return cli_usage(cmd, "unknown option, or an option without its value: '%s'", word);
}

bool cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return true;
	}
	return false;
}

/* ---- state directory and registry ------------------------------------------------ */

static int db_path(const struct cli *c, const char *suffix, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/%s%s", c->state, CLI_DB, suffix);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* One sentence for a state directory the command cannot use. */
static int state_error(const struct cli *c, int e)
{
	if (e == ENOENT)
		return cli_fail("there is no mesh in %s: %s, or pick the state directory with "
				"--state DIR",
				c->state,
				c->no_mesh_hint != NULL ?
					c->no_mesh_hint :
					"run meshname init or meshname join first");
	if (e == EACCES || e == EPERM)
		return cli_fail("cannot read the state directory %s (permission denied): run as "
				"root or pick another directory with --state DIR",
				c->state);
	return cli_fail("cannot use the state directory %s (%s): pick another with --state DIR",
			c->state, strerror(e));
}

int cli_load_root(struct cli *c)
{
	size_t len = sizeof(c->root_raw);
	int rc;

	rc = registry_root(c->reg, &c->root, c->mesh_id);
	if (rc == 0)
		rc = registry_root_raw(c->reg, c->root_raw, &len);
	if (rc == 0)
		c->root_len = len;
	return rc;
}

int cli_open(struct cli *c)
{
	char path[4096];
	struct stat st;
	int rc;

	if (stat(c->state, &st) < 0)
		return state_error(c, errno);
	if (!S_ISDIR(st.st_mode))
		return state_error(c, ENOTDIR);
	if (access(c->state, R_OK | X_OK) < 0)
		return state_error(c, errno);
	if (db_path(c, "", path, sizeof(path)) < 0)
		return state_error(c, ENAMETOOLONG);
	/* Never let a read command create an empty database. */
	if (access(path, F_OK) < 0)
		return state_error(c, errno);
	if (access(path, R_OK | W_OK) < 0)
		return state_error(c, errno);
	rc = registry_open(path, &c->reg);
	if (rc < 0)
		return rc == -EIO ? cli_fail("the registry %s is damaged: restore it from a backup "
					     "or join the mesh again in a fresh state directory",
					     path) :
				    state_error(c, -rc);
	rc = cli_load_root(c);
	if (rc == -ENOENT) {
		registry_close(c->reg);
		c->reg = NULL;
		return state_error(c, ENOENT);
	}
	if (rc < 0) {
		registry_close(c->reg);
		c->reg = NULL;
		return cli_fail("cannot read the registry in %s: %s", c->state, strerror(-rc));
	}
	/* Certificates that expired since the last run drop out of the view. */
	rc = registry_refresh(c->reg, c->now);
	if (rc < 0) {
		registry_close(c->reg);
		c->reg = NULL;
		return cli_fail("cannot update the registry in %s: %s", c->state, strerror(-rc));
	}
	return CLI_OK;
}

int cli_open_fresh(struct cli *c, const char *what)
{
	char path[4096];
	struct rec root;
	uint8_t id[REC_ID_SIZE];
	int rc;

	rc = keys_dir_prepare(c->state);
	if (rc == -ENOENT)
		return cli_fail("cannot create the state directory %s, its parent is missing: "
				"create that first or pick another directory with --state DIR",
				c->state);
	if (rc < 0)
		return state_error(c, -rc);
	if (access(c->state, R_OK | W_OK | X_OK) < 0)
		return state_error(c, errno);
	if (db_path(c, "", path, sizeof(path)) < 0)
		return state_error(c, ENAMETOOLONG);
	rc = registry_open(path, &c->reg);
	if (rc < 0)
		return state_error(c, -rc);
	rc = registry_root(c->reg, &root, id);
	if (rc == 0) {
		registry_close(c->reg);
		c->reg = NULL;
		return cli_fail("%s already belongs to the mesh '%s': to %s, use a fresh state "
				"directory with --state DIR",
				c->state, root.u.root.name, what);
	}
	if (rc != -ENOENT) {
		registry_close(c->reg);
		c->reg = NULL;
		return cli_fail("cannot read the registry in %s: %s", c->state, strerror(-rc));
	}
	return CLI_OK;
}

void cli_close(struct cli *c, bool discard)
{
	static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
	char path[4096];

	registry_close(c->reg);
	c->reg = NULL;
	if (!discard)
		return;
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
		if (db_path(c, suffixes[i], path, sizeof(path)) == 0)
			(void)unlink(path);
}

/* ---- keys ------------------------------------------------------------------------ */

static bool is_admin_key(const struct rec_root *root, const uint8_t pk[REC_KEY_SIZE])
{
	for (unsigned i = 0; i < root->n_admins; i++)
		if (sodium_memcmp(root->admins[i], pk, REC_KEY_SIZE) == 0)
			return true;
	return false;
}

int cli_load_admin(struct cli *c, uint8_t sk[REC_SECRET_SIZE])
{
	int rc = keys_ed25519_load(c->state, KEYS_ADMIN, sk);

	if (rc == -ENOENT)
		return cli_fail(
			"this machine holds no admin key: run this command on an admin host");
	if (rc == -EPERM)
		return cli_fail("%s/%s is readable by others, so it is refused: chmod 600 it",
				c->state, KEYS_ADMIN);
	if (rc < 0)
		return cli_fail("cannot load %s/%s: %s", c->state, KEYS_ADMIN, keys_strerror(rc));
	/* libsodium's secret key is seed || public key. */
	if (!is_admin_key(&c->root.u.root, sk + 32)) {
		sodium_memzero(sk, REC_SECRET_SIZE);
		return cli_fail("the admin key in %s is not an admin of the mesh '%s': run this "
				"command on an admin host of this mesh",
				c->state, c->root.u.root.name);
	}
	return CLI_OK;
}

bool cli_have_admin(struct cli *c)
{
	uint8_t sk[REC_SECRET_SIZE];
	bool ok;

	if (keys_ed25519_load(c->state, KEYS_ADMIN, sk) < 0)
		return false;
	ok = is_admin_key(&c->root.u.root, sk + 32);
	sodium_memzero(sk, sizeof(sk));
	return ok;
}

static int key_error(const struct cli *c, const char *file, int rc)
{
	if (rc == -EPERM)
		return cli_fail("%s/%s is readable by others, so it is refused: chmod 600 it",
				c->state, file);
	return cli_fail("cannot make or read the key %s/%s: %s", c->state, file, keys_strerror(rc));
}

int cli_make_host_keys(struct cli *c, uint8_t host_pk[REC_KEY_SIZE], uint8_t wg_pk[REC_KEY_SIZE])
{
	uint8_t wg_sk[REC_KEY_SIZE];
	int rc;

	rc = keys_ed25519_generate(c->state, KEYS_HOST, host_pk);
	if (rc == -EEXIST)
		rc = cli_host_pk(c, host_pk);
	if (rc < 0)
		return key_error(c, KEYS_HOST, rc);
	rc = keys_x25519_generate(c->state, KEYS_WG, wg_pk);
	if (rc == -EEXIST) {
		rc = keys_x25519_load(c->state, KEYS_WG, wg_sk, wg_pk);
		sodium_memzero(wg_sk, sizeof(wg_sk));
	}
	if (rc < 0)
		return key_error(c, KEYS_WG, rc);
	return CLI_OK;
}

int cli_host_pk(struct cli *c, uint8_t pk[REC_KEY_SIZE])
{
	uint8_t sk[REC_SECRET_SIZE];
	int rc = keys_ed25519_load(c->state, KEYS_HOST, sk);

	if (rc == 0)
		memcpy(pk, sk + 32, REC_KEY_SIZE);
	sodium_memzero(sk, sizeof(sk));
	return rc;
}

/* This machine's hostname, lowercased, up to the first dot (not checked). */
int cli_default_host_name(char *out, size_t size)
{
	char buf[256];
	char *dot;

	if (gethostname(buf, sizeof(buf)) < 0)
		return -errno;
	buf[sizeof(buf) - 1] = '\0';
	dot = strchr(buf, '.');
	if (dot != NULL)
		*dot = '\0';
	for (char *p = buf; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	if (snprintf(out, size, "%s", buf) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

/* ---- records ---------------------------------------------------------------------- */

int cli_ingest(struct cli *c, const uint8_t *buf, size_t len, const char *what)
{
	enum ingest_result res;
	int rc = registry_ingest(c->reg, buf, len, c->now, &res);

	if (rc < 0)
		return cli_fail("the registry refused %s: %s", what, registry_strerror(rc));
	if (res == INGEST_PENDING)
		return cli_fail("the registry parked %s: the record that authorizes it is missing",
				what);
	return CLI_OK;
}

int cli_sign_ingest(struct cli *c, struct rec *r, const uint8_t sk[REC_SECRET_SIZE], uint8_t *out,
		    size_t *out_len)
{
	uint8_t buf[REC_MAX_SIZE];
	size_t len;
	char what[32];
	int rc;

	rc = rec_sign(r, sk, buf, sizeof(buf), &len);
	if (rc < 0)
		return cli_fail("cannot sign the %s record: %s", rec_type_name(r->type),
				rc == -EMSGSIZE ? "it would be larger than 1 KiB" :
						  "it breaks a rule of the record format");
	snprintf(what, sizeof(what), "the new %s", rec_type_name(r->type));
	rc = cli_ingest(c, buf, len, what);
	if (rc != CLI_OK)
		return rc;
	if (out != NULL) {
		memcpy(out, buf, len);
		*out_len = len;
	}
	return CLI_OK;
}

const struct snapshot_host *cli_lookup_host(const struct snapshot *s, const char *name)
{
	const struct snapshot_host *h = snapshot_lookup_name(s, name, strlen(name));

	if (h == NULL)
		warnx("no host named %s in this mesh: see meshname ls", name);
	return h;
}

int cli_groups_add(struct rec_groups *g, const char *name)
{
	if (!rec_label_valid(name))
		return -EINVAL;
	for (unsigned i = 0; i < g->n; i++)
		if (strcmp(g->name[i], name) == 0)
			return 0;
	if (g->n >= REC_MAX_GROUPS)
		return -E2BIG;
	snprintf(g->name[g->n], sizeof(g->name[0]), "%s", name);
	g->n++;
	return 0;
}

static int cmp_group(const void *a, const void *b)
{
	return strcmp(a, b);
}

void cli_groups_sort(struct rec_groups *g)
{
	qsort(g->name, g->n, sizeof(g->name[0]), cmp_group);
}

/* ---- encodings -------------------------------------------------------------------- */

static char *b64_encode(const uint8_t *buf, size_t len, int variant)
{
	size_t size = sodium_base64_encoded_len(len, variant);
	char *s = malloc(size);

	if (s != NULL)
		sodium_bin2base64(s, size, buf, len, variant);
	return s;
}

/* Through the registry's strict decoder: a byte from 0x80 up, which libsodium alone reads
 * as '_' or '/', would give one payload many texts. */
static long b64_decode(const char *s, uint8_t *out, size_t size, int variant)
{
	size_t len;

	if (base64_decode_strict(s, strlen(s), out, size, &len, variant) < 0)
		return -1;
	return (long)len;
}

char *cli_b64url_encode(const uint8_t *buf, size_t len)
{
	return b64_encode(buf, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

long cli_b64url_decode(const char *s, uint8_t *out, size_t size)
{
	return b64_decode(s, out, size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

char *cli_b64_encode(const uint8_t *buf, size_t len)
{
	return b64_encode(buf, len, sodium_base64_VARIANT_ORIGINAL);
}

long cli_b64_decode(const char *s, uint8_t *out, size_t size)
{
	return b64_decode(s, out, size, sodium_base64_VARIANT_ORIGINAL);
}

void cli_key_b64(const uint8_t key[REC_KEY_SIZE], char out[45])
{
	sodium_bin2base64(out, 45, key, REC_KEY_SIZE, sodium_base64_VARIANT_ORIGINAL);
}

void cli_hex(const uint8_t *buf, size_t len, char *out)
{
	sodium_bin2hex(out, 2 * len + 1, buf, len);
}

void cli_key_short(const uint8_t key[REC_KEY_SIZE], char out[17])
{
	cli_hex(key, 8, out);
}

/* ---- files ------------------------------------------------------------------------ */

char *cli_read_file(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
	char *buf = NULL;
	size_t n = 0, size = 0;

	if (f == NULL)
		return NULL;
	for (;;) {
		size_t got;

		if (size - n < 4096) {
			char *p;

			/* An invite or a bundle is small; 64 MiB is plenty. */
			if (size > (64u << 20)) {
				errno = EFBIG;
				goto fail;
			}
			/* Not realloc: an invite holds a secret, so no copy is left unwiped. */
			p = malloc(size + 65536);
			if (p == NULL)
				goto fail;
			if (buf != NULL) {
				memcpy(p, buf, n);
				sodium_memzero(buf, size);
				free(buf);
			}
			buf = p;
			size += 65536;
		}
		got = fread(buf + n, 1, size - n - 1, f);
		n += got;
		if (got == 0) {
			if (ferror(f)) {
				errno = EIO;
				goto fail;
			}
			break;
		}
	}
	buf[n] = '\0';
	if (f != stdin)
		fclose(f);
	if (len != NULL)
		*len = n;
	return buf;
fail:
	if (buf != NULL) {
		sodium_memzero(buf, size);
		free(buf);
	}
	if (f != stdin)
		fclose(f);
	return NULL;
}

char *cli_read_arg(const char *arg, const char *const *prefixes)
{
	char *s;
	size_t n;

	for (size_t i = 0; prefixes[i] != NULL; i++)
		if (strncmp(arg, prefixes[i], strlen(prefixes[i])) == 0) {
			s = strdup(arg);
			goto trim;
		}
	s = cli_read_file(arg, NULL);
trim:
	if (s == NULL)
		return NULL;
	n = strlen(s);
	while (n > 0 &&
	       (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

int cli_write_file(const char *path, const char *text, mode_t mode)
{
	char tmp[4096];
	size_t len = strlen(text);
	int fd, n, e;

	n = snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkstemp(tmp);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode) < 0)
		goto fail;
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, text + off, len - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)w;
	}
	if (fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	if (rename(tmp, path) < 0) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -e;
}

/* ---- time ------------------------------------------------------------------------- */

void cli_date(uint64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%d", &tm) == 0)
		snprintf(out, 32, "@%llu", (unsigned long long)t);
}

void cli_in_days(uint64_t now, uint64_t t, char out[32])
{
	uint64_t days;

	if (t <= now) {
		snprintf(out, 32, "EXPIRED");
		return;
	}
	days = (t - now) / CLI_DAY;
	if (days == 0)
		snprintf(out, 32, "today");
	else
		snprintf(out, 32, "in %llu day%s", (unsigned long long)days, days == 1 ? "" : "s");
}

/* ---- addresses -------------------------------------------------------------------- */

int cli_parse_ipv4(const char *s, uint8_t out[4])
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	memcpy(out, &a, 4);
	return 0;
}

static uint32_t ipv4_u32(const uint8_t a[4])
{
	return (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
}

bool cli_ipv4_in_prefix(const struct rec_root *root, const uint8_t a[4])
{
	uint32_t mask = root->ipv4_len == 0 ? 0 : ~0u << (32 - root->ipv4_len);
	uint32_t net = ipv4_u32(root->ipv4) & mask, x = ipv4_u32(a);

	/* The network and broadcast addresses are never a host's. */
	return (x & mask) == net && x != net && x != (net | ~mask);
}

void cli_ipv4_str(const uint8_t a[4], char out[16])
{
	inet_ntop(AF_INET, a, out, 16);
}

void cli_ipv6_str(const uint8_t a[16], char out[46])
{
	inet_ntop(AF_INET6, a, out, 46);
}

void cli_prefix4_str(const struct rec_root *root, char out[32])
{
	char a[16];

	cli_ipv4_str(root->ipv4, a);
	snprintf(out, 32, "%s/%u", a, root->ipv4_len);
}

void cli_prefix6_str(const struct rec_root *root, char out[64])
{
	char a[46];

	cli_ipv6_str(root->ipv6, a);
	snprintf(out, 64, "%s/%u", a, (unsigned)REC_IPV6_PREFIX_LEN);
}

void cli_endpoint_str(const struct rec_endpoint *ep, char out[64])
{
	char a[46];

	if (ep->family == 4) {
		cli_ipv4_str(ep->addr, a);
		snprintf(out, 64, "%s:%u", a, ep->port);
	} else {
		cli_ipv6_str(ep->addr, a);
		snprintf(out, 64, "[%s]:%u", a, ep->port);
	}
}

int cli_parse_endpoint(const char *s, struct rec_endpoint *ep)
{
	char addr[64];
	const char *colon;
	uint64_t port;
	size_t n;

	memset(ep, 0, sizeof(*ep));
	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			return -EINVAL;
		n = (size_t)(close - s - 1);
		colon = close + 1;
		s++;
		ep->family = 6;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -EINVAL;
		n = (size_t)(colon - s);
		ep->family = 4;
	}
	if (n == 0 || n >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, n);
	addr[n] = '\0';
	if (inet_pton(ep->family == 4 ? AF_INET : AF_INET6, addr, ep->addr) != 1)
		return -EINVAL;
	if (cli_parse_u64(colon + 1, 1, 65535, &port) < 0)
		return -EINVAL;
	ep->port = (uint16_t)port;
	return 0;
}

int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* ---- output ------------------------------------------------------------------------ */

void cli_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

const char *cli_bold(const struct cli *c)
{
	return c->color ? "\033[1m" : "";
}

const char *cli_red(const struct cli *c)
{
	return c->color ? "\033[31m" : "";
}

const char *cli_yellow(const struct cli *c)
{
	return c->color ? "\033[33m" : "";
}

const char *cli_reset(const struct cli *c)
{
	return c->color ? "\033[0m" : "";
}
