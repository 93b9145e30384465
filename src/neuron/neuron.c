/* SPDX-License-Identifier: MIT */
/*
 * Behaviour of the two neuron actors. Each reacts only to its own clock and
 * to messages, and reads nothing but its own state and the last value
 * received on each of its synapses.
 *
 * Representational neuron j (free):
 *     tau_x dx/dt = -e_own + f'(x) * sum_i B_ji e_i
 * Error neuron i of predicted layer B:
 *     mu = sum_j W_ij f(x_j) + b,   tau_e de/dt = (x - mu) / sigma2 - e
 *     (tau_e = 0: e = (x - mu) / sigma2, recomputed at the time of any
 *     input change, once per time however many inputs changed)
 * Plasticity while learning is on, integrated piecewise: before any input
 * or own value changes, each neuron applies the rule over the time elapsed
 * since its last update with the values that held during it (left-point
 * Euler), so learning is continuous and needs no global step.
 *
 * Sample tags: the stimulus stamps each clamped value with the sample's
 * tag. A representational neuron's predictions carry the tag of the sample
 * its value stems from: the clamp's tag, or the tag at which it took a
 * complete start value. An error neuron keeps the newest tag among the
 * predictions it received (never from feedback, which may run ahead of the
 * input when edges have delays). It counts the synapses that already carry
 * it and sends its partner a flag: the prediction is complete when every
 * predicting neuron has reported the new sample. With delays, per-neuron
 * delays or several worker threads the inputs of one sample arrive in
 * pieces. A free neuron whose own error neuron first reports a newer tag
 * takes its start value at once, and takes it again when the prediction
 * becomes complete. A free neuron whose own error neuron first reports a newer tag takes its start
 * value (its prediction mu, carried by that message, or zero) at once.
 * That is a local decision, not a global reset.
 *
 * State diagram of a representational neuron:
 *     free --clamp msg--> clamped --unclamp msg--> free
 * A clamped neuron does not step; its value changes only by clamp messages.
 */
#include <math.h>

#include "neuron/activation.h"
#include "runtime/net.h"


void pcs_net_push(pcs_network *net, int64_t tick, const pcs_event *ev)
{
	if (pcs_sched_push(pcs_tls_shard->sched, tick, ev) != 0)
		pcs_tls_shard->failed = true;
}


static void net_check_value(pcs_network *net, double v)
{
	if (!(fabs(v) <= net->divergence_limit))
		pcs_tls_shard->diverged = true;
}


void pcs_x_advance_learning(pcs_network *net, pcs_layer_rt *layer, pcs_xneuron *xn, int64_t now)
{
	double h = pcs_time(now - xn->t_learn);

	xn->t_learn = now;
	if (!pcs_tls_shard->learning || h <= 0.0 || xn->rows == NULL || xn->lesioned)
		return;
	if (net->settled_plasticity && !xn->settled)
		return;
	for (int r = 0; r < layer->n_out; r++) {
		const pcs_edge_spec *spec = net->edges[layer->out_edges[r]].spec;
		double rate_h = spec->learning_rate * h;

		if (spec->feedback != PCS_FEEDBACK_RANDOM)
			pcs_row_learn(&xn->rows[r], 1.0 - rate_h * spec->decay, rate_h * xn->fx);
	}
}


void pcs_e_advance_learning(pcs_network *net, pcs_layer_rt *layer, pcs_eneuron *en, int64_t now)
{
	double h = pcs_time(now - en->t_learn);

	en->t_learn = now;
	if (!pcs_tls_shard->learning || h <= 0.0 || en->lesioned)
		return;
	if (net->settled_plasticity && !en->settled)
		return;
	for (int r = 0; r < layer->n_in; r++) {
		const pcs_edge_spec *spec = net->edges[layer->in_edges[r]].spec;
		double rate_h = spec->learning_rate * h;

		pcs_row_learn(&en->rows[r], 1.0 - rate_h * spec->decay, rate_h * en->e);
	}
	en->bias += layer->bias_rate * h * en->e;
}


/*
 * Local equilibrium detector for dynamics.plasticity = settled: a neuron is
 * settled when its value changed by less than settle_threshold per time
 * unit since the last tick at which it changed. Several changes within one
 * tick (a cascade) count as one.
 */
static bool net_settled(pcs_network *net, double value, double *ref, int64_t *ref_tick,
			int64_t now, bool previous)
{
	bool settled = previous;

	if (now > *ref_tick) {
		settled = fabs(value - *ref) < net->settle_threshold * pcs_time(now - *ref_tick);
		*ref_tick = now;
	}
	*ref = value;
	return settled;
}


static void x_trace_send(pcs_network *net, pcs_layer_rt *layer, int j, double v, int64_t now)
{
	if (net->trace_events && layer->x[j].traced)
		pcs_net_trace_event(net, layer->x_id0 + j, pcs_time(now), v);
}


