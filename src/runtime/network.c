/* SPDX-License-Identifier: MIT */
/*
 * Construction of a network from a validated model: layers, neuron actors,
 * their synapse rows and the initial weights, plus the state readers.
 *
 * Weights are drawn from the PCS_STREAM_WEIGHTS stream of the model seed,
 * one draw per synapse, edge by edge in file order, row-major (post, pre).
 * With mirrored feedback each B row starts as the matching column of W.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "neuron/activation.h"
#include "runtime/net.h"


void pcs_model_count(const pcs_model *model, pcs_model_counts *counts)
{
	memset(counts, 0, sizeof *counts);
	for (int l = 0; l < model->n_layers; l++) {
		bool predicted = false;

		for (int k = 0; k < model->n_edges; k++)
			predicted |= model->edges[k].to == l;
		counts->representational += model->layers[l].size;
		if (predicted)
			counts->error += model->layers[l].size;
	}
	for (int k = 0; k < model->n_edges; k++) {
		const pcs_edge_spec *e = &model->edges[k];
		int64_t n = (int64_t)model->layers[e->from].size * model->layers[e->to].size;

		counts->synapses_w += n;
		if (model->layers[e->from].clamp != PCS_CLAMP_INPUT)
			counts->synapses_b += n;
	}

	/* Two doubles per synapse (base and last value), the neuron structs,
	 * one row header per neuron and edge, and about 64 bytes of queued
	 * events per neuron. */
	counts->bytes = 16 * (counts->synapses_w + counts->synapses_b)
		+ (int64_t)sizeof(pcs_xneuron) * counts->representational
		+ (int64_t)sizeof(pcs_eneuron) * counts->error
		+ (int64_t)sizeof(pcs_row) * (counts->representational + counts->error) * 2
		+ 64 * (counts->representational + counts->error);
}


static double net_draw_weight(const pcs_edge_spec *spec, int fan_in, int post, int pre,
			      pcs_rng *rng)
{
	switch (spec->weight_init) {
	case PCS_WINIT_NORMAL:
		return spec->gain / sqrt((double)fan_in) * pcs_rng_normal(rng);
	case PCS_WINIT_UNIFORM:
		return spec->gain * sqrt(3.0 / fan_in) * (2.0 * pcs_rng_uniform(rng) - 1.0);
	case PCS_WINIT_CONSTANT:
		return spec->value;
	case PCS_WINIT_IDENTITY:
	default:
		return post == pre ? spec->value : 0.0;
	}
}


static int net_build_layers(pcs_network *net, const pcs_model *model, pcs_error *err)
{
	int next_id = 0;

	for (int l = 0; l < model->n_layers; l++) {
		pcs_layer_rt *layer = &net->layers[l];
		const pcs_layer_spec *spec = &model->layers[l];

		layer->spec = spec;
		layer->size = spec->size;
		layer->index = l;
		layer->dt = pcs_ticks(spec->dt > 0 ? spec->dt : model->dynamics.dt);
		layer->tau_x_inv = 1.0 / (spec->tau_x > 0 ? spec->tau_x : model->dynamics.tau_x);
		layer->tau_e_inv = model->dynamics.tau_e > 0 ? 1.0 / model->dynamics.tau_e : 0.0;
		layer->sigma2 = spec->sigma2;
		layer->sigma2_inv = 1.0 / spec->sigma2;
		layer->e_id0 = -1;
		layer->x_id0 = next_id;
		next_id += spec->size;
		if (layer->dt < 1)
			return pcs_error_set(err, PCS_EMODEL, "%s: layer %s: dt is below the time resolution of 1e-9 time units",
					     model->path, spec->name);
		layer->x = calloc((size_t)spec->size, sizeof *layer->x);
		if (layer->x == NULL)
			return pcs_error_set(err, PCS_ENOMEM, "out of memory for layer %s", spec->name);
		if (spec->clamp == PCS_CLAMP_INPUT)
			net->input_layer = l;
		if (spec->clamp == PCS_CLAMP_TARGET)
			net->target_layer = l;
	}
	for (int k = 0; k < model->n_edges; k++) {
		pcs_layer_rt *from = &net->layers[model->edges[k].from];
		pcs_layer_rt *to = &net->layers[model->edges[k].to];

		from->out_edges[from->n_out++] = k;
		to->in_edges[to->n_in++] = k;
	}
	for (int l = 0; l < model->n_layers; l++) {
		pcs_layer_rt *layer = &net->layers[l];

		if (layer->n_in == 0)
			continue;
		layer->e_id0 = next_id;
		next_id += layer->size;
		layer->e = calloc((size_t)layer->size, sizeof *layer->e);
		if (layer->e == NULL)
			return pcs_error_set(err, PCS_ENOMEM, "out of memory for layer %s", layer->spec->name);
		for (int r = 0; r < layer->n_in && layer->bias_rate == 0.0; r++) {
			const pcs_edge_spec *spec = &model->edges[layer->in_edges[r]];

			if (spec->bias)
				layer->bias_rate = spec->learning_rate;
		}
	}
	return 0;
}


