/*
 * bundle.c: `meshname export` and `meshname import`: records moved by file, the same
 * records sync will move later. A bundle is text: the line "meshname-bundle 1 MESH_ID"
 * (hex), then one record per line in base64, ROOT first. Import verifies every record
 * exactly as sync will, through registry_ingest, in one batch; it trusts nothing else
 * in the file.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli/cli.h"

const char cli_help_export[] =
	"Usage: meshname export [-o FILE]\n"
	"\n"
	"Writes every record of the local registry to a bundle: a text file whose first\n"
	"line is `meshname-bundle 1 MESH_ID` (the mesh id in hex), then one record per line\n"
	"in base64, the mesh's ROOT first. Records are public and signed; a bundle holds no\n"
	"secret. Running meshnamed daemons sync records by themselves; bundles move them by\n"
	"hand, for air-gapped admins and configuration management.\n"
	"\n"
	"Options:\n"
	"  -o, --output FILE   write the bundle to FILE (mode 0644) instead of standard output\n";

const char cli_help_import[] =
	"Usage: meshname import FILE\n"
	"       meshname import -\n"
	"\n"
	"Verifies and stores the records of a bundle made by `meshname export` (- reads\n"
	"standard input). Every record goes through the same checks as records from peers:\n"
	"signature, authority, expiry, revocation, conflicts. The bundle must be of this\n"
	"host's mesh, and the state directory must already belong to it (join first).\n"
	"Prints `N new, N already known, N pending, N rejected` and one line for each\n"
	"rejected record saying why. Pending records wait for the record that authorizes\n"
	"them (for instance a host's CERT) and are kept until it comes.\n"
	"\n"
	"Exit status: 0 when no record was rejected, 1 otherwise.\n";

struct export_state {
	FILE *f;
	int err;
};

static int export_one(void *arg, const uint8_t *buf, size_t len)
{
	struct export_state *e = arg;
	char *line;

	/* The ROOT is written first, whatever its time stamp. */
	if (len > 4 && buf[4] == REC_ROOT)
		return 0;
	line = cli_b64_encode(buf, len);
	if (line == NULL) {
		e->err = -ENOMEM;
		return -ENOMEM;
	}
	fprintf(e->f, "%s\n", line);
	free(line);
	return 0;
}