/* Sends f(x) up every outgoing edge and x to its own error neuron. */
static void x_send(pcs_network *net, pcs_layer_rt *layer, int j, int64_t now)
{
	pcs_xneuron *xn = &layer->x[j];

	xn->sent = xn->x;
	pcs_tls_shard->messages++;
	x_trace_send(net, layer, j, xn->x, now);
	for (int r = 0; r < layer->n_out; r++) {
		int k = layer->out_edges[r];
		pcs_edge_rt *edge = &net->edges[k];

		pcs_event ev = {.kind = PCS_EV_DELIVER_UP, .edge = (uint16_t)k,
				.target = (uint32_t)j, .tag = xn->out_tag, .value = xn->fx};

		if (edge->delay_up[j] == 0)
			pcs_deliver_up(net, k, j, xn->fx, xn->out_tag, now);
		else
			pcs_net_push(net, now + edge->delay_up[j], &ev);
		if (net->n_shards > 1)
			pcs_send_to_layer(net, edge->to, now + edge->delay_up[j], &ev);
	}
	if (layer->e != NULL) {
		pcs_eneuron *en = &layer->e[j];

		pcs_e_advance_learning(net, layer, en, now);
		en->x_in = xn->x;
		pcs_tls_shard->synaptic_events++;
		if (layer->tau_e_inv == 0.0 && !en->recompute_pending && !net->lockstep) {
			pcs_event ev = {.kind = PCS_EV_RECOMPUTE_E, .edge = (uint16_t)layer->index,
					.target = (uint32_t)j};

			en->recompute_pending = true;
			pcs_net_push(net, now, &ev);
		}
	}
}


static void x_set(pcs_layer_rt *layer, pcs_xneuron *xn, double x)
{
	xn->x = x;
	pcs_activate(layer->spec->activation, layer->spec->leak, x, &xn->fx, &xn->dfx);
}


/* Length of a neuron's next step: dt, or dt (1 + jitter U(-1, 1)) in ticks >= 1. */
static int64_t net_step_length(pcs_network *net, const pcs_layer_rt *layer, int64_t dt)
{
	int64_t h;

	if (layer->jitter == 0.0)
		return dt;
	h = (int64_t)llround((double)dt * (1.0 + layer->jitter * (2.0 * pcs_rng_uniform(&pcs_tls_shard->jitter_rng) - 1.0)));
	return h < 1 ? 1 : h;
}


static void x_schedule_step(pcs_network *net, pcs_layer_rt *layer, int j, int64_t now)
{
	pcs_xneuron *xn = &layer->x[j];
	pcs_event ev = {.kind = PCS_EV_STEP_X, .edge = (uint16_t)layer->index,
			.target = (uint32_t)j};

	xn->step_pending = true;
	xn->h = net_step_length(net, layer, xn->dt);
	pcs_net_push(net, now + xn->h, &ev);
}


double pcs_x_next(pcs_network *net, pcs_layer_rt *layer, int j, int64_t now)
{
	pcs_xneuron *xn = &layer->x[j];
	double feedback = 0.0;
	double dx, x;

	/* Learning first, over the interval that ends now, with the old f(x). */
	pcs_x_advance_learning(net, layer, xn, now);
	for (int r = 0; xn->rows != NULL && r < layer->n_out; r++)
		feedback += pcs_row_sum(&xn->rows[r]);
	dx = -xn->e_own + xn->dfx * feedback;
	x = xn->x + pcs_time(xn->h) * xn->tau_inv * dx;

	/* Euler-Maruyama: noise of sd `noise` per sqrt(time unit). */
	if (layer->noise > 0.0)
		x += layer->noise * sqrt(pcs_time(xn->h)) * pcs_rng_normal(&pcs_tls_shard->noise_rng);
	return x;
}


void pcs_x_commit(pcs_network *net, pcs_layer_rt *layer, int j, double x, int64_t now)
{
	pcs_xneuron *xn = &layer->x[j];

	if (net->settled_plasticity)
		xn->settled = net_settled(net, x, &xn->settle_ref, &xn->settle_tick, now, xn->settled);
	x_set(layer, xn, x);
	pcs_tls_shard->neuron_steps++;
	net_check_value(net, xn->x);

	if (net->activity_every > 0 && xn->traced && ++xn->steps % (uint32_t)net->activity_every == 0)
		pcs_net_trace_activity(net, layer->x_id0 + j, pcs_time(now), xn->x);
	if (net->send_threshold == 0.0 || fabs(xn->x - xn->sent) > net->send_threshold)
		x_send(net, layer, j, now);
}


