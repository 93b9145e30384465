/* SPDX-License-Identifier: MIT */
/*
 * `pcsim sweep`: runs a model for every combination of the --vary values
 * and every seed, each run as a child `pcsim run` process.
 *
 * SQLite allows one writer per database at a time, so each child writes
 * into its own temporary database next to the target. When a child exits,
 * its runs are copied into the target in one transaction under new run ids,
 * and the temporary files are deleted. The children run on a libuv loop:
 * the exit callback merges and starts the next run, and the SIGINT and
 * SIGTERM watchers stop new starts and forward the signal to the children.
 *
 * Job slot states:
 *
 *     free --spawned--> running --exited: merge, report--> closing --closed--> free
 *     free --spawn failed--> closing
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "cli/cli.h"
#include "pcsim/trace.h"

/* Larger grids are rejected: they are far more than a trace database serves well. */
#define SWEEP_MAX_RUNS 10000
/* The --set and --vary options of one run; `pcsim run` takes at most 62 --set. */
#define SWEEP_MAX_OVERRIDES (PCS_MAX_OVERRIDES - 2)
/* How long a merge waits for another connection's write lock on the target. */
#define SWEEP_BUSY_TIMEOUT_MS 10000
#define SWEEP_PARAMS_MAX 4096
#define SWEEP_CELL_MAX 128
/* Columns of the final table besides one per --vary key. */
#define SWEEP_FIXED_COLUMNS 9

static const char sweep_usage[] =
	"usage: pcsim sweep MODEL --vary KEY=V1,V2,... [--vary ...] [--seeds N] [--db FILE]\n"
	"                   [--jobs J] [--set KEY=VALUE]... [--quiet]\n"
	"\n"
	"Runs MODEL once for every combination of the --vary values and every seed,\n"
	"and appends each run to one trace database (see docs/traces.md).\n"
	"\n"
	"  --vary K=V1,V2,...  run each value of model key K (any key --set takes, e.g.\n"
	"                      --vary 'edge input -> hidden.delay=0,0.5,1'); repeatable,\n"
	"                      the grid is the product of the lists; values cannot\n"
	"                      contain commas\n"
	"  --seeds N           runs per combination, with seeds model.seed,\n"
	"                      model.seed+1, ..., model.seed+N-1 (default 1)\n"
	"  --db FILE           trace database (default: trace.db of the model file)\n"
	"  --jobs J            runs at once, each a `pcsim run` child process (default 1);\n"
	"                      more jobs than CPU cores only slow the sweep down\n"
	"  --set K=V           override a model key in every run; repeatable\n"
	"  --quiet, -q         no progress lines on stderr\n"
	"\n"
	"Every combination is validated before the first run starts, and a grid may\n"
	"have at most 10000 runs. Each run's runs.params contains its --set and --vary\n"
	"values and its seed. A line per finished run goes to stderr. At the end, the\n"
	"run_summary rows of the new runs go to stdout as a table, with one column per\n"
	"--vary key in place of params.\n"
	"Exit codes: 0 every run finished, 1 a run failed (the sweep goes on),\n"
	"2 usage or model error, 4 trace database error, 6 interrupted.\n";

/* One --vary option: its key and one "KEY=VALUE" override per value. */
typedef struct sweep_axis {
	char *key;
	char **overrides;
	int n_values;
} sweep_axis;

typedef struct sweep_args {
	const char *model_path;
	const char *sets[SWEEP_MAX_OVERRIDES];
	int n_sets;
	sweep_axis axes[SWEEP_MAX_OVERRIDES];
	int n_axes;
	long seeds;
	long jobs;
	const char *db;         /* NULL: the model's trace.db */
	bool quiet;
} sweep_args;

enum sweep_slot_state {
	SWEEP_SLOT_FREE,
	SWEEP_SLOT_RUNNING,
	SWEEP_SLOT_CLOSING,
};

struct sweep_ctx;

/* A child process and its temporary database. */
typedef struct sweep_slot {
	uv_process_t process;
	struct sweep_ctx *ctx;
	enum sweep_slot_state state;
	int run;                /* grid index */
	char temp[PCS_PATH_MAX + 16];
} sweep_slot;

/*
 * Grid index k stands for combination k / seeds and seed number k % seeds.
 * A combination picks one value per axis, the last axis changing fastest.
 */
typedef struct sweep_ctx {
	sweep_args args;
	int combos;             /* combinations of the --vary values */
	int total;              /* runs: combos * seeds */
	uint64_t *base_seeds;   /* model.seed of each combination */
	int64_t *run_ids;       /* per grid index, the run's id in the target; 0 if none */
	char target[PCS_PATH_MAX];
	sqlite3 *db;            /* the target */

	uv_loop_t loop;
	uv_signal_t sigint, sigterm;
	bool signals_closed;
	sweep_slot *slots;
	int n_slots;
	int busy;               /* slots not free */
	int next;               /* next grid index to start */
	int finished;           /* runs reported so far */
	int failed;             /* runs whose child failed or never started */
	int interrupted;        /* the signal received, 0 if none */
	int fatal;              /* PCS_EXIT_* that stops new starts, 0 if none */
} sweep_ctx;


/* Prints "pcsim sweep: PROBLEM 'VALUE'" and the usage; returns -1. */
static int sweep_usage_error(const char *problem, const char *value)
{
	fprintf(stderr, "pcsim sweep: %s '%s'\n%s", problem, value, sweep_usage);
	return -1;
}