/* Allocates one row header per neuron and edge end from a single pool. */
static int net_alloc_row_headers(pcs_network *net)
{
	size_t total = 0, used = 0;

	for (int l = 0; l < net->n_layers; l++) {
		pcs_layer_rt *layer = &net->layers[l];

		if (layer->e != NULL)
			total += (size_t)layer->size * (size_t)layer->n_in;
		if (layer->spec->clamp != PCS_CLAMP_INPUT)
			total += (size_t)layer->size * (size_t)layer->n_out;
	}
	net->row_pool = calloc(total ? total : 1, sizeof *net->row_pool);
	if (net->row_pool == NULL)
		return PCS_ENOMEM;
	for (int l = 0; l < net->n_layers; l++) {
		pcs_layer_rt *layer = &net->layers[l];

		for (int i = 0; layer->e != NULL && i < layer->size; i++) {
			layer->e[i].rows = net->row_pool + used;
			used += (size_t)layer->n_in;
		}
		for (int j = 0; layer->spec->clamp != PCS_CLAMP_INPUT && j < layer->size; j++) {
			layer->x[j].rows = layer->n_out > 0 ? net->row_pool + used : NULL;
			used += (size_t)layer->n_out;
		}
	}
	return 0;
}


static int net_build_edge(pcs_network *net, int k, pcs_rng *rng)
{
	pcs_edge_rt *edge = &net->edges[k];
	pcs_layer_rt *from = &net->layers[edge->from];
	pcs_layer_rt *to = &net->layers[edge->to];
	size_t n_syn = (size_t)from->size * (size_t)to->size;
	double *w = malloc(n_syn * sizeof *w);
	double *column = malloc((size_t)to->size * sizeof *column);

	edge->w_store = malloc(2 * n_syn * sizeof *edge->w_store);
	if (from->spec->clamp != PCS_CLAMP_INPUT)
		edge->b_store = malloc(2 * n_syn * sizeof *edge->b_store);
	if (w == NULL || column == NULL || edge->w_store == NULL
	    || (from->spec->clamp != PCS_CLAMP_INPUT && edge->b_store == NULL)) {
		free(w);
		free(column);
		return PCS_ENOMEM;
	}

	for (int i = 0; i < to->size; i++)
		for (int j = 0; j < from->size; j++)
			w[(size_t)i * from->size + j] = net_draw_weight(edge->spec, from->size, i, j, rng);
	for (int i = 0; i < to->size; i++)
		pcs_row_init(&to->e[i].rows[edge->w_row], from->size,
			     edge->w_store + (size_t)i * from->size,
			     edge->w_store + n_syn + (size_t)i * from->size,
			     w + (size_t)i * from->size);
	for (int j = 0; edge->b_store != NULL && j < from->size; j++) {
		for (int i = 0; i < to->size; i++)
			column[i] = w[(size_t)i * from->size + j];
		pcs_row_init(&from->x[j].rows[edge->b_row], to->size,
			     edge->b_store + (size_t)j * to->size,
			     edge->b_store + n_syn + (size_t)j * to->size, column);
	}
	free(w);
	free(column);
	return 0;
}


