/* SPDX-License-Identifier: MIT */
/*
 * Tests of the pcsim command line: exit codes and the messages on stderr
 * for each kind of failure (usage, model file, data file, trace database,
 * divergence, interruption), and the counts `pcsim check` prints.
 *
 * Every test runs the binary named by $PCSIM in a child process whose
 * working directory is a fresh temporary directory, so no run writes into
 * the build tree. Expected counts and paths come from the test itself.
 */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pcsim/common.h"
#include "pcsim/model.h"

#define CLI_OUTPUT_MAX 65536

/* A temporary working directory and the captured output of one child. */
struct cli_dir {
	char dir[64];
	char out_path[96];
	char err_path[96];
};

/* Exit status of a finished child and what it printed. */
struct cli_result {
	int exit_code;          /* -1 when the child did not exit normally */
	char out[CLI_OUTPUT_MAX];
	char err[CLI_OUTPUT_MAX];
};


static void cli_dir_make(struct cli_dir *cd)
{
	snprintf(cd->dir, sizeof cd->dir, "/tmp/pcs-cli-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(cd->dir));
	snprintf(cd->out_path, sizeof cd->out_path, "%s/stdout.txt", cd->dir);
	snprintf(cd->err_path, sizeof cd->err_path, "%s/stderr.txt", cd->dir);
}


/* Removes the files the tests create in the directory, then the directory. */
static void cli_dir_remove(const struct cli_dir *cd)
{
	static const char *const names[] = {
		"stdout.txt", "stderr.txt", "model.ini", "t.db", "t.db-wal", "t.db-shm",
		"t.db-journal", "images.idx", "labels.idx", "test-images.idx", "test-labels.idx",
		"plain-file",
	};
	char path[160];

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", cd->dir, names[i]);
		unlink(path);
	}
	ck_assert_msg(rmdir(cd->dir) == 0, "%s still holds files the test did not expect",
		      cd->dir);
}


static const char *cli_pcsim(void)
{
	const char *pcsim = getenv("PCSIM");

	ck_assert_msg(pcsim != NULL, "PCSIM is not set; run the tests through meson");
	return pcsim;
}


/* Writes the path of models/NAME in the source tree into path. */
static void cli_model_path(char *path, size_t size, const char *name)
{
	const char *root = getenv("PCS_SOURCE_ROOT");

	ck_assert_msg(root != NULL, "PCS_SOURCE_ROOT is not set; run the tests through meson");
	snprintf(path, size, "%s/models/%s", root, name);
}


/* Starts `pcsim ARGS...` (args ends with NULL) in the directory. */
static pid_t cli_start(const struct cli_dir *cd, const char *const *args)
{
	char *argv[64];
	int argc = 0;
	pid_t pid;

	argv[argc++] = (char *)cli_pcsim();
	for (int i = 0; args[i] != NULL; i++) {
		ck_assert_int_lt(argc, 63);
		argv[argc++] = (char *)args[i];
	}
	argv[argc] = NULL;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int out = open(cd->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int err = open(cd->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (out < 0 || err < 0 || chdir(cd->dir) != 0 || dup2(out, STDOUT_FILENO) < 0
		    || dup2(err, STDERR_FILENO) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}


static void cli_read_file(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f != NULL) {
		n = fread(buf, 1, size - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
}


/* Waits for the child and fills res with its exit code and output. */
static void cli_wait(const struct cli_dir *cd, pid_t pid, struct cli_result *res)
{
	int status = 0;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	res->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	cli_read_file(cd->out_path, res->out, sizeof res->out);
	cli_read_file(cd->err_path, res->err, sizeof res->err);
}


static void cli_run(const struct cli_dir *cd, const char *const *args, struct cli_result *res)
{
	cli_wait(cd, cli_start(cd, args), res);
}


static void cli_assert_exit(const struct cli_result *res, int expected)
{
	ck_assert_msg(res->exit_code == expected, "exit code %d, expected %d; stderr: %s",
		      res->exit_code, expected, res->err);
}


static void cli_assert_contains(const char *text, const char *needle, const char *stream)
{
	ck_assert_msg(strstr(text, needle) != NULL, "%s does not contain \"%s\": %s", stream,
		      needle, text);
}


static void cli_write_file(const char *path, const void *data, size_t size)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, size, f), size);
	ck_assert_int_eq(fclose(f), 0);
}


/* Reads runs.status of the only run in the database at path. */
static void cli_run_status(const char *path, char *status, size_t size)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;

	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT status, COUNT(*) OVER () FROM runs", -1,
					    &stmt, NULL),
			 SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int(stmt, 1), 1);
	snprintf(status, size, "%s", (const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	sqlite3_close(db);
}


/* Returns the number of samples rows, or -1 while the database or the
 * table cannot be read yet. */
static int64_t cli_sample_rows(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	int64_t rows = -1;

	if (access(path, F_OK) != 0)
		return -1;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK
	    && sqlite3_busy_timeout(db, 1000) == SQLITE_OK
	    && sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM samples", -1, &stmt, NULL) == SQLITE_OK
	    && sqlite3_step(stmt) == SQLITE_ROW)
		rows = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return rows;
}


