/* SPDX-License-Identifier: MIT */
/*
 * The trace schema (version PCS_SCHEMA_VERSION): tables, views, the insert
 * statements of the writer and the indexes built when a trace closes.
 * docs/traces.md describes every column, so keep the two in step. Raise
 * PCS_SCHEMA_VERSION whenever a table or column changes meaning.
 *
 * The streaming tables have no constraints or indexes while rows arrive,
 * because each index would turn an append into a B-tree insert at a random
 * position. With the indexes of an earlier run in place, an activity stream
 * of 1000 interleaved neurons was written about five times slower (measured
 * on a 2-core machine). So a new run drops them (trace_indexes_drop), and the
 * close builds them again over all runs (trace_indexes_create).
 */
#include <stdio.h>
#include <string.h>

#include "trace/trace_internal.h"

static const char trace_meta_sql[] =
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);";

static const char trace_tables_sql[] =
	"CREATE TABLE IF NOT EXISTS runs(run_id INTEGER PRIMARY KEY, started_at TEXT NOT NULL,"
	" finished_at TEXT, status TEXT NOT NULL, model_name TEXT, model_text TEXT,"
	" seed INTEGER, mode TEXT, params TEXT);"
	"CREATE TABLE IF NOT EXISTS layers(run_id INTEGER NOT NULL, layer_id INTEGER,"
	" name TEXT, size INTEGER, clamp TEXT);"
	"CREATE TABLE IF NOT EXISTS neurons(run_id INTEGER NOT NULL, neuron_id INTEGER,"
	" layer_id INTEGER, idx INTEGER, kind TEXT, tau REAL, dt REAL, delay REAL,"
	" lesion_time REAL);"
	"CREATE TABLE IF NOT EXISTS samples(run_id INTEGER NOT NULL, seq INTEGER,"
	" epoch INTEGER, phase TEXT, data_index INTEGER, label INTEGER, t_on REAL,"
	" t_off REAL, predicted INTEGER, energy REAL, settle_time REAL);"
	"CREATE TABLE IF NOT EXISTS activity(run_id INTEGER NOT NULL, neuron_id INTEGER,"
	" t REAL, value REAL);"
	"CREATE TABLE IF NOT EXISTS events(run_id INTEGER NOT NULL, neuron_id INTEGER,"
	" t REAL, value REAL);"
	"CREATE TABLE IF NOT EXISTS weights(run_id INTEGER NOT NULL, epoch INTEGER,"
	" edge INTEGER, post INTEGER, pre INTEGER, w REAL);"
	"CREATE TABLE IF NOT EXISTS energy(run_id INTEGER NOT NULL, seq INTEGER, t REAL,"
	" layer_id INTEGER, value REAL);"
	"CREATE TABLE IF NOT EXISTS counters(run_id INTEGER NOT NULL, name TEXT, value REAL);"
	"CREATE TABLE IF NOT EXISTS feedback_angles(run_id INTEGER NOT NULL, epoch INTEGER,"
	" edge INTEGER, degrees REAL);";

/* predicted is -1 when no class won, which never equals a label (>= 0). */
static const char trace_views_sql[] =
	"CREATE VIEW IF NOT EXISTS accuracy_per_epoch AS"
	" SELECT run_id, epoch, phase, COUNT(*) AS samples,"
	" SUM(predicted = label) AS correct, AVG(predicted = label) AS accuracy"
	" FROM samples GROUP BY run_id, epoch, phase;"
	"CREATE VIEW IF NOT EXISTS energy_per_sample AS"
	" SELECT run_id, seq, epoch, phase, energy, settle_time FROM samples;"
	"CREATE VIEW IF NOT EXISTS layer_energy AS"
	" SELECT e.run_id, e.seq, e.layer_id, l.name AS layer, e.t, e.value"
	" FROM energy e JOIN layers l ON l.run_id = e.run_id AND l.layer_id = e.layer_id;"
	"CREATE VIEW IF NOT EXISTS neuron_activity AS"
	" SELECT a.run_id, l.name AS layer, n.idx, n.kind, a.neuron_id, a.t, a.value"
	" FROM activity a"
	" JOIN neurons n ON n.run_id = a.run_id AND n.neuron_id = a.neuron_id"
	" JOIN layers l ON l.run_id = n.run_id AND l.layer_id = n.layer_id;"
	"CREATE VIEW IF NOT EXISTS message_counts AS"
	" SELECT v.run_id, l.name AS layer, n.kind, COUNT(*) AS messages"
	" FROM events v"
	" JOIN neurons n ON n.run_id = v.run_id AND n.neuron_id = v.neuron_id"
	" JOIN layers l ON l.run_id = n.run_id AND l.layer_id = n.layer_id"
	" GROUP BY v.run_id, l.name, n.kind;";

