/* SPDX-License-Identifier: MIT */
/*
 * Public side of the trace writer: opening and closing a trace, runs, and
 * the row functions the simulation thread calls.
 *
 * The row functions write into the producer's private chunk and take the
 * lock only to hand a full chunk to the writer, so a row costs a few stores.
 * When the queue contains TRACE_QUEUE_CHUNKS chunks, the hand-over waits for
 * the writer (back-pressure). Begin run, end run and close hand over the partial
 * chunk and then wait for the writer to run them as commands, which keeps
 * the connection on the writer thread alone.
 */
#include <stdlib.h>
#include <string.h>

#include "trace/trace_internal.h"
#include "trace/trace_testing.h"

/* How long the writer waits for another connection's write lock. */
#define TRACE_BUSY_TIMEOUT_MS 10000

static const char *const trace_status_names[] = {
	[PCS_RUN_RUNNING] = "running",
	[PCS_RUN_FINISHED] = "finished",
	[PCS_RUN_INTERRUPTED] = "interrupted",
	[PCS_RUN_DIVERGED] = "diverged",
	[PCS_RUN_FAILED] = "failed",
};


const char *pcs_run_status_name(pcs_run_status status)
{
	if ((unsigned)status >= sizeof trace_status_names / sizeof trace_status_names[0])
		return "unknown";
	return trace_status_names[status];
}


static void trace_chunk_list_free(struct trace_chunk *chunk)
{
	while (chunk != NULL) {
		struct trace_chunk *next = chunk->next;

		for (size_t i = 0; i < chunk->count; i++)
			trace_row_release(&chunk->rows[i]);
		free(chunk);
		chunk = next;
	}
}


/* Frees everything; the writer thread must have stopped or never started. */
static int trace_free(pcs_trace *tr)
{
	int rc;

	for (int kind = 0; kind < TRACE_ROW_KINDS; kind++)
		sqlite3_finalize(tr->insert[kind]);
	rc = sqlite3_close(tr->db);

	if (tr->current != NULL)
		tr->current->next = NULL;
	trace_chunk_list_free(tr->current);
	trace_chunk_list_free(tr->queue_head);
	trace_chunk_list_free(tr->free_chunks);

	pthread_cond_destroy(&tr->command_done);
	pthread_cond_destroy(&tr->space_ready);
	pthread_cond_destroy(&tr->work_ready);
	pthread_mutex_destroy(&tr->lock);
	free(tr->path);
	free(tr);
	return rc;
}


static int trace_sync_init(pcs_trace *tr)
{
	pthread_condattr_t attr;
	int rc = pthread_condattr_init(&attr);

	/* The writer's batch deadline is on CLOCK_MONOTONIC, immune to clock steps. */
	rc = rc != 0 ? rc : pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	rc = rc != 0 ? rc : pthread_cond_init(&tr->work_ready, &attr);
	pthread_condattr_destroy(&attr);
	rc = rc != 0 ? rc : pthread_cond_init(&tr->space_ready, NULL);
	rc = rc != 0 ? rc : pthread_cond_init(&tr->command_done, NULL);
	rc = rc != 0 ? rc : pthread_mutex_init(&tr->lock, NULL);
	return rc;
}


static int trace_db_fail(pcs_trace *tr, const char *step, pcs_error *err)
{
	return pcs_error_set(err, PCS_ETRACE,
			     "trace database %s: %s failed: %s; check that the directory exists"
			     " and is writable and that the file is a pcsim trace",
			     tr->path, step, sqlite3_errmsg(tr->db));
}


/* Opens the connection and creates the schema, on the calling thread. */
static int trace_db_open(pcs_trace *tr, pcs_error *err)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	int rc;

	if (sqlite3_open_v2(tr->path, &tr->db, flags, NULL) != SQLITE_OK)
		return trace_db_fail(tr, "opening", err);
	sqlite3_busy_timeout(tr->db, TRACE_BUSY_TIMEOUT_MS);

	/* SQLite falls back to read-only when the file is write-protected. */
	if (sqlite3_db_readonly(tr->db, "main") == 1)
		return pcs_error_set(err, PCS_ETRACE,
				     "trace database %s: the file is read-only; make it writable"
				     " or write the trace to another file", tr->path);

	if (sqlite3_exec(tr->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL) != SQLITE_OK)
		return trace_db_fail(tr, "PRAGMA journal_mode = WAL", err);
	if (sqlite3_exec(tr->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL) != SQLITE_OK)
		return trace_db_fail(tr, "PRAGMA synchronous = NORMAL", err);

	rc = trace_schema_create(tr, err);
	return rc != 0 ? rc : trace_statements_prepare(tr, err);
}


