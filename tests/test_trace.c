/* SPDX-License-Identifier: MIT */
/*
 * Tests of the trace writer. Every check reads the database back through a
 * separate SQLite connection and compares with the values the test wrote,
 * so the writer's own code never supplies an expected value.
 */
#include <check.h>
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pcsim/trace.h"
#include "trace/trace_testing.h"

/* A temporary directory holding one database, t.db, and its WAL files. */
struct test_dir {
	char dir[64];
	char db[96];
};

static const pcs_run_info test_info = {
	.model_name = "xor",
	.model_text = "[model]\nname = xor\nseed = 7\n",
	.seed = 7,
	.mode = "deterministic",
	.params = "{}",
};


static void test_dir_make(struct test_dir *td)
{
	snprintf(td->dir, sizeof td->dir, "/tmp/pcs-trace-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(td->dir));
	snprintf(td->db, sizeof td->db, "%s/t.db", td->dir);
}


static void test_dir_remove(const struct test_dir *td)
{
	static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
	char path[128];

	for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
		snprintf(path, sizeof path, "%s%s", td->db, suffixes[i]);
		unlink(path);
	}
	rmdir(td->dir);
}


static sqlite3 *test_db_open(const char *path)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);

	ck_assert_msg(rc == SQLITE_OK, "opening %s: %s", path, sqlite3_errmsg(db));
	return db;
}


static sqlite3_stmt *test_prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);

	ck_assert_msg(rc == SQLITE_OK, "preparing %s: %s", sql, sqlite3_errmsg(db));
	return stmt;
}


static int64_t test_query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *stmt = test_prepare(db, sql);
	int64_t value;

	ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
	value = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return value;
}


static double test_query_double(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *stmt = test_prepare(db, sql);
	double value;

	ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
	value = sqlite3_column_double(stmt, 0);
	sqlite3_finalize(stmt);
	return value;
}


/* Copies the text of the first column of the first row, "(null)" for NULL. */
static void test_query_text(sqlite3 *db, const char *sql, char *out, size_t size)
{
	sqlite3_stmt *stmt = test_prepare(db, sql);
	const unsigned char *text;

	ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
	text = sqlite3_column_text(stmt, 0);
	snprintf(out, size, "%s", text != NULL ? (const char *)text : "(null)");
	sqlite3_finalize(stmt);
}


static void test_exec(sqlite3 *db, const char *sql)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
}


static pcs_trace *test_trace_open(const char *path)
{
	pcs_trace *tr = NULL;
	pcs_error err = {0};
	int rc = pcs_trace_open(&tr, path, &err);

	ck_assert_msg(rc == 0, "pcs_trace_open: %s", err.msg);
	return tr;
}


static int64_t test_begin_run(pcs_trace *tr)
{
	pcs_error err = {0};
	int64_t run_id = -1;
	int rc = pcs_trace_begin_run(tr, &test_info, &run_id, &err);

	ck_assert_msg(rc == 0, "pcs_trace_begin_run: %s", err.msg);
	return run_id;
}


static void test_end_run(pcs_trace *tr, pcs_run_status status)
{
	pcs_error err = {0};
	int rc = pcs_trace_end_run(tr, status, &err);

	ck_assert_msg(rc == 0, "pcs_trace_end_run: %s", err.msg);
}


static void test_trace_close(pcs_trace *tr)
{
	pcs_error err = {0};
	int rc = pcs_trace_close(tr, &err);

	ck_assert_msg(rc == 0, "pcs_trace_close: %s", err.msg);
}


/* Checks an ISO 8601 UTC timestamp of the form 2026-01-02T03:04:05.678Z. */
static void test_assert_iso_time(const char *text)
{
	ck_assert_uint_eq(strlen(text), 24);
	ck_assert_int_eq(text[4], '-');
	ck_assert_int_eq(text[10], 'T');
	ck_assert_int_eq(text[19], '.');
	ck_assert_int_eq(text[23], 'Z');
}


START_TEST(trace_schema_created)
{
	static const char *const objects[] = {
		"table:meta", "table:runs", "table:layers", "table:neurons", "table:samples",
		"table:activity", "table:events", "table:weights", "table:energy",
		"table:counters", "view:accuracy_per_epoch", "view:energy_per_sample",
		"view:layer_energy", "view:neuron_activity", "view:message_counts",
		"view:run_summary",
	};
	struct test_dir td;
	char text[128], sql[256];
	sqlite3 *db;

	test_dir_make(&td);
	test_trace_close(test_trace_open(td.db));

	db = test_db_open(td.db);
	test_query_text(db, "SELECT value FROM meta WHERE key = 'schema_version'", text,
			sizeof text);
	ck_assert_str_eq(text, "2");
	test_query_text(db, "SELECT value FROM meta WHERE key = 'pcsim_version'", text,
			sizeof text);
	ck_assert_str_eq(text, PCS_VERSION);
	test_query_text(db, "SELECT value FROM meta WHERE key = 'created_at'", text, sizeof text);
	test_assert_iso_time(text);
	test_query_text(db, "PRAGMA journal_mode", text, sizeof text);
	ck_assert_str_eq(text, "wal");

	for (size_t i = 0; i < sizeof objects / sizeof objects[0]; i++) {
		const char *colon = strchr(objects[i], ':');

		snprintf(sql, sizeof sql,
			 "SELECT COUNT(*) FROM sqlite_master WHERE type = '%.*s' AND name = '%s'",
			 (int)(colon - objects[i]), objects[i], colon + 1);
		ck_assert_msg(test_query_int(db, sql) == 1, "missing %s", objects[i]);
	}

	sqlite3_close(db);
	test_dir_remove(&td);
}
END_TEST