/*
 * One row per run. test_accuracy is NULL when no test sample has a
 * prediction (a model without a target layer). The final energy and mean
 * settle time come from the test
 * samples, or from the last training epoch of a run without a test phase.
 * Counter rows of one name add up, and a missing counter reads as 0.
 */
static const char trace_run_summary_sql[] =
	"CREATE VIEW IF NOT EXISTS run_summary AS"
	" WITH per_run AS ("
	"   SELECT run_id, COUNT(*) AS samples,"
	"     SUM(phase = 'test') AS test_samples,"
	"     CASE WHEN MAX(CASE WHEN phase = 'test' THEN predicted END) < 0 THEN NULL"
	"       ELSE AVG(CASE WHEN phase = 'test' THEN predicted = label END) END AS test_accuracy,"
	"     MAX(CASE WHEN phase = 'train' THEN epoch END) AS last_epoch"
	"   FROM samples GROUP BY run_id),"
	" final_samples AS ("
	"   SELECT s.run_id, AVG(s.energy) AS energy, AVG(s.settle_time) AS settle_time"
	"   FROM samples s JOIN per_run p ON p.run_id = s.run_id"
	"   WHERE (p.test_samples > 0 AND s.phase = 'test')"
	"      OR (p.test_samples = 0 AND s.phase = 'train' AND s.epoch = p.last_epoch)"
	"   GROUP BY s.run_id),"
	" totals AS ("
	"   SELECT run_id,"
	"     SUM(CASE WHEN name = 'messages_sent' THEN value END) AS messages_sent,"
	"     SUM(CASE WHEN name = 'messages_lost' THEN value END) AS messages_lost"
	"   FROM counters GROUP BY run_id)"
	" SELECT r.run_id, r.model_name, r.seed, r.mode, r.status, r.params,"
	"   p.test_accuracy, f.energy AS final_energy, f.settle_time AS mean_settle_time,"
	"   COALESCE(p.samples, 0) AS samples,"
	"   COALESCE(t.messages_sent, 0) AS messages_sent,"
	"   COALESCE(t.messages_lost, 0) AS messages_lost"
	" FROM runs r"
	" LEFT JOIN per_run p ON p.run_id = r.run_id"
	" LEFT JOIN final_samples f ON f.run_id = r.run_id"
	" LEFT JOIN totals t ON t.run_id = r.run_id;";

static const char trace_meta_rows_sql[] =
	"INSERT OR IGNORE INTO meta(key, value) VALUES"
	" ('schema_version', ?1), ('pcsim_version', ?2),"
	" ('created_at', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));";

/* The indexes built at close: name, then table and key columns. */
static const char *const trace_indexes[][2] = {
	{"layers_by_id", "layers(run_id, layer_id)"},
	{"neurons_by_id", "neurons(run_id, neuron_id)"},
	{"samples_by_seq", "samples(run_id, seq)"},
	{"activity_by_neuron", "activity(run_id, neuron_id, t)"},
	{"events_by_neuron", "events(run_id, neuron_id, t)"},
	{"weights_by_edge", "weights(run_id, edge, epoch)"},
	{"energy_by_sample", "energy(run_id, seq, layer_id)"},
};