static double cli_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}


static void cli_sleep(double seconds)
{
	struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};

	nanosleep(&ts, NULL);
}


START_TEST(cli_version_printed)
{
	static const char *const args[] = {"--version", NULL};
	struct cli_dir cd;
	struct cli_result *res = calloc(1, sizeof *res);

	cli_dir_make(&cd);
	cli_run(&cd, args, res);
	cli_assert_exit(res, 0);
	cli_assert_contains(res->out, "pcsim " PCS_VERSION, "stdout");
	free(res);
	cli_dir_remove(&cd);
}
END_TEST


START_TEST(cli_help_exit_zero)
{
	static const char *const args[] = {"--help", NULL};
	struct cli_dir cd;
	struct cli_result *res = calloc(1, sizeof *res);

	cli_dir_make(&cd);
	cli_run(&cd, args, res);
	cli_assert_exit(res, 0);
	cli_assert_contains(res->out, "usage: pcsim", "stdout");
	cli_assert_contains(res->out, "run MODEL", "stdout");
	free(res);
	cli_dir_remove(&cd);
}
END_TEST


START_TEST(cli_unknown_command)
{
	static const char *const args[] = {"frobnicate", NULL};
	struct cli_dir cd;
	struct cli_result *res = calloc(1, sizeof *res);

	cli_dir_make(&cd);
	cli_run(&cd, args, res);
	cli_assert_exit(res, 2);
	cli_assert_contains(res->err, "frobnicate", "stderr");
	free(res);
	cli_dir_remove(&cd);
}
END_TEST


START_TEST(cli_run_without_model)
{
	static const char *const args[] = {"run", NULL};
	struct cli_dir cd;
	struct cli_result *res = calloc(1, sizeof *res);

	cli_dir_make(&cd);
	cli_run(&cd, args, res);
	cli_assert_exit(res, 2);
	cli_assert_contains(res->err, "MODEL", "stderr");
	free(res);
	cli_dir_remove(&cd);
}
END_TEST


/* The unknown key "colour" is on line 6 of the file. */
START_TEST(cli_model_unknown_key)
{
	static const char text[] =
		"[model]\n"
		"name = bad\n"
		"[data]\n"
		"source = xor\n"
		"[layer input]\n"
		"colour = 3\n"
		"size = 2\n"
		"clamp = input\n"
		"[layer y]\nsize = 1\n"
		"[edge input -> y]\n";
	struct cli_dir cd;
	struct cli_result *res = calloc(1, sizeof *res);
	char model[128], where[160], db[128];
	const char *args[] = {"run", model, "--db", "t.db", NULL};

	cli_dir_make(&cd);
	snprintf(model, sizeof model, "%s/model.ini", cd.dir);
	cli_write_file(model, text, strlen(text));
	cli_run(&cd, args, res);
	cli_assert_exit(res, 2);
	snprintf(where, sizeof where, "%s:6", model);
	cli_assert_contains(res->err, where, "stderr");
	cli_assert_contains(res->err, "colour", "stderr");
	snprintf(db, sizeof db, "%s/t.db", cd.dir);
	ck_assert_msg(access(db, F_OK) != 0, "an invalid model created the database %s", db);
	free(res);
	cli_dir_remove(&cd);
}
END_TEST


/* Writes an IDX model of 2 x 2 images and 2 classes into dir/model.ini. */
static void cli_write_idx_model(const struct cli_dir *cd, char *model, size_t size)
{
	char text[2048];
	int n;

	snprintf(model, size, "%s/model.ini", cd->dir);
	n = snprintf(text, sizeof text,
		     "[model]\nname = idx\n"
		     "[data]\nsource = idx\n"
		     "train_images = %s/images.idx\ntrain_labels = %s/labels.idx\n"
		     "test_images = %s/test-images.idx\ntest_labels = %s/test-labels.idx\n"
		     "[layer image]\nsize = 4\nclamp = input\n"
		     "[layer label]\nsize = 2\nclamp = target\n"
		     "[edge image -> label]\n"
		     "[protocol]\nepochs = 1\n",
		     cd->dir, cd->dir, cd->dir, cd->dir);
	ck_assert_int_lt(n, (int)sizeof text);
	cli_write_file(model, text, (size_t)n);
}


