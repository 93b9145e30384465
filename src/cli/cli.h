/* SPDX-License-Identifier: MIT */
/* The pcsim commands and their shared option handling. */
#ifndef PCS_CLI_H
#define PCS_CLI_H

#include "pcsim/common.h"
#include "pcsim/model.h"

/* Exit codes, documented in README.md and `pcsim --help`. */
enum {
	PCS_EXIT_OK = 0,
	PCS_EXIT_RUN_FAILED = 1,   /* runtime failure: out of memory, internal error */
	PCS_EXIT_USAGE = 2,        /* bad command line or model file */
	PCS_EXIT_DATA = 3,         /* missing, corrupt or mismatched data file */
	PCS_EXIT_TRACE = 4,        /* trace database cannot be opened or written */
	PCS_EXIT_DIVERGED = 5,     /* a value exceeded dynamics.divergence_limit */
	PCS_EXIT_INTERRUPTED = 6,  /* SIGINT or SIGTERM; traces written so far are kept */
};

/* Options shared by the commands that load a model. */
typedef struct cli_model_args {
	const char *model_path;
	const char *overrides[PCS_MAX_OVERRIDES];
	int n_overrides;
	char seed_override[64];
	char db_override[PCS_PATH_MAX + 16];
	bool quiet;
} cli_model_args;

int pcs_cli_exit_code(int pcs_code);
void pcs_cli_report(const char *command, const pcs_error *err, int code);

int pcs_cmd_run(int argc, char **argv);
int pcs_cmd_check(int argc, char **argv);
int pcs_cmd_bench(int argc, char **argv);
int pcs_cmd_generate(int argc, char **argv);
int pcs_cmd_sweep(int argc, char **argv);

/*
 * Writes the overrides ("section.key=value") as a JSON object of strings,
 * {"section.key": "value", ...}, into buf; the text is cut at size - 1 bytes.
 */
void pcs_cli_params_json(const char *const *overrides, int n_overrides, char *buf, size_t size);

/*
 * Parses MODEL, --set, --seed, --db and --quiet from argv[1..]. Returns
 * 0, 1 when --help was printed, or -1 after printing a usage error.
 */
int pcs_cli_parse_model_args(int argc, char **argv, const char *usage, bool allow_run_options,
			     cli_model_args *args);

#endif
