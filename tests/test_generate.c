/* SPDX-License-Identifier: MIT */
/*
 * `pcsim generate` through the real binary: what it rejects, and that the
 * images a trained generative model produces for each class are closer to
 * that class's mean training image than to any other class's mean.
 */
#include <check.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pcsim/data.h"
#include "pcsim/model.h"

struct gen_dir {
	char dir[64];
	char db[128];
	char err[128];
	char png[128];
};


static void gen_dir_make(struct gen_dir *gd)
{
	snprintf(gd->dir, sizeof gd->dir, "/tmp/pcs-generate-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(gd->dir));
	snprintf(gd->db, sizeof gd->db, "%s/t.db", gd->dir);
	snprintf(gd->err, sizeof gd->err, "%s/stderr", gd->dir);
	snprintf(gd->png, sizeof gd->png, "%s/g.png", gd->dir);
}


static void gen_dir_remove(const struct gen_dir *gd)
{
	static const char *const names[] = {"t.db", "t.db-wal", "t.db-shm", "stderr", "g.png"};
	char path[192];

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", gd->dir, names[i]);
		unlink(path);
	}
	rmdir(gd->dir);
}


/* Runs pcsim with argv (NULL-terminated, without argv[0]); stderr goes to gd->err. */
static int gen_pcsim(const struct gen_dir *gd, const char *const *args)
{
	const char *exe = getenv("PCSIM");
	const char *argv[32] = {"pcsim"};
	int n = 1, status;
	pid_t pid;

	ck_assert_msg(exe != NULL, "PCSIM is not set; run the tests through meson");
	for (; args[n - 1] != NULL && n < 31; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		FILE *out = freopen("/dev/null", "w", stdout);
		FILE *err = freopen(gd->err, "w", stderr);

		(void)out;
		(void)err;
		if (chdir(getenv("PCS_SOURCE_ROOT")) == 0)
			execv(exe, (char *const *)argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}


static void gen_assert_stderr(const struct gen_dir *gd, const char *needle)
{
	char text[4096] = "";
	FILE *f = fopen(gd->err, "r");
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(text, 1, sizeof text - 1, f);
	text[n] = '\0';
	fclose(f);
	ck_assert_msg(strstr(text, needle) != NULL, "stderr lacks \"%s\": %s", needle, text);
}


/* A finished XOR run in gd->db, for the rejection tests. */
static void gen_train_xor(const struct gen_dir *gd)
{
	const char *const run[] = {"run", "models/xor.ini", "--db", gd->db, "--quiet",
				   "--set", "protocol.epochs=2", NULL};

	ck_assert_int_eq(gen_pcsim(gd, run), 0);
}


START_TEST(generate_rejects_no_finished_run)
{
	struct gen_dir gd;
	sqlite3 *db;
	const char *const gen[] = {"generate", "models/xor.ini", "--from", gd.db, "--label", "1", NULL};

	gen_dir_make(&gd);
	gen_train_xor(&gd);
	ck_assert_int_eq(sqlite3_open(gd.db, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "UPDATE runs SET status = 'interrupted'", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	ck_assert_int_eq(gen_pcsim(&gd, gen), 4);
	gen_assert_stderr(&gd, "no finished run");
	gen_dir_remove(&gd);
}
END_TEST


START_TEST(generate_rejects_unknown_run)
{
	struct gen_dir gd;
	const char *const gen[] = {"generate", "models/xor.ini", "--from", gd.db, "--run", "99",
				   "--label", "1", NULL};

	gen_dir_make(&gd);
	gen_train_xor(&gd);
	ck_assert_int_eq(gen_pcsim(&gd, gen), 4);
	gen_assert_stderr(&gd, "no run 99");
	gen_dir_remove(&gd);
}
END_TEST


START_TEST(generate_rejects_label_out_of_range)
{
	struct gen_dir gd;
	const char *const gen[] = {"generate", "models/xor.ini", "--from", gd.db, "--label", "2", NULL};

	gen_dir_make(&gd);
	gen_train_xor(&gd);
	ck_assert_int_eq(gen_pcsim(&gd, gen), 2);
	gen_assert_stderr(&gd, "from 0 to 1");
	gen_dir_remove(&gd);
}
END_TEST


START_TEST(generate_rejects_other_model)
{
	struct gen_dir gd;
	const char *const gen[] = {"generate", "models/xor.ini", "--from", gd.db, "--label", "0",
				   "--set", "layer hidden.size=7", NULL};

	gen_dir_make(&gd);
	gen_train_xor(&gd);
	ck_assert_int_eq(gen_pcsim(&gd, gen), 2);
	gen_assert_stderr(&gd, "does not match run 1");
	gen_dir_remove(&gd);
}
END_TEST


/*
 * Trains models/fashion-generative.ini, generates one image per class and
 * compares each with the ten class means of the training images: at least
 * 8 of the 10 must be nearest (Euclidean) to their own class's mean.
 */
START_TEST(generate_images_match_classes)
{
	struct gen_dir gd;
	const char *const run[] = {"run", "models/fashion-generative.ini", "--db", gd.db, "--quiet",
				   "--set", "protocol.test=false", NULL};
	const char *const gen[] = {"generate", "models/fashion-generative.ini", "--from", gd.db,
				   "--label", "all", "--png", gd.png, NULL};
	char path[PCS_PATH_MAX];
	pcs_model m;
	pcs_dataset train, test;
	pcs_error err = {0};
	double means[10][196] = {{0}}, image[196];
	int counts[10] = {0}, matched = 0;
	sqlite3 *db;
	sqlite3_stmt *st;

	snprintf(path, sizeof path, "%s/models/fashion-generative.ini", getenv("PCS_SOURCE_ROOT"));
	ck_assert_int_eq(pcs_model_load(&m, path, NULL, 0, &err), 0);
	if (access(m.data.train_images, R_OK) != 0) {
		fputs("generate_images_match_classes: Fashion-MNIST is not installed; skipped\n", stderr);
		pcs_model_free(&m);
		return;
	}
	ck_assert_msg(pcs_data_load(&m.data, &train, &test, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(train.dim, 196);
	for (int s = 0; s < train.count; s++) {
		counts[train.labels[s]]++;
		for (int p = 0; p < 196; p++)
			means[train.labels[s]][p] += train.features[(size_t)s * 196 + p];
	}

	gen_dir_make(&gd);
	ck_assert_int_eq(gen_pcsim(&gd, run), 0);
	ck_assert_int_eq(gen_pcsim(&gd, gen), 0);
	ck_assert_int_eq(access(gd.png, R_OK), 0);
	ck_assert_int_eq(sqlite3_open(gd.db, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT pixel, value FROM generated WHERE label = ?1"
					   " AND sample = 0 ORDER BY pixel", -1, &st, NULL), SQLITE_OK);
	for (int c = 0; c < 10; c++) {
		int n = 0, nearest = -1;
		double best = INFINITY;

		sqlite3_bind_int(st, 1, c);
		while (sqlite3_step(st) == SQLITE_ROW && n < 196)
			image[n++] = sqlite3_column_double(st, 1);
		sqlite3_reset(st);
		ck_assert_int_eq(n, 196);
		for (int k = 0; k < 10; k++) {
			double d = 0.0;

			for (int p = 0; p < 196; p++) {
				double diff = image[p] - means[k][p] / counts[k];

				d += diff * diff;
			}
			if (d < best) {
				best = d;
				nearest = k;
			}
		}
		matched += nearest == c;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	ck_assert_msg(matched >= 8, "%d of 10 generated images are nearest to their class mean",
		      matched);
	pcs_dataset_free(&train);
	pcs_dataset_free(&test);
	pcs_model_free(&m);
	gen_dir_remove(&gd);
}
END_TEST


static Suite *generate_suite(void)
{
	Suite *s = suite_create("generate");
	TCase *errors = tcase_create("errors");
	TCase *images = tcase_create("images");

	tcase_add_test(errors, generate_rejects_no_finished_run);
	tcase_add_test(errors, generate_rejects_unknown_run);
	tcase_add_test(errors, generate_rejects_label_out_of_range);
	tcase_add_test(errors, generate_rejects_other_model);
	tcase_add_test(images, generate_images_match_classes);
	suite_add_tcase(s, errors);
	suite_add_tcase(s, images);
	return s;
}


int main(void)
{
	SRunner *sr = srunner_create(generate_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
