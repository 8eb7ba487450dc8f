/*
 * format.c: pure text helpers for the command line's human output: durations ("12s ago"),
 * byte counts ("1.5 KiB"), aligned tables and the lines of the sync section of status. No I/O but the FILE a table is printed to,
 * no registry, no JSON, no global state: unit-tested on their own (tests/unit/cli).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

void cli_fmt_duration(uint64_t d, char *out, size_t size)
{
	if (d < 60)
		snprintf(out, size, "%llus", (unsigned long long)d);
	else if (d < 3600)
		snprintf(out, size, "%llum%llus", (unsigned long long)(d / 60),
			 (unsigned long long)(d % 60));
	else if (d < 86400)
		snprintf(out, size, "%lluh%llum", (unsigned long long)(d / 3600),
			 (unsigned long long)(d % 3600 / 60));
	else
		snprintf(out, size, "%llud%lluh", (unsigned long long)(d / 86400),
			 (unsigned long long)(d % 86400 / 3600));
}

void cli_fmt_ago(int64_t now, int64_t then, char *out, size_t size)
{
	char d[32];

	if (then <= 0) {
		snprintf(out, size, "never");
		return;
	}
	if (then > now) {
		/* A clock that went back, or a peer's clock ahead: say so, not "-3s ago". */
		snprintf(out, size, "in the future");
		return;
	}
	cli_fmt_duration((uint64_t)(now - then), d, sizeof(d));
	snprintf(out, size, "%s ago", d);
}

void cli_fmt_bytes(uint64_t n, char *out, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	const size_t last = sizeof(units) / sizeof(units[0]) - 1;
	uint64_t whole = n, rest = 0; /* n = whole * 1024^u + rest */
	uint64_t tenths;
	size_t u = 0;

	if (n < 1024) {
		snprintf(out, size, "%llu B", (unsigned long long)n);
		return;
	}
	while (whole >= 1024 && u < last) {
		rest = whole % 1024;
		whole /= 1024;
		u++;
	}
	/* One decimal, rounded half up, from the remainder of the last division only: the
	 * lower ones cannot move it by a tenth. 1023.96 KiB rounds to 1.0 MiB, not 1024.0. */
	tenths = whole * 10 + (rest * 10 + 512) / 1024;
	if (tenths >= 10240 && u < last) {
		tenths = 10;
		u++;
	}
	snprintf(out, size, "%llu.%llu %s", (unsigned long long)(tenths / 10),
		 (unsigned long long)(tenths % 10), units[u]);
}

/* --- sync ----------------------------------------------------------------------------- */

void cli_fmt_sync_state(uint64_t now, const struct cli_sync_peer *p, char *out, size_t size)
{
	char d[32];

	/* The most pressing first: a ban outlasts back-offs, and an open session is news
	 * whatever happened before it. */
	if (p->banned)
		snprintf(out, size, "banned");
	else if (p->in_session)
		snprintf(out, size, "syncing");
	else if (p->backoff_until > now) {
		cli_fmt_duration(p->backoff_until - now, d, sizeof(d));
		snprintf(out, size, "backed off %s", d);
	} else if (p->failures > 0)
		snprintf(out, size, "failing %u", p->failures);
	else if (p->last_ok != 0)
		snprintf(out, size, "ok");
	else
		snprintf(out, size, "new");
}

static const char *plural(uint64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

void cli_fmt_sync_summary(uint64_t now, const struct cli_sync_summary *s, char *out, size_t size)
{
	char ago[32], parked[48] = "", banned[32] = "";

	cli_fmt_ago((int64_t)now, (int64_t)s->last_ok, ago, sizeof(ago));
	if (s->have_parked && s->parked > 0)
		snprintf(parked, sizeof(parked), " (%llu parked)", (unsigned long long)s->parked);
	if (s->banned > 0)
		snprintf(banned, sizeof(banned), ", %llu banned", (unsigned long long)s->banned);
	snprintf(out, size, "port %llu, %llu %s, last sync %s, %llu %s pending%s%s%s",
		 (unsigned long long)s->port, (unsigned long long)s->neighbours,
		 plural(s->neighbours, "neighbour", "neighbours"), ago,
		 (unsigned long long)s->pending, plural(s->pending, "record", "records"), parked,
		 banned, s->beacons ? "" : ", LAN beacons off");
}

/* --- tables -------------------------------------------------------------------------- */

int cli_table_init(struct cli_table *t, size_t n_cols, unsigned right)
{
	memset(t, 0, sizeof(*t));
	if (n_cols == 0 || n_cols > CLI_TABLE_MAX_COLS)
		return -EINVAL;
	t->n_cols = n_cols;
	t->right = right;
	return 0;
}

int cli_table_add(struct cli_table *t, const char *const *cells)
{
	char **row;

	if (t->n_rows == t->cap) {
		size_t cap = t->cap == 0 ? 16 : t->cap * 2;
		char **nc = realloc(t->cells, cap * t->n_cols * sizeof(*nc));

		if (nc == NULL)
			return -ENOMEM;
		t->cells = nc;
		t->cap = cap;
	}
	row = t->cells + t->n_rows * t->n_cols;
	for (size_t i = 0; i < t->n_cols; i++) {
		row[i] = strdup(cells[i] != NULL ? cells[i] : "");
		if (row[i] == NULL) {
			while (i-- > 0)
				free(row[i]);
			return -ENOMEM;
		}
	}
	t->n_rows++;
	return 0;
}

void cli_table_print(const struct cli_table *t, FILE *f, const char *indent)
{
	size_t width[CLI_TABLE_MAX_COLS] = { 0 };

	for (size_t r = 0; r < t->n_rows; r++)
		for (size_t i = 0; i < t->n_cols; i++) {
			size_t n = strlen(t->cells[r * t->n_cols + i]);

			if (n > width[i])
				width[i] = n;
		}
	for (size_t r = 0; r < t->n_rows; r++) {
		fputs(indent != NULL ? indent : "", f);
		for (size_t i = 0; i < t->n_cols; i++) {
			const char *cell = t->cells[r * t->n_cols + i];
			bool last = i + 1 == t->n_cols;

			if (i > 0)
				fputs("  ", f);
			if (t->right & (1u << i))
				fprintf(f, "%*s", (int)width[i], cell);
			else if (last) /* no trailing blanks */
				fputs(cell, f);
			else
				fprintf(f, "%-*s", (int)width[i], cell);
		}
		fputc('\n', f);
	}
}

void cli_table_clear(struct cli_table *t)
{
	for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}
