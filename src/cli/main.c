/* SPDX-License-Identifier: MIT */
/* pcsim entry point: command dispatch, global help and exit-code mapping. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char main_usage[] =
	"usage: pcsim COMMAND [OPTIONS]\n"
	"\n"
	"Simulates predictive coding networks neuron by neuron: every representational\n"
	"and error neuron is an actor on a libuv event loop, and the run is traced to\n"
	"a SQLite database.\n"
	"\n"
	"Commands:\n"
	"  run MODEL      train and test a model file, writing traces to SQLite\n"
	"  check MODEL    validate a model file and print its size and memory estimate\n"
	"  bench          time models/fashion.ini (or a given model) without traces\n"
	"  generate MODEL relax a trained model with its label clamped; PNG and table\n"
	"  sweep MODEL    run a model over a grid of key values and seeds, in parallel,\n"
	"                 into one trace database\n"
	"\n"
	"Options:\n"
	"  --help         print this help; `pcsim COMMAND --help` for a command\n"
	"  --version      print the version\n"
	"\n"
	"Exit codes:\n"
	"  0 success, 1 run failed (internal or out of memory), 2 usage or model\n"
	"  file error, 3 data error, 4 trace database error, 5 diverged,\n"
	"  6 interrupted (SIGINT or SIGTERM; traces so far are kept).\n";


int pcs_cli_exit_code(int pcs_code)
{
	switch (pcs_code) {
	case 0:
		return PCS_EXIT_OK;
	case PCS_EUSAGE:
	case PCS_EMODEL:
	case PCS_EINVAL:
		return PCS_EXIT_USAGE;
	case PCS_EDATA:
		return PCS_EXIT_DATA;
	case PCS_ETRACE:
		return PCS_EXIT_TRACE;
	case PCS_EDIVERGED:
		return PCS_EXIT_DIVERGED;
	case PCS_EINTR:
		return PCS_EXIT_INTERRUPTED;
	case PCS_EIO:
		return PCS_EXIT_USAGE;
	default:
		return PCS_EXIT_RUN_FAILED;
	}
}


void pcs_cli_report(const char *command, const pcs_error *err, int code)
{
	if (err != NULL && err->msg[0] != '\0')
		fprintf(stderr, "pcsim %s: %s\n", command, err->msg);
	else
		fprintf(stderr, "pcsim %s: %s\n", command, pcs_strerror(code));
}


int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(main_usage, stderr);
		return PCS_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0
	    || strcmp(argv[1], "help") == 0) {
		fputs(main_usage, stdout);
		return PCS_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("pcsim %s\n", PCS_VERSION);
		return PCS_EXIT_OK;
	}
	if (strcmp(argv[1], "run") == 0)
		return pcs_cmd_run(argc - 1, argv + 1);
	if (strcmp(argv[1], "check") == 0)
		return pcs_cmd_check(argc - 1, argv + 1);
	if (strcmp(argv[1], "bench") == 0)
		return pcs_cmd_bench(argc - 1, argv + 1);
	if (strcmp(argv[1], "generate") == 0)
		return pcs_cmd_generate(argc - 1, argv + 1);
	if (strcmp(argv[1], "sweep") == 0)
		return pcs_cmd_sweep(argc - 1, argv + 1);
	fprintf(stderr, "pcsim: unknown command '%s'; run `pcsim --help` for the list\n", argv[1]);
	return PCS_EXIT_USAGE;
}
