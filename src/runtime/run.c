/* SPDX-License-Identifier: MIT */
/*
 * The run driver: the deterministic and lockstep schedulers on one libuv
 * loop, the start and stop of the async worker threads (async.c), the
 * dispatch of events to the actors, and the generation driver.
 *
 * Deterministic and lockstep: one loop, virtual time. An idle handle
 * drains shard 0's event queue in slices of at most RUN_SLICE_EVENTS
 * events, in (time, sequence number) order. The loop stays responsive:
 * between slices libuv runs the progress timer and the SIGINT/SIGTERM
 * watchers (when asked to handle signals), and each slice ends with a
 * check of the caller's interrupt flag. Wall-clock time never influences what the neurons
 * compute, so the same model, data and seed give bit-identical traces.
 *
 * Run states:
 *     running --protocol done--> finished
 *     running --|x| or |e| over the limit--> diverged
 *     running --interrupt flag, SIGINT or SIGTERM--> interrupted
 *     running --trace or allocation failure--> failed
 * Every exit path sets the run status in the trace database.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "runtime/async.h"
#include "runtime/protocol.h"

#define RUN_SLICE_EVENTS 65536

typedef struct run_ctx {
	pcs_network *net;
	pcs_protocol protocol;
	const pcs_run_options *options;
	uv_loop_t loop;
	uv_idle_t idle;
	uv_timer_t timer;
	uv_signal_t sigint, sigterm;
	uv_async_t *main_wake;     /* async mode: the shards stop */
	bool interrupted;
	bool stopping;
	uint64_t start_ns;
} run_ctx;

_Thread_local pcs_shard *pcs_tls_shard;


static void run_dispatch(void *vctx, const pcs_event *ev, int64_t now)
{
	run_ctx *ctx = vctx;
	pcs_network *net = ctx->net;

	switch ((pcs_event_kind)ev->kind) {
	case PCS_EV_STEP_X:
		pcs_x_step(net, &net->layers[ev->edge], (int)ev->target, now);
		break;
	case PCS_EV_STEP_E:
		pcs_e_update(net, &net->layers[ev->edge], (int)ev->target, now, true);
		break;
	case PCS_EV_RECOMPUTE_E:
		pcs_e_update(net, &net->layers[ev->edge], (int)ev->target, now, false);
		break;
	case PCS_EV_DELIVER_UP:
		pcs_deliver_up(net, ev->edge, (int)ev->target, ev->value, ev->tag, now);
		break;
	case PCS_EV_DELIVER_DOWN:
		pcs_deliver_down(net, ev->edge, (int)ev->target, ev->value, ev->tag, now);
		break;
	case PCS_EV_PROTOCOL:
		if (!pcs_protocol_wake(&ctx->protocol, now) && net->async != NULL)
			pcs_async_stop(net);
		break;
	case PCS_EV_MONITOR:
		pcs_monitor_wake(&ctx->protocol, now);
		break;
	case PCS_EV_LOCKSTEP:
		pcs_lockstep_tick(net, now);
		break;
	case PCS_EV_LESION:
		pcs_lesion(net, &net->layers[ev->edge], now);
		break;
	case PCS_EV_CLAMP:
		pcs_x_clamp(net, &net->layers[ev->edge], (int)ev->target, ev->value, ev->tag, now);
		break;
	case PCS_EV_START:
		pcs_x_start(net, &net->layers[ev->edge], (int)ev->target, ev->value, ev->tag, now);
		break;
	case PCS_EV_UNCLAMP:
		pcs_x_unclamp(net, &net->layers[ev->edge], (int)ev->target, now);
		break;
	case PCS_EV_LEARNING_OFF:
		pcs_shard_learning_off(pcs_tls_shard, ev, now);
		break;
	case PCS_EV_EPOCH_END:
		pcs_shard_end_epoch(pcs_tls_shard, ev, now);
		break;
	}
}


static void run_close_cb(uv_handle_t *handle)
{
	(void)handle;
}