/* Indexed by enum trace_row_kind; ?1 is the run id, bound once per run. */
static const char *const trace_insert_sql[TRACE_ROW_KINDS] = {
	[TRACE_ROW_LAYER] = "INSERT INTO layers(run_id, layer_id, name, size, clamp)"
			    " VALUES (?1, ?2, ?3, ?4, ?5)",
	[TRACE_ROW_NEURON] = "INSERT INTO neurons(run_id, neuron_id, layer_id, idx, kind, tau, dt,"
			     " delay, lesion_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[TRACE_ROW_SAMPLE] = "INSERT INTO samples(run_id, seq, epoch, phase, data_index, label,"
			     " t_on, t_off, predicted, energy, settle_time)"
			     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	[TRACE_ROW_ACTIVITY] = "INSERT INTO activity(run_id, neuron_id, t, value)"
			       " VALUES (?1, ?2, ?3, ?4)",
	[TRACE_ROW_EVENT] = "INSERT INTO events(run_id, neuron_id, t, value)"
			    " VALUES (?1, ?2, ?3, ?4)",
	[TRACE_ROW_WEIGHT] = "INSERT INTO weights(run_id, epoch, edge, post, pre, w)"
			     " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[TRACE_ROW_ENERGY] = "INSERT INTO energy(run_id, seq, t, layer_id, value)"
			     " VALUES (?1, ?2, ?3, ?4, ?5)",
	[TRACE_ROW_COUNTER] = "INSERT INTO counters(run_id, name, value) VALUES (?1, ?2, ?3)",
	[TRACE_ROW_ANGLE] = "INSERT INTO feedback_angles(run_id, epoch, edge, degrees)"
			    " VALUES (?1, ?2, ?3, ?4)",
};


static int schema_fail(pcs_trace *tr, const char *step, pcs_error *err)
{
	return pcs_error_set(err, PCS_ETRACE,
			     "trace database %s: %s failed: %s; check that the directory exists,"
			     " is writable and has free space, and that the file is a pcsim trace",
			     tr->path, step, sqlite3_errmsg(tr->db));
}


/*
 * Reads meta.schema_version into version (empty when the row is absent).
 * Returns SQLITE_OK or the failing SQLite code.
 */
static int schema_read_version(sqlite3 *db, char *version, size_t size)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'",
				    -1, &stmt, NULL);

	if (rc != SQLITE_OK)
		return rc;

	version[0] = '\0';
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		const unsigned char *text = sqlite3_column_text(stmt, 0);

		snprintf(version, size, "%s", text != NULL ? (const char *)text : "NULL");
		rc = SQLITE_DONE;
	}

	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}


