/*
 * seeds.c: STATE/seeds (seeds.h), the file of bootstrap peers: a strict line parser that
 * names the line and the reason of every refusal, and an atomic writer that never writes
 * a line the parser would refuse. Never logs, never resolves a name, never opens a socket.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "meshname/seeds.h"
#include "registry/base64.h"
#include "registry/fileio.h"

#define KEY_B64_LEN 44 /* standard base64 of 32 bytes, with its padding */
/* The longest line read: a key, a blank, a bracketed name and a port fit in 300 bytes;
 * the rest is room for blanks and a comment. */
#define LINE_MAX_BYTES 511
#define NAME_MAX_BYTES 253 /* RFC 1035 section 2.3.4, presentation form, no final dot */
#define LABEL_MAX_BYTES 63

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

/* "1".."65535", decimal digits only, no sign and no leading zero. */
static bool parse_port(const char *s, size_t len, uint16_t *port)
{
	unsigned long v = 0;

	if (len == 0 || len > 5 || s[0] == '0')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

/* LDH labels (RFC 1123 section 2.1) of 1..63 bytes, not starting or ending with a hyphen,
 * 253 bytes at most, no final dot. Lowercased into out. */
static bool parse_dns_name(const char *s, size_t len, char out[SEEDS_HOST_MAX])
{
	size_t label = 0;

	if (len == 0 || len > NAME_MAX_BYTES)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (ch == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
		} else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			   (ch >= '0' && ch <= '9') || ch == '-') {
			if ((label == 0 && ch == '-') || ++label > LABEL_MAX_BYTES)
				return false;
		} else {
			return false;
		}
		out[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
	}
	if (label == 0 || s[len - 1] == '-')
		return false;
	out[len] = '\0';
	return true;
}

/*
 * "HOST:PORT" (len bytes, not NUL-terminated) into out. NULL on success, else why not, as
 * a phrase that fits after "seeds:LINE: ". IPv6 is written back in its canonical form and
 * names in lower case, so that one seed has one spelling.
 */
static const char *parse_hostport(const char *text, size_t len, struct seed *out)
{
	char host[SEEDS_HOST_MAX + 2];
	const char *colon, *port;
	size_t host_len;
	bool dotted = true;

	memset(out->host, 0, sizeof(out->host));
	if (len == 0)
		return "an empty HOST:PORT";
	if (text[0] == '[') {
		const char *close = memchr(text, ']', len);
		struct in6_addr a6;

		if (close == NULL)
			return "an IPv6 address without its closing bracket";
		host_len = (size_t)(close - text - 1);
		if (host_len == 0 || host_len >= sizeof(host))
			return "not an IPv6 address between the brackets";
		memcpy(host, text + 1, host_len);
		host[host_len] = '\0';
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return "not an IPv6 address between the brackets";
		if ((size_t)(close - text) + 1 >= len || close[1] != ':')
			return "no :PORT after the IPv6 address";
		port = close + 2;
		if (!parse_port(port, len - (size_t)(port - text), &out->port))
			return "a port that is not a number from 1 to 65535";
		inet_ntop(AF_INET6, &a6, out->host, sizeof(out->host));
		return NULL;
	}
	colon = memrchr(text, ':', len);
	if (colon == NULL)
		return "no :PORT after the host";
	host_len = (size_t)(colon - text);
	if (memchr(text, ':', host_len) != NULL)
		return "an IPv6 address without brackets (write [ADDRESS]:PORT)";
	port = colon + 1;
	if (!parse_port(port, len - host_len - 1, &out->port))
		return "a port that is not a number from 1 to 65535";
	if (host_len == 0)
		return "no host before :PORT";
	if (host_len > NAME_MAX_BYTES)
		return "a host name longer than 253 bytes";
	memcpy(host, text, host_len);
	host[host_len] = '\0';
	/* Only digits and dots can only mean an IPv4 address: "10.1" is not a name. */
	for (size_t i = 0; i < host_len; i++)
		dotted = dotted && (host[i] == '.' || (host[i] >= '0' && host[i] <= '9'));
	if (dotted) {
		struct in_addr a4;

		if (inet_pton(AF_INET, host, &a4) != 1)
			return "not an IPv4 address (four numbers 0 to 255, no leading zeros)";
		memcpy(out->host, host, host_len + 1);
		return NULL;
	}
	if (!parse_dns_name(host, host_len, out->host))
		return "not an IPv4 address, [IPv6] address or DNS name (labels of a-z, 0-9 "
		       "and -, no final dot)";
	return NULL;
}