static void run_stop(run_ctx *ctx)
{
	if (ctx->stopping)
		return;
	ctx->stopping = true;
	uv_close((uv_handle_t *)&ctx->idle, run_close_cb);
	uv_close((uv_handle_t *)&ctx->timer, run_close_cb);
	if (ctx->options != NULL && ctx->options->handle_signals) {
		uv_close((uv_handle_t *)&ctx->sigint, run_close_cb);
		uv_close((uv_handle_t *)&ctx->sigterm, run_close_cb);
	}
	if (ctx->main_wake != NULL)
		uv_close((uv_handle_t *)ctx->main_wake, run_close_cb);
}


static bool run_any_shard(const pcs_network *net, bool failed)
{
	for (int s = 0; s < net->n_shards; s++)
		if (failed ? net->shards[s].failed : net->shards[s].diverged)
			return true;
	return false;
}


static void run_idle_cb(uv_idle_t *handle)
{
	run_ctx *ctx = handle->data;
	pcs_shard *sh = &ctx->net->shards[0];
	pcs_event ev;

	for (int n = 0; n < RUN_SLICE_EVENTS; n++) {
		if (!pcs_sched_pop(sh->sched, &ev)) {
			ctx->protocol.finished = true;
			break;
		}
		sh->events++;
		run_dispatch(ctx, &ev, pcs_sched_now(sh->sched));
		if (ctx->protocol.finished || sh->diverged || sh->failed)
			break;
	}
	if (ctx->options != NULL && ctx->options->interrupted != NULL && *ctx->options->interrupted)
		ctx->interrupted = true;
	if (ctx->protocol.finished || sh->diverged || sh->failed || ctx->net->trace_error
	    || ctx->interrupted)
		run_stop(ctx);
}


static void run_report_progress(run_ctx *ctx)
{
	const pcs_run_options *opt = ctx->options;
	pcs_progress p;

	if (opt == NULL || opt->progress == NULL)
		return;
	p.samples_done = atomic_load(&ctx->protocol.done);
	p.samples_total = ctx->protocol.total;
	p.epoch = atomic_load(&ctx->protocol.progress_epoch);
	p.phase = (pcs_phase)atomic_load(&ctx->protocol.progress_phase);
	p.elapsed = (double)(uv_hrtime() - ctx->start_ns) * 1e-9;
	opt->progress(&p, opt->progress_data);
}


static void run_timer_cb(uv_timer_t *handle)
{
	run_ctx *ctx = handle->data;
	const pcs_run_options *opt = ctx->options;

	run_report_progress(ctx);
	if (ctx->net->async != NULL && opt != NULL && opt->interrupted != NULL
	    && *opt->interrupted && !ctx->interrupted) {
		ctx->interrupted = true;
		pcs_async_stop(ctx->net);
	}
}


static void run_signal_cb(uv_signal_t *handle, int signum)
{
	run_ctx *ctx = handle->data;

	(void)signum;
	ctx->interrupted = true;
	if (ctx->net->async != NULL)
		pcs_async_stop(ctx->net);
}


static void run_main_wake_cb(uv_async_t *handle)
{
	run_stop(handle->data);
}


