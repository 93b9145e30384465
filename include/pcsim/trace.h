/* SPDX-License-Identifier: MIT */
/*
 * The trace database: a SQLite file with the schema of docs/traces.md,
 * written by one writer thread that owns the connection. Simulation code
 * hands it rows through a queue and never waits on disk, except when the
 * queue contains more than its bound (back-pressure rather than unbounded
 * memory). The writer commits in batches (by row count or elapsed time) in
 * WAL mode with synchronous=NORMAL, so a run that stops leaves everything
 * committed so far readable.
 *
 * Thread contract: one producer thread calls the row functions for a given
 * pcs_trace (the simulation thread); open/close and run begin/end are called
 * from that same thread. Errors of the writer thread are sticky and returned
 * by the next call that can report them.
 */
#ifndef PCSIM_TRACE_H
#define PCSIM_TRACE_H

#include <stdint.h>

#include "pcsim/common.h"

#define PCS_SCHEMA_VERSION 2

typedef struct pcs_trace pcs_trace;

typedef enum pcs_run_status {
	PCS_RUN_RUNNING,
	PCS_RUN_FINISHED,
	PCS_RUN_INTERRUPTED,
	PCS_RUN_DIVERGED,
	PCS_RUN_FAILED,
} pcs_run_status;

typedef struct pcs_run_info {
	const char *model_name;
	const char *model_text;   /* the model file and overrides as run */
	uint64_t seed;
	const char *mode;         /* "deterministic", ... */
	const char *params;       /* JSON object of the overrides, "{}" if none */
} pcs_run_info;

typedef enum pcs_neuron_kind {
	PCS_KIND_REPRESENTATION, /* stored as 'x' */
	PCS_KIND_ERROR,          /* stored as 'e' */
} pcs_neuron_kind;

typedef enum pcs_phase {
	PCS_PHASE_TRAIN, /* stored as 'train' */
	PCS_PHASE_TEST,  /* stored as 'test' */
} pcs_phase;

typedef struct pcs_sample_row {
	int64_t seq;          /* presentation number within the run, from 0 */
	int epoch;            /* from 1; test rows carry the epoch they follow */
	pcs_phase phase;
	int64_t data_index;   /* index in the train or test set */
	int label;
	double t_on, t_off;   /* presentation window, time units */
	int predicted;        /* argmax of the target layer at t_off; -1 if none */
	double energy;        /* F at t_off */
	double settle_time;   /* time units from t_on until F stays settled; see docs/traces.md */
} pcs_sample_row;

/*
 * Opens or creates the database at path, creates the schema if absent and
 * checks schema_version if present, then starts the writer thread. Returns
 * PCS_ETRACE with the path and SQLite's message on failure.
 */
int pcs_trace_open(pcs_trace **out, const char *path, pcs_error *err);

/* Inserts the runs row with status 'running' and returns its id (synchronous). */
int pcs_trace_begin_run(pcs_trace *tr, const pcs_run_info *info, int64_t *run_id,
			pcs_error *err);

/* Queue rows for the current run. Return 0 or the writer's sticky error. */
int pcs_trace_layer(pcs_trace *tr, int layer_id, const char *name, int size, const char *clamp);
/*
 * tau, dt, delay and lesion_time are in time units. delay is the transmission
 * delay of the neuron's first outgoing edge and lesion_time the time from
 * which the neuron is silenced; NAN stores NULL (no outgoing edge, never
 * silenced).
 */
int pcs_trace_neuron(pcs_trace *tr, int neuron_id, int layer_id, int idx, pcs_neuron_kind kind,
		     double tau, double dt, double delay, double lesion_time);
int pcs_trace_sample(pcs_trace *tr, const pcs_sample_row *row);
int pcs_trace_activity(pcs_trace *tr, int neuron_id, double t, double value);
int pcs_trace_event(pcs_trace *tr, int neuron_id, double t, double value);
int pcs_trace_weight(pcs_trace *tr, int epoch, int edge, int post, int pre, double w);
int pcs_trace_energy(pcs_trace *tr, int64_t seq, double t, int layer_id, double value);
/*
 * Queues one named total of the run, such as messages_sent, messages_lost,
 * neuron_steps, synaptic_events or wall_seconds (docs/traces.md lists them).
 * name must not be NULL (PCS_EINVAL).
 */
int pcs_trace_counter(pcs_trace *tr, const char *name, double value);
/* The angle in degrees between edge's feedback B and its W transposed. */
int pcs_trace_angle(pcs_trace *tr, int epoch, int edge, double degrees);

/*
 * Waits until every queued row is committed, then sets the run's status and
 * finished_at. Called on every exit path of a run, including failures.
 */
int pcs_trace_end_run(pcs_trace *tr, pcs_run_status status, pcs_error *err);

/* Builds the end-of-run indexes, stops the writer and closes the database. */
int pcs_trace_close(pcs_trace *tr, pcs_error *err);

const char *pcs_run_status_name(pcs_run_status status);

#endif