/* Writes one row of every kind, with values chosen to catch truncation. */
static void test_write_every_kind(pcs_trace *tr)
{
	char name[16] = "hidden";
	pcs_sample_row train = {
		.seq = 0, .epoch = 1, .phase = PCS_PHASE_TRAIN, .data_index = 59999, .label = 9,
		.t_on = 0.0, .t_off = 12.5, .predicted = 9, .energy = 0.125, .settle_time = 3.75,
	};
	pcs_sample_row test = {
		.seq = 5000000000LL, .epoch = 2, .phase = PCS_PHASE_TEST, .data_index = 3,
		.label = 0, .t_on = 1e9, .t_off = 1e9 + 0.1, .predicted = -1, .energy = 1e-300,
		.settle_time = 0.1,
	};

	ck_assert_int_eq(pcs_trace_layer(tr, 0, "input", 784, "input"), 0);
	ck_assert_int_eq(pcs_trace_layer(tr, 1, name, 32, NULL), 0);
	/* The row must hold its own copy of the name. */
	memcpy(name, "changed", 8);
	ck_assert_int_eq(pcs_trace_neuron(tr, 0, 0, 783, PCS_KIND_REPRESENTATION, 0.1, 0.01,
					  0.5, NAN), 0);
	ck_assert_int_eq(pcs_trace_neuron(tr, 1, 1, 31, PCS_KIND_ERROR, 2.5e-3, 1.0 / 3.0,
					  NAN, 250.0), 0);
	ck_assert_int_eq(pcs_trace_sample(tr, &train), 0);
	ck_assert_int_eq(pcs_trace_sample(tr, &test), 0);
	ck_assert_int_eq(pcs_trace_activity(tr, 1, 0.1, -0.7), 0);
	ck_assert_int_eq(pcs_trace_activity(tr, 0, 1e-7, 1e300), 0);
	ck_assert_int_eq(pcs_trace_event(tr, 1, 0.25, -1e-12), 0);
	ck_assert_int_eq(pcs_trace_weight(tr, 0, 3, 31, 783, -0.0625), 0);
	ck_assert_int_eq(pcs_trace_weight(tr, 12, 0, 0, 1, 1.0 / 7.0), 0);
	ck_assert_int_eq(pcs_trace_energy(tr, 5000000000LL, 7.5, 1, 0.33), 0);
	ck_assert_int_eq(pcs_trace_counter(tr, "messages_sent", 123456789.0), 0);
}


static void test_check_runs_row(sqlite3 *db, int64_t run_id)
{
	static const struct {
		const char *name;
		int64_t rows;
	} tables[] = {
		{"layers", 2}, {"neurons", 2}, {"samples", 2}, {"activity", 2},
		{"events", 1}, {"weights", 2}, {"energy", 1}, {"counters", 1},
	};
	char sql[256], started[64], finished[64];
	sqlite3_stmt *stmt;

	snprintf(sql, sizeof sql,
		 "SELECT status, model_name, model_text, seed, mode, params, started_at,"
		 " finished_at FROM runs WHERE run_id = %lld", (long long)run_id);
	stmt = test_prepare(db, sql);
	ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
	ck_assert_str_eq((const char *)sqlite3_column_text(stmt, 0), "finished");
	ck_assert_str_eq((const char *)sqlite3_column_text(stmt, 1), "xor");
	ck_assert_str_eq((const char *)sqlite3_column_text(stmt, 2), test_info.model_text);
	ck_assert_int_eq(sqlite3_column_int64(stmt, 3), 7);
	ck_assert_str_eq((const char *)sqlite3_column_text(stmt, 4), "deterministic");
	ck_assert_str_eq((const char *)sqlite3_column_text(stmt, 5), "{}");
	snprintf(started, sizeof started, "%s", (const char *)sqlite3_column_text(stmt, 6));
	snprintf(finished, sizeof finished, "%s", (const char *)sqlite3_column_text(stmt, 7));
	sqlite3_finalize(stmt);

	test_assert_iso_time(started);
	test_assert_iso_time(finished);
	ck_assert_int_le(strcmp(started, finished), 0);

	/* Every row of the run carries its id. */
	for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
		snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s WHERE run_id = %lld",
			 tables[i].name, (long long)run_id);
		ck_assert_msg(test_query_int(db, sql) == tables[i].rows, "rows of %s",
			      tables[i].name);
	}
}


static void test_check_layers_neurons(sqlite3 *db)
{
	sqlite3_stmt *stmt = test_prepare(db, "SELECT layer_id, name, size, clamp FROM layers"
					      " ORDER BY rowid");

	ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int(stmt, 0), 0);
	ck_assert_str_eq((const char *)sqlite3_column_text(stmt, 1), "input");
	ck_assert_int_eq(sqlite3_column_int(stmt, 2), 784);
	ck_assert_str_eq((const char *)sqlite3_column_text(stmt, 3), "input");
	ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int(stmt, 0), 1);
	ck_assert_str_eq((const char *)sqlite3_column_text(stmt, 1), "hidden");
	ck_assert_int_eq(sqlite3_column_int(stmt, 2), 32);
	ck_assert_int_eq(sqlite3_column_type(stmt, 3), SQLITE_NULL);
	sqlite3_finalize(stmt);

	stmt = test_prepare(db, "SELECT neuron_id, layer_id, idx, kind, tau, dt, delay,"
				" lesion_time FROM neurons ORDER BY rowid");
	ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int(stmt, 0), 0);
	ck_assert_int_eq(sqlite3_column_int(stmt, 1), 0);
	ck_assert_int_eq(sqlite3_column_int(stmt, 2), 783);
	ck_assert_str_eq((const char *)sqlite3_column_text(stmt, 3), "x");
	ck_assert_double_eq(sqlite3_column_double(stmt, 4), 0.1);
	ck_assert_double_eq(sqlite3_column_double(stmt, 5), 0.01);
	ck_assert_double_eq(sqlite3_column_double(stmt, 6), 0.5);
	ck_assert_int_eq(sqlite3_column_type(stmt, 7), SQLITE_NULL);
	ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int(stmt, 0), 1);
	ck_assert_int_eq(sqlite3_column_int(stmt, 1), 1);
	ck_assert_int_eq(sqlite3_column_int(stmt, 2), 31);
	ck_assert_str_eq((const char *)sqlite3_column_text(stmt, 3), "e");
	ck_assert_double_eq(sqlite3_column_double(stmt, 4), 2.5e-3);
	ck_assert_double_eq(sqlite3_column_double(stmt, 5), 1.0 / 3.0);
	ck_assert_int_eq(sqlite3_column_type(stmt, 6), SQLITE_NULL);
	ck_assert_double_eq(sqlite3_column_double(stmt, 7), 250.0);
	sqlite3_finalize(stmt);
}


static void test_check_samples(sqlite3 *db)
{
	sqlite3_stmt *stmt = test_prepare(db, "SELECT seq, epoch, phase, data_index, label, t_on,"
					      " t_off, predicted, energy, settle_time FROM samples"
					      " ORDER BY rowid");

	ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int64(stmt, 0), 0);
	ck_assert_int_eq(sqlite3_column_int(stmt, 1), 1);
	ck_assert_str_eq((const char *)sqlite3_column_text(stmt, 2), "train");
	ck_assert_int_eq(sqlite3_column_int64(stmt, 3), 59999);
	ck_assert_int_eq(sqlite3_column_int(stmt, 4), 9);
	ck_assert_double_eq(sqlite3_column_double(stmt, 5), 0.0);
	ck_assert_double_eq(sqlite3_column_double(stmt, 6), 12.5);
	ck_assert_int_eq(sqlite3_column_int(stmt, 7), 9);
	ck_assert_double_eq(sqlite3_column_double(stmt, 8), 0.125);
	ck_assert_double_eq(sqlite3_column_double(stmt, 9), 3.75);

	ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int64(stmt, 0), 5000000000LL);
	ck_assert_int_eq(sqlite3_column_int(stmt, 1), 2);
	ck_assert_str_eq((const char *)sqlite3_column_text(stmt, 2), "test");
	ck_assert_int_eq(sqlite3_column_int64(stmt, 3), 3);
	ck_assert_int_eq(sqlite3_column_int(stmt, 4), 0);
	ck_assert_double_eq(sqlite3_column_double(stmt, 5), 1e9);
	ck_assert_double_eq(sqlite3_column_double(stmt, 6), 1e9 + 0.1);
	ck_assert_int_eq(sqlite3_column_int(stmt, 7), -1);
	ck_assert_double_eq(sqlite3_column_double(stmt, 8), 1e-300);
	ck_assert_double_eq(sqlite3_column_double(stmt, 9), 0.1);
	ck_assert_int_eq(sqlite3_step(stmt), SQLITE_DONE);
	sqlite3_finalize(stmt);
}


