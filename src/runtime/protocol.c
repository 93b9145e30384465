/* SPDX-License-Identifier: MIT */
/*
 * The stimulus/protocol actor and the energy monitor.
 *
 * The protocol actor wakes once per presentation window. At each wake-up
 * it closes the sample that just ended (reads its prediction and energy,
 * writes its row) and presents the next one by sending clamp messages to
 * the clamped layers. Phase changes (training to test) are messages too:
 * plasticity off and unclamping of the target layer. The network is never
 * paused.
 *
 * Schedule: epochs 1..E over the training set (shuffled each epoch from
 * the PCS_STREAM_SHUFFLE stream when asked), then one test pass over the
 * test set in file order. Sample s is presented on [s * P, (s + 1) * P)
 * with P the presentation time.
 *
 * The monitor wakes every dynamics.dt and records the total energy F for
 * the settle-time estimate (and per-layer energy rows when traced).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/async.h"
#include "runtime/protocol.h"

#define SETTLE_RELATIVE_TOLERANCE 1e-3
#define SETTLE_ABSOLUTE_TOLERANCE 1e-9

static void monitor_record(pcs_protocol *p, int64_t now);


int pcs_protocol_init(pcs_protocol *p, pcs_network *net, pcs_error *err)
{
	const pcs_model *model = net->model;
	int64_t n_train = model->protocol.epochs > 0 ? net->train->count : 0;
	size_t target_size = net->target_layer >= 0 ? (size_t)net->layers[net->target_layer].size : 1;

	memset(p, 0, sizeof *p);
	p->net = net;
	p->presentation = pcs_ticks(model->dynamics.presentation);
	p->epochs = model->protocol.epochs;
	p->n_train = net->train->count;
	p->n_test = model->protocol.test ? net->test->count : 0;
	p->total = (int64_t)model->protocol.epochs * n_train + p->n_test;
	p->order = malloc(((size_t)p->n_train + 1) * sizeof *p->order);
	p->target_x = calloc(target_size, sizeof *p->target_x);
	p->target_mu = calloc(target_size, sizeof *p->target_mu);
	p->target_tag = calloc(target_size, sizeof *p->target_tag);
	if (p->order == NULL || p->target_x == NULL || p->target_mu == NULL || p->target_tag == NULL)
		return pcs_error_set(err, PCS_ENOMEM, "out of memory for the sample order");
	pcs_rng_seed(&p->shuffle_rng, model->seed, PCS_STREAM_SHUFFLE);
	p->current.seq = -1;
	return 0;
}


void pcs_protocol_free(pcs_protocol *p)
{
	free(p->order);
	free(p->target_x);
	free(p->target_mu);
	free(p->target_tag);
	free(p->current.history_t);
	free(p->current.history_f);
	memset(p, 0, sizeof *p);
}


/*
 * Returns the class the network predicts for the sample with this tag, or
 * -1. At test it is the argmax of the free target layer's x. In training
 * the target is clamped to the label, so the network's own guess is the
 * prediction mu that each target error neuron computed when the sample's
 * first prediction reached it, before the label nudged the layers below.
 */
static int argmax_prediction(pcs_protocol *p, pcs_phase phase, uint32_t tag)
{
	pcs_network *net = p->net;
	pcs_layer_rt *layer;
	int best = -1;
	double best_value = -INFINITY;

	if (net->target_layer < 0)
		return -1;
	layer = &net->layers[net->target_layer];
	if (phase == PCS_PHASE_TRAIN && layer->e == NULL)
		return -1;
	if (net->async != NULL) {
		pcs_async_read_target(net, p->target_x, p->target_mu, p->target_tag);
	} else {
		for (int i = 0; i < layer->size; i++) {
			p->target_x[i] = layer->x[i].x;
			p->target_mu[i] = layer->e != NULL ? layer->e[i].mu_first : 0.0;
			p->target_tag[i] = layer->e != NULL ? layer->e[i].first_tag : 0;
		}
	}
	for (int i = 0; i < layer->size; i++) {
		double v;

		if (phase == PCS_PHASE_TRAIN && p->target_tag[i] != tag)
			return -1;
		v = phase == PCS_PHASE_TRAIN ? p->target_mu[i] : p->target_x[i];

		if (v > best_value) {
			best_value = v;
			best = i;
		}
	}
	return best;
}