static int schema_write_meta(sqlite3 *db)
{
	sqlite3_stmt *stmt = NULL;
	char version[16];
	int rc = sqlite3_prepare_v2(db, trace_meta_rows_sql, -1, &stmt, NULL);

	if (rc != SQLITE_OK)
		return rc;

	snprintf(version, sizeof version, "%d", PCS_SCHEMA_VERSION);
	sqlite3_bind_text(stmt, 1, version, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(stmt, 2, PCS_VERSION, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}


/*
 * Checks the recorded schema version and creates whatever is missing, all in
 * one write transaction. BEGIN IMMEDIATE takes the write lock even when every
 * table exists, so a database that cannot be written fails here, at open.
 */
/* Counts the tables of the database; returns -1 on a SQLite error. */
static int schema_count_tables(sqlite3 *db)
{
	sqlite3_stmt *stmt = NULL;
	int count = -1;

	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'", -1,
			       &stmt, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		count = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return count;
}


static int schema_create_locked(pcs_trace *tr, pcs_error *err)
{
	char expected[16], version[64];
	int tables = schema_count_tables(tr->db);

	if (tables < 0)
		return schema_fail(tr, "listing the tables", err);
	if (sqlite3_exec(tr->db, trace_meta_sql, NULL, NULL, NULL) != SQLITE_OK)
		return schema_fail(tr, "creating the meta table", err);
	if (schema_read_version(tr->db, version, sizeof version) != SQLITE_OK)
		return schema_fail(tr, "reading meta.schema_version", err);

	/* A database with tables but no pcsim version is someone else's file:
	 * adding pcsim's tables to it would mix two data sets. */
	if (tables > 0 && version[0] == '\0')
		return pcs_error_set(err, PCS_ETRACE,
				     "%s is a SQLite database that pcsim did not create (it has "
				     "tables but no meta.schema_version); write the trace to a new file",
				     tr->path);

	snprintf(expected, sizeof expected, "%d", PCS_SCHEMA_VERSION);
	if (version[0] != '\0' && strcmp(version, expected) != 0)
		return pcs_error_set(err, PCS_ETRACE,
				     "trace database %s has schema version %s, but this pcsim"
				     " writes version %s; write the trace to a new file",
				     tr->path, version, expected);

	if (sqlite3_exec(tr->db, trace_tables_sql, NULL, NULL, NULL) != SQLITE_OK)
		return schema_fail(tr, "creating the tables", err);
	if (sqlite3_exec(tr->db, trace_views_sql, NULL, NULL, NULL) != SQLITE_OK)
		return schema_fail(tr, "creating the views", err);
	if (sqlite3_exec(tr->db, trace_run_summary_sql, NULL, NULL, NULL) != SQLITE_OK)
		return schema_fail(tr, "creating the run_summary view", err);
	if (schema_write_meta(tr->db) != SQLITE_OK)
		return schema_fail(tr, "writing the meta rows", err);
	return 0;
}


int trace_schema_create(pcs_trace *tr, pcs_error *err)
{
	int rc;

	if (sqlite3_exec(tr->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return schema_fail(tr, "starting the schema transaction", err);

	rc = schema_create_locked(tr, err);
	if (rc != 0) {
		sqlite3_exec(tr->db, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}

	if (sqlite3_exec(tr->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		rc = schema_fail(tr, "committing the schema", err);
		sqlite3_exec(tr->db, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}
	return 0;
}


int trace_statements_prepare(pcs_trace *tr, pcs_error *err)
{
	for (int kind = 0; kind < TRACE_ROW_KINDS; kind++) {
		int rc = sqlite3_prepare_v3(tr->db, trace_insert_sql[kind], -1,
					    SQLITE_PREPARE_PERSISTENT, &tr->insert[kind], NULL);

		if (rc != SQLITE_OK)
			return pcs_error_set(err, PCS_ETRACE,
					     "trace database %s: preparing `%s` failed: %s",
					     tr->path, trace_insert_sql[kind], sqlite3_errmsg(tr->db));
	}
	return 0;
}


/* Creates (create true) or drops every index of trace_indexes. */
static int schema_indexes_change(pcs_trace *tr, bool create)
{
	size_t count = sizeof trace_indexes / sizeof trace_indexes[0];

	for (size_t i = 0; i < count; i++) {
		char sql[160];

		if (create)
			snprintf(sql, sizeof sql, "CREATE INDEX IF NOT EXISTS %s ON %s",
				 trace_indexes[i][0], trace_indexes[i][1]);
		else
			snprintf(sql, sizeof sql, "DROP INDEX IF EXISTS %s", trace_indexes[i][0]);

		if (sqlite3_exec(tr->db, sql, NULL, NULL, NULL) != SQLITE_OK)
			return trace_writer_fail(tr, sql);
	}
	return 0;
}


int trace_indexes_create(pcs_trace *tr)
{
	return schema_indexes_change(tr, true);
}


int trace_indexes_drop(pcs_trace *tr)
{
	return schema_indexes_change(tr, false);
}