static void test_check_streams(sqlite3 *db)
{
	sqlite3_stmt *stmt = test_prepare(db, "SELECT neuron_id, t, value FROM activity"
					      " ORDER BY rowid");

	ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int(stmt, 0), 1);
	ck_assert_double_eq(sqlite3_column_double(stmt, 1), 0.1);
	ck_assert_double_eq(sqlite3_column_double(stmt, 2), -0.7);
	ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int(stmt, 0), 0);
	ck_assert_double_eq(sqlite3_column_double(stmt, 1), 1e-7);
	ck_assert_double_eq(sqlite3_column_double(stmt, 2), 1e300);
	sqlite3_finalize(stmt);

	stmt = test_prepare(db, "SELECT neuron_id, t, value FROM events");
	ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int(stmt, 0), 1);
	ck_assert_double_eq(sqlite3_column_double(stmt, 1), 0.25);
	ck_assert_double_eq(sqlite3_column_double(stmt, 2), -1e-12);
	sqlite3_finalize(stmt);

	stmt = test_prepare(db, "SELECT epoch, edge, post, pre, w FROM weights ORDER BY rowid");
	ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int(stmt, 0), 0);
	ck_assert_int_eq(sqlite3_column_int(stmt, 1), 3);
	ck_assert_int_eq(sqlite3_column_int(stmt, 2), 31);
	ck_assert_int_eq(sqlite3_column_int(stmt, 3), 783);
	ck_assert_double_eq(sqlite3_column_double(stmt, 4), -0.0625);
	ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int(stmt, 0), 12);
	ck_assert_double_eq(sqlite3_column_double(stmt, 4), 1.0 / 7.0);
	sqlite3_finalize(stmt);

	stmt = test_prepare(db, "SELECT seq, t, layer_id, value FROM energy");
	ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int64(stmt, 0), 5000000000LL);
	ck_assert_double_eq(sqlite3_column_double(stmt, 1), 7.5);
	ck_assert_int_eq(sqlite3_column_int(stmt, 2), 1);
	ck_assert_double_eq(sqlite3_column_double(stmt, 3), 0.33);
	sqlite3_finalize(stmt);
}


START_TEST(trace_rows_round_trip)
{
	struct test_dir td;
	pcs_trace *tr;
	int64_t run_id;
	sqlite3 *db;

	test_dir_make(&td);
	tr = test_trace_open(td.db);
	run_id = test_begin_run(tr);
	test_write_every_kind(tr);
	test_end_run(tr, PCS_RUN_FINISHED);

	/* end_run returns only after the commit, so a reader sees the rows now. */
	db = test_db_open(td.db);
	test_check_runs_row(db, run_id);
	test_check_layers_neurons(db);
	test_check_samples(db);
	test_check_streams(db);
	sqlite3_close(db);

	test_trace_close(tr);
	test_dir_remove(&td);
}
END_TEST


START_TEST(trace_special_values_stored)
{
	struct test_dir td;
	pcs_trace *tr;
	sqlite3 *db;
	pcs_run_info info = test_info;

	info.seed = UINT64_MAX;
	info.model_name = NULL;
	test_dir_make(&td);
	tr = test_trace_open(td.db);
	ck_assert_int_eq(pcs_trace_begin_run(tr, &info, NULL, NULL), 0);
	ck_assert_int_eq(pcs_trace_activity(tr, 0, 1.0, NAN), 0);
	ck_assert_int_eq(pcs_trace_activity(tr, 0, 2.0, INFINITY), 0);
	ck_assert_int_eq(pcs_trace_activity(tr, 0, 3.0, -0.0), 0);
	test_end_run(tr, PCS_RUN_DIVERGED);
	test_trace_close(tr);

	db = test_db_open(td.db);
	/* SQLite stores NaN as NULL. */
	ck_assert_int_eq(test_query_int(db, "SELECT value IS NULL FROM activity WHERE t = 1.0"), 1);
	ck_assert(isinf(test_query_double(db, "SELECT value FROM activity WHERE t = 2.0")));
	ck_assert_double_eq(test_query_double(db, "SELECT value FROM activity WHERE t = 3.0"), 0.0);
	/* A seed of 2^64 - 1 comes back as the int64 -1. */
	ck_assert_int_eq(test_query_int(db, "SELECT seed FROM runs"), -1);
	ck_assert_uint_eq((uint64_t)test_query_int(db, "SELECT seed FROM runs"), UINT64_MAX);
	ck_assert_int_eq(test_query_int(db, "SELECT model_name IS NULL FROM runs"), 1);
	sqlite3_close(db);
	test_dir_remove(&td);
}
END_TEST


static void test_sample(pcs_trace *tr, int64_t seq, int epoch, pcs_phase phase, int label,
			int predicted)
{
	pcs_sample_row row = {
		.seq = seq, .epoch = epoch, .phase = phase, .data_index = seq, .label = label,
		.t_on = 10.0 * (double)seq, .t_off = 10.0 * (double)seq + 8.0,
		.predicted = predicted, .energy = 0.5 * (double)seq, .settle_time = 2.0,
	};

	ck_assert_int_eq(pcs_trace_sample(tr, &row), 0);
}


