/* SPDX-License-Identifier: MIT */
/*
 * Runs every model file in models/ through the pcsim binary and checks the
 * trace database it leaves: the run finished, one samples row per
 * presentation, and rows in exactly the tables the model's [trace] section
 * enables.
 *
 * IDX models run on a subset (200 training and 100 test images, at most
 * one epoch), so the suite takes seconds. XOR and CSV models run in full.
 * The expected presentation counts come from the model keys and the data
 * files' own headers or lines, read here.
 */
#include <check.h>
#include <fcntl.h>
#include <math.h>
#include <glob.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "pcsim/data.h"
#include "pcsim/model.h"
#include "pcsim/network.h"

/* A temporary working directory for one run. */
struct models_dir {
	char dir[64];
	char db[96];
	char err_path[96];
};

/* What one model's run must leave in its database. */
struct models_expect {
	int64_t samples;
	int64_t layers, neurons, weights;
	bool activity, events, energy;
};


static void models_dir_make(struct models_dir *md)
{
	snprintf(md->dir, sizeof md->dir, "/tmp/pcs-models-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(md->dir));
	snprintf(md->db, sizeof md->db, "%s/t.db", md->dir);
	snprintf(md->err_path, sizeof md->err_path, "%s/stderr.txt", md->dir);
}


static void models_dir_remove(const struct models_dir *md)
{
	static const char *const names[] = {"t.db", "t.db-wal", "t.db-shm", "t.db-journal",
					    "stderr.txt"};
	char path[128];

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", md->dir, names[i]);
		unlink(path);
	}
	rmdir(md->dir);
}


/* Returns the sample count in the header of an IDX file (gzip or raw). */
static int64_t models_idx_count(const char *path)
{
	unsigned char header[8];
	gzFile gz = gzopen(path, "rb");
	int n;

	ck_assert_msg(gz != NULL, "cannot open %s", path);
	n = gzread(gz, header, sizeof header);
	gzclose(gz);
	ck_assert_msg(n == (int)sizeof header, "%s: short IDX header", path);
	return (int64_t)header[4] << 24 | (int64_t)header[5] << 16 | (int64_t)header[6] << 8
	       | (int64_t)header[7];
}


/* Returns the number of non-empty lines of a CSV file, less the header. */
static int64_t models_csv_count(const char *path, bool header)
{
	FILE *f = fopen(path, "r");
	char line[65536];
	int64_t rows = 0;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	while (fgets(line, sizeof line, f) != NULL)
		if (line[strspn(line, " \t\r\n")] != '\0')
			rows++;
	fclose(f);
	return header && rows > 0 ? rows - 1 : rows;
}


static int64_t models_cap(int64_t count, int64_t limit)
{
	return limit > 0 && limit < count ? limit : count;
}


/* Presentations of one training epoch and of the test pass. */
static void models_set_sizes(const pcs_model *m, int64_t *train, int64_t *test)
{
	const pcs_data_spec *d = &m->data;

	switch (d->source) {
	case PCS_DATA_XOR:
		*train = 4 * (int64_t)d->xor_repeat;
		*test = 4;
		break;
	case PCS_DATA_IDX:
		*train = models_cap(models_idx_count(d->train_images), d->train_count);
		*test = models_cap(models_idx_count(d->test_images), d->test_count);
		break;
	case PCS_DATA_CSV:
	default:
		*train = models_cap(models_csv_count(d->train_csv, d->csv_header), d->train_count);
		*test = models_cap(models_csv_count(d->test_csv, d->csv_header), d->test_count);
		break;
	}
}


/*
 * Whether the selection includes a neuron that sends messages (any) and
 * one that takes local steps during the run (a free layer, or the target
 * layer when a test pass unclamps it).
 */
static void models_inspect_selection(const pcs_model *m, bool *any, bool *stepping)
{
	bool *selected[PCS_MAX_LAYERS];
	pcs_error err = {0};

	*any = false;
	*stepping = false;
	for (int l = 0; l < m->n_layers; l++)
		ck_assert_ptr_nonnull(selected[l] = calloc((size_t)m->layers[l].size, 1));
	ck_assert_msg(pcs_model_select_neurons(m, m->trace.neurons, selected, &err) == 0, "%s",
		      err.msg);
	for (int l = 0; l < m->n_layers; l++) {
		pcs_clamp clamp = m->layers[l].clamp;
		bool steps = clamp == PCS_CLAMP_NONE || (clamp == PCS_CLAMP_TARGET && m->protocol.test);

		for (int i = 0; i < m->layers[l].size; i++) {
			*any |= selected[l][i];
			*stepping |= selected[l][i] && steps;
		}
		free(selected[l]);
	}
}