/* Earliest monitor tick after which F stays within tolerance of f_end. */
static double settle_time(const pcs_sample_state *s, int64_t t_off, double f_end)
{
	double tol = SETTLE_RELATIVE_TOLERANCE * fabs(f_end) + SETTLE_ABSOLUTE_TOLERANCE;
	int64_t settled_at = t_off;

	for (int k = s->history_len - 1; k >= 0; k--) {
		if (fabs(s->history_f[k] - f_end) > tol)
			break;
		settled_at = s->history_t[k];
	}
	return pcs_time(settled_at - s->t_on);
}


static void protocol_finish_sample(pcs_protocol *p, int64_t now)
{
	pcs_network *net = p->net;
	pcs_sample_state *s = &p->current;
	pcs_sample_row row;
	double f = pcs_shard_energy(pcs_tls_shard);

	/* Other shards' energies come from their snapshots. */
	for (int l = 0; net->async != NULL && l < net->n_layers; l++)
		f += pcs_async_read_energy(net, l) - pcs_tls_shard->energy[l];

	if (now > s->t_on)
		monitor_record(p, now);

	row.seq = s->seq;
	row.epoch = s->epoch;
	row.phase = s->phase;
	row.data_index = s->data_index;
	row.label = s->label;
	row.t_on = pcs_time(s->t_on);
	row.t_off = pcs_time(now);
	row.predicted = argmax_prediction(p, s->phase, (uint32_t)(s->seq + 1));
	row.energy = f;
	row.settle_time = settle_time(s, now, f);
	if (net->trace != NULL && pcs_net_trace_sample(net, &row) != 0)
		net->trace_error = PCS_ETRACE;

	p->done++;
	if (s->phase == PCS_PHASE_TRAIN) {
		p->epoch_correct += row.predicted == row.label;
		p->epoch_energy += f;
		p->epoch_count++;
	} else {
		p->test_correct += row.predicted == row.label;
		p->test_energy += f;
	}
}


/* Advances the plasticity of the shard's neurons to now, so weights read exactly. */
void pcs_shard_settle_learning(pcs_shard *sh, int64_t now)
{
	pcs_network *net = sh->net;

	for (int l = 0; l < net->n_layers; l++) {
		pcs_layer_rt *layer = &net->layers[l];

		for (int i = sh->lo[l]; i < sh->hi[l]; i++) {
			pcs_x_advance_learning(net, layer, &layer->x[i], now);
			if (layer->e != NULL)
				pcs_e_advance_learning(net, layer, &layer->e[i], now);
		}
	}
}


void pcs_shard_trace_weights(pcs_shard *sh, int epoch)
{
	pcs_network *net = sh->net;

	if (net->trace == NULL || net->model->trace.weights == PCS_WEIGHTS_NEVER)
		return;
	for (int k = 0; k < net->n_edges; k++) {
		pcs_edge_rt *edge = &net->edges[k];
		int n_pre = net->layers[edge->from].size;

		for (int i = sh->lo[edge->to]; i < sh->hi[edge->to]; i++)
			for (int j = 0; j < n_pre; j++)
				if (pcs_net_trace_weight(net, epoch, k, i, j,
							 pcs_network_weight(net, k, i, j)) != 0)
					net->trace_error = PCS_ETRACE;
	}

	/* Biases belong to error neurons, not edges: one row each, pre = -1,
	 * under the first edge into the layer. */
	for (int l = 0; l < net->n_layers; l++) {
		pcs_layer_rt *layer = &net->layers[l];

		for (int i = sh->lo[l]; layer->e != NULL && i < sh->hi[l]; i++)
			if (pcs_net_trace_weight(net, epoch, layer->in_edges[0], i, -1,
						 layer->e[i].bias) != 0)
				net->trace_error = PCS_ETRACE;
	}
}


/* Sends ev to every shard at now: directly to this one, by message to the others. */
static void protocol_broadcast(pcs_network *net, const pcs_event *ev, int64_t now,
			       void (*local)(pcs_shard *sh, const pcs_event *ev, int64_t now))
{
	for (int s = 0; net->async != NULL && s < net->n_shards; s++)
		if (s != pcs_tls_shard->index)
			pcs_send_to_shard(net, s, now, ev);
	local(pcs_tls_shard, ev, now);
}


void pcs_shard_end_epoch(pcs_shard *sh, const pcs_event *ev, int64_t now)
{
	pcs_shard_settle_learning(sh, now);
	pcs_shard_trace_weights(sh, (int)ev->target);

	/* The angle needs every shard's rows: one shard has them all, and
	 * in async mode the run records it once, after the threads stop. */
	if (sh->net->n_shards == 1)
		pcs_trace_feedback_angles(sh->net, (int)ev->target);
}