START_TEST(trace_views_accuracy)
{
	struct test_dir td;
	pcs_trace *tr;
	sqlite3 *db;
	int64_t run_id;
	char sql[256];

	test_dir_make(&td);
	tr = test_trace_open(td.db);
	run_id = test_begin_run(tr);
	/* Epoch 1 train: 3 of 4 correct. Epoch 1 test: 1 of 2. Epoch 2 train: 0 of 1. */
	test_sample(tr, 0, 1, PCS_PHASE_TRAIN, 1, 1);
	test_sample(tr, 1, 1, PCS_PHASE_TRAIN, 0, 0);
	test_sample(tr, 2, 1, PCS_PHASE_TRAIN, 2, 1);
	test_sample(tr, 3, 1, PCS_PHASE_TRAIN, 3, 3);
	test_sample(tr, 4, 1, PCS_PHASE_TEST, 4, 4);
	test_sample(tr, 5, 1, PCS_PHASE_TEST, 5, 6);
	test_sample(tr, 6, 2, PCS_PHASE_TRAIN, 0, -1);
	test_end_run(tr, PCS_RUN_FINISHED);
	test_trace_close(tr);

	db = test_db_open(td.db);
	ck_assert_int_eq(test_query_int(db, "SELECT COUNT(*) FROM accuracy_per_epoch"), 3);
	snprintf(sql, sizeof sql, "SELECT accuracy FROM accuracy_per_epoch"
		 " WHERE run_id = %lld AND epoch = 1 AND phase = 'train'", (long long)run_id);
	ck_assert_double_eq(test_query_double(db, sql), 0.75);
	ck_assert_int_eq(test_query_int(db, "SELECT samples FROM accuracy_per_epoch"
				       " WHERE epoch = 1 AND phase = 'train'"), 4);
	ck_assert_int_eq(test_query_int(db, "SELECT correct FROM accuracy_per_epoch"
				       " WHERE epoch = 1 AND phase = 'train'"), 3);
	ck_assert_double_eq(test_query_double(db, "SELECT accuracy FROM accuracy_per_epoch"
					      " WHERE epoch = 1 AND phase = 'test'"), 0.5);
	ck_assert_double_eq(test_query_double(db, "SELECT accuracy FROM accuracy_per_epoch"
					      " WHERE epoch = 2 AND phase = 'train'"), 0.0);
	ck_assert_double_eq(test_query_double(db, "SELECT energy FROM energy_per_sample"
					      " WHERE seq = 5"), 2.5);
	ck_assert_double_eq(test_query_double(db, "SELECT settle_time FROM energy_per_sample"
					      " WHERE seq = 6"), 2.0);
	sqlite3_close(db);
	test_dir_remove(&td);
}
END_TEST


START_TEST(trace_views_join_names)
{
	struct test_dir td;
	pcs_trace *tr;
	sqlite3 *db;

	test_dir_make(&td);
	tr = test_trace_open(td.db);
	test_begin_run(tr);
	ck_assert_int_eq(pcs_trace_layer(tr, 0, "input", 2, "input"), 0);
	ck_assert_int_eq(pcs_trace_layer(tr, 1, "hidden", 2, "none"), 0);
	/* Neuron 7 is the error neuron at index 1 of hidden. */
	ck_assert_int_eq(pcs_trace_neuron(tr, 7, 1, 1, PCS_KIND_ERROR, 1.0, 0.1, NAN, NAN), 0);
	ck_assert_int_eq(pcs_trace_neuron(tr, 6, 1, 1, PCS_KIND_REPRESENTATION, 1.0, 0.1,
					  0.0, NAN), 0);
	ck_assert_int_eq(pcs_trace_activity(tr, 7, 0.5, 0.25), 0);
	ck_assert_int_eq(pcs_trace_activity(tr, 6, 0.5, 4.0), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(pcs_trace_event(tr, 7, 0.1 * i, 1.0), 0);
	ck_assert_int_eq(pcs_trace_event(tr, 6, 0.2, 1.0), 0);
	ck_assert_int_eq(pcs_trace_energy(tr, 0, 0.5, 1, 0.75), 0);
	test_end_run(tr, PCS_RUN_FINISHED);
	test_trace_close(tr);

	db = test_db_open(td.db);
	ck_assert_double_eq(test_query_double(db, "SELECT value FROM neuron_activity WHERE"
					      " layer = 'hidden' AND idx = 1 AND kind = 'e'"), 0.25);
	ck_assert_int_eq(test_query_int(db, "SELECT messages FROM message_counts WHERE"
				       " layer = 'hidden' AND kind = 'e'"), 3);
	ck_assert_int_eq(test_query_int(db, "SELECT messages FROM message_counts WHERE"
				       " layer = 'hidden' AND kind = 'x'"), 1);
	ck_assert_double_eq(test_query_double(db, "SELECT value FROM layer_energy WHERE"
					      " layer = 'hidden' AND seq = 0"), 0.75);
	sqlite3_close(db);
	test_dir_remove(&td);
}
END_TEST


/* Child process of the crash test: writes rows, waits for a commit, dies. */
static void test_crash_child(const char *path)
{
	pcs_trace *tr = NULL;

	if (pcs_trace_open(&tr, path, NULL) != 0 || pcs_trace_begin_run(tr, &test_info, NULL, NULL))
		_exit(2);
	for (int i = 0; i < 200000; i++) {
		if (pcs_trace_activity(tr, i % 100, 0.001 * i, (double)i) != 0)
			_exit(3);
	}
	usleep(500000);
	_exit(1);
}


START_TEST(trace_crash_keeps_committed_rows)
{
	struct test_dir td;
	sqlite3 *db;
	pid_t pid;
	int status = 0;
	int64_t count;
	char text[64];

	test_dir_make(&td);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		test_crash_child(td.db);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 1);

	db = test_db_open(td.db);
	count = test_query_int(db, "SELECT COUNT(*) FROM activity");
	ck_assert_int_gt(count, 0);
	ck_assert_int_le(count, 200000);
	/* Whole batches survive: the committed rows are the first count written. */
	ck_assert_int_eq(test_query_int(db, "SELECT MIN(value) FROM activity"), 0);
	ck_assert_int_eq(test_query_int(db, "SELECT MAX(value) FROM activity"), count - 1);
	test_query_text(db, "SELECT status FROM runs", text, sizeof text);
	ck_assert_str_eq(text, "running");
	ck_assert_int_eq(test_query_int(db, "SELECT finished_at IS NULL FROM runs"), 1);
	sqlite3_close(db);
	test_dir_remove(&td);
}
END_TEST


START_TEST(trace_batch_committed_by_deadline)
{
	/* Five full chunks of 4096 rows: fewer than a row-count batch of 50000. */
	const int64_t rows = 5 * 4096;
	struct test_dir td;
	pcs_trace *tr;
	sqlite3 *db;
	int64_t count = 0;

	test_dir_make(&td);
	tr = test_trace_open(td.db);
	test_begin_run(tr);
	/* The one row past the five chunks makes the producer hand over the fifth. */
	for (int64_t i = 0; i <= rows; i++)
		ck_assert_int_eq(pcs_trace_activity(tr, 0, (double)i, (double)i), 0);

	/* The 100 ms batch deadline commits them without further calls; allow 2 s. */
	db = test_db_open(td.db);
	for (int attempt = 0; attempt < 200 && count < rows; attempt++) {
		usleep(10000);
		count = test_query_int(db, "SELECT COUNT(*) FROM activity");
	}
	ck_assert_int_eq(count, rows);
	sqlite3_close(db);

	test_end_run(tr, PCS_RUN_FINISHED);
	test_trace_close(tr);
	test_dir_remove(&td);
}
END_TEST


