/* SPDX-License-Identifier: MIT */
/*
 * Tests of `pcsim sweep`. Each test runs the binary named by $PCSIM in a
 * child process whose working directory is a fresh temporary directory,
 * then reads the trace database with its own SQLite connection. Expected
 * counts come from the XOR model: 4 training samples per epoch
 * (data.xor_repeat = 1) and 4 test samples.
 */
#include <check.h>
#include <dirent.h>
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

#define SWEEP_OUTPUT_MAX 65536

/* A temporary working directory, its trace database and captured output. */
struct sweep_dir {
	char dir[64];
	char db[96];
	char out_path[96];
	char err_path[96];
};

/* Exit status of a finished child and what it printed. */
struct sweep_result {
	int exit_code;          /* -1 when the child did not exit normally */
	char out[SWEEP_OUTPUT_MAX];
	char err[SWEEP_OUTPUT_MAX];
};


static void sweep_dir_make(struct sweep_dir *sd)
{
	snprintf(sd->dir, sizeof sd->dir, "/tmp/pcs-sweep-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(sd->dir));
	snprintf(sd->db, sizeof sd->db, "%s/t.db", sd->dir);
	snprintf(sd->out_path, sizeof sd->out_path, "%s/stdout.txt", sd->dir);
	snprintf(sd->err_path, sizeof sd->err_path, "%s/stderr.txt", sd->dir);
}


/* Removes the files a sweep may leave, then the directory, which must be empty. */
static void sweep_dir_remove(const struct sweep_dir *sd)
{
	static const char *const names[] = {
		"stdout.txt", "stderr.txt", "t.db", "t.db-wal", "t.db-shm", "t.db-journal",
	};
	char path[160];

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", sd->dir, names[i]);
		unlink(path);
	}
	ck_assert_msg(rmdir(sd->dir) == 0, "%s still contains files the test did not expect",
		      sd->dir);
}


/* Counts the entries of the directory whose name contains ".sweep-". */
static int sweep_temp_count(const struct sweep_dir *sd)
{
	DIR *dir = opendir(sd->dir);
	struct dirent *entry;
	int count = 0;

	ck_assert_ptr_nonnull(dir);
	while ((entry = readdir(dir)) != NULL) {
		if (strstr(entry->d_name, ".sweep-") != NULL)
			count++;
	}
	closedir(dir);
	return count;
}


static void sweep_model_path(char *path, size_t size)
{
	const char *root = getenv("PCS_SOURCE_ROOT");

	ck_assert_msg(root != NULL, "PCS_SOURCE_ROOT is not set; run the tests through meson");
	snprintf(path, size, "%s/models/xor.ini", root);
}


/* Starts `pcsim ARGS...` (args ends with NULL) in the directory. */
static pid_t sweep_start(const struct sweep_dir *sd, const char *const *args)
{
	const char *pcsim = getenv("PCSIM");
	char *argv[64];
	int argc = 0;
	pid_t pid;

	ck_assert_msg(pcsim != NULL, "PCSIM is not set; run the tests through meson");
	argv[argc++] = (char *)pcsim;
	for (int i = 0; args[i] != NULL; i++) {
		ck_assert_int_lt(argc, 63);
		argv[argc++] = (char *)args[i];
	}
	argv[argc] = NULL;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int out = open(sd->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int err = open(sd->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (out < 0 || err < 0 || chdir(sd->dir) != 0 || dup2(out, STDOUT_FILENO) < 0
		    || dup2(err, STDERR_FILENO) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}


static void sweep_read_file(const char *path, char *buf, size_t size)
{
	FILE *file = fopen(path, "r");
	size_t n = 0;

	if (file != NULL) {
		n = fread(buf, 1, size - 1, file);
		fclose(file);
	}
	buf[n] = '\0';
}


/* Waits for the child and collects its exit code and output. */
static void sweep_wait(const struct sweep_dir *sd, pid_t pid, struct sweep_result *result)
{
	int status = 0;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	result->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	sweep_read_file(sd->out_path, result->out, sizeof result->out);
	sweep_read_file(sd->err_path, result->err, sizeof result->err);
}


static void sweep_run(const struct sweep_dir *sd, const char *const *args,
		      struct sweep_result *result)
{
	sweep_wait(sd, sweep_start(sd, args), result);
}


static struct sweep_result *sweep_result_new(void)
{
	struct sweep_result *result = calloc(1, sizeof *result);

	ck_assert_ptr_nonnull(result);
	return result;
}


static sqlite3 *sweep_db_open(const char *path)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);

	ck_assert_msg(rc == SQLITE_OK, "opening %s: %s", path, sqlite3_errmsg(db));
	return db;
}


static int64_t sweep_query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *stmt = NULL;
	int64_t value;

	ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK, "%s: %s", sql,
		      sqlite3_errmsg(db));
	ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
	value = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return value;
}


