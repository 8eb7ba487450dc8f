/*
 * main.c: the meshname command line: global options and the table of subcommands
 * (like wg(8)); bare `meshname` means `status`. Each command lives in its own function
 * in its own file; this file only dispatches and never touches the registry itself.
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/cli.h"

static const struct cli_command commands[] = {
	{ "status", cmd_status, "Show this host, the mesh and alerts (the default)",
	  cli_help_status },
	{ "init", cmd_init, "Create a new mesh with this host as its first admin", cli_help_init },
	{ "add", cmd_add, "Admit a host: print an invite, or sign a join request", cli_help_add },
	{ "join", cmd_join, "Join a mesh with an invite, or make a join request", cli_help_join },
	{ "ls", cmd_ls, "List the active hosts of the mesh", cli_help_ls },
	{ "show", cmd_show, "Show everything about one host", cli_help_show },
	{ "revoke", cmd_revoke, "Revoke a host, for good", cli_help_revoke },
	{ "renew", cmd_renew, "Renew a host's certificate", cli_help_renew },
	{ "record", cmd_record, "Add, remove or list custom DNS records", cli_help_record },
	{ "endpoint", cmd_endpoint, "Add, remove or list this host's WireGuard endpoints",
	  cli_help_endpoint },
	{ "hosts", cmd_hosts, "Print hosts(5) lines for every active host", cli_help_hosts },
	{ "export-zone", cmd_export_zone, "Print the mesh as an RFC 1035 zone file",
	  cli_help_export_zone },
	{ "export", cmd_export, "Write every record to a bundle file", cli_help_export },
	{ "import", cmd_import, "Verify and store the records of a bundle", cli_help_import },
	{ "reload", cmd_reload, "Make the running meshnamed read its configuration again",
	  cli_help_reload },
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: meshname [--state DIR] [--control PATH] [COMMAND] [ARGS...]\n"
		"       meshname --help | --version\n"
		"\n"
		"Names for the hosts of a WireGuard mesh, from a signed registry that every host\n"
		"keeps. Without a command, meshname shows the status.\n"
		"\n"
		"Options:\n"
		"  --state DIR     state directory (default $MESHNAME_STATE, else " CLI_DEFAULT_STATE
		")\n"
		"  --control PATH  meshnamed's control socket, asked by status and ls\n"
		"                  (default $MESHNAME_CONTROL, else " CLI_DEFAULT_CONTROL ")\n"
		"  -h, --help      this text; `meshname COMMAND --help` explains one command\n"
		"  --version       print the version\n"
		"\n"
		"Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-12s  %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n"
		   "Exit status: 0 success, 1 the command failed (or, for status, this host's\n"
		   "certificate expired or was revoked), 2 the command line is wrong.\n");
}

/* MESHNAME_NOW=unixtime fakes the clock; it exists for the test suite only. */
static int read_clock(uint64_t *now)
{
	const char *s = getenv("MESHNAME_NOW");
	time_t t;

	if (s != NULL && *s != '\0') {
		if (cli_parse_u64(s, 1, UINT32_MAX * (uint64_t)16, now) < 0) {
			warnx("MESHNAME_NOW must be a unix time in seconds");
			return -EINVAL;
		}
		return 0;
	}
	t = time(NULL);
	if (t < 0) {
		warn("time");
		return -EINVAL;
	}
	*now = (uint64_t)t;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state", required_argument, NULL, 's' },
		{ "control", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static char status_name[] = "status";
	static char *status_argv[] = { status_name, NULL };
	struct cli c;
	const struct cli_command *cmd = NULL;
	const char *state;
	int ch;

	memset(&c, 0, sizeof(c));
	state = getenv("MESHNAME_STATE");
	c.state = state != NULL && *state != '\0' ? state : CLI_DEFAULT_STATE;
	state = getenv("MESHNAME_CONTROL");
	c.control = state != NULL && *state != '\0' ? state : CLI_DEFAULT_CONTROL;
	/* Errors are ours to print, once, as one sentence. */
	opterr = 0;
	/* "+": stop at the command name, its options are its own. */
	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			if (*optarg == '\0')
				return cli_usage(NULL, "--state needs a directory");
			c.state = optarg;
			break;
		case 'c':
			if (*optarg == '\0')
				return cli_usage(NULL, "--control needs a socket path");
			c.control = optarg;
			break;
		case 'h':
			usage(stdout);
			return CLI_OK;
		case 'V':
			printf("meshname %s\n", MESHNAME_VERSION);
			return CLI_OK;
		default:
			return cli_bad_option(NULL, argv);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		argc = 1;
		argv = status_argv;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[0], commands[i].name) == 0)
			cmd = &commands[i];
	if (cmd == NULL)
		return cli_usage(NULL, "unknown command '%s'", argv[0]);
	if (cli_wants_help(argc, argv)) {
		fputs(cmd->help, stdout);
		return CLI_OK;
	}
	if (sodium_init() < 0)
		errx(CLI_FAIL, "cannot initialise libsodium");
	if (read_clock(&c.now) < 0)
		return CLI_USAGE;
	c.color = isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL;
	/* Each command parses its own options from a fresh getopt state. */
	optind = 0;
	return cmd->run(&c, argc, argv);
}
