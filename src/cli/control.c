/*
 * control.c: the command line's side of meshnamed's control socket: one request, one JSON
 * reply, and a small bounded JSON parser for reading that reply. Never writes to the
 * registry and never trusts the reply: sizes, depth and time are bounded.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

#define REPLY_MAX (64u * 1024 * 1024) /* ls of 100,000 hosts is ~50 MB */
#define JSON_DEPTH_MAX 32

/* --- the request ------------------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for fd to be ready for events until deadline (ms, CLOCK_MONOTONIC). */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int64_t left = deadline - now_ms();
	int n;

	if (left <= 0)
		return -ETIMEDOUT;
	do
		n = poll(&p, 1, (int)left);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == 0 ? -ETIMEDOUT : 0;
}

int cli_control_request(const char *path, const char *request, char **reply, size_t *reply_len)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int64_t deadline = now_ms() + CLI_CONTROL_TIMEOUT_MS;
	char line[256], *buf = NULL;
	size_t len = 0, size = 0, n, off = 0;
	int fd, r = 0;

	*reply = NULL;
	*reply_len = 0;
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path) >=
	    sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	n = (size_t)snprintf(line, sizeof(line), "%s\n", request);
	if (n >= sizeof(line))
		return -EINVAL;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* A unix socket connects at once or fails (EAGAIN: the backlog is full). */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		r = errno == EAGAIN ? -EBUSY : -errno;
		goto out;
	}
	while (off < n) {
		ssize_t w = send(fd, line + off, n - off, MSG_NOSIGNAL);

		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			r = wait_fd(fd, POLLOUT, deadline);
			if (r < 0)
				goto out;
			continue;
		}
		if (w < 0) {
			r = -errno;
			goto out;
		}
		off += (size_t)w;
	}
	for (;;) {
		ssize_t got;

		if (size - len < 4096) {
			char *nb;

			if (size >= REPLY_MAX) {
				r = -EMSGSIZE;
				goto out;
			}
			size = size == 0 ? 16384 : size * 2;
			nb = realloc(buf, size + 1);
			if (nb == NULL) {
				r = -ENOMEM;
				goto out;
			}
			buf = nb;
		}
		got = recv(fd, buf + len, size - len, 0);
		if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
			r = wait_fd(fd, POLLIN, deadline);
			if (r < 0)
				goto out;
			continue;
		}
		if (got < 0) {
			r = -errno;
			goto out;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	if (len == 0) {
		r = -EPROTO;
		goto out;
	}
	buf[len] = '\0';
	*reply = buf;
	*reply_len = len;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return r;
}

/* --- JSON ------------------------------------------------------------------------- */

struct json_parser {
	const char *p, *end;
	unsigned depth;
};

static void skip_space(struct json_parser *jp)
{
	while (jp->p < jp->end &&
	       (*jp->p == ' ' || *jp->p == '\t' || *jp->p == '\n' || *jp->p == '\r'))
		jp->p++;
}