void pcs_trace_feedback_angles(pcs_network *net, int epoch)
{
	for (int k = 0; net->trace != NULL && k < net->n_edges; k++) {
		double degrees = pcs_network_feedback_angle(net, k);

		if (!isnan(degrees) && pcs_net_trace_angle(net, epoch, k, degrees) != 0)
			net->trace_error = PCS_ETRACE;
	}
}


void pcs_shard_learning_off(pcs_shard *sh, const pcs_event *ev, int64_t now)
{
	(void)ev;
	pcs_shard_settle_learning(sh, now);
	sh->learning = false;
}


static void protocol_end_epoch(pcs_protocol *p, int64_t now)
{
	pcs_network *net = p->net;
	int e = p->current.epoch;

	/* In async mode without a test pass, the run stops right after the
	 * last epoch, before the other shards could handle this message. The
	 * run then writes that checkpoint itself after the threads stop. */
	if (net->async == NULL || e < p->epochs || p->n_test > 0)
		protocol_broadcast(net, &(pcs_event){.kind = PCS_EV_EPOCH_END, .target = (uint32_t)e},
				   now, pcs_shard_end_epoch);
	/* Without error neurons at the target there is no prediction to score. */
	p->last_train_accuracy = net->target_layer >= 0 && net->layers[net->target_layer].e != NULL
		? (double)p->epoch_correct / (double)p->epoch_count : NAN;
	p->last_train_energy = p->epoch_energy / (double)p->epoch_count;
	if (e <= PCS_MAX_REPORTED_EPOCHS) {
		p->train_accuracy[e - 1] = p->last_train_accuracy;
		p->train_energy[e - 1] = p->last_train_energy;
	}
	p->epochs_done = e;
	p->epoch_correct = 0;
	p->epoch_count = 0;
	p->epoch_energy = 0.0;
}


/* Clamps a neuron: directly when this shard owns it, by message otherwise. */
static void protocol_clamp(pcs_network *net, pcs_layer_rt *layer, int j, double value,
			   uint32_t tag, int64_t now)
{
	pcs_event ev = {.kind = PCS_EV_CLAMP, .edge = (uint16_t)layer->index,
			.target = (uint32_t)j, .tag = tag, .value = value};

	if (net->async == NULL || pcs_owner(net, layer->index, j) == pcs_tls_shard->index)
		pcs_x_clamp(net, layer, j, value, tag, now);
	else
		pcs_send_to_owner(net, layer->index, j, now, &ev);
}


static void protocol_start(pcs_network *net, pcs_layer_rt *layer, int j, double value,
			   uint32_t tag, int64_t now)
{
	pcs_event ev = {.kind = PCS_EV_START, .edge = (uint16_t)layer->index,
			.target = (uint32_t)j, .tag = tag, .value = value};

	if (net->async == NULL || pcs_owner(net, layer->index, j) == pcs_tls_shard->index)
		pcs_x_start(net, layer, j, value, tag, now);
	else
		pcs_send_to_owner(net, layer->index, j, now, &ev);
}


static void protocol_unclamp(pcs_network *net, pcs_layer_rt *layer, int j, int64_t now)
{
	pcs_event ev = {.kind = PCS_EV_UNCLAMP, .edge = (uint16_t)layer->index,
			.target = (uint32_t)j};

	if (net->async == NULL || pcs_owner(net, layer->index, j) == pcs_tls_shard->index)
		pcs_x_unclamp(net, layer, j, now);
	else
		pcs_send_to_owner(net, layer->index, j, now, &ev);
}


/* Sends the phase change to every neuron: learning off, target layer free. */
static void protocol_begin_test(pcs_protocol *p, int64_t now)
{
	pcs_network *net = p->net;

	protocol_broadcast(net, &(pcs_event){.kind = PCS_EV_LEARNING_OFF}, now,
			   pcs_shard_learning_off);
	if (net->target_layer >= 0) {
		pcs_layer_rt *target = &net->layers[net->target_layer];

		for (int i = 0; i < target->size; i++)
			protocol_unclamp(net, target, i, now);
	}
}