int seeds_parse_hostport(const char *text, struct seed *out)
{
	return parse_hostport(text, strlen(text), out) == NULL ? 0 : -EINVAL;
}

/* One line (NUL-terminated, no newline) into out. 1 for a seed, 0 for a blank or comment
 * line, -1 with *why set. */
static int parse_line(char *line, struct seed *out, const char **why)
{
	char *p, *key, *hp, *hash;
	size_t key_len, hp_len, bin_len = 0;

	hash = strchr(line, '#');
	if (hash != NULL)
		*hash = '\0';
	for (p = line; is_blank(*p); p++)
		;
	if (*p == '\0')
		return 0;
	key = p;
	while (*p != '\0' && !is_blank(*p))
		p++;
	key_len = (size_t)(p - key);
	while (is_blank(*p))
		p++;
	hp = p;
	while (*p != '\0' && !is_blank(*p))
		p++;
	hp_len = (size_t)(p - hp);
	while (is_blank(*p))
		p++;
	if (key_len != KEY_B64_LEN ||
	    base64_decode_strict(key, key_len, out->key, sizeof(out->key), &bin_len,
				 sodium_base64_VARIANT_ORIGINAL) < 0 ||
	    bin_len != REC_KEY_SIZE) {
		*why = "not a host key (44 characters of standard base64, as meshname show "
		       "prints it)";
		return -1;
	}
	if (hp_len == 0) {
		*why = "a host key without HOST:PORT after it";
		return -1;
	}
	if (*p != '\0') {
		*why = "more than a host key and HOST:PORT on the line";
		return -1;
	}
	*why = parse_hostport(hp, hp_len, out);
	return *why == NULL ? 1 : -1;
}

static bool same_seed(const struct seed *a, const struct seed *b)
{
	return memcmp(a->key, b->key, sizeof(a->key)) == 0 && a->port == b->port &&
	       strcmp(a->host, b->host) == 0;
}

/* What seeds_parse and seeds_load share: the lines so far and the seeds taken. */
struct parser {
	struct seed *out;
	size_t limit, got, lineno;
	char *err;
	size_t errlen;
};

static void parser_init(struct parser *ps, struct seed *out, size_t max, char *err, size_t errlen)
{
	*ps = (struct parser){ out, max < SEEDS_MAX ? max : SEEDS_MAX, 0, 0, err, errlen };
	set_err(err, errlen, "seeds: no error");
}

/*
 * The next line of the file, len bytes without its newline; only its first
 * LINE_MAX_BYTES + 1 bytes are read, so a reader may stop there. 0 or -EINVAL with
 * "seeds:LINE: reason". A NUL byte among those first bytes is reported before the length,
 * as a reader going byte by byte would find them.
 */