/* Parses text as an integer in [min, max] into *out; returns false otherwise. */
static bool sweep_parse_long(const char *text, long min, long max, long *out)
{
	char *end;
	long value;

	errno = 0;
	value = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || value < min || value > max)
		return false;
	*out = value;
	return true;
}


/* Splits "KEY=V1,V2,..." into an axis of "KEY=Vi" overrides. */
static int sweep_axis_parse(sweep_axis *axis, const char *text)
{
	const char *eq = strchr(text, '=');
	const char *value;

	if (eq == NULL || eq == text)
		return sweep_usage_error("invalid --vary (expected KEY=V1,V2,...)", text);
	if (eq[1] == '\0')
		return sweep_usage_error("missing values in --vary", text);

	axis->key = strndup(text, (size_t)(eq - text));
	axis->overrides = calloc(strlen(eq), sizeof *axis->overrides);
	if (axis->key == NULL || axis->overrides == NULL)
		return sweep_usage_error("out of memory parsing --vary", text);

	for (value = eq + 1; ; ) {
		size_t length = strcspn(value, ",");
		size_t size = (size_t)(eq - text) + length + 2;
		char *override;

		if (length == 0)
			return sweep_usage_error("empty value in --vary", text);
		override = malloc(size);
		if (override == NULL)
			return sweep_usage_error("out of memory parsing --vary", text);
		snprintf(override, size, "%s=%.*s", axis->key, (int)length, value);
		axis->overrides[axis->n_values++] = override;
		if (value[length] == '\0')
			break;
		value += length + 1;
	}
	return 0;
}


static int sweep_add_axis(sweep_args *args, const char *text)
{
	sweep_axis *axis;

	if (args->n_sets + args->n_axes >= SWEEP_MAX_OVERRIDES)
		return sweep_usage_error("too many --set and --vary options (at most 62"
					 " together) at", text);
	axis = &args->axes[args->n_axes++];
	if (sweep_axis_parse(axis, text) != 0)
		return -1;

	if (strcmp(axis->key, "trace.db") == 0)
		return sweep_usage_error("--vary cannot change the trace database; use --db"
					 " for", text);
	for (int a = 0; a < args->n_axes - 1; a++) {
		if (strcmp(args->axes[a].key, axis->key) == 0)
			return sweep_usage_error("the same key is given to --vary twice:", axis->key);
	}
	return 0;
}


/*
 * Returns the value of option name at argv[*i], given as "NAME VALUE" or
 * "NAME=VALUE", and advances *i past it; NULL when argv[*i] is another
 * option. Sets *missing when NAME has no value.
 */
static const char *sweep_option(int argc, char **argv, int *i, const char *name, bool *missing)
{
	size_t length = strlen(name);
	const char *arg = argv[*i];

	if (strncmp(arg, name, length) != 0)
		return NULL;
	if (arg[length] == '=')
		return arg + length + 1;
	if (arg[length] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = true;
		return NULL;
	}
	*i += 1;
	return argv[*i];
}


/* Handles one option at argv[*i]; returns 0, or -1 after a usage error. */
static int sweep_parse_option(int argc, char **argv, int *i, sweep_args *args)
{
	bool missing = false;
	const char *arg = argv[*i];
	const char *value;

	if ((value = sweep_option(argc, argv, i, "--vary", &missing)) != NULL)
		return sweep_add_axis(args, value);
	if ((value = sweep_option(argc, argv, i, "--set", &missing)) != NULL) {
		if (args->n_sets + args->n_axes >= SWEEP_MAX_OVERRIDES)
			return sweep_usage_error("too many --set and --vary options (at most 62"
						 " together) at", value);
		args->sets[args->n_sets++] = value;
		return 0;
	}
	if ((value = sweep_option(argc, argv, i, "--seeds", &missing)) != NULL) {
		if (!sweep_parse_long(value, 1, SWEEP_MAX_RUNS, &args->seeds))
			return sweep_usage_error("invalid --seeds (expected 1 to 10000):", value);
		return 0;
	}
	if ((value = sweep_option(argc, argv, i, "--jobs", &missing)) != NULL) {
		if (!sweep_parse_long(value, 1, INT_MAX, &args->jobs))
			return sweep_usage_error("invalid --jobs (expected an integer >= 1):", value);
		return 0;
	}
	if ((value = sweep_option(argc, argv, i, "--db", &missing)) != NULL) {
		if (value[0] == '\0')
			return sweep_usage_error("missing a file path after", "--db");
		args->db = value;
		return 0;
	}
	if (missing)
		return sweep_usage_error("missing a value after", arg);
	return sweep_usage_error("unknown option", arg);
}


/* Returns 0, 1 when --help was printed, or -1 after a usage error. */
static int sweep_parse_args(int argc, char **argv, sweep_args *args)
{
	args->seeds = 1;
	args->jobs = 1;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			fputs(sweep_usage, stdout);
			return 1;
		}
		if (strcmp(arg, "--quiet") == 0 || strcmp(arg, "-q") == 0)
			args->quiet = true;
		else if (arg[0] == '-' && arg[1] != '\0') {
			if (sweep_parse_option(argc, argv, &i, args) != 0)
				return -1;
		} else if (args->model_path == NULL)
			args->model_path = arg;
		else
			return sweep_usage_error("unexpected argument", arg);
	}
	if (args->model_path == NULL)
		return sweep_usage_error("missing the MODEL file argument; see", "--help");
	return 0;
}


