/* SPDX-License-Identifier: MIT */
/*
 * The writer thread of a trace: it pops chunks of rows from the queue,
 * inserts them with the prepared statements of schema.c inside batches
 * (BEGIN ... COMMIT), and runs the commands the producer posts (begin run,
 * end run, close) once every row queued before them is written.
 *
 * A batch is committed after TRACE_BATCH_ROWS rows, once it has been open
 * TRACE_BATCH_NS of wall time, or before a command, whichever comes first.
 * The first SQLite failure is stored as the trace's sticky error. From then
 * on the writer drops rows but keeps draining the queue, so the producer
 * never blocks on a dead writer.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "trace/trace_internal.h"

enum writer_work {
	WRITER_CHUNK,
	WRITER_COMMAND,
	WRITER_DEADLINE,
};

static const char writer_begin_run_sql[] =
	"INSERT INTO runs(started_at, status, model_name, model_text, seed, mode, params)"
	" VALUES (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 'running', ?1, ?2, ?3, ?4, ?5)";

static const char writer_end_run_sql[] =
	"UPDATE runs SET status = ?1, finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
	" WHERE run_id = ?2";


void trace_row_release(struct trace_row *row)
{
	switch (row->kind) {
	case TRACE_ROW_LAYER:
		free(row->u.layer.name);
		free(row->u.layer.clamp);
		break;
	case TRACE_ROW_NEURON:
		free(row->u.neuron);
		break;
	case TRACE_ROW_SAMPLE:
		free(row->u.sample);
		break;
	case TRACE_ROW_COUNTER:
		free(row->u.counter.name);
		break;
	default:
		break;
	}
}


int trace_writer_fail(pcs_trace *tr, const char *sql)
{
	if (atomic_load(&tr->failed))
		return PCS_ETRACE;

	pthread_mutex_lock(&tr->lock);
	pcs_error_set(&tr->error, PCS_ETRACE,
		      "trace database %s: `%s` failed: %s (SQLite code %d); rows from this"
		      " point on were dropped, so free disk space or write the trace to another"
		      " file", tr->path, sql, sqlite3_errmsg(tr->db),
		      sqlite3_extended_errcode(tr->db));
	atomic_store(&tr->failed, 1);
	pthread_cond_broadcast(&tr->space_ready);
	pthread_mutex_unlock(&tr->lock);

	/*
	 * After SQLITE_FULL or an I/O error SQLite may or may not have rolled the
	 * batch back, so roll back whatever transaction is still open.
	 */
	if (!sqlite3_get_autocommit(tr->db))
		sqlite3_exec(tr->db, "ROLLBACK", NULL, NULL, NULL);
	tr->in_batch = false;
	return PCS_ETRACE;
}


static int64_t writer_elapsed_ns(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(now.tv_sec - since->tv_sec) * 1000000000LL +
	       (now.tv_nsec - since->tv_nsec);
}


