/* SPDX-License-Identifier: MIT */
/*
 * `pcsim run` and `pcsim bench`: load a model and its data, run it, print
 * the summary. Progress goes to stderr when it is a terminal; results go
 * to stdout.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "pcsim/data.h"
#include "pcsim/network.h"

static const char run_usage[] =
	"usage: pcsim run MODEL [--db FILE] [--seed N] [--set SECTION.KEY=VALUE]... [--quiet]\n"
	"\n"
	"Trains and tests the model in MODEL (an INI file, see docs/model-files.md)\n"
	"and writes its traces to a SQLite database (see docs/traces.md).\n"
	"\n"
	"  --db FILE        trace database (default: trace.db of the model file,\n"
	"                   itself pcsim-traces.db by default); runs are appended\n"
	"  --seed N         run seed: weights, shuffling (overrides model.seed)\n"
	"  --set K=V        override any model key, e.g. --set dynamics.dt=0.05 or\n"
	"                   --set 'layer hidden.size=32'; repeatable, applied in order\n"
	"  --quiet, -q      no progress bar and no summary; only errors\n"
	"\n"
	"Prints accuracy per epoch, final energy, wall time and throughput on stdout.\n"
	"Exit codes: 0 finished, 1 run failed, 2 usage or model error, 3 data error,\n"
	"4 trace database error, 5 diverged, 6 interrupted.\n";

static const char bench_usage[] =
	"usage: pcsim bench [MODEL] [--set SECTION.KEY=VALUE]... [--json]\n"
	"\n"
	"Runs MODEL (default models/fashion.ini, relative to the current directory)\n"
	"without a trace database and prints the simulation wall time, neuron steps\n"
	"per second, synaptic events per second and dense-equivalent multiply-adds\n"
	"per second. Data loading is timed separately and not included.\n"
	"\n"
	"  --json           print one JSON object instead of text\n";


/* Set by SIGINT or SIGTERM while data loads, before the run's watchers exist. */
static volatile sig_atomic_t run_early_signal;


static void run_early_signal_cb(int signum)
{
	run_early_signal = signum;
}


static void run_catch_early_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = run_early_signal_cb;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}


static void run_progress_cb(const pcs_progress *p, void *data)
{
	double rate = p->elapsed > 0 ? (double)p->samples_done / p->elapsed : 0.0;
	double left = rate > 0 ? (double)(p->samples_total - p->samples_done) / rate : 0.0;
	int width = 30;
	int filled = p->samples_total > 0 ? (int)(width * p->samples_done / p->samples_total) : 0;
	char bar[64];

	(void)data;
	for (int i = 0; i < width; i++)
		bar[i] = i < filled ? '#' : '.';
	bar[width] = '\0';
	fprintf(stderr, "\r[%s] %lld/%lld samples  epoch %d %-5s  %.0f samples/s  %.0f s left ",
		bar, (long long)p->samples_done, (long long)p->samples_total, p->epoch,
		p->phase == PCS_PHASE_TRAIN ? "train" : "test", rate, left);
	fflush(stderr);
}


/* Dense-equivalent multiply-adds: every synapse once per step for its
 * prediction or feedback sum, and once more per step for its update while
 * learning. */
static double run_dense_macs(const pcs_model *m, const pcs_run_result *r)
{
	pcs_model_counts c;
	double steps = m->dynamics.presentation / m->dynamics.dt;
	double syn, train_samples = (double)(r->samples - r->test_count);

	pcs_model_count(m, &c);
	syn = (double)(c.synapses_w + c.synapses_b);
	return steps * (train_samples * 2.0 * syn + (double)r->test_count * syn);
}


/* Training accuracy is NAN when the target layer makes no prediction (a
 * generative or latent model). */
static void run_print_epoch(int epoch, double accuracy, double energy)
{
	if (isnan(accuracy))
		printf("epoch %-7d train accuracy n/a  mean energy %.6g\n", epoch, energy);
	else
		printf("epoch %-7d train accuracy %.4f  mean energy %.6g\n", epoch, accuracy, energy);
}


static bool run_has_target(const pcs_model *m)
{
	for (int l = 0; l < m->n_layers; l++)
		if (m->layers[l].clamp == PCS_CLAMP_TARGET)
			return true;
	return false;
}


static void run_print_summary(const pcs_model *m, const pcs_run_result *r, double load_s,
			      const char *db)
{
	double wall = r->wall_seconds > 0 ? r->wall_seconds : 1e-9;

	printf("model         %s (%s), seed %llu, %s mode, %s learning\n", m->name, m->path,
	       (unsigned long long)m->seed,
	       m->runtime.mode == PCS_MODE_LOCKSTEP ? "lockstep" : "deterministic",
	       m->protocol.learning == PCS_LEARNING_PHASED ? "phased" : "continuous");
	for (int e = 0; e < r->epochs_done && e < 64; e++)
		run_print_epoch(e + 1, r->train_accuracy[e], r->train_energy[e]);
	if (r->epochs_done > 65)
		printf("...           epochs 65 to %d: see the accuracy_per_epoch view\n",
		       r->epochs_done - 1);
	if (r->epochs_done > 64)
		run_print_epoch(r->epochs_done, r->last_train_accuracy, r->last_train_energy);
	if (r->test_accuracy >= 0 && run_has_target(m))
		printf("test          accuracy %.4f on %lld samples  mean energy %.6g\n",
		       r->test_accuracy, (long long)r->test_count, r->test_energy);
	else if (r->test_accuracy >= 0)
		printf("test          reconstruction error %.6g on %lld samples (mean energy F "
		       "after relaxation, no target layer)\n", r->test_energy,
		       (long long)r->test_count);
	for (int k = 0; k < m->n_edges; k++)
		if (!isnan(r->feedback_angle[k]))
			printf("feedback      edge %s -> %s (%s): %.2f degrees between B and W^T\n",
			       m->layers[m->edges[k].from].name, m->layers[m->edges[k].to].name,
			       m->edges[k].feedback == PCS_FEEDBACK_MIRRORED ? "mirrored"
			       : m->edges[k].feedback == PCS_FEEDBACK_LEARNED ? "learned" : "random",
			       r->feedback_angle[k]);
	printf("final energy  %.6g\n", r->test_accuracy >= 0 ? r->test_energy
			   : r->last_train_energy);
	printf("wall time     %.3f s simulation, %.3f s data loading\n", r->wall_seconds, load_s);
	printf("neuron steps  %llu (%.3g per second)\n", (unsigned long long)r->neuron_steps,
	       (double)r->neuron_steps / wall);
	printf("messages      %llu (%.3g per second), %llu synaptic transmissions lost\n",
	       (unsigned long long)r->messages, (double)r->messages / wall,
	       (unsigned long long)r->messages_lost);
	printf("synaptic events %llu (%.3g per second)\n", (unsigned long long)r->synaptic_events,
	       (double)r->synaptic_events / wall);
	printf("dense-equivalent multiply-adds %.3g (%.3g per second)\n", run_dense_macs(m, r),
	       run_dense_macs(m, r) / wall);
	if (db != NULL)
		printf("traces        %s (run %lld)\n", db, (long long)r->run_id);
}


