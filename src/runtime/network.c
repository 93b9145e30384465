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


/* Draws one value around mean m; see pcs_distribution for the forms. */
static double net_draw(pcs_distribution d, double m, double s, pcs_rng *rng)
{
	double v;

	switch (d) {
	case PCS_DIST_UNIFORM:
		return m * (1.0 + s * (2.0 * pcs_rng_uniform(rng) - 1.0));
	case PCS_DIST_NORMAL:
		do
			v = m * (1.0 + s * pcs_rng_normal(rng));
		while (v <= 0.0);
		return v;
	case PCS_DIST_LOGNORMAL:
		return m * exp(s * pcs_rng_normal(rng) - 0.5 * s * s);
	default:
		return m;
	}
}


static pcs_distribution net_inherit(pcs_distribution layer, pcs_distribution model)
{
	return layer == PCS_DIST_INHERIT ? model : layer;
}


static double net_inherit_value(double layer, double model)
{
	return isnan(layer) ? model : layer;
}


/* Time units, bounded to what int64 ticks count: a draw of a wide
 * distribution is clamped to [1e-9, 1e9] time units. */
static double net_draw_time(pcs_distribution d, double m, double s, pcs_rng *rng)
{
	double t = net_draw(d, m, s, rng);

	return fmin(fmax(t, 1e-9), 1e9);
}


static int64_t net_draw_ticks(pcs_distribution d, double m, double s, pcs_rng *rng)
{
	return pcs_ticks(net_draw_time(d, m, s, rng));
}


/*
 * Draws every neuron's tau and dt from its own sub-stream per layer and
 * quantity, so a change in one layer never shifts another layer's draws.
 */
static void net_draw_neurons(pcs_network *net, const pcs_model *m)
{
	const pcs_dynamics_spec *d = &m->dynamics;

	for (int l = 0; l < net->n_layers; l++) {
		pcs_layer_rt *layer = &net->layers[l];
		const pcs_layer_spec *s = layer->spec;
		pcs_distribution dist_x = net_inherit(s->tau_x_distribution, d->tau_x_distribution);
		pcs_distribution dist_e = net_inherit(s->tau_e_distribution, d->tau_e_distribution);
		pcs_distribution dist_dt = net_inherit(s->dt_distribution, d->dt_distribution);
		double spread_x = net_inherit_value(s->tau_x_spread, d->tau_x_spread);
		double spread_e = net_inherit_value(s->tau_e_spread, d->tau_e_spread);
		double spread_dt = net_inherit_value(s->dt_spread, d->dt_spread);
		double mean_dt = pcs_time(layer->dt);
		pcs_rng tau_rng, dt_rng, tau_e_rng, dt_e_rng;

		pcs_rng_seed_sub(&tau_rng, m->seed, PCS_STREAM_PARAMS, 4 * (uint64_t)l);
		pcs_rng_seed_sub(&dt_rng, m->seed, PCS_STREAM_PARAMS, 4 * (uint64_t)l + 1);
		pcs_rng_seed_sub(&tau_e_rng, m->seed, PCS_STREAM_PARAMS, 4 * (uint64_t)l + 2);
		pcs_rng_seed_sub(&dt_e_rng, m->seed, PCS_STREAM_PARAMS, 4 * (uint64_t)l + 3);
		layer->jitter = net_inherit_value(s->jitter, d->jitter);
		layer->noise = net_inherit_value(s->noise, d->noise);
		for (int j = 0; j < layer->size; j++) {
			pcs_xneuron *xn = &layer->x[j];

			xn->tau_inv = 1.0 / net_draw_time(dist_x, 1.0 / layer->tau_x_inv, spread_x, &tau_rng);
			xn->dt = net_draw_ticks(dist_dt, mean_dt, spread_dt, &dt_rng);
			xn->h = xn->dt;
			xn->lesion_tick = INT64_MAX;
		}
		for (int i = 0; layer->e != NULL && i < layer->size; i++) {
			pcs_eneuron *en = &layer->e[i];

			en->tau_inv = layer->tau_e_inv > 0.0
				? 1.0 / net_draw_time(dist_e, 1.0 / layer->tau_e_inv, spread_e, &tau_e_rng) : 0.0;
			en->dt = net_draw_ticks(dist_dt, mean_dt, spread_dt, &dt_e_rng);
			en->h = en->dt;
		}
	}
}