int pcs_trace_open(pcs_trace **out, const char *path, pcs_error *err)
{
	pcs_trace *tr;
	int rc;

	if (out == NULL || path == NULL)
		return pcs_error_set(err, PCS_EINVAL, "pcs_trace_open: out and path must not be NULL");
	*out = NULL;

	tr = calloc(1, sizeof *tr);
	if (tr == NULL || trace_sync_init(tr) != 0) {
		free(tr);
		return pcs_error_set(err, PCS_ENOMEM, "trace database %s: out of memory", path);
	}
	tr->path = strdup(path);
	tr->current = malloc(sizeof *tr->current);
	if (tr->path == NULL || tr->current == NULL) {
		free(tr->current);
		tr->current = NULL;
		trace_free(tr);
		return pcs_error_set(err, PCS_ENOMEM, "trace database %s: out of memory", path);
	}
	tr->current->count = 0;

	rc = trace_db_open(tr, err);
	if (rc == 0 && (rc = pthread_create(&tr->writer, NULL, trace_writer_main, tr)) != 0)
		rc = pcs_error_set(err, PCS_ETRACE, "trace database %s: starting the writer"
				   " thread failed: %s", path, strerror(rc));
	if (rc != 0) {
		trace_free(tr);
		return rc;
	}

	*out = tr;
	return 0;
}


/*
 * Queues the producer's chunk if it has rows and gives the producer an
 * empty one. Waits while the queue is at its bound. After a writer failure
 * the rows are dropped here. The rows are queued even when no new chunk can
 * be allocated, so that a flush never loses them; tr->current is then NULL.
 */
static int trace_hand_over(pcs_trace *tr)
{
	pthread_mutex_lock(&tr->lock);
	if (tr->current != NULL && tr->current->count > 0) {
		while (tr->queued >= TRACE_QUEUE_CHUNKS && !atomic_load(&tr->failed))
			pthread_cond_wait(&tr->space_ready, &tr->lock);

		if (atomic_load(&tr->failed)) {
			for (size_t i = 0; i < tr->current->count; i++)
				trace_row_release(&tr->current->rows[i]);
			tr->current->count = 0;
		} else {
			tr->current->next = NULL;
			if (tr->queue_tail != NULL)
				tr->queue_tail->next = tr->current;
			else
				tr->queue_head = tr->current;
			tr->queue_tail = tr->current;
			tr->queued++;
			tr->current = NULL;
			pthread_cond_signal(&tr->work_ready);
		}
	}
	if (tr->current == NULL && tr->free_chunks != NULL) {
		tr->current = tr->free_chunks;
		tr->free_chunks = tr->current->next;
	}
	pthread_mutex_unlock(&tr->lock);

	if (tr->current == NULL) {
		tr->current = malloc(sizeof *tr->current);
		if (tr->current == NULL)
			return PCS_ENOMEM;
	}
	tr->current->count = 0;
	return atomic_load(&tr->failed) ? PCS_ETRACE : 0;
}


/* Returns the next free row slot of the producer's chunk in *row. */
static inline int trace_reserve(pcs_trace *tr, struct trace_row **row)
{
	if (tr == NULL || !tr->run_active)
		return PCS_EINVAL;
	if (atomic_load_explicit(&tr->failed, memory_order_relaxed))
		return PCS_ETRACE;

	if (tr->current == NULL || tr->current->count == TRACE_CHUNK_ROWS) {
		int rc = trace_hand_over(tr);

		if (rc != 0)
			return rc;
	}

	*row = &tr->current->rows[tr->current->count++];
	return 0;
}


