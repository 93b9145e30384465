/* SPDX-License-Identifier: MIT */
/*
 * Determinism of the pcsim binary. Two runs of the same model and seed,
 * each in its own process and its own fresh database, must write
 * identical rows, every double bit for bit. A different seed must draw
 * different initial weights.
 */
#include <check.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Tables compared row by row. The runs table is compared apart, without its times. */
static const char *const det_tables[] = {
	"layers", "neurons", "samples", "activity", "events", "weights", "energy",
};

/*
 * A temporary directory with two run directories, a/ and b/, each to hold
 * a database t.db. Each run works in its own directory with the same
 * relative --db path, so the model text stored with the run is the same.
 */
struct det_dir {
	char dir[64];
	char run_dir[2][96];
	char db[2][128];
	char log[96];
};


static void det_dir_make(struct det_dir *dd)
{
	snprintf(dd->dir, sizeof dd->dir, "/tmp/pcs-det-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dd->dir));
	for (int k = 0; k < 2; k++) {
		snprintf(dd->run_dir[k], sizeof dd->run_dir[k], "%s/%c", dd->dir, 'a' + k);
		ck_assert_int_eq(mkdir(dd->run_dir[k], 0700), 0);
		snprintf(dd->db[k], sizeof dd->db[k], "%s/t.db", dd->run_dir[k]);
	}
	snprintf(dd->log, sizeof dd->log, "%s/stderr.txt", dd->dir);
}


static void det_dir_remove(const struct det_dir *dd)
{
	static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
	char path[160];

	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
			snprintf(path, sizeof path, "%s%s", dd->db[k], suffixes[i]);
			unlink(path);
		}
		rmdir(dd->run_dir[k]);
	}
	unlink(dd->log);
	rmdir(dd->dir);
}


/* In the child: enters dir, sends stdout to /dev/null and stderr to log, runs argv. */
static void det_exec_child(const char *dir, const char *log, char *const *argv)
{
	int out = open("/dev/null", O_WRONLY);
	int err = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (out < 0 || err < 0 || chdir(dir) != 0 || dup2(out, STDOUT_FILENO) < 0
	    || dup2(err, STDERR_FILENO) < 0)
		_exit(127);
	execv(argv[0], argv);
	_exit(127);
}


/*
 * Runs `pcsim run MODEL --db t.db --seed SEED -q` plus the extra arguments
 * in run directory k, where MODEL is models/xor.ini of the source tree.
 * Fails the test unless the exit status is 0, quoting stderr.
 */
static void det_run_pcsim(const struct det_dir *dd, int k, const char *seed,
			  const char *const *extra, int n_extra)
{
	const char *pcsim = getenv("PCSIM");
	const char *root = getenv("PCS_SOURCE_ROOT");
	char model[1024], message[512] = "";
	char *argv[32];
	int argc = 0, status = 0;
	pid_t pid;
	FILE *log;

	ck_assert_msg(pcsim != NULL && root != NULL,
		      "PCSIM and PCS_SOURCE_ROOT are not set; run the tests through meson");
	snprintf(model, sizeof model, "%s/models/xor.ini", root);
	argv[argc++] = (char *)pcsim;
	argv[argc++] = "run";
	argv[argc++] = model;
	argv[argc++] = "--db";
	argv[argc++] = "t.db";
	argv[argc++] = "--seed";
	argv[argc++] = (char *)seed;
	argv[argc++] = "-q";
	for (int i = 0; i < n_extra; i++)
		argv[argc++] = (char *)extra[i];
	argv[argc] = NULL;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		det_exec_child(dd->run_dir[k], dd->log, argv);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);

	log = fopen(dd->log, "r");
	if (log != NULL) {
		size_t n = fread(message, 1, sizeof message - 1, log);

		message[n] = '\0';
		fclose(log);
	}
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "pcsim run in %s failed with status %d: %s", dd->run_dir[k], status, message);
}


static sqlite3 *det_db_open(const char *path)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);

	ck_assert_msg(rc == SQLITE_OK, "opening %s: %s", path, sqlite3_errmsg(db));
	return db;
}


/* Prepares `SELECT COLUMNS FROM TABLE ORDER BY 1, 2, ..., n` on db. */
static sqlite3_stmt *det_select_ordered(sqlite3 *db, const char *table, const char *columns)
{
	sqlite3_stmt *stmt = NULL;
	char sql[512];
	int n, len;

	snprintf(sql, sizeof sql, "SELECT %s FROM %s", columns, table);
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
	n = sqlite3_column_count(stmt);
	sqlite3_finalize(stmt);

	len = snprintf(sql, sizeof sql, "SELECT %s FROM %s ORDER BY 1", columns, table);
	for (int c = 2; c <= n; c++)
		len += snprintf(sql + len, sizeof sql - (size_t)len, ", %d", c);
	ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK, "%s: %s", sql,
		      sqlite3_errmsg(db));
	return stmt;
}