/* Marks each lesioned neuron with the tick of its layer's lesion_time. */
static int net_mark_lesions(pcs_network *net, const pcs_model *m, pcs_error *err)
{
	for (int l = 0; l < net->n_layers; l++) {
		pcs_layer_rt *layer = &net->layers[l];
		bool *selected = calloc((size_t)layer->size, sizeof *selected);
		bool any = false;
		int rc;

		layer->lesion_tick = INT64_MAX;
		if (selected == NULL)
			return pcs_error_set(err, PCS_ENOMEM, "out of memory for layer %s", layer->spec->name);
		rc = pcs_model_select_lesion(m, l, selected, err);
		for (int j = 0; rc == 0 && j < layer->size; j++) {
			if (!selected[j])
				continue;
			layer->x[j].lesion_tick = pcs_ticks(layer->spec->lesion_time);
			any = true;
		}
		free(selected);
		if (rc != 0)
			return rc;
		if (any)
			layer->lesion_tick = pcs_ticks(layer->spec->lesion_time);
	}
	return 0;
}


/* Draws each sending neuron's delay on the edge, up and down. */
static int net_draw_delays(pcs_network *net, int k, uint64_t seed)
{
	pcs_edge_rt *edge = &net->edges[k];
	const pcs_edge_spec *s = edge->spec;
	int n_from = net->layers[edge->from].size, n_to = net->layers[edge->to].size;
	pcs_rng up, down;

	edge->delay_up = malloc((size_t)n_from * sizeof *edge->delay_up);
	edge->delay_down = malloc((size_t)n_to * sizeof *edge->delay_down);
	if (edge->delay_up == NULL || edge->delay_down == NULL)
		return PCS_ENOMEM;
	pcs_rng_seed_sub(&up, seed, PCS_STREAM_DELAYS, 2 * (uint64_t)k);
	pcs_rng_seed_sub(&down, seed, PCS_STREAM_DELAYS, 2 * (uint64_t)k + 1);
	for (int j = 0; j < n_from; j++)
		edge->delay_up[j] = s->delay > 0.0
			? net_draw_ticks(s->delay_distribution, s->delay, s->delay_spread, &up) : 0;
	for (int i = 0; i < n_to; i++)
		edge->delay_down[i] = s->delay > 0.0
			? net_draw_ticks(s->delay_distribution, s->delay, s->delay_spread, &down) : 0;
	edge->loss = s->loss;
	return 0;
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
	edge->w_tag = calloc(n_syn, sizeof *edge->w_tag);
	if (from->spec->clamp != PCS_CLAMP_INPUT)
		edge->b_store = malloc(2 * n_syn * sizeof *edge->b_store);
	if (w == NULL || column == NULL || edge->w_store == NULL || edge->w_tag == NULL
	    || (from->spec->clamp != PCS_CLAMP_INPUT && edge->b_store == NULL)) {
		free(w);
		free(column);
		return PCS_ENOMEM;
	}

	for (int i = 0; i < to->size; i++)
		for (int j = 0; j < from->size; j++)
			w[(size_t)i * from->size + j] = net_draw_weight(edge->spec, from->size, i, j, rng);
	for (int i = 0; i < to->size; i++)
		to->e[i].fan_in += from->size;
	for (int i = 0; i < to->size; i++)
		pcs_row_init(&to->e[i].rows[edge->w_row], from->size,
			     edge->w_store + (size_t)i * from->size,
			     edge->w_store + n_syn + (size_t)i * from->size,
			     w + (size_t)i * from->size);
	/* Learned and random feedback draw B like W, from a stream of their own,
	 * so choosing them leaves the W draws of every edge unchanged. */
	if (edge->spec->feedback != PCS_FEEDBACK_MIRRORED) {
		pcs_rng b_rng;

		pcs_rng_seed_sub(&b_rng, net->model->seed, PCS_STREAM_FEEDBACK, (uint64_t)k);
		for (int i = 0; i < to->size; i++)
			for (int j = 0; j < from->size; j++)
				w[(size_t)i * from->size + j] =
					net_draw_weight(edge->spec, from->size, i, j, &b_rng);
	}
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


/*
 * Splits every layer into one contiguous block per shard: one shard unless
 * runtime.mode = async, where each worker thread runs one. Each shard gets
 * its own event queue and random streams (sub-stream = shard index).
 */
static int net_build_shards(pcs_network *net, const pcs_model *m, pcs_error *err)
{
	int n = m->runtime.mode == PCS_MODE_ASYNC ? m->runtime.workers : 1;

	net->shards = calloc((size_t)n, sizeof *net->shards);
	if (net->shards == NULL)
		return pcs_error_set(err, PCS_ENOMEM, "out of memory for the shards");
	net->n_shards = n;
	for (int s = 0; s < n; s++) {
		pcs_shard *sh = &net->shards[s];

		sh->net = net;
		sh->index = s;
		sh->sched = pcs_sched_create();
		if (sh->sched == NULL)
			return pcs_error_set(err, PCS_ENOMEM, "out of memory for the scheduler");
		for (int l = 0; l < net->n_layers; l++) {
			sh->lo[l] = (int)((int64_t)net->layers[l].size * s / n);
			sh->hi[l] = (int)((int64_t)net->layers[l].size * (s + 1) / n);
		}
		pcs_rng_seed_sub(&sh->noise_rng, m->seed, PCS_STREAM_NOISE, (uint64_t)s);
		pcs_rng_seed_sub(&sh->loss_rng, m->seed, PCS_STREAM_LOSS, (uint64_t)s);
		pcs_rng_seed_sub(&sh->jitter_rng, m->seed, PCS_STREAM_JITTER, (uint64_t)s);
	}
	return 0;
}


int pcs_owner(const pcs_network *net, int layer, int idx)
{
	for (int s = 0; s < net->n_shards; s++)
		if (idx < net->shards[s].hi[layer])
			return s;
	return net->n_shards - 1;
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
		if (net_build_edge(net, k, &rng) != 0 || net_draw_delays(net, k, model->seed) != 0) {
			pcs_network_destroy(net);
			return pcs_error_set(err, PCS_ENOMEM, "out of memory for the synapses of edge %d", k);
		}
	}
	net_draw_neurons(net, model);
	if ((rc = net_mark_lesions(net, model, err)) != 0) {
		pcs_network_destroy(net);
		return rc;
	}
	if ((rc = net_build_shards(net, model, err)) != 0) {
		pcs_network_destroy(net);
		return rc;
	}
	net->settled_plasticity = model->dynamics.plasticity == PCS_PLASTICITY_SETTLED;
	net->settle_threshold = model->dynamics.settle_threshold;
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
		free(net->edges[k].delay_up);
		free(net->edges[k].w_tag);
		free(net->edges[k].delay_down);
	}
	free(net->row_pool);
	free(net->next_value);
	for (int s = 0; net->shards != NULL && s < net->n_shards; s++)
		pcs_sched_destroy(net->shards[s].sched);
	free(net->shards);
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


