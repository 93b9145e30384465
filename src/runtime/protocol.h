/* SPDX-License-Identifier: MIT */
/* The protocol actor (sample presentation, phases) and the energy monitor. */
#ifndef PCS_PROTOCOL_H
#define PCS_PROTOCOL_H

#include "runtime/net.h"

#define PCS_MAX_REPORTED_EPOCHS 64

typedef struct pcs_protocol {
	pcs_network *net;
	int64_t presentation;   /* ticks per sample */
	int epochs;
	int64_t n_train, n_test, total, done;
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
} pcs_protocol;

int pcs_protocol_init(pcs_protocol *p, pcs_network *net, pcs_error *err);
void pcs_protocol_free(pcs_protocol *p);

/* Closes the sample that ended at now, presents the next; false when done. */
bool pcs_protocol_wake(pcs_protocol *p, int64_t now);

/* Records the energy at now and schedules the next monitor tick. */
void pcs_monitor_wake(pcs_protocol *p, int64_t now);

/* Writes every W weight of the network with this epoch number. */
void pcs_protocol_trace_weights(pcs_network *net, int epoch);

#endif
