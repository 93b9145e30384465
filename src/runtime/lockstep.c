/* SPDX-License-Identifier: MIT */
/*
 * The lock-step control condition and the global learning phase.
 *
 * A lockstep tick is one global step with barriers between its phases:
 *   1. compute: every free x neuron, and every error neuron with tau_e > 0,
 *      computes its next value from the values of the previous step;
 *   2. barrier, then commit: every such neuron takes its new value and
 *      sends it; zero-delay messages arrive at once;
 *   3. barrier, then every instantaneous error neuron (tau_e = 0)
 *      recomputes from the new values and sends, in layer order, again
 *      as long as a neuron took its start value for a new sample.
 * Delayed messages (a whole number of steps, checked at load) arrive before
 * the compute phase of their tick, because they were queued before the
 * tick's own event. This is the synchronous scheme a dense implementation
 * runs; tests/test_lockstep.c compares it with one.
 *
 * The learning phase applies every plastic row's rule once with step h and
 * the current values, as one global event: the schedule of
 * protocol.learning = phased.
 */
#include "runtime/net.h"


static void lockstep_compute(pcs_network *net, int64_t now)
{
	for (int l = 0; l < net->n_layers; l++) {
		pcs_layer_rt *layer = &net->layers[l];

		for (int j = 0; j < layer->size; j++)
			if (!layer->x[j].clamped && !layer->x[j].lesioned
			    && layer->spec->clamp != PCS_CLAMP_INPUT)
				net->next_value[layer->x_id0 + j] = pcs_x_next(net, layer, j, now);
		for (int i = 0; layer->e != NULL && layer->tau_e_inv > 0.0 && i < layer->size; i++)
			if (!layer->e[i].lesioned)
				net->next_value[layer->e_id0 + i] = pcs_e_next(net, layer, i, now, true);
	}
}


static void lockstep_commit(pcs_network *net, int64_t now)
{
	for (int l = 0; l < net->n_layers; l++) {
		pcs_layer_rt *layer = &net->layers[l];

		for (int j = 0; j < layer->size; j++)
			if (!layer->x[j].clamped && !layer->x[j].lesioned
			    && layer->spec->clamp != PCS_CLAMP_INPUT)
				pcs_x_commit(net, layer, j, net->next_value[layer->x_id0 + j], now);
		for (int i = 0; layer->e != NULL && layer->tau_e_inv > 0.0 && i < layer->size; i++)
			if (!layer->e[i].lesioned)
				pcs_e_commit(net, layer, i, net->next_value[layer->e_id0 + i], now);
	}
}


void pcs_lockstep_tick(pcs_network *net, int64_t now)
{
	pcs_event ev = {.kind = PCS_EV_LOCKSTEP};

	uint64_t starts;

	lockstep_compute(net, now);
	lockstep_commit(net, now);

	/* A neuron that takes its start value in phase 3 changes the input of
	 * an error neuron that may already have recomputed, so phase 3 repeats
	 * until no neuron starts: once per layer depth at a sample's start. */
	do {
		starts = pcs_tls_shard->starts;
		for (int l = 0; l < net->n_layers; l++) {
			pcs_layer_rt *layer = &net->layers[l];

			for (int i = 0; layer->e != NULL && layer->tau_e_inv == 0.0 && i < layer->size; i++)
				pcs_e_update(net, layer, i, now, false);
		}
	} while (pcs_tls_shard->starts != starts);

	/* Queued last, so the next tick's delayed deliveries run before it. */
	pcs_net_push(net, now + net->layers[0].dt, &ev);
}


void pcs_learning_phase(pcs_network *net, double h)
{
	for (int l = 0; l < net->n_layers; l++) {
		pcs_layer_rt *layer = &net->layers[l];

		for (int i = 0; layer->e != NULL && i < layer->size; i++) {
			pcs_eneuron *en = &layer->e[i];

			for (int r = 0; r < layer->n_in; r++) {
				const pcs_edge_spec *spec = net->edges[layer->in_edges[r]].spec;
				double rate_h = spec->learning_rate * h;

				pcs_row_learn(&en->rows[r], 1.0 - rate_h * spec->decay, rate_h * en->e);
			}
			en->bias += layer->bias_rate * h * en->e;
		}
		for (int j = 0; layer->x[0].rows != NULL && j < layer->size; j++) {
			pcs_xneuron *xn = &layer->x[j];

			for (int r = 0; r < layer->n_out; r++) {
				const pcs_edge_spec *spec = net->edges[layer->out_edges[r]].spec;
				double rate_h = spec->learning_rate * h;

				if (spec->feedback != PCS_FEEDBACK_RANDOM)
					pcs_row_learn(&xn->rows[r], 1.0 - rate_h * spec->decay,
						      rate_h * xn->fx);
			}
		}
	}
}