static int parser_line(struct parser *ps, const char *text, size_t len)
{
	char line[LINE_MAX_BYTES + 1];
	size_t seen = len < sizeof(line) ? len : sizeof(line);
	const char *why = NULL;
	struct seed s;
	int rc;

	ps->lineno++;
	if (memchr(text, '\0', seen) != NULL) {
		set_err(ps->err, ps->errlen, "seeds:%zu: a NUL byte in the line", ps->lineno);
		return -EINVAL;
	}
	if (len > LINE_MAX_BYTES) {
		set_err(ps->err, ps->errlen, "seeds:%zu: a line longer than 511 bytes", ps->lineno);
		return -EINVAL;
	}
	memcpy(line, text, len);
	line[len] = '\0';
	rc = parse_line(line, &s, &why);
	if (rc == 0)
		return 0;
	if (rc < 0) {
		set_err(ps->err, ps->errlen, "seeds:%zu: %s", ps->lineno, why);
		return -EINVAL;
	}
	for (size_t i = 0; i < ps->got; i++) {
		if (same_seed(&ps->out[i], &s)) {
			set_err(ps->err, ps->errlen, "seeds:%zu: the same seed as an earlier line",
				ps->lineno);
			return -EINVAL;
		}
	}
	if (ps->got == ps->limit) {
		set_err(ps->err, ps->errlen, "seeds:%zu: more than %zu seeds", ps->lineno,
			ps->limit);
		return -EINVAL;
	}
	ps->out[ps->got++] = s;
	return 0;
}

/* rc is the result: on success *n is the number of seeds, on failure 0 and out wiped. */
static int parser_finish(struct parser *ps, int rc, size_t *n)
{
	if (rc < 0 && ps->got > 0)
		memset(ps->out, 0, ps->got * sizeof(*ps->out));
	*n = rc < 0 ? 0 : ps->got;
	return rc;
}

int seeds_parse(const char *text, size_t len, struct seed *out, size_t max, size_t *n, char *err,
		size_t errlen)
{
	struct parser ps;
	size_t off = 0;
	int rc = 0;

	parser_init(&ps, out, max, err, errlen);
	while (rc == 0 && off < len) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t line_len = nl != NULL ? (size_t)(nl - (text + off)) : len - off;

		rc = parser_line(&ps, text + off, line_len);
		off += line_len + (nl != NULL ? 1 : 0);
	}
	return parser_finish(&ps, rc, n);
}

/* Reads the next line into buf, *len bytes without its newline, stopping after
 * LINE_MAX_BYTES + 1 bytes (enough for parser_line to refuse it). 1 for a line, 0 at the
 * end of the file, or -errno. */
static int read_line(FILE *fp, char buf[LINE_MAX_BYTES + 1], size_t *len)
{
	int ch = 0;

	*len = 0;
	errno = 0;
	while (*len <= LINE_MAX_BYTES && (ch = getc(fp)) != EOF && ch != '\n')
		buf[(*len)++] = (char)ch;
	if (*len > LINE_MAX_BYTES)
		return 1;
	if (ch == EOF && ferror(fp))
		return errno != 0 ? -errno : -EIO;
	return ch == EOF && *len == 0 ? 0 : 1;
}

static int seeds_path(const char *state_dir, const char *prefix, const char *suffix,
		      char path[PATH_MAX])
{
	int n = snprintf(path, PATH_MAX, "%s/%s%s%s", state_dir, prefix, SEEDS_FILE, suffix);

	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

int seeds_load(const char *state_dir, struct seed *out, size_t max, size_t *n, char *err,
	       size_t errlen)
{
	char path[PATH_MAX], line[LINE_MAX_BYTES + 1];
	struct parser ps;
	struct stat st;
	FILE *fp = NULL;
	size_t len;
	int fd, rc;

	*n = 0;
	parser_init(&ps, out, max, err, errlen);
	if ((rc = seeds_path(state_dir, "", "", path)) < 0) {
		set_err(err, errlen, "seeds: the path %s/%s is too long", state_dir, SEEDS_FILE);
		return rc;
	}
	/* O_NONBLOCK: opening a FIFO would wait for a writer; cleared below. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0) {
		rc = -errno;
		set_err(err, errlen, "seeds: cannot open %s: %s", path, strerror(-rc));
		return rc;
	}
	/* A FIFO or a device would block or feed the daemon forever. */
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		set_err(err, errlen, "seeds: cannot read %s: %s", path, strerror(-rc));
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		set_err(err, errlen, "seeds: %s is not a regular file", path);
		close(fd);
		return S_ISDIR(st.st_mode) ? -EISDIR : -ENXIO;
	}
	fp = fcntl(fd, F_SETFL, 0) == 0 ? fdopen(fd, "r") : NULL;
	if (fp == NULL) {
		rc = -errno;
		set_err(err, errlen, "seeds: cannot read %s: %s", path, strerror(-rc));
		close(fd);
		return rc;
	}
	for (;;) {
		rc = read_line(fp, line, &len);
		if (rc < 0)
			set_err(err, errlen, "seeds: cannot read %s: %s", path, strerror(-rc));
		if (rc <= 0 || (rc = parser_line(&ps, line, len)) < 0)
			break;
	}
	fclose(fp);
	return parser_finish(&ps, rc, n);
}