static void models_expect_rows(const pcs_model *m, struct models_expect *ex)
{
	int64_t train, test, synapses = 0;
	bool any, stepping;

	models_set_sizes(m, &train, &test);
	ex->samples = (int64_t)m->protocol.epochs * train + (m->protocol.test ? test : 0);
	ex->layers = m->n_layers;
	ex->neurons = 0;
	for (int l = 0; l < m->n_layers; l++) {
		bool predicted = false;

		for (int k = 0; k < m->n_edges; k++)
			predicted |= m->edges[k].to == l;
		ex->neurons += m->layers[l].size * (predicted ? 2 : 1);
	}
	for (int k = 0; k < m->n_edges; k++)
		synapses += (int64_t)m->layers[m->edges[k].from].size * m->layers[m->edges[k].to].size;
	/* Each error neuron's bias is one more row (pre = -1). */
	for (int l = 0; l < m->n_layers; l++) {
		bool predicted = false;

		for (int k = 0; k < m->n_edges; k++)
			predicted |= m->edges[k].to == l;
		synapses += predicted ? m->layers[l].size : 0;
	}
	/* One checkpoint at the start and one at the end of every epoch. */
	ex->weights = m->trace.weights == PCS_WEIGHTS_EPOCH ? (m->protocol.epochs + 1) * synapses : 0;

	models_inspect_selection(m, &any, &stepping);
	ex->activity = m->trace.activity_every > 0 && stepping;
	ex->events = m->trace.events && any;
	ex->energy = m->trace.energy;
}