static void sweep_args_free(sweep_args *args)
{
	for (int a = 0; a < args->n_axes; a++) {
		for (int v = 0; v < args->axes[a].n_values; v++)
			free(args->axes[a].overrides[v]);
		free(args->axes[a].overrides);
		free(args->axes[a].key);
	}
}


/* Computes the number of combinations and runs; rejects grids over the limit. */
static int sweep_grid_size(sweep_ctx *ctx)
{
	long combos = 1;

	for (int a = 0; a < ctx->args.n_axes; a++) {
		combos *= ctx->args.axes[a].n_values;
		if (combos * ctx->args.seeds > SWEEP_MAX_RUNS)
			break;
	}
	if (combos * ctx->args.seeds > SWEEP_MAX_RUNS) {
		fprintf(stderr, "pcsim sweep: the grid has more than %d runs (the product of the"
			" --vary list lengths times --seeds); shorten the lists or sweep in parts\n",
			SWEEP_MAX_RUNS);
		return -1;
	}
	ctx->combos = (int)combos;
	ctx->total = (int)(combos * ctx->args.seeds);
	return 0;
}


/* Returns the value index of axis in combination combo. */
static int sweep_value_index(const sweep_ctx *ctx, int combo, int axis)
{
	for (int a = ctx->args.n_axes - 1; a > axis; a--)
		combo /= ctx->args.axes[a].n_values;
	return combo % ctx->args.axes[axis].n_values;
}


/* Fills list with the --set overrides, then the values of combo; returns the count. */
static int sweep_overrides(const sweep_ctx *ctx, int combo, const char **list)
{
	int n = 0;

	for (int s = 0; s < ctx->args.n_sets; s++)
		list[n++] = ctx->args.sets[s];
	for (int a = 0; a < ctx->args.n_axes; a++)
		list[n++] = ctx->args.axes[a].overrides[sweep_value_index(ctx, combo, a)];
	return n;
}


static uint64_t sweep_seed(const sweep_ctx *ctx, int run)
{
	return ctx->base_seeds[run / ctx->args.seeds] + (uint64_t)(run % ctx->args.seeds);
}


/* Writes "KEY=V KEY=V ..." for combination combo into buf ("" without --vary). */
static size_t sweep_describe_combo(const sweep_ctx *ctx, int combo, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int a = 0; a < ctx->args.n_axes && n < size; a++) {
		int v = sweep_value_index(ctx, combo, a);

		n += (size_t)snprintf(buf + n, size - n, "%s%s", a > 0 ? " " : "",
				      ctx->args.axes[a].overrides[v]);
	}
	return n;
}


/* Writes "KEY=V KEY=V ... seed S" for the grid index run into buf. */
static void sweep_describe(const sweep_ctx *ctx, int run, char *buf, size_t size)
{
	size_t n = sweep_describe_combo(ctx, run / (int)ctx->args.seeds, buf, size);

	if (n < size)
		snprintf(buf + n, size - n, "%sseed %" PRIu64, n > 0 ? " " : "",
			 sweep_seed(ctx, run));
}


/*
 * Loads the model with the overrides of every combination, so that a bad
 * value fails before any run starts, and records each combination's seed.
 * Sets the target database when --db was not given. Returns a PCS_EXIT_*.
 */
static int sweep_validate(sweep_ctx *ctx)
{
	const char *list[SWEEP_MAX_OVERRIDES];
	uint64_t span = (uint64_t)(ctx->args.seeds - 1);

	for (int combo = 0; combo < ctx->combos; combo++) {
		int n = sweep_overrides(ctx, combo, list);
		pcs_error err = {0};
		pcs_model model;
		int rc = pcs_model_load(&model, ctx->args.model_path, list, n, &err);

		if (rc != 0) {
			char description[1024];

			sweep_describe_combo(ctx, combo, description, sizeof description);
			fprintf(stderr, "pcsim sweep: invalid combination (%s), so no run started: %s\n",
				description[0] != '\0' ? description : "no --vary",
				err.msg[0] != '\0' ? err.msg : pcs_strerror(rc));
			return pcs_cli_exit_code(rc);
		}
		ctx->base_seeds[combo] = model.seed;
		if (combo == 0 && ctx->args.db == NULL)
			snprintf(ctx->target, sizeof ctx->target, "%s", model.trace.db);
		pcs_model_free(&model);

		if (ctx->base_seeds[combo] > UINT64_MAX - span) {
			fprintf(stderr, "pcsim sweep: model.seed %" PRIu64 " plus %ld seeds passes"
				" 2^64 - 1; lower model.seed or --seeds\n", ctx->base_seeds[combo],
				ctx->args.seeds);
			return PCS_EXIT_USAGE;
		}
	}
	if (ctx->args.db != NULL)
		snprintf(ctx->target, sizeof ctx->target, "%s", ctx->args.db);
	return PCS_EXIT_OK;
}


/*
 * Creates the target's schema, or checks its version, through the trace
 * writer, then opens the connection that merges into it. Returns a PCS_EXIT_*.
 */