/* Hands over the partial chunk, then waits until the writer ran command. */
static int trace_post(pcs_trace *tr, struct trace_command *command)
{
	trace_hand_over(tr);

	pthread_mutex_lock(&tr->lock);
	tr->command = command;
	pthread_cond_signal(&tr->work_ready);
	while (!command->done)
		pthread_cond_wait(&tr->command_done, &tr->lock);
	pthread_mutex_unlock(&tr->lock);
	return command->rc;
}


static int trace_command_result(const struct trace_command *command, pcs_error *err)
{
	if (command->rc != 0 && err != NULL)
		*err = command->err;
	return command->rc;
}


int pcs_trace_begin_run(pcs_trace *tr, const pcs_run_info *info, int64_t *run_id,
			pcs_error *err)
{
	struct trace_command command = {.kind = TRACE_COMMAND_BEGIN_RUN, .info = info};

	if (tr == NULL || info == NULL)
		return pcs_error_set(err, PCS_EINVAL,
				     "pcs_trace_begin_run: trace and run info must not be NULL");
	if (tr->run_active)
		return pcs_error_set(err, PCS_EINVAL,
				     "trace database %s: a run is already active; end it with"
				     " pcs_trace_end_run first", tr->path);

	if (trace_post(tr, &command) != 0)
		return trace_command_result(&command, err);

	tr->run_active = true;
	if (run_id != NULL)
		*run_id = command.run_id;
	return 0;
}


int pcs_trace_end_run(pcs_trace *tr, pcs_run_status status, pcs_error *err)
{
	struct trace_command command = {.kind = TRACE_COMMAND_END_RUN, .status = status};

	if (tr == NULL)
		return pcs_error_set(err, PCS_EINVAL, "pcs_trace_end_run: trace must not be NULL");
	if ((unsigned)status > PCS_RUN_FAILED)
		return pcs_error_set(err, PCS_EINVAL,
				     "pcs_trace_end_run: invalid run status %d", (int)status);
	if (!tr->run_active)
		return pcs_error_set(err, PCS_EINVAL,
				     "trace database %s: no run is active; call"
				     " pcs_trace_begin_run first", tr->path);

	trace_post(tr, &command);
	tr->run_active = false;
	return trace_command_result(&command, err);
}


/*
 * A run still active at close did not reach pcs_trace_end_run, so it is
 * recorded as failed after a writer error and as interrupted otherwise.
 */
int pcs_trace_close(pcs_trace *tr, pcs_error *err)
{
	struct trace_command command = {.kind = TRACE_COMMAND_CLOSE};
	int rc = 0;

	if (tr == NULL)
		return 0;

	if (tr->run_active) {
		pcs_run_status status = atomic_load(&tr->failed) ? PCS_RUN_FAILED
								  : PCS_RUN_INTERRUPTED;

		rc = pcs_trace_end_run(tr, status, err);
	}

	trace_post(tr, &command);
	pthread_join(tr->writer, NULL);
	if (rc == 0)
		rc = trace_command_result(&command, err);

	if (trace_free(tr) != SQLITE_OK && rc == 0)
		rc = pcs_error_set(err, PCS_ETRACE, "trace database: closing the connection failed");
	return rc;
}


int pcs_trace_set_max_pages(pcs_trace *tr, int64_t pages, int64_t *limit, pcs_error *err)
{
	struct trace_command command = {.kind = TRACE_COMMAND_SET_MAX_PAGES, .pages = pages};

	if (tr == NULL)
		return pcs_error_set(err, PCS_EINVAL, "pcs_trace_set_max_pages: trace must not be NULL");

	if (trace_post(tr, &command) != 0)
		return trace_command_result(&command, err);
	if (limit != NULL)
		*limit = command.pages;
	return 0;
}


int pcs_trace_layer(pcs_trace *tr, int layer_id, const char *name, int size, const char *clamp)
{
	char *name_copy = name != NULL ? strdup(name) : NULL;
	char *clamp_copy = clamp != NULL ? strdup(clamp) : NULL;
	struct trace_row *row;
	int rc = PCS_ENOMEM;

	if ((name == NULL || name_copy != NULL) && (clamp == NULL || clamp_copy != NULL))
		rc = trace_reserve(tr, &row);
	if (rc != 0) {
		free(name_copy);
		free(clamp_copy);
		return rc;
	}

	row->kind = TRACE_ROW_LAYER;
	row->u.layer.layer_id = layer_id;
	row->u.layer.size = size;
	row->u.layer.name = name_copy;
	row->u.layer.clamp = clamp_copy;
	return 0;
}