/* Checks that opening path fails with PCS_ETRACE naming path; returns the error. */
static pcs_error test_assert_open_fails(const char *path)
{
	pcs_trace *tr = (pcs_trace *)&tr;
	pcs_error err = {0};

	ck_assert_int_eq(pcs_trace_open(&tr, path, &err), PCS_ETRACE);
	ck_assert_ptr_null(tr);
	ck_assert_int_eq(err.code, PCS_ETRACE);
	ck_assert_msg(strstr(err.msg, path) != NULL, "path missing from: %s", err.msg);
	return err;
}


START_TEST(trace_open_missing_directory)
{
	struct test_dir td;
	char path[128];

	test_dir_make(&td);
	snprintf(path, sizeof path, "%s/missing/x.db", td.dir);
	test_assert_open_fails(path);
	test_dir_remove(&td);
}
END_TEST


START_TEST(trace_open_parent_is_file)
{
	char file[] = "/tmp/pcs-trace-file-XXXXXX";
	char path[64];
	int fd = mkstemp(file);

	ck_assert_int_ge(fd, 0);
	close(fd);
	/* Unlike a chmod 0500 directory, this stops root as well. */
	snprintf(path, sizeof path, "%s/x.db", file);
	test_assert_open_fails(path);
	unlink(file);
}
END_TEST


START_TEST(trace_open_not_database)
{
	static const char text[] = "this is a text file, not a SQLite database\n"
				   "it is long enough to fill the 100-byte SQLite header ...\n";
	struct test_dir td;
	FILE *file;

	test_dir_make(&td);
	file = fopen(td.db, "w");
	ck_assert_ptr_nonnull(file);
	ck_assert_uint_eq(fwrite(text, 1, sizeof text - 1, file), sizeof text - 1);
	fclose(file);
	test_assert_open_fails(td.db);
	test_dir_remove(&td);
}
END_TEST


START_TEST(trace_reopen_other_version_rejected)
{
	struct test_dir td;
	pcs_error err;
	sqlite3 *db;
	char own[32];

	test_dir_make(&td);
	test_trace_close(test_trace_open(td.db));
	db = test_db_open(td.db);
	test_exec(db, "UPDATE meta SET value = '99' WHERE key = 'schema_version'");
	sqlite3_close(db);

	err = test_assert_open_fails(td.db);
	ck_assert_msg(strstr(err.msg, "version 99") != NULL, "found version missing: %s", err.msg);
	snprintf(own, sizeof own, "version %d", PCS_SCHEMA_VERSION);
	ck_assert_msg(strstr(err.msg, own) != NULL, "own version missing: %s", err.msg);

	/* The rejected open must leave the file as it was. */
	db = test_db_open(td.db);
	ck_assert_int_eq(test_query_int(db, "SELECT value FROM meta WHERE key = 'schema_version'"),
			 99);
	sqlite3_close(db);
	test_dir_remove(&td);
}
END_TEST