/* Writes the run's static description: layers, neurons, initial weights. */
static int run_trace_header(pcs_network *net)
{
	pcs_trace *tr = net->trace;
	int rc = 0;

	for (int l = 0; l < net->n_layers; l++) {
		pcs_layer_rt *layer = &net->layers[l];

		rc |= pcs_trace_layer(tr, l, layer->spec->name, layer->size,
				      pcs_clamp_name(layer->spec->clamp));
		for (int i = 0; i < layer->size; i++) {
			const pcs_xneuron *xn = &layer->x[i];
			double delay = layer->n_out > 0
				? pcs_time(net->edges[layer->out_edges[0]].delay_up[i]) : NAN;
			double lesion = xn->lesion_tick != INT64_MAX ? pcs_time(xn->lesion_tick) : NAN;

			rc |= pcs_trace_neuron(tr, layer->x_id0 + i, l, i, PCS_KIND_REPRESENTATION,
					       1.0 / xn->tau_inv, pcs_time(xn->dt), delay, lesion);
		}
		for (int i = 0; layer->e != NULL && i < layer->size; i++) {
			const pcs_eneuron *en = &layer->e[i];
			const pcs_edge_rt *back = &net->edges[layer->in_edges[0]];
			double delay = back->b_row >= 0 ? pcs_time(back->delay_down[i]) : NAN;
			double lesion = layer->x[i].lesion_tick != INT64_MAX
				? pcs_time(layer->x[i].lesion_tick) : NAN;

			rc |= pcs_trace_neuron(tr, layer->e_id0 + i, l, i, PCS_KIND_ERROR,
					       en->tau_inv > 0 ? 1.0 / en->tau_inv : 0.0,
					       pcs_time(en->dt), delay, lesion);
		}
	}
	for (int s = 0; s < net->n_shards; s++)
		pcs_shard_trace_weights(&net->shards[s], 0);
	pcs_trace_feedback_angles(net, 0);
	return rc != 0 || net->trace_error ? PCS_ETRACE : 0;
}


static void run_prepare_shard(pcs_network *net, pcs_shard *sh);


/* Marks the selected neurons and queues every neuron's first event. */
static int run_prepare(pcs_network *net, pcs_error *err)
{
	const pcs_model *model = net->model;
	bool *selected[PCS_MAX_LAYERS];
	pcs_event monitor = {.kind = PCS_EV_MONITOR};
	int rc = 0;

	for (int l = 0; l < net->n_layers; l++)
		selected[l] = calloc((size_t)net->layers[l].size, sizeof(bool));
	for (int l = 0; l < net->n_layers; l++)
		if (selected[l] == NULL)
			rc = pcs_error_set(err, PCS_ENOMEM, "out of memory for the neuron selection");
	if (rc == 0)
		rc = pcs_model_select_neurons(model, model->trace.neurons, selected, err);
	for (int l = 0; l < net->n_layers; l++) {
		pcs_layer_rt *layer = &net->layers[l];

		for (int i = 0; rc == 0 && i < layer->size; i++) {
			layer->x[i].traced = selected[l][i];
			if (layer->e != NULL)
				layer->e[i].traced = selected[l][i];
		}
		free(selected[l]);
	}
	if (rc != 0)
		return rc;

	for (int s = 0; s < net->n_shards; s++) {
		pcs_tls_shard = &net->shards[s];
		run_prepare_shard(net, pcs_tls_shard);
	}
	pcs_tls_shard = &net->shards[0];
	pcs_net_push(net, 0, &(pcs_event){.kind = PCS_EV_PROTOCOL});
	if (net->lockstep)
		pcs_net_push(net, 0, &(pcs_event){.kind = PCS_EV_LOCKSTEP});
	pcs_net_push(net, net->monitor_dt, &monitor);
	return run_any_shard(net, true)
		? pcs_error_set(err, PCS_ENOMEM, "out of memory for the event queue") : 0;
}


/* Queues the first step of each of the shard's free neurons, and its lesions. */
static void run_prepare_shard(pcs_network *net, pcs_shard *sh)
{
	for (int l = 0; l < net->n_layers && !net->lockstep; l++) {
		pcs_layer_rt *layer = &net->layers[l];
		pcs_event ev = {.edge = (uint16_t)l};

		for (int i = sh->lo[l]; i < sh->hi[l]; i++) {
			ev.target = (uint32_t)i;
			if (layer->spec->clamp != PCS_CLAMP_INPUT) {
				ev.kind = PCS_EV_STEP_X;
				layer->x[i].step_pending = true;
				pcs_net_push(net, layer->x[i].dt, &ev);
			}
			if (layer->e != NULL && layer->tau_e_inv > 0.0) {
				ev.kind = PCS_EV_STEP_E;
				pcs_net_push(net, layer->e[i].dt, &ev);
			}
		}
	}
	for (int l = 0; l < net->n_layers; l++)
		if (net->layers[l].lesion_tick != INT64_MAX)
			pcs_net_push(net, net->layers[l].lesion_tick,
				     &(pcs_event){.kind = PCS_EV_LESION, .edge = (uint16_t)l});
	sh->learning = net->model->protocol.learning == PCS_LEARNING_CONTINUOUS;
}


