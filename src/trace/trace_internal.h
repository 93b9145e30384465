/* SPDX-License-Identifier: MIT */
/*
 * Layout of the trace writer shared by the producer side (trace.c), the
 * writer thread (writer.c) and the schema code (schema.c).
 *
 * Invariants:
 * - The producer thread alone owns tr->current. Every other chunk is in the
 *   queue, held by the writer after it pops one, or on the free list. The
 *   queue and the free list change only under tr->lock.
 * - After pcs_trace_open starts the writer, only the writer thread uses
 *   tr->db and the prepared statements, until pcs_trace_close has joined it.
 * - Rows reach the database in the order they were queued, and a command
 *   (begin run, end run, close) runs only once the queue is empty, that is
 *   after every row queued before it.
 *
 * Writer states:
 *
 *     idle --first row--> batch open --50000 rows, 100 ms, command--> idle
 *       any SQLite failure --> failed (rows are dropped, commands still run)
 */
#ifndef PCSIM_TRACE_INTERNAL_H
#define PCSIM_TRACE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "pcsim/trace.h"

/* Rows per chunk; the producer takes the lock once per chunk. */
#define TRACE_CHUNK_ROWS 4096
/* Chunks the queue may hold before the producer waits (about 40 MB of rows). */
#define TRACE_QUEUE_CHUNKS 256
/* A batch is committed after this many rows or this much wall time. */
#define TRACE_BATCH_ROWS 50000
#define TRACE_BATCH_NS 100000000LL

enum trace_row_kind {
	TRACE_ROW_LAYER,
	TRACE_ROW_NEURON,
	TRACE_ROW_SAMPLE,
	TRACE_ROW_ACTIVITY,
	TRACE_ROW_EVENT,
	TRACE_ROW_WEIGHT,
	TRACE_ROW_ENERGY,
	TRACE_ROW_COUNTER,
	TRACE_ROW_ANGLE,
	TRACE_ROW_KINDS,
};

/* A neurons row; written once per neuron and run, so it lives on the heap. */
struct trace_neuron_row {
	int neuron_id, layer_id, idx;
	pcs_neuron_kind kind;
	double tau, dt;            /* time units */
	double delay, lesion_time; /* time units; NAN is stored as NULL */
};

/*
 * One queued row. Strings and the rarely written sample and neuron rows
 * live in heap copies owned by the row, so that the frequent kinds stay at
 * 40 bytes.
 */
struct trace_row {
	enum trace_row_kind kind;
	union {
		struct {
			int neuron_id;
			double t, value; /* time units, state or message value */
		} point;
		struct {
			int layer_id, size;
			char *name, *clamp;
		} layer;
		struct trace_neuron_row *neuron;
		pcs_sample_row *sample;
		struct {
			int epoch, edge, post, pre;
			double w;
		} weight;
		struct {
			int64_t seq;
			double t; /* time units */
			int layer_id;
			double value;
		} energy;
		struct {
			char *name;
			double value;
		} counter;
		struct {
			int epoch, edge;
			double degrees;
		} angle;
	} u;
};

_Static_assert(sizeof(struct trace_row) <= 40, "a queued row must stay at 40 bytes or less");

struct trace_chunk {
	struct trace_chunk *next;
	size_t count;
	struct trace_row rows[TRACE_CHUNK_ROWS];
};

enum trace_command_kind {
	TRACE_COMMAND_BEGIN_RUN,
	TRACE_COMMAND_END_RUN,
	TRACE_COMMAND_SET_MAX_PAGES,
	TRACE_COMMAND_CLOSE,
};

/* A request that the writer runs on its connection while the producer waits. */
struct trace_command {
	enum trace_command_kind kind;
	const pcs_run_info *info;  /* begin run */
	pcs_run_status status;     /* end run */
	int64_t pages;             /* set max pages: request, then the resulting limit */
	int64_t run_id;            /* begin run: the new id */
	int rc;
	pcs_error err;
	bool done;
};

struct pcs_trace {
	char *path;
	sqlite3 *db;
	sqlite3_stmt *insert[TRACE_ROW_KINDS];

	pthread_t writer;
	pthread_mutex_t lock;
	pthread_cond_t work_ready;   /* writer: a chunk or a command arrived */
	pthread_cond_t space_ready;  /* producer: the queue fell below its bound */
	pthread_cond_t command_done; /* producer: the posted command finished */
	struct trace_chunk *queue_head, *queue_tail;
	size_t queued;
	struct trace_chunk *free_chunks;
	struct trace_command *command;

	/* Set once by the writer after it filled error; read without the lock. */
	atomic_int failed;
	pcs_error error;

	/* Producer side only. */
	struct trace_chunk *current;
	bool run_active;

	/* Writer side only. */
	int64_t run_id;
	bool in_batch;
	long batch_rows;
	struct timespec batch_start; /* CLOCK_MONOTONIC */
};

/* schema.c: run on the opening thread, before the writer starts. */
int trace_schema_create(pcs_trace *tr, pcs_error *err);
int trace_statements_prepare(pcs_trace *tr, pcs_error *err);
/* Run on the writer thread: drop when a run begins, create at close. */
int trace_indexes_drop(pcs_trace *tr);
int trace_indexes_create(pcs_trace *tr);

/* writer.c */
void *trace_writer_main(void *arg);
void trace_row_release(struct trace_row *row);
/* Records the writer's sticky error for SQL text sql; returns PCS_ETRACE. */
int trace_writer_fail(pcs_trace *tr, const char *sql);

#endif