START_TEST(cli_data_file_missing)
{
	struct cli_dir cd;
	struct cli_result *res = calloc(1, sizeof *res);
	char model[128], images[160];
	const char *args[] = {"run", model, "--db", "t.db", NULL};

	cli_dir_make(&cd);
	cli_write_idx_model(&cd, model, sizeof model);
	snprintf(images, sizeof images, "%s/images.idx", cd.dir);
	cli_run(&cd, args, res);
	cli_assert_exit(res, 3);
	cli_assert_contains(res->err, images, "stderr");
	free(res);
	cli_dir_remove(&cd);
}
END_TEST


/*
 * Two 2 x 2 images whose header carries the magic 0x00000802 (a signed
 * byte type) in place of 0x00000803. Every other file is valid.
 */
START_TEST(cli_data_file_corrupt)
{
	static const unsigned char bad_images[] = {
		0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8,
	};
	static const unsigned char good_images[] = {
		0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8,
	};
	static const unsigned char labels[] = {0, 0, 8, 1, 0, 0, 0, 2, 0, 1};
	struct cli_dir cd;
	struct cli_result *res = calloc(1, sizeof *res);
	char model[128], path[160];
	const char *args[] = {"run", model, "--db", "t.db", NULL};

	cli_dir_make(&cd);
	cli_write_idx_model(&cd, model, sizeof model);
	snprintf(path, sizeof path, "%s/test-images.idx", cd.dir);
	cli_write_file(path, good_images, sizeof good_images);
	snprintf(path, sizeof path, "%s/labels.idx", cd.dir);
	cli_write_file(path, labels, sizeof labels);
	snprintf(path, sizeof path, "%s/test-labels.idx", cd.dir);
	cli_write_file(path, labels, sizeof labels);
	snprintf(path, sizeof path, "%s/images.idx", cd.dir);
	cli_write_file(path, bad_images, sizeof bad_images);

	cli_run(&cd, args, res);
	cli_assert_exit(res, 3);
	cli_assert_contains(res->err, path, "stderr");
	free(res);
	cli_dir_remove(&cd);
}
END_TEST


/* The database's parent directory is a regular file, which no user can
 * create entries in (root included). */
START_TEST(cli_database_unwritable)
{
	struct cli_dir cd;
	struct cli_result *res = calloc(1, sizeof *res);
	char model[PCS_PATH_MAX], plain[128], db[160];
	const char *args[] = {"run", model, "--db", db, "-q", NULL};

	cli_dir_make(&cd);
	cli_model_path(model, sizeof model, "xor.ini");
	snprintf(plain, sizeof plain, "%s/plain-file", cd.dir);
	cli_write_file(plain, "x", 1);
	snprintf(db, sizeof db, "%s/x.db", plain);
	cli_run(&cd, args, res);
	cli_assert_exit(res, 4);
	cli_assert_contains(res->err, db, "stderr");
	free(res);
	cli_dir_remove(&cd);
}
END_TEST


/*
 * Expected counts come from the layer sizes: every layer has its x
 * neurons, every predicted layer as many error neurons, each edge
 * |from| x |to| prediction synapses, and as many feedback synapses unless
 * it starts at the input layer (which is never free).
 */
START_TEST(cli_check_counts)
{
	struct cli_dir cd;
	struct cli_result *res = calloc(1, sizeof *res);
	char model_path[PCS_PATH_MAX], line[128];
	const char *args[] = {"check", model_path, NULL};
	pcs_model model;
	pcs_error err = {0};
	long x = 0, e = 0, w = 0, b = 0;

	cli_dir_make(&cd);
	cli_model_path(model_path, sizeof model_path, "xor.ini");
	ck_assert_msg(pcs_model_load(&model, model_path, NULL, 0, &err) == 0, "%s", err.msg);
	for (int l = 0; l < model.n_layers; l++) {
		bool predicted = false;

		for (int k = 0; k < model.n_edges; k++)
			predicted |= model.edges[k].to == l;
		x += model.layers[l].size;
		e += predicted ? model.layers[l].size : 0;
	}
	for (int k = 0; k < model.n_edges; k++) {
		const pcs_layer_spec *from = &model.layers[model.edges[k].from];
		long n = (long)from->size * model.layers[model.edges[k].to].size;

		w += n;
		b += from->clamp == PCS_CLAMP_INPUT ? 0 : n;
	}
	pcs_model_free(&model);
	/* The 2-8-2 network of xor.ini. */
	ck_assert_int_eq(x, 2 + 8 + 2);
	ck_assert_int_eq(e, 8 + 2);

	cli_run(&cd, args, res);
	cli_assert_exit(res, 0);
	snprintf(line, sizeof line, "neurons: %ld representational, %ld error", x, e);
	cli_assert_contains(res->out, line, "stdout");
	snprintf(line, sizeof line, "synapses: %ld prediction (W), %ld feedback (B)", w, b);
	cli_assert_contains(res->out, line, "stdout");
	free(res);
	cli_dir_remove(&cd);
}
END_TEST


