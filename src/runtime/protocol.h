/* SPDX-License-Identifier: MIT */
/* The protocol actor (sample presentation, phases) and the energy monitor. */
#ifndef PCS_PROTOCOL_H
#define PCS_PROTOCOL_H

#include <stdatomic.h>

#include "runtime/net.h"

#define PCS_MAX_REPORTED_EPOCHS 64

typedef struct pcs_protocol {
	pcs_network *net;
	int64_t presentation;   /* ticks per sample */
	int epochs;
	int64_t n_train, n_test, total;
	_Atomic int64_t done;            /* samples closed; read by the progress timer */
	_Atomic int progress_epoch, progress_phase;
	uint32_t *order;        /* training order of the current epoch */
	pcs_rng shuffle_rng;
	pcs_sample_state current;
	bool finished;
	int epochs_done;
	int64_t epoch_correct, epoch_count, test_correct;
	double epoch_energy, test_energy;
	double train_accuracy[PCS_MAX_REPORTED_EPOCHS];
	double train_energy[PCS_MAX_REPORTED_EPOCHS];
	double last_train_accuracy, last_train_energy;
	double *target_x, *target_mu;   /* readout of the target layer at a sample's end */
	uint32_t *target_tag;
} pcs_protocol;

int pcs_protocol_init(pcs_protocol *p, pcs_network *net, pcs_error *err);
void pcs_protocol_free(pcs_protocol *p);

/* Closes the sample that ended at now, presents the next; false when done. */
bool pcs_protocol_wake(pcs_protocol *p, int64_t now);

/* Records the energy at now and schedules the next monitor tick. */
void pcs_monitor_wake(pcs_protocol *p, int64_t now);

/* Writes the W rows of the shard's error neurons with this epoch number. */
void pcs_shard_trace_weights(pcs_shard *sh, int epoch);
void pcs_shard_settle_learning(pcs_shard *sh, int64_t now);

/* Handlers of the phase messages a shard receives from the protocol actor. */
void pcs_shard_end_epoch(pcs_shard *sh, const pcs_event *ev, int64_t now);
void pcs_shard_learning_off(pcs_shard *sh, const pcs_event *ev, int64_t now);

/* Writes the angle between B and W transposed of every edge with feedback. */
void pcs_trace_feedback_angles(pcs_network *net, int epoch);

#endif
