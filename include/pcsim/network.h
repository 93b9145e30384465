/* SPDX-License-Identifier: MIT */
/*
 * A network of neuron actors built from a validated model, and the run
 * that presents the data set to it and traces what happens.
 */
#ifndef PCSIM_NETWORK_H
#define PCSIM_NETWORK_H

#include <stdbool.h>
#include <stdint.h>

#include "pcsim/common.h"
#include "pcsim/data.h"
#include "pcsim/model.h"
#include "pcsim/trace.h"

typedef struct pcs_network pcs_network;

/* Sizes of a model, for `pcsim check` and for memory planning. */
typedef struct pcs_model_counts {
	int64_t representational;  /* x neurons */
	int64_t error;             /* e neurons */
	int64_t synapses_w;        /* prediction synapses, held by error neurons */
	int64_t synapses_b;        /* feedback synapses, held by representational neurons */
	int64_t bytes;             /* estimate of the network's memory, data sets excluded */
} pcs_model_counts;

void pcs_model_count(const pcs_model *model, pcs_model_counts *counts);

typedef struct pcs_progress {
	int64_t samples_done;
	int64_t samples_total;
	int epoch;
	pcs_phase phase;
	double elapsed;           /* wall seconds since the run started */
} pcs_progress;

typedef struct pcs_run_options {
	/* Called from the run's loop about every progress_interval wall seconds. */
	void (*progress)(const pcs_progress *p, void *data);
	void *progress_data;
	double progress_interval;
	/* Stop the run with status interrupted on SIGINT and SIGTERM. */
	bool handle_signals;
	/* When not NULL and non-zero at any point, the run stops as interrupted:
	 * for a signal caught by the caller before the run's own watchers exist. */
	const volatile int *interrupted;
} pcs_run_options;

typedef struct pcs_run_result {
	pcs_run_status status;
	int64_t run_id;                   /* 0 without a trace database */
	int epochs_done;
	double train_accuracy[64];        /* per epoch, first 64 epochs; see docs/traces.md */
	double train_energy[64];          /* mean F at the end of each training sample, per epoch */
	double last_train_accuracy;       /* of the last epoch, whatever the epoch count */
	double last_train_energy;
	double test_accuracy;             /* -1 when no test pass ran */
	double test_energy;               /* mean F at the end of each test sample */
	int64_t test_count;
	int64_t samples;                  /* presentations */
	double wall_seconds;              /* simulation only, from the first event to the last */
	double model_time;                /* time units simulated */
	uint64_t neuron_steps;            /* local steps and error recomputations */
	uint64_t messages;                /* messages sent */
	uint64_t messages_lost;           /* synaptic transmissions lost (edge loss) */
	uint64_t synaptic_events;         /* message arrivals at a synapse */
	uint64_t events;                  /* scheduler events processed */
	double feedback_angle[PCS_MAX_EDGES]; /* degrees at the end of the run; NAN without feedback */
} pcs_run_result;

/* Builds the network's neurons and synapses; weights drawn from the model seed. */
int pcs_network_create(pcs_network **out, const pcs_model *model, const pcs_dataset *train,
		       const pcs_dataset *test, pcs_error *err);

/*
 * Runs the model's protocol on a libuv loop, writing rows to trace when it
 * is not NULL (after pcs_trace_begin_run has been called by this function).
 * Returns 0 when the run finished; otherwise PCS_EDIVERGED, PCS_EINTR,
 * PCS_ETRACE or PCS_ERUNTIME, with the run status set in the database.
 */
int pcs_network_run(pcs_network *net, pcs_trace *trace, const char *params,
		    const pcs_run_options *options, pcs_run_result *result, pcs_error *err);

void pcs_network_destroy(pcs_network *net);

/* State readers, for tests and for the command line after a run. */
double pcs_network_x(const pcs_network *net, int layer, int idx);
double pcs_network_e(const pcs_network *net, int layer, int idx);
double pcs_network_bias(const pcs_network *net, int layer, int idx);
/* W of edge: post = index in the predicted layer, pre = in the predicting layer. */
double pcs_network_weight(const pcs_network *net, int edge, int post, int pre);
/* B of edge at representational neuron pre for error neuron post; NAN if absent. */
double pcs_network_feedback(const pcs_network *net, int edge, int post, int pre);

/*
 * Angle in degrees between edge's feedback weights B and its W transposed,
 * both taken as vectors over all synapses; NAN when the edge has no
 * feedback (its predicting layer is clamp = input) or a zero matrix.
 */
double pcs_network_feedback_angle(const pcs_network *net, int edge);

/*
 * Weight loading, for generation from a finished run: set W and biases,
 * then pcs_network_mirror_feedback copies W^T into B of every edge with
 * feedback and recomputes every row's sums.
 */
void pcs_network_set_weight(pcs_network *net, int edge, int post, int pre, double w);
void pcs_network_set_bias(pcs_network *net, int layer, int idx, double b);
void pcs_network_mirror_feedback(pcs_network *net);

/*
 * Generation: with plasticity off, clamps the target layer to the one-hot
 * of labels[s] and frees the input layer, relaxes for `duration` time
 * units per sample, and copies the input layer's settled x into
 * images[s * input size ...]. Samples follow each other without a reset,
 * each starting from its prediction like any sample.
 */
int pcs_network_generate(pcs_network *net, const int *labels, int n, double duration,
			 double *images, pcs_error *err);

#endif