void pcs_x_step(pcs_network *net, pcs_layer_rt *layer, int j, int64_t now)
{
	pcs_xneuron *xn = &layer->x[j];

	xn->step_pending = false;
	if (xn->clamped || xn->lesioned)
		return;
	pcs_x_commit(net, layer, j, pcs_x_next(net, layer, j, now), now);
	x_schedule_step(net, layer, j, now);
}


void pcs_x_clamp(pcs_network *net, pcs_layer_rt *layer, int j, double value, uint32_t tag,
		 int64_t now)
{
	pcs_xneuron *xn = &layer->x[j];

	if (xn->lesioned)
		return;
	pcs_x_advance_learning(net, layer, xn, now);
	xn->clamped = true;
	xn->start_tag = tag;
	xn->out_tag = tag;
	x_set(layer, xn, value);
	x_send(net, layer, j, now);
}


void pcs_x_start(pcs_network *net, pcs_layer_rt *layer, int j, double value, uint32_t tag,
		 int64_t now)
{
	pcs_xneuron *xn = &layer->x[j];

	if (xn->lesioned || xn->clamped)
		return;
	pcs_x_advance_learning(net, layer, xn, now);
	xn->start_tag = tag;
	xn->out_tag = tag;
	x_set(layer, xn, value);
	x_send(net, layer, j, now);
}


void pcs_x_unclamp(pcs_network *net, pcs_layer_rt *layer, int j, int64_t now)
{
	pcs_xneuron *xn = &layer->x[j];

	xn->clamped = false;
	if (!xn->step_pending && !xn->lesioned)
		x_schedule_step(net, layer, j, now);
}


/* Message from the neuron's own error neuron: e, and mu for a start value. */
static void x_receive_own(pcs_network *net, pcs_layer_rt *layer, int j, double e, double mu,
			  uint32_t tag, bool complete, int64_t now)
{
	pcs_xneuron *xn = &layer->x[j];
	bool first = tag > xn->start_tag;

	if (xn->lesioned)
		return;
	pcs_x_advance_learning(net, layer, xn, now);
	xn->e_own = e;
	pcs_tls_shard->synaptic_events++;
	if (xn->clamped || !(first || (tag == xn->start_tag && complete && xn->out_tag != tag)))
		return;

	xn->start_tag = tag;
	if (complete)
		xn->out_tag = tag;
	if (layer->spec->start == PCS_START_KEEP)
		return;
	pcs_tls_shard->starts++;
	x_set(layer, xn, layer->spec->start == PCS_START_PREDICTION ? mu : 0.0);
	x_send(net, layer, j, now);
}


void pcs_deliver_up(pcs_network *net, int edge_index, int j, double v, uint32_t tag, int64_t now)
{
	pcs_edge_rt *edge = &net->edges[edge_index];
	pcs_layer_rt *to = &net->layers[edge->to];
	bool instant = to->tau_e_inv == 0.0 && !net->lockstep;

	const pcs_shard *sh = pcs_tls_shard;

	for (int i = sh->lo[to->index]; i < sh->hi[to->index]; i++) {
		pcs_eneuron *en = &to->e[i];

		if (edge->loss > 0.0 && pcs_rng_uniform(&pcs_tls_shard->loss_rng) < edge->loss) {
			pcs_tls_shard->messages_lost++;
			continue;
		}
		if (en->t_learn != now)
			pcs_e_advance_learning(net, to, en, now);
		pcs_row_receive(&en->rows[edge->w_row], j, v);

		/* Count each predicting neuron once per sample tag. */
		uint32_t *seen = &edge->w_tag[(size_t)i * net->layers[edge->from].size + j];

		if (tag > *seen) {
			*seen = tag;
			if (tag > en->tag) {
				en->tag = tag;
				en->fresh = 1;
			} else if (tag == en->tag) {
				en->fresh++;
			}
		}
		if (instant && !en->recompute_pending) {
			pcs_event ev = {.kind = PCS_EV_RECOMPUTE_E, .edge = (uint16_t)to->index,
					.target = (uint32_t)i};

			en->recompute_pending = true;
			pcs_net_push(net, now, &ev);
		}
	}
	pcs_tls_shard->synaptic_events += (uint64_t)(sh->hi[to->index] - sh->lo[to->index]);
}


void pcs_deliver_down(pcs_network *net, int edge_index, int i, double e, uint32_t tag, int64_t now)
{
	pcs_edge_rt *edge = &net->edges[edge_index];
	pcs_layer_rt *from = &net->layers[edge->from];

	const pcs_shard *sh = pcs_tls_shard;

	for (int j = sh->lo[from->index]; j < sh->hi[from->index]; j++) {
		pcs_xneuron *xn = &from->x[j];

		if (edge->loss > 0.0 && pcs_rng_uniform(&pcs_tls_shard->loss_rng) < edge->loss) {
			pcs_tls_shard->messages_lost++;
			continue;
		}
		if (xn->t_learn != now)
			pcs_x_advance_learning(net, from, xn, now);
		pcs_row_receive(&xn->rows[edge->b_row], i, e);
	}
	pcs_tls_shard->synaptic_events += (uint64_t)(sh->hi[from->index] - sh->lo[from->index]);
}