static int writer_begin_batch(pcs_trace *tr)
{
	if (sqlite3_exec(tr->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return trace_writer_fail(tr, "BEGIN");

	tr->in_batch = true;
	tr->batch_rows = 0;
	clock_gettime(CLOCK_MONOTONIC, &tr->batch_start);
	return 0;
}


static int writer_commit(pcs_trace *tr)
{
	if (!tr->in_batch)
		return 0;

	if (sqlite3_exec(tr->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		return trace_writer_fail(tr, "COMMIT");
	tr->in_batch = false;
	return 0;
}


static void writer_bind_text(sqlite3_stmt *stmt, int index, const char *text)
{
	if (text == NULL)
		sqlite3_bind_null(stmt, index);
	else
		sqlite3_bind_text(stmt, index, text, -1, SQLITE_STATIC);
}


/* Binds NULL for NaN explicitly, as SQLite would store NULL for it anyway. */
static void writer_bind_optional(sqlite3_stmt *stmt, int index, double value)
{
	if (isnan(value))
		sqlite3_bind_null(stmt, index);
	else
		sqlite3_bind_double(stmt, index, value);
}


static void writer_bind_neuron(sqlite3_stmt *stmt, const struct trace_neuron_row *neuron)
{
	sqlite3_bind_int(stmt, 2, neuron->neuron_id);
	sqlite3_bind_int(stmt, 3, neuron->layer_id);
	sqlite3_bind_int(stmt, 4, neuron->idx);
	sqlite3_bind_text(stmt, 5, neuron->kind == PCS_KIND_ERROR ? "e" : "x", 1, SQLITE_STATIC);
	sqlite3_bind_double(stmt, 6, neuron->tau);
	sqlite3_bind_double(stmt, 7, neuron->dt);
	writer_bind_optional(stmt, 8, neuron->delay);
	writer_bind_optional(stmt, 9, neuron->lesion_time);
}


static void writer_bind_sample(sqlite3_stmt *stmt, const pcs_sample_row *sample)
{
	sqlite3_bind_int64(stmt, 2, sample->seq);
	sqlite3_bind_int(stmt, 3, sample->epoch);
	sqlite3_bind_text(stmt, 4, sample->phase == PCS_PHASE_TRAIN ? "train" : "test", -1,
			  SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 5, sample->data_index);
	sqlite3_bind_int(stmt, 6, sample->label);
	sqlite3_bind_double(stmt, 7, sample->t_on);
	sqlite3_bind_double(stmt, 8, sample->t_off);
	sqlite3_bind_int(stmt, 9, sample->predicted);
	sqlite3_bind_double(stmt, 10, sample->energy);
	sqlite3_bind_double(stmt, 11, sample->settle_time);
}


/* Binds every column but ?1, the run id, which stays bound for the whole run. */
static void writer_bind_row(sqlite3_stmt *stmt, const struct trace_row *row)
{
	switch (row->kind) {
	case TRACE_ROW_ACTIVITY:
	case TRACE_ROW_EVENT:
		sqlite3_bind_int(stmt, 2, row->u.point.neuron_id);
		sqlite3_bind_double(stmt, 3, row->u.point.t);
		sqlite3_bind_double(stmt, 4, row->u.point.value);
		break;
	case TRACE_ROW_LAYER:
		sqlite3_bind_int(stmt, 2, row->u.layer.layer_id);
		writer_bind_text(stmt, 3, row->u.layer.name);
		sqlite3_bind_int(stmt, 4, row->u.layer.size);
		writer_bind_text(stmt, 5, row->u.layer.clamp);
		break;
	case TRACE_ROW_NEURON:
		writer_bind_neuron(stmt, row->u.neuron);
		break;
	case TRACE_ROW_SAMPLE:
		writer_bind_sample(stmt, row->u.sample);
		break;
	case TRACE_ROW_WEIGHT:
		sqlite3_bind_int(stmt, 2, row->u.weight.epoch);
		sqlite3_bind_int(stmt, 3, row->u.weight.edge);
		sqlite3_bind_int(stmt, 4, row->u.weight.post);
		sqlite3_bind_int(stmt, 5, row->u.weight.pre);
		sqlite3_bind_double(stmt, 6, row->u.weight.w);
		break;
	case TRACE_ROW_ANGLE:
		sqlite3_bind_int(stmt, 2, row->u.angle.epoch);
		sqlite3_bind_int(stmt, 3, row->u.angle.edge);
		sqlite3_bind_double(stmt, 4, row->u.angle.degrees);
		break;
	case TRACE_ROW_ENERGY:
		sqlite3_bind_int64(stmt, 2, row->u.energy.seq);
		sqlite3_bind_double(stmt, 3, row->u.energy.t);
		sqlite3_bind_int(stmt, 4, row->u.energy.layer_id);
		sqlite3_bind_double(stmt, 5, row->u.energy.value);
		break;
	case TRACE_ROW_COUNTER:
		sqlite3_bind_text(stmt, 2, row->u.counter.name, -1, SQLITE_STATIC);
		sqlite3_bind_double(stmt, 3, row->u.counter.value);
		break;
	case TRACE_ROW_KINDS:
		break;
	}
}


static void writer_write_row(pcs_trace *tr, const struct trace_row *row)
{
	sqlite3_stmt *stmt = tr->insert[row->kind];
	int rc;

	if (!tr->in_batch && writer_begin_batch(tr) != 0)
		return;

	writer_bind_row(stmt, row);
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE) {
		trace_writer_fail(tr, sqlite3_sql(stmt));
		sqlite3_reset(stmt);
		return;
	}
	sqlite3_reset(stmt);

	if (++tr->batch_rows >= TRACE_BATCH_ROWS)
		writer_commit(tr);
}


static void writer_write_chunk(pcs_trace *tr, struct trace_chunk *chunk)
{
	for (size_t i = 0; i < chunk->count; i++) {
		if (!atomic_load_explicit(&tr->failed, memory_order_relaxed))
			writer_write_row(tr, &chunk->rows[i]);
		trace_row_release(&chunk->rows[i]);
	}
	chunk->count = 0;

	if (tr->in_batch && writer_elapsed_ns(&tr->batch_start) >= TRACE_BATCH_NS)
		writer_commit(tr);
}


static struct timespec writer_batch_deadline(const pcs_trace *tr)
{
	struct timespec deadline = tr->batch_start;
	int64_t nsec = deadline.tv_nsec + TRACE_BATCH_NS;

	deadline.tv_sec += (time_t)(nsec / 1000000000LL);
	deadline.tv_nsec = (long)(nsec % 1000000000LL);
	return deadline;
}


/*
 * Puts the chunk just written (done, may be NULL) on the free list, then
 * waits for the next piece of work. Chunks come before a command, and an
 * open batch is due for commit at its deadline even when nothing arrives.
 */
static enum writer_work writer_wait(pcs_trace *tr, struct trace_chunk *done,
				    struct trace_chunk **chunk, struct trace_command **command)
{
	enum writer_work work;

	pthread_mutex_lock(&tr->lock);
	if (done != NULL) {
		done->next = tr->free_chunks;
		tr->free_chunks = done;
	}

	for (;;) {
		struct timespec deadline;

		if (tr->queue_head != NULL) {
			*chunk = tr->queue_head;
			tr->queue_head = (*chunk)->next;
			if (tr->queue_head == NULL)
				tr->queue_tail = NULL;
			tr->queued--;
			pthread_cond_signal(&tr->space_ready);
			work = WRITER_CHUNK;
			break;
		}
		if (tr->command != NULL) {
			*command = tr->command;
			work = WRITER_COMMAND;
			break;
		}
		if (!tr->in_batch) {
			pthread_cond_wait(&tr->work_ready, &tr->lock);
			continue;
		}
		deadline = writer_batch_deadline(tr);
		if (pthread_cond_timedwait(&tr->work_ready, &tr->lock, &deadline) == ETIMEDOUT) {
			work = WRITER_DEADLINE;
			break;
		}
	}

	pthread_mutex_unlock(&tr->lock);
	return work;
}


static void writer_bind_run_id(pcs_trace *tr, int64_t run_id)
{
	for (int kind = 0; kind < TRACE_ROW_KINDS; kind++)
		sqlite3_bind_int64(tr->insert[kind], 1, run_id);
}


static void writer_begin_run(pcs_trace *tr, struct trace_command *command)
{
	const pcs_run_info *info = command->info;
	sqlite3_stmt *stmt = NULL;

	if (trace_indexes_drop(tr) != 0)
		return;
	if (sqlite3_prepare_v2(tr->db, writer_begin_run_sql, -1, &stmt, NULL) != SQLITE_OK) {
		trace_writer_fail(tr, writer_begin_run_sql);
		return;
	}

	writer_bind_text(stmt, 1, info->model_name);
	writer_bind_text(stmt, 2, info->model_text);
	/* Seeds of 2^63 and above are stored as their two's complement. */
	sqlite3_bind_int64(stmt, 3, (sqlite3_int64)info->seed);
	writer_bind_text(stmt, 4, info->mode);
	writer_bind_text(stmt, 5, info->params);

	if (sqlite3_step(stmt) != SQLITE_DONE) {
		trace_writer_fail(tr, writer_begin_run_sql);
	} else {
		tr->run_id = sqlite3_last_insert_rowid(tr->db);
		command->run_id = tr->run_id;
		writer_bind_run_id(tr, tr->run_id);
	}
	sqlite3_finalize(stmt);
}


static void writer_end_run(pcs_trace *tr, struct trace_command *command)
{
	sqlite3_stmt *stmt = NULL;

	if (sqlite3_prepare_v2(tr->db, writer_end_run_sql, -1, &stmt, NULL) != SQLITE_OK) {
		trace_writer_fail(tr, writer_end_run_sql);
		return;
	}

	sqlite3_bind_text(stmt, 1, pcs_run_status_name(command->status), -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, tr->run_id);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		trace_writer_fail(tr, writer_end_run_sql);
	sqlite3_finalize(stmt);
}


static void writer_set_max_pages(pcs_trace *tr, struct trace_command *command)
{
	char sql[64];
	sqlite3_stmt *stmt = NULL;

	snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld", (long long)command->pages);
	if (sqlite3_prepare_v2(tr->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
		trace_writer_fail(tr, sql);
		return;
	}

	if (sqlite3_step(stmt) == SQLITE_ROW)
		command->pages = sqlite3_column_int64(stmt, 0);
	else
		trace_writer_fail(tr, sql);
	sqlite3_finalize(stmt);
}


/*
 * Commits the open batch and runs the command. The end of a run is written
 * even after an earlier failure, when SQLite still can. Returns whether the
 * writer should stop.
 */
static bool writer_run_command(pcs_trace *tr, struct trace_command *command)
{
	bool closing = command->kind == TRACE_COMMAND_CLOSE;

	writer_commit(tr);

	if (command->kind == TRACE_COMMAND_END_RUN)
		writer_end_run(tr, command);
	else if (!atomic_load(&tr->failed) && command->kind == TRACE_COMMAND_BEGIN_RUN)
		writer_begin_run(tr, command);
	else if (!atomic_load(&tr->failed) && command->kind == TRACE_COMMAND_SET_MAX_PAGES)
		writer_set_max_pages(tr, command);
	else if (!atomic_load(&tr->failed) && closing)
		trace_indexes_create(tr);

	pthread_mutex_lock(&tr->lock);
	if (atomic_load(&tr->failed)) {
		command->rc = PCS_ETRACE;
		command->err = tr->error;
	}
	command->done = true;
	tr->command = NULL;
	pthread_cond_broadcast(&tr->command_done);
	pthread_mutex_unlock(&tr->lock);
	return closing;
}


void *trace_writer_main(void *arg)
{
	pcs_trace *tr = arg;
	struct trace_chunk *done = NULL;
	bool closing = false;

	while (!closing) {
		struct trace_chunk *chunk = NULL;
		struct trace_command *command = NULL;
		enum writer_work work = writer_wait(tr, done, &chunk, &command);

		done = NULL;
		switch (work) {
		case WRITER_CHUNK:
			writer_write_chunk(tr, chunk);
			done = chunk;
			break;
		case WRITER_COMMAND:
			closing = writer_run_command(tr, command);
			break;
		case WRITER_DEADLINE:
			writer_commit(tr);
			break;
		}
	}
	return NULL;
}