/*
 * Runs the loop of the calling thread. In deterministic and lockstep mode
 * it drains shard 0's queue from an idle handle. In async mode the shards
 * run on their own threads, and this loop only reports progress, watches
 * for an interrupt and waits for the shards to stop.
 */
static int run_loop(run_ctx *ctx, pcs_async *a, pcs_error *err)
{
	const pcs_run_options *opt = ctx->options;
	int rc = uv_loop_init(&ctx->loop);

	if (rc != 0)
		return pcs_error_set(err, PCS_ERUNTIME, "uv_loop_init failed: %s", uv_strerror(rc));
	uv_idle_init(&ctx->loop, &ctx->idle);
	uv_timer_init(&ctx->loop, &ctx->timer);
	ctx->idle.data = ctx;
	ctx->timer.data = ctx;
	if (a == NULL) {
		uv_idle_start(&ctx->idle, run_idle_cb);
	} else {
		uv_async_init(&ctx->loop, &a->main_wake, run_main_wake_cb);
		a->main_wake.data = ctx;
		ctx->main_wake = &a->main_wake;
	}
	if ((opt != NULL && opt->progress != NULL) || a != NULL) {
		uint64_t ms = opt != NULL && opt->progress_interval > 0
			? (uint64_t)(opt->progress_interval * 1000) : 200;

		uv_timer_start(&ctx->timer, run_timer_cb, a != NULL && ms > 50 ? 50 : ms, ms);
	}
	if (opt != NULL && opt->handle_signals) {
		uv_signal_init(&ctx->loop, &ctx->sigint);
		uv_signal_init(&ctx->loop, &ctx->sigterm);
		ctx->sigint.data = ctx;
		ctx->sigterm.data = ctx;
		uv_signal_start(&ctx->sigint, run_signal_cb, SIGINT);
		uv_signal_start(&ctx->sigterm, run_signal_cb, SIGTERM);
	}
	if (a != NULL && pcs_async_start(ctx->net) != 0) {
		pcs_async_stop(ctx->net);
		rc = PCS_ERUNTIME;
	}
	uv_run(&ctx->loop, UV_RUN_DEFAULT);
	if (a != NULL)
		pcs_async_join(ctx->net);
	if (rc != 0)
		return pcs_error_set(err, PCS_ERUNTIME, "starting the worker threads failed");
	rc = uv_loop_close(&ctx->loop);
	if (rc != 0)
		return pcs_error_set(err, PCS_ERUNTIME, "uv_loop_close failed: %s", uv_strerror(rc));
	return 0;
}


static pcs_run_status run_outcome(run_ctx *ctx, int loop_rc, int *rc, pcs_error *err)
{
	pcs_network *net = ctx->net;

	if (loop_rc != 0) {
		*rc = loop_rc;
		return PCS_RUN_FAILED;
	}
	if (run_any_shard(net, false)) {
		*rc = pcs_error_set(err, PCS_EDIVERGED,
				    "the run diverged at t = %g: a value exceeded dynamics.divergence_limit = %g; "
				    "reduce dynamics.dt or the learning rates",
				    pcs_time(pcs_sched_now(net->shards[0].sched)), net->divergence_limit);
		return PCS_RUN_DIVERGED;
	}
	if (run_any_shard(net, true)) {
		*rc = pcs_error_set(err, PCS_ERUNTIME, "out of memory during the run");
		return PCS_RUN_FAILED;
	}
	if (net->trace_error) {
		*rc = PCS_ETRACE;
		return PCS_RUN_FAILED;
	}
	if (ctx->interrupted && !ctx->protocol.finished) {
		*rc = pcs_error_set(err, PCS_EINTR, "the run was interrupted after %lld of %lld samples",
				    (long long)atomic_load(&ctx->protocol.done), (long long)ctx->protocol.total);
		return PCS_RUN_INTERRUPTED;
	}
	*rc = 0;
	return PCS_RUN_FINISHED;
}