/* Runs `pcsim run PATH --db t.db -q` plus overrides in md's directory. */
static int models_run_pcsim(const struct models_dir *md, const char *path,
			    const char *const *overrides, int n_overrides, char *message,
			    size_t size)
{
	const char *pcsim = getenv("PCSIM");
	char *argv[32];
	int argc = 0, status = 0;
	pid_t pid;
	FILE *f;

	ck_assert_msg(pcsim != NULL, "PCSIM is not set; run the tests through meson");
	argv[argc++] = (char *)pcsim;
	argv[argc++] = "run";
	argv[argc++] = (char *)path;
	argv[argc++] = "--db";
	argv[argc++] = "t.db";
	argv[argc++] = "-q";
	for (int i = 0; i < n_overrides; i++) {
		argv[argc++] = "--set";
		argv[argc++] = (char *)overrides[i];
	}
	argv[argc] = NULL;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int out = open("/dev/null", O_WRONLY);
		int err = open(md->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (out < 0 || err < 0 || chdir(md->dir) != 0 || dup2(out, STDOUT_FILENO) < 0
		    || dup2(err, STDERR_FILENO) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);

	message[0] = '\0';
	if ((f = fopen(md->err_path, "r")) != NULL) {
		message[fread(message, 1, size - 1, f)] = '\0';
		fclose(f);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}


static int64_t models_count(sqlite3 *db, const char *table)
{
	sqlite3_stmt *stmt = NULL;
	char sql[128];
	int64_t n;

	snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", table);
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
	n = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return n;
}


static void models_assert_table(sqlite3 *db, const char *model, const char *table,
				bool enabled)
{
	int64_t rows = models_count(db, table);

	if (enabled)
		ck_assert_msg(rows > 0, "%s: the model enables table %s but it is empty", model,
			      table);
	else
		ck_assert_msg(rows == 0, "%s: the model disables table %s but it has %lld rows",
			      model, table, (long long)rows);
}


static void models_check_db(const struct models_dir *md, const char *model,
			    const struct models_expect *ex)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;

	ck_assert_int_eq(sqlite3_open_v2(md->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT status FROM runs", -1, &stmt, NULL),
			 SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
	ck_assert_msg(strcmp((const char *)sqlite3_column_text(stmt, 0), "finished") == 0,
		      "%s: run status %s", model, sqlite3_column_text(stmt, 0));
	ck_assert_int_eq(sqlite3_step(stmt), SQLITE_DONE);
	sqlite3_finalize(stmt);

	ck_assert_msg(models_count(db, "samples") == ex->samples, "%s: %lld samples rows, expected %lld",
		      model, (long long)models_count(db, "samples"), (long long)ex->samples);
	ck_assert_int_eq(models_count(db, "layers"), ex->layers);
	ck_assert_int_eq(models_count(db, "neurons"), ex->neurons);
	ck_assert_msg(models_count(db, "weights") == ex->weights, "%s: %lld weights rows, expected %lld",
		      model, (long long)models_count(db, "weights"), (long long)ex->weights);
	models_assert_table(db, model, "activity", ex->activity);
	models_assert_table(db, model, "events", ex->events);
	models_assert_table(db, model, "energy", ex->energy);
	sqlite3_close(db);
}


/* Loads the model at path with the overrides, failing the test on error. */
static void models_load(pcs_model *m, const char *path, const char *const *overrides, int n)
{
	pcs_error err = {0};

	ck_assert_msg(pcs_model_load(m, path, overrides, n, &err) == 0, "%s: %s", path, err.msg);
}


/* Runs one model file and checks its database. */
static void models_check_file(const char *path)
{
	static const char *const idx_overrides[] = {"data.train_count=200", "data.test_count=100",
						    "protocol.epochs=1"};
	pcs_model m;
	struct models_dir md;
	struct models_expect ex;
	const char *const *overrides = NULL;
	char message[4096];
	int n = 0, rc;

	models_load(&m, path, NULL, 0);
	if (m.data.source == PCS_DATA_IDX) {
		overrides = idx_overrides;
		n = m.protocol.epochs > 1 ? 3 : 2;
	}
	pcs_model_free(&m);

	/* Expectations from the model as it will run, overrides included. */
	models_load(&m, path, overrides, n);
	models_expect_rows(&m, &ex);
	pcs_model_free(&m);

	models_dir_make(&md);
	rc = models_run_pcsim(&md, path, overrides, n, message, sizeof message);
	ck_assert_msg(rc == 0, "%s: pcsim exited with %d: %s", path, rc, message);
	models_check_db(&md, path, &ex);
	models_dir_remove(&md);
}


/* Model files found in models/, globbed once when the suite is built. */
static glob_t models_found;


START_TEST(models_files_found)
{
	ck_assert_msg(getenv("PCS_SOURCE_ROOT") != NULL,
		      "PCS_SOURCE_ROOT is not set; run the tests through meson");
	ck_assert_msg(models_found.gl_pathc >= 4, "only %zu model files found in models/",
		      models_found.gl_pathc);
}
END_TEST


/* Loop test: iteration _i runs the _i-th model file. */
START_TEST(models_file_runs)
{
	models_check_file(models_found.gl_pathv[_i]);
}
END_TEST


/* Runs models/fashion.ini with the overrides through the library; returns its test accuracy. */
static double models_fashion_accuracy(const char *const *overrides, int n)
{
	char path[PCS_PATH_MAX];
	pcs_model m;
	pcs_dataset train, test;
	pcs_network *net;
	pcs_run_result result;
	pcs_error err = {0};
	double accuracy;

	snprintf(path, sizeof path, "%s/models/fashion.ini", getenv("PCS_SOURCE_ROOT"));
	ck_assert_msg(pcs_model_load(&m, path, overrides, n, &err) == 0, "%s", err.msg);
	if (access(m.data.train_images, R_OK) != 0) {
		pcs_model_free(&m);
		return -1.0;
	}
	ck_assert_msg(pcs_data_load(&m.data, &train, &test, &err) == 0, "%s", err.msg);
	ck_assert_msg(pcs_network_create(&net, &m, &train, &test, &err) == 0, "%s", err.msg);
	ck_assert_msg(pcs_network_run(net, NULL, "{}", NULL, &result, &err) == 0, "%s", err.msg);
	accuracy = result.test_accuracy;
	pcs_network_destroy(net);
	pcs_dataset_free(&train);
	pcs_dataset_free(&test);
	pcs_model_free(&m);
	return accuracy;
}


/*
 * Two worker threads, each with its own clock, reach a test accuracy within
 * 2 points of the deterministic scheduler on the quick-start model.
 */
START_TEST(models_fashion_async_close)
{
	static const char *const async[] = {"runtime.mode=async", "runtime.workers=2"};
	double deterministic = models_fashion_accuracy(NULL, 0);
	double two_workers;

	if (deterministic < 0) {
		fputs("models_fashion_async_close: Fashion-MNIST is not installed; skipped\n", stderr);
		return;
	}
	two_workers = models_fashion_accuracy(async, 2);
	ck_assert_double_gt(deterministic, 0.74);
	ck_assert_msg(fabs(two_workers - deterministic) <= 0.02,
		      "async with 2 workers: %.4f, deterministic: %.4f", two_workers, deterministic);
}
END_TEST


/*
 * The generative orientation (label -> hidden -> image) classifies by
 * relaxation: the image clamped, the label free from its start value. It
 * must reach at least 65% on the first 1000 test images after one epoch
 * on the first 2000 pooled training images.
 */
START_TEST(models_generative_classifies)
{
	char path[PCS_PATH_MAX];
	pcs_model m;
	pcs_dataset train, test;
	pcs_network *net;
	pcs_run_result result;
	pcs_error err = {0};

	snprintf(path, sizeof path, "%s/models/fashion-generative.ini", getenv("PCS_SOURCE_ROOT"));
	ck_assert_msg(pcs_model_load(&m, path, NULL, 0, &err) == 0, "%s", err.msg);
	if (access(m.data.train_images, R_OK) != 0) {
		fputs("models_generative_classifies: Fashion-MNIST is not installed; skipped\n", stderr);
		pcs_model_free(&m);
		return;
	}
	ck_assert_int_eq(m.data.test_count, 1000);
	ck_assert_msg(pcs_data_load(&m.data, &train, &test, &err) == 0, "%s", err.msg);
	ck_assert_msg(pcs_network_create(&net, &m, &train, &test, &err) == 0, "%s", err.msg);
	ck_assert_msg(pcs_network_run(net, NULL, "{}", NULL, &result, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(result.test_count, 1000);
	ck_assert_msg(result.test_accuracy >= 0.65, "test accuracy %.4f", result.test_accuracy);
	pcs_network_destroy(net);
	pcs_dataset_free(&train);
	pcs_dataset_free(&test);
	pcs_model_free(&m);
}
END_TEST


/* Runs models/fashion-latent.ini with the overrides; returns its mean test energy. */
static double models_latent_test_energy(const char *const *overrides, int n)
{
	char path[PCS_PATH_MAX];
	pcs_model m;
	pcs_dataset train, test;
	pcs_network *net;
	pcs_run_result result;
	pcs_error err = {0};

	snprintf(path, sizeof path, "%s/models/fashion-latent.ini", getenv("PCS_SOURCE_ROOT"));
	ck_assert_msg(pcs_model_load(&m, path, overrides, n, &err) == 0, "%s", err.msg);
	if (access(m.data.train_images, R_OK) != 0) {
		pcs_model_free(&m);
		return -1.0;
	}
	ck_assert_msg(pcs_data_load(&m.data, &train, &test, &err) == 0, "%s", err.msg);
	ck_assert_msg(pcs_network_create(&net, &m, &train, &test, &err) == 0, "%s", err.msg);
	ck_assert_msg(pcs_network_run(net, NULL, "{}", NULL, &result, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(result.test_count, 200);
	pcs_network_destroy(net);
	pcs_dataset_free(&train);
	pcs_dataset_free(&test);
	pcs_model_free(&m);
	return result.test_energy;
}


/*
 * The latent model learns without labels: after one epoch its reconstruction
 * error on test images (the image layer's energy after relaxation) is less
 * than a fifth of the error of the same network before training.
 */
START_TEST(models_latent_reconstructs)
{
	static const char *const trained[] = {"data.train_count=500", "data.test_count=200"};
	static const char *const untrained[] = {"data.train_count=500", "data.test_count=200",
						"protocol.epochs=0"};
	double before = models_latent_test_energy(untrained, 3);
	double after;

	if (before < 0) {
		fputs("models_latent_reconstructs: Fashion-MNIST is not installed; skipped\n", stderr);
		return;
	}
	after = models_latent_test_energy(trained, 2);
	ck_assert_double_gt(before, 0.0);
	ck_assert_msg(after < 0.2 * before, "reconstruction error %.4f after training, %.4f before",
		      after, before);
}
END_TEST


static Suite *models_suite(void)
{
	const char *root = getenv("PCS_SOURCE_ROOT");
	char pattern[PCS_PATH_MAX];
	Suite *suite = suite_create("models");
	TCase *all = tcase_create("all");

	models_found.gl_pathc = 0;
	if (root != NULL) {
		snprintf(pattern, sizeof pattern, "%s/models/*.ini", root);
		if (glob(pattern, 0, NULL, &models_found) != 0)
			models_found.gl_pathc = 0;
	}
	tcase_add_test(all, models_files_found);
	tcase_add_loop_test(all, models_file_runs, 0, (int)models_found.gl_pathc);
	tcase_add_test(all, models_fashion_async_close);
	tcase_add_test(all, models_generative_classifies);
	tcase_add_test(all, models_latent_reconstructs);
	suite_add_tcase(suite, all);
	return suite;
}


int main(void)
{
	SRunner *runner = srunner_create(models_suite());
	int failures;

	srunner_run_all(runner, CK_NORMAL);
	failures = srunner_ntests_failed(runner);
	srunner_free(runner);
	globfree(&models_found);
	return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