/* Counts the lines of text. */
static int sweep_line_count(const char *text)
{
	int lines = 0;

	for (const char *c = text; *c != '\0'; c++)
		lines += *c == '\n';
	return lines;
}


/* Checks the run of one grid point: present once, with its samples and seed. */
static void sweep_check_combination(sqlite3 *db, int epochs, int tau_x, int seed)
{
	char sql[512];

	snprintf(sql, sizeof sql,
		 "SELECT COUNT(*) FROM runs WHERE json_extract(params, '$.\"protocol.epochs\"')"
		 " = '%d' AND json_extract(params, '$.\"dynamics.tau_x\"') = '%d'"
		 " AND json_extract(params, '$.\"model.seed\"') = '%d' AND seed = %d"
		 " AND status = 'finished'", epochs, tau_x, seed, seed);
	ck_assert_msg(sweep_query_int(db, sql) == 1, "epochs %d, tau_x %d, seed %d is not"
		      " present exactly once", epochs, tau_x, seed);

	/* Each epoch presents the 4 XOR patterns, and the test pass presents them once. */
	snprintf(sql, sizeof sql,
		 "SELECT s.samples FROM run_summary s JOIN runs r ON r.run_id = s.run_id"
		 " WHERE json_extract(r.params, '$.\"protocol.epochs\"') = '%d'"
		 " AND json_extract(r.params, '$.\"dynamics.tau_x\"') = '%d' AND r.seed = %d",
		 epochs, tau_x, seed);
	ck_assert_int_eq(sweep_query_int(db, sql), 4 * epochs + 4);
}


START_TEST(sweep_grid_every_combination)
{
	struct sweep_dir sd;
	struct sweep_result *result = sweep_result_new();
	char model[512];
	sqlite3 *db;

	sweep_dir_make(&sd);
	sweep_model_path(model, sizeof model);
	sweep_run(&sd, (const char *const[]){
		"sweep", model, "--vary", "protocol.epochs=2,3", "--vary", "dynamics.tau_x=1,2",
		"--seeds", "2", "--jobs", "2", "--db", "t.db", NULL}, result);
	ck_assert_msg(result->exit_code == 0, "exit %d: %s", result->exit_code, result->err);
	ck_assert_int_eq(sweep_temp_count(&sd), 0);

	/* One progress line per run, and a header plus one table row per run. */
	ck_assert_int_eq(sweep_line_count(result->err), 8);
	ck_assert_ptr_nonnull(strstr(result->err, "[8/8] "));
	ck_assert_int_eq(sweep_line_count(result->out), 9);
	ck_assert_ptr_nonnull(strstr(result->out, "protocol.epochs"));

	db = sweep_db_open(sd.db);
	ck_assert_int_eq(sweep_query_int(db, "SELECT COUNT(*) FROM runs"), 8);
	ck_assert_int_eq(sweep_query_int(db, "SELECT COUNT(*) FROM run_summary"), 8);
	for (int epochs = 2; epochs <= 3; epochs++)
		for (int tau_x = 1; tau_x <= 2; tau_x++)
			for (int seed = 1; seed <= 2; seed++)
				sweep_check_combination(db, epochs, tau_x, seed);

	/* Every copied row belongs to a run, and no temporary path was recorded. */
	ck_assert_int_eq(sweep_query_int(db, "SELECT COUNT(*) FROM samples WHERE run_id NOT IN"
					 " (SELECT run_id FROM runs)"), 0);
	ck_assert_int_eq(sweep_query_int(db, "SELECT COUNT(DISTINCT run_id) FROM neurons"), 8);
	ck_assert_int_eq(sweep_query_int(db, "SELECT COUNT(*) FROM runs WHERE"
					 " model_text LIKE '%.sweep-%' OR params LIKE '%.sweep-%'"),
			 0);
	sqlite3_close(db);
	free(result);
	sweep_dir_remove(&sd);
}
END_TEST