static void run_fill_result(run_ctx *ctx, pcs_run_result *res)
{
	pcs_network *net = ctx->net;
	pcs_protocol *p = &ctx->protocol;
	int64_t tested = p->done - (int64_t)p->epochs * p->n_train;

	res->epochs_done = p->epochs_done;
	memcpy(res->train_accuracy, p->train_accuracy, sizeof res->train_accuracy);
	memcpy(res->train_energy, p->train_energy, sizeof res->train_energy);
	res->last_train_accuracy = p->last_train_accuracy;
	res->last_train_energy = p->last_train_energy;
	res->test_count = tested > 0 ? tested : 0;
	res->test_accuracy = tested > 0 ? (double)p->test_correct / (double)tested : -1.0;
	res->test_energy = tested > 0 ? p->test_energy / (double)tested : 0.0;
	res->samples = p->done;
	res->wall_seconds = (double)(uv_hrtime() - ctx->start_ns) * 1e-9;
	for (int s = 0; s < net->n_shards; s++) {
		const pcs_shard *sh = &net->shards[s];
		double t = pcs_time(pcs_sched_now(sh->sched));

		if (t > res->model_time)
			res->model_time = t;
		res->neuron_steps += sh->neuron_steps;
		res->messages += sh->messages;
		res->messages_lost += sh->messages_lost;
		res->synaptic_events += sh->synaptic_events;
		res->events += sh->events;
	}
}


static int run_check_data(const pcs_network *net, pcs_error *err)
{
	const pcs_model *m = net->model;
	const pcs_layer_rt *input = &net->layers[net->input_layer];
	const pcs_dataset *sets[2] = {net->train, net->test};

	for (int k = 0; k < 2; k++) {
		if (sets[k]->dim != input->size)
			return pcs_error_set(err, PCS_EDATA,
					     "%s: input layer %s has %d neurons but the %s data has %d features per sample; "
					     "set layer %s.size = %d or change data.pool",
					     m->path, input->spec->name, input->size, k ? "test" : "training",
					     sets[k]->dim, input->spec->name, sets[k]->dim);
		if (net->target_layer >= 0 && sets[k]->n_classes > net->layers[net->target_layer].size)
			return pcs_error_set(err, PCS_EDATA,
					     "%s: target layer %s has %d neurons but the data has %d classes; "
					     "set its size to at least %d",
					     m->path, net->layers[net->target_layer].spec->name,
					     net->layers[net->target_layer].size, sets[k]->n_classes,
					     sets[k]->n_classes);
	}
	if ((double)m->protocol.epochs * net->train->count * m->dynamics.presentation
	    + (double)net->test->count * m->dynamics.presentation > 9.2e9)
		return pcs_error_set(err, PCS_EMODEL,
				     "%s: the run would last more than 9.2e9 time units, the longest "
				     "time pcsim's 1e-9 time resolution can count; reduce "
				     "dynamics.presentation, protocol.epochs or the sample counts", m->path);
	if (m->protocol.epochs > 0 && net->train->count == 0)
		return pcs_error_set(err, PCS_EDATA, "%s: the training set is empty", m->path);
	return 0;
}