/* "KEY HOST:PORT\n" for s into line; -EINVAL for a seed seeds_load would refuse. */
static int format_seed(const struct seed *s, char *line, size_t size)
{
	char key[KEY_B64_LEN + 1], hostport[SEEDS_HOST_MAX + 8];
	struct seed check;
	int n;

	if (memchr(s->host, '\0', sizeof(s->host)) == NULL)
		return -EINVAL;
	n = snprintf(hostport, sizeof(hostport), strchr(s->host, ':') != NULL ? "[%s]:%u" : "%s:%u",
		     s->host, (unsigned)s->port);
	if (n < 0 || (size_t)n >= sizeof(hostport))
		return -EINVAL;
	/* What is written must read back as the same seed. */
	if (seeds_parse_hostport(hostport, &check) < 0 || check.port != s->port ||
	    strcmp(check.host, s->host) != 0)
		return -EINVAL;
	sodium_bin2base64(key, sizeof(key), s->key, sizeof(s->key), sodium_base64_VARIANT_ORIGINAL);
	n = snprintf(line, size, "%s %s\n", key, hostport);
	return n < 0 || (size_t)n >= size ? -EINVAL : 0;
}

int seeds_save(const char *state_dir, const struct seed *s, size_t n)
{
	static const char header[] =
		"# Bootstrap peers meshnamed syncs with by transport B (see meshname(8)).\n"
		"# HOSTKEY HOST:PORT, one per line; HOST is IPv4, [IPv6] or a DNS name.\n";
	char path[PATH_MAX], tmp[PATH_MAX], line[LINE_MAX_BYTES + 1];
	bool tmp_made = false;
	int fd = -1, rc;

	if (n > SEEDS_MAX)
		return -E2BIG;
	for (size_t i = 0; i < n; i++) {
		if (format_seed(&s[i], line, sizeof(line)) < 0)
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (same_seed(&s[i], &s[j]))
				return -EINVAL;
	}
	if ((rc = seeds_path(state_dir, "", "", path)) < 0 ||
	    (rc = seeds_path(state_dir, ".", ".tmp", tmp)) < 0)
		return rc;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	tmp_made = true;
	/* 0644 whatever the umask: meshnamed may run as another user than the writer. */
	if (fchmod(fd, 0644) < 0) {
		rc = -errno;
		goto out;
	}
	if ((rc = file_write_all(fd, header, sizeof(header) - 1)) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		(void)format_seed(&s[i], line, sizeof(line)); /* checked above */
		if ((rc = file_write_all(fd, line, strlen(line))) < 0)
			goto out;
	}
	if (fsync(fd) < 0) {
		rc = -errno;
		goto out;
	}
	rc = close(fd) < 0 ? -errno : 0;
	fd = -1;
	if (rc < 0)
		goto out;
	/* rename(2) replaces the old file whole: a reader sees the old list or the new. */
	if (rename(tmp, path) < 0) {
		rc = -errno;
		goto out;
	}
	tmp_made = false;
	rc = file_fsync_dir(state_dir);
out:
	if (fd >= 0)
		close(fd);
	if (tmp_made)
		unlink(tmp);
	return rc;
}