static double run_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}


/* Loads model and data and runs; db_enabled = false for bench. */
static int run_model(const cli_model_args *args, bool db_enabled, bool json, const char *cmd)
{
	pcs_model model;
	pcs_dataset train = {0}, test = {0};
	pcs_network *net = NULL;
	pcs_trace *trace = NULL;
	pcs_run_result result;
	pcs_run_options options = {0};
	pcs_error err = {0};
	char params[4096];
	double t0, load_s;
	int rc, close_rc;

	rc = pcs_model_load(&model, args->model_path, args->overrides, args->n_overrides, &err);
	if (rc != 0) {
		pcs_cli_report(cmd, &err, rc);
		return pcs_cli_exit_code(rc);
	}
	run_catch_early_signals();
	t0 = run_now();
	rc = pcs_data_load(&model.data, &train, &test, &err);
	load_s = run_now() - t0;
	if (rc == 0 && db_enabled)
		rc = pcs_trace_open(&trace, model.trace.db, &err);
	if (rc == 0)
		rc = pcs_network_create(&net, &model, &train, &test, &err);
	if (rc == 0) {
		/* The handler installed before loading stays for the whole run, and
		 * the run polls its flag. A second signal therefore never meets a
		 * default action while the trace closes. */
		options.handle_signals = false;
		options.interrupted = (const volatile int *)&run_early_signal;
		options.progress_interval = 0.2;
		if (!args->quiet && !json && isatty(STDERR_FILENO))
			options.progress = run_progress_cb;
		pcs_cli_params_json(args->overrides, args->n_overrides, params, sizeof params);
		rc = pcs_network_run(net, trace, params, &options, &result, &err);
		if (options.progress != NULL)
			fputs("\n", stderr);
		if (json)
			printf("{\"model\": \"%s\", \"samples\": %lld, \"wall_seconds\": %.6f, "
			       "\"load_seconds\": %.6f, \"test_accuracy\": %.6f, \"neuron_steps\": %llu, "
			       "\"messages\": %llu, \"synaptic_events\": %llu, \"dense_macs\": %.6g}\n",
			       model.name, (long long)result.samples, result.wall_seconds, load_s,
			       result.test_accuracy, (unsigned long long)result.neuron_steps,
			       (unsigned long long)result.messages,
			       (unsigned long long)result.synaptic_events, run_dense_macs(&model, &result));
		else if (!args->quiet && (rc == 0 || result.samples > 0))
			run_print_summary(&model, &result, load_s, trace != NULL ? model.trace.db : NULL);
	}
	if (rc != 0)
		pcs_cli_report(cmd, &err, rc);

	if (trace != NULL) {
		pcs_error close_err = {0};

		close_rc = pcs_trace_close(trace, &close_err);
		if (close_rc != 0 && rc == 0) {
			pcs_cli_report(cmd, &close_err, close_rc);
			rc = close_rc;
		}
	}
	pcs_network_destroy(net);
	pcs_dataset_free(&train);
	pcs_dataset_free(&test);
	pcs_model_free(&model);
	return pcs_cli_exit_code(rc);
}


int pcs_cmd_run(int argc, char **argv)
{
	cli_model_args args;
	int rc = pcs_cli_parse_model_args(argc, argv, run_usage, true, &args);

	if (rc != 0)
		return rc > 0 ? PCS_EXIT_OK : PCS_EXIT_USAGE;
	return run_model(&args, true, false, "run");
}


int pcs_cmd_bench(int argc, char **argv)
{
	cli_model_args args;
	char *filtered[64];
	int n = 0, rc;
	bool json = false;

	for (int i = 0; i < argc && n < 62; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else
			filtered[n++] = argv[i];
	}
	filtered[n] = NULL;
	if (n == 1 || (n > 1 && filtered[1][0] == '-' && strcmp(filtered[1], "--help") != 0
		       && strcmp(filtered[1], "-h") != 0)) {
		/* No MODEL given: insert the default before the options. */
		memmove(filtered + 2, filtered + 1, (size_t)n * sizeof *filtered);
		filtered[1] = "models/fashion.ini";
		n++;
	}
	rc = pcs_cli_parse_model_args(n, filtered, bench_usage, false, &args);
	if (rc != 0)
		return rc > 0 ? PCS_EXIT_OK : PCS_EXIT_USAGE;
	return run_model(&args, false, json, "bench");
}