/* Every |x| of the clamped input (1 for three of the four patterns)
 * exceeds a limit of 1e-3, so the first steps end the run. */
START_TEST(cli_run_diverged)
{
	struct cli_dir cd;
	struct cli_result *res = calloc(1, sizeof *res);
	char model[PCS_PATH_MAX], status[32], db[128];
	const char *args[] = {"run", model, "--db", "t.db", "-q",
			      "--set", "dynamics.divergence_limit=1e-3", NULL};

	cli_dir_make(&cd);
	cli_model_path(model, sizeof model, "xor.ini");
	cli_run(&cd, args, res);
	cli_assert_exit(res, 5);
	cli_assert_contains(res->err, "diverged", "stderr");
	cli_assert_contains(res->err, "dynamics.divergence_limit", "stderr");
	snprintf(db, sizeof db, "%s/t.db", cd.dir);
	cli_run_status(db, status, sizeof status);
	ck_assert_str_eq(status, "diverged");
	free(res);
	cli_dir_remove(&cd);
}
END_TEST


/*
 * 100000 epochs of XOR take minutes, so the run is still going when
 * SIGINT arrives: after at least 0.5 s and once committed samples rows
 * show that the run loop, and so its signal handler, is active.
 */
START_TEST(cli_run_interrupted)
{
	struct cli_dir cd;
	struct cli_result *res = calloc(1, sizeof *res);
	char model[PCS_PATH_MAX], status[32], db[128];
	const char *args[] = {"run", model, "--db", "t.db", "-q",
			      "--set", "protocol.epochs=100000", NULL};
	double start;
	pid_t pid;
	int64_t rows = -1;

	cli_dir_make(&cd);
	cli_model_path(model, sizeof model, "xor.ini");
	snprintf(db, sizeof db, "%s/t.db", cd.dir);
	start = cli_now();
	pid = cli_start(&cd, args);
	while (cli_now() - start < 60.0) {
		cli_sleep(0.1);
		rows = cli_sample_rows(db);
		if (rows > 0 && cli_now() - start >= 0.5)
			break;
	}
	ck_assert_int_eq(kill(pid, SIGINT), 0);
	cli_wait(&cd, pid, res);
	ck_assert_msg(rows > 0, "no samples rows appeared within 60 s");

	cli_assert_exit(res, 6);
	cli_assert_contains(res->err, "interrupted", "stderr");
	cli_run_status(db, status, sizeof status);
	ck_assert_str_eq(status, "interrupted");
	rows = cli_sample_rows(db);
	ck_assert_int_gt(rows, 0);
	ck_assert_int_lt(rows, 100000 * 4);
	free(res);
	cli_dir_remove(&cd);
}
END_TEST


START_TEST(cli_set_invalid_value)
{
	struct cli_dir cd;
	struct cli_result *res = calloc(1, sizeof *res);
	char model[PCS_PATH_MAX];
	const char *args[] = {"run", model, "--db", "t.db", "--set", "dynamics.dt=-1", NULL};

	cli_dir_make(&cd);
	cli_model_path(model, sizeof model, "xor.ini");
	cli_run(&cd, args, res);
	cli_assert_exit(res, 2);
	cli_assert_contains(res->err, "--set", "stderr");
	cli_assert_contains(res->err, "dynamics.dt=-1", "stderr");
	free(res);
	cli_dir_remove(&cd);
}
END_TEST


static Suite *cli_suite(void)
{
	Suite *suite = suite_create("cli");
	TCase *usage = tcase_create("usage");
	TCase *failures = tcase_create("failures");
	TCase *runs = tcase_create("runs");

	tcase_add_test(usage, cli_version_printed);
	tcase_add_test(usage, cli_help_exit_zero);
	tcase_add_test(usage, cli_unknown_command);
	tcase_add_test(usage, cli_run_without_model);
	tcase_add_test(usage, cli_set_invalid_value);
	tcase_add_test(usage, cli_check_counts);
	suite_add_tcase(suite, usage);

	tcase_add_test(failures, cli_model_unknown_key);
	tcase_add_test(failures, cli_data_file_missing);
	tcase_add_test(failures, cli_data_file_corrupt);
	tcase_add_test(failures, cli_database_unwritable);
	suite_add_tcase(suite, failures);

	tcase_add_test(runs, cli_run_diverged);
	tcase_add_test(runs, cli_run_interrupted);
	suite_add_tcase(suite, runs);
	return suite;
}


int main(void)
{
	SRunner *runner = srunner_create(cli_suite());
	int failures;

	srunner_run_all(runner, CK_NORMAL);
	failures = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