int pcs_network_create(pcs_network **out, const pcs_model *model, const pcs_dataset *train,
		       const pcs_dataset *test, pcs_error *err)
{
	pcs_network *net = calloc(1, sizeof *net);
	pcs_rng rng;
	int rc;

	*out = NULL;
	if (net == NULL)
		return pcs_error_set(err, PCS_ENOMEM, "out of memory for the network");
	net->model = model;
	net->train = train;
	net->test = test;
	net->n_layers = model->n_layers;
	net->n_edges = model->n_edges;
	net->target_layer = -1;
	net->sched = pcs_sched_create();
	if (net->sched == NULL) {
		pcs_network_destroy(net);
		return pcs_error_set(err, PCS_ENOMEM, "out of memory for the scheduler");
	}
	rc = net_build_layers(net, model, err);
	if (rc == 0) {
		pcs_model_counts counts;

		pcs_model_count(model, &counts);
		net->next_value = calloc((size_t)(counts.representational + counts.error), sizeof(double));
		if (net->next_value == NULL)
			rc = pcs_error_set(err, PCS_ENOMEM, "out of memory for the network");
	}
	if (rc == 0 && (rc = net_alloc_row_headers(net)) != 0)
		pcs_error_set(err, rc, "out of memory for the synapse rows");
	if (rc != 0) {
		pcs_network_destroy(net);
		return rc;
	}

	pcs_rng_seed(&rng, model->seed, PCS_STREAM_WEIGHTS);
	for (int k = 0; k < model->n_edges; k++) {
		pcs_edge_rt *edge = &net->edges[k];
		int r;

		edge->spec = &model->edges[k];
		edge->from = edge->spec->from;
		edge->to = edge->spec->to;
		edge->delay = pcs_ticks(edge->spec->delay);
		for (r = 0; net->layers[edge->to].in_edges[r] != k; r++)
			;
		edge->w_row = r;
		for (r = 0; net->layers[edge->from].out_edges[r] != k; r++)
			;
		edge->b_row = net->layers[edge->from].spec->clamp == PCS_CLAMP_INPUT ? -1 : r;
		if (net_build_edge(net, k, &rng) != 0) {
			pcs_network_destroy(net);
			return pcs_error_set(err, PCS_ENOMEM, "out of memory for the synapses of edge %d", k);
		}
	}
	*out = net;
	return 0;
}


void pcs_network_destroy(pcs_network *net)
{
	if (net == NULL)
		return;
	for (int l = 0; l < net->n_layers; l++) {
		free(net->layers[l].x);
		free(net->layers[l].e);
	}
	for (int k = 0; k < net->n_edges; k++) {
		free(net->edges[k].w_store);
		free(net->edges[k].b_store);
	}
	free(net->row_pool);
	free(net->next_value);
	pcs_sched_destroy(net->sched);
	free(net);
}


double pcs_network_x(const pcs_network *net, int layer, int idx)
{
	return net->layers[layer].x[idx].x;
}


double pcs_network_e(const pcs_network *net, int layer, int idx)
{
	const pcs_layer_rt *l = &net->layers[layer];

	return l->e != NULL ? l->e[idx].e : NAN;
}


double pcs_network_bias(const pcs_network *net, int layer, int idx)
{
	const pcs_layer_rt *l = &net->layers[layer];

	return l->e != NULL ? l->e[idx].bias : NAN;
}


double pcs_network_weight(const pcs_network *net, int edge, int post, int pre)
{
	const pcs_edge_rt *e = &net->edges[edge];

	return pcs_row_weight(&net->layers[e->to].e[post].rows[e->w_row], pre);
}


double pcs_network_feedback(const pcs_network *net, int edge, int post, int pre)
{
	const pcs_edge_rt *e = &net->edges[edge];

	if (e->b_row < 0)
		return NAN;
	return pcs_row_weight(&net->layers[e->from].x[pre].rows[e->b_row], post);
}


double pcs_net_energy(pcs_network *net)
{
	double total = 0.0;

	for (int l = 0; l < net->n_layers; l++) {
		pcs_layer_rt *layer = &net->layers[l];
		double sum = 0.0;

		for (int i = 0; layer->e != NULL && i < layer->size; i++)
			sum += layer->e[i].e * layer->e[i].e;
		layer->energy = 0.5 * layer->sigma2 * sum;
		total += layer->energy;
	}
	return total;
}