int cmd_export(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	struct export_state e = { NULL, 0 };
	const char *output = NULL;
	char id[2 * REC_ID_SIZE + 1], *root = NULL, *text = NULL;
	size_t text_len = 0;
	int ch, ret, rc;

	while ((ch = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		if (ch != 'o')
			return cli_bad_option("export", argv);
		output = optarg;
	}
	if (optind != argc)
		return cli_usage("export",
				 "export takes no arguments (write to a file with -o FILE)");
	ret = cli_open(c);
	if (ret != CLI_OK)
		return ret;
	ret = CLI_FAIL;
	e.f = open_memstream(&text, &text_len);
	root = cli_b64_encode(c->root_raw, c->root_len);
	if (e.f == NULL || root == NULL) {
		cli_fail("out of memory");
		goto out;
	}
	cli_hex(c->mesh_id, REC_ID_SIZE, id);
	fprintf(e.f, "%s %s\n%s\n", CLI_BUNDLE_HEADER, id, root);
	rc = registry_foreach(c->reg, export_one, &e);
	if (fclose(e.f) != 0 && rc == 0)
		rc = -ENOMEM;
	e.f = NULL;
	if (rc < 0) {
		cli_fail("cannot read the registry: %s", strerror(-rc));
		goto out;
	}
	if (output == NULL) {
		fputs(text, stdout);
		if (fflush(stdout) != 0) {
			cli_fail("cannot write the bundle: %s", strerror(errno));
			goto out;
		}
	} else {
		rc = cli_write_file(output, text, 0644);
		if (rc < 0) {
			cli_fail("cannot write the bundle to %s: %s", output, strerror(-rc));
			goto out;
		}
	}
	ret = CLI_OK;
out:
	if (e.f != NULL)
		fclose(e.f);
	free(text);
	free(root);
	cli_close(c, false);
	return ret;
}

struct import_counts {
	unsigned added, known, pending, rejected;
	uint8_t (*pending_ids)[REC_ID_SIZE]; /* parked during the batch */
	size_t n_pending, size_pending;
};

static int remember_pending(struct import_counts *n, const uint8_t *buf, size_t len)
{
	if (n->n_pending == n->size_pending) {
		size_t size = n->size_pending == 0 ? 16 : 2 * n->size_pending;
		void *p = reallocarray(n->pending_ids, size, REC_ID_SIZE);

		if (p == NULL)
			return -ENOMEM;
		n->pending_ids = p;
		n->size_pending = size;
	}
	rec_id(buf, len, n->pending_ids[n->n_pending++]);
	return 0;
}

/* A record parked early in the batch is accepted when its authorizer comes later in
 * the same batch: count it as new, not as pending. */
static int settle_pending(void *arg, const uint8_t *buf, size_t len)
{
	struct import_counts *n = arg;
	uint8_t id[REC_ID_SIZE];

	rec_id(buf, len, id);
	for (size_t i = 0; i < n->n_pending; i++)
		if (memcmp(n->pending_ids[i], id, REC_ID_SIZE) == 0) {
			memcpy(n->pending_ids[i], n->pending_ids[--n->n_pending], REC_ID_SIZE);
			n->pending--;
			n->added++;
			break;
		}
	return 0;
}

static void reject(struct import_counts *n, const char *file, unsigned line, const uint8_t *buf,
		   size_t len, const char *why)
{
	const char *type = len > 4 ? rec_type_name(buf[4]) : NULL;

	n->rejected++;
	fprintf(stderr, "meshname: %s line %u (%s): %s\n", file, line,
		type != NULL ? type : "not a record", why);
}

/* Ingests the records after the header; returns 0 or a storage error. */
static int import_lines(struct cli *c, const char *file, char *lines, struct import_counts *n)
{
	size_t text_len = strlen(lines), max_lines = 1, count = 0, used = 0, i;
	struct registry_item *items = NULL;
	enum ingest_result *res = NULL;
	unsigned *lineno_of = NULL, lineno = 1;
	uint8_t *raw = NULL;
	char *save = NULL;
	int *err = NULL, rc = 0;

	for (i = 0; i < text_len; i++)
		max_lines += lines[i] == '\n';
	/* Decoded records are shorter than their base64 lines: text_len bytes hold all. */
	raw = malloc(text_len + REC_MAX_SIZE + 4);
	items = calloc(max_lines, sizeof(*items));
	lineno_of = calloc(max_lines, sizeof(*lineno_of));
	res = calloc(max_lines, sizeof(*res));
	err = calloc(max_lines, sizeof(*err));
	if (raw == NULL || items == NULL || lineno_of == NULL || res == NULL || err == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	/* Decode every line first, so that registry_ingest_many can check all the
	 * signatures at once on every core. */
	for (char *line = strtok_r(lines, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		size_t len = strlen(line);
		uint8_t *buf = raw + used;
		long got;

		lineno++;
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (len == 0)
			continue;
		got = len > 4 * (REC_MAX_SIZE + 4) / 3 ?
			      -1 :
			      cli_b64_decode(line, buf, REC_MAX_SIZE + 4);
		if (got < 0) {
			reject(n, file, lineno, NULL, 0, "not base64, or longer than a record");
			continue;
		}
		/* The ROOT came with joining; ingest accepts it only through registry_create. */
		if ((size_t)got == c->root_len && memcmp(buf, c->root_raw, c->root_len) == 0) {
			n->known++;
			continue;
		}
		items[count].buf = buf;
		items[count].len = (size_t)got;
		lineno_of[count++] = lineno;
		used += (size_t)got;
	}
	if (count > 0)
		rc = registry_ingest_many(c->reg, items, count, c->now, res, err);
	for (i = 0; i < count && rc == 0; i++) {
		if (err[i] == -EIO || err[i] == -ENOSPC)
			rc = err[i];
		else if (err[i] < 0)
			reject(n, file, lineno_of[i], items[i].buf, items[i].len,
			       registry_strerror(err[i]));
		else if (res[i] == INGEST_ACCEPTED)
			n->added++;
		else if (res[i] == INGEST_DUPLICATE)
			n->known++;
		else if ((rc = remember_pending(n, items[i].buf, items[i].len)) == 0)
			n->pending++;
	}
out:
	free(raw);
	free(items);
	free(lineno_of);
	free(res);
	free(err);
	return rc;
}

int cmd_import(struct cli *c, int argc, char **argv)
{
	uint8_t id[REC_ID_SIZE];
	struct import_counts n;
	const char *file;
	char *text = NULL, *nl, *hex;
	size_t hlen = strlen(CLI_BUNDLE_HEADER), len;
	int ret, rc;

	memset(&n, 0, sizeof(n));
	if (argc != 2 || (argv[1][0] == '-' && argv[1][1] != '\0'))
		return cli_usage("import", "import takes one bundle file, or - for standard input");
	file = strcmp(argv[1], "-") == 0 ? "(stdin)" : argv[1];
	text = cli_read_file(argv[1], NULL);
	if (text == NULL)
		return cli_fail("cannot read %s: %s", file, strerror(errno));
	nl = strchr(text, '\n');
	if (nl != NULL)
		*nl = '\0';
	hex = text + hlen + 1;
	if (strncmp(text, CLI_BUNDLE_HEADER " ", hlen + 1) != 0 ||
	    sodium_hex2bin(id, sizeof(id), hex, strlen(hex), NULL, &len, NULL) != 0 ||
	    len != REC_ID_SIZE) {
		free(text);
		return cli_fail("%s is not a meshname bundle: its first line must be '%s MESH_ID'",
				file, CLI_BUNDLE_HEADER);
	}
	c->no_mesh_hint = "join the mesh first (meshname join), then import";
	ret = cli_open(c);
	if (ret != CLI_OK)
		goto out;
	if (memcmp(id, c->mesh_id, REC_ID_SIZE) != 0) {
		ret = cli_fail("%s is a bundle of another mesh, not of '%s': import it on that "
			       "mesh's hosts",
			       file, c->root.u.root.name);
		goto out;
	}
	/* One transaction: the view is rematerialized once, and a storage failure
	 * leaves the registry as it was. */
	rc = registry_begin(c->reg);
	if (rc == 0) {
		rc = nl != NULL ? import_lines(c, file, nl + 1, &n) : 0;
		if (rc == 0)
			rc = registry_commit(c->reg, c->now);
		else
			registry_rollback(c->reg);
	}
	if (rc < 0) {
		ret = cli_fail("cannot store the records: %s; nothing was imported",
			       registry_strerror(rc));
		goto out;
	}
	if (n.n_pending > 0 && (rc = registry_foreach(c->reg, settle_pending, &n)) < 0) {
		ret = cli_fail("cannot read the registry back: %s", strerror(-rc));
		goto out;
	}
	printf("%u new, %u already known, %u pending, %u rejected\n", n.added, n.known, n.pending,
	       n.rejected);
	ret = n.rejected > 0 ? CLI_FAIL : CLI_OK;
out:
	free(n.pending_ids);
	free(text);
	cli_close(c, false);
	return ret;
}