START_TEST(sweep_appends_after_existing_run)
{
	struct sweep_dir sd;
	struct sweep_result *result = sweep_result_new();
	char model[512];
	sqlite3 *db;

	sweep_dir_make(&sd);
	sweep_model_path(model, sizeof model);
	sweep_run(&sd, (const char *const[]){
		"run", model, "--quiet", "--db", "t.db", "--set", "protocol.epochs=1", NULL},
		result);
	ck_assert_msg(result->exit_code == 0, "exit %d: %s", result->exit_code, result->err);
	sweep_run(&sd, (const char *const[]){
		"sweep", model, "--quiet", "--set", "protocol.epochs=2", "--vary",
		"dynamics.tau_x=1,2", "--db", "t.db", NULL}, result);
	ck_assert_msg(result->exit_code == 0, "exit %d: %s", result->exit_code, result->err);
	ck_assert_str_eq(result->err, "");

	/* The first run keeps its 1 epoch (8 samples), the new ones have 2 (12). */
	db = sweep_db_open(sd.db);
	ck_assert_int_eq(sweep_query_int(db, "SELECT COUNT(*) FROM runs"), 3);
	ck_assert_int_eq(sweep_query_int(db, "SELECT COUNT(*) FROM samples WHERE run_id = 1"), 8);
	ck_assert_int_eq(sweep_query_int(db, "SELECT COUNT(*) FROM samples WHERE run_id = 2"), 12);
	ck_assert_int_eq(sweep_query_int(db, "SELECT COUNT(*) FROM samples WHERE run_id = 3"), 12);
	ck_assert_int_eq(sweep_query_int(db, "SELECT COUNT(*) FROM runs WHERE run_id > 1 AND"
					 " json_extract(params, '$.\"protocol.epochs\"') = '2'"), 2);
	sqlite3_close(db);
	free(result);
	sweep_dir_remove(&sd);
}
END_TEST


START_TEST(sweep_bad_value_rejected)
{
	struct sweep_dir sd;
	struct sweep_result *result = sweep_result_new();
	char model[512];

	sweep_dir_make(&sd);
	sweep_model_path(model, sizeof model);
	/* The valid first value must not start a run either. */
	sweep_run(&sd, (const char *const[]){
		"sweep", model, "--vary", "dynamics.dt=0.1,-1", "--db", "t.db", NULL}, result);
	ck_assert_int_eq(result->exit_code, 2);
	ck_assert_msg(strstr(result->err, "dynamics.dt=-1") != NULL, "stderr: %s", result->err);
	ck_assert_int_eq(access(sd.db, F_OK), -1);
	ck_assert_int_eq(sweep_temp_count(&sd), 0);
	free(result);
	sweep_dir_remove(&sd);
}
END_TEST


START_TEST(sweep_unknown_key_rejected)
{
	struct sweep_dir sd;
	struct sweep_result *result = sweep_result_new();
	char model[512];

	sweep_dir_make(&sd);
	sweep_model_path(model, sizeof model);
	sweep_run(&sd, (const char *const[]){
		"sweep", model, "--vary", "dynamics.no_such_key=1,2", "--db", "t.db", NULL}, result);
	ck_assert_int_eq(result->exit_code, 2);
	ck_assert_msg(strstr(result->err, "no_such_key") != NULL, "stderr: %s", result->err);
	ck_assert_int_eq(access(sd.db, F_OK), -1);
	free(result);
	sweep_dir_remove(&sd);
}
END_TEST