int pcs_network_run(pcs_network *net, pcs_trace *trace, const char *params,
		    const pcs_run_options *options, pcs_run_result *result, pcs_error *err)
{
	const pcs_model *model = net->model;
	static const char *const mode_names[] = {"deterministic", "lockstep", "async"};
	pcs_run_info info = {model->name, model->text, model->seed,
			     mode_names[model->runtime.mode], params ? params : "{}"};
	run_ctx ctx;
	pcs_async async_state;
	pcs_async *a = NULL;
	pcs_run_status status;
	int rc, end_rc;

	memset(result, 0, sizeof *result);
	memset(&ctx, 0, sizeof ctx);
	if ((rc = run_check_data(net, err)) != 0)
		return rc;
	ctx.net = net;
	ctx.options = options;
	net->trace = trace;
	net->lockstep = model->runtime.mode == PCS_MODE_LOCKSTEP;
	net->trace_events = trace != NULL && model->trace.events;
	net->activity_every = trace != NULL ? model->trace.activity_every : 0;
	net->send_threshold = model->dynamics.send_threshold;
	net->divergence_limit = model->dynamics.divergence_limit;
	net->monitor_dt = pcs_ticks(model->dynamics.dt);
	if ((rc = pcs_protocol_init(&ctx.protocol, net, err)) != 0)
		return rc;
	if (trace != NULL && (rc = pcs_trace_begin_run(trace, &info, &result->run_id, err)) != 0) {
		pcs_protocol_free(&ctx.protocol);
		return rc;
	}

	if (model->runtime.mode == PCS_MODE_ASYNC) {
		memset(&async_state, 0, sizeof async_state);
		a = &async_state;
		a->max_skew = pcs_ticks(model->runtime.max_skew);
		a->dispatch = run_dispatch;
		a->dispatch_ctx = &ctx;
		uv_mutex_init(&a->trace_lock);
		if (pcs_async_init(net, a) != 0)
			rc = pcs_error_set(err, PCS_ERUNTIME, "setting up the worker loops failed");
	}
	if (rc == 0)
		rc = run_prepare(net, err);
	if (rc == 0 && trace != NULL && run_trace_header(net) != 0)
		rc = pcs_error_set(err, PCS_ETRACE, "writing the run header to the trace database failed");
	ctx.start_ns = uv_hrtime();
	if (rc == 0)
		rc = run_loop(&ctx, a, err);
	status = run_outcome(&ctx, rc, &rc, err);
	run_fill_result(&ctx, result);
	result->status = status;
	for (int k = 0; k < PCS_MAX_EDGES; k++)
		result->feedback_angle[k] = k < net->n_edges ? pcs_network_feedback_angle(net, k) : NAN;
	if (a != NULL && trace != NULL && ctx.protocol.epochs_done > 0
	    && ctx.protocol.epochs_done == ctx.protocol.epochs && ctx.protocol.n_test == 0) {
		for (int s = 0; s < net->n_shards; s++) {
			pcs_tls_shard = &net->shards[s];
			pcs_shard_end_epoch(pcs_tls_shard, &(pcs_event){.target = (uint32_t)ctx.protocol.epochs},
					    pcs_sched_now(pcs_tls_shard->sched));
		}
	}
	if (a != NULL && trace != NULL && ctx.protocol.epochs_done > 0)
		pcs_trace_feedback_angles(net, ctx.protocol.epochs_done);
	pcs_protocol_free(&ctx.protocol);
	if (a != NULL) {
		pcs_async_free(net);
		uv_mutex_destroy(&a->trace_lock);
	}

	if (trace != NULL) {
		pcs_error end_err = {0};
		const struct { const char *name; double value; } counters[] = {
			{"messages_sent", (double)result->messages},
			{"messages_lost", (double)result->messages_lost},
			{"neuron_steps", (double)result->neuron_steps},
			{"synaptic_events", (double)result->synaptic_events},
			{"wall_seconds", result->wall_seconds},
			{"test_energy", result->test_energy},
		};

		for (size_t c = 0; c < sizeof counters / sizeof counters[0]; c++)
			pcs_trace_counter(trace, counters[c].name, counters[c].value);

		end_rc = pcs_trace_end_run(trace, status, &end_err);
		if (end_rc != 0 && (rc == 0 || rc == PCS_ETRACE))
			rc = pcs_error_set(err, end_rc, "%s", end_err.msg);
	}
	return rc;
}


void pcs_net_trace_event(pcs_network *net, int neuron_id, double t, double value)
{
	if (net->async != NULL)
		uv_mutex_lock(&net->async->trace_lock);
	pcs_trace_event(net->trace, neuron_id, t, value);
	if (net->async != NULL)
		uv_mutex_unlock(&net->async->trace_lock);
}


void pcs_net_trace_activity(pcs_network *net, int neuron_id, double t, double value)
{
	if (net->async != NULL)
		uv_mutex_lock(&net->async->trace_lock);
	pcs_trace_activity(net->trace, neuron_id, t, value);
	if (net->async != NULL)
		uv_mutex_unlock(&net->async->trace_lock);
}