static int hex4(const char *s, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		char ch = s[i];

		v <<= 4;
		if (ch >= '0' && ch <= '9')
			v |= (unsigned)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			v |= (unsigned)(ch - 'a' + 10);
		else if (ch >= 'A' && ch <= 'F')
			v |= (unsigned)(ch - 'A' + 10);
		else
			return -EBADMSG;
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A string at jp->p (the opening quote) into a malloc'd, NUL-terminated copy. A \u0000
 * is refused: every string here becomes a C string. */
static int parse_string(struct json_parser *jp, char **out)
{
	const char *s = jp->p + 1;
	char *o, *buf;

	/* The decoded form is never longer than the escaped one. */
	const char *q = s;
	while (q < jp->end && *q != '"') {
		if (*q == '\\')
			q++;
		q++;
	}
	if (q >= jp->end)
		return -EBADMSG;
	buf = malloc((size_t)(q - s) + 1);
	if (buf == NULL)
		return -ENOMEM;
	o = buf;
	while (s < q) {
		unsigned char ch = (unsigned char)*s;
		unsigned cp, lo;

		if (ch < 0x20)
			goto bad;
		if (ch != '\\') {
			*o++ = *s++;
			continue;
		}
		s++;
		switch (*s) {
		case '"':
		case '\\':
		case '/':
			*o++ = *s++;
			break;
		case 'b':
			*o++ = '\b';
			s++;
			break;
		case 'f':
			*o++ = '\f';
			s++;
			break;
		case 'n':
			*o++ = '\n';
			s++;
			break;
		case 'r':
			*o++ = '\r';
			s++;
			break;
		case 't':
			*o++ = '\t';
			s++;
			break;
		case 'u':
			if (q - s < 5 || hex4(s + 1, &cp) < 0)
				goto bad;
			s += 5;
			if (cp >= 0xd800 && cp < 0xdc00) {
				if (q - s < 6 || s[0] != '\\' || s[1] != 'u' ||
				    hex4(s + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
					goto bad;
				s += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if ((cp >= 0xdc00 && cp < 0xe000) || cp == 0) {
				goto bad;
			}
			o += put_utf8(o, cp);
			break;
		default:
			goto bad;
		}
	}
	*o = '\0';
	jp->p = q + 1;
	*out = buf;
	return 0;
bad:
	free(buf);
	return -EBADMSG;
}

static int parse_number(struct json_parser *jp, struct cli_json *v)
{
	const char *s = jp->p;
	bool digits_only = true;
	uint64_t u = 0;
	bool overflow = false;

	if (s < jp->end && *s == '-') {
		digits_only = false;
		s++;
	}
	if (s >= jp->end || *s < '0' || *s > '9')
		return -EBADMSG;
	if (*s == '0' && s + 1 < jp->end && s[1] >= '0' && s[1] <= '9')
		return -EBADMSG;
	for (; s < jp->end && *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (u > (UINT64_MAX - d) / 10)
			overflow = true;
		u = u * 10 + d;
	}
	if (s < jp->end && *s == '.') {
		digits_only = false;
		if (++s >= jp->end || *s < '0' || *s > '9')
			return -EBADMSG;
		while (s < jp->end && *s >= '0' && *s <= '9')
			s++;
	}
	if (s < jp->end && (*s == 'e' || *s == 'E')) {
		digits_only = false;
		s++;
		if (s < jp->end && (*s == '+' || *s == '-'))
			s++;
		if (s >= jp->end || *s < '0' || *s > '9')
			return -EBADMSG;
		while (s < jp->end && *s >= '0' && *s <= '9')
			s++;
	}
	v->type = CLI_JSON_NUMBER;
	v->is_u64 = digits_only && !overflow;
	v->u64 = v->is_u64 ? u : 0;
	jp->p = s;
	return 0;
}

static bool literal(struct json_parser *jp, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(jp->end - jp->p) < n || memcmp(jp->p, word, n) != 0)
		return false;
	jp->p += n;
	return true;
}

static int parse_value(struct json_parser *jp, struct cli_json **out);

/* Array or object: members are chained through next, in order. */
static int parse_container(struct json_parser *jp, struct cli_json *v, char close)
{
	struct cli_json **tail = &v->child;
	int r;

	if (++jp->depth > JSON_DEPTH_MAX)
		return -EBADMSG;
	jp->p++;
	skip_space(jp);
	if (jp->p < jp->end && *jp->p == close) {
		jp->p++;
		jp->depth--;
		return 0;
	}
	for (;;) {
		char *key = NULL;
		struct cli_json *item = NULL;

		skip_space(jp);
		if (close == '}') {
			if (jp->p >= jp->end || *jp->p != '"')
				return -EBADMSG;
			r = parse_string(jp, &key);
			if (r < 0)
				return r;
			skip_space(jp);
			if (jp->p >= jp->end || *jp->p != ':') {
				free(key);
				return -EBADMSG;
			}
			jp->p++;
		}
		r = parse_value(jp, &item);
		if (r < 0) {
			cli_json_free(item); /* what was built before the error */
			free(key);
			return r;
		}
		item->key = key;
		*tail = item;
		tail = &item->next;
		skip_space(jp);
		if (jp->p >= jp->end)
			return -EBADMSG;
		if (*jp->p == close) {
			jp->p++;
			jp->depth--;
			return 0;
		}
		if (*jp->p != ',')
			return -EBADMSG;
		jp->p++;
	}
}

static int parse_value(struct json_parser *jp, struct cli_json **out)
{
	struct cli_json *v;
	int r = 0;

	skip_space(jp);
	if (jp->p >= jp->end)
		return -EBADMSG;
	v = calloc(1, sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	/* Linked before it is filled, so that a failure below frees whatever was built. */
	*out = v;
	switch (*jp->p) {
	case '{':
		v->type = CLI_JSON_OBJECT;
		r = parse_container(jp, v, '}');
		break;
	case '[':
		v->type = CLI_JSON_ARRAY;
		r = parse_container(jp, v, ']');
		break;
	case '"':
		v->type = CLI_JSON_STRING;
		r = parse_string(jp, &v->str);
		break;
	case 't':
		v->type = CLI_JSON_BOOL;
		v->boolean = true;
		r = literal(jp, "true") ? 0 : -EBADMSG;
		break;
	case 'f':
		v->type = CLI_JSON_BOOL;
		r = literal(jp, "false") ? 0 : -EBADMSG;
		break;
	case 'n':
		v->type = CLI_JSON_NULL;
		r = literal(jp, "null") ? 0 : -EBADMSG;
		break;
	default:
		r = parse_number(jp, v);
		break;
	}
	return r;
}

int cli_json_parse(const char *text, size_t len, struct cli_json **out)
{
	struct json_parser jp = { text, text + len, 0 };
	struct cli_json *v = NULL;
	int r;

	*out = NULL;
	r = parse_value(&jp, &v);
	if (r == 0) {
		skip_space(&jp);
		if (jp.p != jp.end)
			r = -EBADMSG;
	}
	if (r < 0) {
		cli_json_free(v);
		return r;
	}
	*out = v;
	return 0;
}

void cli_json_free(struct cli_json *v)
{
	/* Siblings iteratively, children recursively: the depth is bounded. */
	while (v != NULL) {
		struct cli_json *next = v->next;

		cli_json_free(v->child);
		free(v->key);
		free(v->str);
		free(v);
		v = next;
	}
}

const struct cli_json *cli_json_get(const struct cli_json *obj, const char *key)
{
	if (obj == NULL || obj->type != CLI_JSON_OBJECT)
		return NULL;
	for (const struct cli_json *m = obj->child; m != NULL; m = m->next)
		if (strcmp(m->key, key) == 0)
			return m;
	return NULL;
}

const char *cli_json_text(const struct cli_json *obj, const char *key)
{
	const struct cli_json *v = cli_json_get(obj, key);

	return v != NULL && v->type == CLI_JSON_STRING ? v->str : NULL;
}

bool cli_json_u64(const struct cli_json *obj, const char *key, uint64_t *out)
{
	const struct cli_json *v = cli_json_get(obj, key);

	if (v == NULL || v->type != CLI_JSON_NUMBER || !v->is_u64)
		return false;
	*out = v->u64;
	return true;
}

bool cli_json_true(const struct cli_json *obj, const char *key)
{
	const struct cli_json *v = cli_json_get(obj, key);

	return v != NULL && v->type == CLI_JSON_BOOL && v->boolean;
}

/* --- meshname reload ---------------------------------------------------------------- */

const char cli_help_reload[] =
	"Usage: meshname reload\n"
	"\n"
	"Asks the running meshnamed to read its configuration again, like SIGHUP. A file\n"
	"with an error is refused with its file:line, and the daemon keeps the running\n"
	"configuration. Needs root or a member of the daemon's control-group.\n"
	"\n"
	"Exit status: 0 when the daemon took the new configuration, 1 otherwise.\n";

int cmd_reload(struct cli *c, int argc, char **argv)
{
	struct cli_json *doc = NULL;
	const char *error;
	char *raw = NULL;
	size_t len;
	int rc, ret;

	if (argc != 1)
		return cli_usage("reload", "reload takes no arguments");
	(void)argv;
	rc = cli_control_request(c->control, "reload", &raw, &len);
	if (rc == -ENOENT || rc == -ECONNREFUSED)
		return cli_fail("meshnamed is not running on %s: start it, or give its socket "
				"with --control",
				c->control);
	if (rc < 0)
		return cli_fail("cannot ask meshnamed on %s: %s", c->control, strerror(-rc));
	if (cli_json_parse(raw, len, &doc) < 0 || doc->type != CLI_JSON_OBJECT) {
		ret = cli_fail("meshnamed on %s sent a malformed reply", c->control);
		goto out;
	}
	error = cli_json_text(doc, "error");
	if (error != NULL) {
		ret = cli_fail("%s", error);
		goto out;
	}
	printf("meshnamed reloaded its configuration\n");
	ret = CLI_OK;
out:
	cli_json_free(doc);
	free(raw);
	return ret;
}