static int sweep_target_open(sweep_ctx *ctx)
{
	pcs_trace *trace = NULL;
	pcs_error err = {0};
	int rc;

	/* The temporary databases are named TARGET.sweep-XXXXXX. */
	if (strlen(ctx->target) + sizeof ".sweep-XXXXXX" > sizeof ctx->target) {
		fprintf(stderr, "pcsim sweep: the trace database path %s is longer than %zu"
			" characters; use a shorter --db\n", ctx->target,
			sizeof ctx->target - sizeof ".sweep-XXXXXX");
		return PCS_EXIT_USAGE;
	}

	rc = pcs_trace_open(&trace, ctx->target, &err);
	if (rc == 0)
		rc = pcs_trace_close(trace, &err);
	if (rc != 0) {
		pcs_cli_report("sweep", &err, rc);
		return pcs_cli_exit_code(rc);
	}

	if (sqlite3_open_v2(ctx->target, &ctx->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		fprintf(stderr, "pcsim sweep: trace database %s: opening failed: %s\n", ctx->target,
			sqlite3_errmsg(ctx->db));
		return PCS_EXIT_TRACE;
	}
	sqlite3_busy_timeout(ctx->db, SWEEP_BUSY_TIMEOUT_MS);
	return PCS_EXIT_OK;
}


/* Reports a failed SQL step on the target connection; returns PCS_ETRACE. */
static int sweep_sql_fail(const sweep_ctx *ctx, const char *sql)
{
	fprintf(stderr, "pcsim sweep: trace database %s: `%s` failed: %s\n", ctx->target, sql,
		sqlite3_errmsg(ctx->db));
	return PCS_ETRACE;
}


static int sweep_exec(const sweep_ctx *ctx, const char *sql)
{
	if (sqlite3_exec(ctx->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return sweep_sql_fail(ctx, sql);
	return 0;
}


/*
 * Builds the model text and params that `pcsim run` would record for this
 * run with --seed and --db, so the temporary path appears in neither. The
 * caller owns *model_text. It is NULL when the model file no longer loads,
 * and the merge then keeps the child's text.
 */
static void sweep_run_record(const sweep_ctx *ctx, int run, char **model_text, char *params,
			     size_t size)
{
	const char *list[PCS_MAX_OVERRIDES];
	char seed[48], db[PCS_PATH_MAX + 16];
	int n = sweep_overrides(ctx, run / (int)ctx->args.seeds, list);
	pcs_model model;

	snprintf(seed, sizeof seed, "model.seed=%" PRIu64, sweep_seed(ctx, run));
	list[n++] = seed;
	if (ctx->args.db != NULL) {
		snprintf(db, sizeof db, "trace.db=%s", ctx->args.db);
		list[n++] = db;
	}
	pcs_cli_params_json(list, n, params, size);

	*model_text = NULL;
	if (pcs_model_load(&model, ctx->args.model_path, list, n, NULL) == 0) {
		*model_text = model.text;
		model.text = NULL;
		pcs_model_free(&model);
	}
}


/* Inserts the runs row of child run old_id into the target; sets *new_id. */
static int sweep_copy_runs_row(sweep_ctx *ctx, int run, int64_t old_id, int64_t *new_id)
{
	static const char sql[] =
		"INSERT INTO main.runs(started_at, finished_at, status, model_name, model_text,"
		" seed, mode, params) SELECT started_at, finished_at, status, model_name,"
		" COALESCE(?2, model_text), seed, mode, ?3 FROM child.runs WHERE run_id = ?1";
	char params[SWEEP_PARAMS_MAX], *model_text;
	sqlite3_stmt *stmt = NULL;
	int rc;

	sweep_run_record(ctx, run, &model_text, params, sizeof params);
	if (sqlite3_prepare_v2(ctx->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
		free(model_text);
		return sweep_sql_fail(ctx, sql);
	}

	sqlite3_bind_int64(stmt, 1, old_id);
	sqlite3_bind_text(stmt, 2, model_text, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, params, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : sweep_sql_fail(ctx, sql);
	*new_id = sqlite3_last_insert_rowid(ctx->db);
	sqlite3_finalize(stmt);
	free(model_text);
	return rc;
}


/* Appends `"c1", "c2", ...`, every column of child.table but run_id, to str. */
static int sweep_append_columns(sweep_ctx *ctx, const char *table, sqlite3_str *str)
{
	static const char sql[] =
		"SELECT name FROM pragma_table_info(?1, 'child') WHERE name <> 'run_id' ORDER BY cid";
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (sqlite3_prepare_v2(ctx->db, sql, -1, &stmt, NULL) != SQLITE_OK)
		return sweep_sql_fail(ctx, sql);
	sqlite3_bind_text(stmt, 1, table, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		sqlite3_str_appendf(str, ", \"%w\"", (const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE ? 0 : sweep_sql_fail(ctx, sql);
}


/* Copies the rows of child run old_id in table into the target as run new_id. */
static int sweep_copy_table(sweep_ctx *ctx, const char *table, int64_t old_id, int64_t new_id)
{
	sqlite3_str *columns = sqlite3_str_new(ctx->db);
	char *sql = NULL, *list;
	int rc = sweep_append_columns(ctx, table, columns);
	bool no_memory = sqlite3_str_errcode(columns) == SQLITE_NOMEM;

	/* list is NULL when run_id is the table's only column. */
	list = sqlite3_str_finish(columns);
	if (rc == 0 && !no_memory)
		sql = sqlite3_mprintf("INSERT INTO main.\"%w\"(run_id%s) SELECT %lld%s"
				      " FROM child.\"%w\" WHERE run_id = %lld", table,
				      list != NULL ? list : "", (long long)new_id,
				      list != NULL ? list : "", table, (long long)old_id);
	if (rc == 0 && sql == NULL) {
		fprintf(stderr, "pcsim sweep: out of memory copying table %s\n", table);
		rc = PCS_ENOMEM;
	}
	if (rc == 0)
		rc = sweep_exec(ctx, sql);
	sqlite3_free(sql);
	sqlite3_free(list);
	return rc;
}


/* Copies every child table with a run_id column, runs excepted, for one run. */
static int sweep_copy_tables(sweep_ctx *ctx, int64_t old_id, int64_t new_id)
{
	static const char sql[] =
		"SELECT m.name FROM child.sqlite_master AS m WHERE m.type = 'table'"
		" AND m.name <> 'runs' AND EXISTS (SELECT 1 FROM pragma_table_info(m.name, 'child')"
		" AS c WHERE c.name = 'run_id') ORDER BY m.name";
	sqlite3_stmt *stmt = NULL;
	int step, rc = 0;

	if (sqlite3_prepare_v2(ctx->db, sql, -1, &stmt, NULL) != SQLITE_OK)
		return sweep_sql_fail(ctx, sql);
	while (rc == 0 && (step = sqlite3_step(stmt)) == SQLITE_ROW)
		rc = sweep_copy_table(ctx, (const char *)sqlite3_column_text(stmt, 0), old_id,
				      new_id);
	if (rc == 0 && step != SQLITE_DONE)
		rc = sweep_sql_fail(ctx, sql);
	sqlite3_finalize(stmt);
	return rc;
}


/* Copies every run of the attached child database; records the last new id. */
static int sweep_copy_runs(sweep_ctx *ctx, int run)
{
	static const char sql[] = "SELECT run_id FROM child.runs ORDER BY run_id";
	sqlite3_stmt *stmt = NULL;
	int step, rc = 0;

	if (sqlite3_prepare_v2(ctx->db, sql, -1, &stmt, NULL) != SQLITE_OK)
		return sweep_sql_fail(ctx, sql);
	while (rc == 0 && (step = sqlite3_step(stmt)) == SQLITE_ROW) {
		int64_t old_id = sqlite3_column_int64(stmt, 0), new_id = 0;

		rc = sweep_copy_runs_row(ctx, run, old_id, &new_id);
		if (rc == 0)
			rc = sweep_copy_tables(ctx, old_id, new_id);
		if (rc == 0)
			ctx->run_ids[run] = new_id;
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = sweep_sql_fail(ctx, sql);
	sqlite3_finalize(stmt);
	return rc;
}


/* Returns whether the attached child database has a runs table. */
static bool sweep_child_has_runs(sweep_ctx *ctx)
{
	sqlite3_stmt *stmt = NULL;
	bool found = false;

	if (sqlite3_prepare_v2(ctx->db, "SELECT 1 FROM child.sqlite_master WHERE type = 'table'"
			       " AND name = 'runs'", -1, &stmt, NULL) == SQLITE_OK)
		found = sqlite3_step(stmt) == SQLITE_ROW;
	sqlite3_finalize(stmt);
	return found;
}


/*
 * Merges the temporary database of grid index run into the target in one
 * transaction. A child that wrote no database merges nothing.
 */
static int sweep_merge(sweep_ctx *ctx, int run, const char *temp)
{
	sqlite3_stmt *attach = NULL;
	int rc;

	if (sqlite3_prepare_v2(ctx->db, "ATTACH DATABASE ?1 AS child", -1, &attach, NULL)
	    != SQLITE_OK)
		return sweep_sql_fail(ctx, "ATTACH DATABASE");
	sqlite3_bind_text(attach, 1, temp, -1, SQLITE_STATIC);
	rc = sqlite3_step(attach) == SQLITE_DONE ? 0 : sweep_sql_fail(ctx, "ATTACH DATABASE");
	sqlite3_finalize(attach);
	if (rc != 0)
		return rc;

	if (sweep_child_has_runs(ctx)) {
		rc = sweep_exec(ctx, "BEGIN IMMEDIATE");
		if (rc == 0)
			rc = sweep_copy_runs(ctx, run);
		if (rc == 0)
			rc = sweep_exec(ctx, "COMMIT");
		if (rc != 0 && !sqlite3_get_autocommit(ctx->db))
			sqlite3_exec(ctx->db, "ROLLBACK", NULL, NULL, NULL);
		if (rc != 0)
			ctx->run_ids[run] = 0;
	}
	if (sweep_exec(ctx, "DETACH DATABASE child") != 0 && rc == 0)
		rc = PCS_ETRACE;
	return rc;
}


/* Deletes a temporary database and the files SQLite keeps beside it. */
static void sweep_temp_remove(const char *temp)
{
	static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
	char path[PCS_PATH_MAX + 32];

	for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
		snprintf(path, sizeof path, "%s%s", temp, suffixes[i]);
		unlink(path);
	}
}


/* Copies the status and test accuracy of target run run_id for the progress line. */
static void sweep_run_outcome(const sweep_ctx *ctx, int64_t run_id, char *status, char *accuracy,
			      size_t size)
{
	sqlite3_stmt *stmt = NULL;

	if (sqlite3_prepare_v2(ctx->db, "SELECT status, test_accuracy FROM run_summary"
			       " WHERE run_id = ?1", -1, &stmt, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(stmt, 1, run_id);
	if (sqlite3_step(stmt) == SQLITE_ROW) {
		const unsigned char *text = sqlite3_column_text(stmt, 0);

		snprintf(status, size, "%s", text != NULL ? (const char *)text : "unknown");
		if (sqlite3_column_type(stmt, 1) != SQLITE_NULL)
			snprintf(accuracy, size, "%.4f", sqlite3_column_double(stmt, 1));
	}
	sqlite3_finalize(stmt);
}


/* Prints the progress line of a finished run and, if its child failed, why. */
static void sweep_report(sweep_ctx *ctx, int run, int exit_code, int term_signal)
{
	char description[1024], status[64] = "none (no trace written)", accuracy[64] = "none";

	sweep_describe(ctx, run, description, sizeof description);
	if (ctx->run_ids[run] != 0)
		sweep_run_outcome(ctx, ctx->run_ids[run], status, accuracy, sizeof status);

	ctx->finished++;
	if (!ctx->args.quiet)
		fprintf(stderr, "[%d/%d] %s: test accuracy %s, status %s\n", ctx->finished,
			ctx->total, description, accuracy, status);

	/* Children stopped by a forwarded signal are not failures of their own. */
	if (term_signal != 0 && !ctx->interrupted)
		fprintf(stderr, "pcsim sweep: run %s failed: pcsim run was killed by signal %d"
			" (%s)\n", description, term_signal, strsignal(term_signal));
	else if (exit_code != 0 && !(ctx->interrupted && exit_code == PCS_EXIT_INTERRUPTED))
		fprintf(stderr, "pcsim sweep: run %s failed: pcsim run exited with code %d\n",
			description, exit_code);
}


static void sweep_fill_slots(sweep_ctx *ctx);


static void sweep_close_cb(uv_handle_t *handle)
{
	sweep_slot *slot = handle->data;
	sweep_ctx *ctx = slot->ctx;

	slot->state = SWEEP_SLOT_FREE;
	ctx->busy--;
	sweep_fill_slots(ctx);
}


/* Merges the finished child's database, reports the run and frees the slot. */
static void sweep_exit_cb(uv_process_t *process, int64_t exit_status, int term_signal)
{
	sweep_slot *slot = process->data;
	sweep_ctx *ctx = slot->ctx;

	if (sweep_merge(ctx, slot->run, slot->temp) == 0) {
		sweep_temp_remove(slot->temp);
	} else {
		fprintf(stderr, "pcsim sweep: the traces of this run stay in %s; no further runs"
			" start\n", slot->temp);
		ctx->fatal = PCS_EXIT_TRACE;
	}

	if (exit_status != 0 || term_signal != 0)
		ctx->failed++;
	sweep_report(ctx, slot->run, (int)exit_status, term_signal);

	slot->state = SWEEP_SLOT_CLOSING;
	uv_close((uv_handle_t *)process, sweep_close_cb);
}


/* Creates the slot's empty temporary database next to the target. */
static int sweep_temp_create(sweep_ctx *ctx, sweep_slot *slot)
{
	int fd;

	snprintf(slot->temp, sizeof slot->temp, "%s.sweep-XXXXXX", ctx->target);
	fd = mkstemp(slot->temp);
	if (fd < 0) {
		fprintf(stderr, "pcsim sweep: creating the temporary database %s failed: %s; check"
			" that the directory of %s is writable\n", slot->temp, strerror(errno),
			ctx->target);
		return PCS_ETRACE;
	}
	close(fd);
	return 0;
}


/* Fills argv with `pcsim run MODEL --quiet --db TEMP --seed S --set ...` for run. */
static void sweep_child_argv(const sweep_ctx *ctx, const sweep_slot *slot, int run, char **argv,
			     char *seed, size_t seed_size)
{
	const char *list[SWEEP_MAX_OVERRIDES];
	int n = sweep_overrides(ctx, run / (int)ctx->args.seeds, list), argc = 0;

	snprintf(seed, seed_size, "%" PRIu64, sweep_seed(ctx, run));
	argv[argc++] = (char *)"pcsim";
	argv[argc++] = (char *)"run";
	argv[argc++] = (char *)ctx->args.model_path;
	argv[argc++] = (char *)"--quiet";
	argv[argc++] = (char *)"--db";
	argv[argc++] = (char *)slot->temp;
	argv[argc++] = (char *)"--seed";
	argv[argc++] = seed;
	for (int i = 0; i < n; i++) {
		argv[argc++] = (char *)"--set";
		argv[argc++] = (char *)list[i];
	}
	argv[argc] = NULL;
}


/*
 * Starts the child process of grid index run. Its stdout goes to stderr,
 * so that stdout carries only the final table. A failure to start stops
 * the sweep.
 */
static void sweep_start(sweep_ctx *ctx, sweep_slot *slot, int run)
{
	char *argv[2 * SWEEP_MAX_OVERRIDES + 10], seed[32], description[1024];
	uv_stdio_container_t stdio[3] = {
		{.flags = UV_IGNORE},
		{.flags = UV_INHERIT_FD, .data.fd = STDERR_FILENO},
		{.flags = UV_INHERIT_FD, .data.fd = STDERR_FILENO},
	};
	uv_process_options_t options = {
		.exit_cb = sweep_exit_cb, .file = "/proc/self/exe", .args = argv,
		.stdio_count = 3, .stdio = stdio,
	};
	int rc;

	if (sweep_temp_create(ctx, slot) != 0) {
		ctx->fatal = PCS_EXIT_TRACE;
		return;
	}
	sweep_child_argv(ctx, slot, run, argv, seed, sizeof seed);

	slot->ctx = ctx;
	slot->run = run;
	slot->process.data = slot;
	slot->state = SWEEP_SLOT_RUNNING;
	ctx->busy++;
	rc = uv_spawn(&ctx->loop, &slot->process, &options);
	if (rc != 0) {
		sweep_describe(ctx, run, description, sizeof description);
		fprintf(stderr, "pcsim sweep: starting pcsim run for %s failed: %s; no further runs"
			" start\n", description, uv_strerror(rc));
		sweep_temp_remove(slot->temp);
		ctx->failed++;
		ctx->fatal = PCS_EXIT_RUN_FAILED;
		/* libuv initialises the handle even when the spawn fails, so it must be closed. */
		slot->state = SWEEP_SLOT_CLOSING;
		uv_close((uv_handle_t *)&slot->process, sweep_close_cb);
	}
}


/* Starts runs in the free slots; once none is busy and none may start, ends the loop. */
static void sweep_fill_slots(sweep_ctx *ctx)
{
	for (int i = 0; i < ctx->n_slots; i++) {
		if (ctx->interrupted != 0 || ctx->fatal != 0 || ctx->next >= ctx->total)
			break;
		if (ctx->slots[i].state == SWEEP_SLOT_FREE)
			sweep_start(ctx, &ctx->slots[i], ctx->next++);
	}

	if (ctx->busy == 0 && !ctx->signals_closed) {
		ctx->signals_closed = true;
		uv_close((uv_handle_t *)&ctx->sigint, NULL);
		uv_close((uv_handle_t *)&ctx->sigterm, NULL);
	}
}


/* Stops new starts and forwards the signal to every running child. */
static void sweep_signal_cb(uv_signal_t *handle, int signum)
{
	sweep_ctx *ctx = handle->data;
	int running = 0;

	ctx->interrupted = signum;
	for (int i = 0; i < ctx->n_slots; i++) {
		if (ctx->slots[i].state != SWEEP_SLOT_RUNNING)
			continue;
		uv_process_kill(&ctx->slots[i].process, signum);
		running++;
	}
	if (!ctx->args.quiet)
		fprintf(stderr, "pcsim sweep: %s received; no further runs start, and the %d"
			" running ones stop and are merged\n", strsignal(signum), running);
}


/* Runs the grid on a libuv loop, at most --jobs children at a time. */
static int sweep_run_all(sweep_ctx *ctx)
{
	int rc;

	ctx->n_slots = ctx->args.jobs < ctx->total ? (int)ctx->args.jobs : ctx->total;
	ctx->slots = calloc((size_t)ctx->n_slots, sizeof *ctx->slots);
	if (ctx->slots == NULL) {
		fprintf(stderr, "pcsim sweep: out of memory for %d job slots\n", ctx->n_slots);
		return PCS_EXIT_RUN_FAILED;
	}

	rc = uv_loop_init(&ctx->loop);
	if (rc == 0)
		rc = uv_signal_init(&ctx->loop, &ctx->sigint);
	if (rc == 0)
		rc = uv_signal_init(&ctx->loop, &ctx->sigterm);
	if (rc != 0) {
		fprintf(stderr, "pcsim sweep: setting up the event loop failed: %s\n",
			uv_strerror(rc));
		return PCS_EXIT_RUN_FAILED;
	}
	ctx->sigint.data = ctx;
	ctx->sigterm.data = ctx;
	uv_signal_start(&ctx->sigint, sweep_signal_cb, SIGINT);
	uv_signal_start(&ctx->sigterm, sweep_signal_cb, SIGTERM);

	sweep_fill_slots(ctx);
	uv_run(&ctx->loop, UV_RUN_DEFAULT);
	uv_loop_close(&ctx->loop);
	return PCS_EXIT_OK;
}


/* Formats column col of stmt with precision digits ("%.*f" or "%.*g"), "-" for NULL. */
static void sweep_cell_real(char *cell, sqlite3_stmt *stmt, int col, bool fixed, int digits)
{
	double value = sqlite3_column_double(stmt, col);

	if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
		snprintf(cell, SWEEP_CELL_MAX, "-");
	else if (fixed)
		snprintf(cell, SWEEP_CELL_MAX, "%.*f", digits, value);
	else
		snprintf(cell, SWEEP_CELL_MAX, "%.*g", digits, value);
}


/*
 * Fills the cells of grid index run from stmt, the run_summary query, or
 * the header when run is -1. Returns false when the run has no row.
 */
static bool sweep_table_row(const sweep_ctx *ctx, sqlite3_stmt *stmt, int run,
			    char (*cells)[SWEEP_CELL_MAX])
{
	static const char *const headers[] = {
		"status", "test_accuracy", "final_energy", "mean_settle_time", "samples",
		"messages_sent", "messages_lost",
	};
	int c = 0, a;

	if (run < 0) {
		snprintf(cells[c++], SWEEP_CELL_MAX, "run_id");
		for (a = 0; a < ctx->args.n_axes; a++)
			snprintf(cells[c++], SWEEP_CELL_MAX, "%s", ctx->args.axes[a].key);
		snprintf(cells[c++], SWEEP_CELL_MAX, "seed");
		for (size_t h = 0; h < sizeof headers / sizeof headers[0]; h++)
			snprintf(cells[c++], SWEEP_CELL_MAX, "%s", headers[h]);
		return true;
	}

	sqlite3_reset(stmt);
	sqlite3_bind_int64(stmt, 1, ctx->run_ids[run]);
	if (ctx->run_ids[run] == 0 || sqlite3_step(stmt) != SQLITE_ROW)
		return false;

	snprintf(cells[c++], SWEEP_CELL_MAX, "%lld", (long long)ctx->run_ids[run]);
	for (a = 0; a < ctx->args.n_axes; a++) {
		int v = sweep_value_index(ctx, run / (int)ctx->args.seeds, a);

		snprintf(cells[c++], SWEEP_CELL_MAX, "%s",
			 strchr(ctx->args.axes[a].overrides[v], '=') + 1);
	}
	snprintf(cells[c++], SWEEP_CELL_MAX, "%" PRIu64, sweep_seed(ctx, run));
	snprintf(cells[c++], SWEEP_CELL_MAX, "%s", (const char *)sqlite3_column_text(stmt, 1));
	sweep_cell_real(cells[c++], stmt, 2, true, 4);
	sweep_cell_real(cells[c++], stmt, 3, false, 6);
	sweep_cell_real(cells[c++], stmt, 4, false, 4);
	snprintf(cells[c++], SWEEP_CELL_MAX, "%lld", (long long)sqlite3_column_int64(stmt, 5));
	sweep_cell_real(cells[c++], stmt, 6, true, 0);
	sweep_cell_real(cells[c++], stmt, 7, true, 0);
	return true;
}


/* Prints the run_summary rows of the new runs, in grid order, as an aligned table. */
static void sweep_print_table(const sweep_ctx *ctx)
{
	static const char sql[] =
		"SELECT run_id, status, test_accuracy, final_energy, mean_settle_time, samples,"
		" messages_sent, messages_lost FROM run_summary WHERE run_id = ?1";
	int columns = SWEEP_FIXED_COLUMNS + ctx->args.n_axes;
	char cells[SWEEP_FIXED_COLUMNS + SWEEP_MAX_OVERRIDES][SWEEP_CELL_MAX];
	int widths[SWEEP_FIXED_COLUMNS + SWEEP_MAX_OVERRIDES] = {0};
	sqlite3_stmt *stmt = NULL;

	if (sqlite3_prepare_v2(ctx->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
		sweep_sql_fail(ctx, sql);
		return;
	}

	/* The first pass measures the columns, the second prints them. */
	for (int pass = 0; pass < 2; pass++) {
		for (int run = -1; run < ctx->total; run++) {
			if (!sweep_table_row(ctx, stmt, run, cells))
				continue;
			for (int c = 0; c < columns; c++) {
				int width = (int)strlen(cells[c]);

				if (pass == 0 && width > widths[c])
					widths[c] = width;
				else if (pass == 1 && c + 1 < columns)
					printf("%-*s  ", widths[c], cells[c]);
				else if (pass == 1)
					printf("%s\n", cells[c]);
			}
		}
	}
	sqlite3_finalize(stmt);
}


/* Checks the grid and every combination and opens the target; returns a PCS_EXIT_*. */
static int sweep_prepare(sweep_ctx *ctx)
{
	int rc;

	if (sweep_grid_size(ctx) != 0)
		return PCS_EXIT_USAGE;

	ctx->base_seeds = calloc((size_t)ctx->combos, sizeof *ctx->base_seeds);
	ctx->run_ids = calloc((size_t)ctx->total, sizeof *ctx->run_ids);
	if (ctx->base_seeds == NULL || ctx->run_ids == NULL) {
		fprintf(stderr, "pcsim sweep: out of memory for a grid of %d runs\n", ctx->total);
		return PCS_EXIT_RUN_FAILED;
	}

	rc = sweep_validate(ctx);
	if (rc == PCS_EXIT_OK)
		rc = sweep_target_open(ctx);
	return rc;
}


int pcs_cmd_sweep(int argc, char **argv)
{
	sweep_ctx ctx = {0};
	int rc = sweep_parse_args(argc, argv, &ctx.args);

	if (rc != 0) {
		sweep_args_free(&ctx.args);
		return rc > 0 ? PCS_EXIT_OK : PCS_EXIT_USAGE;
	}

	rc = sweep_prepare(&ctx);
	if (rc == PCS_EXIT_OK)
		rc = sweep_run_all(&ctx);
	if (rc == PCS_EXIT_OK) {
		sweep_print_table(&ctx);
		if (ctx.interrupted != 0)
			rc = PCS_EXIT_INTERRUPTED;
		else if (ctx.fatal != 0)
			rc = ctx.fatal;
		else if (ctx.failed > 0)
			rc = PCS_EXIT_RUN_FAILED;
	}
	if (rc == PCS_EXIT_RUN_FAILED && ctx.failed > 0)
		fprintf(stderr, "pcsim sweep: %d of %d runs failed\n", ctx.failed, ctx.total);

	sqlite3_close(ctx.db);
	free(ctx.slots);
	free(ctx.run_ids);
	free(ctx.base_seeds);
	sweep_args_free(&ctx.args);
	return rc;
}