START_TEST(sweep_usage_errors_rejected)
{
	static const char *const cases[][4] = {
		{"--vary", "protocol.epochs=1,,2", NULL, NULL},
		{"--vary", "protocol.epochs", NULL, NULL},
		{"--vary", "trace.db=a.db,b.db", NULL, NULL},
		{"--vary", "protocol.epochs=1", "--vary", "protocol.epochs=2"},
		{"--jobs", "0", NULL, NULL},
		{"--seeds", "-1", NULL, NULL},
		{"--unknown", NULL, NULL, NULL},
	};
	struct sweep_dir sd;
	struct sweep_result *result = sweep_result_new();
	char model[512];

	sweep_dir_make(&sd);
	sweep_model_path(model, sizeof model);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *args[10] = {"sweep", model, "--db", "t.db"};
		int n = 4;

		for (int k = 0; k < 4 && cases[i][k] != NULL; k++)
			args[n++] = cases[i][k];
		sweep_run(&sd, args, result);
		ck_assert_msg(result->exit_code == 2, "case %zu (%s %s): exit %d", i, cases[i][0],
			      cases[i][1] != NULL ? cases[i][1] : "", result->exit_code);
	}
	ck_assert_int_eq(access(sd.db, F_OK), -1);
	free(result);
	sweep_dir_remove(&sd);
}
END_TEST


START_TEST(sweep_grid_limit_rejected)
{
	struct sweep_dir sd;
	struct sweep_result *result = sweep_result_new();
	char model[512];

	sweep_dir_make(&sd);
	sweep_model_path(model, sizeof model);
	/* 2 values times 5001 seeds is 10002 runs, over the limit of 10000. */
	sweep_run(&sd, (const char *const[]){
		"sweep", model, "--vary", "dynamics.tau_x=1,2", "--seeds", "5001", "--db", "t.db",
		NULL}, result);
	ck_assert_int_eq(result->exit_code, 2);
	ck_assert_msg(strstr(result->err, "10000") != NULL, "stderr: %s", result->err);
	ck_assert_int_eq(access(sd.db, F_OK), -1);
	free(result);
	sweep_dir_remove(&sd);
}
END_TEST


START_TEST(sweep_failed_run_continues)
{
	struct sweep_dir sd;
	struct sweep_result *result = sweep_result_new();
	char model[512];
	sqlite3 *db;

	sweep_dir_make(&sd);
	sweep_model_path(model, sizeof model);
	/* Any state of magnitude above 1e-9 diverges, so that run exits with code 5. */
	sweep_run(&sd, (const char *const[]){
		"sweep", model, "--set", "protocol.epochs=2", "--vary",
		"dynamics.divergence_limit=1e-9,1000", "--jobs", "2", "--db", "t.db", NULL}, result);
	ck_assert_int_eq(result->exit_code, 1);
	ck_assert_msg(strstr(result->err, "dynamics.divergence_limit=1e-9 seed 1 failed") != NULL,
		      "stderr: %s", result->err);
	ck_assert_msg(strstr(result->err, "code 5") != NULL, "stderr: %s", result->err);
	ck_assert_int_eq(sweep_temp_count(&sd), 0);

	db = sweep_db_open(sd.db);
	ck_assert_int_eq(sweep_query_int(db, "SELECT COUNT(*) FROM runs"), 2);
	ck_assert_int_eq(sweep_query_int(db, "SELECT COUNT(*) FROM runs WHERE status = 'diverged'"
					 " AND json_extract(params, '$.\"dynamics.divergence_limit\"')"
					 " = '1e-9'"), 1);
	ck_assert_int_eq(sweep_query_int(db, "SELECT COUNT(*) FROM runs WHERE status = 'finished'"
					 " AND json_extract(params, '$.\"dynamics.divergence_limit\"')"
					 " = '1000'"), 1);
	sqlite3_close(db);
	free(result);
	sweep_dir_remove(&sd);
}
END_TEST