/* A SQLite file with tables of its own is not turned into a trace. */
START_TEST(trace_foreign_database_rejected)
{
	struct test_dir td;
	pcs_error err;
	sqlite3 *db;

	test_dir_make(&td);
	ck_assert_int_eq(sqlite3_open_v2(td.db, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
			 SQLITE_OK);
	test_exec(db, "CREATE TABLE foo(a); INSERT INTO foo VALUES (1)");
	sqlite3_close(db);

	err = test_assert_open_fails(td.db);
	ck_assert_msg(strstr(err.msg, "did not create") != NULL, "reason missing: %s", err.msg);
	ck_assert_msg(strstr(err.msg, td.db) != NULL, "path missing: %s", err.msg);

	db = test_db_open(td.db);
	ck_assert_int_eq(test_query_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"),
			 1);
	sqlite3_close(db);
	test_dir_remove(&td);
}
END_TEST


START_TEST(trace_counters_stored)
{
	struct test_dir td;
	pcs_trace *tr;
	sqlite3 *db;
	char name[32] = "messages_lost";
	int64_t first, second;
	char sql[160];

	test_dir_make(&td);
	tr = test_trace_open(td.db);
	first = test_begin_run(tr);
	ck_assert_int_eq(pcs_trace_counter(tr, name, 17.0), 0);
	/* The row must hold its own copy of the name. */
	memcpy(name, "changed", 8);
	ck_assert_int_eq(pcs_trace_counter(tr, "wall_seconds", 0.375), 0);
	ck_assert_int_eq(pcs_trace_counter(tr, "neuron_steps", 9007199254740992.0), 0);
	ck_assert_int_eq(pcs_trace_counter(tr, NULL, 1.0), PCS_EINVAL);
	test_end_run(tr, PCS_RUN_FINISHED);
	second = test_begin_run(tr);
	ck_assert_int_eq(pcs_trace_counter(tr, "messages_lost", 2.0), 0);
	test_end_run(tr, PCS_RUN_FINISHED);
	ck_assert_int_eq(pcs_trace_counter(tr, "messages_lost", 1.0), PCS_EINVAL);
	test_trace_close(tr);

	db = test_db_open(td.db);
	ck_assert_int_eq(test_query_int(db, "SELECT COUNT(*) FROM counters"), 4);
	snprintf(sql, sizeof sql, "SELECT value FROM counters WHERE run_id = %lld"
		 " AND name = 'messages_lost'", (long long)first);
	ck_assert_double_eq(test_query_double(db, sql), 17.0);
	snprintf(sql, sizeof sql, "SELECT value FROM counters WHERE run_id = %lld"
		 " AND name = 'messages_lost'", (long long)second);
	ck_assert_double_eq(test_query_double(db, sql), 2.0);
	ck_assert_double_eq(test_query_double(db, "SELECT value FROM counters"
					      " WHERE name = 'wall_seconds'"), 0.375);
	/* 2^53 is exact in a REAL column. */
	ck_assert_double_eq(test_query_double(db, "SELECT value FROM counters"
					      " WHERE name = 'neuron_steps'"), 9007199254740992.0);
	sqlite3_close(db);
	test_dir_remove(&td);
}
END_TEST


static void test_summary_sample(pcs_trace *tr, int64_t seq, int epoch, pcs_phase phase,
				int label, int predicted, double energy, double settle_time)
{
	pcs_sample_row row = {
		.seq = seq, .epoch = epoch, .phase = phase, .data_index = seq, .label = label,
		.t_on = 10.0 * (double)seq, .t_off = 10.0 * (double)seq + 8.0,
		.predicted = predicted, .energy = energy, .settle_time = settle_time,
	};

	ck_assert_int_eq(pcs_trace_sample(tr, &row), 0);
}


/*
 * Two training epochs and a test pass of four samples, two of them correct.
 * messages_sent is written in two parts, 1000 and 200.
 */
static int64_t test_summary_run_with_test(pcs_trace *tr)
{
	pcs_run_info info = test_info;
	pcs_error err = {0};
	int64_t run_id = -1;

	info.params = "{\"dynamics.dt\": \"0.05\"}";
	ck_assert_int_eq(pcs_trace_begin_run(tr, &info, &run_id, &err), 0);
	test_summary_sample(tr, 0, 1, PCS_PHASE_TRAIN, 1, 1, 4.0, 1.0);
	test_summary_sample(tr, 1, 1, PCS_PHASE_TRAIN, 0, 1, 2.0, 3.0);
	test_summary_sample(tr, 2, 2, PCS_PHASE_TRAIN, 1, 1, 1.0, 2.0);
	test_summary_sample(tr, 3, 2, PCS_PHASE_TRAIN, 0, 0, 3.0, 2.0);
	test_summary_sample(tr, 4, 2, PCS_PHASE_TEST, 0, 0, 0.5, 1.5);
	test_summary_sample(tr, 5, 2, PCS_PHASE_TEST, 1, 0, 1.5, 2.5);
	test_summary_sample(tr, 6, 2, PCS_PHASE_TEST, 2, 2, 1.0, 0.5);
	test_summary_sample(tr, 7, 2, PCS_PHASE_TEST, 3, -1, 2.0, 3.5);
	ck_assert_int_eq(pcs_trace_counter(tr, "messages_sent", 1000.0), 0);
	ck_assert_int_eq(pcs_trace_counter(tr, "messages_sent", 200.0), 0);
	ck_assert_int_eq(pcs_trace_counter(tr, "messages_lost", 3.0), 0);
	ck_assert_int_eq(pcs_trace_counter(tr, "neuron_steps", 5e6), 0);
	test_end_run(tr, PCS_RUN_FINISHED);
	return run_id;
}


/*
 * No test pass: the last epoch (2) has energies 0.25, 0.75 and a NaN one,
 * settle times 1, 2 and NaN. No counters.
 */
static int64_t test_summary_run_without_test(pcs_trace *tr)
{
	int64_t run_id = test_begin_run(tr);

	test_summary_sample(tr, 0, 1, PCS_PHASE_TRAIN, 0, 0, 10.0, 5.0);
	test_summary_sample(tr, 1, 1, PCS_PHASE_TRAIN, 1, 1, 20.0, 5.0);
	test_summary_sample(tr, 2, 2, PCS_PHASE_TRAIN, 0, 0, 0.25, 1.0);
	test_summary_sample(tr, 3, 2, PCS_PHASE_TRAIN, 1, 0, 0.75, 2.0);
	test_summary_sample(tr, 4, 2, PCS_PHASE_TRAIN, 1, 1, NAN, NAN);
	test_end_run(tr, PCS_RUN_DIVERGED);
	return run_id;
}


/* Returns a statement stepped to the run_summary row of run_id. */
static sqlite3_stmt *test_summary_row(sqlite3 *db, int64_t run_id)
{
	sqlite3_stmt *stmt = test_prepare(db, "SELECT model_name, seed, mode, status, params,"
					  " test_accuracy, final_energy, mean_settle_time, samples,"
					  " messages_sent, messages_lost FROM run_summary"
					  " WHERE run_id = ?1");

	sqlite3_bind_int64(stmt, 1, run_id);
	ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
	return stmt;
}


START_TEST(trace_run_summary_test_phase)
{
	struct test_dir td;
	pcs_trace *tr;
	sqlite3 *db;
	sqlite3_stmt *stmt;
	int64_t run_id;

	test_dir_make(&td);
	tr = test_trace_open(td.db);
	run_id = test_summary_run_with_test(tr);
	test_trace_close(tr);

	db = test_db_open(td.db);
	stmt = test_summary_row(db, run_id);
	ck_assert_str_eq((const char *)sqlite3_column_text(stmt, 0), "xor");
	ck_assert_int_eq(sqlite3_column_int64(stmt, 1), 7);
	ck_assert_str_eq((const char *)sqlite3_column_text(stmt, 2), "deterministic");
	ck_assert_str_eq((const char *)sqlite3_column_text(stmt, 3), "finished");
	ck_assert_str_eq((const char *)sqlite3_column_text(stmt, 4), "{\"dynamics.dt\": \"0.05\"}");
	/* 2 of 4 test samples correct; predicted -1 never counts. */
	ck_assert_double_eq(sqlite3_column_double(stmt, 5), 0.5);
	/* Test energies 0.5, 1.5, 1.0, 2.0 and settle times 1.5, 2.5, 0.5, 3.5. */
	ck_assert_double_eq(sqlite3_column_double(stmt, 6), 1.25);
	ck_assert_double_eq(sqlite3_column_double(stmt, 7), 2.0);
	ck_assert_int_eq(sqlite3_column_int64(stmt, 8), 8);
	ck_assert_double_eq(sqlite3_column_double(stmt, 9), 1200.0);
	ck_assert_double_eq(sqlite3_column_double(stmt, 10), 3.0);
	ck_assert_int_eq(sqlite3_step(stmt), SQLITE_DONE);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	test_dir_remove(&td);
}
END_TEST


START_TEST(trace_run_summary_last_epoch)
{
	struct test_dir td;
	pcs_trace *tr;
	sqlite3 *db;
	sqlite3_stmt *stmt;
	int64_t run_id;

	test_dir_make(&td);
	tr = test_trace_open(td.db);
	run_id = test_summary_run_without_test(tr);
	test_trace_close(tr);

	db = test_db_open(td.db);
	stmt = test_summary_row(db, run_id);
	ck_assert_str_eq((const char *)sqlite3_column_text(stmt, 3), "diverged");
	ck_assert_int_eq(sqlite3_column_type(stmt, 5), SQLITE_NULL);
	/* Epoch 2 only, the NULL (NaN) values left out of the means. */
	ck_assert_double_eq(sqlite3_column_double(stmt, 6), 0.5);
	ck_assert_double_eq(sqlite3_column_double(stmt, 7), 1.5);
	ck_assert_int_eq(sqlite3_column_int64(stmt, 8), 5);
	ck_assert_int_eq(sqlite3_column_type(stmt, 9), SQLITE_INTEGER);
	ck_assert_int_eq(sqlite3_column_int64(stmt, 9), 0);
	ck_assert_int_eq(sqlite3_column_int64(stmt, 10), 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	test_dir_remove(&td);
}
END_TEST


START_TEST(trace_run_summary_one_row_per_run)
{
	struct test_dir td;
	pcs_trace *tr;
	sqlite3 *db;
	sqlite3_stmt *stmt;
	int64_t with_test, without_test, empty;

	test_dir_make(&td);
	tr = test_trace_open(td.db);
	with_test = test_summary_run_with_test(tr);
	empty = test_begin_run(tr);
	test_end_run(tr, PCS_RUN_FAILED);
	without_test = test_summary_run_without_test(tr);
	test_trace_close(tr);

	db = test_db_open(td.db);
	ck_assert_int_eq(test_query_int(db, "SELECT COUNT(*) FROM run_summary"), 3);

	/* Rows of other runs must not leak into a run's means. */
	stmt = test_summary_row(db, with_test);
	ck_assert_double_eq(sqlite3_column_double(stmt, 6), 1.25);
	ck_assert_int_eq(sqlite3_column_int64(stmt, 8), 8);
	sqlite3_finalize(stmt);
	stmt = test_summary_row(db, without_test);
	ck_assert_double_eq(sqlite3_column_double(stmt, 6), 0.5);
	ck_assert_double_eq(sqlite3_column_double(stmt, 9), 0.0);
	sqlite3_finalize(stmt);

	/* A run without samples or counters still has its row. */
	stmt = test_summary_row(db, empty);
	ck_assert_str_eq((const char *)sqlite3_column_text(stmt, 3), "failed");
	ck_assert_int_eq(sqlite3_column_type(stmt, 5), SQLITE_NULL);
	ck_assert_int_eq(sqlite3_column_type(stmt, 6), SQLITE_NULL);
	ck_assert_int_eq(sqlite3_column_type(stmt, 7), SQLITE_NULL);
	ck_assert_int_eq(sqlite3_column_int64(stmt, 8), 0);
	ck_assert_int_eq(sqlite3_column_int64(stmt, 9), 0);
	ck_assert_int_eq(sqlite3_column_int64(stmt, 10), 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	test_dir_remove(&td);
}
END_TEST


START_TEST(trace_reopen_version_1_rejected)
{
	struct test_dir td;
	pcs_error err;
	sqlite3 *db;

	test_dir_make(&td);
	test_trace_close(test_trace_open(td.db));
	db = test_db_open(td.db);
	test_exec(db, "UPDATE meta SET value = '1' WHERE key = 'schema_version'");
	sqlite3_close(db);

	/* A version 1 file lacks neurons.delay, neurons.lesion_time and counters. */
	err = test_assert_open_fails(td.db);
	ck_assert_msg(strstr(err.msg, "version 1,") != NULL, "found version missing: %s",
		      err.msg);
	test_dir_remove(&td);
}
END_TEST


START_TEST(trace_runs_distinct_ids)
{
	struct test_dir td;
	pcs_trace *tr;
	int64_t first, second, third;
	sqlite3 *db;
	char sql[128];

	test_dir_make(&td);
	tr = test_trace_open(td.db);
	first = test_begin_run(tr);
	ck_assert_int_eq(pcs_trace_activity(tr, 0, 0.0, 1.0), 0);
	test_end_run(tr, PCS_RUN_FINISHED);
	second = test_begin_run(tr);
	ck_assert_int_eq(pcs_trace_activity(tr, 0, 0.0, 2.0), 0);
	test_end_run(tr, PCS_RUN_FINISHED);
	test_trace_close(tr);

	/* A reopened database keeps counting. */
	tr = test_trace_open(td.db);
	third = test_begin_run(tr);
	ck_assert_int_eq(pcs_trace_activity(tr, 0, 0.0, 3.0), 0);
	test_end_run(tr, PCS_RUN_FINISHED);
	test_trace_close(tr);

	ck_assert_int_ne(first, second);
	ck_assert_int_ne(second, third);
	ck_assert_int_ne(first, third);

	db = test_db_open(td.db);
	ck_assert_int_eq(test_query_int(db, "SELECT COUNT(*) FROM runs"), 3);
	snprintf(sql, sizeof sql, "SELECT value FROM activity WHERE run_id = %lld",
		 (long long)second);
	ck_assert_double_eq(test_query_double(db, sql), 2.0);
	snprintf(sql, sizeof sql, "SELECT value FROM activity WHERE run_id = %lld",
		 (long long)third);
	ck_assert_double_eq(test_query_double(db, sql), 3.0);
	sqlite3_close(db);
	test_dir_remove(&td);
}
END_TEST


START_TEST(trace_status_each_value)
{
	static const struct {
		pcs_run_status status;
		const char *name;
	} cases[] = {
		{PCS_RUN_RUNNING, "running"},
		{PCS_RUN_FINISHED, "finished"},
		{PCS_RUN_INTERRUPTED, "interrupted"},
		{PCS_RUN_DIVERGED, "diverged"},
		{PCS_RUN_FAILED, "failed"},
	};
	size_t count = sizeof cases / sizeof cases[0];
	struct test_dir td;
	int64_t ids[sizeof cases / sizeof cases[0]];
	pcs_trace *tr;
	sqlite3 *db;

	test_dir_make(&td);
	tr = test_trace_open(td.db);
	for (size_t i = 0; i < count; i++) {
		ck_assert_str_eq(pcs_run_status_name(cases[i].status), cases[i].name);
		ids[i] = test_begin_run(tr);
		test_end_run(tr, cases[i].status);
	}
	test_trace_close(tr);

	db = test_db_open(td.db);
	for (size_t i = 0; i < count; i++) {
		char sql[128], text[64];

		snprintf(sql, sizeof sql, "SELECT status FROM runs WHERE run_id = %lld",
			 (long long)ids[i]);
		test_query_text(db, sql, text, sizeof text);
		ck_assert_str_eq(text, cases[i].name);
	}
	sqlite3_close(db);
	test_dir_remove(&td);
}
END_TEST


START_TEST(trace_misuse_rejected)
{
	struct test_dir td;
	pcs_trace *tr;
	pcs_error err = {0};

	test_dir_make(&td);
	tr = test_trace_open(td.db);
	ck_assert_int_eq(pcs_trace_activity(tr, 0, 0.0, 0.0), PCS_EINVAL);
	ck_assert_int_eq(pcs_trace_end_run(tr, PCS_RUN_FINISHED, &err), PCS_EINVAL);
	test_begin_run(tr);
	ck_assert_int_eq(pcs_trace_begin_run(tr, &test_info, NULL, &err), PCS_EINVAL);
	ck_assert_int_eq(pcs_trace_end_run(tr, (pcs_run_status)42, &err), PCS_EINVAL);
	ck_assert_int_eq(pcs_trace_activity(NULL, 0, 0.0, 0.0), PCS_EINVAL);
	test_end_run(tr, PCS_RUN_FINISHED);
	ck_assert_int_eq(pcs_trace_activity(tr, 0, 0.0, 0.0), PCS_EINVAL);
	test_trace_close(tr);
	ck_assert_int_eq(pcs_trace_close(NULL, NULL), 0);
	test_dir_remove(&td);
}
END_TEST


START_TEST(trace_close_ends_active_run)
{
	struct test_dir td;
	pcs_trace *tr;
	sqlite3 *db;
	char text[64];

	test_dir_make(&td);
	tr = test_trace_open(td.db);
	test_begin_run(tr);
	ck_assert_int_eq(pcs_trace_activity(tr, 0, 0.0, 5.0), 0);
	test_trace_close(tr);

	db = test_db_open(td.db);
	test_query_text(db, "SELECT status FROM runs", text, sizeof text);
	ck_assert_str_eq(text, "interrupted");
	ck_assert_int_eq(test_query_int(db, "SELECT finished_at IS NOT NULL FROM runs"), 1);
	ck_assert_double_eq(test_query_double(db, "SELECT value FROM activity"), 5.0);
	sqlite3_close(db);
	test_dir_remove(&td);
}
END_TEST


static int64_t test_index_count(const char *path)
{
	sqlite3 *db = test_db_open(path);
	int64_t count = test_query_int(db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index'"
					   " AND name = 'activity_by_neuron'");

	sqlite3_close(db);
	return count;
}


START_TEST(trace_indexes_built_at_close)
{
	struct test_dir td;
	pcs_trace *tr;

	test_dir_make(&td);
	tr = test_trace_open(td.db);
	test_begin_run(tr);
	test_end_run(tr, PCS_RUN_FINISHED);
	ck_assert_int_eq(test_index_count(td.db), 0);
	test_trace_close(tr);
	ck_assert_int_eq(test_index_count(td.db), 1);

	/* A new run streams without the index and gets it back at close. */
	tr = test_trace_open(td.db);
	test_begin_run(tr);
	ck_assert_int_eq(test_index_count(td.db), 0);
	test_end_run(tr, PCS_RUN_FINISHED);
	test_trace_close(tr);
	ck_assert_int_eq(test_index_count(td.db), 1);
	test_dir_remove(&td);
}
END_TEST


START_TEST(trace_backpressure_keeps_rows)
{
	/* More rows than the queue takes (256 chunks of 4096), so the producer waits. */
	const int64_t rows = 1500000;
	struct test_dir td;
	pcs_trace *tr;
	sqlite3 *db;

	test_dir_make(&td);
	tr = test_trace_open(td.db);
	test_begin_run(tr);
	for (int64_t i = 0; i < rows; i++)
		ck_assert_int_eq(pcs_trace_activity(tr, (int)(i % 1000), 0.001 * (double)i,
						    (double)i), 0);
	test_end_run(tr, PCS_RUN_FINISHED);

	db = test_db_open(td.db);
	ck_assert_int_eq(test_query_int(db, "SELECT COUNT(*) FROM activity"), rows);
	/* Integers below 2^53 sum exactly, so any lost or repeated row shows. */
	ck_assert_double_eq(test_query_double(db, "SELECT SUM(value) FROM activity"),
			    (double)rows * (double)(rows - 1) / 2.0);
	sqlite3_close(db);
	test_trace_close(tr);
	test_dir_remove(&td);
}
END_TEST


/* Writes rows until the producer reports the writer's failure. */
static int64_t test_fill_until_error(pcs_trace *tr)
{
	const int64_t limit = 20000000;

	for (int64_t i = 0; i < limit; i++) {
		int rc = pcs_trace_activity(tr, 0, (double)i, (double)i);

		if (rc != 0) {
			ck_assert_int_eq(rc, PCS_ETRACE);
			return i;
		}
	}
	ck_abort_msg("no error after %lld rows in a full database", (long long)limit);
	return -1;
}


START_TEST(trace_writer_failure_sticky)
{
	struct test_dir td;
	pcs_trace *tr;
	pcs_error err = {0};
	int64_t limit = 0;
	sqlite3 *db;
	char text[64];

	test_dir_make(&td);
	tr = test_trace_open(td.db);
	test_begin_run(tr);
	/* SQLite clamps the limit to the current size, so the next new page fails. */
	ck_assert_int_eq(pcs_trace_set_max_pages(tr, 1, &limit, &err), 0);
	ck_assert_int_gt(limit, 1);

	test_fill_until_error(tr);
	ck_assert_int_eq(pcs_trace_activity(tr, 0, 0.0, 0.0), PCS_ETRACE);
	ck_assert_int_eq(pcs_trace_layer(tr, 0, "input", 1, "input"), PCS_ETRACE);

	ck_assert_int_eq(pcs_trace_end_run(tr, PCS_RUN_FAILED, &err), PCS_ETRACE);
	ck_assert_int_eq(err.code, PCS_ETRACE);
	ck_assert_msg(strstr(err.msg, td.db) != NULL, "path missing from: %s", err.msg);
	ck_assert_msg(strstr(err.msg, "full") != NULL, "SQLite message missing from: %s",
		      err.msg);
	ck_assert_msg(strstr(err.msg, "INSERT INTO activity") != NULL,
		      "statement missing from: %s", err.msg);

	memset(&err, 0, sizeof err);
	ck_assert_int_eq(pcs_trace_close(tr, &err), PCS_ETRACE);
	ck_assert_msg(strstr(err.msg, "full") != NULL, "close lost the message: %s", err.msg);

	/* The status update rewrites an existing page, so it fits under the limit. */
	db = test_db_open(td.db);
	test_query_text(db, "SELECT status FROM runs", text, sizeof text);
	ck_assert_str_eq(text, "failed");
	sqlite3_close(db);
	test_dir_remove(&td);
}
END_TEST


static Suite *trace_suite(void)
{
	Suite *suite = suite_create("trace");
	TCase *tc = tcase_create("unit");

	tcase_add_test(tc, trace_schema_created);
	tcase_add_test(tc, trace_rows_round_trip);
	tcase_add_test(tc, trace_special_values_stored);
	tcase_add_test(tc, trace_views_accuracy);
	tcase_add_test(tc, trace_views_join_names);
	tcase_add_test(tc, trace_crash_keeps_committed_rows);
	tcase_add_test(tc, trace_batch_committed_by_deadline);
	tcase_add_test(tc, trace_open_missing_directory);
	tcase_add_test(tc, trace_open_parent_is_file);
	tcase_add_test(tc, trace_open_not_database);
	tcase_add_test(tc, trace_reopen_other_version_rejected);
	tcase_add_test(tc, trace_foreign_database_rejected);
	tcase_add_test(tc, trace_reopen_version_1_rejected);
	tcase_add_test(tc, trace_counters_stored);
	tcase_add_test(tc, trace_run_summary_test_phase);
	tcase_add_test(tc, trace_run_summary_last_epoch);
	tcase_add_test(tc, trace_run_summary_one_row_per_run);
	tcase_add_test(tc, trace_runs_distinct_ids);
	tcase_add_test(tc, trace_status_each_value);
	tcase_add_test(tc, trace_misuse_rejected);
	tcase_add_test(tc, trace_close_ends_active_run);
	tcase_add_test(tc, trace_indexes_built_at_close);
	tcase_add_test(tc, trace_backpressure_keeps_rows);
	tcase_add_test(tc, trace_writer_failure_sticky);
	suite_add_tcase(suite, tc);
	return suite;
}


int main(void)
{
	SRunner *runner = srunner_create(trace_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