double pcs_shard_energy(pcs_shard *sh)
{
	pcs_network *net = sh->net;
	double total = 0.0;

	for (int l = 0; l < net->n_layers; l++) {
		pcs_layer_rt *layer = &net->layers[l];
		double sum = 0.0;

		for (int i = sh->lo[l]; layer->e != NULL && i < sh->hi[l]; i++)
			sum += layer->e[i].e * layer->e[i].e;
		sh->energy[l] = 0.5 * layer->sigma2 * sum;
		total += sh->energy[l];
	}
	return total;
}


double pcs_network_feedback_angle(const pcs_network *net, int edge)
{
	const pcs_edge_rt *e = &net->edges[edge];
	int n_post = net->layers[e->to].size, n_pre = net->layers[e->from].size;
	double dot = 0.0, bb = 0.0, ww = 0.0, c;

	if (e->b_row < 0)
		return NAN;
	for (int i = 0; i < n_post; i++) {
		for (int j = 0; j < n_pre; j++) {
			double w = pcs_network_weight(net, edge, i, j);
			double b = pcs_network_feedback(net, edge, i, j);

			dot += w * b;
			ww += w * w;
			bb += b * b;
		}
	}
	if (ww == 0.0 || bb == 0.0)
		return NAN;
	c = dot / sqrt(ww * bb);
	return acos(fmin(fmax(c, -1.0), 1.0)) * (180.0 / M_PI);
}


void pcs_network_set_weight(pcs_network *net, int edge, int post, int pre, double w)
{
	const pcs_edge_rt *e = &net->edges[edge];
	pcs_row *row = &net->layers[e->to].e[post].rows[e->w_row];

	if (row->scale != 1.0 || row->drive != 0.0)
		pcs_row_rebuild(row);
	row->base[pre] = w;
}


void pcs_network_set_bias(pcs_network *net, int layer, int idx, double b)
{
	if (net->layers[layer].e != NULL)
		net->layers[layer].e[idx].bias = b;
}


void pcs_network_mirror_feedback(pcs_network *net)
{
	for (int k = 0; k < net->n_edges; k++) {
		const pcs_edge_rt *e = &net->edges[k];
		pcs_layer_rt *from = &net->layers[e->from], *to = &net->layers[e->to];

		for (int i = 0; i < to->size; i++)
			pcs_row_rebuild(&to->e[i].rows[e->w_row]);
		for (int j = 0; e->b_row >= 0 && j < from->size; j++) {
			pcs_row *row = &from->x[j].rows[e->b_row];

			for (int i = 0; i < to->size; i++)
				row->base[i] = pcs_network_weight(net, k, i, j);
			row->scale = 1.0;
			row->drive = 0.0;
			pcs_row_rebuild(row);
		}
	}
}
