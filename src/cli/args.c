/* SPDX-License-Identifier: MIT */
/* Command-line options shared by the commands that load a model file. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"


/* Prints "pcsim: PROBLEM 'WHAT'" and the usage; returns -1. */
static int args_usage_error(const char *usage, const char *problem, const char *what)
{
	fprintf(stderr, "pcsim: %s '%s'\n%s", problem, what, usage);
	return -1;
}


static int args_add_override(cli_model_args *args, const char *usage, const char *value)
{
	if (args->n_overrides >= PCS_MAX_OVERRIDES - 2)
		return args_usage_error(usage, "too many --set options (at most 62); the first "
					"one over the limit is", value);
	args->overrides[args->n_overrides++] = value;
	return 0;
}


int pcs_cli_parse_model_args(int argc, char **argv, const char *usage, bool allow_run_options,
			     cli_model_args *args)
{
	memset(args, 0, sizeof *args);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *value = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(usage, stdout);
			return 1;
		}
		if (strcmp(a, "--set") == 0) {
			if (value == NULL)
				return args_usage_error(usage, "missing SECTION.KEY=VALUE after", a);
			if (args_add_override(args, usage, value) != 0)
				return -1;
			i++;
		} else if (strncmp(a, "--set=", 6) == 0) {
			if (args_add_override(args, usage, a + 6) != 0)
				return -1;
		} else if (allow_run_options && strcmp(a, "--seed") == 0) {
			if (value == NULL)
				return args_usage_error(usage, "missing a non-negative integer after", a);
			if (value[strspn(value, "0123456789")] != '\0' || value[0] == '\0'
			    || strlen(value) > 20)
				return args_usage_error(usage, "invalid --seed: expected a non-negative "
							"integer below 2^64, got", value);
			snprintf(args->seed_override, sizeof args->seed_override, "model.seed=%s", value);
			i++;
		} else if (allow_run_options && strcmp(a, "--db") == 0) {
			if (value == NULL || value[0] == '\0')
				return args_usage_error(usage, "missing a file path after", a);
			snprintf(args->db_override, sizeof args->db_override, "trace.db=%s", value);
			i++;
		} else if (allow_run_options && (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0)) {
			args->quiet = true;
		} else if (a[0] == '-' && a[1] != '\0') {
			return args_usage_error(usage, "unknown option", a);
		} else if (args->model_path == NULL) {
			args->model_path = a;
		} else {
			return args_usage_error(usage, "unexpected argument", a);
		}
	}
	if (args->model_path == NULL)
		return args_usage_error(usage, "missing the MODEL file argument; see", "--help");

	/* --seed and --db are applied after every --set, so they win. */
	if (args->seed_override[0] != '\0')
		args->overrides[args->n_overrides++] = args->seed_override;
	if (args->db_override[0] != '\0')
		args->overrides[args->n_overrides++] = args->db_override;
	return 0;
}