/* Checks that column c of the current rows of a and b is the same value. */
static void det_assert_same_value(sqlite3_stmt *a, sqlite3_stmt *b, int c, const char *table,
				  int64_t row)
{
	int type = sqlite3_column_type(a, c);
	const char *name = sqlite3_column_name(a, c);

	ck_assert_msg(type == sqlite3_column_type(b, c), "%s row %lld, column %s: types differ",
		      table, (long long)row, name);
	if (type == SQLITE_INTEGER) {
		ck_assert_msg(sqlite3_column_int64(a, c) == sqlite3_column_int64(b, c),
			      "%s row %lld, column %s: %lld != %lld", table, (long long)row, name,
			      (long long)sqlite3_column_int64(a, c),
			      (long long)sqlite3_column_int64(b, c));
	} else if (type == SQLITE_FLOAT) {
		double x = sqlite3_column_double(a, c), y = sqlite3_column_double(b, c);

		ck_assert_msg(memcmp(&x, &y, sizeof x) == 0, "%s row %lld, column %s: %.17g != %.17g",
			      table, (long long)row, name, x, y);
	} else if (type == SQLITE_TEXT) {
		ck_assert_str_eq((const char *)sqlite3_column_text(a, c),
				 (const char *)sqlite3_column_text(b, c));
	}
}


/* Compares every row of a table in both databases and returns the row count. */
static int64_t det_compare_table(sqlite3 *a, sqlite3 *b, const char *table, const char *columns)
{
	sqlite3_stmt *sa = det_select_ordered(a, table, columns);
	sqlite3_stmt *sb = det_select_ordered(b, table, columns);
	int64_t rows = 0;

	for (;;) {
		int ra = sqlite3_step(sa), rb = sqlite3_step(sb);

		ck_assert_msg(ra == rb, "%s: the databases differ in row count after %lld rows", table,
			      (long long)rows);
		if (ra != SQLITE_ROW)
			break;
		for (int c = 0; c < sqlite3_column_count(sa); c++)
			det_assert_same_value(sa, sb, c, table, rows);
		rows++;
	}
	sqlite3_finalize(sa);
	sqlite3_finalize(sb);
	return rows;
}


START_TEST(determinism_identical_traces)
{
	static const char *const extra[] = {
		"--set", "protocol.epochs=20", "--set", "trace.events=true",
		"--set", "trace.activity_every=1", "--set", "trace.neurons=all",
		"--set", "trace.energy=true",
	};
	struct det_dir dd;
	sqlite3 *a, *b;

	det_dir_make(&dd);
	det_run_pcsim(&dd, 0, "1", extra, 10);
	det_run_pcsim(&dd, 1, "1", extra, 10);
	a = det_db_open(dd.db[0]);
	b = det_db_open(dd.db[1]);

	for (size_t i = 0; i < sizeof det_tables / sizeof det_tables[0]; i++) {
		int64_t rows = det_compare_table(a, b, det_tables[i], "*");

		ck_assert_msg(rows > 0, "table %s is empty, so the comparison proves nothing",
			      det_tables[i]);
	}
	ck_assert_int_eq(det_compare_table(a, b, "runs",
					   "run_id, status, model_name, model_text, seed, mode, params"),
			 1);

	sqlite3_close(a);
	sqlite3_close(b);
	det_dir_remove(&dd);
}
END_TEST


START_TEST(determinism_seed_changes_weights)
{
	static const char *const extra[] = {"--set", "protocol.epochs=1"};
	static const char *const sql =
		"SELECT COUNT(*), SUM(a.w != b.w) FROM weights a JOIN other.weights b"
		" ON a.edge = b.edge AND a.post = b.post AND a.pre = b.pre"
		" WHERE a.epoch = 0 AND b.epoch = 0 AND a.pre >= 0";
	struct det_dir dd;
	sqlite3 *a;
	sqlite3_stmt *stmt;
	char attach[192];

	det_dir_make(&dd);
	det_run_pcsim(&dd, 0, "1", extra, 2);
	det_run_pcsim(&dd, 1, "2", extra, 2);
	a = det_db_open(dd.db[0]);
	snprintf(attach, sizeof attach, "ATTACH DATABASE '%s' AS other", dd.db[1]);
	ck_assert_int_eq(sqlite3_exec(a, attach, NULL, NULL, NULL), SQLITE_OK);

	/* xor.ini: 2 x 8 input -> hidden and 8 x 2 hidden -> label weights,
	 * each an independent normal draw, so every one of them differs. */
	ck_assert_int_eq(sqlite3_prepare_v2(a, sql, -1, &stmt, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int64(stmt, 0), 2 * 8 + 8 * 2);
	ck_assert_int_eq(sqlite3_column_int64(stmt, 1), 2 * 8 + 8 * 2);
	sqlite3_finalize(stmt);

	sqlite3_close(a);
	det_dir_remove(&dd);
}
END_TEST


static Suite *determinism_suite(void)
{
	Suite *suite = suite_create("determinism");
	TCase *traces = tcase_create("traces");

	tcase_add_test(traces, determinism_identical_traces);
	tcase_add_test(traces, determinism_seed_changes_weights);
	suite_add_tcase(suite, traces);
	return suite;
}


int main(void)
{
	SRunner *runner = srunner_create(determinism_suite());
	int failures;

	srunner_run_all(runner, CK_NORMAL);
	failures = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