static void protocol_present(pcs_protocol *p, int64_t s, int64_t now)
{
	pcs_network *net = p->net;
	pcs_sample_state *cur = &p->current;
	int64_t per_epoch = p->n_train;
	const pcs_dataset *set;
	pcs_layer_rt *input = &net->layers[net->input_layer];
	uint32_t tag = (uint32_t)(s + 1);

	cur->seq = s;
	cur->t_on = now;
	cur->history_len = 0;
	if (s < (int64_t)p->epochs * per_epoch) {
		int64_t pos = s % per_epoch;

		if (pos == 0) {
			for (int64_t i = 0; i < per_epoch; i++)
				p->order[i] = (uint32_t)i;
			if (net->model->protocol.shuffle)
				pcs_rng_shuffle(&p->shuffle_rng, p->order, (size_t)per_epoch);
		}
		cur->epoch = (int)(s / per_epoch) + 1;
		cur->phase = PCS_PHASE_TRAIN;
		cur->data_index = p->order[pos];
		set = net->train;
	} else {
		if (s == (int64_t)p->epochs * per_epoch)
			protocol_begin_test(p, now);
		cur->epoch = p->epochs;
		cur->phase = PCS_PHASE_TEST;
		cur->data_index = s - (int64_t)p->epochs * per_epoch;
		set = net->test;
	}
	cur->label = set->labels[cur->data_index];
	atomic_store(&p->progress_epoch, cur->epoch);
	atomic_store(&p->progress_phase, (int)cur->phase);

	for (int j = 0; j < input->size; j++)
		protocol_clamp(net, input, j, set->features[cur->data_index * set->dim + j], tag, now);
	if (cur->phase == PCS_PHASE_TRAIN && net->target_layer >= 0) {
		pcs_layer_rt *target = &net->layers[net->target_layer];

		for (int i = 0; i < target->size; i++)
			protocol_clamp(net, target, i, i == cur->label ? 1.0 : 0.0, tag, now);
	}

	/* A free layer that no edge predicts (a generative model's label at
	 * test, a latent layer) has no prediction to start from: unless its
	 * start is keep, the stimulus sets it to its start_value. Clamped
	 * neurons ignore this. */
	for (int l = 0; l < net->n_layers; l++) {
		pcs_layer_rt *layer = &net->layers[l];

		if (layer->e != NULL || layer->spec->clamp == PCS_CLAMP_INPUT
		    || layer->spec->start == PCS_START_KEEP)
			continue;
		for (int i = 0; i < layer->size; i++)
			protocol_start(net, layer, i, layer->spec->start_value, tag, now);
	}
}


bool pcs_protocol_wake(pcs_protocol *p, int64_t now)
{
	pcs_network *net = p->net;
	int64_t s = p->current.seq + 1;
	pcs_event ev = {.kind = PCS_EV_PROTOCOL};

	if (p->current.seq >= 0) {
		if (p->current.phase == PCS_PHASE_TRAIN
		    && net->model->protocol.learning == PCS_LEARNING_PHASED)
			pcs_learning_phase(net, pcs_time(p->presentation));
		protocol_finish_sample(p, now);
		if (p->current.phase == PCS_PHASE_TRAIN
		    && s % p->n_train == 0)
			protocol_end_epoch(p, now);
	}
	if (s >= p->total) {
		p->finished = true;
		return false;
	}
	protocol_present(p, s, now);
	pcs_net_push(net, now + p->presentation, &ev);
	return true;
}


/* Records F (and per-layer energy rows) at now for the current sample. */
static void monitor_record(pcs_protocol *p, int64_t now)
{
	pcs_network *net = p->net;
	pcs_sample_state *s = &p->current;
	double f = 0.0;

	for (int l = 0; l < net->n_layers; l++) {
		double energy;

		if (net->layers[l].e == NULL)
			continue;
		energy = net->async != NULL ? pcs_async_read_energy(net, l) : pcs_tls_shard->energy[l];
		/* A sum of squares kept incrementally can round a hair below 0. */
		energy = fmax(energy, 0.0);
		f += energy;
		if (net->model->trace.energy && net->trace != NULL)
			pcs_net_trace_energy(net, s->seq, pcs_time(now), l, energy);
	}
	if (s->history_len == s->history_cap) {
		int cap = s->history_cap ? s->history_cap * 2 : 128;
		int64_t *t = realloc(s->history_t, (size_t)cap * sizeof *t);
		double *v = t != NULL ? realloc(s->history_f, (size_t)cap * sizeof *v) : NULL;

		if (t != NULL)
			s->history_t = t;
		if (v == NULL) {
			pcs_tls_shard->failed = true;
			return;
		}
		s->history_f = v;
		s->history_cap = cap;
	}
	s->history_t[s->history_len] = now;
	s->history_f[s->history_len++] = f;
}


void pcs_monitor_wake(pcs_protocol *p, int64_t now)
{
	pcs_event ev = {.kind = PCS_EV_MONITOR};

	/* At a sample boundary the protocol ran first and already recorded
	 * this tick as the end of the previous sample. */
	if (p->current.seq >= 0 && now > p->current.t_on)
		monitor_record(p, now);
	pcs_net_push(p->net, now + p->net->monitor_dt, &ev);
}