/* Returns the number of samples in the first temporary database found, or 0. */
static int64_t sweep_temp_samples(const struct sweep_dir *sd)
{
	DIR *dir = opendir(sd->dir);
	struct dirent *entry;
	int64_t samples = 0;

	ck_assert_ptr_nonnull(dir);
	while (samples == 0 && (entry = readdir(dir)) != NULL) {
		char path[384];
		sqlite3 *db = NULL;
		sqlite3_stmt *stmt = NULL;
		size_t length = strlen(entry->d_name);

		if (strstr(entry->d_name, ".sweep-") == NULL
		    || (length > 4 && (strcmp(entry->d_name + length - 4, "-wal") == 0
				       || strcmp(entry->d_name + length - 4, "-shm") == 0)))
			continue;
		snprintf(path, sizeof path, "%s/%s", sd->dir, entry->d_name);
		/* The child may not have created the table yet; that reads as 0. */
		if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK
		    && sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM samples", -1, &stmt, NULL)
		       == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW)
			samples = sqlite3_column_int64(stmt, 0);
		sqlite3_finalize(stmt);
		sqlite3_close(db);
	}
	closedir(dir);
	return samples;
}


START_TEST(sweep_interrupt_merges_and_stops)
{
	struct sweep_dir sd;
	struct sweep_result *result = sweep_result_new();
	struct timespec pause = {.tv_sec = 0, .tv_nsec = 20000000};
	char model[512];
	sqlite3 *db;
	pid_t pid;
	int attempt;

	sweep_dir_make(&sd);
	sweep_model_path(model, sizeof model);
	/* 100000 epochs take far longer than the test waits, so the run is cut short. */
	pid = sweep_start(&sd, (const char *const[]){
		"sweep", model, "--set", "protocol.epochs=100000", "--vary", "dynamics.tau_x=1,2,3",
		"--jobs", "1", "--db", "t.db", NULL});

	/* Samples in the child's database mean it is inside its run, signal handlers set. */
	for (attempt = 0; attempt < 1000 && sweep_temp_samples(&sd) == 0; attempt++)
		nanosleep(&pause, NULL);
	if (attempt == 1000)
		kill(pid, SIGKILL);
	ck_assert_msg(attempt < 1000, "no samples in a temporary database after 20 s");
	ck_assert_int_eq(kill(pid, SIGINT), 0);
	sweep_wait(&sd, pid, result);

	ck_assert_msg(result->exit_code == 6, "exit %d: %s", result->exit_code, result->err);
	ck_assert_int_eq(sweep_temp_count(&sd), 0);
	db = sweep_db_open(sd.db);
	ck_assert_int_eq(sweep_query_int(db, "SELECT COUNT(*) FROM runs"), 1);
	ck_assert_int_eq(sweep_query_int(db, "SELECT COUNT(*) FROM runs WHERE"
					 " status = 'interrupted'"), 1);
	ck_assert_int_gt(sweep_query_int(db, "SELECT COUNT(*) FROM samples"), 0);
	sqlite3_close(db);
	free(result);
	sweep_dir_remove(&sd);
}
END_TEST


static Suite *sweep_suite(void)
{
	Suite *suite = suite_create("sweep");
	TCase *tc = tcase_create("unit");

	tcase_add_test(tc, sweep_grid_every_combination);
	tcase_add_test(tc, sweep_appends_after_existing_run);
	tcase_add_test(tc, sweep_bad_value_rejected);
	tcase_add_test(tc, sweep_unknown_key_rejected);
	tcase_add_test(tc, sweep_usage_errors_rejected);
	tcase_add_test(tc, sweep_grid_limit_rejected);
	tcase_add_test(tc, sweep_failed_run_continues);
	tcase_add_test(tc, sweep_interrupt_merges_and_stops);
	suite_add_tcase(suite, tc);
	return suite;
}


int main(void)
{
	SRunner *runner = srunner_create(sweep_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