int pcs_net_trace_sample(pcs_network *net, const pcs_sample_row *row)
{
	int rc;

	if (net->async != NULL)
		uv_mutex_lock(&net->async->trace_lock);
	rc = pcs_trace_sample(net->trace, row);
	if (net->async != NULL)
		uv_mutex_unlock(&net->async->trace_lock);
	return rc;
}


void pcs_net_trace_energy(pcs_network *net, int64_t seq, double t, int layer, double value)
{
	if (net->async != NULL)
		uv_mutex_lock(&net->async->trace_lock);
	pcs_trace_energy(net->trace, seq, t, layer, value);
	if (net->async != NULL)
		uv_mutex_unlock(&net->async->trace_lock);
}


int pcs_net_trace_weight(pcs_network *net, int epoch, int edge, int post, int pre, double w)
{
	int rc;

	if (net->async != NULL)
		uv_mutex_lock(&net->async->trace_lock);
	rc = pcs_trace_weight(net->trace, epoch, edge, post, pre, w);
	if (net->async != NULL)
		uv_mutex_unlock(&net->async->trace_lock);
	return rc;
}


int pcs_net_trace_angle(pcs_network *net, int epoch, int edge, double degrees)
{
	int rc;

	if (net->async != NULL)
		uv_mutex_lock(&net->async->trace_lock);
	rc = pcs_trace_angle(net->trace, epoch, edge, degrees);
	if (net->async != NULL)
		uv_mutex_unlock(&net->async->trace_lock);
	return rc;
}


/* Runs shard 0's events due before tick end, in order. */
static void run_until(pcs_network *net, int64_t end)
{
	pcs_shard *sh = &net->shards[0];
	pcs_event ev;

	while (pcs_sched_next_tick(sh->sched) < end && !sh->diverged && !sh->failed) {
		pcs_sched_pop(sh->sched, &ev);
		sh->events++;
		run_dispatch(&(run_ctx){.net = net}, &ev, pcs_sched_now(sh->sched));
	}
}


int pcs_network_generate(pcs_network *net, const int *labels, int n, double duration,
			 double *images, pcs_error *err)
{
	pcs_layer_rt *input = &net->layers[net->input_layer];
	pcs_layer_rt *target;
	int64_t span = pcs_ticks(duration);
	pcs_shard *sh = &net->shards[0];

	if (net->target_layer < 0)
		return pcs_error_set(err, PCS_EMODEL, "%s: generation needs a layer with clamp = target",
				     net->model->path);
	if (net->n_shards != 1 || span < 1)
		return pcs_error_set(err, PCS_EINVAL, "generation needs one shard and a duration > 0");
	target = &net->layers[net->target_layer];
	pcs_tls_shard = sh;
	sh->learning = false;
	net->lockstep = false;
	net->trace = NULL;
	net->send_threshold = net->model->dynamics.send_threshold;
	net->divergence_limit = net->model->dynamics.divergence_limit;
	run_prepare_shard(net, sh);
	sh->learning = false;

	for (int s = 0; s < n; s++) {
		int64_t t_on = span * s;
		uint32_t tag = (uint32_t)(s + 1);

		run_until(net, t_on);
		for (int i = 0; i < target->size; i++)
			pcs_x_clamp(net, target, i, i == labels[s] ? 1.0 : 0.0, tag, t_on);
		for (int j = 0; s == 0 && j < input->size; j++)
			pcs_x_unclamp(net, input, j, t_on);
		run_until(net, t_on + span);
		if (sh->diverged)
			return pcs_error_set(err, PCS_EDIVERGED, "generation diverged for label %d; "
					     "reduce dynamics.dt", labels[s]);
		for (int j = 0; j < input->size; j++)
			images[(size_t)s * input->size + j] = input->x[j].x;
	}
	return sh->failed ? pcs_error_set(err, PCS_ENOMEM, "out of memory during generation") : 0;
}