int pcs_trace_neuron(pcs_trace *tr, int neuron_id, int layer_id, int idx, pcs_neuron_kind kind,
		     double tau, double dt, double delay, double lesion_time)
{
	struct trace_neuron_row *copy = malloc(sizeof *copy);
	struct trace_row *row;
	int rc = copy != NULL ? trace_reserve(tr, &row) : PCS_ENOMEM;

	if (rc != 0) {
		free(copy);
		return rc;
	}

	*copy = (struct trace_neuron_row){
		.neuron_id = neuron_id, .layer_id = layer_id, .idx = idx, .kind = kind,
		.tau = tau, .dt = dt, .delay = delay, .lesion_time = lesion_time,
	};
	row->kind = TRACE_ROW_NEURON;
	row->u.neuron = copy;
	return 0;
}


int pcs_trace_sample(pcs_trace *tr, const pcs_sample_row *sample)
{
	pcs_sample_row *copy;
	struct trace_row *row;
	int rc;

	if (sample == NULL)
		return PCS_EINVAL;
	copy = malloc(sizeof *copy);
	if (copy == NULL)
		return PCS_ENOMEM;

	rc = trace_reserve(tr, &row);
	if (rc != 0) {
		free(copy);
		return rc;
	}

	*copy = *sample;
	row->kind = TRACE_ROW_SAMPLE;
	row->u.sample = copy;
	return 0;
}


static int trace_point(pcs_trace *tr, enum trace_row_kind kind, int neuron_id, double t,
		       double value)
{
	struct trace_row *row;
	int rc = trace_reserve(tr, &row);

	if (rc != 0)
		return rc;

	row->kind = kind;
	row->u.point.neuron_id = neuron_id;
	row->u.point.t = t;
	row->u.point.value = value;
	return 0;
}


int pcs_trace_activity(pcs_trace *tr, int neuron_id, double t, double value)
{
	return trace_point(tr, TRACE_ROW_ACTIVITY, neuron_id, t, value);
}


int pcs_trace_event(pcs_trace *tr, int neuron_id, double t, double value)
{
	return trace_point(tr, TRACE_ROW_EVENT, neuron_id, t, value);
}


int pcs_trace_weight(pcs_trace *tr, int epoch, int edge, int post, int pre, double w)
{
	struct trace_row *row;
	int rc = trace_reserve(tr, &row);

	if (rc != 0)
		return rc;

	row->kind = TRACE_ROW_WEIGHT;
	row->u.weight.epoch = epoch;
	row->u.weight.edge = edge;
	row->u.weight.post = post;
	row->u.weight.pre = pre;
	row->u.weight.w = w;
	return 0;
}


int pcs_trace_angle(pcs_trace *tr, int epoch, int edge, double degrees)
{
	struct trace_row *row;
	int rc = trace_reserve(tr, &row);

	if (rc != 0)
		return rc;

	row->kind = TRACE_ROW_ANGLE;
	row->u.angle.epoch = epoch;
	row->u.angle.edge = edge;
	row->u.angle.degrees = degrees;
	return 0;
}


int pcs_trace_energy(pcs_trace *tr, int64_t seq, double t, int layer_id, double value)
{
	struct trace_row *row;
	int rc = trace_reserve(tr, &row);

	if (rc != 0)
		return rc;

	row->kind = TRACE_ROW_ENERGY;
	row->u.energy.seq = seq;
	row->u.energy.t = t;
	row->u.energy.layer_id = layer_id;
	row->u.energy.value = value;
	return 0;
}


int pcs_trace_counter(pcs_trace *tr, const char *name, double value)
{
	char *name_copy;
	struct trace_row *row;
	int rc;

	if (name == NULL)
		return PCS_EINVAL;
	name_copy = strdup(name);
	if (name_copy == NULL)
		return PCS_ENOMEM;

	rc = trace_reserve(tr, &row);
	if (rc != 0) {
		free(name_copy);
		return rc;
	}

	row->kind = TRACE_ROW_COUNTER;
	row->u.counter.name = name_copy;
	row->u.counter.value = value;
	return 0;
}