/* Sends e (and mu) to the partner and e down every incoming edge with feedback. */
static void e_send(pcs_network *net, pcs_layer_rt *layer, int i, int64_t now)
{
	pcs_eneuron *en = &layer->e[i];

	en->sent = en->e;
	pcs_tls_shard->messages++;
	if (net->trace_events && en->traced)
		pcs_net_trace_event(net, layer->e_id0 + i, pcs_time(now), en->e);
	x_receive_own(net, layer, i, en->e, en->mu, en->tag, en->fresh == en->fan_in, now);
	for (int r = 0; r < layer->n_in; r++) {
		int k = layer->in_edges[r];
		pcs_edge_rt *edge = &net->edges[k];

		if (edge->b_row < 0)
			continue;
		pcs_event ev = {.kind = PCS_EV_DELIVER_DOWN, .edge = (uint16_t)k,
				.target = (uint32_t)i, .tag = en->tag, .value = en->e};

		if (edge->delay_down[i] == 0)
			pcs_deliver_down(net, k, i, en->e, en->tag, now);
		else
			pcs_net_push(net, now + edge->delay_down[i], &ev);
		if (net->n_shards > 1)
			pcs_send_to_layer(net, edge->from, now + edge->delay_down[i], &ev);
	}
}


double pcs_e_next(pcs_network *net, pcs_layer_rt *layer, int i, int64_t now, bool step)
{
	pcs_eneuron *en = &layer->e[i];
	double target;

	pcs_e_advance_learning(net, layer, en, now);
	en->mu = en->bias;
	for (int r = 0; r < layer->n_in; r++)
		en->mu += pcs_row_sum(&en->rows[r]);
	target = (en->x_in - en->mu) * layer->sigma2_inv;
	if (en->tag > en->first_tag && en->fresh == en->fan_in) {
		en->first_tag = en->tag;
		en->mu_first = en->mu;
	}
	if (step)
		return en->e + pcs_time(en->h) * en->tau_inv * (target - en->e);
	return target;
}


void pcs_e_update(pcs_network *net, pcs_layer_rt *layer, int i, int64_t now, bool step)
{
	pcs_eneuron *en = &layer->e[i];

	if (en->lesioned) {
		en->recompute_pending = false;
		return;
	}
	pcs_e_commit(net, layer, i, pcs_e_next(net, layer, i, now, step), now);
	if (step) {
		pcs_event ev = {.kind = PCS_EV_STEP_E, .edge = (uint16_t)layer->index,
				.target = (uint32_t)i};

		en->h = net_step_length(net, layer, en->dt);
		pcs_net_push(net, now + en->h, &ev);
	}
}


void pcs_e_commit(pcs_network *net, pcs_layer_rt *layer, int i, double e, int64_t now)
{
	pcs_eneuron *en = &layer->e[i];
	double e_old = en->e;

	if (net->settled_plasticity)
		en->settled = net_settled(net, e, &en->settle_ref, &en->settle_tick, now, en->settled);
	en->e = e;
	en->recompute_pending = false;
	pcs_tls_shard->energy[layer->index] += 0.5 * layer->sigma2 * (en->e * en->e - e_old * e_old);
	pcs_tls_shard->neuron_steps++;
	net_check_value(net, en->e);

	if (net->activity_every > 0 && en->traced && ++en->steps % (uint32_t)net->activity_every == 0)
		pcs_net_trace_activity(net, layer->e_id0 + i, pcs_time(now), en->e);
	if (net->send_threshold == 0.0 || fabs(en->e - en->sent) > net->send_threshold)
		e_send(net, layer, i, now);
}


void pcs_lesion(pcs_network *net, pcs_layer_rt *layer, int64_t now)
{
	const pcs_shard *sh = pcs_tls_shard;

	for (int j = sh->lo[layer->index]; j < sh->hi[layer->index]; j++) {
		pcs_xneuron *xn = &layer->x[j];

		if (xn->lesion_tick != now)
			continue;

		/* Learning up to now, one last message of 0, then silence. */
		pcs_x_advance_learning(net, layer, xn, now);
		xn->clamped = false;
		x_set(layer, xn, 0.0);
		x_send(net, layer, j, now);
		xn->lesioned = true;
		if (layer->e != NULL) {
			pcs_e_advance_learning(net, layer, &layer->e[j], now);
			pcs_e_commit(net, layer, j, 0.0, now);
			layer->e[j].lesioned = true;
		}
	}
}
